#include "resilience/concurrency_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace aragora::resilience {
namespace {

TEST(ConcurrencyLimiterTest, AcceptsQueuesThenRejects) {
    ConcurrencyLimiter limiter(2, 2);
    std::vector<std::string> started;
    auto starter = [&](std::string name) { return [&started, name] { started.push_back(name); }; };

    EXPECT_EQ(limiter.TryAcquire(starter("a")).outcome, AcquireOutcome::kAcquired);
    EXPECT_EQ(limiter.TryAcquire(starter("b")).outcome, AcquireOutcome::kAcquired);
    auto c = limiter.TryAcquire(starter("c"));
    EXPECT_EQ(c.outcome, AcquireOutcome::kQueued);
    EXPECT_EQ(c.position, 1u);
    auto d = limiter.TryAcquire(starter("d"));
    EXPECT_EQ(d.outcome, AcquireOutcome::kQueued);
    EXPECT_EQ(d.position, 2u);
    EXPECT_NE(c.ticket, d.ticket);
    EXPECT_EQ(limiter.TryAcquire(starter("e")).outcome, AcquireOutcome::kRejected);

    EXPECT_EQ(limiter.Running(), 2u);
    EXPECT_EQ(limiter.Queued(), 2u);
    EXPECT_TRUE(started.empty());  // immediate acquisitions do not call back
}

TEST(ConcurrencyLimiterTest, ReleasePromotesInFifoOrder) {
    ConcurrencyLimiter limiter(1, 3);
    std::vector<std::string> started;
    auto starter = [&](std::string name) { return [&started, name] { started.push_back(name); }; };

    ASSERT_EQ(limiter.TryAcquire().outcome, AcquireOutcome::kAcquired);
    auto first = limiter.TryAcquire(starter("first"));
    auto second = limiter.TryAcquire(starter("second"));
    ASSERT_EQ(second.outcome, AcquireOutcome::kQueued);
    EXPECT_EQ(limiter.Position(second.ticket), 2u);

    limiter.Release();
    EXPECT_EQ(started, (std::vector<std::string>{"first"}));
    EXPECT_EQ(limiter.Running(), 1u);  // the slot passed on, not freed
    EXPECT_EQ(limiter.Position(first.ticket), std::nullopt);
    EXPECT_EQ(limiter.Position(second.ticket), 1u);
    // A newcomer cannot overtake the queue.
    auto third = limiter.TryAcquire(starter("third"));
    EXPECT_EQ(third.outcome, AcquireOutcome::kQueued);
    EXPECT_EQ(third.position, 2u);

    limiter.Release();
    limiter.Release();
    EXPECT_EQ(started, (std::vector<std::string>{"first", "second", "third"}));
    limiter.Release();
    EXPECT_EQ(limiter.Running(), 0u);
    EXPECT_EQ(limiter.Queued(), 0u);
    EXPECT_EQ(limiter.TryAcquire().outcome, AcquireOutcome::kAcquired);
}

TEST(ConcurrencyLimiterTest, WithoutCallbackNeverQueues) {
    ConcurrencyLimiter limiter(1, 5);
    ASSERT_EQ(limiter.TryAcquire().outcome, AcquireOutcome::kAcquired);
    EXPECT_EQ(limiter.TryAcquire().outcome, AcquireOutcome::kRejected);
    EXPECT_EQ(limiter.Queued(), 0u);
}

TEST(ConcurrencyLimiterTest, CancelRemovesAWaiter) {
    ConcurrencyLimiter limiter(1, 2);
    std::vector<std::string> started;
    auto starter = [&](std::string name) { return [&started, name] { started.push_back(name); }; };
    ASSERT_EQ(limiter.TryAcquire().outcome, AcquireOutcome::kAcquired);
    auto a = limiter.TryAcquire(starter("a"));
    auto b = limiter.TryAcquire(starter("b"));
    EXPECT_EQ(limiter.TryAcquire(starter("c")).outcome, AcquireOutcome::kRejected);

    EXPECT_TRUE(limiter.Cancel(a.ticket));
    EXPECT_FALSE(limiter.Cancel(a.ticket));
    EXPECT_FALSE(limiter.Cancel(12345));
    EXPECT_EQ(limiter.Position(b.ticket), 1u);
    // The freed queue place can be taken again.
    EXPECT_EQ(limiter.TryAcquire(starter("c")).outcome, AcquireOutcome::kQueued);

    limiter.Release();
    EXPECT_EQ(started, (std::vector<std::string>{"b"}));
}

TEST(ConcurrencyLimiterTest, CallbackMayReenterTheLimiter) {
    ConcurrencyLimiter limiter(1, 1);
    bool ran = false;
    ASSERT_EQ(limiter.TryAcquire().outcome, AcquireOutcome::kAcquired);
    ASSERT_EQ(limiter
                  .TryAcquire([&] {
                      ran = true;
                      limiter.Release();  // e.g. the debate was cancelled while pending
                  })
                  .outcome,
              AcquireOutcome::kQueued);
    limiter.Release();
    EXPECT_TRUE(ran);
    EXPECT_EQ(limiter.Running(), 0u);
}

TEST(ConcurrencyLimiterTest, ZeroQueueRejectsWhenFull) {
    ConcurrencyLimiter limiter(1, 0);
    ASSERT_EQ(limiter.TryAcquire([] {}).outcome, AcquireOutcome::kAcquired);
    EXPECT_EQ(limiter.TryAcquire([] {}).outcome, AcquireOutcome::kRejected);
}

TEST(ConcurrencyLimiterTest, ConcurrentUseNeverExceedsTheCap) {
    ConcurrencyLimiter limiter(3, 0);
    std::atomic<int> inside{0};
    std::atomic<int> peak{0};
    std::atomic<int> acquired{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; ++i) {
                if (limiter.TryAcquire().outcome != AcquireOutcome::kAcquired) continue;
                int now = ++inside;
                int prev = peak.load();
                while (now > prev && !peak.compare_exchange_weak(prev, now)) {
                }
                ++acquired;
                --inside;
                limiter.Release();
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_LE(peak.load(), 3);
    EXPECT_GT(acquired.load(), 0);
    EXPECT_EQ(limiter.Running(), 0u);
}

}  // namespace
}  // namespace aragora::resilience
