#include "ops/doctor.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "common/time.hpp"

namespace aragora::ops {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;

constexpr std::uint64_t kMiB = 1024ull * 1024;
constexpr std::uint64_t kGiB = 1024 * kMiB;

config::EnvLookup EnvOf(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

system_clock::time_point At(const char* iso) { return *common::ParseIso8601(iso); }

// ---- settings ----

TEST(ProbeSettingsTest, EveryBadVariableIsNamedAndTheOthersStillApply) {
    auto probe = ProbeSettings(EnvOf({{"ARAGORA_ENV", "development"},
                                      {"ARAGORA_API_PORT", "abc"},
                                      {"ARAGORA_LOG_LEVEL", "LOUD"},
                                      {"ARAGORA_WS_PORT", "9999"}}));
    ASSERT_EQ(probe.errors.size(), 2u);
    EXPECT_EQ(probe.errors[0].field, "ARAGORA_LOG_LEVEL");
    EXPECT_EQ(probe.errors[1].field, "ARAGORA_API_PORT");
    EXPECT_FALSE(probe.secrets_error);
    EXPECT_FALSE(probe.defaults_only);
    EXPECT_EQ(probe.settings.server.api_port, 8080);  // the bad one: its default
    EXPECT_EQ(probe.settings.server.ws_port, 9999);   // the good one kept
    EXPECT_EQ(FailedSetting(probe, {"ARAGORA_API_PORT"}), "ARAGORA_API_PORT");
    EXPECT_EQ(FailedSetting(probe, {"ARAGORA_LOG_*"}), "ARAGORA_LOG_LEVEL");
    EXPECT_EQ(FailedSetting(probe, {"ARAGORA_WS_PORT", "DATABASE_URL"}), std::nullopt);
}

TEST(ProbeSettingsTest, MissingProductionSecretsAreTheSecretsLineNotTheSettingsLine) {
    auto probe = ProbeSettings(EnvOf({}));  // `serve` defaults to production
    EXPECT_TRUE(probe.errors.empty());
    ASSERT_TRUE(probe.secrets_error);
    EXPECT_EQ(probe.secrets_error->field, "ARAGORA_RECEIPT_SIGNING_KEY");
    EXPECT_NE(probe.secrets_error->message.find("ARAGORA_JWT_SECRET"), std::string::npos);
    EXPECT_TRUE(probe.settings.production);
    EXPECT_EQ(probe.settings.env, "production");
}

TEST(ProbeSettingsTest, AShortJwtSecretInProductionIsASecretsError) {
    auto probe = ProbeSettings(EnvOf({{"ARAGORA_RECEIPT_SIGNING_KEY", "k"},
                                      {"ARAGORA_JWT_SECRET", "short"},
                                      {"ARAGORA_METRICS_PORT", "-4"}}));
    ASSERT_EQ(probe.errors.size(), 1u);
    EXPECT_EQ(probe.errors[0].field, "ARAGORA_METRICS_PORT");
    ASSERT_TRUE(probe.secrets_error);
    EXPECT_NE(probe.secrets_error->message.find("at least 32 bytes"), std::string::npos);
    EXPECT_TRUE(probe.settings.production);
}

TEST(ProbeSettingsTest, GoodProductionSettingsHaveNoError) {
    auto probe = ProbeSettings(EnvOf({{"ARAGORA_RECEIPT_SIGNING_KEY", "k"},
                                      {"ARAGORA_JWT_SECRET", std::string(40, 'j')},
                                      {"ARAGORA_DATA_DIR", "/srv/aragora"}}));
    EXPECT_TRUE(probe.errors.empty());
    EXPECT_FALSE(probe.secrets_error);
    EXPECT_EQ(probe.settings.storage.data_dir, "/srv/aragora");
    EXPECT_EQ(probe.settings.backup.dir, "/srv/aragora/backups");
}

// ---- free space ----

TEST(FreeSpaceTest, Thresholds) {
    EXPECT_EQ(ClassifyFreeSpace(50 * kGiB, 100 * kGiB).status, CheckStatus::kOk);
    EXPECT_EQ(ClassifyFreeSpace(50 * kGiB, 100 * kGiB).detail, "50.0 GiB free (50 %)");
    EXPECT_EQ(ClassifyFreeSpace(10 * kGiB, 100 * kGiB).status, CheckStatus::kOk);
    EXPECT_EQ(ClassifyFreeSpace(9 * kGiB, 100 * kGiB).status, CheckStatus::kWarn);
    EXPECT_EQ(ClassifyFreeSpace(2 * kGiB, 100 * kGiB).status, CheckStatus::kWarn);
    // Below 1 % of a large disk, even with gigabytes left.
    EXPECT_EQ(ClassifyFreeSpace(5 * kGiB, 1024 * kGiB).status, CheckStatus::kFail);
    // Below 100 MiB of a small disk, even at 10 %+.
    EXPECT_EQ(ClassifyFreeSpace(99 * kMiB, 500 * kMiB).status, CheckStatus::kFail);
    EXPECT_EQ(ClassifyFreeSpace(100 * kMiB, 500 * kMiB).status, CheckStatus::kOk);
    EXPECT_EQ(ClassifyFreeSpace(0, 0).status, CheckStatus::kOk);  // pseudo file system
}

TEST(FreeSpaceTest, FormatBytes) {
    EXPECT_EQ(FormatBytes(0), "0 B");
    EXPECT_EQ(FormatBytes(1023), "1023 B");
    EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
    EXPECT_EQ(FormatBytes(100 * kMiB), "100.0 MiB");
    EXPECT_EQ(FormatBytes(75 * kGiB + kGiB / 5), "75.2 GiB");
}

// ---- backups ----

constexpr const char* kManifest = R"({
  "backups": {
    "a1b2c3d4": {"id": "a1b2c3d4", "created_at": "2026-12-01T02:00:00.123456+00:00",
                 "backup_type": "full", "status": "verified", "verified": true},
    "e5f6a7b8": {"id": "e5f6a7b8", "created_at": "2026-12-02T02:00:00", "status": "completed"},
    "c9d0e1f2": {"id": "c9d0e1f2", "created_at": "2026-12-03T02:00:00Z", "status": "failed",
                 "error": "disk full"},
    "broken":   {"status": "verified"},
    "unknown":  {"created_at": "2026-12-04T02:00:00Z", "status": "half-done"}
  },
  "updated_at": "2026-12-03T02:00:01Z"
})";

