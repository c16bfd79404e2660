#include "storage/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sqlite_test_support.hpp"
#include "storage/sqlite/sqlite_db.hpp"

namespace aragora::storage {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;

using test_support::RawDb;
using test_support::TempDir;

int LatestVersion() { return SqliteMigrations().back().version; }

// ---------------------------------------------------------------- migrations

// The disk, not the statement: SQLITE_FULL (here a page cap, as a full disk answers) is
// kUnavailable ("storage unavailable: ..."), which the API answers 503 with Retry-After and
// the debate service retries; a constraint is still kConflict / kStorage.
TEST(SqliteErrorTest, FullDatabaseIsUnavailableAndConstraintsAreNot) {
    TempDir dir;
    auto db = sqlite::OpenReadWrite((dir.path() / "full.sqlite3").string(), 1000, true);
    ASSERT_TRUE(db.ok()) << db.error().message;
    ASSERT_TRUE(
        sqlite::Exec(db->get(), "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)", "create").ok());
    // max_page_count below the current size sets it to the current size: nothing may grow.
    ASSERT_TRUE(sqlite::Exec(db->get(), "PRAGMA max_page_count = 1", "cap").ok());
    auto insert =
        sqlite::Stmt::Prepare(db->get(), "INSERT INTO t VALUES (1, zeroblob(200000))", "insert");
    ASSERT_TRUE(insert.ok()) << insert.error().message;
    auto full = insert->Run();
    ASSERT_FALSE(full.ok());
    EXPECT_EQ(full.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(full.error().message.rfind("storage unavailable: sqlite: insert: ", 0), 0u)
        << full.error().message;
    EXPECT_NE(full.error().message.find("full"), std::string::npos) << full.error().message;

    ASSERT_TRUE(sqlite::Exec(db->get(), "PRAGMA max_page_count = 100000", "uncap").ok());
    ASSERT_TRUE(sqlite::Exec(db->get(), "INSERT INTO t VALUES (1, x'00')", "insert").ok());
    auto duplicate = sqlite::Exec(db->get(), "INSERT INTO t VALUES (1, x'00')", "insert again");
    EXPECT_EQ(duplicate.error().code, ErrorCode::kConflict);
    auto bad = sqlite::Exec(db->get(), "INSERT INTO nowhere VALUES (1)", "insert nowhere");
    EXPECT_EQ(bad.error().code, ErrorCode::kStorage);
}

// The write probe commits and removes its row: it can run again and again, and no
// migration version appears.
TEST(SqliteWriteProbeTest, LeavesNothingBehind) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    auto store = OpenSqliteStore({path}, /*migrate=*/true);
    ASSERT_TRUE(store.ok()) << store.error().message;
    for (int i = 0; i < 3; ++i) {
        auto probed = (*store)->ProbeWrite();
        ASSERT_TRUE(probed.ok()) << probed.error().message;
    }
    RawDb raw(path);
    EXPECT_EQ(raw.Column("SELECT count(*) FROM schema_migrations WHERE version < 1"),
              std::vector<std::string>{"0"});
    auto status = CheckSqliteMigrations(path);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_TRUE(status->pending.empty());
    EXPECT_TRUE(status->unknown_versions.empty());
}

TEST(SqliteMigrationsTest, CheckOnMissingFileReportsAllPendingAndCreatesNothing) {
    TempDir dir;
    const auto path = dir.path() / "sub" / "aragora.sqlite3";
    auto status = CheckSqliteMigrations(path.string());
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(status->current_version, 0);
    EXPECT_EQ(status->latest_version, LatestVersion());
    ASSERT_EQ(status->pending.size(), SqliteMigrations().size());
    EXPECT_EQ(status->pending.front().version, 1);
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(dir.path() / "sub"));
}

