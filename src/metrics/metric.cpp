#include "metrics/metric.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace aragora::metrics {

void Counter::Inc(double amount) {
    assert(amount >= 0 && "Counter::Inc with a negative or NaN amount");
    if (!(amount >= 0)) return;
    value_.fetch_add(amount, std::memory_order_relaxed);
}

std::vector<double> DefaultLatencyBuckets() {
    return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
    if (std::isnan(value)) return;
    // First bucket whose bound is >= value; past the end means +Inf.
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
    auto index = static_cast<std::size_t>(it - bounds_.begin());
    counts_[index].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
    HistogramSnapshot snap;
    snap.buckets.reserve(bounds_.size() + 1);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        double bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
        snap.buckets.push_back({bound, cumulative});
    }
    // The count is derived from the buckets so that _count always equals the +Inf
    // bucket, even while observations race with the scrape.
    snap.count = cumulative;
    snap.sum = sum_.load(std::memory_order_relaxed);
    return snap;
}

bool Merge(HistogramSnapshot& into, const HistogramSnapshot& from) {
    if (into.buckets.empty()) {
        into = from;
        return true;
    }
    if (into.buckets.size() != from.buckets.size()) return false;
    for (std::size_t i = 0; i < into.buckets.size(); ++i) {
        if (into.buckets[i].upper_bound != from.buckets[i].upper_bound) return false;
    }
    for (std::size_t i = 0; i < into.buckets.size(); ++i) {
        into.buckets[i].cumulative_count += from.buckets[i].cumulative_count;
    }
    into.sum += from.sum;
    into.count += from.count;
    return true;
}

double Quantile(const HistogramSnapshot& snapshot, double q) {
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    constexpr double kInf = std::numeric_limits<double>::infinity();
    if (std::isnan(q)) return kNaN;
    if (q < 0) return -kInf;
    if (q > 1) return kInf;
    const auto& b = snapshot.buckets;
    if (b.size() < 2) return kNaN;
    const std::uint64_t total = b.back().cumulative_count;
    if (total == 0) return kNaN;

    const double rank = q * static_cast<double>(total);
    // First bucket reaching the rank; for rank 0 the first non-empty bucket, so that
    // q=0 gives the lower edge of the data instead of 0/0.
    std::size_t i = 0;
    while (i + 1 < b.size()) {
        auto c = static_cast<double>(b[i].cumulative_count);
        if (rank > 0 ? c >= rank : c > 0) break;
        ++i;
    }
    if (i == b.size() - 1) return b[b.size() - 2].upper_bound;
    if (i == 0 && b[0].upper_bound <= 0) return b[0].upper_bound;

    double start = i == 0 ? 0.0 : b[i - 1].upper_bound;
    double below = i == 0 ? 0.0 : static_cast<double>(b[i - 1].cumulative_count);
    double in_bucket = static_cast<double>(b[i].cumulative_count) - below;
    return start + (b[i].upper_bound - start) * ((rank - below) / in_bucket);
}

}  // namespace aragora::metrics
