#pragma once

// The debate engine: runs the protocol of DEBATE.md as one coroutine tree. Pure logic
// and coroutines — no sockets, no SQL. Thresholds and formulas: docs/engine.md.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "agents/agent.hpp"
#include "common/clock.hpp"
#include "debate/emitter.hpp"
#include "debate/types.hpp"
#include "resilience/backoff.hpp"

namespace aragora::config {
struct DebateSettings;
}

namespace aragora::debate {

// The failure policy's settings (phase_retries, phase_retry_base/cap/budget) from the
// configuration (ARAGORA_PHASE_RETRIES, ARAGORA_PHASE_RETRY_*_MS).
void ApplyPhaseRetrySettings(const config::DebateSettings& from, EngineSettings& to);

// What the engine waits with and draws jitter from (the backoff between a phase's retry
// passes); tests drive both on a manual clock, without sleeping.
struct EngineDeps {
    // Waits `delay` on the awaiting coroutine's executor and returns; returns early when
    // that coroutine is cancelled (the engine then checks for cancellation itself).
    // Empty: an asio steady_timer.
    std::function<boost::asio::awaitable<void>(std::chrono::steady_clock::duration delay)> wait;
    resilience::RandomSource random;  // empty: resilience::MakeDefaultRandomSource()
};

class Engine {
public:
    Engine(const common::Clock& clock, EngineSettings settings, EngineDeps deps = {});

    // Runs one debate to its end and returns the result; never throws for expected
    // failures. `agents` are in spec order (names must match spec.agents).
    //
    // Concurrency: agents of a phase run concurrently as child coroutines on the
    // awaiting coroutine's executor (use a strand or a single-threaded context), at
    // most settings.max_parallel_calls at a time, each call bounded by the agent
    // timeout and the debate deadline.
    //
    // Cancellation: a terminal cancellation of the awaiting coroutine's slot cancels the
    // in-flight agent calls; the result is then kCancelled (events so far were emitted).
    // Deadline: measured on the injected clock from the start; past it the debate ends
    // kFailed with error_code "timeout".
    //
    // Failures: a call that fails (after the agent's own retries) is tried again later in
    // its phase, then the phase proceeds with the agents that answered, a revision falls
    // back on the agent's previous proposal and a failed judge on another agent; the
    // debate fails with "agents_unavailable" only when fewer than 2 agents remain in a
    // phase (docs/engine.md "When an agent's call fails"). Every failed attempt is an
    // agent_error event, every retry an agent_phase_retry, every stand-in an
    // agent_substitution; the result lists the failures and substitutions.
    //
    // Emits every event up to `consensus`; the caller emits `debate_end` once the result
    // (and receipt) are stored, through the same emitter.
    boost::asio::awaitable<DebateResult> Run(const DebateSpec& spec,
                                             std::vector<std::shared_ptr<agents::Agent>> agents,
                                             EventEmitter& emitter) const;

    const EngineSettings& settings() const { return settings_; }

private:
    const common::Clock& clock_;
    EngineSettings settings_;
    EngineDeps deps_;
};

}  // namespace aragora::debate
