// The open development mode's guard against web pages (security.hpp OpenModeGuard): loopback
// Host names only, no cross-site state-changing requests or WebSocket upgrades; and the
// middleware answering it 403 before anything else, only while auth is open.

#include <gtest/gtest.h>

#include "api/security.hpp"
#include "api_test_support.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"

namespace aragora::api::testing {
namespace {

net::HttpRequest Request(std::string method,
                         std::vector<std::pair<std::string, std::string>> headers) {
    net::HttpRequest r;
    r.method = std::move(method);
    r.target = r.path = "/api/v1/debates";
    r.headers = std::move(headers);  // names lowercased, as the server delivers them
    r.remote_address = "127.0.0.1";
    return r;
}

TEST(OpenModeGuardTest, LoopbackHostNames) {
    for (const char* host : {"localhost", "LocalHost:8080", "127.0.0.1", "127.0.0.1:1",
                             "127.5.6.7:65535", "[::1]", "[::1]:8080", "[0:0:0:0:0:0:0:1]:80"}) {
        EXPECT_TRUE(IsLoopbackHost(host)) << host;
    }
    for (const char* host : {"",
                             "evil.example",
                             "evil.example:8080",
                             "localhost.evil.example",
                             "127.0.0.1.nip.io",
                             "localhost:80:80",
                             "127.0.0.1:",
                             "127.0.0.1:http",
                             "127.0.0.1:123456",
                             "0.0.0.0",
                             "10.0.0.1",
                             "192.168.1.2:8080",
                             "[::2]",
                             "[::1",
                             "[::1]x",
                             "::1",
                             "127.1",
                             "[::1]:80]",
                             " localhost",
                             "localhost "}) {
        EXPECT_FALSE(IsLoopbackHost(host)) << "'" << host << "'";
    }
}

TEST(OpenModeGuardTest, LoopbackOrigins) {
    for (const char* origin :
         {"http://localhost:3000", "https://127.0.0.1", "http://[::1]:8080", "HTTP://LOCALHOST"}) {
        EXPECT_TRUE(IsLoopbackOrigin(origin)) << origin;
    }
    for (const char* origin : {"null", "", "https://evil.example", "http://localhost:3000/path",
                               "file://", "ws://localhost", "http://localhost.evil.example",
                               "http://127.0.0.1.evil.example:80", "localhost"}) {
        EXPECT_FALSE(IsLoopbackOrigin(origin)) << origin;
    }
}

TEST(OpenModeGuardTest, RefusesWhatAWebPageCouldSend) {
    const OpenModeGuard guard;
    const CorsPolicy none;
    // DNS rebinding: the page's own name as Host, on any method.
    auto rebound = guard.Refusal(Request("GET", {{"host", "evil.example:8080"}}), none);
    ASSERT_TRUE(rebound.has_value());
    EXPECT_NE(rebound->find("'evil.example:8080'"), std::string::npos) << *rebound;
    EXPECT_TRUE(
        guard.Refusal(Request("GET", {{"host", "localhost"}, {"host", "evil.example"}}), none));
    // Cross-site writes, whatever their Content-Type.
    for (const char* method : {"POST", "PUT", "PATCH", "DELETE", "PROPFIND"}) {
        auto r = guard.Refusal(Request(method, {{"host", "127.0.0.1:8080"},
                                                {"origin", "https://evil.example"},
                                                {"content-type", "text/plain"}}),
                               none);
        ASSERT_TRUE(r.has_value()) << method;
        EXPECT_NE(r->find("'https://evil.example'"), std::string::npos) << *r;
    }
    EXPECT_TRUE(guard.Refusal(Request("POST", {{"origin", "null"}}), none));
    EXPECT_TRUE(guard.Refusal(Request("POST", {{"sec-fetch-site", "cross-site"}}), none));
    // A WebSocket upgrade from a page.
    auto ws = guard.Refusal(Request("GET", {{"host", "localhost:8765"},
                                            {"upgrade", "websocket"},
                                            {"origin", "https://evil.example"}}),
                            none);
    ASSERT_TRUE(ws.has_value());
    EXPECT_NE(ws->find("WebSocket"), std::string::npos) << *ws;
}

TEST(OpenModeGuardTest, LetsLocalToolsAndPagesThrough) {
    const OpenModeGuard guard;
    const CorsPolicy none;
    // curl, the SDKs: no Origin.
    EXPECT_FALSE(guard.Refusal(Request("POST", {{"host", "127.0.0.1:8080"}}), none));
    EXPECT_FALSE(guard.Refusal(Request("POST", {}), none));  // HTTP/1.0, no Host
    // A page served from loopback.
    EXPECT_FALSE(guard.Refusal(
        Request("POST", {{"host", "localhost:8080"}, {"origin", "http://localhost:3000"}}), none));
    EXPECT_FALSE(guard.Refusal(Request("GET", {{"host", "localhost"},
                                               {"upgrade", "websocket"},
                                               {"origin", "http://127.0.0.1:8080"}}),
                               none));
    // Reads carry no cross-site risk once the Host is loopback (CORS keeps the answer from
    // the page).
    EXPECT_FALSE(guard.Refusal(
        Request("GET", {{"host", "localhost"}, {"origin", "https://evil.example"}}), none));
    // ARAGORA_ALLOWED_ORIGINS lists origins the operator allows.
    CorsPolicy cors;
    cors.allowed = {"https://app.example.com"};
    EXPECT_FALSE(guard.Refusal(Request("POST", {{"origin", "https://app.example.com"}}), cors));
    EXPECT_TRUE(guard.Refusal(Request("POST", {{"origin", "https://evil.example"}}), cors));
    // ARAGORA_ALLOW_UNAUTHENTICATED=1 on another address: any Host, Origins still checked.
    const OpenModeGuard exposed{.loopback_hosts_only = false};
    EXPECT_FALSE(exposed.Refusal(Request("GET", {{"host", "10.0.0.5:8080"}}), none));
    EXPECT_TRUE(exposed.Refusal(
        Request("POST", {{"host", "10.0.0.5:8080"}, {"origin", "https://evil.example"}}), none));
}

// The middleware with a real AuthService, open or not.
class OpenModeMiddlewareTest : public ::testing::Test {
protected:
    explicit OpenModeMiddlewareTest(bool open = true)
        : keys_(TestKeys()),
          pool_(1, 16),
          deps_{service_, keys_, system_, registry_},
          auth_(MakeConfig(open), clock_, pool_) {
        deps_.auth = &auth_;
        AddRoutes(router_, deps_);
        handler_ = MakeHttpHandler(router_, deps_);
    }
    ~OpenModeMiddlewareTest() override { pool_.Stop(); }

