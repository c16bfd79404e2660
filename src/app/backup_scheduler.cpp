#include "app/backup_scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "common/logging.hpp"
#include "common/time.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using ops::NextSlotAfter;
using ops::SlotName;
using ops::SlotStartAt;
using ops::StartingDeadline;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.app"); }

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// One line for the log and the scheduled_runs detail.
std::string OneLine(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    if (s.size() > 500) s = s.substr(0, 500) + "...";
    return s;
}

}  // namespace

BackupScheduler::BackupScheduler(asio::any_io_executor executor, const common::Clock& clock,
                                 storage::Store& store, common::BlockingPool& store_pool,
                                 common::BlockingPool& job_pool, std::vector<ScheduledJob> jobs,
                                 SchedulerOptions options, ops::BackupMetrics& metrics)
    : strand_(asio::make_strand(executor)),
      clock_(clock),
      store_(store),
      store_pool_(store_pool),
      job_pool_(job_pool),
      jobs_(std::move(jobs)),
      states_(jobs_.size()),
      options_(std::move(options)),
      backoff_(options_.retry, options_.random),
      metrics_(metrics),
      timer_(strand_) {
    if (options_.instance_id.empty()) {
        throw std::invalid_argument("BackupScheduler: instance_id is required");
    }
}

void BackupScheduler::Start() {
    asio::co_spawn(strand_, Run(), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->critical("backup scheduler crashed: {}", e.what());
        }
    });
}

void BackupScheduler::Stop() {
    stopped_ = true;
    asio::post(strand_, [this] { timer_.cancel(); });
}

asio::awaitable<bool> BackupScheduler::Wait(std::chrono::nanoseconds d) {
    if (stopped_) co_return false;
    if (options_.wait) {
        const bool go_on = co_await options_.wait(d);
        co_return go_on && !stopped_;
    }
    timer_.expires_after(d);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return !stopped_;
}

bool BackupScheduler::Startable(const ScheduledJob& job, const JobState& state, SysTime now) const {
    const SysTime start = SlotStartAt(job.rule, now);
    if (state.handled && *state.handled >= start) return false;
    return now - start <= StartingDeadline(job.rule);
}

SysTime BackupScheduler::NextWake() const {
    const SysTime now = clock_.SystemNow();
    std::optional<SysTime> next;
    for (std::size_t i = 0; i < jobs_.size(); ++i) {
        if (Startable(jobs_[i], states_[i], now)) return now;
        const SysTime t = NextSlotAfter(jobs_[i].rule, now);
        if (!next || t < *next) next = t;
    }
    return next.value_or(now + std::chrono::hours(24));
}

asio::awaitable<void> BackupScheduler::Run() {
    metrics_.SchedulerRunning(true);
    {
        const SysTime now = clock_.SystemNow();
        for (const ScheduledJob& job : jobs_) {
            Log()->info("scheduler job={} every {} s, next slot {} instance={}", job.name,
                        job.rule.period.count(), SlotName(NextSlotAfter(job.rule, now)),
                        options_.instance_id);
        }
    }
    while (!stopped_) {
        co_await RunDue();
        const auto wait = std::clamp<std::chrono::nanoseconds>(
            NextWake() - clock_.SystemNow(), std::chrono::nanoseconds{0}, options_.max_wait);
        if (!co_await Wait(wait)) break;
    }
    metrics_.SchedulerRunning(false);
    Log()->info("scheduler stopped instance={}", options_.instance_id);
}

asio::awaitable<void> BackupScheduler::RunDue() {
    if (!started_) started_ = clock_.SystemNow();
    for (std::size_t i = 0; i < jobs_.size() && !stopped_; ++i) {
        const ScheduledJob& job = jobs_[i];
        JobState& state = states_[i];
        const SysTime now = clock_.SystemNow();
        const SysTime start = SlotStartAt(job.rule, now);
        if (state.handled && *state.handled >= start) continue;
        // Slots this instance never reached (a long run, a suspended machine, a stepped
        // clock) were missed; so is the current one when reached after its deadline,
        // unless it began before this scheduler did (not ours to catch up).
        std::int64_t missed = 0;
        if (state.handled) {
            missed =
                (start - *state.handled) / std::max(job.rule.period, std::chrono::seconds{1}) - 1;
        }
        const bool late = now - start > StartingDeadline(job.rule);
        if (late && (state.handled || start >= *started_)) ++missed;
        state.handled = start;
        const std::string slot = SlotName(start);
        if (missed > 0) {
            metrics_.SchedulerRun(job.name, "missed", static_cast<double>(missed));
            Log()->warn(
                "scheduled run job={} missed {} slot(s), the last {} (each may start at most "
                "{} s after its start)",
                job.name, missed, late ? slot : SlotName(start - job.rule.period),
                StartingDeadline(job.rule).count());
        }
        if (late) continue;
        co_await RunSlot(job, slot);
    }
}

