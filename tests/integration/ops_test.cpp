// What an operator reads and runs, against the built binary (issue 18, items 4 and 7):
// /api/v1/status and /api/v1/health while PostgreSQL and Redis are down (real servers,
// stopped and started by the test); websocket.log written as the runbook greps it, with
// the JSON `domain` field; a warning naming each runbook variable the build cannot
// honour; the memory dump file the runbook `cat`s; one server (or worker) per SQLite data
// dir, while CLI reads keep working.
//
// Loopback only; every wait polls a condition with a deadline.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/redis/redis_test_server.hpp"
#include "unit/storage/pg_test_server.hpp"
#include "worker_process.hpp"
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using storage::test_support::PgTestDatabase;
using storage::test_support::PgTestServer;
using RedisServer = redis::testing::RedisTestServer;

json::object StatusData(const HttpClient& http) {
    HttpResponse r = http.Get("/api/v1/status");
    json::object o = r.Object();
    if (r.status != 200 || !o.contains("data") || !o["data"].is_object()) return {};
    return o["data"].as_object();
}

std::string Component(const json::object& data, const char* name) {
    const auto* summary = data.if_contains("components_summary");
    if (summary == nullptr || !summary->is_object()) return "";
    return StringOf(summary->as_object(), name);
}

std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

// Lines of `text` containing every one of `parts`.
int CountLines(const std::string& text, const std::vector<std::string>& parts) {
    int n = 0;
    for (const auto& line : Lines(text)) {
        bool all = true;
        for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
        n += all ? 1 : 0;
    }
    return n;
}

// --- 7. status and health say what is true ----------------------------------------------

