#pragma once

// The Agent interface: one asynchronous, cancellable call per debate step.
// Includes only the Asio coroutine header it needs (see ARCHITECTURE.md, build).

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.hpp"
#include "events/payloads.hpp"
#include "trace/tracer.hpp"

namespace aragora::agents {

enum class Phase { kPropose, kCritique, kRevise, kVote, kJudge };
std::string_view ToString(Phase phase);

struct PeerText {
    std::string agent;
    std::string text;
};

struct ReceivedCritique {
    std::string critic;
    std::vector<std::string> issues;
    std::vector<std::string> suggestions;
    double severity = 0;  // 0..10
};

// What an agent reports to the debate's event stream while a call runs.
using AgentNotice = std::variant<events::AgentRetry, events::AgentFallback>;

// True when `notice` voids the text the call streamed so far (`restart`): the caller
// drops what it holds of it, and the next on_token opens a new stream.
bool RestartsStream(const AgentNotice& notice);

// Everything an agent may need for a step. LLM agents send the prompt (rendered by the
// engine, already holding the structured parts); demo agents read the structured parts.
struct AgentRequest {
    Phase phase = Phase::kPropose;
    std::string debate_id;
    std::string task;
    std::string context;
    int round = 1;
    int total_rounds = 1;
    std::string system_prompt;
    std::string prompt;
    // When set, the prompt is rendered on demand instead (read it through Prompt()) and
    // `prompt` is empty: the engine does so for an agent that ReadsPromptOnly(), so that a
    // call held for seconds keeps its prompt only in the request body it sent. Callable
    // while Call() runs (never after it returns).
    std::function<std::string()> render_prompt;
    std::string own_proposal;                 // revise, vote
    std::vector<ReceivedCritique> critiques;  // revise: critiques of own proposal
    PeerText target;                          // critique: the proposal to critique
    std::vector<PeerText> proposals;          // vote, judge: every current proposal
    std::string challenge;                    // trickster challenge to address, if any
    // The phase span the call belongs to (no-op when tracing is off): the agent's call
    // span is its child, and provider HTTP requests carry its traceparent.
    trace::Context trace;

    // Optional observers, set by the engine for one call and called from the agent's
    // coroutine while Call() runs (never after it returns):
    //  - on_token: a piece of streamed reply text, in order (LLM agents that stream);
    //  - on_event: a typed notice for the debate's event stream, for things a watcher
    //    should see (retries, fallbacks). A notice with `restart` set comes before any
    //    text of the next attempt: the text on_token gave so far is void.
    std::function<void(std::string_view delta)> on_token;
    std::function<void(const AgentNotice& notice)> on_event;

    // `prompt`, or what render_prompt renders now (a new string each time).
    std::string Prompt() const { return render_prompt ? render_prompt() : prompt; }
};

struct Usage {
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
};

struct AgentReply {
    std::string text;
    Usage usage;
};

// An agent. Call() may be cancelled through the awaiting coroutine's cancellation
// slot (it then answers ErrorCode::kCancelled promptly). Expected failures (provider
// errors, timeouts) are values, never exceptions. Implementations must be safe to
// call concurrently from coroutines of one debate's strand.
class Agent {
public:
    virtual ~Agent() = default;
    // Unique within a debate, e.g. "demo:analyst", "demo:critic#2", "anthropic:claude-x".
    virtual const std::string& Name() const = 0;
    // Provider family, e.g. "demo", "anthropic" (metrics label; closed set).
    virtual const std::string& Provider() const = 0;
    virtual boost::asio::awaitable<common::Result<AgentReply>> Call(
        const AgentRequest& request) = 0;
    // True for an agent that reads only system_prompt and the prompt (an LLM behind a
    // provider API): the engine then leaves the structured parts (own_proposal, critiques,
    // target, proposals, challenge) empty and sets render_prompt instead of prompt.
    virtual bool ReadsPromptOnly() const { return false; }
};

}  // namespace aragora::agents
