#include "app/server_app.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "agents/factory.hpp"
#include "api/api.hpp"
#include "api/security.hpp"
#include "api/ws_handler.hpp"
#include "app/distributed.hpp"
#include "auth/api_key.hpp"
#include "auth/service.hpp"
#include "common/blocking_pool.hpp"
#include "common/build_info.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "config/settings.hpp"
#include "debate/receipt_keys.hpp"
#include "events/hub.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/registry.hpp"
#include "net/http_client.hpp"
#include "net/server.hpp"
#include "ratelimit/ip.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/redis_limiter.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/health.hpp"
#include "service/local_debate_service.hpp"
#include "storage/open_stores.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::Result;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.app"); }

asio::awaitable<void> SleepFor(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

const char* kProviderKeys[] = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY",
                               "MISTRAL_API_KEY",   "GEMINI_API_KEY", "XAI_API_KEY"};

// Answers kUnavailable until the real service exists (the startup sequence builds it
// after the listeners are up, so that /readyz can say "startup in progress").
class GatedDebateService final : public service::DebateService {
public:
    void Set(service::LocalDebateService* s) { inner_.store(s); }
    service::LocalDebateService* Get() const { return inner_.load(); }

    asio::awaitable<Result<storage::DebateRecord>> Create(service::CreateDebateRequest r) override {
        if (auto* s = Get()) co_return co_await s->Create(std::move(r));
        co_return NotReady();
    }
    asio::awaitable<Result<storage::DebateRecord>> Cancel(const std::string& id) override {
        if (auto* s = Get()) co_return co_await s->Cancel(id);
        co_return NotReady();
    }
    asio::awaitable<Result<storage::DebateRecord>> Get(const std::string& id) override {
        if (auto* s = Get()) co_return co_await s->Get(id);
        co_return NotReady();
    }
    asio::awaitable<Result<storage::DebatePage>> List(storage::DebateFilter f) override {
        if (auto* s = Get()) co_return co_await s->List(std::move(f));
        co_return NotReady();
    }
    asio::awaitable<Result<service::EventsPage>> Events(const std::string& id, std::int64_t since,
                                                        int limit) override {
        if (auto* s = Get()) co_return co_await s->Events(id, since, limit);
        co_return NotReady();
    }
    asio::awaitable<Result<storage::ReceiptRecord>> Receipt(const std::string& id) override {
        if (auto* s = Get()) co_return co_await s->Receipt(id);
        co_return NotReady();
    }
    asio::awaitable<Result<storage::ReceiptPage>> Receipts(const std::string& debate_id, int limit,
                                                           int offset) override {
        if (auto* s = Get()) co_return co_await s->Receipts(debate_id, limit, offset);
        co_return NotReady();
    }
    service::ServiceStats Stats() const override {
        if (auto* s = Get()) return s->Stats();
        return {};
    }

private:
    static common::Error NotReady() {
        return common::MakeError(ErrorCode::kUnavailable, "the server is still starting");
    }
    std::atomic<service::LocalDebateService*> inner_{nullptr};
};

// Everything the server owns, in construction order.
struct App {
    explicit App(config::Settings s)
        : settings(std::move(s)),
          ioc(Threads()),
          pool(2, 4096),
          hub(static_cast<std::size_t>(settings.server.event_replay_buffer_size)),
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
          http(ioc, ClientOptions(settings)),
          agent_metrics(registry),
          agents(agents::FactorySettingsFrom(settings), config::ProcessEnv(), &http, &breakers,
                 &agent_metrics) {}

    static resilience::CircuitBreakerRegistryOptions BreakerOptions(const config::Settings& s,
                                                                    metrics::Registry& r) {
        resilience::CircuitBreakerRegistryOptions o;
        o.breaker = agents::BreakerConfigFrom(s.agents);
        o.state_gauge = &resilience::AddCircuitBreakerStateGauge(r);
        return o;
    }
    static net::HttpClientOptions ClientOptions(const config::Settings& s) {
        net::HttpClientOptions o = agents::ClientOptionsFrom(s.agents);
        o.user_agent = std::string("aragora-cpp/") + build::kVersion;
        return o;
    }

    int Threads() const {
        int n = settings.server.io_threads;
        if (n <= 0) n = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
        return n;
    }

    config::Settings settings;
    common::SystemClock clock;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    asio::io_context ioc;
    common::BlockingPool pool;
    metrics::Registry registry;
    events::EventHub hub;
    metrics::Family<metrics::Counter>& health_transitions;
    resilience::HealthRegistry health;
    metrics::ProcessMetrics process;
    resilience::CircuitBreakerRegistry breakers;
    net::HttpClient http;  // provider calls; destroyed before ioc
    agents::AgentMetrics agent_metrics;
    agents::AgentFactory agents;
    GatedDebateService debates;

    // Auth and rate limiting (built by RunServe before listening).
    std::unique_ptr<auth::AuthService> auth;
    std::unique_ptr<api::RequestLimits> limits;
    std::unique_ptr<ratelimit::RateLimiter> ws_admission;  // WebSocket connections per IP
    api::ErrorLog errors;
    std::string auth_warning;  // the open-mode warning of /api/v1/health

    // Redis (ARAGORA_REDIS_URL): health, shared limits, the multi-instance bus.
    std::unique_ptr<Distributed> distributed;
    // ARAGORA_ENABLE_REDIS_RATE_LIMIT: limits counted in Redis for every instance.
    std::unique_ptr<ratelimit::SharedLimitBackend> shared_limits;

    // Built by the startup sequence.
    std::unique_ptr<storage::Store> store;
    std::unique_ptr<storage::AuthStore> auth_store;
    std::shared_ptr<storage::PgPool> pg_pool;           // PostgreSQL: owned for pool_stats
    std::atomic<storage::PgPool*> pool_stats{nullptr};  // read by /metrics (any thread)
    std::atomic<bool> db_unreachable{false};            // WatchDatabase's last verdict
    std::string db_backend = "sqlite";
    std::string db_location;  // file, or DSN with the password redacted
    debate::ReceiptKeys keys;
    std::unique_ptr<service::LocalDebateService> service;

    std::unique_ptr<api::WsHandler> ws;
    std::unique_ptr<net::HttpServer> api_server;
    std::unique_ptr<net::HttpServer> metrics_server;
    uint16_t api_port = 0;
    uint16_t ws_port = 0;
    uint16_t metrics_port = 0;

    std::atomic<bool> ready{false};
    std::atomic<bool> draining{false};
    std::mutex reason_mutex;
    std::string not_ready_reason = "startup in progress";
    std::atomic<int> signals_seen{0};
    std::atomic<int> exit_code{0};
    std::string banner;  // printed once ready (development mode)

    // The startup sequence failed: say why in one line and stop with exit code 1.
    void FailStartup(const std::string& reason) {
        SetNotReady(reason);
        Log()->critical("startup failed: {}", reason);
        std::cerr << "aragora: cannot start: " << reason << std::endl;
        exit_code = 1;
        ioc.stop();
    }

    void SetNotReady(std::string reason) {
        std::lock_guard lock(reason_mutex);
        not_ready_reason = std::move(reason);
        ready = false;
    }
    std::string NotReadyReason() {
        std::lock_guard lock(reason_mutex);
        return not_ready_reason;
    }
    double Uptime() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
};

