// The Redis-shared sliding-window limiter against a real redis-server: the same decisions
// as the in-memory limiter, one combined limit across two instances, fallback to memory
// (metric, gauge, one warning per outage) when Redis is down or stalled, and back to Redis
// by itself; FLUSHALL + SCRIPT FLUSH keep it working (EVALSHA -> NOSCRIPT -> EVAL).
// Time comes from a ManualClock passed to the script.

#include "ratelimit/redis_limiter.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "../redis/redis_test_server.hpp"
#include "common/logging.hpp"
#include "metrics/registry.hpp"
#include "redis/client.hpp"

namespace aragora::ratelimit {
namespace {

namespace asio = boost::asio;
using redis::testing::IoThreads;
using redis::testing::RedisTestServer;
using redis::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;

RateLimiter::Options Limit(int per_minute) {
    RateLimiter::Options o;
    o.limit_per_minute = per_minute;
    return o;
}

// One "server": its own Redis connection, metrics, in-memory fallback and backend.
struct Instance {
    Instance(asio::any_io_executor ex, const std::string& url, const common::Clock& clock,
             int per_minute)
        : client(ex, Options(url)), local(Limit(per_minute), clock) {
        client.Start();
        SharedLimiterOptions so;
        so.key_prefix = "test:rl:";
        so.timeout = milliseconds(100);
        so.probe_interval = milliseconds(1000);
        backend = std::make_unique<SharedLimitBackend>(so, client, clock, registry);
    }
    ~Instance() { client.Stop(); }

    static redis::ClientOptions Options(const std::string& url) {
        redis::ClientOptions o;
        o.connection.url = *redis::RedisUrl::Parse(url);
        o.connection.reconnect_min = milliseconds(20);
        o.connection.reconnect_max = milliseconds(100);
        return o;
    }

    double fallback_counter() {
        const std::string text = registry.RenderPrometheus();
        return Sample(text, "aragora_rate_limit_redis_fallback_total");
    }
    double degraded_gauge() {
        return Sample(registry.RenderPrometheus(), "aragora_rate_limit_backend_degraded");
    }
    static double Sample(const std::string& text, const std::string& name) {
        const auto pos = text.find("\n" + name + " ");
        if (pos == std::string::npos) return -1;
        return std::stod(text.substr(pos + name.size() + 2));
    }

    redis::RedisClient client;
    metrics::Registry registry;
    RateLimiter local;
    std::unique_ptr<SharedLimitBackend> backend;
};

class RedisLimiterTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string err = server_.Start();
        ASSERT_TRUE(err.empty()) << err;
        sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
        common::GetLogger("aragora.ratelimit")->sinks().push_back(sink_);
        a_ = std::make_unique<Instance>(io_.executor(), server_.Url(), clock_, 10);
        b_ = std::make_unique<Instance>(io_.executor(), server_.Url(), clock_, 10);
        ASSERT_TRUE(io_.Await(a_->client.WaitConnected(milliseconds(5000))).ok());
        ASSERT_TRUE(io_.Await(b_->client.WaitConnected(milliseconds(5000))).ok());
    }
    void TearDown() override {
        auto& sinks = common::GetLogger("aragora.ratelimit")->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }

    LimitDecision Check(Instance& i, const std::string& key, int cost = 1) {
        return io_.Await(i.backend->Check(i.local, "ip", key, cost));
    }
    int LogLines(const std::string& needle) {
        auto lines = sink_->last_formatted();
        return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
            return l.find(needle) != std::string::npos;
        }));
    }

    RedisTestServer server_;
    IoThreads io_;
    common::ManualClock clock_;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    std::unique_ptr<Instance> a_;
    std::unique_ptr<Instance> b_;
};

