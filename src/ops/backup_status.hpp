#pragma once

// The life of a backup as the manifest records it (the original's BackupStatus values,
// same spelling in manifest.json and the API).

#include <optional>
#include <string_view>

namespace aragora::ops {

enum class BackupStatus { kPending, kInProgress, kCompleted, kVerified, kFailed, kExpired };

// "pending", "in_progress", "completed", "verified", "failed", "expired".
constexpr std::string_view ToString(BackupStatus status) {
    switch (status) {
        case BackupStatus::kPending:
            return "pending";
        case BackupStatus::kInProgress:
            return "in_progress";
        case BackupStatus::kCompleted:
            return "completed";
        case BackupStatus::kVerified:
            return "verified";
        case BackupStatus::kFailed:
            return "failed";
        case BackupStatus::kExpired:
            return "expired";
    }
    return "failed";
}

// The status named `text` (exact, lowercase), nullopt for anything else.
constexpr std::optional<BackupStatus> ParseBackupStatus(std::string_view text) {
    for (BackupStatus s :
         {BackupStatus::kPending, BackupStatus::kInProgress, BackupStatus::kCompleted,
          BackupStatus::kVerified, BackupStatus::kFailed, BackupStatus::kExpired}) {
        if (ToString(s) == text) return s;
    }
    return std::nullopt;
}

}  // namespace aragora::ops
