#include "storage/store_rules.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <exception>
#include <string>

#include "common/ids.hpp"

namespace aragora::storage::rules {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

namespace {

constexpr std::array<std::string_view, 5> kStatuses = {"pending", "running", "completed", "failed",
                                                       "cancelled"};

}  // namespace

std::string Sql(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto p : parts) out.append(p);
    return out;
}

std::string FinishUpsertAssignments(std::string_view existing) {
    const std::string prefix = existing.empty() ? std::string() : std::string(existing) + ".";
    return Sql(
        {"task = excluded.task, status = excluded.status, "
         "agents = excluded.agents, rounds = excluded.rounds, "
         "rounds_used = excluded.rounds_used, "
         "consensus_method = excluded.consensus_method, "
         "consensus_reached = excluded.consensus_reached, "
         "confidence = excluded.confidence, "
         "verdict = excluded.verdict, "
         "final_answer = excluded.final_answer, "
         "dissenting_agents = excluded.dissenting_agents, "
         "created_at = excluded.created_at, "
         "started_at = excluded.started_at, "
         "completed_at = excluded.completed_at, "
         "duration_seconds = excluded.duration_seconds, "
         "receipt_id = excluded.receipt_id, "
         "error_code = excluded.error_code, "
         "error_message = excluded.error_message, "
         "spec_json = excluded.spec_json, "
         "result_json = excluded.result_json, "
         "created_by = COALESCE(NULLIF(excluded.created_by, ''), ",
         prefix, "created_by), org_id = COALESCE(NULLIF(excluded.org_id, ''), ", prefix,
         "org_id)"});
}

bool IsKnownStatus(std::string_view status) {
    for (auto s : kStatuses) {
        if (s == status) return true;
    }
    return false;
}

bool IsTerminalStatus(std::string_view status) {
    return status == "completed" || status == "failed" || status == "cancelled";
}

Status ValidateStatus(std::string_view status) {
    if (IsKnownStatus(status)) return {};
    return MakeError(ErrorCode::kValidation,
                     "unknown debate status '" + std::string(status) +
                         "'; expected pending, running, completed, failed or cancelled",
                     "status");
}

Status ValidateDebate(const DebateRecord& d) {
    if (d.id.empty()) return MakeError(ErrorCode::kValidation, "debate id is empty", "id");
    if (d.created_at.empty()) {
        return MakeError(ErrorCode::kValidation, "debate " + d.id + " has no created_at",
                         "created_at");
    }
    return {};
}

Status ValidateNewDebate(const DebateRecord& d) {
    if (auto s = ValidateDebate(d); !s) return s;
    // A lease without an end would never expire: neither recovery nor a reaper could end
    // the debate should its instance die.
    if (!d.queued_for_worker && !d.lease_owner.empty() && d.lease_expires_at.empty()) {
        return MakeError(ErrorCode::kValidation,
                         "debate " + d.id + " has a lease owner but no lease_expires_at",
                         "lease_expires_at");
    }
    return {};
}

Status ValidateFinish(const DebateRecord& d, std::span<const events::Event> events) {
    if (auto s = ValidateDebate(d); !s) return s;
    if (!events::IsTerminal(d.status)) {
        return MakeError(ErrorCode::kValidation,
                         "FinishDebate needs a terminal status (completed, failed or "
                         "cancelled), got '" +
                             std::string(events::ToString(d.status)) + "'",
                         "status");
    }
    for (const auto& e : events) {
        if (auto s = ValidateEvent(e); !s) return s;
        if (e.debate_id != d.id) {
            return MakeError(ErrorCode::kValidation,
                             "event of debate " + e.debate_id + " passed while finishing " + d.id);
        }
    }
    return {};
}

Status ValidateEvent(const events::Event& e) {
    if (e.debate_id.empty())
        return MakeError(ErrorCode::kValidation, "event without debate_id", "debate_id");
    if (e.seq < 1) {
        return MakeError(ErrorCode::kValidation,
                         "event seq must be >= 1 (debate " + e.debate_id + ")", "seq");
    }
    if (e.type.empty()) {
        return MakeError(ErrorCode::kValidation, "event without type (debate " + e.debate_id + ")",
                         "type");
    }
    return {};
}

