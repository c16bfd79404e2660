// The scheduled backup's flow (create → verify → offsite → cleanup) and the drill, over
// fake operations: what each attempt calls, what a retry skips, which failures are
// retryable, and what is counted.

#include "app/backup_jobs.hpp"

#include <gtest/gtest.h>

#include "common/time.hpp"
#include "metrics/registry.hpp"

namespace aragora::app {
namespace {

using common::ErrorCode;
using common::MakeError;

double Sample(const metrics::Registry& r, const std::string& series) {
    const std::string text = r.RenderPrometheus();
    const auto pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return 0;
    return std::stod(text.substr(pos + series.size() + 2));
}

class BackupJobsTest : public ::testing::Test {
protected:
    void SetUp() override {
        ops_.create = [this]() -> common::Result<ops::BackupMetadata> {
            calls_.push_back("create");
            if (create_error_) return *create_error_;
            ops::BackupMetadata m;
            m.id = "bk" + std::to_string(++made_);
            m.backup_type = "full";
            m.compressed_size_bytes = 2048;
            m.duration_seconds = 3;
            m.created_at = clock_.SystemNow();
            m.status = ops::BackupStatus::kCompleted;
            return m;
        };
        ops_.verify = [this](const std::string& id) -> common::Result<ops::VerificationResult> {
            calls_.push_back("verify " + id);
            if (!verify_errors_.empty()) {
                auto e = verify_errors_.front();
                verify_errors_.erase(verify_errors_.begin());
                return e;
            }
            ops::VerificationResult v;
            v.backup_id = id;
            v.verified = verify_ok_;
            v.duration_seconds = 1.5;
            if (!verify_ok_) {
                v.failures.push_back(ops::VerificationFailure{
                    .check = "receipt", .receipt_id = "rcpt_7", .message = "signature mismatch"});
            }
            return v;
        };
        ops_.cleanup = [this]() -> common::Result<ops::CleanupResult> {
            calls_.push_back("cleanup");
            if (cleanup_error_) return *cleanup_error_;
            ops::CleanupResult c;
            c.dry_run = false;
            c.backup_ids = {"old1"};
            return c;
        };
        ops_.drill = [this]() -> common::Result<ops::RestoreDrillReport> {
            calls_.push_back("drill");
            if (drill_error_) return *drill_error_;
            ops::RestoreDrillReport r;
            r.drill_id = "dr0123456789";
            r.backup_id = "bk1";
            r.status = drill_status_;
            r.rpo_seconds = 600;
            r.rto_seconds = 42;
            if (drill_status_ != "passed") r.errors = {"receipt rcpt_7: signature mismatch"};
            return r;
        };
    }

    void WithUpload() {
        ops_.upload = [this](const ops::BackupMetadata& m) -> common::Status {
            calls_.push_back("upload " + m.id);
            if (upload_failures_ > 0) {
                --upload_failures_;
                return MakeError(ErrorCode::kUnavailable, "s3: connection refused");
            }
            return {};
        };
    }

    common::ManualClock clock_;
    metrics::Registry registry_;
    ops::BackupMetrics metrics_{registry_, clock_};
    BackupJobOps ops_;
    std::vector<std::string> calls_;
    int made_ = 0;
    std::optional<common::Error> create_error_;
    std::vector<common::Error> verify_errors_;
    bool verify_ok_ = true;
    std::optional<common::Error> cleanup_error_;
    int upload_failures_ = 0;
    std::optional<common::Error> drill_error_;
    std::string drill_status_ = "passed";
};

TEST_F(BackupJobsTest, CreateVerifyUploadCleanup) {
    WithUpload();
    ScheduledBackup run(ops_, metrics_);
    JobOutcome o = run.Attempt();
    EXPECT_TRUE(o.ok) << o.detail;
    EXPECT_EQ(calls_, (std::vector<std::string>{"create", "verify bk1", "upload bk1", "cleanup"}));
    EXPECT_EQ(o.detail,
              "backup bk1 verified, 2048 bytes, offsite copy uploaded, retention removed 1");
    EXPECT_EQ(Sample(registry_, "aragora_backup_success_total{type=\"full\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_total{result=\"passed\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_last_success_timestamp_seconds"),
              common::EpochSeconds(clock_.SystemNow()));
}

TEST_F(BackupJobsTest, WithoutOffsiteThereIsNoUpload) {
    ScheduledBackup run(ops_, metrics_);
    EXPECT_TRUE(run.Attempt().ok);
    EXPECT_EQ(calls_, (std::vector<std::string>{"create", "verify bk1", "cleanup"}));
}

TEST_F(BackupJobsTest, ARetryAfterAFailedUploadDoesNotMakeAnotherBackup) {
    WithUpload();
    upload_failures_ = 1;
    ScheduledBackup run(ops_, metrics_);
    JobOutcome first = run.Attempt();
    EXPECT_FALSE(first.ok);
    EXPECT_TRUE(first.retryable);
    EXPECT_EQ(first.stage, ops::BackupStage::kOffsite);
    JobOutcome second = run.Attempt();
    EXPECT_TRUE(second.ok) << second.detail;
    EXPECT_EQ(calls_, (std::vector<std::string>{"create", "verify bk1", "upload bk1", "upload bk1",
                                                "cleanup"}));
    EXPECT_EQ(Sample(registry_, "aragora_backup_success_total{type=\"full\"}"), 1);
}

TEST_F(BackupJobsTest, AVerifyErrorIsRetriedOnTheSameBackup) {
    verify_errors_ = {MakeError(ErrorCode::kUnavailable, "scratch dir full")};
    ScheduledBackup run(ops_, metrics_);
    JobOutcome first = run.Attempt();
    EXPECT_FALSE(first.ok);
    EXPECT_TRUE(first.retryable);
    EXPECT_EQ(first.stage, ops::BackupStage::kVerify);
    EXPECT_TRUE(run.Attempt().ok);
    EXPECT_EQ(calls_, (std::vector<std::string>{"create", "verify bk1", "verify bk1", "cleanup"}));
}

TEST_F(BackupJobsTest, ABackupThatFailsVerificationIsAFindingNamingTheReceipt) {
    verify_ok_ = false;
    ScheduledBackup run(ops_, metrics_);
    JobOutcome o = run.Attempt();
    EXPECT_FALSE(o.ok);
    EXPECT_FALSE(o.retryable);
    EXPECT_EQ(o.stage, ops::BackupStage::kVerify);
    EXPECT_EQ(o.detail,
              "backup bk1 failed verification: receipt receipt=rcpt_7: signature mismatch");
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_total{result=\"failed\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_success_total{type=\"full\"}"), 0);
    EXPECT_EQ(Sample(registry_, "aragora_backup_last_success_timestamp_seconds"), 0);
}

TEST_F(BackupJobsTest, CreateErrorsRetryableOrNot) {
    create_error_ = MakeError(ErrorCode::kStorage, "disk full");
    ScheduledBackup run(ops_, metrics_);
    JobOutcome o = run.Attempt();
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.retryable);
    EXPECT_EQ(o.stage, ops::BackupStage::kCreate);
    create_error_ = MakeError(ErrorCode::kNotImplemented, "postgresql backups not built");
    EXPECT_FALSE(run.Attempt().retryable);
}

