#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace aragora::common {

// Injectable wall + monotonic clock. Components that decide on time (deadlines,
// breakers, watchdogs) take a Clock& so tests drive them with ManualClock.
class Clock {
public:
    virtual ~Clock() = default;
    virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
    virtual std::chrono::system_clock::time_point SystemNow() const = 0;
};

class SystemClock final : public Clock {
public:
    std::chrono::steady_clock::time_point SteadyNow() const override {
        return std::chrono::steady_clock::now();
    }
    std::chrono::system_clock::time_point SystemNow() const override {
        return std::chrono::system_clock::now();
    }
};

// Test clock: time moves only when Advance() is called. Thread-safe.
class ManualClock final : public Clock {
public:
    explicit ManualClock(
        std::chrono::system_clock::time_point start =
            std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)))
        : system_start_(start) {}

    std::chrono::steady_clock::time_point SteadyNow() const override {
        return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(offset_ns_.load()));
    }
    std::chrono::system_clock::time_point SystemNow() const override {
        return system_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::nanoseconds(offset_ns_.load()));
    }
    void Advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }

private:
    std::chrono::system_clock::time_point system_start_;
    std::atomic<std::int64_t> offset_ns_{0};
};

}  // namespace aragora::common
