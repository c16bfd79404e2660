// The backup metrics as Prometheus renders them: names, label sets, the alerting
// timestamp and age (with and without a backup), RPO/RTO compliance per tier.

#include "ops/backup_metrics.hpp"

#include <gtest/gtest.h>

#include "common/time.hpp"

namespace aragora::ops {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

double Sample(const metrics::Registry& r, const std::string& series) {
    const std::string text = r.RenderPrometheus();
    const auto pos = text.find("\n" + series + " ");
    EXPECT_NE(pos, std::string::npos) << series << " not in\n" << text;
    if (pos == std::string::npos) return -12345;
    return std::stod(text.substr(pos + series.size() + 2));
}

class BackupMetricsTest : public ::testing::Test {
protected:
    common::ManualClock clock_{common::ParseIso8601("2026-12-06T10:00:00.000Z").value()};
    metrics::Registry registry_;
    BackupMetrics m_{registry_, clock_};
};

TEST_F(BackupMetricsTest, NoBackupYetLooksAncient) {
    EXPECT_EQ(Sample(registry_, "aragora_backup_last_success_timestamp_seconds"), 0);
    EXPECT_GT(Sample(registry_, "aragora_backup_age_seconds"), 1.7e9);
    EXPECT_EQ(Sample(registry_, "aragora_rpo_compliance{tier=\"free\"}"), 0);
    EXPECT_EQ(Sample(registry_, "aragora_rto_compliance{tier=\"free\"}"), 0);
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_total{result=\"failed\"}"), 0);
    EXPECT_FALSE(m_.LastSuccess());
}

TEST_F(BackupMetricsTest, ABackupSetsEveryGaugeAndAgesWithTheClock) {
    const auto created = clock_.SystemNow() - seconds(30);
    m_.BackupSucceeded("full", 12.5, 4096, created);
    EXPECT_EQ(Sample(registry_, "aragora_backup_success_total{type=\"full\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_size_bytes{type=\"full\"}"), 4096);
    EXPECT_EQ(Sample(registry_, "aragora_backup_duration_seconds_count{type=\"full\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_last_backup_timestamp{type=\"full\"}"),
              common::EpochSeconds(created));
    EXPECT_EQ(Sample(registry_, "aragora_backup_last_success_timestamp_seconds"),
              common::EpochSeconds(created));
    EXPECT_EQ(Sample(registry_, "aragora_backup_age_seconds"), 30);
    EXPECT_EQ(Sample(registry_, "aragora_rpo_compliance{tier=\"enterprise\"}"), 1);

    clock_.Advance(minutes(20));
    EXPECT_EQ(Sample(registry_, "aragora_backup_age_seconds"), 20 * 60 + 30);
    m_.Refresh();
    EXPECT_EQ(Sample(registry_, "aragora_rpo_compliance{tier=\"enterprise\"}"), 0);
    EXPECT_EQ(Sample(registry_, "aragora_rpo_compliance{tier=\"pro\"}"), 1);
    clock_.Advance(hours(2));
    m_.Refresh();
    EXPECT_EQ(Sample(registry_, "aragora_rpo_compliance{tier=\"pro\"}"), 0);
    EXPECT_EQ(Sample(registry_, "aragora_rpo_compliance{tier=\"free\"}"), 1);
}

TEST_F(BackupMetricsTest, AnOlderSeedDoesNotMoveTheLastSuccessBack) {
    const auto newer = clock_.SystemNow() - minutes(1);
    m_.SeedLastSuccess(newer);
    m_.SeedLastSuccess(newer - hours(5));
    EXPECT_EQ(common::EpochSeconds(*m_.LastSuccess()), common::EpochSeconds(newer));
}

TEST_F(BackupMetricsTest, UnknownTypesShareOneSeries) {
    m_.BackupSucceeded("weird-type-from-a-request", 1, 1, clock_.SystemNow());
    EXPECT_EQ(Sample(registry_, "aragora_backup_success_total{type=\"other\"}"), 1);
}

TEST_F(BackupMetricsTest, DrillRtoDecidesRtoCompliance) {
    m_.Restore(true, 90 * 60);
    m_.DrillRto(90 * 60);  // 1.5 h: within free (24 h) and pro (4 h), not enterprise (1 h)
    EXPECT_EQ(Sample(registry_, "aragora_restore_total{result=\"passed\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_restore_duration_seconds_count"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_rto_compliance{tier=\"free\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_rto_compliance{tier=\"pro\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_rto_compliance{tier=\"enterprise\"}"), 0);
}

TEST_F(BackupMetricsTest, FailuresAndSchedulerRuns) {
    m_.Failure(BackupStage::kOffsite);
    m_.Verification(false, 3);
    m_.SchedulerRun("backup", "missed", 2);
    m_.SchedulerRunning(true);
    EXPECT_EQ(Sample(registry_, "aragora_backup_failures_total{stage=\"offsite\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_total{result=\"failed\"}"), 1);
    EXPECT_EQ(Sample(registry_, "aragora_backup_verification_duration_seconds_count"), 1);
    EXPECT_EQ(
        Sample(registry_, "aragora_backup_scheduler_runs_total{job=\"backup\",result=\"missed\"}"),
        2);
    EXPECT_EQ(Sample(registry_, "aragora_backup_scheduler_running"), 1);
}

}  // namespace
}  // namespace aragora::ops
