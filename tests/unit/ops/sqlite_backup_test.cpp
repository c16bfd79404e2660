#include "ops/sqlite_backup.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "backup_test_support.hpp"
#include "storage/database_lock.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

struct Db {
    sqlite3* db = nullptr;
    explicit Db(const fs::path& p) {
        EXPECT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 10000);
    }
    ~Db() { sqlite3_close(db); }
    void Exec(const std::string& sql) {
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
            << (err ? err : "") << " in " << sql;
    }
    std::int64_t Count(const std::string& table) {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, ("SELECT COUNT(*) FROM " + table).c_str(), -1, &st, nullptr);
        sqlite3_step(st);
        const std::int64_t n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
    }
};

// Pairs of tables written together: a snapshot is consistent when both hold the same
// number of rows, a multiple of the batch (a transaction boundary).
constexpr int kBatch = 10;

void WriteBatch(Db& db, std::int64_t& next) {
    db.Exec("BEGIN IMMEDIATE");
    for (int i = 0; i < kBatch; ++i, ++next) {
        const std::string v = std::to_string(next);
        db.Exec("INSERT INTO a (id, v) VALUES (" + v + ", randomblob(300))");
        db.Exec("INSERT INTO b (id, v) VALUES (" + v + ", randomblob(300))");
    }
    db.Exec("COMMIT");
}

class SqliteBackupTest : public ::testing::Test {
protected:
    void SetUp() override {
        src_ = dir_.path() / "live.sqlite3";
        Db db(src_);
        db.Exec("PRAGMA journal_mode=WAL");
        db.Exec("CREATE TABLE a (id INTEGER PRIMARY KEY, v BLOB NOT NULL)");
        db.Exec("CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB NOT NULL)");
        for (int i = 0; i < 200; ++i) WriteBatch(db, next_);  // ~1.2 MB: hundreds of pages
    }
    TempDir dir_;
    fs::path src_;
    std::int64_t next_ = 0;
};

// Writes commit between every two steps of the copy (from the progress callback, on
// another connection): each must succeed at once (a writer never waits for the snapshot),
// the copy must still finish (it never restarts) and hold none of them.
TEST_F(SqliteBackupTest, SnapshotIsConsistentWhileWritesCommitBetweenSteps) {
    auto engine = MakeSqliteBackupEngine(SqliteBackupOptions{src_.string(), 8});
    Db writer(src_);
    const std::int64_t before = next_;
    int steps = 0;
    auto snap = engine->Snapshot(dir_.path() / "snap.db",
                                 [&](std::string_view phase, std::uint64_t, std::uint64_t) {
                                     if (phase != "snapshot" || ++steps > 5000) return;
                                     WriteBatch(writer, next_);
                                 });
    ASSERT_TRUE(snap) << snap.error().message;
    EXPECT_GT(steps, 10);    // the copy took many steps, with a commit after each
    EXPECT_LT(steps, 5000);  // and did not restart under them
    EXPECT_GT(next_, before);
    Db copy(dir_.path() / "snap.db");
    EXPECT_EQ(copy.Count("a"), before);
    EXPECT_EQ(copy.Count("b"), before);
    ASSERT_EQ(snap->inspection.tables.size(), 2u);
    EXPECT_EQ(snap->inspection.tables[0].rows, before);
    EXPECT_FALSE(fs::exists(dir_.path() / "snap.db-wal"));
    auto again = InspectSqliteFile(dir_.path() / "snap.db", true);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->problems.empty());
    EXPECT_EQ(again->schema_hash, snap->inspection.schema_hash);
    EXPECT_EQ(again->tables[1].checksum, snap->inspection.tables[1].checksum);
}

// A writer thread commits as fast as it can during the whole snapshot. The snapshot sits
// on a transaction boundary; the writer's slowest commit is printed (measured, not
// asserted: timing depends on the machine).
TEST_F(SqliteBackupTest, SnapshotUnderAConcurrentWriterThread) {
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::condition_variable cv;
    int commits = 0;
    double slowest_ms = 0;
    std::thread writer_thread([&] {
        Db writer(src_);
        std::int64_t next = 1'000'000;
        while (!stop.load()) {
            const auto t0 = std::chrono::steady_clock::now();
            WriteBatch(writer, next);
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
            std::lock_guard lock(mu);
            slowest_ms = std::max(slowest_ms, ms);
            ++commits;
            cv.notify_all();
        }
    });
    {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::seconds(30), [&] { return commits >= 5; });
    }
    int during = 0;
    auto engine = MakeSqliteBackupEngine(SqliteBackupOptions{src_.string(), 4});
    int start_commits = 0;
    {
        std::lock_guard lock(mu);
        start_commits = commits;
    }
    auto snap = engine->Snapshot(dir_.path() / "snap.db", {});
    {
        std::lock_guard lock(mu);
        during = commits - start_commits;
    }
    stop = true;
    writer_thread.join();
    ASSERT_TRUE(snap) << snap.error().message;
    Db copy(dir_.path() / "snap.db");
    const auto a = copy.Count("a"), b = copy.Count("b");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a % kBatch, 0);
    std::cout << "[ measured ] writer commits during the snapshot: " << during
              << ", slowest writer commit: " << slowest_ms << " ms\n";
}

