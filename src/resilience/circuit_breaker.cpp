#include "resilience/circuit_breaker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/logging.hpp"

namespace aragora::resilience {

std::string_view ToString(CircuitState state) {
    switch (state) {
        case CircuitState::kClosed:
            return "closed";
        case CircuitState::kOpen:
            return "open";
        case CircuitState::kHalfOpen:
            return "half_open";
    }
    return "closed";
}

CircuitBreaker::CircuitBreaker(std::string name, const common::Clock& clock,
                               CircuitBreakerConfig config, TransitionCallback on_transition)
    : name_(std::move(name)),
      clock_(clock),
      config_{std::max(config.failure_threshold, 1), config.cooldown},
      on_transition_(std::move(on_transition)) {}

void CircuitBreaker::TransitionLocked(CircuitState to) {
    if (state_ == to) return;
    CircuitState from = state_;
    state_ = to;
    if (on_transition_) on_transition_(name_, from, to);
}

void CircuitBreaker::OpenLocked(std::chrono::steady_clock::time_point now) {
    opened_at_steady_ = now;
    opened_at_ = clock_.SystemNow();
    probe_in_flight_ = false;
    TransitionLocked(CircuitState::kOpen);
}

void CircuitBreaker::AdvanceLocked(std::chrono::steady_clock::time_point now) {
    if (state_ == CircuitState::kOpen && now - opened_at_steady_ >= config_.cooldown) {
        probe_in_flight_ = false;
        TransitionLocked(CircuitState::kHalfOpen);
    }
}

AdmissionDecision CircuitBreaker::AllowRequest() {
    std::lock_guard lock(mu_);
    const auto now = clock_.SteadyNow();
    AdvanceLocked(now);
    switch (state_) {
        case CircuitState::kClosed:
            return {Admission::kAllowed, {}};
        case CircuitState::kOpen:
            return {Admission::kRejectedOpen, config_.cooldown - (now - opened_at_steady_)};
        case CircuitState::kHalfOpen:
            if (probe_in_flight_ && now - probe_started_ < config_.cooldown) {
                return {Admission::kRejectedProbing, config_.cooldown - (now - probe_started_)};
            }
            probe_in_flight_ = true;
            probe_started_ = now;
            return {Admission::kProbe, {}};
    }
    return {Admission::kAllowed, {}};
}

void CircuitBreaker::RecordSuccess() {
    std::lock_guard lock(mu_);
    switch (state_) {
        case CircuitState::kClosed:
            consecutive_failures_ = 0;
            break;
        case CircuitState::kOpen:
            break;
        case CircuitState::kHalfOpen:
            consecutive_failures_ = 0;
            probe_in_flight_ = false;
            TransitionLocked(CircuitState::kClosed);
            break;
    }
}

void CircuitBreaker::RecordFailure() {
    std::lock_guard lock(mu_);
    switch (state_) {
        case CircuitState::kClosed:
            if (++consecutive_failures_ >= config_.failure_threshold)
                OpenLocked(clock_.SteadyNow());
            break;
        case CircuitState::kOpen:
            break;
        case CircuitState::kHalfOpen:
            ++consecutive_failures_;
            OpenLocked(clock_.SteadyNow());
            break;
    }
}

void CircuitBreaker::RecordCancelled() {
    std::lock_guard lock(mu_);
    if (state_ == CircuitState::kHalfOpen) probe_in_flight_ = false;
}

void CircuitBreaker::Reset() {
    std::lock_guard lock(mu_);
    consecutive_failures_ = 0;
    probe_in_flight_ = false;
    opened_at_.reset();
    TransitionLocked(CircuitState::kClosed);
}

CircuitState CircuitBreaker::State() {
    std::lock_guard lock(mu_);
    AdvanceLocked(clock_.SteadyNow());
    return state_;
}

CircuitBreakerSnapshot CircuitBreaker::Snapshot() {
    std::lock_guard lock(mu_);
    AdvanceLocked(clock_.SteadyNow());
    return {name_, state_, consecutive_failures_, opened_at_};
}

metrics::Family<metrics::Gauge>& AddCircuitBreakerStateGauge(metrics::Registry& registry) {
    return registry.AddGauge("aragora_circuit_breaker_state",
                             "Circuit breaker state per agent (0=closed, 1=open, 2=half_open).",
                             {"agent"}, metrics::FamilyOptions{256});
}

CircuitBreakerRegistry::CircuitBreakerRegistry(const common::Clock& clock,
                                               CircuitBreakerRegistryOptions options)
    : clock_(clock), options_(std::move(options)) {}

void CircuitBreakerRegistry::OnTransition(std::string_view name, CircuitState from,
                                          CircuitState to) {
    auto level = to == CircuitState::kOpen ? spdlog::level::warn : spdlog::level::info;
    common::GetLogger("aragora.resilience")
        ->log(level, "circuit_breaker agent={} state={} previous={}", name, ToString(to),
              ToString(from));
    if (options_.state_gauge != nullptr) {
        options_.state_gauge->WithLabels({std::string(name)}).Set(static_cast<double>(to));
    }
    if (options_.on_transition) options_.on_transition(name, from, to);
}

common::Result<CircuitBreaker*> CircuitBreakerRegistry::GetOrCreate(std::string_view name) {
    std::lock_guard lock(mu_);
    if (auto it = breakers_.find(name); it != breakers_.end()) return it->second.get();
    if (breakers_.size() >= options_.max_breakers) {
        return common::MakeError(
            common::ErrorCode::kOverloaded,
            "too many circuit breakers (limit " + std::to_string(options_.max_breakers) + ")");
    }
    auto breaker =
        std::make_unique<CircuitBreaker>(std::string(name), clock_, options_.breaker,
                                         [this](std::string_view n, CircuitState from,
                                                CircuitState to) { OnTransition(n, from, to); });
    CircuitBreaker* ptr = breaker.get();
    breakers_.emplace(std::string(name), std::move(breaker));
    if (options_.state_gauge != nullptr) {
        options_.state_gauge->WithLabels({std::string(name)}).Set(0);
    }
    return ptr;
}

CircuitBreaker* CircuitBreakerRegistry::Find(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = breakers_.find(name);
    return it == breakers_.end() ? nullptr : it->second.get();
}

common::Status CircuitBreakerRegistry::Reset(std::string_view name) {
    CircuitBreaker* breaker = Find(name);
    if (breaker == nullptr) {
        return common::MakeError(common::ErrorCode::kNotFound,
                                 "no circuit breaker for agent '" + std::string(name) + "'");
    }
    breaker->Reset();
    return {};
}

std::vector<CircuitBreakerSnapshot> CircuitBreakerRegistry::Snapshot() const {
    // Breakers are never removed: copy the pointers, then read each breaker without
    // holding our lock (reading may fire a transition callback).
    std::vector<CircuitBreaker*> breakers;
    {
        std::lock_guard lock(mu_);
        breakers.reserve(breakers_.size());
        for (const auto& [name, breaker] : breakers_) breakers.push_back(breaker.get());
    }
    std::vector<CircuitBreakerSnapshot> out;
    out.reserve(breakers.size());
    for (CircuitBreaker* breaker : breakers) out.push_back(breaker->Snapshot());
    return out;
}

CircuitBreakerRegistry::Counts CircuitBreakerRegistry::CountByState() const {
    Counts counts;
    for (const auto& snap : Snapshot()) {
        switch (snap.state) {
            case CircuitState::kClosed:
                ++counts.closed;
                break;
            case CircuitState::kOpen:
                ++counts.open;
                break;
            case CircuitState::kHalfOpen:
                ++counts.half_open;
                break;
        }
    }
    return counts;
}

std::size_t CircuitBreakerRegistry::Size() const {
    std::lock_guard lock(mu_);
    return breakers_.size();
}

}  // namespace aragora::resilience
