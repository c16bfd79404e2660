// The middleware chain, written once (STYLE.md): correlation id → access log + metrics
#include "common/crypto.hpp"
// timer → exception backstop → route (404 / 405) → [rate limit → auth → deadline, when
// those land] → handler.

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "api/api.hpp"
#include "api/http_util.hpp"
#include "common/logging.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;

constexpr std::string_view kUnmatched = "unmatched";
constexpr std::size_t kMaxPathInMessage = 200;

struct Middleware {
    const Router& router;
    metrics::Family<metrics::Counter>& requests;
    metrics::Family<metrics::Histogram>& latency;
    std::shared_ptr<spdlog::logger> log;
    AccessPolicy access;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

bool HasHeader(const net::HttpResponse& res, std::string_view name) {
    for (const auto& [key, value] : res.headers) {
        if (EqualsIgnoreCase(key, name)) return true;
    }
    return false;
}

// The request's path as sent (not decoded, no query): what the access log shows, so a
// decoded space or '=' cannot break its key=value form.
std::string_view RawPath(const net::HttpRequest& request) {
    std::string_view target = request.target;
    target = target.substr(0, target.find('?'));
    return target.empty() ? std::string_view(request.path) : target;
}

std::string Shorten(std::string_view s) {
    if (s.size() <= kMaxPathInMessage) return std::string(s);
    return std::string(s.substr(0, kMaxPathInMessage)) + "...";
}

asio::awaitable<net::HttpResponse> Dispatch(const Middleware& m, const net::HttpRequest& request,
                                            const std::string& correlation_id,
                                            std::string& route_label) {
    // HEAD is answered as GET; the server drops the body.
    const std::string method = request.method == "HEAD" ? std::string("GET") : request.method;
    Router::Match match = m.router.Find(method, request.path);
    if (match.route == nullptr) {
        if (match.allowed_methods.empty()) {
            co_return ErrorResponse(
                ErrorCode::kNotFound,
                "no such endpoint: " + request.method + " " + Shorten(request.path),
                correlation_id);
        }
        std::string allow;
        for (const std::string& allowed : match.allowed_methods) {
            if (!allow.empty()) allow += ", ";
            allow += allowed;
            if (allowed == "GET") allow += ", HEAD";
        }
        net::HttpResponse res =
            net::MakeErrorResponse(405, "method_not_allowed",
                                   "method " + Shorten(request.method) + " is not allowed on " +
                                       Shorten(request.path) + " (allowed: " + allow + ")",
                                   correlation_id);
        res.AddHeader("Allow", allow);
        co_return res;
    }
    route_label = match.route->path;
    // Routing comes before auth (API.md): an unknown path is 404 with or without credentials.
    if (match.route->auth != AuthLevel::kPublic && !m.access.open &&
        !m.access.Accepts(request.Header("authorization"))) {
        net::HttpResponse res = ErrorResponse(
            ErrorCode::kAuthRequired,
            m.access.api_token.empty()
                ? "this route needs credentials and none is configured on the server yet: set "
                  "ARAGORA_API_TOKEN (or run with ARAGORA_ENV=development for a local trial)"
                : "missing or invalid credentials: send Authorization: Bearer <ARAGORA_API_TOKEN>",
            correlation_id);
        res.AddHeader("WWW-Authenticate", "Bearer realm=\"aragora\"");
        co_return res;
    }
    RequestContext ctx{request, correlation_id, std::move(match.params), match.route->path};
    co_return co_await match.route->handler(ctx);
}

asio::awaitable<net::HttpResponse> Handle(std::shared_ptr<const Middleware> m,
                                          net::HttpRequest request) {
    const std::string correlation_id = net::CorrelationIdOf(request);
    const auto start = std::chrono::steady_clock::now();
    std::string route_label(kUnmatched);
    net::HttpResponse response;
    std::string failure;
    try {
        response = co_await Dispatch(*m, request, correlation_id, route_label);
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "non-standard exception";
    }
    if (!failure.empty()) {
        m->log->error("unhandled exception method={} path={} route={} correlation_id={} error={}",
                      request.method, RawPath(request), route_label, correlation_id, failure);
        response =
            ErrorResponse(ErrorCode::kInternal,
                          "internal error (correlation id " + correlation_id + ")", correlation_id);
    }
    if (!HasHeader(response, "X-Correlation-ID")) {
        response.AddHeader("X-Correlation-ID", correlation_id);
    }

    const auto elapsed = std::chrono::steady_clock::now() - start;
    const std::string status = std::to_string(response.status);
    m->requests.WithLabels({status, route_label}).Inc();
    m->latency.WithLabels({route_label}).ObserveDuration(elapsed);
    m->log->info("request method={} path={} route={} status={} duration_ms={} correlation_id={}",
                 request.method, RawPath(request), route_label, status,
                 std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
                 correlation_id);
    co_return response;
}

}  // namespace

bool AccessPolicy::AcceptsToken(std::string_view token) const {
    return !api_token.empty() && common::ConstantTimeEqual(token, api_token);
}

bool AccessPolicy::Accepts(std::string_view authorization) const {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() <= kBearer.size()) return false;
    if (!EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) return false;
    return AcceptsToken(authorization.substr(kBearer.size()));
}

net::HttpHandler MakeHttpHandler(const Router& router, ApiDeps& deps) {
    // Bounds: one series per route template (aliases included) and status code seen.
    auto& requests = deps.metrics.AddCounter(
        "aragora_requests_total", "HTTP requests by status code and route template.",
        {"status", "handler"}, metrics::FamilyOptions{.max_series = 4096});
    auto& latency = deps.metrics.AddHistogram(
        "aragora_request_latency_seconds", "HTTP request latency by route template.", {"handler"},
        metrics::DefaultLatencyBuckets(), metrics::FamilyOptions{.max_series = 1024});
    auto m = std::make_shared<const Middleware>(
        Middleware{router, requests, latency, common::GetLogger("aragora.api"), deps.access});
    return [m](net::HttpRequest request) { return Handle(m, std::move(request)); };
}

}  // namespace aragora::api