TEST_F(RedisLimiterTest, SameDecisionsAsTheInMemoryLimiter) {
    RateLimiter reference(Limit(10), clock_);
    // Bursts, partial windows, a roll-over, costs, and a gap of two windows.
    const std::vector<std::pair<int, int>> steps = {
        // (advance ms, cost)
        {0, 1},     {0, 3},     {1500, 1}, {0, 5}, {0, 1},       {7000, 1},  {30000, 2},
        {21000, 1}, {1, 1},     {9999, 4}, {0, 1}, {15000, 1},   {15000, 1}, {0, 11},
        {100, 0},   {59000, 1}, {0, 1},    {0, 1}, {120000, 10}, {0, 1},     {45000, 3}};
    int i = 0;
    for (const auto& [advance, cost] : steps) {
        clock_.Advance(milliseconds(advance));
        const LimitDecision want = reference.Check("k", cost);
        const LimitDecision got = Check(*a_, "k", cost);
        SCOPED_TRACE("step " + std::to_string(i++));
        EXPECT_EQ(got.allowed, want.allowed);
        EXPECT_EQ(got.limit, want.limit);
        EXPECT_EQ(got.remaining, want.remaining);
        EXPECT_EQ(got.reset_epoch, want.reset_epoch);
        EXPECT_EQ(got.retry_after_seconds, want.retry_after_seconds);
    }
    EXPECT_EQ(a_->backend->Stats().fallback_decisions, 0u);
    EXPECT_FALSE(a_->local.Peek("k").has_value());  // memory was not used
}

TEST_F(RedisLimiterTest, TwoInstancesEnforceOneCombinedLimit) {
    for (int n = 0; n < 10; ++n) {
        Instance& i = n % 2 == 0 ? *a_ : *b_;
        const LimitDecision d = Check(i, "203.0.113.7");
        ASSERT_TRUE(d.allowed) << "request " << n;
        EXPECT_EQ(d.remaining, 9 - n);
    }
    const LimitDecision on_a = Check(*a_, "203.0.113.7");
    const LimitDecision on_b = Check(*b_, "203.0.113.7");
    EXPECT_FALSE(on_a.allowed);
    EXPECT_FALSE(on_b.allowed);
    EXPECT_GE(on_b.retry_after_seconds, 1);
    // Another key and another bucket are separate.
    EXPECT_TRUE(Check(*b_, "198.51.100.1").allowed);
    EXPECT_TRUE(io_.Await(b_->backend->Check(b_->local, "auth", "203.0.113.7")).allowed);
    EXPECT_EQ(a_->fallback_counter(), 0);
    EXPECT_EQ(a_->degraded_gauge(), 0);
}

TEST_F(RedisLimiterTest, RedisDownFallsBackOnceLoggedThenReturns) {
    ASSERT_TRUE(Check(*a_, "ip1").allowed);
    server_.Kill();
    ASSERT_TRUE(WaitFor([&] { return !a_->client.connected() && !b_->client.connected(); }));

    for (int n = 0; n < 20; ++n) {
        const LimitDecision d = Check(*a_, "ip1");
        // The in-memory limiter decides: 10 per instance.
        EXPECT_EQ(d.allowed, n < 10) << n;
    }
    EXPECT_TRUE(a_->backend->degraded());
    EXPECT_EQ(a_->backend->Stats().fallback_decisions, 20u);
    EXPECT_EQ(a_->fallback_counter(), 20);
    EXPECT_EQ(a_->degraded_gauge(), 1);
    EXPECT_EQ(a_->backend->Stats().outages, 1u);
    EXPECT_EQ(LogLines("rate limiter degraded"), 1);  // one line per outage, not per request

    const std::string err = server_.Start();
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_TRUE(io_.Await(a_->client.WaitConnected(milliseconds(10000))).ok());
    ASSERT_TRUE(io_.Await(b_->client.WaitConnected(milliseconds(10000))).ok());
    // Until the probe interval passes, memory keeps deciding.
    Check(*a_, "ip2");
    EXPECT_EQ(a_->backend->Stats().fallback_decisions, 21u);
    clock_.Advance(milliseconds(1000));
    const LimitDecision back = Check(*a_, "ip2");
    EXPECT_TRUE(back.allowed);
    EXPECT_EQ(back.remaining, 9);  // Redis restarted empty: a shared count again
    EXPECT_FALSE(a_->backend->degraded());
    EXPECT_EQ(a_->degraded_gauge(), 0);
    EXPECT_EQ(LogLines("rate limiter back on redis"), 1);
    EXPECT_EQ(a_->fallback_counter(), 21);
    // Shared again: B (never degraded) sees A's request.
    EXPECT_EQ(Check(*b_, "ip2").remaining, 8);
}

