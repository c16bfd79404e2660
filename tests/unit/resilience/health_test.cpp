#include "resilience/health.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace aragora::resilience {
namespace {

using namespace std::chrono_literals;
using common::ManualClock;

class HealthCheckerTest : public ::testing::Test {
protected:
    HealthChecker::TransitionCallback Recorder() {
        return [this](const HealthStatus& s) { transitions_.push_back(s); };
    }
    ManualClock clock_;
    std::vector<HealthStatus> transitions_;
};

TEST_F(HealthCheckerTest, StartsHealthyWithEmptyStats) {
    HealthChecker h("database", clock_);
    HealthStatus s = h.Status();
    EXPECT_EQ(s.name, "database");
    EXPECT_TRUE(s.healthy);
    EXPECT_EQ(s.latency.samples, 0u);
    EXPECT_EQ(s.latency.average, 0ns);
    EXPECT_FALSE(s.last_check.has_value());
    EXPECT_TRUE(s.last_error.empty());
}

TEST_F(HealthCheckerTest, ThreeConsecutiveFailuresMarkUnhealthy) {
    HealthChecker h("redis", clock_, {}, Recorder());
    h.RecordFailure("connection refused", 1ms);
    h.RecordFailure("connection refused", 1ms);
    EXPECT_TRUE(h.Healthy());
    h.RecordSuccess(1ms);  // breaks the streak
    h.RecordFailure("timeout", 1ms);
    h.RecordFailure("timeout", 1ms);
    EXPECT_TRUE(h.Healthy());
    EXPECT_TRUE(transitions_.empty());
    clock_.Advance(5s);
    h.RecordFailure("connection reset", 2ms);
    EXPECT_FALSE(h.Healthy());

    ASSERT_EQ(transitions_.size(), 1u);
    EXPECT_FALSE(transitions_[0].healthy);
    EXPECT_EQ(transitions_[0].name, "redis");
    EXPECT_EQ(transitions_[0].consecutive_failures, 3);
    EXPECT_EQ(transitions_[0].last_error, "connection reset");

    HealthStatus s = h.Status();
    EXPECT_EQ(s.consecutive_failures, 3);
    EXPECT_EQ(s.consecutive_successes, 0);
    EXPECT_EQ(s.total_checks, 6u);
    EXPECT_EQ(s.total_failures, 5u);
    ASSERT_TRUE(s.last_check.has_value());
    EXPECT_EQ(*s.last_check, clock_.SystemNow());
    EXPECT_EQ(*s.last_failure, clock_.SystemNow());

    h.RecordFailure("still down", 1ms);  // no second transition while unhealthy
    EXPECT_EQ(transitions_.size(), 1u);
}

TEST_F(HealthCheckerTest, TwoConsecutiveSuccessesRecover) {
    HealthChecker h("database", clock_, {}, Recorder());
    for (int i = 0; i < 3; ++i) h.RecordFailure("down", 1ms);
    ASSERT_FALSE(h.Healthy());
    h.RecordSuccess(1ms);
    EXPECT_FALSE(h.Healthy());
    h.RecordFailure("flap", 1ms);  // resets the success streak
    h.RecordSuccess(1ms);
    EXPECT_FALSE(h.Healthy());
    h.RecordSuccess(1ms);
    EXPECT_TRUE(h.Healthy());

    ASSERT_EQ(transitions_.size(), 2u);
    EXPECT_TRUE(transitions_[1].healthy);
    EXPECT_EQ(transitions_[1].consecutive_successes, 2);
    HealthStatus s = h.Status();
    EXPECT_EQ(s.consecutive_failures, 0);
    EXPECT_EQ(s.last_error, "flap");  // kept for diagnosis after recovery
}

TEST_F(HealthCheckerTest, ThresholdsAreConfigurable) {
    HealthChecker h("agent", clock_, {.failure_threshold = 1, .recovery_threshold = 3});
    h.RecordFailure("x", 1ms);
    EXPECT_FALSE(h.Healthy());
    h.RecordSuccess(1ms);
    h.RecordSuccess(1ms);
    EXPECT_FALSE(h.Healthy());
    h.RecordSuccess(1ms);
    EXPECT_TRUE(h.Healthy());
}

TEST_F(HealthCheckerTest, LatencyWindowKeepsTheLastTen) {
    HealthChecker h("database", clock_);
    // 1..10 ms: avg 5.5, nearest-rank median 5, max 10.
    for (int i = 1; i <= 10; ++i) h.RecordSuccess(std::chrono::milliseconds(i));
    LatencyStats l = h.Status().latency;
    EXPECT_EQ(l.samples, 10u);
    EXPECT_EQ(l.average, 5500us);
    EXPECT_EQ(l.p50, 5ms);
    EXPECT_EQ(l.max, 10ms);

    // Two more roll 1 ms and 2 ms out: window is 3..12 ms.
    h.RecordFailure("slow", 12ms);
    h.RecordSuccess(11ms);
    l = h.Status().latency;
    EXPECT_EQ(l.samples, 10u);
    EXPECT_EQ(l.average, 7500us);
    EXPECT_EQ(l.p50, 7ms);
    EXPECT_EQ(l.max, 12ms);

    // Ten fast samples push the slow ones out entirely.
    for (int i = 0; i < 10; ++i) h.RecordSuccess(1ms);
    l = h.Status().latency;
    EXPECT_EQ(l.average, 1ms);
    EXPECT_EQ(l.max, 1ms);
}

TEST_F(HealthCheckerTest, LatencyWindowIsConfigurable) {
    HealthChecker h("redis", clock_, {.latency_window = 3});
    for (int i = 1; i <= 5; ++i) h.RecordSuccess(std::chrono::milliseconds(i));
    LatencyStats l = h.Status().latency;
    EXPECT_EQ(l.samples, 3u);
    EXPECT_EQ(l.average, 4ms);
    EXPECT_EQ(l.p50, 4ms);
    EXPECT_EQ(l.max, 5ms);
}

TEST(HealthRegistryTest, SnapshotIsSortedAndSharesTheCallback) {
    ManualClock clock;
    std::vector<std::string> changes;
    HealthRegistry registry(clock, {}, [&](const HealthStatus& s) {
        changes.push_back(s.name + (s.healthy ? ":recovered" : ":unhealthy"));
    });
    HealthChecker& redis = registry.GetOrCreate("redis");
    HealthChecker& db =
        registry.GetOrCreate("database", HealthCheckerConfig{.failure_threshold = 1});
    EXPECT_EQ(&registry.GetOrCreate("redis"), &redis);
    EXPECT_EQ(registry.Find("database"), &db);
    EXPECT_EQ(registry.Find("knowledge_mound"), nullptr);
    EXPECT_TRUE(registry.AllHealthy());

    db.RecordFailure("disk I/O error", 3ms);
    EXPECT_FALSE(registry.AllHealthy());
    auto snap = registry.Snapshot();
    ASSERT_EQ(snap.size(), 2u);
    EXPECT_EQ(snap[0].name, "database");
    EXPECT_FALSE(snap[0].healthy);
    EXPECT_EQ(snap[0].last_error, "disk I/O error");
    EXPECT_EQ(snap[1].name, "redis");
    EXPECT_TRUE(snap[1].healthy);

    db.RecordSuccess(1ms);
    db.RecordSuccess(1ms);
    EXPECT_TRUE(registry.AllHealthy());
    EXPECT_EQ(changes, (std::vector<std::string>{"database:unhealthy", "database:recovered"}));
}

}  // namespace
}  // namespace aragora::resilience
