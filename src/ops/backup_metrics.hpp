#pragma once

// The backup metrics (docs/operations.md, "Metrics"): the original's names
// (ORIGINAL-OPERATIONS.md §1.7) with one consistent label set, plus the alerting gauge
// aragora_backup_last_success_timestamp_seconds. Recorded by `serve`'s scheduler and by
// the /api/v2/backups and /api/v2/dr routes; `aragora backup` (one-shot) records none.
//
//   aragora_backup_success_total{type}              counter   backups made (type: full, ...)
//   aragora_backup_duration_seconds{type}           histogram 1..600 s, create only
//   aragora_backup_size_bytes{type}                 gauge     the newest backup's file size
//   aragora_last_backup_timestamp{type}             gauge     its created_at (epoch s)
//   aragora_backup_last_success_timestamp_seconds   gauge     newest successful backup of
//                                                             any type (0 = none)
//   aragora_backup_age_seconds                      gauge     now - the above (so with no
//                                                             backup at all it is huge)
//   aragora_backup_failures_total{stage}            counter   claim, create, verify,
//                                                             offsite, cleanup, drill,
//                                                             restore
//   aragora_backup_verification_total{result}       counter   passed | failed
//   aragora_backup_verification_duration_seconds    histogram 0.5..300 s
//   aragora_restore_total{result}                   counter   restore tests and drills
//   aragora_restore_duration_seconds                histogram 1..3600 s (the measured RTO)
//   aragora_backup_scheduler_running                gauge     1 while the scheduler runs
//   aragora_backup_scheduler_runs_total{job,result} counter   job backup | dr_drill;
//                                                   result succeeded | failed |
//                                                   claimed_elsewhere | missed
//   aragora_rpo_compliance{tier}                    gauge     1 when the backup age is
//                                                             within the tier's RPO
//   aragora_rto_compliance{tier}                    gauge     1 when the last drill's RTO
//                                                             is within the tier's RTO
//
// Tiers (the original's SLA targets): free RPO 24 h / RTO 24 h, pro RPO 1 h / RTO 4 h,
// enterprise RPO 15 min / RTO 1 h.
//
// Thread-safety: every method may be called from any thread (lock-free updates; the
// last-success time is an atomic). Refresh() is cheap (no I/O): call it before rendering.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "metrics/registry.hpp"

namespace aragora::ops {

enum class BackupStage { kClaim, kCreate, kVerify, kOffsite, kCleanup, kDrill, kRestore };
std::string_view StageName(BackupStage stage);

struct RecoveryTier {
    const char* name;
    std::chrono::seconds rpo;
    std::chrono::seconds rto;
};
// free, pro, enterprise (in that order).
const std::vector<RecoveryTier>& RecoveryTiers();

class BackupMetrics {
public:
    // Declares every family above in `registry` (once per registry: a second call throws
    // std::invalid_argument). `clock` and `registry` must outlive this object.
    BackupMetrics(metrics::Registry& registry, const common::Clock& clock);
    BackupMetrics(const BackupMetrics&) = delete;
    BackupMetrics& operator=(const BackupMetrics&) = delete;

    // A backup was written (its file is complete and in the manifest). `type` outside
    // full|incremental|differential is counted as "other".
    void BackupSucceeded(std::string_view type, double duration_seconds, std::uint64_t file_bytes,
                         std::chrono::system_clock::time_point created_at);
    void Verification(bool passed, double duration_seconds);
    // A restore test or a drill: passed or not, and how long the restore took (RTO).
    void Restore(bool passed, double duration_seconds);
    // A drill's measured RTO (for aragora_rto_compliance); Restore() counts it too.
    void DrillRto(double rto_seconds);
    void Failure(BackupStage stage);
    void SchedulerRunning(bool running);
    void SchedulerRun(std::string_view job, std::string_view result, double count = 1);

    // The newest successful backup known from elsewhere (the manifest at start, or one
    // another instance made): kept when newer than what is known.
    void SeedLastSuccess(std::chrono::system_clock::time_point created_at);
    std::optional<std::chrono::system_clock::time_point> LastSuccess() const;

    // Recomputes the time-dependent gauges (RPO/RTO compliance) for now.
    void Refresh();

private:
    void NoteSuccess(std::chrono::system_clock::time_point created_at);
    double AgeSeconds() const;

    const common::Clock& clock_;
    metrics::Family<metrics::Counter>& success_;
    metrics::Family<metrics::Histogram>& duration_;
    metrics::Family<metrics::Gauge>& size_;
    metrics::Family<metrics::Gauge>& last_timestamp_;
    metrics::Family<metrics::Counter>& failures_;
    metrics::Family<metrics::Counter>& verification_;
    metrics::Histogram& verification_duration_;
    metrics::Family<metrics::Counter>& restore_;
    metrics::Histogram& restore_duration_;
    metrics::Gauge& scheduler_running_;
    metrics::Family<metrics::Counter>& scheduler_runs_;
    metrics::Family<metrics::Gauge>& rpo_compliance_;
    metrics::Family<metrics::Gauge>& rto_compliance_;
    // Epoch milliseconds of the newest success; 0 = none.
    std::atomic<std::int64_t> last_success_ms_{0};
    // The last drill's RTO in milliseconds; -1 = no drill yet.
    std::atomic<std::int64_t> last_rto_ms_{-1};
};

}  // namespace aragora::ops
