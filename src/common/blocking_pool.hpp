#pragma once

// Runs blocking work (SQLite, libpq, file I/O) off the I/O threads on a fixed
// thread pool with a bounded number of queued jobs, and lets coroutines await it.

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/result.hpp"

namespace aragora::common {

// Thread-safety: Run(), Pending() and Rejected() may be called from any thread.
// Stop() blocks; call it from shutdown code, never from an I/O thread or a pool job.
// The pool must outlive every coroutine awaiting Run().
class BlockingPool {
public:
    // `threads` workers; at most `max_pending` jobs queued or running at once.
    BlockingPool(std::size_t threads, std::size_t max_pending)
        : pool_(threads), max_pending_(max_pending) {}
    ~BlockingPool() { Stop(); }
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    // Waits until every accepted job (queued or running) has finished and its result
    // has been posted to its awaiter; later Run() calls fail with kUnavailable.
    // Idempotent.
    void Stop() {
        {
            std::lock_guard lock(mu_);
            stopped_ = true;
        }
        std::lock_guard join_lock(join_mu_);
        pool_.join();
    }

    std::size_t Pending() const { return pending_.load(); }
    std::size_t Rejected() const { return rejected_.load(); }

    // Runs `fn` (returning Result<T>) on the pool; the awaiting coroutine resumes on
    // its own executor (never on a pool thread). When the pool is full (kOverloaded)
    // or stopped (kUnavailable), answers that error at once without running `fn`.
    //
    // Errors are values, but an exception thrown by `fn` is a bug, not an expected
    // failure: it is rethrown in the awaiting coroutine (type and message intact) so
    // that the coroutine's top-level backstop logs and counts it.
    template <typename F, typename R = std::invoke_result_t<F&>>
    boost::asio::awaitable<R> Run(F fn) {
        static_assert(std::is_constructible_v<R, Error>, "fn must return common::Result<T>");
        if (stopped_.load()) co_return StoppedError();
        if (pending_.fetch_add(1) >= max_pending_) {
            pending_.fetch_sub(1);
            rejected_.fetch_add(1);
            co_return Error{ErrorCode::kOverloaded, "blocking pool queue full", {}};
        }
        auto initiate = [this, fn = std::move(fn)](auto handler) mutable {
            auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
            // Checking `stopped_` and posting under one lock closes the race with Stop():
            // a job posted after join() would never run and its awaiter would hang.
            std::unique_lock lock(mu_);
            if (stopped_) {
                lock.unlock();
                pending_.fetch_sub(1);
                auto ex = work.get_executor();
                boost::asio::post(ex, [handler = std::move(handler)]() mutable {
                    std::move(handler)(nullptr, R(StoppedError()));
                });
                return;
            }
            boost::asio::post(pool_, [this, fn = std::move(fn), handler = std::move(handler),
                                      work = std::move(work)]() mutable {
                std::optional<R> out;
                std::exception_ptr ep;
                try {
                    out.emplace(fn());
                } catch (...) {
                    ep = std::current_exception();  // rethrown in the awaiting coroutine
                }
                pending_.fetch_sub(1);
                auto ex = work.get_executor();
                boost::asio::post(ex, [handler = std::move(handler), out = std::move(out),
                                       ep]() mutable {
                    if (ep) {
                        std::move(handler)(
                            ep, R(Error{ErrorCode::kInternal, "exception on blocking pool", {}}));
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
    static Error StoppedError() {
        return Error{ErrorCode::kUnavailable, "blocking pool stopped", {}};
    }

    boost::asio::thread_pool pool_;
    std::size_t max_pending_;
    std::atomic<std::size_t> pending_{0};
    std::atomic<std::size_t> rejected_{0};
    std::atomic<bool> stopped_{false};
    std::mutex mu_;       // orders Stop() against the post in Run()
    std::mutex join_mu_;  // concurrent Stop() calls join once
};

}  // namespace aragora::common