class AppSystemInfo final : public api::SystemInfo {
public:
    explicit AppSystemInfo(App& app) : app_(app) {}

    std::optional<std::string> NotReadyReason() const override {
        if (app_.ready && !app_.draining) return std::nullopt;
        return app_.NotReadyReason();
    }

    // Pings the database on the blocking pool and feeds the health checker.
    asio::awaitable<json::object> DatabaseCheck() {
        json::object db;
        if (!app_.store) {
            db["status"] = "starting";
            db["latency_ms"] = nullptr;
            co_return db;
        }
        auto& checker = app_.health.GetOrCreate("database");
        auto start = std::chrono::steady_clock::now();
        auto r = co_await app_.pool.Run([this] {
            auto s = app_.store->Ping();
            return s.ok() ? Result<common::Unit>(common::Unit{}) : Result<common::Unit>(s.error());
        });
        auto latency = std::chrono::steady_clock::now() - start;
        double ms = std::chrono::duration<double, std::milli>(latency).count();
        if (r.ok()) {
            checker.RecordSuccess(latency);
        } else {
            checker.RecordFailure(r.error().message, latency);
        }
        db["status"] = r.ok() ? "ok" : "error";
        db["latency_ms"] = std::round(ms * 100) / 100;
        db["backend"] = app_.db_backend;
        if (!r.ok()) db["error"] = r.error().message;
        co_return db;
    }

    // Redis round trip (not_configured without ARAGORA_REDIS_URL).
    asio::awaitable<json::object> RedisCheck() {
        if (!app_.distributed) {
            co_return json::object{{"status", "not_configured"}, {"latency_ms", nullptr}};
        }
        json::object r = co_await app_.distributed->HealthCheck();
        auto& checker = app_.health.GetOrCreate("redis");
        if (r["status"] == "ok") {
            checker.RecordSuccess(std::chrono::microseconds(
                static_cast<std::int64_t>(r["latency_ms"].to_number<double>() * 1000)));
        } else {
            checker.RecordFailure(std::string(r["error"].as_string()), {});
        }
        co_return r;
    }

    json::object WebSocketCheck() const {
        const auto& st = app_.api_server->stats();
        json::object ws;
        ws["status"] = "ok";
        ws["connections"] = st.ws_connections_active.load();
        ws["max_connections"] = app_.settings.server.ws_max_connections;
        ws["port"] = app_.ws_port;
        return ws;
    }

    json::object BreakerCounts() const {
        auto c = app_.breakers.CountByState();
        return json::object{{"open", c.open}, {"half_open", c.half_open}, {"closed", c.closed}};
    }

    double MemoryMb() const {
        auto rss = metrics::ResidentMemoryBytes();
        return rss.ok() ? std::round(static_cast<double>(*rss) / (1024.0 * 1024.0) * 10) / 10 : 0;
    }

    asio::awaitable<std::string> HealthJson(bool) override {
        json::object checks;
        json::object db = co_await DatabaseCheck();
        bool db_ok = db["status"] == "ok";
        checks["database"] = std::move(db);
        json::object redis = co_await RedisCheck();
        const bool redis_ok = redis["status"] != "error";
        checks["redis"] = std::move(redis);
        checks["websocket"] = WebSocketCheck();
        checks["circuit_breakers"] = BreakerCounts();
        checks["memory_mb"] = MemoryMb();
        auto stats = app_.debates.Stats();
        checks["active_debates"] = stats.running;
        checks["queued_debates"] = stats.queued;
        json::object o;
        std::string status = "healthy";
        if (!app_.store) status = "degraded";
        if (!redis_ok) status = "degraded";
        if (app_.store && !db_ok) status = "unhealthy";
        if (app_.draining) status = "degraded";
        o["status"] = status;
        o["version"] = build::kVersion;
        o["uptime_seconds"] = static_cast<std::int64_t>(app_.Uptime());
        o["timestamp"] = common::FormatIso8601(app_.clock.SystemNow());
        o["ready"] = !NotReadyReason().has_value();
        o["checks"] = std::move(checks);
        json::object auth{{"mode", app_.auth && app_.auth->open() ? "open" : "credentials"}};
        if (app_.auth && app_.auth->open()) auth["warning"] = app_.auth_warning;
        o["auth"] = std::move(auth);
        if (app_.auth && app_.auth->open()) o["warning"] = app_.auth_warning;
        co_return common::SerializeJson(o);
    }

    asio::awaitable<std::string> DeepHealthJson() override {
        json::object checks;
        std::vector<std::string> configured;
        for (const char* k : kProviderKeys) {
            const char* v = std::getenv(k);
            if (v && *v) configured.emplace_back(k);
        }
        json::object keys;
        json::array names;
        for (auto& c : configured) names.emplace_back(c);
        keys["configured"] = std::move(names);
        if (configured.empty()) {
            keys["status"] = "warning";
            keys["message"] =
                "no LLM provider key is set: only the built-in demo agents can debate";
        } else {
            keys["status"] = "ok";
        }
        checks["api_keys"] = std::move(keys);

        json::object db = co_await DatabaseCheck();
        bool db_ok = db["status"] == "ok";
        checks["database"] = std::move(db);
        json::object redis = co_await RedisCheck();
        const bool redis_ok = redis["status"] != "error";
        checks["redis"] = std::move(redis);

        std::string km_path = app_.settings.storage.data_dir + "/knowledge";
        bool km_ok = ::access(km_path.c_str(), W_OK) == 0;
        checks["knowledge_mound"] = json::object{
            {"status", km_ok ? "ok" : "warning"},
            {"path", km_path},
            {"message", km_ok ? "store directory writable"
                              : "store directory missing or not writable: debates run without "
                                "historical context"}};

        json::array components;
        for (const auto& st : app_.health.Snapshot()) {
            components.push_back(json::object{{"name", st.name},
                                              {"healthy", st.healthy},
                                              {"consecutive_failures", st.consecutive_failures},
                                              {"last_error", st.last_error}});
        }
        checks["health_registry"] =
            json::object{{"status", "ok"}, {"components", std::move(components)}};

        std::string overall = "ok";
        if (configured.empty() || !km_ok || !redis_ok) overall = "degraded";
        if (!db_ok) overall = "error";
        json::object o{{"overall", overall},
                       {"checks", std::move(checks)},
                       {"timestamp", common::FormatIso8601(app_.clock.SystemNow())},
                       {"version", build::kVersion}};
        co_return common::SerializeJson(o);
    }

    std::string AuthWarning() const override {
        return app_.auth && app_.auth->open() ? app_.auth_warning : std::string();
    }

    asio::awaitable<std::string> CleanupCachesJson() override {
        const auto before = metrics::ResidentMemoryBytes();
        const std::size_t keys = app_.auth ? app_.auth->ClearCaches() : 0;
        const std::size_t errors = app_.errors.Clear();
        auto trimmed = co_await app_.pool.Run([] {
            // Returns freed heap pages to the OS (blocking: walks the arenas).
            return Result<int>(::malloc_trim(0));
        });
        const auto after = metrics::ResidentMemoryBytes();
        auto mb = [](const Result<std::uint64_t>& r) -> json::value {
            if (!r) return nullptr;
            return std::round(static_cast<double>(*r) / (1024.0 * 1024.0) * 10) / 10;
        };
        json::object cleared{{"api_key_cache", keys},
                             {"error_log", errors},
                             {"malloc_trim", trimmed.ok() && *trimmed == 1}};
        json::object o{{"success", true},
                       {"cleared", std::move(cleared)},
                       {"rss_mb_before", mb(before)},
                       {"rss_mb_after", mb(after)},
                       {"kept",
                        "event replay buffers of live debates, WebSocket queues, rate-limit "
                        "buckets (needed for correctness)"}};
        co_return common::SerializeJson(o);
    }

