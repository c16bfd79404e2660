#include "api/security.hpp"

#include <boost/json.hpp>

#include "common/strings.hpp"
#include "ratelimit/client_ip.hpp"
#include "ratelimit/redis_limiter.hpp"

namespace aragora::api {
namespace {

namespace json = boost::json;

ratelimit::RateLimiter::Options LimiterOptions(int per_minute, std::size_t max_keys) {
    ratelimit::RateLimiter::Options o;
    o.limit_per_minute = per_minute;
    o.max_keys = max_keys;
    return o;
}

json::object BucketJson(const ratelimit::RateLimiter& limiter, const std::string& key) {
    json::object o;
    const int limit = limiter.options().limit_per_minute;
    o["limit"] = limit;
    o["window_seconds"] = limiter.options().window.count();
    if (auto snap = limiter.Peek(key)) {
        o["remaining"] = snap->remaining;
        o["reset"] = snap->reset_epoch;
    } else {
        o["remaining"] = limit;
        o["reset"] = nullptr;
    }
    return o;
}

json::object StatsOf(const ratelimit::RateLimiter& limiter) {
    auto s = limiter.Stats();
    return json::object{{"limit_per_minute", limiter.options().limit_per_minute},
                        {"tracked_keys", s.keys},
                        {"max_keys", limiter.options().max_keys},
                        {"allowed_total", s.allowed},
                        {"limited_total", s.refused},
                        {"evicted_total", s.evicted}};
}

constexpr std::size_t kMaxHeaderInMessage = 100;

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && common::IEquals(s.substr(0, prefix.size()), prefix);
}

bool IsPort(std::string_view s) {
    if (s.empty() || s.size() > 5) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

// A header value from an unauthenticated request, quoted in a message: printable ASCII
// only, bounded.
std::string Quoted(std::string_view value) {
    std::string out = "'";
    for (char c : value.substr(0, kMaxHeaderInMessage)) {
        out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
    }
    if (value.size() > kMaxHeaderInMessage) out += "...";
    out += "'";
    return out;
}

bool IsLoopbackAddress(const ratelimit::IpAddress& ip) {
    if (ip.v4) return ip.bytes[12] == 127;  // 127.0.0.0/8 (stored IPv4-mapped)
    for (std::size_t i = 0; i + 1 < ip.bytes.size(); ++i) {
        if (ip.bytes[i] != 0) return false;
    }
    return ip.bytes[15] == 1;
}

bool IsStateChanging(std::string_view method) {
    return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

constexpr std::string_view kOpenMode = "open development mode (no credential configured): ";

}  // namespace

bool IsLoopbackHost(std::string_view host) {
    std::string_view name = host;
    if (!host.empty() && host.front() == '[') {
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos) return false;
        const std::string_view rest = host.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !IsPort(rest.substr(1)))) return false;
        name = host.substr(1, close - 1);
        if (name.find('[') != std::string_view::npos) return false;
    } else {
        const std::size_t colon = host.find(':');
        if (colon != std::string_view::npos) {
            if (!IsPort(host.substr(colon + 1))) return false;
            name = host.substr(0, colon);
        }
        if (common::IEquals(name, "localhost")) return true;
    }
    // IpAddress::Parse trims blanks and takes brackets; a Host field has neither here.
    if (name.empty() || name.find_first_of(" \t[]") != std::string_view::npos) return false;
    auto ip = ratelimit::IpAddress::Parse(name);
    return ip && IsLoopbackAddress(*ip);
}

bool IsLoopbackOrigin(std::string_view origin) {
    std::string_view rest;
    if (StartsWithIgnoreCase(origin, "http://")) {
        rest = origin.substr(7);
    } else if (StartsWithIgnoreCase(origin, "https://")) {
        rest = origin.substr(8);
    } else {
        return false;  // "null" (sandboxed frames, file: pages) and other schemes
    }
    return rest.find('/') == std::string_view::npos && IsLoopbackHost(rest);
}

std::optional<std::string> OpenModeGuard::Refusal(const net::HttpRequest& request,
                                                  const CorsPolicy& cors) const {
    if (loopback_hosts_only) {
        for (const auto& [name, value] : request.headers) {
            if (name == "host" && !IsLoopbackHost(value)) {
                return std::string(kOpenMode) +
                       "only loopback Host names are served (localhost, 127.0.0.1, [::1]), not " +
                       Quoted(value) +
                       "; configure ARAGORA_API_TOKEN (or users) to serve other names";
            }
        }
    }
    const bool upgrade = request.HasHeader("upgrade");
    if (!upgrade && !IsStateChanging(request.method)) return std::nullopt;
    const std::string_view what = upgrade ? "WebSocket upgrades" : "state-changing requests";
    bool has_origin = false;
    for (const auto& [name, value] : request.headers) {
        if (name != "origin") continue;
        has_origin = true;
        if (!IsLoopbackOrigin(value) && !cors.Allows(value)) {
            return std::string(kOpenMode) + "cross-site " + std::string(what) +
                   " are refused: Origin " + Quoted(value) +
                   " is not loopback (nor listed in ARAGORA_ALLOWED_ORIGINS)";
        }
    }
    if (!has_origin && common::IEquals(request.Header("sec-fetch-site"), "cross-site")) {
        return std::string(kOpenMode) + "cross-site " + std::string(what) +
               " are refused (Sec-Fetch-Site: cross-site)";
    }
    return std::nullopt;
}

