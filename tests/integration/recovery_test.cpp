// Lifecycle and recovery of `aragora serve`: the concurrency cap (running, pending, 503
// overloaded), SIGTERM while a debate runs (drain, exit 0, nothing left `running`),
// kill -9 (the debate becomes failed/interrupted; everything else survives and verifies),
// and the runbook procedures followed literally against the test's data directory:
// "Clear Corrupted Cache", emergency_recovery.sh and "Rollback Deployment".

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// Long debates: 12 rounds, 8 agents, 50 ms per demo call and no early stop: several
// seconds, so they are certainly still running when the test acts on them.
std::map<std::string, std::string> SlowEnv(std::map<std::string, std::string> more = {}) {
    more.emplace("ARAGORA_DEMO_LATENCY_MS", "50");
    more.emplace("ARAGORA_CONVERGENCE_THRESHOLD", "1.0");
    return more;
}

std::string LongBody(const std::string& task) { return DebateBody(task, 12, 8); }

std::string Tail(const std::string& s, std::size_t n = 3000) {
    return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

// Runs `sql` on the database file with the SQLite C API.
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

struct Completed {
    std::string debate_id;
    std::string receipt_id;
};

class RecoveryTest : public ::testing::Test {
protected:
    std::string DataDir() const { return dir_.path() + "/data"; }

    std::unique_ptr<ServerProcess> Start(std::map<std::string, std::string> env = SlowEnv()) {
        auto server = std::make_unique<ServerProcess>(DataDir(), std::move(env));
        EXPECT_TRUE(server->StartReady()) << server->error();
        return server;
    }

    // Runs a short debate to completion on a server with 50 ms calls (1 round, 2 agents).
    Completed RunShort(const HttpClient& http, const std::string& task) {
        const std::string id = CreateDebate(http, DebateBody(task, 1, 2));
        if (id.empty()) return {};
        auto d = WaitForStatus(http, id, {"completed"});
        if (!d) return {};
        return {id, std::string((*d)["receipt_id"].as_string())};
    }

    // Every completed debate is still there, completed, with its receipt, and the
    // receipt verifies.
    void ExpectIntact(const HttpClient& http, const std::vector<Completed>& done) {
        for (const auto& c : done) {
            SCOPED_TRACE(c.debate_id);
            HttpResponse d = http.Get("/api/v1/debates/" + c.debate_id);
            ASSERT_EQ(d.status, 200) << d.Describe();
            EXPECT_EQ(d.Object()["status"], "completed");
            EXPECT_EQ(d.Object()["receipt_id"], c.receipt_id.c_str());
            HttpResponse r = http.Get("/api/v2/receipts/" + c.receipt_id);
            EXPECT_EQ(r.status, 200) << r.Describe();
            HttpResponse v = http.Post("/api/v1/receipts/" + c.receipt_id + "/verify");
            ASSERT_EQ(v.status, 200) << v.Describe();
            EXPECT_EQ(v.Object()["valid"], true) << v.body;
            EXPECT_GT(AllEvents(http, c.debate_id).size(), 5u) << "events lost";
        }
    }

    std::string LongRunning(const HttpClient& http, const std::string& task) {
        const std::string id = CreateDebate(http, LongBody(task));
        if (id.empty()) return id;
        EXPECT_TRUE(WaitForStatus(http, id, {"running"}));
        EXPECT_TRUE(WaitForEvents(http, id, 3)) << "the long debate made no progress";
        return id;
    }

    TempDir dir_;
};

TEST_F(RecoveryTest, ConcurrencyCapQueuesOneThenAnswers503Overloaded) {
    auto server = Start(
        SlowEnv({{"ARAGORA_MAX_CONCURRENT_DEBATES", "1"}, {"ARAGORA_MAX_QUEUED_DEBATES", "1"}}));
    ASSERT_TRUE(server->Running());
    const auto http = server->Http();

    const std::string first = LongRunning(http, "First: runs");
    ASSERT_FALSE(first.empty());
    const std::string second = CreateDebate(http, LongBody("Second: waits"));
    ASSERT_FALSE(second.empty());
    HttpResponse g = http.Get("/api/v1/debates/" + second);
    EXPECT_EQ(g.Object()["status"], "pending") << g.body;

    HttpResponse third = http.Post("/api/v1/debates", LongBody("Third: refused"));
    ExpectError(third, 503, "overloaded", "third debate");
    ASSERT_TRUE(third.Header("Retry-After").has_value()) << third.Describe();
    const std::string retry = *third.Header("Retry-After");
    ASSERT_FALSE(retry.empty());
    EXPECT_TRUE(std::all_of(retry.begin(), retry.end(), ::isdigit)) << "integer seconds: " << retry;
    EXPECT_GE(std::stoi(retry), 1);
    EXPECT_EQ(third.Object()["retry_after"], std::stoi(retry));
    for (const char* h : {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}) {
        EXPECT_TRUE(third.Header(h).has_value()) << h << " missing on 503";
    }

    HttpResponse active = http.Get("/api/v1/debates?status=active");
    EXPECT_EQ(active.Object()["total"], 2) << active.body;
    EXPECT_EQ(http.Get("/api/v1/debates").Object()["total"], 2) << "the refused one was stored";
    EXPECT_EQ(http.Get("/api/v1/health").Object()["checks"].as_object()["active_debates"], 1);

    // The second one is still waiting behind the first.
    EXPECT_EQ(http.Get("/api/v1/debates/" + second).Object()["status"], "pending");
    ASSERT_EQ(http.Post("/api/v1/debates/" + second + "/cancel").status, 200);
    EXPECT_EQ(http.Get("/api/v1/debates/" + second).Object()["status"], "cancelled");
    // A slot in the queue is free again.
    const std::string fourth = CreateDebate(http, LongBody("Fourth: queued"));
    ASSERT_FALSE(fourth.empty());
    EXPECT_EQ(http.Get("/api/v1/debates/" + fourth).Object()["status"], "pending");
    ASSERT_EQ(http.Post("/api/v1/debates/" + first + "/cancel").status, 200);
    // The queued one starts when the slot frees.
    EXPECT_TRUE(WaitForStatus(http, fourth, {"running"}, seconds(15)));
    EXPECT_EQ(http.Post("/api/v1/debates/" + fourth + "/cancel").status, 200);
    EXPECT_EQ(server->Terminate(), 0) << Tail(server->Logs());
}

// A second signal while draining forces the exit at once (non-zero), without waiting for
// the grace period; the next start recovers what was running.
TEST_F(RecoveryTest, SecondSignalForcesExit) {
    ServerProcess server(DataDir(), SlowEnv({{"ARAGORA_SHUTDOWN_GRACE_SECONDS", "60"}}));
    ASSERT_TRUE(server.StartReady()) << server.error();
    const auto http = server.Http();
    const std::string id = LongRunning(http, "Running when two signals come");
    ASSERT_FALSE(id.empty());
    const auto sent = Clock::now();
    server.SendSignal(SIGTERM);
    // The first signal starts the 60 s drain; the process is still there.
    EXPECT_FALSE(server.WaitExit(std::chrono::milliseconds(300)).has_value());
    server.SendSignal(SIGINT);
    auto code = server.WaitExit(seconds(10));
    ASSERT_TRUE(code.has_value()) << "a second signal did not force the exit";
    EXPECT_NE(*code, 0);
    EXPECT_LT(Clock::now() - sent, seconds(10));

    auto again = Start();
    ASSERT_TRUE(again->Running());
    HttpResponse d = again->Http().Get("/api/v1/debates/" + id);
    ASSERT_EQ(d.status, 200) << d.Describe();
    const std::string status = StringOf(d.Object(), "status");
    EXPECT_TRUE(status == "failed" || status == "cancelled" || status == "completed") << d.body;
}

TEST_F(RecoveryTest, SigtermDrainsExitsZeroAndLeavesNothingRunning) {
    ServerProcess server(DataDir(), SlowEnv({{"ARAGORA_SHUTDOWN_GRACE_SECONDS", "1"}}));
    ASSERT_TRUE(server.Start()) << server.error();
    // As early as possible: before ready, /readyz is 503 {"status": "not_ready", "reason"}.
    HttpResponse early = server.Http().Get("/readyz");
    if (early.status == 503) {
        EXPECT_EQ(early.Object()["status"], "not_ready") << early.body;
        EXPECT_TRUE(early.Object()["reason"].is_string()) << early.body;
    } else {
        EXPECT_EQ(early.status, 200) << early.Describe();
    }
    ASSERT_TRUE(server.WaitReady()) << server.error();
    const auto http = server.Http();
    const Completed done = RunShort(http, "Finished before the shutdown");
    ASSERT_FALSE(done.receipt_id.empty());
    const std::string id = LongRunning(http, "Running when SIGTERM comes");
    ASSERT_FALSE(id.empty());
    WsClient ws;
    ASSERT_TRUE(ws.Connect(server.api_port(), "/ws?debate_id=" + id)) << ws.error();

    const auto sent = Clock::now();
    server.SendSignal(SIGTERM);
    // Best effort: while draining, /readyz says so (the listener may already be closed).
    HttpResponse draining = HttpClient(server.api_port(), seconds(2)).Get("/readyz");
    if (draining.status == 503) {
        EXPECT_EQ(draining.Object()["status"], "not_ready");
        EXPECT_EQ(draining.Object()["reason"], "draining") << draining.body;
    }
    // Open WebSockets are closed with 1001.
    while (ws.Read(seconds(10))) {
    }
    EXPECT_TRUE(ws.closed()) << ws.error();
    EXPECT_EQ(ws.close_code().value_or(0), 1001) << ws.error();

    auto code = server.WaitExit(seconds(20));
    ASSERT_TRUE(code.has_value()) << "still running 20 s after SIGTERM";
    EXPECT_EQ(*code, 0) << Tail(server.Logs());
    EXPECT_LT(Clock::now() - sent, seconds(10)) << "a 1 s grace period took too long";

    auto again = Start();
    ASSERT_TRUE(again->Running());
    const auto http2 = again->Http();
    HttpResponse d = http2.Get("/api/v1/debates/" + id);
    ASSERT_EQ(d.status, 200) << d.Describe();
    const std::string status = StringOf(d.Object(), "status");
    EXPECT_TRUE(status == "cancelled" || status == "completed") << d.body;
    if (status == "cancelled") {
        EXPECT_TRUE(d.Object()["receipt_id"].is_null());
    }
    EXPECT_EQ(http2.Get("/api/v1/debates?status=active").Object()["total"], 0);
    auto events = AllEvents(http2, id);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["type"], "debate_end") << "a drained debate ends with debate_end";
    ExpectIntact(http2, {done});
    EXPECT_EQ(again->Terminate(), 0) << Tail(again->Logs());
}

