#include "ops/backup_metrics.hpp"

#include <vector>

namespace aragora::ops {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::system_clock;

std::string TypeLabel(std::string_view type) {
    if (type == "full" || type == "incremental" || type == "differential") {
        return std::string(type);
    }
    return "other";
}

std::int64_t EpochMs(system_clock::time_point tp) {
    return duration_cast<milliseconds>(tp.time_since_epoch()).count();
}

}  // namespace

std::string_view StageName(BackupStage stage) {
    switch (stage) {
        case BackupStage::kClaim:
            return "claim";
        case BackupStage::kCreate:
            return "create";
        case BackupStage::kVerify:
            return "verify";
        case BackupStage::kOffsite:
            return "offsite";
        case BackupStage::kCleanup:
            return "cleanup";
        case BackupStage::kDrill:
            return "drill";
        case BackupStage::kRestore:
            return "restore";
    }
    return "create";
}

const std::vector<RecoveryTier>& RecoveryTiers() {
    using std::chrono::hours;
    using std::chrono::minutes;
    static const std::vector<RecoveryTier> kTiers = {
        {"free", hours(24), hours(24)},
        {"pro", hours(1), hours(4)},
        {"enterprise", minutes(15), hours(1)},
    };
    return kTiers;
}

BackupMetrics::BackupMetrics(metrics::Registry& r, const common::Clock& clock)
    : clock_(clock),
      success_(r.AddCounter("aragora_backup_success_total", "Backups written, by backup type",
                            {"type"}, {.max_series = 8})),
      duration_(r.AddHistogram("aragora_backup_duration_seconds",
                               "Time to write a backup (snapshot, compress, encrypt, checksum)",
                               {"type"}, {1, 5, 10, 30, 60, 120, 300, 600}, {.max_series = 8})),
      size_(r.AddGauge("aragora_backup_size_bytes", "Size of the newest backup file, by type",
                       {"type"}, {.max_series = 8})),
      last_timestamp_(r.AddGauge("aragora_last_backup_timestamp",
                                 "created_at of the newest backup of each type (epoch seconds)",
                                 {"type"}, {.max_series = 8})),
      failures_(r.AddCounter("aragora_backup_failures_total",
                             "Backup work that failed, by stage (claim, create, verify, offsite, "
                             "cleanup, drill, restore)",
                             {"stage"}, {.max_series = 16})),
      verification_(r.AddCounter("aragora_backup_verification_total",
                                 "Backup verifications by result (passed, failed)", {"result"},
                                 {.max_series = 4})),
      verification_duration_(r.AddHistogram("aragora_backup_verification_duration_seconds",
                                            "Time to verify a backup (checksum, scratch restore, "
                                            "integrity, every receipt)",
                                            {}, {0.5, 1, 2, 5, 10, 30, 60, 120, 300})
                                 .WithLabels({})),
      restore_(r.AddCounter("aragora_restore_total",
                            "Restore tests and DR drills by result (passed, failed)", {"result"},
                            {.max_series = 4})),
      restore_duration_(
          r.AddHistogram("aragora_restore_duration_seconds",
                         "Measured restore time of restore tests and drills (the RTO)", {},
                         {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600})
              .WithLabels({})),
      scheduler_running_(r.AddGauge("aragora_backup_scheduler_running",
                                    "1 while serve's backup scheduler runs (BACKUP_ENABLED)")
                             .WithLabels({})),
      scheduler_runs_(r.AddCounter("aragora_backup_scheduler_runs_total",
                                   "Scheduled slots by job (backup, dr_drill) and result "
                                   "(succeeded, failed, claimed_elsewhere, missed)",
                                   {"job", "result"}, {.max_series = 16})),
      rpo_compliance_(r.AddGauge("aragora_rpo_compliance",
                                 "1 when the newest successful backup is younger than the tier's "
                                 "RPO (free 24h, pro 1h, enterprise 15m)",
                                 {"tier"}, {.max_series = 4})),
      rto_compliance_(r.AddGauge("aragora_rto_compliance",
                                 "1 when the last DR drill restored within the tier's RTO (free "
                                 "24h, pro 4h, enterprise 1h); 0 before any drill",
                                 {"tier"}, {.max_series = 4})) {
    r.AddCallbackGauge("aragora_backup_last_success_timestamp_seconds",
                       "created_at of the newest successful backup (epoch seconds; 0 = none): "
                       "alert when time() minus this exceeds the backup interval",
                       [this] { return static_cast<double>(last_success_ms_.load()) / 1000.0; });
    r.AddCallbackGauge("aragora_backup_age_seconds",
                       "Seconds since the newest successful backup (since the epoch when there "
                       "is none, so an age alert fires)",
                       [this] { return AgeSeconds(); });
    // Series exist from the start (a dashboard shows 0, not "no data").
    for (const char* result : {"passed", "failed"}) {
        verification_.WithLabels({result});
        restore_.WithLabels({result});
    }
    Refresh();
}

