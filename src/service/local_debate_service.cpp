#include "service/local_debate_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>
#include <sstream>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "debate/emitter.hpp"
#include "service/records.hpp"

namespace aragora::service {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;

ServiceMetrics::ServiceMetrics(metrics::Registry& r)
    : active(r.AddGauge("aragora_active_debates", "Debates running now")),
      queued(r.AddGauge("aragora_queued_debates", "Debates waiting for a slot (pending)")),
      debates_total(r.AddCounter("aragora_debates_total",
                                 "Finished debates by outcome (completed, no_consensus, failed, "
                                 "timeout, cancelled)",
                                 {"status"})),
      duration(r.AddHistogram("aragora_debate_duration_seconds", "Debate duration by outcome",
                              {"outcome"},
                              {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600})),
      consensus(r.AddCounter("aragora_consensus_reached_total", "Debates that reached consensus")),
      agent_calls(r.AddCounter("aragora_agent_calls_total", "Agent (LLM) calls by agent and status",
                               {"agent", "status"})),
      agent_latency(
          r.AddHistogram("aragora_agent_latency_seconds", "Agent call latency", {"agent"})),
      rejected(r.AddCounter("aragora_debates_rejected_total",
                            "Debate requests refused (overloaded, draining)", {"reason"})),
      watchdog(r.AddCounter("aragora_debate_watchdog_kills_total",
                            "Debates the watchdog stopped for running past the debate timeout")) {}

namespace {

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.debate");
    return logger;
}

asio::awaitable<void> SleepFor(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::string OutcomeOf(const storage::DebateRecord& r) {
    if (r.status == "completed")
        return r.consensus_reached.value_or(false) ? "completed" : "no_consensus";
    if (r.status == "failed" && r.error_code == "timeout") return "timeout";
    return r.status;
}

// Records agent call counts and latency around a real agent.
class MeteredAgent final : public agents::Agent {
public:
    MeteredAgent(std::shared_ptr<agents::Agent> inner, const common::Clock& clock,
                 ServiceMetrics& metrics)
        : inner_(std::move(inner)),
          clock_(clock),
          metrics_(metrics),
          latency_(metrics.agent_latency.WithLabels({inner_->Name()})) {}
    const std::string& Name() const override { return inner_->Name(); }
    const std::string& Provider() const override { return inner_->Provider(); }
    asio::awaitable<Result<agents::AgentReply>> Call(const agents::AgentRequest& request) override {
        auto start = clock_.SteadyNow();
        auto r = co_await inner_->Call(request);
        latency_.ObserveDuration(clock_.SteadyNow() - start);
        std::string status = "ok";
        if (!r.ok()) {
            status = r.error().code == ErrorCode::kTimeout     ? "timeout"
                     : r.error().code == ErrorCode::kCancelled ? "cancelled"
                                                               : "error";
        }
        metrics_.agent_calls.WithLabels({inner_->Name(), status}).Inc();
        co_return r;
    }

private:
    std::shared_ptr<agents::Agent> inner_;
    const common::Clock& clock_;
    ServiceMetrics& metrics_;
    metrics::Histogram& latency_;
};

}  // namespace

struct LocalDebateService::Live {
    explicit Live(asio::any_io_executor ex) : strand(asio::make_strand(ex)) {}

    debate::DebateSpec spec;
    std::vector<std::shared_ptr<agents::Agent>> agents;
    std::string created_at;
    std::string correlation_id;  // "-" when none
    asio::strand<asio::any_io_executor> strand;
    asio::cancellation_signal cancel;  // emitted on `strand` only

