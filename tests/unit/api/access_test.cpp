// The auth and rate-limit middleware in front of the routes: service token, JWT roles,
// 401/403 shapes, routing before auth, 429 with its headers, CORS.

#include <gtest/gtest.h>

#include "api_test_support.hpp"
#include "auth/jwt.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"

namespace aragora::api::testing {
namespace {

constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

bool HasHeaderNamed(const net::HttpResponse& r, std::string_view name,
                    std::string* value = nullptr) {
    for (auto& [k, v] : r.headers) {
        if (k == name) {
            if (value) *value = v;
            return true;
        }
    }
    return false;
}

class AccessTest : public ::testing::Test {
protected:
    AccessTest()
        : keys_(TestKeys()),
          pool_(1, 16),
          deps_{service_, keys_, system_, registry_},
          auth_(MakeConfig(), clock_, pool_),
          limits_(MakeLimits(), clock_) {
        deps_.auth = &auth_;
        deps_.limits = &limits_;
        deps_.cors.allowed = {"https://app.example.com"};
        AddRoutes(router_, deps_);
        handler_ = MakeHttpHandler(router_, deps_);
    }
    ~AccessTest() override { pool_.Stop(); }

    static auth::AuthConfig MakeConfig() {
        auth::AuthConfig c;
        c.api_token = "s3cret-token";
        c.jwt.secret = kSecret;
        return c;
    }
    static RateLimitConfig MakeLimits() {
        RateLimitConfig c;
        c.per_ip = 5;
        c.debate_create = 100;
        c.whitelist = *ratelimit::CidrList::Parse("10.9.0.0/16");
        c.trusted_proxies = *ratelimit::CidrList::Parse("127.0.0.0/8");
        return c;
    }
    std::string Jwt(std::string role, std::int64_t exp_offset = 600) {
        auth::JwtClaims c;
        c.sub = "usr_1";
        c.role = std::move(role);
        const std::int64_t now =
            std::chrono::duration_cast<std::chrono::seconds>(clock_.SystemNow().time_since_epoch())
                .count();
        c.iat = now;
        c.exp = now + exp_offset;
        return auth::SignJwt(c, kSecret);
    }
    net::HttpResponse Call(std::string method, std::string target,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
        return ApiFixture::Invoke(handler_, std::move(method), std::move(target), {},
                                  std::move(headers));
    }
    net::HttpResponse Bearer(std::string method, std::string target, const std::string& token) {
        return Call(std::move(method), std::move(target), {{"Authorization", "Bearer " + token}});
    }

