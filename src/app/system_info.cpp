#include "app/system_info.hpp"

#include <malloc.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>

#include "common/atomic_file.hpp"
#include "common/build_info.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::Result;

const char* kProviderKeys[] = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY",
                               "MISTRAL_API_KEY",   "GEMINI_API_KEY", "XAI_API_KEY"};

double MemoryMb() {
    auto rss = metrics::ResidentMemoryBytes();
    return rss.ok() ? std::round(static_cast<double>(*rss) / (1024.0 * 1024.0) * 10) / 10 : 0;
}

// Distributed::HealthCheck's object as a RedisCheck.
RedisCheck RedisCheckOf(const json::object& o) {
    RedisCheck r;
    const json::value* status = o.if_contains("status");
    r.state = status && status->is_string() && status->get_string() == "ok" ? CheckState::kOk
                                                                            : CheckState::kError;
    if (const auto* v = o.if_contains("latency_ms"); v && v->is_number())
        r.latency_ms = v->to_number<double>();
    if (const auto* v = o.if_contains("url"); v && v->is_string()) r.url = v->get_string();
    if (const auto* v = o.if_contains("connected"); v && v->is_bool()) r.connected = v->get_bool();
    if (const auto* v = o.if_contains("multi_instance"); v && v->is_bool())
        r.multi_instance = v->get_bool();
    if (const auto* v = o.if_contains("subscriptions_ready"); v && v->is_bool())
        r.subscriptions_ready = v->get_bool();
    if (const auto* v = o.if_contains("error"); v && v->is_string()) r.error = v->get_string();
    return r;
}

}  // namespace

std::optional<std::string> AppSystemInfo::NotReadyReason() const {
    if (app_.ready && !app_.draining) {
        if (!app_.StorageWritable()) return std::string("database not writable");
        return std::nullopt;
    }
    return app_.NotReadyReason();
}

SystemSnapshot AppSystemInfo::Snapshot() const {
    SystemSnapshot s;
    s.version = build::kVersion;
    s.timestamp = common::FormatIso8601(app_.clock.SystemNow());
    s.uptime_seconds = static_cast<std::int64_t>(app_.Uptime());
    s.not_ready_reason = NotReadyReason();
    s.draining = app_.draining;
    if (app_.store) {
        // WatchDatabase's verdict (a ping every 2 s), which also feeds the health checker.
        s.database.backend = app_.db_backend;
        if (app_.db_unreachable) {
            s.database.state = CheckState::kError;
            s.database.error = "unreachable";
            if (const auto* checker = app_.health.Find("database")) {
                const std::string why = checker->Status().last_error;
                if (!why.empty()) s.database.error = why;
            }
        } else {
            s.database.state = CheckState::kOk;
        }
    }
    s.storage_writable = app_.StorageWritable();
    if (app_.distributed) {
        // The client's own view: connected now, or the last connection error.
        redis::RedisClient& client = app_.distributed->client();
        s.redis.url = app_.distributed->RedactedUrl();
        s.redis.multi_instance = app_.distributed->multi_instance();
        s.redis.connected = client.connected();
        s.redis.state = s.redis.connected ? CheckState::kOk : CheckState::kError;
        if (!s.redis.connected) {
            s.redis.error = client.LastError();
            if (s.redis.error.empty()) s.redis.error = "not connected";
        }
    }
    if (app_.api_server) s.websocket.connections = app_.api_server->stats().ws_connections_active;
    s.websocket.max_connections = app_.settings.server.ws_max_connections;
    s.websocket.port = app_.ws_port;
    const auto breakers = app_.breakers.CountByState();
    s.breakers = {breakers.open, breakers.half_open, breakers.closed};
    s.memory_mb = MemoryMb();
    const auto stats = app_.debates.Stats();
    s.debates = {stats.running, stats.queued, stats.max_running};
    s.auth_open = app_.auth && app_.auth->open();
    s.auth_warning = app_.auth_warning;
    return s;
}

asio::awaitable<DatabaseCheck> AppSystemInfo::ProbeDatabase() {
    DatabaseCheck db;
    if (!app_.store) co_return db;  // starting
    auto& checker = app_.health.GetOrCreate("database");
    auto start = std::chrono::steady_clock::now();
    auto r = co_await app_.pool.Run([this] { return common::ToUnit(app_.store->Ping()); });
    auto latency = std::chrono::steady_clock::now() - start;
    double ms = std::chrono::duration<double, std::milli>(latency).count();
    if (r.ok()) {
        checker.RecordSuccess(latency);
    } else {
        checker.RecordFailure(r.error().message, latency);
    }
    db.state = r.ok() ? CheckState::kOk : CheckState::kError;
    db.latency_ms = std::round(ms * 100) / 100;
    db.backend = app_.db_backend;
    if (!r.ok()) db.error = r.error().message;
    co_return db;
}

asio::awaitable<RedisCheck> AppSystemInfo::ProbeRedis() {
    if (!app_.distributed) co_return RedisCheck{};
    json::object o = co_await app_.distributed->HealthCheck();
    RedisCheck r = RedisCheckOf(o);
    auto& checker = app_.health.GetOrCreate("redis");
    if (r.state == CheckState::kOk) {
        checker.RecordSuccess(
            std::chrono::microseconds(static_cast<std::int64_t>(r.latency_ms.value_or(0) * 1000)));
    } else {
        checker.RecordFailure(r.error, {});
    }
    co_return r;
}

