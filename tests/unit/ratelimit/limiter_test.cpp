// The sliding-window-counter limiter (exact burst size, weighted roll-over, Retry-After,
// bounded memory, idle eviction, thread safety) and the per-connection token bucket. All
// time comes from a ManualClock.

#include "ratelimit/limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace aragora::ratelimit {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ManualClock's wall clock starts here, with the steady clock at 0 (a window boundary).
constexpr std::int64_t kStartEpoch = 1'800'000'000;

RateLimiter::Options Limit(int per_minute) {
    RateLimiter::Options options;
    options.limit_per_minute = per_minute;
    return options;
}

// Number of consecutive requests of `key` allowed right now.
int AllowedNow(RateLimiter& limiter, std::string_view key, int max = 1000) {
    int allowed = 0;
    while (allowed < max && limiter.Check(key).allowed) ++allowed;
    return allowed;
}

TEST(RateLimiterTest, BurstOfExactlyLimitThenRefused) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(100), clock);
    for (int i = 1; i <= 100; ++i) {
        const LimitDecision d = limiter.Check("1.2.3.4");
        ASSERT_TRUE(d.allowed) << i;
        EXPECT_EQ(d.limit, 100);
        EXPECT_EQ(d.remaining, 100 - i);
        EXPECT_EQ(d.reset_epoch, kStartEpoch + 60);
        EXPECT_EQ(d.retry_after_seconds, 0);
    }
    const LimitDecision refused = limiter.Check("1.2.3.4");
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.limit, 100);
    EXPECT_EQ(refused.remaining, 0);
    EXPECT_EQ(refused.reset_epoch, kStartEpoch + 60);
    // At 60.6 s the previous window weighs 99: 99 + 1 <= 100.
    EXPECT_EQ(refused.retry_after_seconds, 61);

    const LimiterStats stats = limiter.Stats();
    EXPECT_EQ(stats.keys, 1u);
    EXPECT_EQ(stats.allowed, 100u);
    EXPECT_EQ(stats.refused, 1u);
    EXPECT_EQ(stats.evicted, 0u);
}

TEST(RateLimiterTest, RetryAfterIsHonest) {
    common::ManualClock clock;
    clock.Advance(seconds(30));
    RateLimiter limiter(Limit(100), clock);
    ASSERT_EQ(AllowedNow(limiter, "k"), 100);
    const LimitDecision refused = limiter.Check("k");
    ASSERT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after_seconds, 31);  // next window at 60 s, then 0.6 s of decay
    clock.Advance(seconds(30));
    EXPECT_FALSE(limiter.Check("k").allowed);
    clock.Advance(milliseconds(599));
    EXPECT_FALSE(limiter.Check("k").allowed);
    clock.Advance(milliseconds(1));
    EXPECT_TRUE(limiter.Check("k").allowed);
    EXPECT_FALSE(limiter.Check("k").allowed);
}

TEST(RateLimiterTest, RolloverWeightsThePreviousWindow) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(100), clock);
    ASSERT_EQ(AllowedNow(limiter, "k"), 100);

    // t = 60 s: a new window, but the previous one still counts fully.
    clock.Advance(seconds(60));
    LimitDecision d = limiter.Check("k");
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.remaining, 0);
    EXPECT_EQ(d.reset_epoch, kStartEpoch + 120);
    EXPECT_EQ(d.retry_after_seconds, 1);  // at 60.6 s the estimate is 99

    // t = 90 s: the previous window weighs 50, so exactly 50 more fit.
    clock.Advance(seconds(30));
    d = limiter.Check("k");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 49);
    EXPECT_EQ(AllowedNow(limiter, "k"), 49);
    d = limiter.Check("k");
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_seconds, 1);  // 100 * (29.4 / 60) + 50 + 1 = 100 at 90.6 s

    // t = 91 s: estimate 100 * 29/60 + 50 = 98.33: one more fits, not two.
    clock.Advance(seconds(1));
    EXPECT_EQ(AllowedNow(limiter, "k"), 1);

    // t = 150 s: previous window (60..120) had 51, weight 0.5 -> 25.5; 74 fit.
    clock.Advance(seconds(59));
    EXPECT_EQ(AllowedNow(limiter, "k"), 74);

    // t = 270 s: two windows without traffic, the whole limit again.
    clock.Advance(seconds(120));
    EXPECT_EQ(AllowedNow(limiter, "k"), 100);
}

