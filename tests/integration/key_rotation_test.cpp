// Key rotation under load against the built binary (issue 23 acceptance): debate content
// sealed (ARAGORA_ENCRYPT_DEBATE_CONTENT) on SQLite, a small re-encryption batch;
//  1. a client thread creates debates and reads them (debate, events, receipt verify)
//     while an admin rotates with re-encryption: not one read or write fails;
//  2. a second rotation is killed (SIGKILL) in the middle of its re-encryption pass,
//     observed through rotation-status; after a restart the pass resumes and completes,
//     every debate, event page and receipt still reads and verifies, `aragora keys
//     verify-all` exits 0 and no file of the data directory holds a task's text;
//  3. with the smallest overlap the settings allow (0 days) the next scheduler check
//     (the one a start runs) expires the old keys, and everything still reads without them;
//     the list's task search (?q=) is refused while content is sealed.
//
// Loopback only; every wait polls a condition with a deadline.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

constexpr char kMasterKey[] = "8899aabbccddeeff0011223344556677fedcba98765432100123456789abcdef";
constexpr char kPassword[] = "Correct-Horse-Battery-9";
constexpr char kTaskMarker[] = "zebracrossing";  // in every task; must never be on disk

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

struct Done {
    std::string debate_id;
    std::string receipt_id;
};