TEST(SqliteMigrationsTest, UpgradeAppliesOnceAndCheckThenReportsNothingPending) {
    TempDir dir;
    const std::string path = (dir.path() / "data" / "aragora.sqlite3").string();

    auto first = ApplySqliteMigrations(path);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->current_version, LatestVersion());
    EXPECT_TRUE(first->pending.empty());
    EXPECT_TRUE(fs::exists(path));

    std::vector<std::string> applied_before, applied_after;
    {
        RawDb raw(path);
        applied_before = raw.Column(
            "SELECT version || '|' || name || '|' || applied_at || '|' || additive "
            "FROM schema_migrations ORDER BY version");
        EXPECT_EQ(raw.Column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
        const auto tables =
            raw.Column("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
        for (const char* t : {"api_keys", "audit_log", "debate_events", "debates", "receipts",
                              "refresh_tokens", "schema_migrations", "users"})
            EXPECT_NE(std::find(tables.begin(), tables.end(), t), tables.end()) << t;
    }
    ASSERT_EQ(applied_before.size(), SqliteMigrations().size());
    EXPECT_EQ(applied_before.front().rfind("1|", 0), 0u);
    EXPECT_EQ(applied_before.front().back(), '1');  // additive

    auto second = ApplySqliteMigrations(path);
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(second->current_version, LatestVersion());
    EXPECT_TRUE(second->pending.empty());
    {
        RawDb raw(path);
        applied_after = raw.Column(
            "SELECT version || '|' || name || '|' || applied_at || '|' || additive "
            "FROM schema_migrations ORDER BY version");
    }
    EXPECT_EQ(applied_after, applied_before);  // a no-op: not even applied_at changed

    auto check = CheckSqliteMigrations(path);
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_EQ(check->current_version, LatestVersion());
    EXPECT_EQ(check->latest_version, LatestVersion());
    EXPECT_TRUE(check->pending.empty());
    EXPECT_TRUE(check->unknown_versions.empty());
}

TEST(SqliteMigrationsTest, NewerAdditiveVersionStillOpens) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    ASSERT_TRUE(ApplySqliteMigrations(path).ok());
    RawDb(path).Exec(
        "INSERT INTO schema_migrations (version, name, applied_at, additive) "
        "VALUES (999, 'from a newer release', '2030-01-01T00:00:00.000Z', 1)");

    auto check = CheckSqliteMigrations(path);
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_EQ(check->current_version, 999);
    EXPECT_EQ(check->latest_version, LatestVersion());
    EXPECT_TRUE(check->pending.empty());
    EXPECT_EQ(check->unknown_versions, std::vector<int>{999});

    auto apply = ApplySqliteMigrations(path);
    ASSERT_TRUE(apply.ok()) << apply.error().message;
    EXPECT_TRUE(apply->pending.empty());

    for (bool migrate : {true, false}) {
        auto store = OpenSqliteStore({path}, migrate);
        ASSERT_TRUE(store.ok()) << store.error().message;
        EXPECT_TRUE((*store)->Ping().ok());
    }
}

TEST(SqliteMigrationsTest, NewerNonAdditiveVersionIsRefused) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    ASSERT_TRUE(ApplySqliteMigrations(path).ok());
    RawDb(path).Exec(
        "INSERT INTO schema_migrations (version, name, applied_at, additive) "
        "VALUES (1000, 'drops a column', '2030-01-01T00:00:00.000Z', 0)");
    const std::string expected = "database schema version 1000 is newer than this binary " +
                                 std::string("supports (") + std::to_string(LatestVersion()) +
                                 ") and not backward compatible; upgrade aragora";

    auto apply = ApplySqliteMigrations(path);
    ASSERT_FALSE(apply.ok());
    EXPECT_EQ(apply.error().code, ErrorCode::kStorage);
    EXPECT_EQ(apply.error().message, expected);

    auto check = CheckSqliteMigrations(path);
    ASSERT_FALSE(check.ok());
    EXPECT_EQ(check.error().message, expected);

    for (bool migrate : {true, false}) {
        auto store = OpenSqliteStore({path}, migrate);
        ASSERT_FALSE(store.ok());
        EXPECT_EQ(store.error().message, expected);
    }
}

