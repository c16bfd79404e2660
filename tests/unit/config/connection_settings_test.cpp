// The slow-client settings of `aragora serve` (issue 18): ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP
// and ARAGORA_HEADER_TIMEOUT_SECONDS.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "config/settings.hpp"

namespace aragora::config {
namespace {

common::Result<Settings> LoadDev(std::map<std::string, std::string, std::less<>> env) {
    env["ARAGORA_ENV"] = "development";
    return LoadSettings(
        [env](std::string_view name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
        },
        RunMode::kServer);
}

TEST(ConnectionSettingsTest, DefaultsKeepAReserveBelowTheGlobalLimit) {
    auto s = LoadDev({});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->server.max_pending_connections_per_ip, 64);
    EXPECT_EQ(s->server.header_timeout_seconds, 10);
    EXPECT_LT(s->server.max_pending_connections_per_ip, s->server.max_connections / 4);
}

TEST(ConnectionSettingsTest, ReadFromTheEnvironment) {
    auto s = LoadDev(
        {{"ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP", "8"}, {"ARAGORA_HEADER_TIMEOUT_SECONDS", "3"}});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->server.max_pending_connections_per_ip, 8);
    EXPECT_EQ(s->server.header_timeout_seconds, 3);
    auto off = LoadDev({{"ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP", "0"}});
    ASSERT_TRUE(off.ok()) << off.error().message;
    EXPECT_EQ(off->server.max_pending_connections_per_ip, 0);
}

TEST(ConnectionSettingsTest, BadValuesNameTheVariable) {
    for (auto [name, value] : {std::pair{"ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP", "-1"},
                               std::pair{"ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP", "many"},
                               std::pair{"ARAGORA_HEADER_TIMEOUT_SECONDS", "0"},
                               std::pair{"ARAGORA_HEADER_TIMEOUT_SECONDS", "3601"}}) {
        auto s = LoadDev({{name, value}});
        ASSERT_FALSE(s.ok()) << name << "=" << value;
        EXPECT_EQ(s.error().field, name);
    }
}

}  // namespace
}  // namespace aragora::config
