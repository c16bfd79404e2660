#include "agents/factory.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "agents/demo_agent.hpp"
#include "common/strings.hpp"

namespace aragora::agents {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Result;

double MsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

}  // namespace

FactorySettings FactorySettingsFrom(const config::Settings& s) {
    FactorySettings f;
    f.demo_latency = std::chrono::milliseconds(s.debate.demo_latency_ms);
    f.calls.attempt_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(s.debate.agent_timeout_seconds * 1000));
    f.calls.retry.base = std::chrono::milliseconds(s.agents.retry_base_ms);
    f.calls.retry.cap = std::chrono::milliseconds(s.agents.retry_cap_ms);
    f.calls.retry.max_retries = s.agents.max_retries;
    f.calls.stream = s.agents.stream;
    f.calls.max_tokens = s.agents.max_tokens;
    f.calls.hedge.enabled = s.agents.hedge_enabled;
    f.calls.hedge.after = std::chrono::milliseconds(s.agents.hedge_after_ms);
    f.calls.hedge.floor = std::chrono::milliseconds(s.agents.hedge_min_ms);
    return f;
}

resilience::CircuitBreakerConfig BreakerConfigFrom(const config::AgentSettings& s) {
    resilience::CircuitBreakerConfig c;
    c.failure_threshold = s.breaker_failure_threshold;
    c.cooldown = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(s.breaker_cooldown_seconds));
    return c;
}

net::HttpClientOptions ClientOptionsFrom(const config::AgentSettings& s) {
    net::HttpClientOptions o;
    // A server runs many debates against the same few provider hosts: a phase's calls
    // end together, and every connection beyond the idle bound is closed and opened
    // again (TCP, and TLS in production) by the next phase. 8 per host made connect()
    // and close() ~15 % of the server's CPU at 40 debates (perf, bench/README.md).
    o.max_idle_per_host = 256;
    o.https_proxy = s.https_proxy;
    o.no_proxy = s.no_proxy;
    o.ca_file = s.ca_file;
    return o;
}

std::shared_ptr<net::ConnectionBudget> ProviderBudgetFrom(const config::AgentSettings& s,
                                                          const common::Clock& clock) {
    const std::size_t nofile = net::RaiseNofileSoftLimit();
    const std::size_t slots =
        net::DefaultConnectionSlots(static_cast<std::size_t>(s.provider_connections), nofile);
    const std::size_t queue = s.provider_call_queue_max > 0
                                  ? static_cast<std::size_t>(s.provider_call_queue_max)
                                  : 4 * slots;
    return std::make_shared<net::ConnectionBudget>(clock, slots, queue);
}

AgentFactory::AgentFactory(FactorySettings settings, config::EnvLookup env, net::HttpClient* client,
                           resilience::CircuitBreakerRegistry* breakers, AgentMetrics* metrics,
                           resilience::RandomSource random)
    : settings_(settings),
      client_(client),
      context_{client,         std::move(env),
               breakers,       metrics,
               settings.calls, resilience::Backoff(settings.calls.retry, std::move(random))},
      latencies_(settings.calls.hedge.window) {
    context_.latencies = &latencies_;
}

common::Status AgentFactory::CheckKeys(const std::vector<AgentSpec>& specs) const {
    const bool openrouter = !KeyOf(context_.env, wire::Provider::kOpenRouter).empty();
    for (const auto& spec : specs) {
        if (spec.provider == "demo") continue;
        auto provider = wire::ResolveProvider(spec.provider);
        if (!provider) {
            return MakeError(ErrorCode::kValidation, "unknown provider '" + spec.provider + "'",
                             "agents");
        }
        const auto& info = wire::Info(*provider);
        if (info.key_env.empty() || !KeyOf(context_.env, *provider).empty()) continue;
        if (openrouter && *provider != wire::Provider::kOpenRouter) continue;
        return MakeError(ErrorCode::kValidation,
                         std::string(info.key_env) + " is not set: agent '" + spec.name +
                             "' needs it (or set OPENROUTER_API_KEY to run it through OpenRouter)",
                         "agents");
    }
    return {};
}

