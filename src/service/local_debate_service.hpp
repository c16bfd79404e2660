#pragma once

// DebateService running debates in this process: a registry of runs (service/run/
// DebateRun, one per debate on its own strand) and their admission: at most
// `max_running` at a time, the rest wait in a bounded FIFO as `pending`. Each run stores
// its events by group commit and publishes them to the hub once stored; its result, the
// remaining events and the receipt are written in one transaction before `debate_end` is
// published. Cancel, Drain and shutdown await the runs' completion signals. The service
// also runs the watchdog, the lease reaper and crash recovery.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agents/factory.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/error_reporter.hpp"
#include "debate/engine.hpp"
#include "debate/receipt.hpp"
#include "events/hub.hpp"
#include "metrics/registry.hpp"
#include "net/connection_budget.hpp"
#include "resilience/concurrency_limiter.hpp"
#include "service/debate_service.hpp"
#include "service/run/debate_run.hpp"
#include "service/run/lease_renewer.hpp"
#include "service/service_metrics.hpp"
#include "service/storage_health.hpp"
#include "storage/store.hpp"

namespace aragora::service {

// Where Create() runs a debate (ARAGORA_DEBATE_EXECUTION): `local` here under the cap,
// `worker` only enqueued in the store for `aragora worker` processes.
enum class ExecutionMode { kLocal, kWorker };
std::optional<ExecutionMode> ParseExecutionMode(std::string_view text);  // local | worker

// The lease identity of this process: a worker's for the debates it claims (`aragora
// worker`), or an API instance's for the debates it runs itself on a shared database
// (ServiceSettings::lease_local).
struct WorkerLease {
    std::string worker_id;                       // unique per process, e.g. "w_<host>_<pid>_<rand>"
    std::chrono::milliseconds duration{30'000};  // ARAGORA_WORKER_LEASE_SECONDS
    // Renewed this often; zero = duration / 3.
    std::chrono::milliseconds heartbeat{0};
};

struct ServiceSettings {
    std::size_t max_running = 10;  // ARAGORA_MAX_CONCURRENT_DEBATES
    std::size_t max_queued = 100;  // ARAGORA_MAX_QUEUED_DEBATES
    debate::EngineSettings engine;
    double consensus_threshold = 0.6;
    std::chrono::milliseconds demo_latency{200};
    // Builds provider agents (and checks their keys); null: demo agents only, built
    // with demo_latency. Must outlive the service.
    const agents::AgentFactory* agent_factory = nullptr;
    // The process-wide provider connection budget (ARAGORA_PROVIDER_CONNECTIONS): while
    // its wait FIFO is full, Create() refuses debates with a provider agent (kOverloaded:
    // 503 with Retry-After) instead of accepting debates whose calls would fail. Null:
    // no such check. Must outlive the service.
    const net::ConnectionBudget* provider_budget = nullptr;
    std::chrono::seconds watchdog_interval{5};
    // Exported as aragora_debate_running_too_long_seconds next to
    // aragora_debate_oldest_running_seconds: the alert fires when the second passes the
    // first (ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS).
    std::chrono::seconds running_too_long{600};
    // How long Cancel() (and Drain's cancel phase) waits for a running debate to stop and
    // persist (its completion signal; no polling).
    std::chrono::seconds cancel_wait{15};
    ExecutionMode execution = ExecutionMode::kLocal;
    // Set in worker processes (RunClaimed) and with lease_local; empty worker_id elsewhere.
    WorkerLease lease;
    // A database shared by several instances (serve on PostgreSQL): every debate Create()
    // runs here is stored under this process's lease (lease.worker_id, which must be set),
    // renewed every heartbeat from its creation (also while it waits for a slot) until its
    // end, and its status, events and result are written only while the lease holds. So
    // another instance's start-up recovery (MarkInterrupted) leaves it alone; should this
    // process die, any instance's ReapExpiredLeases ends it once the lease has expired
    // (failed, code instance_lost, one debate_end). A lost lease (reaped: this process
    // stalled past it) stops the debate and writes nothing more. Off (SQLite, one process
    // per data dir): no lease, crash recovery at start ends what a crash left.
    bool lease_local = false;
    // Storage outages (IsStorageOutage: disk full or failing, database unreachable): a
    // debate's writes are retried, backing off from storage_retry_initial (doubling) to
    // storage_retry_max. Once they have failed for storage_outage_budget in a row the
    // debate is stopped and ends `failed` (code `storage_unavailable`, no receipt), and
    // that end is retried until it is stored (or the service drains: the next start's
    // RecoverInterrupted then ends it).
    std::chrono::milliseconds storage_retry_initial{250};
    std::chrono::milliseconds storage_retry_max{5000};
    std::chrono::milliseconds storage_outage_budget{30000};
    // While writes fail, the store is probed (Store::ProbeWrite) this often, so that the
    // write health recovers by itself when nothing else writes.
    std::chrono::milliseconds storage_probe_interval{2000};
    // Group commit across debates (run::GroupCommitter): how many event-commit
    // transactions run at once, each taking every run's commit asked meanwhile. 1 for
    // SQLite (one writer); PostgreSQL may use a few pooled connections.
    std::size_t event_commit_transactions = 1;
    // Events one such transaction takes at most (the others wait for the next one).
    std::size_t event_commit_batch_events = 4096;
};

// Cancel() of a debate that another process runs (a worker holding its lease, or
// another API instance running it locally; `lease_owner` is "" then): the app wires the
// cross-instance path (e.g. the ClusterBridge's cancel request). Must complete with the
// stored row once it ended, or an error. Unset: Cancel() answers kConflict saying where
// the debate runs.
using RemoteCancel = std::function<boost::asio::awaitable<common::Result<storage::DebateRecord>>(
    const std::string& id, const std::string& lease_owner)>;

class LocalDebateService final : public DebateService {
public:
    // `executor` runs the debates (a multi-threaded io_context's executor; each debate gets
    // its own strand). Everything passed by reference must outlive the service.
    LocalDebateService(boost::asio::any_io_executor executor, const common::Clock& clock,
                       ServiceSettings settings, storage::Store& store, common::BlockingPool& pool,
                       const debate::ReceiptKeys& keys, events::EventHub& hub,
                       metrics::Registry& registry);
    ~LocalDebateService() override;

