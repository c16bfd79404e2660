#include "resilience/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/clock.hpp"
#include "metrics/registry.hpp"

namespace aragora::resilience {
namespace {

using namespace std::chrono_literals;
using common::ManualClock;

struct Transition {
    std::string name;
    CircuitState from;
    CircuitState to;
    bool operator==(const Transition&) const = default;
};

class CircuitBreakerTest : public ::testing::Test {
protected:
    CircuitBreaker::TransitionCallback Recorder() {
        return [this](std::string_view name, CircuitState from, CircuitState to) {
            transitions_.push_back({std::string(name), from, to});
        };
    }
    void Fail(CircuitBreaker& b, int n) {
        for (int i = 0; i < n; ++i) {
            ASSERT_TRUE(b.AllowRequest().allowed());
            b.RecordFailure();
        }
    }

    ManualClock clock_;
    std::vector<Transition> transitions_;
};

TEST_F(CircuitBreakerTest, OpensAfterFiveConsecutiveFailures) {
    CircuitBreaker b("claude", clock_, {}, Recorder());
    Fail(b, 4);
    EXPECT_EQ(b.State(), CircuitState::kClosed);
    EXPECT_TRUE(transitions_.empty());
    Fail(b, 1);
    EXPECT_EQ(b.State(), CircuitState::kOpen);
    ASSERT_EQ(transitions_.size(), 1u);
    EXPECT_EQ(transitions_[0], (Transition{"claude", CircuitState::kClosed, CircuitState::kOpen}));

    auto decision = b.AllowRequest();
    EXPECT_FALSE(decision.allowed());
    EXPECT_EQ(decision.admission, Admission::kRejectedOpen);
    EXPECT_EQ(decision.retry_after, 60s);
    auto snap = b.Snapshot();
    EXPECT_EQ(snap.consecutive_failures, 5);
    ASSERT_TRUE(snap.opened_at.has_value());
    EXPECT_EQ(*snap.opened_at, clock_.SystemNow());
}

TEST_F(CircuitBreakerTest, SuccessResetsTheFailureStreak) {
    CircuitBreaker b("gpt", clock_);
    Fail(b, 4);
    ASSERT_TRUE(b.AllowRequest().allowed());
    b.RecordSuccess();
    Fail(b, 4);
    EXPECT_EQ(b.State(), CircuitState::kClosed);
    EXPECT_EQ(b.Snapshot().consecutive_failures, 4);
}

TEST_F(CircuitBreakerTest, HalfOpenAfterCooldownAdmitsExactlyOneProbe) {
    CircuitBreaker b("claude", clock_, {}, Recorder());
    Fail(b, 5);
    clock_.Advance(59s);
    auto early = b.AllowRequest();
    EXPECT_EQ(early.admission, Admission::kRejectedOpen);
    EXPECT_EQ(early.retry_after, 1s);
    EXPECT_EQ(b.State(), CircuitState::kOpen);

    clock_.Advance(1s);
    EXPECT_EQ(b.State(), CircuitState::kHalfOpen);
    EXPECT_EQ(transitions_.back(),
              (Transition{"claude", CircuitState::kOpen, CircuitState::kHalfOpen}));
    EXPECT_EQ(b.AllowRequest().admission, Admission::kProbe);
    auto second = b.AllowRequest();
    EXPECT_EQ(second.admission, Admission::kRejectedProbing);
    EXPECT_FALSE(second.allowed());
    clock_.Advance(10s);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kRejectedProbing);
}

TEST_F(CircuitBreakerTest, ProbeSuccessCloses) {
    CircuitBreaker b("claude", clock_, {}, Recorder());
    Fail(b, 5);
    clock_.Advance(60s);
    ASSERT_EQ(b.AllowRequest().admission, Admission::kProbe);
    b.RecordSuccess();
    EXPECT_EQ(b.State(), CircuitState::kClosed);
    EXPECT_EQ(b.Snapshot().consecutive_failures, 0);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kAllowed);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kAllowed);
    EXPECT_EQ(transitions_, (std::vector<Transition>{
                                {"claude", CircuitState::kClosed, CircuitState::kOpen},
                                {"claude", CircuitState::kOpen, CircuitState::kHalfOpen},
                                {"claude", CircuitState::kHalfOpen, CircuitState::kClosed},
                            }));
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensAndRestartsCooldown) {
    CircuitBreaker b("claude", clock_, {}, Recorder());
    Fail(b, 5);
    clock_.Advance(60s);
    ASSERT_EQ(b.AllowRequest().admission, Admission::kProbe);
    b.RecordFailure();
    EXPECT_EQ(b.State(), CircuitState::kOpen);
    EXPECT_EQ(transitions_.back(),
              (Transition{"claude", CircuitState::kHalfOpen, CircuitState::kOpen}));
    EXPECT_EQ(*b.Snapshot().opened_at, clock_.SystemNow());
    clock_.Advance(59s);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kRejectedOpen);
    clock_.Advance(1s);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kProbe);
}

