// Encryption at rest against the built binary (issue 23): the admin security routes
// (status, keys, health, rotation-status, rotate-key with its dry run, the 30-day refusal
// and force), roles (admin yes, member 403), the keyring surviving a restart, the
// fail-closed start, and the master key never appearing in a response or a log line.
//
// Loopback only; every wait polls a condition with a deadline.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <regex>
#include <string>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

constexpr char kMasterKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kPassword[] = "Correct-Horse-Battery-9";

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

void AddUser(const std::string& data_dir, const std::string& email, const std::string& role) {
    ProcessResult r =
        RunProcess({ARAGORA_BINARY, "users", "add", email, "--role", role, "--password", kPassword},
                   {{"ARAGORA_DATA_DIR", data_dir}, {"ARAGORA_LOG_LEVEL", "WARNING"}}, 30);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

std::string Login(const HttpClient& http, const std::string& email) {
    auto r = http.Post("/api/v1/auth/login",
                       json::serialize(json::object{{"email", email}, {"password", kPassword}}));
    EXPECT_EQ(r.status, 200) << r.body;
    return StringOf(r.Object(), "access_token");
}

class SecurityAdminTest : public ::testing::Test {
protected:
    std::string DataDir() const { return dir_.path() + "/data"; }
    std::map<std::string, std::string> KeyEnv() const {
        return {{"ARAGORA_ENCRYPTION_KEY", kMasterKey}, {"ARAGORA_KEY_ROTATION_ENABLED", "true"}};
    }
    TempDir dir_;
};

TEST_F(SecurityAdminTest, StatusRotateRefuseForceAndRoles) {
    AddUser(DataDir(), "admin@example.com", "admin");
    AddUser(DataDir(), "member@example.com", "member");
    auto server = std::make_unique<ServerProcess>(DataDir(), KeyEnv());
    ASSERT_TRUE(server->StartReady()) << server->error() << server->Logs();
    HttpClient http = server->Http();
    const Headers admin = Bearer(Login(http, "admin@example.com"));
    const Headers member = Bearer(Login(http, "member@example.com"));
    std::string all_bodies;

    auto status = http.Get("/api/v1/admin/security/status", admin);
    ASSERT_EQ(status.status, 200) << status.body;
    all_bodies += status.body;
    json::object s = status.Object();
    EXPECT_EQ(s.at("encryption_enabled"), true);
    EXPECT_EQ(StringOf(s, "active_key_id"), "primary");
    EXPECT_EQ(s.at("key_version").to_number<int>(), 1);
    EXPECT_LT(NumberOf(s.at("key_age_days")), 1.0);
    EXPECT_EQ(s.at("rotation_recommended"), false);
    EXPECT_EQ(s.at("rotation_required"), false);

    for (const char* path :
         {"/api/v1/admin/security/status", "/api/v1/admin/security/keys",
          "/api/v1/admin/security/health", "/api/v1/admin/security/rotation-status"}) {
        ExpectError(http.Get(path, member), 403, "forbidden", path);
    }
    ExpectError(http.Post("/api/v1/admin/security/rotate-key", R"({"force": true})", member), 403,
                "forbidden", "member rotate-key");

    auto dry = http.Post("/api/v1/admin/security/rotate-key", R"({"dry_run": true})", admin);
    ASSERT_EQ(dry.status, 200) << dry.body;
    all_bodies += dry.body;
    EXPECT_EQ(dry.Object().at("dry_run"), true);
    EXPECT_EQ(dry.Object().at("success"), true);
    EXPECT_EQ(dry.Object().at("old_key_version").to_number<int>(), 1);
    EXPECT_EQ(dry.Object().at("new_key_version").to_number<int>(), 2);
    auto keys = http.Get("/api/v1/admin/security/keys", admin);
    ASSERT_EQ(keys.status, 200);
    EXPECT_EQ(keys.Object().at("total").to_number<int>(), 1);

    auto refused = http.Post("/api/v1/admin/security/rotate-key", "{}", admin);
    ExpectError(refused, 400, "validation_error|bad_request", "young key");
    EXPECT_NE(refused.body.find("days old; rotation needs force=true"), std::string::npos)
        << refused.body;
    ExpectError(http.Post("/api/v1/admin/security/rotate-key", R"({"force": "yes"})", admin), 400,
                "validation_error|bad_request", "force not a boolean");

    auto forced = http.Post("/api/v1/admin/security/rotate-key", R"({"force": true})", admin);
    ASSERT_EQ(forced.status, 200) << forced.body;
    all_bodies += forced.body;
    json::object f = forced.Object();
    EXPECT_EQ(f.at("success"), true);
    EXPECT_EQ(f.at("dry_run"), false);
    EXPECT_EQ(f.at("old_key_version").to_number<int>(), 1);
    EXPECT_EQ(f.at("new_key_version").to_number<int>(), 2);
    EXPECT_EQ(StringOf(f, "re_encryption"), "complete");

    keys = http.Get("/api/v1/admin/security/keys", admin);
    ASSERT_EQ(keys.status, 200);
    all_bodies += keys.body;
    json::array list = keys.Object().at("keys").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(StringOf(list[0].as_object(), "state"), "retired");
    EXPECT_TRUE(IsIsoUtc(list[0].as_object().at("expires_at")));
    EXPECT_EQ(StringOf(list[1].as_object(), "state"), "active");

    auto rotation = http.Get("/api/v1/admin/security/rotation-status", admin);
    ASSERT_EQ(rotation.status, 200) << rotation.body;
    all_bodies += rotation.body;
    json::object r = rotation.Object();
    EXPECT_EQ(r.at("key_version").to_number<int>(), 2);
    EXPECT_EQ(r.at("rotation_count").to_number<int>(), 1);
    EXPECT_EQ(r.at("config").as_object().at("rotation_interval_days").to_number<int>(), 90);
    EXPECT_EQ(r.at("config").as_object().at("key_overlap_days").to_number<int>(), 7);

    auto health = http.Get("/api/v1/admin/security/health", admin);
    ASSERT_EQ(health.status, 200) << health.body;
    all_bodies += health.body;
    EXPECT_EQ(StringOf(health.Object(), "status"), "healthy");
    EXPECT_EQ(health.Object().at("checks").as_object().at("round_trip"), true);

    HttpClient metrics(server->metrics_port());
    auto m = metrics.Get("/metrics");
    ASSERT_EQ(m.status, 200);
    EXPECT_NE(m.body.find("aragora_key_rotations_total{trigger=\"manual\"} 1"), std::string::npos);
    EXPECT_NE(m.body.find("aragora_key_age_days{key_id=\"primary\"}"), std::string::npos);
    all_bodies += m.body;

    // A restart loses no key.
    EXPECT_EQ(server->Terminate(), 0);
    const std::string first_logs = server->Logs();
    server = std::make_unique<ServerProcess>(DataDir(), KeyEnv());
    ASSERT_TRUE(server->StartReady()) << server->error() << server->Logs();
    http = server->Http();
    const Headers admin2 = Bearer(Login(http, "admin@example.com"));
    keys = http.Get("/api/v1/admin/security/keys", admin2);
    ASSERT_EQ(keys.status, 200);
    EXPECT_EQ(keys.Object().at("total").to_number<int>(), 2);
    EXPECT_EQ(keys.Object().at("active_version").to_number<int>(), 2);
    EXPECT_EQ(server->Terminate(), 0);

    // The master key is in no response, no log line.
    const std::string everything = all_bodies + first_logs + server->Logs();
    EXPECT_EQ(everything.find(kMasterKey), std::string::npos);
    EXPECT_EQ(everything.find("00112233445566778899"), std::string::npos);
}

TEST_F(SecurityAdminTest, WithoutAKeyEncryptionIsOffAndRotationUnavailable) {
    auto server = std::make_unique<ServerProcess>(DataDir());
    ASSERT_TRUE(server->StartReady()) << server->error() << server->Logs();
    HttpClient http = server->Http();
    auto status = http.Get("/api/v1/admin/security/status");
    ASSERT_EQ(status.status, 200) << status.body;
    EXPECT_EQ(status.Object().at("encryption_enabled"), false);
    ExpectError(http.Post("/api/v1/admin/security/rotate-key", R"({"force": true})"), 503,
                "unavailable", "rotate without a key");
}

TEST_F(SecurityAdminTest, FailsClosed) {
    // Required without a key: one line, exit 1.
    {
        ServerProcess server(DataDir(), {{"ARAGORA_ENCRYPTION_REQUIRED", "true"}});
        ASSERT_TRUE(server.Start()) << server.error();
        auto code = server.WaitExit(std::chrono::seconds(30));
        ASSERT_TRUE(code.has_value()) << server.Logs();
        EXPECT_EQ(*code, 1);
        EXPECT_NE(server.Stderr().find("ARAGORA_ENCRYPTION_KEY is required"), std::string::npos)
            << server.Stderr();
    }
    // A key that does not open the stored data keys: refused, nothing lost.
    {
        ServerProcess server(DataDir(), KeyEnv());
        ASSERT_TRUE(server.StartReady()) << server.error() << server.Logs();
        EXPECT_EQ(server.Terminate(), 0);
    }
    {
        ServerProcess server(DataDir(), {{"ARAGORA_ENCRYPTION_KEY", std::string(64, 'f')}});
        ASSERT_TRUE(server.Start()) << server.error();
        auto code = server.WaitExit(std::chrono::seconds(30));
        ASSERT_TRUE(code.has_value()) << server.Logs();
        EXPECT_EQ(*code, 1);
        EXPECT_NE(server.Stderr().find("does not open data key primary v1"), std::string::npos)
            << server.Stderr();
    }
}

TEST_F(SecurityAdminTest, CliStatusAndRotate) {
    auto env = ServerEnv(DataDir(), KeyEnv());
    env["ARAGORA_LOG_LEVEL"] = "WARNING";
    auto status = RunProcess({ARAGORA_BINARY, "keys", "status", "--json"}, env, 30);
    ASSERT_EQ(status.exit_code, 0) << status.out << status.err;
    json::object s = json::parse(status.out).as_object();
    EXPECT_EQ(s.at("key_version").to_number<int>(), 1);
    EXPECT_EQ(s.at("keys").as_array().size(), 1u);

    auto dry = RunProcess({ARAGORA_BINARY, "keys", "rotate", "--dry-run", "--json"}, env, 30);
    ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
    EXPECT_EQ(json::parse(dry.out).as_object().at("dry_run"), true);

    auto refused = RunProcess({ARAGORA_BINARY, "keys", "rotate"}, env, 30);
    EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
    EXPECT_NE(refused.err.find("rotation needs force=true"), std::string::npos) << refused.err;

    auto forced = RunProcess({ARAGORA_BINARY, "keys", "rotate", "--force", "--json"}, env, 30);
    ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
    json::object f = json::parse(forced.out).as_object();
    EXPECT_EQ(f.at("new_key_version").to_number<int>(), 2);

    auto text = RunProcess({ARAGORA_BINARY, "keys", "status"}, env, 30);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("active key: primary v2"), std::string::npos) << text.out;
    EXPECT_EQ((text.out + text.err + forced.err).find(kMasterKey), std::string::npos);

    auto no_key = ServerEnv(DataDir(), {});
    auto off = RunProcess({ARAGORA_BINARY, "keys", "status"}, no_key, 30);
    EXPECT_EQ(off.exit_code, 2);
    EXPECT_NE(off.err.find("ARAGORA_ENCRYPTION_KEY is not set"), std::string::npos) << off.err;
}

}  // namespace
}  // namespace aragora::testing
