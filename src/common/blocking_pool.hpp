#pragma once

// Runs blocking work (SQLite, libpq, file I/O) off the I/O threads on a fixed
// thread pool with a bounded number of queued jobs, and lets coroutines await it.

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/result.hpp"

namespace aragora::common {

class BlockingPool {
   public:
    // `threads` workers; at most `max_pending` jobs queued or running at once.
    BlockingPool(std::size_t threads, std::size_t max_pending)
        : pool_(threads), max_pending_(max_pending) {}
    ~BlockingPool() { Stop(); }
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    // Waits for running jobs to finish; later Run() calls fail with kUnavailable.
    void Stop() {
        stopped_ = true;
        pool_.join();
    }

    std::size_t Pending() const { return pending_.load(); }
    std::size_t Rejected() const { return rejected_.load(); }

    // Runs `fn` (returning Result<T>) on the pool; the awaiting coroutine resumes on
    // its own executor. When the pool is full or stopped, answers an error at once.
    template <typename F, typename R = std::invoke_result_t<F>>
    boost::asio::awaitable<R> Run(F fn) {
        if (stopped_) co_return Error{ErrorCode::kUnavailable, "blocking pool stopped", {}};
        if (pending_.fetch_add(1) >= max_pending_) {
            pending_.fetch_sub(1);
            rejected_.fetch_add(1);
            co_return Error{ErrorCode::kOverloaded, "blocking pool queue full", {}};
        }
        auto initiate = [this, fn = std::move(fn)](auto handler) mutable {
            auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
            boost::asio::post(pool_, [this, fn = std::move(fn), handler = std::move(handler),
                                      work = std::move(work)]() mutable {
                std::optional<R> out;
                std::exception_ptr ep;
                try {
                    out.emplace(fn());
                } catch (...) {
                    ep = std::current_exception();
                }
                pending_.fetch_sub(1);
                auto ex = work.get_executor();
                boost::asio::post(ex, [handler = std::move(handler), out = std::move(out),
                                       ep]() mutable {
                    if (ep) {
                        std::move(handler)(ep, R(Error{ErrorCode::kInternal,
                                                       "exception on blocking pool", {}}));
                    } else {
                        std::move(handler)(nullptr, std::move(*out));
                    }
                });
            });
        };
        co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                       void(std::exception_ptr, R)>(
            std::move(initiate), boost::asio::use_awaitable);
    }

   private:
    boost::asio::thread_pool pool_;
    std::size_t max_pending_;
    std::atomic<std::size_t> pending_{0};
    std::atomic<std::size_t> rejected_{0};
    std::atomic<bool> stopped_{false};
};

}  // namespace aragora::common
