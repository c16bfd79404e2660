#include "ratelimit/limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace aragora::ratelimit {
namespace {

using Wide = __int128;  // count * window_ns overflows 64 bits for long windows

constexpr std::size_t kMaxShards = 16;
// Small limiters get fewer shards so their LRU order is exact (one shard up to 127 keys).
constexpr std::size_t kMinKeysPerShard = 64;
// Idle keys removed from a shard's LRU tail per call: enough to outpace insertions (at
// most one per call) while keeping every call O(1).
constexpr int kSweepPerCall = 4;
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::int64_t CeilDiv(std::int64_t a, std::int64_t b) { return -FloorDiv(-a, b); }

std::int64_t Nanos(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::int64_t Nanos(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int ClampToInt(Wide v) {
    if (v <= 0) return 0;
    if (v >= std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
    return static_cast<int>(v);
}

RateLimiter::Options Normalise(RateLimiter::Options o) {
    if (o.window <= std::chrono::seconds::zero()) o.window = std::chrono::seconds(60);
    if (o.max_keys == 0) o.max_keys = 1;
    return o;
}

// A key's two windows as seen at `window_index`.
struct Counts {
    std::int64_t previous = 0;
    std::int64_t current = 0;
};

Counts RolledTo(std::int64_t node_window, std::int64_t previous, std::int64_t current,
                std::int64_t window_index) {
    if (window_index <= node_window) return {previous, current};
    if (window_index == node_window + 1) return {current, 0};
    return {0, 0};
}

// limit - estimate, times window_ns (exact).
Wide Headroom(std::int64_t limit, const Counts& c, std::int64_t elapsed, std::int64_t window) {
    return Wide(limit) * window - Wide(c.previous) * (window - elapsed) - Wide(c.current) * window;
}

int RemainingOf(std::int64_t limit, const Counts& c, std::int64_t elapsed, std::int64_t window) {
    const Wide headroom = Headroom(limit, c, elapsed, window);
    return headroom <= 0 ? 0 : ClampToInt(headroom / window);
}

// Nanoseconds from `elapsed` (into the current window) until `cost` fits, for a refused
// request with cost <= limit. The estimate only falls with time, so solve
// previous * (W - t) + (current + cost) * W <= limit * W for the earliest t in this window,
// else in the next one (where previous := current, current := 0).
std::int64_t WaitNanos(std::int64_t limit, const Counts& c, std::int64_t cost, std::int64_t elapsed,
                       std::int64_t window) {
    const std::int64_t room_now = limit - c.current - cost;
    if (room_now >= 0 && c.previous > 0) {
        const Wide t = Wide(window) - Wide(room_now) * window / c.previous;
        return static_cast<std::int64_t>(t) - elapsed;
    }
    const std::int64_t room_next = limit - cost;  // >= 0: cost <= limit
    std::int64_t t_next = 0;
    if (c.current > 0) {
        t_next = std::max<std::int64_t>(
            0, static_cast<std::int64_t>(Wide(window) - Wide(room_next) * window / c.current));
    }
    return (window - elapsed) + t_next;
}

}  // namespace

RateLimiter::RateLimiter(Options options, const common::Clock& clock)
    : options_(Normalise(options)),
      clock_(clock),
      window_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(options_.window).count()) {
    const std::size_t count =
        std::clamp<std::size_t>(options_.max_keys / kMinKeysPerShard, 1, kMaxShards);
    shards_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        auto shard = std::make_unique<Shard>();
        // Spread max_keys exactly: the total capacity is max_keys.
        shard->capacity = options_.max_keys / count + (i < options_.max_keys % count ? 1 : 0);
        shards_.push_back(std::move(shard));
    }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::ShardFor(std::string_view key) const {
    // Re-mix so the shard choice is independent of the bucket choice inside the shard's map.
    std::uint64_t h = std::hash<std::string_view>{}(key);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return *shards_[h % shards_.size()];
}

bool RateLimiter::IsIdle(const Node& node, std::chrono::steady_clock::time_point now) const {
    return options_.idle_ttl > std::chrono::seconds::zero() &&
           now - node.last_seen >= options_.idle_ttl;
}

void RateLimiter::SweepIdle(Shard& shard, std::chrono::steady_clock::time_point now) {
    for (int i = 0; i < kSweepPerCall && !shard.lru.empty(); ++i) {
        auto last = std::prev(shard.lru.end());
        if (!IsIdle(*last, now)) break;  // the tail is the oldest: nothing else is idle
        shard.index.erase(std::string_view(last->key));
        shard.lru.erase(last);
        ++shard.evicted;
    }
}

LimitDecision RateLimiter::Check(std::string_view key, int cost) {
    Shard& shard = ShardFor(key);
    const std::int64_t limit = options_.limit_per_minute;
    if (limit <= 0) {
        std::lock_guard lock(shard.mutex);
        ++shard.allowed;
        return LimitDecision{true, 0, std::numeric_limits<int>::max(), 0, 0};
    }
    const std::int64_t units = std::max(cost, 0);
    const auto now = clock_.SteadyNow();
    const std::int64_t system_ns = Nanos(clock_.SystemNow());
    const std::int64_t now_ns = Nanos(now);
    std::int64_t window_index = FloorDiv(now_ns, window_ns_);

    std::lock_guard lock(shard.mutex);
    SweepIdle(shard, now);
    Node* node = nullptr;
    if (auto it = shard.index.find(key); it != shard.index.end()) {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
        node = &*it->second;
    } else {
        if (shard.index.size() >= shard.capacity) {
            auto last = std::prev(shard.lru.end());
            shard.index.erase(std::string_view(last->key));
            shard.lru.erase(last);
            ++shard.evicted;
        }
        shard.lru.push_front(Node{std::string(key), window_index, 0, 0, now});
        shard.index.emplace(std::string_view(shard.lru.front().key), shard.lru.begin());
        node = &shard.lru.front();
    }
    node->last_seen = now;
    // A clock that went backwards keeps the key's newest window.
    window_index = std::max(window_index, node->window_index);
    const std::int64_t elapsed =
        std::clamp<std::int64_t>(now_ns - window_index * window_ns_, 0, window_ns_);
    const Counts counts =
        RolledTo(node->window_index, node->previous_count, node->current_count, window_index);
    node->window_index = window_index;
    node->previous_count = counts.previous;
    node->current_count = counts.current;

    LimitDecision decision;
    decision.limit = static_cast<int>(limit);
    const std::int64_t window_end_ns = (window_index + 1) * window_ns_;
    decision.reset_epoch = CeilDiv(system_ns + (window_end_ns - now_ns), kNanosPerSecond);
    const Counts with_cost{counts.previous, counts.current + units};
    decision.allowed = units <= limit && Headroom(limit, with_cost, elapsed, window_ns_) >= 0;
    if (decision.allowed) {
        node->current_count = with_cost.current;
        decision.remaining = RemainingOf(limit, with_cost, elapsed, window_ns_);
        ++shard.allowed;
    } else {
        decision.remaining = RemainingOf(limit, counts, elapsed, window_ns_);
        const std::int64_t wait_ns =
            units > limit ? window_ns_ : WaitNanos(limit, counts, units, elapsed, window_ns_);
        decision.retry_after_seconds =
            ClampToInt(std::max<std::int64_t>(1, CeilDiv(wait_ns, kNanosPerSecond)));
        ++shard.refused;
    }
    return decision;
}

std::optional<BucketSnapshot> RateLimiter::Peek(std::string_view key) const {
    const std::int64_t limit = options_.limit_per_minute;
    if (limit <= 0) return std::nullopt;
    Shard& shard = ShardFor(key);
    const auto now = clock_.SteadyNow();
    const std::int64_t system_ns = Nanos(clock_.SystemNow());
    const std::int64_t now_ns = Nanos(now);

    std::lock_guard lock(shard.mutex);
    auto it = shard.index.find(key);
    if (it == shard.index.end() || IsIdle(*it->second, now)) return std::nullopt;
    const Node& node = *it->second;
    const std::int64_t window_index = std::max(FloorDiv(now_ns, window_ns_), node.window_index);
    const std::int64_t elapsed =
        std::clamp<std::int64_t>(now_ns - window_index * window_ns_, 0, window_ns_);
    const Counts counts =
        RolledTo(node.window_index, node.previous_count, node.current_count, window_index);
    const std::int64_t window_end_ns = (window_index + 1) * window_ns_;
    return BucketSnapshot{node.key, static_cast<int>(limit),
                          RemainingOf(limit, counts, elapsed, window_ns_),
                          CeilDiv(system_ns + (window_end_ns - now_ns), kNanosPerSecond)};
}

LimiterStats RateLimiter::Stats() const {
    LimiterStats stats;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        stats.keys += shard->index.size();
        stats.allowed += shard->allowed;
        stats.refused += shard->refused;
        stats.evicted += shard->evicted;
    }
    return stats;
}

namespace {

double NonNegative(double v) { return std::isnan(v) || v < 0 ? 0.0 : v; }

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, double burst,
                         std::chrono::steady_clock::time_point now)
    : rate_(NonNegative(rate_per_second)),
      burst_(NonNegative(burst)),
      tokens_(burst_),
      last_(now) {}

double TokenBucket::Refilled(std::chrono::steady_clock::time_point now) const {
    if (now <= last_ || rate_ == 0) return tokens_;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    return std::min(burst_, tokens_ + elapsed * rate_);
}

bool TokenBucket::Take(std::chrono::steady_clock::time_point now, double tokens) {
    tokens_ = Refilled(now);
    if (now > last_) last_ = now;
    if (std::isnan(tokens) || tokens < 0) return false;
    // Tolerate float drift from many small refills (10/s over 100 ms must give 1 token).
    constexpr double kEpsilon = 1e-9;
    if (tokens_ + kEpsilon < tokens) return false;
    tokens_ = std::max(0.0, tokens_ - tokens);
    return true;
}

double TokenBucket::available(std::chrono::steady_clock::time_point now) const {
    return Refilled(now);
}

}  // namespace aragora::ratelimit
