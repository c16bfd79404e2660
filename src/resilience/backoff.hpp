#pragma once

// Retry policy: exponential backoff with full jitter (AWS Architecture Blog,
// "Exponential Backoff And Jitter"):
//
//   Delay(attempt) = uniform(0, min(cap, base * 2^attempt))
//
// Only the math: the caller waits (on an asio timer) and decides what is retryable.

#include <chrono>
#include <functional>

namespace aragora::resilience {

struct RetryPolicy {
    std::chrono::nanoseconds base = std::chrono::seconds(1);
    std::chrono::nanoseconds cap = std::chrono::seconds(30);
    int max_retries = 3;  // retries after the first attempt (so 4 calls at most)
};

// Returns a value in [0, 1). Must be safe to call from every thread that uses the
// Backoff holding it.
using RandomSource = std::function<double()>;

// A thread-safe source backed by a per-thread std::mt19937_64 seeded from
// std::random_device (production default; tests inject a fixed source).
RandomSource MakeDefaultRandomSource();

// Immutable after construction; const methods are as thread-safe as the RandomSource.
class Backoff {
public:
    // Negative base/cap/max_retries are treated as 0. An empty `random` uses
    // MakeDefaultRandomSource().
    explicit Backoff(RetryPolicy policy = {}, RandomSource random = {});

    // True when retry number `retries_done + 1` is allowed (retries_done < max_retries).
    bool ShouldRetry(int retries_done) const;

    // Upper bound of the delay before retry `attempt` (0-based): min(cap, base * 2^attempt).
    // Negative attempts count as 0. Never overflows.
    std::chrono::nanoseconds Ceiling(int attempt) const;

    // Jittered delay before retry `attempt`: random * Ceiling(attempt), truncated to
    // nanoseconds. Random values outside [0, 1) (and NaN) are clamped into it; the
    // result is in [0, Ceiling(attempt)) when the ceiling is positive, else 0.
    std::chrono::nanoseconds Delay(int attempt) const;

    const RetryPolicy& Policy() const { return policy_; }

private:
    RetryPolicy policy_;
    RandomSource random_;
};

}  // namespace aragora::resilience