    std::mutex mutex;  // guards the fields below
    std::uint64_t ticket = 0;
    bool persisted = false;
    bool slot_granted = false;
    bool launched = false;
    std::vector<events::Event> events;
    std::size_t flushed = 0;    // events[0, flushed) are stored
    std::size_t published = 0;  // events[0, published) went to the hub

    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    std::atomic<bool> cancel_requested{false};
    std::atomic<bool> timed_out{false};
    std::atomic<std::int64_t> started_steady_ns{0};
};

namespace {

// Collects a live debate's events. They reach the hub (and so WebSocket clients) only
// once stored (PublishStored): a client never sees an event that a crash could lose,
// so the `debate_end` that crash recovery appends always comes after everything seen.
class LiveSink final : public events::EventSink {
public:
    LiveSink(std::mutex& mutex, std::vector<events::Event>& events)
        : mutex_(mutex), events_(events) {}
    void Publish(const events::Event& e) override {
        std::lock_guard lock(mutex_);
        events_.push_back(e);
    }

private:
    std::mutex& mutex_;
    std::vector<events::Event>& events_;
};

}  // namespace

LocalDebateService::LocalDebateService(asio::any_io_executor executor, const common::Clock& clock,
                                       ServiceSettings settings, storage::Store& store,
                                       common::BlockingPool& pool, const debate::ReceiptKeys& keys,
                                       events::EventHub& hub, metrics::Registry& registry)
    : executor_(std::move(executor)),
      clock_(clock),
      settings_(settings),
      store_(store),
      pool_(pool),
      keys_(keys),
      hub_(hub),
      metrics_(registry),
      engine_(clock, settings.engine),
      limiter_(settings.max_running, settings.max_queued) {
    metrics_.active.WithLabels({}).Set(0);
    metrics_.queued.WithLabels({}).Set(0);
}

LocalDebateService::~LocalDebateService() = default;

std::size_t LocalDebateService::Running() const { return limiter_.Running(); }

ServiceStats LocalDebateService::Stats() const {
    return ServiceStats{limiter_.Running(), limiter_.Queued(), limiter_.MaxRunning(),
                        limiter_.MaxQueued()};
}

void LocalDebateService::PublishStored(Live& live, std::size_t upto) {
    std::vector<events::Event> batch;
    {
        std::lock_guard lock(live.mutex);
        upto = std::min(upto, live.events.size());
        if (upto <= live.published) return;
        batch.assign(live.events.begin() + static_cast<std::ptrdiff_t>(live.published),
                     live.events.begin() + static_cast<std::ptrdiff_t>(upto));
        live.published = upto;
    }
    // Callers run on the debate's strand, so batches reach the hub in seq order.
    for (const auto& e : batch) hub_.Publish(e);
}

void LocalDebateService::Forget(const std::string& id) {
    std::lock_guard lock(mutex_);
    live_.erase(id);
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::Create(
    CreateDebateRequest request) {
    if (draining_) {
        metrics_.rejected.WithLabels({"draining"}).Inc();
        co_return common::MakeError(ErrorCode::kUnavailable,
                                    "the server is shutting down; retry on another instance");
    }
    agents::RegistrySettings registry;
    registry.demo_latency = settings_.demo_latency;
    auto built = settings_.agent_factory != nullptr ? settings_.agent_factory->Build(request.agents)
                                                    : agents::BuildAgents(request.agents, registry);
    if (!built) co_return built.error();

    auto live = std::make_shared<Live>(executor_);
    live->spec.id = common::NewId("d_");
    live->spec.task = request.task;
    live->spec.context = request.context;
    for (const auto& a : request.agents) {
        live->spec.agents.push_back(a.name);
        live->spec.providers.push_back(a.provider);
    }
    live->spec.created_by = request.created_by;
    live->spec.org_id = request.org_id;
    live->spec.rounds = request.rounds;
    live->spec.consensus = request.consensus;
    live->spec.consensus_threshold =
        request.consensus_threshold.value_or(settings_.consensus_threshold);
    live->spec.metadata_json = request.metadata_json;
    for (auto& a : *built)
        live->agents.push_back(std::make_shared<MeteredAgent>(a, clock_, metrics_));
    live->created_at = common::FormatIso8601(clock_.SystemNow());
    live->correlation_id = request.correlation_id.empty() ? "-" : request.correlation_id;

    storage::DebateRecord pending;
    pending.id = live->spec.id;
    pending.task = live->spec.task;
    pending.status = "pending";
    pending.agents = live->spec.agents;
    pending.rounds = live->spec.rounds;
    pending.consensus_method = std::string(debate::ToString(live->spec.consensus));
    pending.created_at = live->created_at;
    pending.created_by = live->spec.created_by;
    pending.org_id = live->spec.org_id;
    pending.spec_json = SpecToJson(live->spec);

    {
        std::lock_guard lock(mutex_);
        live_[live->spec.id] = live;
    }
    auto acquired = limiter_.TryAcquire([this, live] {
        bool launch = false;
        {
            std::lock_guard lock(live->mutex);
            live->slot_granted = true;
            launch = live->persisted && !live->launched;
            if (launch) live->launched = true;
        }
        if (launch) Launch(live);
    });
    if (acquired.outcome == resilience::AcquireOutcome::kRejected) {
        Forget(live->spec.id);
        metrics_.rejected.WithLabels({"overloaded"}).Inc();
        co_return common::MakeError(ErrorCode::kOverloaded,
                                    "too many debates: " + std::to_string(limiter_.Running()) +
                                        " running and " + std::to_string(limiter_.Queued()) +
                                        " waiting; retry later");
    }
    {
        std::lock_guard lock(live->mutex);
        live->ticket = acquired.ticket;
        if (acquired.outcome == resilience::AcquireOutcome::kAcquired) live->slot_granted = true;
    }
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));

