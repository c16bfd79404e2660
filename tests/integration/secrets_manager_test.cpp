// ARAGORA_USE_SECRETS_MANAGER=true against a local AWS Secrets Manager stand-in
// (tests/tools/secrets_manager_standin.py) that checks every SigV4 signature with botocore,
// an implementation independent of ours: the secret's variables reach `serve` (an API token
// that only the secret holds, the provider key the fake LLM receives), a SIGHUP picks up a
// changed provider key, wrong credentials and an unreachable or silent endpoint stop the
// start in one line with exit 1, a CLI command loads the secret too, and no value fetched
// from the secret appears in the server's output.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>

#include "fake_llm/fake_llm.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "support/node_tool.hpp"
#include "worker_process.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kAccessKey = "ASIASECRETSTEST";
constexpr const char* kSecretKey = "aws-secret-key-of-the-stand-in-0001";
constexpr const char* kSessionToken = "aws-session-token-of-the-stand-in-0001";
constexpr const char* kProviderKey1 = "sk-ant-from-the-secret-1111";
constexpr const char* kProviderKey2 = "sk-ant-from-the-secret-2222";
constexpr const char* kApiToken = "api-token-from-the-secret-3333333333";
constexpr const char* kJwtSecret = "jwt-secret-from-the-secret-44444444444444444";

std::vector<std::string> NonEmptyLines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (end > pos) out.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

class SecretsManagerTest : public ::testing::Test {
protected:
    void SetUp() override {
        WriteSecret({{"ANTHROPIC_API_KEY", kProviderKey1},
                     {"ARAGORA_API_TOKEN", kApiToken},
                     {"ARAGORA_JWT_SECRET", kJwtSecret}});
        std::string error;
        standin_ = test_support::NodeTool::Start(
            {std::string(ARAGORA_TEST_TOOLS_DIR) + "/secrets_manager_standin.py", "--state",
             StatePath()},
            "Secrets Manager stand-in", "port", &error, "/usr/bin/python3");
        ASSERT_TRUE(standin_) << error << " (apt-get install python3-botocore)";
        endpoint_ = "http://127.0.0.1:" + std::to_string(standin_->IntField("port"));
    }

    std::string StatePath() const { return dir_.path() + "/standin.json"; }

    void WriteSecret(const std::map<std::string, std::string>& vars) {
        json::object secret;
        for (const auto& [k, v] : vars) secret[k] = v;
        json::object state{
            {"access_key_id", kAccessKey},
            {"secret_access_key", kSecretKey},
            {"session_token", kSessionToken},
            {"region", "eu-west-1"},
            {"secrets", json::object{{"aragora/production",
                                      json::object{{"SecretString", json::serialize(secret)}}}}}};
        WriteAll(StatePath() + ".tmp", json::serialize(state));
        std::filesystem::rename(StatePath() + ".tmp", StatePath());
    }

    std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
        std::map<std::string, std::string> env{
            {"ARAGORA_USE_SECRETS_MANAGER", "true"},
            {"AWS_REGION", "eu-west-1"},
            {"AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint_},
            {"AWS_ACCESS_KEY_ID", kAccessKey},
            {"AWS_SECRET_ACCESS_KEY", kSecretKey},
            {"AWS_SESSION_TOKEN", kSessionToken},
            {"AWS_EC2_METADATA_DISABLED", "true"},
            {"ARAGORA_SECRETS_TIMEOUT_SECONDS", "5"},
            // The environment's own value: the secret's must win.
            {"ANTHROPIC_API_KEY", "sk-ant-from-the-environment"},
            {"ARAGORA_ANTHROPIC_BASE_URL", fake_.base_url()},
            {"ARAGORA_AGENT_RETRY_BASE_MS", "10"},
            {"ARAGORA_AGENT_RETRY_CAP_MS", "50"},
            {"ARAGORA_AGENT_STREAMING", "false"},
        };
        for (auto& [k, v] : extra) env[k] = v;
        return env;
    }

    int Stat(const std::string& key) {
        HttpClient http(static_cast<std::uint16_t>(standin_->IntField("port")));
        auto r = http.Get("/_stats");
        if (r.status != 200) return -1;
        return static_cast<int>(json::parse(r.body).as_object().at(key).as_int64());
    }

