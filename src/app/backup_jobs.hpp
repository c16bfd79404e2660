#pragma once

// The work of `serve`'s scheduled slots (app/backup_scheduler.hpp runs them):
//   backup:   create → verify (scratch restore, every receipt) → offsite upload when
//             configured → retention cleanup;
//   dr_drill: a drill of the newest verified backup (measured RPO and RTO).
// The original's intended flow (ORIGINAL-OPERATIONS.md §1.4) without its bugs: the backup
// is of the configured database, and a retry does not redo what already succeeded (a
// verified backup is not made again because its upload failed).
//
// Each attempt blocks (run on the job pool). Metrics: a verified backup counts as a
// success (aragora_backup_success_total, the last-success timestamp); failures are
// counted by stage.

#include <functional>
#include <optional>
#include <string>

#include "app/backup_scheduler.hpp"
#include "common/result.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_metrics.hpp"

namespace aragora::app {

// What the jobs call: the BackupManager in serve (MakeManagerJobOps), fakes in tests.
// Every function blocks.
struct BackupJobOps {
    std::function<common::Result<ops::BackupMetadata>()> create;  // without verification
    std::function<common::Result<ops::VerificationResult>(const std::string& id)> verify;
    // Offsite copy of a verified backup; empty = offsite copies are off.
    std::function<common::Status(const ops::BackupMetadata&)> upload;
    std::function<common::Result<ops::CleanupResult>()> cleanup;     // the retention rule, for real
    std::function<common::Result<ops::RestoreDrillReport>()> drill;  // newest verified backup
};

// The manager's calls as the scheduled jobs use them (no offsite upload: `upload` empty;
// created backups carry metadata.trigger = "scheduled"). `manager` must outlive the result.
BackupJobOps MakeManagerJobOps(ops::BackupManager& manager);

// The offsite stage from the settings: empty when ARAGORA_BACKUP_S3_BUCKET is unset; else
// an upload of the backup file and its manifest entry (ops::Offsite, credentials read
// from `env` at each call). Offsite settings that cannot work (a bad endpoint) give an
// upload that fails with that error, so that every scheduled backup says so and counts
// failures{stage="offsite"}, rather than a silent local-only backup.
std::function<common::Status(const ops::BackupMetadata&)> MakeOffsiteUpload(
    const config::Settings& settings, config::EnvLookup env = config::ProcessEnv());

// Whether another attempt may succeed after an error of this code (unavailable, storage,
// timeout... yes; validation, not implemented, forbidden, crypto... no).
bool RetryableBackupError(common::ErrorCode code);

// One slot's backup; Attempt() resumes after the last stage that succeeded.
class ScheduledBackup {
public:
    // `ops` and `metrics` must outlive the object.
    ScheduledBackup(const BackupJobOps& ops, ops::BackupMetrics& metrics);
    JobOutcome Attempt();

private:
    const BackupJobOps& ops_;
    ops::BackupMetrics& metrics_;
    std::optional<ops::BackupMetadata> created_;  // written, not yet verified
    bool verified_ = false;
    bool uploaded_ = false;
};

// One drill; a drill that ran and failed is a finding, not retried.
JobOutcome RunScheduledDrill(const BackupJobOps& ops, ops::BackupMetrics& metrics);

// The scheduler's jobs from the settings: "backup" always, "dr_drill" when
// BACKUP_DR_DRILL_ENABLED. `ops` and `metrics` must outlive the jobs.
std::vector<ScheduledJob> MakeBackupJobs(const config::BackupSettings& settings,
                                         const BackupJobOps& ops, ops::BackupMetrics& metrics);

}  // namespace aragora::app
