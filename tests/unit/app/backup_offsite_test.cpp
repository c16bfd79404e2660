// The scheduled backup's offsite stage against the S3 stand-in (s3rver, which checks
// SigV4): a scheduled backup of a real SQLite database lands in the bucket with its
// manifest sidecar; a wrong secret fails the offsite stage without making the
// backup again on the next attempt.

#include <gtest/gtest.h>

#include <map>

#include "../ops/backup_test_support.hpp"
#include "../ops/s3rver_fixture.hpp"
#include "app/backup_jobs.hpp"
#include "metrics/registry.hpp"
#include "ops/offsite.hpp"
#include "ops/sqlite_backup.hpp"

namespace aragora::app {
namespace {

using ops::test_support::S3rverProcess;
using ops::test_support::TempDir;

constexpr const char* kBucket = "aragora-offsite-sched";

class BackupOffsiteTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string error;
        s3_ = S3rverProcess::Start(kBucket, &error);
        ASSERT_NE(s3_, nullptr) << error;
        db_ = dir_.path() / "data" / "aragora.sqlite3";
        ops::test_support::PopulateStore(db_, 2, ops::test_support::TestKeys());
        ops::BackupManagerOptions o;
        o.backup_dir = dir_.path() / "backups";
        o.restore_dir = dir_.path() / "restore";
        o.receipt_keys = ops::test_support::TestKeys();
        auto m = ops::BackupManager::Open(
            o, ops::MakeSqliteBackupEngine(ops::SqliteBackupOptions{db_.string()}), clock_);
        ASSERT_TRUE(m) << m.error().message;
        manager_ = std::move(*m);
        settings_.backup.s3_bucket = kBucket;
        settings_.backup.s3_endpoint = s3_->endpoint();
        settings_.backup.s3_region = "us-east-1";
        settings_.backup.s3_prefix = "aragora/backups/";
    }

    config::EnvLookup Env(std::string secret) {
        std::map<std::string, std::string> vars = {{"AWS_ACCESS_KEY_ID", S3rverProcess::kAccessKey},
                                                   {"AWS_SECRET_ACCESS_KEY", std::move(secret)}};
        return [vars](std::string_view name) -> std::optional<std::string> {
            auto it = vars.find(std::string(name));
            if (it == vars.end()) return std::nullopt;
            return it->second;
        };
    }

    std::unique_ptr<S3rverProcess> s3_;
    TempDir dir_;
    std::filesystem::path db_;
    common::ManualClock clock_;
    metrics::Registry registry_;
    ops::BackupMetrics metrics_{registry_, clock_};
    std::unique_ptr<ops::BackupManager> manager_;
    config::Settings settings_;
};

TEST_F(BackupOffsiteTest, AScheduledBackupIsCopiedOffsiteWithItsManifestEntry) {
    BackupJobOps ops = MakeManagerJobOps(*manager_);
    ops.upload = MakeOffsiteUpload(settings_, Env(S3rverProcess::kSecret));
    ASSERT_TRUE(ops.upload);
    ScheduledBackup run(ops, metrics_);
    JobOutcome o = run.Attempt();
    ASSERT_TRUE(o.ok) << o.detail;
    EXPECT_NE(o.detail.find("offsite copy uploaded"), std::string::npos) << o.detail;

    auto offsite = ops::Offsite::Create(settings_.backup, Env(S3rverProcess::kSecret));
    ASSERT_TRUE(offsite) << offsite.error().message;
    auto remote = offsite->ListRemoteBackups();
    ASSERT_TRUE(remote) << remote.error().message;
    ASSERT_EQ(remote->size(), 1u);
    auto local = manager_->List(ops::ListFilter{});
    ASSERT_TRUE(local);
    ASSERT_EQ(local->items.size(), 1u);
    EXPECT_EQ((*remote)[0].file_name, local->items[0].file_name);
    ASSERT_TRUE((*remote)[0].manifest_entry);
    EXPECT_EQ((*remote)[0].manifest_entry->at("id"), local->items[0].id.c_str());
    EXPECT_EQ((*remote)[0].size_bytes, local->items[0].compressed_size_bytes);
}

TEST_F(BackupOffsiteTest, AWrongSecretFailsTheOffsiteStageOnly) {
    BackupJobOps ops = MakeManagerJobOps(*manager_);
    ops.upload = MakeOffsiteUpload(settings_, Env("not-the-secret"));
    ScheduledBackup run(ops, metrics_);
    JobOutcome first = run.Attempt();
    EXPECT_FALSE(first.ok);
    EXPECT_EQ(first.stage, ops::BackupStage::kOffsite) << first.detail;
    // (The scheduler counts it: failures{stage="offsite"}, backup_scheduler_test.cpp.)
    (void)run.Attempt();
    auto local = manager_->List(ops::ListFilter{});
    ASSERT_TRUE(local);
    EXPECT_EQ(local->total, 1);  // the retry uploads again; it does not back up again
}

TEST_F(BackupOffsiteTest, NoBucketNoOffsiteStage) {
    settings_.backup.s3_bucket.clear();
    EXPECT_FALSE(MakeOffsiteUpload(settings_, Env(S3rverProcess::kSecret)));
}

}  // namespace
}  // namespace aragora::app