TEST_F(RecoveryTest, KillNineMarksTheRunningDebateInterruptedAndKeepsTheRest) {
    auto server = Start();
    const auto http = server->Http();
    std::vector<Completed> done;
    for (int i = 0; i < 2; ++i) {
        done.push_back(RunShort(http, "Completed before the crash #" + std::to_string(i)));
        ASSERT_FALSE(done.back().receipt_id.empty());
    }
    const std::string id = LongRunning(http, "Running when the process dies");
    ASSERT_FALSE(id.empty());
    server->Kill();

    auto again = Start();
    const auto http2 = again->Http();
    HttpResponse d = http2.Get("/api/v1/debates/" + id);
    ASSERT_EQ(d.status, 200) << d.Describe();
    json::object o = d.Object();
    EXPECT_EQ(o["status"], "failed") << d.body;
    ASSERT_TRUE(o["error"].is_object()) << d.body;
    EXPECT_EQ(o["error"].as_object()["code"], "interrupted");
    EXPECT_TRUE(o["error"].as_object()["message"].is_string());
    EXPECT_TRUE(o["receipt_id"].is_null());
    EXPECT_EQ(http2.Get("/api/v1/debates?status=active").Object()["total"], 0);
    EXPECT_EQ(http2.Get("/api/v1/debates?status=failed").Object()["total"], 1);
    ExpectError(http2.Get("/api/v1/debates/" + id + "/receipt"), 404, "not_found",
                "receipt of the interrupted debate");
    // Every debate ends with debate_end, including failed ones, so that a client replaying
    // it is not left waiting.
    auto events = AllEvents(http2, id);
    EXPECT_TRUE(!events.empty() && events.back()["type"] == "debate_end")
        << "the interrupted debate's stored events (" << events.size()
        << ") do not end with a debate_end {status: failed}";
    if (!events.empty() && events.back()["type"] == "debate_end") {
        EXPECT_EQ(events.back()["data"].as_object()["status"], "failed");
        EXPECT_EQ(events.back()["seq"], static_cast<std::int64_t>(events.size()));
    }
    ExpectIntact(http2, done);

    // The receipt chain goes on after the crash.
    const Completed after = RunShort(http2, "Completed after the restart");
    ASSERT_FALSE(after.receipt_id.empty());
    json::object r1 = http2.Get("/api/v2/receipts/" + done[1].receipt_id).Object();
    json::object r2 = http2.Get("/api/v2/receipts/" + after.receipt_id).Object();
    EXPECT_EQ(r2["previous_hash"], r1["content_hash"]);
    EXPECT_EQ(again->Terminate(), 0) << Tail(again->Logs());
}

