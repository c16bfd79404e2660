#include "storage/sqlite/sqlite_auth_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.hpp"
#include "sqlite_test_support.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::RawDb;
using test_support::TempDir;

constexpr const char* kNow = "2026-03-01T12:00:00.000Z";
constexpr const char* kEarlier = "2026-03-01T11:00:00.000Z";
constexpr const char* kLater = "2026-03-02T12:00:00.000Z";

UserRecord MakeUser(const std::string& id, const std::string& email,
                    const std::string& created_at = "2026-01-01T00:00:00.000Z") {
    UserRecord u;
    u.id = id;
    u.email = email;
    u.name = "Name of " + id;
    u.role = "member";
    u.org_id = "org_1";
    u.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$salt$hash-" + id;
    u.created_at = created_at;
    u.updated_at = created_at;
    return u;
}

AuditEntry MakeAudit(const std::string& at, const std::string& action,
                     const std::string& actor = "usr_alice") {
    AuditEntry e;
    e.at = at;
    e.actor = actor;
    e.action = action;
    e.target = "usr_bob";
    e.ip = "203.0.113.7";
    e.correlation_id = "req_" + action;
    e.details_json = R"({"role":"admin"})";
    return e;
}

DebateRecord MakeDebate(const std::string& id, const std::string& status,
                        const std::string& created_at, const std::string& created_by) {
    DebateRecord d;
    d.id = id;
    d.task = "task of " + id;
    d.status = events::ParseDebateStatus(status).value();
    d.agents = {"claude", "gpt"};
    d.rounds = 2;
    d.created_at = created_at;
    d.created_by = created_by;
    d.org_id = created_by.empty() ? "" : "org_1";
    d.spec_json = R"({"task":"task of )" + id + R"("})";
    d.result_json = R"({"usage":{"tokens":)" + std::to_string(id.size()) + "}}";
    return d;
}

class SqliteAuthStoreTest : public ::testing::Test {
public:
    void SetUp() override {
        path_ = (dir_.path() / "data" / "aragora.sqlite3").string();
        auto stores = OpenSqliteStores({path_}, /*migrate=*/true);
        ASSERT_TRUE(stores.ok()) << stores.error().message;
        store_ = std::move(stores->store);
        auth_ = std::move(stores->auth);
    }

    void AddUser(const UserRecord& u) {
        auto s = auth_->CreateUser(u);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }
    void AddKey(const ApiKeyRecord& k) {
        auto s = auth_->CreateApiKey(k);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }
    void AddToken(const RefreshTokenRecord& t) {
        auto s = auth_->CreateRefreshToken(t);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }

    // "hash|revoked_at|replaced_by" of every token of the family, by hash.
    std::vector<std::string> Family(const std::string& family_id) {
        RawDb raw(path_);
        return raw.Column(("SELECT token_hash || '|' || COALESCE(revoked_at, '') || '|' || "
                           "COALESCE(replaced_by, '') FROM refresh_tokens WHERE family_id = '" +
                           family_id + "' ORDER BY token_hash")
                              .c_str());
    }

    TempDir dir_;
    std::string path_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<AuthStore> auth_;
};

// ---------------------------------------------------------------- users

// ---------------------------------------------------------------- API keys

// ---------------------------------------------------------------- refresh tokens

// ---------------------------------------------------------------- audit

// ---------------------------------------------------------------- usage

// ---------------------------------------------------------------- opening, migration

