// serve's backup scheduler on a manual clock, against real stores (SQLite and the
// PostgreSQL test server): each slot is claimed in scheduled_runs and run by exactly one
// instance; failures are retried with backoff a bounded number of times; slots reached
// too late are missed; the outcome is recorded, counted and the loop sleeps until the
// next slot. No sleeps: waits fast-forward the ManualClock (or are ended by Stop()).

#include "app/backup_scheduler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../ops/backup_test_support.hpp"
#include "../storage/store_backends.hpp"
#include "app/backup_jobs.hpp"
#include "common/time.hpp"
#include "metrics/registry.hpp"
#include "ops/sqlite_backup.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using ops::BackupSlotRule;
using ops::DrillSlotRule;
using ops::SlotName;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using storage::test_support::BackendKind;
using storage::test_support::MakeBackend;
using storage::test_support::TestBackend;

SysTime At(const char* iso) { return common::ParseIso8601(iso).value(); }

// Runs the coroutines on `ioc` with `threads` threads until they are done (rethrows
// their exceptions).
template <typename... Work>
void DriveOn(asio::io_context& ioc, int threads, Work... work) {
    std::vector<std::future<void>> done;
    (done.push_back(asio::co_spawn(ioc, std::move(work), asio::use_future)), ...);
    ioc.restart();
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; ++i) extra.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : extra) t.join();
    for (auto& f : done) f.get();
}

void Drive(asio::io_context& ioc, asio::awaitable<void> work) { DriveOn(ioc, 1, std::move(work)); }

double CounterValue(metrics::Registry& r, const std::string& needle) {
    const std::string text = r.RenderPrometheus();
    const auto pos = text.find("\n" + needle + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + needle.size() + 2));
}

// What the jobs did, shared by every instance of a test (jobs run on pool threads).
struct Ledger {
    std::mutex mu;
    std::map<std::string, std::vector<std::string>> runs;  // slot -> instances that ran it
    int attempts = 0;
    void Ran(const std::string& slot, const std::string& who) {
        std::lock_guard lock(mu);
        runs[slot].push_back(who);
    }
};

class BackupSchedulerTest : public storage::test_support::StoreSuite {
protected:
    // A second instance: its own connection(s) to the same database.
    std::unique_ptr<storage::Store> OpenAnother() {
        auto b = backend_->Open(/*migrate=*/false);
        EXPECT_TRUE(b.ok()) << b.error().message;
        return b ? std::move(b->store) : nullptr;
    }

    // A job that records who ran which slot and answers `outcome(attempt number)`.
    ScheduledJob CountingJob(const std::string& who, SlotRule rule,
                             std::function<JobOutcome(int)> outcome = {}) {
        ScheduledJob job;
        job.name = "backup";
        job.rule = rule;
        job.begin_slot = [this, who, outcome](const std::string& slot) -> JobAttempt {
            auto n = std::make_shared<int>(0);
            return [this, who, outcome, slot, n] {
                ++*n;
                {
                    std::lock_guard lock(ledger_.mu);
                    ++ledger_.attempts;
                }
                JobOutcome o = outcome ? outcome(*n) : JobOutcome{.ok = true, .detail = "bk"};
                if (o.ok) ledger_.Ran(slot, who);
                return o;
            };
        };
        return job;
    }

    // Waits fast-forward the clock; a wait that would pass `until` ends the loop.
    SchedulerOptions FastForward(const std::string& instance, SysTime until) {
        SchedulerOptions o;
        o.instance_id = instance;
        o.random = [] { return 0.5; };
        o.wait = [this, until](nanoseconds d) -> asio::awaitable<bool> {
            waits_.push_back(d);
            if (clock_.SystemNow() + d > until) co_return false;
            clock_.Advance(d);
            co_return true;
        };
        return o;
    }

    void AdvanceTo(SysTime t) { clock_.Advance(t - clock_.SystemNow()); }

    std::vector<std::string> Rows() {
        return backend_->Column(
            "SELECT job || '|' || slot || '|' || instance || '|' || status || '|' || detail "
            "FROM scheduled_runs ORDER BY job, slot");
    }

    common::ManualClock clock_{At("2026-12-06T10:00:10.000Z")};
    asio::io_context ioc_;
    common::BlockingPool store_pool_{2, 64};
    common::BlockingPool job_pool_{1, 16};
    metrics::Registry registry_;
    ops::BackupMetrics metrics_{registry_, clock_};
    Ledger ledger_;
    std::vector<nanoseconds> waits_;
};

