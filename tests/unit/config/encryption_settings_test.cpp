// config::EncryptionSettings: the original's variable names and defaults, production and
// staging require the master key, bad values name the variable.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/settings.hpp"

namespace aragora::config {
namespace {

using Env = std::map<std::string, std::string, std::less<>>;

common::Result<Settings> Load(Env env, RunMode mode = RunMode::kLocalCli) {
    return LoadSettings(
        [env](std::string_view name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
        },
        mode);
}

TEST(EncryptionSettingsTest, DefaultsAreTheRunbooks) {
    auto s = Load({});
    ASSERT_TRUE(s) << s.error().message;
    const EncryptionSettings& e = s->encryption;
    EXPECT_EQ(e.master_key_hex, "");
    EXPECT_FALSE(e.required);
    EXPECT_FALSE(e.rotation_enabled);
    EXPECT_EQ(e.rotation_interval_days, 90);
    EXPECT_EQ(e.overlap_days, 7);
    EXPECT_TRUE(e.re_encrypt);
    EXPECT_EQ(e.alert_days, 7);
    EXPECT_EQ(e.check_interval_hours, 6);
    EXPECT_EQ(e.batch_size, 100);
    EXPECT_EQ(e.timeout_seconds, 3600);
    EXPECT_EQ(e.max_retries, 3);
}

TEST(EncryptionSettingsTest, EveryVariableIsRead) {
    auto s = Load({{"ARAGORA_ENCRYPTION_KEY", std::string(64, 'a')},
                   {"ARAGORA_ENCRYPTION_REQUIRED", "yes"},
                   {"ARAGORA_KEY_ROTATION_ENABLED", "true"},
                   {"ARAGORA_KEY_ROTATION_INTERVAL_DAYS", "30"},
                   {"ARAGORA_KEY_ROTATION_OVERLAP_DAYS", "2"},
                   {"ARAGORA_KEY_ROTATION_RE_ENCRYPT", "false"},
                   {"ARAGORA_KEY_ROTATION_ALERT_DAYS", "3"},
                   {"ARAGORA_KEY_ROTATION_CHECK_INTERVAL_HOURS", "1"},
                   {"ARAGORA_KEY_ROTATION_BATCH_SIZE", "500"},
                   {"ARAGORA_KEY_ROTATION_TIMEOUT_SECONDS", "60"},
                   {"ARAGORA_KEY_ROTATION_MAX_RETRIES", "0"}});
    ASSERT_TRUE(s) << s.error().message;
    const EncryptionSettings& e = s->encryption;
    EXPECT_EQ(e.master_key_hex, std::string(64, 'a'));
    EXPECT_TRUE(e.required);
    EXPECT_TRUE(e.rotation_enabled);
    EXPECT_EQ(e.rotation_interval_days, 30);
    EXPECT_EQ(e.overlap_days, 2);
    EXPECT_FALSE(e.re_encrypt);
    EXPECT_EQ(e.alert_days, 3);
    EXPECT_EQ(e.check_interval_hours, 1);
    EXPECT_EQ(e.batch_size, 500);
    EXPECT_EQ(e.timeout_seconds, 60);
    EXPECT_EQ(e.max_retries, 0);
}

TEST(EncryptionSettingsTest, ProductionAndStagingRequireTheKeyAndRotate) {
    for (const char* env : {"production", "prod", "staging", "stage"}) {
        auto s = Load({{"ARAGORA_ENV", env}, {"ARAGORA_RECEIPT_SIGNING_KEY", "k"}});
        ASSERT_TRUE(s) << env << ": " << s.error().message;
        EXPECT_TRUE(s->encryption.required) << env;
        EXPECT_TRUE(s->encryption.rotation_enabled) << env;
    }
    auto dev = Load({{"ARAGORA_ENV", "development"}});
    ASSERT_TRUE(dev);
    EXPECT_FALSE(dev->encryption.required);
}

TEST(EncryptionSettingsTest, BadValuesNameTheVariable) {
    auto bad = Load({{"ARAGORA_KEY_ROTATION_BATCH_SIZE", "0"}});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("ARAGORA_KEY_ROTATION_BATCH_SIZE"), std::string::npos);
    auto flag = Load({{"ARAGORA_ENCRYPTION_REQUIRED", "maybe"}});
    ASSERT_FALSE(flag);
    EXPECT_NE(flag.error().message.find("ARAGORA_ENCRYPTION_REQUIRED"), std::string::npos);
}

}  // namespace
}  // namespace aragora::config