    // Starts a server that must refuse to start; its stderr. Exit 1 within `bound`.
    std::string ExpectRefusal(std::map<std::string, std::string> env, seconds bound) {
        ServerProcess p(dir_.path() + "/data", std::move(env));
        const auto start = Clock::now();
        if (p.Start(bound + seconds(5))) {
            p.Kill();
            ADD_FAILURE() << "the server started:\n" << p.Logs();
            return p.Stderr();
        }
        const auto code = p.WaitExit(seconds(5));
        EXPECT_EQ(code, std::optional<int>(1)) << p.error() << "\n" << p.Logs();
        EXPECT_LT(Clock::now() - start, bound) << "the refusal took too long";
        const auto lines = NonEmptyLines(p.Stderr());
        EXPECT_EQ(lines.size(), 1u) << "one line on stderr:\n" << p.Stderr();
        EXPECT_EQ(p.Stdout(), "");
        return p.Stderr();
    }

    std::string CreateClaudeDebate(const HttpClient& http) {
        auto r = http.Post("/api/v1/debates",
                           R"({"task":"Should we cache provider replies?","rounds":1,)"
                           R"("agents":["claude","claude"]})",
                           {{"Authorization", std::string("Bearer ") + kApiToken},
                            {"Content-Type", "application/json"}});
        EXPECT_EQ(r.status, 201) << r.body;
        if (r.status != 201) return "";
        return StringOf(r.Object(), "id");
    }

    // WaitForStatus with the API token (the server requires a credential).
    bool WaitUntilEnded(const HttpClient& http, const std::string& id, const std::string& token) {
        return PollUntil(
            [&] {
                auto r = http.Get("/api/v1/debates/" + id, {{"Authorization", "Bearer " + token}});
                return r.status == 200 && kTerminalStatuses.count(StringOf(r.Object(), "status"));
            },
            seconds(60), milliseconds(50));
    }

    std::set<std::string> ProviderKeysSeen() {
        std::set<std::string> keys;
        for (const auto& r : fake_.Requests()) {
            for (const auto& [k, v] : r.headers) {
                std::string lower = k;
                for (auto& c : lower) c = static_cast<char>(std::tolower(c));
                if (lower == "x-api-key") keys.insert(v);
            }
        }
        return keys;
    }

    FakeLlmServer fake_;
    TempDir dir_;
    std::unique_ptr<test_support::NodeTool> standin_;
    std::string endpoint_;
};

