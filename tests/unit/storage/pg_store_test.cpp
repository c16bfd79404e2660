// PostgreSQL-only behaviour: the pool (exhaustion, broken connections, statement timeout,
// recycling) and migrations (status, idempotence, the advisory lock between instances).
// The Store/AuthStore contract itself runs in the *_contract_test.cpp suites.

#include "storage/postgres/pg_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "pg_test_server.hpp"
#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/postgres/pg_sql.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::PgTestDatabase;

int LatestVersion() { return PgMigrations().back().version; }

class PgTest : public ::testing::Test {
public:
    void SetUp() override { ASSERT_EQ(db_.error(), ""); }

    PgPoolOptions Options() {
        auto dsn = BuildPgDsn(db_.url(), "");
        EXPECT_TRUE(dsn.ok()) << dsn.error().message;
        PgPoolOptions options;
        options.dsn = dsn.ok() ? *dsn : std::string();
        return options;
    }

    std::shared_ptr<PgPool> Pool(PgPoolOptions options, const common::Clock* clock = nullptr) {
        auto pool = PgPool::Create(std::move(options), clock);
        EXPECT_TRUE(pool.ok()) << pool.error().message;
        return pool.ok() ? *pool : nullptr;
    }

    // The backend pid of the connection Run() leases.
    static int BackendPid(PgPool& pool) {
        int pid = 0;
        auto s = pool.Run("pid", [&](pqxx::connection_base& c) -> common::Status {
            pqxx::nontransaction tx(c);
            pid = static_cast<int>(pg::Int(tx.exec("SELECT pg_backend_pid()")[0], 0));
            return {};
        });
        EXPECT_TRUE(s.ok()) << s.error().message;
        return pid;
    }

    std::vector<std::string> Applied() {
        return db_.Column(
            "SELECT version || '|' || name || '|' || applied_at || '|' || additive "
            "FROM schema_migrations ORDER BY version");
    }

    PgTestDatabase db_;
};

// ---------------------------------------------------------------- pool

TEST_F(PgTest, PoolOptionsAreValidated) {
    PgPoolOptions options = Options();
    options.pool_size = 0;
    EXPECT_EQ(PgPool::Create(options).error().code, ErrorCode::kValidation);
    options = Options();
    options.max_overflow = -1;
    EXPECT_EQ(PgPool::Create(options).error().code, ErrorCode::kValidation);
    EXPECT_EQ(PgPool::Create(PgPoolOptions{}).error().code, ErrorCode::kValidation);
}

