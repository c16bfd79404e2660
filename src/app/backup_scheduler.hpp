#pragma once

// `serve`'s scheduled jobs (BACKUP_ENABLED): backups and DR drills, each on its slots
// (ops/backup_schedule.hpp), with exactly one instance running each slot when several
// share a database: the slot is claimed first (Store::ClaimScheduledRun, a primary key on
// (job, slot)), and only the instance whose claim wins runs it. The work runs on the job
// pool (never on an I/O thread); a failed attempt is retried with backoff
// (resilience::Backoff, full jitter) a bounded number of times; the run's outcome is
// recorded (Store::FinishScheduledRun), logged in one line and counted
// (aragora_backup_scheduler_runs_total{job,result}, aragora_backup_failures_total{stage}).
//
// The scheduler sleeps until the next slot (a steady timer on its strand, re-armed at
// least every `max_wait` so that a stepped wall clock is noticed), or through the
// injected `wait` (tests fast-forward a ManualClock with it).
//
// Threads: Run() and RunDue() run on the scheduler's strand (Start() spawns Run() there);
// Stop() may be called from any thread. The store, the pools, the clock and the metrics
// must outlive the scheduler; the scheduler must outlive Run() (call Stop(), then let the
// io_context finish or stop).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "ops/backup_metrics.hpp"
#include "ops/backup_schedule.hpp"
#include "resilience/backoff.hpp"
#include "storage/store.hpp"

namespace aragora::app {

using ops::SlotRule;
using ops::SysTime;

// How one attempt at a slot's work ended.
struct JobOutcome {
    bool ok = false;
    bool retryable = true;                               // failures: may another attempt succeed?
    ops::BackupStage stage = ops::BackupStage::kCreate;  // failures: where it failed
    std::string detail;  // one line: what was made (a backup id), or what failed
};

// One attempt; blocking (runs on the job pool). Called again for each retry of the same
// slot, so it may keep what earlier attempts achieved (a verified backup is not made
// again because its offsite upload failed).
using JobAttempt = std::function<JobOutcome()>;

struct ScheduledJob {
    std::string name;  // the scheduled_runs job and the metric label: "backup", "dr_drill"
    SlotRule rule;
    ops::BackupStage stage = ops::BackupStage::kCreate;  // counted when the pool refuses
    // Called on the strand once per slot this instance won; returns the slot's work.
    std::function<JobAttempt(const std::string& slot)> begin_slot;
};

struct SchedulerOptions {
    std::string instance_id;  // who claims (common::NewProcessId); must not be empty
    // The original's 3 retries 60 s apart, as full-jitter backoff: 0..60 s, 0..120 s, 0..240 s.
    resilience::RetryPolicy retry = {std::chrono::seconds(60), std::chrono::minutes(15), 3};
    resilience::RandomSource random = {};  // empty: resilience's default
    // The longest single sleep: the wall clock is read again at least this often.
    std::chrono::nanoseconds max_wait = std::chrono::hours(1);
    // How to wait `d` (false: stop). Empty: a steady timer on the strand, cut short by
    // Stop(). Tests pass one that advances a ManualClock.
    std::function<boost::asio::awaitable<bool>(std::chrono::nanoseconds d)> wait = {};
};

class BackupScheduler {
public:
    // `store_pool` runs the claim and finish calls; `job_pool` the jobs.
    BackupScheduler(boost::asio::any_io_executor executor, const common::Clock& clock,
                    storage::Store& store, common::BlockingPool& store_pool,
                    common::BlockingPool& job_pool, std::vector<ScheduledJob> jobs,
                    SchedulerOptions options, ops::BackupMetrics& metrics);
    BackupScheduler(const BackupScheduler&) = delete;
    BackupScheduler& operator=(const BackupScheduler&) = delete;

    // Spawns Run() on the strand.
    void Start();
    // Ends Run() at its next wait (a job in progress finishes first). Any thread.
    void Stop();
    bool stopped() const { return stopped_.load(); }

    // The loop: RunDue(), then sleep until NextWake(); until Stop() or `wait` says stop.
    boost::asio::awaitable<void> Run();

    // Every job whose current slot this instance has not handled yet: started at most the
    // starting deadline ago ⇒ claimed and, when won, run with retries; later ⇒ skipped
    // (counted `missed` when the slot began after this scheduler started). Jobs in list
    // order. Must run on the strand (or, in tests, with no other call in flight).
    boost::asio::awaitable<void> RunDue();

    // Now, when some job's current slot is unhandled and still startable; else the
    // earliest next slot of any job.
    SysTime NextWake() const;

    const std::string& instance_id() const { return options_.instance_id; }
    const std::vector<ScheduledJob>& jobs() const { return jobs_; }

private:
    struct JobState {
        std::optional<SysTime> handled;  // start of the newest slot handled
    };

    boost::asio::awaitable<void> RunSlot(const ScheduledJob& job, const std::string& slot);
    boost::asio::awaitable<bool> Wait(std::chrono::nanoseconds d);
    bool Startable(const ScheduledJob& job, const JobState& state, SysTime now) const;

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    const common::Clock& clock_;
    storage::Store& store_;
    common::BlockingPool& store_pool_;
    common::BlockingPool& job_pool_;
    std::vector<ScheduledJob> jobs_;
    std::vector<JobState> states_;
    SchedulerOptions options_;
    resilience::Backoff backoff_;
    ops::BackupMetrics& metrics_;
    boost::asio::steady_timer timer_;
    std::optional<SysTime> started_;  // set by the first RunDue()
    std::atomic<bool> stopped_{false};
};

}  // namespace aragora::app