    asio::awaitable<Result<std::string>> MemoryDumpJson() override {
        if (!app_.settings.security.memory_profiling) {
            co_return common::MakeError(
                ErrorCode::kNotFound,
                "memory profiling is off: set ARAGORA_MEMORY_PROFILING=1 and restart");
        }
        const auto rss = metrics::ResidentMemoryBytes();
        const struct mallinfo2 mi = ::mallinfo2();
        auto hub = app_.hub.Stats();
        auto ws = app_.ws ? app_.ws->Stats() : api::WsHandlerStats{};
        auto debates = app_.debates.Stats();
        const auto& net = app_.api_server->stats();
        // Sizes per item are estimates (the subsystems count items, not bytes): an event
        // envelope with its JSON ~1 KiB, a live debate's state ~64 KiB, a queued frame
        // ~1 KiB, a cache or bucket entry ~256 B.
        struct Sub {
            const char* name;
            std::uint64_t count;
            std::uint64_t unit;
        };
        const Sub subs[] = {
            {"debates", debates.running + debates.queued, 64 * 1024},
            {"event_buffers", hub.buffered_events, 1024},
            {"websocket_queues", net.ws_connections_active.load() * 8 + ws.subscriptions, 1024},
            {"api_key_cache", app_.auth ? app_.auth->CacheSize() : 0, 256},
            {"rate_limit_buckets", app_.limits ? app_.limits->TrackedKeys() : 0, 256},
            {"error_log", std::min<std::uint64_t>(app_.errors.total(), 200), 256},
        };
        std::vector<json::object> top;
        for (const Sub& sub : subs) {
            top.push_back(json::object{{"subsystem", sub.name},
                                       {"count", sub.count},
                                       {"bytes", sub.count * sub.unit},
                                       {"bytes_per_item_estimate", sub.unit}});
        }
        std::sort(top.begin(), top.end(), [](const json::object& a, const json::object& b) {
            return a.at("bytes").to_number<std::uint64_t>() >
                   b.at("bytes").to_number<std::uint64_t>();
        });
        json::array top_json;
        for (auto& t : top) top_json.push_back(std::move(t));
        json::object allocator{{"arena_bytes", mi.arena},         {"mmap_bytes", mi.hblkhd},
                               {"in_use_bytes", mi.uordblks},     {"free_bytes", mi.fordblks},
                               {"releasable_bytes", mi.keepcost}, {"mmap_regions", mi.hblks}};
        json::object o{{"timestamp", common::FormatIso8601(app_.clock.SystemNow())},
                       {"pid", static_cast<std::int64_t>(::getpid())},
                       {"rss_bytes", rss ? json::value(*rss) : json::value(nullptr)},
                       {"allocator", std::move(allocator)},
                       {"top_allocations", std::move(top_json)},
                       {"path", "/tmp/aragora_memory_dump.json"}};
        std::string body = common::SerializeJson(o);
        auto written = co_await app_.pool.Run([&body]() -> Result<common::Unit> {
            const std::string path = "/tmp/aragora_memory_dump.json";
            const std::string tmp = path + ".tmp";
            {
                std::ofstream out(tmp, std::ios::trunc);
                out << body << "\n";
                if (!out.flush()) {
                    return common::MakeError(ErrorCode::kInternal, "cannot write " + tmp);
                }
            }
            std::error_code ec;
            std::filesystem::rename(tmp, path, ec);
            if (ec) return common::MakeError(ErrorCode::kInternal, "cannot write " + path);
            return common::Unit{};
        });
        if (!written) co_return written.error();
        co_return body;
    }

    std::string StatusJson() const override {
        auto stats = app_.debates.Stats();
        bool ready = !NotReadyReason().has_value();
        std::string status = ready ? "operational" : (app_.draining ? "degraded" : "degraded");
        std::string message =
            ready ? "all systems operational" : "not ready: " + NotReadyReason().value_or("");
        json::object summary{{"database", app_.store ? "ok" : "starting"},
                             {"websocket", "ok"},
                             {"redis", "not_configured"},
                             {"debates", json::object{{"running", stats.running},
                                                      {"queued", stats.queued},
                                                      {"max_running", stats.max_running}}}};
        json::object data{{"status", status},
                          {"message", message},
                          {"uptime_seconds", static_cast<std::int64_t>(app_.Uptime())},
                          {"timestamp", common::FormatIso8601(app_.clock.SystemNow())},
                          {"version", build::kVersion},
                          {"components_summary", std::move(summary)}};
        return common::SerializeJson(json::object{{"data", std::move(data)}});
    }

    std::string ThreadsJson() const override {
        json::array threads;
        for (int i = 0; i < app_.Threads(); ++i) {
            threads.push_back(json::object{
                {"name", "io-" + std::to_string(i)}, {"kind", "io"}, {"status", "running"}});
        }
        for (int i = 0; i < 2; ++i) {
            threads.push_back(json::object{{"name", "blocking-" + std::to_string(i)},
                                           {"kind", "blocking_pool"},
                                           {"status", "running"}});
        }
        json::object o{{"status", "ok"},
                       {"total", threads.size()},
                       {"io_threads", app_.Threads()},
                       {"blocking_pool_threads", 2},
                       {"blocking_pool_pending", app_.pool.Pending()},
                       {"threads", std::move(threads)}};
        return common::SerializeJson(o);
    }

    std::string BuildJson() const override {
        std::string sha = build::kGitSha;
        json::object o{{"sha", sha},
                       {"sha_short", sha.substr(0, 7)},
                       {"build_time", build::kBuildTime},
                       {"version", build::kVersion}};
        return common::SerializeJson(o);
    }

    std::string WsStatsJson() const override {
        const auto& st = app_.api_server->stats();
        json::object o;
        o["connections"] = st.ws_connections_active.load();
        o["max_connections"] = app_.settings.server.ws_max_connections;
        o["total_connections"] = st.ws_connections_total.load();
        o["rejected"] = st.ws_rejected.load();
        o["messages_sent"] = st.ws_messages_sent.load();
        o["messages_received"] = st.ws_messages_received.load();
        o["dropped"] = st.ws_slow_closes.load() + st.ws_send_refused.load() +
                       (app_.ws ? app_.ws->Stats().slow_closes : 0);
        const auto handler_slow = app_.ws ? app_.ws->Stats().slow_closes : 0;
        o["slow_closes"] = st.ws_slow_closes.load() + handler_slow;
        o["errors"] = st.ws_errors.load() + st.ws_timeouts.load();
        auto hub = app_.hub.Stats();
        o["subscriptions"] = hub.subscriptions;
        o["live_debates"] = hub.live_debates;
        o["events_published"] = hub.events_published;
        o["port"] = app_.ws_port;
        if (app_.ws) {
            boost::system::error_code ec;
            auto detail = json::parse(app_.ws->StatsJson(), ec);
            if (!ec) o["protocol"] = std::move(detail);
        }
        return common::SerializeJson(o);
    }

