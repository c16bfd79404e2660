#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agents/agent.hpp"
#include "common/result.hpp"

namespace aragora::agents {

// A parsed agent spec: `provider[:model-or-persona]`.
struct AgentSpec {
    std::string provider;
    std::string model;    // model or persona; may be empty
    std::string persona;  // resolved persona for demo agents
    std::string name;     // unique display name within the debate
};

struct RegistrySettings {
    std::chrono::milliseconds demo_latency{0};
};

// Parses "demo,demo:critic,demo" (comma string) or a list of specs; assigns personas
// to bare `demo` from the fixed cycle (analyst, critic, moderator, contrarian) and
// names repeats `#2`, `#3`. Unknown providers or personas are validation errors.
common::Result<std::vector<AgentSpec>> ParseAgentSpecs(const std::vector<std::string>& specs);
common::Result<std::vector<AgentSpec>> ParseAgentList(std::string_view comma_separated);

// Builds agents for parsed specs. Only `demo` exists in this build.
common::Result<std::vector<std::shared_ptr<Agent>>> BuildAgents(const std::vector<AgentSpec>& specs,
                                                                const RegistrySettings& settings);

}  // namespace aragora::agents
