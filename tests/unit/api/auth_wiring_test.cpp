// ApiDeps::auth is required: a missing auth service fails closed (MakeHttpHandler refuses
// to build), and the open development mode is an explicit AuthService configured open.

#include <gtest/gtest.h>

#include <stdexcept>

#include "api_test_support.hpp"

namespace aragora::api::testing {
namespace {

TEST(AuthWiringTest, MissingAuthServiceRefusesToBuildTheHandler) {
    FakeDebateService service;
    FakeSystemInfo system;
    debate::ReceiptKeys keys = TestKeys();
    metrics::Registry registry;
    ApiDeps deps{service, keys, system, registry};  // auth left out: a wiring mistake
    Router router;
    AddRoutes(router, deps);
    EXPECT_THROW(MakeHttpHandler(router, deps), std::invalid_argument);

    // The refusal declared nothing: wired properly, the same registry still works.
    OpenAuth open_auth;
    deps.auth = open_auth.get();
    auto handler = MakeHttpHandler(router, deps);
    EXPECT_EQ(ApiFixture::Invoke(handler, "GET", "/api/v1/debates").status, 200);
}

class OpenModeTest : public ApiFixture {};

// Every route that needs credentials answers without them in the explicit open mode:
// none is refused with 401 or 403.
TEST_F(OpenModeTest, ServesEveryRouteWithoutCredentials) {
    AddCompletedDebate(service_, keys_, "d_open", "2027-01-01T00:00:00.000Z");
    int guarded = 0;
    for (const Router::Entry& entry : router_.entries()) {
        const Route& route = entry.route;
        if (route.auth == AuthLevel::kPublic) continue;
        std::string path = route.path;
        for (const auto& [param, value] : {std::pair<std::string, std::string>{"{id}", "d_open"},
                                           {"{format}", "md"},
                                           {"{name}", "claude"}}) {
            for (size_t pos; (pos = path.find(param)) != std::string::npos;) {
                path.replace(pos, param.size(), value);
            }
        }
        const std::string body = route.method == "GET" ? "" : R"({"task":"t"})";
        auto res = Call(route.method, path, body);
        EXPECT_NE(res.status, 401) << route.method << " " << path << ": " << res.body;
        EXPECT_NE(res.status, 403) << route.method << " " << path << ": " << res.body;
        ++guarded;
    }
    EXPECT_GT(guarded, 40);
}

// The same table with an auth service that is not open: the guarded routes refuse.
TEST(AuthWiringTest, ClosedAuthServiceRefusesWithoutCredentials) {
    FakeDebateService service;
    FakeSystemInfo system;
    debate::ReceiptKeys keys = TestKeys();
    metrics::Registry registry;
    common::ManualClock clock;
    common::BlockingPool pool(1, 16);
    auth::AuthConfig config;
    config.api_token = "s3cret-token";
    auth::AuthService closed(config, clock, pool);
    ApiDeps deps{service, keys, system, registry};
    deps.auth = &closed;
    Router router;
    AddRoutes(router, deps);
    auto handler = MakeHttpHandler(router, deps);
    EXPECT_EQ(ApiFixture::Invoke(handler, "GET", "/api/v1/debates").status, 401);
    EXPECT_EQ(ApiFixture::Invoke(handler, "GET", "/api/v1/debates", "",
                                 {{"Authorization", "Bearer s3cret-token"}})
                  .status,
              200);
    pool.Stop();
}

}  // namespace
}  // namespace aragora::api::testing
