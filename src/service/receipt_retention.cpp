#include "service/receipt_retention.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <utility>

#include "common/logging.hpp"
#include "common/time.hpp"

namespace aragora::service {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

constexpr std::size_t kMaxListedIds = 1000;
constexpr auto kDay = std::chrono::hours(24);

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.receipts");
    return logger;
}

common::Error NotAttached() {
    return MakeError(ErrorCode::kUnavailable, "the server is still starting");
}

std::vector<double> DurationBuckets() {
    return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600};
}

std::string Iso(std::chrono::system_clock::time_point tp) { return common::FormatIso8601(tp); }

}  // namespace

ReceiptRetention::Metrics::Metrics(metrics::Registry& r)
    : scheduler_running(r.AddGauge("aragora_receipt_retention_scheduler_running",
                                   "1 while the receipt retention scheduler runs in this process")
                            .WithLabels({})),
      cleanups(r.AddCounter("aragora_receipt_cleanup_total",
                            "Receipt retention cleanups run (scheduled or on demand; dry runs "
                            "excluded), failed ones included")
                   .WithLabels({})),
      deleted(r.AddCounter("aragora_receipts_deleted_total",
                           "Receipts deleted by retention (each leaves a tombstone)")
                  .WithLabels({})),
      errors(r.AddCounter("aragora_receipt_cleanup_errors_total",
                          "Receipt retention cleanups that failed")
                 .WithLabels({})),
      duration(r.AddHistogram("aragora_receipt_cleanup_duration_seconds",
                              "Duration of receipt retention cleanups", {}, DurationBuckets())
                   .WithLabels({})),
      stored(r.AddGauge("aragora_receipts_stored",
                        "Decision receipts stored now (refreshed after cleanups, hold changes and "
                        "every few minutes)")
                 .WithLabels({})),
      issued(std::make_shared<std::atomic<double>>(0.0)),
      retention_seconds(r.AddGauge("aragora_receipt_retention_seconds",
                                   "ARAGORA_RECEIPT_RETENTION_DAYS in seconds: receipts older are "
                                   "deleted unless under legal hold")
                            .WithLabels({})),
      last_cleanup(r.AddGauge("aragora_receipt_last_cleanup_timestamp",
                              "When the last successful receipt cleanup ended (epoch seconds)")
                       .WithLabels({})),
      legal_holds(
          r.AddGauge("aragora_receipts_legal_hold", "Receipts under a legal hold").WithLabels({})) {
    r.AddCallbackCounter(
        "aragora_decision_receipts_total",
        "Decision receipts issued by this installation: stored ones plus the tombstones of "
        "deleted ones (the receipt chain's length, as last counted)",
        [issued = issued] { return issued->load(); });
}

ReceiptRetention::ReceiptRetention(RetentionOptions options, common::BlockingPool& pool,
                                   const common::Clock& clock, metrics::Registry& registry)
    : options_(options), pool_(pool), clock_(clock), metrics_(registry) {
    metrics_.retention_seconds.Set(static_cast<double>(options_.retention_days) * 86400.0);
}

void ReceiptRetention::AttachStore(storage::Store* store) { store_.store(store); }

void ReceiptRetention::SetScheduler(bool running, std::string next_run_at) {
    metrics_.scheduler_running.Set(running ? 1.0 : 0.0);
    std::lock_guard lock(mu_);
    scheduler_running_ = running;
    next_run_at_ = std::move(next_run_at);
}

CleanupStats ReceiptRetention::Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

void ReceiptRetention::Record(const CleanupResult& result) {
    if (result.dry_run) return;
    metrics_.cleanups.Inc();
    metrics_.duration.Observe(result.duration_seconds);
    metrics_.deleted.Inc(static_cast<double>(result.receipts_deleted));
    if (result.success) {
        auto completed = common::ParseIso8601(result.completed_at);
        if (completed) metrics_.last_cleanup.Set(common::EpochSeconds(*completed));
    } else {
        metrics_.errors.Inc();
    }
    std::lock_guard lock(mu_);
    ++stats_.total_runs;
    stats_.total_receipts_deleted += result.receipts_deleted;
    if (!result.success) ++stats_.failures;
    stats_.last_run = result.completed_at;
    stats_.last_result = result;
}

asio::awaitable<Result<CleanupResult>> ReceiptRetention::RunCleanup(CleanupRequest request) {
    if (StoreOrNull() == nullptr) co_return NotAttached();
    if (request.retention_days && *request.retention_days < 0) {
        co_return MakeError(ErrorCode::kValidation, "retention_days must be >= 0",
                            "retention_days");
    }
    if (running_.exchange(true)) {
        co_return MakeError(ErrorCode::kConflict, "a receipt cleanup is already running");
    }
    // Cleared however the run ends (an exception from the pool is a bug, but must not
    // block every later cleanup).
    struct Running {
        std::atomic<bool>& flag;
        ~Running() { flag = false; }
    } running{running_};
    co_return co_await RunLocked(std::move(request));
}