    common::ManualClock clock_;
    FakeDebateService service_;
    FakeSystemInfo system_;
    debate::ReceiptKeys keys_;
    metrics::Registry registry_;
    common::BlockingPool pool_;
    ApiDeps deps_;
    auth::AuthService auth_;
    RequestLimits limits_;
    Router router_;
    net::HttpHandler handler_;
};

TEST_F(AccessTest, NonPublicRoutesNeedCredentials) {
    auto denied = Call("GET", "/api/v1/debates");
    EXPECT_EQ(denied.status, 401);
    EXPECT_NE(denied.body.find("\"code\":\"auth_required\""), std::string::npos) << denied.body;
    EXPECT_TRUE(HasHeaderNamed(denied, "WWW-Authenticate"));
    EXPECT_EQ(Bearer("GET", "/api/v1/debates", "wrong").status, 401);
    EXPECT_EQ(Bearer("GET", "/api/v1/debates", "s3cret-token").status, 200);
    EXPECT_EQ(Call("GET", "/api/debates", {{"Authorization", "bearer s3cret-token"}}).status, 200);
}

TEST_F(AccessTest, RolesDecide) {
    EXPECT_EQ(Bearer("GET", "/api/v1/debates", Jwt("viewer")).status, 200);
    auto viewer_create = Bearer("POST", "/api/v1/debates", Jwt("viewer"));
    EXPECT_EQ(viewer_create.status, 403);
    EXPECT_NE(viewer_create.body.find("\"code\":\"forbidden\""), std::string::npos);
    EXPECT_EQ(Bearer("GET", "/api/v1/system/circuit-breakers", Jwt("member")).status, 403);
    EXPECT_EQ(Bearer("GET", "/api/v1/system/circuit-breakers", Jwt("admin")).status, 200);
    EXPECT_EQ(Bearer("GET", "/api/v1/system/circuit-breakers", "s3cret-token").status, 200);
}

TEST_F(AccessTest, ExpiredAndForgedTokensAreRefused) {
    auto expired = Bearer("GET", "/api/v1/debates", Jwt("admin", -3600));
    EXPECT_EQ(expired.status, 401);
    EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired.body;
    auth::JwtClaims c;
    c.sub = "usr_1";
    c.role = "owner";
    c.iat = 1'800'000'000;
    c.exp = c.iat + 600;
    EXPECT_EQ(Bearer("GET", "/api/v1/debates", auth::SignJwt(c, "another-secret-of-32-bytes!!!!!!"))
                  .status,
              401);
}

TEST_F(AccessTest, PublicRoutesAndRoutingComeFirst) {
    EXPECT_EQ(Call("GET", "/healthz").status, 200);
    EXPECT_EQ(Call("GET", "/api/v1/health").status, 200);
    EXPECT_EQ(Call("GET", "/metrics").status, 200);
    EXPECT_EQ(Call("GET", "/api/v1/rate-limits/config").status, 200);
    // The published receipt keys need no credential (503 here: none loaded, not 401).
    EXPECT_EQ(Call("GET", "/.well-known/aragora/receipt-keys.json").status, 503);
    EXPECT_EQ(Call("GET", "/api/nothing-here").status, 404);  // 404, not 401
    EXPECT_EQ(Call("POST", "/api/nothing-here").status, 404);
}

TEST_F(AccessTest, RateLimitAnswers429WithHeaders) {
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(Bearer("GET", "/api/v1/debates", "s3cret-token").status, 200) << i;
    }
    auto limited = Bearer("GET", "/api/v1/debates", "s3cret-token");
    ASSERT_EQ(limited.status, 429);
    std::string retry;
    EXPECT_TRUE(HasHeaderNamed(limited, "Retry-After", &retry));
    EXPECT_GE(std::stoi(retry), 1);
    EXPECT_TRUE(HasHeaderNamed(limited, "X-RateLimit-Limit"));
    EXPECT_TRUE(HasHeaderNamed(limited, "X-RateLimit-Reset"));
    EXPECT_NE(limited.body.find("\"retry_after\":"), std::string::npos);
    EXPECT_NE(registry_.RenderPrometheus().find("aragora_rate_limit_hits_total{bucket=\"ip\"} 1"),
              std::string::npos);
    // Health is never limited.
    EXPECT_EQ(Call("GET", "/healthz").status, 200);
    clock_.Advance(std::chrono::seconds(125));
    EXPECT_EQ(Bearer("GET", "/api/v1/debates", "s3cret-token").status, 200);
}

TEST_F(AccessTest, CorsPreflightOnlyForAllowedOrigins) {
    auto ok =
        Call("OPTIONS", "/api/v1/debates",
             {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(ok.status, 204);
    std::string allow;
    EXPECT_TRUE(HasHeaderNamed(ok, "Access-Control-Allow-Origin", &allow));
    EXPECT_EQ(allow, "https://app.example.com");
    auto foreign =
        Call("OPTIONS", "/api/v1/debates",
             {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(foreign.status, 403);
    EXPECT_FALSE(HasHeaderNamed(foreign, "Access-Control-Allow-Origin"));
    auto get = Call("GET", "/healthz", {{"Origin", "https://evil.example"}});
    EXPECT_FALSE(HasHeaderNamed(get, "Access-Control-Allow-Origin"));
}

}  // namespace
}  // namespace aragora::api::testing
