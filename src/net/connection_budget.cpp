#include "net/connection_budget.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <vector>

namespace aragora::net {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Result;

std::size_t DefaultConnectionSlots(std::size_t configured, std::size_t nofile_soft) {
    if (configured > 0) return configured;
    return std::max<std::size_t>(16, nofile_soft / 4 * 3);
}

std::size_t NofileSoftLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1024;
    return static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t RaiseNofileSoftLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);  // best effort: the old limit stays on failure
    }
    return NofileSoftLimit();
}

namespace {

struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : wake(std::move(ex), 1) {}
    // One message (or none): a grant or an expiry wakes the waiting coroutine.
    asio::experimental::concurrent_channel<void(boost::system::error_code)> wake;
    std::chrono::steady_clock::time_point deadline;
    bool queued = true;  // the rest under State::mutex
    bool granted = false;
    bool expired = false;
};

void Wake(const std::vector<std::shared_ptr<Waiter>>& woken) {
    for (const auto& w : woken) w->wake.try_send(boost::system::error_code{});
}

}  // namespace

struct ConnectionBudget::State {
    State(const common::Clock& c, std::size_t s, std::size_t w)
        : clock(c), slots(std::max<std::size_t>(1, s)), max_waiters(w) {}

    // Hands free slots to the oldest waiters; returns them, to be woken unlocked.
    std::vector<std::shared_ptr<Waiter>> GrantLocked() {
        std::vector<std::shared_ptr<Waiter>> woken;
        while (in_use < slots && !queue.empty()) {
            auto w = std::move(queue.front());
            queue.pop_front();
            w->queued = false;
            w->granted = true;
            ++in_use;
            woken.push_back(std::move(w));
        }
        return woken;
    }

    void Release() {
        std::vector<std::shared_ptr<Waiter>> woken;
        {
            std::lock_guard lock(mutex);
            --in_use;
            woken = GrantLocked();
        }
        Wake(woken);
    }

    // A waiter leaving without its permit: out of the FIFO, or its grant given back.
    void Leave(const std::shared_ptr<Waiter>& w) {
        std::vector<std::shared_ptr<Waiter>> woken;
        {
            std::lock_guard lock(mutex);
            if (w->granted) {
                w->granted = false;
                --in_use;
                woken = GrantLocked();
            } else if (w->queued) {
                queue.erase(std::find(queue.begin(), queue.end(), w));
                w->queued = false;
            }
        }
        Wake(woken);
    }

    const common::Clock& clock;
    const std::size_t slots;
    const std::size_t max_waiters;
    mutable std::mutex mutex;
    std::size_t in_use = 0;
    std::deque<std::shared_ptr<Waiter>> queue;
    std::uint64_t waited = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t rejected = 0;
};

ConnectionBudget::Permit& ConnectionBudget::Permit::operator=(Permit&& other) noexcept {
    if (this != &other) {
        Release();
        state_ = std::move(other.state_);
    }
    return *this;
}

ConnectionBudget::Permit::~Permit() { Release(); }

void ConnectionBudget::Permit::Release() {
    if (auto s = std::move(state_)) s->Release();
}

ConnectionBudget::ConnectionBudget(const common::Clock& clock, std::size_t slots,
                                   std::size_t max_waiters)
    : state_(std::make_shared<State>(clock, slots, max_waiters)) {}

ConnectionBudget::~ConnectionBudget() = default;

ConnectionBudget::Permit ConnectionBudget::TryAcquire() {
    std::lock_guard lock(state_->mutex);
    if (state_->in_use >= state_->slots || !state_->queue.empty()) return Permit();
    ++state_->in_use;
    return Permit(state_);
}

asio::awaitable<Result<ConnectionBudget::Permit>> ConnectionBudget::Acquire(
    std::chrono::nanoseconds max_wait) {
    if (Permit now = TryAcquire()) co_return now;
    auto ex = co_await asio::this_coro::executor;
    auto w = std::make_shared<Waiter>(ex);
    {
        std::lock_guard lock(state_->mutex);
        if (state_->queue.size() >= state_->max_waiters) {
            ++state_->rejected;
            co_return MakeError(ErrorCode::kOverloaded,
                                "provider connection budget exhausted: " +
                                    std::to_string(state_->in_use) + " connections in use and " +
                                    std::to_string(state_->queue.size()) + " calls waiting");
        }
        if (max_wait <= std::chrono::nanoseconds::zero()) {
            ++state_->timeouts;
            co_return MakeError(ErrorCode::kTimeout,
                                "no provider connection free within the call's deadline");
        }
        w->deadline = state_->clock.SteadyNow() + max_wait;
        state_->queue.push_back(w);
        ++state_->waited;
    }
    // Whatever ends the wait (a grant, the deadline, a cancellation, an exception thrown
    // by a cancelled coroutine's next co_await), the slot or the FIFO entry is given back
    // unless the permit was handed out.
    struct Guard {
        State* state;
        std::shared_ptr<Waiter> waiter;
        bool keep = false;
        ~Guard() {
            if (!keep) state->Leave(waiter);
        }
    } guard{state_.get(), w};
    asio::steady_timer timer(ex, max_wait);
    auto receive = w->wake.async_receive(asio::deferred);
    auto expire = timer.async_wait(asio::deferred);
    auto group = asio::experimental::make_parallel_group(std::move(receive), std::move(expire));
    auto [order, receive_ec, timer_ec] =
        co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    std::lock_guard lock(state_->mutex);
    if (w->granted) {
        w->granted = false;
        guard.keep = true;
        co_return Permit(state_);
    }
    const bool timer_fired = order[0] == 1 && !timer_ec;
    if (w->expired || timer_fired) {
        ++state_->timeouts;
        co_return MakeError(ErrorCode::kTimeout,
                            "no provider connection free within the call's deadline");
    }
    ++state_->cancelled;
    co_return MakeError(ErrorCode::kCancelled, "cancelled while waiting for a provider connection");
}

std::size_t ConnectionBudget::ExpireDue() {
    std::vector<std::shared_ptr<Waiter>> expired;
    {
        std::lock_guard lock(state_->mutex);
        const auto now = state_->clock.SteadyNow();
        for (auto it = state_->queue.begin(); it != state_->queue.end();) {
            if ((*it)->deadline <= now) {
                (*it)->queued = false;
                (*it)->expired = true;
                expired.push_back(std::move(*it));
                it = state_->queue.erase(it);
            } else {
                ++it;
            }
        }
    }
    Wake(expired);
    return expired.size();
}

bool ConnectionBudget::QueueFull() const {
    std::lock_guard lock(state_->mutex);
    return state_->queue.size() >= state_->max_waiters;
}

ConnectionBudgetStats ConnectionBudget::Stats() const {
    std::lock_guard lock(state_->mutex);
    ConnectionBudgetStats s;
    s.slots = state_->slots;
    s.max_waiters = state_->max_waiters;
    s.in_use = state_->in_use;
    s.waiting = state_->queue.size();
    s.waited = state_->waited;
    s.timeouts = state_->timeouts;
    s.cancelled = state_->cancelled;
    s.rejected = state_->rejected;
    return s;
}

}  // namespace aragora::net