Status ValidatePage(int limit, int offset) {
    if (limit < 0) return MakeError(ErrorCode::kValidation, "limit must be >= 0", "limit");
    if (offset < 0) return MakeError(ErrorCode::kValidation, "offset must be >= 0", "offset");
    return {};
}

Status ValidateReceiptKey(const ReceiptKeyRow& row) {
    if (row.key_id.empty()) return MakeError(ErrorCode::kValidation, "empty key_id", "key_id");
    if (row.algorithm != "hmac-sha256" && row.algorithm != "ed25519") {
        return MakeError(ErrorCode::kValidation,
                         "receipt key algorithm must be hmac-sha256 or ed25519", "algorithm");
    }
    if (row.first_seen_at.empty() || row.last_seen_at.empty()) {
        return MakeError(ErrorCode::kValidation, "receipt key first_seen_at/last_seen_at missing",
                         "first_seen_at");
    }
    return {};
}

Status ValidateScheduledRun(const std::string& job, const std::string& slot,
                            const std::string& instance) {
    if (job.empty()) return MakeError(ErrorCode::kValidation, "empty job", "job");
    if (slot.empty()) return MakeError(ErrorCode::kValidation, "empty slot", "slot");
    if (instance.empty()) return MakeError(ErrorCode::kValidation, "empty instance", "instance");
    return {};
}

common::Error ScheduledRunNotFound(const std::string& job, const std::string& slot) {
    return MakeError(ErrorCode::kNotFound, "scheduled run " + job + " @ " + slot + " not found");
}

common::Error ScheduledRunNotOurs(const std::string& job, const std::string& slot,
                                  const std::string& holder) {
    return MakeError(ErrorCode::kConflict,
                     "scheduled run " + job + " @ " + slot + " was claimed by " + holder);
}

Status ValidateChainPage(int limit) {
    if (limit < 1 || limit > 1000) {
        return MakeError(ErrorCode::kValidation, "limit must be in [1, 1000]", "limit");
    }
    return {};
}

Status ValidateStatusFilter(const std::string& status) {
    if (status.empty() || status == "active" || status == "no_consensus" || IsKnownStatus(status))
        return {};
    return MakeError(ErrorCode::kValidation,
                     "unknown status filter '" + status +
                         "'; expected pending, running, completed, failed, cancelled, "
                         "active or no_consensus",
                     "status");
}

Status ValidateTaskQuery(std::string_view query) {
    const auto code_points =
        static_cast<std::size_t>(std::count_if(query.begin(), query.end(), [](char c) {
            return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        }));
    if (code_points <= kMaxTaskQueryChars) return {};
    return MakeError(ErrorCode::kValidation,
                     "q must be at most " + std::to_string(kMaxTaskQueryChars) + " characters",
                     "q");
}

std::string LikeSubstringPattern(std::string_view text) {
    std::string out = "%";
    out.reserve(text.size() + 2);
    for (char c : text) {
        if (c == '\\' || c == '%' || c == '_') out += '\\';
        out += c;
    }
    out += '%';
    return out;
}

Status ValidateExpiredDeletion(const ExpiredReceiptsDeletion& request) {
    if (request.limit < 1 || request.limit > 1000) {
        return MakeError(ErrorCode::kValidation, "limit must be in [1, 1000]", "limit");
    }
    if (auto s = Required(request.cutoff, "cutoff", "cutoff"); !s) return s;
    if (auto s = Required(request.now, "now", "now"); !s) return s;
    if (auto s = Required(request.operator_name, "operator", "operator"); !s) return s;
    if (auto s = Required(request.reason, "reason", "reason"); !s) return s;
    boost::json::error_code ec;
    boost::json::value metadata = boost::json::parse(request.metadata_json, ec);
    if (ec || !metadata.is_object()) {
        return MakeError(ErrorCode::kValidation, "metadata must be a JSON object", "metadata");
    }
    return {};
}