TEST(SqliteMigrationsTest, OpenWithoutMigrateNeedsAMigratedDatabase) {
    TempDir dir;
    const auto path = dir.path() / "aragora.sqlite3";
    auto missing = OpenSqliteStore({path.string()}, /*migrate=*/false);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::kStorage);
    EXPECT_FALSE(fs::exists(path));

    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);  // an empty database
    sqlite3_close(db);
    auto unmigrated = OpenSqliteStore({path.string()}, /*migrate=*/false);
    ASSERT_FALSE(unmigrated.ok());
    EXPECT_NE(unmigrated.error().message.find("aragora db migrate --upgrade"), std::string::npos)
        << unmigrated.error().message;
}

TEST(SqliteMigrationsTest, RefusesDotDbFileNames) {
    TempDir dir;
    const auto path = dir.path() / "aragora.db";
    auto store = OpenSqliteStore({path.string()}, true);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code, ErrorCode::kValidation);
    EXPECT_FALSE(ApplySqliteMigrations(path.string()).ok());
    EXPECT_FALSE(fs::exists(path));
}

// What a database of release 6 holds: migrations 1-6 and their versions, debate_events still
// WITHOUT ROWID.
void CreateVersion6Database(const std::string& path) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_close(db);
    RawDb raw(path);
    raw.Exec("PRAGMA journal_mode=WAL");
    raw.Exec(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, "
        "applied_at TEXT, additive INTEGER NOT NULL DEFAULT 1)");
    for (const auto& m : SqliteMigrations()) {
        if (m.version > 6) break;
        raw.Exec(m.sql.c_str());
        const std::string record = "INSERT INTO schema_migrations VALUES (" +
                                   std::to_string(m.version) + ", '" + m.name +
                                   "', '2026-11-01T00:00:00.000Z', 1)";
        raw.Exec(record.c_str());
    }
}

// The `detail` column of EXPLAIN QUERY PLAN, one line per step.
std::vector<std::string> QueryPlan(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    std::vector<std::string> out;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        throw std::runtime_error("open " + path);
    }
    sqlite3_stmt* stmt = nullptr;
    const std::string explain = "EXPLAIN QUERY PLAN " + sql;
    if (sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
        const std::string err = sqlite3_errmsg(db);
        sqlite3_close(db);
        throw std::runtime_error(err + ": " + sql);
    }
    while (sqlite3_step(stmt) == SQLITE_ROW)
        out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
}

events::Event OldEvent(const std::string& debate_id, std::int64_t seq, std::size_t data_bytes) {
    events::Event e;
    e.debate_id = debate_id;
    e.seq = seq;
    e.type = seq % 2 == 0 ? "token_delta" : "critique";
    e.round = static_cast<int>(seq / 3);
    e.agent = "agent-" + std::to_string(seq % 4);
    e.timestamp = 1790000000.25 + static_cast<double>(seq);
    e.data_json =
        R"({"text":")" + std::string(data_bytes, static_cast<char>('a' + seq % 26)) + R"("})";
    return e;
}

