// Agent resilience and diagnostics routes: circuit breakers (list, reset), the agent
// test and the provider connectivity check of the runbooks. Thin: the work is in
// agents::AgentFactory and resilience::CircuitBreakerRegistry.

#include <boost/json.hpp>
#include <cmath>

#include "agents/demo_agent.hpp"
#include "agents/wire.hpp"
#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;

constexpr std::string_view kDefaultPrompt = "Say hello";
constexpr std::size_t kMaxPromptChars = 10'000;

double Round2(double v) { return std::round(v * 100) / 100; }

json::object BreakerJson(const resilience::CircuitBreakerSnapshot& s,
                         const resilience::CircuitBreakerConfig& config) {
    json::object o;
    o["name"] = s.name;
    o["agent"] = s.name;
    o["state"] = resilience::ToString(s.state);
    o["consecutive_failures"] = s.consecutive_failures;
    o["failure_count"] = s.consecutive_failures;
    o["failure_threshold"] = config.failure_threshold;
    o["cooldown_seconds"] = std::chrono::duration<double>(config.cooldown).count();
    if (s.opened_at) {
        o["opened_at"] = common::FormatIso8601(*s.opened_at);
    } else {
        o["opened_at"] = nullptr;
    }
    return o;
}

asio::awaitable<net::HttpResponse> ListBreakers(ApiDeps& deps, RequestContext& ctx) {
    json::object by_name;
    json::array list;
    std::size_t open = 0, half_open = 0, closed = 0;
    resilience::CircuitBreakerConfig config;
    if (deps.agents != nullptr && deps.agents->breakers() != nullptr) {
        auto* registry = deps.agents->breakers();
        for (const auto& s : registry->Snapshot()) {
            if (auto* b = registry->Find(s.name)) config = b->Config();
            json::object o = BreakerJson(s, config);
            by_name[s.name] = o;
            list.push_back(std::move(o));
            switch (s.state) {
                case resilience::CircuitState::kOpen:
                    ++open;
                    break;
                case resilience::CircuitState::kHalfOpen:
                    ++half_open;
                    break;
                case resilience::CircuitState::kClosed:
                    ++closed;
                    break;
            }
        }
    }
    json::object body;
    body["circuit_breakers"] = std::move(by_name);
    body["breakers"] = std::move(list);
    body["summary"] = json::object{{"total", open + half_open + closed},
                                   {"open", open},
                                   {"half_open", half_open},
                                   {"closed", closed}};
    body["timestamp"] = common::FormatIso8601(std::chrono::system_clock::now());
    co_return JsonResponse(200, common::SerializeJson(body), ctx.correlation_id);
}

// GET /api/agents: what the start-debate form offers. Demo personas first (always
// available, no breaker), then every provider at its default model with its availability
// (AgentFactory::Availability; names of variables, never their values) and the state of
// the breaker its default model uses ("closed" until first used).
asio::awaitable<net::HttpResponse> ListAgents(ApiDeps& deps, RequestContext& ctx) {
    json::array list;
    for (auto persona : {agents::Persona::kAnalyst, agents::Persona::kCritic,
                         agents::Persona::kModerator, agents::Persona::kContrarian}) {
        const std::string name = "demo:" + std::string(agents::ToString(persona));
        json::object o;
        o["name"] = name;
        o["spec"] = name;
        o["provider"] = "demo";
        o["kind"] = "demo";
        o["model"] = nullptr;
        o["persona"] = agents::ToString(persona);
        o["available"] = true;
        o["reason"] = nullptr;
        o["key_env"] = nullptr;
        o["key_configured"] = false;
        o["base_url_env"] = nullptr;
        o["base_url_set"] = false;
        o["via_openrouter"] = false;
        o["circuit_breaker"] = nullptr;
        o["circuit_state"] = nullptr;
        list.push_back(std::move(o));
    }
    if (deps.agents != nullptr) {
        auto* registry = deps.agents->breakers();
        for (const agents::ProviderAvailability& a : deps.agents->Availability()) {
            const std::string breaker = a.provider + ":" + a.default_model;
            json::object o;
            o["name"] = a.provider;
            o["spec"] = breaker;
            o["provider"] = a.provider;
            o["kind"] = "provider";
            o["model"] = a.default_model;
            o["persona"] = nullptr;
            o["available"] = a.available;
            o["reason"] = a.reason.empty() ? json::value(nullptr) : json::value(a.reason);
            o["key_env"] = a.key_env.empty() ? json::value(nullptr) : json::value(a.key_env);
            o["key_configured"] = a.key_configured;
            o["base_url_env"] = a.base_url_env;
            o["base_url_set"] = a.base_url_set;
            o["via_openrouter"] = a.via_openrouter;
            o["circuit_breaker"] = breaker;
            auto* b = registry != nullptr ? registry->Find(breaker) : nullptr;
            o["circuit_state"] =
                resilience::ToString(b != nullptr ? b->State() : resilience::CircuitState::kClosed);
            list.push_back(std::move(o));
        }
    }
    json::object body;
    body["agents"] = std::move(list);
    co_return JsonResponse(200, common::SerializeJson(body), ctx.correlation_id);
}

