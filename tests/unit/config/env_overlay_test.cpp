// The overlay of fetched variables over the environment, and ARAGORA_USE_SECRETS_MANAGER's
// settings.

#include "config/env_overlay.hpp"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace aragora::config {
namespace {

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(EnvOverlayTest, OverlayValuesWinOverTheEnvironment) {
    auto overlay = std::make_shared<EnvOverlay>();
    (void)overlay->Replace({{"ANTHROPIC_API_KEY", "from-secret"}});
    auto env = OverlaidEnv(overlay, MapEnv({{"ANTHROPIC_API_KEY", "from-env"}, {"OTHER", "o"}}));
    EXPECT_EQ(env("ANTHROPIC_API_KEY"), "from-secret");
    EXPECT_EQ(env("OTHER"), "o");
    EXPECT_EQ(env("MISSING"), std::nullopt);
}

TEST(EnvOverlayTest, ReplaceReportsChangedAddedAndRemovedNamesOnly) {
    EnvOverlay overlay;
    auto first = overlay.Replace({{"A", "1"}, {"B", "2"}});
    EXPECT_EQ(first, (std::vector<std::string>{"A", "B"}));
    auto second = overlay.Replace({{"A", "1"}, {"B", "3"}, {"C", "4"}});
    EXPECT_EQ(second, (std::vector<std::string>{"B", "C"}));
    auto third = overlay.Replace({{"B", "3"}});
    EXPECT_EQ(third, (std::vector<std::string>{"A", "C"}));
    EXPECT_EQ(overlay.Names(), (std::vector<std::string>{"B"}));
    EXPECT_EQ(overlay.Lookup("A"), std::nullopt);
}

TEST(EnvOverlayTest, LookupsWhileReplacingSeeOneValueOrTheOther) {
    auto overlay = std::make_shared<EnvOverlay>();
    (void)overlay->Replace({{"K", "old"}});
    auto env = OverlaidEnv(overlay, MapEnv({}));
    std::thread writer([&] {
        for (int i = 0; i < 2000; ++i) (void)overlay->Replace({{"K", i % 2 ? "old" : "new"}});
    });
    for (int i = 0; i < 2000; ++i) {
        auto v = env("K");
        ASSERT_TRUE(v == "old" || v == "new");
    }
    writer.join();
}

TEST(SecretsManagerSettingsTest, OffByDefault) {
    auto s = LoadSecretsManagerSettings(MapEnv({}));
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->enabled);
}

TEST(SecretsManagerSettingsTest, DefaultsAndTheSdkEndpointNames) {
    auto s = LoadSecretsManagerSettings(
        MapEnv({{"ARAGORA_USE_SECRETS_MANAGER", "true"}, {"AWS_REGION", "eu-west-1"}}));
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_TRUE(s->enabled);
    EXPECT_EQ(s->secret_name, "aragora/production");
    EXPECT_EQ(s->region, "eu-west-1");
    EXPECT_EQ(s->endpoint, "https://secretsmanager.eu-west-1.amazonaws.com");
    EXPECT_EQ(s->timeout_seconds, 10);

    auto generic = LoadSecretsManagerSettings(MapEnv({{"ARAGORA_USE_SECRETS_MANAGER", "1"},
                                                      {"AWS_DEFAULT_REGION", "us-east-2"},
                                                      {"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},
                                                      {"ARAGORA_SECRETS_NAME", "staging/app"},
                                                      {"ARAGORA_SECRETS_TIMEOUT_SECONDS", "3"}}));
    ASSERT_TRUE(generic.ok()) << generic.error().message;
    EXPECT_EQ(generic->region, "us-east-2");
    EXPECT_EQ(generic->endpoint, "http://127.0.0.1:1");
    EXPECT_EQ(generic->secret_name, "staging/app");
    EXPECT_EQ(generic->timeout_seconds, 3);

    auto specific = LoadSecretsManagerSettings(
        MapEnv({{"ARAGORA_USE_SECRETS_MANAGER", "yes"},
                {"AWS_REGION", "eu-west-1"},
                {"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},
                {"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:2"}}));
    ASSERT_TRUE(specific.ok());
    EXPECT_EQ(specific->endpoint, "http://127.0.0.1:2") << "the service-specific name wins";
}

TEST(SecretsManagerSettingsTest, BadValuesAndAMissingRegionAreRefused) {
    auto bad_bool = LoadSecretsManagerSettings(MapEnv({{"ARAGORA_USE_SECRETS_MANAGER", "maybe"}}));
    ASSERT_FALSE(bad_bool.ok());
    EXPECT_EQ(bad_bool.error().field, "ARAGORA_USE_SECRETS_MANAGER");
    auto no_region = LoadSecretsManagerSettings(MapEnv({{"ARAGORA_USE_SECRETS_MANAGER", "true"}}));
    ASSERT_FALSE(no_region.ok());
    EXPECT_EQ(no_region.error().field, "AWS_REGION");
    EXPECT_NE(no_region.error().message.find("ARAGORA_USE_SECRETS_MANAGER=true needs AWS_REGION"),
              std::string::npos);
    for (const char* t : {"0", "301", "x", "5s"}) {
        auto bad = LoadSecretsManagerSettings(MapEnv({{"ARAGORA_USE_SECRETS_MANAGER", "true"},
                                                      {"AWS_REGION", "eu-west-1"},
                                                      {"ARAGORA_SECRETS_TIMEOUT_SECONDS", t}}));
        EXPECT_FALSE(bad.ok()) << t;
    }
}

}  // namespace
}  // namespace aragora::config
