// net::ConnectionBudget on a ManualClock: waiters in FIFO order, deadlines taken from the
// clock (ExpireDue), slots given back when a holder fails or a waiter is cancelled, and the
// bounded wait FIFO. The io_context is polled, never run against real time.

#include "net/connection_budget.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>

namespace aragora::net {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using std::chrono::hours;
using std::chrono::seconds;

// Runs what is ready (an io_context that ran out of work must be restarted first).
void Poll(asio::io_context& ioc) {
    ioc.restart();
    ioc.poll();
}

// One Acquire in flight; its outcome lands in `result` when it completes.
struct Pending {
    std::optional<common::Result<ConnectionBudget::Permit>> result;
    bool done() const { return result.has_value(); }
};

std::shared_ptr<Pending> Start(asio::io_context& ioc, ConnectionBudget& budget,
                               std::chrono::nanoseconds wait,
                               asio::cancellation_signal* cancel = nullptr) {
    auto p = std::make_shared<Pending>();
    auto done = [p](std::exception_ptr e, common::Result<ConnectionBudget::Permit> r) {
        if (e) std::rethrow_exception(e);
        p->result.emplace(std::move(r));
    };
    if (cancel != nullptr) {
        asio::co_spawn(ioc, budget.Acquire(wait),
                       asio::bind_cancellation_slot(cancel->slot(), std::move(done)));
    } else {
        asio::co_spawn(ioc, budget.Acquire(wait), std::move(done));
    }
    Poll(ioc);
    return p;
}

TEST(ConnectionBudgetTest, WaitersGetReleasedSlotsInArrivalOrder) {
    asio::io_context ioc;
    common::ManualClock clock;
    ConnectionBudget budget(clock, 2, 8);
    auto a = Start(ioc, budget, hours(1));
    auto b = Start(ioc, budget, hours(1));
    ASSERT_TRUE(a->done() && a->result->ok());
    ASSERT_TRUE(b->done() && b->result->ok());
    EXPECT_FALSE(budget.TryAcquire());  // full
    auto c = Start(ioc, budget, hours(1));
    auto d = Start(ioc, budget, hours(1));
    EXPECT_FALSE(c->done());
    EXPECT_FALSE(d->done());
    EXPECT_EQ(budget.Stats().waiting, 2u);
    EXPECT_EQ(budget.Stats().in_use, 2u);
    // A holder ends (its call failed or completed): the oldest waiter gets the slot.
    a->result->value().Release();
    Poll(ioc);
    ASSERT_TRUE(c->done());
    ASSERT_TRUE(c->result->ok());
    EXPECT_FALSE(d->done());
    EXPECT_EQ(budget.Stats().in_use, 2u);
    // A permit destroyed without Release() gives its slot back too.
    b->result.reset();
    Poll(ioc);
    ASSERT_TRUE(d->done());
    EXPECT_TRUE(d->result->ok());
    EXPECT_EQ(budget.Stats().waiting, 0u);
    EXPECT_EQ(budget.Stats().waited, 2u);
    c->result.reset();
    d->result.reset();
    EXPECT_EQ(budget.Stats().in_use, 0u);
}

TEST(ConnectionBudgetTest, AWaitEndsAtItsDeadlineOnTheClockWithoutTakingASlot) {
    asio::io_context ioc;
    common::ManualClock clock;
    ConnectionBudget budget(clock, 1, 8);
    auto held = budget.TryAcquire();
    ASSERT_TRUE(held);
    auto early = Start(ioc, budget, seconds(10));
    auto late = Start(ioc, budget, seconds(30));
    clock.Advance(seconds(9));
    EXPECT_EQ(budget.ExpireDue(), 0u);
    Poll(ioc);
    EXPECT_FALSE(early->done());
    clock.Advance(seconds(2));
    EXPECT_EQ(budget.ExpireDue(), 1u);
    Poll(ioc);
    ASSERT_TRUE(early->done());
    ASSERT_FALSE(early->result->ok());
    EXPECT_EQ(early->result->error().code, ErrorCode::kTimeout);
    EXPECT_FALSE(late->done());
    EXPECT_EQ(budget.Stats().timeouts, 1u);
    // The slot goes to the waiter still within its deadline, not to the expired one.
    held.Release();
    Poll(ioc);
    ASSERT_TRUE(late->done());
    EXPECT_TRUE(late->result->ok());
    // A zero wait on a full budget times out at once.
    auto none = Start(ioc, budget, std::chrono::nanoseconds(0));
    ASSERT_TRUE(none->done());
    EXPECT_EQ(none->result->error().code, ErrorCode::kTimeout);
}

TEST(ConnectionBudgetTest, ACancelledWaiterLeavesTheQueueAndNeverHoldsASlot) {
    asio::io_context ioc;
    common::ManualClock clock;
    ConnectionBudget budget(clock, 1, 8);
    auto held = budget.TryAcquire();
    asio::cancellation_signal cancel;
    auto cancelled = Start(ioc, budget, hours(1), &cancel);
    auto next = Start(ioc, budget, hours(1));
    EXPECT_EQ(budget.Stats().waiting, 2u);
    cancel.emit(asio::cancellation_type::terminal);
    Poll(ioc);
    ASSERT_TRUE(cancelled->done());
    ASSERT_FALSE(cancelled->result->ok());
    EXPECT_EQ(cancelled->result->error().code, ErrorCode::kCancelled);
    EXPECT_EQ(budget.Stats().waiting, 1u);
    EXPECT_EQ(budget.Stats().cancelled, 1u);
    held.Release();
    Poll(ioc);
    ASSERT_TRUE(next->done());
    EXPECT_TRUE(next->result->ok());
    EXPECT_EQ(budget.Stats().in_use, 1u);
}

TEST(ConnectionBudgetTest, AFullWaitQueueRefusesAtOnce) {
    asio::io_context ioc;
    common::ManualClock clock;
    ConnectionBudget budget(clock, 1, 2);
    auto held = budget.TryAcquire();
    auto w1 = Start(ioc, budget, hours(1));
    EXPECT_FALSE(budget.QueueFull());
    auto w2 = Start(ioc, budget, hours(1));
    EXPECT_TRUE(budget.QueueFull());
    auto refused = Start(ioc, budget, hours(1));
    ASSERT_TRUE(refused->done());
    ASSERT_FALSE(refused->result->ok());
    EXPECT_EQ(refused->result->error().code, ErrorCode::kOverloaded);
    EXPECT_EQ(budget.Stats().rejected, 1u);
    EXPECT_EQ(budget.Stats().waiting, 2u);
    held.Release();
    Poll(ioc);
    EXPECT_TRUE(w1->done());
    EXPECT_FALSE(budget.QueueFull());
    w1->result.reset();
    Poll(ioc);
    EXPECT_TRUE(w2->done());
}

TEST(ConnectionBudgetTest, DefaultSlotsFollowTheDescriptorLimit) {
    EXPECT_EQ(DefaultConnectionSlots(0, 20000), 15000u);
    EXPECT_EQ(DefaultConnectionSlots(0, 1024), 768u);
    EXPECT_EQ(DefaultConnectionSlots(0, 8), 16u);
    EXPECT_EQ(DefaultConnectionSlots(500, 20000), 500u);  // ARAGORA_PROVIDER_CONNECTIONS
    EXPECT_GE(RaiseNofileSoftLimit(), NofileSoftLimit() > 0 ? 1u : 0u);
}

}  // namespace
}  // namespace aragora::net
