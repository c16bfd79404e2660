// app::SecretsSource: the override rules, what a SIGHUP refresh changes at once, and the
// credential sources (container endpoint, IMDSv2) against the Secrets Manager stand-in
// (tests/tools/secrets_manager_standin.py, which checks every signature with botocore).

#include "app/secrets_source.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "../../support/node_tool.hpp"
#include "net/http_client.hpp"

namespace aragora::app {
namespace {

namespace json = boost::json;

config::EnvLookup MapEnv(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(SecretNamesTest, NamesThatChooseHowTheSecretIsReadAreRefused) {
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_ENDPOINT_URL",
                             "ARAGORA_SECRETS_NAME", "ARAGORA_USE_SECRETS_MANAGER"}) {
        auto s = CheckSecretNames({{"ANTHROPIC_API_KEY", "x"}, {name, "v"}}, "aragora/production");
        ASSERT_FALSE(s.ok()) << name;
        EXPECT_EQ(s.error().field, name);
        EXPECT_NE(s.error().message.find("sets " + std::string(name)), std::string::npos);
        EXPECT_EQ(s.error().message.find("'v'"), std::string::npos);
    }
    EXPECT_TRUE(CheckSecretNames({{"ANTHROPIC_API_KEY", "x"},
                                  {"ARAGORA_JWT_SECRET", "y"},
                                  {"DATABASE_URL", "postgresql://u:p@h/db"}},
                                 "s")
                    .ok());
}

TEST(SecretNamesTest, ProviderKeysAndBaseUrlsAreReadAtEachUse) {
    for (const char* live :
         {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
          "MISTRAL_API_KEY", "XAI_API_KEY", "ARAGORA_ANTHROPIC_BASE_URL"}) {
        EXPECT_TRUE(ReadAtEachUse(live)) << live;
    }
    for (const char* start_only : {"ARAGORA_JWT_SECRET", "ARAGORA_RECEIPT_SIGNING_KEY",
                                   "DATABASE_URL", "ARAGORA_API_TOKEN", ""}) {
        EXPECT_FALSE(ReadAtEachUse(start_only)) << start_only;
    }
}

TEST(SecretsSourceTest, DisabledIsNull) {
    auto s = SecretsSource::LoadAtStart(MapEnv({}));
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, nullptr);
}

// The stand-in, serving one secret and the credential endpoints.
class StandInTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("secrets_source_test_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        WriteState(R"({"SECRETS_SOURCE_TEST_KEY":"first-value"})");
        std::string error;
        tool_ = test_support::NodeTool::Start(
            {std::string(ARAGORA_TEST_TOOLS_DIR) + "/secrets_manager_standin.py", "--state",
             (dir_ / "state.json").string()},
            "Secrets Manager stand-in", "port", &error, "/usr/bin/python3");
        ASSERT_TRUE(tool_) << error << " (apt-get install python3-botocore)";
        base_ = "http://127.0.0.1:" + std::to_string(tool_->IntField("port"));
    }
    void TearDown() override {
        tool_.reset();
        std::filesystem::remove_all(dir_);
    }

    void WriteState(const std::string& secret_string) {
        json::object state{
            {"access_key_id", "ASIASTANDIN"},
            {"secret_access_key", "standin-secret-key"},
            {"session_token", "standin-session-token"},
            {"region", "eu-west-1"},
            {"credential_endpoints", json::object{{"container_token", "ctok"}}},
            {"secrets", json::object{{"test/app", json::object{{"SecretString", secret_string}}}}}};
        std::ofstream(dir_ / "state.json.tmp") << json::serialize(state);
        std::filesystem::rename(dir_ / "state.json.tmp", dir_ / "state.json");
    }

    std::map<std::string, std::string> BaseEnv() {
        return {{"ARAGORA_USE_SECRETS_MANAGER", "true"},
                {"ARAGORA_SECRETS_NAME", "test/app"},
                {"AWS_REGION", "eu-west-1"},
                {"AWS_ENDPOINT_URL_SECRETS_MANAGER", base_},
                {"ARAGORA_SECRETS_TIMEOUT_SECONDS", "5"}};
    }

    int Stat(const std::string& key) {
        boost::asio::io_context ioc;
        net::HttpClient http(ioc);
        std::optional<common::Result<net::ClientResponse>> out;
        net::ClientRequest r;
        r.method = "GET";
        r.url = base_ + "/_stats";
        r.timeout = std::chrono::seconds(5);
        boost::asio::co_spawn(
            ioc, http.Send(std::move(r)),
            [&](std::exception_ptr, common::Result<net::ClientResponse> x) { out = std::move(x); });
        ioc.run();
        if (!out || !*out) return -1;
        return static_cast<int>(json::parse((*out)->body).as_object().at(key).as_int64());
    }

    std::filesystem::path dir_;
    std::unique_ptr<test_support::NodeTool> tool_;
    std::string base_;
};