void BackupMetrics::BackupSucceeded(std::string_view type, double duration_seconds,
                                    std::uint64_t file_bytes, system_clock::time_point created_at) {
    const std::string label = TypeLabel(type);
    success_.WithLabels({label}).Inc();
    duration_.WithLabels({label}).Observe(duration_seconds);
    size_.WithLabels({label}).Set(static_cast<double>(file_bytes));
    last_timestamp_.WithLabels({label}).Set(static_cast<double>(EpochMs(created_at)) / 1000.0);
    NoteSuccess(created_at);
    Refresh();
}

void BackupMetrics::Verification(bool passed, double duration_seconds) {
    verification_.WithLabels({passed ? "passed" : "failed"}).Inc();
    verification_duration_.Observe(duration_seconds);
}

void BackupMetrics::Restore(bool passed, double duration_seconds) {
    restore_.WithLabels({passed ? "passed" : "failed"}).Inc();
    restore_duration_.Observe(duration_seconds);
}

void BackupMetrics::DrillRto(double rto_seconds) {
    if (!(rto_seconds >= 0)) return;
    last_rto_ms_.store(static_cast<std::int64_t>(rto_seconds * 1000.0));
    Refresh();
}

void BackupMetrics::Failure(BackupStage stage) {
    failures_.WithLabels({std::string(StageName(stage))}).Inc();
}

void BackupMetrics::SchedulerRunning(bool running) { scheduler_running_.Set(running ? 1 : 0); }

void BackupMetrics::SchedulerRun(std::string_view job, std::string_view result, double count) {
    scheduler_runs_.WithLabels({std::string(job), std::string(result)}).Inc(count);
}

void BackupMetrics::SeedLastSuccess(system_clock::time_point created_at) {
    NoteSuccess(created_at);
    Refresh();
}

std::optional<system_clock::time_point> BackupMetrics::LastSuccess() const {
    const std::int64_t ms = last_success_ms_.load();
    if (ms == 0) return std::nullopt;
    return system_clock::time_point(duration_cast<system_clock::duration>(milliseconds(ms)));
}

void BackupMetrics::NoteSuccess(system_clock::time_point created_at) {
    const std::int64_t ms = EpochMs(created_at);
    std::int64_t seen = last_success_ms_.load();
    while (ms > seen && !last_success_ms_.compare_exchange_weak(seen, ms)) {
    }
}

double BackupMetrics::AgeSeconds() const {
    const std::int64_t now_ms = EpochMs(clock_.SystemNow());
    return static_cast<double>(now_ms - last_success_ms_.load()) / 1000.0;
}

void BackupMetrics::Refresh() {
    const bool any = last_success_ms_.load() != 0;
    const double age = AgeSeconds();
    const std::int64_t rto_ms = last_rto_ms_.load();
    for (const RecoveryTier& tier : RecoveryTiers()) {
        const bool rpo_ok = any && age <= static_cast<double>(tier.rpo.count());
        const bool rto_ok = rto_ms >= 0 && rto_ms <= tier.rto.count() * 1000;
        rpo_compliance_.WithLabels({tier.name}).Set(rpo_ok ? 1 : 0);
        rto_compliance_.WithLabels({tier.name}).Set(rto_ok ? 1 : 0);
    }
}

}  // namespace aragora::ops
