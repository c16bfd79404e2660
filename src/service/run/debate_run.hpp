#pragma once

// One debate being run in this process, from its slot to its stored end. A DebateRun
// owns, on its own strand: the events the engine emits until they are stored, their
// group commit (each transaction takes whatever accumulated while the previous one ran,
// then those events go to `publish`: no reader sees an event the store does not hold),
// what it does when its lease is lost (the process's LeaseRenewer renews it), its
// cancellation, the final write (result + remaining events +
// receipt in one transaction, retried through storage outages) and its completion
// signal. The server's LocalDebateService admits runs (cap, FIFO) and keeps a registry
// of them; the CLI's `ask`/`demo` and a worker's claimed debates use the same class.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agents/agent.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/error_reporter.hpp"
#include "debate/engine.hpp"
#include "debate/receipt.hpp"
#include "events/event.hpp"
#include "resilience/backoff.hpp"
#include "service/run/completion.hpp"
#include "service/run/group_commit.hpp"
#include "service/storage_health.hpp"
#include "storage/store.hpp"

namespace aragora::service {
struct ServiceMetrics;
}

namespace aragora::service::run {

class DebateRun;
class LeaseRenewer;

// What the owner of runs learns about them (LocalDebateService). Called on the run's
// strand; must not block.
class RunHooks {
public:
    virtual ~RunHooks() = default;
    // The run got its slot and starts now.
    virtual void OnStarted(DebateRun& run) = 0;
    // The run is over (stored, discarded, released or abandoned), just before its
    // completion signal is set. `held_slot`: it had started (the owner frees its slot).
    virtual void OnFinished(DebateRun& run, bool held_slot) = 0;
    // A queued run lost its lease: true when the owner took it out of the admission
    // queue (it never starts and finishes at once); false when its slot was granted
    // meanwhile (it then stops once started).
    virtual bool Dequeue(DebateRun& run) = 0;
};

// Shared by every run of a process; everything referenced outlives the runs.
struct RunEnvironment {
    const common::Clock* clock = nullptr;
    storage::Store* store = nullptr;
    common::BlockingPool* pool = nullptr;
    // Group commit across debates: the runs' event commits share its transactions;
    // null: each commit is a transaction of its own on `pool` (the CLI).
    GroupCommitter* commits = nullptr;
    // Renews the leases of leased runs (one renewal for all of them each heartbeat, on
    // its own pool); null: leased runs are not renewed (no process runs one without it).
    LeaseRenewer* leases = nullptr;
    const debate::ReceiptKeys* keys = nullptr;
    debate::Engine* engine = nullptr;
    // Receives every stored event in seq order (the hub; the CLI's progress display).
    events::EventSink* publish = nullptr;
    StorageWriteHealth* write_health = nullptr;  // null: not recorded
    ServiceMetrics* metrics = nullptr;           // null: not counted (CLI)
    RunHooks* hooks = nullptr;                   // null: a run on its own (CLI)
    // Failed (never cancelled) debates and crashed run coroutines (Sentry); null: none.
    common::ErrorReporter* errors = nullptr;
    // Set by the owner's shutdown once it gave up waiting: outage retries stop.
    const std::atomic<bool>* abandon_writes = nullptr;
    // Storage outages: retries back off from retry.base doubling to retry.cap; the run
    // stops (failed, storage_unavailable) once its writes have failed for outage_budget.
    resilience::RetryPolicy retry{std::chrono::milliseconds(250), std::chrono::milliseconds(5000)};
    std::chrono::milliseconds outage_budget{30000};
};

// A debate to run.
struct RunInit {
    debate::DebateSpec spec;
    std::vector<std::shared_ptr<agents::Agent>> agents;
    std::string created_at;
    std::string correlation_id = "-";
    std::string spec_json;    // written back with the result ("" keeps the stored one)
    std::string lease_owner;  // "" = no lease
    bool claimed = false;     // claimed from the worker queue: already `running`
};

// How a run ended (valid once done()).
struct RunOutcome {
    enum class Kind {
        kStored,     // its end is stored and debate_end published
        kDiscarded,  // its lease was lost: whoever took it wrote its end
        kReleased,   // shutdown: handed back to the worker queue
        kNotStored,  // no final state could be stored (crash recovery or a reaper ends it)
    };
    Kind kind = Kind::kNotStored;
    storage::DebateRecord record;
    std::optional<storage::ReceiptRecord> receipt;
    debate::DebateResult result;
    common::Error error;  // kNotStored: the last write error
};

// Why a run is stopped.
enum class StopReason {
    kCancel,    // a user (Cancel)
    kTimeout,   // the watchdog: ends failed, code timeout
    kShutdown,  // Drain gave up waiting: a claimed debate goes back to the queue
};

// The pending row of a new debate (status pending).
storage::DebateRecord PendingRecord(const debate::DebateSpec& spec, const std::string& created_at,
                                    std::string spec_json);

// Thread-safety: the public methods may be called from any thread; all state changes
// happen on the run's strand.
class DebateRun : public std::enable_shared_from_this<DebateRun> {
public:
    static std::shared_ptr<DebateRun> Create(boost::asio::any_io_executor executor,
                                             const RunEnvironment& env, RunInit init);

