#pragma once

// Passive health tracking of a dependency (database, redis, an LLM provider): the
// owner reports each check or call outcome; the checker decides healthy/unhealthy
// with hysteresis and keeps latency statistics over a rolling window.
//
//   healthy   --failure_threshold consecutive failures (default 3)-->   unhealthy
//   unhealthy --recovery_threshold consecutive successes (default 2)-->  healthy
//
// A checker starts healthy. Nothing here runs checks or sleeps.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace aragora::resilience {

struct HealthCheckerConfig {
    int failure_threshold = 3;        // consecutive failures that mark unhealthy (>= 1)
    int recovery_threshold = 2;       // consecutive successes that recover (>= 1)
    std::size_t latency_window = 10;  // latest samples kept for the stats (>= 1)
};

// Over the last `samples` latencies (successes and failures alike); all zero when
// there are none. p50 is the nearest-rank median (the lower middle for an even count).
struct LatencyStats {
    std::size_t samples = 0;
    std::chrono::nanoseconds average{0};
    std::chrono::nanoseconds p50{0};
    std::chrono::nanoseconds max{0};
};

struct HealthStatus {
    std::string name;
    bool healthy = true;
    int consecutive_failures = 0;
    int consecutive_successes = 0;
    std::uint64_t total_checks = 0;
    std::uint64_t total_failures = 0;
    LatencyStats latency;
    std::string last_error;  // message of the latest failure; kept after recovery
    std::optional<std::chrono::system_clock::time_point> last_check;    // wall clock
    std::optional<std::chrono::system_clock::time_point> last_failure;  // wall clock
};

// Thread-safe (one mutex). The Clock must outlive the checker.
class HealthChecker {
public:
    // Called on each healthy <-> unhealthy change with the status just after it.
    // Runs synchronously with the checker's lock held, so changes are reported in
    // order: keep it quick (log, count, publish to a bounded queue) and never call
    // back into this checker.
    using TransitionCallback = std::function<void(const HealthStatus& status)>;

    HealthChecker(std::string name, const common::Clock& clock, HealthCheckerConfig config = {},
                  TransitionCallback on_transition = {});
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    void RecordSuccess(std::chrono::nanoseconds latency);
    void RecordFailure(std::string_view error, std::chrono::nanoseconds latency);

    HealthStatus Status() const;
    bool Healthy() const;

    const std::string& Name() const { return name_; }
    const HealthCheckerConfig& Config() const { return config_; }

private:
    void RecordLatencyLocked(std::chrono::nanoseconds latency);
    HealthStatus StatusLocked() const;
    void SetHealthyLocked(bool healthy);

    const std::string name_;
    const common::Clock& clock_;
    const HealthCheckerConfig config_;
    const TransitionCallback on_transition_;

    mutable std::mutex mu_;
    bool healthy_ = true;
    int consecutive_failures_ = 0;
    int consecutive_successes_ = 0;
    std::uint64_t total_checks_ = 0;
    std::uint64_t total_failures_ = 0;
    std::deque<std::chrono::nanoseconds> latencies_;
    std::string last_error_;
    std::optional<std::chrono::system_clock::time_point> last_check_;
    std::optional<std::chrono::system_clock::time_point> last_failure_;
};

// Named checkers for /health. Names come from code (a closed set). Thread-safe;
// checkers are never removed, so returned references stay valid for the registry's
// lifetime. The Clock must outlive it.
class HealthRegistry {
public:
    // `on_transition` observes the transitions of every checker it creates (same
    // rules as HealthChecker::TransitionCallback).
    explicit HealthRegistry(const common::Clock& clock, HealthCheckerConfig default_config = {},
                            HealthChecker::TransitionCallback on_transition = {});
    HealthRegistry(const HealthRegistry&) = delete;
    HealthRegistry& operator=(const HealthRegistry&) = delete;

    // The checker for `name`, created with `config` (or the default) on first call;
    // later calls return the existing checker and ignore `config`.
    HealthChecker& GetOrCreate(std::string_view name,
                               std::optional<HealthCheckerConfig> config = std::nullopt);
    HealthChecker* Find(std::string_view name) const;

    // Every checker's status, sorted by name.
    std::vector<HealthStatus> Snapshot() const;
    // True when every checker is healthy (also when there are none).
    bool AllHealthy() const;

private:
    const common::Clock& clock_;
    const HealthCheckerConfig default_config_;
    const HealthChecker::TransitionCallback on_transition_;
    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<HealthChecker>, std::less<>> checkers_;
};

}  // namespace aragora::resilience
