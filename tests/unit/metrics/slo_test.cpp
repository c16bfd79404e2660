// SLO targets and compliance (metrics/slo.hpp): windows over a fixed ring, a manual clock.

#include "metrics/slo.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>

#include "metrics/registry.hpp"

namespace aragora::metrics {
namespace {

using namespace std::chrono_literals;

// The value of one sample line of an exposition (NaN when absent).
double SampleValue(const std::string& text, const std::string& series) {
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return std::nan("");
    return std::stod(text.substr(at + series.size() + 2));
}

struct ManualClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    SloTracker::Clock Fn() {
        return [this] { return now; };
    }
};

TEST(SloTracker, AvailabilityOverTheLastFiveMinutes) {
    ManualClock clock;
    SloCounts counts;
    SloTracker tracker([&counts] { return counts; }, clock.Fn());
    EXPECT_DOUBLE_EQ(tracker.Sample().availability, 1) << "no request: compliant";

    // Minute by minute: 1000 requests, 2 of them 5xx, for 10 minutes.
    for (int minute = 1; minute <= 10; ++minute) {
        clock.now += 60s;
        counts.requests += 1000;
        counts.server_errors += 2;
        EXPECT_NEAR(tracker.Sample().availability, 0.998, 1e-9) << minute;
    }
    // Then 5 minutes without errors: the old ones leave the window.
    for (int minute = 1; minute <= 5; ++minute) {
        clock.now += 60s;
        counts.requests += 1000;
        const double a = tracker.Sample().availability;
        EXPECT_NEAR(a, 1 - 2.0 * (5 - minute) / 5000, 1e-9) << minute;
    }
}

TEST(SloTracker, DebateSuccessOverTheLastHourAndLatencyShare) {
    ManualClock clock;
    SloCounts counts;
    SloTracker tracker([&counts] { return counts; }, clock.Fn());
    // One failure among 10 ended debates, then 50 minutes of successes: still counted.
    counts.debates_ended = 10;
    counts.debates_failed = 1;
    counts.timed = 100;
    counts.within_target = 97;
    clock.now += 10s;
    SloCompliance c = tracker.Sample();
    EXPECT_NEAR(c.debate_success, 0.9, 1e-9);
    EXPECT_NEAR(c.latency, 0.97, 1e-9);
    for (int i = 0; i < 50; ++i) {
        clock.now += 60s;
        counts.debates_ended += 1;
        tracker.Sample();
    }
    EXPECT_NEAR(tracker.Sample().debate_success, 1 - 1.0 / 60, 1e-9);
    EXPECT_DOUBLE_EQ(tracker.Sample().latency, 1) << "no request in the last 5 minutes";
    // An hour after the failure it has left the window.
    clock.now += 11min;
    counts.debates_ended += 1;
    EXPECT_DOUBLE_EQ(tracker.Sample().debate_success, 1);
}

// Scrapes far apart: the ring keeps one snapshot per 10 s slot, never more, and the
// baseline is the newest snapshot at least a window old.
TEST(SloTracker, SparseAndDenseSamplesStayBounded) {
    ManualClock clock;
    SloCounts counts;
    SloTracker tracker([&counts] { return counts; }, clock.Fn());
    for (int i = 0; i < 10000; ++i) {  // almost 3 hours of scrapes every second: wraps the ring
        clock.now += 1s;
        counts.requests += 10;
        if (i % 10 == 0) counts.server_errors += 1;
        tracker.Sample();
    }
    EXPECT_NEAR(tracker.Sample().availability, 0.99, 1e-3);
    clock.now += 2h;  // no scrape for two hours, then errors only
    counts.requests += 10;
    counts.server_errors += 10;
    EXPECT_NEAR(tracker.Sample().availability, 0, 1e-9);
}

TEST(SloCounts, CountAtOrBelowInterpolatesInsideTheBucket) {
    Histogram h({0.1, 0.5, 1});
    for (int i = 0; i < 10; ++i) h.Observe(0.05);  // <= 0.1
    for (int i = 0; i < 10; ++i) h.Observe(0.3);   // (0.1, 0.5]
    for (int i = 0; i < 10; ++i) h.Observe(5);     // +Inf
    const HistogramSnapshot s = h.Snapshot();
    EXPECT_DOUBLE_EQ(CountAtOrBelow(s, 0.5), 20);
    EXPECT_DOUBLE_EQ(CountAtOrBelow(s, 0.3), 15);
    EXPECT_DOUBLE_EQ(CountAtOrBelow(s, 0.05), 5);
    EXPECT_DOUBLE_EQ(CountAtOrBelow(s, 10), 20) << "past the last finite bound";
}

TEST(SloMetrics, TargetsAndComplianceFromTheRegistryCounters) {
    Registry r;
    auto& requests = r.AddCounter("aragora_requests_total", "r", {"status", "handler"});
    auto& latency = r.AddHistogram("aragora_request_latency_seconds", "l", {"handler"});
    auto& debates = r.AddCounter("aragora_debates_total", "d", {"status"});
    ManualClock clock;
    RegisterSloMetrics(
        r, SloTargets{.availability = 0.995, .latency_p99_seconds = 0.25, .debate_success = 0.9},
        clock.Fn());
    requests.WithLabels({"200", "/api/v1/debates"}).Inc(96);
    requests.WithLabels({"500", "/api/v1/debates"}).Inc(4);
    requests.WithLabels({"503", "/readyz"}).Inc(100);  // left out
    for (int i = 0; i < 8; ++i) latency.WithLabels({"/api/v1/debates"}).Observe(0.01);
    for (int i = 0; i < 2; ++i) latency.WithLabels({"/healthz"}).Observe(2);
    debates.WithLabels({"completed"}).Inc(6);
    debates.WithLabels({"no_consensus"}).Inc(1);
    debates.WithLabels({"failed"}).Inc(2);
    debates.WithLabels({"timeout"}).Inc(1);
    debates.WithLabels({"cancelled"}).Inc(5);  // counts neither way
    clock.now += 30s;

    const std::string text = r.RenderPrometheus();
    EXPECT_NE(text.find("# TYPE aragora_slo_target gauge"), std::string::npos) << text;
    EXPECT_NE(text.find("aragora_slo_target{slo=\"availability\"} 0.995"), std::string::npos);
    EXPECT_NE(text.find("aragora_slo_target{slo=\"latency_p99\"} 0.25"), std::string::npos);
    EXPECT_NE(text.find("aragora_slo_target{slo=\"debate_success\"} 0.9"), std::string::npos);
    EXPECT_NEAR(SampleValue(text, "aragora_slo_compliance{slo=\"availability\"}"), 0.96, 1e-9)
        << text;
    EXPECT_NEAR(SampleValue(text, "aragora_slo_compliance{slo=\"latency_p99\"}"), 0.8, 1e-9);
    EXPECT_NEAR(SampleValue(text, "aragora_slo_compliance{slo=\"debate_success\"}"), 0.7, 1e-9);
}

TEST(Registry, FindsFamiliesByNameAndKind) {
    Registry r;
    r.AddCounter("a_total", "a");
    r.AddHistogram("b_seconds", "b");
    EXPECT_NE(r.FindCounter("a_total"), nullptr);
    EXPECT_EQ(r.FindCounter("b_seconds"), nullptr);
    EXPECT_NE(r.FindHistogram("b_seconds"), nullptr);
    EXPECT_EQ(r.FindHistogram("missing"), nullptr);
}

}  // namespace
}  // namespace aragora::metrics
