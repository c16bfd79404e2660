#pragma once

// A process-wide bound on concurrent outbound connections (the provider calls): each
// HttpClient::Send holds one permit for its whole exchange, so the process never opens
// more sockets than the budget allows (RLIMIT_NOFILE would answer EMFILE and the call
// would fail). A Send beyond the budget waits in a bounded FIFO, each waiter until its
// own deadline; when the FIFO is full the Acquire fails at once (kOverloaded), and the
// debate service refuses new debates while it is full (QueueFull) instead of accepting
// debates whose calls would fail.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace aragora::net {

struct ConnectionBudgetStats {
    std::size_t slots = 0;        // permits in all
    std::size_t max_waiters = 0;  // bound of the wait FIFO
    std::size_t in_use = 0;       // permits held now
    std::size_t waiting = 0;      // Acquire calls waiting now
    std::uint64_t waited = 0;     // Acquire calls that had to wait (monotonic)
    std::uint64_t timeouts = 0;   // ... and reached their deadline first
    std::uint64_t cancelled = 0;  // ... and were cancelled first
    std::uint64_t rejected = 0;   // Acquire calls refused because the FIFO was full
};

// The permit count for this process: `configured` when positive, else 3/4 of the soft
// RLIMIT_NOFILE (the rest stays for inbound connections, idle pooled connections, the
// database and files), at least 16. Pure given `nofile_soft`.
std::size_t DefaultConnectionSlots(std::size_t configured, std::size_t nofile_soft);
// The soft RLIMIT_NOFILE of this process (1024 when it cannot be read).
std::size_t NofileSoftLimit();
// Raises the soft RLIMIT_NOFILE to the hard one (what a server wants; no privilege
// needed). Returns the soft limit in force afterwards.
std::size_t RaiseNofileSoftLimit();

// Thread-safe: Acquire, TryAcquire, ExpireDue and Stats may be called from any thread;
// permits may be released on any thread. Waiters resume on their own executor.
class ConnectionBudget {
    struct State;

public:
    // Holds one slot until destroyed or Release()d (move-only).
    class Permit {
    public:
        Permit() = default;
        Permit(Permit&& other) noexcept = default;
        Permit& operator=(Permit&& other) noexcept;
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;
        ~Permit();
        void Release();
        explicit operator bool() const { return state_ != nullptr; }

    private:
        friend class ConnectionBudget;
        explicit Permit(std::shared_ptr<State> state) : state_(std::move(state)) {}
        std::shared_ptr<State> state_;
    };

    // `slots` >= 1 permits; at most `max_waiters` Acquire calls wait at once. Deadlines
    // are read on `clock` (which must outlive the budget).
    ConnectionBudget(const common::Clock& clock, std::size_t slots, std::size_t max_waiters);
    ~ConnectionBudget();
    ConnectionBudget(const ConnectionBudget&) = delete;
    ConnectionBudget& operator=(const ConnectionBudget&) = delete;

    // A permit at once when one is free and nobody waits; else waits in FIFO order until
    // a permit is released or `max_wait` has passed on the clock. Errors (never thrown):
    // kOverloaded when the FIFO is full (nothing waited), kTimeout at the deadline,
    // kCancelled when the awaiting coroutine's cancellation slot fired. A waiter that
    // leaves (timeout, cancellation, exception) never keeps a slot.
    boost::asio::awaitable<common::Result<Permit>> Acquire(std::chrono::nanoseconds max_wait);

    // A permit when one is free and nobody waits; an empty Permit otherwise.
    Permit TryAcquire();

    // Ends (kTimeout) every wait whose deadline has passed on the clock. Waits also end
    // by themselves at their deadline (a timer of the remaining time); this makes a
    // ManualClock's Advance() take effect without real time passing. Returns how many.
    std::size_t ExpireDue();

    // True when the wait FIFO is full: the next Acquire that cannot get a permit at once
    // is refused.
    bool QueueFull() const;

    ConnectionBudgetStats Stats() const;

private:
    std::shared_ptr<State> state_;
};

}  // namespace aragora::net