    auto stored = co_await pool_.Run([this, &pending] {
        auto s = store_.CreateDebate(pending);
        return s.ok() ? Result<common::Unit>(common::Unit{}) : Result<common::Unit>(s.error());
    });
    if (!stored) {
        bool release = false;
        {
            std::lock_guard lock(live->mutex);
            release = live->slot_granted;
        }
        if (release) {
            limiter_.Release();
        } else {
            limiter_.Cancel(live->ticket);
        }
        Forget(live->spec.id);
        co_return stored.error();
    }
    bool launch = false;
    {
        std::lock_guard lock(live->mutex);
        live->persisted = true;
        launch = live->slot_granted && !live->launched;
        if (launch) live->launched = true;
    }
    if (launch) Launch(live);
    co_return pending;
}

void LocalDebateService::Launch(std::shared_ptr<Live> live) {
    live->started = true;
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
    asio::co_spawn(live->strand, RunDebate(live), [id = live->spec.id](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->error("debate coroutine crashed debate_id={} error={}", id, e.what());
        }
    });
}

asio::awaitable<void> LocalDebateService::FlushLoop(std::shared_ptr<Live> live) {
    while (!live->finished) {
        co_await SleepFor(settings_.event_flush_interval);
        std::vector<events::Event> batch;
        std::size_t end = 0;
        {
            std::lock_guard lock(live->mutex);
            end = live->events.size();
            if (live->flushed < end) {
                batch.assign(live->events.begin() + static_cast<std::ptrdiff_t>(live->flushed),
                             live->events.end());
            }
        }
        if (batch.empty() || live->finished) continue;
        auto r = co_await pool_.Run([this, &batch] {
            auto s = store_.AppendEvents(batch);
            return s.ok() ? Result<common::Unit>(common::Unit{}) : Result<common::Unit>(s.error());
        });
        if (r.ok()) {
            {
                std::lock_guard lock(live->mutex);
                live->flushed = std::max(live->flushed, end);
            }
            PublishStored(*live, end);
        } else {
            // Retried next round; the final transaction writes every event anyway.
            Log()->warn("event flush failed debate_id={} error={}", live->spec.id,
                        r.error().message);
        }
    }
}

