#pragma once

// Wiring of the API: which routes exist (routes.cpp is the route table) and the
// middleware chain in front of them. app/ builds ApiDeps and calls these.

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agents/factory.hpp"
#include "api/backups.hpp"
#include "api/router.hpp"
#include "api/security.hpp"
#include "api/security_admin.hpp"
#include "auth/service.hpp"
#include "debate/receipt.hpp"
#include "metrics/registry.hpp"
#include "net/server.hpp"
#include "service/debate_service.hpp"
#include "service/receipt_retention.hpp"

namespace aragora::api {

class ConsoleAssets;  // api/console.hpp

// What the system routes (health, readiness, status, metrics, ws stats) read; implemented
// by app/. Every method is cheap and non-blocking, callable from any I/O thread.
class SystemInfo {
public:
    virtual ~SystemInfo() = default;
    // nullopt when ready, else the reason ("startup in progress", "draining", ...).
    virtual std::optional<std::string> NotReadyReason() const = 0;
    // Deep health (GET /health, /api/v1/health): checks the database on the blocking pool.
    virtual boost::asio::awaitable<std::string> HealthJson(
        bool deep) = 0;                                                // body of /api/v1/health
    virtual boost::asio::awaitable<std::string> DeepHealthJson() = 0;  // body of /health
    virtual std::string StatusJson() const = 0;                        // /api/v1/status
    virtual std::string ThreadsJson() const = 0;                       // /health/threads
    virtual std::string BuildJson() const = 0;                         // /health/build
    virtual std::string WsStatsJson() const = 0;                       // /api/ws/stats
    virtual std::string MetricsSummaryJson() const = 0;                // /api/metrics
    virtual std::string PrometheusText() const = 0;                    // /metrics
    virtual std::string PrometheusWebSocketText() const = 0;           // /metrics/websocket
    virtual bool MetricsEnabled() const = 0;
    // POST /api/admin/cleanup-caches: drops what can be rebuilt; the body of the answer.
    virtual boost::asio::awaitable<std::string> CleanupCachesJson() {
        co_return std::string("{\"cleared\": {}}");
    }
    // POST /api/debug/memory-dump (ARAGORA_MEMORY_PROFILING=1): writes
    // /tmp/aragora_memory_dump.json and returns the same document.
    virtual boost::asio::awaitable<common::Result<std::string>> MemoryDumpJson() {
        co_return common::MakeError(common::ErrorCode::kNotImplemented, "memory dump");
    }
    // The open-mode warning for /api/v1/health ("" = none).
    virtual std::string AuthWarning() const { return {}; }
};

// A document set once the startup sequence has built it and read by any thread (the
// published receipt keys). Empty until then.
class PublishedText {
public:
    void Set(std::string text) {
        std::lock_guard lock(mu_);
        text_ = std::move(text);
    }
    std::string Get() const {
        std::lock_guard lock(mu_);
        return text_;
    }

private:
    mutable std::mutex mu_;
    std::string text_;
};

struct ApiDeps {
    service::DebateService& debates;
    const debate::ReceiptKeys& receipt_keys;
    SystemInfo& system;
    metrics::Registry& metrics;
    // Credentials and roles. Required: MakeHttpHandler throws std::invalid_argument when
    // it is null, so a wiring mistake fails closed. The open development mode is explicit:
    // an AuthService whose AuthConfig::open is set (decided at start).
    auth::AuthService* auth = nullptr;
    // Rate limits; null = none.
    RequestLimits* limits = nullptr;
    CorsPolicy cors = {};
    OpenModeGuard open_mode = {};  // applied while auth is open (or null)
    ErrorLog* errors = nullptr;    // recent 5xx (GET /api/system/errors); null = not kept
    // Agent diagnostics and breakers; null until the startup sequence built it (the
    // agent routes then answer 503).
    agents::AgentFactory* agents = nullptr;
    // Receipt retention: legal holds, retention status, deletion log, cleanup on demand;
    // null = those routes answer 503.
    service::ReceiptRetention* retention = nullptr;
    // Backups and DR (/api/v2/backups, /api/v2/dr); null = those routes answer 503.
    BackupAccess* backups = nullptr;
    // OpenTelemetry traces (trace/); null = tracing off (no span, no trace_id in logs).
    trace::Tracer* tracer = nullptr;
    // The web console's files (api/console.hpp), loaded at start; null = no console (its
    // routes answer 404 naming ARAGORA_CONSOLE_DIR).
    const ConsoleAssets* console = nullptr;
    // GET /.well-known/aragora/receipt-keys.json (debate::PublishedReceiptKeysJson); null
    // or empty = 503 (not loaded yet).
    const PublishedText* receipt_keys_document = nullptr;
    // Encryption at rest and key rotation (/api/v1/admin/security/*); null = 503 / "off".
    SecurityAdminAccess* security_admin = nullptr;
    // ARAGORA_ENCRYPT_DEBATE_CONTENT is on: the task column holds ciphertext, so the debate
    // list's task search (?q=) cannot match and is refused with 400.
    bool debate_content_sealed = false;
};

// Builds the route table (every route of API.md that this build serves, and the web
// console's routes: AddConsoleRoutes, api/console.hpp).
void AddRoutes(Router& router, ApiDeps& deps);

// The request handler for net::HttpServer: request id → access log + metrics timer →
// exception backstop → open-mode guard (403 forbidden: deps.open_mode, while auth is open)
// → CORS (preflight answered here) → route (404 / 405 with Allow) →
// rate limit (429, aragora_rate_limit_hits_total, a `rate_limit` log line) → auth (401
// auth_required with WWW-Authenticate / 403 forbidden) → handler.
// `deps.auth` must be set (std::invalid_argument otherwise).
// Declares aragora_requests_total{status,handler} and
// aragora_request_latency_seconds{handler} in deps.metrics (handler = the route template,
// "unmatched" for 404/405), so it is called once per registry (a second call throws
// std::invalid_argument). Logs one INFO line per request on "aragora.api":
//   request method=GET path=/api/v1/debates route=/api/v1/debates status=200 duration_ms=3
//   correlation_id=<id>
// Every response carries X-Correlation-ID. `router` and `deps` must outlive the handler.
net::HttpHandler MakeHttpHandler(const Router& router, ApiDeps& deps);

// GET /api/openapi.json: an OpenAPI 3.1 document generated from the router's entries
// (every entry, aliases included, is one operation; nothing else is listed).
std::string OpenApiJson(const Router& router);

}  // namespace aragora::api
