#include "service/run/completion.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace aragora::service::run {

namespace asio = boost::asio;

Completion::Completion(asio::any_io_executor executor) : channel_(std::move(executor), 0) {}

void Completion::Set() {
    if (set_.exchange(true, std::memory_order_acq_rel)) return;
    channel_.close();
}

asio::awaitable<bool> Completion::Wait(std::chrono::nanoseconds timeout) {
    if (IsSet()) co_return true;
    if (timeout <= std::chrono::nanoseconds::zero()) co_return IsSet();
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, timeout);
    // A receive on the closed channel completes at once; one started before Set() is
    // woken by the close. The timer bounds the wait.
    auto receive = channel_.async_receive(asio::deferred);
    auto expire = timer.async_wait(asio::deferred);
    auto group = asio::experimental::make_parallel_group(std::move(receive), std::move(expire));
    co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    co_return IsSet();
}

}  // namespace aragora::service::run
