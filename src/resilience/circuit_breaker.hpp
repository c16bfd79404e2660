#pragma once

// Per-agent circuit breaker and the registry that owns one breaker per agent name.
//
//   closed    --failure_threshold consecutive failures-->  open
//   open      --cooldown elapsed (injected Clock)------->  half_open
//   half_open --probe succeeds-------------------------->  closed
//   half_open --probe fails----------------------------->  open (cooldown restarts)
//
// In half_open exactly one probe call is admitted at a time; other calls are rejected
// until the probe reports. Time is read only from the injected Clock; nothing sleeps.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "metrics/registry.hpp"

namespace aragora::resilience {

// Numeric values are those of the aragora_circuit_breaker_state gauge.
enum class CircuitState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

// "closed", "open", "half_open".
std::string_view ToString(CircuitState state);

struct CircuitBreakerConfig {
    int failure_threshold = 5;  // consecutive failures that open the circuit (>= 1)
    std::chrono::steady_clock::duration cooldown = std::chrono::seconds(60);
};

enum class Admission {
    kAllowed,          // closed: go ahead
    kProbe,            // half_open: this call is the single probe; report its outcome
    kRejectedOpen,     // open: cooldown still running
    kRejectedProbing,  // half_open: another probe is in flight
};

struct AdmissionDecision {
    Admission admission = Admission::kAllowed;
    // When rejected: time until a probe may be admitted at the earliest (remaining
    // cooldown, or time until an in-flight probe is presumed lost). Zero when admitted.
    std::chrono::steady_clock::duration retry_after{};

    bool allowed() const {
        return admission == Admission::kAllowed || admission == Admission::kProbe;
    }
    explicit operator bool() const { return allowed(); }
};

struct CircuitBreakerSnapshot {
    std::string name;
    CircuitState state = CircuitState::kClosed;
    int consecutive_failures = 0;
    // Wall-clock time the circuit last opened; empty if it never opened or was reset.
    std::optional<std::chrono::system_clock::time_point> opened_at;
};

// Thread-safe (one mutex). Ownership: the Clock must outlive the breaker.
class CircuitBreaker {
public:
    // Called on every state change, including Reset(). Runs synchronously with the
    // breaker's lock held, so transitions are reported in order: keep it quick
    // (log, set a gauge) and never call back into this breaker.
    using TransitionCallback =
        std::function<void(std::string_view name, CircuitState from, CircuitState to)>;

    CircuitBreaker(std::string name, const common::Clock& clock, CircuitBreakerConfig config = {},
                   TransitionCallback on_transition = {});
    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    // Asks to make one call. An admitted call must report exactly one of
    // RecordSuccess / RecordFailure / RecordCancelled when it ends. Moves open to
    // half_open once the cooldown has elapsed. A probe that has not reported within
    // one cooldown is presumed lost and the next call becomes the probe.
    AdmissionDecision AllowRequest();

    // Outcome of an admitted call. In closed, a success clears the failure streak and
    // the threshold-th consecutive failure opens the circuit. In half_open, any outcome
    // decides the probe. Outcomes arriving while open (calls admitted before it
    // opened) are ignored.
    void RecordSuccess();
    void RecordFailure();
    // The call ended without telling anything about the provider (e.g. the debate was
    // cancelled): frees the half_open probe slot, changes nothing else.
    void RecordCancelled();

    // Manual reset (POST /api/agents/{name}/reset-circuit): closed, streak cleared.
    void Reset();

    // Current state; applies the open -> half_open move when the cooldown elapsed.
    CircuitState State();
    CircuitBreakerSnapshot Snapshot();

    const std::string& Name() const { return name_; }
    const CircuitBreakerConfig& Config() const { return config_; }

private:
    void AdvanceLocked(std::chrono::steady_clock::time_point now);
    void TransitionLocked(CircuitState to);
    void OpenLocked(std::chrono::steady_clock::time_point now);

    const std::string name_;
    const common::Clock& clock_;
    const CircuitBreakerConfig config_;
    const TransitionCallback on_transition_;

    std::mutex mu_;
    CircuitState state_ = CircuitState::kClosed;
    int consecutive_failures_ = 0;
    bool probe_in_flight_ = false;
    std::chrono::steady_clock::time_point probe_started_{};
    std::chrono::steady_clock::time_point opened_at_steady_{};
    std::optional<std::chrono::system_clock::time_point> opened_at_;
};

// Declares aragora_circuit_breaker_state{agent} (0=closed, 1=open, 2=half_open).
metrics::Family<metrics::Gauge>& AddCircuitBreakerStateGauge(metrics::Registry& registry);

struct CircuitBreakerRegistryOptions {
    CircuitBreakerConfig breaker{};
    // Bound on distinct names; names come from configuration, this is a safety net.
    std::size_t max_breakers = 256;
    // If set (see AddCircuitBreakerStateGauge), kept equal to each breaker's state,
    // starting at 0 when the breaker is created.
    metrics::Family<metrics::Gauge>* state_gauge = nullptr;
    // Extra observer of every transition (after the registry's own log line and gauge
    // update); same rules as CircuitBreaker::TransitionCallback.
    CircuitBreaker::TransitionCallback on_transition{};
};

// Per-agent breakers created on demand. Every transition is logged on
// "aragora.resilience" as a line containing "circuit_breaker agent=<name>".
// Thread-safe. Breakers are never removed, so returned pointers stay valid for the
// registry's lifetime. The Clock (and the gauge family, if any) must outlive it.
class CircuitBreakerRegistry {
public:
    explicit CircuitBreakerRegistry(const common::Clock& clock,
                                    CircuitBreakerRegistryOptions options = {});
    CircuitBreakerRegistry(const CircuitBreakerRegistry&) = delete;
    CircuitBreakerRegistry& operator=(const CircuitBreakerRegistry&) = delete;

    // The breaker for `name`, created closed on first use. Error kOverloaded when
    // `max_breakers` names exist already and `name` is not one of them.
    common::Result<CircuitBreaker*> GetOrCreate(std::string_view name);
    // nullptr when no breaker has been created for `name` (never creates; use this
    // for names that come from requests).
    CircuitBreaker* Find(std::string_view name) const;
    // Resets the breaker of `name`; error kNotFound if there is none.
    common::Status Reset(std::string_view name);

    // Every breaker, sorted by name.
    std::vector<CircuitBreakerSnapshot> Snapshot() const;

    struct Counts {
        std::size_t closed = 0;
        std::size_t open = 0;
        std::size_t half_open = 0;
    };
    // Breakers per state (for /api/health "circuit_breakers": {"open", "half_open"}).
    Counts CountByState() const;

    std::size_t Size() const;

private:
    void OnTransition(std::string_view name, CircuitState from, CircuitState to);

    const common::Clock& clock_;
    const CircuitBreakerRegistryOptions options_;
    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<CircuitBreaker>, std::less<>> breakers_;
};

}  // namespace aragora::resilience
