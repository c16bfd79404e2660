#include "metrics/registry.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace aragora::metrics {
namespace {

constexpr const char* kOverflowHeader =
    "# HELP aragora_metrics_label_overflow_total Lookups of a new label set that were mapped "
    "to the \"other\" series because the family reached its series limit.\n"
    "# TYPE aragora_metrics_label_overflow_total counter\n";

TEST(RegistryTest, RendersGoldenExposition) {
    Registry registry;
    auto& debates = registry.AddCounter("aragora_debates_total", "Debates by outcome.", {"status"});
    auto& active = registry.AddGauge("aragora_active_debates", "Currently running debates.");
    auto& latency = registry.AddHistogram("aragora_request_latency_seconds", "Request latency.",
                                          {"route"}, {0.1, 0.5, 1});
    registry.AddGauge("aragora_websocket_connections", "Open WebSocket connections.", {"kind"});
    registry.AddCallbackGauge("aragora_uptime_seconds", "Uptime.", [] { return 12.5; });

    debates.WithLabels({"completed"}).Inc();
    debates.WithLabels({"completed"}).Inc(2);
    debates.WithLabels({"timeout"}).Inc();
    active.WithLabels({}).Set(3);
    auto& health = latency.WithLabels({"/api/health"});
    health.Observe(0.0625);
    health.Observe(0.25);
    health.Observe(0.25);
    health.Observe(2);

    const std::string expected =
        std::string(
            "# HELP aragora_active_debates Currently running debates.\n"
            "# TYPE aragora_active_debates gauge\n"
            "aragora_active_debates 3\n"
            "# HELP aragora_debates_total Debates by outcome.\n"
            "# TYPE aragora_debates_total counter\n"
            "aragora_debates_total{status=\"completed\"} 3\n"
            "aragora_debates_total{status=\"timeout\"} 1\n") +
        kOverflowHeader +
        "# HELP aragora_request_latency_seconds Request latency.\n"
        "# TYPE aragora_request_latency_seconds histogram\n"
        "aragora_request_latency_seconds_bucket{route=\"/api/health\","
        "le=\"0.1\"} 1\n"
        "aragora_request_latency_seconds_bucket{route=\"/api/health\","
        "le=\"0.5\"} 3\n"
        "aragora_request_latency_seconds_bucket{route=\"/api/health\","
        "le=\"1\"} 3\n"
        "aragora_request_latency_seconds_bucket{route=\"/api/health\","
        "le=\"+Inf\"} 4\n"
        "aragora_request_latency_seconds_sum{route=\"/api/health\"} 2.5625\n"
        "aragora_request_latency_seconds_count{route=\"/api/health\"} 4\n"
        "# HELP aragora_uptime_seconds Uptime.\n"
        "# TYPE aragora_uptime_seconds gauge\n"
        "aragora_uptime_seconds 12.5\n"
        "# HELP aragora_websocket_connections Open WebSocket connections.\n"
        "# TYPE aragora_websocket_connections gauge\n";
    EXPECT_EQ(registry.RenderPrometheus(), expected);
}

// The /metrics/websocket job renders the WebSocket families only: chosen by family name,
// so a label value that mentions websocket does not bring its family in.
TEST(RegistryTest, RendersOnlyTheFamiliesTheFilterAccepts) {
    Registry registry;
    registry.AddCounter("aragora_requests_total", "Requests.", {"handler"})
        .WithLabels({"/metrics/websocket"})
        .Inc();
    registry.AddGauge("aragora_websocket_connections", "Open WebSocket connections.")
        .WithLabels({})
        .Set(2);
    registry.AddCallbackCounter("aragora_ws_messages_sent_total", "Frames.", [] { return 7.0; });

    const std::string text = registry.RenderPrometheus([](const std::string& name) {
        return name.rfind("aragora_websocket_", 0) == 0 || name.rfind("aragora_ws_", 0) == 0;
    });
    EXPECT_EQ(text,
              "# HELP aragora_websocket_connections Open WebSocket connections.\n"
              "# TYPE aragora_websocket_connections gauge\n"
              "aragora_websocket_connections 2\n"
              "# HELP aragora_ws_messages_sent_total Frames.\n"
              "# TYPE aragora_ws_messages_sent_total counter\n"
              "aragora_ws_messages_sent_total 7\n");
    // Unfiltered, everything (the overflow family included).
    const std::string all = registry.RenderPrometheus();
    EXPECT_NE(all.find("aragora_requests_total{handler=\"/metrics/websocket\"} 1"),
              std::string::npos);
    EXPECT_NE(all.find("aragora_metrics_label_overflow_total"), std::string::npos);
}

TEST(RegistryTest, UnlabelledFamiliesRenderZeroBeforeAnyUpdate) {
    Registry registry;
    registry.AddCounter("c_total", "C.");
    registry.AddHistogram("h_seconds", "H.", {}, {1});
    EXPECT_EQ(registry.RenderPrometheus(), std::string(kOverflowHeader) +
                                               "# HELP c_total C.\n"
                                               "# TYPE c_total counter\n"
                                               "c_total 0\n"
                                               "# HELP h_seconds H.\n"
                                               "# TYPE h_seconds histogram\n"
                                               "h_seconds_bucket{le=\"1\"} 0\n"
                                               "h_seconds_bucket{le=\"+Inf\"} 0\n"
                                               "h_seconds_sum 0\n"
                                               "h_seconds_count 0\n");
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
    Registry registry;
    auto& family =
        registry.AddCounter("esc_total", "Help with \\ and\nnewline \"quoted\".", {"a", "b"});
    family.WithLabels({"back\\slash \"q\"", "line\nbreak"}).Inc();
    std::string text = registry.RenderPrometheus();
    EXPECT_NE(text.find("# HELP esc_total Help with \\\\ and\\nnewline \"quoted\".\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("esc_total{a=\"back\\\\slash \\\"q\\\"\",b=\"line\\nbreak\"} 1\n"),
              std::string::npos)
        << text;
}

TEST(RegistryTest, FormatsSpecialAndFractionalNumbers) {
    Registry registry;
    auto& g = registry.AddGauge("g", "G.", {"k"});
    g.WithLabels({"nan"}).Set(std::numeric_limits<double>::quiet_NaN());
    g.WithLabels({"pinf"}).Set(std::numeric_limits<double>::infinity());
    g.WithLabels({"ninf"}).Set(-std::numeric_limits<double>::infinity());
    g.WithLabels({"neg"}).Set(-42);
    g.WithLabels({"negzero"}).Set(-0.0);
    g.WithLabels({"small"}).Set(1e-5);
    g.WithLabels({"big"}).Set(1e20);
    g.WithLabels({"int"}).Set(1234567890123.0);
    g.WithLabels({"frac"}).Set(0.1);
    std::string text = registry.RenderPrometheus();
    for (const char* line :
         {"g{k=\"nan\"} NaN\n", "g{k=\"pinf\"} +Inf\n", "g{k=\"ninf\"} -Inf\n",
          "g{k=\"neg\"} -42\n", "g{k=\"negzero\"} 0\n", "g{k=\"small\"} 1e-05\n",
          "g{k=\"big\"} 1e+20\n", "g{k=\"int\"} 1234567890123\n", "g{k=\"frac\"} 0.1\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
    }
}

TEST(RegistryTest, SeriesAreSortedByLabelValues) {
    Registry registry;
    auto& c = registry.AddCounter("s_total", "S.", {"agent"});
    c.WithLabels({"zeta"}).Inc();
    c.WithLabels({"alpha"}).Inc();
    c.WithLabels({"mid"}).Inc();
    std::string text = registry.RenderPrometheus();
    auto a = text.find("agent=\"alpha\"");
    auto m = text.find("agent=\"mid\"");
    auto z = text.find("agent=\"zeta\"");
    ASSERT_NE(a, std::string::npos);
    EXPECT_LT(a, m);
    EXPECT_LT(m, z);
    auto series = c.Series();
    ASSERT_EQ(series.size(), 3u);
    EXPECT_EQ(series[0].label_values, std::vector<std::string>{"alpha"});
    EXPECT_EQ(series[0].metric->Value(), 1);
}

TEST(RegistryTest, WithLabelsReturnsStableReference) {
    Registry registry;
    auto& c = registry.AddCounter("r_total", "R.", {"k"});
    Counter& first = c.WithLabels({"x"});
    for (int i = 0; i < 50; ++i) c.WithLabels({"v" + std::to_string(i)});
    EXPECT_EQ(&first, &c.WithLabels({"x"}));
}

TEST(RegistryTest, OverflowMapsNewLabelSetsToOtherAndCounts) {
    Registry registry;
    auto& c =
        registry.AddCounter("agent_calls_total", "Calls.", {"agent", "status"}, FamilyOptions{2});
    c.WithLabels({"claude", "ok"}).Inc();
    c.WithLabels({"gpt", "ok"}).Inc();
    Counter& other1 = c.WithLabels({"grok", "ok"});
    Counter& other2 = c.WithLabels({"mistral", "error"});
    EXPECT_EQ(&other1, &other2);
    other1.Inc();
    other2.Inc();
    // Existing series are still found after the family is full.
    c.WithLabels({"claude", "ok"}).Inc();

    EXPECT_EQ(c.SeriesCount(), 3u);
    EXPECT_EQ(c.WithLabels({"claude", "ok"}).Value(), 2);
    EXPECT_EQ(registry.LabelOverflow().WithLabels({"agent_calls_total"}).Value(), 2);

    std::string text = registry.RenderPrometheus();
    EXPECT_NE(text.find("agent_calls_total{agent=\"other\",status=\"other\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("aragora_metrics_label_overflow_total{family=\"agent_calls_total\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("grok"), std::string::npos);
}

TEST(RegistryTest, DefaultSeriesLimitIsOneHundred) {
    Registry registry;
    auto& g = registry.AddGauge("many", "Many.", {"k"});
    for (int i = 0; i < 150; ++i) g.WithLabels({std::to_string(i)}).Inc();
    EXPECT_EQ(g.SeriesCount(), 101u);  // 100 real + "other"
    EXPECT_EQ(g.WithLabels({"other"}).Value(), 50);
    EXPECT_EQ(registry.LabelOverflow().WithLabels({"many"}).Value(), 50);
}

TEST(RegistryTest, RejectsInvalidDeclarations) {
    Registry registry;
    registry.AddCounter("dup_total", "D.");
    EXPECT_THROW(registry.AddGauge("dup_total", "D."), std::invalid_argument);
    EXPECT_THROW(registry.AddCounter("1bad", "B."), std::invalid_argument);
    EXPECT_THROW(registry.AddCounter("bad-name", "B."), std::invalid_argument);
    EXPECT_THROW(registry.AddCounter("ok_total", "B.", {"__reserved"}), std::invalid_argument);
    EXPECT_THROW(registry.AddCounter("ok_total", "B.", {"a", "a"}), std::invalid_argument);
    EXPECT_THROW(registry.AddHistogram("h", "H.", {"le"}), std::invalid_argument);
    EXPECT_THROW(registry.AddHistogram("h", "H.", {}, {}), std::invalid_argument);
    EXPECT_THROW(registry.AddHistogram("h", "H.", {}, {1, 1}), std::invalid_argument);
    EXPECT_THROW(registry.AddHistogram("h", "H.", {}, {2, 1}), std::invalid_argument);
    EXPECT_THROW(registry.AddHistogram("h", "H.", {}, {1, std::numeric_limits<double>::infinity()}),
                 std::invalid_argument);
    EXPECT_THROW(registry.AddCounter(kLabelOverflowFamily, "X."), std::invalid_argument);
    // A failed declaration registers nothing.
    EXPECT_NO_THROW(registry.AddHistogram("h", "H."));
}

TEST(RegistryTest, ConcurrentIncrementsFromFourThreadsSum) {
    Registry registry;
    auto& c = registry.AddCounter("conc_total", "C.", {"k"});
    auto& g = registry.AddGauge("conc_gauge", "G.");
    auto& h = registry.AddHistogram("conc_seconds", "H.", {}, {0.5});
    constexpr int kThreads = 4;
    constexpr int kPerThread = 100000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            Counter& counter = c.WithLabels({t % 2 == 0 ? "even" : "odd"});
            Gauge& gauge = g.WithLabels({});
            Histogram& hist = h.WithLabels({});
            for (int i = 0; i < kPerThread; ++i) {
                counter.Inc();
                gauge.Inc();
                if (i % 2 == 0) gauge.Dec();
                hist.Observe(i % 2 == 0 ? 0.25 : 1.0);
            }
        });
    }
    // Scrapes racing with the updates must not crash or tear.
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(registry.RenderPrometheus().empty());
    for (auto& t : threads) t.join();

    EXPECT_EQ(c.WithLabels({"even"}).Value() + c.WithLabels({"odd"}).Value(),
              kThreads * kPerThread);
    EXPECT_EQ(g.WithLabels({}).Value(), kThreads * kPerThread / 2);
    HistogramSnapshot snap = h.WithLabels({}).Snapshot();
    EXPECT_EQ(snap.count, static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_EQ(snap.buckets[0].cumulative_count,
              static_cast<std::uint64_t>(kThreads * kPerThread / 2));
    EXPECT_DOUBLE_EQ(snap.sum, kThreads * (kPerThread / 2) * 1.25);
}

}  // namespace
}  // namespace aragora::metrics