TEST_F(BackupJobsTest, CleanupFailureDoesNotFailTheBackup) {
    cleanup_error_ = MakeError(ErrorCode::kStorage, "manifest locked");
    ScheduledBackup run(ops_, metrics_);
    JobOutcome o = run.Attempt();
    EXPECT_TRUE(o.ok);
    EXPECT_NE(o.detail.find("retention cleanup failed: manifest locked"), std::string::npos);
    EXPECT_EQ(Sample(registry_, "aragora_backup_failures_total{stage=\"cleanup\"}"), 1);
}

TEST_F(BackupJobsTest, DrillPassedRecordsRto) {
    JobOutcome o = RunScheduledDrill(ops_, metrics_);
    EXPECT_TRUE(o.ok);
    EXPECT_EQ(o.detail, "drill dr0123456789 of backup bk1 passed rpo_s=600 rto_s=42.0");
    EXPECT_EQ(Sample(registry_, "aragora_restore_total{result=\"passed\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_rto_compliance{tier=\"enterprise\"}"), 1);
}

TEST_F(BackupJobsTest, DrillFailedOrImpossibleIsNotRetried) {
    drill_status_ = "failed";
    JobOutcome failed = RunScheduledDrill(ops_, metrics_);
    EXPECT_FALSE(failed.ok);
    EXPECT_FALSE(failed.retryable);
    EXPECT_EQ(failed.stage, ops::BackupStage::kDrill);
    EXPECT_NE(failed.detail.find("receipt rcpt_7: signature mismatch"), std::string::npos);
    EXPECT_EQ(Sample(registry_, "aragora_restore_total{result=\"failed\"}"), 1);
    drill_error_ = MakeError(ErrorCode::kNotFound, "no verified backup to drill");
    EXPECT_FALSE(RunScheduledDrill(ops_, metrics_).retryable);
    drill_error_ = MakeError(ErrorCode::kUnavailable, "scratch dir unavailable");
    EXPECT_TRUE(RunScheduledDrill(ops_, metrics_).retryable);
}

TEST_F(BackupJobsTest, JobsFromSettings) {
    config::BackupSettings s;
    s.interval_seconds = 3600;
    s.dr_drill_interval_days = 7;
    auto jobs = MakeBackupJobs(s, ops_, metrics_);
    ASSERT_EQ(jobs.size(), 2u);
    EXPECT_EQ(jobs[0].name, "backup");
    EXPECT_EQ(jobs[0].rule.period, std::chrono::hours(1));
    EXPECT_EQ(jobs[1].name, "dr_drill");
    EXPECT_EQ(jobs[1].rule.period, std::chrono::hours(24 * 7));
    JobAttempt attempt = jobs[0].begin_slot("2026-12-06T10:00:00.000Z");
    EXPECT_TRUE(attempt().ok);
    s.dr_drill_enabled = false;
    EXPECT_EQ(MakeBackupJobs(s, ops_, metrics_).size(), 1u);
}

}  // namespace
}  // namespace aragora::app