    static auth::AuthConfig MakeConfig(bool open) {
        auth::AuthConfig c;
        c.open = open;
        if (!open) c.api_token = "s3cret-token";
        return c;
    }
    net::HttpResponse Call(std::string method, std::string target, std::string body,
                           std::vector<std::pair<std::string, std::string>> headers) {
        return ApiFixture::Invoke(handler_, std::move(method), std::move(target), std::move(body),
                                  std::move(headers));
    }

    common::ManualClock clock_;
    FakeDebateService service_;
    FakeSystemInfo system_;
    debate::ReceiptKeys keys_;
    metrics::Registry registry_;
    common::BlockingPool pool_;
    ApiDeps deps_;
    auth::AuthService auth_;
    Router router_;
    net::HttpHandler handler_;
};

const std::string kCreate = R"({"task": "t", "agents": ["demo", "demo"]})";

TEST_F(OpenModeMiddlewareTest, CrossSiteTextPlainPostCreatesNothing) {
    auto res = Call("POST", "/api/v1/debates", kCreate,
                    {{"Host", "127.0.0.1:8080"},
                     {"Origin", "https://evil.example"},
                     {"Content-Type", "text/plain"}});
    EXPECT_EQ(res.status, 403) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(v.at("code"), "forbidden");
    EXPECT_TRUE(v.as_object().contains("correlation_id"));
    EXPECT_TRUE(v.as_object().contains("trace_id"));
    EXPECT_EQ(service_.created, 0) << "no debate may be created";
    EXPECT_NE(
        registry_.RenderPrometheus().find("aragora_auth_failures_total{reason=\"open_mode\"} 1"),
        std::string::npos);
    // The control: the same request from curl (no Origin) creates it.
    auto local = Call("POST", "/api/v1/debates", kCreate,
                      {{"Host", "127.0.0.1:8080"}, {"Content-Type", "text/plain"}});
    EXPECT_EQ(local.status, 201) << local.body;
    EXPECT_EQ(service_.created, 1);
}

TEST_F(OpenModeMiddlewareTest, ForeignHostIsRefusedEvenOnUnknownPaths) {
    for (const char* target : {"/api/v1/debates", "/healthz", "/api/v1/nothing-here"}) {
        auto res = Call("GET", target, "", {{"Host", "rebind.evil.example:8080"}});
        EXPECT_EQ(res.status, 403) << target << " " << res.body;
        EXPECT_EQ(Parse(res).at("code"), "forbidden");
    }
    EXPECT_EQ(Call("GET", "/api/v1/debates", "", {{"Host", "localhost:8080"}}).status, 200);
}

TEST_F(OpenModeMiddlewareTest, GuardEndsWithTheOpenMode) {
    auth_.CloseOpenMode();  // the first user was added
    // Now credentials decide; a bearer token cannot be sent by a cross-site form.
    auto res = Call("GET", "/api/v1/debates", "", {{"Host", "rebind.evil.example"}});
    EXPECT_EQ(res.status, 401) << res.body;
}

class CredentialsMiddlewareTest : public OpenModeMiddlewareTest {
protected:
    CredentialsMiddlewareTest() : OpenModeMiddlewareTest(false) {}
};

TEST_F(CredentialsMiddlewareTest, GuardIsOffWithCredentials) {
    auto res = Call("POST", "/api/v1/debates", kCreate,
                    {{"Host", "aragora.example.com"},
                     {"Origin", "https://dashboard.example.com"},
                     {"Authorization", "Bearer s3cret-token"}});
    EXPECT_EQ(res.status, 201) << res.body;
}

}  // namespace
}  // namespace aragora::api::testing