Result<std::vector<std::shared_ptr<Agent>>> AgentFactory::Build(
    const std::vector<AgentSpec>& specs) const {
    if (auto keys = CheckKeys(specs); !keys.ok()) return keys.error();
    std::vector<std::shared_ptr<Agent>> out;
    for (const auto& spec : specs) {
        if (spec.provider == "demo") {
            auto demo = BuildDemoAgent(spec, settings_.demo_latency);
            if (!demo) return demo.error();
            out.push_back(std::move(*demo));
            continue;
        }
        if (client_ == nullptr) {
            return MakeError(ErrorCode::kNotImplemented,
                             "provider agents need the network client, which this command "
                             "does not start",
                             "agents");
        }
        auto provider = wire::ResolveProvider(spec.provider);
        if (!provider) {
            return MakeError(ErrorCode::kValidation, "unknown provider '" + spec.provider + "'",
                             "agents");
        }
        out.push_back(std::make_shared<ProviderAgent>(spec.name, *provider, spec.model, context_));
    }
    return out;
}

std::chrono::milliseconds AgentFactory::TurnBudget() const {
    const auto& c = settings_.calls;
    const int attempts = std::max(0, c.retry.max_retries) + 1;
    std::chrono::nanoseconds total = c.attempt_timeout * attempts;
    resilience::Backoff b(c.retry, [] { return 0.0; });
    for (int i = 0; i < attempts - 1; ++i) total += std::max(b.Ceiling(i), c.retry.cap);
    // One OpenRouter fallback attempt may follow the direct ones.
    total += c.attempt_timeout;
    return std::chrono::duration_cast<std::chrono::milliseconds>(total);
}

std::vector<std::string> AgentFactory::ConfiguredProviders() const {
    std::vector<std::string> out;
    for (const auto& info : wire::Providers()) {
        if (!info.key_env.empty() && !KeyOf(context_.env, info.provider).empty())
            out.emplace_back(info.name);
    }
    return out;
}

std::vector<ProviderAvailability> AgentFactory::Availability() const {
    const bool openrouter = !KeyOf(context_.env, wire::Provider::kOpenRouter).empty();
    std::vector<ProviderAvailability> out;
    for (const auto& info : wire::Providers()) {
        ProviderAvailability a;
        a.provider = std::string(info.name);
        a.default_model = std::string(info.default_model);
        a.key_env = std::string(info.key_env);
        a.base_url_env = std::string(info.base_url_env);
        a.key_configured = !KeyOf(context_.env, info.provider).empty();
        auto base = context_.env ? context_.env(info.base_url_env) : std::nullopt;
        a.base_url_set = base && !common::Trim(*base).empty();
        if (info.key_env.empty()) {
            a.available = a.base_url_set;
            if (!a.available) a.reason = std::string(info.base_url_env) + " is not set";
        } else if (a.key_configured) {
            a.available = true;
        } else if (openrouter && info.provider != wire::Provider::kOpenRouter) {
            a.available = true;
            a.via_openrouter = true;
        } else {
            a.reason = std::string(info.key_env) + " is not set";
        }
        out.push_back(std::move(a));
    }
    return out;
}