// `name` may be a breaker ("anthropic:claude-x"), a provider or one of its aliases
// ("claude": every anthropic breaker). Unknown names are 404.
asio::awaitable<net::HttpResponse> ResetBreaker(ApiDeps& deps, RequestContext& ctx) {
    const std::string& name = ctx.params["name"];
    if (name.empty() || name.size() > 200) {
        co_return ErrorResponse(ErrorCode::kBadRequest, "agent name must be 1..200 characters",
                                ctx.correlation_id);
    }
    auto* registry = deps.agents != nullptr ? deps.agents->breakers() : nullptr;
    json::array reset;
    auto provider = agents::wire::ResolveProvider(name);
    if (registry != nullptr) {
        if (registry->Find(name) != nullptr) {
            if (registry->Reset(name).ok()) reset.emplace_back(name);
        } else if (provider) {
            const std::string prefix = std::string(agents::wire::Info(*provider).name) + ":";
            for (const auto& s : registry->Snapshot()) {
                if (s.name.rfind(prefix, 0) == 0 && registry->Reset(s.name).ok())
                    reset.emplace_back(s.name);
            }
        }
    }
    if (reset.empty() && !provider) {
        co_return ErrorResponse(ErrorCode::kNotFound,
                                "no circuit breaker or provider named '" + name + "'",
                                ctx.correlation_id);
    }
    json::object body;
    body["success"] = true;
    body["agent"] = name;
    body["state"] = "closed";
    body["reset_count"] = reset.size();
    body["message"] = reset.empty()
                          ? "no breaker of '" + name + "' has been used yet; nothing to reset"
                          : "circuit breaker reset to closed";
    body["reset"] = std::move(reset);
    co_return JsonResponse(200, common::SerializeJson(body), ctx.correlation_id);
}

// The runbook sends `-d '{"agent":"claude"}'` without a JSON content type, and may send
// no prompt: both are fine.
asio::awaitable<net::HttpResponse> AgentTest(ApiDeps& deps, RequestContext& ctx) {
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    const json::value* agent = body->if_contains("agent");
    if (agent == nullptr || !agent->is_string() || agent->get_string().empty()) {
        co_return ErrorResponse(common::MakeError(ErrorCode::kValidation,
                                                  "agent is required (e.g. \"claude\", "
                                                  "\"openai:gpt-4o\", \"demo\")",
                                                  "agent"),
                                ctx.correlation_id);
    }
    std::string prompt(kDefaultPrompt);
    if (const json::value* p = body->if_contains("prompt")) {
        if (!p->is_string()) {
            co_return ErrorResponse(
                common::MakeError(ErrorCode::kValidation, "prompt must be a string", "prompt"),
                ctx.correlation_id);
        }
        if (!p->get_string().empty()) prompt = std::string(p->get_string());
    }
    if (prompt.size() > kMaxPromptChars) {
        co_return ErrorResponse(
            common::MakeError(ErrorCode::kValidation, "prompt must be at most 10000 characters",
                              "prompt"),
            ctx.correlation_id);
    }
    if (deps.agents == nullptr) {
        co_return ErrorResponse(ErrorCode::kUnavailable, "the server is still starting",
                                ctx.correlation_id);
    }
    auto r = co_await deps.agents->TestAgent(std::string(agent->get_string()), prompt);
    if (!r.ok && r.error_code == "validation_error" && r.provider.empty()) {
        co_return ErrorResponse(common::MakeError(ErrorCode::kValidation, r.error, "agent"),
                                ctx.correlation_id);
    }
    json::object o;
    o["success"] = r.ok;
    o["agent"] = r.agent;
    o["provider"] = r.provider;
    o["model"] = r.model;
    o["prompt"] = prompt;
    o["response"] = r.reply;
    o["reply"] = r.reply;
    o["latency_ms"] = Round2(r.latency_ms);
    o["tokens"] = json::object{{"input", r.input_tokens},
                               {"output", r.output_tokens},
                               {"total", r.input_tokens + r.output_tokens}};
    if (r.ok) {
        o["error"] = nullptr;
        o["code"] = nullptr;
    } else {
        o["error"] = r.error;
        o["code"] = r.error_code;
    }
    if (auto* registry = deps.agents->breakers(); registry && !r.model.empty()) {
        if (auto* b = registry->Find(r.provider + ":" + r.model))
            o["circuit_state"] = resilience::ToString(b->State());
    }
    co_return JsonResponse(200, common::SerializeJson(o), ctx.correlation_id);
}

