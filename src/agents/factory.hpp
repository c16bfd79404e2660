#pragma once

// Builds a debate's agents from parsed specs (demo agents and provider agents), checks
// that the keys they need are configured, and answers the agent diagnostics of the
// runbooks (agent test, connectivity check). Owned by the composition root; every agent
// it builds refers to it, so it outlives them.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agents/provider_agent.hpp"
#include "agents/registry.hpp"

namespace aragora::agents {

struct FactorySettings {
    std::chrono::milliseconds demo_latency{0};
    ProviderCallSettings calls;
};

// The factory's settings from the typed configuration (ARAGORA_AGENT_TIMEOUT_SECONDS,
// ARAGORA_AGENT_MAX_RETRIES, ..., ARAGORA_DEMO_LATENCY_MS).
FactorySettings FactorySettingsFrom(const config::Settings& settings);
// The breaker configuration (ARAGORA_CIRCUIT_BREAKER_THRESHOLD / _COOLDOWN_SECONDS).
resilience::CircuitBreakerConfig BreakerConfigFrom(const config::AgentSettings& settings);
// The HTTP client's options (HTTPS_PROXY, NO_PROXY, ARAGORA_CA_BUNDLE).
net::HttpClientOptions ClientOptionsFrom(const config::AgentSettings& settings);
// The process-wide provider connection budget (ARAGORA_PROVIDER_CONNECTIONS,
// ARAGORA_PROVIDER_CALL_QUEUE_MAX; docs/agents.md): raises the soft RLIMIT_NOFILE to the
// hard one first, since the default budget is derived from it. Put it in the provider
// client's options (HttpClientOptions::budget) and the debate service's settings.
std::shared_ptr<net::ConnectionBudget> ProviderBudgetFrom(const config::AgentSettings& settings,
                                                          const common::Clock& clock);

struct AgentTestResult {
    bool ok = false;
    std::string agent;     // the display name
    std::string provider;  // canonical provider
    std::string model;     // "" for demo agents
    std::string reply;
    double latency_ms = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::string error_code;  // "" when ok
    std::string error;
};

struct ProviderConnectivity {
    std::string provider;
    std::string base_url;
    bool key_configured = false;
    net::ProbeReport probe;
    bool auth_attempted = false;
    bool auth_ok = false;
    int auth_status = 0;  // HTTP status of the authenticated GET (0: none)
    double auth_latency_ms = 0;
    std::string error;  // first failure, "" when every stage passed
    bool ok = false;
};

// Whether a provider's agents can be built now (GET /api/agents), read from the
// environment the way CheckKeys() and BaseUrlOf() read it. Never holds a key's value.
struct ProviderAvailability {
    std::string provider;       // canonical name ("anthropic", ..., "openai-compatible")
    std::string default_model;  // the model of a spec naming no model
    std::string key_env;        // "ANTHROPIC_API_KEY"; "" for openai-compatible
    std::string base_url_env;   // "ARAGORA_ANTHROPIC_BASE_URL"
    bool key_configured = false;
    bool base_url_set = false;
    // Key set; or, without its own key, OPENROUTER_API_KEY is set and OpenRouter answers
    // for it (via_openrouter); openai-compatible (no key): its base URL is set.
    bool available = false;
    bool via_openrouter = false;
    std::string reason;  // why not available ("ANTHROPIC_API_KEY is not set"), else ""
};

class AgentFactory {
public:
    // `client` may be null: then only demo agents can be built (LLM specs answer
    // kNotImplemented). `breakers` and `metrics` may be null.
    AgentFactory(FactorySettings settings, config::EnvLookup env, net::HttpClient* client,
                 resilience::CircuitBreakerRegistry* breakers, AgentMetrics* metrics,
                 resilience::RandomSource random = {});
    AgentFactory(const AgentFactory&) = delete;
    // Agent calls that fail past their retries go to `reporter` (null: nowhere). Set
    // before any agent is built.
    void SetErrorReporter(common::ErrorReporter* reporter) { context_.errors = reporter; }
    AgentFactory& operator=(const AgentFactory&) = delete;

    // kValidation naming the variable when an LLM spec's provider has no key now and
    // OPENROUTER_API_KEY is not set either (then OpenRouter answers for it).
    common::Status CheckKeys(const std::vector<AgentSpec>& specs) const;

    // CheckKeys, then one agent per spec, in order.
    common::Result<std::vector<std::shared_ptr<Agent>>> Build(
        const std::vector<AgentSpec>& specs) const;

    // The engine's bound on one agent turn: every attempt's deadline plus the backoff
    // ceilings between them (the per-attempt deadline is enforced by the agent).
    std::chrono::milliseconds TurnBudget() const;

    // Providers whose API key is set now, in table order (the api_keys health check).
    std::vector<std::string> ConfiguredProviders() const;

    // Every provider, in table order, with whether its agents can be built now.
    std::vector<ProviderAvailability> Availability() const;

    // POST /api/debug/agent-test: one propose call to `spec` (e.g. "claude"). Never an
    // error value: failures are reported in the result.
    boost::asio::awaitable<AgentTestResult> TestAgent(std::string spec, std::string prompt) const;

    // POST /api/debug/connectivity-check: DNS, TCP, TLS and an authenticated GET for
    // every provider with a key (and openai-compatible when its base URL is set), each
    // bounded by `timeout`; the providers are checked concurrently. Failures are data.
    boost::asio::awaitable<std::vector<ProviderConnectivity>> CheckConnectivity(
        std::chrono::milliseconds timeout) const;

    const FactorySettings& settings() const { return settings_; }
    resilience::CircuitBreakerRegistry* breakers() const { return context_.breakers; }

private:
    boost::asio::awaitable<ProviderConnectivity> CheckOne(wire::Provider provider,
                                                          std::chrono::milliseconds timeout) const;

    FactorySettings settings_;
    net::HttpClient* client_;
    ProviderContext context_;
    LatencyWindows latencies_;  // context_.latencies: time to first answer per provider
};

}  // namespace aragora::agents
