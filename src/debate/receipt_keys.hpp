#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "debate/receipt.hpp"

namespace aragora::debate {

// Loads the receipt keys from settings (ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED into
// hmac_retired; the store's kept keys are added by debate/receipt_keyring.hpp). Without
// ARAGORA_RECEIPT_SIGNING_KEY outside production, reads or creates `<data_dir>/receipt_signing.key`
// (32 random bytes, base64, mode 0600) and logs once that a local key is in use; in production a
// missing key is an error. ARAGORA_RECEIPT_ED25519_KEY_FILE (PKCS#8 PEM) adds Ed25519 signing.
common::Result<ReceiptKeys> LoadReceiptKeys(const config::Settings& settings);

// The keys LoadReceiptKeys() would use, for checking receipts made elsewhere (backups):
// never creates a key file and never fails for a missing key. nullopt when there is no
// HMAC key (neither ARAGORA_RECEIPT_SIGNING_KEY nor an existing local key file) and no
// Ed25519 key. `from_file` (optional) is set when the HMAC key is the local key file.
common::Result<std::optional<ReceiptKeys>> LoadExistingReceiptKeys(const config::Settings& settings,
                                                                   bool* from_file = nullptr);

// ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED parsed: a value that is the path ('/' or '.'
// first, no comma) of an existing file is read as one key per line (blank and '#' lines
// skipped), anything else as a comma list. Errors never quote the value.
common::Result<std::vector<std::string>> LoadRetiredReceiptKeys(const config::Settings& settings);

}  // namespace aragora::debate