TEST_F(SecretsManagerTest, ValuesLoadedAtStartRefreshedOnSighupAndNeverLogged) {
    ServerProcess server(dir_.path() + "/data", Env());
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    EXPECT_EQ(Stat("ok"), 1) << "one signed GetSecretValue, accepted by botocore's check";
    EXPECT_EQ(Stat("denied"), 0);
    EXPECT_NE(server.Logs().find("secrets: 3 variables from AWS Secrets Manager secret "
                                 "'aragora/production' (region eu-west-1): ANTHROPIC_API_KEY, "
                                 "ARAGORA_API_TOKEN, ARAGORA_JWT_SECRET"),
              std::string::npos)
        << server.Logs();

    // ARAGORA_API_TOKEN exists only in the secret: it is the credential the server wants.
    auto http = server.Http();
    EXPECT_EQ(http.Get("/api/v1/debates").status, 401);
    EXPECT_EQ(http.Get("/api/v1/debates", {{"Authorization", "Bearer wrong-token"}}).status, 401);
    EXPECT_EQ(
        http.Get("/api/v1/debates", {{"Authorization", std::string("Bearer ") + kApiToken}}).status,
        200);

    // The provider key of the secret, not the environment's, reaches the provider.
    const std::string first = CreateClaudeDebate(http);
    ASSERT_FALSE(first.empty());
    ASSERT_TRUE(WaitUntilEnded(http, first, kApiToken));
    EXPECT_EQ(ProviderKeysSeen(), (std::set<std::string>{kProviderKey1}));

    // A new provider key and a new API token in the secret, then SIGHUP: the key is in
    // effect for the next call; the token needs a restart, and the log says so.
    WriteSecret({{"ANTHROPIC_API_KEY", kProviderKey2},
                 {"ARAGORA_API_TOKEN", std::string(kApiToken) + "-rotated"},
                 {"ARAGORA_JWT_SECRET", kJwtSecret}});
    server.SendSignal(SIGHUP);
    ASSERT_TRUE(PollUntil(
        [&] { return server.Logs().find("SIGHUP: secrets refreshed") != std::string::npos; },
        seconds(20)))
        << server.Logs();
    ASSERT_TRUE(PollUntil(
        [&] {
            return server.Logs().find("restart to apply them: ARAGORA_API_TOKEN") !=
                   std::string::npos;
        },
        seconds(5)))
        << server.Logs();
    EXPECT_NE(server.Logs().find("in effect for the next provider call: ANTHROPIC_API_KEY"),
              std::string::npos)
        << server.Logs();
    EXPECT_EQ(Stat("ok"), 2);
    fake_.ResetRecords();
    const std::string second = CreateClaudeDebate(http);
    ASSERT_FALSE(second.empty());
    ASSERT_TRUE(WaitUntilEnded(http, second, kApiToken));
    EXPECT_EQ(ProviderKeysSeen(), (std::set<std::string>{kProviderKey2}));

    // A refresh that fails keeps the values in use and says so.
    WriteAll(StatePath() + ".tmp",
             "{\"access_key_id\":\"other\",\"secret_access_key\":\"x\","
             "\"region\":\"eu-west-1\",\"secrets\":{}}");
    std::filesystem::rename(StatePath() + ".tmp", StatePath());
    server.SendSignal(SIGHUP);
    ASSERT_TRUE(PollUntil(
        [&] { return server.Logs().find("SIGHUP: secrets not refreshed") != std::string::npos; },
        seconds(20)))
        << server.Logs();
    EXPECT_EQ(
        http.Get("/api/v1/debates", {{"Authorization", std::string("Bearer ") + kApiToken}}).status,
        200);

    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
    // Key material never in the output: the secret's values and the AWS credentials.
    std::string everything = server.Logs();
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path() + "/data")) {
        if (entry.is_regular_file() && entry.path().extension() == ".log") {
            everything += ReadAll(entry.path().string());
        }
    }
    for (const char* value :
         {kProviderKey1, kProviderKey2, kApiToken, kJwtSecret, kSecretKey, kSessionToken}) {
        EXPECT_EQ(everything.find(value), std::string::npos) << value << " appears in the logs";
    }
}

