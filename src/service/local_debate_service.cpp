#include "service/local_debate_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "common/ids.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "events/batch_sink.hpp"
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
                            "Debate requests refused (overloaded, draining, provider_connections)",
                            {"reason"})),
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
    bool ReadsPromptOnly() const override { return inner_->ReadsPromptOnly(); }
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

// What the runs tell the service: slots, gauges, the registry and the oldest-running
// gauge follow their starts and ends.
class LocalDebateService::Hooks final : public run::RunHooks {
public:
    explicit Hooks(LocalDebateService& service) : service_(service) {}
    void OnStarted(run::DebateRun& run) override {
        {
            std::lock_guard lock(service_.running_starts_->mutex);
            service_.running_starts_->by_id[run.id()] = *run.started_at();
        }
        service_.UpdateGauges();
    }
    void OnFinished(run::DebateRun& run, bool held_slot) override {
        {
            std::lock_guard lock(service_.running_starts_->mutex);
            service_.running_starts_->by_id.erase(run.id());
        }
        if (held_slot) service_.limiter_.Release();
        service_.UpdateGauges();
        // Last: once the run left the registry, Drain may return and the service go
        // (TSan: the erase above raced with ~LocalDebateService after a drain).
        service_.Forget(run.id());
    }
    bool Dequeue(run::DebateRun& run) override {
        return run.ticket() != 0 && service_.limiter_.Cancel(run.ticket());
    }

private:
    LocalDebateService& service_;
};

namespace {

// Stored events go to the hub (and from there to WebSocket clients and the other
// instances).
class HubSink final : public events::BatchSink {
public:
    explicit HubSink(events::EventHub& hub) : hub_(hub) {}
    void Publish(const events::Event& e) override { hub_.Publish(e); }
    void Publish(events::Event&& e) override { hub_.Publish(std::move(e)); }
    void PublishBatch(std::span<const events::Event> events) override { hub_.PublishBatch(events); }
    void PublishBatch(std::vector<events::Event>&& events) override {
        hub_.PublishBatch(std::move(events));
    }

private:
    events::EventHub& hub_;
};

}  // namespace

namespace {

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
    spec.trace = request.trace;
    return spec;
}