    boost::asio::awaitable<common::Result<storage::DebateRecord>> Create(
        CreateDebateRequest request) override;
    boost::asio::awaitable<common::Result<storage::DebateRecord>> Cancel(
        const std::string& id) override;
    boost::asio::awaitable<common::Result<storage::DebateRecord>> Get(
        const std::string& id) override;
    boost::asio::awaitable<common::Result<storage::DebatePage>> List(
        storage::DebateFilter filter) override;
    boost::asio::awaitable<common::Result<EventsPage>> Events(const std::string& id,
                                                              std::int64_t since,
                                                              int limit) override;
    boost::asio::awaitable<common::Result<storage::ReceiptRecord>> Receipt(
        const std::string& id) override;
    boost::asio::awaitable<common::Result<storage::ReceiptPage>> Receipts(
        const std::string& debate_id, int limit, int offset) override;
    ServiceStats Stats() const override;

    // Startup: debates a crash left pending/running without a lease become failed (code
    // `interrupted`, one stored debate_end); returns how many. Leased debates are left to
    // their leases: with lease_local, the expired ones are reaped here too (instance_lost
    // or worker_lost), the others belong to live processes.
    boost::asio::awaitable<common::Result<int>> RecoverInterrupted();
    // Runs ReapExpiredLeases every lease.duration / 2 until the service drained, so that
    // the debates of a process killed without a goodbye end even when no worker runs.
    void StartLeaseReaper();
    // Starts the watchdog that cancels debates running past the debate timeout (they end
    // `failed`, code `timeout`).
    void StartWatchdog();
    // Shutdown: refuses new debates (kUnavailable), cancels queued ones, waits up to
    // `grace` for running debates, then cancels the rest and waits (bounded) for them to
    // be persisted.
    boost::asio::awaitable<void> Drain(std::chrono::milliseconds grace);

    // Worker processes. Runs a debate this process claimed (storage ClaimQueuedDebate with
    // settings.lease.worker_id) under the cap: rebuilt from its spec_json, its lease
    // renewed every heartbeat, its events and result written only while the lease holds
    // (FinishLeasedDebate: one receipt at most). A lost lease (reaped: kConflict on renew
    // or flush) cancels the debate and writes nothing more. A spec that cannot be run
    // (malformed, agents unavailable) ends failed (code `invalid_spec`) without running.
    // kOverloaded when no slot is free (the caller claims only below the cap; the debate
    // is then released back to the queue); kUnavailable while draining (released too).
    boost::asio::awaitable<common::Status> RunClaimed(storage::DebateRecord claimed);
    // Fails every queued debate whose lease expired (storage ReapExpiredLeases with this
    // clock's now), with the service's debate_end data. Returns their ids. Any process
    // sharing the database may run it; each debate is reaped once.
    boost::asio::awaitable<common::Result<std::vector<std::string>>> ReapExpiredLeases();
    // Waits until debate `id` (run here or anywhere else: its debate_end reaches the hub,
    // from the instances' bus too) has ended or `timeout` passed; returns the stored row
    // (still active when it did not end in time).
    boost::asio::awaitable<common::Result<storage::DebateRecord>> AwaitEnd(
        const std::string& id, std::chrono::milliseconds timeout);
    // Cross-instance cancel hook (see RemoteCancel). Call before serving requests.
    void SetRemoteCancel(RemoteCancel cancel) { remote_cancel_ = std::move(cancel); }
    // Debates that end failed (not cancelled) and crashed debate coroutines are reported
    // here (Sentry); null: not reported. Call before serving requests.
    void SetErrorReporter(common::ErrorReporter* reporter) { run_env_.errors = reporter; }