class KeyRotationTest : public ::testing::Test {
protected:
    std::string DataDir() const { return dir_.path() + "/data"; }
    std::map<std::string, std::string> Env() const {
        return {{"ARAGORA_ENCRYPTION_KEY", kMasterKey},
                {"ARAGORA_ENCRYPT_DEBATE_CONTENT", "true"},
                {"ARAGORA_KEY_ROTATION_ENABLED", "true"},
                {"ARAGORA_KEY_ROTATION_BATCH_SIZE", "2"},
                {"ARAGORA_KEY_ROTATION_OVERLAP_DAYS", "0"}};
    }
    std::map<std::string, std::string> CliEnv() const {
        auto env = ServerEnv(DataDir(), Env());
        env["ARAGORA_LOG_LEVEL"] = "WARNING";
        return env;
    }
    void AddAdmin() {
        ProcessResult r = RunProcess({ARAGORA_BINARY, "users", "add", "admin@example.com", "--role",
                                      "admin", "--password", kPassword},
                                     CliEnv(), 30);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    Headers Login(const HttpClient& http) {
        auto r = http.Post(
            "/api/v1/auth/login",
            json::serialize(json::object{{"email", "admin@example.com"}, {"password", kPassword}}));
        EXPECT_EQ(r.status, 200) << r.body;
        return Bearer(StringOf(r.Object(), "access_token"));
    }
    // One short debate to completion; "" ids (and a gtest failure) when it did not complete.
    static Done RunDebate(const HttpClient& http, const Headers& h, const std::string& task) {
        auto c = http.Post("/api/v1/debates", DebateBody(task, 1, 2), h);
        if (c.status != 201) {
            ADD_FAILURE() << "create: " << c.Describe();
            return {};
        }
        const std::string id = StringOf(c.Object(), "debate_id");
        const auto deadline = std::chrono::steady_clock::now() + seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            auto d = http.Get("/api/v1/debates/" + id, h);
            if (d.status != 200) {
                ADD_FAILURE() << "get " << id << ": " << d.Describe();
                return {};
            }
            json::object o = d.Object();
            const std::string status = StringOf(o, "status");
            if (status == "completed" && o["receipt_id"].is_string()) {
                return {id, std::string(o["receipt_id"].as_string())};
            }
            if (kTerminalStatuses.count(status) != 0 && status != "completed") {
                ADD_FAILURE() << id << " ended " << status;
                return {};
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // bounded by deadline
        }
        ADD_FAILURE() << id << " did not complete";
        return {};
    }
    // Reads one completed debate back: the debate (task readable), every event page, the
    // receipt and its verification. Returns "" when all is well, else what failed.
    static std::string ReadBack(const HttpClient& http, const Headers& h, const Done& d,
                                const std::string& task) {
        auto g = http.Get("/api/v1/debates/" + d.debate_id, h);
        if (g.status != 200) return "get debate: " + g.Describe();
        if (StringOf(g.Object(), "task") != task) return "task differs: " + g.body;
        std::int64_t since = 0;
        std::size_t events = 0;
        for (int page = 0; page < 100; ++page) {
            auto e = http.Get("/api/v1/debates/" + d.debate_id +
                                  "/events?since=" + std::to_string(since) + "&limit=3",
                              h);
            if (e.status != 200) return "events: " + e.Describe();
            json::object o = e.Object();
            events += o["events"].as_array().size();
            if (!o["has_more"].as_bool()) break;
            since = o["next_seq"].to_number<std::int64_t>();
        }
        if (events < 3) return "events lost: " + std::to_string(events);
        auto r = http.Get("/api/v2/receipts/" + d.receipt_id, h);
        if (r.status != 200) return "receipt: " + r.Describe();
        auto v = http.Post("/api/v1/receipts/" + d.receipt_id + "/verify", "", h);
        if (v.status != 200 || v.Object()["valid"] != true) return "verify: " + v.Describe();
        return "";
    }
    static std::string Task(int n) {
        return "Rotation task " + std::to_string(n) + " " + kTaskMarker + ": cache or not?";
    }
    // rotation-status: pass finished (nothing pending, every target done).
    static bool PassComplete(const json::object& s) {
        if (s.at("records_pending").to_number<std::int64_t>() != 0) return false;
        for (const auto& t : s.at("targets").as_array()) {
            if (!t.as_object().at("done").as_bool()) return false;
        }
        return !s.at("targets").as_array().empty();
    }

    TempDir dir_;
};

TEST_F(KeyRotationTest, RotateUnderLoadKillMidPassResumeAndExpire) {
    AddAdmin();
    auto server = std::make_unique<ServerProcess>(DataDir(), Env());
    ASSERT_TRUE(server->StartReady()) << server->error() << server->Logs();
    HttpClient http = server->Http();
    const Headers admin = Login(http);

    std::vector<Done> done;
    std::vector<std::string> tasks;
    int next_task = 0;
    for (; next_task < 6; ++next_task) {
        tasks.push_back(Task(next_task));
        done.push_back(RunDebate(http, admin, tasks.back()));
        ASSERT_FALSE(done.back().receipt_id.empty());
    }

    // --- 1. rotation (v1 → v2) with re-encryption while a client writes and reads -------
    std::atomic<bool> stop{false};
    std::atomic<int> ops{0};
    std::mutex mu;
    std::vector<std::string> failures;
    std::thread client([&] {
        HttpClient c = server->Http();
        int n = 1000;
        while (!stop.load()) {
            const std::string task = Task(n++);
            Done d = RunDebate(c, admin, task);
            std::string err = d.receipt_id.empty() ? "debate did not complete" : "";
            if (err.empty()) err = ReadBack(c, admin, d, task);
            for (std::size_t i = 0; err.empty() && i < 3; ++i) {
                err = ReadBack(c, admin, done[i], tasks[i]);
            }
            ops.fetch_add(1);
            std::lock_guard lock(mu);
            if (!err.empty()) failures.push_back(err);
            if (err.empty()) {
                done.push_back(d);
                tasks.push_back(task);
            }
        }
    });
    // The client is running before the rotation starts.
    ASSERT_TRUE(PollUntil([&] { return ops.load() >= 1; }, seconds(60)));
    auto rotated = http.Post("/api/v1/admin/security/rotate-key", R"({"force": true})", admin);
    ASSERT_EQ(rotated.status, 200) << rotated.body;
    EXPECT_EQ(rotated.Object().at("new_key_version").to_number<int>(), 2);
    // Finished in the request, or by the scheduler afterwards.
    ASSERT_TRUE(PollUntil(
        [&] {
            auto s = http.Get("/api/v1/admin/security/rotation-status", admin);
            return s.status == 200 && PassComplete(s.Object());
        },
        seconds(60)))
        << http.Get("/api/v1/admin/security/rotation-status", admin).body;
    const int ops_at_rotation_end = ops.load();
    ASSERT_TRUE(PollUntil([&] { return ops.load() >= ops_at_rotation_end + 2; }, seconds(60)));
    stop = true;
    client.join();
    {
        std::lock_guard lock(mu);
        EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures[0];
    }
    EXPECT_GE(ops.load(), 3);

    // More data, so the second pass has many batches of 2.
    for (int i = 0; i < 12; ++i, ++next_task) {
        tasks.push_back(Task(next_task));
        done.push_back(RunDebate(http, admin, tasks.back()));
        ASSERT_FALSE(done.back().receipt_id.empty());
    }

    // --- 2. rotation v2 → v3, killed in the middle of its pass ------------------------
    std::thread rotator([&] {
        // Its answer is lost with the process (or it completes: checked below).
        (void)server->Http().Post("/api/v1/admin/security/rotate-key", R"({"force": true})", admin);
    });
    bool mid_pass = false;
    json::object seen;
    PollUntil(
        [&] {
            auto s = http.Get("/api/v1/admin/security/rotation-status", admin);
            if (s.status != 200) return false;
            seen = s.Object();
            if (seen.at("key_version").to_number<int>() != 3) return false;
            std::int64_t rewritten = 0;
            for (const auto& t : seen.at("targets").as_array()) {
                rewritten += t.as_object().at("rewritten").to_number<std::int64_t>();
            }
            if (PassComplete(seen)) return true;  // too late: reported below
            mid_pass = rewritten > 0 && seen.at("records_pending").to_number<std::int64_t>() > 0;
            return mid_pass;
        },
        seconds(60), std::chrono::milliseconds(1));
    server->Kill();
    rotator.join();
    ASSERT_TRUE(mid_pass) << "the pass was not observed half done: " << json::serialize(seen);
    const std::int64_t pending_at_kill = seen.at("records_pending").to_number<std::int64_t>();
    EXPECT_GT(pending_at_kill, 0);

    // Restart: the start's scheduler check resumes the pass, which completes.
    server = std::make_unique<ServerProcess>(DataDir(), Env());
    ASSERT_TRUE(server->StartReady()) << server->error() << server->Logs();
    http = server->Http();
    const Headers admin2 = Login(http);
    json::object after;
    ASSERT_TRUE(PollUntil(
        [&] {
            auto s = http.Get("/api/v1/admin/security/rotation-status", admin2);
            if (s.status != 200) return false;
            after = s.Object();
            return PassComplete(after);
        },
        seconds(120)))
        << json::serialize(after);
    EXPECT_EQ(after.at("key_version").to_number<int>(), 3);
    for (std::size_t i = 0; i < done.size(); ++i) {
        EXPECT_EQ(ReadBack(http, admin2, done[i], tasks[i]), "") << done[i].debate_id;
    }
    // Nothing under an old key (a value sealed twice would not open, one lost would not read).
    ASSERT_EQ(server->Terminate(), 0) << server->Logs();

    auto verify = RunProcess({ARAGORA_BINARY, "keys", "verify-all"}, CliEnv(), 60);
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

    // No file of the data directory holds a task's text.
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(DataDir())) {
        if (!entry.is_regular_file()) continue;
        ++files;
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        EXPECT_EQ(bytes.str().find(kTaskMarker), std::string::npos) << entry.path();
    }
    EXPECT_GT(files, 0u);