RequestLimits::RequestLimits(RateLimitConfig config, const common::Clock& clock)
    : config_(std::move(config)),
      ip_(LimiterOptions(config_.per_ip, config_.max_keys), clock),
      debate_(LimiterOptions(config_.debate_create, config_.max_keys), clock),
      auth_(LimiterOptions(config_.auth, config_.max_keys), clock),
      principal_(LimiterOptions(config_.per_principal, config_.max_keys), clock) {}

std::string RequestLimits::ClientIp(const net::HttpRequest& request) const {
    return ratelimit::ClientIp(request.remote_address, request.Header("x-forwarded-for"),
                               request.Header("x-real-ip"), config_.trusted_proxies);
}

RequestLimits::Outcome RequestLimits::CheckIp(RateClass rate_class, const std::string& client_ip) {
    Outcome out;
    if (config_.disabled || rate_class == RateClass::kNone) return out;
    if (config_.whitelist.Contains(client_ip)) return out;
    // The class's own bucket first: a refused debate creation does not also use up the
    // general allowance.
    ratelimit::RateLimiter* special = nullptr;
    if (rate_class == RateClass::kDebateCreate) {
        special = &debate_;
        out.bucket = "debate_create";
    } else if (rate_class == RateClass::kAuth) {
        special = &auth_;
        out.bucket = "auth";
    }
    if (special != nullptr) {
        out.decision = special->Check(client_ip);
        if (!out.decision.allowed) {
            out.limited = true;
            return out;
        }
    }
    auto general = ip_.Check(client_ip);
    if (!general.allowed || special == nullptr || general.remaining < out.decision.remaining) {
        out.decision = general;
        out.bucket = "ip";
    }
    out.limited = !general.allowed;
    return out;
}

// CheckIp with the counts in Redis (same order and bucket choice).
boost::asio::awaitable<RequestLimits::Outcome> RequestLimits::CheckIpShared(RateClass rate_class,
                                                                            std::string client_ip) {
    Outcome out;
    if (config_.disabled || rate_class == RateClass::kNone) co_return out;
    if (config_.whitelist.Contains(client_ip)) co_return out;
    ratelimit::RateLimiter* special = nullptr;
    if (rate_class == RateClass::kDebateCreate) {
        special = &debate_;
        out.bucket = "debate_create";
    } else if (rate_class == RateClass::kAuth) {
        special = &auth_;
        out.bucket = "auth";
    }
    if (special != nullptr) {
        out.decision = co_await shared_->Check(*special, out.bucket, client_ip);
        if (!out.decision.allowed) {
            out.limited = true;
            co_return out;
        }
    }
    auto general = co_await shared_->Check(ip_, "ip", client_ip);
    if (!general.allowed || special == nullptr || general.remaining < out.decision.remaining) {
        out.decision = general;
        out.bucket = "ip";
    }
    out.limited = !general.allowed;
    co_return out;
}

boost::asio::awaitable<RequestLimits::Outcome> RequestLimits::CheckPrincipalShared(
    std::string principal_key) {
    Outcome out;
    if (config_.disabled || config_.per_principal <= 0 || principal_key.empty()) co_return out;
    out.bucket = "principal";
    out.decision = co_await shared_->Check(principal_, "principal", principal_key);
    out.limited = !out.decision.allowed;
    co_return out;
}

RequestLimits::Outcome RequestLimits::CheckPrincipal(const std::string& principal_key) {
    Outcome out;
    if (config_.disabled || config_.per_principal <= 0 || principal_key.empty()) return out;
    out.bucket = "principal";
    out.decision = principal_.Check(principal_key);
    out.limited = !out.decision.allowed;
    return out;
}

json::object RequestLimits::ConfigJson() const {
    json::object limits{{"default", config_.per_ip},
                        {"debate_create", config_.debate_create},
                        {"auth", config_.auth},
                        {"per_user", config_.per_principal}};
    return json::object{
        {"enabled", !config_.disabled},
        {"algorithm", "sliding_window"},
        {"window_seconds", 60},
        {"requests_per_minute", config_.per_ip},
        {"limits", std::move(limits)},
        {"whitelist", config_.whitelist.ToString()},
        {"trusted_proxies", config_.trusted_proxies.ToString()},
        {"backend", shared_ != nullptr ? "redis" : "memory"},
    };
}