// Production logs are JSON lines (ARAGORA_LOG_FORMAT=json) that the runbook pipes to jq
// and greps by correlation id.
TEST_F(RecoveryTest, JsonLogsAreOneObjectPerLineAndCarryCorrelationIds) {
    auto server = Start(SlowEnv({{"ARAGORA_LOG_FORMAT", "json"}}));
    ASSERT_TRUE(server->Running());
    HttpResponse r = server->Http().Get("/api/v1/nope", {{"X-Correlation-ID", "corr-xyz789"}});
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(server->Terminate(), 0) << Tail(server->Logs());
    std::istringstream lines(server->Stderr());
    std::string line;
    int count = 0;
    bool traced = false;
    while (std::getline(lines, line)) {
        ++count;
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        ASSERT_TRUE(!ec && v.is_object()) << "not a JSON log line: " << line;
        const json::object& o = v.as_object();
        for (const char* key : {"timestamp", "level", "logger", "message"}) {
            EXPECT_TRUE(o.contains(key)) << key << " missing: " << line;
        }
        if (line.find("corr-xyz789") != std::string::npos) traced = true;
    }
    EXPECT_GE(count, 3);
    EXPECT_TRUE(traced) << "no log line carries the request's correlation id";
}

// operational-runbook.md, "Clear Corrupted Cache": rm /var/lib/aragora/*.db, restart.
TEST_F(RecoveryTest, RunbookClearCorruptedCacheKeepsEveryDebateAndReceipt) {
    auto server = Start();
    const auto http = server->Http();
    std::vector<Completed> done;
    for (int i = 0; i < 2; ++i) {
        done.push_back(RunShort(http, "Survives the cache clearing #" + std::to_string(i)));
        ASSERT_FALSE(done.back().receipt_id.empty());
    }
    // rm <data dir>/*.db
    std::vector<fs::path> removed;
    for (const auto& entry : fs::directory_iterator(DataDir())) {
        if (entry.path().extension() == ".db") {
            removed.push_back(entry.path());
            fs::remove(entry.path());
        }
    }
    EXPECT_TRUE(fs::exists(DataDir() + "/aragora.sqlite3"));
    // systemctl restart aragora
    EXPECT_EQ(server->Terminate(), 0) << Tail(server->Logs());
    auto again = Start();
    ASSERT_TRUE(again->Running());
    const auto http2 = again->Http();
    EXPECT_EQ(http2.Get("/api/v1/debates").Object()["total"], 2);
    EXPECT_EQ(http2.Get("/api/v2/receipts").Object()["pagination"].as_object()["total"], 2);
    ExpectIntact(http2, done);
    EXPECT_EQ(again->Terminate(), 0) << Tail(again->Logs());
}

