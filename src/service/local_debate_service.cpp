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
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <sstream>

#include "common/ids.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "debate/emitter.hpp"
#include "service/records.hpp"

namespace aragora::service {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;
using common::ToUnit;

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
                            "Debates the watchdog stopped for running past the debate timeout")),
      running_too_long(r.AddGauge("aragora_debate_running_too_long_seconds",
                                  "ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS: a debate running "
                                  "longer is reported (alert AragoraDebateRunningTooLong)")) {}

namespace {

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.debate");
    return logger;
}

// The request's correlation id travels with a queued debate in its spec_json, so that the
// worker's log lines of that debate carry it too.
std::string WithCorrelationId(const std::string& spec_json, const std::string& correlation_id) {
    if (correlation_id.empty()) return spec_json;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(spec_json, ec);
    if (ec || !v.is_object()) return spec_json;
    v.as_object()["correlation_id"] = correlation_id;
    return common::SerializeJson(v.as_object());
}

std::string CorrelationIdOf(const std::string& spec_json) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(spec_json, ec);
    if (ec || !v.is_object()) return "-";
    const auto* id = v.as_object().if_contains("correlation_id");
    return id != nullptr && id->is_string() && !id->as_string().empty()
               ? std::string(id->as_string())
               : std::string("-");
}

// The failure code of a debate whose writes failed past the outage budget.
constexpr const char* kStorageUnavailableCode = "storage_unavailable";

// Write failures worth retrying: a storage outage, or a statement timeout (a database
// under load or restarting).
bool IsRetryable(const common::Error& error) {
    return IsStorageOutage(error) || error.code == ErrorCode::kTimeout;
}

