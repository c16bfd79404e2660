#include "resilience/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

namespace aragora::resilience {

RandomSource MakeDefaultRandomSource() {
    return [] {
        thread_local std::mt19937_64 engine{std::random_device{}()};
        return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    };
}

Backoff::Backoff(RetryPolicy policy, RandomSource random)
    : policy_(policy), random_(random ? std::move(random) : MakeDefaultRandomSource()) {
    using std::chrono::nanoseconds;
    policy_.base = std::max(policy_.base, nanoseconds{0});
    policy_.cap = std::max(policy_.cap, nanoseconds{0});
    policy_.max_retries = std::max(policy_.max_retries, 0);
}

bool Backoff::ShouldRetry(int retries_done) const { return retries_done < policy_.max_retries; }

std::chrono::nanoseconds Backoff::Ceiling(int attempt) const {
    // In double: base * 2^attempt overflows int64 nanoseconds after ~33 doublings of 1 s.
    const double scaled =
        std::ldexp(static_cast<double>(policy_.base.count()), std::max(attempt, 0));
    const double cap = static_cast<double>(policy_.cap.count());
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(scaled, cap)));
}

std::chrono::nanoseconds Backoff::Delay(int attempt) const {
    double r = random_();
    if (!(r >= 0.0)) r = 0.0;  // also NaN
    if (r >= 1.0) r = std::nextafter(1.0, 0.0);
    const auto ceiling = Ceiling(attempt);
    auto delay = std::chrono::nanoseconds(
        static_cast<std::int64_t>(r * static_cast<double>(ceiling.count())));
    // r * ceiling can round up to the ceiling itself for large ceilings.
    if (ceiling.count() > 0 && delay >= ceiling) delay = ceiling - std::chrono::nanoseconds{1};
    return delay;
}

}  // namespace aragora::resilience