TEST_F(SqliteBackupTest, InspectionFindsForeignKeyAndNotNullProblems) {
    {
        Db db(src_);
        db.Exec("CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL)");
        db.Exec("CREATE TABLE child (id INTEGER PRIMARY KEY, p TEXT REFERENCES parent (id))");
        db.Exec("CREATE TABLE loose (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        db.Exec("PRAGMA foreign_keys=OFF");
        db.Exec("INSERT INTO child (id, p) VALUES (1, 'missing'), (2, 'missing')");
        // A NULL in a NOT NULL column can only come from outside SQLite's checks:
        // PRAGMA writable_schema is what an operator's bad hand edit would use.
        db.Exec("PRAGMA writable_schema=ON");
        db.Exec(
            "UPDATE sqlite_master SET sql = 'CREATE TABLE loose (id INTEGER PRIMARY KEY, "
            "name TEXT)' WHERE name = 'loose'");
    }
    {
        Db db(src_);
        db.Exec("INSERT INTO loose (id, name) VALUES (1, NULL)");
        db.Exec("PRAGMA writable_schema=ON");
        db.Exec(
            "UPDATE sqlite_master SET sql = 'CREATE TABLE loose (id INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL)' WHERE name = 'loose'");
    }
    auto got = InspectSqliteFile(src_, true);
    ASSERT_TRUE(got) << got.error().message;
    bool fk = false, null = false;
    for (const auto& p : got->problems) {
        if (p.rfind("child: 2 row(s) violate a foreign key to parent", 0) == 0) fk = true;
        if (p.rfind("loose: column name has 1 NULL value(s)", 0) == 0) null = true;
    }
    EXPECT_TRUE(fk);
    EXPECT_TRUE(null) << ::testing::PrintToString(got->problems);
}

class SqliteRestoreTest : public SqliteBackupTest {
protected:
    void SetUp() override {
        SqliteBackupTest::SetUp();
        engine_ = MakeSqliteBackupEngine(SqliteBackupOptions{src_.string()});
        snapshot_ = dir_.path() / "snap.db";
        ASSERT_TRUE(engine_->Snapshot(snapshot_, {}));
        target_ = dir_.path() / "restored" / "aragora.sqlite3";
    }
    std::shared_ptr<BackupEngine> engine_;
    fs::path snapshot_, target_;
    const std::chrono::system_clock::time_point now_ =
        std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
};

TEST_F(SqliteRestoreTest, RestoresIntoANewPath) {
    auto r = engine_->RestoreInto(snapshot_, RestoreTarget{target_.string(), false, now_}, {});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->target, target_.string());
    EXPECT_TRUE(r->kept_previous.empty());
    Db db(target_);
    EXPECT_EQ(db.Count("a"), next_);
}

TEST_F(SqliteRestoreTest, RefusesTheLiveDatabaseOfARunningServerNamingItsPid) {
    ASSERT_TRUE(engine_->RestoreInto(snapshot_, RestoreTarget{target_.string(), false, now_}, {}));
    auto server = storage::DatabaseLock::Acquire(
        target_.string() + ".lock", target_.string());  // what serve holds while it runs
    ASSERT_TRUE(server);
    const auto before = fs::last_write_time(target_);
    auto r = engine_->RestoreInto(snapshot_, RestoreTarget{target_.string(), true, now_}, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, common::ErrorCode::kConflict);
    EXPECT_NE(r.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
        << r.error().message;
    EXPECT_EQ(fs::last_write_time(target_), before);
}

TEST_F(SqliteRestoreTest, AnExistingTargetNeedsForceAndIsThenKeptWithItsWal) {
    fs::create_directories(target_.parent_path());
    std::ofstream(target_) << "old database";
    std::ofstream(target_.string() + "-wal") << "old wal";
    auto refused =
        engine_->RestoreInto(snapshot_, RestoreTarget{target_.string(), false, now_}, {});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, common::ErrorCode::kConflict);

    auto r = engine_->RestoreInto(snapshot_, RestoreTarget{target_.string(), true, now_}, {});
    ASSERT_TRUE(r) << r.error().message;
    const std::string kept = target_.string() + ".pre-restore-20270115T080000Z";
    EXPECT_EQ(r->kept_previous, kept);
    std::ifstream old_db(kept), old_wal(kept + "-wal");
    std::string a, b;
    std::getline(old_db, a);
    std::getline(old_wal, b);
    EXPECT_EQ(a, "old database");
    EXPECT_EQ(b, "old wal");
    EXPECT_FALSE(fs::exists(target_.string() + "-wal"));
    Db db(target_);
    EXPECT_EQ(db.Count("b"), next_);
}

TEST_F(SqliteRestoreTest, ADotDbTargetIsRefused) {
    auto r = engine_->RestoreInto(snapshot_,
                                  RestoreTarget{(dir_.path() / "x.db").string(), false, now_}, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, common::ErrorCode::kValidation);
}

}  // namespace
}  // namespace aragora::ops
