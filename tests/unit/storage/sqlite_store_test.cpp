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