TEST(RateLimiterTest, ResetEpochRoundsUp) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(10), clock);
    clock.Advance(milliseconds(59'500));
    EXPECT_EQ(limiter.Check("k").reset_epoch, kStartEpoch + 60);
    clock.Advance(milliseconds(500));
    EXPECT_EQ(limiter.Check("k").reset_epoch, kStartEpoch + 120);
}

TEST(RateLimiterTest, CostCountsAsThatManyRequests) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(10), clock);
    EXPECT_EQ(limiter.Check("k", 4).remaining, 6);
    EXPECT_EQ(limiter.Check("k", 4).remaining, 2);
    const LimitDecision refused = limiter.Check("k", 4);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 2);  // a refused request counts nothing
    EXPECT_EQ(refused.retry_after_seconds,
              75);  // next window, where 8 * (1 - t/60) <= 6 at t = 15 s
    const LimitDecision two = limiter.Check("k", 2);
    EXPECT_TRUE(two.allowed);
    EXPECT_EQ(two.remaining, 0);
    // Zero and negative costs consume nothing.
    EXPECT_TRUE(limiter.Check("k", 0).allowed);
    EXPECT_TRUE(limiter.Check("k", -5).allowed);
    EXPECT_FALSE(limiter.Check("k").allowed);
}

TEST(RateLimiterTest, CostAboveLimitIsAlwaysRefused) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(10), clock);
    const LimitDecision d = limiter.Check("k", 11);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.remaining, 10);
    EXPECT_EQ(d.retry_after_seconds, 60);
    EXPECT_EQ(AllowedNow(limiter, "k"), 10);
}

TEST(RateLimiterTest, KeysAreIndependent) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(5), clock);
    EXPECT_EQ(AllowedNow(limiter, "1.1.1.1"), 5);
    EXPECT_EQ(AllowedNow(limiter, "2.2.2.2"), 5);
    EXPECT_EQ(limiter.Check("3.3.3.3").remaining, 4);
    EXPECT_EQ(limiter.Stats().keys, 3u);
}

TEST(RateLimiterTest, NonPositiveLimitIsUnlimited) {
    for (int limit : {0, -1}) {
        common::ManualClock clock;
        RateLimiter limiter(Limit(limit), clock);
        for (int i = 0; i < 1000; ++i) {
            const LimitDecision d = limiter.Check("k" + std::to_string(i % 3));
            ASSERT_TRUE(d.allowed);
            EXPECT_EQ(d.limit, 0);
            EXPECT_EQ(d.remaining, std::numeric_limits<int>::max());
            EXPECT_EQ(d.retry_after_seconds, 0);
        }
        EXPECT_FALSE(limiter.Peek("k0"));
        const LimiterStats stats = limiter.Stats();
        EXPECT_EQ(stats.keys, 0u);
        EXPECT_EQ(stats.allowed, 1000u);
        EXPECT_EQ(stats.refused, 0u);
    }
}

TEST(RateLimiterTest, MaxKeysBoundsMemoryUnderAFlood) {
    for (std::size_t max_keys : {std::size_t{100}, std::size_t{2000}}) {
        common::ManualClock clock;
        RateLimiter::Options options = Limit(10);
        options.max_keys = max_keys;
        RateLimiter limiter(options, clock);
        const std::size_t flood = max_keys * 10;
        for (std::size_t i = 0; i < flood; ++i) {
            ASSERT_TRUE(limiter.Check("10.0." + std::to_string(i)).allowed);
            ASSERT_LE(limiter.Stats().keys, max_keys);
        }
        const LimiterStats stats = limiter.Stats();
        EXPECT_EQ(stats.keys, max_keys);  // every shard filled up
        EXPECT_EQ(stats.evicted, flood - max_keys);
        EXPECT_EQ(stats.allowed, flood);
    }
}

