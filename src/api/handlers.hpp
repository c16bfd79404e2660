#pragma once

// Handler factories used by the route table (routes.cpp), one group per resource file,
// plus the pure request/response helpers they are built from (exposed for tests).
// Internal to src/api. Every factory's handler keeps references to `deps` (and the
// router), which must outlive the server.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.hpp"
#include "api/backups.hpp"
#include "api/router.hpp"
#include "common/result.hpp"
#include "events/event.hpp"
#include "service/debate_service.hpp"
#include "storage/store.hpp"

namespace aragora::api {

// --- debates.cpp ---------------------------------------------------------------------

Handler CreateDebateHandler(ApiDeps& deps);
Handler GetDebateHandler(ApiDeps& deps);
Handler ListDebatesHandler(ApiDeps& deps);
Handler CancelDebateHandler(ApiDeps& deps);
Handler DebateMessagesHandler(ApiDeps& deps);
Handler DebateEventsHandler(ApiDeps& deps);
Handler ExportDebateHandler(ApiDeps& deps);  // ?format= or /export/{format}
Handler DebateReceiptHandler(ApiDeps& deps);

// The request body as a JSON object, whatever the Content-Type: kBadRequest when empty,
// not JSON, or not an object.
common::Result<boost::json::object> ParseJsonObjectBody(std::string_view body);

// The create body of API.md "Create" checked field by field (kBadRequest for a body that
// is not a JSON object; kValidation naming the field otherwise; agents errors as
// agents::ParseAgentSpecs reports them). Omitted agents = three `demo`.
common::Result<service::CreateDebateRequest> ParseCreateDebateRequest(std::string_view body);

// One transcript line of GET .../messages (API.md "Messages").
struct Message {
    std::string agent;
    std::string role;  // proposer, critic, reviser, voter, judge
    int round = 0;
    std::string content;
    double timestamp = 0;  // epoch seconds
};

// The messages carried by `events` (agent_message, critique, vote, a judge's consensus),
// in event order. `judge` names the agent of a judge consensus.
std::vector<Message> MessagesFromEvents(const std::vector<events::Event>& events,
                                        const std::string& judge);

// The transcript documents of a debate export (API.md "Export").
std::string DebateMarkdown(const storage::DebateRecord& debate,
                           const std::vector<Message>& messages);
std::string DebateHtml(const storage::DebateRecord& debate, const std::vector<Message>& messages);
std::string DebateCsv(const storage::DebateRecord& debate, const std::vector<Message>& messages);

// --- receipts.cpp --------------------------------------------------------------------

Handler ListReceiptsHandler(ApiDeps& deps);
Handler GetReceiptHandler(ApiDeps& deps);
Handler ExportReceiptHandler(ApiDeps& deps);
Handler VerifyStoredReceiptHandler(ApiDeps& deps);   // .../{id}/verify, /verify-signature
Handler PublishedReceiptKeysHandler(ApiDeps& deps);  // GET /.well-known/aragora/receipt-keys.json
Handler VerifyReceiptBodyHandler(ApiDeps& deps);     // POST /api/v1/receipts/verify

// A verify body: the exact text of the receipt — the value of the top-level `receipt`
// member when the body is {"receipt": {...}, "integrity_only"?: bool} (without its own
// content_hash), else the whole body — and the wrapper's integrity_only (nullopt when
// absent or when the body is the receipt itself). kBadRequest when the body is not a
// JSON object or `receipt` not an object; kValidation for a non-boolean integrity_only.
// The text is cut out of the body, never re-serialized, so numbers keep their digits.
struct VerifyBody {
    std::string receipt_text;
    std::optional<bool> integrity_only;
};
common::Result<VerifyBody> ParseVerifyBody(std::string_view body);
// ParseVerifyBody's receipt text alone.
common::Result<std::string> ReceiptTextFromBody(std::string_view body);

// The verification answer of API.md "Receipts" for `receipt_json`; an unsigned receipt is
// invalid with reason "unsigned". An integrity-only check (the verify routes'
// `?integrity_only=true`, or the body member) adds "integrity_only": true and a "warning"
// saying that nothing was authenticated.
std::string VerificationJson(std::string_view receipt_json, const debate::ReceiptKeys& keys,
                             debate::ReceiptCheck check = debate::ReceiptCheck::kFull);

// --- receipt_retention_routes.cpp ------------------------------------------------------
// Legal holds, retention status, the deletion log, a cleanup on demand.
void AddReceiptRetentionRoutes(Router& router, ApiDeps& deps);

// --- security_admin.cpp ----------------------------------------------------------------
// Encryption status, data keys, health, rotation status, rotate-key (admin/owner).
void AddSecurityAdminRoutes(Router& router, ApiDeps& deps);

// --- agents.cpp ----------------------------------------------------------------------

Handler ListAgentsHandler(ApiDeps& deps);
Handler CircuitBreakersHandler(ApiDeps& deps);    // GET .../agents|system/circuit-breakers
Handler ResetCircuitHandler(ApiDeps& deps);       // POST .../agents/{name}/reset-circuit
Handler AgentTestHandler(ApiDeps& deps);          // POST .../debug/agent-test
Handler ConnectivityCheckHandler(ApiDeps& deps);  // POST .../debug/connectivity-check

// --- system.cpp ----------------------------------------------------------------------

Handler HealthzHandler(ApiDeps& deps);
Handler ReadyzHandler(ApiDeps& deps);
Handler DeepHealthHandler(ApiDeps& deps);  // /health
Handler ApiHealthHandler(ApiDeps& deps);   // /api/v1/health
Handler ThreadsHandler(ApiDeps& deps);
Handler BuildHandler(ApiDeps& deps);
Handler StatusHandler(ApiDeps& deps);
Handler WsStatsHandler(ApiDeps& deps);
Handler MetricsSummaryHandler(ApiDeps& deps);
Handler PrometheusHandler(ApiDeps& deps);
Handler PrometheusWebSocketHandler(ApiDeps& deps);
Handler OpenApiHandler(const Router& router);
// 501 not_implemented naming `feature` ("<feature> is not implemented in this build").
Handler NotImplementedHandler(std::string feature);

// --- backups.cpp ---------------------------------------------------------------------
// /api/v2/backups and /api/v2/dr (deps.backups; null or without a manager: 503).

Handler ListBackupsHandler(ApiDeps& deps);                // GET /api/v2/backups
Handler CreateBackupHandler(ApiDeps& deps);               // POST /api/v2/backups (201)
Handler GetBackupHandler(ApiDeps& deps);                  // GET .../{id} (id or prefix)
Handler DeleteBackupHandler(ApiDeps& deps);               // DELETE .../{id}
Handler VerifyBackupHandler(ApiDeps& deps);               // POST .../{id}/verify
Handler VerifyBackupComprehensiveHandler(ApiDeps& deps);  // POST .../{id}/verify-comprehensive
Handler RestoreTestHandler(ApiDeps& deps);                // POST .../{id}/restore-test
Handler CleanupBackupsHandler(ApiDeps& deps);             // POST /api/v2/backups/cleanup
Handler BackupStatsHandler(ApiDeps& deps);                // GET /api/v2/backups/stats
Handler DrStatusHandler(ApiDeps& deps);                   // GET /api/v2/dr/status
Handler DrObjectivesHandler(ApiDeps& deps);               // GET /api/v2/dr/objectives
Handler DrDrillHandler(ApiDeps& deps);                    // POST /api/v2/dr/drill

// GET /api/v2/dr/status (the original's shape: status healthy|warning|critical,
// readiness_score, backup_status, rpo_status, issues, recommendations, checked_at) plus
// last_drill, scheduler, retention_policy, backup_dir. The RPO target is the backup
// period when scheduled backups are on, else 24 h.
boost::json::object DrStatusJson(const ops::DrStatus& status,
                                 const config::BackupSettings& settings, ops::TimePoint now);
// GET /api/v2/dr/objectives (rpo, rto, backup_coverage, generated_at; plus tiers): the RTO
// is the last passed drill's measured restore time; RPO violations are gaps longer than
// the target between the successful backups of `last_week`.
boost::json::object DrObjectivesJson(const ops::DrStatus& status,
                                     const std::vector<ops::BackupMetadata>& last_week,
                                     const config::BackupSettings& settings, ops::TimePoint now);

// --- auth_routes.cpp -------------------------------------------------------------------
// Accounts, API keys, users, audit, usage, rate-limit and admin routes.
void AddAuthRoutes(Router& router, ApiDeps& deps);

}  // namespace aragora::api
