#include "service/run/debate_run.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>
#include <sstream>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "debate/emitter.hpp"
#include "events/batch_sink.hpp"
#include "events/payloads.hpp"
#include "events/status.hpp"
#include "service/records.hpp"
#include "service/run/lease_renewer.hpp"
#include "service/service_metrics.hpp"
#include "trace/tracer.hpp"

namespace aragora::service::run {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;
using common::ToUnit;

namespace {

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.debate");
    return logger;
}

// The failure code of a debate whose writes failed past the outage budget.
constexpr const char* kStorageUnavailableCode = "storage_unavailable";

// Write failures worth retrying: a storage outage, or a statement timeout (a database
// under load or restarting).
bool IsRetryable(const common::Error& error) {
    return IsStorageOutage(error) || error.code == ErrorCode::kTimeout;
}

std::string OutcomeOf(const storage::DebateRecord& r) {
    if (r.status == events::DebateStatus::kCompleted)
        return r.consensus_reached.value_or(false) ? "completed" : "no_consensus";
    if (r.status == events::DebateStatus::kFailed && r.error_code == "timeout") return "timeout";
    return std::string(events::ToString(r.status));
}

// A debate that failed (never a cancelled one) for the error reporter.
void ReportDebateFailure(common::ErrorReporter* errors, const char* level, const std::string& id,
                         const std::string& correlation_id, const std::string& error_code,
                         const std::string& message) {
    if (errors == nullptr) return;
    common::ErrorReport r;
    r.level = level;
    r.type = "debate_failed";
    r.message = "debate " + id + " failed (" + error_code + "): " + message;
    r.correlation_id = correlation_id == "-" ? std::string() : correlation_id;
    r.tags = {{"debate_id", id}, {"error_code", error_code}};
    errors->Report(std::move(r));
}

void LogCrash(const std::string& id, std::exception_ptr ep, common::ErrorReporter* errors = nullptr,
              const std::string& correlation_id = "-") {
    if (!ep) return;
    try {
        std::rethrow_exception(ep);
    } catch (const std::exception& e) {
        Log()->error("debate coroutine crashed debate_id={} error={}", id, e.what());
        ReportDebateFailure(errors, "fatal", id, correlation_id, "crashed", e.what());
    }
}

// The debate's span, a child of the creating request's; the spec then carries its context,
// so the engine's rounds and phases and the debate's store calls hang under it.
trace::Span StartDebateSpan(debate::DebateSpec& spec) {
    trace::Span span = trace::StartSpan(spec.trace, "debate");
    span.SetAttribute("debate.id", spec.id);
    span.SetAttribute("debate.rounds", spec.rounds);
    span.SetAttribute("debate.agents", static_cast<std::int64_t>(spec.agents.size()));
    span.SetAttribute("debate.consensus_method", debate::ToString(spec.consensus));
    spec.trace = span.ChildContext();
    return span;
}

}  // namespace

storage::DebateRecord PendingRecord(const debate::DebateSpec& spec, const std::string& created_at,
                                    std::string spec_json) {
    storage::DebateRecord pending;
    pending.id = spec.id;
    pending.task = spec.task;
    pending.status = events::DebateStatus::kPending;
    pending.agents = spec.agents;
    pending.rounds = spec.rounds;
    pending.consensus_method = std::string(debate::ToString(spec.consensus));
    pending.created_at = created_at;
    pending.created_by = spec.created_by;
    pending.org_id = spec.org_id;
    pending.spec_json = std::move(spec_json);
    return pending;
}

// The engine's sink: every event joins the run's group commit. The engine runs on the
// run's strand, so events arrive there in seq order; anything emitted elsewhere is
// handed over to it.
class DebateRun::Sink final : public events::EventSink {
public:
    explicit Sink(DebateRun& run) : run_(run) {}
    void Publish(const events::Event& e) override { Publish(events::Event(e)); }
    void Publish(events::Event&& e) override {
        if (run_.strand_.running_in_this_thread()) {
            run_.OnEvent(std::move(e));
            return;
        }
        asio::post(run_.strand_, [self = run_.shared_from_this(), e = std::move(e)]() mutable {
            self->OnEvent(std::move(e));
        });
    }

private:
    DebateRun& run_;
};

std::shared_ptr<DebateRun> DebateRun::Create(asio::any_io_executor executor,
                                             const RunEnvironment& env, RunInit init) {
    return std::shared_ptr<DebateRun>(new DebateRun(std::move(executor), env, std::move(init)));
}

