#include "storage/postgres/pg_dsn.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aragora::storage {
namespace {

using common::ErrorCode;

std::string Built(const std::string& dsn, const std::string& password, int timeout = 5) {
    auto out = BuildPgDsn(dsn, password, timeout);
    EXPECT_TRUE(out.ok()) << dsn << ": " << out.error().message;
    return out.ok() ? *out : std::string();
}

TEST(PgDsnTest, PasswordGoesIntoAUrlWithoutOnePercentEncoded) {
    EXPECT_EQ(Built("postgresql://aragora@db.internal:5432/aragora", "p@ss:w/rd %&?#é"),
              "postgresql://aragora:p%40ss%3Aw%2Frd%20%25%26%3F%23%C3%A9@db.internal:5432/"
              "aragora?connect_timeout=5");
    EXPECT_EQ(Built("postgres://db/aragora", "s3cret-._~"),
              "postgres://:s3cret-._~@db/aragora?connect_timeout=5");
    EXPECT_EQ(Built("postgresql://u:@db/a", "pw"), "postgresql://u:pw@db/a?connect_timeout=5");
    EXPECT_EQ(Built("PostgreSQL://u@[::1]:5433,h2:5434/a?sslmode=disable", "pw"),
              "postgresql://u:pw@[::1]:5433,h2:5434/a?sslmode=disable&connect_timeout=5");
}

TEST(PgDsnTest, AnExistingPasswordOrTimeoutIsKept) {
    EXPECT_EQ(Built("postgresql://u:urlpw@db/a", "envpw"),
              "postgresql://u:urlpw@db/a?connect_timeout=5");
    EXPECT_EQ(Built("postgresql://u@db/a?password=q&connect_timeout=2", "envpw"),
              "postgresql://u@db/a?password=q&connect_timeout=2");
    EXPECT_EQ(Built("postgresql://u@db/a", ""), "postgresql://u@db/a?connect_timeout=5");
    EXPECT_EQ(Built("postgresql://u@db/a", "", 0), "postgresql://u@db/a");
}

TEST(PgDsnTest, KeywordStringsGetAQuotedPassword) {
    EXPECT_EQ(Built("host=db dbname=aragora user=u", "it's \\ me"),
              "host=db dbname=aragora user=u password='it\\'s \\\\ me' connect_timeout=5");
    EXPECT_EQ(Built("host=db password=kept connect_timeout=1", "envpw"),
              "host=db password=kept connect_timeout=1");
}

TEST(PgDsnTest, BadInputIsAValidationErrorThatNeverShowsThePassword) {
    for (const char* bad : {"", "   ", "mysql://u@db/a", "host=db port", "host='unterminated"}) {
        auto out = BuildPgDsn(bad, "hunter2");
        ASSERT_FALSE(out.ok()) << bad;
        EXPECT_EQ(out.error().code, ErrorCode::kValidation) << bad;
        EXPECT_EQ(out.error().message.find("hunter2"), std::string::npos) << out.error().message;
    }
}

TEST(PgDsnTest, RedactedFormHidesEveryPassword) {
    EXPECT_EQ(RedactPgDsn("postgresql://aragora:p%40ss@db:5432/aragora?connect_timeout=5"),
              "postgresql://aragora:***@db:5432/aragora?connect_timeout=5");
    EXPECT_EQ(RedactPgDsn("postgres://u@db/a?password=secret&sslmode=require"),
              "postgres://u@db/a?password=***&sslmode=require");
    EXPECT_EQ(RedactPgDsn("postgres://db/a"), "postgres://db/a");
    EXPECT_EQ(RedactPgDsn("host=db password='a b\\'c' user=u"), "host=db password=*** user=u");
    EXPECT_EQ(RedactPgDsn("host=db password"), "<unparsable postgres dsn>");
    const std::string built = Built("postgresql://u@db/a", "Secret!");
    EXPECT_EQ(RedactPgDsn(built).find("Secret"), std::string::npos) << RedactPgDsn(built);
}

}  // namespace
}  // namespace aragora::storage