    std::string MetricsSummaryJson() const override {
        json::object o;
        const auto& st = app_.api_server->stats();
        o["requests"] = json::object{{"total", st.requests.load()},
                                     {"bad_requests", st.bad_requests.load()},
                                     {"payload_too_large", st.body_too_large.load()},
                                     {"handler_errors", st.handler_errors.load()}};
        auto stats = app_.debates.Stats();
        json::object debates{{"active", stats.running}, {"queued", stats.queued}};
        json::object agents;
        std::uint64_t consensus = 0;
        if (app_.service) {
            const auto& m = app_.service->metrics();
            json::object totals;
            for (const auto& s : m.debates_total.Series())
                totals[s.label_values[0]] = s.metric->Value();
            debates["total"] = std::move(totals);
            for (const auto& s : m.agent_latency.Series()) {
                auto snap = s.metric->Snapshot();
                auto q = [&](double p) {
                    double v = metrics::Quantile(snap, p);
                    return std::isfinite(v) ? std::round(v * 1000 * 10) / 10 : 0.0;
                };
                agents[s.label_values[0]] = json::object{{"count", snap.count},
                                                         {"p50_ms", q(0.5)},
                                                         {"p95_ms", q(0.95)},
                                                         {"p99_ms", q(0.99)}};
            }
            for (const auto& s : m.consensus.Series())
                consensus += static_cast<std::uint64_t>(s.metric->Value());
        }
        o["debates"] = std::move(debates);
        o["agent_response_times"] = std::move(agents);
        o["consensus_reached_total"] = consensus;
        o["websocket"] = json::object{{"connections", st.ws_connections_active.load()},
                                      {"messages_sent", st.ws_messages_sent.load()},
                                      {"slow_closes", st.ws_slow_closes.load()}};
        auto rss = metrics::ResidentMemoryBytes();
        o["process_resident_memory_bytes"] = rss.ok() ? *rss : 0;
        o["uptime_seconds"] = static_cast<std::int64_t>(app_.Uptime());
        return common::SerializeJson(o);
    }

    std::string PrometheusText() const override { return app_.registry.RenderPrometheus(); }

    std::string PrometheusWebSocketText() const override {
        // The families about WebSockets only (the runbook's second scrape job).
        std::istringstream in(app_.registry.RenderPrometheus());
        std::string line, out;
        while (std::getline(in, line)) {
            if (line.find("websocket") != std::string::npos ||
                line.find("aragora_ws_") != std::string::npos)
                out += line + "\n";
        }
        return out;
    }

    bool MetricsEnabled() const override { return app_.settings.server.metrics_enabled; }

private:
    App& app_;
};

void RegisterDatabaseMetrics(App& app) {
    auto& r = app.registry;
    auto pool = [&app](auto field) {
        return [&app, field] {
            storage::PgPool* p = app.pool_stats.load();
            return p ? static_cast<double>(p->Stats().*field) : 0.0;
        };
    };
    r.AddCallbackGauge("aragora_db_pool_in_use",
                       "PostgreSQL connections leased (ARAGORA_DB_POOL_SIZE + OVERFLOW at most)",
                       pool(&storage::PgPoolStats::in_use));
    r.AddCallbackGauge("aragora_db_pool_idle", "PostgreSQL connections open and idle",
                       pool(&storage::PgPoolStats::idle));
    r.AddCallbackCounter("aragora_db_pool_exhausted_total",
                         "Database calls refused (503) after waiting for a free connection",
                         pool(&storage::PgPoolStats::exhausted_total));
    r.AddCallbackCounter("aragora_db_pool_broken_replaced_total",
                         "Broken PostgreSQL connections dropped and replaced",
                         pool(&storage::PgPoolStats::broken_replaced_total));
    r.AddCallbackCounter("aragora_db_pool_connect_failures_total",
                         "Failed PostgreSQL connection attempts",
                         pool(&storage::PgPoolStats::connect_failures_total));
    r.AddCallbackGauge("aragora_db_unreachable",
                       "1 while the database does not answer (readiness is then 503)",
                       [&app] { return app.db_unreachable ? 1.0 : 0.0; });
}

void RegisterServerMetrics(App& app) {
    RegisterDatabaseMetrics(app);
    auto& r = app.registry;
    auto* api = &app.api_server;
    auto stat = [api](std::atomic<uint64_t> net::ServerStats::*field) {
        return [api, field]() -> double {
            return *api ? static_cast<double>(((*api)->stats().*field).load()) : 0.0;
        };
    };
    r.AddCallbackGauge("aragora_websocket_connections", "Open WebSocket connections",
                       stat(&net::ServerStats::ws_connections_active));
    auto ws_max = static_cast<double>(app.settings.server.ws_max_connections);
    r.AddCallbackGauge("aragora_websocket_max_connections",
                       "ARAGORA_WS_MAX_CONNECTIONS (alert at 80% of it)",
                       [ws_max] { return ws_max; });
    r.AddCallbackCounter("aragora_ws_connection_errors_total",
                         "WebSocket connection errors (protocol errors, failed handshakes, "
                         "timeouts)",
                         [api] {
                             if (!*api) return 0.0;
                             const auto& s = (*api)->stats();
                             return static_cast<double>(s.ws_errors.load() + s.ws_timeouts.load());
                         });
    r.AddCallbackCounter(
        "aragora_ws_slow_consumer_closes_total",
        "WebSocket clients closed with 1008 for not reading", [api, &app] {
            double n = *api ? static_cast<double>((*api)->stats().ws_slow_closes.load()) : 0.0;
            if (app.ws) n += static_cast<double>(app.ws->Stats().slow_closes);
            return n;
        });
    r.AddCallbackCounter("aragora_ws_rejected_connections_total",
                         "WebSocket upgrades refused over ARAGORA_WS_MAX_CONNECTIONS",
                         stat(&net::ServerStats::ws_rejected));
    r.AddCallbackCounter("aragora_ws_messages_sent_total", "WebSocket frames sent",
                         stat(&net::ServerStats::ws_messages_sent));
    r.AddCallbackGauge("aragora_http_connections", "Open HTTP connections",
                       stat(&net::ServerStats::connections_active));
    r.AddCallbackCounter("aragora_http_connections_rejected_total",
                         "HTTP connections refused over ARAGORA_MAX_CONNECTIONS",
                         stat(&net::ServerStats::connections_rejected));
    r.AddCallbackCounter("aragora_http_bad_requests_total", "Malformed HTTP requests (400)",
                         stat(&net::ServerStats::bad_requests));
    r.AddCallbackCounter("aragora_http_body_too_large_total",
                         "Requests over ARAGORA_MAX_BODY_BYTES (413)",
                         stat(&net::ServerStats::body_too_large));
    r.AddCallbackCounter("aragora_http_headers_too_large_total",
                         "Requests over the header size limit (431)",
                         stat(&net::ServerStats::headers_too_large));
    r.AddCallbackCounter("aragora_http_too_many_headers_total",
                         "Requests over the header count limit (431)",
                         stat(&net::ServerStats::too_many_headers));
    r.AddCallbackGauge("aragora_http_connections_waiting",
                       "HTTP connections waiting for a request header",
                       stat(&net::ServerStats::connections_waiting));
    r.AddCallbackCounter("aragora_http_connections_refused_per_ip_total",
                         "HTTP connections closed at once over "
                         "ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP",
                         stat(&net::ServerStats::connections_refused_per_ip));
    r.AddCallbackCounter("aragora_http_connections_evicted_total",
                         "HTTP connections waiting for a request closed to make room "
                         "(ARAGORA_MAX_CONNECTIONS reached)",
                         stat(&net::ServerStats::connections_evicted));
    r.AddCallbackCounter("aragora_http_header_timeouts_total",
                         "Request headers not complete within ARAGORA_HEADER_TIMEOUT_SECONDS",
                         stat(&net::ServerStats::header_timeouts));
    r.AddCallbackCounter("aragora_http_read_timeouts_total", "Request bodies not read in time",
                         stat(&net::ServerStats::read_timeouts));
    r.AddCallbackCounter("aragora_http_write_timeouts_total", "Responses not written in time",
                         stat(&net::ServerStats::write_timeouts));
    r.AddCallbackCounter("aragora_http_idle_closes_total", "Keep-alive connections closed idle",
                         stat(&net::ServerStats::idle_closes));
    r.AddCallbackGauge("aragora_ready", "1 when /readyz answers 200",
                       [&app] { return app.ready && !app.draining ? 1.0 : 0.0; });
}