TEST_F(PgTest, ExhaustedPoolAnswersUnavailableWithinTheBoundedWaitAndCounts) {
    PgPoolOptions options = Options();
    options.pool_size = 1;
    options.max_overflow = 1;
    options.acquire_timeout = std::chrono::milliseconds(0);
    auto pool = Pool(options);
    ASSERT_TRUE(pool);
    auto a = pool->Acquire();
    auto b = pool->Acquire();  // the overflow connection
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(pool->Stats().in_use, 2);

    auto c = pool->Acquire();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(c.error().message.find("database pool exhausted"), std::string::npos)
        << c.error().message;
    // Through a store too, and counted each time.
    auto store = MakePgStore(pool);
    auto ping = store->Ping();
    ASSERT_FALSE(ping.ok());
    EXPECT_EQ(ping.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(pool->Stats().exhausted_total, 2);

    // Releasing the overflow connection closes it; the pooled one stays idle.
    { auto released = std::move(*b); }
    { auto released = std::move(*a); }
    EXPECT_EQ(pool->Stats().in_use, 0);
    EXPECT_EQ(pool->Stats().idle, 1);
    EXPECT_TRUE(store->Ping().ok());
}

// Lease renewals have a pool of their own (issue 20: under load, renewals queued behind
// event commits ran past the 30 s lease and the instance reaped its own debates). With
// every connection of the commit pool held, an event commit gives up after the acquire
// wait while the renewal goes through.
TEST_F(PgTest, LeaseRenewalsGoThroughWhileEveryCommitConnectionIsHeld) {
    PgPoolOptions options = Options();
    options.pool_size = 1;
    options.max_overflow = 0;
    options.acquire_timeout = std::chrono::milliseconds(0);
    auto stores = OpenPgStores(options, /*migrate=*/true);
    ASSERT_TRUE(stores.ok()) << stores.error().message;
    Store& store = *stores->store;
    DebateRecord d;
    d.id = "leased";
    d.task = "task";
    d.status = events::DebateStatus::kRunning;
    d.agents = {"demo:analyst", "demo:critic"};
    d.rounds = 2;
    d.consensus_method = "majority";
    d.created_at = "2026-03-01T10:00:00.000Z";
    d.started_at = d.created_at;
    d.lease_owner = "inst_a";
    d.lease_expires_at = "2026-03-01T10:00:30.000Z";
    ASSERT_TRUE(store.CreateDebate(d).ok());

    auto held = stores->pool->Acquire();  // the commit pool's only connection
    ASSERT_TRUE(held.ok()) << held.error().message;
    events::Event e;
    e.debate_id = "leased";
    e.seq = 1;
    e.type = "debate_start";
    e.timestamp = 1772359200.0;
    auto commit = store.AppendLeasedEvents({e}, "inst_a");
    ASSERT_FALSE(commit.ok());
    EXPECT_NE(commit.error().message.find("database pool exhausted"), std::string::npos)
        << commit.error().message;

    auto renewed = store.RenewLease("leased", "inst_a", "2026-03-01T10:01:00.000Z");
    ASSERT_TRUE(renewed.ok()) << renewed.error().message;
    // A lost lease is still told apart on the lease pool.
    EXPECT_EQ(store.RenewLease("leased", "inst_b", "2026-03-01T10:01:00.000Z").error().code,
              ErrorCode::kConflict);
    { auto released = std::move(*held); }
    EXPECT_EQ(store.GetDebate("leased")->lease_expires_at, "2026-03-01T10:01:00.000Z");
}

TEST_F(PgTest, AWaiterGetsTheConnectionReleasedBeforeItsDeadline) {
    PgPoolOptions options = Options();
    options.pool_size = 1;
    options.max_overflow = 0;
    options.acquire_timeout = std::chrono::seconds(20);
    auto pool = Pool(options);
    ASSERT_TRUE(pool);
    std::optional<PgPool::Lease> held;
    {
        auto lease = pool->Acquire();
        ASSERT_TRUE(lease.ok()) << lease.error().message;
        held.emplace(std::move(*lease));
    }
    common::Status waited = common::MakeError(ErrorCode::kInternal, "not run");
    std::thread waiter([&] { waited = MakePgStore(pool)->Ping(); });
    held.reset();  // before or after the waiter blocks: either way it must get it
    waiter.join();
    EXPECT_TRUE(waited.ok()) << waited.error().message;
    EXPECT_EQ(pool->Stats().exhausted_total, 0);
}

TEST_F(PgTest, TerminatedIdleConnectionsAreReplacedAndTheNextCallSucceeds) {
    PgPoolOptions options = Options();
    options.pool_size = 2;
    auto pool = Pool(options);
    ASSERT_TRUE(pool);
    auto store = MakePgStore(pool);
    const int before = BackendPid(*pool);
    ASSERT_NE(before, 0);
    db_.Exec("SELECT pg_terminate_backend(" + std::to_string(before) + ", 5000)");

    auto ping = store->Ping();
    EXPECT_TRUE(ping.ok()) << ping.error().message;
    EXPECT_EQ(pool->Stats().broken_replaced_total, 1);
    EXPECT_NE(BackendPid(*pool), before);
}

TEST_F(PgTest, AConnectionLostMidCallIsUnavailableThenReplaced) {
    PgPoolOptions options = Options();
    options.pool_size = 1;
    options.max_overflow = 0;
    auto pool = Pool(options);
    ASSERT_TRUE(pool);
    auto s = pool->Run("doomed", [&](pqxx::connection_base& c) -> common::Status {
        db_.Exec("SELECT pg_terminate_backend(" + std::to_string(c.backendpid()) + ", 5000)");
        pqxx::nontransaction tx(c);
        tx.exec("SELECT 1");
        return {};
    });
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kUnavailable) << s.error().message;
    EXPECT_EQ(s.error().message.rfind("database unreachable: ", 0), 0u) << s.error().message;
    EXPECT_EQ(pool->Stats().broken_replaced_total, 1);
    EXPECT_EQ(pool->Stats().idle, 0);
    EXPECT_TRUE(MakePgStore(pool)->Ping().ok());
}

