#pragma once

// A one-shot completion signal that any number of coroutines await, each with its own
// deadline: what Cancel, Drain and shutdown wait on instead of polling.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <chrono>

namespace aragora::service::run {

// Thread-safe: Set() and Wait() may be called from any thread, concurrently.
class Completion {
public:
    explicit Completion(boost::asio::any_io_executor executor);

    // Completes every current and future Wait(). Idempotent.
    void Set();
    bool IsSet() const { return set_.load(std::memory_order_acquire); }

    // Resumes (on the caller's executor) once Set() was called or `timeout` has passed,
    // whichever comes first; true when set. The object must outlive the wait.
    boost::asio::awaitable<bool> Wait(std::chrono::nanoseconds timeout);

private:
    std::atomic<bool> set_{false};
    // Never carries a message: closing it wakes every receiver at once.
    boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> channel_;
};

}  // namespace aragora::service::run