const SlotRule kEveryMinute{seconds(60), seconds(0)};

TEST_P(BackupSchedulerTest, LoopRunsEverySlotOnceAndSleepsUntilTheNext) {
    std::vector<ScheduledJob> jobs{CountingJob("a", kEveryMinute)};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-06T10:10:05.000Z")), metrics_);
    Drive(ioc_, s.Run());
    // 10:00 (10 s late, within the 30 s starting deadline), then 10:01 ... 10:10.
    ASSERT_EQ(ledger_.runs.size(), 11u);
    EXPECT_EQ(ledger_.runs.begin()->first, "2026-12-06T10:00:00.000Z");
    EXPECT_EQ(ledger_.runs.rbegin()->first, "2026-12-06T10:10:00.000Z");
    for (const auto& [slot, who] : ledger_.runs) EXPECT_EQ(who.size(), 1u) << slot;
    // Woken exactly at each slot: 50 s to 10:01, then whole minutes.
    ASSERT_GE(waits_.size(), 2u);
    EXPECT_EQ(waits_[0], seconds(50));
    EXPECT_EQ(waits_[1], seconds(60));
    const auto rows = Rows();
    ASSERT_EQ(rows.size(), 11u);
    EXPECT_EQ(rows[0], "backup|2026-12-06T10:00:00.000Z|inst_a|succeeded|bk");
    EXPECT_EQ(
        CounterValue(registry_,
                     "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"succeeded\"}"),
        11);
    EXPECT_EQ(CounterValue(registry_, "aragora_backup_scheduler_running"), 0);
}

TEST_P(BackupSchedulerTest, DailyLoopSkipsTheSlotBeforeStartAndRunsTheNext) {
    config::BackupSettings settings;
    settings.daily_minute_of_day = 2 * 60;
    std::vector<ScheduledJob> jobs{CountingJob("a", BackupSlotRule(settings))};
    // 10:00:10: today's 02:00 slot is 8 h old (deadline 1 h): not ours to catch up.
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-09T12:00:00.000Z")), metrics_);
    Drive(ioc_, s.Run());
    std::vector<std::string> slots;
    for (const auto& [slot, who] : ledger_.runs) slots.push_back(slot);
    EXPECT_EQ(slots,
              (std::vector<std::string>{"2026-12-07T02:00:00.000Z", "2026-12-08T02:00:00.000Z",
                                        "2026-12-09T02:00:00.000Z"}));
    EXPECT_EQ(CounterValue(registry_,
                           "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"missed\"}"),
              0);
    // Each sleep is at most an hour (the wall clock is read again at least that often).
    for (nanoseconds w : waits_) EXPECT_LE(w, std::chrono::hours(1));
}

TEST_P(BackupSchedulerTest, CatchesUpASlotWithinItsStartingDeadline) {
    config::BackupSettings settings;
    settings.daily_minute_of_day = 9 * 60 + 30;  // 09:30: 30 min ago, deadline 1 h
    std::vector<ScheduledJob> jobs{CountingJob("a", BackupSlotRule(settings))};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-06T11:00:00.000Z")), metrics_);
    Drive(ioc_, s.RunDue());
    ASSERT_EQ(ledger_.runs.size(), 1u);
    EXPECT_EQ(ledger_.runs.begin()->first, "2026-12-06T09:30:00.000Z");
    // Handled: a second pass does nothing, and the next wake is tomorrow's slot.
    Drive(ioc_, s.RunDue());
    EXPECT_EQ(ledger_.attempts, 1);
    EXPECT_EQ(SlotName(s.NextWake()), "2026-12-07T09:30:00.000Z");
}

TEST_P(BackupSchedulerTest, RetriesWithBackoffThenSucceeds) {
    auto outcome = [](int attempt) {
        if (attempt < 3) {
            return JobOutcome{.ok = false,
                              .retryable = true,
                              .stage = ops::BackupStage::kVerify,
                              .detail = "verify failed: receipt r1"};
        }
        return JobOutcome{.ok = true, .detail = "bk_3"};
    };
    std::vector<ScheduledJob> jobs{CountingJob("a", kEveryMinute, outcome)};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-07T00:00:00.000Z")), metrics_);
    Drive(ioc_, s.RunDue());
    EXPECT_EQ(ledger_.attempts, 3);
    // Full jitter at 0.5 of base 60 s doubling: 30 s, then 60 s.
    ASSERT_EQ(waits_.size(), 2u);
    EXPECT_EQ(waits_[0], seconds(30));
    EXPECT_EQ(waits_[1], seconds(60));
    EXPECT_EQ(Rows(),
              (std::vector<std::string>{"backup|2026-12-06T10:00:00.000Z|inst_a|succeeded|bk_3"}));
    EXPECT_EQ(CounterValue(registry_, "aragora_backup_failures_total{stage=\"verify\"}"), 2);
}

