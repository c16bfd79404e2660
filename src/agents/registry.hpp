#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agents/agent.hpp"
#include "common/result.hpp"

namespace aragora::agents {

// A parsed agent spec: `provider[:model-or-persona][@name]`.
struct AgentSpec {
    std::string provider;  // canonical: "demo", "anthropic", "openai", ..., "openai-compatible"
    std::string model;     // LLM: the model (the provider's default when none was given);
                           // demo: the persona as written (may be empty)
    std::string persona;   // resolved persona for demo agents
    std::string name;      // unique display name within the debate
};

struct RegistrySettings {
    std::chrono::milliseconds demo_latency{0};
};

// Parses "demo,demo:critic,claude,openai:gpt-4o@skeptic" (comma string) or a list of
// specs. Provider names and the runbooks' aliases (claude → anthropic, gpt/gpt-4 →
// openai, grok → xai, ...) are accepted in any case; an LLM spec without a model gets
// the alias's model or the provider's default. Bare `demo` takes the next persona of
// the fixed cycle (analyst, critic, moderator, contrarian). Names: `@name` when given,
// else "demo:<persona>" / "<provider>:<model>"; repeats get `#2`, `#3`. Unknown
// providers or personas, malformed models or names are validation errors.
common::Result<std::vector<AgentSpec>> ParseAgentSpecs(const std::vector<std::string>& specs);
common::Result<std::vector<AgentSpec>> ParseAgentList(std::string_view comma_separated);

// The circuit breaker (and metrics) key of an LLM spec: "<provider>:<model>", shared by
// every debate using that model whatever the display name.
std::string BreakerKey(const AgentSpec& spec);

// Builds demo agents only (the local CLI without network and tests); LLM specs are
// answered kNotImplemented here — AgentFactory (agents/factory.hpp) builds those.
common::Result<std::vector<std::shared_ptr<Agent>>> BuildAgents(const std::vector<AgentSpec>& specs,
                                                                const RegistrySettings& settings);

// One demo agent from its spec (persona validated).
common::Result<std::shared_ptr<Agent>> BuildDemoAgent(const AgentSpec& spec,
                                                      std::chrono::milliseconds latency);

}  // namespace aragora::agents
