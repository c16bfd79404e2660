// The BackupManager on PostgreSQL, end to end on the test server: the engine chosen from
// the settings, create → verify (scratch restore, every receipt re-verified) → restore into
// a new database whose store serves the same receipts; a tampered receipt is named; the
// live database is refused.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <pqxx/pqxx>
#include <regex>

#include "../storage/store_backends.hpp"
#include "common/clock.hpp"
#include "config/settings.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_setup.hpp"
#include "ops/postgres_backup.hpp"
#include "pg_backup_test_support.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using test_support::FinishSignedDebate;
using test_support::QueryOne;
using test_support::TestReceiptKeys;
using test_support::VerifyChain;

class PgBackupManagerTest : public test_support::PgSourceTest {
protected:
    void SetUp() override {
        SetUpSource();
        if (HasFatalFailure()) return;
        for (int i = 0; i < 6; ++i) {
            ASSERT_TRUE(FinishSignedDebate(*stores_.store, "deb_" + std::to_string(i), keys_).ok());
        }
        test_support::SeedAuth(*stores_.auth, 2);
        char tmpl[] = "/tmp/aragora_pgmanager_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        scratch_before_ = ScratchCount();

        // The engine comes from the settings, as `aragora backup` and `serve` get it.
        config::Settings settings;
        settings.storage.backend = config::DbBackend::kPostgres;
        settings.storage.postgres_dsn = source_.db().url();
        auto engine = MakeConfiguredBackupEngine(settings);
        ASSERT_TRUE(engine.ok()) << engine.error().message;
        ASSERT_EQ((*engine)->Kind(), "postgresql");
        BackupManagerOptions o;
        o.backup_dir = dir_ / "backups";
        o.restore_dir = dir_ / "restore";
        o.receipt_keys = keys_;
        o.app_version = "test";
        auto m = BackupManager::Open(o, *engine, clock_);
        ASSERT_TRUE(m.ok()) << m.error().message;
        manager_ = std::move(*m);
    }
    void TearDown() override {
        manager_.reset();
        for (const auto& name : created_) {
            pqxx::connection c(dsn_);
            pqxx::nontransaction tx(c);
            tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
        }
        EXPECT_EQ(ScratchCount(), scratch_before_) << "a scratch database was left";
        fs::remove_all(dir_);
    }
    std::string ScratchCount() {
        return QueryOne(
            dsn_,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'aragora\\_verify\\_%' "
            "OR datname LIKE 'aragora\\_restoring\\_%'");
    }

    debate::ReceiptKeys keys_ = TestReceiptKeys();
    fs::path dir_;
    common::ManualClock clock_{std::chrono::system_clock::time_point(
        std::chrono::seconds(1800000000))};  // 2027-01-15T08:00:00Z
    std::unique_ptr<BackupManager> manager_;
    std::vector<std::string> created_;
    std::string scratch_before_;
};

TEST_F(PgBackupManagerTest, CreateVerifyAndRestoreIntoANewDatabaseThatServesTheSameReceipts) {
    auto created = manager_->Create(CreateOptions{});
    ASSERT_TRUE(created.ok()) << created.error().message;
    const BackupMetadata& m = *created;
    EXPECT_TRUE(std::regex_match(
        m.file_name, std::regex(source_.db().name() + "_20270115_080000_[0-9a-f]{8}\\.dump\\.gz")))
        << m.file_name;
    EXPECT_EQ(m.kind, "postgresql");
    EXPECT_EQ(m.status, BackupStatus::kVerified);
    EXPECT_TRUE(m.verified);
    EXPECT_EQ(m.row_counts.at("debates"), 6);
    EXPECT_EQ(m.row_counts.at("receipts"), 6);
    EXPECT_EQ(m.row_counts.at("users"), 2);
    EXPECT_GT(m.schema_version, 0);
    EXPECT_GT(m.size_bytes, 0u);
    EXPECT_EQ(m.table_checksums.at("receipts").size(), 64u);
    EXPECT_EQ(m.source_path.find("postgresql://"), 0u);

    auto v = manager_->Verify(m.id);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_TRUE(v->verified) << (v->errors.empty() ? "" : v->errors.front());
    EXPECT_TRUE(v->checksum_valid && v->restore_tested && v->tables_valid && v->row_counts_valid &&
                v->schema_valid && v->integrity_valid && v->table_checksums_valid &&
                v->receipts_valid);
    EXPECT_EQ(v->receipt_chain.receipts, 6);
    EXPECT_EQ(v->receipt_chain.verified, 6);

    const std::string target = source_.db().name() + "_restored";
    created_.push_back(target);
    auto restored = manager_->Restore(m.id, RestoreOptions{.target = target});
    ASSERT_TRUE(restored.ok()) << restored.error().message;
    EXPECT_TRUE(restored->restored);
    EXPECT_EQ(restored->target_path, target);
    EXPECT_EQ(restored->kept_previous, "");

    storage::PgPoolOptions pool;
    pool.dsn = *PgDsnForDatabase(dsn_, target);
    pool.pool_size = 2;
    auto copy = storage::OpenPgStores(pool, /*migrate=*/false);  // as serve opens it
    ASSERT_TRUE(copy.ok()) << copy.error().message;
    auto source_chain = VerifyChain(*stores_.store, keys_);
    auto copy_chain = VerifyChain(*copy->store, keys_);
    EXPECT_TRUE(copy_chain.report.ok());
    ASSERT_EQ(copy_chain.receipts.size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_EQ(copy_chain.receipts[i].json, source_chain.receipts[i].json);
    }
    auto served = copy->store->GetReceipt("deb_4");
    ASSERT_TRUE(served.ok());
    EXPECT_EQ(served->json, stores_.store->GetReceipt("deb_4")->json);
    auto users = copy->auth->CountUsers();
    ASSERT_TRUE(users.ok());
    EXPECT_EQ(*users, 2);

    auto drill = manager_->Drill();
    ASSERT_TRUE(drill.ok()) << drill.error().message;
    EXPECT_EQ(drill->status, "passed");
    EXPECT_EQ(drill->receipts_verified, 6);
}

TEST_F(PgBackupManagerTest, ATamperedReceiptIsNamedByVerification) {
    source_.db().Exec(
        "UPDATE receipts SET json = replace(json, 'deb_2', 'deb_X') WHERE receipt_id = "
        "'rcpt_deb_2'");
    auto created = manager_->Create(CreateOptions{.verify = false});
    ASSERT_TRUE(created.ok()) << created.error().message;
    auto v = manager_->Verify(created->id);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_FALSE(v->verified);
    EXPECT_FALSE(v->receipts_valid);
    bool named = false;
    for (const auto& f : v->failures) named = named || f.receipt_id == "rcpt_deb_2";
    EXPECT_TRUE(named);
}

TEST_F(PgBackupManagerTest, RestoreRefusesTheLiveDatabaseEvenWithForce) {
    auto created = manager_->Create(CreateOptions{.verify = false});
    ASSERT_TRUE(created.ok()) << created.error().message;
    ASSERT_TRUE(stores_.store->Ping().ok());  // the running "server" holds connections
    auto r = manager_->Restore(created->id,
                               RestoreOptions{.target = source_.db().name(), .force = true});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
    EXPECT_NE(r.error().message.find("is in use"), std::string::npos) << r.error().message;
    EXPECT_EQ(QueryOne(dsn_, "SELECT count(*) FROM debates"), "6");
}

}  // namespace
}  // namespace aragora::ops