// A metrics callback reading one counter of a component's Stats() (0 once it is gone).
template <class Component, class Stats, class Field>
std::function<double()> StatOf(std::weak_ptr<Component> component, Field Stats::*field) {
    return [component = std::move(component), field] {
        auto c = component.lock();
        return c ? static_cast<double>(c->Stats().*field) : 0.0;
    };
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
      hooks_(std::make_unique<Hooks>(*this)),
      hub_sink_(std::make_unique<HubSink>(hub)),
      stopping_(executor_),
      write_health_(std::make_shared<StorageWriteHealth>(clock)),
      running_starts_(std::make_shared<RunningStarts>()) {
    run_env_.clock = &clock_;
    run_env_.store = &store_;
    run_env_.pool = &pool_;
    auto& renewal_seconds = registry.AddHistogram(
        "aragora_lease_renewal_seconds",
        "How long one renewal of every lease this process holds took (one RenewLeases call "
        "each heartbeat)",
        {}, {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    if (!settings_.lease.worker_id.empty()) {
        // One renewal of all the leases in flight at a time, on its own thread: never
        // behind the event commits queued on `pool_`.
        lease_pool_ = std::make_unique<common::BlockingPool>(1, 4);
        run::LeaseRenewerOptions lease;
        lease.owner = settings_.lease.worker_id;
        lease.duration = settings_.lease.duration;
        lease.heartbeat =
            std::max(settings_.lease.heartbeat.count() > 0 ? settings_.lease.heartbeat
                                                           : settings_.lease.duration / 3,
                     std::chrono::milliseconds(10));
        renewer_ = run::LeaseRenewer::Create(executor_, clock_, store_, *lease_pool_, write_health_,
                                             lease, &renewal_seconds.WithLabels({}));
        run_env_.leases = renewer_.get();
    }
    run::GroupCommitOptions commit_options;
    commit_options.max_in_flight = std::max<std::size_t>(settings_.event_commit_transactions, 1);
    commit_options.max_batch_events = std::max<std::size_t>(settings_.event_commit_batch_events, 1);
    // A run has at most one commit waiting: room for every run this service admits.
    commit_options.max_waiting = settings_.max_running + settings_.max_queued + 64;
    commits_ = std::make_shared<run::GroupCommitter>(store_, clock_, commit_options);
    run_env_.commits = commits_.get();
    run_env_.keys = &keys_;
    run_env_.engine = &engine_;
    run_env_.publish = hub_sink_.get();
    run_env_.write_health = write_health_.get();
    run_env_.metrics = &metrics_;
    run_env_.hooks = hooks_.get();
    run_env_.abandon_writes = &abandon_writes_;
    run_env_.retry =
        resilience::RetryPolicy{settings_.storage_retry_initial, settings_.storage_retry_max, 0};
    run_env_.outage_budget = settings_.storage_outage_budget;
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
    auto commit_stat = [commits = std::weak_ptr<run::GroupCommitter>(commits_)](
                           std::uint64_t run::GroupCommitStats::*field) {
        return StatOf(commits, field);
    };
    registry.AddCallbackCounter("aragora_event_commit_transactions_total",
                                "Transactions that stored debates' events (group commit across "
                                "debates: one takes every run's commit asked meanwhile)",
                                commit_stat(&run::GroupCommitStats::transactions));
    registry.AddCallbackCounter("aragora_event_commits_total",
                                "Event commits of debate runs written (or failed) by those "
                                "transactions",
                                commit_stat(&run::GroupCommitStats::commits));
    auto lease_stat = [renewer = std::weak_ptr<run::LeaseRenewer>(renewer_)](
                          std::uint64_t run::LeaseRenewerStats::*field) {
        return StatOf(renewer, field);
    };
    registry.AddCallbackCounter("aragora_lease_renewals_total",
                                "Renewals of every lease this process holds (one store call "
                                "each heartbeat for all its debates)",
                                lease_stat(&run::LeaseRenewerStats::renewals));
    registry.AddCallbackCounter("aragora_lease_renewal_failures_total",
                                "Renewals that failed (storage errors; retried next heartbeat)",
                                lease_stat(&run::LeaseRenewerStats::failures));
    registry.AddCallbackCounter("aragora_leases_lost_total",
                                "Debates whose lease a renewal found lost (reaped: this process "
                                "stalled past its lease, or the debate ended meanwhile)",
                                lease_stat(&run::LeaseRenewerStats::lost));
    if (renewer_) renewer_->Start();
    registry.AddCallbackGauge(
        "aragora_event_commits_waiting", "Event commits waiting for the next transaction",
        StatOf(std::weak_ptr<run::GroupCommitter>(commits_), &run::GroupCommitStats::waiting));
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

LocalDebateService::~LocalDebateService() {
    if (renewer_) {
        // A renewal in flight finishes on the lease pool before the pool goes.
        renewer_->Stop();
        lease_pool_->Stop();
    }
    probe_->Stop();
    commits_->Join();
}

std::size_t LocalDebateService::Running() const { return limiter_.Running(); }

bool LocalDebateService::RunsHere(const std::string& id) const {
    auto r = Find(id);
    return r != nullptr && !r->done();
}

ServiceStats LocalDebateService::Stats() const {
    return ServiceStats{limiter_.Running(), limiter_.Queued(), limiter_.MaxRunning(),
                        limiter_.MaxQueued()};
}

void LocalDebateService::UpdateGauges() {
    metrics_.active.WithLabels({}).Set(static_cast<double>(limiter_.Running()));
    metrics_.queued.WithLabels({}).Set(static_cast<double>(limiter_.Queued()));
}

LocalDebateService::RunPtr LocalDebateService::NewRun(run::RunInit init) {
    auto r = run::DebateRun::Create(executor_, run_env_, std::move(init));
    std::lock_guard lock(mutex_);
    runs_[r->id()] = r;
    return r;
}

LocalDebateService::RunPtr LocalDebateService::Find(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(id);
    return it == runs_.end() ? nullptr : it->second;
}

std::vector<LocalDebateService::RunPtr> LocalDebateService::Snapshot() const {
    std::vector<RunPtr> out;
    std::lock_guard lock(mutex_);
    for (const auto& [id, r] : runs_) out.push_back(r);
    return out;
}

void LocalDebateService::Forget(const std::string& id) {
    std::lock_guard lock(mutex_);
    runs_.erase(id);
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::Create(
    CreateDebateRequest request) {
    if (draining_) {
        metrics_.rejected.WithLabels({"draining"}).Inc();
        co_return common::MakeError(ErrorCode::kUnavailable,
                                    "the server is shutting down; retry on another instance");
    }
    if (settings_.execution == ExecutionMode::kLocal && settings_.provider_budget != nullptr &&
        settings_.provider_budget->QueueFull() &&
        std::any_of(request.agents.begin(), request.agents.end(),
                    [](const agents::AgentSpec& a) { return a.provider != "demo"; })) {
        metrics_.rejected.WithLabels({"provider_connections"}).Inc();
        const net::ConnectionBudgetStats b = settings_.provider_budget->Stats();
        co_return common::MakeError(ErrorCode::kOverloaded,
                                    "provider connections exhausted: " + std::to_string(b.in_use) +
                                        " calls in flight and " + std::to_string(b.waiting) +
                                        " waiting; retry later");
    }
    auto built = BuildAgentsFor(request.agents);
    if (!built) co_return built.error();
    if (settings_.execution == ExecutionMode::kWorker)
        co_return co_await Enqueue(std::move(request));

    run::RunInit init;
    init.spec = SpecFromRequest(request, settings_.consensus_threshold);
    for (auto& a : *built)
        init.agents.push_back(std::make_shared<MeteredAgent>(a, clock_, metrics_));
    init.created_at = common::FormatIso8601(clock_.SystemNow());
    init.correlation_id = request.correlation_id.empty() ? "-" : request.correlation_id;
    storage::DebateRecord pending =
        run::PendingRecord(init.spec, init.created_at, SpecToJson(init.spec, request.agents));
    init.spec_json = pending.spec_json;
    if (settings_.lease_local && !settings_.lease.worker_id.empty()) {
        init.lease_owner = settings_.lease.worker_id;
        pending.lease_owner = init.lease_owner;
        pending.lease_expires_at = common::FormatIso8601(
            clock_.SystemNow() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     settings_.lease.duration));
    }

    RunPtr r = NewRun(std::move(init));
    std::weak_ptr<run::DebateRun> weak = r;
    auto acquired = limiter_.TryAcquire([weak] {
        if (auto granted = weak.lock()) granted->SlotGranted();
    });
    if (acquired.outcome == resilience::AcquireOutcome::kRejected) {
        Forget(r->id());
        metrics_.rejected.WithLabels({"overloaded"}).Inc();
        co_return common::MakeError(ErrorCode::kOverloaded,
                                    "too many debates: " + std::to_string(limiter_.Running()) +
                                        " running and " + std::to_string(limiter_.Queued()) +
                                        " waiting; retry later");
    }
    r->set_ticket(acquired.ticket);
    if (acquired.outcome == resilience::AcquireOutcome::kAcquired) r->SlotGranted();
    UpdateGauges();

    trace::Span db_span =
        trace::StartSpan(request.trace, "db CreateDebate", trace::SpanKind::kClient);
    auto stored =
        co_await pool_.Run([this, &pending] { return ToUnit(store_.CreateDebate(pending)); });
    db_span.End();
    write_health_->Record(stored);
    if (!stored) {
        // Out of the queue, or the slot it holds (granted now or meanwhile) is freed.
        if (acquired.outcome == resilience::AcquireOutcome::kAcquired ||
            !limiter_.Cancel(acquired.ticket)) {
            limiter_.Release();
        }
        Forget(r->id());
        UpdateGauges();
        co_return stored.error();
    }
    // Renewed from now on, also while it waits for a slot (the lease covers pending rows).
    r->StartLeaseRenewal();
    r->Persisted();
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
    storage::DebateRecord pending = run::PendingRecord(
        spec, common::FormatIso8601(clock_.SystemNow()), SpecToJson(spec, request.agents));
    pending.queued_for_worker = true;
    pending.spec_json = WithCorrelationId(pending.spec_json, request.correlation_id);
    trace::Span db_span =
        trace::StartSpan(request.trace, "db CreateDebate", trace::SpanKind::kClient);
    auto stored =
        co_await pool_.Run([this, &pending] { return ToUnit(store_.CreateDebate(pending)); });
    db_span.End();
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

    run::RunInit init;
    init.spec = std::move(stored->spec);
    for (auto& a : *built)
        init.agents.push_back(std::make_shared<MeteredAgent>(a, clock_, metrics_));
    init.created_at = claimed.created_at;
    init.correlation_id = CorrelationIdOf(claimed.spec_json);
    init.lease_owner = owner;
    init.claimed = true;
    init.spec_json = claimed.spec_json;
    RunPtr r = NewRun(std::move(init));
    // Stored and holding its slot: it starts at once.
    r->SlotGranted();
    r->Persisted();
    co_return common::Status{};
}

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::Cancel(const std::string& id) {
    RunPtr r = Find(id);
    if (!r || r->done()) {
        auto stored = co_await Get(id);
        if (!stored) co_return stored.error();
        const bool active = stored->status == events::DebateStatus::kPending ||
                            stored->status == events::DebateStatus::kRunning;
        // Not here: a worker or another instance runs it (or queues it under its cap).
        if (!r && active) co_return co_await CancelElsewhere(std::move(*stored));
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
    r->Stop(run::StopReason::kCancel);
    if (r->ticket() != 0 && limiter_.Cancel(r->ticket())) {
        UpdateGauges();
        co_return co_await r->EndQueued();
    }
    // Its end (stored, then published) sets the run's completion signal.
    co_await r->WaitDone(settings_.cancel_wait);
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

namespace {

// Sets `ended` when a debate's debate_end reaches the hub (published here, or relayed
// from the instance that ran it).
class EndWatcher final : public events::Subscriber {
public:
    explicit EndWatcher(std::shared_ptr<run::Completion> ended) : ended_(std::move(ended)) {}
    void Deliver(const events::Event& e) override {
        if (e.type == "debate_end") ended_->Set();
    }

private:
    std::shared_ptr<run::Completion> ended_;
};

}  // namespace

asio::awaitable<Result<storage::DebateRecord>> LocalDebateService::AwaitEnd(
    const std::string& id, std::chrono::milliseconds timeout) {
    auto ended = std::make_shared<run::Completion>(executor_);
    auto subscribed = hub_.Subscribe(id, hub_.LatestSeq(id), std::make_shared<EndWatcher>(ended));
    if (subscribed.ended) ended->Set();
    for (const auto& e : subscribed.buffered) {
        if (e.type == "debate_end") ended->Set();
    }
    // Registered before this read: an end stored after it is delivered.
    auto record = co_await Get(id);
    if (record && events::IsTerminal(record->status)) ended->Set();
    if (record) co_await ended->Wait(timeout);
    hub_.Unsubscribe(id, subscribed.subscription_id);
    if (!record) co_return record;
    co_return co_await Get(id);
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
        if (co_await stopping_.Wait(every)) break;
        auto reaped = co_await ReapExpiredLeases();
        if (!reaped) Log()->warn("reaping expired leases failed: {}", reaped.error().message);
    }
}

void LocalDebateService::StartWatchdog() {
    asio::co_spawn(executor_, WatchdogLoop(), asio::detached);
}

asio::awaitable<void> LocalDebateService::WatchdogLoop() {
    const auto limit = settings_.engine.debate_timeout + std::chrono::seconds(5);
    while (!stopped_) {
        if (co_await stopping_.Wait(settings_.watchdog_interval)) break;
        const auto now = clock_.SteadyNow();
        for (auto& r : Snapshot()) {
            auto started = r->started_at();
            if (!started || r->done() || r->timed_out() || now - *started <= limit) continue;
            metrics_.watchdog.WithLabels({}).Inc();
            Log()->warn(
                "watchdog: debate_id={} ran past the debate timeout of {} s; stopping it", r->id(),
                std::chrono::duration_cast<std::chrono::seconds>(settings_.engine.debate_timeout)
                    .count());
            r->Stop(run::StopReason::kTimeout);
        }
    }
}

asio::awaitable<void> LocalDebateService::AwaitRuns(
    const std::vector<RunPtr>& runs, std::chrono::steady_clock::time_point deadline) {
    for (const auto& r : runs) co_await r->WaitDone(deadline - clock_.SteadyNow());
}

asio::awaitable<void> LocalDebateService::Drain(std::chrono::milliseconds grace) {
    draining_ = true;
    for (auto& r : Snapshot()) {
        if (r->ticket() != 0 && limiter_.Cancel(r->ticket())) {
            UpdateGauges();
            co_await r->EndQueued();
        }
    }
    auto running = Snapshot();
    if (!running.empty()) {
        Log()->info("draining: waiting up to {} ms for {} running debate(s)", grace.count(),
                    running.size());
    }
    co_await AwaitRuns(running, clock_.SteadyNow() + grace);
    running = Snapshot();
    if (!running.empty()) {
        Log()->warn("draining: grace period over, cancelling {} running debate(s)", running.size());
        // Writes still retried through a storage outage stop: the next start's crash
        // recovery ends those debates.
        abandon_writes_ = true;
        for (auto& r : running) r->Stop(run::StopReason::kShutdown);
        co_await AwaitRuns(running, clock_.SteadyNow() + settings_.cancel_wait);
    }
    // Background retries (a queued debate's cancelled end) end with the service; so do
    // event commits still waiting (their runs keep the events for crash recovery).
    abandon_writes_ = true;
    commits_->Stop();
    stopped_ = true;
    stopping_.Set();
    probe_->Stop();
    if (renewer_) {
        // Its wait is cut short: a drain never waits for the next heartbeat.
        renewer_->Stop();
        co_await renewer_->WaitStopped(settings_.cancel_wait);
    }
}

}  // namespace aragora::service
