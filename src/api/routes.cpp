// THE route table (STYLE.md "One route table"): every method and path this build
// serves, with its auth level, rate-limit class, handler, OpenAPI summary, tag, and
// request / response schemas. It doubles as the API index. Each "/api/v1/x" route is
// also served at "/api/x" (Router::Add); the wire contract is reference/API.md.

#include "api/api.hpp"
#include "api/handlers.hpp"

namespace aragora::api {

void AddRoutes(Router& r, ApiDeps& d) {
    using enum AuthLevel;
    using enum RateClass;

    // ---- health, status, metrics (public unless noted) ------------------------------------------
    r.Add({"GET", "/healthz", kPublic, kNone, HealthzHandler(d), "Liveness probe", "health", "",
           "Liveness"});
    r.Add({"GET", "/readyz", kPublic, kNone, ReadyzHandler(d),
           "Readiness probe (503 while starting/draining)", "health", "", "Readiness"});
    r.Add({"GET", "/health", kUser, kRead, DeepHealthHandler(d),
           "Deep dependency check (503 unless overall ok)", "health", "", "DeepHealth"});
    r.Add({"GET", "/api/v1/health", kPublic, kNone, ApiHealthHandler(d),
           "Health summary (503 when unhealthy)", "health", "", "Health"});
    r.Add({"GET", "/health/threads", kPublic, kNone, ThreadsHandler(d), "Thread registry", "health",
           "", ""});
    r.Add({"GET", "/health/build", kPublic, kNone, BuildHandler(d), "Build information", "health",
           "", "Build"});
    r.Add({"GET", "/api/v1/health/build", kPublic, kNone, BuildHandler(d), "Build information",
           "health", "", "Build"});
    r.Add({"GET", "/api/v1/status", kPublic, kNone, StatusHandler(d), "Service status summary",
           "health", "", "Status"});
    r.Add({"GET", "/api/v1/ws/stats", kPublic, kNone, WsStatsHandler(d), "WebSocket statistics",
           "health", "", ""});
    r.Add({"GET", "/api/v1/metrics", kUser, kRead, MetricsSummaryHandler(d),
           "Metrics summary (JSON)", "metrics", "", ""});
    r.Add({"GET", "/metrics", kPublic, kNone, PrometheusHandler(d),
           "Prometheus metrics (text 0.0.4)", "metrics", "", "Prometheus"});
    r.Add({"GET", "/metrics/websocket", kPublic, kNone, PrometheusWebSocketHandler(d),
           "WebSocket Prometheus metrics (text 0.0.4)", "metrics", "", "Prometheus"});
    r.Add({"GET", "/api/openapi.json", kPublic, kNone, OpenApiHandler(r), "This OpenAPI document",
           "meta", "", ""});

    // ---- debates --------------------------------------------------------------------------------
    r.Add({"POST", "/api/v1/debates", kMember, kDebateCreate, CreateDebateHandler(d),
           "Start a debate", "debates", "CreateDebateRequest", "CreateDebateResponse"});
    r.Add({"POST", "/api/debate", kMember, kDebateCreate, CreateDebateHandler(d),
           "Start a debate (legacy path)", "debates", "CreateDebateRequest",
           "CreateDebateResponse"});
    r.Add({"GET", "/api/v1/debates", kUser, kRead, ListDebatesHandler(d),
           "List debates, newest first", "debates", "", "DebateList"});
    r.Add({"GET", "/api/v1/debates/{id}", kUser, kRead, GetDebateHandler(d), "Get a debate",
           "debates", "", "Debate"});
    r.Add({"POST", "/api/v1/debates/{id}/cancel", kMember, kWrite, CancelDebateHandler(d),
           "Cancel a pending or running debate", "debates", "", "CancelResponse"});
    r.Add({"GET", "/api/v1/debates/{id}/messages", kUser, kRead, DebateMessagesHandler(d),
           "The debate's transcript", "debates", "", "MessageList"});
    r.Add({"GET", "/api/v1/debates/{id}/events", kUser, kRead, DebateEventsHandler(d),
           "Poll the debate's events", "debates", "", "EventPage"});
    r.Add({"GET", "/api/v1/debates/{id}/export", kUser, kRead, ExportDebateHandler(d),
           "Export the debate (?format=json|md|html|csv)", "debates", "", "DebateExport"});
    r.Add({"GET", "/api/v1/debates/{id}/export/{format}", kUser, kRead, ExportDebateHandler(d),
           "Export the debate (json, md, html, csv)", "debates", "", "DebateExport"});
    r.Add({"GET", "/api/v1/debates/{id}/receipt", kUser, kRead, DebateReceiptHandler(d),
           "The debate's receipt (?format=json|md|html)", "receipts", "", "Receipt"});

    // ---- receipts -------------------------------------------------------------------------------
    r.Add({"GET", "/api/v2/receipts", kUser, kRead, ListReceiptsHandler(d),
           "List receipts, newest first", "receipts", "", "ReceiptList"});
    r.Add({"GET", "/api/v1/receipts", kUser, kRead, ListReceiptsHandler(d),
           "List receipts, newest first", "receipts", "", "ReceiptList"});
    r.Add({"GET", "/api/v1/gauntlet/receipts", kUser, kRead, ListReceiptsHandler(d),
           "List receipts (gauntlet alias)", "receipts", "", "ReceiptList"});
    r.Add({"GET", "/api/v2/receipts/{id}", kUser, kRead, GetReceiptHandler(d),
           "Get a receipt as served", "receipts", "", "Receipt"});
    r.Add({"GET", "/api/v1/receipts/{id}", kUser, kRead, GetReceiptHandler(d),
           "Get a receipt as served", "receipts", "", "Receipt"});
    r.Add({"GET", "/api/v1/gauntlet/receipts/{id}", kUser, kRead, GetReceiptHandler(d),
           "Get a receipt (gauntlet alias)", "receipts", "", "Receipt"});
    r.Add({"GET", "/api/v2/receipts/{id}/export", kUser, kRead, ExportReceiptHandler(d),
           "Export a receipt (?format=json|md|html)", "receipts", "", "ReceiptExport"});
    r.Add({"GET", "/api/v1/receipts/{id}/export", kUser, kRead, ExportReceiptHandler(d),
           "Export a receipt (?format=json|md|html)", "receipts", "", "ReceiptExport"});
    r.Add({"GET", "/api/v1/gauntlet/receipts/{id}/export", kUser, kRead, ExportReceiptHandler(d),
           "Export a receipt (gauntlet alias)", "receipts", "", "ReceiptExport"});
    r.Add({"POST", "/api/v2/receipts/{id}/verify", kUser, kRead, VerifyStoredReceiptHandler(d),
           "Verify a stored receipt", "receipts", "", "VerifyResult"});
    r.Add({"GET", "/api/v2/receipts/{id}/verify", kUser, kRead, VerifyStoredReceiptHandler(d),
           "Verify a stored receipt", "receipts", "", "VerifyResult"});
    r.Add({"POST", "/api/v2/receipts/{id}/verify-signature", kUser, kRead,
           VerifyStoredReceiptHandler(d), "Verify a stored receipt's signature", "receipts", "",
           "VerifyResult"});
    r.Add({"POST", "/api/v1/receipts/{id}/verify", kUser, kRead, VerifyStoredReceiptHandler(d),
           "Verify a stored receipt", "receipts", "", "VerifyResult"});
    r.Add({"GET", "/api/v1/gauntlet/receipts/{id}/verify", kUser, kRead,
           VerifyStoredReceiptHandler(d), "Verify a receipt (gauntlet alias)", "receipts", "",
           "VerifyResult"});
    r.Add({"POST", "/api/v1/gauntlet/receipts/{id}/verify", kUser, kRead,
           VerifyStoredReceiptHandler(d), "Verify a receipt (gauntlet alias)", "receipts", "",
           "VerifyResult"});
    r.Add({"POST", "/api/v1/receipts/verify", kUser, kRead, VerifyReceiptBodyHandler(d),
           "Verify a receipt sent in the body", "receipts", "VerifyRequest", "VerifyResult"});

    // ---- agents: circuit breakers and diagnostics ----------------------------------------------
    r.Add({"GET", "/api/v1/agents/circuit-breakers", kUser, kRead, CircuitBreakersHandler(d),
           "Circuit breaker state per agent", "agents", "", "CircuitBreakers"});
    r.Add({"GET", "/api/v1/system/circuit-breakers", kAdmin, kRead, CircuitBreakersHandler(d),
           "Circuit breaker state per agent (admin)", "system", "", "CircuitBreakers"});
    r.Add({"POST", "/api/v1/agents/{name}/reset-circuit", kAdmin, kWrite, ResetCircuitHandler(d),
           "Close an agent's breaker (name, provider or alias such as claude)", "agents", "",
           "ResetCircuit"});
    r.Add({"POST", "/api/v1/debug/agent-test", kAdmin, kWrite, AgentTestHandler(d),
           "Call one agent once: reply, latency, tokens", "debug", "AgentTestRequest",
           "AgentTest"});
    r.Add({"POST", "/api/v1/debug/connectivity-check", kAdmin, kWrite, ConnectivityCheckHandler(d),
           "DNS, TCP, TLS and auth of every configured provider", "debug", "", "Connectivity"});

    AddAuthRoutes(r, d);
}

}  // namespace aragora::api