// operational-runbook.md, "Complete Service Outage" (emergency_recovery.sh): stop, kill -9,
// rm /tmp/aragora_*.lock, start with safe defaults, check /api/health.
TEST_F(RecoveryTest, RunbookEmergencyRecoveryLosesNothing) {
    auto server = Start();
    const auto http = server->Http();
    std::vector<Completed> done;
    for (int i = 0; i < 2; ++i) {
        done.push_back(RunShort(http, "Survives the outage #" + std::to_string(i)));
        ASSERT_FALSE(done.back().receipt_id.empty());
    }
    const std::string id = LongRunning(http, "Running during the outage");
    ASSERT_FALSE(id.empty());

    // 1. Stop everything (pkill -9 -f aragora: only our own server here).
    server->Kill();
    // 2. Clear potentially corrupted state: rm -f /tmp/aragora_*.lock (safe to delete when
    //    no process runs, ARCHITECTURE.md).
    for (const auto& entry : fs::directory_iterator("/tmp")) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("aragora_", 0) == 0 && entry.path().extension() == ".lock") {
            std::error_code ec;
            fs::remove(entry.path(), ec);
        }
    }
    // 4. Start with safe defaults.
    auto again = Start(
        SlowEnv({{"ARAGORA_MAX_CONCURRENT_DEBATES", "3"}, {"ARAGORA_RATE_LIMIT_DISABLED", "1"}}));
    ASSERT_TRUE(again->Running());
    const auto http2 = again->Http();
    // 5. Verify.
    HttpResponse health = http2.Get("/api/health");
    ASSERT_EQ(health.status, 200) << health.Describe();
    EXPECT_EQ(health.Object()["status"], "healthy");
    ExpectIntact(http2, done);
    HttpResponse d = http2.Get("/api/v1/debates/" + id);
    EXPECT_EQ(d.Object()["status"], "failed") << d.body;
    EXPECT_EQ(http2.Get("/api/v1/debates").Object()["total"], 3);
    // And it works: a new debate completes.
    EXPECT_FALSE(RunShort(http2, "After the outage").receipt_id.empty());
    EXPECT_EQ(again->Terminate(), 0) << Tail(again->Logs());
}

