#pragma once

// `<backup_dir>/manifest.json` ({"backups": {id: BackupMetadata}, "updated_at": iso}, the
// original's shape) and `<backup_dir>/drill_history.json` (a list of RestoreDrillReport).
// Several processes may write them (the CLI and `serve`'s scheduler): every change is
// read-modify-replace under an exclusive flock(2) on `<backup_dir>/.manifest.lock`, and
// the files are replaced atomically (common::WriteFileAtomically), so a reader needs no
// lock and never sees half a file. The lock is held only for that read-modify-replace
// (milliseconds), never across a snapshot or a verification. Blocking; thread-safe.

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "ops/backup_manager.hpp"

namespace aragora::ops {

// The entries by id.
using ManifestEntries = std::map<std::string, BackupMetadata>;

class BackupManifest {
public:
    explicit BackupManifest(std::filesystem::path backup_dir);

    const std::filesystem::path& path() const { return manifest_path_; }

    // The entries now; a missing manifest is empty. kStorage when it is not valid JSON
    // of the expected shape (the message names the file; nothing is overwritten).
    common::Result<ManifestEntries> Load() const;
    // Runs `change` on the current entries under the lock and replaces the manifest with
    // the result (when `change` succeeds; its error is returned and nothing is written).
    common::Status Update(TimePoint now,
                          const std::function<common::Status(ManifestEntries&)>& change);

    // Newest last. A missing file is empty.
    common::Result<std::vector<RestoreDrillReport>> LoadDrills() const;
    // Appends under the lock; the history keeps the newest kMaxDrills reports.
    common::Status AppendDrill(const RestoreDrillReport& report);
    static constexpr std::size_t kMaxDrills = 1000;

private:
    std::filesystem::path dir_;
    std::filesystem::path manifest_path_;
    std::filesystem::path drills_path_;
    std::filesystem::path lock_path_;
};

}  // namespace aragora::ops
