// Receipt retention against the built binary (issue 19): held receipts stay, the others go,
// each leaves a tombstone so `aragora receipt verify-chain` stays green; the deletion log,
// the retention status, the metrics on /metrics and the audit rows — once through the
// admin's cleanup on demand and once through the scheduled cleanup of `serve` itself.
//
// Loopback only; every wait polls a condition with a deadline.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

// Runs `sql` on the database file with the SQLite C API (the server is stopped).
void ExecSql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK)
        << path;
    char* message = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    std::string error = message ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << error;
}

// The value of an unlabelled sample of the Prometheus text, or -1 when absent.
double Sample(const std::string& text, const std::string& name) {
    const std::string key = "\n" + name + " ";
    auto pos = text.find(key);
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + key.size()));
}

class ReceiptRetentionIntegrationTest : public ::testing::Test {
protected:
    std::string DataDir() const { return dir_.path() + "/data"; }
    std::string DbPath() const { return DataDir() + "/aragora.sqlite3"; }

    std::unique_ptr<ServerProcess> Start(std::map<std::string, std::string> env = {}) {
        auto server = std::make_unique<ServerProcess>(DataDir(), std::move(env));
        EXPECT_TRUE(server->StartReady()) << server->error() << server->Logs();
        return server;
    }

    // Runs `n` debates to completion; their receipt ids, in order.
    static std::vector<std::string> RunDebates(const HttpClient& http, int n) {
        std::vector<std::string> receipts;
        for (int i = 0; i < n; ++i) {
            const std::string id =
                CreateDebate(http, DebateBody("Retention question " + std::to_string(i), 1, 2));
            auto done = WaitForStatus(http, id, {"completed"});
            if (!done) return receipts;
            receipts.push_back(StringOf(*done, "receipt_id"));
        }
        return receipts;
    }

    // `aragora receipt verify-chain --json` on the data dir, with the server's key.
    ProcessResult VerifyChain() const {
        return RunProcess({ARAGORA_BINARY, "receipt", "verify-chain", "--json"},
                          ServerEnv(DataDir(), {}));
    }

    static json::object ChainReport(const ProcessResult& r) {
        boost::system::error_code ec;
        json::value v = json::parse(r.out, ec);
        return !ec && v.is_object() ? v.as_object() : json::object{};
    }

    TempDir dir_;
};

