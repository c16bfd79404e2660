// The service-token gate in front of non-public routes (until user auth lands).

#include <gtest/gtest.h>

#include "api_test_support.hpp"

namespace aragora::api::testing {
namespace {

class AccessTest : public ::testing::Test {
protected:
    AccessTest() : keys_(TestKeys()), deps_{service_, keys_, system_, registry_} {
        deps_.access.api_token = "s3cret-token";
        deps_.access.open = false;
        AddRoutes(router_, deps_);
        handler_ = MakeHttpHandler(router_, deps_);
    }
    net::HttpResponse Call(std::string method, std::string target,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
        return ApiFixture::Invoke(handler_, std::move(method), std::move(target), {},
                                  std::move(headers));
    }

    FakeDebateService service_;
    FakeSystemInfo system_;
    debate::ReceiptKeys keys_;
    metrics::Registry registry_;
    ApiDeps deps_;
    Router router_;
    net::HttpHandler handler_;
};

TEST_F(AccessTest, NonPublicRoutesNeedTheServiceToken) {
    auto denied = Call("GET", "/api/v1/debates");
    EXPECT_EQ(denied.status, 401);
    EXPECT_NE(denied.body.find("\"code\":\"auth_required\""), std::string::npos) << denied.body;
    bool has_www = false;
    for (auto& [k, v] : denied.headers) has_www |= k == "WWW-Authenticate";
    EXPECT_TRUE(has_www);
    EXPECT_EQ(Call("GET", "/api/v1/debates", {{"Authorization", "Bearer wrong"}}).status, 401);
    EXPECT_EQ(Call("GET", "/api/v1/debates", {{"Authorization", "Bearer s3cret-token"}}).status,
              200);
    EXPECT_EQ(Call("GET", "/api/debates", {{"Authorization", "bearer s3cret-token"}}).status, 200);
}

TEST_F(AccessTest, PublicRoutesAndRoutingComeFirst) {
    EXPECT_EQ(Call("GET", "/healthz").status, 200);
    EXPECT_EQ(Call("GET", "/api/v1/health").status, 200);
    EXPECT_EQ(Call("GET", "/metrics").status, 200);
    EXPECT_EQ(Call("GET", "/api/nothing-here").status, 404);  // 404, not 401
    EXPECT_EQ(Call("POST", "/api/nothing-here").status, 404);
}

TEST(AccessPolicyTest, EmptyTokenNeverMatches) {
    AccessPolicy p;
    p.open = false;
    EXPECT_FALSE(p.Accepts("Bearer "));
    EXPECT_FALSE(p.AcceptsToken(""));
    p.api_token = "t";
    EXPECT_TRUE(p.AcceptsToken("t"));
    EXPECT_FALSE(p.Accepts("Basic t"));
}

}  // namespace
}  // namespace aragora::api::testing
