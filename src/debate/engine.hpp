#pragma once

// The debate engine: runs the protocol of DEBATE.md as one coroutine tree. Pure logic
// and coroutines — no sockets, no SQL. Thresholds and formulas: docs/engine.md.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <vector>

#include "agents/agent.hpp"
#include "common/clock.hpp"
#include "debate/emitter.hpp"
#include "debate/types.hpp"

namespace aragora::debate {

class Engine {
public:
    Engine(const common::Clock& clock, EngineSettings settings)
        : clock_(clock), settings_(settings) {}

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
    // Emits every event up to `consensus`; the caller emits `debate_end` once the result
    // (and receipt) are stored, through the same emitter.
    boost::asio::awaitable<DebateResult> Run(const DebateSpec& spec,
                                             std::vector<std::shared_ptr<agents::Agent>> agents,
                                             EventEmitter& emitter) const;

    const EngineSettings& settings() const { return settings_; }

private:
    const common::Clock& clock_;
    EngineSettings settings_;
};

}  // namespace aragora::debate