TEST(RateLimiterTest, EvictsTheLeastRecentlyUsedKey) {
    common::ManualClock clock;
    RateLimiter::Options options = Limit(10);
    options.max_keys = 3;
    RateLimiter limiter(options, clock);
    limiter.Check("a");
    limiter.Check("b");
    limiter.Check("c");
    limiter.Check("a");  // b is now the oldest
    limiter.Check("d");
    EXPECT_TRUE(limiter.Peek("a"));
    EXPECT_FALSE(limiter.Peek("b"));
    EXPECT_TRUE(limiter.Peek("c"));
    EXPECT_TRUE(limiter.Peek("d"));
    EXPECT_EQ(limiter.Stats().evicted, 1u);
    // An evicted key starts over.
    EXPECT_EQ(limiter.Check("b").remaining, 9);
    EXPECT_FALSE(limiter.Peek("c"));
}

TEST(RateLimiterTest, IdleKeysAreEvictedAfterTtl) {
    common::ManualClock clock;
    RateLimiter::Options options = Limit(10);
    options.max_keys = 100;
    options.idle_ttl = seconds(300);
    RateLimiter limiter(options, clock);
    limiter.Check("old");
    limiter.Check("old");
    clock.Advance(seconds(299));
    limiter.Check("fresh");
    ASSERT_TRUE(limiter.Peek("old"));
    EXPECT_EQ(limiter.Stats().keys, 2u);

    clock.Advance(seconds(1));
    EXPECT_FALSE(limiter.Peek("old"));  // idle for 300 s
    EXPECT_TRUE(limiter.Peek("fresh"));
    limiter.Check("fresh");  // sweeps the LRU tail
    LimiterStats stats = limiter.Stats();
    EXPECT_EQ(stats.keys, 1u);
    EXPECT_EQ(stats.evicted, 1u);

    // Many idle keys go a few per call, without any new key being added.
    for (int i = 0; i < 20; ++i) limiter.Check("idle" + std::to_string(i));
    clock.Advance(seconds(301));
    for (int i = 0; i < 6; ++i) limiter.Check("fresh");
    stats = limiter.Stats();
    EXPECT_EQ(stats.keys, 1u);
    EXPECT_EQ(stats.evicted, 22u);  // "old", the 20 idle keys and the first "fresh"
}

TEST(RateLimiterTest, ZeroIdleTtlKeepsKeys) {
    common::ManualClock clock;
    RateLimiter::Options options = Limit(10);
    options.idle_ttl = seconds(0);
    RateLimiter limiter(options, clock);
    limiter.Check("k");
    clock.Advance(std::chrono::hours(24));
    limiter.Check("other");
    EXPECT_TRUE(limiter.Peek("k"));
    EXPECT_EQ(limiter.Stats().evicted, 0u);
}

TEST(RateLimiterTest, PeekDoesNotCount) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(100), clock);
    EXPECT_FALSE(limiter.Peek("k"));
    for (int i = 0; i < 3; ++i) limiter.Check("k");
    for (int i = 0; i < 3; ++i) {
        auto snap = limiter.Peek("k");
        ASSERT_TRUE(snap);
        EXPECT_EQ(snap->key, "k");
        EXPECT_EQ(snap->limit, 100);
        EXPECT_EQ(snap->remaining, 97);
        EXPECT_EQ(snap->reset_epoch, kStartEpoch + 60);
    }
    EXPECT_EQ(limiter.Check("k").remaining, 96);
    EXPECT_EQ(limiter.Stats().allowed, 4u);

    // Peek sees the windows roll: at 90 s the 4 requests weigh 2.
    clock.Advance(seconds(90));
    auto snap = limiter.Peek("k");
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->remaining, 98);
    EXPECT_EQ(snap->reset_epoch, kStartEpoch + 120);
}