asio::awaitable<AgentTestResult> AgentFactory::TestAgent(std::string spec_text,
                                                         std::string prompt) const {
    AgentTestResult out;
    out.agent = spec_text;
    auto specs = ParseAgentSpecs({spec_text});
    if (!specs) {
        out.error_code = std::string(common::ToString(specs.error().code));
        out.error = specs.error().message;
        co_return out;
    }
    const AgentSpec& spec = specs->front();
    out.agent = spec.name;
    out.provider = spec.provider;
    if (spec.provider != "demo") out.model = spec.model;
    auto built = Build(*specs);
    if (!built) {
        out.error_code = std::string(common::ToString(built.error().code));
        out.error = built.error().message;
        co_return out;
    }
    AgentRequest req;
    req.phase = Phase::kPropose;
    req.debate_id = "agent-test";
    req.task = prompt;
    req.prompt = prompt;
    req.system_prompt = "You are being health-checked by an operator. Answer briefly.";
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await built->front()->Call(req);
    out.latency_ms = MsSince(start);
    if (!r) {
        out.error_code = std::string(common::ToString(r.error().code));
        out.error = r.error().message;
        co_return out;
    }
    out.ok = true;
    out.reply = std::move(r->text);
    out.input_tokens = r->usage.input_tokens;
    out.output_tokens = r->usage.output_tokens;
    co_return out;
}

asio::awaitable<ProviderConnectivity> AgentFactory::CheckOne(
    wire::Provider provider, std::chrono::milliseconds timeout) const {
    const auto& info = wire::Info(provider);
    const std::string key = KeyOf(context_.env, provider);
    ProviderConnectivity c;
    c.provider = std::string(info.name);
    c.base_url = BaseUrlOf(context_.env, provider);
    c.key_configured = !key.empty();
    if (client_ == nullptr) {
        c.error = "no network client in this command";
        co_return c;
    }
    c.probe = co_await client_->Probe(c.base_url, timeout);
    const bool reachable =
        c.probe.dns.ok && c.probe.tcp.ok && (!c.probe.tls.attempted || c.probe.tls.ok);
    if (!reachable) {
        for (const auto* stage : {&c.probe.dns, &c.probe.tcp, &c.probe.tls}) {
            if (stage->attempted && !stage->ok) {
                c.error = stage->error;
                break;
            }
        }
        if (c.error.empty()) c.error = "unreachable";
        co_return c;
    }
    auto request = wire::BuildModelsRequest(provider, c.base_url, key);
    request.timeout = timeout;
    c.auth_attempted = true;
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await client_->Send(std::move(request));
    c.auth_latency_ms = MsSince(start);
    if (!r) {
        c.error = r.error().message;
    } else {
        c.auth_status = r->status;
        c.auth_ok = r->status >= 200 && r->status < 300;
        if (!c.auth_ok) {
            std::string m = wire::ErrorMessage(r->body);
            c.error = "HTTP " + std::to_string(r->status) + (m.empty() ? "" : ": " + m);
        }
    }
    c.ok = c.auth_ok;
    co_return c;
}

asio::awaitable<std::vector<ProviderConnectivity>> AgentFactory::CheckConnectivity(
    std::chrono::milliseconds timeout) const {
    std::vector<wire::Provider> configured;
    for (const auto& info : wire::Providers()) {
        bool on = !KeyOf(context_.env, info.provider).empty();
        if (info.key_env.empty()) {
            auto base = context_.env ? context_.env(info.base_url_env) : std::nullopt;
            on = base && !base->empty();
        }
        if (on) configured.push_back(info.provider);
    }
    std::vector<ProviderConnectivity> out;
    if (configured.empty()) co_return out;
    // Every provider at once: the check takes as long as the slowest one.
    auto ex = co_await asio::this_coro::executor;
    using Op = decltype(asio::co_spawn(ex, CheckOne(configured[0], timeout), asio::deferred));
    std::vector<Op> ops;
    for (auto p : configured)
        ops.push_back(asio::co_spawn(ex, CheckOne(p, timeout), asio::deferred));
    auto [order, eps, results] =
        co_await asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (eps[i]) {
            ProviderConnectivity c;
            c.provider = std::string(wire::Info(configured[i]).name);
            c.error = "check aborted";
            out.push_back(std::move(c));
        } else {
            out.push_back(std::move(results[i]));
        }
    }
    co_return out;
}

}  // namespace aragora::agents
