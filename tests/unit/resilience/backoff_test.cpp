#include "resilience/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <vector>

namespace aragora::resilience {
namespace {

using namespace std::chrono_literals;

RandomSource Fixed(double value) {
    return [value] { return value; };
}

TEST(BackoffTest, CeilingDoublesUpToTheCap) {
    Backoff b({.base = 100ms, .cap = 1s, .max_retries = 3}, Fixed(0.5));
    EXPECT_EQ(b.Ceiling(0), 100ms);
    EXPECT_EQ(b.Ceiling(1), 200ms);
    EXPECT_EQ(b.Ceiling(2), 400ms);
    EXPECT_EQ(b.Ceiling(3), 800ms);
    EXPECT_EQ(b.Ceiling(4), 1s);
    EXPECT_EQ(b.Ceiling(1000), 1s);  // no overflow
    EXPECT_EQ(b.Ceiling(std::numeric_limits<int>::max()), 1s);
    EXPECT_EQ(b.Ceiling(-5), 100ms);
}

TEST(BackoffTest, DelayIsRandomFractionOfCeiling) {
    Backoff half({.base = 100ms, .cap = 1s}, Fixed(0.5));
    EXPECT_EQ(half.Delay(0), 50ms);
    EXPECT_EQ(half.Delay(2), 200ms);
    EXPECT_EQ(half.Delay(10), 500ms);

    Backoff zero({.base = 100ms, .cap = 1s}, Fixed(0.0));
    EXPECT_EQ(zero.Delay(3), 0ns);
}

TEST(BackoffTest, DelayStaysBelowCeilingEvenForOutOfRangeRandom) {
    for (double r : {0.999999999999, 1.0, 7.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
        Backoff b({.base = 1s, .cap = 30s}, Fixed(r));
        for (int attempt = 0; attempt < 40; ++attempt) {
            auto d = b.Delay(attempt);
            EXPECT_GE(d, 0ns) << r;
            EXPECT_LT(d, b.Ceiling(attempt)) << r << " attempt " << attempt;
        }
    }
}

TEST(BackoffTest, DeterministicWithAFixedSequence) {
    auto sequence = [] {
        std::vector<double> values{0.1, 0.9, 0.25};
        return [values, i = std::size_t{0}]() mutable { return values[i++ % values.size()]; };
    };
    Backoff a({.base = 1s, .cap = 30s}, sequence());
    Backoff b({.base = 1s, .cap = 30s}, sequence());
    std::vector<std::chrono::nanoseconds> da;
    std::vector<std::chrono::nanoseconds> db;
    for (int i = 0; i < 3; ++i) {
        da.push_back(a.Delay(i));
        db.push_back(b.Delay(i));
    }
    EXPECT_EQ(da, db);
    EXPECT_EQ(da, (std::vector<std::chrono::nanoseconds>{100ms, 1800ms, 1s}));
}

TEST(BackoffTest, DefaultPolicyAllowsThreeRetries) {
    Backoff b;
    EXPECT_EQ(b.Policy().max_retries, 3);
    EXPECT_TRUE(b.ShouldRetry(0));
    EXPECT_TRUE(b.ShouldRetry(2));
    EXPECT_FALSE(b.ShouldRetry(3));
    EXPECT_FALSE(b.ShouldRetry(4));
    // The default random source stays within bounds.
    for (int i = 0; i < 1000; ++i) {
        auto d = b.Delay(i % 8);
        EXPECT_GE(d, 0ns);
        EXPECT_LT(d, b.Ceiling(i % 8));
    }
}

TEST(BackoffTest, NegativePolicyValuesAreClamped) {
    Backoff b({.base = -1s, .cap = -1s, .max_retries = -2}, Fixed(0.5));
    EXPECT_FALSE(b.ShouldRetry(0));
    EXPECT_EQ(b.Delay(3), 0ns);
}

}  // namespace
}  // namespace aragora::resilience
