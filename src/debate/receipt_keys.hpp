#pragma once

#include <string>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "debate/receipt.hpp"

namespace aragora::debate {

// Loads the receipt keys from settings. Without ARAGORA_RECEIPT_SIGNING_KEY outside
// production, reads or creates `<data_dir>/receipt_signing.key` (32 random bytes,
// base64, mode 0600) and logs once that a local key is in use; in production a missing
// key is an error. ARAGORA_RECEIPT_ED25519_KEY_FILE (PKCS#8 PEM) adds Ed25519 signing.
common::Result<ReceiptKeys> LoadReceiptKeys(const config::Settings& settings);

}  // namespace aragora::debate