TEST(OpsTest, StatusAndHealthSayPostgresAndRedisAreDownAndRecover) {
    std::string error;
    PgTestDatabase db;
    ASSERT_EQ(db.error(), "");
    PgTestServer* pg = PgTestServer::Get(&error);
    ASSERT_NE(pg, nullptr) << error;
    RedisServer redis;
    ASSERT_EQ(redis.Start(), "");
    TempDir dir;
    ServerProcess server(dir.path(),
                         {{"DATABASE_URL", db.url()}, {"ARAGORA_REDIS_URL", redis.Url() + "/0"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http(server.api_port(), seconds(10));

    json::object data = StatusData(http);
    EXPECT_EQ(StringOf(data, "status"), "operational") << json::serialize(data);
    EXPECT_EQ(Component(data, "database"), "ok");
    EXPECT_EQ(Component(data, "redis"), "ok");  // it used to say not_configured, always

    // Redis down: the client notices at once; the status says so, /health degrades.
    redis.Kill();
    EXPECT_TRUE(PollUntil([&] { return Component(data = StatusData(http), "redis") == "error"; },
                          seconds(10), milliseconds(50)))
        << json::serialize(data);
    EXPECT_EQ(StringOf(data, "status"), "degraded");
    HttpResponse h = http.Get("/api/v1/health");
    EXPECT_EQ(h.status, 200) << h.Describe();
    EXPECT_EQ(StringOf(h.Object(), "status"), "degraded");
    EXPECT_EQ(StringOf(h.Object()["checks"].as_object()["redis"].as_object(), "status"), "error");

    // PostgreSQL down too: the DB watcher's verdict (a ping every 2 s) reaches the status.
    ASSERT_TRUE(pg->Shutdown(&error)) << error;
    struct Restart {  // the shared test server must come back even if an assertion fails
        PgTestServer* pg;
        ~Restart() {
            std::string e;
            if (!pg->running()) pg->StartAgain(&e);
        }
    } restart{pg};
    EXPECT_TRUE(PollUntil([&] { return Component(data = StatusData(http), "database") == "error"; },
                          seconds(15), milliseconds(50)))
        << json::serialize(data);
    EXPECT_EQ(StringOf(data, "status"), "down");
    EXPECT_EQ(StringOf(data, "message"), "database unavailable; redis unavailable");
    EXPECT_EQ(Component(data, "redis"), "error");
    h = http.Get("/api/v1/health");
    EXPECT_EQ(h.status, 503) << h.Describe();
    EXPECT_EQ(StringOf(h.Object(), "status"), "unhealthy");
    EXPECT_EQ(StringOf(h.Object()["checks"].as_object()["database"].as_object(), "status"),
              "error");
    EXPECT_EQ(http.Get("/readyz").status, 503);

    // Both back: the status recovers by itself.
    ASSERT_TRUE(pg->StartAgain(&error)) << error;
    ASSERT_EQ(redis.Start(), "");
    EXPECT_TRUE(
        PollUntil([&] { return StringOf(data = StatusData(http), "status") == "operational"; },
                  seconds(20), milliseconds(100)))
        << json::serialize(data) << "\n"
        << server.Logs();
    EXPECT_EQ(Component(data, "database"), "ok");
    EXPECT_EQ(Component(data, "redis"), "ok");
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

TEST(OpsTest, DeepHealthReportsTheKnowledgeMoundNotConfigured) {
    TempDir dir;
    ServerProcess server(dir.path(), {{"ANTHROPIC_API_KEY", "sk-test"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpResponse deep = server.Http().Get("/health");
    ASSERT_EQ(deep.status, 200) << deep.Describe();
    json::object checks = deep.Object()["checks"].as_object();
    EXPECT_EQ(StringOf(checks["knowledge_mound"].as_object(), "status"), "not_configured");
    EXPECT_EQ(StringOf(deep.Object(), "overall"), "ok") << deep.body;
    EXPECT_FALSE(fs::exists(dir.path() + "/knowledge")) << "nothing writes there";
    EXPECT_EQ(server.Terminate(), 0);
}

// --- 7. websocket.log and the domain field ----------------------------------------------

TEST(OpsTest, WebSocketLifeIsInWebsocketLogAndJsonLinesCarryTheirDomain) {
    TempDir dir, logs;
    ServerProcess server(dir.path(), {{"ARAGORA_LOG_DIR", logs.path()},
                                      {"ARAGORA_LOG_FORMAT", "json"},
                                      // The per-IP WebSocket connection rate, for a 1008.
                                      {"ARAGORA_RATE_LIMIT_DISABLED", "0"},
                                      {"ARAGORA_RATE_LIMIT", "10000"},
                                      {"ARAGORA_WS_CONNECTIONS_PER_MINUTE", "2"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    const std::string id = CreateDebate(server.Http(), DebateBody("Logged on the wire", 1, 2));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitForStatus(server.Http(), id, {"completed"}, seconds(30)));

    // 1: connect with a subscription, subscribe to another one, close with 1000.
    WsClient first;
    ASSERT_TRUE(first.Connect(server.api_port(), "/ws?debate_id=" + id)) << first.error();
    ASSERT_TRUE(first.Send(R"({"type": "subscribe", "debate_id": "d_not_there"})"));
    bool ended = false;
    for (int i = 0; i < 100 && !ended; ++i) {
        auto frame = first.Read(seconds(10));
        ASSERT_TRUE(frame.has_value()) << first.error();
        ended = frame->find("\"not_found\"") != std::string::npos;
    }
    first.Close();
    // 2: recycled by SIGUSR1 (1012).
    WsClient second;
    ASSERT_TRUE(second.Connect(server.api_port(), "/ws")) << second.error();
    ASSERT_TRUE(second.Read(seconds(10)).has_value());  // connection_info
    server.SendSignal(SIGUSR1);
    while (second.Read(seconds(10))) {
    }
    EXPECT_EQ(second.close_code().value_or(0), 1012);
    // 3: over the connection rate: closed 1008.
    WsClient third;
    ASSERT_TRUE(third.Connect(server.api_port(), "/ws")) << third.error();
    while (third.Read(seconds(10))) {
    }
    EXPECT_EQ(third.close_code().value_or(0), 1008);

    const std::string ws_log = logs.path() + "/websocket.log";
    auto has = [&](std::vector<std::string> parts) {
        return CountLines(ReadAll(ws_log), parts) > 0;
    };
    const std::vector<std::vector<std::string>> expected = {
        {"ws connected conn=", "remote=127.0.0.1", "authenticated=true"},
        {"ws subscribe conn=", "debate_id=" + id, "replay_from_seq=0"},
        {"ws subscribe conn=", "debate_id=d_not_there"},
        {"ws closed conn=", "code=0 peer_code=1000", "subscribed_total=2"},
        {"SIGUSR1", "code=1012", "connections="},
        {"ws closed conn=", "code=1012"},
        {"ws refused conn=", "code=1008", "reason=connection_rate"},
        {"ws closed conn=", "code=1008"},
    };
    for (const auto& parts : expected) {
        std::string want;
        for (const auto& p : parts) want += "[" + p + "]";
        EXPECT_TRUE(PollUntil([&] { return has(parts); }, seconds(10))) << want << " not in:\n"
                                                                        << ReadAll(ws_log);
    }
    // The subscription's debate_id is a JSON field of its own (grep "debate_id=<id>").
    bool subscribe_fact = false;
    for (const auto& line : Lines(ReadAll(ws_log))) {
        json::value v = json::parse(line);
        ASSERT_TRUE(v.is_object()) << line;
        EXPECT_EQ(StringOf(v.as_object(), "domain"), "websocket") << line;
        if (line.find("ws subscribe conn=") != std::string::npos &&
            StringOf(v.as_object(), "debate_id") == id)
            subscribe_fact = true;
    }
    EXPECT_TRUE(subscribe_fact);

    ASSERT_EQ(server.Terminate(), 0);
    // Every JSON line of every file has a domain; each file has the one it is named for.
    const std::map<std::string, std::string> domain_of = {
        {"api.log", "api"}, {"debate.log", "debate"}, {"websocket.log", "websocket"}};
    for (const auto& [file, domain] : domain_of) {
        int with_domain = 0;
        for (const auto& line : Lines(ReadAll(logs.path() + "/" + file))) {
            json::value v = json::parse(line);
            ASSERT_TRUE(v.is_object() && v.as_object().contains("domain")) << file << ": " << line;
            if (StringOf(v.as_object(), "domain") == domain) ++with_domain;
        }
        EXPECT_GT(with_domain, 0) << file;
    }
    // The drain's closing of the WebSockets is in websocket.log too.
    EXPECT_EQ(CountLines(ReadAll(ws_log), {"ws close_all code=1001", "draining"}), 1);
}

// --- 7. variables the runbooks name that this build cannot honour ----------------------

TEST(OpsTest, RunbookVariablesThisBuildCannotHonourAreNamedOnceAtStart) {
    TempDir dir;
    // SENTRY_DSN (src/sentry) and OTEL_EXPORTER_OTLP_ENDPOINT (src/trace) are honoured.
    const std::map<std::string, std::string> env = {
        {"ARAGORA_STORE_DIR", "/var/lib/aragora/knowledge"}};
    ServerProcess server(dir.path(), env);
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    const std::string logs = server.Logs();
    EXPECT_EQ(CountLines(logs, {"WARNING", "ARAGORA_STORE_DIR is set but not supported"}), 1)
        << logs;
    EXPECT_EQ(server.Terminate(), 0);

    // Without them: no such warning.
    TempDir dir2;
    ServerProcess plain(dir2.path());
    ASSERT_TRUE(plain.StartReady()) << plain.error();
    EXPECT_EQ(plain.Logs().find("not supported by this build"), std::string::npos);
    EXPECT_EQ(plain.Terminate(), 0);

    // The worker says the same.
    TempDir wdir;
    WorkerProcess worker(wdir.path(), env);
    ASSERT_TRUE(worker.Start()) << worker.Logs();
    EXPECT_EQ(CountLines(worker.Logs(), {"ARAGORA_STORE_DIR is set but not supported"}), 1)
        << worker.Logs();
    EXPECT_EQ(worker.Terminate(seconds(20)), 0);
}

// --- 7. the memory dump file ------------------------------------------------------------

TEST(OpsTest, MemoryDumpWritesTheFileTheRunbookCats) {
    TempDir dir, out;
    const std::string path = out.path() + "/aragora_memory_dump.json";
    ServerProcess server(dir.path(),
                         {{"ARAGORA_MEMORY_PROFILING", "1"}, {"ARAGORA_MEMORY_DUMP_PATH", path}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    for (int round = 0; round < 2; ++round) {  // the second one replaces the first
        HttpResponse r = server.Http().Post("/api/debug/memory-dump");
        ASSERT_EQ(r.status, 200) << r.Describe();
        ASSERT_TRUE(fs::exists(path));
        const std::string file = ReadAll(path);
        json::value v = json::parse(file);  // cat ... | jq '.top_allocations[:10]'
        ASSERT_TRUE(v.is_object()) << file;
        EXPECT_EQ(v, r.Json()) << "the file is the answer's document";
        EXPECT_EQ(StringOf(v.as_object(), "path"), path);
        ASSERT_TRUE(v.as_object().at("top_allocations").is_array());
        EXPECT_FALSE(v.as_object().at("top_allocations").as_array().empty());
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(out.path()))
            names.push_back(e.path().filename().string());
        EXPECT_EQ(names, std::vector<std::string>{"aragora_memory_dump.json"})
            << "no temporary file is left behind";
    }
    EXPECT_EQ(server.Terminate(), 0);
}

// --- 4. one server per SQLite data dir --------------------------------------------------

TEST(OpsTest, ASecondServerOrWorkerOnTheSameDataDirExitsNamingTheHolder) {
    TempDir dir;
    // Slow demo agents: the first server's debate is running while the others try.
    const std::map<std::string, std::string> env = {{"ARAGORA_DEMO_LATENCY_MS", "100"},
                                                    {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"}};
    ServerProcess first(dir.path(), env);
    ASSERT_TRUE(first.StartReady()) << first.error() << "\n" << first.Logs();
    const std::string id = CreateDebate(first.Http(), DebateBody("Held by the first", 4, 3));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitForEvents(first.Http(), id, 3));
    const std::string holder = "(pid " + std::to_string(first.pid()) + ";";

    ServerProcess second(dir.path(), env);
    EXPECT_FALSE(second.Start(seconds(20)));
    ASSERT_EQ(second.WaitExit(seconds(20)), std::optional<int>(1)) << second.Logs();
    const auto err = Lines(second.Stderr());
    ASSERT_EQ(err.size(), 1u) << second.Stderr();
    EXPECT_NE(err[0].find("aragora: cannot start: "), std::string::npos) << err[0];
    EXPECT_NE(err[0].find(" is in use by another aragora process " + holder), std::string::npos)
        << err[0];
    EXPECT_NE(err[0].find(dir.path() + "/aragora.sqlite3.lock"), std::string::npos) << err[0];

    const std::vector<std::string> worker = {ARAGORA_BINARY, "worker"};
    ProcessResult w = RunProcess(worker, ServerEnv(dir.path(), env), 30);
    EXPECT_EQ(w.exit_code, 1) << w.out << w.err;
    EXPECT_NE(w.err.find("is in use by another aragora process " + holder), std::string::npos)
        << w.err;
    EXPECT_EQ(Lines(w.err).size(), 1u) << w.err;

    // CLI reads keep working beside the server.
    ProcessResult list =
        RunProcess({ARAGORA_BINARY, "debates", "list", "--json"}, ServerEnv(dir.path(), {}), 30);
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find(id), std::string::npos) << list.out;

    // Nobody marked the first's debate failed: it ends once, completed, by its own run.
    auto done = WaitForStatus(first.Http(), id, {"completed", "failed", "cancelled"}, seconds(60));
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << first.Logs();
    int ends = 0;
    for (const auto& e : AllEvents(first.Http(), id)) ends += StringOf(e, "type") == "debate_end";
    EXPECT_EQ(ends, 1);

    // The lock goes with its holder, even killed: the next server starts.
    first.Kill();
    ServerProcess third(dir.path(), env);
    ASSERT_TRUE(third.StartReady()) << third.error() << "\n" << third.Logs();
    EXPECT_EQ(ReadAll(dir.path() + "/aragora.sqlite3.lock"), std::to_string(third.pid()) + "\n");
    EXPECT_EQ(third.Terminate(), 0);
    EXPECT_EQ(ReadAll(dir.path() + "/aragora.sqlite3.lock"), "") << "emptied on a clean exit";
}

}  // namespace
}  // namespace aragora::testing