// operational-runbook.md, "Rollback Deployment": a binary facing a schema it cannot use
// refuses with one clear line; an additive newer migration is fine.
TEST_F(RecoveryTest, RunbookRollbackRefusesAnIncompatibleSchemaWithOneLine) {
    std::vector<Completed> done;
    {
        auto server = Start();
        const auto http = server->Http();
        done.push_back(RunShort(http, "Before the rollback"));
        ASSERT_FALSE(done.back().receipt_id.empty());
        EXPECT_EQ(server->Terminate(), 0) << Tail(server->Logs());
    }
    const std::string db = DataDir() + "/aragora.sqlite3";
    ASSERT_NO_FATAL_FAILURE(
        ExecSql(db,
                "INSERT INTO schema_migrations (version, name, applied_at, additive) "
                "VALUES (999, 'from a newer release', '2030-01-01T00:00:00Z', 0)"));
    {
        ServerProcess refused(DataDir(), SlowEnv());
        refused.Start(seconds(15));
        auto code = refused.WaitExit(seconds(15));
        ASSERT_TRUE(code.has_value())
            << "the server keeps running on a schema it cannot use; output:\n"
            << Tail(refused.Logs());
        EXPECT_NE(*code, 0);
        std::istringstream lines(refused.Stderr());
        std::string line;
        int mentioning = 0;
        while (std::getline(lines, line)) {
            if (line.find("999") != std::string::npos && line.find("schema") != std::string::npos) {
                ++mentioning;
            }
        }
        EXPECT_GE(mentioning, 1) << "no line names the schema version 999:\n" << refused.Stderr();
    }
    ASSERT_NO_FATAL_FAILURE(
        ExecSql(db, "UPDATE schema_migrations SET additive = 1 WHERE version = 999"));
    {
        auto server = Start();
        ASSERT_TRUE(server->Running()) << Tail(server->Logs());
        const auto http = server->Http();
        // Verify rollback: curl /api/health | jq '.version'
        HttpResponse health = http.Get("/api/health");
        ASSERT_EQ(health.status, 200) << health.Describe();
        EXPECT_TRUE(health.Object()["version"].is_string());
        ExpectIntact(http, done);
        EXPECT_EQ(server->Terminate(), 0) << Tail(server->Logs());
    }
}

}  // namespace
}  // namespace aragora::testing
