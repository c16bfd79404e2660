// What leaves the process in an error report has no secret in it.

#include "sentry/scrub.hpp"

#include <gtest/gtest.h>

#include <map>

namespace aragora::sentry {
namespace {

bool Has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(SentryScrub, KnownSecretsAnywhere) {
    Scrubber s({"hunter2-long-password", "tok", "abcdefghijkl"});
    const std::string out =
        s.Text("login failed for hunter2-long-password; x=abcdefghijkl and tok stays");
    EXPECT_FALSE(Has(out, "hunter2")) << out;
    EXPECT_FALSE(Has(out, "abcdefghijkl")) << out;
    EXPECT_TRUE(Has(out, "tok stays")) << "short values are not secrets: " << out;
}

TEST(SentryScrub, PatternsWithoutKnowingTheValue) {
    Scrubber s;
    const std::map<std::string, std::string> cases = {
        {"provider said: invalid key sk-ant-api03-AbCdEfGhIjKlMnOpQr", "AbCdEfGhIjKlMnOp"},
        {"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGci"},
        {"auth=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw"},
        {"connect postgres://aragora:pgpass123@db:5432/aragora failed", "pgpass123"},
        {"redis://:redispass@redis:6379/0", "redispass"},
        {"{\"password\": \"p@ss w0rd\", \"user\": \"bob\"}", "p@ss w0rd"},
        {"GET /x?api_key=QQQ123456&limit=5", "QQQ123456"},
        {"token=abc.def.ghi", "abc.def.ghi"},
        {"client_secret: s3cr3tvalue,", "s3cr3tvalue"},
        {"xai-0123456789abcdefghij rejected", "0123456789abcdef"},
    };
    for (const auto& [in, secret] : cases) {
        const std::string out = s.Text(in);
        EXPECT_FALSE(Has(out, secret)) << in << " -> " << out;
        EXPECT_TRUE(Has(out, kFiltered)) << in << " -> " << out;
    }
    // Ordinary text is left alone.
    EXPECT_EQ(s.Text("debate d-1 failed (storage_unavailable): disk full"),
              "debate d-1 failed (storage_unavailable): disk full");
    EXPECT_EQ(s.Text("GET /api/v1/debates answered 500: internal error (correlation id req_1)"),
              "GET /api/v1/debates answered 500: internal error (correlation id req_1)");
}

TEST(SentryScrub, QueryAndHeaders) {
    Scrubber s;
    EXPECT_EQ(s.Query("limit=5&api_key=zzzz&password=pw&status=failed"),
              "limit=5&api_key=[Filtered]&password=[Filtered]&status=failed");
    auto headers = s.Headers({{"authorization", "Bearer abcdefgh"},
                              {"cookie", "session=xyz"},
                              {"x-api-key", "k"},
                              {"x-correlation-id", "corr-1"},
                              {"user-agent", "curl/8"}});
    ASSERT_EQ(headers.size(), 5u);
    EXPECT_EQ(headers[0].second, kFiltered);
    EXPECT_EQ(headers[1].second, kFiltered);
    EXPECT_EQ(headers[2].second, kFiltered);
    EXPECT_EQ(headers[3].second, "corr-1");
    EXPECT_EQ(headers[4].second, "curl/8");
}

TEST(SentryScrub, SecretsFromTheEnvironment) {
    const std::map<std::string, std::string> env = {
        {"ANTHROPIC_API_KEY", "sk-ant-xyz-123456"},
        {"ARAGORA_JWT_SECRET", "jwt-secret-value-0123456789"},
        {"DATABASE_URL", "postgres://aragora:dbpassword@db/aragora"},
        {"ARAGORA_REDIS_URL", "redis://:redispw123@redis:6379"},
        {"ARAGORA_ENV", "production"},
        {"SENTRY_DSN", "https://publickey@sentry.example/1"}};
    config::EnvLookup lookup = [&env](std::string_view n) -> std::optional<std::string> {
        auto it = env.find(std::string(n));
        if (it == env.end()) return std::nullopt;
        return it->second;
    };
    std::vector<std::string> names;
    for (const auto& [k, v] : env) names.push_back(k);
    auto secrets = SecretsFromEnvironment(lookup, names);
    auto has = [&secrets](const std::string& v) {
        return std::find(secrets.begin(), secrets.end(), v) != secrets.end();
    };
    EXPECT_TRUE(has("sk-ant-xyz-123456"));
    EXPECT_TRUE(has("jwt-secret-value-0123456789"));
    EXPECT_TRUE(has("dbpassword"));
    EXPECT_TRUE(has("redispw123"));
    EXPECT_FALSE(has("production"));
}

}  // namespace
}  // namespace aragora::sentry
