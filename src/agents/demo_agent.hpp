#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "agents/agent.hpp"

namespace aragora::agents {

// Personas of the built-in demo agents (cycle order for a bare `demo`).
enum class Persona { kAnalyst, kCritic, kModerator, kContrarian };
std::string_view ToString(Persona p);
// nullopt-like: returns false when `name` is not a persona.
bool ParsePersona(std::string_view name, Persona& out);

// Deterministic, network-free agent. Output depends only on (name, persona, request):
// same task + same agents ⇒ same debate. Each call waits `latency` (cancellable).
// Replies use the formats the engine parses from real models: proposals as text
// ending in "Confidence: 0.xx", critiques and votes as JSON objects.
class DemoAgent final : public Agent {
public:
    DemoAgent(std::string name, Persona persona, std::chrono::milliseconds latency);
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    Persona persona() const { return persona_; }
    boost::asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& request) override;

    // The reply text without latency (pure; used by Call and by tests).
    std::string Compose(const AgentRequest& request) const;

private:
    std::string name_;
    std::string provider_ = "demo";
    Persona persona_;
    std::chrono::milliseconds latency_;
};

}  // namespace aragora::agents