asio::awaitable<void> SleepFor(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

std::string OutcomeOf(const storage::DebateRecord& r) {
    if (r.status == events::DebateStatus::kCompleted)
        return r.consensus_reached.value_or(false) ? "completed" : "no_consensus";
    if (r.status == events::DebateStatus::kFailed && r.error_code == "timeout") return "timeout";
    return std::string(events::ToString(r.status));
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

struct LocalDebateService::RunningStarts {
    std::mutex mutex;
    std::map<std::string, std::chrono::steady_clock::time_point> by_id;  // guarded by mutex
};

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

    // Leased debates: this process's lease id ("" = no lease), whether it was claimed
    // from the worker queue (else an instance's own debate under lease_local), the stored
    // spec (written back with the result) and the heartbeat timer (strand only).
    std::string lease_owner;
    bool claimed = false;
    std::string spec_json;
    std::optional<asio::steady_timer> heartbeat_timer;
    std::atomic<bool> lease_lost{false};
    std::atomic<bool> release_on_cancel{false};  // shutdown: back to the queue if possible

    // Storage outage: since when this debate's writes fail (guarded by `mutex`; nullopt
    // while they succeed), and whether they failed past the budget (it then ends failed).
    std::optional<std::chrono::steady_clock::time_point> write_failing_since;
    std::atomic<bool> storage_failed{false};

    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    std::atomic<bool> finishing{false};  // the final write has started
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

debate::DebateSpec SpecFromRequest(const CreateDebateRequest& request, double default_threshold) {
    debate::DebateSpec spec;
    spec.id = common::NewId("d_");
    spec.task = request.task;
    spec.context = request.context;
    for (const auto& a : request.agents) {
        spec.agents.push_back(a.name);
        spec.providers.push_back(a.provider);
    }
    spec.created_by = request.created_by;
    spec.org_id = request.org_id;
    spec.rounds = request.rounds;
    spec.consensus = request.consensus;
    spec.consensus_threshold = request.consensus_threshold.value_or(default_threshold);
    spec.metadata_json = request.metadata_json;
    return spec;
}

storage::DebateRecord PendingRecord(const debate::DebateSpec& spec, const std::string& created_at,
                                    const std::vector<agents::AgentSpec>& agent_specs) {
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
    pending.spec_json = SpecToJson(spec, agent_specs);
    return pending;
}

}  // namespace

std::optional<ExecutionMode> ParseExecutionMode(std::string_view text) {
    if (text == "local") return ExecutionMode::kLocal;
    if (text == "worker") return ExecutionMode::kWorker;
    return std::nullopt;
}

std::string LocalDebateService::EndDataOf(const storage::DebateRecord& record) {
    return DebateEndData(record, record.duration_seconds.value_or(0));
}

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
      limiter_(settings.max_running, settings.max_queued),
      write_health_(std::make_shared<StorageWriteHealth>(clock)),
      running_starts_(std::make_shared<RunningStarts>()) {
    metrics_.active.WithLabels({}).Set(0);
    metrics_.queued.WithLabels({}).Set(0);
    metrics_.running_too_long.WithLabels({}).Set(
        static_cast<double>(settings_.running_too_long.count()));
    std::weak_ptr<RunningStarts> starts = running_starts_;
    const common::Clock* clock_ptr = &clock_;
    registry.AddCallbackGauge(
        "aragora_debate_oldest_running_seconds",
        "How long the oldest debate running here has run (0 when none)", [starts, clock_ptr] {
            auto s = starts.lock();
            if (!s) return 0.0;
            std::lock_guard lock(s->mutex);
            if (s->by_id.empty()) return 0.0;
            auto oldest = s->by_id.begin()->second;
            for (const auto& [id, at] : s->by_id) oldest = std::min(oldest, at);
            return std::chrono::duration<double>(clock_ptr->SteadyNow() - oldest).count();
        });
    probe_ = StorageProbe::Create(executor_, store_, pool_, write_health_,
                                  settings_.storage_probe_interval);
    std::weak_ptr<StorageProbe> probe = probe_;
    write_health_->SetChangeHandler([probe](bool writable, const std::string& error) {
        if (writable) {
            Log()->info("storage: writes succeed again: /readyz and health recover");
            return;
        }
        Log()->error(
            "storage: writes fail ({}): /readyz answers 503 and new debates are refused "
            "until they succeed; running debates retry their writes",
            error);
        if (auto p = probe.lock()) p->Start();
    });
    std::weak_ptr<StorageWriteHealth> health = write_health_;
    registry.AddCallbackGauge("aragora_storage_writable",
                              "1 while writes to the database succeed (0: disk full or failing, "
                              "database unreachable)",
                              [health] {
                                  auto h = health.lock();
                                  return h && !h->writable() ? 0.0 : 1.0;
                              });
    registry.AddCallbackCounter(
        "aragora_storage_write_failures_total",
        "Writes to the database that failed because the storage was unavailable", [health] {
            auto h = health.lock();
            return h ? static_cast<double>(h->State().outage_failures) : 0.0;
        });
}

LocalDebateService::~LocalDebateService() { probe_->Stop(); }

std::size_t LocalDebateService::Running() const { return limiter_.Running(); }

bool LocalDebateService::RunsHere(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = live_.find(id);
    return it != live_.end() && !it->second->finished;
}

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

bool LocalDebateService::NoteDebateWrite(Live& live, const common::Error* error) {
    if (error == nullptr) {
        write_health_->RecordSuccess();
        std::lock_guard lock(live.mutex);
        live.write_failing_since.reset();
        return false;
    }
    write_health_->RecordFailure(*error);
    if (!IsRetryable(*error)) return false;
    const auto now = clock_.SteadyNow();
    std::lock_guard lock(live.mutex);
    if (!live.write_failing_since) live.write_failing_since = now;
    return now - *live.write_failing_since >= settings_.storage_outage_budget;
}

void LocalDebateService::StopForStorage(const std::shared_ptr<Live>& live, const std::string& why) {
    // Once its final write runs, that write decides (and says so in the log).
    if (live->finishing || live->storage_failed.exchange(true)) return;
    Log()->error(
        "debate_id={} correlation_id={}: its writes have failed for {} ms ({}); stopping it, it "
        "ends failed ({})",
        live->spec.id, live->correlation_id, settings_.storage_outage_budget.count(), why,
        kStorageUnavailableCode);
    asio::post(live->strand, [live] {
        if (!live->finished && live->started) live->cancel.emit(asio::cancellation_type::terminal);
    });
}

bool LocalDebateService::Abandoned(const Live&) const { return abandon_writes_.load(); }

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
    auto built = BuildAgentsFor(request.agents);
    if (!built) co_return built.error();
    if (settings_.execution == ExecutionMode::kWorker)
        co_return co_await Enqueue(std::move(request));

    auto live = std::make_shared<Live>(executor_);
    live->spec = SpecFromRequest(request, settings_.consensus_threshold);
    for (auto& a : *built)
        live->agents.push_back(std::make_shared<MeteredAgent>(a, clock_, metrics_));
    live->created_at = common::FormatIso8601(clock_.SystemNow());
    live->correlation_id = request.correlation_id.empty() ? "-" : request.correlation_id;
    storage::DebateRecord pending = PendingRecord(live->spec, live->created_at, request.agents);
    live->spec_json = pending.spec_json;
    if (settings_.lease_local && !settings_.lease.worker_id.empty()) {
        live->lease_owner = settings_.lease.worker_id;
        pending.lease_owner = live->lease_owner;
        pending.lease_expires_at = LeaseUntil();
    }

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

    auto stored =
        co_await pool_.Run([this, &pending] { return ToUnit(store_.CreateDebate(pending)); });
    write_health_->Record(stored);
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
    // Renewed from now on, also while it waits for a slot (the lease covers pending rows).
    if (!live->lease_owner.empty())
        asio::co_spawn(live->strand, HeartbeatLoop(live), asio::detached);
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

Result<std::vector<std::shared_ptr<agents::Agent>>> LocalDebateService::BuildAgentsFor(
    const std::vector<agents::AgentSpec>& specs) const {
    agents::RegistrySettings registry;
    registry.demo_latency = settings_.demo_latency;
    return settings_.agent_factory != nullptr ? settings_.agent_factory->Build(specs)
                                              : agents::BuildAgents(specs, registry);
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::Enqueue(
    CreateDebateRequest request) {
    debate::DebateSpec spec = SpecFromRequest(request, settings_.consensus_threshold);
    storage::DebateRecord pending =
        PendingRecord(spec, common::FormatIso8601(clock_.SystemNow()), request.agents);
    pending.queued_for_worker = true;
    pending.spec_json = WithCorrelationId(pending.spec_json, request.correlation_id);
    auto stored =
        co_await pool_.Run([this, &pending] { return ToUnit(store_.CreateDebate(pending)); });
    write_health_->Record(stored);
    if (!stored) co_return stored.error();
    Log()->info("debate_queued debate_id={} correlation_id={} agents={} rounds={} (for a worker)",
                pending.id, request.correlation_id.empty() ? "-" : request.correlation_id,
                pending.agents.size(), pending.rounds);
    co_return pending;
}

asio::awaitable<common::Status> LocalDebateService::RunClaimed(storage::DebateRecord claimed) {
    const std::string owner = settings_.lease.worker_id;
    if (owner.empty() || claimed.lease_owner != owner ||
        claimed.status != events::DebateStatus::kRunning) {
        co_return common::MakeError(ErrorCode::kValidation,
                                    "RunClaimed needs a debate running under this worker's lease");
    }
    const std::string id = claimed.id;
    const bool refuse = draining_.load();
    auto acquired = refuse ? resilience::AcquireResult{} : limiter_.TryAcquire();
    if (acquired.outcome != resilience::AcquireOutcome::kAcquired) {
        auto released = co_await pool_.Run(
            [this, &id, &owner] { return ToUnit(store_.ReleaseLease(id, owner)); });
        if (!released) {
            Log()->warn("could not release debate_id={} back to the queue: {}", id,
                        released.error().message);
        }
        if (refuse) {
            co_return common::MakeError(ErrorCode::kUnavailable, "the worker is shutting down");
        }
        co_return common::MakeError(
            ErrorCode::kOverloaded,
            "no free slot: " + std::to_string(limiter_.Running()) + " debates running");
    }

    auto stored = SpecFromRecord(claimed);
    Result<std::vector<std::shared_ptr<agents::Agent>>> built =
        stored ? BuildAgentsFor(stored->agents)
               : Result<std::vector<std::shared_ptr<agents::Agent>>>(stored.error());
    if (!built) {
        // Nothing ran and nothing will: fail it once, under the lease, instead of letting
        // every worker claim it in turn.
        storage::DebateRecord failed = claimed;
        failed.status = events::DebateStatus::kFailed;
        failed.error_code = "invalid_spec";
        failed.error_message = "the worker cannot run this debate: " + built.error().message;
        failed.completed_at = common::FormatIso8601(clock_.SystemNow());
        failed.duration_seconds = 0;
        events::Event end;
        end.debate_id = id;
        end.seq = 1;
        end.type = std::string(events::DebateEnd::kType);
        end.timestamp = common::EpochSeconds(clock_.SystemNow());
        end.data_json = EndDataOf(failed);
        std::vector<events::Event> evs{end};
        auto r = co_await pool_.Run([this, &failed, &evs, &owner] {
            return store_.FinishLeasedDebate(failed, evs, nullptr, owner);
        });
        limiter_.Release();
        Log()->warn("debate_end debate_id={} status=failed outcome=failed error=invalid_spec: {}{}",
                    id, failed.error_message,
                    r.ok() ? "" : " (not stored: " + r.error().message + ")");
        if (r.ok()) metrics_.debates_total.WithLabels({"failed"}).Inc();
        co_return common::Status{};
    }

    auto live = std::make_shared<Live>(executor_);
    live->spec = std::move(stored->spec);
    for (auto& a : *built)
        live->agents.push_back(std::make_shared<MeteredAgent>(a, clock_, metrics_));
    live->created_at = claimed.created_at;
    live->correlation_id = CorrelationIdOf(claimed.spec_json);
    live->lease_owner = owner;
    live->claimed = true;
    live->spec_json = claimed.spec_json;
    {
        std::lock_guard lock(mutex_);
        live_[id] = live;
    }
    {
        std::lock_guard lock(live->mutex);
        live->persisted = true;
        live->slot_granted = true;
        live->launched = true;
    }
    Launch(live);
    co_return common::Status{};
}

std::string LocalDebateService::LeaseUntil() const {
    return common::FormatIso8601(
        clock_.SystemNow() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(settings_.lease.duration));
}

std::chrono::milliseconds LocalDebateService::HeartbeatInterval() const {
    auto every = settings_.lease.heartbeat.count() > 0 ? settings_.lease.heartbeat
                                                       : settings_.lease.duration / 3;
    return std::max(every, std::chrono::milliseconds(10));
}

void LocalDebateService::LoseLease(const std::shared_ptr<Live>& live, const std::string& why) {
    if (live->lease_lost.exchange(true)) return;
    Log()->warn("lease lost debate_id={} owner={}: {}; stopping it, its result is discarded",
                live->spec.id, live->lease_owner, why);
    bool queued = false;
    {
        std::lock_guard lock(live->mutex);
        queued = !live->slot_granted;
    }
    if (queued && limiter_.Cancel(live->ticket)) {
        // Still waiting for a slot: it never runs. Whoever took the lease wrote its end.
        live->finished = true;
        Forget(live->spec.id);
        metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
        return;
    }
    asio::post(live->strand, [live] {
        if (!live->finished && live->started) live->cancel.emit(asio::cancellation_type::terminal);
    });
}

asio::awaitable<void> LocalDebateService::HeartbeatLoop(std::shared_ptr<Live> live) {
    const std::string id = live->spec.id;
    const auto every = HeartbeatInterval();
    live->heartbeat_timer.emplace(live->strand);
    while (!live->finished && !live->lease_lost) {
        live->heartbeat_timer->expires_after(every);
        boost::system::error_code ec;
        co_await live->heartbeat_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (live->finished || live->lease_lost) break;
        const std::string until = LeaseUntil();
        auto renewed = co_await pool_.Run([this, &id, &live, &until] {
            return ToUnit(store_.RenewLease(id, live->lease_owner, until));
        });
        write_health_->Record(renewed);
        if (renewed.ok()) continue;
        // A renewal racing the end of the debate (its final write, a cancel, the watchdog)
        // fails because the debate just ended: not a lost lease.
        if (live->finishing || live->finished || live->cancel_requested || live->timed_out) break;
        if (renewed.error().code == ErrorCode::kConflict) {
            LoseLease(live, renewed.error().message);
            break;
        }
        // A transient storage error: the next beat retries. Should the lease run out
        // meanwhile, a reaper fails the debate and the next renew says kConflict.
        Log()->warn("lease renewal failed debate_id={} error={}", id, renewed.error().message);
    }
}

void LocalDebateService::Launch(std::shared_ptr<Live> live) {
    const auto now = clock_.SteadyNow();
    // Before `started`: the watchdog reads the start time of every started debate.
    live->started_steady_ns = now.time_since_epoch().count();
    live->started = true;
    {
        std::lock_guard lock(running_starts_->mutex);
        running_starts_->by_id[live->spec.id] = now;
    }
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
        if (live->lease_lost) break;
        auto r = co_await pool_.Run([this, &batch, &live] {
            if (live->lease_owner.empty()) return ToUnit(store_.AppendEvents(batch));
            return ToUnit(store_.AppendLeasedEvents(batch, live->lease_owner));
        });
        if (NoteDebateWrite(*live, r.ok() ? nullptr : &r.error())) {
            StopForStorage(live, r.error().message);
        }
        if (!r.ok() && r.error().code == ErrorCode::kConflict && !live->lease_owner.empty()) {
            // A flush racing the final write fails because the debate just ended (the
            // final write stores these events too): not a lost lease.
            if (!live->finishing) LoseLease(live, r.error().message);
            break;
        }
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
    metrics_.active.WithLabels({}).Set(static_cast<double>(limiter_.Running()));
    const bool leased = !live->lease_owner.empty();
    // A claimed debate is already running (the claim set status and started_at). An
    // instance's own leased debate starts only while its lease holds.
    Result<common::Unit> running = common::Unit{};
    if (!live->claimed) {
        running = co_await pool_.Run([this, &id, &live] {
            const std::string now = common::FormatIso8601(clock_.SystemNow());
            if (live->lease_owner.empty())
                return ToUnit(store_.UpdateDebateStatus(id, events::DebateStatus::kRunning, now));
            return ToUnit(store_.StartLeasedDebate(id, live->lease_owner, now));
        });
        (void)NoteDebateWrite(*live, running.ok() ? nullptr : &running.error());
    }
    if (live->claimed) asio::co_spawn(live->strand, HeartbeatLoop(live), asio::detached);
    if (!running && leased && running.error().code == ErrorCode::kConflict) {
        // Reaped while it waited for a slot (this process stalled past its lease): the
        // reaper stored its end. It does not run.
        LoseLease(live, running.error().message);
        live->finished = true;
        Log()->warn("debate_discarded debate_id={} owner={}: {}", id, live->lease_owner,
                    running.error().message);
        co_await FinishBookkeeping(live);
        co_return;
    }
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
    if (live->storage_failed && !live->cancel_requested && !live->timed_out) {
        // Its writes failed past the budget (StopForStorage): whatever the engine made of
        // it, it cannot be stored as it happened.
        result.status = debate::DebateStatus::kFailed;
        result.error_code = kStorageUnavailableCode;
        result.error_message = "the database could not be written for " +
                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                  settings_.storage_outage_budget)
                                                  .count()) +
                               " s: the debate was stopped";
    }

    std::string receipt_id;
    if (result.status == debate::DebateStatus::kCompleted) receipt_id = common::NewId("rcpt_");
    storage::DebateRecord record = ToRecord(live->spec, result, live->created_at, receipt_id);
    events::Event end =
        emitter.Stamp(result.rounds_used, "", DebateEndOf(record, result.duration_seconds));
    std::vector<events::Event> all;
    {
        std::lock_guard lock(live->mutex);
        all = live->events;
    }
    all.push_back(end);

    if (!live->spec_json.empty()) record.spec_json = live->spec_json;
    const debate::DebateSpec& spec = live->spec;
    storage::ReceiptBuilder builder = MakeReceiptBuilder(spec, result, receipt_id, clock_, keys_);
    const storage::ReceiptBuilder* builder_ptr = receipt_id.empty() ? nullptr : &builder;
    const std::string& owner = live->lease_owner;
    live->finishing = true;  // a renewal racing the final write is not a lost lease
    auto finish = [&]() -> Result<std::optional<storage::ReceiptRecord>> {
        if (owner.empty()) return store_.FinishDebate(record, all, builder_ptr);
        return store_.FinishLeasedDebate(record, all, builder_ptr, owner);
    };
    if (leased && live->release_on_cancel && result.status == debate::DebateStatus::kCancelled &&
        !live->lease_lost) {
        // Shutdown: a debate none of whose events is stored goes back to the queue.
        auto released = co_await pool_.Run(
            [this, &id, &owner] { return ToUnit(store_.ReleaseLease(id, owner)); });
        if (released.ok()) {
            live->finished = true;
            Log()->info("debate_released debate_id={} worker={} (back to the queue)", id, owner);
            co_await FinishBookkeeping(live);
            co_return;
        }
    }
    Result<std::optional<storage::ReceiptRecord>> finished =
        common::MakeError(ErrorCode::kConflict, "the lease was lost");
    bool over_budget = false;
    if (!live->lease_lost) {
        finished = co_await pool_.Run(finish);
        over_budget = NoteDebateWrite(*live, finished.ok() ? nullptr : &finished.error());
    }
    // The database may be restarting or the disk briefly full: the final write is retried
    // while this debate's writes have failed for less than the outage budget. Events
    // flushed so far are stored already.
    auto backoff = settings_.storage_retry_initial;
    while (!finished && IsRetryable(finished.error()) && !over_budget && !live->lease_lost &&
           !Abandoned(*live)) {
        Log()->warn("final write failed debate_id={} error={}; retrying in {} ms", id,
                    finished.error().message, backoff.count());
        co_await SleepFor(backoff);
        backoff = std::min(backoff * 2, settings_.storage_retry_max);
        finished = co_await pool_.Run(finish);
        over_budget = NoteDebateWrite(*live, finished.ok() ? nullptr : &finished.error());
    }
    if (!finished && leased && finished.error().code == ErrorCode::kConflict) {
        // Reaped (or otherwise taken away): whoever took it wrote its end. Nothing here.
        live->lease_lost = true;
        live->finished = true;
        Log()->warn("debate_discarded debate_id={} owner={}: {}", id, owner,
                    finished.error().message);
        co_await FinishBookkeeping(live);
        co_return;
    }
    if (!finished) {
        const bool outage = IsRetryable(finished.error());
        Log()->error("could not store finished debate debate_id={} error={}{}", id,
                     finished.error().message,
                     outage && !Abandoned(*live)
                         ? "; it ends failed (" + std::string(kStorageUnavailableCode) +
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
        if (!Abandoned(*live)) {
            retry = co_await pool_.Run(finish);
            (void)NoteDebateWrite(*live, retry.ok() ? nullptr : &retry.error());
        }
        // No debate stays running without a run behind it: the failed end is retried
        // until the database takes it. Only the shutdown gives up (the next start's
        // crash recovery ends it), or a reaper that took a worker's debate.
        while (!retry && IsRetryable(retry.error()) && !live->lease_lost && !Abandoned(*live)) {
            co_await SleepFor(backoff);
            backoff = std::min(backoff * 2, settings_.storage_retry_max);
            retry = co_await pool_.Run(finish);
            (void)NoteDebateWrite(*live, retry.ok() ? nullptr : &retry.error());
        }
        if (!retry && Abandoned(*live)) {
            Log()->warn(
                "debate_id={} is not stored as ended (shutting down while the database cannot "
                "be written): the next start marks it failed (interrupted)",
                id);
        } else if (!retry) {
            Log()->error("could not store failed debate debate_id={} error={}", id,
                         retry.error().message);
        }
        if (!retry) {
            if (leased || Abandoned(*live)) {
                // Nothing final is stored: publishing the unstored events would show
                // clients a history the store does not have. A leased debate's lease runs
                // out and a reaper ends it (worker_lost, instance_lost); an unleased local
                // one is ended by the crash recovery of the next start (interrupted).
                live->finished = true;
                co_await FinishBookkeeping(live);
                co_return;
            }
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
    if (record.status == events::DebateStatus::kCompleted) {
        Log()->info(
            "debate_end debate_id={} correlation_id={} status={} outcome={} duration_ms={} "
            "verdict={} receipt_id={}",
            id, live->correlation_id, events::ToString(record.status), outcome, ms, record.verdict,
            record.receipt_id);
    } else {
        Log()->warn(
            "debate_end debate_id={} correlation_id={} status={} outcome={} duration_ms={} "
            "error={}: {}",
            id, live->correlation_id, events::ToString(record.status), outcome, ms,
            record.error_code, record.error_message);
    }
    co_await FinishBookkeeping(live);
}

asio::awaitable<void> LocalDebateService::FinishBookkeeping(std::shared_ptr<Live> live) {
    // Runs on the debate's strand: the heartbeat timer is the strand's.
    if (live->heartbeat_timer) live->heartbeat_timer->cancel();
    Forget(live->spec.id);
    {
        std::lock_guard lock(running_starts_->mutex);
        running_starts_->by_id.erase(live->spec.id);
    }
    limiter_.Release();
    metrics_.active.WithLabels({}).Set(static_cast<double>(limiter_.Running()));
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
    co_return;
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
    if (!live->spec_json.empty()) record.spec_json = live->spec_json;
    LiveSink sink(live->mutex, live->events);
    debate::EventEmitter emitter(live->spec.id, clock_, sink);
    events::Event end = emitter.Stamp(0, "", DebateEndOf(record, 0));
    const std::string& owner = live->lease_owner;
    auto stored = co_await pool_.Run([&] {
        std::vector<events::Event> evs{end};
        if (owner.empty()) return store_.FinishDebate(record, evs, nullptr);
        return store_.FinishLeasedDebate(record, evs, nullptr, owner);
    });
    write_health_->Record(stored);
    live->finished = true;
    Forget(live->spec.id);
    if (!owner.empty()) {
        asio::post(live->strand, [live] {
            if (live->heartbeat_timer) live->heartbeat_timer->cancel();
        });
    }
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
    if (!stored && IsRetryable(stored.error()) && !Abandoned(*live)) {
        // It will never run (it left the queue): its end is stored once the database takes
        // writes again, so that it does not stay pending.
        asio::co_spawn(executor_, PersistQueuedCancel(record, end, owner), asio::detached);
        co_return common::MakeError(
            ErrorCode::kUnavailable,
            "debate " + live->spec.id +
                " is cancelled (it will not run), but the database cannot be written now: "
                "its cancelled state is stored once it can (" +
                stored.error().message + ")");
    }
    if (!stored) co_return stored.error();
    hub_.Publish(end);
    metrics_.debates_total.WithLabels({"cancelled"}).Inc();
    Log()->info(
        "debate_end debate_id={} status=cancelled outcome=cancelled duration_ms=0 "
        "(cancelled while queued)",
        live->spec.id);
    co_return record;
}

asio::awaitable<void> LocalDebateService::PersistQueuedCancel(storage::DebateRecord record,
                                                              events::Event end,
                                                              std::string lease_owner) {
    auto backoff = settings_.storage_retry_initial;
    std::vector<events::Event> events{end};
    for (;;) {
        co_await SleepFor(backoff);
        backoff = std::min(backoff * 2, settings_.storage_retry_max);
        if (abandon_writes_ || stopped_) {
            Log()->warn(
                "debate_id={} cancelled while queued is not stored (shutting down): the next "
                "start marks it failed",
                record.id);
            co_return;
        }
        auto stored = co_await pool_.Run([this, &record, &events, &lease_owner] {
            if (lease_owner.empty()) return store_.FinishDebate(record, events, nullptr);
            return store_.FinishLeasedDebate(record, events, nullptr, lease_owner);
        });
        write_health_->Record(stored);
        if (stored) break;
        if (!IsRetryable(stored.error())) {
            Log()->error("could not store cancelled debate debate_id={} error={}", record.id,
                         stored.error().message);
            co_return;
        }
    }
    hub_.Publish(end);
    metrics_.debates_total.WithLabels({"cancelled"}).Inc();
    Log()->info(
        "debate_end debate_id={} status=cancelled outcome=cancelled duration_ms=0 "
        "(cancelled while queued; stored once the database took writes again)",
        record.id);
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
        const bool active = stored->status == events::DebateStatus::kPending ||
                            stored->status == events::DebateStatus::kRunning;
        // Not here: a worker or another instance runs it (or queues it under its cap).
        if (!live && active) co_return co_await CancelElsewhere(std::move(*stored));
        if (active) {
            // It ended here, but its end is not stored yet (storage unavailable).
            co_return common::MakeError(ErrorCode::kUnavailable,
                                        "debate " + id +
                                            " has ended but its final state is not stored yet "
                                            "(the database cannot be written); retry");
        }
        co_return common::MakeError(
            ErrorCode::kConflict,
            "debate " + id + " is already " + std::string(events::ToString(stored->status)));
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
    if (record->status != events::DebateStatus::kCancelled) {
        if (record->status == events::DebateStatus::kPending ||
            record->status == events::DebateStatus::kRunning) {
            co_return common::MakeError(ErrorCode::kUnavailable,
                                        "debate " + id + " did not stop in time; retry");
        }
        co_return common::MakeError(
            ErrorCode::kConflict,
            "debate " + id + " is already " + std::string(events::ToString(record->status)));
    }
    co_return record;
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::CancelElsewhere(
    storage::DebateRecord stored) {
    const std::string id = stored.id;
    if (stored.queued_for_worker && stored.status == events::DebateStatus::kPending) {
        const std::string now = common::FormatIso8601(clock_.SystemNow());
        const storage::DebateEndDataBuilder end_data = &LocalDebateService::EndDataOf;
        auto cancelled = co_await pool_.Run(
            [this, &id, &now, &end_data] { return store_.CancelQueuedDebate(id, now, end_data); });
        if (cancelled.ok()) {
            metrics_.debates_total.WithLabels({"cancelled"}).Inc();
            Log()->info(
                "debate_end debate_id={} status=cancelled outcome=cancelled duration_ms=0 "
                "(cancelled while queued for a worker)",
                id);
            co_return cancelled;
        }
        if (cancelled.error().code != ErrorCode::kConflict) co_return cancelled.error();
        // A worker claimed it meanwhile (or it ended): look again.
        auto again = co_await Get(id);
        if (!again) co_return again.error();
        stored = std::move(*again);
    }
    if (stored.status != events::DebateStatus::kRunning &&
        stored.status != events::DebateStatus::kPending) {
        co_return common::MakeError(
            ErrorCode::kConflict,
            "debate " + id + " is already " + std::string(events::ToString(stored.status)));
    }
    // Running on a worker, or running (or waiting for a slot) on another API instance: the
    // process that has it cancels it when asked through the instances' bus.
    if (remote_cancel_) {
        auto ended = co_await remote_cancel_(id, stored.lease_owner);
        if (!ended) co_return ended.error();
        if (ended->status != events::DebateStatus::kCancelled) {
            co_return common::MakeError(
                ErrorCode::kConflict,
                "debate " + id + " is already " + std::string(events::ToString(ended->status)));
        }
        co_return ended;
    }
    const std::string where =
        stored.queued_for_worker
            ? "on worker " +
                  (stored.lease_owner.empty() ? std::string("(unknown)") : stored.lease_owner)
            : std::string("in another process");
    co_return common::MakeError(
        ErrorCode::kConflict,
        "debate " + id + " is " + std::string(events::ToString(stored.status)) + " " + where +
            "; cancelling it from here needs the instances' bus (ARAGORA_MULTI_INSTANCE=true "
            "with ARAGORA_REDIS_URL)");
}

asio::awaitable<Result<std::vector<std::string>>> LocalDebateService::ReapExpiredLeases() {
    const std::string now = common::FormatIso8601(clock_.SystemNow());
    const storage::DebateEndDataBuilder end_data = &LocalDebateService::EndDataOf;
    auto reaped = co_await pool_.Run(
        [this, &now, &end_data] { return store_.ReapExpiredLeases(now, end_data); });
    if (reaped.ok()) {
        // Watchers learn the end live: the reaper's debate_end (the last stored event)
        // goes to the hub, and from there to the other instances; they read any events
        // they miss before it from the store.
        for (const auto& id : *reaped) {
            metrics_.debates_total.WithLabels({"failed"}).Inc();
            const std::int64_t after = std::max<std::int64_t>(0, hub_.LatestSeq(id));
            storage::DebateRecord row;
            auto tail = co_await pool_.Run([this, &id, after, &row] {
                if (auto d = store_.GetDebate(id)) row = std::move(*d);
                return store_.ListEvents(id, after, 10000);
            });
            Log()->warn(
                "debate_end debate_id={} status=failed outcome=failed error={}: {} "
                "(lease of {} expired)",
                id, row.error_code, row.error_message,
                row.lease_owner.empty() ? std::string("?") : row.lease_owner);
            if (tail && !tail->empty() && tail->back().type == events::DebateEnd::kType) {
                hub_.Publish(tail->back());
            }
        }
    }
    co_return reaped;
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
        // follows the last stored event, which is the last any client was sent. Only the
        // rows marked interrupted get one: a listed debate that another process runs
        // under its lease may have ended meanwhile with its own debate_end, and one
        // another instance's recovery marked too may have it already.
        for (const auto& id : ids) {
            auto d = store_.GetDebate(id);
            if (!d || d->status != events::DebateStatus::kFailed || d->error_code != "interrupted")
                continue;
            std::int64_t last = 0;
            std::string last_type;
            while (true) {
                auto page = store_.ListEvents(id, last, 500);
                if (!page || page->empty()) break;
                last = page->back().seq;
                last_type = page->back().type;
                if (page->size() < 500) break;
            }
            if (last_type == events::DebateEnd::kType) continue;
            events::Event end;
            end.debate_id = id;
            end.seq = last + 1;
            end.type = std::string(events::DebateEnd::kType);
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
    if (n.ok() && settings_.lease_local) {
        // Leased debates whose owner is gone for good (their leases expired already);
        // the others belong to live processes, or to the periodic reaper once they expire.
        auto reaped = co_await ReapExpiredLeases();
        if (!reaped) co_return reaped.error();
    }
    co_return n;
}

void LocalDebateService::StartLeaseReaper() {
    asio::co_spawn(executor_, ReaperLoop(), asio::detached);
}

asio::awaitable<void> LocalDebateService::ReaperLoop() {
    const auto every = std::max(settings_.lease.duration / 2, std::chrono::milliseconds(10));
    while (!stopped_) {
        co_await SleepFor(every);
        if (stopped_) break;
        auto reaped = co_await ReapExpiredLeases();
        if (!reaped) Log()->warn("reaping expired leases failed: {}", reaped.error().message);
    }
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
        // Writes still retried through a storage outage stop: the next start's crash
        // recovery ends those debates.
        abandon_writes_ = true;
        for (auto& live : running) {
            live->cancel_requested = true;
            if (live->claimed) live->release_on_cancel = true;
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
    probe_->Stop();
}

}  // namespace aragora::service