asio::awaitable<void> LocalDebateService::RunDebate(std::shared_ptr<Live> live) {
    const std::string id = live->spec.id;
    live->started_steady_ns = clock_.SteadyNow().time_since_epoch().count();
    metrics_.active.WithLabels({}).Set(static_cast<double>(limiter_.Running()));
    auto running = co_await pool_.Run([this, &id] {
        auto s =
            store_.UpdateDebateStatus(id, "running", common::FormatIso8601(clock_.SystemNow()));
        return s.ok() ? Result<common::Unit>(common::Unit{}) : Result<common::Unit>(s.error());
    });
    if (!running) {
        Log()->error("could not mark debate running debate_id={} error={}", id,
                     running.error().message);
    }
    {
        std::ostringstream agents;
        for (std::size_t i = 0; i < live->spec.agents.size(); ++i)
            agents << (i ? ";" : "") << live->spec.agents[i];
        Log()->info("debate_start debate_id={} correlation_id={} agents={} rounds={} consensus={}",
                    id, live->correlation_id, agents.str(), live->spec.rounds,
                    debate::ToString(live->spec.consensus));
    }

    asio::co_spawn(live->strand, FlushLoop(live), asio::detached);
    LiveSink sink(live->mutex, live->events);
    debate::EventEmitter emitter(id, clock_, sink);
    debate::DebateResult result;
    if (live->cancel_requested) {
        result.status = debate::DebateStatus::kCancelled;
        result.error_code = "cancelled";
        result.error_message = "debate cancelled before it started";
        result.started_at = result.finished_at = clock_.SystemNow();
    } else {
        // No suspension between the flag check above and binding the slot here, and the
        // cancel emit is posted to this strand: a cancel is never lost.
        result = co_await asio::co_spawn(
            live->strand, engine_.Run(live->spec, live->agents, emitter),
            asio::bind_cancellation_slot(live->cancel.slot(), asio::use_awaitable));
    }
    if (live->timed_out && result.status == debate::DebateStatus::kCancelled) {
        result.status = debate::DebateStatus::kFailed;
        result.error_code = "timeout";
        result.error_message = "the watchdog stopped the debate: it ran past the debate timeout";
    }

    std::string receipt_id;
    if (result.status == debate::DebateStatus::kCompleted) receipt_id = common::NewId("rcpt_");
    storage::DebateRecord record = ToRecord(live->spec, result, live->created_at, receipt_id);
    events::Event end = emitter.Stamp("debate_end", result.rounds_used, "",
                                      DebateEndData(record, result.duration_seconds));
    std::vector<events::Event> all;
    {
        std::lock_guard lock(live->mutex);
        all = live->events;
    }
    all.push_back(end);

    const debate::DebateSpec& spec = live->spec;
    storage::ReceiptBuilder builder = MakeReceiptBuilder(spec, result, receipt_id, clock_, keys_);
    const storage::ReceiptBuilder* builder_ptr = receipt_id.empty() ? nullptr : &builder;
    auto finished =
        co_await pool_.Run([&] { return store_.FinishDebate(record, all, builder_ptr); });
    if (!finished) {
        Log()->error("could not store finished debate debate_id={} error={}", id,
                     finished.error().message);
        // Store what we can: the debate failed, without a receipt.
        record.status = "failed";
        record.error_code = "storage_error";
        record.error_message = "could not store the result: " + finished.error().message;
        record.receipt_id.clear();
        record.verdict.clear();
        record.consensus_reached.reset();
        all.back() = emitter.Stamp("debate_end", result.rounds_used, "",
                                   DebateEndData(record, result.duration_seconds));
        auto retry = co_await pool_.Run([&] { return store_.FinishDebate(record, all, nullptr); });
        if (!retry) {
            Log()->error("could not store failed debate debate_id={} error={}", id,
                         retry.error().message);
        }
        end = all.back();
    }
    live->finished = true;
    // Only now: whoever sees debate_end finds the stored result (and receipt).
    PublishStored(*live, std::numeric_limits<std::size_t>::max());
    hub_.Publish(end);

    std::string outcome = OutcomeOf(record);
    metrics_.debates_total.WithLabels({outcome}).Inc();
    metrics_.duration.WithLabels({outcome}).Observe(result.duration_seconds);
    if (record.consensus_reached.value_or(false)) metrics_.consensus.WithLabels({}).Inc();
    auto ms = static_cast<long long>(result.duration_seconds * 1000);
    if (record.status == "completed") {
        Log()->info(
            "debate_end debate_id={} correlation_id={} status={} outcome={} duration_ms={} "
            "verdict={} receipt_id={}",
            id, live->correlation_id, record.status, outcome, ms, record.verdict,
            record.receipt_id);
    } else {
        Log()->warn(
            "debate_end debate_id={} correlation_id={} status={} outcome={} duration_ms={} "
            "error={}: {}",
            id, live->correlation_id, record.status, outcome, ms, record.error_code,
            record.error_message);
    }
    Forget(id);
    limiter_.Release();
    metrics_.active.WithLabels({}).Set(static_cast<double>(limiter_.Running()));
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::CancelQueued(
    std::shared_ptr<Live> live) {
    debate::DebateResult result;
    result.status = debate::DebateStatus::kCancelled;
    result.error_code = "cancelled";
    result.error_message = "debate cancelled before it started";
    result.started_at = result.finished_at = clock_.SystemNow();
    storage::DebateRecord record = ToRecord(live->spec, result, live->created_at, "");
    record.started_at.clear();
    LiveSink sink(live->mutex, live->events);
    debate::EventEmitter emitter(live->spec.id, clock_, sink);
    events::Event end = emitter.Stamp("debate_end", 0, "", DebateEndData(record, 0));
    auto stored = co_await pool_.Run(
        [&] { return store_.FinishDebate(record, std::vector<events::Event>{end}, nullptr); });
    live->finished = true;
    Forget(live->spec.id);
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
    if (!stored) co_return stored.error();
    hub_.Publish(end);
    metrics_.debates_total.WithLabels({"cancelled"}).Inc();
    Log()->info(
        "debate_end debate_id={} status=cancelled outcome=cancelled duration_ms=0 "
        "(cancelled while queued)",
        live->spec.id);
    co_return record;
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::Cancel(const std::string& id) {
    std::shared_ptr<Live> live;
    {
        std::lock_guard lock(mutex_);
        auto it = live_.find(id);
        if (it != live_.end()) live = it->second;
    }
    if (!live || live->finished) {
        auto stored = co_await Get(id);
        if (!stored) co_return stored.error();
        co_return common::MakeError(ErrorCode::kConflict,
                                    "debate " + id + " is already " + stored->status);
    }
    live->cancel_requested = true;
    bool queued = false;
    {
        std::lock_guard lock(live->mutex);
        queued = !live->slot_granted;
    }
    if (queued && limiter_.Cancel(live->ticket)) co_return co_await CancelQueued(live);

    asio::post(live->strand, [live] {
        if (!live->finished) live->cancel.emit(asio::cancellation_type::terminal);
    });
    auto deadline = clock_.SteadyNow() + settings_.cancel_wait;
    while (!live->finished && clock_.SteadyNow() < deadline) {
        co_await SleepFor(std::chrono::milliseconds(5));
        // A launch that raced with this cancel may have bound its slot after the emit.
        asio::post(live->strand, [live] {
            if (!live->finished && live->started)
                live->cancel.emit(asio::cancellation_type::terminal);
        });
    }
    // Wait until the row is final (Forget happens after the final write).
    auto record = co_await Get(id);
    if (!record) co_return record.error();
    if (record->status != "cancelled") {
        if (record->status == "pending" || record->status == "running") {
            co_return common::MakeError(ErrorCode::kUnavailable,
                                        "debate " + id + " did not stop in time; retry");
        }
        co_return common::MakeError(ErrorCode::kConflict,
                                    "debate " + id + " is already " + record->status);
    }
    co_return record;
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::Get(const std::string& id) {
    co_return co_await pool_.Run([this, &id] { return store_.GetDebate(id); });
}

asio::awaitable<Result<storage::DebatePage>> LocalDebateService::List(
    storage::DebateFilter filter) {
    co_return co_await pool_.Run([this, &filter] { return store_.ListDebates(filter); });
}

asio::awaitable<Result<EventsPage>> LocalDebateService::Events(const std::string& id,
                                                               std::int64_t since, int limit) {
    limit = std::clamp(limit, 1, 500);
    auto stored = co_await pool_.Run([this, &id, since, limit] {
        auto d = store_.GetDebate(id);
        if (!d) return Result<std::vector<events::Event>>(d.error());
        return store_.ListEvents(id, since, limit + 1);
    });
    if (!stored) co_return stored.error();
    std::map<std::int64_t, events::Event> merged;
    for (auto& e : *stored) merged.emplace(e.seq, std::move(e));
    for (auto& e : hub_.Buffered(id, since, static_cast<std::size_t>(limit) + 1))
        merged.emplace(e.seq, std::move(e));
    EventsPage page;
    std::int64_t expect = since + 1;
    for (auto& [seq, e] : merged) {
        if (seq != expect) break;  // only a gap-free prefix: the rest comes next poll
        if (static_cast<int>(page.events.size()) == limit) {
            page.has_more = true;
            break;
        }
        page.events.push_back(std::move(e));
        ++expect;
    }
    page.next_seq = page.events.empty() ? since : page.events.back().seq;
    co_return page;
}

asio::awaitable<Result<storage::ReceiptRecord>> LocalDebateService::Receipt(const std::string& id) {
    co_return co_await pool_.Run([this, &id] { return store_.GetReceipt(id); });
}

asio::awaitable<Result<storage::ReceiptPage>> LocalDebateService::Receipts(
    const std::string& debate_id, int limit, int offset) {
    co_return co_await pool_.Run([this, &debate_id, limit, offset] {
        return store_.ListReceipts(debate_id, limit, offset);
    });
}

asio::awaitable<Result<int>> LocalDebateService::RecoverInterrupted() {
    const std::string now = common::FormatIso8601(clock_.SystemNow());
    const double now_epoch = common::EpochSeconds(clock_.SystemNow());
    auto recover = [this, &now, now_epoch]() -> Result<int> {
        std::vector<std::string> ids;
        for (int offset = 0;; offset += 100) {
            auto page = store_.ListDebates(storage::DebateFilter{"active", 100, offset});
            if (!page) return page.error();
            for (const auto& d : page->items) ids.push_back(d.id);
            if (page->items.size() < 100) break;
        }
        auto marked = store_.MarkInterrupted(now);
        if (!marked) return marked.error();
        // Every debate ends with debate_end (API.md), also one a crash interrupted; its seq
        // follows the last stored event, which is the last any client was sent.
        for (const auto& id : ids) {
            auto d = store_.GetDebate(id);
            if (!d || d->status != "failed") continue;
            std::int64_t last = 0;
            while (true) {
                auto page = store_.ListEvents(id, last, 500);
                if (!page || page->empty()) break;
                last = page->back().seq;
                if (page->size() < 500) break;
            }
            events::Event end;
            end.debate_id = id;
            end.seq = last + 1;
            end.type = "debate_end";
            end.timestamp = now_epoch;
            end.round = d->rounds_used;
            end.data_json = DebateEndData(*d, d->duration_seconds.value_or(0));
            if (auto s = store_.AppendEvents({end}); !s) {
                Log()->error(
                    "could not store debate_end of interrupted debate debate_id={} "
                    "error={}",
                    id, s.error().message);
            }
        }
        return marked;
    };
    auto n = co_await pool_.Run(std::move(recover));
    if (n.ok() && *n > 0) {
        Log()->warn(
            "marked {} debate(s) left running by a previous process as failed "
            "(code interrupted)",
            *n);
    }
    co_return n;
}

void LocalDebateService::StartWatchdog() {
    asio::co_spawn(executor_, WatchdogLoop(), asio::detached);
}

asio::awaitable<void> LocalDebateService::WatchdogLoop() {
    auto limit =
        std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.engine.debate_timeout) +
        std::chrono::seconds(5);
    while (!stopped_) {
        co_await SleepFor(
            std::chrono::duration_cast<std::chrono::milliseconds>(settings_.watchdog_interval));
        std::vector<std::shared_ptr<Live>> overdue;
        auto now = clock_.SteadyNow().time_since_epoch().count();
        {
            std::lock_guard lock(mutex_);
            for (auto& [id, live] : live_) {
                if (live->started && !live->finished && !live->timed_out &&
                    now - live->started_steady_ns.load() > limit.count()) {
                    overdue.push_back(live);
                }
            }
        }
        for (auto& live : overdue) {
            live->timed_out = true;
            metrics_.watchdog.WithLabels({}).Inc();
            Log()->warn(
                "watchdog: debate_id={} ran past the debate timeout of {} s; stopping it",
                live->spec.id,
                std::chrono::duration_cast<std::chrono::seconds>(settings_.engine.debate_timeout)
                    .count());
            asio::post(live->strand, [live] {
                if (!live->finished) live->cancel.emit(asio::cancellation_type::terminal);
            });
        }
    }
}

asio::awaitable<void> LocalDebateService::Drain(std::chrono::milliseconds grace) {
    draining_ = true;
    std::vector<std::shared_ptr<Live>> lives;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, live] : live_) lives.push_back(live);
    }
    for (auto& live : lives) {
        bool queued = false;
        {
            std::lock_guard lock(live->mutex);
            queued = !live->slot_granted;
        }
        if (queued && limiter_.Cancel(live->ticket)) co_await CancelQueued(live);
    }
    auto deadline = clock_.SteadyNow() + grace;
    if (limiter_.Running() > 0) {
        Log()->info("draining: waiting up to {} ms for {} running debate(s)", grace.count(),
                    limiter_.Running());
    }
    while (limiter_.Running() > 0 && clock_.SteadyNow() < deadline) {
        co_await SleepFor(std::chrono::milliseconds(20));
    }
    if (limiter_.Running() > 0) {
        std::vector<std::shared_ptr<Live>> running;
        {
            std::lock_guard lock(mutex_);
            for (auto& [id, live] : live_) running.push_back(live);
        }
        Log()->warn("draining: grace period over, cancelling {} running debate(s)", running.size());
        for (auto& live : running) {
            live->cancel_requested = true;
            asio::post(live->strand, [live] {
                if (!live->finished) live->cancel.emit(asio::cancellation_type::terminal);
            });
        }
        auto hard = clock_.SteadyNow() + settings_.cancel_wait;
        while (limiter_.Running() > 0 && clock_.SteadyNow() < hard) {
            co_await SleepFor(std::chrono::milliseconds(20));
        }
    }
    stopped_ = true;
}

}  // namespace aragora::service