Status ValidateExpiredQuery(const std::string& cutoff, int limit) {
    if (limit < 0 || limit > 1000) {
        return MakeError(ErrorCode::kValidation, "limit must be in [0, 1000]", "limit");
    }
    return Required(cutoff, "cutoff", "cutoff");
}

Status ValidateHoldReason(const std::string& reason) {
    if (auto s = Required(reason, "legal hold reason", "reason"); !s) return s;
    if (reason.size() > kMaxHoldReasonBytes) {
        return MakeError(
            ErrorCode::kValidation,
            "legal hold reason is longer than " + std::to_string(kMaxHoldReasonBytes) + " bytes",
            "reason");
    }
    return {};
}

Status ValidateRetentionBounds(const std::vector<std::string>& bounds) {
    if (bounds.size() > kMaxRetentionBounds) {
        return MakeError(ErrorCode::kValidation,
                         "at most " + std::to_string(kMaxRetentionBounds) + " bounds", "bounds");
    }
    for (const auto& b : bounds) {
        if (b.empty()) return MakeError(ErrorCode::kValidation, "empty bound", "bounds");
    }
    return {};
}

std::string NewDeletionId() {
    // NewId gives 24 hex digits from the CSPRNG; the original's ids carry 12.
    return common::NewId("del_").substr(0, 4 + 12);
}

common::Error DeletedReceiptError(const std::string& id, const ReceiptDeletion& tombstone) {
    return MakeError(
        ErrorCode::kNotFound,
        "receipt " + (id == tombstone.receipt_id ? id : id + " (" + tombstone.receipt_id + ")") +
            " was deleted (" + tombstone.reason + ") on " + tombstone.deleted_at +
            "; its tombstone keeps content_hash " + tombstone.content_hash + " (deletion " +
            tombstone.deletion_id + ")");
}

common::Error ReceiptNotFound(const std::string& id) {
    return MakeError(ErrorCode::kNotFound, "receipt " + id + " not found");
}

std::string ToJsonArray(const std::vector<std::string>& items) {
    boost::json::array arr;
    arr.reserve(items.size());
    for (const auto& item : items) arr.emplace_back(item);
    return boost::json::serialize(arr);
}

Result<std::vector<std::string>> FromJsonArray(const std::string& text, std::string_view column,
                                               const std::string& debate_id,
                                               std::string_view backend) {
    auto corrupt = [&] {
        return MakeError(ErrorCode::kStorage, std::string(backend) + ": debate " + debate_id +
                                                  ": column " + std::string(column) +
                                                  " is not a JSON array of strings");
    };
    boost::json::error_code ec;
    boost::json::value value = boost::json::parse(text, ec);
    if (ec || !value.is_array()) return corrupt();
    std::vector<std::string> out;
    for (const auto& item : value.get_array()) {
        if (!item.is_string()) return corrupt();
        out.emplace_back(item.get_string());
    }
    return out;
}

// The builder is caller code running inside the store's transaction; whatever it throws
// must become an error so that the transaction rolls back and nothing escapes the store.
Result<ReceiptRecord> CallBuilder(const ReceiptBuilder& builder,
                                  const std::optional<std::string>& previous_hash) {
    try {
        return builder(previous_hash);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal, std::string("receipt builder threw: ") + e.what());
    } catch (...) {
        return MakeError(ErrorCode::kInternal, "receipt builder threw a non-standard exception");
    }
}

Status CheckBuiltReceipt(ReceiptRecord& r, const std::string& debate_id,
                         const std::optional<std::string>& previous_hash) {
    if (r.receipt_id.empty() || r.content_hash.empty() || r.created_at.empty()) {
        return MakeError(ErrorCode::kInternal,
                         "receipt builder returned a receipt without receipt_id, content_hash "
                         "or created_at (debate " +
                             debate_id + ")");
    }
    if (r.debate_id.empty()) r.debate_id = debate_id;
    if (r.debate_id != debate_id) {
        return MakeError(ErrorCode::kInternal, "receipt builder returned a receipt for debate " +
                                                   r.debate_id + " while finishing " + debate_id);
    }
    if (r.previous_hash != previous_hash) {
        return MakeError(
            ErrorCode::kInternal,
            "receipt builder did not chain to the last receipt (debate " + debate_id + ")");
    }
    return {};
}