// Migration 7 rebuilds debate_events as a rowid table: a version-6 database with events
// (some larger than a WITHOUT ROWID page keeps in place, written in an order that is not
// the key's) migrates, and every event reads back, in seq order, unchanged; the declared
// key is still unique, the foreign key still cascades, and release 6's own insert still
// works on the migrated table.
TEST(SqliteMigrationsTest, Version6EventsMigrateToTheRowidTableAndReadBackInOrder) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    CreateVersion6Database(path);
    std::vector<events::Event> written;
    {
        RawDb raw(path);
        raw.Exec(
            "INSERT INTO debates (id, task, status, created_at) VALUES "
            "('d_b', 't', 'completed', '2026-11-02T00:00:00.000Z'), "
            "('d_a', 't', 'running', '2026-11-02T00:00:01.000Z')");
        // Interleaved as commits of two debates running together, d_b's seqs backwards.
        for (std::int64_t seq = 1; seq <= 40; ++seq) {
            written.push_back(OldEvent("d_a", seq, seq % 5 == 0 ? 3000 : 40 + 10 * seq));
            written.push_back(OldEvent("d_b", 41 - seq, seq % 7 == 0 ? 6000 : 100));
        }
        for (const auto& e : written) {
            const std::string sql =
                "INSERT INTO debate_events (debate_id, seq, type, round, agent, timestamp, data) "
                "VALUES ('" +
                e.debate_id + "', " + std::to_string(e.seq) + ", '" + e.type + "', " +
                std::to_string(e.round) + ", '" + e.agent + "', " + std::to_string(e.timestamp) +
                ", '" + e.data_json + "')";
            raw.Exec(sql.c_str());
        }
        EXPECT_EQ(raw.Column("SELECT wr FROM pragma_table_list WHERE name = 'debate_events'"),
                  std::vector<std::string>{"1"});
    }

    auto check = CheckSqliteMigrations(path);
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_EQ(check->current_version, 6);
    ASSERT_EQ(check->pending.size(), 1u);
    EXPECT_EQ(check->pending.front().version, 7);
    EXPECT_TRUE(check->pending.front().additive);

    auto store = OpenSqliteStore({path}, /*migrate=*/true);
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_EQ(CheckSqliteMigrations(path)->current_version, 7);

    for (const std::string id : {"d_a", "d_b"}) {
        auto events = (*store)->ListEvents(id, 0, 1000);
        ASSERT_TRUE(events.ok()) << events.error().message;
        ASSERT_EQ(events->size(), 40u) << id;
        for (std::size_t i = 0; i < events->size(); ++i) {
            const auto& got = (*events)[i];
            const auto want = std::find_if(written.begin(), written.end(), [&](const auto& e) {
                return e.debate_id == id && e.seq == got.seq;
            });
            ASSERT_NE(want, written.end());
            EXPECT_EQ(got.seq, static_cast<std::int64_t>(i + 1)) << id;
            EXPECT_EQ(got.type, want->type);
            EXPECT_EQ(got.round, want->round);
            EXPECT_EQ(got.agent, want->agent);
            EXPECT_DOUBLE_EQ(got.timestamp, want->timestamp);
            EXPECT_EQ(got.data_json, want->data_json);
        }
    }
    auto page = (*store)->ListEvents("d_a", 10, 3);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_EQ(page->size(), 3u);
    EXPECT_EQ(page->front().seq, 11);
    EXPECT_EQ(page->back().seq, 13);

    // A retried append is still skipped by the key, a new one lands after the old rows.
    std::vector<events::Event> more = {OldEvent("d_a", 40, 1), OldEvent("d_a", 41, 1)};
    more.front().data_json = R"({"retried":true})";
    ASSERT_TRUE((*store)->AppendEvents(more).ok());
    auto tail = (*store)->ListEvents("d_a", 39, 10);
    ASSERT_TRUE(tail.ok()) << tail.error().message;
    ASSERT_EQ(tail->size(), 2u);
    EXPECT_NE(tail->front().data_json, R"({"retried":true})");
    EXPECT_EQ(tail->back().seq, 41);

    RawDb raw(path);
    EXPECT_EQ(raw.Column("SELECT wr FROM pragma_table_list WHERE name = 'debate_events'"),
              std::vector<std::string>{"0"});
    EXPECT_EQ(raw.Column("SELECT name FROM sqlite_master WHERE name LIKE 'debate_events%' "
                         "OR tbl_name LIKE 'debate_events%' ORDER BY name"),
              (std::vector<std::string>{"debate_events", "sqlite_autoindex_debate_events_1"}));
    EXPECT_EQ(raw.Column("SELECT name FROM pragma_index_info('sqlite_autoindex_debate_events_1')"),
              (std::vector<std::string>{"debate_id", "seq"}));
    EXPECT_EQ(raw.Column("SELECT \"unique\" FROM pragma_index_list('debate_events')"),
              std::vector<std::string>{"1"});
    EXPECT_EQ(raw.Column("PRAGMA integrity_check"), std::vector<std::string>{"ok"});
    EXPECT_TRUE(raw.Column("PRAGMA foreign_key_check").empty());
    // The rows were copied in key order; new ones append after them.
    EXPECT_EQ(raw.Column("SELECT debate_id || seq FROM debate_events ORDER BY rowid LIMIT 1"),
              std::vector<std::string>{"d_a1"});
    EXPECT_EQ(raw.Column("SELECT debate_id || seq FROM debate_events ORDER BY rowid DESC LIMIT 1"),
              std::vector<std::string>{"d_a41"});

    // Release 6's insert (same text) on the migrated table; a duplicate still conflicts.
    raw.Exec(
        "INSERT INTO debate_events (debate_id, seq, type, round, agent, timestamp, data) "
        "VALUES ('d_b', 41, 'debate_end', 1, '', 1.5, '{}') "
        "ON CONFLICT (debate_id, seq) DO NOTHING");
    EXPECT_NE(raw.ExecError("INSERT INTO debate_events (debate_id, seq, type, timestamp) "
                            "VALUES ('d_b', 41, 'x', 1)"),
              "");
    EXPECT_EQ((*store)->ListEvents("d_b", 40, 10)->size(), 1u);

    // The foreign key still holds and still cascades.
    raw.Exec("PRAGMA foreign_keys=ON");
    EXPECT_NE(raw.ExecError("INSERT INTO debate_events (debate_id, seq, type, timestamp) "
                            "VALUES ('nobody', 1, 'x', 1)"),
              "");
    raw.Exec("DELETE FROM debates WHERE id = 'd_b'");
    EXPECT_EQ(raw.Column("SELECT count(*) FROM debate_events WHERE debate_id = 'd_b'"),
              std::vector<std::string>{"0"});
    EXPECT_EQ(raw.Column("SELECT count(*) FROM debate_events"), std::vector<std::string>{"41"});
}