DebateRun::DebateRun(asio::any_io_executor executor, const RunEnvironment& env, RunInit init)
    : strand_(asio::make_strand(executor)),
      env_(env),
      init_(std::move(init)),
      backoff_(resilience::RetryPolicy{env.retry.base, env.retry.cap, 0}),
      done_(executor),
      wake_(strand_),
      committer_exit_(strand_) {}

std::optional<std::chrono::steady_clock::time_point> DebateRun::started_at() const {
    const auto ns = started_ns_.load();
    if (ns < 0) return std::nullopt;
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

bool DebateRun::Abandoned() const {
    return env_.abandon_writes != nullptr && env_.abandon_writes->load();
}

void DebateRun::StartLeaseRenewal() {
    asio::post(strand_, [self = shared_from_this()] {
        if (self->init_.lease_owner.empty() || self->env_.leases == nullptr || self->renewing_ ||
            self->finished_ || self->lease_lost_)
            return;
        self->renewing_ = true;
        self->env_.leases->Add(self);
    });
}

void DebateRun::OnLeaseLost(std::string why) {
    asio::post(strand_, [self = shared_from_this(), why = std::move(why)] {
        // A renewal racing the end of the debate (its final write, a cancel, the watchdog)
        // fails because the debate just ended: not a lost lease.
        if (self->finishing_ || self->finished_ || self->cancel_requested_ || self->timed_out_)
            return;
        self->LoseLease(why);
    });
}

void DebateRun::SlotGranted() {
    asio::post(strand_, [self = shared_from_this()] {
        self->slot_granted_ = true;
        if (self->persisted_) self->Launch();
    });
}

void DebateRun::Persisted() {
    asio::post(strand_, [self = shared_from_this()] {
        self->persisted_ = true;
        if (self->slot_granted_) self->Launch();
    });
}

void DebateRun::Launch() {
    if (launched_ || finished_) return;
    launched_ = true;
    started_ns_ = env_.clock->SteadyNow().time_since_epoch().count();
    if (env_.hooks != nullptr) env_.hooks->OnStarted(*this);
    asio::co_spawn(strand_, Main(),
                   [id = id(), errors = env_.errors, corr = init_.correlation_id](
                       std::exception_ptr ep) { LogCrash(id, std::move(ep), errors, corr); });
}

void DebateRun::Stop(StopReason reason) {
    if (reason == StopReason::kTimeout) timed_out_flag_ = true;
    asio::post(strand_, [self = shared_from_this(), reason] {
        switch (reason) {
            case StopReason::kCancel:
                self->cancel_requested_ = true;
                break;
            case StopReason::kTimeout:
                self->timed_out_ = true;
                break;
            case StopReason::kShutdown:
                self->cancel_requested_ = true;
                if (self->init_.claimed) self->release_on_cancel_ = true;
                break;
        }
        self->EmitCancel();
    });
}

void DebateRun::EmitCancel() {
    if (engine_running_ && !finished_) cancel_.emit(asio::cancellation_type::terminal);
}

void DebateRun::OnEvent(events::Event event) {
    // While this run's commit waits for a transaction, the event joins it (no commit of
    // its own); once a transaction took it, the event waits for the next commit.
    if (commit_open_ && open_commit_.Append(event)) return;
    pending_.push_back(std::move(event));
    if (committer_idle_) wake_.cancel();
}

void DebateRun::Publish(std::vector<events::Event>& events) {
    if (env_.publish == nullptr) return;
    // Stored and no longer needed here: the sink takes them — as one unit where it takes
    // batches (the hub's): every viewer gets the batch with one wake-up and one write.
    if (auto* batch = dynamic_cast<events::BatchSink*>(env_.publish)) {
        batch->PublishBatch(std::move(events));
        events.clear();
        return;
    }
    for (auto& e : events) env_.publish->Publish(std::move(e));
}

bool DebateRun::NoteWrite(const common::Error* error) {
    if (error == nullptr) {
        if (env_.write_health != nullptr) env_.write_health->RecordSuccess();
        write_failing_since_.reset();
        return false;
    }
    if (env_.write_health != nullptr) env_.write_health->RecordFailure(*error);
    if (!IsRetryable(*error)) return false;
    const auto now = env_.clock->SteadyNow();
    if (!write_failing_since_) write_failing_since_ = now;
    return now - *write_failing_since_ >= env_.outage_budget;
}

void DebateRun::StopForStorage(const std::string& why) {
    // Once its final write runs, that write decides (and says so in the log).
    if (finishing_ || storage_failed_) return;
    storage_failed_ = true;
    Log()->error(
        "debate_id={} correlation_id={}: its writes have failed for {} ms ({}); stopping it, it "
        "ends failed ({})",
        id(), init_.correlation_id, env_.outage_budget.count(), why, kStorageUnavailableCode);
    EmitCancel();
}

void DebateRun::LoseLease(const std::string& why) {
    if (lease_lost_) return;
    lease_lost_ = true;
    StopLeaseRenewal();
    Log()->warn("lease lost debate_id={} owner={}: {}; stopping it, its result is discarded", id(),
                init_.lease_owner, why);
    if (!launched_ && env_.hooks != nullptr && env_.hooks->Dequeue(*this)) {
        // Still waiting for a slot: it never runs. Whoever took the lease wrote its end.
        Finish(RunOutcome::Kind::kDiscarded);
        return;
    }
    EmitCancel();
}

void DebateRun::StopLeaseRenewal() {
    if (!renewing_) return;
    renewing_ = false;
    env_.leases->Remove(id());
}

void DebateRun::Finish(RunOutcome::Kind kind) {
    if (finished_) return;
    finished_ = true;
    outcome_.kind = kind;
    StopLeaseRenewal();
    wake_.cancel();
    if (env_.hooks != nullptr) env_.hooks->OnFinished(*this, launched_);
    done_.Set();
}

asio::awaitable<void> DebateRun::Pause(std::chrono::nanoseconds delay) {
    asio::steady_timer timer(strand_, delay);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Result<common::Unit>> DebateRun::MarkRunning() {
    auto self = shared_from_this();
    const std::string now = common::FormatIso8601(env_.clock->SystemNow());
    const std::string& owner = init_.lease_owner;
    if (env_.commits != nullptr) {
        // In the next group commit, with the other runs' commits and final writes.
        storage::DebateBatch start;
        start.debate_id = id();
        start.lease_owner = owner;
        start.started_at = now;
        common::Status started = co_await env_.commits->Commit(start);
        if (!RefusedByCommitter(started)) co_return ToUnit(std::move(started));
    }
    co_return co_await env_.pool->Run([this, &now, &owner] {
        if (owner.empty())
            return ToUnit(
                env_.store->UpdateDebateStatus(id(), events::DebateStatus::kRunning, now));
        return ToUnit(env_.store->StartLeasedDebate(id(), owner, now));
    });
}

bool DebateRun::RefusedByCommitter(const common::Status& status) const {
    // Refused unwritten (queue full, or stopped by the shutdown): written on its own.
    return !status && (status.error().code == ErrorCode::kOverloaded || env_.commits->stopped());
}

asio::awaitable<Result<std::optional<storage::ReceiptRecord>>> DebateRun::FinalWrite(
    const storage::DebateRecord& record, const std::vector<events::Event>& events,
    const storage::ReceiptBuilder* receipt) {
    auto self = shared_from_this();
    const std::string& owner = init_.lease_owner;
    if (env_.commits != nullptr) {
        // Shares the next group commit with the other runs' commits and final writes.
        std::optional<storage::ReceiptRecord> stored;
        storage::DebateBatch finish;
        finish.debate_id = record.id;
        finish.events = events;
        finish.lease_owner = owner;
        finish.finish = &record;
        finish.receipt = receipt;
        finish.stored_receipt = &stored;
        common::Status written = co_await env_.commits->Commit(finish);
        if (written) co_return std::move(stored);
        if (!RefusedByCommitter(written)) co_return written.error();
    }
    co_return co_await env_.pool->Run([this, &record, &events, receipt,
                                       &owner]() -> Result<std::optional<storage::ReceiptRecord>> {
        if (owner.empty()) return env_.store->FinishDebate(record, events, receipt);
        return env_.store->FinishLeasedDebate(record, events, receipt, owner);
    });
}

asio::awaitable<void> DebateRun::Committer() {
    auto self = shared_from_this();
    int failures = 0;
    while (!lease_lost_ && !finishing_) {
        if (pending_.empty()) {
            if (engine_done_) break;
            committer_idle_ = true;
            wake_.expires_at(asio::steady_timer::time_point::max());
            boost::system::error_code ec;
            co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            committer_idle_ = false;
            continue;
        }
        // Group commit: one transaction takes everything that accumulated while the
        // previous one ran, so the live delay is the store's own latency.
        std::vector<events::Event> batch;
        batch.swap(pending_);
        trace::Span db_span =
            trace::StartSpan(init_.spec.trace, "db AppendEvents", trace::SpanKind::kClient);
        db_span.SetAttribute("db.events", static_cast<std::int64_t>(batch.size()));
        Result<common::Unit> r = common::Unit{};
        if (env_.commits != nullptr) {
            // Shared with every other run's commit asked while the store was busy, and
            // open to this run's next events until a transaction takes it.
            open_commit_.Open(std::move(batch));
            commit_open_ = true;
            r = ToUnit(co_await env_.commits->Commit(open_commit_, init_.lease_owner));
            commit_open_ = false;
            batch = open_commit_.Take();
        } else {
            r = co_await env_.pool->Run([this, &batch] {
                if (init_.lease_owner.empty()) return ToUnit(env_.store->AppendEvents(batch));
                return ToUnit(env_.store->AppendLeasedEvents(batch, init_.lease_owner));
            });
        }
        db_span.End();
        if (NoteWrite(r.ok() ? nullptr : &r.error())) StopForStorage(r.error().message);
        if (r.ok()) {
            failures = 0;
            Publish(batch);
            continue;
        }
        // Kept, in order, ahead of what came meanwhile: the next commit (or the final
        // write, which stores every event not stored yet) takes them again.
        batch.insert(batch.end(), std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.end()));
        pending_.swap(batch);
        if (r.error().code == ErrorCode::kConflict && !init_.lease_owner.empty()) {
            // A commit racing the final write fails because the debate just ended: not a
            // lost lease.
            if (!finishing_) LoseLease(r.error().message);
            break;
        }
        Log()->warn("event flush failed debate_id={} error={}", id(), r.error().message);
        if (engine_done_) break;
        // New events do not cut this pause short; the end of the debate does.
        wake_.expires_after(backoff_.Ceiling(failures++));
        boost::system::error_code ec;
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    committer_running_ = false;
    committer_exit_.cancel();
}

asio::awaitable<RunOutcome> DebateRun::RunToEnd() {
    auto self = shared_from_this();
    SlotGranted();
    Persisted();
    while (!co_await done_.Wait(std::chrono::hours(24))) {
    }
    co_return outcome_;
}

asio::awaitable<void> DebateRun::Main() {
    auto self = shared_from_this();
    const std::string& id = init_.spec.id;
    const bool leased = !init_.lease_owner.empty();
    // A claimed debate is already running (the claim set status and started_at). An
    // instance's own leased debate starts only while its lease holds.
    Result<common::Unit> running = common::Unit{};
    trace::Span debate_span = StartDebateSpan(init_.spec);
    if (!init_.claimed) {
        trace::Span db_span =
            trace::StartSpan(init_.spec.trace, "db UpdateDebateStatus", trace::SpanKind::kClient);
        running = co_await MarkRunning();
        db_span.End();
        (void)NoteWrite(running.ok() ? nullptr : &running.error());
    }
    if (init_.claimed) StartLeaseRenewal();
    if (!running && leased && running.error().code == ErrorCode::kConflict) {
        // Reaped while it waited for a slot (this process stalled past its lease): the
        // reaper stored its end. It does not run.
        LoseLease(running.error().message);
        Log()->warn("debate_discarded debate_id={} owner={}: {}", id, init_.lease_owner,
                    running.error().message);
        Finish(RunOutcome::Kind::kDiscarded);
        co_return;
    }
    if (!running) {
        Log()->error("could not mark debate running debate_id={} error={}", id,
                     running.error().message);
    }
    {
        std::ostringstream agents;
        for (std::size_t i = 0; i < init_.spec.agents.size(); ++i)
            agents << (i ? ";" : "") << init_.spec.agents[i];
        Log()->info("debate_start debate_id={} correlation_id={} agents={} rounds={} consensus={}",
                    id, init_.correlation_id, agents.str(), init_.spec.rounds,
                    debate::ToString(init_.spec.consensus));
    }

    committer_running_ = true;
    asio::co_spawn(strand_, Committer(), [id](std::exception_ptr ep) { LogCrash(id, ep); });
    Sink sink(*this);
    debate::EventEmitter emitter(id, *env_.clock, sink);
    debate::DebateResult result;
    if (cancel_requested_ || timed_out_ || lease_lost_ || storage_failed_) {
        result.status = debate::DebateStatus::kCancelled;
        result.error_code = "cancelled";
        result.error_message = "debate cancelled before it started";
        result.started_at = result.finished_at = env_.clock->SystemNow();
    } else {
        // Stop() posts to this strand and emits only while engine_running_: no cancel is
        // lost between the check above and binding the slot here.
        engine_running_ = true;
        result = co_await asio::co_spawn(
            strand_, env_.engine->Run(init_.spec, init_.agents, emitter),
            asio::bind_cancellation_slot(cancel_.slot(), asio::use_awaitable));
        engine_running_ = false;
    }
    // What the committer holds back now goes into the final transaction.
    engine_done_ = true;
    wake_.cancel();
    if (committer_running_) {
        committer_exit_.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await committer_exit_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (timed_out_ && result.status == debate::DebateStatus::kCancelled) {
        result.status = debate::DebateStatus::kFailed;
        result.error_code = "timeout";
        result.error_message = "the watchdog stopped the debate: it ran past the debate timeout";
    }
    if (storage_failed_ && !cancel_requested_ && !timed_out_) {
        // Its writes failed past the budget (StopForStorage): whatever the engine made of
        // it, it cannot be stored as it happened.
        result.status = debate::DebateStatus::kFailed;
        result.error_code = kStorageUnavailableCode;
        result.error_message =
            "the database could not be written for " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(env_.outage_budget).count()) +
            " s: the debate was stopped";
    }

    std::string receipt_id;
    if (result.status == debate::DebateStatus::kCompleted) receipt_id = common::NewId("rcpt_");
    storage::DebateRecord record = ToRecord(init_.spec, result, init_.created_at, receipt_id);
    debate_span.SetAttribute("debate.status", events::ToString(result.status));
    events::Event end =
        emitter.Stamp(result.rounds_used, "", DebateEndOf(record, result.duration_seconds));
    std::vector<events::Event> all = std::move(pending_);
    pending_.clear();
    all.push_back(end);

    if (!init_.spec_json.empty()) record.spec_json = init_.spec_json;
    storage::ReceiptBuilder builder =
        MakeReceiptBuilder(init_.spec, result, receipt_id, *env_.clock, *env_.keys);
    const storage::ReceiptBuilder* builder_ptr = receipt_id.empty() ? nullptr : &builder;
    const std::string& owner = init_.lease_owner;
    finishing_ = true;  // a renewal racing the final write is not a lost lease
    outcome_.result = result;
    if (leased && release_on_cancel_ && result.status == debate::DebateStatus::kCancelled &&
        !lease_lost_) {
        // Shutdown: the debate goes back to the queue.
        auto released = co_await env_.pool->Run(
            [this, &id, &owner] { return ToUnit(env_.store->ReleaseLease(id, owner)); });
        if (released.ok()) {
            Log()->info("debate_released debate_id={} worker={} (back to the queue)", id, owner);
            Finish(RunOutcome::Kind::kReleased);
            co_return;
        }
    }
    Result<std::optional<storage::ReceiptRecord>> finished =
        common::MakeError(ErrorCode::kConflict, "the lease was lost");
    bool over_budget = false;
    if (!lease_lost_) {
        trace::Span db_span =
            trace::StartSpan(init_.spec.trace, "db FinishDebate", trace::SpanKind::kClient);
        finished = co_await FinalWrite(record, all, builder_ptr);
        db_span.End();
        over_budget = NoteWrite(finished.ok() ? nullptr : &finished.error());
    }
    // The database may be restarting or the disk briefly full: the final write is retried
    // while this debate's writes have failed for less than the outage budget. Events
    // committed so far are stored already.
    int attempt = 0;
    while (!finished && IsRetryable(finished.error()) && !over_budget && !lease_lost_ &&
           !Abandoned()) {
        const auto delay = backoff_.Ceiling(attempt++);
        Log()->warn("final write failed debate_id={} error={}; retrying in {} ms", id,
                    finished.error().message,
                    std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
        co_await Pause(delay);
        finished = co_await FinalWrite(record, all, builder_ptr);
        over_budget = NoteWrite(finished.ok() ? nullptr : &finished.error());
    }
    if (!finished && leased && finished.error().code == ErrorCode::kConflict) {
        // Reaped (or otherwise taken away): whoever took it wrote its end. Nothing here.
        lease_lost_ = true;
        Log()->warn("debate_discarded debate_id={} owner={}: {}", id, owner,
                    finished.error().message);
        outcome_.error = finished.error();
        Finish(RunOutcome::Kind::kDiscarded);
        co_return;
    }
    if (!finished) {
        const bool outage = IsRetryable(finished.error());
        Log()->error(
            "could not store finished debate debate_id={} error={}{}", id, finished.error().message,
            outage && !Abandoned() ? "; it ends failed (" + std::string(kStorageUnavailableCode) +
                                         "), stored once the database takes writes again"
                                   : std::string());
        // Store what we can: the debate failed, without a receipt. Its debate_end keeps
        // its seq (clients must see no gap), with the failure as its data.
        if (record.error_code != kStorageUnavailableCode) {
            record.status = events::DebateStatus::kFailed;
            record.error_code = outage ? kStorageUnavailableCode : "storage_error";
            record.error_message = "could not store the result: " + finished.error().message;
            record.receipt_id.clear();
            record.verdict.clear();
            record.consensus_reached.reset();
            events::SetPayload(all.back(), DebateEndOf(record, result.duration_seconds));
            builder_ptr = nullptr;
        }
        Result<std::optional<storage::ReceiptRecord>> retry =
            common::MakeError(ErrorCode::kUnavailable, "shutting down");
        if (!Abandoned()) {
            retry = co_await FinalWrite(record, all, builder_ptr);
            (void)NoteWrite(retry.ok() ? nullptr : &retry.error());
        }
        // No debate stays running without a run behind it: the failed end is retried
        // until the database takes it. Only the shutdown gives up (the next start's
        // crash recovery ends it), or a reaper that took a worker's debate.
        while (!retry && IsRetryable(retry.error()) && !lease_lost_ && !Abandoned()) {
            co_await Pause(backoff_.Ceiling(attempt++));
            retry = co_await FinalWrite(record, all, builder_ptr);
            (void)NoteWrite(retry.ok() ? nullptr : &retry.error());
        }
        if (!retry && Abandoned()) {
            Log()->warn(
                "debate_id={} is not stored as ended (shutting down while the database cannot "
                "be written): the next start marks it failed (interrupted)",
                id);
        } else if (!retry) {
            Log()->error("could not store failed debate debate_id={} error={}", id,
                         retry.error().message);
        }
        if (!retry && (leased || Abandoned())) {
            // Nothing final is stored: publishing the unstored events would show clients
            // a history the store does not have. A leased debate's lease runs out and a
            // reaper ends it (worker_lost, instance_lost); an unleased local one is ended
            // by the crash recovery of the next start (interrupted).
            outcome_.error = retry.error();
            outcome_.record = record;
            Finish(RunOutcome::Kind::kNotStored);
            co_return;
        }
        if (retry) finished = std::move(retry);
    }
    // Only now: whoever sees debate_end finds the stored result (and receipt).
    Publish(all);

    const std::string outcome = OutcomeOf(record);
    if (env_.metrics != nullptr) {
        env_.metrics->debates_total.WithLabels({outcome}).Inc();
        env_.metrics->duration.WithLabels({outcome}).Observe(result.duration_seconds);
        if (record.consensus_reached.value_or(false)) env_.metrics->consensus.WithLabels({}).Inc();
    }
    auto ms = static_cast<long long>(result.duration_seconds * 1000);
    if (record.status == events::DebateStatus::kCompleted) {
        Log()->info(
            "debate_end debate_id={} correlation_id={} status={} outcome={} duration_ms={} "
            "verdict={} receipt_id={}",
            id, init_.correlation_id, events::ToString(record.status), outcome, ms, record.verdict,
            record.receipt_id);
    } else {
        Log()->warn(
            "debate_end debate_id={} correlation_id={} status={} outcome={} duration_ms={} "
            "error={}: {}",
            id, init_.correlation_id, events::ToString(record.status), outcome, ms,
            record.error_code, record.error_message);
        if (record.status == events::DebateStatus::kFailed) {
            ReportDebateFailure(env_.errors, "error", id, init_.correlation_id, record.error_code,
                                record.error_message);
        }
    }
    outcome_.record = std::move(record);
    if (finished) {
        outcome_.receipt = std::move(*finished);
        Finish(RunOutcome::Kind::kStored);
    } else {
        // An unleased debate whose failed end could not be stored either: it stays for
        // crash recovery, but what was stored so far has been shown.
        outcome_.error = finished.error();
        Finish(RunOutcome::Kind::kNotStored);
    }
}

asio::awaitable<Result<storage::DebateRecord>> DebateRun::EndQueued() {
    auto self = shared_from_this();
    // The end is built and stored on the run's strand, where its state lives.
    co_return co_await asio::co_spawn(strand_, EndQueuedOnStrand(), asio::use_awaitable);
}

asio::awaitable<Result<storage::DebateRecord>> DebateRun::EndQueuedOnStrand() {
    auto self = shared_from_this();
    DebateRun& run = *this;
    debate::DebateResult result;
    result.status = debate::DebateStatus::kCancelled;
    result.error_code = "cancelled";
    result.error_message = "debate cancelled before it started";
    result.started_at = result.finished_at = run.env_.clock->SystemNow();
    storage::DebateRecord record = ToRecord(run.init_.spec, result, run.init_.created_at, "");
    record.started_at.clear();
    if (!run.init_.spec_json.empty()) record.spec_json = run.init_.spec_json;
    Sink sink(run);
    debate::EventEmitter emitter(run.id(), *run.env_.clock, sink);
    events::Event end = emitter.Stamp(0, "", DebateEndOf(record, 0));
    const std::string& owner = run.init_.lease_owner;
    std::vector<events::Event> evs{end};
    auto stored = co_await run.env_.pool->Run([&run, &record, &evs, &owner] {
        if (owner.empty()) return run.env_.store->FinishDebate(record, evs, nullptr);
        return run.env_.store->FinishLeasedDebate(record, evs, nullptr, owner);
    });
    if (run.env_.write_health != nullptr) run.env_.write_health->Record(stored);
    run.outcome_.result = result;
    run.outcome_.record = record;
    if (!stored && IsRetryable(stored.error()) && !run.Abandoned()) {
        // It will never run (it left the queue): its end is stored once the
        // database takes writes again, so that it does not stay pending.
        run.outcome_.error = stored.error();
        run.Finish(RunOutcome::Kind::kNotStored);
        asio::co_spawn(run.strand_, run.PersistQueuedCancel(record, end), asio::detached);
        co_return common::MakeError(
            ErrorCode::kUnavailable,
            "debate " + run.id() +
                " is cancelled (it will not run), but the database cannot be written "
                "now: its cancelled state is stored once it can (" +
                stored.error().message + ")");
    }
    if (!stored) {
        run.outcome_.error = stored.error();
        run.Finish(RunOutcome::Kind::kNotStored);
        co_return stored.error();
    }
    std::vector<events::Event> published{end};
    run.Publish(published);
    if (run.env_.metrics != nullptr)
        run.env_.metrics->debates_total.WithLabels({"cancelled"}).Inc();
    Log()->info(
        "debate_end debate_id={} status=cancelled outcome=cancelled duration_ms=0 "
        "(cancelled while queued)",
        run.id());
    run.Finish(RunOutcome::Kind::kStored);
    co_return record;
}

asio::awaitable<void> DebateRun::PersistQueuedCancel(storage::DebateRecord record,
                                                     events::Event end) {
    auto self = shared_from_this();
    std::vector<events::Event> events{end};
    const std::string& owner = init_.lease_owner;
    for (int attempt = 0;; ++attempt) {
        co_await Pause(backoff_.Ceiling(attempt));
        if (Abandoned()) {
            Log()->warn(
                "debate_id={} cancelled while queued is not stored (shutting down): the next "
                "start marks it failed",
                record.id);
            co_return;
        }
        auto stored = co_await env_.pool->Run([this, &record, &events, &owner] {
            if (owner.empty()) return env_.store->FinishDebate(record, events, nullptr);
            return env_.store->FinishLeasedDebate(record, events, nullptr, owner);
        });
        if (env_.write_health != nullptr) env_.write_health->Record(stored);
        if (stored) break;
        if (!IsRetryable(stored.error())) {
            Log()->error("could not store cancelled debate debate_id={} error={}", record.id,
                         stored.error().message);
            co_return;
        }
    }
    Publish(events);
    if (env_.metrics != nullptr) env_.metrics->debates_total.WithLabels({"cancelled"}).Inc();
    Log()->info(
        "debate_end debate_id={} status=cancelled outcome=cancelled duration_ms=0 "
        "(cancelled while queued; stored once the database took writes again)",
        record.id);
}

}  // namespace aragora::service::run
