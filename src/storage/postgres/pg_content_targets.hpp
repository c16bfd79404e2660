#pragma once

// The re-encryption targets (keys::ReEncryptTarget) of the sealed debate content in a
// PostgreSQL database (storage/content_cipher.hpp): "debates", "debate_events", "receipts".

#include <memory>
#include <vector>

#include "keys/cipher.hpp"
#include "storage/content_cipher.hpp"
#include "storage/postgres/pg_pool.hpp"

namespace aragora::storage {

// The targets over `pool`. `cipher` is used by CountNotUnder to read key ids; ReEncrypt
// uses the cipher it is given. Each batch is one transaction holding its rows FOR UPDATE,
// so a debate finished concurrently is either rewritten after the batch or read by it.
std::vector<std::shared_ptr<keys::ReEncryptTarget>> MakePgContentTargets(
    std::shared_ptr<PgPool> pool, std::shared_ptr<const keys::FieldCipher> cipher,
    std::shared_ptr<DecryptFailureCounts> failures);

}  // namespace aragora::storage
