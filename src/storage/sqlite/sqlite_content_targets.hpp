#pragma once

// The re-encryption targets (keys::ReEncryptTarget) of the sealed debate content in a
// SQLite database (storage/content_cipher.hpp): "debates", "debate_events", "receipts".

#include <memory>
#include <vector>

#include "common/result.hpp"
#include "keys/cipher.hpp"
#include "storage/content_cipher.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::storage {

// The targets over their own connection to `options.path` (the file must be migrated; a
// second connection beside the stores', SQLite's locks order the writers). `cipher` is
// used by CountNotUnder to read key ids; ReEncrypt uses the cipher it is given. Each batch
// is one BEGIN IMMEDIATE transaction. Not for ":memory:".
common::Result<std::vector<std::shared_ptr<keys::ReEncryptTarget>>> OpenSqliteContentTargets(
    const SqliteOptions& options, std::shared_ptr<const keys::FieldCipher> cipher,
    std::shared_ptr<DecryptFailureCounts> failures);

}  // namespace aragora::storage
