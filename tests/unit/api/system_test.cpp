// Health, status, metrics, OpenAPI and not-implemented routes (API.md "Health and status").

#include <gtest/gtest.h>

#include "api_test_support.hpp"

namespace aragora::api::testing {
namespace {

class SystemTest : public ApiFixture {};

TEST_F(SystemTest, Probes) {
    auto healthz = Call("GET", "/healthz");
    EXPECT_EQ(healthz.status, 200);
    EXPECT_EQ(Parse(healthz), json::parse(R"({"status":"ok"})"));

    auto ready = Call("GET", "/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(Parse(ready).at("status"), "ready");
    EXPECT_TRUE(Parse(ready).at("checks").is_object());

    system_.not_ready = "draining";
    auto draining = Call("GET", "/readyz");
    EXPECT_EQ(draining.status, 503);
    EXPECT_EQ(Parse(draining), json::parse(R"({"status":"not_ready","reason":"draining"})"));
    EXPECT_EQ(HeaderOf(draining, "Retry-After"), "5");
    EXPECT_EQ(Call("GET", "/healthz").status, 200);  // liveness is unaffected
}

TEST_F(SystemTest, DeepHealthFollowsOverall) {
    auto ok = Call("GET", "/health");
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, system_.deep_health);
    system_.deep_health = R"({"overall":"degraded","checks":{"api_keys":{"status":"warning"}}})";
    EXPECT_EQ(Call("GET", "/health").status, 200);  // degraded still serves
    system_.deep_health = R"({"overall":"error","checks":{"database":{"status":"down"}}})";
    auto bad = Call("GET", "/health");
    EXPECT_EQ(bad.status, 503);
    EXPECT_EQ(bad.body, system_.deep_health);
    EXPECT_EQ(HeaderOf(bad, "Retry-After"), "5");
    system_.deep_health = "garbage";
    EXPECT_EQ(Call("GET", "/health").status, 503);
}

TEST_F(SystemTest, ApiHealthOnBothPrefixes) {
    for (std::string path : {"/api/v1/health", "/api/health"}) {
        auto res = Call("GET", path);
        EXPECT_EQ(res.status, 200) << path;
        EXPECT_EQ(res.body, system_.health);
    }
    system_.health = R"({"status":"degraded"})";
    EXPECT_EQ(Call("GET", "/api/health").status, 200);
    system_.health = R"({"status":"unhealthy"})";
    auto res = Call("GET", "/api/health");
    EXPECT_EQ(res.status, 503);
    EXPECT_EQ(Parse(res).at("status"), "unhealthy");
    EXPECT_EQ(HeaderOf(res, "Retry-After"), "5");
    system_.health_deep_args.clear();
    (void)Call("GET", "/api/v1/health?deep=1");
    (void)Call("GET", "/api/v1/health");
    EXPECT_EQ(system_.health_deep_args, (std::vector<bool>{true, false}));
}

TEST_F(SystemTest, InfoRoutes) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/health/threads", system_.ThreadsJson()},
        {"/health/build", system_.BuildJson()},
        {"/api/v1/health/build", system_.BuildJson()},
        {"/api/health/build", system_.BuildJson()},
        {"/api/v1/status", system_.StatusJson()},
        {"/api/status", system_.StatusJson()},
        {"/api/ws/stats", system_.WsStatsJson()},
        {"/api/v1/ws/stats", system_.WsStatsJson()},
        {"/api/metrics", system_.MetricsSummaryJson()},
        {"/api/v1/metrics", system_.MetricsSummaryJson()},
    };
    for (const auto& [path, body] : cases) {
        auto res = Call("GET", path);
        EXPECT_EQ(res.status, 200) << path;
        EXPECT_EQ(res.content_type, "application/json") << path;
        EXPECT_EQ(res.body, body) << path;
    }
}

TEST_F(SystemTest, PrometheusText) {
    auto res = Call("GET", "/metrics");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(res.body, "aragora_up 1\n");
    auto ws = Call("GET", "/metrics/websocket");
    EXPECT_EQ(ws.status, 200);
    EXPECT_EQ(ws.body, "aragora_ws_connections 0\n");

    system_.metrics_enabled = false;
    for (std::string path : {"/metrics", "/metrics/websocket"}) {
        auto off = Call("GET", path);
        EXPECT_EQ(off.status, 404) << path;
        EXPECT_EQ(Parse(off).at("code"), "not_found");
    }
}

// Without an account store (open mode, no database) the account, rate-limit and admin
// routes answer JSON: none is left as a 501 stub.
TEST_F(SystemTest, FormerlyNotImplementedRoutesAnswerJson) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"POST", "/api/admin/cleanup-caches"}, {"GET", "/api/rate-limits/status"},
        {"GET", "/api/rate-limits/config"},    {"GET", "/api/system/errors?limit=5"},
        {"GET", "/api/system/rate-limits"},    {"GET", "/api/auth/me"},
        {"POST", "/api/v1/auth/login"},        {"GET", "/api/v1/auth/api-keys"},
        {"POST", "/api/auth/api-key"},         {"GET", "/api/billing/usage"},
    };
    for (const auto& [method, target] : cases) {
        auto res = Call(method, target, R"({"agent":"claude"})");
        EXPECT_NE(res.status, 501) << method << " " << target;
        EXPECT_NE(res.status, 404) << method << " " << target;
        EXPECT_NE(res.status, 405) << method << " " << target;
        EXPECT_NO_THROW(Parse(res)) << target << ": " << res.body;
        EXPECT_FALSE(HeaderOf(res, "X-Correlation-ID").empty());
    }
}

// The runbooks' API-port commands (spec/*.md) must reach a route: never a 404 or 405.
TEST_F(SystemTest, EveryRunbookPathIsRouted) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"GET", "/api/health"},
        {"GET", "/api/ws/stats"},
        {"GET", "/api/metrics"},
        {"GET", "/api/debates?status=no_consensus&limit=10"},
        {"GET", "/healthz"},
        {"GET", "/readyz"},
        {"GET", "/health"},
        {"GET", "/api/v1/status"},
        {"GET", "/api/v1/debates?status=active"},
        {"GET", "/metrics"},
        {"GET", "/metrics/websocket"},
        {"GET", "/health/threads"},
        {"GET", "/health/build"},
    };
    for (const auto& [method, target] : cases) {
        auto res = Call(method, target);
        EXPECT_EQ(res.status, 200) << method << " " << target << " " << res.body;
    }
    AddCompletedDebate(service_, keys_, "d_rb", "2027-01-01T00:00:00.000Z");
    service_.debates["d_rb"].status = events::DebateStatus::kRunning;
    EXPECT_EQ(Call("POST", "/api/v1/debates/d_rb/cancel").status, 200);
}

}  // namespace
}  // namespace aragora::api::testing
