#pragma once

// Receipt retention (ARAGORA_RECEIPT_RETENTION_DAYS): receipts older than the retention
// period are deleted, except those under a legal hold. Each deletion leaves a tombstone in
// the deletion log (storage receipt_deletions: id, chain_seq and both hashes), so the chain
// of the receipts that remain still verifies across the gap (VerifyStoredChain). What the
// scheduler (app/receipt_retention) and the API (legal holds, status, deletion log, a run
// on demand) ask of it; every store call runs on the blocking pool.
//
// Metrics (declared by the constructor; the names deploy/grafana/receipt-retention.json
// reads, where promtool allows them): aragora_receipt_retention_scheduler_running,
// aragora_receipt_cleanup_total, aragora_receipts_deleted_total,
// aragora_receipt_cleanup_errors_total, aragora_receipt_cleanup_duration_seconds,
// aragora_decision_receipts_total (a counter: receipts ever issued here, i.e. stored ones plus
// tombstones, the chain's length), aragora_receipt_last_cleanup_timestamp (epoch seconds of
// the last successful cleanup); and, where promtool refuses the original's name,
// aragora_receipt_retention_seconds (the dashboard's aragora_receipt_retention_days × 86400:
// promtool wants base units); ours: aragora_receipts_stored (receipts stored now) and
// aragora_receipts_legal_hold (receipts under hold now). The counts are refreshed after every
// cleanup and hold change and by RefreshGauges (the scheduler calls it every few minutes).
//
// Thread-safety: every method may be called from any thread or coroutine; the store is
// attached once (AttachStore) before or while serving.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "debate/receipt_chain.hpp"
#include "metrics/registry.hpp"
#include "storage/store.hpp"

namespace aragora::service {

// The operator the scheduled cleanup writes into the deletion log (the original's).
inline constexpr const char* kRetentionSchedulerOperator = "system:receipt_retention_scheduler";
// scheduled_runs job name of the cleanup (one instance per slot).
inline constexpr const char* kRetentionJob = "receipt_retention";

struct RetentionOptions {
    int retention_days = 2555;        // ARAGORA_RECEIPT_RETENTION_DAYS
    int cleanup_interval_hours = 24;  // for the status document
    int batch_size = 500;             // receipts deleted per transaction
    // A cleanup stops deleting once it has run this long; what is left waits for the next
    // run (the result says complete = false).
    std::chrono::seconds run_deadline{600};
};

struct CleanupRequest {
    bool dry_run = false;
    // Overrides the configured period for this run (the API's retention_days); 0 = every
    // receipt created before now that is not held.
    std::optional<int> retention_days;
    std::string operator_name = kRetentionSchedulerOperator;
};

// The original's CleanupResult plus what a dry run and a deadline need.
struct CleanupResult {
    std::int64_t receipts_deleted = 0;  // a dry run: how many would be
    std::int64_t held_kept = 0;         // expired but under a legal hold
    std::string started_at;
    std::string completed_at;
    double duration_seconds = 0;
    int retention_days = 0;
    std::string cutoff;  // receipts created before it expire
    bool success = true;
    std::string error;  // "" on success
    bool dry_run = false;
    bool complete = true;                  // false: the run deadline stopped it
    std::vector<std::string> receipt_ids;  // deleted (or would be), the first 1000
    std::string operator_name;
};

// The original's CleanupStats, since this process started (dry runs excluded).
struct CleanupStats {
    std::int64_t total_runs = 0;
    std::int64_t total_receipts_deleted = 0;
    std::int64_t failures = 0;
    std::string last_run;  // completed_at of the last run, "" before the first
    std::optional<CleanupResult> last_result;
};

// GET /api/v2/receipts/retention-status, with real numbers (the original's are stubs).
struct RetentionStatus {
    int retention_days = 0;
    int cleanup_interval_hours = 0;
    std::string generated_at;
    std::string cutoff;
    std::int64_t total_receipts = 0;
    std::string oldest_receipt;  // "" when none
    std::string newest_receipt;
    // 0-30_days, 31-90_days, 91-365_days, 1-3_years, 3-7_years, over_7_years.
    std::vector<std::pair<std::string, std::int64_t>> age_distribution;
    // next_30_days, next_90_days, next_365_days: not held, expiring within.
    std::vector<std::pair<std::string, std::int64_t>> expiring;
    std::int64_t already_expired = 0;  // deletable now (the next run deletes them)
    std::int64_t legal_holds = 0;      // receipts under hold
    std::int64_t expired_but_held = 0;
    std::int64_t deleted_receipts = 0;  // tombstones in the deletion log
    bool scheduler_running = false;
    std::string next_run_at;  // "" when no scheduler runs
    CleanupStats stats;
};

// Outcome of a scheduled slot: nullopt result = another instance took it.
struct ScheduledCleanup {
    bool claimed = false;
    std::optional<CleanupResult> result;
};

class ReceiptRetention {
public:
    // Declares the metrics in `registry` (once per registry). Everything passed by
    // reference must outlive the object.
    ReceiptRetention(RetentionOptions options, common::BlockingPool& pool,
                     const common::Clock& clock, metrics::Registry& registry);

