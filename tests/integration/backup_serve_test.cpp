// Backups in the built `aragora serve` (SQLite): with BACKUP_ENABLED the scheduler starts
// and says when it runs next; /api/v2/backups makes a backup of the live database that
// verifies every receipt; a drill measures RPO and RTO; paths outside the restore dir
// are refused; /metrics carries the backup metrics, and after a restart the last-success
// timestamp comes back from the manifest (an alert does not fire on a restart).
//
// The scheduled slot itself is placed 12 h away (BACKUP_DAILY_TIME), so that nothing
// here depends on when the test runs; the slot rule and the one-instance-per-slot claim
// are tested on a manual clock (tests/unit/app/backup_scheduler_test.cpp).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <string>

#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

// "HH:MM" (UTC) 12 hours from now.
std::string TwelveHoursAway() {
    const std::time_t t = std::time(nullptr) + 12 * 3600;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[8];
    std::strftime(buf, sizeof buf, "%H:%M", &tm);
    return buf;
}

// The value of one sample line of the Prometheus text, or -1 when absent.
double Metric(const HttpClient& http, const std::string& series) {
    const std::string text = http.Get("/metrics").body;
    const auto pos = text.find("\n" + series + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + series.size() + 2));
}

TEST(BackupServeTest, BackupsVerifyDrillMetricsAndRestart) {
    TempDir tmp;
    const std::string data = tmp.path() + "/data";
    const std::map<std::string, std::string> env = {
        {"BACKUP_ENABLED", "true"},
        {"BACKUP_DIR", tmp.path() + "/backups"},
        {"ARAGORA_RESTORE_DIR", tmp.path() + "/restore"},
        {"BACKUP_DAILY_TIME", TwelveHoursAway()},
    };
    std::string backup_id;
    double last_success = 0;
    {
        ServerProcess server(data, env);
        ASSERT_TRUE(server.StartReady()) << server.error() << server.Logs();
        HttpClient http = server.Http();
        ASSERT_TRUE(PollUntil([&] { return Metric(http, "aragora_backup_scheduler_running") == 1; },
                              std::chrono::seconds(10)))
            << server.Logs();
        EXPECT_NE(server.Logs().find("scheduler job=backup every 86400 s"), std::string::npos)
            << server.Logs();
        EXPECT_NE(server.Logs().find("scheduler job=dr_drill every 2592000 s"), std::string::npos);
        EXPECT_EQ(Metric(http, "aragora_backup_last_success_timestamp_seconds"), 0);

        // Receipts to verify: two finished debates.
        for (int i = 0; i < 2; ++i) {
            const std::string id = CreateDebate(http, DebateBody("backup me " + std::to_string(i)));
            ASSERT_TRUE(WaitForStatus(http, id, {"completed"}));
        }

        HttpResponse created = http.Post("/api/v2/backups", R"({"notes": "integration"})");
        ASSERT_EQ(created.status, 201) << created.Describe();
        json::object c = created.Object();
        backup_id = std::string(c["backup"].as_object()["id"].as_string());
        EXPECT_EQ(c["backup"].as_object()["status"], "verified") << created.body;
        json::object& verification = c["verification"].as_object();
        EXPECT_EQ(verification["receipts_valid"], true) << created.body;
        EXPECT_EQ(verification["receipt_chain"].as_object()["receipts"], 2) << created.body;
        EXPECT_TRUE(fs::exists(std::string(c["backup"].as_object()["backup_path"].as_string())));

        HttpResponse list = http.Get("/api/v2/backups");
        ASSERT_EQ(list.status, 200);
        EXPECT_EQ(list.Object()["pagination"].as_object()["total"], 1);

        HttpResponse drill = http.Post("/api/v2/dr/drill", "{}");
        ASSERT_EQ(drill.status, 200) << drill.Describe();
        EXPECT_EQ(drill.Object()["status"], "passed") << drill.body;

        HttpResponse escape = http.Post("/api/v2/backups/" + backup_id + "/restore-test",
                                        R"({"target_path": "../../etc/x.sqlite3"})");
        ExpectError(escape, 403, "forbidden", "restore-test outside ARAGORA_RESTORE_DIR");

        HttpResponse status = http.Get("/api/v2/dr/status");
        ASSERT_EQ(status.status, 200);
        EXPECT_EQ(status.Object()["scheduler"].as_object()["enabled"], true);

        EXPECT_EQ(Metric(http, "aragora_backup_success_total{type=\"full\"}"), 1);
        EXPECT_EQ(Metric(http, "aragora_restore_total{result=\"passed\"}"), 1);
        last_success = Metric(http, "aragora_backup_last_success_timestamp_seconds");
        EXPECT_GT(last_success, 1.7e9);
        EXPECT_LT(Metric(http, "aragora_backup_age_seconds"), 600);
        EXPECT_EQ(Metric(http, "aragora_rpo_compliance{tier=\"free\"}"), 1);
        EXPECT_EQ(server.Terminate(), 0);
    }
    {
        ServerProcess again(data, env);
        ASSERT_TRUE(again.StartReady()) << again.error() << again.Logs();
        HttpClient http = again.Http();
        // Seeded from the manifest by the startup sequence (after readiness: polled).
        ASSERT_TRUE(PollUntil(
            [&] {
                return Metric(http, "aragora_backup_last_success_timestamp_seconds") ==
                       last_success;
            },
            std::chrono::seconds(10)))
            << again.Logs();
        HttpResponse one = http.Get("/api/v2/backups/" + backup_id.substr(0, 4));
        EXPECT_EQ(one.status, 200) << one.Describe();
        EXPECT_EQ(again.Terminate(), 0);
    }
}

}  // namespace
}  // namespace aragora::testing