TEST_F(StandInTest, ContainerCredentialEndpoint) {
    auto env = BaseEnv();
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = base_ + "/container-credentials";
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ctok";
    auto s = SecretsSource::LoadAtStart(MapEnv(env));
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_NE(*s, nullptr);
    EXPECT_EQ((*s)->Names(), (std::vector<std::string>{"SECRETS_SOURCE_TEST_KEY"}));
    EXPECT_STREQ(std::getenv("SECRETS_SOURCE_TEST_KEY"), "first-value");
    EXPECT_EQ(Stat("credentials"), 1);
    EXPECT_EQ(Stat("ok"), 1) << "signed with the session token and accepted by botocore";
    EXPECT_EQ((*s)->Describe(),
              "1 variable from AWS Secrets Manager secret 'test/app' (region eu-west-1): "
              "SECRETS_SOURCE_TEST_KEY");

    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong";
    auto refused = SecretsSource::LoadAtStart(MapEnv(env));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message.find("container credential endpoint"), std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find("HTTP 401"), std::string::npos);
}

TEST_F(StandInTest, InstanceMetadataV2AndARefresh) {
    auto env = BaseEnv();
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = base_;
    auto s = SecretsSource::LoadAtStart(MapEnv(env));
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_NE(*s, nullptr);
    EXPECT_EQ((*s)->Env()("SECRETS_SOURCE_TEST_KEY"), "first-value");

    WriteState(R"({"SECRETS_SOURCE_TEST_KEY":"second-value","ANTHROPIC_API_KEY":"sk-2"})");
    boost::asio::io_context ioc;
    net::HttpClient http(ioc);
    std::optional<common::Result<SecretsRefresh>> out;
    boost::asio::co_spawn(
        ioc, (*s)->Refresh(http),
        [&](std::exception_ptr, common::Result<SecretsRefresh> r) { out = std::move(r); });
    ioc.run();
    ASSERT_TRUE(out && *out) << (out ? (*out).error().message : "no result");
    EXPECT_EQ((*out)->changed_live, (std::vector<std::string>{"ANTHROPIC_API_KEY"}));
    EXPECT_EQ((*out)->changed_restart, (std::vector<std::string>{"SECRETS_SOURCE_TEST_KEY"}));
    EXPECT_EQ((*s)->Env()("ANTHROPIC_API_KEY"), "sk-2");
    EXPECT_EQ(Stat("credentials"), 2) << "fresh credentials for every fetch";

    // A live name that leaves the secret reads as empty; a failed refresh changes nothing.
    WriteState(R"({"SECRETS_SOURCE_TEST_KEY":"second-value"})");
    out.reset();
    boost::asio::co_spawn(
        ioc, (*s)->Refresh(http),
        [&](std::exception_ptr, common::Result<SecretsRefresh> r) { out = std::move(r); });
    ioc.restart();
    ioc.run();
    ASSERT_TRUE(out && *out);
    EXPECT_EQ((*s)->Env()("ANTHROPIC_API_KEY"), "");
    WriteState("not an object");
    out.reset();
    boost::asio::co_spawn(
        ioc, (*s)->Refresh(http),
        [&](std::exception_ptr, common::Result<SecretsRefresh> r) { out = std::move(r); });
    ioc.restart();
    ioc.run();
    ASSERT_TRUE(out);
    EXPECT_FALSE(*out);
    EXPECT_EQ((*s)->Env()("SECRETS_SOURCE_TEST_KEY"), "second-value");
}

TEST_F(StandInTest, SecretSettingAnAwsNameIsRefusedAtStart) {
    WriteState(R"({"AWS_ACCESS_KEY_ID":"AKIA-OTHER"})");
    auto env = BaseEnv();
    env["AWS_ACCESS_KEY_ID"] = "ASIASTANDIN";
    env["AWS_SECRET_ACCESS_KEY"] = "standin-secret-key";
    env["AWS_SESSION_TOKEN"] = "standin-session-token";
    auto s = SecretsSource::LoadAtStart(MapEnv(env));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("sets AWS_ACCESS_KEY_ID"), std::string::npos)
        << s.error().message;
}

}  // namespace
}  // namespace aragora::app
