#pragma once

// An agent backed by an LLM provider's HTTP API, with the resilience rules of
// DEBATE.md (Agents): a deadline per attempt, retries with backoff and jitter for every
// transient fault (wire::Fault, wire::DispositionOf: connection errors, timeouts, 5xx,
// 529, 429 after its Retry-After, a 2xx that is not the provider's format, a stream cut
// short or malformed mid-way), OpenRouter fallback on 429 / quota / auth errors when
// OPENROUTER_API_KEY is set, optional hedging of a slow first answer (hedge.hpp), and a
// circuit breaker per "<provider>:<model>" that skips the agent at once while open (it
// sees each call once: admitted before the first attempt, one outcome at the end).

#include <chrono>
#include <memory>
#include <string>

#include "agents/agent.hpp"
#include "agents/hedge.hpp"
#include "agents/wire.hpp"
#include "common/clock.hpp"
#include "common/error_reporter.hpp"
#include "config/settings.hpp"
#include "metrics/registry.hpp"
#include "net/http_client.hpp"
#include "resilience/backoff.hpp"
#include "resilience/circuit_breaker.hpp"

namespace aragora::agents {

struct ProviderCallSettings {
    // Deadline of one HTTP attempt (ARAGORA_AGENT_TIMEOUT_SECONDS).
    std::chrono::milliseconds attempt_timeout{60'000};
    resilience::RetryPolicy retry{std::chrono::seconds(1), std::chrono::seconds(30), 3};
    // Stream replies (SSE) when the engine listens for tokens.
    bool stream = true;
    int max_tokens = 2048;
    double temperature = 0.7;
    HedgeSettings hedge;
};

// The provider metrics, declared up front (labels: provider, a closed set).
struct AgentMetrics {
    explicit AgentMetrics(metrics::Registry& registry);
    metrics::Family<metrics::Counter>& attempts;   // aragora_agent_attempts_total{provider,outcome}
    metrics::Family<metrics::Counter>& retries;    // aragora_agent_retries_total{provider}
    metrics::Family<metrics::Counter>& fallbacks;  // aragora_agent_fallbacks_total{provider}
    metrics::Family<metrics::Counter>& tokens;     // aragora_agent_tokens_total{provider,direction}
    // aragora_agent_hedges_total{provider,outcome}: hedged attempts started, by which
    // attempt answered first (hedge_won, primary_won) or none_answered.
    metrics::Family<metrics::Counter>& hedges;
};

// What every provider agent shares; owned by AgentFactory, outlives its agents' calls.
struct ProviderContext {
    net::HttpClient* client = nullptr;  // never null for a ProviderAgent
    config::EnvLookup env;              // keys and base URLs are read at each call
    resilience::CircuitBreakerRegistry* breakers = nullptr;  // null: no breakers
    AgentMetrics* metrics = nullptr;                         // null: no metrics
    ProviderCallSettings settings;
    resilience::Backoff backoff;
    // Calls that failed past their retries are reported here (Sentry); null: not reported.
    common::ErrorReporter* errors = nullptr;
    // Time to first answer per provider (the hedge delay's p95); null: not recorded.
    LatencyWindows* latencies = nullptr;
};

// The base URL of `provider` now: its ARAGORA_<PROVIDER>_BASE_URL, else the default.
std::string BaseUrlOf(const config::EnvLookup& env, wire::Provider provider);
// The provider's API key now ("" when unset or blank, or when the provider takes none).
std::string KeyOf(const config::EnvLookup& env, wire::Provider provider);

class ProviderAgent final : public Agent {
public:
    ProviderAgent(std::string name, wire::Provider provider, std::string model,
                  const ProviderContext& context);

    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_name_; }
    const std::string& model() const { return model_; }
    // "<provider>:<model>": the breaker of this agent.
    const std::string& breaker_key() const { return breaker_key_; }

    // Errors: kUnavailable (circuit open, connection failures), kTimeout, kRateLimited
    // (429 after retries, without fallback), kAuthRequired (401/403 without fallback),
    // kProviderError (5xx or malformed replies after retries, other 4xx, refusals),
    // kCancelled, kValidation (key unset and no OpenRouter key). A retry after an
    // attempt that streamed text is announced (on_event) with `restart` before the next
    // attempt's first token.
    boost::asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& request) override;
    // Sends system_prompt and the prompt only; each HTTP attempt renders the prompt anew
    // (request.Prompt()) and keeps it only in its body.
    bool ReadsPromptOnly() const override { return true; }

private:
    struct Attempt;
    struct Race;
    // What one Call's span learns on the way (trace/): its context is the parent of each
    // HTTP attempt's client span, whose traceparent the provider receives.
    struct CallTrace {
        trace::Context context;
        int attempts = 0;
        int retries = 0;
        bool fallback = false;
    };
    // One HTTP attempt. With a race (hedging), the attempt's text reaches on_token only
    // once it answered first (`lane` claims the race), and it stops when it lost.
    boost::asio::awaitable<Attempt> Once(wire::Provider provider, const std::string& model,
                                         const std::string& key, const AgentRequest& request,
                                         CallTrace& tc, Race* race, int lane);
    // One attempt, or — hedging on and a delay known — a primary and, when the primary
    // has not answered after the hedge delay, a second attempt; the first to answer wins
    // and the other is cancelled. One attempt's outcome either way.
    boost::asio::awaitable<Attempt> Attempted(wire::Provider provider, const std::string& model,
                                              const std::string& key, const AgentRequest& request,
                                              CallTrace& tc);
    boost::asio::awaitable<Attempt> Contend(wire::Provider provider, const std::string& model,
                                            const std::string& key, const AgentRequest& request,
                                            CallTrace& tc, Race& race, int lane);
    boost::asio::awaitable<common::Result<AgentReply>> CallTarget(wire::Provider provider,
                                                                  const std::string& model,
                                                                  const AgentRequest& request,
                                                                  bool allow_fallback,
                                                                  CallTrace& tc);
    boost::asio::awaitable<common::Result<AgentReply>> FallBack(
        wire::Provider from, const std::string& model, const AgentRequest& request,
        const std::string& reason, const Attempt& failed, CallTrace& tc);

    std::string name_;
    wire::Provider provider_;
    std::string provider_name_;
    std::string model_;
    std::string breaker_key_;
    const ProviderContext& context_;
};

}  // namespace aragora::agents
