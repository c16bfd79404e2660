// The hedge delay: a fixed delay, or the provider's p95 time to first answer over a
// bounded window, never below the floor; nothing while hedging is off or the window is
// too short.

#include "agents/hedge.hpp"

#include <gtest/gtest.h>

namespace aragora::agents {
namespace {

using std::chrono::milliseconds;

TEST(LatencyWindows, P95IsTheNearestRankOfTheProvidersSamples) {
    LatencyWindows w(100);
    for (int i = 1; i <= 100; ++i) w.Record("openai", milliseconds(i));
    w.Record("anthropic", milliseconds(7));
    EXPECT_EQ(w.P95("openai", 20), milliseconds(95));
    EXPECT_EQ(w.Count("openai"), 100u);
    EXPECT_EQ(w.P95("anthropic", 1), milliseconds(7));
    EXPECT_FALSE(w.P95("anthropic", 2)) << "too few samples";
    EXPECT_FALSE(w.P95("gemini", 1));
}

TEST(LatencyWindows, KeepsOnlyTheNewestSamples) {
    LatencyWindows w(10);
    for (int i = 0; i < 10; ++i) w.Record("openai", milliseconds(5000));
    for (int i = 0; i < 10; ++i) w.Record("openai", milliseconds(100));
    EXPECT_EQ(w.Count("openai"), 10u);
    EXPECT_EQ(w.P95("openai", 10), milliseconds(100)) << "the slow past is forgotten";
}

TEST(HedgeDelay, OffFixedOrP95WithAFloor) {
    LatencyWindows w(128);
    HedgeSettings s;
    EXPECT_FALSE(HedgeDelay(s, &w, "openai")) << "off by default";
    s.enabled = true;
    EXPECT_FALSE(HedgeDelay(s, &w, "openai")) << "no samples, no fixed delay";
    for (int i = 0; i < 19; ++i) w.Record("openai", milliseconds(3000));
    EXPECT_FALSE(HedgeDelay(s, &w, "openai")) << "19 < min_samples";
    w.Record("openai", milliseconds(3000));
    EXPECT_EQ(HedgeDelay(s, &w, "openai"), milliseconds(3000));
    for (int i = 0; i < 128; ++i) w.Record("openai", milliseconds(40));
    EXPECT_EQ(HedgeDelay(s, &w, "openai"), milliseconds(1000)) << "the floor";
    s.floor = milliseconds(10);
    EXPECT_EQ(HedgeDelay(s, &w, "openai"), milliseconds(40));
    s.after = milliseconds(250);
    EXPECT_EQ(HedgeDelay(s, &w, "openai"), milliseconds(250)) << "fixed wins";
    EXPECT_EQ(HedgeDelay(s, nullptr, "gemini"), milliseconds(250));
}

}  // namespace
}  // namespace aragora::agents
