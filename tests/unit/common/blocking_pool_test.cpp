#include "common/blocking_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace aragora::common {
namespace {

namespace asio = boost::asio;

// Spawns `aw` on `io`; the result lands in `out` when the coroutine finishes.
template <typename T>
void Spawn(asio::io_context& io, asio::awaitable<Result<T>> aw, std::optional<Result<T>>& out) {
    asio::co_spawn(io, std::move(aw), [&out](std::exception_ptr ep, Result<T> r) {
        if (ep) std::rethrow_exception(ep);
        out.emplace(std::move(r));
    });
}

// Runs the ready handlers of `io` without waiting for outstanding work.
void Poll(asio::io_context& io) {
    io.restart();
    io.poll();
}

TEST(BlockingPoolTest, ResumesOnTheIoThreadAndReturnsTheResult) {
    asio::io_context io;
    BlockingPool pool(2, 8);
    const auto io_thread = std::this_thread::get_id();  // io.run() below runs on this thread
    std::thread::id before, inside, after;
    std::optional<Result<std::string>> out;

    auto coro = [&]() -> asio::awaitable<Result<std::string>> {
        before = std::this_thread::get_id();
        auto r = co_await pool.Run([&]() -> Result<std::string> {
            inside = std::this_thread::get_id();
            return std::string("from the pool");
        });
        after = std::this_thread::get_id();
        co_return r;
    };
    Spawn(io, coro(), out);
    io.run();  // returns only once the coroutine finished: the pending job keeps io alive

    ASSERT_TRUE(out.has_value());
    ASSERT_TRUE(out->ok());
    EXPECT_EQ(out->value(), "from the pool");
    EXPECT_EQ(before, io_thread);
    EXPECT_EQ(after, io_thread);
    EXPECT_NE(inside, io_thread);
    EXPECT_NE(inside, std::thread::id{});
    EXPECT_EQ(pool.Pending(), 0u);
}

TEST(BlockingPoolTest, ErrorValuesComeBackUnchanged) {
    asio::io_context io;
    BlockingPool pool(1, 4);
    std::optional<Result<int>> out;
    Spawn(io, pool.Run([]() -> Result<int> { return MakeError(ErrorCode::kNotFound, "nope"); }),
          out);
    io.run();
    ASSERT_TRUE(out.has_value());
    ASSERT_FALSE(out->ok());
    EXPECT_EQ(out->error().code, ErrorCode::kNotFound);
    EXPECT_EQ(out->error().message, "nope");
}

TEST(BlockingPoolTest, ThirdConcurrentJobIsRejectedWhenTheQueueIsFull) {
    asio::io_context io;
    BlockingPool pool(1, 2);
    std::promise<void> a_started;
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();

    std::optional<Result<int>> a, b, c;
    Spawn(io, pool.Run([&]() -> Result<int> {
        a_started.set_value();
        gate.wait();
        return 1;
    }),
          a);
    Poll(io);
    a_started.get_future().wait();  // the only worker is now busy with A
    EXPECT_EQ(pool.Pending(), 1u);

    Spawn(io, pool.Run([]() -> Result<int> { return 2; }), b);
    Poll(io);
    EXPECT_EQ(pool.Pending(), 2u);  // B is queued behind A

    bool c_ran = false;
    Spawn(io, pool.Run([&]() -> Result<int> {
        c_ran = true;
        return 3;
    }),
          c);
    Poll(io);
    ASSERT_TRUE(c.has_value());  // answered at once, without waiting for A or B
    ASSERT_FALSE(c->ok());
    EXPECT_EQ(c->error().code, ErrorCode::kOverloaded);
    EXPECT_EQ(pool.Rejected(), 1u);
    EXPECT_FALSE(a.has_value());
    EXPECT_FALSE(b.has_value());

    release.set_value();
    io.restart();
    io.run();
    ASSERT_TRUE(a.has_value() && a->ok());
    ASSERT_TRUE(b.has_value() && b->ok());
    EXPECT_EQ(a->value(), 1);
    EXPECT_EQ(b->value(), 2);
    EXPECT_FALSE(c_ran);
    EXPECT_EQ(pool.Pending(), 0u);
}

TEST(BlockingPoolTest, RunAfterStopIsUnavailable) {
    asio::io_context io;
    BlockingPool pool(1, 4);
    pool.Stop();
    bool ran = false;
    std::optional<Result<int>> out;
    Spawn(io, pool.Run([&]() -> Result<int> {
        ran = true;
        return 1;
    }),
          out);
    io.run();
    ASSERT_TRUE(out.has_value());
    ASSERT_FALSE(out->ok());
    EXPECT_EQ(out->error().code, ErrorCode::kUnavailable);
    EXPECT_FALSE(ran);
    EXPECT_EQ(pool.Pending(), 0u);
}

TEST(BlockingPoolTest, StopFinishesAcceptedJobsAndDeliversTheirResults) {
    asio::io_context io;
    BlockingPool pool(1, 4);
    std::promise<void> a_started;
    std::promise<void> release;
    std::shared_future<void> gate = release.get_future().share();
    std::atomic<bool> a_done{false}, b_done{false};

    std::optional<Result<int>> a, b;
    Spawn(io, pool.Run([&]() -> Result<int> {
        a_started.set_value();
        gate.wait();
        a_done = true;
        return 1;
    }),
          a);
    Spawn(io, pool.Run([&]() -> Result<int> {
        b_done = true;
        return 2;
    }),
          b);
    Poll(io);
    a_started.get_future().wait();

    std::thread stopper([&] { pool.Stop(); });
    release.set_value();
    stopper.join();
    // Stop() returned, so both accepted jobs ran (B was still queued when it was called).
    EXPECT_TRUE(a_done);
    EXPECT_TRUE(b_done);

    io.restart();
    io.run();
    ASSERT_TRUE(a.has_value() && a->ok());
    ASSERT_TRUE(b.has_value() && b->ok());
    EXPECT_EQ(a->value(), 1);
    EXPECT_EQ(b->value(), 2);
}

TEST(BlockingPoolTest, ExceptionInJobIsRethrownInTheAwaitingCoroutine) {
    asio::io_context io;
    BlockingPool pool(1, 4);
    std::string caught;
    std::thread::id resumed_on;
    auto coro = [&]() -> asio::awaitable<void> {
        try {
            auto r = co_await pool.Run([]() -> Result<int> { throw std::runtime_error("boom"); });
            ADD_FAILURE() << "expected an exception, got ok=" << r.ok();
        } catch (const std::runtime_error& e) {
            caught = e.what();
            resumed_on = std::this_thread::get_id();
        }
    };
    asio::co_spawn(io, coro(), [](std::exception_ptr ep) {
        if (ep) std::rethrow_exception(ep);
    });
    io.run();
    EXPECT_EQ(caught, "boom");
    EXPECT_EQ(resumed_on, std::this_thread::get_id());
    EXPECT_EQ(pool.Pending(), 0u);

    // The pool keeps working after a job threw.
    std::optional<Result<int>> out;
    Spawn(io, pool.Run([]() -> Result<int> { return 7; }), out);
    io.restart();
    io.run();
    ASSERT_TRUE(out.has_value() && out->ok());
    EXPECT_EQ(out->value(), 7);
}

}  // namespace
}  // namespace aragora::common
