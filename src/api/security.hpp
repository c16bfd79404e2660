#pragma once

// The HTTP API's request guards, used by the middleware (middleware.cpp) and the rate-limit
// and admin routes: per-class rate limits, CORS, the open development mode's guard against
// web pages, the recent-errors ring buffer.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/router.hpp"
#include "common/clock.hpp"
#include "common/error_reporter.hpp"
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

// The open development mode (no credential configured) answers every route without
// credentials, so no web page may reach it: a page that rebinds its own DNS name to
// 127.0.0.1 sends that name as Host, and a cross-site request (a form or `fetch` with
// Content-Type text/plain needs no preflight) or a WebSocket opened by a page sends the
// page's Origin. Checked by the middleware before anything else while auth is open, and by
// the WebSocket upgrade predicate (app/), which hands a refused upgrade to the middleware
// so that it is answered 403 instead of being upgraded.
struct OpenModeGuard {
    // Serve only loopback Host names. False only when ARAGORA_ALLOW_UNAUTHENTICATED=1 puts
    // the open mode on a non-loopback address (the operator chose to expose it); the
    // Origin checks hold either way.
    bool loopback_hosts_only = true;

    // nullopt when the request may proceed; else the message of its 403 forbidden:
    //  - a Host field that is not a loopback name (IsLoopbackHost), when loopback_hosts_only;
    //  - a state-changing request (any method but GET, HEAD and OPTIONS) or a WebSocket
    //    upgrade whose Origin is present and neither loopback (IsLoopbackOrigin) nor listed
    //    in `cors` (ARAGORA_ALLOWED_ORIGINS), or that has no Origin but says
    //    Sec-Fetch-Site: cross-site.
    // A request with neither Host nor Origin (HTTP/1.0 tools, curl, the SDKs send no
    // Origin) passes. Every Host and Origin field of the request is checked.
    std::optional<std::string> Refusal(const net::HttpRequest& request,
                                       const CorsPolicy& cors) const;
};

// A Host field naming the loopback interface: "localhost" (any case), an IPv4 address in
// 127.0.0.0/8 or "[::1]" (any spelling of ::1 in brackets), each with an optional ":port".
bool IsLoopbackHost(std::string_view host);
// An Origin "http://" or "https://" + a loopback host (as above), nothing after it.
bool IsLoopbackOrigin(std::string_view origin);

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
        // For the error reporter only (never in RecentJson): the raw query and headers,
        // scrubbed by the reporter before they leave the process.
        std::string query;
        std::vector<std::pair<std::string, std::string>> headers;
    };
    // Every recorded entry is also handed to `reporter` (Sentry) when set; null: none.
    // Set before serving.
    void SetReporter(common::ErrorReporter* reporter) { reporter_ = reporter; }
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
    common::ErrorReporter* reporter_ = nullptr;
};

}  // namespace aragora::api
