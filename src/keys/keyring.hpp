#pragma once

// keys::FieldCipher over the persisted data keys (storage::KeyStore): random 256-bit data
// keys, each wrapped (sealed) under the master key ARAGORA_ENCRYPTION_KEY and kept in the
// database, so a restart loses no key (the original kept rotated keys in memory only).
//
// Seal() uses the active version of `key_id`; Open() accepts any version the store still
// holds as active or retired; an expired or unknown version fails (kNotFound) and a failed
// tag (tampered, moved to another row, truncated) fails (kCrypto / kValidation), each
// counted in aragora_encryption_errors_total{reason}. Messages name key id and version,
// never key material. A wrapped key is sealed like any value (same envelope) under
// KeyRef{"master", 1} with associated data "aragora-data-key:<key_id>:v<version>".
//
// Thread-safety: every method may be called from any thread. Seal/Open/IsSealed/KeyOf/
// Current/Keys never block on I/O; Load/Reload/Rotate/Expire call the store (blocking: run
// them off the I/O threads).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "keys/cipher.hpp"
#include "keys/key_metrics.hpp"
#include "storage/key_store.hpp"

namespace aragora::keys {

inline constexpr const char* kDefaultKeyId = "primary";
inline constexpr const char* kMasterKeyId = "master";

// What status routes and the CLI show of a data key (no material).
struct DataKeyInfo {
    KeyRef ref;
    std::string state;  // active | retired | expired
    std::string created_at, activated_at, retired_at, expires_at;
    double age_days = 0;  // from activated_at (created_at when unset)
};

class Keyring final : public FieldCipher {
public:
    // Loads (and unwraps) every data key of `key_id`; when there is none, creates version 1.
    // A master key that does not open a stored data key fails (kCrypto: "ARAGORA_ENCRYPTION_KEY
    // does not open data key primary v1 (wrong key?)"): serving without it would lose data.
    // `store`, `clock` and `metrics` must outlive the keyring. `master_key`: 32 raw bytes.
    static common::Result<std::unique_ptr<Keyring>> Load(storage::KeyStore& store,
                                                         std::string master_key,
                                                         const common::Clock& clock,
                                                         KeyMetrics& metrics,
                                                         std::string key_id = kDefaultKeyId);
    ~Keyring() override;

    common::Result<std::string> Seal(std::string_view plaintext,
                                     std::string_view associated_data) const override;
    common::Result<std::string> Open(std::string_view sealed,
                                     std::string_view associated_data) const override;
    bool IsSealed(std::string_view value) const override;
    common::Result<KeyRef> KeyOf(std::string_view sealed) const override;
    KeyRef Current() const override;

    // Re-reads the store (keys another instance rotated or expired). Blocking.
    common::Status Reload();
    // A new version becomes active; the current one is retired with expires_at = now +
    // overlap. kConflict when another instance rotated first (the keyring is reloaded).
    // Returns the new key. Blocking.
    common::Result<KeyRef> Rotate(std::chrono::seconds overlap);
    // Marks `ref` expired (never the active key: kValidation). Blocking.
    common::Status Expire(const KeyRef& ref);

    std::vector<DataKeyInfo> Keys() const;  // by version
    DataKeyInfo CurrentInfo() const;
    const std::string& key_id() const { return key_id_; }

private:
    struct Loaded {
        storage::DataKeyRecord record;
        std::string material;  // 32 bytes; empty when expired
    };
    Keyring(storage::KeyStore& store, std::string master_key, const common::Clock& clock,
            KeyMetrics& metrics, std::string key_id);
    common::Status ReloadLocked();
    DataKeyInfo InfoOf(const storage::DataKeyRecord& r) const;
    common::Error Count(const char* reason, common::Error e) const;

    storage::KeyStore& store_;
    std::string master_;
    const common::Clock& clock_;
    KeyMetrics& metrics_;
    const std::string key_id_;

    mutable std::shared_mutex mu_;
    std::map<std::uint32_t, Loaded> keys_;  // by version
    std::uint32_t active_ = 0;
};

}  // namespace aragora::keys