    // --- 3. overlap 0: the next check (a start runs one) expires v1 and v2 -----------
    server = std::make_unique<ServerProcess>(DataDir(), Env());
    ASSERT_TRUE(server->StartReady()) << server->error() << server->Logs();
    http = server->Http();
    const Headers admin3 = Login(http);
    json::array keys;
    ASSERT_TRUE(PollUntil(
        [&] {
            auto k = http.Get("/api/v1/admin/security/keys", admin3);
            if (k.status != 200) return false;
            keys = k.Object().at("keys").as_array();
            int expired = 0;
            for (const auto& key : keys) {
                if (StringOf(key.as_object(), "state") == "expired") ++expired;
            }
            return expired == 2;
        },
        seconds(60)))
        << json::serialize(keys);
    for (const auto& key : keys) {
        const json::object& o = key.as_object();
        EXPECT_EQ(StringOf(o, "state"),
                  o.at("version").to_number<int>() == 3 ? "active" : "expired")
            << json::serialize(o);
    }
    // The sealed task column cannot be searched: ?q= is refused, naming the setting.
    auto search = http.Get("/api/v1/debates?q=cache", admin3);
    ExpectError(search, 400, "validation_error", "q while content is sealed");
    EXPECT_NE(search.body.find("ARAGORA_ENCRYPT_DEBATE_CONTENT"), std::string::npos) << search.body;
    EXPECT_EQ(http.Get("/api/v1/debates", admin3).status, 200);
    // Nothing still needs them.
    for (std::size_t i = 0; i < done.size(); ++i) {
        EXPECT_EQ(ReadBack(http, admin3, done[i], tasks[i]), "") << done[i].debate_id;
    }
    EXPECT_EQ(server->Terminate(), 0);
    const std::string logs = server->Logs();
    EXPECT_EQ(logs.find(kMasterKey), std::string::npos);
}

}  // namespace
}  // namespace aragora::testing
