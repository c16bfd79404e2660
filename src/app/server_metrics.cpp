#include "app/server_metrics.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/slo.hpp"

namespace aragora::app {
namespace {

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

// Sealed debate content that did not open, by reason (storage/content_cipher.hpp). The
// store counts in DecryptFailureCounts; each scrape adds what was counted since the last.
void RegisterDecryptFailureMetrics(App& app) {
    auto& family = app.registry.AddCounter(
        "aragora_decrypt_failures_total",
        "Stored values that failed to decrypt (tampered, malformed, unknown key)", {"reason"});
    struct Series {
        metrics::Counter* counter;
        storage::DecryptFailure reason;
        double seen = 0;
    };
    auto series = std::make_shared<std::vector<Series>>();
    for (auto reason : storage::kDecryptFailures) {
        series->push_back({&family.WithLabels({std::string(storage::ToString(reason))}), reason});
    }
    auto counts = app.decrypt_failures;
    auto mu = std::make_shared<std::mutex>();
    app.registry.AddCollector([series, counts, mu] {
        std::lock_guard lock(*mu);
        for (auto& s : *series) {
            const double now = static_cast<double>(counts->Count(s.reason));
            if (now > s.seen) s.counter->Inc(now - s.seen);
            s.seen = now;
        }
    });
}

}  // namespace

void RegisterServerMetrics(App& app) {
    RegisterDatabaseMetrics(app);
    RegisterDecryptFailureMetrics(app);
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
    r.AddCallbackCounter("aragora_ws_slow_consumer_closes_total",
                         "WebSocket clients closed with 1008 for not reading", [&app] {
                             return app.ws ? static_cast<double>(app.ws->Stats().slow_closes) : 0.0;
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
    r.AddCallbackGauge("aragora_ready", "1 when /readyz answers 200", [&app] {
        return app.ready && !app.draining && app.StorageWritable() ? 1.0 : 0.0;
    });
    // SLO_* targets and the compliance computed from the request and debate counters.
    const auto& slo = app.settings.slo;
    metrics::RegisterSloMetrics(
        r, metrics::SloTargets{.availability = slo.availability_target,
                               .latency_p99_seconds = slo.latency_p99_target_ms / 1000.0,
                               .debate_success = slo.debate_success_target});
}

}  // namespace aragora::app
