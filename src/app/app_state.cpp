#include "app/app_state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "app/secrets_source.hpp"
#include "common/build_info.hpp"
#include "common/logging.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.app"); }

common::Error NotReady() {
    return common::MakeError(ErrorCode::kUnavailable, "the server is still starting");
}

resilience::CircuitBreakerRegistryOptions BreakerOptions(const config::Settings& s,
                                                         metrics::Registry& r) {
    resilience::CircuitBreakerRegistryOptions o;
    o.breaker = agents::BreakerConfigFrom(s.agents);
    o.state_gauge = &resilience::AddCircuitBreakerStateGauge(r);
    return o;
}

net::HttpClientOptions ClientOptions(const config::Settings& s,
                                     std::shared_ptr<net::ConnectionBudget> budget) {
    net::HttpClientOptions o = agents::ClientOptionsFrom(s.agents);
    o.budget = std::move(budget);
    o.user_agent = std::string("aragora-cpp/") + build::kVersion;
    return o;
}

int IoThreads(const config::Settings& settings) {
    int n = settings.server.io_threads;
    if (n <= 0) n = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
    return n;
}

}  // namespace

asio::awaitable<Result<storage::DebateRecord>> GatedDebateService::Create(
    service::CreateDebateRequest r) {
    if (auto* s = Get()) co_return co_await s->Create(std::move(r));
    co_return NotReady();
}
asio::awaitable<Result<storage::DebateRecord>> GatedDebateService::Cancel(const std::string& id) {
    if (auto* s = Get()) co_return co_await s->Cancel(id);
    co_return NotReady();
}
asio::awaitable<Result<storage::DebateRecord>> GatedDebateService::Get(const std::string& id) {
    if (auto* s = Get()) co_return co_await s->Get(id);
    co_return NotReady();
}
asio::awaitable<Result<storage::DebatePage>> GatedDebateService::List(storage::DebateFilter f) {
    if (auto* s = Get()) co_return co_await s->List(std::move(f));
    co_return NotReady();
}
asio::awaitable<Result<service::EventsPage>> GatedDebateService::Events(const std::string& id,
                                                                        std::int64_t since,
                                                                        int limit) {
    if (auto* s = Get()) co_return co_await s->Events(id, since, limit);
    co_return NotReady();
}
asio::awaitable<Result<storage::ReceiptRecord>> GatedDebateService::Receipt(const std::string& id) {
    if (auto* s = Get()) co_return co_await s->Receipt(id);
    co_return NotReady();
}
asio::awaitable<Result<storage::ReceiptPage>> GatedDebateService::Receipts(
    const std::string& debate_id, int limit, int offset) {
    if (auto* s = Get()) co_return co_await s->Receipts(debate_id, limit, offset);
    co_return NotReady();
}
service::ServiceStats GatedDebateService::Stats() const {
    if (auto* s = Get()) return s->Stats();
    return {};
}

App::App(config::Settings s, std::shared_ptr<SecretsSource> secrets_source)
    : settings(std::move(s)),
      secrets(std::move(secrets_source)),
      ioc(IoThreads(settings)),
      pool(2, 4096),
      hub(static_cast<std::size_t>(settings.server.event_replay_buffer_size), 256,
          static_cast<std::size_t>(settings.server.event_replay_buffer_unwatched)),
      health_transitions(registry.AddCounter(
          "aragora_health_transitions_total",
          "Component health state changes (HealthChecker: 3 failures unhealthy, 2 "
          "successes recovered)",
          {"component", "state"})),
      health(clock, resilience::HealthCheckerConfig{},
             [this](const resilience::HealthStatus& st) {
                 const char* state = st.healthy ? "recovered" : "unhealthy";
                 health_transitions.WithLabels({st.name, state}).Inc();
                 Log()->warn(
                     "health component={} state={} consecutive_failures={} "
                     "last_error={}",
                     st.name, state, st.consecutive_failures, st.last_error);
             }),
      process(registry, clock),
      breakers(clock, BreakerOptions(settings, registry)),
      provider_budget(agents::ProviderBudgetFrom(settings.agents, clock)),
      http(ioc, ClientOptions(settings, provider_budget)),
      agent_metrics(registry),
      agents(agents::FactorySettingsFrom(settings), secrets ? secrets->Env() : config::ProcessEnv(),
             &http, &breakers, &agent_metrics),
      retention(RetentionOptionsFrom(settings.receipts), pool, clock, registry) {
    net::ConnectionBudget* budget = provider_budget.get();
    registry.AddCallbackGauge(
        "aragora_provider_connections_limit",
        "Provider calls in flight allowed at once (ARAGORA_PROVIDER_CONNECTIONS)",
        [budget] { return static_cast<double>(budget->Stats().slots); });
    registry.AddCallbackGauge("aragora_provider_calls_in_flight",
                              "Provider calls holding a connection of the budget",
                              [budget] { return static_cast<double>(budget->Stats().in_use); });
    registry.AddCallbackGauge("aragora_provider_calls_waiting",
                              "Provider calls waiting for a connection of the budget",
                              [budget] { return static_cast<double>(budget->Stats().waiting); });
    registry.AddCallbackCounter("aragora_provider_call_waits_total",
                                "Provider calls that had to wait for a connection of the budget",
                                [budget] { return static_cast<double>(budget->Stats().waited); });
    registry.AddCallbackCounter(
        "aragora_provider_call_wait_timeouts_total",
        "Provider calls whose deadline passed while they waited for a connection",
        [budget] { return static_cast<double>(budget->Stats().timeouts); });
}

int App::Threads() const { return IoThreads(settings); }

void App::FailStartup(const std::string& reason) {
    SetNotReady(reason);
    Log()->critical("startup failed: {}", reason);
    std::cerr << "aragora: cannot start: " << reason << std::endl;
    exit_code = 1;
    ioc.stop();
}

void App::SetNotReady(std::string reason) {
    std::lock_guard lock(reason_mutex);
    not_ready_reason = std::move(reason);
    ready = false;
}

std::string App::NotReadyReason() {
    std::lock_guard lock(reason_mutex);
    return not_ready_reason;
}

bool App::StorageWritable() const {
    const service::LocalDebateService* s = debates.Get();
    return s == nullptr || s->write_health().writable();
}

double App::Uptime() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace aragora::app