// Readiness follows the database: a ping every 2 s; while it fails /readyz answers 503
// ("database unreachable: ...") and it recovers by itself once the database answers.
asio::awaitable<void> WatchDatabase(App& app) {
    while (!app.draining) {
        co_await SleepFor(std::chrono::seconds(2));
        if (app.draining || !app.store) co_return;
        auto ping = [&app] {
            auto st = app.store->Ping();
            return st ? Result<common::Unit>(common::Unit{}) : Result<common::Unit>(st.error());
        };
        auto r = co_await app.pool.Run(ping);
        if (app.draining) co_return;
        if (!r && !app.db_unreachable) {
            app.db_unreachable = true;
            app.SetNotReady("database unavailable");  // API.md reason; the log says why
            Log()->error("readiness: database unreachable ({}): /readyz answers 503",
                         r.error().message);
        } else if (r && app.db_unreachable) {
            app.db_unreachable = false;
            app.ready = true;
            Log()->info("readiness: database reachable again: /readyz answers 200");
        }
    }
}

// The startup sequence: data dir, store + migrations, crash recovery, keys, service.
asio::awaitable<void> Startup(App& app) {
    auto started = std::chrono::steady_clock::now();
    const auto& s = app.settings;
    if (s.storage.supabase_without_dsn) {
        Log()->warn(
            "SUPABASE_URL/SUPABASE_KEY are set but no DATABASE_URL: Supabase is used as the "
            "PostgreSQL it is, so set DATABASE_URL=postgresql://... (its connection string); "
            "using SQLite at {} meanwhile",
            s.storage.sqlite_path);
    }
    if (s.distributed.require_distributed) {
        if (s.storage.backend != config::DbBackend::kPostgres || !app.distributed) {
            app.FailStartup(
                "ARAGORA_REQUIRE_DISTRIBUTED=true needs shared state: a PostgreSQL DATABASE_URL "
                "and ARAGORA_REDIS_URL");
            co_return;
        }
    }
    if (app.distributed) {
        auto redis_up = co_await app.distributed->Start(std::chrono::seconds(5));
        if (!redis_up && s.distributed.require_distributed) {
            app.FailStartup("ARAGORA_REQUIRE_DISTRIBUTED=true and Redis is not reachable at " +
                            app.distributed->RedactedUrl() + ": " + redis_up.error().message);
            co_return;
        }
    }
    auto opened = co_await app.pool.Run([&app]() -> Result<storage::OpenedStores> {
        std::error_code ec;
        std::filesystem::create_directories(app.settings.storage.data_dir, ec);
        std::filesystem::create_directories(app.settings.storage.data_dir + "/knowledge", ec);
        return storage::OpenConfiguredStores(app.settings.storage, /*migrate=*/true);
    });
    if (!opened) {
        app.FailStartup("database unavailable: " + opened.error().message);
        co_return;
    }
    app.db_backend = opened->backend;
    app.db_location = opened->location;
    app.pg_pool = opened->pg_pool;
    app.pool_stats = app.pg_pool.get();
    app.store = std::move(opened->store);
    app.auth_store = std::move(opened->auth);
    if (app.distributed) app.distributed->AttachStore(app.store.get());
    app.auth->AttachStore(app.auth_store.get());
    auto keys = co_await app.pool.Run([&app] { return debate::LoadReceiptKeys(app.settings); });
    if (!keys) {
        app.FailStartup("receipt keys unavailable: " + keys.error().message);
        co_return;
    }
    app.keys = std::move(*keys);

    service::ServiceSettings ss;
    ss.max_running = static_cast<std::size_t>(s.server.max_concurrent_debates);
    ss.max_queued = static_cast<std::size_t>(s.server.max_queued_debates);
    // The agent enforces ARAGORA_AGENT_TIMEOUT_SECONDS per attempt; the engine bounds the
    // whole turn (every retry and the fallback).
    ss.engine.agent_timeout = app.agents.TurnBudget();
    ss.agent_factory = &app.agents;
    ss.engine.debate_timeout = std::chrono::seconds(s.debate.debate_timeout_seconds);
    ss.engine.convergence_threshold = s.debate.convergence_threshold;
    ss.engine.max_parallel_calls = s.debate.max_parallel_calls;
    ss.consensus_threshold = s.debate.consensus_threshold;
    ss.demo_latency = std::chrono::milliseconds(s.debate.demo_latency_ms);
    if (s.distributed.enqueue_only) ss.execution = service::ExecutionMode::kWorker;
    app.service = std::make_unique<service::LocalDebateService>(app.ioc.get_executor(), app.clock,
                                                                ss, *app.store, app.pool, app.keys,
                                                                app.hub, app.registry);
    if (app.distributed) ConnectCancel(*app.distributed, *app.service, app.ioc.get_executor());
    auto recovered = co_await app.service->RecoverInterrupted();
    if (!recovered) {
        Log()->error("crash recovery failed: {}", recovered.error().message);
    }
    app.service->StartWatchdog();
    app.debates.Set(app.service.get());
    if (app.draining) co_return;
    app.ready = true;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    Log()->info("ready duration_ms={} database={} {} data_dir={}", ms, app.db_backend,
                app.db_location, s.storage.data_dir);
    if (!app.banner.empty()) std::cout << app.banner << std::flush;
    asio::co_spawn(app.ioc, WatchDatabase(app), asio::detached);
}

asio::awaitable<void> Drain(App& app) {
    auto grace = std::chrono::seconds(app.settings.server.shutdown_grace_seconds);
    Log()->info("shutdown: draining (grace {} s)", grace.count());
    app.draining = true;
    app.SetNotReady("draining");
    app.api_server->StopAccepting();
    if (app.metrics_server) app.metrics_server->StopAccepting();
    app.api_server->CloseAllWebSockets(1001, "server shutting down");
    if (app.service) co_await app.service->Drain(grace);
    app.api_server->Shutdown();
    if (app.metrics_server) app.metrics_server->Shutdown();
    // Let the last responses and close frames go out, then stop.
    co_await SleepFor(std::chrono::milliseconds(100));
    if (app.distributed) app.distributed->Stop();
    Log()->info("shutdown: complete");
    app.ioc.stop();
}