TEST_P(BackupSchedulerTest, GivesUpAfterTheBoundedRetries) {
    auto outcome = [](int) {
        return JobOutcome{.ok = false,
                          .retryable = true,
                          .stage = ops::BackupStage::kCreate,
                          .detail = "disk full"};
    };
    std::vector<ScheduledJob> jobs{CountingJob("a", kEveryMinute, outcome)};
    auto options = FastForward("inst_a", At("2026-12-07T00:00:00.000Z"));
    options.retry.max_retries = 2;
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      std::move(options), metrics_);
    Drive(ioc_, s.RunDue());
    EXPECT_EQ(ledger_.attempts, 3);  // the first and 2 retries
    EXPECT_EQ(Rows(), (std::vector<std::string>{
                          "backup|2026-12-06T10:00:00.000Z|inst_a|failed|create: disk full"}));
    EXPECT_EQ(CounterValue(registry_, "aragora_backup_failures_total{stage=\"create\"}"), 3);
    EXPECT_EQ(CounterValue(registry_,
                           "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"failed\"}"),
              1);
}

TEST_P(BackupSchedulerTest, NonRetryableFailureIsNotRetried) {
    auto outcome = [](int) {
        return JobOutcome{.ok = false,
                          .retryable = false,
                          .stage = ops::BackupStage::kDrill,
                          .detail = "drill failed: receipt r7 signature"};
    };
    std::vector<ScheduledJob> jobs{CountingJob("a", kEveryMinute, outcome)};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-07T00:00:00.000Z")), metrics_);
    Drive(ioc_, s.RunDue());
    EXPECT_EQ(ledger_.attempts, 1);
    EXPECT_TRUE(waits_.empty());
    EXPECT_EQ(Rows(), (std::vector<std::string>{"backup|2026-12-06T10:00:00.000Z|inst_a|failed|"
                                                "drill: drill failed: receipt r7 signature"}));
}

TEST_P(BackupSchedulerTest, ASlotReachedTooLateIsMissed) {
    // Each run takes 100 s of (manual) time: the 10:01 slot is reached at 10:01:40, 40 s
    // after its start (deadline 30 s).
    ScheduledJob job = CountingJob("a", kEveryMinute);
    auto inner = job.begin_slot;
    job.begin_slot = [this, inner](const std::string& slot) -> JobAttempt {
        JobAttempt a = inner(slot);
        return [this, a] {
            clock_.Advance(seconds(100));
            return a();
        };
    };
    std::vector<ScheduledJob> jobs{std::move(job)};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-06T10:02:30.000Z")), metrics_);
    Drive(ioc_, s.Run());
    std::vector<std::string> slots;
    for (const auto& [slot, who] : ledger_.runs) slots.push_back(slot);
    EXPECT_EQ(slots,
              (std::vector<std::string>{"2026-12-06T10:00:00.000Z", "2026-12-06T10:02:00.000Z"}));
    EXPECT_EQ(CounterValue(registry_,
                           "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"missed\"}"),
              1);
}

TEST_P(BackupSchedulerTest, ASlotAnotherInstanceClaimedIsNotRun) {
    auto other = OpenAnother();
    ASSERT_TRUE(other);
    ASSERT_TRUE(*other->ClaimScheduledRun("backup", "2026-12-06T10:00:00.000Z", "inst_other",
                                          "2026-12-06T10:00:00.100Z"));
    std::vector<ScheduledJob> jobs{CountingJob("a", kEveryMinute)};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-07T00:00:00.000Z")), metrics_);
    Drive(ioc_, s.RunDue());
    EXPECT_EQ(ledger_.attempts, 0);
    EXPECT_EQ(CounterValue(registry_,
                           "aragora_backup_scheduler_runs_total{job=\"backup\","
                           "result=\"claimed_elsewhere\"}"),
              1);
}