// Every statement on debate_events (the store's, the re-encryption pass's, the foreign
// key's cascade) finds its rows through the (debate_id, seq) index, never a table scan.
// The texts are those of sqlite_store.cpp and sqlite_content_targets.cpp.
TEST(SqliteMigrationsTest, EveryEventQueryUsesTheDebateSeqIndex) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    ASSERT_TRUE(ApplySqliteMigrations(path).ok());
    const std::string columns = "debate_id, seq, type, round, agent, timestamp, data";
    const std::vector<std::string> queries = {
        // ListEvents
        "SELECT " + columns +
            " FROM debate_events WHERE debate_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        // AppendEndLocked: the last seq
        "SELECT COALESCE(MAX(seq), 0) FROM debate_events WHERE debate_id = ?1",
        // ReleaseLease: has the debate events?
        "SELECT 1 FROM debates WHERE id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM debate_events WHERE debate_id = ?1)",
        // re-encryption: the first page and the next ones, and one row's update
        "SELECT debate_id, seq, data FROM debate_events ORDER BY debate_id, seq LIMIT ?1",
        "SELECT debate_id, seq, data FROM debate_events WHERE (debate_id, seq) > (?2, ?3) "
        "ORDER BY debate_id, seq LIMIT ?1",
        "UPDATE debate_events SET data = ?1 WHERE debate_id = ?2 AND seq = ?3",
        // the cascade's own lookup when a debate goes
        "DELETE FROM debate_events WHERE debate_id = ?1",
    };
    for (const auto& sql : queries) {
        const auto plan = QueryPlan(path, sql);
        bool indexed = false;
        for (const auto& step : plan) {
            if (step.find("debate_events") == std::string::npos) continue;
            EXPECT_NE(step.find("USING"), std::string::npos) << sql << "\n" << step;
            indexed = indexed || step.find("sqlite_autoindex_debate_events_1") != std::string::npos;
        }
        EXPECT_TRUE(indexed) << sql;
    }
    // The insert's conflict target is the declared key.
    RawDb raw(path);
    raw.Exec(
        "INSERT INTO debates (id, task, status, created_at) "
        "VALUES ('d', 't', 'running', '2026-11-02T00:00:00.000Z')");
    raw.Exec("INSERT INTO debate_events (debate_id, seq, type, timestamp) VALUES ('d', 1, 'x', 1)");
    raw.Exec(
        "INSERT INTO debate_events (debate_id, seq, type, timestamp) VALUES ('d', 1, 'y', 2) "
        "ON CONFLICT (debate_id, seq) DO NOTHING");
    EXPECT_EQ(raw.Column("SELECT type FROM debate_events"), std::vector<std::string>{"x"});
}

