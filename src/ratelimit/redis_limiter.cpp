#include "ratelimit/redis_limiter.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "common/logging.hpp"
#include "metrics/registry.hpp"
#include "redis/client.hpp"

namespace aragora::ratelimit {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Result;
using Wide = __int128;

constexpr std::int64_t kMillisPerSecond = 1000;

// KEYS[1] the counter hash; ARGV limit, window (ms), now (ms, caller's wall clock), cost.
// Mirrors RateLimiter::Check: roll the two fixed windows to now's window (a clock behind
// the stored window keeps the stored one), weight the previous window by its overlap,
// allow when estimate + cost <= limit, then count the cost. Every value stays an integer
// far below 2^53, so Lua's doubles are exact. Returns {allowed, window, previous, current,
// elapsed} after the update.
constexpr const char* kScript = R"lua(
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local idx = math.floor(now / window)
local state = redis.call('HMGET', KEYS[1], 'w', 'p', 'c')
local w = tonumber(state[1])
local p = tonumber(state[2]) or 0
local c = tonumber(state[3]) or 0
if w == nil then
  w = idx
  p = 0
  c = 0
end
if idx < w then idx = w end
if idx == w + 1 then
  p = c
  c = 0
elseif idx > w + 1 then
  p = 0
  c = 0
end
local elapsed = now - idx * window
if elapsed < 0 then elapsed = 0 end
if elapsed > window then elapsed = window end
local allowed = 0
if cost <= limit and limit * window - p * (window - elapsed) - (c + cost) * window >= 0 then
  allowed = 1
  c = c + cost
end
redis.call('HSET', KEYS[1], 'w', idx, 'p', p, 'c', c)
redis.call('PEXPIRE', KEYS[1], window * 2)
return {allowed, idx, p, c, elapsed}
)lua";

std::string Sha1Hex(const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha1(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 15]);
    }
    return out;
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::int64_t CeilDiv(std::int64_t a, std::int64_t b) { return -FloorDiv(-a, b); }