TEST_F(CircuitBreakerTest, CancelledProbeFreesTheSlot) {
    CircuitBreaker b("claude", clock_);
    Fail(b, 5);
    clock_.Advance(60s);
    ASSERT_EQ(b.AllowRequest().admission, Admission::kProbe);
    b.RecordCancelled();
    EXPECT_EQ(b.State(), CircuitState::kHalfOpen);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kProbe);
}

TEST_F(CircuitBreakerTest, LostProbeIsReplacedAfterOneCooldown) {
    CircuitBreaker b("claude", clock_);
    Fail(b, 5);
    clock_.Advance(60s);
    ASSERT_EQ(b.AllowRequest().admission, Admission::kProbe);
    clock_.Advance(59s);
    EXPECT_EQ(b.AllowRequest().retry_after, 1s);
    clock_.Advance(1s);
    EXPECT_EQ(b.AllowRequest().admission, Admission::kProbe);
}

TEST_F(CircuitBreakerTest, LateOutcomesWhileOpenAreIgnored) {
    CircuitBreaker b("claude", clock_);
    Fail(b, 5);
    clock_.Advance(30s);
    b.RecordSuccess();  // a call admitted before the circuit opened
    b.RecordFailure();
    EXPECT_EQ(b.State(), CircuitState::kOpen);
    clock_.Advance(30s);  // cooldown was not restarted by the late failure
    EXPECT_EQ(b.State(), CircuitState::kHalfOpen);
}

TEST_F(CircuitBreakerTest, ManualResetCloses) {
    CircuitBreaker b("claude", clock_, {}, Recorder());
    Fail(b, 5);
    b.Reset();
    EXPECT_EQ(b.State(), CircuitState::kClosed);
    EXPECT_EQ(transitions_.back(),
              (Transition{"claude", CircuitState::kOpen, CircuitState::kClosed}));
    auto snap = b.Snapshot();
    EXPECT_EQ(snap.consecutive_failures, 0);
    EXPECT_FALSE(snap.opened_at.has_value());
    EXPECT_TRUE(b.AllowRequest().allowed());
    // A reset of a closed breaker reports nothing.
    auto count = transitions_.size();
    b.Reset();
    EXPECT_EQ(transitions_.size(), count);
}

TEST_F(CircuitBreakerTest, HonoursCustomConfig) {
    CircuitBreaker b("local", clock_, {.failure_threshold = 2, .cooldown = 5s});
    Fail(b, 2);
    EXPECT_EQ(b.State(), CircuitState::kOpen);
    clock_.Advance(5s);
    EXPECT_EQ(b.State(), CircuitState::kHalfOpen);
}