asio::awaitable<Result<CleanupResult>> ReceiptRetention::RunLocked(CleanupRequest request) {
    storage::Store& store = *StoreOrNull();
    const auto started = clock_.SystemNow();
    const auto steady_start = clock_.SteadyNow();
    CleanupResult out;
    out.dry_run = request.dry_run;
    out.operator_name = request.operator_name;
    out.retention_days = request.retention_days.value_or(options_.retention_days);
    out.started_at = Iso(started);
    out.cutoff = Iso(started - kDay * out.retention_days);
    const std::string& cutoff = out.cutoff;

    std::optional<common::Error> failure;
    if (request.dry_run) {
        auto preview = co_await pool_.Run(
            [&store, &cutoff] { return store.FindExpiredReceipts(cutoff, kMaxListedIds); });
        if (preview) {
            out.receipts_deleted = preview->deletable;
            out.held_kept = preview->held;
            out.receipt_ids = std::move(preview->receipt_ids);
        } else {
            failure = preview.error();
        }
    } else {
        storage::ExpiredReceiptsDeletion batch;
        batch.cutoff = cutoff;
        batch.operator_name = request.operator_name;
        batch.metadata_json =
            boost::json::serialize(boost::json::object{{"retention_days", out.retention_days}});
        batch.limit = options_.batch_size;
        const auto deadline = steady_start + options_.run_deadline;
        while (true) {
            batch.now = Iso(clock_.SystemNow());
            auto deleted =
                co_await pool_.Run([&store, &batch] { return store.DeleteExpiredReceipts(batch); });
            if (!deleted) {
                failure = deleted.error();
                break;
            }
            out.receipts_deleted += static_cast<std::int64_t>(deleted->size());
            for (const auto& d : *deleted) {
                if (out.receipt_ids.size() < kMaxListedIds) out.receipt_ids.push_back(d.receipt_id);
            }
            if (static_cast<int>(deleted->size()) < batch.limit) break;
            if (clock_.SteadyNow() >= deadline) {
                out.complete = false;
                break;
            }
        }
        if (!failure) {
            auto held = co_await pool_.Run(
                [&store, &cutoff] { return store.FindExpiredReceipts(cutoff, 0); });
            if (held) out.held_kept = held->held;
        }
    }
    out.completed_at = Iso(clock_.SystemNow());
    out.duration_seconds = std::chrono::duration<double>(clock_.SteadyNow() - steady_start).count();
    if (failure) {
        out.success = false;
        out.error = failure->message;
    }
    Record(out);
    if (!out.dry_run) (void)co_await RefreshGauges();

    if (failure) {
        Log()->error(
            "receipt retention cleanup failed after deleting {} receipt(s) (retention_days={} "
            "cutoff={} operator={}): {}",
            out.receipts_deleted, out.retention_days, out.cutoff, out.operator_name,
            failure->message);
        co_return *failure;
    }
    Log()->info(
        "receipt retention {}: {} {} receipt(s) created before {} (retention_days={}), {} kept "
        "under legal hold, duration_ms={}{} operator={}",
        out.dry_run ? "dry run" : "cleanup", out.dry_run ? "would delete" : "deleted",
        out.receipts_deleted, out.cutoff, out.retention_days, out.held_kept,
        static_cast<std::int64_t>(out.duration_seconds * 1000),
        out.complete ? "" : " (run deadline reached: the rest waits for the next run)",
        out.operator_name);
    co_return out;
}

asio::awaitable<Result<ScheduledCleanup>> ReceiptRetention::RunScheduledSlot(std::string slot,
                                                                             std::string instance) {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    const std::string now = Iso(clock_.SystemNow());
    auto claimed = co_await pool_.Run([store, &slot, &instance, &now] {
        return store->ClaimScheduledRun(kRetentionJob, slot, instance, now);
    });
    if (!claimed) co_return claimed.error();
    ScheduledCleanup out;
    out.claimed = *claimed;
    if (!out.claimed) {
        Log()->info("receipt retention slot {} already taken by another instance", slot);
        co_return out;
    }
    CleanupRequest request;
    auto result = co_await RunCleanup(std::move(request));
    const std::string status = result ? "succeeded" : "failed";
    const std::string detail =
        result ? "deleted " + std::to_string(result->receipts_deleted) + " receipt(s)"
               : result.error().message;
    const std::string finished = Iso(clock_.SystemNow());
    auto recorded = co_await pool_.Run([store, &slot, &instance, &status, &detail, &finished] {
        return common::ToUnit(
            store->FinishScheduledRun(kRetentionJob, slot, instance, status, detail, finished));
    });
    if (!recorded) {
        Log()->warn("receipt retention slot {}: could not record its end: {}", slot,
                    recorded.error().message);
    }
    if (!result) co_return result.error();
    out.result = std::move(*result);
    co_return out;
}

asio::awaitable<Result<storage::LegalHold>> ReceiptRetention::PlaceHold(std::string id,
                                                                        std::string reason,
                                                                        std::string matter_id,
                                                                        std::string placed_by) {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    const std::string now = Iso(clock_.SystemNow());
    auto hold = co_await pool_.Run([store, &id, &reason, &matter_id, &placed_by, &now] {
        return store->SetLegalHold(id, reason, matter_id, placed_by, now);
    });
    if (hold) {
        Log()->info("legal hold placed receipt_id={} matter_id={} placed_by={}", hold->receipt_id,
                    hold->matter_id, hold->placed_by);
        (void)co_await RefreshGauges();
    }
    co_return hold;
}

