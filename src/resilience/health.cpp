#include "resilience/health.hpp"

#include <algorithm>
#include <utility>

namespace aragora::resilience {
namespace {

HealthCheckerConfig Sanitize(HealthCheckerConfig config) {
    config.failure_threshold = std::max(config.failure_threshold, 1);
    config.recovery_threshold = std::max(config.recovery_threshold, 1);
    config.latency_window = std::max<std::size_t>(config.latency_window, 1);
    return config;
}

}  // namespace

HealthChecker::HealthChecker(std::string name, const common::Clock& clock,
                             HealthCheckerConfig config, TransitionCallback on_transition)
    : name_(std::move(name)),
      clock_(clock),
      config_(Sanitize(config)),
      on_transition_(std::move(on_transition)) {}

void HealthChecker::RecordLatencyLocked(std::chrono::nanoseconds latency) {
    latencies_.push_back(std::max(latency, std::chrono::nanoseconds{0}));
    while (latencies_.size() > config_.latency_window) latencies_.pop_front();
    ++total_checks_;
    last_check_ = clock_.SystemNow();
}

void HealthChecker::SetHealthyLocked(bool healthy) {
    if (healthy_ == healthy) return;
    healthy_ = healthy;
    if (on_transition_) on_transition_(StatusLocked());
}

void HealthChecker::RecordSuccess(std::chrono::nanoseconds latency) {
    std::lock_guard lock(mu_);
    RecordLatencyLocked(latency);
    consecutive_failures_ = 0;
    ++consecutive_successes_;
    if (!healthy_ && consecutive_successes_ >= config_.recovery_threshold) SetHealthyLocked(true);
}

void HealthChecker::RecordFailure(std::string_view error, std::chrono::nanoseconds latency) {
    std::lock_guard lock(mu_);
    RecordLatencyLocked(latency);
    consecutive_successes_ = 0;
    ++consecutive_failures_;
    ++total_failures_;
    last_error_ = std::string(error);
    last_failure_ = last_check_;
    if (healthy_ && consecutive_failures_ >= config_.failure_threshold) SetHealthyLocked(false);
}

HealthStatus HealthChecker::StatusLocked() const {
    HealthStatus s;
    s.name = name_;
    s.healthy = healthy_;
    s.consecutive_failures = consecutive_failures_;
    s.consecutive_successes = consecutive_successes_;
    s.total_checks = total_checks_;
    s.total_failures = total_failures_;
    s.last_error = last_error_;
    s.last_check = last_check_;
    s.last_failure = last_failure_;
    if (!latencies_.empty()) {
        std::vector<std::chrono::nanoseconds> sorted(latencies_.begin(), latencies_.end());
        std::sort(sorted.begin(), sorted.end());
        std::chrono::nanoseconds total{0};
        for (auto l : sorted) total += l;
        const auto n = sorted.size();
        s.latency.samples = n;
        s.latency.average = total / static_cast<std::int64_t>(n);
        s.latency.p50 = sorted[(n - 1) / 2];
        s.latency.max = sorted.back();
    }
    return s;
}

HealthStatus HealthChecker::Status() const {
    std::lock_guard lock(mu_);
    return StatusLocked();
}

bool HealthChecker::Healthy() const {
    std::lock_guard lock(mu_);
    return healthy_;
}

HealthRegistry::HealthRegistry(const common::Clock& clock, HealthCheckerConfig default_config,
                               HealthChecker::TransitionCallback on_transition)
    : clock_(clock), default_config_(default_config), on_transition_(std::move(on_transition)) {}

HealthChecker& HealthRegistry::GetOrCreate(std::string_view name,
                                           std::optional<HealthCheckerConfig> config) {
    std::lock_guard lock(mu_);
    if (auto it = checkers_.find(name); it != checkers_.end()) return *it->second;
    auto checker = std::make_unique<HealthChecker>(
        std::string(name), clock_, config.value_or(default_config_), on_transition_);
    HealthChecker& ref = *checker;
    checkers_.emplace(std::string(name), std::move(checker));
    return ref;
}

HealthChecker* HealthRegistry::Find(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = checkers_.find(name);
    return it == checkers_.end() ? nullptr : it->second.get();
}

std::vector<HealthStatus> HealthRegistry::Snapshot() const {
    std::vector<const HealthChecker*> checkers;
    {
        std::lock_guard lock(mu_);
        checkers.reserve(checkers_.size());
        for (const auto& [name, checker] : checkers_) checkers.push_back(checker.get());
    }
    std::vector<HealthStatus> out;
    out.reserve(checkers.size());
    for (const HealthChecker* checker : checkers) out.push_back(checker->Status());
    return out;
}

bool HealthRegistry::AllHealthy() const {
    for (const auto& status : Snapshot()) {
        if (!status.healthy) return false;
    }
    return true;
}

}  // namespace aragora::resilience