TEST(BackupManifestTest, NewestUsableIsTheNewestCompletedOrVerified) {
    auto summary = SummarizeBackupManifest(kManifest);
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->total, 5);
    EXPECT_EQ(summary->usable, 2);
    ASSERT_TRUE(summary->newest_usable);
    EXPECT_EQ(summary->newest_usable->id, "e5f6a7b8");
    EXPECT_EQ(summary->newest_usable->created_at, At("2026-12-02T02:00:00Z"));
    ASSERT_TRUE(summary->newest);
    EXPECT_EQ(summary->newest->id, "c9d0e1f2");
    EXPECT_EQ(summary->newest->error, "disk full");
}

TEST(BackupManifestTest, NotAManifestIsAnError) {
    EXPECT_FALSE(SummarizeBackupManifest("{not json"));
    EXPECT_FALSE(SummarizeBackupManifest(R"({"backups": []})"));
    EXPECT_FALSE(SummarizeBackupManifest(R"([1, 2])"));
    auto empty = SummarizeBackupManifest(R"({"backups": {}})");
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->total, 0);
    EXPECT_FALSE(empty->newest_usable);
}

TEST(BackupManifestTest, TimesInTheOriginalsFormats) {
    EXPECT_EQ(ParseBackupTime("2026-12-01T02:00:00.123Z"), At("2026-12-01T02:00:00.123Z"));
    EXPECT_EQ(ParseBackupTime("2026-12-01T02:00:00.123456+00:00"), At("2026-12-01T02:00:00.123Z"));
    EXPECT_EQ(ParseBackupTime("2026-12-01T02:00:00"), At("2026-12-01T02:00:00Z"));
    EXPECT_EQ(ParseBackupTime("2026-12-01T04:30:00+02:30"), At("2026-12-01T02:00:00Z"));
    EXPECT_EQ(ParseBackupTime("2026-12-01T00:00:00-02:00"), At("2026-12-01T02:00:00Z"));
    EXPECT_FALSE(ParseBackupTime("yesterday"));
    EXPECT_FALSE(ParseBackupTime("2026-12-01T02:00:00+2"));
}

