#include "resilience/concurrency_limiter.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace aragora::resilience {

ConcurrencyLimiter::ConcurrencyLimiter(std::size_t max_running, std::size_t max_queued)
    : max_running_(max_running), max_queued_(max_queued) {}

AcquireResult ConcurrencyLimiter::TryAcquire(OnAcquired on_acquired) {
    std::lock_guard lock(mu_);
    // Release() hands slots to waiters directly, so a free slot implies an empty queue.
    if (running_ < max_running_) {
        ++running_;
        return {AcquireOutcome::kAcquired, 0, 0};
    }
    if (!on_acquired || queue_.size() >= max_queued_) return {AcquireOutcome::kRejected, 0, 0};
    const std::uint64_t ticket = next_ticket_++;
    queue_.push_back({ticket, std::move(on_acquired)});
    return {AcquireOutcome::kQueued, ticket, queue_.size()};
}

void ConcurrencyLimiter::Release() {
    OnAcquired promoted;
    {
        std::lock_guard lock(mu_);
        assert(running_ > 0 && "ConcurrencyLimiter::Release without a held slot");
        if (running_ == 0) return;
        if (queue_.empty()) {
            --running_;
            return;
        }
        // The slot passes to the oldest waiter: running_ is unchanged.
        promoted = std::move(queue_.front().on_acquired);
        queue_.pop_front();
    }
    promoted();
}

bool ConcurrencyLimiter::Cancel(std::uint64_t ticket) {
    std::lock_guard lock(mu_);
    auto it = std::find_if(queue_.begin(), queue_.end(),
                           [ticket](const Waiter& w) { return w.ticket == ticket; });
    if (it == queue_.end()) return false;
    queue_.erase(it);
    return true;
}

std::optional<std::size_t> ConcurrencyLimiter::Position(std::uint64_t ticket) const {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < queue_.size(); ++i) {
        if (queue_[i].ticket == ticket) return i + 1;
    }
    return std::nullopt;
}

std::size_t ConcurrencyLimiter::Running() const {
    std::lock_guard lock(mu_);
    return running_;
}

std::size_t ConcurrencyLimiter::Queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

}  // namespace aragora::resilience
