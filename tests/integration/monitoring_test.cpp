// deploy/monitoring/alerts.yaml against the real binary (issue 22):
//
// 1. Every metric a rule reads is exported by `aragora serve` (its /metrics and
//    /metrics/websocket with Redis configured), comes from an exporter, or is listed as
//    pending in another issue (tests/monitoring/monitoring_check.py): a rule naming a
//    metric nobody exports fails here, as the original's rules would have.
// 2. The alerts fire on real samples: a server driven into each condition reachable here
//    (a 5xx burst, circuit breakers opened through the fake LLM provider, a debate past
//    ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS set to 1 s, Redis killed, WebSocket
//    connections at the limit) is scraped round after round; the scrapes become a promtool
//    unit test, one scrape per evaluated minute, and promtool evaluates the unchanged rules
//    on them: quiet on the baseline scrapes, each alert firing at the end. Rounds are
//    real scrapes taken back to back, so the test does not wait out the `for` durations:
//    ratios and gauges (what these alerts compare) do not depend on the time scale.
//
// Loopback only; every wait polls a condition with a deadline.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fake_llm/fake_llm.hpp"
#include "live_metrics.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/redis/redis_test_server.hpp"
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using RedisServer = redis::testing::RedisTestServer;

const std::string kSource = ARAGORA_SOURCE_DIR;
const std::string kRules = kSource + "/deploy/monitoring/alerts.yaml";
const std::string kRecording = kSource + "/deploy/monitoring/recording.yaml";
const std::string kChecker = kSource + "/tests/monitoring/monitoring_check.py";

ProcessResult Checker(std::vector<std::string> args) {
    args.insert(args.begin(), {ARAGORA_PYTHON, kChecker});
    return RunProcess(args, {}, 240);
}

// The metric names the rules read (monitoring_check.py names).
std::set<std::string> RuleMetricNames() {
    auto r = Checker({"names", kRules});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::set<std::string> names;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) names.insert(line);
    }
    return names;
}

double SampleValue(const std::string& exposition, const std::string& series) {
    std::istringstream in(exposition);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

std::string YamlQuoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

// Scrapes of one server, turned into promtool input series: the series of the metrics the
// rules read, with the labels Prometheus adds (job of deploy/monitoring/prometheus.yml).
class Recorder {
public:
    explicit Recorder(std::set<std::string> keep) : keep_(std::move(keep)) {}

    void Take(const HttpClient& http) {
        HttpResponse r = http.Get("/metrics");
        ASSERT_EQ(r.status, 200) << r.Describe();
        std::map<std::string, std::string> scrape;
        std::istringstream in(r.body);
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == '#') continue;
            const auto brace = line.find('{');
            const auto space = line.rfind(' ');
            if (space == std::string::npos) continue;
            const std::string name = line.substr(0, std::min(brace, space));
            if (!keep_.count(name)) continue;
            const std::string target = "job=\"aragora-backend\",instance=\"live\"";
            std::string series =
                brace == std::string::npos || brace > space
                    ? name + "{" + target + "}"
                    : name + "{" + target + "," + line.substr(brace + 1, space - brace - 1);
            scrape[series] = line.substr(space + 1);
        }
        scrapes_.push_back(std::move(scrape));
    }

    int minutes() const { return static_cast<int>(scrapes_.size()); }

    std::string InputSeries() const {
        std::set<std::string> all;
        for (const auto& s : scrapes_) {
            for (const auto& [series, value] : s) all.insert(series);
        }
        std::string out;
        for (const auto& series : all) {
            std::string values;
            for (const auto& s : scrapes_) {
                auto it = s.find(series);
                values += (values.empty() ? "" : " ") + (it == s.end() ? "_" : it->second);
            }
            out += "      - series: " + YamlQuoted(series) +
                   "\n        values: " + YamlQuoted(values) + "\n";
        }
        return out;
    }

private:
    std::set<std::string> keep_;
    std::vector<std::map<std::string, std::string>> scrapes_;
};

