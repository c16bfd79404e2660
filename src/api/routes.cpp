// THE route table (STYLE.md "One route table"): every method and path this build
// serves, with its auth level, rate-limit class, handler, OpenAPI summary, tag, and
// request / response schemas. It doubles as the API index. Each "/api/v1/x" route is
// also served at "/api/x" (Router::Add); the wire contract is reference/API.md.

#include "api/api.hpp"
#include "api/console.hpp"
#include "api/handlers.hpp"

namespace aragora::api {

void AddRoutes(Router& r, ApiDeps& d) {
    using enum AuthLevel;
    using enum RateClass;

    // Named fields (a swapped pair cannot pass unseen), packed a few to a line so that the
    // table still reads as an index; clang-format would put each field on its own line.
    // clang-format off
    // ---- health, status, metrics (public unless noted) ------------------------------------------
    r.Add({.method = "GET", .path = "/healthz", .auth = kPublic, .rate = kNone,
           .handler = HealthzHandler(d), .summary = "Liveness probe", .tag = "health",
           .response_schema = "Liveness"});
    r.Add({.method = "GET", .path = "/readyz", .auth = kPublic, .rate = kNone,
           .handler = ReadyzHandler(d), .summary = "Readiness probe (503 while starting/draining)",
           .tag = "health", .response_schema = "Readiness"});
    r.Add({.method = "GET", .path = "/health", .auth = kUser, .rate = kRead,
           .handler = DeepHealthHandler(d),
           .summary = "Deep dependency check (503 unless overall ok)", .tag = "health",
           .response_schema = "DeepHealth"});
    r.Add({.method = "GET", .path = "/api/v1/health", .auth = kPublic, .rate = kNone,
           .handler = ApiHealthHandler(d), .summary = "Health summary (503 when unhealthy)",
           .tag = "health", .response_schema = "Health"});
    r.Add({.method = "GET", .path = "/health/threads", .auth = kPublic, .rate = kNone,
           .handler = ThreadsHandler(d), .summary = "Thread registry", .tag = "health"});
    r.Add({.method = "GET", .path = "/health/build", .auth = kPublic, .rate = kNone,
           .handler = BuildHandler(d), .summary = "Build information", .tag = "health",
           .response_schema = "Build"});
    r.Add({.method = "GET", .path = "/api/v1/health/build", .auth = kPublic, .rate = kNone,
           .handler = BuildHandler(d), .summary = "Build information", .tag = "health",
           .response_schema = "Build"});
    r.Add({.method = "GET", .path = "/api/v1/status", .auth = kPublic, .rate = kNone,
           .handler = StatusHandler(d), .summary = "Service status summary", .tag = "health",
           .response_schema = "Status"});
    r.Add({.method = "GET", .path = "/api/v1/ws/stats", .auth = kPublic, .rate = kNone,
           .handler = WsStatsHandler(d), .summary = "WebSocket statistics", .tag = "health"});
    r.Add({.method = "GET", .path = "/api/v1/metrics", .auth = kUser, .rate = kRead,
           .handler = MetricsSummaryHandler(d), .summary = "Metrics summary (JSON)",
           .tag = "metrics"});
    r.Add({.method = "GET", .path = "/metrics", .auth = kPublic, .rate = kNone,
           .handler = PrometheusHandler(d), .summary = "Prometheus metrics (text 0.0.4)",
           .tag = "metrics", .response_schema = "Prometheus"});
    r.Add({.method = "GET", .path = "/metrics/websocket", .auth = kPublic, .rate = kNone,
           .handler = PrometheusWebSocketHandler(d),
           .summary = "WebSocket Prometheus metrics (text 0.0.4)", .tag = "metrics",
           .response_schema = "Prometheus"});
    r.Add({.method = "GET", .path = "/api/openapi.json", .auth = kPublic, .rate = kNone,
           .handler = OpenApiHandler(r), .summary = "This OpenAPI document", .tag = "meta"});

    // ---- debates --------------------------------------------------------------------------------
    r.Add({.method = "POST", .path = "/api/v1/debates", .auth = kMember, .rate = kDebateCreate,
           .handler = CreateDebateHandler(d), .summary = "Start a debate", .tag = "debates",
           .request_schema = "CreateDebateRequest", .response_schema = "CreateDebateResponse"});
    r.Add({.method = "POST", .path = "/api/debate", .auth = kMember, .rate = kDebateCreate,
           .handler = CreateDebateHandler(d), .summary = "Start a debate (legacy path)",
           .tag = "debates", .request_schema = "CreateDebateRequest",
           .response_schema = "CreateDebateResponse"});
    r.Add({.method = "GET", .path = "/api/v1/debates", .auth = kUser, .rate = kRead,
           .handler = ListDebatesHandler(d), .summary = "List debates, newest first",
           .tag = "debates", .response_schema = "DebateList"});
    r.Add({.method = "GET", .path = "/api/v1/debates/{id}", .auth = kUser, .rate = kRead,
           .handler = GetDebateHandler(d), .summary = "Get a debate", .tag = "debates",
           .response_schema = "Debate"});
    r.Add({.method = "POST", .path = "/api/v1/debates/{id}/cancel", .auth = kMember, .rate = kWrite,
           .handler = CancelDebateHandler(d), .summary = "Cancel a pending or running debate",
           .tag = "debates", .response_schema = "CancelResponse"});
    r.Add({.method = "GET", .path = "/api/v1/debates/{id}/messages", .auth = kUser, .rate = kRead,
           .handler = DebateMessagesHandler(d), .summary = "The debate's transcript",
           .tag = "debates", .response_schema = "MessageList"});
    r.Add({.method = "GET", .path = "/api/v1/debates/{id}/events", .auth = kUser, .rate = kRead,
           .handler = DebateEventsHandler(d), .summary = "Poll the debate's events",
           .tag = "debates", .response_schema = "EventPage"});
    r.Add({.method = "GET", .path = "/api/v1/debates/{id}/export", .auth = kUser, .rate = kRead,
           .handler = ExportDebateHandler(d),
           .summary = "Export the debate (?format=json|md|html|csv)", .tag = "debates",
           .response_schema = "DebateExport"});
    r.Add({.method = "GET", .path = "/api/v1/debates/{id}/export/{format}", .auth = kUser,
           .rate = kRead,
           .handler = ExportDebateHandler(d), .summary = "Export the debate (json, md, html, csv)",
           .tag = "debates", .response_schema = "DebateExport"});
    r.Add({.method = "GET", .path = "/api/v1/debates/{id}/receipt", .auth = kUser, .rate = kRead,
           .handler = DebateReceiptHandler(d),
           .summary = "The debate's receipt (?format=json|md|html)", .tag = "receipts",
           .response_schema = "Receipt"});

    // ---- receipts -------------------------------------------------------------------------------
    r.Add({.method = "GET", .path = "/api/v2/receipts", .auth = kUser, .rate = kRead,
           .handler = ListReceiptsHandler(d), .summary = "List receipts, newest first",
           .tag = "receipts", .response_schema = "ReceiptList"});
    r.Add({.method = "GET", .path = "/api/v1/receipts", .auth = kUser, .rate = kRead,
           .handler = ListReceiptsHandler(d), .summary = "List receipts, newest first",
           .tag = "receipts", .response_schema = "ReceiptList"});
    r.Add({.method = "GET", .path = "/api/v1/gauntlet/receipts", .auth = kUser, .rate = kRead,
           .handler = ListReceiptsHandler(d), .summary = "List receipts (gauntlet alias)",
           .tag = "receipts", .response_schema = "ReceiptList"});
    r.Add({.method = "GET", .path = "/api/v2/receipts/{id}", .auth = kUser, .rate = kRead,
           .handler = GetReceiptHandler(d), .summary = "Get a receipt as served", .tag = "receipts",
           .response_schema = "Receipt"});
    r.Add({.method = "GET", .path = "/api/v1/receipts/{id}", .auth = kUser, .rate = kRead,
           .handler = GetReceiptHandler(d), .summary = "Get a receipt as served", .tag = "receipts",
           .response_schema = "Receipt"});
    r.Add({.method = "GET", .path = "/api/v1/gauntlet/receipts/{id}", .auth = kUser, .rate = kRead,
           .handler = GetReceiptHandler(d), .summary = "Get a receipt (gauntlet alias)",
           .tag = "receipts", .response_schema = "Receipt"});
    r.Add({.method = "GET", .path = "/api/v2/receipts/{id}/export", .auth = kUser, .rate = kRead,
           .handler = ExportReceiptHandler(d), .summary = "Export a receipt (?format=json|md|html)",
           .tag = "receipts", .response_schema = "ReceiptExport"});
    r.Add({.method = "GET", .path = "/api/v1/receipts/{id}/export", .auth = kUser, .rate = kRead,
           .handler = ExportReceiptHandler(d), .summary = "Export a receipt (?format=json|md|html)",
           .tag = "receipts", .response_schema = "ReceiptExport"});
    r.Add({.method = "GET", .path = "/api/v1/gauntlet/receipts/{id}/export", .auth = kUser,
           .rate = kRead,
           .handler = ExportReceiptHandler(d), .summary = "Export a receipt (gauntlet alias)",
           .tag = "receipts", .response_schema = "ReceiptExport"});
    r.Add({.method = "POST", .path = "/api/v2/receipts/{id}/verify", .auth = kUser, .rate = kRead,
           .handler = VerifyStoredReceiptHandler(d), .summary = "Verify a stored receipt",
           .tag = "receipts", .response_schema = "VerifyResult"});
    r.Add({.method = "GET", .path = "/api/v2/receipts/{id}/verify", .auth = kUser, .rate = kRead,
           .handler = VerifyStoredReceiptHandler(d), .summary = "Verify a stored receipt",
           .tag = "receipts", .response_schema = "VerifyResult"});
    r.Add({.method = "POST", .path = "/api/v2/receipts/{id}/verify-signature", .auth = kUser,
           .rate = kRead,
           .handler = VerifyStoredReceiptHandler(d),
           .summary = "Verify a stored receipt's signature", .tag = "receipts",
           .response_schema = "VerifyResult"});
    r.Add({.method = "POST", .path = "/api/v1/receipts/{id}/verify", .auth = kUser, .rate = kRead,
           .handler = VerifyStoredReceiptHandler(d), .summary = "Verify a stored receipt",
           .tag = "receipts", .response_schema = "VerifyResult"});
    r.Add({.method = "GET", .path = "/api/v1/gauntlet/receipts/{id}/verify", .auth = kUser,
           .rate = kRead,
           .handler = VerifyStoredReceiptHandler(d), .summary = "Verify a receipt (gauntlet alias)",
           .tag = "receipts", .response_schema = "VerifyResult"});
    r.Add({.method = "POST", .path = "/api/v1/gauntlet/receipts/{id}/verify", .auth = kUser,
           .rate = kRead,
           .handler = VerifyStoredReceiptHandler(d), .summary = "Verify a receipt (gauntlet alias)",
           .tag = "receipts", .response_schema = "VerifyResult"});
    r.Add({.method = "GET", .path = "/.well-known/aragora/receipt-keys.json", .auth = kPublic,
           .rate = kRead,
           .handler = PublishedReceiptKeysHandler(d),
           .summary = "Ed25519 public keys of every receipt key id (verify without secrets)",
           .tag = "receipts", .response_schema = "PublishedReceiptKeys"});
    r.Add({.method = "POST", .path = "/api/v1/receipts/verify", .auth = kUser, .rate = kRead,
           .handler = VerifyReceiptBodyHandler(d), .summary = "Verify a receipt sent in the body",
           .tag = "receipts", .request_schema = "VerifyRequest",
           .response_schema = "VerifyResult"});

    // ---- agents: circuit breakers and diagnostics ----------------------------------------------
    r.Add({.method = "GET", .path = "/api/v1/agents", .auth = kUser, .rate = kRead,
           .handler = ListAgentsHandler(d),
           .summary = "Agents a debate can use: demo personas, providers, availability",
           .tag = "agents", .response_schema = "AgentList"});
    r.Add({.method = "GET", .path = "/api/v1/agents/circuit-breakers", .auth = kUser, .rate = kRead,
           .handler = CircuitBreakersHandler(d), .summary = "Circuit breaker state per agent",
           .tag = "agents", .response_schema = "CircuitBreakers"});
    r.Add({.method = "GET", .path = "/api/v1/system/circuit-breakers", .auth = kAdmin,
           .rate = kRead,
           .handler = CircuitBreakersHandler(d),
           .summary = "Circuit breaker state per agent (admin)", .tag = "system",
           .response_schema = "CircuitBreakers"});
    r.Add({.method = "POST", .path = "/api/v1/agents/{name}/reset-circuit", .auth = kAdmin,
           .rate = kWrite,
           .handler = ResetCircuitHandler(d),
           .summary = "Close an agent's breaker (name, provider or alias such as claude)",
           .tag = "agents", .response_schema = "ResetCircuit"});
    r.Add({.method = "POST", .path = "/api/v1/debug/agent-test", .auth = kAdmin, .rate = kWrite,
           .handler = AgentTestHandler(d), .summary = "Call one agent once: reply, latency, tokens",
           .tag = "debug", .request_schema = "AgentTestRequest", .response_schema = "AgentTest"});
    r.Add({.method = "POST", .path = "/api/v1/debug/connectivity-check", .auth = kAdmin,
           .rate = kWrite,
           .handler = ConnectivityCheckHandler(d),
           .summary = "DNS, TCP, TLS and auth of every configured provider", .tag = "debug",
           .response_schema = "Connectivity"});

    // ---- backups and disaster recovery (admin; deleting and restoring: owner) -------------------
    r.Add({.method = "GET", .path = "/api/v2/backups", .auth = kAdmin, .rate = kRead,
           .handler = ListBackupsHandler(d), .summary = "List backups, newest first",
           .tag = "backups", .response_schema = "BackupList"});
    r.Add({.method = "POST", .path = "/api/v2/backups", .auth = kAdmin, .rate = kWrite,
           .handler = CreateBackupHandler(d),
           .summary = "Back up the configured database now (then verify it)", .tag = "backups",
           .request_schema = "CreateBackupRequest", .response_schema = "BackupCreated"});
    r.Add({.method = "GET", .path = "/api/v2/backups/stats", .auth = kAdmin, .rate = kRead,
           .handler = BackupStatsHandler(d), .summary = "Backup counts, sizes and retention",
           .tag = "backups", .response_schema = "BackupStats"});
    r.Add({.method = "POST", .path = "/api/v2/backups/cleanup", .auth = kAdmin, .rate = kWrite,
           .handler = CleanupBackupsHandler(d),
           .summary = "Apply the retention rule (dry_run defaults to true; false needs owner)",
           .tag = "backups", .request_schema = "CleanupRequest", .response_schema = "CleanupResult"});
    r.Add({.method = "GET", .path = "/api/v2/backups/{id}", .auth = kAdmin, .rate = kRead,
           .handler = GetBackupHandler(d), .summary = "One backup (id or unique id prefix)",
           .tag = "backups", .response_schema = "Backup"});
    r.Add({.method = "DELETE", .path = "/api/v2/backups/{id}", .auth = kOwner, .rate = kWrite,
           .handler = DeleteBackupHandler(d),
           .summary = "Delete a backup's file and manifest entry", .tag = "backups",
           .response_schema = "BackupDeleted"});
    r.Add({.method = "POST", .path = "/api/v2/backups/{id}/verify", .auth = kAdmin,
           .rate = kWrite,
           .handler = VerifyBackupHandler(d),
           .summary = "Checksum, scratch restore, integrity and every receipt re-verified",
           .tag = "backups", .response_schema = "BackupVerification"});
    r.Add({.method = "POST", .path = "/api/v2/backups/{id}/verify-comprehensive", .auth = kAdmin,
           .rate = kWrite,
           .handler = VerifyBackupComprehensiveHandler(d),
           .summary = "Verify plus schema, referential integrity and table checksums",
           .tag = "backups", .response_schema = "BackupComprehensiveVerification"});
    r.Add({.method = "POST", .path = "/api/v2/backups/{id}/restore-test", .auth = kOwner,
           .rate = kWrite,
           .handler = RestoreTestHandler(d),
           .summary = "Dry-run restore into ARAGORA_RESTORE_DIR (verifies, writes nothing)",
           .tag = "backups", .request_schema = "RestoreTestRequest",
           .response_schema = "RestoreTestResult"});
    r.Add({.method = "GET", .path = "/api/v2/dr/status", .auth = kAdmin, .rate = kRead,
           .handler = DrStatusHandler(d), .summary = "Disaster-recovery readiness", .tag = "dr",
           .response_schema = "DrStatus"});
    r.Add({.method = "GET", .path = "/api/v2/dr/objectives", .auth = kAdmin, .rate = kRead,
           .handler = DrObjectivesHandler(d),
           .summary = "RPO and RTO: targets, current values, compliance", .tag = "dr",
           .response_schema = "DrObjectives"});
    r.Add({.method = "POST", .path = "/api/v2/dr/drill", .auth = kAdmin, .rate = kWrite,
           .handler = DrDrillHandler(d),
           .summary = "Run a DR drill: verify and time a restore (RPO, RTO)", .tag = "dr",
           .request_schema = "DrDrillRequest", .response_schema = "DrDrillReport"});
    // clang-format on

    AddReceiptRetentionRoutes(r, d);
    AddSecurityAdminRoutes(r, d);
    AddAuthRoutes(r, d);
    AddConsoleRoutes(r, d);  // the web console (api/console.cpp; not in the OpenAPI document)
}

}  // namespace aragora::api
