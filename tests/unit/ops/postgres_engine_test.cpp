// The PostgreSQL BackupEngine against the test server: a snapshot and its inspection from
// one view, scratch restores that serve verifying receipts and vanish afterwards, and
// restores into a database that refuse a live one, keep a replaced one, and never leave a
// half-restored target.

#include "ops/postgres_engine.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>

#include "../storage/store_backends.hpp"
#include "pg_backup_test_support.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using test_support::FinishSignedDebate;
using test_support::QueryOne;
using test_support::TestReceiptKeys;
using test_support::VerifyChain;

class PgEngineTest : public test_support::PgSourceTest {
protected:
    void SetUp() override {
        SetUpSource();
        if (HasFatalFailure()) return;
        char tmpl[] = "/tmp/aragora_pgengine_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        PostgresBackupOptions options;
        options.dsn = dsn_;
        options.timeout = std::chrono::seconds(120);
        engine_ = MakePostgresBackupEngine(options);
        scratch_before_ = ScratchCount();
    }
    void TearDown() override {
        // Whatever a test restored into, by the names it used.
        for (const auto& name : created_) {
            QueryOne(dsn_, "SELECT 1");  // the server is up
            pqxx::connection c(dsn_);
            pqxx::nontransaction tx(c);
            tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
        }
        EXPECT_EQ(ScratchCount(), scratch_before_) << "a scratch or staging database was left";
        fs::remove_all(dir_);
    }

    std::string ScratchCount() {
        return QueryOne(
            dsn_,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'aragora\\_verify\\_%' "
            "OR datname LIKE 'aragora\\_restoring\\_%'");
    }
    bool Exists(const std::string& name) {
        return QueryOne(dsn_, "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'") ==
               "1";
    }
    std::string DsnOf(const std::string& name) { return *PgDsnForDatabase(dsn_, name); }
    // A database name the test owns (dropped in TearDown).
    std::string NewName(const std::string& suffix) {
        created_.push_back(source_.db().name() + "_" + suffix);
        return created_.back();
    }
    fs::path SnapshotWith(int debates) {
        for (int i = 0; i < debates; ++i) {
            const std::string id = "deb_" + std::to_string(next_++);
            EXPECT_TRUE(FinishSignedDebate(*stores_.store, id, keys_).ok());
        }
        const fs::path out = dir_ / ("snap" + std::to_string(next_) + ".dump");
        auto info = engine_->Snapshot(out, {});
        EXPECT_TRUE(info.ok()) << info.error().message;
        return out;
    }

    fs::path dir_;
    std::shared_ptr<BackupEngine> engine_;
    debate::ReceiptKeys keys_ = TestReceiptKeys();
    std::vector<std::string> created_;
    std::string scratch_before_;
    int next_ = 0;
};

TEST_F(PgEngineTest, DescribesItselfAndNamesFilesAfterTheDatabase) {
    EXPECT_EQ(engine_->Kind(), "postgresql");
    EXPECT_EQ(engine_->FileStem(), source_.db().name());
    EXPECT_EQ(engine_->SnapshotSuffix(), ".dump");
    auto with_password = storage::BuildPgDsn(source_.db().url(), "hunter2");
    PostgresBackupOptions options;
    options.dsn = *with_password;
    auto engine = MakePostgresBackupEngine(options);
    EXPECT_EQ(engine->SourceLocation().find("hunter2"), std::string::npos);
    EXPECT_NE(engine->SourceLocation().find(source_.db().name()), std::string::npos);
}

TEST_F(PgEngineTest, SnapshotRecordsWhatItHoldsAndAScratchRestoreServesIt) {
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(FinishSignedDebate(*stores_.store, "deb_" + std::to_string(i), keys_).ok());
    }
    test_support::SeedAuth(*stores_.auth, 2);
    const fs::path out = dir_ / "a.dump";
    std::uint64_t last_bytes = 0;
    auto info =
        engine_->Snapshot(out, [&](std::string_view phase, std::uint64_t done, std::uint64_t) {
            EXPECT_EQ(phase, "snapshot");
            last_bytes = done;
        });
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->snapshot_size_bytes, fs::file_size(out));
    EXPECT_EQ(last_bytes, info->snapshot_size_bytes);
    EXPECT_GT(info->source_size_bytes, 0u);
    EXPECT_GT(info->schema_version, 0);
    EXPECT_EQ(info->inspection.kind, "postgresql");
    auto live = engine_->Inspect();
    ASSERT_TRUE(live.ok());
    EXPECT_EQ(live->schema_hash, info->inspection.schema_hash);
    ASSERT_EQ(live->tables.size(), info->inspection.tables.size());

    std::string scratch_name;
    {
        auto scratch = engine_->RestoreScratch(out, dir_, {});
        ASSERT_TRUE(scratch.ok()) << scratch.error().message;
        scratch_name = (*scratch)->Location();
        EXPECT_TRUE(IsPgScratchName(scratch_name));
        EXPECT_TRUE(Exists(scratch_name));
        auto restored = (*scratch)->Inspect();
        ASSERT_TRUE(restored.ok());
        EXPECT_TRUE(restored->problems.empty());
        EXPECT_EQ(restored->schema_hash, info->inspection.schema_hash);
        for (std::size_t i = 0; i < restored->tables.size(); ++i) {
            EXPECT_EQ(restored->tables[i].checksum, info->inspection.tables[i].checksum)
                << restored->tables[i].name;
        }
        auto chain = VerifyChain((*scratch)->store(), keys_);
        EXPECT_TRUE(chain.report.ok());
        EXPECT_EQ(chain.report.verified, 5);
        auto receipt = (*scratch)->store().GetReceipt("deb_3");
        ASSERT_TRUE(receipt.ok());
        EXPECT_EQ(receipt->json, stores_.store->GetReceipt("deb_3")->json);
    }
    EXPECT_FALSE(Exists(scratch_name));  // gone with the scratch object
}