TEST(SqliteAuthStoreOpenTest, SharedStoresWorkInMemory) {
    auto stores = OpenSqliteStores({":memory:"}, /*migrate=*/true);
    ASSERT_TRUE(stores.ok()) << stores.error().message;
    ASSERT_TRUE(
        stores->store->CreateDebate(MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z", "u"))
            .ok());
    // The auth store sees the same database.
    auto usage = stores->auth->ListUsage("", "u", 10);
    ASSERT_TRUE(usage.ok()) << usage.error().message;
    EXPECT_EQ(usage->size(), 1u);
    // Either may outlive the other.
    stores->store.reset();
    EXPECT_TRUE(stores->auth->CreateUser(MakeUser("usr_a", "a@example.com")).ok());
    EXPECT_EQ(*stores->auth->CountUsers(), 1);
}

TEST(SqliteAuthStoreOpenTest, OwnConnectionBesideAStoreAndMigrationChecks) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    auto missing = OpenSqliteAuthStore({path}, /*migrate=*/false);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::kStorage);
    EXPECT_EQ(OpenSqliteAuthStore({(dir.path() / "x.db").string()}, true).error().code,
              ErrorCode::kValidation);

    auto store = OpenSqliteStore({path}, /*migrate=*/true);
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto auth = OpenSqliteAuthStore({path}, /*migrate=*/false);
    ASSERT_TRUE(auth.ok()) << auth.error().message;
    ASSERT_TRUE((*store)
                    ->CreateDebate(MakeDebate("d1", "completed", "2026-01-01T00:00:00.000Z", "u"))
                    .ok());
    EXPECT_EQ((*auth)->ListUsage("", "", 10)->size(), 1u);
    EXPECT_TRUE((*auth)->CreateUser(MakeUser("usr_a", "a@example.com")).ok());
}

TEST(SqliteAuthStoreOpenTest, MigratingAVersion1DatabaseKeepsItsDebates) {
    TempDir dir;
    const std::string path = (dir.path() / "aragora.sqlite3").string();
    {
        // What release 1 left behind: its schema, its version row, a debate of its own.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        sqlite3_close(db);
        RawDb raw(path);
        raw.Exec(SqliteMigrations().front().sql.c_str());
        raw.Exec(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, "
            "applied_at TEXT, additive INTEGER NOT NULL DEFAULT 1);"
            "INSERT INTO schema_migrations VALUES (1, 'debates, debate_events, receipts', "
            "'2025-12-01T00:00:00.000Z', 1);"
            "INSERT INTO debates (id, task, status, agents, rounds, created_at, spec_json) "
            "VALUES ('old', 'an old task', 'completed', '[\"claude\"]', 2, "
            "'2025-12-02T00:00:00.000Z', '{\"task\":\"an old task\"}')");
    }
    auto check = CheckSqliteMigrations(path);
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_EQ(check->current_version, 1);
    ASSERT_EQ(check->pending.size(), SqliteMigrations().size() - 1);
    EXPECT_EQ(check->pending.front().version, 2);
    EXPECT_TRUE(check->pending.front().additive);
    auto unmigrated = OpenSqliteAuthStore({path}, /*migrate=*/false);
    ASSERT_FALSE(unmigrated.ok());
    EXPECT_NE(unmigrated.error().message.find("aragora db migrate --upgrade"), std::string::npos);

    auto stores = OpenSqliteStores({path}, /*migrate=*/true);
    ASSERT_TRUE(stores.ok()) << stores.error().message;
    auto old = stores->store->GetDebate("old");
    ASSERT_TRUE(old.ok()) << old.error().message;
    EXPECT_EQ(old->task, "an old task");
    EXPECT_EQ(old->agents, std::vector<std::string>{"claude"});
    EXPECT_EQ(old->created_by, "");
    EXPECT_EQ(old->org_id, "");
    auto usage = stores->auth->ListUsage("", "", 10);
    ASSERT_TRUE(usage.ok()) << usage.error().message;
    ASSERT_EQ(usage->size(), 1u);
    EXPECT_EQ(usage->front().created_by, "");
    EXPECT_TRUE(stores->auth->CreateUser(MakeUser("usr_a", "a@example.com")).ok());
    EXPECT_TRUE(stores->auth->AppendAudit(MakeAudit(kNow, "user_added")).ok());

    // Release 1 still works on the migrated schema: its insert names only its columns.
    RawDb(path).Exec(
        "INSERT INTO debates (id, task, status, created_at) "
        "VALUES ('from_v1', 't', 'pending', '2026-01-01T00:00:00.000Z')");
    EXPECT_EQ(stores->store->GetDebate("from_v1")->created_by, "");
    EXPECT_EQ(CheckSqliteMigrations(path)->current_version, SqliteMigrations().back().version);
}

}  // namespace
}  // namespace aragora::storage
