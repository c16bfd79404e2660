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

#include "live_metrics.hpp"
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
    TempDir out;
    LiveMetrics live;
    live.Scrape(out.path());
    if (HasFatalFailure()) return;
    const std::string& metrics = live.metrics_file();
    const std::string& websocket = live.websocket_file();

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
    EXPECT_EQ(live.Terminate(), 0) << live.Logs();
}

}  // namespace
}  // namespace aragora::testing
