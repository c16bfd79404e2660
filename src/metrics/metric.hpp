#pragma once

// The three metric kinds of the registry: Counter, Gauge, Histogram. Each object is
// one series (one set of label values). Updates are lock-free atomics and safe from
// any thread; reads (Value, Snapshot) may run concurrently with updates and see each
// update either wholly or not at all (a histogram snapshot taken during an Observe may
// count it in its bucket before its value reaches the sum).
//
// Objects are normally owned by a Family (registry.hpp) and handed out by reference;
// the reference stays valid for the lifetime of the Registry.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace aragora::metrics {

// Monotonically increasing value.
class Counter {
public:
    Counter() = default;
    Counter(const Counter&) = delete;
    Counter& operator=(const Counter&) = delete;

    // Adds `amount`. Negative or NaN amounts are a programming error: they are
    // ignored (and assert in debug builds) so the counter never decreases.
    void Inc(double amount = 1.0);
    double Value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

// Value that goes up and down.
class Gauge {
public:
    Gauge() = default;
    Gauge(const Gauge&) = delete;
    Gauge& operator=(const Gauge&) = delete;

    void Set(double value) { value_.store(value, std::memory_order_relaxed); }
    void Inc(double amount = 1.0) { value_.fetch_add(amount, std::memory_order_relaxed); }
    void Dec(double amount = 1.0) { value_.fetch_sub(amount, std::memory_order_relaxed); }
    double Value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

struct HistogramBucket {
    double upper_bound = 0;              // "le"; the last bucket is +Inf
    std::uint64_t cumulative_count = 0;  // observations <= upper_bound
};

// Point-in-time copy of a histogram, in Prometheus' cumulative form.
struct HistogramSnapshot {
    std::vector<HistogramBucket> buckets;  // ascending upper bounds, last is +Inf
    double sum = 0;
    std::uint64_t count = 0;  // == buckets.back().cumulative_count
};

// Adds `from` into `into` (e.g. all routes of a request-latency family into one
// overall distribution). Returns false and leaves `into` unchanged when the bucket
// bounds differ. An empty `into` (no buckets) takes `from` as is.
bool Merge(HistogramSnapshot& into, const HistogramSnapshot& from);

// Estimates the q-quantile (0 <= q <= 1) like PromQL's histogram_quantile: finds the
// bucket holding rank q*count and interpolates linearly inside it, the first bucket
// starting at 0. Returns the largest finite bound when the rank falls in the +Inf
// bucket, NaN when there are no observations or no finite bucket, -Inf for q < 0 and
// +Inf for q > 1 (as PromQL does).
double Quantile(const HistogramSnapshot& snapshot, double q);

// Prometheus' default-style latency buckets in seconds: 0.005 ... 60.
std::vector<double> DefaultLatencyBuckets();

// Distribution of observed values over fixed buckets.
class Histogram {
public:
    // `upper_bounds` must be finite and strictly increasing (Registry validates this
    // before constructing); the +Inf bucket is implicit.
    explicit Histogram(std::vector<double> upper_bounds);
    Histogram(const Histogram&) = delete;
    Histogram& operator=(const Histogram&) = delete;

    // Records one observation. NaN is ignored (it would poison the sum).
    void Observe(double value);
    // Records a duration in seconds.
    template <typename Rep, typename Period>
    void ObserveDuration(std::chrono::duration<Rep, Period> d) {
        Observe(std::chrono::duration<double>(d).count());
    }

    HistogramSnapshot Snapshot() const;
    const std::vector<double>& UpperBounds() const { return bounds_; }

private:
    std::vector<double> bounds_;
    // Per-bucket (non-cumulative) counts; index bounds_.size() is the +Inf bucket.
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
    std::atomic<double> sum_{0.0};
};

}  // namespace aragora::metrics
