#include "metrics/metric.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

namespace aragora::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<std::uint64_t> Cumulative(const HistogramSnapshot& s) {
    std::vector<std::uint64_t> out;
    for (const auto& b : s.buckets) out.push_back(b.cumulative_count);
    return out;
}

TEST(CounterTest, IncrementsAndNeverDecreases) {
    Counter c;
    EXPECT_EQ(c.Value(), 0);
    c.Inc();
    c.Inc(2.5);
    EXPECT_EQ(c.Value(), 3.5);
#ifdef NDEBUG
    c.Inc(-1);
    EXPECT_EQ(c.Value(), 3.5);
#endif
}

TEST(GaugeTest, SetIncDec) {
    Gauge g;
    g.Set(10);
    g.Inc();
    g.Dec(3);
    EXPECT_EQ(g.Value(), 8);
    g.Set(-1.5);
    EXPECT_EQ(g.Value(), -1.5);
}

TEST(HistogramTest, BucketsAreCumulativeAndBoundsInclusive) {
    Histogram h({1, 2, 5});
    for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 7.0, -3.0}) h.Observe(v);
    HistogramSnapshot s = h.Snapshot();
    ASSERT_EQ(s.buckets.size(), 4u);
    EXPECT_EQ(s.buckets[0].upper_bound, 1);
    EXPECT_EQ(s.buckets[3].upper_bound, kInf);
    // le=1: -3, 0.5, 1 | le=2: +1.5, 2 | le=5: +4, 5 | +Inf: +7
    EXPECT_EQ(Cumulative(s), (std::vector<std::uint64_t>{3, 5, 7, 8}));
    EXPECT_EQ(s.count, 8u);
    EXPECT_DOUBLE_EQ(s.sum, 18.0);
}

TEST(HistogramTest, IgnoresNaNAndRecordsDurationsInSeconds) {
    Histogram h(DefaultLatencyBuckets());
    h.Observe(std::numeric_limits<double>::quiet_NaN());
    h.ObserveDuration(std::chrono::milliseconds(250));
    HistogramSnapshot s = h.Snapshot();
    EXPECT_EQ(s.count, 1u);
    EXPECT_DOUBLE_EQ(s.sum, 0.25);
    // 0.25 lands in le="0.25" (index 5 of 0.005,0.01,0.025,0.05,0.1,0.25,...).
    EXPECT_EQ(s.buckets[4].cumulative_count, 0u);
    EXPECT_EQ(s.buckets[5].cumulative_count, 1u);
}

TEST(HistogramTest, DefaultLatencyBucketsSpan5msTo60s) {
    auto b = DefaultLatencyBuckets();
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(b.front(), 0.005);
    EXPECT_EQ(b.back(), 60);
    for (std::size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

TEST(QuantileTest, InterpolatesLinearlyWithinBucket) {
    Histogram h({1, 2, 4});
    // 10 observations: 2 in (0,1], 4 in (1,2], 4 in (2,4].
    for (double v : {0.5, 0.5, 1.5, 1.5, 1.5, 1.5, 3.0, 3.0, 3.0, 3.0}) h.Observe(v);
    HistogramSnapshot s = h.Snapshot();
    // rank 5 -> bucket (1,2] holding ranks 3..6: 1 + 1 * (5-2)/4
    EXPECT_DOUBLE_EQ(Quantile(s, 0.5), 1.75);
    // rank 1 -> first bucket, which starts at 0: 0 + 1 * 1/2
    EXPECT_DOUBLE_EQ(Quantile(s, 0.1), 0.5);
    // rank 9.5 -> (2,4]: 2 + 2 * (9.5-6)/4
    EXPECT_DOUBLE_EQ(Quantile(s, 0.95), 3.75);
    EXPECT_DOUBLE_EQ(Quantile(s, 1.0), 4.0);
    // q=0 gives the lower edge of the first non-empty bucket.
    EXPECT_DOUBLE_EQ(Quantile(s, 0.0), 0.0);
}

TEST(QuantileTest, RankInInfBucketReturnsLargestFiniteBound) {
    Histogram h({1, 2});
    h.Observe(0.5);
    for (int i = 0; i < 9; ++i) h.Observe(100);
    EXPECT_DOUBLE_EQ(Quantile(h.Snapshot(), 0.99), 2.0);
}

TEST(QuantileTest, SkipsEmptyLeadingBucketsForQZero) {
    Histogram h({1, 2, 4});
    h.Observe(3);
    EXPECT_DOUBLE_EQ(Quantile(h.Snapshot(), 0.0), 2.0);
    EXPECT_DOUBLE_EQ(Quantile(h.Snapshot(), 0.5), 3.0);
}

TEST(QuantileTest, EdgeCases) {
    Histogram empty({1});
    EXPECT_TRUE(std::isnan(Quantile(empty.Snapshot(), 0.5)));
    EXPECT_TRUE(std::isnan(Quantile(HistogramSnapshot{}, 0.5)));
    Histogram h({1});
    h.Observe(0.5);
    EXPECT_EQ(Quantile(h.Snapshot(), -0.1), -kInf);
    EXPECT_EQ(Quantile(h.Snapshot(), 1.1), kInf);
    EXPECT_TRUE(std::isnan(Quantile(h.Snapshot(), std::numeric_limits<double>::quiet_NaN())));
}

TEST(MergeTest, AddsMatchingSnapshotsAndRejectsDifferentBounds) {
    Histogram a({1, 2});
    Histogram b({1, 2});
    Histogram c({1, 3});
    a.Observe(0.5);
    b.Observe(1.5);
    b.Observe(9);
    c.Observe(1);
    HistogramSnapshot total;
    ASSERT_TRUE(Merge(total, a.Snapshot()));
    ASSERT_TRUE(Merge(total, b.Snapshot()));
    EXPECT_EQ(Cumulative(total), (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(total.count, 3u);
    EXPECT_DOUBLE_EQ(total.sum, 11.0);
    EXPECT_FALSE(Merge(total, c.Snapshot()));
    EXPECT_EQ(total.count, 3u);
}

}  // namespace
}  // namespace aragora::metrics
