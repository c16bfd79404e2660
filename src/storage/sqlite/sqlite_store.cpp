#include "storage/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/time.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/sqlite/sqlite_migrations.hpp"
#include "storage/store_rules.hpp"

namespace aragora::storage {

namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;
using rules::CallBuilder;
using rules::CheckBuiltReceipt;
using rules::FinishUpsertAssignments;
using rules::IsKnownStatus;
using rules::IsTerminalStatus;
using rules::kDebateColumns;
using rules::kEventColumns;
using rules::kReceiptColumns;
using rules::Sql;
using rules::ToJsonArray;
using rules::ValidateDebate;
using rules::ValidateEvent;
using rules::ValidatePage;
using rules::ValidateStatus;

// The write probe's row: a few pages, so that its commit needs fresh space.
constexpr std::size_t kWriteProbeBytes = 16384;

constexpr std::string_view kDebateParams =
    "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
    "?20, ?21, ?22, ?23, ?24, NULL, NULL, 0";
// CreateDebate: an instance's own debate keeps the lease it is created under (?25, ?26).
constexpr std::string_view kNewDebateParams =
    "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
    "?20, ?21, ?22, ?23, ?24, ?25, ?26, 0";

Result<std::vector<std::string>> FromJsonArray(const std::string& text, std::string_view column,
                                               const std::string& debate_id) {
    return rules::FromJsonArray(text, column, debate_id, "sqlite");
}

Result<DebateRecord> ReadDebate(const sqlite::Stmt& s) {
    DebateRecord d;
    d.id = s.Text(0);
    d.task = s.Text(1);
    auto status = events::DebateStatusFromText(s.Text(2));
    if (!status) return status.error();
    d.status = *status;
    auto agents = FromJsonArray(s.Text(3), "agents", d.id);
    if (!agents) return agents.error();
    d.agents = std::move(*agents);
    d.rounds = static_cast<int>(s.Int(4));
    d.rounds_used = static_cast<int>(s.Int(5));
    d.consensus_method = s.Text(6);
    d.consensus_reached = s.OptBool(7);
    d.confidence = s.OptDouble(8);
    d.verdict = s.Text(9);
    d.final_answer = s.Text(10);
    auto dissenting = FromJsonArray(s.Text(11), "dissenting_agents", d.id);
    if (!dissenting) return dissenting.error();
    d.dissenting_agents = std::move(*dissenting);
    d.created_at = s.Text(12);
    d.started_at = s.Text(13);
    d.completed_at = s.Text(14);
    d.duration_seconds = s.OptDouble(15);
    d.receipt_id = s.Text(16);
    d.error_code = s.Text(17);
    d.error_message = s.Text(18);
    d.spec_json = s.Text(19);
    d.result_json = s.Text(20);
    d.created_by = s.Text(21);
    d.org_id = s.Text(22);
    d.queued_for_worker = s.Int(23) != 0;
    d.lease_owner = s.Text(24);
    d.lease_expires_at = s.Text(25);
    d.attempts = static_cast<int>(s.Int(26));
    return d;
}

void BindDebate(sqlite::Stmt& s, const DebateRecord& d) {
    s.BindText(1, d.id);
    s.BindText(2, d.task);
    s.BindText(3, events::ToString(d.status));
    s.BindText(4, ToJsonArray(d.agents));
    s.BindInt(5, d.rounds);
    s.BindInt(6, d.rounds_used);
    s.BindText(7, d.consensus_method);
    s.BindOptBool(8, d.consensus_reached);
    s.BindOptDouble(9, d.confidence);
    s.BindText(10, d.verdict);
    s.BindText(11, d.final_answer);
    s.BindText(12, ToJsonArray(d.dissenting_agents));
    s.BindText(13, d.created_at);
    s.BindTextOrNull(14, d.started_at);
    s.BindTextOrNull(15, d.completed_at);
    s.BindOptDouble(16, d.duration_seconds);
    s.BindTextOrNull(17, d.receipt_id);
    s.BindTextOrNull(18, d.error_code);
    s.BindTextOrNull(19, d.error_message);
    s.BindText(20, d.spec_json);
    s.BindText(21, d.result_json);
    s.BindText(22, d.created_by);
    s.BindText(23, d.org_id);
    // The lease columns start empty (NULL, NULL, 0 in kDebateParams): only the queue
    // methods write them, and CreateDebate the lease of an instance's own debate.
    s.BindInt(24, d.queued_for_worker ? 1 : 0);
}

ReceiptRecord ReadReceipt(const sqlite::Stmt& s) {
    ReceiptRecord r;
    r.receipt_id = s.Text(0);
    r.debate_id = s.Text(1);
    r.content_hash = s.Text(2);
    r.previous_hash = s.OptText(3);
    r.created_at = s.Text(4);
    r.json = s.Text(5);
    return r;
}

// The columns of kDeletionColumns, from column `at` on.
ReceiptDeletion ReadDeletion(const sqlite::Stmt& s, int at = 0) {
    ReceiptDeletion d;
    d.deletion_id = s.Text(at + 0);
    d.receipt_id = s.Text(at + 1);
    d.chain_seq = s.Int(at + 2);
    d.debate_id = s.Text(at + 3);
    d.content_hash = s.Text(at + 4);
    d.previous_hash = s.OptText(at + 5);
    d.receipt_created_at = s.Text(at + 6);
    d.verdict = s.Text(at + 7);
    d.deleted_at = s.Text(at + 8);
    d.reason = s.Text(at + 9);
    d.operator_name = s.Text(at + 10);
    d.metadata_json = s.Text(at + 11);
    return d;
}

constexpr std::string_view kHoldColumns =
    "receipt_id, legal_hold, legal_hold_reason, legal_hold_matter_id, legal_hold_placed_by, "
    "legal_hold_placed_at";

LegalHold ReadHold(const sqlite::Stmt& s) {
    LegalHold h;
    h.receipt_id = s.Text(0);
    h.active = s.Int(1) != 0;
    h.reason = s.Text(2);
    h.matter_id = s.Text(3);
    h.placed_by = s.Text(4);
    h.placed_at = s.Text(5);
    return h;
}

events::Event ReadEvent(const sqlite::Stmt& s) {
    events::Event e;
    e.debate_id = s.Text(0);
    e.seq = s.Int(1);
    e.type = s.Text(2);
    e.round = static_cast<int>(s.Int(3));
    e.agent = s.Text(4);
    e.timestamp = s.Double(5);
    e.data_json = s.Text(6);
    return e;
}

}  // namespace

// One connection guarded by one mutex, used for reads and writes: SQLite serializes
// writers anyway and every call here is short. Writes that belong together run in one
// BEGIN IMMEDIATE transaction, which also orders them against other processes. The
// connection may be shared with a SqliteAuthStore (OpenSqliteStores).
class SqliteStore final : public Store {
public:
    explicit SqliteStore(std::shared_ptr<sqlite::Connection> connection)
        : conn_(std::move(connection)) {}