    const std::string& id() const { return init_.spec.id; }
    const RunInit& init() const { return init_; }

    // Leased runs: registers with env.leases, which renews the lease every heartbeat from
    // now (also while it waits for its slot) until the run is done or its lease lost.
    void StartLeaseRenewal();
    // The lease renewer found the lease not held any more (kConflict: `why`). On the
    // strand: a renewal racing the debate's end (its final write, a cancel, the watchdog)
    // is not a lost lease; otherwise the run stops and writes nothing more.
    void OnLeaseLost(std::string why);
    // Admission: the run starts once both happened (any order, any thread).
    void SlotGranted();
    void Persisted();
    // The owner's queue ticket (0 when none), for Cancel and Drain.
    void set_ticket(std::uint64_t ticket) { ticket_.store(ticket); }
    std::uint64_t ticket() const { return ticket_.load(); }

    // Stops the run (any thread, idempotent per reason); it ends as the reason says.
    // A run not started yet ends without running when it starts.
    void Stop(StopReason reason);
    // Ends a run that never started and never will (left the admission queue): stores
    // it cancelled (retried in the background while the storage is out) and completes.
    boost::asio::awaitable<common::Result<storage::DebateRecord>> EndQueued();

    // The steady time it started at (nullopt before). Any thread.
    std::optional<std::chrono::steady_clock::time_point> started_at() const;
    bool timed_out() const { return timed_out_flag_.load(); }

    // Completion: set once the run is over (everything stored or given up, hooks called).
    bool done() const { return done_.IsSet(); }
    boost::asio::awaitable<bool> WaitDone(std::chrono::nanoseconds timeout) {
        return done_.Wait(timeout);
    }
    // Valid once done().
    const RunOutcome& outcome() const { return outcome_; }

    // Runs the debate to its end on the strand without an owner's admission (the CLI):
    // marks it running, runs it and returns its outcome. Cancelling the awaiting
    // coroutine stops it (kCancel). The pending row must be stored.
    boost::asio::awaitable<RunOutcome> RunToEnd();

private:
    class Sink;
    DebateRun(boost::asio::any_io_executor executor, const RunEnvironment& env, RunInit init);

    void Launch();
    boost::asio::awaitable<void> Main();
    boost::asio::awaitable<void> Committer();
    boost::asio::awaitable<common::Result<storage::DebateRecord>> EndQueuedOnStrand();
    boost::asio::awaitable<void> PersistQueuedCancel(storage::DebateRecord record,
                                                     events::Event end);
    boost::asio::awaitable<void> Pause(std::chrono::nanoseconds delay);
    // Strand only.
    void OnEvent(events::Event event);
    void Publish(std::vector<events::Event>& events);
    void EmitCancel();
    void LoseLease(const std::string& why);
    void StopLeaseRenewal();
    // Records a write's outcome; true when this run's writes failed past the budget.
    bool NoteWrite(const common::Error* error);
    void StopForStorage(const std::string& why);
    bool Abandoned() const;
    void Finish(RunOutcome::Kind kind);
    // The start (running, started_at; under the lease) and the final write (result,
    // remaining events, receipt): in the group commit when there is one, else (or when it
    // refuses them unwritten) a transaction of their own on the pool.
    boost::asio::awaitable<common::Result<common::Unit>> MarkRunning();
    boost::asio::awaitable<common::Result<std::optional<storage::ReceiptRecord>>> FinalWrite(
        const storage::DebateRecord& record, const std::vector<events::Event>& events,
        const storage::ReceiptBuilder* receipt);
    bool RefusedByCommitter(const common::Status& status) const;

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    RunEnvironment env_;
    RunInit init_;
    resilience::Backoff backoff_;
    std::atomic<std::uint64_t> ticket_{0};
    std::atomic<std::int64_t> started_ns_{-1};  // steady ns; -1 before the start
    std::atomic<bool> timed_out_flag_{false};
    Completion done_;
    RunOutcome outcome_;

    // Strand only, from here on.
    bool slot_granted_ = false;
    bool persisted_ = false;
    bool launched_ = false;
    bool engine_running_ = false;
    bool cancel_requested_ = false;
    bool timed_out_ = false;
    bool release_on_cancel_ = false;
    bool lease_lost_ = false;
    bool storage_failed_ = false;
    bool finishing_ = false;  // the final write has started
    bool finished_ = false;
    bool renewing_ = false;  // registered with env_.leases
    boost::asio::cancellation_signal cancel_;
    // Group commit: events emitted and not stored yet, in seq order (after those of
    // open_commit_ while it is open).
    std::vector<events::Event> pending_;
    // The commit waiting for a transaction, which takes the events emitted meanwhile
    // until a transaction takes it; commit_open_ while the committer awaits it.
    OpenCommit open_commit_;
    bool commit_open_ = false;
    bool engine_done_ = false;
    bool committer_running_ = false;
    bool committer_idle_ = false;  // waiting on wake_ for events
    boost::asio::steady_timer wake_;
    boost::asio::steady_timer committer_exit_;
    std::optional<std::chrono::steady_clock::time_point> write_failing_since_;
};

}  // namespace aragora::service::run