BackupManifestSummary OneBackup(const char* created_at) {
    BackupManifestSummary s;
    BackupEntry b{"abc", At(created_at), BackupStatus::kVerified, ""};
    s.total = 1;
    s.usable = 1;
    s.newest_usable = b;
    s.newest = b;
    return s;
}

TEST(BackupAgeTest, FreshIsOkStaleWarns) {
    config::BackupSettings daily;
    const auto now = At("2026-12-05T12:00:00Z");
    auto fresh = BackupAgeOutcome(OneBackup("2026-12-05T02:00:00Z"), now, daily);
    EXPECT_EQ(fresh.status, CheckStatus::kOk);
    EXPECT_EQ(fresh.detail, "newest abc (verified) 10.0 h old, 1 usable of 1");
    // Just under twice a day: still ok; over: stale.
    EXPECT_EQ(BackupAgeOutcome(OneBackup("2026-12-03T13:00:00Z"), now, daily).status,
              CheckStatus::kOk);
    auto stale = BackupAgeOutcome(OneBackup("2026-12-02T12:00:00Z"), now, daily);
    EXPECT_EQ(stale.status, CheckStatus::kWarn);
    EXPECT_NE(stale.detail.find("3.0 days old"), std::string::npos) << stale.detail;
    EXPECT_NE(stale.detail.find("older than twice the schedule interval (24.0 h)"),
              std::string::npos)
        << stale.detail;

    config::BackupSettings hourly;
    hourly.interval_seconds = 3600;
    EXPECT_EQ(BackupAgeOutcome(OneBackup("2026-12-05T10:30:00Z"), now, hourly).status,
              CheckStatus::kOk);
    EXPECT_EQ(BackupAgeOutcome(OneBackup("2026-12-05T09:59:00Z"), now, hourly).status,
              CheckStatus::kWarn);
}

TEST(BackupAgeTest, NoBackupWarnsOnlyWhenScheduled) {
    const auto now = At("2026-12-05T12:00:00Z");
    config::BackupSettings off;
    config::BackupSettings on;
    on.enabled = true;
    EXPECT_EQ(BackupAgeOutcome({}, now, off).status, CheckStatus::kSkip);
    EXPECT_EQ(BackupAgeOutcome({}, now, on).status, CheckStatus::kWarn);
    auto failed_only = SummarizeBackupManifest(
        R"({"backups": {"x": {"created_at": "2026-12-05T02:00:00Z", "status": "failed",
                              "error": "disk full"}}})");
    ASSERT_TRUE(failed_only);
    auto outcome = BackupAgeOutcome(*failed_only, now, off);
    EXPECT_EQ(outcome.status, CheckStatus::kWarn);
    EXPECT_NE(outcome.detail.find("disk full"), std::string::npos) << outcome.detail;
}

TEST(BackupAgeTest, ALatestFailedAttemptWarns) {
    auto summary = SummarizeBackupManifest(kManifest);
    ASSERT_TRUE(summary);
    auto outcome = BackupAgeOutcome(*summary, At("2026-12-03T03:00:00Z"), {});
    EXPECT_EQ(outcome.status, CheckStatus::kWarn);
    EXPECT_NE(outcome.detail.find("the latest attempt c9d0e1f2 failed: disk full"),
              std::string::npos)
        << outcome.detail;
}

TEST(BackupAgeTest, FormatAge) {
    EXPECT_EQ(FormatAge(std::chrono::seconds(45)), "45 s");
    EXPECT_EQ(FormatAge(std::chrono::minutes(12)), "12 min");
    EXPECT_EQ(FormatAge(std::chrono::minutes(210)), "3.5 h");
    EXPECT_EQ(FormatAge(hours(48)), "2.0 days");
}

}  // namespace
}  // namespace aragora::ops