int ClampToInt(Wide v) {
    if (v <= 0) return 0;
    if (v >= std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
    return static_cast<int>(v);
}

std::int64_t Millis(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t Nanos(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct SharedLimitBackend::Counts {
    bool allowed = false;
    std::int64_t window_index = 0;
    std::int64_t previous = 0;
    std::int64_t current = 0;  // after this request
    std::int64_t elapsed = 0;  // ms into the current window
};

namespace {

// limit - estimate, times window (exact), as in limiter.cpp.
Wide Headroom(std::int64_t limit, std::int64_t previous, std::int64_t current, std::int64_t elapsed,
              std::int64_t window) {
    return Wide(limit) * window - Wide(previous) * (window - elapsed) - Wide(current) * window;
}

// Milliseconds until `cost` fits (refused request, cost <= limit); limiter.cpp's WaitNanos.
std::int64_t WaitMillis(std::int64_t limit, std::int64_t previous, std::int64_t current,
                        std::int64_t cost, std::int64_t elapsed, std::int64_t window) {
    const std::int64_t room_now = limit - current - cost;
    if (room_now >= 0 && previous > 0) {
        const Wide t = Wide(window) - Wide(room_now) * window / previous;
        return static_cast<std::int64_t>(t) - elapsed;
    }
    const std::int64_t room_next = limit - cost;
    std::int64_t t_next = 0;
    if (current > 0) {
        t_next = std::max<std::int64_t>(
            0, static_cast<std::int64_t>(Wide(window) - Wide(room_next) * window / current));
    }
    return (window - elapsed) + t_next;
}

}  // namespace

const std::string& SharedLimitBackend::Script() {
    static const std::string script(kScript);
    return script;
}

const std::string& SharedLimitBackend::ScriptSha() {
    static const std::string sha = Sha1Hex(Script());
    return sha;
}

SharedLimitBackend::SharedLimitBackend(SharedLimiterOptions options, redis::RedisClient& client,
                                       const common::Clock& clock, metrics::Registry& registry)
    : options_(std::move(options)),
      client_(client),
      clock_(clock),
      fallback_total_(registry
                          .AddCounter("aragora_rate_limit_redis_fallback_total",
                                      "Rate-limit decisions taken by the in-memory limiter "
                                      "because Redis was unavailable or too slow.")
                          .WithLabels({})),
      degraded_gauge_(registry
                          .AddGauge("aragora_rate_limit_backend_degraded",
                                    "1 while the Redis rate limiter is degraded to in-memory "
                                    "(per-instance) limits, else 0.")
                          .WithLabels({})),
      log_(common::GetLogger("aragora.ratelimit")) {
    if (options_.timeout.count() <= 0) options_.timeout = std::chrono::milliseconds(75);
    if (options_.probe_interval.count() < 0) options_.probe_interval = {};
}

SharedLimitBackend::~SharedLimitBackend() = default;

SharedLimiterStats SharedLimitBackend::Stats() const {
    return SharedLimiterStats{redis_decisions_.load(), fallback_decisions_.load(), outages_.load(),
                              script_loads_.load()};
}

LimitDecision SharedLimitBackend::Fallback(RateLimiter& local, const std::string& key, int cost,
                                           const std::string& why) {
    fallback_decisions_.fetch_add(1, std::memory_order_relaxed);
    fallback_total_.Inc();
    if (!degraded_.exchange(true)) {
        const std::int64_t now = Nanos(clock_.SteadyNow());
        degraded_since_ns_ = now;
        next_probe_ns_ =
            now +
            std::chrono::duration_cast<std::chrono::nanoseconds>(options_.probe_interval).count();
        outages_.fetch_add(1, std::memory_order_relaxed);
        degraded_gauge_.Set(1);
        log_->warn(
            "rate limiter degraded: {}; falling back to in-memory limits (per instance) until "
            "redis answers again",
            why.empty() ? std::string("redis unavailable") : why);
    }
    return local.Check(key, cost);
}

void SharedLimitBackend::Recovered() {
    if (!degraded_.exchange(false)) return;
    degraded_gauge_.Set(0);
    const double seconds =
        static_cast<double>(Nanos(clock_.SteadyNow()) - degraded_since_ns_.load()) / 1e9;
    log_->info(
        "rate limiter back on redis: shared limits restored after {:.1f} s degraded ({} "
        "in-memory decisions so far)",
        seconds, fallback_decisions_.load());
}

asio::awaitable<Result<SharedLimitBackend::Counts>> SharedLimitBackend::RunScript(
    std::string redis_key, std::int64_t limit, std::int64_t window_ms, std::int64_t now_ms,
    std::int64_t cost) {
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    std::vector<std::string> args{"EVALSHA",
                                  ScriptSha(),
                                  "1",
                                  std::move(redis_key),
                                  std::to_string(limit),
                                  std::to_string(window_ms),
                                  std::to_string(now_ms),
                                  std::to_string(cost)};
    std::vector<std::string> retry = args;
    auto reply = co_await client_.Command(std::move(args), options_.timeout);
    if (!reply) co_return reply.error();
    if (reply->IsError() && reply->str.rfind("NOSCRIPT", 0) == 0) {
        script_loads_.fetch_add(1, std::memory_order_relaxed);
        retry[0] = "EVAL";
        retry[1] = Script();
        const auto left = std::max(std::chrono::milliseconds(1),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(
                                       deadline - std::chrono::steady_clock::now()));
        reply = co_await client_.Command(std::move(retry), left);
        if (!reply) co_return reply.error();
    }
    if (reply->IsError()) {
        co_return MakeError(ErrorCode::kUnavailable,
                            "redis refused the rate-limit script: " + reply->str);
    }
    const auto& e = reply->elements;
    if (!reply->IsArray() || e.size() != 5 ||
        !std::all_of(e.begin(), e.end(), [](const redis::Reply& r) { return r.IsInteger(); })) {
        co_return MakeError(ErrorCode::kUnavailable,
                            "unexpected rate-limit script reply: " + redis::Describe(*reply));
    }
    Counts counts;
    counts.allowed = e[0].integer == 1;
    counts.window_index = e[1].integer;
    counts.previous = e[2].integer;
    counts.current = e[3].integer;
    counts.elapsed = e[4].integer;
    co_return counts;
}

asio::awaitable<LimitDecision> SharedLimitBackend::Check(RateLimiter& local, std::string bucket,
                                                         std::string key, int cost) {
    const std::int64_t limit = local.options().limit_per_minute;
    if (limit <= 0) co_return local.Check(key, cost);
    bool probe = false;
    if (degraded_.load()) {
        // One request per probe interval tries Redis; the others stay in memory.
        if (Nanos(clock_.SteadyNow()) < next_probe_ns_.load() || probing_.exchange(true)) {
            co_return Fallback(local, key, cost, {});
        }
        probe = true;
    }
    auto end_probe = [&] {
        if (!probe) return;
        next_probe_ns_ =
            Nanos(clock_.SteadyNow()) +
            std::chrono::duration_cast<std::chrono::nanoseconds>(options_.probe_interval).count();
        probing_ = false;
    };
    if (!client_.connected()) {
        end_probe();
        co_return Fallback(local, key, cost, "redis unavailable: " + client_.LastError());
    }
    const std::int64_t units = std::max(cost, 0);
    const std::int64_t window_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(local.options().window).count();
    const std::int64_t now_ms = Millis(clock_.SystemNow());
    std::string redis_key = options_.key_prefix + bucket + ":" + key;
    auto counts = co_await RunScript(std::move(redis_key), limit, window_ms, now_ms, units);
    end_probe();
    if (!counts) co_return Fallback(local, key, cost, counts.error().message);
    Recovered();
    redis_decisions_.fetch_add(1, std::memory_order_relaxed);

    const Counts& c = *counts;
    LimitDecision d;
    d.allowed = c.allowed;
    d.limit = static_cast<int>(limit);
    d.reset_epoch = CeilDiv((c.window_index + 1) * window_ms, kMillisPerSecond);
    const Wide headroom = Headroom(limit, c.previous, c.current, c.elapsed, window_ms);
    d.remaining = headroom <= 0 ? 0 : ClampToInt(headroom / window_ms);
    if (!d.allowed) {
        const std::int64_t wait =
            units > limit ? window_ms
                          : WaitMillis(limit, c.previous, c.current, units, c.elapsed, window_ms);
        d.retry_after_seconds =
            ClampToInt(std::max<std::int64_t>(1, CeilDiv(wait, kMillisPerSecond)));
    }
    co_return d;
}

}  // namespace aragora::ratelimit