TEST_P(BackupSchedulerTest, JobsRunInListOrderOnASharedMinute) {
    config::BackupSettings settings;
    settings.daily_minute_of_day = 10 * 60;
    settings.dr_drill_interval_days = 1;
    std::vector<std::string> order;
    std::mutex mu;
    auto job = [&](const std::string& name, SlotRule rule) {
        ScheduledJob j;
        j.name = name;
        j.rule = rule;
        j.begin_slot = [&, name](const std::string&) -> JobAttempt {
            return [&, name] {
                std::lock_guard lock(mu);
                order.push_back(name);
                return JobOutcome{.ok = true, .detail = name};
            };
        };
        return j;
    };
    std::vector<ScheduledJob> jobs{job("backup", BackupSlotRule(settings)),
                                   job("dr_drill", DrillSlotRule(settings))};
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      FastForward("inst_a", At("2026-12-07T00:00:00.000Z")), metrics_);
    Drive(ioc_, s.RunDue());
    EXPECT_EQ(order, (std::vector<std::string>{"backup", "dr_drill"}));
    EXPECT_EQ(Rows().size(), 2u);
}

TEST_P(BackupSchedulerTest, StopEndsTheRealTimerWait) {
    config::BackupSettings settings;  // daily 02:00: the next slot is 16 h away
    SchedulerOptions options;
    options.instance_id = "inst_a";
    std::vector<ScheduledJob> jobs{CountingJob("a", BackupSlotRule(settings))};
    // The manual clock decides the wait (10:00 → tomorrow 02:00, capped at 1 h); the
    // real steady timer waits it.
    BackupScheduler s(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(jobs),
                      std::move(options), metrics_);
    // Stop() once the loop is asleep on its timer (posted after Run() reached the wait:
    // the pass before it needs no pool work, so the strand is idle until the timer).
    asio::co_spawn(ioc_, s.Run(), asio::detached);
    asio::post(ioc_, [&s] { s.Stop(); });
    ioc_.run();
    EXPECT_TRUE(s.stopped());
    EXPECT_EQ(ledger_.attempts, 0);
    EXPECT_EQ(CounterValue(registry_, "aragora_backup_scheduler_running"), 0);
}

// The acceptance rule: two instances on one database, a slot every minute, several
// slots: each slot is run exactly once, by one of them, and recorded once; an instance
// arriving later for a slot already taken (finished or not) does not run it again.
TEST_P(BackupSchedulerTest, TwoInstancesRunEachSlotExactlyOnce) {
    auto store_b = OpenAnother();
    ASSERT_TRUE(store_b);
    metrics::Registry registry_b;
    ops::BackupMetrics metrics_b(registry_b, clock_);
    SchedulerOptions oa;
    oa.instance_id = "inst_a";
    SchedulerOptions ob;
    ob.instance_id = "inst_b";
    std::vector<ScheduledJob> ja{CountingJob("inst_a", kEveryMinute)};
    std::vector<ScheduledJob> jb{CountingJob("inst_b", kEveryMinute)};
    BackupScheduler a(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_, std::move(ja),
                      std::move(oa), metrics_);
    BackupScheduler b(ioc_.get_executor(), clock_, *store_b, store_pool_, job_pool_, std::move(jb),
                      std::move(ob), metrics_b);
    constexpr int kSlots = 12;
    for (int k = 1; k <= kSlots; ++k) {
        AdvanceTo(At("2026-12-06T10:00:00.000Z") + minutes(k) + seconds(1));
        // Both passes at once, on two I/O threads and two store connections.
        DriveOn(ioc_, /*threads=*/2, a.RunDue(), b.RunDue());
    }
    ASSERT_EQ(ledger_.runs.size(), static_cast<std::size_t>(kSlots));
    for (const auto& [slot, who] : ledger_.runs) {
        EXPECT_EQ(who.size(), 1u) << slot << " ran " << who.size() << " times";
    }
    EXPECT_EQ(ledger_.attempts, kSlots);
    const auto rows = Rows();
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(kSlots));
    for (const std::string& row : rows) {
        EXPECT_TRUE(row.find("|succeeded|") != std::string::npos) << row;
        const auto slot = row.substr(7, 24);
        ASSERT_EQ(ledger_.runs.count(slot), 1u) << row;
        EXPECT_NE(row.find("|" + ledger_.runs[slot][0] + "|"), std::string::npos) << row;
    }
    const std::string won =
        "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"succeeded\"}";
    const std::string lost =
        "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"claimed_elsewhere\"}";
    EXPECT_EQ(CounterValue(registry_, won) + CounterValue(registry_b, won), kSlots);
    EXPECT_EQ(CounterValue(registry_, lost) + CounterValue(registry_b, lost), kSlots);

    // A third instance starting within the last slot's deadline finds it taken.
    auto store_c = OpenAnother();
    ASSERT_TRUE(store_c);
    metrics::Registry registry_c;
    ops::BackupMetrics metrics_c(registry_c, clock_);
    SchedulerOptions oc;
    oc.instance_id = "inst_c";
    std::vector<ScheduledJob> jc{CountingJob("inst_c", kEveryMinute)};
    BackupScheduler c(ioc_.get_executor(), clock_, *store_c, store_pool_, job_pool_, std::move(jc),
                      std::move(oc), metrics_c);
    Drive(ioc_, c.RunDue());
    EXPECT_EQ(ledger_.attempts, kSlots);
    EXPECT_EQ(CounterValue(registry_c, lost), 1);
}