    Status CreateDebate(const DebateRecord& debate) override {
        if (auto s = rules::ValidateNewDebate(debate); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto kept = Kept(
            kept_.insert_debate,
            Sql({"INSERT INTO debates (", kDebateColumns, ") VALUES (", kNewDebateParams, ")"}),
            "insert debate");
        if (!kept) return kept.error();
        sqlite::Stmt& stmt = **kept;
        BindDebate(stmt, debate);
        const bool leased = !debate.queued_for_worker && !debate.lease_owner.empty();
        stmt.BindTextOrNull(25, leased ? debate.lease_owner : std::string());
        stmt.BindTextOrNull(26, leased ? debate.lease_expires_at : std::string());
        return stmt.Run();
    }

    Result<DebateRecord> GetDebate(const std::string& id) override {
        std::lock_guard lock(conn_->mu);
        auto stmt =
            Prepare(Sql({"SELECT ", kDebateColumns, " FROM debates WHERE id = ?1"}), "get debate");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
        return ReadDebate(*stmt);
    }

    Result<DebatePage> ListDebates(const DebateFilter& filter) override {
        if (auto s = ValidatePage(filter.limit, filter.offset); !s) return s.error();
        // Only constant SQL fragments are chosen here; the values are bound.
        std::string_view status_where;
        bool bind_status = false;
        if (filter.status.empty()) {
            status_where = "";
        } else if (filter.status == "active") {
            status_where = "status IN ('pending', 'running')";
        } else if (filter.status == "no_consensus") {
            status_where = "status = 'completed' AND consensus_reached = 0";
        } else if (IsKnownStatus(filter.status)) {
            status_where = "status = ?1";
            bind_status = true;
        } else {
            return MakeError(ErrorCode::kValidation,
                             "unknown status filter '" + filter.status +
                                 "'; expected pending, running, completed, failed, cancelled, "
                                 "active or no_consensus",
                             "status");
        }
        if (auto s = rules::ValidateTaskQuery(filter.task_query); !s) return s.error();
        const bool bind_creator = !filter.created_by.empty();
        // The task search stays in SQL (paging and `total` count only the matches). SQLite's
        // LIKE folds ASCII case only. With ARAGORA_ENCRYPT_DEBATE_CONTENT the task column
        // holds ciphertext and this cannot match: `q` is to be refused (400) in that mode
        // by the API, not here.
        const bool bind_query = !filter.task_query.empty();
        const std::string pattern =
            bind_query ? rules::LikeSubstringPattern(filter.task_query) : "";
        std::string where;
        if (!status_where.empty()) where = Sql({" WHERE (", status_where, ")"});
        if (bind_creator)
            where += where.empty() ? " WHERE created_by = ?4" : " AND created_by = ?4";
        if (bind_query) {
            where +=
                where.empty() ? " WHERE task LIKE ?5 ESCAPE '\\'" : " AND task LIKE ?5 ESCAPE '\\'";
        }
        auto bind_filter = [&](sqlite::Stmt& stmt) {
            if (bind_status) stmt.BindText(1, filter.status);
            if (bind_creator) stmt.BindText(4, filter.created_by);
            if (bind_query) stmt.BindText(5, pattern);
        };

        std::lock_guard lock(conn_->mu);
        auto snapshot = sqlite::Transaction::BeginRead(db());  // total and items agree
        if (!snapshot) return snapshot.error();
        DebatePage page;
        auto count = Prepare(Sql({"SELECT COUNT(*) FROM debates", where}), "count debates");
        if (!count) return count.error();
        bind_filter(*count);
        auto counted = count->Step();
        if (!counted) return counted.error();
        page.total = *counted ? count->Int(0) : 0;

        auto stmt = Prepare(Sql({"SELECT ", kDebateColumns, " FROM debates", where,
                                 " ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"}),
                            "list debates");
        if (!stmt) return stmt.error();
        bind_filter(*stmt);
        stmt->BindInt(2, filter.limit);
        stmt->BindInt(3, filter.offset);
        while (true) {
            auto row = stmt->Step();
            if (!row) return row.error();
            if (!*row) break;
            auto debate = ReadDebate(*stmt);
            if (!debate) return debate.error();
            page.items.push_back(std::move(*debate));
        }
        return page;
    }

    Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                              const std::string& started_at) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Kept(
            kept_.update_status,
            "UPDATE debates SET status = ?2, started_at = COALESCE(?3, started_at) WHERE id = ?1",
            "update debate status");
        if (!stmt) return stmt.error();
        (*stmt)->BindText(1, id);
        (*stmt)->BindText(2, events::ToString(status));
        (*stmt)->BindTextOrNull(3, started_at);
        if (auto s = (*stmt)->Run(); !s) return s;
        if (sqlite3_changes(db()) == 0)
            return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
        return {};
    }

    Result<std::optional<ReceiptRecord>> FinishDebate(const DebateRecord& debate,
                                                      const std::vector<events::Event>& events,
                                                      const ReceiptBuilder* receipt) override {
        return Finish(debate, events, receipt, nullptr);
    }

    Result<std::optional<ReceiptRecord>> FinishLeasedDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt, const std::string& worker_id) override {
        if (worker_id.empty())
            return MakeError(ErrorCode::kValidation, "worker id is empty", "worker_id");
        return Finish(debate, events, receipt, &worker_id);
    }

    Result<std::optional<DebateRecord>> ClaimQueuedDebate(const std::string& worker_id,
                                                          const std::string& now,
                                                          const std::string& lease_until) override {
        if (worker_id.empty())
            return MakeError(ErrorCode::kValidation, "worker id is empty", "worker_id");
        std::lock_guard lock(conn_->mu);
        // BEGIN IMMEDIATE takes the write lock first, so claims of other processes queue
        // behind it and never pick the same row.
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto stmt = Prepare(
            Sql({"UPDATE debates SET status = 'running', started_at = ?2, lease_owner = ?1, "
                 "lease_expires_at = ?3, attempts = attempts + 1 WHERE id = ("
                 "SELECT id FROM debates WHERE queued_for_worker = 1 AND status = 'pending' "
                 "ORDER BY created_at, id LIMIT 1) RETURNING ",
                 kDebateColumns}),
            "claim queued debate");
        if (!stmt) return stmt.error();
        stmt->BindText(1, worker_id);
        stmt->BindText(2, now);
        stmt->BindText(3, lease_until);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return std::optional<DebateRecord>();
        auto claimed = ReadDebate(*stmt);
        if (!claimed) return claimed.error();
        stmt->Reset();  // RETURNING: the statement must finish before COMMIT
        if (auto s = tx->Commit(); !s) return s.error();
        return std::optional<DebateRecord>(std::move(*claimed));
    }

    Status RenewLease(const std::string& id, const std::string& worker_id,
                      const std::string& lease_until) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE debates SET lease_expires_at = ?3 WHERE id = ?1 AND lease_owner = ?2 AND "
            "status IN ('pending', 'running')",
            "renew lease");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        stmt->BindText(2, worker_id);
        stmt->BindText(3, lease_until);
        if (auto s = stmt->Run(); !s) return s;
        if (sqlite3_changes(db()) > 0) return {};
        return LeaseLostLocked(id, worker_id);
    }

    Result<std::vector<LostLease>> RenewLeases(const std::string& owner,
                                               const std::vector<std::string>& ids,
                                               const std::string& lease_until) override {
        std::vector<LostLease> lost;
        for (std::size_t begin = 0; begin < ids.size(); begin += kRenewLeasesChunk) {
            const std::size_t end = std::min(ids.size(), begin + kRenewLeasesChunk);
            // One transaction per chunk (one fsync at most); other writers get the
            // connection between chunks.
            std::lock_guard lock(conn_->mu);
            auto tx = sqlite::Transaction::Begin(db());
            if (!tx) return tx.error();
            auto stmt = Prepare(
                "UPDATE debates SET lease_expires_at = ?3 WHERE id = ?1 AND lease_owner = ?2 AND "
                "status IN ('pending', 'running')",
                "renew leases");
            if (!stmt) return stmt.error();
            std::vector<std::string> missing;
            for (std::size_t i = begin; i < end; ++i) {
                stmt->BindText(1, ids[i]);
                stmt->BindText(2, owner);
                stmt->BindText(3, lease_until);
                if (auto s = stmt->Run(); !s) return s.error();
                if (sqlite3_changes(db()) == 0) missing.push_back(ids[i]);
                stmt->Reset();
            }
            if (auto s = tx->Commit(); !s) return s.error();
            // Why each was not renewed (rare: reaped, released, finished).
            for (const auto& id : missing) {
                auto why = LeaseLostLocked(id, owner);
                lost.push_back(LostLease{id, why.error()});
            }
        }
        return lost;
    }

    Status ReleaseLease(const std::string& id, const std::string& worker_id) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE debates SET status = 'pending', started_at = NULL, lease_owner = NULL, "
            "lease_expires_at = NULL WHERE id = ?1 AND lease_owner = ?2 AND status = 'running' "
            "AND queued_for_worker = 1 AND NOT EXISTS "
            "(SELECT 1 FROM debate_events WHERE debate_id = ?1)",
            "release lease");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        stmt->BindText(2, worker_id);
        if (auto s = stmt->Run(); !s) return s;
        if (sqlite3_changes(db()) > 0) return {};
        auto row = GetDebateLocked(id);
        if (!row) return row.error();
        const bool held = (row->status == events::DebateStatus::kRunning ||
                           row->status == events::DebateStatus::kPending) &&
                          !worker_id.empty() && row->lease_owner == worker_id;
        if (!held) return LeaseLostLocked(id, worker_id);
        if (!row->queued_for_worker) {
            return MakeError(ErrorCode::kConflict, "debate " + id +
                                                       " is not queued for workers; it cannot "
                                                       "go back to the queue");
        }
        return MakeError(ErrorCode::kConflict,
                         "debate " + id + " has stored events; it cannot go back to the queue");
    }

    Status StartLeasedDebate(const std::string& id, const std::string& owner,
                             const std::string& started_at) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE debates SET status = 'running', started_at = ?3 WHERE id = ?1 AND "
            "lease_owner = ?2 AND status IN ('pending', 'running')",
            "start leased debate");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        stmt->BindText(2, owner);
        stmt->BindTextOrNull(3, started_at);
        if (auto s = stmt->Run(); !s) return s;
        if (sqlite3_changes(db()) > 0) return {};
        return LeaseLostLocked(id, owner);
    }

    Result<std::vector<std::string>> ReapExpiredLeases(
        const std::string& now, const DebateEndDataBuilder& end_data) override {
        auto now_tp = common::ParseIso8601(now);
        if (!now_tp) return MakeError(ErrorCode::kValidation, "now is not an ISO 8601 time", "now");
        std::lock_guard lock(conn_->mu);
        std::vector<std::string> candidates;
        {
            auto stmt = Prepare(
                "SELECT id FROM debates WHERE status IN ('pending', 'running') AND "
                "lease_owner IS NOT NULL AND lease_expires_at < ?1 ORDER BY lease_expires_at, id",
                "find expired leases");
            if (!stmt) return stmt.error();
            stmt->BindText(1, now);
            while (true) {
                auto row = stmt->Step();
                if (!row) return row.error();
                if (!*row) break;
                candidates.push_back(stmt->Text(0));
            }
        }
        std::vector<std::string> reaped;
        for (const auto& id : candidates) {
            auto tx = sqlite::Transaction::Begin(db());
            if (!tx) return tx.error();
            // Another process may have reaped or finished it since the SELECT. A debate
            // that never started (pending) gets no duration (julianday(NULL) is NULL).
            auto mark = Prepare(
                "UPDATE debates SET status = 'failed', "
                "error_code = CASE WHEN queued_for_worker = 1 THEN ?3 ELSE ?5 END, "
                "error_message = CASE WHEN queued_for_worker = 1 THEN ?4 ELSE ?6 END, "
                "completed_at = ?2, duration_seconds = "
                "MAX(0.0, (julianday(?2) - julianday(started_at)) * 86400.0) "
                "WHERE id = ?1 AND status IN ('pending', 'running') AND "
                "lease_owner IS NOT NULL AND lease_expires_at < ?2",
                "reap expired lease");
            if (!mark) return mark.error();
            mark->BindText(1, id);
            mark->BindText(2, now);
            mark->BindText(3, kWorkerLostCode);
            mark->BindText(4, kWorkerLostMessage);
            mark->BindText(5, kInstanceLostCode);
            mark->BindText(6, kInstanceLostMessage);
            if (auto s = mark->Run(); !s) return s.error();
            if (sqlite3_changes(db()) == 0) continue;
            if (auto s = AppendEndLocked(id, *now_tp, end_data); !s) return s.error();
            if (auto s = tx->Commit(); !s) return s.error();
            reaped.push_back(id);
        }
        return reaped;
    }

    Result<DebateRecord> CancelQueuedDebate(const std::string& id, const std::string& now,
                                            const DebateEndDataBuilder& end_data) override {
        auto now_tp = common::ParseIso8601(now);
        if (!now_tp) return MakeError(ErrorCode::kValidation, "now is not an ISO 8601 time", "now");
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto mark = Prepare(
            "UPDATE debates SET status = 'cancelled', error_code = 'cancelled', "
            "error_message = 'debate cancelled before it started', completed_at = ?2, "
            "duration_seconds = 0 WHERE id = ?1 AND queued_for_worker = 1 AND "
            "status = 'pending'",
            "cancel queued debate");
        if (!mark) return mark.error();
        mark->BindText(1, id);
        mark->BindText(2, now);
        if (auto s = mark->Run(); !s) return s.error();
        if (sqlite3_changes(db()) == 0) {
            auto row = GetDebateLocked(id);
            if (!row) return row.error();
            return MakeError(ErrorCode::kConflict,
                             "debate " + id + " is " + std::string(events::ToString(row->status)) +
                                 (row->queued_for_worker ? "" : " and not queued for a worker"));
        }
        if (auto s = AppendEndLocked(id, *now_tp, end_data); !s) return s.error();
        auto row = GetDebateLocked(id);
        if (!row) return row.error();
        if (auto s = tx->Commit(); !s) return s.error();
        return row;
    }

