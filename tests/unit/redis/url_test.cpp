// RedisUrl parsing: forms of the runbooks' ARAGORA_REDIS_URL, REDIS_PASSWORD fallback,
// clear errors that never echo the password, and the redacted form for logs.

#include "redis/url.hpp"

#include <gtest/gtest.h>

namespace aragora::redis {
namespace {

TEST(RedisUrlTest, HostOnlyGetsDefaults) {
    auto url = RedisUrl::Parse("redis://localhost");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_FALSE(url->tls);
    EXPECT_EQ(url->host, "localhost");
    EXPECT_EQ(url->port, 6379);
    EXPECT_EQ(url->db, 0);
    EXPECT_TRUE(url->username.empty());
    EXPECT_TRUE(url->password.empty());
    EXPECT_EQ(url->Redacted(), "redis://localhost:6379/0");
}

TEST(RedisUrlTest, PasswordPortAndDb) {
    auto url = RedisUrl::Parse("redis://:s3cret@redis.internal:6380/2");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_EQ(url->host, "redis.internal");
    EXPECT_EQ(url->port, 6380);
    EXPECT_EQ(url->db, 2);
    EXPECT_EQ(url->password, "s3cret");
    EXPECT_TRUE(url->username.empty());
    EXPECT_EQ(url->Redacted(), "redis://:***@redis.internal:6380/2");
}

TEST(RedisUrlTest, UserAndPercentEncodedPassword) {
    auto url = RedisUrl::Parse("rediss://app:p%40ss%2Fw%3Ard@10.0.0.5:6390/0");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->username, "app");
    EXPECT_EQ(url->password, "p@ss/w:rd");
    EXPECT_EQ(url->host, "10.0.0.5");
    EXPECT_EQ(url->Redacted(), "rediss://app:***@10.0.0.5:6390/0");
}

TEST(RedisUrlTest, LegacyPasswordOnlyUserinfo) {
    auto url = RedisUrl::Parse("redis://hunter2@cache:6379");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_EQ(url->password, "hunter2");
    EXPECT_TRUE(url->username.empty());
}

TEST(RedisUrlTest, FallbackPasswordOnlyWhenUrlHasNone) {
    auto from_env = RedisUrl::Parse("redis://cache:6379/1", "envpass");
    ASSERT_TRUE(from_env.ok());
    EXPECT_EQ(from_env->password, "envpass");
    EXPECT_EQ(from_env->Redacted(), "redis://:***@cache:6379/1");
    auto url_wins = RedisUrl::Parse("redis://:urlpass@cache", "envpass");
    ASSERT_TRUE(url_wins.ok());
    EXPECT_EQ(url_wins->password, "urlpass");
}

TEST(RedisUrlTest, Ipv6Literal) {
    auto url = RedisUrl::Parse("redis://[::1]:7000/3");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_EQ(url->host, "::1");
    EXPECT_EQ(url->port, 7000);
    EXPECT_EQ(url->db, 3);
    EXPECT_EQ(url->Authority(), "[::1]:7000");
    auto bare = RedisUrl::Parse("redis://[::1]");
    ASSERT_TRUE(bare.ok());
    EXPECT_EQ(bare->port, 6379);
}

TEST(RedisUrlTest, TrailingSlashMeansDbZero) {
    auto url = RedisUrl::Parse("redis://cache:6379/");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_EQ(url->db, 0);
}

struct BadUrl {
    const char* url;
    const char* expected_in_message;
};

class RedisUrlErrorTest : public ::testing::TestWithParam<BadUrl> {};

TEST_P(RedisUrlErrorTest, ClearErrorWithoutThePassword) {
    auto url = RedisUrl::Parse(GetParam().url, {}, "ARAGORA_REDIS_URL");
    ASSERT_FALSE(url.ok()) << GetParam().url;
    EXPECT_EQ(url.error().code, common::ErrorCode::kValidation);
    EXPECT_EQ(url.error().field, "ARAGORA_REDIS_URL");
    EXPECT_NE(url.error().message.find(GetParam().expected_in_message), std::string::npos)
        << url.error().message;
    EXPECT_NE(url.error().message.find("ARAGORA_REDIS_URL"), std::string::npos);
    EXPECT_EQ(url.error().message.find("hunter2"), std::string::npos) << url.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, RedisUrlErrorTest,
    ::testing::Values(
        BadUrl{"http://:hunter2@cache", "unsupported scheme 'http'"},
        BadUrl{"cache:6379", "not a URL"}, BadUrl{"redis://", "no host"},
        BadUrl{"redis://:hunter2@", "no host"},
        BadUrl{"redis://:hunter2@cache:0", "port out of range"},
        BadUrl{"redis://cache:99999", "port out of range"}, BadUrl{"redis://cache:abc", "bad port"},
        BadUrl{"redis://cache:", "empty port"}, BadUrl{"redis://cache/abc", "database number"},
        BadUrl{"redis://cache/1?timeout=3", "query strings"},
        BadUrl{"redis://:hunter2%zz@cache", "percent-escape in the password"},
        BadUrl{"redis://user:@cache", "needs a password"},
        BadUrl{"redis://ca che", "bad character"}, BadUrl{"redis://[::1", "unterminated IPv6"},
        BadUrl{"redis://[::1]x", "after the IPv6"}));

TEST(RedisUrlTest, UserWithEmptyPasswordTakesTheFallback) {
    auto with_user = RedisUrl::Parse("redis://user:@cache", "envpass");
    ASSERT_TRUE(with_user.ok()) << with_user.error().message;
    EXPECT_EQ(with_user->username, "user");
    EXPECT_EQ(with_user->password, "envpass");
}

}  // namespace
}  // namespace aragora::redis