// ---------------------------------------------------------------- store fixture

class SqliteStoreTest : public ::testing::Test {
public:
    void SetUp() override {
        path_ = (dir_.path() / "data" / "aragora.sqlite3").string();
        auto store = OpenSqliteStore({path_}, /*migrate=*/true);
        ASSERT_TRUE(store.ok()) << store.error().message;
        store_ = std::move(*store);
    }

    static DebateRecord MakeDebate(const std::string& id, const std::string& status,
                                   const std::string& created_at) {
        DebateRecord d;
        d.id = id;
        d.task = "task of " + id;
        d.status = events::ParseDebateStatus(status).value();
        d.agents = {"claude", "gpt"};
        d.rounds = 3;
        d.created_at = created_at;
        return d;
    }

    void Create(const DebateRecord& d) {
        auto s = store_->CreateDebate(d);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }

    static events::Event MakeEvent(const std::string& debate_id, std::int64_t seq) {
        events::Event e;
        e.debate_id = debate_id;
        e.seq = seq;
        e.type = "agent_message";
        e.timestamp = 1700000000.5 + static_cast<double>(seq);
        e.round = 1;
        e.agent = "claude";
        e.data_json = R"({"debate_id":")" + debate_id + R"(","n":)" + std::to_string(seq) + "}";
        return e;
    }

    static std::vector<events::Event> MakeEvents(const std::string& debate_id, std::int64_t from,
                                                 std::int64_t to) {
        std::vector<events::Event> out;
        for (auto seq = from; seq <= to; ++seq) out.push_back(MakeEvent(debate_id, seq));
        return out;
    }

    // A builder producing "hash-<debate id>" and remembering the previous hash it got.
    // `created_at` may disagree with insertion order (clocks of several instances).
    static ReceiptBuilder Builder(const std::string& debate_id,
                                  std::optional<std::string>* seen_previous = nullptr,
                                  std::string created_at = "2026-01-01T00:00:00.000Z") {
        return [debate_id, seen_previous, created_at](
                   const std::optional<std::string>& previous) -> common::Result<ReceiptRecord> {
            if (seen_previous != nullptr) *seen_previous = previous;
            ReceiptRecord r;
            r.receipt_id = "rcpt_" + debate_id;
            r.debate_id = debate_id;
            r.content_hash = "hash-" + debate_id;
            r.previous_hash = previous;
            r.created_at = created_at;
            r.json = R"({"receipt_id":"rcpt_)" + debate_id + R"("})";
            return r;
        };
    }