private:
    Result<std::optional<ReceiptRecord>> Finish(const DebateRecord& debate,
                                                const std::vector<events::Event>& events,
                                                const ReceiptBuilder* receipt,
                                                const std::string* lease_owner) {
        if (auto s = rules::ValidateFinish(debate, events); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        bool wrote = false;
        auto built = FinishLocked(
            debate, events, receipt,
            lease_owner != nullptr ? std::string_view(*lease_owner) : std::string_view(), wrote);
        if (!built) return built.error();
        if (auto s = tx->Commit(); !s) return s.error();
        return built;
    }

    // The final write inside the caller's write transaction (caller holds mu). `wrote`
    // turns true once something of it is written: an error before that leaves the
    // transaction as it was.
    Result<std::optional<ReceiptRecord>> FinishLocked(const DebateRecord& debate,
                                                      std::span<const events::Event> events,
                                                      const ReceiptBuilder* receipt,
                                                      std::string_view lease_owner, bool& wrote) {
        if (!lease_owner.empty()) {
            // Checked inside the write transaction: a reaper cannot slip in between.
            auto kept = Kept(kept_.finish_lease,
                             "SELECT 1 FROM debates WHERE id = ?1 AND lease_owner = ?2 AND "
                             "status IN ('pending', 'running')",
                             "check lease");
            if (!kept) return kept.error();
            sqlite::Stmt& held = **kept;
            held.BindText(1, debate.id);
            held.BindText(2, lease_owner);
            auto row = held.Step();
            held.Reset();
            if (!row) return row.error();
            if (!*row) return LeaseLostLocked(debate.id, std::string(lease_owner)).error();
        }

        std::optional<ReceiptRecord> built;
        if (receipt != nullptr && *receipt) {
            auto previous = LastReceiptHashLocked();
            if (!previous) return previous.error();
            auto r = CallBuilder(*receipt, *previous);
            if (!r) return r.error();
            if (auto s = CheckBuiltReceipt(*r, debate.id, *previous); !s) return s.error();
            built = std::move(*r);
        }

        DebateRecord row = debate;
        if (built) row.receipt_id = built->receipt_id;
        auto upsert =
            Kept(kept_.finish_upsert,
                 Sql({"INSERT INTO debates (", kDebateColumns, ") VALUES (", kDebateParams,
                      ") ON CONFLICT (id) DO UPDATE SET ", FinishUpsertAssignments("")}),
                 "write finished debate");
        if (!upsert) return upsert.error();
        BindDebate(**upsert, row);
        wrote = true;
        if (auto s = (*upsert)->Run(); !s) return s.error();

        if (built) {
            // chain_seq, not created_at, orders the chain: it is assigned under the write
            // lock, so it is exactly the order in which previous hashes were read. Deleted
            // receipts keep their chain_seq in their tombstones: the next one follows them.
            auto kept =
                Kept(kept_.insert_receipt,
                     "INSERT INTO receipts (receipt_id, chain_seq, debate_id, content_hash, "
                     "previous_hash, created_at, json) VALUES (?1, "
                     "MAX((SELECT COALESCE(MAX(chain_seq), 0) FROM receipts), "
                     "(SELECT COALESCE(MAX(chain_seq), 0) FROM receipt_deletions)) + 1, "
                     "?2, ?3, ?4, ?5, ?6)",
                     "insert receipt");
            if (!kept) return kept.error();
            sqlite::Stmt& insert = **kept;
            insert.BindText(1, built->receipt_id);
            insert.BindText(2, built->debate_id);
            insert.BindText(3, built->content_hash);
            insert.BindOptText(4, built->previous_hash);
            insert.BindText(5, built->created_at);
            insert.BindText(6, built->json);
            if (auto s = insert.Run(); !s) return s.error();
        }

        if (auto s = InsertEventsLocked(events); !s) return s.error();
        return built;
    }

public:
    Result<int> MarkInterrupted(const std::string& now) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE debates SET status = 'failed', error_code = 'interrupted', "
            "error_message = 'server stopped while the debate was running', "
            "completed_at = ?1 WHERE status IN ('pending', 'running') AND queued_for_worker = 0 "
            "AND lease_owner IS NULL",
            "mark interrupted debates");
        if (!stmt) return stmt.error();
        stmt->BindTextOrNull(1, now);
        if (auto s = stmt->Run(); !s) return s.error();
        return sqlite3_changes(db());
    }

    Status AppendEvents(const std::vector<events::Event>& events) override {
        for (const auto& e : events) {
            if (auto s = ValidateEvent(e); !s) return s;
        }
        if (events.empty()) return {};
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        if (auto s = InsertEventsLocked(events); !s) return s;
        return tx->Commit();
    }

    Status AppendLeasedEvents(const std::vector<events::Event>& events,
                              const std::string& worker_id) override {
        for (const auto& e : events) {
            if (auto s = ValidateEvent(e); !s) return s;
        }
        if (events.empty()) return {};
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        std::set<std::string> ids;
        for (const auto& e : events) ids.insert(e.debate_id);
        for (const auto& id : ids) {
            if (auto s = CheckLeaseLocked(id, worker_id); !s) return s;
        }
        if (auto s = InsertEventsLocked(events); !s) return s;
        return tx->Commit();
    }

    std::vector<Status> AppendEventBatches(std::span<const EventBatch> batches) override {
        std::vector<Status> out(batches.size());
        std::vector<std::size_t> todo;  // valid, non-empty batches
        for (std::size_t i = 0; i < batches.size(); ++i) {
            for (const auto& e : batches[i].events) {
                if (auto s = ValidateEvent(e); !s) {
                    out[i] = s;
                    break;
                }
            }
            if (out[i] && !batches[i].events.empty()) todo.push_back(i);
        }
        if (todo.empty()) return out;
        std::lock_guard lock(conn_->mu);
        auto shared = WriteBatchesLocked(batches, todo, out);
        if (shared) return out;
        rules::SettleFailedBatches(shared.error(), todo, out, [&](std::size_t i) -> Status {
            auto tx = sqlite::Transaction::Begin(db());
            if (!tx) return tx.error();
            Status written = WriteBatchLocked(batches[i]);
            return written ? tx->Commit() : written;
        });
        return out;
    }

    std::vector<Status> WriteDebateBatches(std::span<const DebateBatch> batches) override {
        std::vector<Status> out(batches.size());
        std::vector<std::size_t> todo;  // valid batches with something to write
        for (std::size_t i = 0; i < batches.size(); ++i) {
            const DebateBatch& b = batches[i];
            if (b.finish != nullptr) {
                out[i] = rules::ValidateFinish(*b.finish, b.events);
            } else {
                for (const auto& e : b.events) {
                    if (auto s = ValidateEvent(e); !s) {
                        out[i] = s;
                        break;
                    }
                }
            }
            if (out[i] && !b.started_at.empty() && b.debate_id.empty())
                out[i] = MakeError(ErrorCode::kValidation, "debate id is empty", "debate_id");
            if (out[i] && (b.finish != nullptr || !b.started_at.empty() || !b.events.empty()))
                todo.push_back(i);
        }
        if (todo.empty()) return out;
        std::lock_guard lock(conn_->mu);
        std::vector<std::optional<ReceiptRecord>> receipts(batches.size());
        auto shared = [&]() -> Status {
            auto tx = sqlite::Transaction::Begin(db());
            if (!tx) return tx.error();
            for (std::size_t i : todo) {
                bool wrote = false;
                Status s = WriteDebateBatchLocked(batches[i], receipts[i], wrote);
                if (s) continue;
                const ErrorCode code = s.error().code;
                // Refused before anything of it was written: its own answer; the shared
                // transaction goes on without it.
                if (!wrote && (code == ErrorCode::kConflict || code == ErrorCode::kNotFound ||
                               code == ErrorCode::kValidation)) {
                    out[i] = s;
                    continue;
                }
                return s;
            }
            return tx->Commit();
        }();
        if (!shared) {
            for (auto& r : receipts) r.reset();
            rules::SettleFailedBatches(shared.error(), todo, out, [&](std::size_t i) -> Status {
                auto tx = sqlite::Transaction::Begin(db());
                if (!tx) return tx.error();
                bool wrote = false;
                Status written = WriteDebateBatchLocked(batches[i], receipts[i], wrote);
                if (written) written = tx->Commit();
                if (!written) receipts[i].reset();
                return written;
            });
        }
        for (std::size_t i : todo) {
            if (out[i] && batches[i].stored_receipt != nullptr)
                *batches[i].stored_receipt = std::move(receipts[i]);
        }
        return out;
    }

    Result<std::vector<events::Event>> ListEvents(const std::string& debate_id,
                                                  std::int64_t since_seq, int limit) override {
        if (limit < 0) return MakeError(ErrorCode::kValidation, "limit must be >= 0", "limit");
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"SELECT ", kEventColumns,
                                 " FROM debate_events WHERE debate_id = ?1 AND seq > ?2 "
                                 "ORDER BY seq LIMIT ?3"}),
                            "list events");
        if (!stmt) return stmt.error();
        stmt->BindText(1, debate_id);
        stmt->BindInt(2, since_seq);
        stmt->BindInt(3, limit);
        std::vector<events::Event> out;
        while (true) {
            auto row = stmt->Step();
            if (!row) return row.error();
            if (!*row) break;
            out.push_back(ReadEvent(*stmt));
        }
        return out;
    }

    Result<ReceiptRecord> GetReceipt(const std::string& id) override {
        std::lock_guard lock(conn_->mu);
        return ResolveReceiptLocked(id);
    }

    Result<ReceiptPage> ListReceipts(const std::string& debate_id, int limit, int offset) override {
        if (auto s = ValidatePage(limit, offset); !s) return s.error();
        const std::string_view where = debate_id.empty() ? "" : " WHERE debate_id = ?1";
        std::lock_guard lock(conn_->mu);
        auto snapshot = sqlite::Transaction::BeginRead(db());  // total and items agree
        if (!snapshot) return snapshot.error();
        ReceiptPage page;
        auto count = Prepare(Sql({"SELECT COUNT(*) FROM receipts", where}), "count receipts");
        if (!count) return count.error();
        if (!debate_id.empty()) count->BindText(1, debate_id);
        auto counted = count->Step();
        if (!counted) return counted.error();
        page.total = *counted ? count->Int(0) : 0;

        auto stmt = Prepare(Sql({"SELECT ", kReceiptColumns, " FROM receipts", where,
                                 " ORDER BY chain_seq DESC LIMIT ?2 OFFSET ?3"}),
                            "list receipts");
        if (!stmt) return stmt.error();
        if (!debate_id.empty()) stmt->BindText(1, debate_id);
        stmt->BindInt(2, limit);
        stmt->BindInt(3, offset);
        while (true) {
            auto row = stmt->Step();
            if (!row) return row.error();
            if (!*row) break;
            page.items.push_back(ReadReceipt(*stmt));
        }
        return page;
    }

    Result<std::optional<std::string>> LastReceiptHash() override {
        std::lock_guard lock(conn_->mu);
        return LastReceiptHashLocked();
    }

    Result<std::vector<ReceiptChainEntry>> ListReceiptChain(std::int64_t after_seq,
                                                            int limit) override {
        if (auto s = rules::ValidateChainPage(limit); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        // A chain_seq lives in exactly one of the two tables: a deletion moves the row.
        auto stmt = Prepare(Sql({"SELECT ", kReceiptColumns,
                                 ", chain_seq, 0 FROM receipts WHERE chain_seq > ?1 UNION ALL "
                                 "SELECT receipt_id, debate_id, content_hash, previous_hash, "
                                 "receipt_created_at, '', chain_seq, 1 FROM receipt_deletions "
                                 "WHERE chain_seq > ?1 ORDER BY chain_seq LIMIT ?2"}),
                            "list receipt chain");
        if (!stmt) return stmt.error();
        stmt->BindInt(1, after_seq);
        stmt->BindInt(2, limit);
        std::vector<ReceiptChainEntry> out;
        while (true) {
            auto row = stmt->Step();
            if (!row) return row.error();
            if (!*row) break;
            ReceiptChainEntry e;
            e.receipt = ReadReceipt(*stmt);
            e.chain_seq = stmt->Int(6);
            e.tombstone = stmt->Int(7) != 0;
            out.push_back(std::move(e));
        }
        return out;
    }

    Result<LegalHold> SetLegalHold(const std::string& id, const std::string& reason,
                                   const std::string& matter_id, const std::string& placed_by,
                                   const std::string& now) override {
        if (auto s = rules::ValidateHoldReason(reason); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto receipt = ResolveReceiptLocked(id);
        if (!receipt) return receipt.error();
        auto stmt = Prepare(
            "UPDATE receipts SET legal_hold = 1, legal_hold_reason = ?2, "
            "legal_hold_matter_id = ?3, legal_hold_placed_by = ?4, legal_hold_placed_at = ?5 "
            "WHERE receipt_id = ?1",
            "place legal hold");
        if (!stmt) return stmt.error();
        stmt->BindText(1, receipt->receipt_id);
        stmt->BindText(2, reason);
        stmt->BindText(3, matter_id);
        stmt->BindText(4, placed_by);
        stmt->BindText(5, now);
        if (auto s = stmt->Run(); !s) return s.error();
        auto hold = ReadHoldLocked(receipt->receipt_id);
        if (!hold) return hold.error();
        if (auto s = tx->Commit(); !s) return s.error();
        return hold;
    }

    Result<LegalHold> ReleaseLegalHold(const std::string& id) override {
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto receipt = ResolveReceiptLocked(id);
        if (!receipt) return receipt.error();
        auto before = ReadHoldLocked(receipt->receipt_id);
        if (!before) return before.error();
        auto stmt = Prepare(
            "UPDATE receipts SET legal_hold = 0, legal_hold_reason = '', "
            "legal_hold_matter_id = '', legal_hold_placed_by = '', legal_hold_placed_at = NULL "
            "WHERE receipt_id = ?1",
            "release legal hold");
        if (!stmt) return stmt.error();
        stmt->BindText(1, receipt->receipt_id);
        if (auto s = stmt->Run(); !s) return s.error();
        if (auto s = tx->Commit(); !s) return s.error();
        return before;
    }

    Result<LegalHold> GetLegalHold(const std::string& id) override {
        std::lock_guard lock(conn_->mu);
        auto receipt = ResolveReceiptLocked(id);
        if (!receipt) return receipt.error();
        return ReadHoldLocked(receipt->receipt_id);
    }

    Result<std::vector<ReceiptDeletion>> DeleteExpiredReceipts(
        const ExpiredReceiptsDeletion& request) override {
        if (auto s = rules::ValidateExpiredDeletion(request); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        // BEGIN IMMEDIATE: a hold placed meanwhile by another process waits for this batch
        // or is seen by it; a finishing debate reads the chain's head after it.
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto select = Prepare(
            "SELECT r.receipt_id, r.chain_seq, r.debate_id, r.content_hash, r.previous_hash, "
            "r.created_at, COALESCE(d.verdict, '') FROM receipts r LEFT JOIN debates d ON "
            "d.id = r.debate_id WHERE r.created_at < ?1 AND r.legal_hold = 0 "
            "ORDER BY r.chain_seq LIMIT ?2",
            "find expired receipts");
        if (!select) return select.error();
        select->BindText(1, request.cutoff);
        select->BindInt(2, request.limit);
        std::vector<ReceiptDeletion> out;
        while (true) {
            auto row = select->Step();
            if (!row) return row.error();
            if (!*row) break;
            ReceiptDeletion d;
            d.deletion_id = rules::NewDeletionId();
            d.receipt_id = select->Text(0);
            d.chain_seq = select->Int(1);
            d.debate_id = select->Text(2);
            d.content_hash = select->Text(3);
            d.previous_hash = select->OptText(4);
            d.receipt_created_at = select->Text(5);
            d.verdict = select->Text(6);
            d.deleted_at = request.now;
            d.reason = request.reason;
            d.operator_name = request.operator_name;
            d.metadata_json = request.metadata_json;
            out.push_back(std::move(d));
        }
        select->Reset();
        auto insert = Prepare(Sql({"INSERT INTO receipt_deletions (", rules::kDeletionColumns,
                                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"}),
                              "log receipt deletion");
        if (!insert) return insert.error();
        auto remove = Prepare("DELETE FROM receipts WHERE receipt_id = ?1", "delete receipt");
        if (!remove) return remove.error();
        for (const auto& d : out) {
            insert->Reset();
            insert->BindText(1, d.deletion_id);
            insert->BindText(2, d.receipt_id);
            insert->BindInt(3, d.chain_seq);
            insert->BindText(4, d.debate_id);
            insert->BindText(5, d.content_hash);
            insert->BindOptText(6, d.previous_hash);
            insert->BindText(7, d.receipt_created_at);
            insert->BindText(8, d.verdict);
            insert->BindText(9, d.deleted_at);
            insert->BindText(10, d.reason);
            insert->BindText(11, d.operator_name);
            insert->BindText(12, d.metadata_json);
            if (auto s = insert->Run(); !s) return s.error();
            remove->Reset();
            remove->BindText(1, d.receipt_id);
            if (auto s = remove->Run(); !s) return s.error();
        }
        if (auto s = tx->Commit(); !s) return s.error();
        return out;
    }

    Result<ExpiredReceipts> FindExpiredReceipts(const std::string& cutoff, int limit) override {
        if (auto s = rules::ValidateExpiredQuery(cutoff, limit); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        auto snapshot = sqlite::Transaction::BeginRead(db());
        if (!snapshot) return snapshot.error();
        ExpiredReceipts out;
        auto count = Prepare(
            "SELECT COALESCE(SUM(legal_hold = 0), 0), COALESCE(SUM(legal_hold <> 0), 0) "
            "FROM receipts WHERE created_at < ?1",
            "count expired receipts");
        if (!count) return count.error();
        count->BindText(1, cutoff);
        auto counted = count->Step();
        if (!counted) return counted.error();
        if (*counted) {
            out.deletable = count->Int(0);
            out.held = count->Int(1);
        }
        auto ids = Prepare(
            "SELECT receipt_id FROM receipts WHERE created_at < ?1 AND legal_hold = 0 "
            "ORDER BY chain_seq LIMIT ?2",
            "list expired receipts");
        if (!ids) return ids.error();
        ids->BindText(1, cutoff);
        ids->BindInt(2, limit);
        while (true) {
            auto row = ids->Step();
            if (!row) return row.error();
            if (!*row) break;
            out.receipt_ids.push_back(ids->Text(0));
        }
        return out;
    }

    Result<ReceiptDeletionPage> ListReceiptDeletions(int limit, int offset,
                                                     const std::string& reason) override {
        if (auto s = ValidatePage(limit, offset); !s) return s.error();
        const std::string_view where = reason.empty() ? "" : " WHERE reason = ?1";
        std::lock_guard lock(conn_->mu);
        auto snapshot = sqlite::Transaction::BeginRead(db());  // total and items agree
        if (!snapshot) return snapshot.error();
        ReceiptDeletionPage page;
        auto count =
            Prepare(Sql({"SELECT COUNT(*) FROM receipt_deletions", where}), "count deletions");
        if (!count) return count.error();
        if (!reason.empty()) count->BindText(1, reason);
        auto counted = count->Step();
        if (!counted) return counted.error();
        page.total = *counted ? count->Int(0) : 0;
        auto stmt =
            Prepare(Sql({"SELECT ", rules::kDeletionColumns, " FROM receipt_deletions", where,
                         " ORDER BY deleted_at DESC, chain_seq DESC LIMIT ?2 OFFSET ?3"}),
                    "list deletions");
        if (!stmt) return stmt.error();
        if (!reason.empty()) stmt->BindText(1, reason);
        stmt->BindInt(2, limit);
        stmt->BindInt(3, offset);
        while (true) {
            auto row = stmt->Step();
            if (!row) return row.error();
            if (!*row) break;
            page.items.push_back(ReadDeletion(*stmt));
        }
        return page;
    }

    Result<ReceiptRetentionCounts> CountReceiptsForRetention(
        const std::vector<std::string>& bounds) override {
        if (auto s = rules::ValidateRetentionBounds(bounds); !s) return s.error();
        std::string sql =
            "SELECT COUNT(*), COALESCE(SUM(legal_hold <> 0), 0), COALESCE(MIN(created_at), ''), "
            "COALESCE(MAX(created_at), '')";
        for (std::size_t i = 0; i < bounds.size(); ++i) {
            const std::string p = "?" + std::to_string(i + 1);
            sql += ", COALESCE(SUM(created_at < " + p + "), 0), COALESCE(SUM(created_at < " + p +
                   " AND legal_hold <> 0), 0)";
        }
        sql += " FROM receipts";
        std::lock_guard lock(conn_->mu);
        auto snapshot = sqlite::Transaction::BeginRead(db());
        if (!snapshot) return snapshot.error();
        auto stmt = Prepare(sql, "count receipts for retention");
        if (!stmt) return stmt.error();
        for (std::size_t i = 0; i < bounds.size(); ++i) {
            stmt->BindText(static_cast<int>(i + 1), bounds[i]);
        }
        auto row = stmt->Step();
        if (!row) return row.error();
        ReceiptRetentionCounts out;
        if (*row) {
            out.total = stmt->Int(0);
            out.held = stmt->Int(1);
            out.oldest_created_at = stmt->Text(2);
            out.newest_created_at = stmt->Text(3);
            for (std::size_t i = 0; i < bounds.size(); ++i) {
                out.created_before.push_back(stmt->Int(static_cast<int>(4 + 2 * i)));
                out.held_created_before.push_back(stmt->Int(static_cast<int>(5 + 2 * i)));
            }
        }
        auto tombstones = Prepare("SELECT COUNT(*) FROM receipt_deletions", "count tombstones");
        if (!tombstones) return tombstones.error();
        auto counted = tombstones->Step();
        if (!counted) return counted.error();
        if (*counted) out.tombstones = tombstones->Int(0);
        return out;
    }

    Status Ping() override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare("SELECT 1", "ping");
        if (!stmt) return stmt.error();
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row || stmt->Int(0) != 1)
            return MakeError(ErrorCode::kStorage, "sqlite: ping: unexpected answer to SELECT 1");
        return {};
    }

    Status RecordReceiptKey(const ReceiptKeyRow& row) override {
        if (auto s = rules::ValidateReceiptKey(row); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "INSERT INTO receipt_signing_keys (key_id, algorithm, public_key, sealed_secret, "
            "first_seen_at, last_seen_at, retired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
            "ON CONFLICT (key_id) DO UPDATE SET "
            "public_key = CASE WHEN excluded.public_key <> '' THEN excluded.public_key "
            "ELSE receipt_signing_keys.public_key END, "
            "sealed_secret = CASE WHEN excluded.sealed_secret <> '' THEN excluded.sealed_secret "
            "ELSE receipt_signing_keys.sealed_secret END, "
            "first_seen_at = MIN(receipt_signing_keys.first_seen_at, excluded.first_seen_at), "
            "last_seen_at = MAX(receipt_signing_keys.last_seen_at, excluded.last_seen_at), "
            "retired_at = excluded.retired_at",
            "record receipt key");
        if (!stmt) return stmt.error();
        stmt->BindText(1, row.key_id);
        stmt->BindText(2, row.algorithm);
        stmt->BindText(3, row.public_key);
        stmt->BindText(4, row.sealed_secret);
        stmt->BindText(5, row.first_seen_at);
        stmt->BindText(6, row.last_seen_at);
        stmt->BindText(7, row.retired_at);
        return stmt->Run();
    }

    Result<std::vector<ReceiptKeyRow>> ListReceiptKeys() override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "SELECT key_id, algorithm, public_key, sealed_secret, first_seen_at, last_seen_at, "
            "retired_at FROM receipt_signing_keys ORDER BY first_seen_at, key_id",
            "list receipt keys");
        if (!stmt) return stmt.error();
        std::vector<ReceiptKeyRow> out;
        if (auto each = stmt->EachRow([&] {
                out.push_back({stmt->Text(0), stmt->Text(1), stmt->Text(2), stmt->Text(3),
                               stmt->Text(4), stmt->Text(5), stmt->Text(6)});
            });
            !each) {
            return each.error();
        }
        return out;
    }

    Result<bool> ClaimScheduledRun(const std::string& job, const std::string& slot,
                                   const std::string& instance, const std::string& now) override {
        if (auto s = rules::ValidateScheduledRun(job, slot, instance); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "INSERT INTO scheduled_runs (job, slot, instance, claimed_at) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT (job, slot) DO NOTHING",
            "claim scheduled run");
        if (!stmt) return stmt.error();
        stmt->BindText(1, job);
        stmt->BindText(2, slot);
        stmt->BindText(3, instance);
        stmt->BindText(4, now);
        if (auto s = stmt->Run(); !s) return s.error();
        return sqlite3_changes(db()) > 0;
    }

    Status FinishScheduledRun(const std::string& job, const std::string& slot,
                              const std::string& instance, const std::string& status,
                              const std::string& detail, const std::string& now) override {
        std::lock_guard lock(conn_->mu);
        // BEGIN IMMEDIATE: a read that then writes would otherwise have to upgrade its lock,
        // which SQLite refuses at once (no busy wait) while another connection writes.
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto read = Prepare("SELECT instance FROM scheduled_runs WHERE job = ?1 AND slot = ?2",
                            "read scheduled run");
        if (!read) return read.error();
        read->BindText(1, job);
        read->BindText(2, slot);
        auto row = read->Step();
        if (!row) return row.error();
        if (!*row) return rules::ScheduledRunNotFound(job, slot);
        if (read->Text(0) != instance) return rules::ScheduledRunNotOurs(job, slot, read->Text(0));
        auto stmt = Prepare(
            "UPDATE scheduled_runs SET status = ?3, detail = ?4, finished_at = ?5 "
            "WHERE job = ?1 AND slot = ?2",
            "finish scheduled run");
        if (!stmt) return stmt.error();
        stmt->BindText(1, job);
        stmt->BindText(2, slot);
        stmt->BindText(3, status);
        stmt->BindText(4, detail);
        stmt->BindText(5, now);
        if (auto s = stmt->Run(); !s) return s;
        return tx->Commit();
    }

    Status ProbeWrite() override {
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        // Version -1 never exists outside this transaction; its overflow pages make the
        // commit append to the WAL, which is what fails on a full disk.
        auto insert = Prepare(
            "INSERT INTO schema_migrations (version, name, applied_at, additive) "
            "VALUES (-1, ?1, '', 1)",
            "write probe");
        if (!insert) return insert.error();
        insert->BindText(1, std::string(kWriteProbeBytes, 'x'));
        if (auto s = insert->Run(); !s) return s;
        auto remove =
            Prepare("DELETE FROM schema_migrations WHERE version = -1", "write probe cleanup");
        if (!remove) return remove.error();
        if (auto s = remove->Run(); !s) return s;
        return tx->Commit();
    }

private:
    sqlite3* db() { return conn_->db.get(); }

    Result<DebateRecord> GetDebateLocked(const std::string& id) {
        auto stmt =
            Prepare(Sql({"SELECT ", kDebateColumns, " FROM debates WHERE id = ?1"}), "get debate");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
        return ReadDebate(*stmt);
    }

    // kConflict (LeaseLostLocked) unless `worker_id` holds the lease of `id`. Caller holds
    // mu and an open write transaction.
    Status CheckLeaseLocked(const std::string& id, const std::string& worker_id) {
        auto held = Prepare(
            "SELECT 1 FROM debates WHERE id = ?1 AND lease_owner = ?2 AND "
            "status IN ('pending', 'running')",
            "check lease");
        if (!held) return held.error();
        held->BindText(1, id);
        held->BindText(2, worker_id);
        auto row = held->Step();
        if (!row) return row.error();
        if (!*row) return LeaseLostLocked(id, worker_id);
        return {};
    }

    // One batch of AppendEventBatches inside the caller's transaction: its lease checked
    // (an error here writes nothing and leaves the transaction usable), then its events.
    Status CheckBatchLeaseLocked(const EventBatch& batch) {
        if (batch.lease_owner.empty()) return {};
        const std::string owner(batch.lease_owner);
        std::set<std::string> ids;
        for (const auto& e : batch.events) ids.insert(e.debate_id);
        for (const auto& id : ids) {
            if (auto s = CheckLeaseLocked(id, owner); !s) return s;
        }
        return {};
    }
    Status WriteBatchLocked(const EventBatch& batch) {
        if (auto s = CheckBatchLeaseLocked(batch); !s) return s;
        return InsertEventsLocked(batch.events);
    }

    // One batch of WriteDebateBatches inside the caller's transaction: the start, then
    // the final write or the events. `wrote`: something of it is written (an error before
    // leaves the transaction as it was).
    Status WriteDebateBatchLocked(const DebateBatch& b, std::optional<ReceiptRecord>& receipt,
                                  bool& wrote) {
        const std::string id(b.debate_id);
        if (!b.started_at.empty()) {
            auto kept = b.lease_owner.empty()
                            ? Kept(kept_.start,
                                   "UPDATE debates SET status = 'running', started_at = ?3 "
                                   "WHERE id = ?1",
                                   "update debate status")
                            : Kept(kept_.start_leased,
                                   "UPDATE debates SET status = 'running', started_at = ?3 "
                                   "WHERE id = ?1 AND lease_owner = ?2 AND status IN "
                                   "('pending', 'running')",
                                   "start leased debate");
            if (!kept) return kept.error();
            sqlite::Stmt& stmt = **kept;
            stmt.BindText(1, id);
            if (!b.lease_owner.empty()) stmt.BindText(2, b.lease_owner);
            stmt.BindText(3, b.started_at);
            if (auto s = stmt.Run(); !s) return s;
            if (sqlite3_changes(db()) == 0) {
                if (b.lease_owner.empty())
                    return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
                return LeaseLostLocked(id, std::string(b.lease_owner));
            }
            wrote = true;
        }
        if (b.finish != nullptr) {
            auto built = FinishLocked(*b.finish, b.events, b.receipt, b.lease_owner, wrote);
            if (!built) return built.error();
            receipt = std::move(*built);
            return {};
        }
        if (b.events.empty()) return {};
        if (auto s = CheckBatchLeaseLocked(EventBatch{b.events, b.lease_owner}); !s) return s;
        wrote = true;
        return InsertEventsLocked(b.events);
    }

    // The shared transaction of AppendEventBatches: a batch whose lease check fails gets
    // that error and writes nothing; any other error (an insert, the commit) rolls the
    // whole transaction back and is returned, leaving `out` of the others untouched.
    Status WriteBatchesLocked(std::span<const EventBatch> batches,
                              const std::vector<std::size_t>& todo, std::vector<Status>& out) {
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        for (std::size_t i : todo) {
            if (auto s = CheckBatchLeaseLocked(batches[i]); !s) {
                if (s.error().code != ErrorCode::kConflict &&
                    s.error().code != ErrorCode::kNotFound)
                    return s;
                out[i] = s;
                continue;
            }
            if (auto s = InsertEventsLocked(batches[i].events); !s) return s;
        }
        return tx->Commit();
    }

    // Why `worker_id` does not hold the lease of `id` (always an error).
    Status LeaseLostLocked(const std::string& id, const std::string& worker_id) {
        auto row = GetDebateLocked(id);
        if (!row) return row.error();
        if ((row->status != events::DebateStatus::kRunning &&
             row->status != events::DebateStatus::kPending) ||
            row->lease_owner == worker_id) {
            return MakeError(ErrorCode::kConflict,
                             "debate " + id + " is " + std::string(events::ToString(row->status)) +
                                 "; worker " + worker_id + " no longer holds its lease");
        }
        std::string holder = row->lease_owner.empty() ? "no worker" : row->lease_owner;
        return MakeError(ErrorCode::kConflict, "debate " + id + " runs under the lease of " +
                                                   holder + ", not " + worker_id);
    }

    // Appends the final `debate_end` of `id` after its last stored event. Caller holds mu
    // and an open write transaction, and has just written the final row.
    Status AppendEndLocked(const std::string& id, std::chrono::system_clock::time_point now,
                           const DebateEndDataBuilder& end_data) {
        auto row = GetDebateLocked(id);
        if (!row) return row.error();
        auto last = Prepare("SELECT COALESCE(MAX(seq), 0) FROM debate_events WHERE debate_id = ?1",
                            "read last event seq");
        if (!last) return last.error();
        last->BindText(1, id);
        auto got = last->Step();
        if (!got) return got.error();
        events::Event end;
        end.debate_id = id;
        end.seq = (*got ? last->Int(0) : 0) + 1;
        end.type = "debate_end";
        end.round = row->rounds_used;
        end.timestamp = common::EpochSeconds(now);
        end.data_json = rules::DebateEndDataOf(*row, end_data);
        return InsertEventsLocked(std::span<const events::Event>(&end, 1));
    }

    Result<sqlite::Stmt> Prepare(std::string_view sql, std::string_view what) {
        return sqlite::Stmt::Prepare(db(), sql, what);
    }

    // A statement of a path every debate takes (its row, start, final write), prepared
    // once per store and kept in `slot` (under conn_->mu); reset here, before each use.
    // A caller that reads rows resets it when done (an open read must not outlive it).
    Result<sqlite::Stmt*> Kept(std::optional<sqlite::Stmt>& slot, std::string_view sql,
                               std::string_view what) {
        if (!slot) {
            auto stmt = Prepare(sql, what);
            if (!stmt) return stmt.error();
            slot.emplace(std::move(*stmt));
        }
        slot->Reset();
        return &*slot;
    }

    // The head of the chain: the newest receipt or tombstone (each side read through its
    // chain_seq index).
    Result<std::optional<std::string>> LastReceiptHashLocked() {
        auto kept = Kept(kept_.last_receipt_hash,
                         "SELECT content_hash FROM ("
                         "SELECT * FROM (SELECT content_hash, chain_seq FROM receipts "
                         "ORDER BY chain_seq DESC LIMIT 1) UNION ALL "
                         "SELECT * FROM (SELECT content_hash, chain_seq FROM receipt_deletions "
                         "ORDER BY chain_seq DESC LIMIT 1)) ORDER BY chain_seq DESC LIMIT 1",
                         "read last receipt hash");
        if (!kept) return kept.error();
        sqlite::Stmt& stmt = **kept;
        auto row = stmt.Step();
        if (!row) return row.error();
        std::optional<std::string> hash;
        if (*row) hash = stmt.Text(0);
        stmt.Reset();
        return hash;
    }

    // `column` is one of two constant names chosen by GetReceipt(); the value is bound.
    Result<std::optional<ReceiptRecord>> FindReceiptLocked(std::string_view column,
                                                           const std::string& value) {
        auto stmt =
            Prepare(Sql({"SELECT ", kReceiptColumns, " FROM receipts WHERE ", column, " = ?1"}),
                    "get receipt");
        if (!stmt) return stmt.error();
        stmt->BindText(1, value);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return std::optional<ReceiptRecord>();
        return std::optional<ReceiptRecord>(ReadReceipt(*stmt));
    }

    // `column` is receipt_id or debate_id (constants chosen here); the value is bound.
    Result<std::optional<ReceiptDeletion>> FindDeletionLocked(std::string_view column,
                                                              const std::string& value) {
        auto stmt = Prepare(Sql({"SELECT ", rules::kDeletionColumns,
                                 " FROM receipt_deletions WHERE ", column, " = ?1"}),
                            "get receipt deletion");
        if (!stmt) return stmt.error();
        stmt->BindText(1, value);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return std::optional<ReceiptDeletion>();
        return std::optional<ReceiptDeletion>(ReadDeletion(*stmt));
    }

    // GetReceipt's lookup: receipt id, "debate-<id>", bare debate id; then the same among
    // the tombstones, for the "deleted" answer.
    Result<ReceiptRecord> ResolveReceiptLocked(const std::string& id) {
        constexpr std::string_view kPrefix = "debate-";
        const bool prefixed =
            id.size() > kPrefix.size() && id.compare(0, kPrefix.size(), kPrefix) == 0;
        auto by_id = FindReceiptLocked("receipt_id", id);
        if (!by_id) return by_id.error();
        if (*by_id) return std::move(**by_id);
        if (prefixed) {
            auto by_prefixed = FindReceiptLocked("debate_id", id.substr(kPrefix.size()));
            if (!by_prefixed) return by_prefixed.error();
            if (*by_prefixed) return std::move(**by_prefixed);
        }
        auto by_debate = FindReceiptLocked("debate_id", id);
        if (!by_debate) return by_debate.error();
        if (*by_debate) return std::move(**by_debate);

        auto gone = FindDeletionLocked("receipt_id", id);
        if (!gone) return gone.error();
        if (!*gone && prefixed) {
            gone = FindDeletionLocked("debate_id", id.substr(kPrefix.size()));
            if (!gone) return gone.error();
        }
        if (!*gone) {
            gone = FindDeletionLocked("debate_id", id);
            if (!gone) return gone.error();
        }
        if (*gone) return rules::DeletedReceiptError(id, **gone);
        return rules::ReceiptNotFound(id);
    }

    Result<LegalHold> ReadHoldLocked(const std::string& receipt_id) {
        auto stmt = Prepare(Sql({"SELECT ", kHoldColumns, " FROM receipts WHERE receipt_id = ?1"}),
                            "read legal hold");
        if (!stmt) return stmt.error();
        stmt->BindText(1, receipt_id);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return rules::ReceiptNotFound(receipt_id);
        return ReadHold(*stmt);
    }

    // Caller holds mu_ and an open transaction. A (debate_id, seq) already stored is
    // skipped, so a retried append is harmless.
    Status InsertEventsLocked(std::span<const events::Event> events) {
        // A batch is written in runs of 32, 16, 8, 4, 2 and 1 rows, one INSERT each (one
        // step, one halt, one set of cursors per run, not per row): a batch of n rows takes
        // at most n / 32 + 5 statements, each prepared once per store.
        Status status;
        for (std::size_t k = insert_events_.size(); status && k-- > 0;) {
            const std::size_t rows = std::size_t{1} << k;
            while (status && events.size() >= rows) {
                status = InsertEventRowsLocked(insert_events_[k], events.first(rows));
                events = events.subspan(rows);
            }
        }
        return status;
    }

    // One INSERT of rows.size() rows through the statement kept in `slot` (prepared for that
    // many rows on first use).
    Status InsertEventRowsLocked(std::optional<sqlite::Stmt>& slot,
                                 std::span<const events::Event> rows) {
        if (!slot) {
            std::string sql = Sql({"INSERT INTO debate_events (", kEventColumns, ") VALUES "});
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const std::size_t p = r * 7;
                sql += r == 0 ? "(" : ", (";
                for (std::size_t c = 1; c <= 7; ++c) {
                    sql += '?';
                    sql += std::to_string(p + c);
                    sql += c == 7 ? ")" : ", ";
                }
            }
            sql += " ON CONFLICT (debate_id, seq) DO NOTHING";
            auto stmt = Prepare(sql, "insert event");
            if (!stmt) return stmt.error();
            slot.emplace(std::move(*stmt));
        }
        sqlite::Stmt& stmt = *slot;
        stmt.Reset();
        // The texts are bound as views (SQLite copies them into the row, not first into
        // the binding): `rows` outlives the step, and the views are cleared after.
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const auto& e = rows[r];
            const int p = static_cast<int>(r * 7);
            stmt.BindTextView(p + 1, e.debate_id);
            stmt.BindInt(p + 2, e.seq);
            stmt.BindTextView(p + 3, e.type);
            stmt.BindInt(p + 4, e.round);
            stmt.BindTextView(p + 5, e.agent);
            stmt.BindDouble(p + 6, e.timestamp);
            stmt.BindTextView(p + 7, e.data_json);
        }
        Status status = stmt.Run();
        stmt.Reset();
        stmt.ClearBindings();
        return status;
    }

    std::shared_ptr<sqlite::Connection> conn_;
    // Under conn_->mu; declared after conn_, so finalized before the connection goes.
    // InsertEventsLocked: [k] inserts 2^k rows.
    std::array<std::optional<sqlite::Stmt>, 6> insert_events_;
    struct KeptStatements {  // Kept()
        std::optional<sqlite::Stmt> insert_debate, update_status, start, start_leased, finish_lease,
            finish_upsert, insert_receipt, last_receipt_hash;
    } kept_;
};