    // The store to work on (startup, once it is open). Until then every call answers
    // kUnavailable.
    void AttachStore(storage::Store* store);

    // Deletes (or, dry_run, counts) the expired receipts that are not held, in batches of
    // batch_size, each in its own transaction, until none is left or run_deadline passed.
    // One run at a time: kConflict while another runs. Logs one line per run. A failure
    // (storage) is returned as the error after being counted; batches committed before it
    // stay deleted.
    boost::asio::awaitable<common::Result<CleanupResult>> RunCleanup(CleanupRequest request);
    // The scheduler's slot (`slot`: ISO 8601 start): claims (kRetentionJob, slot) for
    // `instance` and runs the cleanup only when the claim is won; records how it ended.
    boost::asio::awaitable<common::Result<ScheduledCleanup>> RunScheduledSlot(std::string slot,
                                                                              std::string instance);

    boost::asio::awaitable<common::Result<storage::LegalHold>> PlaceHold(std::string id,
                                                                         std::string reason,
                                                                         std::string matter_id,
                                                                         std::string placed_by);
    // Returns the hold as it was (active false: there was none).
    boost::asio::awaitable<common::Result<storage::LegalHold>> ReleaseHold(std::string id);
    boost::asio::awaitable<common::Result<storage::LegalHold>> Hold(std::string id);
    boost::asio::awaitable<common::Result<RetentionStatus>> GetStatus();
    boost::asio::awaitable<common::Result<storage::ReceiptDeletionPage>> Deletions(
        int limit, int offset, std::string reason);
    // Re-reads the receipt and hold counts into their gauges.
    boost::asio::awaitable<common::Status> RefreshGauges();

    CleanupStats Stats() const;
    const RetentionOptions& options() const { return options_; }
    // The scheduler says whether it runs and when it runs next ("" = not scheduled).
    void SetScheduler(bool running, std::string next_run_at);

private:
    struct Metrics {
        explicit Metrics(metrics::Registry& registry);
        metrics::Gauge& scheduler_running;
        metrics::Counter& cleanups;
        metrics::Counter& deleted;
        metrics::Counter& errors;
        metrics::Histogram& duration;
        metrics::Gauge& stored;
        // Receipts ever issued, as last counted (never decreases): read by a callback
        // counter, shared so that a scrape never reads a destroyed object.
        std::shared_ptr<std::atomic<double>> issued;
        metrics::Gauge& retention_seconds;
        metrics::Gauge& last_cleanup;
        metrics::Gauge& legal_holds;
    };

    storage::Store* StoreOrNull() const { return store_.load(); }
    boost::asio::awaitable<common::Result<CleanupResult>> RunLocked(CleanupRequest request);
    void SetCounts(const storage::ReceiptRetentionCounts& counts);
    void Record(const CleanupResult& result);

    RetentionOptions options_;
    common::BlockingPool& pool_;
    const common::Clock& clock_;
    Metrics metrics_;
    std::atomic<storage::Store*> store_{nullptr};
    std::atomic<bool> running_{false};

    mutable std::mutex mu_;  // guards the members below
    CleanupStats stats_;
    bool scheduler_running_ = false;
    std::string next_run_at_;
};

// Pages the whole stored chain (receipts and tombstones, ListReceiptChain) through a
// debate::ReceiptChainVerifier: every receipt's hash and signature, its columns, every
// link. Blocking (the CLI; on a server, run it on the blocking pool). A storage error is
// returned as such; verification failures are in the report.
common::Result<debate::ChainReport> VerifyStoredChain(storage::Store& store,
                                                      const debate::ReceiptKeys& keys,
                                                      int page_size = 500);

}  // namespace aragora::service
