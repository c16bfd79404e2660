#pragma once

// The shared (multi-instance) rate limiter: the same sliding-window counter as
// RateLimiter (limiter.hpp), kept in Redis and updated atomically by one Lua script, so
// every instance using the same Redis enforces one combined limit per key
// (ARAGORA_ENABLE_REDIS_RATE_LIMIT=1).
//
// Degraded mode: when Redis is unreachable, refuses, or answers later than `timeout`,
// the decision is taken by the caller's in-memory RateLimiter (same limit, but per
// instance). One warning is logged when the outage starts and one info line when Redis
// answers again; every fallback decision increments aragora_rate_limit_redis_fallback_total
// and aragora_rate_limit_backend_degraded is 1 meanwhile. While degraded, one request per
// `probe_interval` tries Redis again (the others go straight to memory, so a slow Redis
// does not slow every request); the first success returns to Redis.
//
// Time: windows are aligned on the injected clock's SYSTEM (wall) time in milliseconds,
// passed to the script by the caller (instances must have synchronised clocks, as NTP
// gives). Redis keys: <key_prefix><bucket>:<key>, a hash {w, p, c} expiring after two
// windows; FLUSHALL only resets the counts. The script is run with EVALSHA, and with EVAL
// when Redis answers NOSCRIPT (after a restart, SCRIPT FLUSH or FLUSHALL ASYNC).

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "ratelimit/limiter.hpp"

namespace spdlog {
class logger;
}
namespace aragora::metrics {
class Counter;
class Gauge;
class Registry;
}  // namespace aragora::metrics
namespace aragora::redis {
class RedisClient;
}

namespace aragora::ratelimit {

struct SharedLimiterOptions {
    std::string key_prefix = "aragora:ratelimit:";
    // A Redis decision slower than this falls back to memory (the client's command
    // deadline; the client then resets its connection).
    std::chrono::milliseconds timeout{75};
    // While degraded, how often one request tries Redis again.
    std::chrono::milliseconds probe_interval{1000};
};

struct SharedLimiterStats {
    std::uint64_t redis_decisions = 0;
    std::uint64_t fallback_decisions = 0;
    std::uint64_t outages = 0;       // healthy -> degraded transitions
    std::uint64_t script_loads = 0;  // EVAL after NOSCRIPT
};

// Thread-safe: Check may be called concurrently from any thread/executor. `client`,
// `clock` and `registry` must outlive the backend. One backend per process (it declares
// its two metrics in `registry`; declaring them twice throws at startup).
class SharedLimitBackend {
public:
    SharedLimitBackend(SharedLimiterOptions options, redis::RedisClient& client,
                       const common::Clock& clock, metrics::Registry& registry);
    ~SharedLimitBackend();
    SharedLimitBackend(const SharedLimitBackend&) = delete;
    SharedLimitBackend& operator=(const SharedLimitBackend&) = delete;

    // Counts `cost` against `key` with `local`'s limit and window, in Redis; `bucket`
    // ("ip", "auth", ...) separates the limiters' keys. Same decision fields and
    // semantics as RateLimiter::Check. Falls back to local.Check(key, cost) as described
    // above; an unlimited `local` answers without Redis. Never fails.
    boost::asio::awaitable<LimitDecision> Check(RateLimiter& local, std::string bucket,
                                                std::string key, int cost = 1);

    bool degraded() const { return degraded_.load(); }
    SharedLimiterStats Stats() const;
    const SharedLimiterOptions& options() const { return options_; }

    // The Lua script and its SHA-1 (exposed for tests and `redis-cli SCRIPT EXISTS`).
    static const std::string& Script();
    static const std::string& ScriptSha();

private:
    struct Counts;
    boost::asio::awaitable<common::Result<Counts>> RunScript(std::string redis_key,
                                                             std::int64_t limit,
                                                             std::int64_t window_ms,
                                                             std::int64_t now_ms,
                                                             std::int64_t cost);
    LimitDecision Fallback(RateLimiter& local, const std::string& key, int cost,
                           const std::string& why);
    void Recovered();

    SharedLimiterOptions options_;
    redis::RedisClient& client_;
    const common::Clock& clock_;
    metrics::Counter& fallback_total_;
    metrics::Gauge& degraded_gauge_;
    std::shared_ptr<spdlog::logger> log_;
    std::atomic<bool> degraded_{false};
    std::atomic<bool> probing_{false};
    std::atomic<std::int64_t> next_probe_ns_{0};
    std::atomic<std::int64_t> degraded_since_ns_{0};
    std::atomic<std::uint64_t> redis_decisions_{0};
    std::atomic<std::uint64_t> fallback_decisions_{0};
    std::atomic<std::uint64_t> outages_{0};
    std::atomic<std::uint64_t> script_loads_{0};
};

}  // namespace aragora::ratelimit
