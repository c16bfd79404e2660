// deploy/grafana/ against the real binary (issue 22): every metric name a dashboard panel
// reads is exported by `aragora serve` (its /metrics and /metrics/websocket with Redis
// configured) or comes from Prometheus or an exporter (the EXTERNAL list of
// tests/monitoring/monitoring_check.py, which tests/monitoring/dashboard_check.py reuses).
// The layout, promtool parsing and provisioning checks: ctest -R monitoring.dashboards.
//
// Loopback only; no waits beyond the fixture's readiness.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/redis/redis_test_server.hpp"

namespace aragora::testing {
namespace {

using std::chrono::seconds;
using RedisServer = redis::testing::RedisTestServer;

const std::string kSource = ARAGORA_SOURCE_DIR;
const std::string kDashboards = kSource + "/deploy/grafana";
const std::string kChecker = kSource + "/tests/monitoring/dashboard_check.py";

ProcessResult DashboardChecker(std::vector<std::string> args) {
    args.insert(args.begin(), {ARAGORA_PYTHON, kChecker});
    return RunProcess(args, {}, 240);
}

TEST(DashboardsTest, EveryMetricThePanelsReadIsExported) {
    RedisServer redis;
    ASSERT_EQ(redis.Start(), "");
    TempDir dir;
    // Redis configured: its families are registered only then.
    ServerProcess server(dir.path(), {{"ARAGORA_REDIS_URL", redis.Url() + "/0"},
                                      {"ARAGORA_ENABLE_REDIS_RATE_LIMIT", "true"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http(server.api_port(), seconds(10));
    TempDir out;
    const std::string metrics = out.path() + "/metrics.txt";
    const std::string websocket = out.path() + "/websocket.txt";
    HttpResponse m = http.Get("/metrics");
    ASSERT_EQ(m.status, 200) << m.Describe();
    WriteAll(metrics, m.body);
    HttpResponse w = http.Get("/metrics/websocket");
    ASSERT_EQ(w.status, 200) << w.Describe();
    WriteAll(websocket, w.body);

    auto r = DashboardChecker({"exported", kDashboards, "--metrics", metrics, websocket});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

    // The same check fails on the dashboards plus one whose panel reads a metric the
    // server does not export (the original's dashboards read such names).
    const std::string copy = out.path() + "/grafana";
    std::filesystem::copy(kDashboards, copy);
    WriteAll(copy + "/bogus.json",
             R"j({"uid": "bogus", "title": "Bogus", "schemaVersion": 39, "panels": [
  {"id": 1, "type": "timeseries", "title": "Old name",
   "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
   "datasource": {"type": "prometheus", "uid": "aragora-prometheus"},
   "targets": [{"refId": "A",
                "expr": "sum(rate(aragora_http_requests_total[$__rate_interval]))"}]}]}
)j");
    r = DashboardChecker({"exported", copy, "--metrics", metrics, websocket});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("aragora_http_requests_total (read by bogus.json 'Old name') is not "
                         "exported"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

}  // namespace
}  // namespace aragora::testing