json::object StageJson(const net::ProbeReport::Stage& s) {
    json::object o;
    o["attempted"] = s.attempted;
    o["ok"] = s.ok;
    o["latency_ms"] = Round2(s.latency_ms);
    if (s.error.empty()) {
        o["error"] = nullptr;
    } else {
        o["error"] = s.error;
    }
    return o;
}

asio::awaitable<net::HttpResponse> Connectivity(ApiDeps& deps, RequestContext& ctx) {
    if (deps.agents == nullptr) {
        co_return ErrorResponse(ErrorCode::kUnavailable, "the server is still starting",
                                ctx.correlation_id);
    }
    auto results = co_await deps.agents->CheckConnectivity(std::chrono::seconds(5));
    json::array providers;
    std::size_t ok = 0;
    for (const auto& c : results) {
        json::object o;
        o["provider"] = c.provider;
        o["base_url"] = c.base_url;
        o["key_configured"] = c.key_configured;
        o["ok"] = c.ok;
        o["dns"] = StageJson(c.probe.dns);
        o["tcp"] = StageJson(c.probe.tcp);
        o["tls"] = StageJson(c.probe.tls);
        o["resolved_address"] = c.probe.resolved_address;
        json::object auth;
        auth["attempted"] = c.auth_attempted;
        auth["ok"] = c.auth_ok;
        auth["status"] = c.auth_status;
        auth["latency_ms"] = Round2(c.auth_latency_ms);
        o["auth"] = std::move(auth);
        if (c.error.empty()) {
            o["error"] = nullptr;
        } else {
            o["error"] = c.error;
        }
        ok += c.ok ? 1 : 0;
        providers.push_back(std::move(o));
    }
    json::object body;
    body["status"] = results.empty()        ? "no_providers"
                     : ok == results.size() ? "ok"
                     : ok == 0              ? "failed"
                                            : "degraded";
    body["checked"] = results.size();
    body["reachable"] = ok;
    if (results.empty()) {
        body["message"] =
            "no LLM provider key is set (ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY, "
            "MISTRAL_API_KEY, GEMINI_API_KEY, XAI_API_KEY): only demo agents can debate";
    }
    body["providers"] = std::move(providers);
    body["checked_at"] = common::FormatIso8601(std::chrono::system_clock::now());
    co_return JsonResponse(200, common::SerializeJson(body), ctx.correlation_id);
}

}  // namespace

Handler ListAgentsHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ListAgents(deps, ctx); };
}
Handler CircuitBreakersHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ListBreakers(deps, ctx); };
}
Handler ResetCircuitHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ResetBreaker(deps, ctx); };
}
Handler AgentTestHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return AgentTest(deps, ctx); };
}
Handler ConnectivityCheckHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Connectivity(deps, ctx); };
}

}  // namespace aragora::api