TEST_F(RedisLimiterTest, StalledRedisFallsBackWithinTheDeadline) {
    ASSERT_TRUE(Check(*a_, "ip").allowed);
    ASSERT_EQ(server_.Exec({"CLIENT", "PAUSE", "1000"}), "+OK");
    const LimitDecision d = Check(*a_, "ip");
    EXPECT_TRUE(d.allowed);  // memory: first request of this instance
    EXPECT_EQ(a_->backend->Stats().fallback_decisions, 1u);
    EXPECT_TRUE(a_->backend->degraded());
    EXPECT_EQ(LogLines("rate limiter degraded"), 1);
    EXPECT_GE(a_->client.Stats().timeouts, 1u);

    // After the pause, the next probe returns to Redis.
    ASSERT_TRUE(WaitFor(
        [&] {
            clock_.Advance(milliseconds(1000));
            Check(*a_, "probe");
            return !a_->backend->degraded();
        },
        seconds(10)));
    EXPECT_EQ(LogLines("rate limiter back on redis"), 1);
}

TEST_F(RedisLimiterTest, FlushAllAndScriptFlushKeepItWorking) {
    for (int n = 0; n < 3; ++n) ASSERT_TRUE(Check(*a_, "ip").allowed);
    EXPECT_EQ(Check(*b_, "ip").remaining, 6);
    const auto loads_before = a_->backend->Stats().script_loads;  // 1: the first EVALSHA
    EXPECT_EQ(loads_before, 1u);
    ASSERT_EQ(server_.Exec({"FLUSHALL"}), "+OK");
    ASSERT_EQ(server_.Exec({"SCRIPT", "FLUSH"}), "+OK");
    const LimitDecision d = Check(*a_, "ip");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 9);  // counts were flushed
    EXPECT_EQ(a_->backend->Stats().script_loads, loads_before + 1);
    EXPECT_EQ(a_->backend->Stats().fallback_decisions, 0u);
    EXPECT_EQ(Check(*b_, "ip").remaining, 8);  // B: EVALSHA finds the reloaded script
    EXPECT_EQ(b_->backend->Stats().script_loads, 0u);
    EXPECT_EQ(server_.Exec({"SCRIPT", "EXISTS", SharedLimitBackend::ScriptSha()}), "*1");
}

TEST_F(RedisLimiterTest, DecisionLatencyFigure) {
    constexpr int kChecks = 500;
    const auto start = std::chrono::steady_clock::now();
    for (int n = 0; n < kChecks; ++n) Check(*a_, "k" + std::to_string(n % 50));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(a_->backend->Stats().redis_decisions, static_cast<std::uint64_t>(kChecks));
    std::printf("[ figure ] %d sequential Redis limiter decisions: %.1f us each (loopback)\n",
                kChecks, std::chrono::duration<double, std::micro>(elapsed).count() / kChecks);
}

TEST_F(RedisLimiterTest, UnlimitedNeverTouchesRedis) {
    RateLimiter unlimited(Limit(0), clock_);
    server_.Kill();
    const LimitDecision d = io_.Await(a_->backend->Check(unlimited, "ip", "k"));
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(a_->backend->Stats().fallback_decisions, 0u);
    EXPECT_FALSE(a_->backend->degraded());
}

}  // namespace
}  // namespace aragora::ratelimit