asio::awaitable<std::string> AppSystemInfo::HealthJson(bool) {
    SystemSnapshot s = Snapshot();
    s.database = co_await ProbeDatabase();
    s.redis = co_await ProbeRedis();
    co_return HealthDocument(s);
}

asio::awaitable<std::string> AppSystemInfo::DeepHealthJson() {
    DeepHealthFacts facts;
    for (const char* k : kProviderKeys) {
        const char* v = std::getenv(k);
        if (v && *v) facts.provider_keys.emplace_back(k);
    }
    SystemSnapshot s = Snapshot();
    s.database = co_await ProbeDatabase();
    s.redis = co_await ProbeRedis();
    for (const auto& st : app_.health.Snapshot()) {
        facts.components.push_back({st.name, st.healthy, st.consecutive_failures, st.last_error});
    }
    co_return DeepHealthDocument(s, facts);
}

std::string AppSystemInfo::StatusJson() const { return StatusDocument(Snapshot()); }

std::string AppSystemInfo::AuthWarning() const {
    return app_.auth && app_.auth->open() ? app_.auth_warning : std::string();
}

asio::awaitable<std::string> AppSystemInfo::CleanupCachesJson() {
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

asio::awaitable<Result<std::string>> AppSystemInfo::MemoryDumpJson() {
    if (!app_.settings.security.memory_profiling) {
        co_return common::MakeError(
            ErrorCode::kNotFound,
            "memory profiling is off: set ARAGORA_MEMORY_PROFILING=1 and restart");
    }
    MemorySnapshot m;
    m.timestamp = common::FormatIso8601(app_.clock.SystemNow());
    m.pid = static_cast<std::int64_t>(::getpid());
    if (auto rss = metrics::ResidentMemoryBytes()) m.rss_bytes = *rss;
    const struct mallinfo2 mi = ::mallinfo2();
    m.allocator = {mi.arena, mi.hblkhd, mi.uordblks, mi.fordblks, mi.keepcost, mi.hblks};
    auto hub = app_.hub.Stats();
    auto ws = app_.ws ? app_.ws->Stats() : api::DebateStreamStats{};
    auto debates = app_.debates.Stats();
    const auto& net = app_.api_server->stats();
    // Sizes per item are estimates (the subsystems count items, not bytes): an event
    // envelope with its JSON ~1 KiB, a live debate's state ~64 KiB, a queued frame
    // ~1 KiB, a cache or bucket entry ~256 B.
    m.subsystems = {
        {"debates", debates.running + debates.queued, 64 * 1024},
        {"event_buffers", hub.buffered_events, 1024},
        {"websocket_queues", net.ws_connections_active.load() * 8 + ws.subscriptions, 1024},
        {"api_key_cache", app_.auth ? app_.auth->CacheSize() : 0, 256},
        {"rate_limit_buckets", app_.limits ? app_.limits->TrackedKeys() : 0, 256},
        {"error_log", std::min<std::uint64_t>(app_.errors.total(), 200), 256},
    };
    // The runbook `cat`s this file right after the POST: written whole or not at all.
    const std::string& path = app_.settings.security.memory_dump_path;
    std::string body = MemoryDumpDocument(m, path);
    auto write = [&body, &path] { return common::WriteFileAtomically(path, body + "\n"); };
    auto written = co_await app_.pool.Run(write);
    if (!written) co_return written.error();
    co_return body;
}

std::string AppSystemInfo::ThreadsJson() const {
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

std::string AppSystemInfo::BuildJson() const {
    std::string sha = build::kGitSha;
    json::object o{{"sha", sha},
                   {"sha_short", sha.substr(0, 7)},
                   {"build_time", build::kBuildTime},
                   {"version", build::kVersion}};
    return common::SerializeJson(o);
}

std::string AppSystemInfo::WsStatsJson() const {
    const auto& st = app_.api_server->stats();
    json::object o;
    o["connections"] = st.ws_connections_active.load();
    o["max_connections"] = app_.settings.server.ws_max_connections;
    o["total_connections"] = st.ws_connections_total.load();
    o["rejected"] = st.ws_rejected.load();
    o["messages_sent"] = st.ws_messages_sent.load();
    o["messages_received"] = st.ws_messages_received.load();
    const auto handler_slow = app_.ws ? app_.ws->Stats().slow_closes : 0;
    o["dropped"] = st.ws_send_refused.load() + handler_slow;
    o["slow_closes"] = handler_slow;
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

std::string AppSystemInfo::MetricsSummaryJson() const {
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
                                  {"slow_closes", app_.ws ? app_.ws->Stats().slow_closes : 0}};
    auto rss = metrics::ResidentMemoryBytes();
    o["process_resident_memory_bytes"] = rss.ok() ? *rss : 0;
    o["uptime_seconds"] = static_cast<std::int64_t>(app_.Uptime());
    return common::SerializeJson(o);
}

std::string AppSystemInfo::PrometheusText() const {
    app_.backup_metrics.Refresh();  // RPO/RTO compliance move with the clock
    return app_.registry.RenderPrometheus();
}

std::string AppSystemInfo::PrometheusWebSocketText() const {
    // The WebSocket families only (the runbook's second scrape job), chosen by name: a
    // label value such as handler="/metrics/websocket" does not bring its family along.
    return app_.registry.RenderPrometheus([](const std::string& name) {
        return name.rfind("aragora_websocket_", 0) == 0 || name.rfind("aragora_ws_", 0) == 0;
    });
}

bool AppSystemInfo::MetricsEnabled() const { return app_.settings.server.metrics_enabled; }

}  // namespace aragora::app
