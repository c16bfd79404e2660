#pragma once

// A counting cap with a bounded FIFO wait queue, e.g. ARAGORA_MAX_CONCURRENT_DEBATES
// (running cap) plus a bounded pending queue. Non-blocking: nobody waits on a
// condition variable; a queued request is resumed through the callback it left.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace aragora::resilience {

enum class AcquireOutcome {
    kAcquired,  // a slot is held now; call Release() when done
    kQueued,    // waiting; the callback runs when a slot is handed over
    kRejected,  // running cap reached and queue full (or queueing not requested)
};

struct AcquireResult {
    AcquireOutcome outcome = AcquireOutcome::kRejected;
    std::uint64_t ticket = 0;  // kQueued: identifies the waiter (Cancel, Position)
    std::size_t position = 0;  // kQueued: 1-based place in the queue when enqueued
};

// Thread-safe (one mutex, never held while a callback runs).
class ConcurrencyLimiter {
public:
    // Runs once when a queued request is given a slot, on the thread that called
    // Release(), without the limiter's lock held (it may call back into the limiter).
    // From then on the request holds the slot and must Release() it eventually.
    using OnAcquired = std::function<void()>;

    ConcurrencyLimiter(std::size_t max_running, std::size_t max_queued);
    ConcurrencyLimiter(const ConcurrencyLimiter&) = delete;
    ConcurrencyLimiter& operator=(const ConcurrencyLimiter&) = delete;

    // Takes a slot if one is free (the callback is then dropped, not called).
    // Otherwise queues `on_acquired` if it is non-empty and the queue has room, else
    // rejects. Queued requests are served strictly in FIFO order, and a free slot is
    // never taken by a newcomer while someone is queued.
    AcquireResult TryAcquire(OnAcquired on_acquired = {});

    // Gives the slot back, or hands it straight to the oldest waiter (whose callback
    // then runs here). Releasing with no slot held is a programming error (asserts
    // in debug builds, ignored otherwise).
    void Release();

    // Removes a queued waiter without calling it. False when the ticket is not queued
    // (unknown, already promoted or already cancelled).
    bool Cancel(std::uint64_t ticket);

    // Current 1-based place of a queued ticket; empty when it is not queued.
    std::optional<std::size_t> Position(std::uint64_t ticket) const;

    std::size_t Running() const;
    std::size_t Queued() const;
    std::size_t MaxRunning() const { return max_running_; }
    std::size_t MaxQueued() const { return max_queued_; }

private:
    struct Waiter {
        std::uint64_t ticket;
        OnAcquired on_acquired;
    };

    const std::size_t max_running_;
    const std::size_t max_queued_;
    mutable std::mutex mu_;
    std::size_t running_ = 0;
    std::uint64_t next_ticket_ = 1;
    std::deque<Waiter> queue_;
};

}  // namespace aragora::resilience