// The same with the real jobs: two instances, each with its own BackupManager over one
// backup dir (a shared volume), claiming daily slots in the shared database. Every day
// gets exactly one backup, verified with every receipt, made by the instance whose claim
// won. (The backed-up database is an SQLite file with signed receipts in both cases: the
// claim is what differs between the backends.)
TEST_P(BackupSchedulerTest, TwoInstancesWithRealJobsMakeOneVerifiedBackupPerSlot) {
    ops::test_support::TempDir dir;
    const auto db = dir.path() / "data" / "aragora.sqlite3";
    ops::test_support::PopulateStore(db, 2, ops::test_support::TestKeys());
    auto open_manager = [&] {
        ops::BackupManagerOptions o;
        o.backup_dir = dir.path() / "backups";
        o.restore_dir = dir.path() / "restore";
        o.receipt_keys = ops::test_support::TestKeys();
        auto m = ops::BackupManager::Open(
            o, ops::MakeSqliteBackupEngine(ops::SqliteBackupOptions{db.string()}), clock_);
        EXPECT_TRUE(m) << m.error().message;
        return std::move(*m);
    };
    auto manager_a = open_manager();
    auto manager_b = open_manager();
    BackupJobOps ops_a = MakeManagerJobOps(*manager_a);
    BackupJobOps ops_b = MakeManagerJobOps(*manager_b);
    auto store_b = OpenAnother();
    ASSERT_TRUE(store_b);
    metrics::Registry registry_b;
    ops::BackupMetrics metrics_b(registry_b, clock_);
    common::BlockingPool job_pool_b{1, 16};
    config::BackupSettings settings;
    settings.enabled = true;
    settings.daily_minute_of_day = 2 * 60;
    settings.dr_drill_enabled = false;
    SchedulerOptions oa;
    oa.instance_id = "inst_a";
    SchedulerOptions ob;
    ob.instance_id = "inst_b";
    BackupScheduler a(ioc_.get_executor(), clock_, *store_, store_pool_, job_pool_,
                      MakeBackupJobs(settings, ops_a, metrics_), std::move(oa), metrics_);
    BackupScheduler b(ioc_.get_executor(), clock_, *store_b, store_pool_, job_pool_b,
                      MakeBackupJobs(settings, ops_b, metrics_b), std::move(ob), metrics_b);
    constexpr int kDays = 4;
    for (int day = 1; day <= kDays; ++day) {
        AdvanceTo(At("2026-12-06T02:00:05.000Z") + std::chrono::hours(24 * day));
        DriveOn(ioc_, /*threads=*/2, a.RunDue(), b.RunDue());
    }
    auto page = manager_a->List(ops::ListFilter{});
    ASSERT_TRUE(page) << page.error().message;
    ASSERT_EQ(page->total, kDays);
    std::set<std::string> days;
    for (const auto& m : page->items) {
        EXPECT_EQ(m.status, ops::BackupStatus::kVerified) << m.id;
        days.insert(common::FormatIso8601(m.created_at).substr(0, 10));
    }
    EXPECT_EQ(days.size(), static_cast<std::size_t>(kDays));
    const auto rows = Rows();
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(kDays));
    for (const auto& row : rows) {
        EXPECT_NE(row.find("|succeeded|backup "), std::string::npos) << row;
        EXPECT_NE(row.find(" verified, "), std::string::npos) << row;
    }
    const std::string won =
        "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"succeeded\"}";
    EXPECT_EQ(CounterValue(registry_, won) + CounterValue(registry_b, won), kDays);
    const std::string made = "aragora_backup_success_total{type=\"full\"}";
    EXPECT_EQ(CounterValue(registry_, made) + CounterValue(registry_b, made), kDays);
    job_pool_b.Stop();
}

INSTANTIATE_TEST_SUITE_P(Backends, BackupSchedulerTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::app