TEST_F(ReceiptRetentionIntegrationTest, HeldReceiptsStayOthersGoAndTheChainStaysGreen) {
    auto server = Start();
    const HttpClient http = server->Http();
    const std::vector<std::string> receipts = RunDebates(http, 4);
    ASSERT_EQ(receipts.size(), 4u);
    const std::string held = receipts[1];

    // The hold, by an admin (the open development mode is the owner).
    HttpResponse hold =
        http.Post("/api/v2/receipts/" + held + "/legal-hold",
                  R"({"reason": "Litigation - Smith v. Corp", "matter_id": "M-17"})");
    ASSERT_EQ(hold.status, 200) << hold.Describe();
    json::object h = hold.Object();
    EXPECT_EQ(StringOf(h, "receipt_id"), held);
    EXPECT_EQ(h["legal_hold"].as_object()["active"], true);
    EXPECT_EQ(h["legal_hold"].as_object()["matter_id"], "M-17");
    ExpectError(http.Post("/api/v2/receipts/" + held + "/legal-hold", R"({"matter_id": "x"})"), 400,
                "validation_error", "hold without reason");
    ExpectError(http.Post("/api/v2/receipts/rcpt_nope/legal-hold", R"({"reason": "r"})"), 404,
                "not_found", "hold on an unknown receipt");

    HttpResponse status = http.Get("/api/v2/receipts/retention-status");
    ASSERT_EQ(status.status, 200) << status.Describe();
    json::object st = status.Object();
    EXPECT_EQ(st["total_receipts"], 4);
    EXPECT_EQ(st["retention_policy"].as_object()["retention_days"], 2555);
    EXPECT_EQ(st["already_expired"], 0);
    EXPECT_EQ(st["legal_holds"].as_object()["active"], 1);
    EXPECT_EQ(st["age_distribution"].as_object()["0-30_days"], 4);
    EXPECT_EQ(st["scheduler"].as_object()["running"], true);
    EXPECT_TRUE(IsIsoUtc(st["timestamps"].as_object()["oldest_receipt"]));

    // Everything is "old" with a retention of 0 days: the dry run, then the cleanup.
    HttpResponse dry =
        http.Post("/api/v2/receipts/retention/run", R"({"dry_run": true, "retention_days": 0})");
    ASSERT_EQ(dry.status, 200) << dry.Describe();
    EXPECT_EQ(dry.Object()["receipts_deleted"], 3);
    EXPECT_EQ(dry.Object()["held_kept"], 1);
    EXPECT_EQ(http.Get("/api/v2/receipts/" + receipts[0]).status, 200);  // nothing deleted

    HttpResponse run = http.Post("/api/v2/receipts/retention/run", R"({"retention_days": 0})");
    ASSERT_EQ(run.status, 200) << run.Describe();
    json::object result = run.Object();
    EXPECT_EQ(result["success"], true);
    EXPECT_EQ(result["receipts_deleted"], 3);
    EXPECT_EQ(result["receipt_ids"],
              (json::array{json::value(receipts[0]), json::value(receipts[2]),
                           json::value(receipts[3])}));
    EXPECT_EQ(result["receipt_ids"], dry.Object()["receipt_ids"]);  // preview = deletion

    // The held receipt stays and verifies; the others answer 404 saying they were deleted.
    EXPECT_EQ(http.Get("/api/v2/receipts/" + held).status, 200);
    EXPECT_EQ(http.Post("/api/v2/receipts/" + held + "/verify").Object()["valid"], true);
    for (const std::string& id : {receipts[0], receipts[2], receipts[3]}) {
        HttpResponse gone = http.Get("/api/v2/receipts/" + id);
        ExpectError(gone, 404, "not_found", "deleted receipt " + id);
        EXPECT_NE(gone.body.find("was deleted (retention_expired)"), std::string::npos)
            << gone.body;
    }
    EXPECT_EQ(http.Get("/api/v2/receipts").Object()["total"], 1);

    // The deletion log: the original's to_dict plus the tombstone.
    HttpResponse log = http.Get("/api/v2/receipts/deletions?limit=10");
    ASSERT_EQ(log.status, 200) << log.Describe();
    json::object page = log.Object();
    EXPECT_EQ(page["total"], 3);
    std::set<std::string> logged;
    for (const auto& v : page["deletions"].as_array()) {
        json::object d = v.as_object();
        logged.insert(StringOf(d, "receipt_id"));
        EXPECT_EQ(StringOf(d, "reason"), "retention_expired");
        EXPECT_EQ(StringOf(d, "operator"), "user:anonymous");
        EXPECT_EQ(StringOf(d, "deletion_id").rfind("del_", 0), 0u);
        EXPECT_TRUE(IsIsoUtc(d["deleted_at_iso"]));
        EXPECT_TRUE(IsNumber(d["deleted_at"]));
        EXPECT_EQ(d["metadata"].as_object()["retention_days"], 0);
        EXPECT_EQ(d["receipt_checksum"], d["content_hash"]);
        EXPECT_TRUE(IsInteger(d["chain_seq"]));
    }
    EXPECT_EQ(logged, (std::set<std::string>{receipts[0], receipts[2], receipts[3]}));

    // A receipt made after the newest one was deleted chains onto its tombstone.
    const std::vector<std::string> later = RunDebates(http, 1);
    ASSERT_EQ(later.size(), 1u);
    ProcessResult verify = VerifyChain();
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    json::object report = ChainReport(verify);
    EXPECT_EQ(report["valid"], true) << verify.out;
    EXPECT_EQ(report["receipts"], 2);
    EXPECT_EQ(report["tombstones"], 3);
    EXPECT_EQ(report["verified"], 2);

    // The dashboard's metrics.
    const std::string metrics = http.Get("/metrics").body;
    EXPECT_EQ(Sample(metrics, "aragora_receipt_retention_scheduler_running"), 1);
    EXPECT_EQ(Sample(metrics, "aragora_receipt_cleanup_total"), 1);
    EXPECT_EQ(Sample(metrics, "aragora_receipts_deleted_total"), 3);
    EXPECT_EQ(Sample(metrics, "aragora_receipt_cleanup_errors_total"), 0);
    EXPECT_EQ(Sample(metrics, "aragora_receipt_retention_seconds"), 2555.0 * 86400);
    EXPECT_EQ(Sample(metrics, "aragora_receipts_legal_hold"), 1);
    EXPECT_GE(Sample(metrics, "aragora_receipts_stored"), 1);
    EXPECT_GE(Sample(metrics, "aragora_decision_receipts_total"), 4);  // issued, tombstones too
    EXPECT_GT(Sample(metrics, "aragora_receipt_last_cleanup_timestamp"), 1.7e9);
    EXPECT_NE(metrics.find("aragora_receipt_cleanup_duration_seconds_bucket{le="),
              std::string::npos);
    if (::access("/usr/bin/promtool", X_OK) == 0) {  // as Prometheus will read them
        TempDir tmp;
        WriteAll(tmp.path() + "/metrics.txt", metrics);
        auto lint = RunProcess(
            {"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + tmp.path() + "/metrics.txt"},
            {});
        EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
    }

    // Released: nothing keeps it any more.
    HttpResponse release = http.Request("DELETE", "/api/v2/receipts/" + held + "/legal-hold");
    ASSERT_EQ(release.status, 200) << release.Describe();
    EXPECT_EQ(release.Object()["released"], true);
    EXPECT_EQ(release.Object()["legal_hold"].as_object()["active"], false);
    EXPECT_EQ(
        http.Request("DELETE", "/api/v2/receipts/" + held + "/legal-hold").Object()["released"],
        false);

    // The admin writes are in the audit log.
    HttpResponse audit = http.Get("/api/v1/audit?limit=50");
    ASSERT_EQ(audit.status, 200) << audit.Describe();
    for (const char* action :
         {"receipt_legal_hold_placed", "receipt_retention_run", "receipt_legal_hold_released"}) {
        EXPECT_NE(audit.body.find(action), std::string::npos) << action;
    }
    EXPECT_EQ(server->Terminate(), 0);
}

TEST_F(ReceiptRetentionIntegrationTest, TheScheduledCleanupOfServeEnforcesTheRetention) {
    std::vector<std::string> receipts;
    {
        auto server = Start();
        const HttpClient http = server->Http();
        receipts = RunDebates(http, 3);
        ASSERT_EQ(receipts.size(), 3u);
        ASSERT_EQ(http.Post("/api/v2/receipts/" + receipts[0] + "/legal-hold",
                            R"({"reason": "Regulator inquiry"})")
                      .status,
                  200);
        ASSERT_EQ(server->Terminate(), 0);
    }
    // Ten years pass for these receipts (only the column retention reads changes).
    ExecSql(DbPath(), "UPDATE receipts SET created_at = '2016-01-01T00:00:00.000Z'");

    auto server = Start({{"ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS", "0"}});
    const HttpClient http = server->Http();
    ASSERT_TRUE(PollUntil(
        [&] { return Sample(http.Get("/metrics").body, "aragora_receipt_cleanup_total") >= 1; },
        seconds(30)))
        << server->Logs();
    EXPECT_EQ(Sample(http.Get("/metrics").body, "aragora_receipts_deleted_total"), 2);
    EXPECT_EQ(http.Get("/api/v2/receipts/" + receipts[0]).status, 200);
    for (const std::string& id : {receipts[1], receipts[2]}) {
        ExpectError(http.Get("/api/v2/receipts/" + id), 404, "not_found", "expired " + id);
    }
    json::object page = http.Get("/api/v2/receipts/deletions").Object();
    ASSERT_EQ(page["total"], 2);
    EXPECT_EQ(StringOf(page["deletions"].as_array()[0].as_object(), "operator"),
              "system:receipt_retention_scheduler");
    json::object st = http.Get("/api/v2/receipts/retention-status").Object();
    json::object stats = st["scheduler"].as_object()["stats"].as_object();
    EXPECT_EQ(stats["total_runs"], 1);
    EXPECT_EQ(stats["total_receipts_deleted"], 2);
    EXPECT_EQ(st["legal_holds"].as_object()["expired_but_held"], 1);
    EXPECT_EQ(st["deleted_receipts"], 2);
    EXPECT_NE(server->Logs().find("receipt retention cleanup: deleted 2 receipt(s)"),
              std::string::npos);
    EXPECT_EQ(server->Terminate(), 0);

    ProcessResult verify = VerifyChain();
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_EQ(ChainReport(verify)["tombstones"], 2);

    // The check can fail: an altered receipt is named, exit 1.
    ExecSql(DbPath(), "UPDATE receipts SET json = replace(json, 'Retention', 'Detention')");
    ProcessResult tampered = VerifyChain();
    EXPECT_EQ(tampered.exit_code, 1) << tampered.out << tampered.err;
    EXPECT_NE(tampered.out.find(receipts[0]), std::string::npos) << tampered.out;
}

}  // namespace
}  // namespace aragora::testing
