#pragma once

// Input rules and record encodings shared by the Store / AuthStore backends (SQLite,
// PostgreSQL), so that both refuse the same inputs with the same errors.

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"
#include "events/payloads.hpp"
#include "storage/auth_store.hpp"
#include "storage/store.hpp"

namespace aragora::storage::rules {

// After the shared transaction of a group commit (AppendEventBatches) failed for the
// batches `todo`: an outage or a timeout fails each of them with that error (so would a
// transaction of its own); any other error was one batch's insert taking the shared
// transaction with it, so each batch is written again alone by `one(i)` and only the
// failing ones fail. `out` holds one status per batch.
template <typename WriteOne>
void SettleFailedBatches(const common::Error& error, const std::vector<std::size_t>& todo,
                         std::vector<common::Status>& out, WriteOne&& one) {
    const bool outage =
        error.code == common::ErrorCode::kUnavailable || error.code == common::ErrorCode::kTimeout;
    for (std::size_t i : todo) {
        if (outage) {
            if (out[i]) out[i] = error;
        } else {
            out[i] = one(i);
        }
    }
}

inline constexpr int kMaxAuditLimit = 1000;

// Column orders shared by both backends' Read*() functions and statements.
inline constexpr std::string_view kDebateColumns =
    "id, task, status, agents, rounds, rounds_used, consensus_method, consensus_reached, "
    "confidence, verdict, final_answer, dissenting_agents, created_at, started_at, "
    "completed_at, duration_seconds, receipt_id, error_code, error_message, spec_json, "
    "result_json, created_by, org_id, queued_for_worker, lease_owner, lease_expires_at, attempts";
inline constexpr std::string_view kReceiptColumns =
    "receipt_id, debate_id, content_hash, previous_hash, created_at, json";
// receipt_deletions (the deletion log and the chain's tombstones), in ReceiptDeletion order.
inline constexpr std::string_view kDeletionColumns =
    "deletion_id, receipt_id, chain_seq, debate_id, content_hash, previous_hash, "
    "receipt_created_at, verdict, deleted_at, reason, operator, metadata_json";
inline constexpr std::string_view kEventColumns =
    "debate_id, seq, type, round, agent, timestamp, data";
inline constexpr std::string_view kUserColumns =
    "id, email, name, role, org_id, password_hash, created_at, updated_at, disabled";
inline constexpr std::string_view kApiKeyColumns =
    "id, user_id, name, key_hash, created_at, expires_at, last_used_at, revoked_at";
inline constexpr std::string_view kRefreshColumns =
    "token_hash, user_id, family_id, created_at, expires_at, revoked_at, replaced_by";
inline constexpr std::string_view kAuditColumns =
    "seq, at, actor, action, target, ip, correlation_id, details_json, prev_hash, hash";
inline constexpr std::string_view kUsageColumns =
    "id, created_by, org_id, status, created_at, spec_json, result_json";

// Concatenates SQL fragments (column lists and the rest of a statement).
std::string Sql(std::initializer_list<std::string_view> parts);
// The SET list of a final write's `INSERT INTO debates … ON CONFLICT (id) DO UPDATE`:
// every column from the new row, except the creator and organization, which keep the
// existing row's when the new row has none. `existing` names the existing row in the
// statement ("" = unqualified, as SQLite allows; else the table's alias).
std::string FinishUpsertAssignments(std::string_view existing);

bool IsKnownStatus(std::string_view status);
bool IsTerminalStatus(std::string_view status);

// kValidation (field "status") for anything but the five statuses.
common::Status ValidateStatus(std::string_view status);
// Non-empty id and created_at, known status.
common::Status ValidateDebate(const DebateRecord& d);
// CreateDebate(): ValidateDebate(), and a lease (not queued, lease_owner given) needs its
// lease_expires_at.
common::Status ValidateNewDebate(const DebateRecord& d);
// The checks FinishDebate() makes before touching the database: ValidateDebate(), a
// terminal status, every event valid and of this debate.
common::Status ValidateFinish(const DebateRecord& d, std::span<const events::Event> events);
// debate_id, seq >= 1, type.
common::Status ValidateEvent(const events::Event& e);
common::Status ValidatePage(int limit, int offset);
// ClaimScheduledRun's arguments: job, slot and instance non-empty.
// RecordReceiptKey's checks: key_id and algorithm ("hmac-sha256" or "ed25519") set.
common::Status ValidateReceiptKey(const ReceiptKeyRow& row);
common::Status ValidateScheduledRun(const std::string& job, const std::string& slot,
                                    const std::string& instance);
common::Error ScheduledRunNotFound(const std::string& job, const std::string& slot);
common::Error ScheduledRunNotOurs(const std::string& job, const std::string& slot,
                                  const std::string& holder);
// ListReceiptChain's page size: 1..1000.
common::Status ValidateChainPage(int limit);
// The status filter of ListDebates(): "", "active", "no_consensus" or a status.
common::Status ValidateStatusFilter(const std::string& status);
// The task search of ListDebates() (DebateFilter::task_query): at most
// kMaxTaskQueryChars code points, else kValidation (field "q").
inline constexpr std::size_t kMaxTaskQueryChars = 200;
common::Status ValidateTaskQuery(std::string_view query);
// The LIKE / ILIKE pattern of a substring search for `text`, for `... ESCAPE '\'`:
// "%" + text with '\', '%' and '_' escaped by '\' + "%".
std::string LikeSubstringPattern(std::string_view text);

// Receipt retention.
inline constexpr std::size_t kMaxRetentionBounds = 16;
inline constexpr std::size_t kMaxHoldReasonBytes = 1000;
// DeleteExpiredReceipts' request: limit 1..1000, cutoff/now/operator/reason non-empty,
// metadata a JSON object.
common::Status ValidateExpiredDeletion(const ExpiredReceiptsDeletion& request);
// FindExpiredReceipts: cutoff non-empty, limit 0..1000.
common::Status ValidateExpiredQuery(const std::string& cutoff, int limit);
// SetLegalHold: a non-empty reason of at most kMaxHoldReasonBytes.
common::Status ValidateHoldReason(const std::string& reason);
// CountReceiptsForRetention: at most kMaxRetentionBounds bounds, none empty.
common::Status ValidateRetentionBounds(const std::vector<std::string>& bounds);
// "del_" + 12 random hex digits.
std::string NewDeletionId();
// The kNotFound of a receipt that retention deleted (store.hpp GetReceipt).
common::Error DeletedReceiptError(const std::string& id, const ReceiptDeletion& tombstone);
common::Error ReceiptNotFound(const std::string& id);

// JSON array of strings <-> vector. `backend` prefixes the corruption error ("sqlite").
std::string ToJsonArray(const std::vector<std::string>& items);
common::Result<std::vector<std::string>> FromJsonArray(const std::string& text,
                                                       std::string_view column,
                                                       const std::string& debate_id,
                                                       std::string_view backend);

// Calls the caller's builder; an exception becomes kInternal.
common::Result<ReceiptRecord> CallBuilder(const ReceiptBuilder& builder,
                                          const std::optional<std::string>& previous_hash);
// A built receipt must have ids, hash and time, be of this debate (debate_id filled when
// empty) and chain to `previous_hash`; kInternal otherwise.
common::Status CheckBuiltReceipt(ReceiptRecord& r, const std::string& debate_id,
                                 const std::optional<std::string>& previous_hash);

// kValidation naming `field` when `value` is empty.
common::Status Required(const std::string& value, std::string_view what, std::string_view field);
common::Status ValidateUser(const UserRecord& u);
common::Status ValidateToken(const RefreshTokenRecord& t);

// The `debate_end` payload (API.md) of a finished row: the one mapping, used by the
// service for every debate it ends and by the stores when no builder is given.
events::DebateEnd DebateEndOf(const DebateRecord& row, double duration_seconds);
// The `data_json` of a stored `debate_end`: `end_data(row)` when given, else
// DebateEndOf(row, its duration or 0).
std::string DebateEndDataOf(const DebateRecord& row, const DebateEndDataBuilder& end_data);

}  // namespace aragora::storage::rules