asio::awaitable<void> BackupScheduler::RunSlot(const ScheduledJob& job, const std::string& slot) {
    const auto started = clock_.SteadyNow();
    const std::string& instance = options_.instance_id;

    // The claim, retried like the work (the database may be away for a moment).
    bool claimed = false;
    for (int retries = 0;; ++retries) {
        auto claim = [&] {
            return store_.ClaimScheduledRun(job.name, slot, instance,
                                            common::FormatIso8601(clock_.SystemNow()));
        };
        auto r = co_await store_pool_.Run(claim);
        if (r) {
            claimed = *r;
            break;
        }
        metrics_.Failure(ops::BackupStage::kClaim);
        if (!backoff_.ShouldRetry(retries) || stopped_) {
            metrics_.SchedulerRun(job.name, "failed");
            Log()->error(
                "scheduled run job={} slot={} instance={} result=failed stage=claim attempts={} "
                "error={}",
                job.name, slot, instance, retries + 1, OneLine(r.error().message));
            co_return;
        }
        const auto delay = backoff_.Delay(retries);
        Log()->warn("scheduled run job={} slot={} claim failed ({}); retry in {:.1f} s", job.name,
                    slot, OneLine(r.error().message), Seconds(delay));
        if (!co_await Wait(delay)) co_return;
    }
    if (!claimed) {
        metrics_.SchedulerRun(job.name, "claimed_elsewhere");
        Log()->info("scheduled run job={} slot={} taken by another instance", job.name, slot);
        co_return;
    }

    JobAttempt attempt = job.begin_slot(slot);
    JobOutcome outcome;
    int attempts = 0;
    for (;;) {
        ++attempts;
        auto run = [&attempt] { return common::Result<JobOutcome>(attempt()); };
        auto r = co_await job_pool_.Run(run);
        if (r) {
            outcome = std::move(*r);
        } else {
            outcome = JobOutcome{
                .ok = false, .retryable = true, .stage = job.stage, .detail = r.error().message};
        }
        if (outcome.ok) break;
        metrics_.Failure(outcome.stage);
        if (!outcome.retryable || !backoff_.ShouldRetry(attempts - 1) || stopped_) break;
        const auto delay = backoff_.Delay(attempts - 1);
        Log()->warn("scheduled run job={} slot={} attempt {} failed at {}: {}; retry in {:.1f} s",
                    job.name, slot, attempts, ops::StageName(outcome.stage),
                    OneLine(outcome.detail), Seconds(delay));
        if (!co_await Wait(delay)) break;
    }

    const std::string status = outcome.ok ? "succeeded" : "failed";
    const std::string detail =
        outcome.ok ? OneLine(outcome.detail)
                   : std::string(ops::StageName(outcome.stage)) + ": " + OneLine(outcome.detail);
    auto finish = [&] {
        return store_.FinishScheduledRun(job.name, slot, instance, status, detail,
                                         common::FormatIso8601(clock_.SystemNow()));
    };
    auto finished = co_await store_pool_.Run(finish);
    if (!finished) {
        Log()->warn("scheduled run job={} slot={}: recording its outcome failed: {}", job.name,
                    slot, OneLine(finished.error().message));
    }
    metrics_.SchedulerRun(job.name, status);
    const auto ms = duration_cast<milliseconds>(clock_.SteadyNow() - started).count();
    if (outcome.ok) {
        Log()->info(
            "scheduled run job={} slot={} instance={} result=succeeded attempts={} "
            "duration_ms={} detail={}",
            job.name, slot, instance, attempts, ms, detail);
    } else {
        Log()->error(
            "scheduled run job={} slot={} instance={} result=failed stage={} attempts={} "
            "duration_ms={} error={}",
            job.name, slot, instance, ops::StageName(outcome.stage), attempts, ms,
            OneLine(outcome.detail));
    }
}

}  // namespace aragora::app