asio::awaitable<void> HandleSignals(App& app) {
    asio::signal_set signals(app.ioc, SIGINT, SIGTERM, SIGHUP);
    signals.add(SIGUSR1);
    while (true) {
        boost::system::error_code ec;
        int sig = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        if (sig == SIGHUP) {
            auto reopened = common::ReopenLogFiles();
            if (const char* level = std::getenv("ARAGORA_LOG_LEVEL")) common::SetLogLevel(level);
            Log()->info("SIGHUP: log files reopened{}",
                        reopened.ok() ? "" : " (failed: " + reopened.error().message + ")");
            continue;
        }
        if (sig == SIGUSR1) {
            Log()->info(
                "SIGUSR1: closing every WebSocket with 1012 (clients reconnect and "
                "replay); HTTP untouched");
            app.api_server->CloseAllWebSockets(1012, "service restart");
            continue;
        }
        if (app.signals_seen.fetch_add(1) > 0) {
            Log()->warn("second signal: forcing exit");
            spdlog::shutdown();
            std::_Exit(1);
        }
        Log()->info("signal {} received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        asio::co_spawn(app.ioc, Drain(app), asio::detached);
    }
}

// The WebSocket's credential: ?token=, Authorization: Bearer, or the browser's
// Sec-WebSocket-Protocol "access_token.<token>".
std::string WsToken(const net::HttpRequest& req) {
    if (auto token = req.QueryParam("token"); token && !token->empty()) return *token;
    const std::string authorization = req.Header("authorization");
    if (auto bearer = auth::AuthService::BearerToken(authorization)) {
        return std::string(*bearer);
    }
    std::string protocols = req.Header("sec-websocket-protocol");
    std::size_t pos = 0;
    while (pos < protocols.size()) {
        std::size_t end = protocols.find(',', pos);
        if (end == std::string::npos) end = protocols.size();
        std::string p = protocols.substr(pos, end - pos);
        p.erase(0, p.find_first_not_of(' '));
        p.erase(p.find_last_not_of(' ') + 1);
        if (p.rfind("access_token.", 0) == 0) return p.substr(13);
        pos = end + 1;
    }
    return {};
}

asio::awaitable<void> AuthenticateWs(auth::AuthService& auth, std::string token,
                                     std::function<void(bool)> done) {
    auto principal = co_await auth.Authenticate(std::move(token));
    done(principal.ok() && principal->Allows(auth::Permission::kRead));
}

bool IsLoopbackHost(const std::string& host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") return true;
    auto ip = ratelimit::IpAddress::Parse(host);
    if (!ip) return false;
    auto loopback = ratelimit::CidrList::Parse("127.0.0.0/8,::1/128");
    return loopback && loopback->Contains(*ip);
}

// Human users in the database (0 when it does not exist yet or predates the users table):
// read once before listening, to decide the open development mode. Blocking, on the main
// thread before the I/O threads start.
std::int64_t CountConfiguredUsers(const config::Settings& settings) {
    if (settings.storage.backend == config::DbBackend::kPostgres) {
        auto stores = storage::OpenConfiguredStores(settings.storage, /*migrate=*/false);
        if (!stores) return 0;
        auto n = auth::CountHumanUsers(*stores->auth);
        return n ? *n : 0;
    }
    const std::string& path = settings.storage.sqlite_path;
    std::error_code ec;
    if (path == ":memory:" || path.rfind("file:", 0) == 0) return 0;
    if (!std::filesystem::exists(path, ec)) return 0;
    auto store = storage::OpenSqliteAuthStore({path}, /*migrate=*/false);
    if (!store) return 0;
    auto n = auth::CountHumanUsers(**store);
    return n ? *n : 0;
}

// Auth, rate limits and CORS from the settings; an error is the one line to print.
common::Status SetUpSecurity(App& app) {
    const config::Settings& s = app.settings;
    const auto& sec = s.security;
    auto whitelist = ratelimit::CidrList::Parse(sec.rate_limit_whitelist);
    if (!whitelist) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_RATE_LIMIT_WHITELIST: " + whitelist.error().message);
    }
    auto trusted = ratelimit::CidrList::Parse(sec.trusted_proxies);
    if (!trusted) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_TRUSTED_PROXIES: " + trusted.error().message);
    }
    if (auto cors = api::CorsPolicy::Parse(sec.allowed_origins); !cors) return cors.error();

    auth::AuthConfig ac;
    ac.api_token = s.server.api_token;
    ac.jwt.secret = s.server.jwt_secret;
    ac.jwt.issuer = sec.jwt_issuer;
    ac.jwt.audience = sec.jwt_audience;
    ac.access_ttl = std::chrono::seconds(sec.access_token_ttl_seconds);
    ac.refresh_ttl = std::chrono::hours(24 * sec.refresh_token_ttl_days);
    if (!sec.jwt_secret_previous.empty()) {
        ac.jwt.previous_secret = sec.jwt_secret_previous;
        if (!sec.jwt_rotated_at.empty()) {
            auto at = common::ParseIso8601(sec.jwt_rotated_at);
            if (!at) {
                return common::MakeError(ErrorCode::kValidation,
                                         "ARAGORA_JWT_SECRET_ROTATED_AT must be an ISO 8601 time "
                                         "(e.g. 2026-12-01T09:00:00Z), got '" +
                                             sec.jwt_rotated_at + "'");
            }
            ac.jwt.previous_valid_until = *at + std::chrono::hours(sec.jwt_grace_hours);
            Log()->info("jwt: tokens under ARAGORA_JWT_SECRET_PREVIOUS accepted until {}",
                        common::FormatIso8601(*ac.jwt.previous_valid_until));
        } else {
            Log()->warn(
                "jwt: ARAGORA_JWT_SECRET_PREVIOUS is accepted with no end: set "
                "ARAGORA_JWT_SECRET_ROTATED_AT (the grace is ARAGORA_JWT_SECRET_GRACE_HOURS={} h) "
                "or remove it after the overlap",
                sec.jwt_grace_hours);
        }
    }
    const std::int64_t users = CountConfiguredUsers(s);
    const bool configured = !ac.api_token.empty() || !ac.jwt.secret.empty() || users > 0;
    if (ac.jwt.secret.empty() && !s.production) {
        ac.jwt.secret = auth::RandomBase62(32);
        ac.jwt_secret_ephemeral = true;
        if (users > 0) {
            Log()->warn(
                "jwt: no ARAGORA_JWT_SECRET: logins use a per-process secret (tokens end "
                "at restart)");
        }
    }
    ac.open = !configured;
    if (ac.open) {
        app.auth_warning =
            "open development mode: no credential is configured (ARAGORA_API_TOKEN, "
            "ARAGORA_JWT_SECRET or a user), every route answers without one";
        if (!IsLoopbackHost(s.server.host)) {
            if (!sec.allow_unauthenticated) {
                return common::MakeError(
                    ErrorCode::kValidation,
                    "refusing to listen on " + s.server.host +
                        " with no credentials configured: set ARAGORA_API_TOKEN (or "
                        "ARAGORA_JWT_SECRET and add users with `aragora users add`), listen on "
                        "127.0.0.1, or set ARAGORA_ALLOW_UNAUTHENTICATED=1");
            }
            app.auth_warning += " — on a non-loopback address (ARAGORA_ALLOW_UNAUTHENTICATED=1)";
        }
        Log()->warn("auth: {}", app.auth_warning);
    } else {
        Log()->info("auth: service_token={} jwt={} users={}", !ac.api_token.empty(),
                    ac.jwt_secret_ephemeral ? "ephemeral" : (ac.jwt.secret.empty() ? "off" : "on"),
                    users);
    }
    app.auth = std::make_unique<auth::AuthService>(std::move(ac), app.clock, app.pool);

    api::RateLimitConfig rc;
    rc.disabled = sec.rate_limit_disabled;
    rc.per_ip = sec.rate_limit;
    rc.debate_create = sec.rate_limit_debate_rpm;
    rc.auth = sec.rate_limit_auth_rpm;
    rc.per_principal = sec.rate_limit_user_rpm;
    rc.whitelist = std::move(*whitelist);
    rc.trusted_proxies = std::move(*trusted);
    if (rc.disabled) {
        Log()->warn("rate_limit: ARAGORA_RATE_LIMIT_DISABLED=1: no request is rate limited");
    } else {
        Log()->info(
            "rate_limit: sliding window, {} req/min per IP, debate creation {}/min, "
            "login {}/min, whitelist [{}], trusted proxies [{}]",
            rc.per_ip, rc.debate_create, rc.auth, rc.whitelist.ToString(),
            rc.trusted_proxies.ToString());
    }
    app.limits = std::make_unique<api::RequestLimits>(std::move(rc), app.clock);
    ratelimit::RateLimiter::Options wo;
    wo.limit_per_minute = sec.ws_connections_per_minute;
    app.ws_admission = std::make_unique<ratelimit::RateLimiter>(wo, app.clock);
    return {};
}

}  // namespace