    static DebateRecord Finished(DebateRecord d) {
        d.status = events::DebateStatus::kCompleted;
        d.rounds_used = 2;
        d.consensus_method = "majority";
        d.consensus_reached = true;
        d.confidence = 0.875;
        d.verdict = "approve";
        d.final_answer = "42";
        d.dissenting_agents = {"gpt"};
        d.started_at = "2026-01-01T00:00:01.000Z";
        d.completed_at = "2026-01-01T00:00:09.000Z";
        d.duration_seconds = 8.0;
        d.result_json = R"({"votes":2})";
        return d;
    }

    std::vector<std::string> ListIds(const std::string& status, int limit = 100, int offset = 0,
                                     std::int64_t* total = nullptr) {
        auto page = store_->ListDebates({status, limit, offset});
        EXPECT_TRUE(page.ok()) << page.error().message;
        if (!page.ok()) return {};
        if (total != nullptr) *total = page->total;
        std::vector<std::string> ids;
        for (const auto& d : page->items) ids.push_back(d.id);
        return ids;
    }

    TempDir dir_;
    std::string path_;
    std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------- debates

// ---------------------------------------------------------------- finish + receipts

// ---------------------------------------------------------------- interrupted, events, ping

// A batch is inserted in runs of 32, 16, 8, 4, 2 and 1 rows, one statement each: every
// size from 0 to 70 (each run length and the joins between them) stores every row once, in
// seq order, a row already stored (retried, or twice in the batch) keeps its first text,
// and a bad row anywhere in a run fails the whole batch, after which appends go on.
TEST_F(SqliteStoreTest, BatchesOfEverySizeAcrossTheInsertRuns) {
    for (int n = 0; n <= 70; ++n) {
        const std::string id = "d" + std::to_string(n);
        Create(MakeDebate(id, "running", "2026-01-01T00:00:00.000Z"));
        auto first = MakeEvents(id, 1, n / 3);
        ASSERT_TRUE(store_->AppendEvents(first).ok()) << n;
        auto batch = MakeEvents(id, 1, n);  // its first n / 3 rows are retries
        for (auto& e : batch) {
            if (e.seq <= n / 3) e.data_json = R"({"retried":true})";
        }
        if (n > 0) batch.push_back(batch.back());  // the last row twice
        if (n > 0) batch.back().data_json = R"({"twice":true})";
        ASSERT_TRUE(store_->AppendEvents(batch).ok()) << n;
        auto got = store_->ListEvents(id, 0, 1000);
        ASSERT_TRUE(got.ok()) << got.error().message;
        ASSERT_EQ(got->size(), static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            EXPECT_EQ((*got)[i].seq, i + 1) << n;
            EXPECT_EQ((*got)[i].data_json, MakeEvent(id, i + 1).data_json) << n << " " << i;
        }
    }
    for (std::size_t bad : {0u, 5u, 31u, 32u, 47u, 55u}) {
        const std::string id = "bad" + std::to_string(bad);
        Create(MakeDebate(id, "running", "2026-01-01T00:00:00.000Z"));
        auto batch = MakeEvents(id, 1, 56);
        batch[bad].debate_id = "no_such_debate";  // foreign key violation
        ASSERT_FALSE(store_->AppendEvents(batch).ok()) << bad;
        EXPECT_TRUE(store_->ListEvents(id, 0, 1000)->empty()) << bad;
        ASSERT_TRUE(store_->AppendEvents(MakeEvents(id, 1, 56)).ok()) << bad;
        EXPECT_EQ(store_->ListEvents(id, 0, 1000)->size(), 56u) << bad;
    }
}

// ---------------------------------------------------------------- concurrency

TEST_F(SqliteStoreTest, CheckWorksWhileTheStoreIsOpen) {
    Create(MakeDebate("d1", "pending", "2026-01-01T00:00:00.000Z"));
    auto check = CheckSqliteMigrations(path_);
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_TRUE(check->pending.empty());
    EXPECT_EQ(check->current_version, LatestVersion());
    EXPECT_TRUE(store_->Ping().ok());
}

}  // namespace
}  // namespace aragora::storage