TEST_F(PgEngineTest, AFileThatIsNotADumpIsRefusedBeforeAnyDatabaseIsCreated) {
    std::ofstream(dir_ / "x.dump") << "SQLite format 3";
    auto scratch = engine_->RestoreScratch(dir_ / "x.dump", dir_, {});
    ASSERT_FALSE(scratch.ok());
    EXPECT_EQ(scratch.error().code, ErrorCode::kValidation);
    auto into = engine_->RestoreInto(dir_ / "x.dump", {NewName("x"), false, {}}, {});
    ASSERT_FALSE(into.ok());
    EXPECT_EQ(into.error().code, ErrorCode::kValidation);
}

TEST_F(PgEngineTest, RestoreIntoANewDatabaseByName) {
    const fs::path snap = SnapshotWith(3);
    const std::string name = NewName("new");
    auto r = engine_->RestoreInto(snap, {name, false, {}}, {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->target, name);
    EXPECT_EQ(r->kept_previous, "");
    EXPECT_EQ(QueryOne(DsnOf(name), "SELECT count(*) FROM receipts"), "3");
}

TEST_F(PgEngineTest, AnExistingDatabaseIsReplacedOnlyWithForceAndKept) {
    const std::string name = NewName("existing");
    const fs::path first = SnapshotWith(2);
    ASSERT_TRUE(engine_->RestoreInto(first, {name, false, {}}, {}).ok());
    const fs::path second = SnapshotWith(3);  // 5 debates now

    auto refused = engine_->RestoreInto(second, {name, false, {}}, {});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
    EXPECT_NE(refused.error().message.find("already exists: restore with --force"),
              std::string::npos)
        << refused.error().message;
    EXPECT_EQ(QueryOne(DsnOf(name), "SELECT count(*) FROM debates"), "2");

    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1772359205));
    auto replaced = engine_->RestoreInto(second, {name, true, now}, {});
    ASSERT_TRUE(replaced.ok()) << replaced.error().message;
    const std::string kept = name + ".pre-restore-20260301T100005Z";
    created_.push_back(kept);
    EXPECT_EQ(replaced->kept_previous, kept);
    EXPECT_EQ(QueryOne(DsnOf(name), "SELECT count(*) FROM debates"), "5");
    EXPECT_EQ(QueryOne(DsnOf(kept), "SELECT count(*) FROM debates"), "2");
}

TEST_F(PgEngineTest, TheLiveDatabaseIsRefusedEvenWithForce) {
    const fs::path snap = SnapshotWith(1);
    ASSERT_TRUE(stores_.store->Ping().ok());  // the "server" holds pool connections
    for (const std::string& location :
         {std::string(), engine_->SourceLocation(), source_.db().name(), dsn_}) {
        auto r = engine_->RestoreInto(snap, {location, true, {}}, {});
        ASSERT_FALSE(r.ok()) << location;
        EXPECT_EQ(r.error().code, ErrorCode::kConflict);
        EXPECT_NE(r.error().message.find("\" is in use (pid "), std::string::npos)
            << r.error().message;
        EXPECT_NE(r.error().message.find("stop the server"), std::string::npos);
    }
    EXPECT_EQ(QueryOne(dsn_, "SELECT count(*) FROM debates"), "1");
}

TEST_F(PgEngineTest, ALostDatabaseIsRestoredUnderItsOwnName) {
    const fs::path snap = SnapshotWith(3);
    stores_ = storage::test_support::OpenedStores{};  // the server is stopped
    {
        pqxx::connection c(DsnOf("postgres"));
        pqxx::nontransaction tx(c);
        tx.exec("DROP DATABASE " + tx.quote_name(source_.db().name()) + " WITH (FORCE)");
    }
    // The configured database, named by the manifest's source location.
    auto r = engine_->RestoreInto(snap, {engine_->SourceLocation(), false, {}}, {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->target, source_.db().name());
    EXPECT_EQ(r->kept_previous, "");
    auto reopened = source_.Open(/*migrate=*/false);  // as serve opens it
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    auto chain = VerifyChain(*reopened->store, keys_);
    EXPECT_TRUE(chain.report.ok());
    EXPECT_EQ(chain.report.verified, 3);
}

TEST_F(PgEngineTest, AFailedRestoreLeavesTheTargetAsItWasAndNoStagingDatabase) {
    const std::string name = NewName("target");
    ASSERT_TRUE(engine_->RestoreInto(SnapshotWith(2), {name, false, {}}, {}).ok());
    const fs::path snap = SnapshotWith(40);
    // Cut short at the end: the table of contents still reads, the last data does not, so
    // pg_restore fails in the middle of its transaction.
    const auto size = fs::file_size(snap);
    fs::resize_file(snap, size - 50);
    auto r = engine_->RestoreInto(snap, {name, true, {}}, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "pg_restore failed (exit 1): could not read from input file: end of file");
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    EXPECT_EQ(QueryOne(DsnOf(name), "SELECT count(*) FROM debates"), "2");
    EXPECT_EQ(QueryOne(dsn_, "SELECT count(*) FROM pg_database WHERE datname LIKE '" + name +
                                 ".pre-restore-%'"),
              "0");
    // TearDown checks that no staging database is left.
}

}  // namespace
}  // namespace aragora::ops
