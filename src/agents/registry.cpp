#include "agents/registry.hpp"

#include <algorithm>
#include <map>

#include "agents/demo_agent.hpp"
#include "agents/wire.hpp"
#include "common/strings.hpp"

namespace aragora::agents {
namespace {

using common::ErrorCode;
using common::MakeError;

constexpr std::string_view kField = "agents";
constexpr std::string_view kDemo = "demo";
constexpr Persona kPersonaCycle[] = {Persona::kAnalyst, Persona::kCritic, Persona::kModerator,
                                     Persona::kContrarian};
constexpr std::size_t kMaxModelChars = 128;
constexpr std::size_t kMaxNameChars = 64;

std::string PersonaList() {
    std::string out;
    for (auto p : kPersonaCycle) {
        if (!out.empty()) out += ", ";
        out += ToString(p);
    }
    return out;
}

std::string ProviderList() {
    std::string out(kDemo);
    for (const auto& p : wire::Providers()) {
        out += ", ";
        out += p.name;
    }
    return out + "; aliases: claude, gpt, gpt-4, grok, google, local";
}

// Models are sent to providers and shown in names: visible ASCII without '@' and ','.
bool ValidModel(std::string_view m) {
    if (m.empty() || m.size() > kMaxModelChars) return false;
    return std::all_of(m.begin(), m.end(), [](char c) {
        return c > 0x20 && c < 0x7f && c != '@' && c != ',' && c != '"' && c != '\\';
    });
}

bool ValidName(std::string_view n) {
    if (n.empty() || n.size() > kMaxNameChars) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == ':';
    });
}

}  // namespace

common::Result<std::vector<AgentSpec>> ParseAgentSpecs(const std::vector<std::string>& specs) {
    std::vector<AgentSpec> out;
    std::map<std::string, int> seen;
    std::size_t bare_demo = 0;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        std::string_view raw = common::TrimOws(specs[i]);
        if (raw.empty()) {
            return MakeError(ErrorCode::kValidation,
                             "empty agent spec at position " + std::to_string(i + 1),
                             std::string(kField));
        }
        std::string explicit_name;
        if (const std::size_t at = raw.rfind('@'); at != std::string_view::npos) {
            explicit_name = std::string(common::TrimOws(raw.substr(at + 1)));
            raw = common::TrimOws(raw.substr(0, at));
            if (!ValidName(explicit_name)) {
                return MakeError(ErrorCode::kValidation,
                                 "agent name '" + explicit_name + "' must be 1.." +
                                     std::to_string(kMaxNameChars) +
                                     " characters of A-Z a-z 0-9 - _ . :",
                                 std::string(kField));
            }
        }
        const std::size_t colon = raw.find(':');
        const std::string typed = common::ToLower(common::TrimOws(raw.substr(0, colon)));
        AgentSpec spec;
        if (colon != std::string_view::npos)
            spec.model = std::string(common::TrimOws(raw.substr(colon + 1)));

        if (typed == kDemo) {
            spec.provider = std::string(kDemo);
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
        } else if (auto provider = wire::ResolveProvider(typed)) {
            const auto& info = wire::Info(*provider);
            spec.provider = std::string(info.name);
            if (spec.model.empty()) {
                auto implied = wire::AliasModel(typed);
                spec.model = implied ? *implied : std::string(info.default_model);
            }
            if (!ValidModel(spec.model)) {
                return MakeError(ErrorCode::kValidation,
                                 "invalid model '" + spec.model + "' for provider '" +
                                     spec.provider + "' (1.." + std::to_string(kMaxModelChars) +
                                     " visible characters, no '@' or ',')",
                                 std::string(kField));
            }
            spec.name = spec.provider + ":" + spec.model;
        } else {
            return MakeError(ErrorCode::kValidation,
                             "unknown agent provider '" +
                                 std::string(common::TrimOws(raw.substr(0, colon))) +
                                 "' (available: " + ProviderList() + ")",
                             std::string(kField));
        }
        if (!explicit_name.empty()) spec.name = explicit_name;

        const int count = ++seen[spec.name];
        if (count > 1) spec.name += "#" + std::to_string(count);
        out.push_back(std::move(spec));
    }
    return out;
}

common::Result<std::vector<AgentSpec>> ParseAgentList(std::string_view comma_separated) {
    std::vector<std::string> parts;
    for (const std::string_view part : common::Split(comma_separated, ','))
        parts.emplace_back(part);
    return ParseAgentSpecs(parts);
}

std::string BreakerKey(const AgentSpec& spec) { return spec.provider + ":" + spec.model; }

common::Result<std::shared_ptr<Agent>> BuildDemoAgent(const AgentSpec& spec,
                                                      std::chrono::milliseconds latency) {
    Persona persona = Persona::kAnalyst;
    const std::string& persona_name = spec.persona.empty() ? spec.model : spec.persona;
    if (!ParsePersona(persona_name, persona)) {
        return MakeError(
            ErrorCode::kValidation,
            "unknown demo persona '" + persona_name + "' (available: " + PersonaList() + ")",
            std::string(kField));
    }
    std::string name = spec.name.empty() ? "demo:" + std::string(ToString(persona)) : spec.name;
    return std::shared_ptr<Agent>(std::make_shared<DemoAgent>(std::move(name), persona, latency));
}

common::Result<std::vector<std::shared_ptr<Agent>>> BuildAgents(const std::vector<AgentSpec>& specs,
                                                                const RegistrySettings& settings) {
    std::vector<std::shared_ptr<Agent>> agents;
    for (const auto& spec : specs) {
        if (spec.provider != kDemo) {
            return MakeError(ErrorCode::kNotImplemented,
                             "provider '" + spec.provider + "' needs the network agent factory",
                             std::string(kField));
        }
        auto agent = BuildDemoAgent(spec, settings.demo_latency);
        if (!agent) return agent.error();
        agents.push_back(std::move(*agent));
    }
    return agents;
}

}  // namespace aragora::agents