TEST_F(CircuitBreakerTest, ConcurrentHalfOpenAdmitsOneProbe) {
    CircuitBreaker b("claude", clock_);
    Fail(b, 5);
    clock_.Advance(60s);
    std::atomic<int> probes{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                if (b.AllowRequest().admission == Admission::kProbe) ++probes;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(probes.load(), 1);
}

TEST(StateNamesTest, MatchGaugeAndJson) {
    EXPECT_EQ(ToString(CircuitState::kClosed), "closed");
    EXPECT_EQ(ToString(CircuitState::kOpen), "open");
    EXPECT_EQ(ToString(CircuitState::kHalfOpen), "half_open");
    EXPECT_EQ(static_cast<int>(CircuitState::kClosed), 0);
    EXPECT_EQ(static_cast<int>(CircuitState::kOpen), 1);
    EXPECT_EQ(static_cast<int>(CircuitState::kHalfOpen), 2);
}

TEST(CircuitBreakerRegistryTest, CreatesOnDemandAndSetsTheStateGauge) {
    ManualClock clock;
    metrics::Registry metrics;
    auto& gauge = AddCircuitBreakerStateGauge(metrics);
    std::vector<Transition> seen;
    CircuitBreakerRegistry registry(
        clock, {.state_gauge = &gauge,
                .on_transition = [&](std::string_view n, CircuitState f, CircuitState t) {
                    seen.push_back({std::string(n), f, t});
                }});

    auto claude = registry.GetOrCreate("claude");
    ASSERT_TRUE(claude.ok());
    auto again = registry.GetOrCreate("claude");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*claude, *again);
    ASSERT_TRUE(registry.GetOrCreate("gpt").ok());
    EXPECT_EQ(registry.Size(), 2u);
    EXPECT_EQ(gauge.WithLabels({"claude"}).Value(), 0);

    for (int i = 0; i < 5; ++i) (*claude)->RecordFailure();
    EXPECT_EQ(gauge.WithLabels({"claude"}).Value(), 1);
    std::string text = metrics.RenderPrometheus();
    EXPECT_NE(text.find("aragora_circuit_breaker_state{agent=\"claude\"} 1\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("aragora_circuit_breaker_state{agent=\"gpt\"} 0\n"), std::string::npos);

    clock.Advance(60s);
    auto snapshot = registry.Snapshot();  // observing the state applies half_open
    ASSERT_EQ(snapshot.size(), 2u);
    EXPECT_EQ(snapshot[0].name, "claude");
    EXPECT_EQ(snapshot[0].state, CircuitState::kHalfOpen);
    EXPECT_EQ(snapshot[0].consecutive_failures, 5);
    EXPECT_TRUE(snapshot[0].opened_at.has_value());
    EXPECT_EQ(snapshot[1].name, "gpt");
    EXPECT_EQ(snapshot[1].state, CircuitState::kClosed);
    EXPECT_EQ(gauge.WithLabels({"claude"}).Value(), 2);

    auto counts = registry.CountByState();
    EXPECT_EQ(counts.closed, 1u);
    EXPECT_EQ(counts.open, 0u);
    EXPECT_EQ(counts.half_open, 1u);

    ASSERT_TRUE(registry.Reset("claude").ok());
    EXPECT_EQ(gauge.WithLabels({"claude"}).Value(), 0);
    EXPECT_EQ(seen.back(), (Transition{"claude", CircuitState::kHalfOpen, CircuitState::kClosed}));
    EXPECT_EQ(seen.size(), 3u);
}

TEST(CircuitBreakerRegistryTest, ResetAndFindNeverCreate) {
    ManualClock clock;
    CircuitBreakerRegistry registry(clock);
    auto status = registry.Reset("nobody");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, common::ErrorCode::kNotFound);
    EXPECT_EQ(registry.Find("nobody"), nullptr);
    EXPECT_EQ(registry.Size(), 0u);
}

TEST(CircuitBreakerRegistryTest, BoundedNumberOfNames) {
    ManualClock clock;
    CircuitBreakerRegistry registry(clock);
    for (int i = 0; i < 256; ++i) ASSERT_TRUE(registry.GetOrCreate("a" + std::to_string(i)).ok());
    auto extra = registry.GetOrCreate("one-too-many");
    ASSERT_FALSE(extra.ok());
    EXPECT_EQ(extra.error().code, common::ErrorCode::kOverloaded);
    EXPECT_TRUE(registry.GetOrCreate("a7").ok());  // existing names still resolve
    EXPECT_EQ(registry.Size(), 256u);
}

TEST(CircuitBreakerRegistryTest, BreakersUseTheRegistryConfig) {
    ManualClock clock;
    CircuitBreakerRegistry registry(clock, {.breaker = {.failure_threshold = 1, .cooldown = 2s}});
    CircuitBreaker* b = *registry.GetOrCreate("x");
    b->RecordFailure();
    EXPECT_EQ(b->State(), CircuitState::kOpen);
    clock.Advance(2s);
    EXPECT_EQ(b->State(), CircuitState::kHalfOpen);
}

}  // namespace
}  // namespace aragora::resilience