namespace sqlite {

Result<std::shared_ptr<Connection>> OpenConnection(const SqliteOptions& options, bool migrate) {
    if (options.busy_timeout_ms < 0) {
        return MakeError(ErrorCode::kValidation, "busy_timeout_ms must be >= 0", "busy_timeout_ms");
    }
    auto db = OpenReadWrite(options.path, options.busy_timeout_ms, /*create=*/migrate);
    if (!db) return db.error();
    auto status = migrate ? MigrateDb(db->get()) : ReadMigrationStatus(db->get());
    if (!status) return status.error();
    if (!status->pending.empty()) {
        return MakeError(ErrorCode::kStorage, "database schema version " +
                                                  std::to_string(status->current_version) +
                                                  " is older than this binary needs (" +
                                                  std::to_string(status->latest_version) +
                                                  "); run `aragora db migrate --upgrade`");
    }
    auto connection = std::make_shared<Connection>();
    connection->db = std::move(*db);
    return connection;
}

std::unique_ptr<Store> MakeSqliteStore(std::shared_ptr<Connection> connection) {
    return std::make_unique<SqliteStore>(std::move(connection));
}

}  // namespace sqlite

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options, bool migrate) {
    auto connection = sqlite::OpenConnection(options, migrate);
    if (!connection) return connection.error();
    return sqlite::MakeSqliteStore(std::move(*connection));
}

}  // namespace aragora::storage
