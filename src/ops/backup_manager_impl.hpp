#pragma once

// Internal to BackupManager (backup_manager.cpp, backup_restore.cpp).

#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>

#include "ops/backup_codec.hpp"
#include "ops/backup_crypto.hpp"
#include "ops/backup_keys.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_manifest.hpp"

namespace aragora::ops {

inline double Seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

// Removes a temporary file whatever happens.
struct RemoveOnExit {
    std::filesystem::path path;
    ~RemoveOnExit() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

struct BackupManager::Impl {
    explicit Impl(const std::filesystem::path& dir) : manifest(dir) {}
    BackupManifest manifest;
    std::optional<BackupKey> key;  // ARAGORA_BACKUP_ENCRYPTION_KEY, parsed

    // How `meta`'s file is read back; kCrypto when it is encrypted and no key is set.
    common::Result<CodecOptions> CodecFor(const BackupMetadata& meta) const {
        CodecOptions codec{meta.compressed, nullptr};
        if (!meta.encrypted) return codec;
        if (!key) {
            return common::MakeError(common::ErrorCode::kCrypto,
                                     "backup " + meta.id + " is encrypted (key id " +
                                         meta.encryption_key_id.value_or("?") +
                                         "); set ARAGORA_BACKUP_ENCRYPTION_KEY to that key");
        }
        codec.key = &*key;
        return codec;
    }

    // The receipt keys `meta`'s sidecar carries; nullopt when it has none or it cannot be
    // read with the configured key (then verification reports the keys it lacks).
    std::optional<CarriedReceiptKeys> Carried(const BackupMetadata& meta) const;

    // Puts `m` into the manifest (insert or replace).
    common::Status Put(TimePoint now, const BackupMetadata& m) {
        return manifest.Update(now, [&](ManifestEntries& entries) {
            entries[m.id] = m;
            return common::Status();
        });
    }
};

}  // namespace aragora::ops