TEST_F(PgTest, StatementTimeoutIsATimeoutAndKeepsTheConnection) {
    PgPoolOptions options = Options();
    options.pool_size = 1;
    options.command_timeout = std::chrono::milliseconds(50);
    auto pool = Pool(options);
    ASSERT_TRUE(pool);
    const int pid = BackendPid(*pool);
    auto s = pool->Run("slow", [](pqxx::connection_base& c) -> common::Status {
        pqxx::nontransaction tx(c);
        tx.exec("SELECT pg_sleep(30)");
        return {};
    });
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kTimeout) << s.error().message;
    EXPECT_NE(s.error().message.find("statement timeout"), std::string::npos) << s.error().message;
    EXPECT_EQ(BackendPid(*pool), pid);
    EXPECT_EQ(pool->Stats().broken_replaced_total, 0);
}

TEST_F(PgTest, ConnectionsOlderThanRecycleAreReplaced) {
    common::ManualClock clock;
    PgPoolOptions options = Options();
    options.recycle = std::chrono::seconds(1800);
    auto pool = Pool(options, &clock);
    ASSERT_TRUE(pool);
    const int first = BackendPid(*pool);
    clock.Advance(std::chrono::seconds(1799));
    EXPECT_EQ(BackendPid(*pool), first);
    clock.Advance(std::chrono::seconds(1));
    const int second = BackendPid(*pool);
    EXPECT_NE(second, first);
    EXPECT_EQ(pool->Stats().recycled_total, 1);
    EXPECT_EQ(pool->Stats().opened_total, 2);
}