TEST_F(SecretsManagerTest, WrongSecretKeyIsRefusedByTheSignatureCheckInOneLine) {
    const std::string err = ExpectRefusal(
        Env({{"AWS_SECRET_ACCESS_KEY", "not-the-right-secret-key-000"}}), seconds(15));
    EXPECT_NE(err.find("aragora: cannot start: cannot read AWS Secrets Manager secret "
                       "'aragora/production'"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("HTTP 403 InvalidSignatureException"), std::string::npos) << err;
    EXPECT_EQ(err.find("not-the-right-secret-key-000"), std::string::npos) << err;
    EXPECT_EQ(Stat("denied"), 1);
    EXPECT_EQ(Stat("ok"), 0);
}

TEST_F(SecretsManagerTest, UnknownAccessKeyAndMissingSecretAreRefused) {
    std::string err = ExpectRefusal(Env({{"AWS_ACCESS_KEY_ID", "AKIAUNKNOWN"}}), seconds(15));
    EXPECT_NE(err.find("UnrecognizedClientException"), std::string::npos) << err;
    err = ExpectRefusal(Env({{"ARAGORA_SECRETS_NAME", "aragora/missing"}}), seconds(15));
    EXPECT_NE(err.find("'aragora/missing'"), std::string::npos) << err;
    EXPECT_NE(err.find("ResourceNotFoundException"), std::string::npos) << err;
    // Neither credentials nor a role: no silent start without the secret.
    auto env = Env();
    env.erase("AWS_ACCESS_KEY_ID");
    env.erase("AWS_SECRET_ACCESS_KEY");
    env.erase("AWS_SESSION_TOKEN");
    err = ExpectRefusal(env, seconds(15));
    EXPECT_NE(err.find("no AWS credentials"), std::string::npos) << err;
}

TEST_F(SecretsManagerTest, UnreachableEndpointFailsTheStartInOneLine) {
    // Nothing listens on the port: refused at once.
    int port = 0;
    {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        ::close(fd);
    }
    std::string err = ExpectRefusal(
        Env({{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:" + std::to_string(port)}}),
        seconds(15));
    EXPECT_NE(err.find("cannot read AWS Secrets Manager secret 'aragora/production'"),
              std::string::npos)
        << err;

    // A listener that never answers: the deadline (ARAGORA_SECRETS_TIMEOUT_SECONDS=2) ends it.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    const auto start = Clock::now();
    err = ExpectRefusal(Env({{"AWS_ENDPOINT_URL_SECRETS_MANAGER",
                              "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port))},
                             {"ARAGORA_SECRETS_TIMEOUT_SECONDS", "2"}}),
                        seconds(15));
    ::close(fd);
    EXPECT_GE(Clock::now() - start, milliseconds(1900)) << "ended before its deadline: " << err;
    EXPECT_NE(err.find("cannot read AWS Secrets Manager secret"), std::string::npos) << err;
}

TEST_F(SecretsManagerTest, WorkerLoadsTheSecretAndRefreshesItOnSighup) {
    WorkerProcess worker(dir_.path() + "/worker", Env());
    ASSERT_TRUE(worker.Start()) << worker.Logs();
    EXPECT_NE(worker.Logs().find("secrets: 3 variables from AWS Secrets Manager secret "
                                 "'aragora/production'"),
              std::string::npos)
        << worker.Logs();
    WriteSecret({{"ANTHROPIC_API_KEY", kProviderKey2},
                 {"ARAGORA_API_TOKEN", kApiToken},
                 {"ARAGORA_JWT_SECRET", kJwtSecret}});
    // systemctl reload (ExecReload=kill -HUP): the worker stays up and fetches again.
    worker.SendSignal(SIGHUP);
    ASSERT_TRUE(PollUntil(
        [&] {
            return worker.Logs().find("in effect for the next provider call: ANTHROPIC_API_KEY") !=
                       std::string::npos ||
                   !worker.Running();
        },
        seconds(20)));
    ASSERT_TRUE(worker.Running()) << "SIGHUP ended the worker:\n" << worker.Logs();
    EXPECT_EQ(Stat("ok"), 2);
    EXPECT_EQ(worker.Terminate(seconds(30)), 0) << worker.Logs();
    const std::string logs = worker.Logs();
    for (const char* value :
         {kProviderKey1, kProviderKey2, kApiToken, kJwtSecret, kSecretKey, kSessionToken}) {
        EXPECT_EQ(logs.find(value), std::string::npos) << value << " appears in the worker's log";
    }
}

TEST_F(SecretsManagerTest, CliCommandsLoadTheSecretToo) {
    std::filesystem::create_directories(dir_.path() + "/cli");
    // The data directory comes from the secret only: the command lists that database.
    WriteSecret({{"ARAGORA_DATA_DIR", dir_.path() + "/cli"}});
    auto env = Env();
    for (const char* k : {"PATH", "HOME", "LANG"}) {
        if (const char* v = std::getenv(k)) env[k] = v;
    }
    env["ARAGORA_ENV"] = "development";
    auto ok = RunProcess({ARAGORA_BINARY, "debates", "list", "--json"}, env, 60);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(Stat("ok"), 1);
    EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/cli/aragora.sqlite3")) << ok.err;

    env["AWS_SECRET_ACCESS_KEY"] = "not-the-right-secret-key-000";
    auto refused = RunProcess({ARAGORA_BINARY, "debates", "list"}, env, 60);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_EQ(NonEmptyLines(refused.err).size(), 1u) << refused.err;
    EXPECT_NE(refused.err.find("InvalidSignatureException"), std::string::npos) << refused.err;
    EXPECT_EQ(refused.out, "");
}

}  // namespace
}  // namespace aragora::testing
