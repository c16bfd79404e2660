#pragma once

// Wiring of the API: which routes exist (routes.cpp is the route table) and the
// middleware chain in front of them. app/ builds ApiDeps and calls these.

#include <memory>
#include <optional>
#include <string>

#include "agents/factory.hpp"
#include "api/router.hpp"
#include "debate/receipt.hpp"
#include "metrics/registry.hpp"
#include "net/server.hpp"
#include "service/debate_service.hpp"

namespace aragora::api {

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
};

// Who may call the non-public routes until user auth (JWT, API keys) lands: holders of
// the service token. `open` (development without ARAGORA_API_TOKEN, API.md "the open
// development mode") lets every route answer without credentials.
struct AccessPolicy {
    std::string api_token;  // ARAGORA_API_TOKEN; empty = none configured
    bool open = true;
    // True when `authorization` (an Authorization header value) carries the token.
    bool Accepts(std::string_view authorization) const;
    // Same for a raw token (WebSocket ?token= or access_token.<token> subprotocol).
    bool AcceptsToken(std::string_view token) const;
};

struct ApiDeps {
    service::DebateService& debates;
    const debate::ReceiptKeys& receipt_keys;
    SystemInfo& system;
    metrics::Registry& metrics;
    AccessPolicy access = {};
    // Agent diagnostics and breakers; null until the startup sequence built it (the
    // agent routes then answer 503).
    agents::AgentFactory* agents = nullptr;
};

// Builds the route table (every route of API.md that this build serves).
void AddRoutes(Router& router, ApiDeps& deps);

// The request handler for net::HttpServer: request id → access log + metrics timer →
// exception backstop → route (404 / 405 with Allow) → handler. Rate limit and auth slot
// in here when they land.
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