TEST_F(PgTest, UnreachableServerIsUnavailableNotACrash) {
    PgPoolOptions options;
    options.dsn = *BuildPgDsn("postgresql://postgres@127.0.0.1:1/none", "", 2);
    auto pool = Pool(options);
    ASSERT_TRUE(pool);
    auto ping = MakePgStore(pool)->Ping();
    ASSERT_FALSE(ping.ok());
    EXPECT_EQ(ping.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(ping.error().message.rfind("database unreachable: ", 0), 0u) << ping.error().message;
    EXPECT_EQ(pool->Stats().connect_failures_total, 1);
    EXPECT_EQ(pool->Stats().in_use, 0);
    auto open = OpenPgStores(options, /*migrate=*/true);
    ASSERT_FALSE(open.ok());
    EXPECT_EQ(open.error().code, ErrorCode::kUnavailable);
}

// ---------------------------------------------------------------- migrations

TEST(PgMigrationsListTest, VersionsAndNamesFollowTheSqliteMigrations) {
    const auto& pg = PgMigrations();
    const auto& sqlite = SqliteMigrations();
    ASSERT_EQ(pg.size(), sqlite.size());
    for (std::size_t i = 0; i < pg.size(); ++i) {
        EXPECT_EQ(pg[i].version, sqlite[i].version);
        EXPECT_EQ(pg[i].name, sqlite[i].name);
        EXPECT_EQ(pg[i].additive, sqlite[i].additive);
    }
}

TEST_F(PgTest, CheckOnAnEmptyDatabaseReportsAllPendingAndCreatesNothing) {
    auto pool = Pool(Options());
    ASSERT_TRUE(pool);
    auto status = CheckPgMigrations(*pool);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(status->current_version, 0);
    EXPECT_EQ(status->latest_version, LatestVersion());
    EXPECT_EQ(status->pending.size(), PgMigrations().size());
    EXPECT_EQ(db_.Column("SELECT to_regclass('schema_migrations')::text"),
              std::vector<std::string>{"<null>"});

    auto open = OpenPgStores(Options(), /*migrate=*/false);
    ASSERT_FALSE(open.ok());
    EXPECT_EQ(open.error().code, ErrorCode::kStorage);
    EXPECT_NE(open.error().message.find("aragora db migrate --upgrade"), std::string::npos);
}

TEST_F(PgTest, UpgradeAppliesOnceAndIsThenANoOp) {
    auto pool = Pool(Options());
    ASSERT_TRUE(pool);
    auto first = ApplyPgMigrations(*pool);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->current_version, LatestVersion());
    EXPECT_TRUE(first->pending.empty());
    const auto applied = Applied();
    ASSERT_EQ(applied.size(), PgMigrations().size());
    EXPECT_EQ(applied.front().rfind("1|debates, debate_events, receipts|", 0), 0u);
    EXPECT_EQ(applied.front().substr(applied.front().size() - 5), "|true");
    const auto tables = db_.Column(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1");
    EXPECT_EQ(tables,
              (std::vector<std::string>{
                  "api_keys", "audit_log", "debate_events", "debates", "encryption_data_keys",
                  "encryption_reencrypt_progress", "receipt_deletions", "receipt_signing_keys",
                  "receipts", "refresh_tokens", "scheduled_runs", "schema_migrations", "users"}));

    auto second = ApplyPgMigrations(*pool);
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_TRUE(second->pending.empty());
    EXPECT_EQ(Applied(), applied);  // not even applied_at changed
    EXPECT_EQ(pool->Stats().in_use, 0);
    // The lock is released: another session can take it.
    EXPECT_EQ(db_.Column("SELECT pg_try_advisory_lock(2089872453)::text"),
              std::vector<std::string>{"true"});
}

TEST_F(PgTest, NewerAdditiveVersionOpensAndNonAdditiveIsRefused) {
    auto pool = Pool(Options());
    ASSERT_TRUE(pool);
    ASSERT_TRUE(ApplyPgMigrations(*pool).ok());
    db_.Exec(
        "INSERT INTO schema_migrations (version, name, applied_at, additive) "
        "VALUES (999, 'from a newer release', '2030-01-01T00:00:00.000Z', true)");
    auto check = CheckPgMigrations(*pool);
    ASSERT_TRUE(check.ok()) << check.error().message;
    EXPECT_EQ(check->current_version, 999);
    EXPECT_EQ(check->unknown_versions, std::vector<int>{999});
    EXPECT_TRUE(OpenPgStores(Options(), false).ok());
    EXPECT_TRUE(OpenPgStores(Options(), true).ok());

    db_.Exec(
        "INSERT INTO schema_migrations (version, name, applied_at, additive) "
        "VALUES (1000, 'drops a column', '2030-01-01T00:00:00.000Z', false)");
    const std::string expected = "database schema version 1000 is newer than this binary " +
                                 std::string("supports (") + std::to_string(LatestVersion()) +
                                 ") and not backward compatible; upgrade aragora";
    EXPECT_EQ(CheckPgMigrations(*pool).error().message, expected);
    EXPECT_EQ(ApplyPgMigrations(*pool).error().message, expected);
    for (bool migrate : {true, false}) {
        auto open = OpenPgStores(Options(), migrate);
        ASSERT_FALSE(open.ok());
        EXPECT_EQ(open.error().code, ErrorCode::kStorage);
        EXPECT_EQ(open.error().message, expected);
    }
}

// Two instances starting at once: each migration is applied exactly once (a second apply
// of migration 1 would fail on CREATE TABLE debates).
TEST_F(PgTest, TwoInstancesRacingApplyEachMigrationExactlyOnce) {
    for (int round = 0; round < 3; ++round) {
        PgTestDatabase fresh;
        ASSERT_EQ(fresh.error(), "");
        auto dsn = BuildPgDsn(fresh.url(), "");
        ASSERT_TRUE(dsn.ok());
        PgPoolOptions options;
        options.dsn = *dsn;
        std::vector<common::Result<MigrationStatus>> results(2);
        std::latch start(2);
        std::vector<std::thread> threads;
        for (int i = 0; i < 2; ++i) {
            threads.emplace_back([&, i] {
                auto pool = PgPool::Create(options);
                if (!pool) {
                    results[i] = pool.error();
                    return;
                }
                start.arrive_and_wait();
                results[i] = ApplyPgMigrations(**pool);
            });
        }
        for (auto& t : threads) t.join();
        for (const auto& r : results) {
            ASSERT_TRUE(r.ok()) << r.error().message;
            EXPECT_EQ(r->current_version, LatestVersion());
            EXPECT_TRUE(r->pending.empty());
        }
        EXPECT_EQ(fresh.Column("SELECT COUNT(*) || '/' || COUNT(DISTINCT version) FROM "
                               "schema_migrations"),
                  std::vector<std::string>{std::to_string(PgMigrations().size()) + "/" +
                                           std::to_string(PgMigrations().size())});
    }
}

TEST_F(PgTest, MigrationWaitsForTheLockHolderThenReportsOrTimesOut) {
    pqxx::connection holder(db_.url());
    {
        pqxx::nontransaction tx(holder);
        tx.exec("SELECT pg_advisory_lock(2089872453)");
    }
    auto pool = Pool(Options());
    ASSERT_TRUE(pool);
    PgMigrateOptions short_wait;
    short_wait.lock_wait = std::chrono::milliseconds(100);
    auto blocked = ApplyPgMigrations(*pool, short_wait);
    ASSERT_FALSE(blocked.ok());
    EXPECT_EQ(blocked.error().code, ErrorCode::kTimeout) << blocked.error().message;
    EXPECT_EQ(CheckPgMigrations(*pool)->current_version, 0);  // nothing applied

    // The holder migrated meanwhile (another instance): the waiter reports success.
    auto other = Pool(Options());
    ASSERT_TRUE(other);
    {
        pqxx::nontransaction tx(holder);
        tx.exec("SELECT pg_advisory_unlock(2089872453)");
    }
    ASSERT_TRUE(ApplyPgMigrations(*other).ok());
    {
        pqxx::nontransaction tx(holder);
        tx.exec("SELECT pg_advisory_lock(2089872453)");
    }
    auto after = ApplyPgMigrations(*pool, short_wait);
    ASSERT_TRUE(after.ok()) << after.error().message;
    EXPECT_EQ(after->current_version, LatestVersion());
    EXPECT_TRUE(after->pending.empty());
}

TEST_F(PgTest, AuditLogRefusesTruncate) {
    auto stores = OpenPgStores(Options(), /*migrate=*/true);
    ASSERT_TRUE(stores.ok()) << stores.error().message;
    AuditEntry e;
    e.at = "2026-03-01T12:00:00.000Z";
    e.action = "login";
    ASSERT_TRUE(stores->auth->AppendAudit(e).ok());
    EXPECT_EQ(db_.ExecError("TRUNCATE audit_log"), "audit_log is append-only");
    EXPECT_EQ(stores->auth->VerifyAuditChain()->rows, 1);
}

TEST_F(PgTest, SortsAndFoldsLikeSqliteWhateverTheLocale) {
    // A linguistic default collation, as production databases often have.
    PgTestDatabase icu("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
    ASSERT_EQ(icu.error(), "");
    ASSERT_EQ(icu.Column("SELECT ('B' < 'a')::text"), std::vector<std::string>{"false"});
    PgPoolOptions options;
    options.dsn = *BuildPgDsn(icu.url(), "");
    auto stores = OpenPgStores(options, /*migrate=*/true);
    ASSERT_TRUE(stores.ok()) << stores.error().message;
    // Byte order: "B" < "_" < "a" (a linguistic collation would say a, B, _).
    for (const char* id : {"a", "B", "_"}) {
        DebateRecord d;
        d.id = id;
        d.task = "t";
        d.status = events::DebateStatus::kPending;
        d.created_at = "2026-01-01T00:00:00.000Z";
        ASSERT_TRUE(stores->store->CreateDebate(d).ok());
    }
    auto page = stores->store->ListDebates({});
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_EQ(page->items.size(), 3u);
    EXPECT_EQ(page->items[0].id, "a");
    EXPECT_EQ(page->items[1].id, "_");
    EXPECT_EQ(page->items[2].id, "B");
    // lower() folds ASCII only, as SQLite's.
    UserRecord u;
    u.id = "usr_e";
    u.email = "ÉLAN@example.com";
    u.role = "member";
    ASSERT_TRUE(stores->auth->CreateUser(u).ok());
    EXPECT_TRUE(stores->auth->GetUserByEmail("Élan@EXAMPLE.com").ok());
    EXPECT_EQ(stores->auth->GetUserByEmail("élan@example.com").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace aragora::storage
