#pragma once

// Group commit across debates: the one queue through which every DebateRun of a process
// stores its pending events. Whatever the runs ask to commit while the store's previous
// transaction runs goes into the next one (Store::AppendEventBatches), so the number of
// transactions follows the store's speed, not the number of debates in flight; each run
// resumes once its own events are durable (or failed: then with its own error). A run's
// start and its final write go through the same queue (Store::WriteDebateBatches).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "events/event.hpp"
#include "storage/store.hpp"

namespace aragora::service::run {

struct GroupCommitOptions {
    // Transactions at once, each on a thread of the committer's own pool: 1 for SQLite
    // (one writer), a few for PostgreSQL (each on its own pooled connection). >= 1.
    std::size_t max_in_flight = 1;
    // Commits waiting for a transaction, at most. One run has at most one commit waiting
    // or in flight, so this is sized to the runs a process admits; a commit beyond it is
    // answered kOverloaded at once (the run keeps its events and retries after its
    // backoff): the queue never grows without bound. >= 1.
    std::size_t max_waiting = 4096;
    // Events one transaction takes at most; the commits beyond wait for the next one. A
    // single larger commit goes alone (never split). >= 1.
    std::size_t max_batch_events = 4096;
    // A commit still waiting this long after it was asked (the injected clock) is
    // answered kTimeout when its turn comes, unwritten (the run retries it).
    std::chrono::milliseconds queue_deadline{30000};
};

// Totals since start (any thread).
struct GroupCommitStats {
    std::uint64_t transactions = 0;  // Store::WriteDebateBatches calls
    std::uint64_t commits = 0;       // runs' commits written or failed by a transaction
    std::uint64_t events = 0;        // events those commits carried
    std::uint64_t failed = 0;        // commits answered with an error by the store
    std::uint64_t rejected = 0;      // kOverloaded (queue full) or kUnavailable (stopped)
    std::uint64_t expired = 0;       // kTimeout: waited past queue_deadline
    std::size_t waiting = 0;         // now
    std::size_t in_flight = 0;       // transactions now
};

// One run's commit that may still grow while it waits for a transaction: the run appends
// the events it emits meanwhile (Append, on its strand) until a transaction takes the
// commit, so they are stored by the transaction they would otherwise have waited behind,
// and the run makes one commit where it made two. Once a transaction took it (or it was
// answered unwritten), Append refuses and the run keeps the event for its next commit:
// the events a commit stores are fixed when its transaction starts, so what the run
// publishes after a successful commit is exactly what was stored.
class OpenCommit {
public:
    // Owner: the commit's first events, before GroupCommitter::Commit(OpenCommit&). Not
    // while a commit of it waits.
    void Open(std::vector<events::Event> events);
    // Owner: moves `e` into the waiting commit; false (`e` untouched) once it is closed.
    bool Append(events::Event& e);
    // Owner, once the commit resumed: every event it carried (appended ones included), in
    // the order given.
    std::vector<events::Event> Take();

private:
    friend class GroupCommitter;
    // Committer: closes it and returns its events when they fit in `room` (or it is the
    // transaction's `first` commit, which goes whatever its size); else nullopt, open.
    std::optional<std::span<const events::Event>> CloseIfFits(std::size_t room, bool first);
    void Close();

    std::mutex mu_;
    bool closed_ = true;
    std::vector<events::Event> events_;
};

// Thread-safety: Commit(), Stop() and Stats() may be called from any thread. The store
// and clock outlive the committer; the destructor stops it and waits for the transaction
// in flight (blocking: call it from shutdown code, not from an I/O thread).
class GroupCommitter {
public:
    // The transactions run on the committer's own threads (max_in_flight of them).
    GroupCommitter(storage::Store& store, const common::Clock& clock, GroupCommitOptions options);
    ~GroupCommitter();
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // Stores `events` (one debate's, in seq order, not empty) in the next transaction,
    // under `lease_owner`'s lease ("" = none), and resumes on the caller's executor once
    // the transaction ended: ok when they are durable, else the error of this commit
    // (Store::AppendEventBatches' status for it), kOverloaded (queue full), kTimeout
    // (waited past the deadline) or kUnavailable (stopped). `events` and `lease_owner`
    // must stay valid and unchanged until it resumes (they live in the caller's frame).
    // A run awaits one commit at a time, so its commits are stored in seq order.
    boost::asio::awaitable<common::Status> Commit(const std::vector<events::Event>& events,
                                                  const std::string& lease_owner);
    // The same for a batch that may also start or finish its debate
    // (Store::WriteDebateBatches): the start or final write shares the transaction with
    // the other runs' commits; a final write's receipt goes to batch.stored_receipt. Every
    // view of `batch` (and `batch` itself) stays valid until it resumes.
    boost::asio::awaitable<common::Status> Commit(const storage::DebateBatch& batch);
    // The same for `commit`'s events (OpenCommit::Open), which may grow until the
    // transaction that stores them takes them; `commit` and `lease_owner` stay valid
    // until it resumes, and the caller then reads the events with commit.Take().
    boost::asio::awaitable<common::Status> Commit(OpenCommit& commit,
                                                  const std::string& lease_owner);

    // True once Stop() was called (commits are refused).
    bool stopped() const;

    // Answers every waiting commit kUnavailable and refuses new ones; the transactions in
    // flight end normally (their commits get their real outcome). Idempotent; does not
    // block.
    void Stop();

    // Stop(), then wait for the transactions in flight. Idempotent. The destructor does the
    // same; the owner calls it first so that the last reference (a metrics scrape may hold
    // one briefly) never waits on an I/O thread.
    void Join();

    GroupCommitStats Stats() const;

private:
    boost::asio::awaitable<common::Status> Commit(const storage::DebateBatch& batch,
                                                  OpenCommit* open);

    struct Core;  // the queue and its threads
    std::unique_ptr<Core> core_;
};

}  // namespace aragora::service::run