Status Required(const std::string& value, std::string_view what, std::string_view field) {
    if (!value.empty()) return {};
    return MakeError(ErrorCode::kValidation, std::string(what) + " is empty", std::string(field));
}

Status ValidateUser(const UserRecord& u) {
    if (auto s = Required(u.id, "user id", "id"); !s) return s;
    if (auto s = Required(u.email, "user email", "email"); !s) return s;
    return Required(u.role, "user role", "role");
}

Status ValidateToken(const RefreshTokenRecord& t) {
    if (auto s = Required(t.token_hash, "refresh token hash", "token_hash"); !s) return s;
    if (auto s = Required(t.user_id, "refresh token user_id", "user_id"); !s) return s;
    if (auto s = Required(t.family_id, "refresh token family_id", "family_id"); !s) return s;
    return Required(t.expires_at, "refresh token expires_at", "expires_at");
}

events::DebateEnd DebateEndOf(const DebateRecord& row, double duration_seconds) {
    events::DebateEnd end;
    end.debate_id = row.id;
    end.status = row.status;
    end.consensus_reached = row.consensus_reached.value_or(false);
    if (!row.receipt_id.empty()) end.receipt_id = row.receipt_id;
    end.duration_seconds = duration_seconds;
    end.total_rounds = row.rounds_used;
    end.result = row.final_answer;
    if (!row.error_code.empty()) end.error = events::EndError{row.error_code, row.error_message};
    return end;
}

std::string DebateEndDataOf(const DebateRecord& row, const DebateEndDataBuilder& end_data) {
    if (end_data) return end_data(row);
    return events::EncodeData(DebateEndOf(row, row.duration_seconds.value_or(0)), row.id);
}

}  // namespace aragora::storage::rules

namespace aragora::storage {

// The default: batches that only carry events share AppendEventBatches' transaction;
// each start or final write is written on its own (a wrapped store's own methods apply).
std::vector<common::Status> Store::WriteDebateBatches(std::span<const DebateBatch> batches) {
    std::vector<common::Status> out(batches.size());
    std::vector<EventBatch> plain;
    std::vector<std::size_t> plain_index;
    for (std::size_t i = 0; i < batches.size(); ++i) {
        const DebateBatch& b = batches[i];
        if (b.finish == nullptr && b.started_at.empty()) {
            plain.push_back(EventBatch{b.events, b.lease_owner});
            plain_index.push_back(i);
        }
    }
    if (!plain.empty()) {
        auto written = AppendEventBatches(plain);
        for (std::size_t k = 0; k < written.size() && k < plain_index.size(); ++k)
            out[plain_index[k]] = std::move(written[k]);
    }
    for (std::size_t i = 0; i < batches.size(); ++i) {
        const DebateBatch& b = batches[i];
        if (b.finish == nullptr && b.started_at.empty()) continue;
        const std::string id(b.debate_id);
        const std::string owner(b.lease_owner);
        if (!b.started_at.empty()) {
            const std::string started(b.started_at);
            out[i] = owner.empty() ? UpdateDebateStatus(id, events::DebateStatus::kRunning, started)
                                   : StartLeasedDebate(id, owner, started);
            if (!out[i]) continue;
        }
        std::vector<events::Event> evs(b.events.begin(), b.events.end());
        if (b.finish != nullptr) {
            auto finished = owner.empty() ? FinishDebate(*b.finish, evs, b.receipt)
                                          : FinishLeasedDebate(*b.finish, evs, b.receipt, owner);
            if (!finished) {
                out[i] = finished.error();
                continue;
            }
            if (b.stored_receipt != nullptr) *b.stored_receipt = std::move(*finished);
        } else if (!evs.empty()) {
            out[i] = owner.empty() ? AppendEvents(evs) : AppendLeasedEvents(evs, owner);
        }
    }
    return out;
}

}  // namespace aragora::storage
