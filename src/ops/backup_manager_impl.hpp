#pragma once

// Internal to BackupManager (backup_manager.cpp, backup_restore.cpp).

#include <filesystem>

#include "ops/backup_manager.hpp"
#include "ops/backup_manifest.hpp"

namespace aragora::ops {

struct BackupManager::Impl {
    explicit Impl(const std::filesystem::path& dir) : manifest(dir) {}
    BackupManifest manifest;

    // Puts `m` into the manifest (insert or replace).
    common::Status Put(TimePoint now, const BackupMetadata& m) {
        return manifest.Update(now, [&](ManifestEntries& entries) {
            entries[m.id] = m;
            return common::Status();
        });
    }
};

}  // namespace aragora::ops
