#include "storage/postgres/pg_store.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <initializer_list>
#include <optional>
#include <pqxx/connection_base>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/time.hpp"
#include "storage/postgres/pg_sql.hpp"
#include "storage/store_rules.hpp"

namespace aragora::storage {

namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;
using rules::FinishUpsertAssignments;
using rules::kDebateColumns;
using rules::kEventColumns;
using rules::kReceiptColumns;
using rules::Sql;

using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

Result<DebateRecord> ReadDebate(const pqxx::row& r) {
    DebateRecord d;
    d.id = pg::Text(r, 0);
    d.task = pg::Text(r, 1);
    auto status = events::DebateStatusFromText(pg::Text(r, 2));
    if (!status) return status.error();
    d.status = *status;
    auto agents = rules::FromJsonArray(pg::Text(r, 3), "agents", d.id, "pg");
    if (!agents) return agents.error();
    d.agents = std::move(*agents);
    d.rounds = static_cast<int>(pg::Int(r, 4));
    d.rounds_used = static_cast<int>(pg::Int(r, 5));
    d.consensus_method = pg::Text(r, 6);
    d.consensus_reached = pg::OptBool(r, 7);
    d.confidence = pg::OptDouble(r, 8);
    d.verdict = pg::Text(r, 9);
    d.final_answer = pg::Text(r, 10);
    auto dissenting = rules::FromJsonArray(pg::Text(r, 11), "dissenting_agents", d.id, "pg");
    if (!dissenting) return dissenting.error();
    d.dissenting_agents = std::move(*dissenting);
    d.created_at = pg::Text(r, 12);
    d.started_at = pg::Text(r, 13);
    d.completed_at = pg::Text(r, 14);
    d.duration_seconds = pg::OptDouble(r, 15);
    d.receipt_id = pg::Text(r, 16);
    d.error_code = pg::Text(r, 17);
    d.error_message = pg::Text(r, 18);
    d.spec_json = pg::Text(r, 19);
    d.result_json = pg::Text(r, 20);
    d.created_by = pg::Text(r, 21);
    d.org_id = pg::Text(r, 22);
    d.queued_for_worker = pg::OptBool(r, 23).value_or(false);
    d.lease_owner = pg::Text(r, 24);
    d.lease_expires_at = pg::Text(r, 25);
    d.attempts = static_cast<int>(pg::Int(r, 26));
    return d;
}

// Adds the values of kDebateColumns; returns their placeholders ("$1, $2, ..."). The
// upsert of FinishDebate() does not update the queue columns, so they keep their values.
// `with_lease` (CreateDebate): an instance's own debate keeps the lease it is created
// under; otherwise the lease columns start empty (only the queue methods write them).
std::string DebateValues(pg::Params& p, const DebateRecord& d, bool with_lease = false) {
    const bool leased = with_lease && !d.queued_for_worker && !d.lease_owner.empty();
    const std::string values[] = {
        p.Text(d.id),
        p.Text(d.task),
        p.Text(events::ToString(d.status)),
        p.Text(rules::ToJsonArray(d.agents)),
        p.Int(d.rounds),
        p.Int(d.rounds_used),
        p.Text(d.consensus_method),
        p.OptBool(d.consensus_reached),
        p.OptDouble(d.confidence),
        p.Text(d.verdict),
        p.Text(d.final_answer),
        p.Text(rules::ToJsonArray(d.dissenting_agents)),
        p.Text(d.created_at),
        p.TextOrNull(d.started_at),
        p.TextOrNull(d.completed_at),
        p.OptDouble(d.duration_seconds),
        p.TextOrNull(d.receipt_id),
        p.TextOrNull(d.error_code),
        p.TextOrNull(d.error_message),
        p.Text(d.spec_json),
        p.Text(d.result_json),
        p.Text(d.created_by),
        p.Text(d.org_id),
        p.Bool(d.queued_for_worker),
        leased ? p.Text(d.lease_owner) : std::string("NULL"),
        leased ? p.Text(d.lease_expires_at) : std::string("NULL"),
        "0",
    };
    std::string out;
    for (const auto& v : values) {
        if (!out.empty()) out += ", ";
        out += v;
    }
    return out;
}

ReceiptRecord ReadReceipt(const pqxx::row& r) {
    ReceiptRecord out;
    out.receipt_id = pg::Text(r, 0);
    out.debate_id = pg::Text(r, 1);
    out.content_hash = pg::Text(r, 2);
    out.previous_hash = pg::OptText(r, 3);
    out.created_at = pg::Text(r, 4);
    out.json = pg::Text(r, 5);
    return out;
}

events::Event ReadEvent(const pqxx::row& r) {
    events::Event e;
    e.debate_id = pg::Text(r, 0);
    e.seq = pg::Int(r, 1);
    e.type = pg::Text(r, 2);
    e.round = static_cast<int>(pg::Int(r, 3));
    e.agent = pg::Text(r, 4);
    e.timestamp = pg::Double(r, 5);
    e.data_json = pg::Text(r, 6);
    return e;
}

// The head of the chain: the newest receipt or tombstone (each side read through its
// chain_seq index). One statement, so a concurrent deletion (which moves a receipt into
// receipt_deletions in one transaction) is seen wholly or not at all.
Result<std::optional<std::string>> ReadLastReceiptHash(pqxx::transaction_base& tx) {
    const pqxx::result r = tx.exec(
        "SELECT content_hash FROM ("
        "(SELECT content_hash, chain_seq FROM receipts ORDER BY chain_seq DESC LIMIT 1) "
        "UNION ALL "
        "(SELECT content_hash, chain_seq FROM receipt_deletions ORDER BY chain_seq DESC LIMIT 1)"
        ") AS head ORDER BY chain_seq DESC LIMIT 1");
    if (r.empty()) return std::optional<std::string>();
    return std::optional<std::string>(pg::Text(r[0], 0));
}

// The columns of kDeletionColumns, from column `at` on.
ReceiptDeletion ReadDeletion(const pqxx::row& r, int at = 0) {
    ReceiptDeletion d;
    d.deletion_id = pg::Text(r, at + 0);
    d.receipt_id = pg::Text(r, at + 1);
    d.chain_seq = pg::Int(r, at + 2);
    d.debate_id = pg::Text(r, at + 3);
    d.content_hash = pg::Text(r, at + 4);
    d.previous_hash = pg::OptText(r, at + 5);
    d.receipt_created_at = pg::Text(r, at + 6);
    d.verdict = pg::Text(r, at + 7);
    d.deleted_at = pg::Text(r, at + 8);
    d.reason = pg::Text(r, at + 9);
    d.operator_name = pg::Text(r, at + 10);
    d.metadata_json = pg::Text(r, at + 11);
    return d;
}

constexpr std::string_view kHoldColumns =
    "receipt_id, legal_hold, legal_hold_reason, legal_hold_matter_id, legal_hold_placed_by, "
    "legal_hold_placed_at";

LegalHold ReadHold(const pqxx::row& r) {
    LegalHold h;
    h.receipt_id = pg::Text(r, 0);
    h.active = pg::OptBool(r, 1).value_or(false);
    h.reason = pg::Text(r, 2);
    h.matter_id = pg::Text(r, 3);
    h.placed_by = pg::Text(r, 4);
    h.placed_at = pg::Text(r, 5);
    return h;
}

// GetReceipt's lookup inside the caller's transaction: receipt id, "debate-<id>", bare
// debate id; then the same among the tombstones, for the "deleted" answer.
Result<ReceiptRecord> ResolveReceipt(pqxx::transaction_base& tx, const std::string& id) {
    // `column` is one of two constant names; the value is a parameter.
    auto find = [&tx](std::string_view table, std::string_view columns, std::string_view column,
                      const std::string& value) {
        pg::Params p;
        return pg::Exec(
            tx, Sql({"SELECT ", columns, " FROM ", table, " WHERE ", column, " = ", p.Text(value)}),
            p);
    };
    constexpr std::string_view kPrefix = "debate-";
    const bool prefixed = id.size() > kPrefix.size() && id.compare(0, kPrefix.size(), kPrefix) == 0;
    std::vector<std::pair<std::string_view, std::string>> keys = {{"receipt_id", id}};
    if (prefixed) keys.emplace_back("debate_id", id.substr(kPrefix.size()));
    keys.emplace_back("debate_id", id);
    for (const auto& [column, value] : keys) {
        const pqxx::result r = find("receipts", kReceiptColumns, column, value);
        if (!r.empty()) return ReadReceipt(r[0]);
    }
    for (const auto& [column, value] : keys) {
        const pqxx::result r = find("receipt_deletions", rules::kDeletionColumns, column, value);
        if (!r.empty()) return rules::DeletedReceiptError(id, ReadDeletion(r[0]));
    }
    return rules::ReceiptNotFound(id);
}

Result<LegalHold> ReadHoldOf(pqxx::transaction_base& tx, const std::string& receipt_id) {
    pg::Params p;
    const pqxx::result r = pg::Exec(
        tx,
        Sql({"SELECT ", kHoldColumns, " FROM receipts WHERE receipt_id = ", p.Text(receipt_id)}),
        p);
    if (r.empty()) return rules::ReceiptNotFound(receipt_id);
    return ReadHold(r[0]);
}

// Inside the caller's transaction. A (debate_id, seq) already stored is skipped.
void InsertEvents(pqxx::transaction_base& tx, std::span<const events::Event> events) {
    for (const auto& e : events) {
        pg::Params p;
        const std::string sql =
            Sql({"INSERT INTO debate_events (", kEventColumns, ") VALUES (", p.Text(e.debate_id),
                 ", ", p.Int(e.seq), ", ", p.Text(e.type), ", ", p.Int(e.round), ", ",
                 p.Text(e.agent), ", ", p.Double(e.timestamp), ", ", p.Text(e.data_json),
                 ") ON CONFLICT (debate_id, seq) DO NOTHING"});
        pg::Exec(tx, sql, p);
    }
}

// The row of `id`, locked FOR UPDATE until the caller's transaction ends: the queue
// methods decide on it and write it while no other instance can change it (a concurrent
// claim or reap skips it, a renew or finish waits). kNotFound when there is none.
Result<DebateRecord> LockDebate(pqxx::transaction_base& tx, const std::string& id) {
    pg::Params p;
    const pqxx::result r = pg::Exec(
        tx,
        Sql({"SELECT ", kDebateColumns, " FROM debates WHERE id = ", p.Text(id), " FOR UPDATE"}),
        p);
    if (r.empty()) return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
    return ReadDebate(r[0]);
}

// Pending or running with this owner (a queued pending debate has none).
bool HoldsLease(const DebateRecord& d, const std::string& worker_id) {
    return (d.status == events::DebateStatus::kRunning ||
            d.status == events::DebateStatus::kPending) &&
           !worker_id.empty() && d.lease_owner == worker_id;
}

// Why `worker_id` does not hold the lease of `d` (always an error; SQLite's messages).
Status LeaseLost(const DebateRecord& d, const std::string& worker_id) {
    if ((d.status != events::DebateStatus::kRunning &&
         d.status != events::DebateStatus::kPending) ||
        d.lease_owner == worker_id) {
        return MakeError(ErrorCode::kConflict,
                         "debate " + d.id + " is " + std::string(events::ToString(d.status)) +
                             "; worker " + worker_id + " no longer holds its lease");
    }
    const std::string holder = d.lease_owner.empty() ? "no worker" : d.lease_owner;
    return MakeError(ErrorCode::kConflict, "debate " + d.id + " runs under the lease of " + holder +
                                               ", not " + worker_id);
}

// The lease check of the queue's writes: the locked row of `id`, running under
// `worker_id`'s lease; kNotFound / kConflict otherwise.
Status CheckLease(pqxx::transaction_base& tx, const std::string& id, const std::string& worker_id) {
    auto row = LockDebate(tx, id);
    if (!row) return row.error();
    if (!HoldsLease(*row, worker_id)) return LeaseLost(*row, worker_id);
    return {};
}

// Appends the final `debate_end` of `finished` (its row as just written, still locked by
// the caller's transaction) after its last stored event.
void AppendEnd(pqxx::transaction_base& tx, const DebateRecord& finished,
               std::chrono::system_clock::time_point now, const DebateEndDataBuilder& end_data) {
    pg::Params p;
    const pqxx::result last = pg::Exec(
        tx,
        "SELECT COALESCE(MAX(seq), 0) FROM debate_events WHERE debate_id = " + p.Text(finished.id),
        p);
    events::Event end;
    end.debate_id = finished.id;
    end.seq = pg::Int(last[0], 0) + 1;
    end.type = "debate_end";
    end.round = finished.rounds_used;
    end.timestamp = common::EpochSeconds(now);
    end.data_json = rules::DebateEndDataOf(finished, end_data);
    InsertEvents(tx, std::span<const events::Event>(&end, 1));
}

}  // namespace

