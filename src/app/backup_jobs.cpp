#include "app/backup_jobs.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "common/logging.hpp"
#include "ops/offsite.hpp"

namespace aragora::app {
namespace {

using common::ErrorCode;
using ops::BackupSlotRule;
using ops::BackupStage;
using ops::DrillSlotRule;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.app"); }

JobOutcome Failed(BackupStage stage, const common::Error& e) {
    return JobOutcome{.ok = false,
                      .retryable = RetryableBackupError(e.code),
                      .stage = stage,
                      .detail = e.message};
}

// The first few failed checks of a verification, readable in one line.
std::string Findings(const ops::VerificationResult& v) {
    std::string out;
    int shown = 0;
    for (const ops::VerificationFailure& f : v.failures) {
        if (shown == 3) {
            out += "; +" + std::to_string(v.failures.size() - 3) + " more";
            break;
        }
        if (!out.empty()) out += "; ";
        out += f.check;
        if (!f.table.empty()) out += " table=" + f.table;
        if (!f.receipt_id.empty()) out += " receipt=" + f.receipt_id;
        out += ": " + f.message;
        ++shown;
    }
    if (out.empty() && !v.errors.empty()) out = v.errors.front();
    return out.empty() ? "not verified" : out;
}

}  // namespace

std::function<common::Status(const ops::BackupMetadata&)> MakeOffsiteUpload(
    const config::Settings& settings, config::EnvLookup env) {
    if (!ops::OffsiteEnabled(settings.backup)) return {};
    ops::OffsiteOptions options;
    options.https_proxy = settings.agents.https_proxy;
    options.no_proxy = settings.agents.no_proxy;
    options.ca_file = settings.agents.ca_file;
    auto offsite = ops::Offsite::Create(settings.backup, std::move(env), options);
    if (!offsite) {
        Log()->error("offsite copies are configured but cannot work: {}", offsite.error().message);
        return [error = offsite.error()](const ops::BackupMetadata&) -> common::Status {
            return error;
        };
    }
    auto shared = std::make_shared<ops::Offsite>(std::move(*offsite));
    return [shared](const ops::BackupMetadata& m) -> common::Status {
        auto up = shared->UploadBackup(m.backup_path, m.ToJson());
        if (up) {
            Log()->info("backup {} copied offsite to {}", m.id, shared->RemoteUrl(m.file_name));
        }
        return up;
    };
}

bool RetryableBackupError(ErrorCode code) {
    switch (code) {
        case ErrorCode::kBadRequest:
        case ErrorCode::kValidation:
        case ErrorCode::kAuthRequired:
        case ErrorCode::kForbidden:
        case ErrorCode::kNotFound:
        case ErrorCode::kNotImplemented:
        case ErrorCode::kCrypto:
        case ErrorCode::kPayloadTooLarge:
            return false;
        default:
            return true;
    }
}

BackupJobOps MakeManagerJobOps(ops::BackupManager& manager) {
    BackupJobOps ops;
    ops.create = [&manager] {
        ops::CreateOptions co;
        co.verify = false;  // the job verifies, and counts it
        co.metadata["trigger"] = "scheduled";
        return manager.Create(co);
    };
    ops.verify = [&manager](const std::string& id) { return manager.Verify(id, true); };
    ops.cleanup = [&manager] { return manager.Cleanup(/*dry_run=*/false); };
    ops.drill = [&manager] { return manager.Drill(); };
    return ops;
}

ScheduledBackup::ScheduledBackup(const BackupJobOps& ops, ops::BackupMetrics& metrics)
    : ops_(ops), metrics_(metrics) {}

JobOutcome ScheduledBackup::Attempt() {
    if (!created_) {
        auto made = ops_.create();
        if (!made) return Failed(BackupStage::kCreate, made.error());
        created_ = std::move(*made);
        verified_ = false;
    }
    const ops::BackupMetadata& backup = *created_;
    if (!verified_) {
        auto v = ops_.verify(backup.id);
        if (!v) return Failed(BackupStage::kVerify, v.error());
        metrics_.Verification(v->verified, v->duration_seconds);
        if (!v->verified) {
            // The snapshot is consistent by construction: what verification finds is in
            // the data (or the code), and a new snapshot would find it again.
            std::string detail = "backup " + backup.id + " failed verification: " + Findings(*v);
            created_.reset();
            return JobOutcome{.ok = false,
                              .retryable = false,
                              .stage = BackupStage::kVerify,
                              .detail = std::move(detail)};
        }
        verified_ = true;
        metrics_.BackupSucceeded(backup.backup_type, backup.duration_seconds,
                                 backup.compressed_size_bytes, backup.created_at);
    }
    std::string detail = "backup " + backup.id + " verified, " +
                         std::to_string(backup.compressed_size_bytes) + " bytes";
    if (ops_.upload && !uploaded_) {
        auto up = ops_.upload(backup);
        if (!up) return Failed(BackupStage::kOffsite, up.error());
        uploaded_ = true;
    }
    if (ops_.upload) detail += ", offsite copy uploaded";
    // Retention failing does not undo a good backup: counted and said, not retried.
    auto cleaned = ops_.cleanup();
    if (!cleaned) {
        metrics_.Failure(BackupStage::kCleanup);
        Log()->warn("backup retention cleanup failed after backup {}: {}", backup.id,
                    cleaned.error().message);
        detail += ", retention cleanup failed: " + cleaned.error().message;
    } else {
        detail += ", retention removed " + std::to_string(cleaned->backup_ids.size());
        if (!cleaned->errors.empty()) {
            metrics_.Failure(BackupStage::kCleanup);
            Log()->warn("backup retention cleanup could not remove {} file(s): {}",
                        cleaned->errors.size(), cleaned->errors.front());
            detail += " (" + std::to_string(cleaned->errors.size()) + " not removable)";
        }
    }
    return JobOutcome{.ok = true, .detail = std::move(detail)};
}

JobOutcome RunScheduledDrill(const BackupJobOps& ops, ops::BackupMetrics& metrics) {
    auto report = ops.drill();
    if (!report) return Failed(BackupStage::kDrill, report.error());
    const bool passed = report->status == "passed";
    metrics.Restore(passed, report->rto_seconds);
    if (passed) metrics.DrillRto(report->rto_seconds);
    char figures[96];
    std::snprintf(figures, sizeof figures, "rpo_s=%.0f rto_s=%.1f", report->rpo_seconds,
                  report->rto_seconds);
    std::string detail =
        "drill " + report->drill_id + " of backup " + report->backup_id + " " + report->status;
    detail += " " + std::string(figures);
    if (passed) return JobOutcome{.ok = true, .detail = std::move(detail)};
    if (!report->errors.empty()) detail += ": " + report->errors.front();
    return JobOutcome{
        .ok = false, .retryable = false, .stage = BackupStage::kDrill, .detail = std::move(detail)};
}

std::vector<ScheduledJob> MakeBackupJobs(const config::BackupSettings& settings,
                                         const BackupJobOps& ops, ops::BackupMetrics& metrics) {
    std::vector<ScheduledJob> jobs;
    ScheduledJob backup;
    backup.name = "backup";
    backup.rule = BackupSlotRule(settings);
    backup.stage = BackupStage::kCreate;
    backup.begin_slot = [&ops, &metrics](const std::string&) -> JobAttempt {
        auto run = std::make_shared<ScheduledBackup>(ops, metrics);
        return [run] { return run->Attempt(); };
    };
    jobs.push_back(std::move(backup));
    if (settings.dr_drill_enabled) {
        ScheduledJob drill;
        drill.name = "dr_drill";
        drill.rule = DrillSlotRule(settings);
        drill.stage = BackupStage::kDrill;
        drill.begin_slot = [&ops, &metrics](const std::string&) -> JobAttempt {
            return [&ops, &metrics] { return RunScheduledDrill(ops, metrics); };
        };
        jobs.push_back(std::move(drill));
    }
    return jobs;
}

}  // namespace aragora::app
