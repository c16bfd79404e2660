#include "agents/registry.hpp"

#include <algorithm>
#include <map>

#include "agents/demo_agent.hpp"

namespace aragora::agents {
namespace {

using common::ErrorCode;
using common::MakeError;

constexpr std::string_view kField = "agents";
constexpr std::string_view kDemo = "demo";
constexpr Persona kPersonaCycle[] = {Persona::kAnalyst, Persona::kCritic, Persona::kModerator,
                                     Persona::kContrarian};
// Providers of the full product that this build does not ship yet.
constexpr std::string_view kPlannedProviders[] = {
    "anthropic", "openai", "openrouter", "mistral", "xai", "gemini", "openai-compatible"};

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string ToLower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string PersonaList() {
    std::string out;
    for (auto p : kPersonaCycle) {
        if (!out.empty()) out += ", ";
        out += ToString(p);
    }
    return out;
}

}  // namespace

common::Result<std::vector<AgentSpec>> ParseAgentSpecs(const std::vector<std::string>& specs) {
    std::vector<AgentSpec> out;
    std::map<std::string, int> seen;
    std::size_t bare_demo = 0;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const std::string_view raw = Trim(specs[i]);
        if (raw.empty()) {
            return MakeError(ErrorCode::kValidation,
                             "empty agent spec at position " + std::to_string(i + 1),
                             std::string(kField));
        }
        const std::size_t colon = raw.find(':');
        AgentSpec spec;
        spec.provider = ToLower(Trim(raw.substr(0, colon)));
        if (colon != std::string_view::npos) spec.model = std::string(Trim(raw.substr(colon + 1)));

        if (spec.provider == kDemo) {
            Persona persona = kPersonaCycle[bare_demo % std::size(kPersonaCycle)];
            if (spec.model.empty()) {
                ++bare_demo;
            } else if (!ParsePersona(spec.model, persona)) {
                return MakeError(
                    ErrorCode::kValidation,
                    "unknown demo persona '" + spec.model + "' (available: " + PersonaList() + ")",
                    std::string(kField));
            }
            spec.persona = std::string(ToString(persona));
            spec.name = "demo:" + spec.persona;
        } else if (std::find(std::begin(kPlannedProviders), std::end(kPlannedProviders),
                             spec.provider) != std::end(kPlannedProviders)) {
            return MakeError(ErrorCode::kNotImplemented,
                             "provider '" + spec.provider + "' is not implemented yet",
                             std::string(kField));
        } else {
            return MakeError(ErrorCode::kValidation,
                             "unknown agent provider '" + std::string(Trim(raw.substr(0, colon))) +
                                 "' (available: demo)",
                             std::string(kField));
        }

        const int count = ++seen[spec.name];
        if (count > 1) spec.name += "#" + std::to_string(count);
        out.push_back(std::move(spec));
    }
    return out;
}

common::Result<std::vector<AgentSpec>> ParseAgentList(std::string_view comma_separated) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = comma_separated.find(',', start);
        parts.emplace_back(comma_separated.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return ParseAgentSpecs(parts);
}

common::Result<std::vector<std::shared_ptr<Agent>>> BuildAgents(const std::vector<AgentSpec>& specs,
                                                                const RegistrySettings& settings) {
    std::vector<std::shared_ptr<Agent>> agents;
    for (const auto& spec : specs) {
        if (spec.provider != kDemo) {
            return MakeError(ErrorCode::kNotImplemented,
                             "provider '" + spec.provider + "' is not implemented yet",
                             std::string(kField));
        }
        Persona persona = Persona::kAnalyst;
        const std::string& persona_name = spec.persona.empty() ? spec.model : spec.persona;
        if (!ParsePersona(persona_name, persona)) {
            return MakeError(
                ErrorCode::kValidation,
                "unknown demo persona '" + persona_name + "' (available: " + PersonaList() + ")",
                std::string(kField));
        }
        std::string name = spec.name.empty() ? "demo:" + std::string(ToString(persona)) : spec.name;
        agents.push_back(
            std::make_shared<DemoAgent>(std::move(name), persona, settings.demo_latency));
    }
    return agents;
}

}  // namespace aragora::agents