TEST(MonitoringTest, EveryMetricTheRulesReadIsExported) {
    TempDir out;
    LiveMetrics live;
    live.Scrape(out.path());
    if (HasFatalFailure()) return;
    const std::string& metrics = live.metrics_file();
    const std::string& websocket = live.websocket_file();

    auto r = Checker({"exported", kRules, kRecording, "--metrics", metrics, websocket});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

    // The same check fails on a rule that reads a metric the server does not export.
    const std::string bogus = out.path() + "/bogus.yaml";
    WriteAll(bogus,
             "groups:\n"
             "  - name: bogus\n"
             "    rules:\n"
             "      - alert: NeverFires\n"
             "        expr: sum(rate(aragora_http_requests_total[5m])) > 0\n");
    r = Checker({"exported", kRules, bogus, "--metrics", metrics, websocket});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("aragora_http_requests_total (read by NeverFires) is not exported"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(live.Terminate(), 0) << live.Logs();
}

// SLO_* are read by the binary (the runbook's percentage form too) and exported as the
// targets the SLO alerts and recording rules divide by, next to the in-process compliance.
TEST(MonitoringTest, SloTargetsFromTheEnvironmentAndComplianceAreExported) {
    TempDir dir;
    ServerProcess server(dir.path(), {{"SLO_AVAILABILITY_TARGET", "99.5"},
                                      {"SLO_LATENCY_P99_TARGET_MS", "250"},
                                      {"SLO_DEBATE_SUCCESS_TARGET", "0.9"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http(server.api_port(), seconds(10));
    for (int i = 0; i < 5; ++i) ASSERT_EQ(http.Get("/api/v1/debates").status, 200);
    HttpResponse m = http.Get("/metrics");
    ASSERT_EQ(m.status, 200) << m.Describe();
    EXPECT_DOUBLE_EQ(SampleValue(m.body, "aragora_slo_target{slo=\"availability\"}"), 0.995)
        << m.body;
    EXPECT_DOUBLE_EQ(SampleValue(m.body, "aragora_slo_target{slo=\"latency_p99\"}"), 0.25);
    EXPECT_DOUBLE_EQ(SampleValue(m.body, "aragora_slo_target{slo=\"debate_success\"}"), 0.9);
    // Only 200s so far, no debate ended: every SLO met.
    EXPECT_DOUBLE_EQ(SampleValue(m.body, "aragora_slo_compliance{slo=\"availability\"}"), 1);
    EXPECT_DOUBLE_EQ(SampleValue(m.body, "aragora_slo_compliance{slo=\"debate_success\"}"), 1);
    const double latency = SampleValue(m.body, "aragora_slo_compliance{slo=\"latency_p99\"}");
    EXPECT_GE(latency, 0);
    EXPECT_LE(latency, 1);
    // No start-up warning calls them unsupported any more.
    EXPECT_EQ(server.Logs().find("SLO_AVAILABILITY_TARGET is set but not supported"),
              std::string::npos);
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

TEST(MonitoringTest, AlertsFireOnSamplesScrapedFromAServerInEachCondition) {
    const std::set<std::string> keep = RuleMetricNames();
    ASSERT_FALSE(keep.empty());
    FakeLlmServer fake;
    // Every call to these models fails: one failure opens a breaker (threshold 1).
    fake.AddRule({.format = "anthropic", .action = FakeAction::kStatus, .status = 500});
    RedisServer redis;
    ASSERT_EQ(redis.Start(), "");
    TempDir dir;
    ServerProcess server(dir.path(), {{"ARAGORA_REDIS_URL", redis.Url() + "/0"},
                                      {"ANTHROPIC_API_KEY", "sk-ant-test"},
                                      {"ARAGORA_ANTHROPIC_BASE_URL", fake.base_url()},
                                      {"ARAGORA_AGENT_MAX_RETRIES", "0"},
                                      {"ARAGORA_CIRCUIT_BREAKER_THRESHOLD", "1"},
                                      {"ARAGORA_CIRCUIT_BREAKER_COOLDOWN_SECONDS", "3600"},
                                      {"ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS", "1"},
                                      {"ARAGORA_MAX_CONCURRENT_DEBATES", "1"},
                                      {"ARAGORA_MAX_QUEUED_DEBATES", "1"},
                                      {"ARAGORA_WS_MAX_CONNECTIONS", "5"},
                                      {"ARAGORA_DEMO_LATENCY_MS", "3000"}});
    ASSERT_TRUE(server.StartReady()) << server.error() << "\n" << server.Logs();
    HttpClient http(server.api_port(), seconds(10));
    Recorder recorder(keep);
    auto healthy_traffic = [&] {
        for (int i = 0; i < 10; ++i) ASSERT_EQ(http.Get("/api/v1/debates").status, 200);
    };

    // Baseline: traffic answered 200, nothing wrong.
    for (int i = 0; i < 3; ++i) {
        healthy_traffic();
        recorder.Take(http);
    }
    const int baseline_end = recorder.minutes() - 1;

    // A debate that runs for minutes (demo agents answering in 3 s), a second one queued
    // behind it (one slot, one queue place): every further create is refused with 503.
    const std::string slow =
        CreateDebate(http, DebateBody("A debate that outlives its alert", 12, 4));
    ASSERT_FALSE(slow.empty());
    const std::string queued = CreateDebate(http, DebateBody("Waits for the slot", 1, 2));
    ASSERT_FALSE(queued.empty());
    // Three breakers open: one failed call each.
    for (const char* model : {"claude-down-1", "claude-down-2", "claude-down-3"}) {
        HttpResponse r = http.Post("/api/v1/debug/agent-test",
                                   std::string("{\"agent\": \"anthropic:") + model + "\"}");
        ASSERT_EQ(r.status, 200) << r.Describe();
    }
    // WebSocket connections at ARAGORA_WS_MAX_CONNECTIONS (5).
    std::vector<std::unique_ptr<WsClient>> sockets;
    for (int i = 0; i < 5; ++i) {
        sockets.push_back(std::make_unique<WsClient>());
        ASSERT_TRUE(sockets.back()->Connect(server.api_port(), "/ws?debate_id=" + slow))
            << sockets.back()->error();
    }
    redis.Kill();
    ASSERT_TRUE(PollUntil(
        [&] {
            const std::string text = http.Get("/metrics").body;
            return SampleValue(text, "aragora_redis_connected") == 0 &&
                   SampleValue(text, "aragora_debate_oldest_running_seconds") > 1 &&
                   SampleValue(text, "aragora_websocket_connections") == 5;
        },
        seconds(20), milliseconds(50)))
        << http.Get("/metrics").body;

    // The conditions hold; each round adds its burst: 10 answered, 2 refused with 503.
    for (int i = 0; i < 14; ++i) {
        healthy_traffic();
        for (int j = 0; j < 2; ++j) {
            HttpResponse r = http.Post("/api/v1/debates", DebateBody("Refused: no slot", 1, 2));
            ASSERT_EQ(r.status, 503) << r.Describe();
        }
        recorder.Take(http);
    }
    const int end = recorder.minutes() - 1;

    const std::string alerts =
        "AragoraAvailabilitySLOBreach|AragoraAvailabilitySLOWarning|HighErrorRate|"
        "AragoraAgentCircuitOpen|AragoraManyCircuitsOpen|CircuitBreakerOpen|RedisDown|"
        "AragoraDebateRunningTooLong|AragoraWebSocketConnectionsHigh";
    auto firing = [&](const std::string& labels) {
        return "          - labels: 'ALERTS{alertstate=\"firing\"," + labels +
               "}'\n            value: 1\n";
    };
    const std::string target = "job=\"aragora-backend\",instance=\"live\"";
    std::string test = "rule_files:\n  - " + kRules +
                       "\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n" +
                       recorder.InputSeries() +
                       "    promql_expr_test:\n"
                       // Quiet on the baseline: none of them even pending.
                       "      - expr: count(ALERTS{alertname=~\"" +
                       alerts + "\"}) or vector(0)\n" +
                       "        eval_time: " + std::to_string(baseline_end) + "m\n" +
                       "        exp_samples:\n          - value: 0\n";
    auto expect = [&](const std::string& alertname, const std::vector<std::string>& labels) {
        test += "      - expr: ALERTS{alertname=\"" + alertname + "\",alertstate=\"firing\"}\n" +
                "        eval_time: " + std::to_string(end) + "m\n        exp_samples:\n";
        for (const auto& l : labels) test += firing("alertname=\"" + alertname + "\"," + l);
    };
    expect("AragoraAvailabilitySLOBreach", {"severity=\"critical\""});
    expect("AragoraAvailabilitySLOWarning", {"severity=\"warning\""});
    expect("HighErrorRate", {"severity=\"critical\""});
    expect("AragoraAgentCircuitOpen", {"severity=\"warning\",agent=\"anthropic:claude-down-1\"",
                                       "severity=\"warning\",agent=\"anthropic:claude-down-2\"",
                                       "severity=\"warning\",agent=\"anthropic:claude-down-3\""});
    expect("AragoraManyCircuitsOpen", {"severity=\"critical\""});
    expect("CircuitBreakerOpen", {"severity=\"warning\"," + target});
    expect("RedisDown", {"severity=\"critical\"," + target});
    expect("AragoraDebateRunningTooLong", {"severity=\"warning\"," + target});
    expect("AragoraWebSocketConnectionsHigh", {"severity=\"warning\"," + target});

    TempDir out;
    const std::string file = out.path() + "/live_samples_test.yaml";
    WriteAll(file, test);
    auto r = RunProcess({ARAGORA_PROMTOOL, "test", "rules", file}, {}, 240);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\n--- " << file << "\n" << test;

    for (auto& s : sockets) s->Close();
    http.Post("/api/v1/debates/" + slow + "/cancel");
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

}  // namespace
}  // namespace aragora::testing
