#pragma once

// Internal to the backup manager: the receipt HMAC secrets an encrypted backup carries in
// its sidecar "<backup file>.keys" — sealed with the backup encryption key (the same
// AES-256-GCM format as the backup, so a wrong key or an edited file is a clear error),
// never written in the clear. An unencrypted backup has no sidecar.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "debate/receipt.hpp"
#include "ops/backup_crypto.hpp"

namespace aragora::ops {

struct CarriedReceiptKeys {
    std::string hmac_current;
    std::string hmac_previous;
    // The secret was the data dir's receipt_signing.key (a restore may put it back
    // beside the restored database); false: it came from ARAGORA_RECEIPT_SIGNING_KEY.
    bool from_file = false;
    // Retired HMAC keys (ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED and the store's keyring).
    std::vector<std::string> hmac_retired;
};

common::Result<std::string> SealReceiptKeys(const debate::ReceiptKeys& keys, bool from_file,
                                            const BackupKey& key);
common::Result<CarriedReceiptKeys> OpenReceiptKeys(std::string_view sealed, const BackupKey& key);

}  // namespace aragora::ops
