#pragma once

// The persisted receipt keyring (issue 23; docs/receipts.md "Key rotation"). Every key
// that ever signed a receipt of this installation stays usable for verification, looked
// up by the receipt's key_id (KeyId: derived from the key, stable across restarts).
// Sources, merged: the configured keys (LoadReceiptKeys: current, _PREVIOUS,
// ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED, the Ed25519 key file) and the store's
// receipt_signing_keys table, which `serve` keeps up to date: each configured key is
// recorded (HMAC keys sealed with keys::FieldCipher, never in clear; without a cipher
// only the key id), and a stored key no longer configured is marked retired. Retired HMAC
// keys come back from their sealed copy; retired Ed25519 keys from their public key.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "debate/receipt.hpp"
#include "keys/cipher.hpp"
#include "storage/store.hpp"

namespace aragora::debate {

inline constexpr std::string_view kHmacKeyAlgorithm = "hmac-sha256";
inline constexpr std::string_view kEd25519KeyAlgorithm = "ed25519";

enum class ReceiptKeyState { kCurrent, kPrevious, kRetired };
std::string_view ReceiptKeyStateName(ReceiptKeyState state);  // current, previous, retired

// One key of the keyring, as listed (never key material of an HMAC key).
struct ReceiptKeyInfo {
    std::string key_id;
    std::string algorithm;  // kHmacKeyAlgorithm or kEd25519KeyAlgorithm
    ReceiptKeyState state = ReceiptKeyState::kRetired;
    std::string public_key;     // Ed25519: base64 of the 32 raw bytes; HMAC: ""
    bool verifiable = false;    // the keyring can verify receipts signed with it
    bool configured = false;    // given by the environment / key file (else only stored)
    bool stored = false;        // a row of receipt_signing_keys
    bool secret_kept = false;   // HMAC: the store holds its sealed copy
    std::string first_seen_at;  // from the store; "" when not stored
    std::string last_seen_at;
    std::string retired_at;
};

struct ReceiptKeyring {
    ReceiptKeys keys;                     // what VerifyReceipt uses (signing: keys.hmac_current)
    std::vector<ReceiptKeyInfo> entries;  // current first, then previous, then retired
    std::vector<std::string> warnings;    // for the operator (never key material)
};

// The configured keys alone, described (no store).
ReceiptKeyring DescribeConfiguredKeys(const ReceiptKeys& configured);

struct KeyringSyncOptions {
    // Seals HMAC keys into the store and opens the sealed ones; null = no master key:
    // HMAC secrets are neither stored nor opened (key ids and Ed25519 public keys are).
    std::shared_ptr<const keys::FieldCipher> cipher;
    std::string now;    // ISO 8601
    bool write = true;  // false: read the store only (CLI), record nothing
};

// Merges the configured keys with the store's keyring (see the top of this file); with
// options.write, records every configured key and marks stored keys that are no longer
// configured as retired. A sealed key that does not open (wrong master key, tampered) is
// skipped with a warning naming its key id. Errors: the store's.
common::Result<ReceiptKeyring> SyncReceiptKeyring(storage::Store& store, ReceiptKeys configured,
                                                  const KeyringSyncOptions& options);

// The sealed HMAC keys of receipt_signing_keys as a re-encryption target (name
// "receipt_signing_keys"), for the key module's rotation driver: re-seals each sealed key
// not under cipher.Current() (retired keys are never re-sealed by a server start, so
// without this they would be lost when their data key expires). The table holds a
// handful of rows: each row is its own write; a rerun rewrites only what is still under
// an old key. The cursor is the last key_id done.
class ReceiptKeyReEncryptTarget final : public keys::ReEncryptTarget {
public:
    // `cipher` tells which key sealed a value (KeyOf) for CountNotUnder.
    ReceiptKeyReEncryptTarget(storage::Store& store,
                              std::shared_ptr<const keys::FieldCipher> cipher)
        : store_(store), cipher_(std::move(cipher)) {}
    std::string Name() const override { return "receipt_signing_keys"; }
    common::Result<keys::ReEncryptBatch> ReEncrypt(const keys::FieldCipher& cipher,
                                                   std::string_view after_cursor,
                                                   int limit) override;
    common::Result<std::int64_t> CountNotUnder(const keys::KeyRef& current) override;

private:
    storage::Store& store_;
    std::shared_ptr<const keys::FieldCipher> cipher_;
};

// The public document of GET /.well-known/aragora/receipt-keys.json: every Ed25519 key id
// with its public key (base64 and SPKI PEM), state and dates; no HMAC key (nothing about
// them helps a verifier without the secret).
std::string PublishedReceiptKeysJson(const ReceiptKeyring& keyring);
// `aragora keys list --json`: {"keys": [...]} with every key (ids, algorithm, state,
// source flags, dates, Ed25519 public keys); never an HMAC key.
std::string KeyringListJson(const ReceiptKeyring& keyring);
// SubjectPublicKeyInfo PEM of a 32-byte Ed25519 public key (for openssl pkeyutl).
std::string Ed25519PublicKeyPem(std::string_view public_key32);

}  // namespace aragora::debate