asio::awaitable<Result<storage::LegalHold>> ReceiptRetention::ReleaseHold(std::string id) {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    auto before = co_await pool_.Run([store, &id] { return store->ReleaseLegalHold(id); });
    if (before && before->active) {
        Log()->info("legal hold released receipt_id={} matter_id={}", before->receipt_id,
                    before->matter_id);
        (void)co_await RefreshGauges();
    }
    co_return before;
}

asio::awaitable<Result<storage::LegalHold>> ReceiptRetention::Hold(std::string id) {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    co_return co_await pool_.Run([store, &id] { return store->GetLegalHold(id); });
}

asio::awaitable<Result<storage::ReceiptDeletionPage>> ReceiptRetention::Deletions(
    int limit, int offset, std::string reason) {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    co_return co_await pool_.Run([store, limit, offset, &reason] {
        return store->ListReceiptDeletions(limit, offset, reason);
    });
}

asio::awaitable<Status> ReceiptRetention::RefreshGauges() {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    const std::vector<std::string> no_bounds;
    auto counts = co_await pool_.Run(
        [store, &no_bounds] { return store->CountReceiptsForRetention(no_bounds); });
    if (!counts) co_return counts.error();
    SetCounts(*counts);
    co_return common::Status{};
}

void ReceiptRetention::SetCounts(const storage::ReceiptRetentionCounts& counts) {
    metrics_.stored.Set(static_cast<double>(counts.total));
    metrics_.legal_holds.Set(static_cast<double>(counts.held));
    // A counter never goes down, even if a later count were lower (a restored backup).
    const double issued = static_cast<double>(counts.total + counts.tombstones);
    double seen = metrics_.issued->load();
    while (issued > seen && !metrics_.issued->compare_exchange_weak(seen, issued)) {
    }
}

asio::awaitable<Result<RetentionStatus>> ReceiptRetention::GetStatus() {
    storage::Store* store = StoreOrNull();
    if (store == nullptr) co_return NotAttached();
    const auto now = clock_.SystemNow();
    const auto cutoff = now - kDay * options_.retention_days;
    // Ages (created before now - N days) and expiry horizons (created before cutoff + N).
    const std::vector<std::string> bounds = {
        Iso(now - kDay * 30),    Iso(now - kDay * 90),    Iso(now - kDay * 365),
        Iso(now - kDay * 1095),  Iso(now - kDay * 2555),  Iso(cutoff),
        Iso(cutoff + kDay * 30), Iso(cutoff + kDay * 90), Iso(cutoff + kDay * 365)};
    auto counts =
        co_await pool_.Run([store, &bounds] { return store->CountReceiptsForRetention(bounds); });
    if (!counts) co_return counts.error();
    SetCounts(*counts);

    const auto& before = counts->created_before;
    const auto& held_before = counts->held_created_before;
    auto unheld = [&](std::size_t i) { return before[i] - held_before[i]; };
    RetentionStatus s;
    s.retention_days = options_.retention_days;
    s.cleanup_interval_hours = options_.cleanup_interval_hours;
    s.generated_at = Iso(now);
    s.cutoff = bounds[5];
    s.total_receipts = counts->total;
    s.oldest_receipt = counts->oldest_created_at;
    s.newest_receipt = counts->newest_created_at;
    s.age_distribution = {
        {"0-30_days", counts->total - before[0]}, {"31-90_days", before[0] - before[1]},
        {"91-365_days", before[1] - before[2]},   {"1-3_years", before[2] - before[3]},
        {"3-7_years", before[3] - before[4]},     {"over_7_years", before[4]}};
    s.expiring = {{"next_30_days", unheld(6) - unheld(5)},
                  {"next_90_days", unheld(7) - unheld(5)},
                  {"next_365_days", unheld(8) - unheld(5)}};
    s.already_expired = unheld(5);
    s.expired_but_held = held_before[5];
    s.legal_holds = counts->held;
    s.deleted_receipts = counts->tombstones;
    std::lock_guard lock(mu_);
    s.scheduler_running = scheduler_running_;
    s.next_run_at = next_run_at_;
    s.stats = stats_;
    co_return s;
}

Result<debate::ChainReport> VerifyStoredChain(storage::Store& store,
                                              const debate::ReceiptKeys& keys, int page_size) {
    debate::ReceiptChainVerifier verifier(keys);
    std::int64_t after = 0;
    while (true) {
        auto page = store.ListReceiptChain(after, page_size);
        if (!page) return page.error();
        for (const auto& e : *page) {
            verifier.Add(debate::ChainLink{e.chain_seq, e.receipt.receipt_id,
                                           e.receipt.content_hash, e.receipt.previous_hash,
                                           e.receipt.json, e.tombstone});
            after = e.chain_seq;
        }
        if (static_cast<int>(page->size()) < page_size) break;
    }
    return verifier.report();
}

}  // namespace aragora::service