// Each call leases one pooled connection for its duration. Writes that belong together
// run in one transaction; reads that must agree (count and page) in one REPEATABLE READ
// snapshot. The receipt chain is appended under pg_advisory_xact_lock, taken before the
// last hash is read, so concurrent finishers (threads or processes) chain one after the
// other. The worker-queue methods decide on the debate row locked FOR UPDATE inside the
// transaction that writes it; claims and reaps use SKIP LOCKED, so instances racing for
// the same row never both take it and never wait on each other.
class PgStore final : public Store {
public:
    PgStore(std::shared_ptr<PgPool> pool, std::shared_ptr<PgPool> lease_pool)
        : pool_(std::move(pool)), lease_pool_(lease_pool ? std::move(lease_pool) : pool_) {}

    Status CreateDebate(const DebateRecord& debate) override {
        if (auto s = rules::ValidateNewDebate(debate); !s) return s;
        return pool_->Run("insert debate", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string values = DebateValues(p, debate, /*with_lease=*/true);
            pg::Exec(tx, Sql({"INSERT INTO debates (", kDebateColumns, ") VALUES (", values, ")"}),
                     p);
            return {};
        });
    }

    Result<DebateRecord> GetDebate(const std::string& id) override {
        Result<DebateRecord> out;
        auto s = pool_->Run("get debate", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const pqxx::result r = pg::Exec(
                tx, Sql({"SELECT ", kDebateColumns, " FROM debates WHERE id = ", p.Text(id)}), p);
            if (r.empty()) return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
            out = ReadDebate(r[0]);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<DebatePage> ListDebates(const DebateFilter& filter) override {
        if (auto s = rules::ValidatePage(filter.limit, filter.offset); !s) return s.error();
        if (auto s = rules::ValidateStatusFilter(filter.status); !s) return s.error();
        if (auto s = rules::ValidateTaskQuery(filter.task_query); !s) return s.error();
        DebatePage page;
        auto s = pool_->Run("list debates", [&](pqxx::connection_base& c) -> Status {
            // Only constant SQL fragments are chosen here; the values are parameters.
            pg::Params p;
            std::string where;
            auto add = [&where](const std::string& condition) {
                where += where.empty() ? " WHERE " : " AND ";
                where += condition;
            };
            if (filter.status == "active") {
                add("status IN ('pending', 'running')");
            } else if (filter.status == "no_consensus") {
                add("(status = 'completed' AND consensus_reached = FALSE)");
            } else if (!filter.status.empty()) {
                add("status = " + p.Text(filter.status));
            }
            if (!filter.created_by.empty()) add("created_by = " + p.Text(filter.created_by));
            // The task search stays in SQL (paging and `total` count only the matches).
            // With ARAGORA_ENCRYPT_DEBATE_CONTENT the task column holds ciphertext and this
            // cannot match: `q` is to be refused (400) in that mode by the API, not here.
            if (!filter.task_query.empty()) {
                add("task ILIKE " + p.Text(rules::LikeSubstringPattern(filter.task_query)) +
                    " ESCAPE '\\'");
            }

            Snapshot tx(c);  // total and items agree
            page.total = pg::Int(pg::Exec(tx, "SELECT COUNT(*) FROM debates" + where, p)[0], 0);
            pg::Params lp = p;
            const std::string sql = Sql({"SELECT ", kDebateColumns, " FROM debates", where,
                                         " ORDER BY created_at DESC, id DESC LIMIT ",
                                         lp.Int(filter.limit), " OFFSET ", lp.Int(filter.offset)});
            for (const auto& row : pg::Exec(tx, sql, lp)) {
                auto debate = ReadDebate(row);
                if (!debate) return debate.error();
                page.items.push_back(std::move(*debate));
            }
            return {};
        });
        if (!s) return s.error();
        return page;
    }

    Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                              const std::string& started_at) override {
        return pool_->Run("update debate status", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql =
                "UPDATE debates SET status = " + p.Text(events::ToString(status)) +
                ", started_at = COALESCE(" + p.TextOrNull(started_at) +
                ", started_at) WHERE id = " + p.Text(id);
            if (pg::Exec(tx, sql, p).affected_rows() == 0)
                return MakeError(ErrorCode::kNotFound, "debate " + id + " not found");
            return {};
        });
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
        std::optional<DebateRecord> claimed;
        auto s = pool_->Run("claim queued debate", [&](pqxx::connection_base& c) -> Status {
            claimed.reset();
            pqxx::work tx(c);
            // SKIP LOCKED: a row another claimant has locked is passed over, not waited
            // for, so concurrent claims (any instance) take different debates.
            const pqxx::result pick = tx.exec(
                "SELECT id FROM debates WHERE queued_for_worker AND status = 'pending' "
                "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED");
            if (pick.empty()) return {};
            pg::Params p;
            const std::string sql =
                Sql({"UPDATE debates SET status = 'running', lease_owner = ", p.Text(worker_id),
                     ", started_at = ", p.Text(now), ", lease_expires_at = ", p.Text(lease_until),
                     ", attempts = attempts + 1 WHERE id = ", p.Text(pg::Text(pick[0], 0)),
                     " RETURNING ", kDebateColumns});
            const pqxx::result r = pg::Exec(tx, sql, p);
            if (r.empty()) {
                return MakeError(ErrorCode::kInternal,
                                 "pg: claim queued debate: the locked row disappeared");
            }
            auto row = ReadDebate(r[0]);
            if (!row) return row.error();
            tx.commit();
            claimed = std::move(*row);
            return {};
        });
        if (!s) return s.error();
        return claimed;
    }

    Status RenewLease(const std::string& id, const std::string& worker_id,
                      const std::string& lease_until) override {
        // On the lease pool: a renewal waits for no event commit (issue 20: renewals queued
        // behind commits ran past the lease and the instance reaped its own debates).
        return lease_pool_->Run("renew lease", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            if (auto s = CheckLease(tx, id, worker_id); !s) return s;
            pg::Params p;
            pg::Exec(tx,
                     "UPDATE debates SET lease_expires_at = " + p.Text(lease_until) +
                         " WHERE id = " + p.Text(id),
                     p);
            tx.commit();
            return {};
        });
    }

    Result<std::vector<LostLease>> RenewLeases(const std::string& owner,
                                               const std::vector<std::string>& ids,
                                               const std::string& lease_until) override {
        // Rows are locked in debate id order (byte order: COLLATE "C" is what std::string
        // compares), like the group commit's lease checks, so that a renewal and a commit
        // of the same debates cannot deadlock; the chunks follow that order too.
        std::vector<std::string> sorted = ids;
        std::sort(sorted.begin(), sorted.end());
        std::vector<LostLease> lost;
        for (std::size_t begin = 0; begin < sorted.size(); begin += kRenewLeasesChunk) {
            const std::size_t end = std::min(sorted.size(), begin + kRenewLeasesChunk);
            const std::vector<std::string> chunk(
                sorted.begin() + static_cast<std::ptrdiff_t>(begin),
                sorted.begin() + static_cast<std::ptrdiff_t>(end));
            std::vector<LostLease> chunk_lost;
            // One statement per chunk, on the lease pool like RenewLease. A row a finish or
            // reap has locked is waited for, then decided on as that left it.
            auto s = lease_pool_->Run("renew leases", [&](pqxx::connection_base& c) -> Status {
                chunk_lost.clear();
                pqxx::nontransaction tx(c);
                pg::Params p;
                const std::string sql = Sql(
                    {"UPDATE debates SET lease_expires_at = ", p.Text(lease_until),
                     " FROM (SELECT id FROM debates WHERE id = ANY(", p.TextArray(chunk),
                     "::text[]) AND lease_owner = ", p.Text(owner),
                     " AND status IN ('pending', 'running') ORDER BY id COLLATE \"C\" FOR NO KEY "
                     "UPDATE) AS held WHERE debates.id = held.id RETURNING debates.id"});
                const pqxx::result renewed = pg::Exec(tx, sql, p);
                if (renewed.size() == chunk.size()) return {};
                std::unordered_set<std::string> held;
                for (const auto& row : renewed) held.insert(pg::Text(row, 0));
                std::vector<std::string> missing;
                for (const auto& id : chunk) {
                    if (held.count(id) == 0) missing.push_back(id);
                }
                // Why each was not renewed (rare: reaped, released, finished), in
                // RenewLease's words.
                pg::Params q;
                const pqxx::result rows =
                    pg::Exec(tx,
                             Sql({"SELECT ", kDebateColumns, " FROM debates WHERE id = ANY(",
                                  q.TextArray(missing), "::text[])"}),
                             q);
                std::unordered_map<std::string, DebateRecord> found;
                for (const auto& row : rows) {
                    auto d = ReadDebate(row);
                    if (!d) return d.error();
                    std::string id = d->id;
                    found.emplace(std::move(id), std::move(*d));
                }
                for (const auto& id : missing) {
                    auto it = found.find(id);
                    chunk_lost.push_back(LostLease{
                        id, it == found.end()
                                ? MakeError(ErrorCode::kNotFound, "debate " + id + " not found")
                                : LeaseLost(it->second, owner).error()});
                }
                return {};
            });
            if (!s) return s.error();
            for (auto& l : chunk_lost) lost.push_back(std::move(l));
        }
        return lost;
    }

    Status StartLeasedDebate(const std::string& id, const std::string& owner,
                             const std::string& started_at) override {
        return pool_->Run("start leased debate", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            if (auto s = CheckLease(tx, id, owner); !s) return s;
            pg::Params p;
            pg::Exec(tx,
                     "UPDATE debates SET status = 'running', started_at = " +
                         p.TextOrNull(started_at) + " WHERE id = " + p.Text(id),
                     p);
            tx.commit();
            return {};
        });
    }

    Status ReleaseLease(const std::string& id, const std::string& worker_id) override {
        return pool_->Run("release lease", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            auto row = LockDebate(tx, id);
            if (!row) return row.error();
            if (!HoldsLease(*row, worker_id)) return LeaseLost(*row, worker_id);
            if (!row->queued_for_worker) {
                return MakeError(ErrorCode::kConflict,
                                 "debate " + id +
                                     " is not queued for workers; it cannot go "
                                     "back to the queue");
            }
            // Read after taking the row lock: an event insert (its foreign key check locks
            // the row too) either committed before, and is seen here, or waits for us.
            pg::Params e;
            const pqxx::result events = pg::Exec(
                tx,
                "SELECT EXISTS (SELECT 1 FROM debate_events WHERE debate_id = " + e.Text(id) + ")",
                e);
            if (pg::OptBool(events[0], 0).value_or(true)) {
                return MakeError(ErrorCode::kConflict, "debate " + id +
                                                           " has stored events; it cannot go back "
                                                           "to the queue");
            }
            pg::Params p;
            pg::Exec(tx,
                     "UPDATE debates SET status = 'pending', started_at = NULL, "
                     "lease_owner = NULL, lease_expires_at = NULL WHERE id = " +
                         p.Text(id),
                     p);
            tx.commit();
            return {};
        });
    }

    Result<std::vector<std::string>> ReapExpiredLeases(
        const std::string& now, const DebateEndDataBuilder& end_data) override {
        const auto now_tp = common::ParseIso8601(now);
        if (!now_tp) return MakeError(ErrorCode::kValidation, "now is not an ISO 8601 time", "now");
        std::vector<std::string> candidates;
        auto found = pool_->Run("find expired leases", [&](pqxx::connection_base& c) -> Status {
            candidates.clear();
            pqxx::nontransaction tx(c);
            pg::Params p;
            const pqxx::result r =
                pg::Exec(tx,
                         "SELECT id FROM debates WHERE status IN ('pending', 'running') AND "
                         "lease_owner IS NOT NULL AND lease_expires_at < " +
                             p.Text(now) + " ORDER BY lease_expires_at, id",
                         p);
            for (const auto& row : r) candidates.push_back(pg::Text(row, 0));
            return {};
        });
        if (!found) return found.error();

        std::vector<std::string> reaped;
        for (const auto& id : candidates) {
            bool marked = false;
            auto s = pool_->Run("reap expired lease", [&](pqxx::connection_base& c) -> Status {
                marked = false;
                pqxx::work tx(c);
                // Re-checked on the latest row under its lock. SKIP LOCKED: a row another
                // reaper holds is that reaper's to fail; one a worker holds (renewing,
                // finishing) is decided by the worker's write, and a later reap retries.
                pg::Params p;
                const pqxx::result r = pg::Exec(
                    tx,
                    Sql({"SELECT ", kDebateColumns, " FROM debates WHERE id = ", p.Text(id),
                         " AND status IN ('pending', 'running') AND lease_owner IS NOT NULL "
                         "AND lease_expires_at < ",
                         p.Text(now), " FOR UPDATE SKIP LOCKED"}),
                    p);
                if (r.empty()) return {};
                auto row = ReadDebate(r[0]);
                if (!row) return row.error();
                std::optional<double> duration;
                if (const auto started = common::ParseIso8601(row->started_at)) {
                    duration =
                        std::max(0.0, std::chrono::duration<double>(*now_tp - *started).count());
                }
                const bool queued = row->queued_for_worker;
                pg::Params u;
                const pqxx::result updated = pg::Exec(
                    tx,
                    Sql({"UPDATE debates SET status = 'failed', error_code = ",
                         u.Text(queued ? kWorkerLostCode : kInstanceLostCode), ", error_message = ",
                         u.Text(queued ? kWorkerLostMessage : kInstanceLostMessage),
                         ", completed_at = ", u.Text(now),
                         ", duration_seconds = ", u.OptDouble(duration), " WHERE id = ", u.Text(id),
                         " RETURNING ", kDebateColumns}),
                    u);
                auto failed = ReadDebate(updated[0]);
                if (!failed) return failed.error();
                AppendEnd(tx, *failed, *now_tp, end_data);
                tx.commit();
                marked = true;
                return {};
            });
            if (!s) return s.error();
            if (marked) reaped.push_back(id);
        }
        return reaped;
    }

    Result<DebateRecord> CancelQueuedDebate(const std::string& id, const std::string& now,
                                            const DebateEndDataBuilder& end_data) override {
        const auto now_tp = common::ParseIso8601(now);
        if (!now_tp) return MakeError(ErrorCode::kValidation, "now is not an ISO 8601 time", "now");
        Result<DebateRecord> out;
        auto s = pool_->Run("cancel queued debate", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            // A claim in flight holds the row: we wait for it and then see it running.
            auto row = LockDebate(tx, id);
            if (!row) return row.error();
            if (!row->queued_for_worker || row->status != events::DebateStatus::kPending) {
                return MakeError(
                    ErrorCode::kConflict,
                    "debate " + id + " is " + std::string(events::ToString(row->status)) +
                        (row->queued_for_worker ? "" : " and not queued for a worker"));
            }
            pg::Params p;
            const pqxx::result updated = pg::Exec(
                tx,
                Sql({"UPDATE debates SET status = 'cancelled', error_code = 'cancelled', "
                     "error_message = 'debate cancelled before it started', completed_at = ",
                     p.Text(now), ", duration_seconds = 0 WHERE id = ", p.Text(id), " RETURNING ",
                     kDebateColumns}),
                p);
            auto cancelled = ReadDebate(updated[0]);
            if (!cancelled) return cancelled.error();
            AppendEnd(tx, *cancelled, *now_tp, end_data);
            tx.commit();
            out = std::move(*cancelled);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

private:
    // FinishDebate, and with `lease_owner` FinishLeasedDebate: the lease is checked on the
    // locked row inside the same transaction, so a reaper cannot slip in between.
    Result<std::optional<ReceiptRecord>> Finish(const DebateRecord& debate,
                                                const std::vector<events::Event>& events,
                                                const ReceiptBuilder* receipt,
                                                const std::string* lease_owner) {
        if (auto s = rules::ValidateFinish(debate, events); !s) return s.error();
        std::optional<ReceiptRecord> built;
        auto s = pool_->Run(
            lease_owner != nullptr ? "finish leased debate" : "finish debate",
            [&](pqxx::connection_base& c) -> Status {
                built.reset();
                pqxx::work tx(c);
                const bool chained = receipt != nullptr && *receipt;
                if (chained) {
                    // Held until commit/rollback: the next finisher reads our hash. Taken
                    // before the row lock, in the order FinishDebate takes them.
                    pg::Params lock;
                    pg::Exec(
                        tx,
                        "SELECT pg_advisory_xact_lock(" + lock.Int(pg::kReceiptChainLockKey) + ")",
                        lock);
                }
                if (lease_owner != nullptr) {
                    if (auto s = CheckLease(tx, debate.id, *lease_owner); !s) return s;
                }
                if (chained) {
                    auto previous = ReadLastReceiptHash(tx);
                    if (!previous) return previous.error();
                    auto r = rules::CallBuilder(*receipt, *previous);
                    if (!r) return r.error();
                    if (auto s = rules::CheckBuiltReceipt(*r, debate.id, *previous); !s) return s;
                    built = std::move(*r);
                }

                DebateRecord row = debate;
                if (built) row.receipt_id = built->receipt_id;
                pg::Params p;
                const std::string values = DebateValues(p, row);
                pg::Exec(tx,
                         Sql({"INSERT INTO debates AS d (", kDebateColumns, ") VALUES (", values,
                              ") ON CONFLICT (id) DO UPDATE SET ", FinishUpsertAssignments("d")}),
                         p);

                if (built) {
                    // chain_seq, not created_at, orders the chain: assigned under the lock, it
                    // is exactly the order in which previous hashes were read. Deleted receipts
                    // keep their chain_seq in their tombstones: the next one follows them.
                    pg::Params rp;
                    const std::string sql = Sql(
                        {"INSERT INTO receipts (receipt_id, chain_seq, debate_id, content_hash, "
                         "previous_hash, created_at, json) VALUES (",
                         rp.Text(built->receipt_id),
                         ", GREATEST((SELECT COALESCE(MAX(chain_seq), 0) FROM receipts), "
                         "(SELECT COALESCE(MAX(chain_seq), 0) FROM receipt_deletions)) + 1, ",
                         rp.Text(built->debate_id), ", ", rp.Text(built->content_hash), ", ",
                         rp.OptText(built->previous_hash), ", ", rp.Text(built->created_at), ", ",
                         rp.Text(built->json), ")"});
                    pg::Exec(tx, sql, rp);
                }
                InsertEvents(tx, events);
                tx.commit();
                return {};
            });
        if (!s) return s.error();
        return built;
    }

public:
    Result<int> MarkInterrupted(const std::string& now) override {
        int marked = 0;
        auto s = pool_->Run("mark interrupted debates", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql =
                "UPDATE debates SET status = 'failed', error_code = 'interrupted', "
                "error_message = 'server stopped while the debate was running', "
                "completed_at = " +
                p.TextOrNull(now) +
                " WHERE status IN ('pending', 'running') AND queued_for_worker = FALSE "
                "AND lease_owner IS NULL";
            marked = static_cast<int>(pg::Exec(tx, sql, p).affected_rows());
            return {};
        });
        if (!s) return s.error();
        return marked;
    }

    Status AppendEvents(const std::vector<events::Event>& events) override {
        for (const auto& e : events) {
            if (auto s = rules::ValidateEvent(e); !s) return s;
        }
        if (events.empty()) return {};
        return pool_->Run("insert events", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            InsertEvents(tx, events);
            tx.commit();
            return {};
        });
    }

    Status AppendLeasedEvents(const std::vector<events::Event>& events,
                              const std::string& worker_id) override {
        for (const auto& e : events) {
            if (auto s = rules::ValidateEvent(e); !s) return s;
        }
        if (events.empty()) return {};
        std::set<std::string> ids;  // ordered: concurrent appends lock rows in one order
        for (const auto& e : events) ids.insert(e.debate_id);
        return pool_->Run("insert leased events", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            for (const auto& id : ids) {
                if (auto s = CheckLease(tx, id, worker_id); !s) return s;
            }
            InsertEvents(tx, events);
            tx.commit();
            return {};
        });
    }

    std::vector<Status> AppendEventBatches(std::span<const EventBatch> batches) override {
        std::vector<Status> out(batches.size());
        std::vector<std::size_t> todo;  // valid, non-empty batches
        for (std::size_t i = 0; i < batches.size(); ++i) {
            for (const auto& e : batches[i].events) {
                if (auto s = rules::ValidateEvent(e); !s) {
                    out[i] = s;
                    break;
                }
            }
            if (out[i] && !batches[i].events.empty()) todo.push_back(i);
        }
        if (todo.empty()) return out;
        // Leased batches lock their debate rows FOR UPDATE: in debate id order, like every
        // other multi-row lock here, so that concurrent transactions cannot deadlock.
        std::stable_sort(todo.begin(), todo.end(), [&](std::size_t a, std::size_t b) {
            return batches[a].events.front().debate_id < batches[b].events.front().debate_id;
        });
        auto shared = pool_->Run("insert event batches", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            for (std::size_t i : todo) {
                const EventBatch& b = batches[i];
                if (!b.lease_owner.empty()) {
                    std::set<std::string> ids;
                    for (const auto& e : b.events) ids.insert(e.debate_id);
                    const std::string owner(b.lease_owner);
                    Status held;
                    for (const auto& id : ids) {
                        held = CheckLease(tx, id, owner);
                        if (!held) break;
                    }
                    if (!held) {
                        // Nothing of this batch is written; the transaction goes on.
                        out[i] = held;
                        continue;
                    }
                }
                InsertEvents(tx, b.events);
            }
            tx.commit();
            return {};
        });
        if (shared) return out;
        rules::SettleFailedBatches(shared.error(), todo, out, [&](std::size_t i) -> Status {
            const EventBatch& b = batches[i];
            std::vector<events::Event> events(b.events.begin(), b.events.end());
            return b.lease_owner.empty() ? AppendEvents(events)
                                         : AppendLeasedEvents(events, std::string(b.lease_owner));
        });
        return out;
    }

    Result<std::vector<events::Event>> ListEvents(const std::string& debate_id,
                                                  std::int64_t since_seq, int limit) override {
        if (limit < 0) return MakeError(ErrorCode::kValidation, "limit must be >= 0", "limit");
        std::vector<events::Event> out;
        auto s = pool_->Run("list events", [&](pqxx::connection_base& c) -> Status {
            out.clear();
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql =
                Sql({"SELECT ", kEventColumns,
                     " FROM debate_events WHERE debate_id = ", p.Text(debate_id), " AND seq > ",
                     p.Int(since_seq), " ORDER BY seq LIMIT ", p.Int(limit)});
            for (const auto& row : pg::Exec(tx, sql, p)) out.push_back(ReadEvent(row));
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<ReceiptRecord> GetReceipt(const std::string& id) override {
        Result<ReceiptRecord> out;
        auto s = pool_->Run("get receipt", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            out = ResolveReceipt(tx, id);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<ReceiptPage> ListReceipts(const std::string& debate_id, int limit, int offset) override {
        if (auto s = rules::ValidatePage(limit, offset); !s) return s.error();
        ReceiptPage page;
        auto s = pool_->Run("list receipts", [&](pqxx::connection_base& c) -> Status {
            page.items.clear();
            pg::Params p;
            const std::string where =
                debate_id.empty() ? std::string() : " WHERE debate_id = " + p.Text(debate_id);
            Snapshot tx(c);  // total and items agree
            page.total = pg::Int(pg::Exec(tx, "SELECT COUNT(*) FROM receipts" + where, p)[0], 0);
            pg::Params lp = p;
            const std::string sql =
                Sql({"SELECT ", kReceiptColumns, " FROM receipts", where,
                     " ORDER BY chain_seq DESC LIMIT ", lp.Int(limit), " OFFSET ", lp.Int(offset)});
            for (const auto& row : pg::Exec(tx, sql, lp)) page.items.push_back(ReadReceipt(row));
            return {};
        });
        if (!s) return s.error();
        return page;
    }

    Result<std::optional<std::string>> LastReceiptHash() override {
        Result<std::optional<std::string>> out;
        auto s = pool_->Run("read last receipt hash", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            out = ReadLastReceiptHash(tx);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<std::vector<ReceiptChainEntry>> ListReceiptChain(std::int64_t after_seq,
                                                            int limit) override {
        if (auto s = rules::ValidateChainPage(limit); !s) return s.error();
        std::vector<ReceiptChainEntry> out;
        auto s = pool_->Run("list receipt chain", [&](pqxx::connection_base& c) -> Status {
            out.clear();
            pg::Params p;
            const std::string after = p.Int(after_seq);
            // A chain_seq lives in exactly one of the two tables: a deletion moves the row.
            const std::string sql =
                Sql({"SELECT ", kReceiptColumns,
                     ", chain_seq, FALSE FROM receipts WHERE chain_seq > ", after,
                     " UNION ALL SELECT receipt_id, debate_id, content_hash, previous_hash, "
                     "receipt_created_at, '', chain_seq, TRUE FROM receipt_deletions WHERE "
                     "chain_seq > ",
                     after, " ORDER BY chain_seq LIMIT ", p.Int(limit)});
            pqxx::nontransaction tx(c);
            for (const auto& row : pg::Exec(tx, sql, p)) {
                ReceiptChainEntry e;
                e.receipt = ReadReceipt(row);
                e.chain_seq = pg::Int(row, 6);
                e.tombstone = pg::OptBool(row, 7).value_or(false);
                out.push_back(std::move(e));
            }
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<LegalHold> SetLegalHold(const std::string& id, const std::string& reason,
                                   const std::string& matter_id, const std::string& placed_by,
                                   const std::string& now) override {
        if (auto s = rules::ValidateHoldReason(reason); !s) return s.error();
        Result<LegalHold> out;
        auto s = pool_->Run("place legal hold", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            auto receipt = ResolveReceipt(tx, id);
            if (!receipt) return receipt.error();
            pg::Params p;
            const std::string sql =
                Sql({"UPDATE receipts SET legal_hold = TRUE, legal_hold_reason = ", p.Text(reason),
                     ", legal_hold_matter_id = ", p.Text(matter_id), ", legal_hold_placed_by = ",
                     p.Text(placed_by), ", legal_hold_placed_at = ", p.Text(now),
                     " WHERE receipt_id = ", p.Text(receipt->receipt_id)});
            if (pg::Exec(tx, sql, p).affected_rows() == 0) {
                // Deleted by a cleanup between the lookup and the update.
                auto again = ResolveReceipt(tx, id);
                return again ? rules::ReceiptNotFound(id) : again.error();
            }
            out = ReadHoldOf(tx, receipt->receipt_id);
            if (!out) return out.error();
            tx.commit();
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<LegalHold> ReleaseLegalHold(const std::string& id) override {
        Result<LegalHold> out;
        auto s = pool_->Run("release legal hold", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            auto receipt = ResolveReceipt(tx, id);
            if (!receipt) return receipt.error();
            pg::Params lp;
            const pqxx::result locked =
                pg::Exec(tx,
                         Sql({"SELECT ", kHoldColumns, " FROM receipts WHERE receipt_id = ",
                              lp.Text(receipt->receipt_id), " FOR UPDATE"}),
                         lp);
            if (locked.empty()) return rules::ReceiptNotFound(id);
            out = ReadHold(locked[0]);
            pg::Params p;
            pg::Exec(tx,
                     Sql({"UPDATE receipts SET legal_hold = FALSE, legal_hold_reason = '', "
                          "legal_hold_matter_id = '', legal_hold_placed_by = '', "
                          "legal_hold_placed_at = NULL WHERE receipt_id = ",
                          p.Text(receipt->receipt_id)}),
                     p);
            tx.commit();
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<LegalHold> GetLegalHold(const std::string& id) override {
        Result<LegalHold> out;
        auto s = pool_->Run("read legal hold", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            auto receipt = ResolveReceipt(tx, id);
            if (!receipt) return receipt.error();
            out = ReadHoldOf(tx, receipt->receipt_id);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<std::vector<ReceiptDeletion>> DeleteExpiredReceipts(
        const ExpiredReceiptsDeletion& request) override {
        if (auto s = rules::ValidateExpiredDeletion(request); !s) return s.error();
        std::vector<ReceiptDeletion> out;
        auto s = pool_->Run("delete expired receipts", [&](pqxx::connection_base& c) -> Status {
            out.clear();
            pqxx::work tx(c);
            // The chain's lock, as FinishDebate takes it: the chain changes one writer at a
            // time. FOR UPDATE re-checks legal_hold after waiting for a concurrent hold.
            pg::Params lock;
            pg::Exec(tx, "SELECT pg_advisory_xact_lock(" + lock.Int(pg::kReceiptChainLockKey) + ")",
                     lock);
            pg::Params p;
            const std::string select =
                Sql({"SELECT r.receipt_id, r.chain_seq, r.debate_id, r.content_hash, "
                     "r.previous_hash, r.created_at, COALESCE(d.verdict, '') FROM receipts r "
                     "LEFT JOIN debates d ON d.id = r.debate_id WHERE r.created_at < ",
                     p.Text(request.cutoff), " AND NOT r.legal_hold ORDER BY r.chain_seq LIMIT ",
                     p.Int(request.limit), " FOR UPDATE OF r"});
            for (const auto& row : pg::Exec(tx, select, p)) {
                ReceiptDeletion d;
                d.deletion_id = rules::NewDeletionId();
                d.receipt_id = pg::Text(row, 0);
                d.chain_seq = pg::Int(row, 1);
                d.debate_id = pg::Text(row, 2);
                d.content_hash = pg::Text(row, 3);
                d.previous_hash = pg::OptText(row, 4);
                d.receipt_created_at = pg::Text(row, 5);
                d.verdict = pg::Text(row, 6);
                d.deleted_at = request.now;
                d.reason = request.reason;
                d.operator_name = request.operator_name;
                d.metadata_json = request.metadata_json;
                out.push_back(std::move(d));
            }
            for (const auto& d : out) {
                pg::Params ip;
                const std::string insert = Sql({"INSERT INTO receipt_deletions (",
                                                rules::kDeletionColumns,
                                                ") VALUES (",
                                                ip.Text(d.deletion_id),
                                                ", ",
                                                ip.Text(d.receipt_id),
                                                ", ",
                                                ip.Int(d.chain_seq),
                                                ", ",
                                                ip.Text(d.debate_id),
                                                ", ",
                                                ip.Text(d.content_hash),
                                                ", ",
                                                ip.OptText(d.previous_hash),
                                                ", ",
                                                ip.Text(d.receipt_created_at),
                                                ", ",
                                                ip.Text(d.verdict),
                                                ", ",
                                                ip.Text(d.deleted_at),
                                                ", ",
                                                ip.Text(d.reason),
                                                ", ",
                                                ip.Text(d.operator_name),
                                                ", ",
                                                ip.Text(d.metadata_json),
                                                ")"});
                pg::Exec(tx, insert, ip);
                pg::Params dp;
                pg::Exec(tx, "DELETE FROM receipts WHERE receipt_id = " + dp.Text(d.receipt_id),
                         dp);
            }
            tx.commit();
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<ExpiredReceipts> FindExpiredReceipts(const std::string& cutoff, int limit) override {
        if (auto s = rules::ValidateExpiredQuery(cutoff, limit); !s) return s.error();
        ExpiredReceipts out;
        auto s = pool_->Run("find expired receipts", [&](pqxx::connection_base& c) -> Status {
            out = ExpiredReceipts{};
            Snapshot tx(c);  // counts and ids agree
            pg::Params p;
            const pqxx::result counts =
                pg::Exec(tx,
                         "SELECT COUNT(*) FILTER (WHERE NOT legal_hold), COUNT(*) FILTER (WHERE "
                         "legal_hold) FROM receipts WHERE created_at < " +
                             p.Text(cutoff),
                         p);
            out.deletable = pg::Int(counts[0], 0);
            out.held = pg::Int(counts[0], 1);
            pg::Params ip;
            const std::string ids =
                Sql({"SELECT receipt_id FROM receipts WHERE created_at < ", ip.Text(cutoff),
                     " AND NOT legal_hold ORDER BY chain_seq LIMIT ", ip.Int(limit)});
            for (const auto& row : pg::Exec(tx, ids, ip))
                out.receipt_ids.push_back(pg::Text(row, 0));
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<ReceiptDeletionPage> ListReceiptDeletions(int limit, int offset,
                                                     const std::string& reason) override {
        if (auto s = rules::ValidatePage(limit, offset); !s) return s.error();
        ReceiptDeletionPage page;
        auto s = pool_->Run("list receipt deletions", [&](pqxx::connection_base& c) -> Status {
            page.items.clear();
            pg::Params p;
            const std::string where =
                reason.empty() ? std::string() : " WHERE reason = " + p.Text(reason);
            Snapshot tx(c);  // total and items agree
            page.total =
                pg::Int(pg::Exec(tx, "SELECT COUNT(*) FROM receipt_deletions" + where, p)[0], 0);
            pg::Params lp = p;
            const std::string sql =
                Sql({"SELECT ", rules::kDeletionColumns, " FROM receipt_deletions", where,
                     " ORDER BY deleted_at DESC, chain_seq DESC LIMIT ", lp.Int(limit), " OFFSET ",
                     lp.Int(offset)});
            for (const auto& row : pg::Exec(tx, sql, lp)) page.items.push_back(ReadDeletion(row));
            return {};
        });
        if (!s) return s.error();
        return page;
    }

    Result<ReceiptRetentionCounts> CountReceiptsForRetention(
        const std::vector<std::string>& bounds) override {
        if (auto s = rules::ValidateRetentionBounds(bounds); !s) return s.error();
        ReceiptRetentionCounts out;
        auto s =
            pool_->Run("count receipts for retention", [&](pqxx::connection_base& c) -> Status {
                out = ReceiptRetentionCounts{};
                pg::Params p;
                std::string sql =
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE legal_hold), "
                    "COALESCE(MIN(created_at), ''), COALESCE(MAX(created_at), '')";
                for (const auto& b : bounds) {
                    const std::string bound = p.Text(b);
                    sql += ", COUNT(*) FILTER (WHERE created_at < " + bound +
                           "), COUNT(*) FILTER (WHERE created_at < " + bound + " AND legal_hold)";
                }
                sql += " FROM receipts";
                Snapshot tx(c);
                const pqxx::result r = pg::Exec(tx, sql, p);
                out.total = pg::Int(r[0], 0);
                out.held = pg::Int(r[0], 1);
                out.oldest_created_at = pg::Text(r[0], 2);
                out.newest_created_at = pg::Text(r[0], 3);
                for (std::size_t i = 0; i < bounds.size(); ++i) {
                    out.created_before.push_back(pg::Int(r[0], static_cast<int>(4 + 2 * i)));
                    out.held_created_before.push_back(pg::Int(r[0], static_cast<int>(5 + 2 * i)));
                }
                out.tombstones = pg::Int(tx.exec("SELECT COUNT(*) FROM receipt_deletions")[0], 0);
                return {};
            });
        if (!s) return s.error();
        return out;
    }

    Status Ping() override {
        return pool_->Run("ping", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            const pqxx::result r = tx.exec("SELECT 1");
            if (r.size() != 1 || pg::Int(r[0], 0) != 1)
                return MakeError(ErrorCode::kStorage, "pg: ping: unexpected answer to SELECT 1");
            return {};
        });
    }

    Status RecordReceiptKey(const ReceiptKeyRow& row) override {
        if (auto s = rules::ValidateReceiptKey(row); !s) return s;
        return pool_->Run("record receipt key", [&](pqxx::connection_base& c) -> Status {
            pg::Params p;
            const std::string sql = Sql(
                {"INSERT INTO receipt_signing_keys (key_id, algorithm, public_key, sealed_secret, "
                 "first_seen_at, last_seen_at, retired_at) VALUES (",
                 p.Text(row.key_id), ", ", p.Text(row.algorithm), ", ", p.Text(row.public_key),
                 ", ", p.Text(row.sealed_secret), ", ", p.Text(row.first_seen_at), ", ",
                 p.Text(row.last_seen_at), ", ", p.Text(row.retired_at),
                 ") ON CONFLICT (key_id) DO UPDATE SET "
                 "public_key = CASE WHEN EXCLUDED.public_key <> '' THEN EXCLUDED.public_key "
                 "ELSE receipt_signing_keys.public_key END, "
                 "sealed_secret = CASE WHEN EXCLUDED.sealed_secret <> '' THEN "
                 "EXCLUDED.sealed_secret ELSE receipt_signing_keys.sealed_secret END, "
                 "first_seen_at = LEAST(receipt_signing_keys.first_seen_at, "
                 "EXCLUDED.first_seen_at), "
                 "last_seen_at = GREATEST(receipt_signing_keys.last_seen_at, "
                 "EXCLUDED.last_seen_at), "
                 "retired_at = EXCLUDED.retired_at"});
            pqxx::work tx(c);
            pg::Exec(tx, sql, p);
            tx.commit();
            return {};
        });
    }

    Result<std::vector<ReceiptKeyRow>> ListReceiptKeys() override {
        std::vector<ReceiptKeyRow> out;
        auto s = pool_->Run("list receipt keys", [&](pqxx::connection_base& c) -> Status {
            out.clear();
            pqxx::read_transaction tx(c);
            const pqxx::result r = tx.exec(
                "SELECT key_id, algorithm, public_key, sealed_secret, first_seen_at, "
                "last_seen_at, retired_at FROM receipt_signing_keys "
                "ORDER BY first_seen_at, key_id");
            for (const auto& row : r) {
                out.push_back({pg::Text(row, 0), pg::Text(row, 1), pg::Text(row, 2),
                               pg::Text(row, 3), pg::Text(row, 4), pg::Text(row, 5),
                               pg::Text(row, 6)});
            }
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<bool> ClaimScheduledRun(const std::string& job, const std::string& slot,
                                   const std::string& instance, const std::string& now) override {
        if (auto s = rules::ValidateScheduledRun(job, slot, instance); !s) return s.error();
        bool claimed = false;
        auto s = pool_->Run("claim scheduled run", [&](pqxx::connection_base& c) -> Status {
            pg::Params p;
            const std::string sql =
                Sql({"INSERT INTO scheduled_runs (job, slot, instance, claimed_at) VALUES (",
                     p.Text(job), ", ", p.Text(slot), ", ", p.Text(instance), ", ", p.Text(now),
                     ") ON CONFLICT (job, slot) DO NOTHING"});
            pqxx::work tx(c);
            claimed = pg::Exec(tx, sql, p).affected_rows() > 0;
            tx.commit();
            return {};
        });
        if (!s) return s.error();
        return claimed;
    }

    Status FinishScheduledRun(const std::string& job, const std::string& slot,
                              const std::string& instance, const std::string& status,
                              const std::string& detail, const std::string& now) override {
        return pool_->Run("finish scheduled run", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            pg::Params rp;
            const std::string read =
                Sql({"SELECT instance FROM scheduled_runs WHERE job = ", rp.Text(job),
                     " AND slot = ", rp.Text(slot), " FOR UPDATE"});
            const pqxx::result r = pg::Exec(tx, read, rp);
            if (r.empty()) return rules::ScheduledRunNotFound(job, slot);
            if (pg::Text(r[0], 0) != instance) {
                return rules::ScheduledRunNotOurs(job, slot, pg::Text(r[0], 0));
            }
            pg::Params p;
            const std::string sql =
                Sql({"UPDATE scheduled_runs SET status = ", p.Text(status),
                     ", detail = ", p.Text(detail), ", finished_at = ", p.Text(now),
                     " WHERE job = ", p.Text(job), " AND slot = ", p.Text(slot)});
            pg::Exec(tx, sql, p);
            tx.commit();
            return {};
        });
    }

    Status ProbeWrite() override {
        return pool_->Run("write probe", [&](pqxx::connection_base& c) -> Status {
            // Version -1 never exists outside this transaction (a concurrent probe of
            // another instance waits on the key, then finds it gone).
            pqxx::work tx(c);
            tx.exec(
                "INSERT INTO schema_migrations (version, name, applied_at, additive) "
                "VALUES (-1, repeat('x', 16384), '', TRUE)");
            tx.exec("DELETE FROM schema_migrations WHERE version = -1");
            tx.commit();
            return {};
        });
    }

private:
    std::shared_ptr<PgPool> pool_;
    std::shared_ptr<PgPool> lease_pool_;
};

std::unique_ptr<Store> MakePgStore(std::shared_ptr<PgPool> pool,
                                   std::shared_ptr<PgPool> lease_pool) {
    return std::make_unique<PgStore>(std::move(pool), std::move(lease_pool));
}

PgPoolOptions LeasePoolOptions(const PgPoolOptions& options) {
    PgPoolOptions lease = options;
    lease.pool_size = 1;
    lease.max_overflow = 1;
    lease.acquire_timeout = std::min(options.acquire_timeout, std::chrono::milliseconds(2000));
    return lease;
}

Result<PgStores> OpenPgStores(const PgPoolOptions& options, bool migrate,
                              const common::Clock* clock) {
    auto pool = PgPool::Create(options, clock);
    if (!pool) return pool.error();
    auto status = migrate ? ApplyPgMigrations(**pool) : CheckPgMigrations(**pool);
    if (!status) return status.error();
    if (!status->pending.empty()) {
        return MakeError(ErrorCode::kStorage, "database schema version " +
                                                  std::to_string(status->current_version) +
                                                  " is older than this binary needs (" +
                                                  std::to_string(status->latest_version) +
                                                  "); run `aragora db migrate --upgrade`");
    }
    auto lease_pool = PgPool::Create(LeasePoolOptions(options), clock);
    if (!lease_pool) return lease_pool.error();
    PgStores stores;
    stores.store = MakePgStore(*pool, std::move(*lease_pool));
    stores.auth = MakePgAuthStore(*pool);
    stores.keys = MakePgKeyStore(*pool);
    stores.pool = std::move(*pool);
    return stores;
}

}  // namespace aragora::storage