TEST(RateLimiterTest, NonPositiveWindowFallsBackToAMinute) {
    common::ManualClock clock;
    RateLimiter::Options options = Limit(10);
    options.window = seconds(0);
    options.max_keys = 0;
    RateLimiter limiter(options, clock);
    EXPECT_EQ(limiter.options().window, seconds(60));
    EXPECT_EQ(limiter.options().max_keys, 1u);
    EXPECT_EQ(limiter.Check("k").reset_epoch, kStartEpoch + 60);
}

TEST(RateLimiterTest, ShortWindow) {
    common::ManualClock clock;
    RateLimiter::Options options = Limit(3);
    options.window = seconds(1);
    RateLimiter limiter(options, clock);
    EXPECT_EQ(AllowedNow(limiter, "k"), 3);
    clock.Advance(seconds(2));
    EXPECT_EQ(AllowedNow(limiter, "k"), 3);
}

TEST(RateLimiterTest, ConcurrentChecksKeepExactTotals) {
    common::ManualClock clock;
    RateLimiter limiter(Limit(100), clock);
    std::atomic<int> allowed{0};
    std::atomic<int> other_allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                if (limiter.Check("shared").allowed) ++allowed;
                if (limiter.Check("own" + std::to_string(t)).allowed) ++other_allowed;
                if (i % 10 == 0) (void)limiter.Stats();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(allowed.load(), 100);
    EXPECT_EQ(other_allowed.load(), 400);
    const LimiterStats stats = limiter.Stats();
    EXPECT_EQ(stats.allowed, 500u);
    EXPECT_EQ(stats.refused, 300u);
    EXPECT_EQ(stats.keys, 5u);
}

TEST(TokenBucketTest, StartsFullAndRefillsUpToBurst) {
    common::ManualClock clock;
    auto now = clock.SteadyNow();
    TokenBucket bucket(10.0, 5.0, now);
    EXPECT_DOUBLE_EQ(bucket.available(now), 5.0);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.Take(now)) << i;
    EXPECT_FALSE(bucket.Take(now));

    // 10 tokens/s: every 100 ms is one token, even after many small refills.
    for (int i = 0; i < 20; ++i) {
        now += milliseconds(100);
        EXPECT_TRUE(bucket.Take(now)) << i;
        EXPECT_FALSE(bucket.Take(now)) << i;
    }
    now += milliseconds(50);
    EXPECT_NEAR(bucket.available(now), 0.5, 1e-9);
    EXPECT_FALSE(bucket.Take(now));

    now += seconds(10);
    EXPECT_DOUBLE_EQ(bucket.available(now), 5.0);  // capped at the burst
    EXPECT_TRUE(bucket.Take(now, 2.5));
    EXPECT_DOUBLE_EQ(bucket.available(now), 2.5);
    EXPECT_FALSE(bucket.Take(now, 3.0));  // a refused take takes nothing
    EXPECT_TRUE(bucket.Take(now, 2.5));
}

TEST(TokenBucketTest, BadInputIsHarmless) {
    common::ManualClock clock;
    auto now = clock.SteadyNow() + seconds(100);
    TokenBucket no_refill(-1.0, 2.0, now);
    EXPECT_TRUE(no_refill.Take(now, 2.0));
    EXPECT_DOUBLE_EQ(no_refill.available(now + seconds(60)), 0.0);

    TokenBucket bucket(1.0, 1.0, now);
    EXPECT_TRUE(bucket.Take(now));
    // Time going backwards refills nothing.
    EXPECT_FALSE(bucket.Take(now - seconds(50)));
    EXPECT_DOUBLE_EQ(bucket.available(now - seconds(50)), 0.0);
    EXPECT_FALSE(bucket.Take(now + seconds(1), -1.0));
    EXPECT_FALSE(bucket.Take(now + seconds(1), std::numeric_limits<double>::quiet_NaN()));
    EXPECT_TRUE(bucket.Take(now + seconds(1)));

    TokenBucket empty(std::numeric_limits<double>::quiet_NaN(), -3.0, now);
    EXPECT_FALSE(empty.Take(now + seconds(5)));
}

}  // namespace
}  // namespace aragora::ratelimit