    // Whether the store takes writes now (fed by every write of this service; probed while
    // it does not). Readiness and health follow it. Lives as long as the service.
    const StorageWriteHealth& write_health() const { return *write_health_; }

    std::size_t Running() const;
    // True while this process runs (or queues, under its cap) debate `id`: the one that
    // answers a cancel request from another instance.
    bool RunsHere(const std::string& id) const;
    const ServiceMetrics& metrics() const { return metrics_; }
    // The runs' shared event commits (transactions, commits, waiting).
    run::GroupCommitStats CommitStats() const { return commits_->Stats(); }
    // Renews the leases of every leased run here each heartbeat (null without a lease
    // identity: settings.lease.worker_id empty).
    run::LeaseRenewer* lease_renewer() const { return renewer_.get(); }

private:
    class Hooks;
    struct RunningStarts;
    using RunPtr = std::shared_ptr<run::DebateRun>;
    boost::asio::awaitable<void> WatchdogLoop();
    boost::asio::awaitable<void> ReaperLoop();
    common::Result<std::vector<std::shared_ptr<agents::Agent>>> BuildAgentsFor(
        const std::vector<agents::AgentSpec>& specs) const;
    // A run of `init` registered here (not admitted yet).
    RunPtr NewRun(run::RunInit init);
    RunPtr Find(const std::string& id) const;
    std::vector<RunPtr> Snapshot() const;
    void Forget(const std::string& id);
    // Waits for every run in `runs` until `deadline` (this service's clock).
    boost::asio::awaitable<void> AwaitRuns(const std::vector<RunPtr>& runs,
                                           std::chrono::steady_clock::time_point deadline);
    boost::asio::awaitable<common::Result<storage::DebateRecord>> CancelElsewhere(
        storage::DebateRecord stored);
    boost::asio::awaitable<common::Result<storage::DebateRecord>> Enqueue(
        CreateDebateRequest request);
    // The debate_end data the store writes itself (reaped, cancelled while queued).
    static std::string EndDataOf(const storage::DebateRecord& record);
    void UpdateGauges();

    boost::asio::any_io_executor executor_;
    const common::Clock& clock_;
    ServiceSettings settings_;
    storage::Store& store_;
    common::BlockingPool& pool_;
    const debate::ReceiptKeys& keys_;
    events::EventHub& hub_;
    ServiceMetrics metrics_;
    debate::Engine engine_;
    resilience::ConcurrencyLimiter limiter_;
    std::unique_ptr<Hooks> hooks_;
    std::unique_ptr<events::EventSink> hub_sink_;
    // One renewal of every leased run's lease each heartbeat, on `lease_pool_`'s one
    // thread, never behind the event commits queued on `pool_` (both null without a lease
    // identity). Shared with its loop and the metrics callbacks.
    std::unique_ptr<common::BlockingPool> lease_pool_;
    std::shared_ptr<run::LeaseRenewer> renewer_;
    // Every run's event commits (shared with the metrics callbacks, which may outlive the
    // service).
    std::shared_ptr<run::GroupCommitter> commits_;
    run::RunEnvironment run_env_;

    mutable std::mutex mutex_;
    std::map<std::string, RunPtr> runs_;  // guarded by mutex_: admitted, queued or running
    std::atomic<bool> draining_{false};
    std::atomic<bool> stopped_{false};
    // Wakes the watchdog and the reaper when the service drains.
    run::Completion stopping_;
    RemoteCancel remote_cancel_;
    // Shared with the metrics callbacks and the probe, which may outlive the service.
    std::shared_ptr<StorageWriteHealth> write_health_;
    std::shared_ptr<StorageProbe> probe_;  // runs while writes fail
    // When each launched debate started (until it finished), for
    // aragora_debate_oldest_running_seconds; shared with that callback.
    std::shared_ptr<RunningStarts> running_starts_;
    // Drain gave up waiting (or is over): storage retries end (the rows stay for crash
    // recovery).
    std::atomic<bool> abandon_writes_{false};
};

}  // namespace aragora::service