int RunServe(const ServeOptions& options) {
    auto loaded = config::LoadSettings(config::ProcessEnv(), config::RunMode::kServer);
    if (!loaded) {
        std::cerr << "aragora: " << loaded.error().message << "\n";
        return 2;
    }
    config::Settings settings = std::move(*loaded);
    if (options.host) settings.server.host = *options.host;
    auto port_ok = [](int p) { return p >= 0 && p <= 65535; };
    for (auto [opt, field, name] :
         {std::tuple{options.api_port, &settings.server.api_port, "--api-port"},
          std::tuple{options.ws_port, &settings.server.ws_port, "--ws-port"},
          std::tuple{options.metrics_port, &settings.server.metrics_port, "--metrics-port"}}) {
        if (!opt) continue;
        if (!port_ok(*opt)) {
            std::cerr << "aragora: " << name << " must be 0..65535, got " << *opt << "\n";
            return 2;
        }
        *field = *opt;
    }
    settings.log.log_dir = settings.server.log_dir;
    if (auto s = common::SetupLogging(settings.log); !s) {
        std::cerr << "aragora: " << s.error().message << "\n";
        return 2;
    }

    App app(settings);
    AppSystemInfo system(app);
    RegisterServerMetrics(app);
    if (auto distributed = Distributed::Create(settings.distributed, app.ioc.get_executor(),
                                               app.hub, app.pool, app.registry);
        !distributed) {
        std::cerr << "aragora: " << distributed.error().message << "\n";
        return 2;
    } else {
        app.distributed = std::move(*distributed);
    }
    if (settings.distributed.require_distributed &&
        (settings.storage.backend != config::DbBackend::kPostgres || !app.distributed)) {
        std::cerr << "aragora: cannot start: ARAGORA_REQUIRE_DISTRIBUTED=true needs shared state: "
                     "a PostgreSQL DATABASE_URL and ARAGORA_REDIS_URL\n";
        return 2;
    }

    api::ApiDeps deps{app.debates, app.keys, system, app.registry};
    deps.agents = &app.agents;
    if (auto sec = SetUpSecurity(app); !sec) {
        // One line on stderr; the log file (ARAGORA_LOG_DIR) gets it too.
        if (!settings.server.log_dir.empty()) Log()->critical("{}", sec.error().message);
        std::cerr << "aragora: " << sec.error().message << "\n";
        return 2;
    }
    if (app.distributed && settings.distributed.redis_rate_limit) {
        app.shared_limits = std::make_unique<ratelimit::SharedLimitBackend>(
            ratelimit::SharedLimiterOptions{}, app.distributed->client(), app.clock, app.registry);
        app.limits->SetSharedBackend(app.shared_limits.get());
        Log()->info("rate limits shared through Redis at {}", app.distributed->RedactedUrl());
    }
    deps.auth = app.auth.get();
    deps.limits = app.limits.get();
    deps.errors = &app.errors;
    if (auto cors = api::CorsPolicy::Parse(settings.security.allowed_origins); cors) {
        deps.cors = std::move(*cors);
    }
    api::Router router;
    api::AddRoutes(router, deps);
    net::HttpHandler handler = api::MakeHttpHandler(router, deps);

    api::WsHandlerOptions ws_options;
    ws_options.heartbeat_interval = std::chrono::seconds(settings.server.ws_heartbeat_seconds);
    ws_options.active_debates = [&app] { return app.debates.Stats().running; };
    ws_options.authenticate_async = [&app](const net::HttpRequest& req,
                                           std::function<void(bool)> done) {
        if (app.auth->open()) {
            done(true);
            return;
        }
        std::string token = WsToken(req);
        if (token.empty()) {
            done(false);
            return;
        }
        asio::co_spawn(app.ioc, AuthenticateWs(*app.auth, std::move(token), std::move(done)),
                       asio::detached);
    };
    if (!deps.cors.allowed.empty()) {
        ws_options.origin_allowed = [cors = deps.cors](std::string_view origin) {
            return cors.Allows(origin);
        };
    }
    if (!settings.security.rate_limit_disabled) {
        ws_options.admit = [&app](const net::HttpRequest& req) {
            const std::string ip = app.limits->ClientIp(req);
            if (app.limits->config().whitelist.Contains(ip)) return true;
            if (app.ws_admission->Check(ip).allowed) return true;
            Log()->warn("rate_limit exceeded bucket=ws_connect client_ip={} limit={}", ip,
                        app.ws_admission->options().limit_per_minute);
            return false;
        };
        ws_options.messages_per_second = settings.security.ws_messages_per_second;
    }
    ws_options.max_frame_bytes = 1024 * 1024;
    // Keep bursts well inside the connection's send queue (net closes on overflow).
    // ARAGORA_WS_SEND_QUEUE_MAX bounds what one connection may have waiting: half of it
    // in the socket's queue; the handler holds back at most max(1024, 4×) live events
    // (events arrive in stored batches: one round of a large debate is ~150 at once).
    const auto send_queue = static_cast<std::size_t>(settings.server.ws_send_queue_max);
    ws_options.max_in_flight = std::max<std::size_t>(1, send_queue / 2);
    ws_options.max_pending_live_events = std::max<std::size_t>(1024, 4 * send_queue);
    ws_options.max_queued_frames = std::max<std::size_t>(1024, 4 * send_queue);
    ws_options.send_burst = std::max<std::size_t>(
        1,
        std::min<std::size_t>(64, static_cast<std::size_t>(settings.server.ws_send_queue_max) / 2));
    api::ReplaySource replay = [&app](
                                   std::string debate_id, std::int64_t since, std::int64_t until,
                                   std::function<void(Result<std::vector<events::Event>>)> done) {
        if (!app.store) {
            done(common::MakeError(ErrorCode::kUnavailable, "the server is still starting"));
            return;
        }
        asio::co_spawn(
            app.ioc,
            [&app, debate_id, since, until, done]() -> asio::awaitable<void> {
                auto r = co_await app.pool.Run([&app, &debate_id, since, until] {
                    auto d = app.store->GetDebate(debate_id);
                    if (!d) return Result<std::vector<events::Event>>(d.error());
                    std::vector<events::Event> out;
                    std::int64_t from = since;
                    while (true) {
                        auto page = app.store->ListEvents(debate_id, from, 500);
                        if (!page) return Result<std::vector<events::Event>>(page.error());
                        bool more = page->size() == 500;
                        for (auto& e : *page) {
                            if (e.seq >= until)
                                return Result<std::vector<events::Event>>(std::move(out));
                            from = e.seq;
                            out.push_back(std::move(e));
                        }
                        if (!more) break;
                    }
                    return Result<std::vector<events::Event>>(std::move(out));
                });
                done(std::move(r));
            },
            asio::detached);
    };
    app.ws = std::make_unique<api::WsHandler>(app.ioc.get_executor(), app.hub, replay, ws_options);

    net::ServerLimits limits;
    const auto& ss = settings.server;
    limits.max_body_bytes = static_cast<std::size_t>(ss.max_body_bytes);
    limits.max_header_bytes = static_cast<std::size_t>(ss.max_header_bytes);
    limits.max_header_count = static_cast<std::size_t>(ss.max_header_count);
    limits.max_connections = static_cast<std::size_t>(ss.max_connections);
    limits.max_pending_connections_per_ip =
        static_cast<std::size_t>(ss.max_pending_connections_per_ip);
    limits.header_timeout = std::chrono::seconds(ss.header_timeout_seconds);
    limits.keep_alive_idle = std::chrono::seconds(ss.keep_alive_seconds);
    limits.read_timeout = std::chrono::seconds(ss.read_timeout_seconds);
    limits.write_timeout = std::chrono::seconds(ss.write_timeout_seconds);
    limits.ws_max_connections = static_cast<std::size_t>(ss.ws_max_connections);
    limits.ws_send_queue_max = static_cast<std::size_t>(ss.ws_send_queue_max);
    limits.ws_ping_interval = std::chrono::seconds(ss.ws_heartbeat_seconds);
    auto* app_ptr = &app;
    app.api_server = std::make_unique<net::HttpServer>(
        app.ioc, limits, handler, app.ws.get(), [app_ptr](const net::HttpRequest& req) {
            return req.path == "/ws" || req.path == "/ws/" ||
                   (app_ptr->ws_port != 0 && req.local_port == app_ptr->ws_port &&
                    app_ptr->ws_port != app_ptr->api_port);
        });

    auto api_port = app.api_server->Listen(ss.host, static_cast<uint16_t>(ss.api_port));
    if (!api_port) {
        Log()->critical("cannot listen on {}:{}: {}", ss.host, ss.api_port,
                        api_port.error().message);
        std::cerr << "aragora: cannot listen on " << ss.host << ":" << ss.api_port << ": "
                  << api_port.error().message << "\n";
        return 1;
    }
    app.api_port = *api_port;
    auto ws_port = app.api_server->Listen(ss.host, static_cast<uint16_t>(ss.ws_port));
    if (!ws_port) {
        Log()->critical("cannot listen on {}:{} (WebSocket port): {}", ss.host, ss.ws_port,
                        ws_port.error().message);
        std::cerr << "aragora: cannot listen on " << ss.host << ":" << ss.ws_port
                  << " (WebSocket port): " << ws_port.error().message << "\n";
        return 1;
    }
    app.ws_port = *ws_port;
    if (ss.metrics_enabled) {
        net::ServerLimits mlimits;
        mlimits.max_connections = 64;
        app.metrics_server = std::make_unique<net::HttpServer>(
            app.ioc, mlimits,
            [&system](net::HttpRequest req) -> asio::awaitable<net::HttpResponse> {
                net::HttpResponse r;
                std::string id = net::CorrelationIdOf(req);
                if (req.path == "/metrics" && req.method == "GET") {
                    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                    r.body = system.PrometheusText();
                    co_return r;
                }
                co_return net::MakeErrorResponse(404, "not_found",
                                                 "the metrics port serves only GET /metrics", id);
            });
        auto mport = app.metrics_server->Listen(ss.host, static_cast<uint16_t>(ss.metrics_port));
        if (mport) {
            app.metrics_port = *mport;
        } else {
            Log()->warn("metrics port {}:{} unavailable ({}); /metrics stays on the API port",
                        ss.host, ss.metrics_port, mport.error().message);
            app.metrics_server.reset();
        }
    }
    Log()->info("listening api=http://{}:{} ws=ws://{}:{}/ metrics={} env={} threads={}", ss.host,
                app.api_port, ss.host, app.ws_port,
                app.metrics_port
                    ? "http://" + ss.host + ":" + std::to_string(app.metrics_port) + "/metrics"
                    : std::string("api port only"),
                settings.env, app.Threads());
    if (!settings.production) {
        std::ostringstream banner;
        std::string base = "http://" + ss.host + ":" + std::to_string(app.api_port);
        banner << "\nAragora is running (development mode, demo agents, "
               << (settings.storage.backend == config::DbBackend::kPostgres
                       ? std::string("PostgreSQL")
                       : "SQLite at " + settings.storage.sqlite_path)
               << ")\n"
               << "  API        " << base << "/api/v1/debates\n"
               << "  Health     " << base << "/api/v1/health   readiness " << base << "/readyz\n"
               << "  WebSocket  ws://" << ss.host << ":" << app.api_port
               << "/ws?debate_id=<id>   (also ws://" << ss.host << ":" << app.ws_port << "/)\n"
               << "  Metrics    " << base << "/metrics\n"
               << "  OpenAPI    " << base << "/api/openapi.json\n\n"
               << "Start a debate:\n"
               << "  curl -s -X POST " << base
               << "/api/v1/debates -H 'Content-Type: application/json' \\\n"
               << "    -d '{\"task\": \"Should we adopt a four-day work week?\", \"agents\": "
                  "[\"demo\", \"demo\", \"demo\", \"demo\"], \"rounds\": 3}'\n"
               << "Then: curl -s " << base << "/api/v1/debates | jq\n"
               << "Stop with Ctrl-C.\n"
               << "\n";
        app.banner = banner.str();
    }

    asio::co_spawn(app.ioc, HandleSignals(app), asio::detached);
    asio::co_spawn(app.ioc, Startup(app), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->critical("startup crashed: {}", e.what());
        }
    });

    std::vector<std::thread> threads;
    int n = app.Threads();
    for (int i = 1; i < n; ++i) threads.emplace_back([&app] { app.ioc.run(); });
    app.ioc.run();
    for (auto& t : threads) t.join();
    app.pool.Stop();
    spdlog::default_logger()->flush();
    for (const char* name : {"aragora.app", "aragora.api", "aragora.debate"})
        common::GetLogger(name)->flush();
    return app.exit_code.load();
}

}  // namespace aragora::app
