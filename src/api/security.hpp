#pragma once

// The HTTP API's request guards, used by the middleware (middleware.cpp) and the rate-limit
// and admin routes: per-class rate limits, CORS, the recent-errors ring buffer.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/router.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "ratelimit/ip.hpp"
#include "ratelimit/limiter.hpp"

namespace aragora::ratelimit {
class SharedLimitBackend;
}

namespace aragora::api {

struct RateLimitConfig {
    bool disabled = false;                // ARAGORA_RATE_LIMIT_DISABLED
    int per_ip = 100;                     // ARAGORA_RATE_LIMIT: every limited route, per client IP
    int debate_create = 10;               // ARAGORA_RATE_LIMIT_DEBATE_RPM: POST debates, per IP
    int auth = 20;                        // ARAGORA_RATE_LIMIT_AUTH_RPM: login/refresh, per IP
    int per_principal = 0;                // ARAGORA_RATE_LIMIT_USER_RPM: per key/user (0 = off)
    ratelimit::CidrList whitelist;        // ARAGORA_RATE_LIMIT_WHITELIST: never limited
    ratelimit::CidrList trusted_proxies;  // ARAGORA_TRUSTED_PROXIES
    std::size_t max_keys = 100000;        // per limiter
};

// Sliding-window counters (ratelimit::RateLimiter), one per class. A route of class kNone
// is never limited; every other class counts against the per-IP limit, and debate creation
// and auth also against their own.
class RequestLimits {
public:
    RequestLimits(RateLimitConfig config, const common::Clock& clock);

    struct Outcome {
        bool limited = false;
        std::string bucket;                 // "ip", "debate_create", "auth", "principal"
        ratelimit::LimitDecision decision;  // of the tightest bucket checked
    };
    // The client address of a request (X-Forwarded-For / X-Real-IP only from a trusted
    // proxy; the rightmost untrusted address wins).
    std::string ClientIp(const net::HttpRequest& request) const;
    Outcome CheckIp(RateClass rate_class, const std::string& client_ip);
    Outcome CheckPrincipal(const std::string& principal_key);

    // ARAGORA_ENABLE_REDIS_RATE_LIMIT: the same checks counted in Redis, shared by every
    // instance; the in-memory limiters above are the fallback while Redis is unavailable
    // (see ratelimit/redis_limiter.hpp). Set once at startup, before serving; `backend`
    // must outlive this object. The middleware awaits the *Shared checks when shared().
    void SetSharedBackend(ratelimit::SharedLimitBackend* backend) { shared_ = backend; }
    bool shared() const { return shared_ != nullptr; }
    boost::asio::awaitable<Outcome> CheckIpShared(RateClass rate_class, std::string client_ip);
    boost::asio::awaitable<Outcome> CheckPrincipalShared(std::string principal_key);

    const RateLimitConfig& config() const { return config_; }
    boost::json::object ConfigJson() const;
    // The caller's buckets (GET /api/rate-limits/status).
    boost::json::object StatusJson(const std::string& client_ip,
                                   const std::string& principal_key) const;
    // Every limiter's size and counts (GET /api/system/rate-limits, admin).
    boost::json::object StatsJson() const;
    std::uint64_t hits() const;
    std::size_t TrackedKeys() const;

private:
    RateLimitConfig config_;
    ratelimit::RateLimiter ip_;
    ratelimit::RateLimiter debate_;
    ratelimit::RateLimiter auth_;
    ratelimit::RateLimiter principal_;
    ratelimit::SharedLimitBackend* shared_ = nullptr;
};

// ARAGORA_ALLOWED_ORIGINS: exact-match origins ("https://app.example.com"); nothing else is
// reflected. Empty = no cross-origin browser access.
struct CorsPolicy {
    std::vector<std::string> allowed;
    // Each entry must look like scheme://host[:port] (no path); kValidation naming it.
    static common::Result<CorsPolicy> Parse(std::string_view comma_separated);
    bool Allows(std::string_view origin) const;
};

// The recent errors (5xx answers and unhandled exceptions) for GET /api/system/errors.
class ErrorLog {
public:
    explicit ErrorLog(std::size_t capacity = 200) : capacity_(capacity) {}
    struct Entry {
        std::string timestamp;
        int status = 0;
        std::string code;
        std::string message;
        std::string method;
        std::string route;
        std::string correlation_id;
    };
    void Record(Entry entry);
    // Newest first, at most `limit`.
    boost::json::object RecentJson(std::size_t limit) const;
    std::uint64_t total() const;
    std::size_t Clear();

private:
    std::size_t capacity_;
    mutable std::mutex mu_;
    std::deque<Entry> entries_;
    std::uint64_t total_ = 0;
};

}  // namespace aragora::api