json::object RequestLimits::StatusJson(const std::string& client_ip,
                                       const std::string& principal_key) const {
    json::object buckets;
    buckets["ip"] = BucketJson(ip_, client_ip);
    buckets["debate_create"] = BucketJson(debate_, client_ip);
    buckets["auth"] = BucketJson(auth_, client_ip);
    if (config_.per_principal > 0 && !principal_key.empty()) {
        buckets["principal"] = BucketJson(principal_, principal_key);
    }
    return json::object{{"enabled", !config_.disabled},
                        {"client_ip", client_ip},
                        {"whitelisted", config_.whitelist.Contains(client_ip)},
                        {"algorithm", "sliding_window"},
                        {"buckets", std::move(buckets)}};
}

json::object RequestLimits::StatsJson() const {
    return json::object{{"enabled", !config_.disabled},
                        {"backend", shared_ != nullptr ? "redis" : "memory"},
                        {"limiters", json::object{{"ip", StatsOf(ip_)},
                                                  {"debate_create", StatsOf(debate_)},
                                                  {"auth", StatsOf(auth_)},
                                                  {"principal", StatsOf(principal_)}}},
                        {"config", ConfigJson()}};
}

std::uint64_t RequestLimits::hits() const {
    return ip_.Stats().refused + debate_.Stats().refused + auth_.Stats().refused +
           principal_.Stats().refused;
}

std::size_t RequestLimits::TrackedKeys() const {
    return ip_.Stats().keys + debate_.Stats().keys + auth_.Stats().keys + principal_.Stats().keys;
}

common::Result<CorsPolicy> CorsPolicy::Parse(std::string_view text) {
    CorsPolicy p;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find(',', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view item = text.substr(pos, end - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) {
            auto scheme = item.find("://");
            bool ok = scheme != std::string_view::npos && scheme > 0 && scheme + 3 < item.size() &&
                      item.find('/', scheme + 3) == std::string_view::npos;
            if (!ok) {
                return common::MakeError(common::ErrorCode::kValidation,
                                         "ARAGORA_ALLOWED_ORIGINS: '" + std::string(item) +
                                             "' is not an origin (scheme://host[:port], no path)",
                                         "ARAGORA_ALLOWED_ORIGINS");
            }
            p.allowed.emplace_back(item);
        }
        pos = end + 1;
    }
    return p;
}

bool CorsPolicy::Allows(std::string_view origin) const {
    for (const auto& a : allowed) {
        if (a == origin) return true;
    }
    return false;
}

void ErrorLog::Record(Entry entry) {
    // /readyz answers 503 by design while an instance starts or drains (every deploy): no
    // error to report, as the availability SLO leaves it out.
    if (reporter_ != nullptr && entry.route != "/readyz") {
        common::ErrorReport r;
        r.level = entry.status == 500 ? "error" : "warning";
        r.type = entry.code;
        r.message = entry.method + " " + entry.route + " answered " + std::to_string(entry.status) +
                    ": " + entry.message;
        r.correlation_id = entry.correlation_id;
        r.tags = {{"status", std::to_string(entry.status)},
                  {"route", entry.route},
                  {"error_code", entry.code}};
        r.method = entry.method;
        r.path = entry.route;
        r.query = std::move(entry.query);
        r.headers = std::move(entry.headers);
        reporter_->Report(std::move(r));
    }
    std::lock_guard lock(mu_);
    ++total_;
    entries_.push_back(std::move(entry));
    while (entries_.size() > capacity_) entries_.pop_front();
}

json::object ErrorLog::RecentJson(std::size_t limit) const {
    std::lock_guard lock(mu_);
    json::array errors;
    for (auto it = entries_.rbegin(); it != entries_.rend() && errors.size() < limit; ++it) {
        errors.push_back(json::object{{"timestamp", it->timestamp},
                                      {"status", it->status},
                                      {"code", it->code},
                                      {"message", it->message},
                                      {"method", it->method},
                                      {"route", it->route},
                                      {"correlation_id", it->correlation_id}});
    }
    const std::size_t count = errors.size();
    return json::object{{"errors", std::move(errors)},
                        {"count", count},
                        {"total", total_},
                        {"capacity", capacity_}};
}

std::uint64_t ErrorLog::total() const {
    std::lock_guard lock(mu_);
    return total_;
}

std::size_t ErrorLog::Clear() {
    std::lock_guard lock(mu_);
    std::size_t n = entries_.size();
    entries_.clear();
    return n;
}

}  // namespace aragora::api
