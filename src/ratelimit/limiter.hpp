#pragma once

// Request rate limiting.
//
// RateLimiter: per-key SLIDING WINDOW COUNTER (Cloudflare, "How we built rate limiting
// capable of scaling to millions of domains"). Two fixed windows per key, aligned on the
// steady clock; the previous window's count is weighted by how much of it still overlaps
// the sliding window ending now:
//
//   estimate = previous_count * (1 - elapsed_in_current / window) + current_count
//
// A request of `cost` is allowed when estimate + cost <= limit, and then
// current_count += cost. So 100/min allows exactly 100 requests in a burst, the 101st is
// refused, and memory is O(1) per key. The arithmetic is exact (integers, nanoseconds).
//
// TokenBucket: a per-connection bucket (WebSocket message rate).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"

namespace aragora::ratelimit {

struct LimitDecision {
    bool allowed = true;
    int limit = 0;
    int remaining = 0;             // floor(limit - estimate) after this request, >= 0
    std::int64_t reset_epoch = 0;  // epoch seconds (SystemNow based, rounded up) when the
                                   // current window ends
    int retry_after_seconds = 0;   // when refused: seconds (ceil, >= 1) until a request of
                                   // this cost would be allowed; 0 when allowed
};

struct BucketSnapshot {
    std::string key;
    int limit;
    int remaining;
    std::int64_t reset_epoch;
};

struct LimiterStats {
    std::size_t keys = 0;
    std::uint64_t allowed = 0;
    std::uint64_t refused = 0;
    std::uint64_t evicted = 0;  // LRU (max_keys) and idle (idle_ttl) evictions together
};

// Thread-safe: every method may be called concurrently from any thread. The keys are
// sharded by hash, each shard behind its own mutex, held only for O(1) work (a hash
// lookup, a list splice and a bounded sweep); nothing blocks on I/O.
class RateLimiter {
public:
    struct Options {
        int limit_per_minute = 100;       // per `window`; <= 0 means unlimited (always allowed)
        std::chrono::seconds window{60};  // <= 0 is treated as 60 s
        // Hard cap on tracked keys: when full, the least recently used key is evicted (a
        // flood of distinct IPs cannot grow memory). Split evenly across the shards (up to
        // 16, at least 64 keys each, so LRU order is exact below 128 keys); 0 is treated
        // as 1.
        std::size_t max_keys = 100000;
        // Keys untouched this long are evicted (swept incrementally: a few from the LRU
        // tail on every call). <= 0 disables idle eviction (max_keys still bounds memory).
        std::chrono::seconds idle_ttl{300};
    };

    // `clock` must outlive the limiter.
    RateLimiter(Options options, const common::Clock& clock);
    ~RateLimiter();
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    // Counts `cost` against `key` when allowed (a refused request counts nothing). A
    // negative cost is treated as 0 (a check that consumes nothing). A cost above the
    // limit is always refused, with retry_after_seconds = one window.
    // Unlimited (limit_per_minute <= 0): always allowed with limit 0, remaining INT_MAX and
    // reset_epoch 0; no key is tracked.
    LimitDecision Check(std::string_view key, int cost = 1);

    // Like Check without counting; nullopt when the key is not tracked (never seen,
    // evicted, idle past idle_ttl, or the limiter is unlimited).
    std::optional<BucketSnapshot> Peek(std::string_view key) const;

    LimiterStats Stats() const;

    // The options in effect (after the normalisation described in Options).
    const Options& options() const { return options_; }

private:
    struct Node {
        std::string key;
        std::int64_t window_index = 0;  // which fixed window current_count belongs to
        std::int64_t previous_count = 0;
        std::int64_t current_count = 0;
        std::chrono::steady_clock::time_point last_seen;
    };
    struct Shard {
        mutable std::mutex mutex;
        std::list<Node> lru;  // front = most recently used
        // Keys are views into the Node in `lru` (list nodes never move).
        std::unordered_map<std::string_view, std::list<Node>::iterator> index;
        std::size_t capacity = 1;
        std::uint64_t allowed = 0;
        std::uint64_t refused = 0;
        std::uint64_t evicted = 0;
    };

    Shard& ShardFor(std::string_view key) const;
    void SweepIdle(Shard& shard, std::chrono::steady_clock::time_point now);
    bool IsIdle(const Node& node, std::chrono::steady_clock::time_point now) const;
    std::int64_t ResetEpoch(std::int64_t window_index) const;

    Options options_;
    const common::Clock& clock_;
    std::int64_t window_ns_;
    std::vector<std::unique_ptr<Shard>> shards_;
};

// A per-connection token bucket: starts full with `burst` tokens and refills at
// `rate_per_second` up to `burst`. Not thread-safe (owned by one connection). Negative or
// NaN rate/burst are treated as 0. Time going backwards refills nothing.
class TokenBucket {
public:
    TokenBucket(double rate_per_second, double burst, std::chrono::steady_clock::time_point now);

    // Takes `tokens` when that many are available and returns true; else takes nothing and
    // returns false. A NaN or negative request is refused.
    bool Take(std::chrono::steady_clock::time_point now, double tokens = 1.0);

    double available(std::chrono::steady_clock::time_point now) const;

private:
    double Refilled(std::chrono::steady_clock::time_point now) const;

    double rate_;
    double burst_;
    double tokens_;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace aragora::ratelimit
