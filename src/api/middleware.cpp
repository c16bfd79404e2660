// The middleware chain, written once (STYLE.md): correlation id → access log + metrics
// timer → exception backstop → open-mode guard → CORS → route (404 / 405) → rate limit →
// auth → handler.

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "api/api.hpp"
#include "api/http_util.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;

constexpr std::string_view kUnmatched = "unmatched";
constexpr std::size_t kMaxPathInMessage = 200;

struct Middleware {
    const Router& router;
    metrics::Family<metrics::Counter>& requests;
    metrics::Family<metrics::Histogram>& latency;
    metrics::Family<metrics::Counter>& rate_limit_hits;
    metrics::Family<metrics::Counter>& auth_failures;
    std::shared_ptr<spdlog::logger> log;
    auth::AuthService* auth;
    RequestLimits* limits;
    CorsPolicy cors;
    OpenModeGuard open_mode;
    ErrorLog* errors;
    trace::Tracer* tracer;
};

constexpr std::string_view kCorsAllowHeaders =
    "Authorization, Content-Type, Accept, X-Correlation-ID, X-Request-ID";
constexpr std::string_view kCorsExposeHeaders =
    "X-Correlation-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-RateLimit-Reset";

void AddRateHeaders(net::HttpResponse& res, const ratelimit::LimitDecision& d) {
    res.AddHeader("X-RateLimit-Limit", std::to_string(d.limit));
    res.AddHeader("X-RateLimit-Remaining", std::to_string(d.remaining));
    res.AddHeader("X-RateLimit-Reset", std::to_string(d.reset_epoch));
}

net::HttpResponse RateLimited(const RequestLimits::Outcome& o, const std::string& correlation_id) {
    const int retry = std::max(1, o.decision.retry_after_seconds);
    net::HttpResponse res = net::MakeErrorResponse(
        429, "rate_limit_exceeded",
        "rate limit exceeded (" + o.bucket + ": " + std::to_string(o.decision.limit) +
            " requests per minute); retry in " + std::to_string(retry) + " s",
        correlation_id, retry);
    AddRateHeaders(res, o.decision);
    return res;
}

net::HttpResponse AuthRequired(std::string message, const std::string& correlation_id) {
    net::HttpResponse res =
        ErrorResponse(ErrorCode::kAuthRequired, std::move(message), correlation_id);
    res.AddHeader("WWW-Authenticate", "Bearer realm=\"aragora\"");
    return res;
}

auth::Permission PermissionFor(AuthLevel level) {
    switch (level) {
        case AuthLevel::kMember:
            return auth::Permission::kDebateCreate;
        case AuthLevel::kAdmin:
            return auth::Permission::kAdmin;
        case AuthLevel::kOwner:
            return auth::Permission::kOwner;
        default:
            return auth::Permission::kRead;
    }
}

bool HasHeader(const net::HttpResponse& res, std::string_view name) {
    for (const auto& [key, value] : res.headers) {
        if (common::IEquals(key, name)) return true;
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

// The "error" member of a flat error body ("" when there is none).
std::string ErrorMessageOf(const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return {};
    const json::value* e = v.as_object().if_contains("error");
    if (e == nullptr || !e->is_string()) return {};
    return std::string(e->as_string());
}

asio::awaitable<net::HttpResponse> Dispatch(const Middleware& m, const net::HttpRequest& request,
                                            const std::string& correlation_id,
                                            std::string& route_label,
                                            const trace::Context& trace_context) {
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
    const Route& route = *match.route;
    RequestContext ctx{request, correlation_id, std::move(match.params), route.path};
    ctx.trace = trace_context;
    ctx.client_ip = m.limits != nullptr ? m.limits->ClientIp(request) : request.remote_address;

    // Rate limit (per client IP, before auth: a flood of bad tokens is limited too).
    std::optional<ratelimit::LimitDecision> shown;
    if (m.limits != nullptr && route.rate != RateClass::kNone) {
        RequestLimits::Outcome o;
        if (m.limits->shared()) {
            o = co_await m.limits->CheckIpShared(route.rate, ctx.client_ip);
        } else {
            o = m.limits->CheckIp(route.rate, ctx.client_ip);
        }
        if (o.limited) {
            m.rate_limit_hits.WithLabels({o.bucket}).Inc();
            m.log->warn(
                "rate_limit exceeded bucket={} client_ip={} limit={} method={} route={} "
                "retry_after={} correlation_id={}",
                o.bucket, ctx.client_ip, o.decision.limit, request.method, route.path,
                o.decision.retry_after_seconds, correlation_id);
            co_return RateLimited(o, correlation_id);
        }
        if (!o.bucket.empty()) shown = o.decision;
    }

    // Auth. Routing came first (API.md): an unknown path is 404 with or without credentials.
    if (route.auth != AuthLevel::kPublic && !m.auth->open()) {
        const std::string authorization = request.Header("authorization");
        auto token = auth::AuthService::BearerToken(authorization);
        if (!token) {
            m.auth_failures.WithLabels({"missing"}).Inc();
            co_return AuthRequired(
                "missing credentials: send Authorization: Bearer <token> (the service token, a "
                "JWT from /api/v1/auth/login, or an API key)",
                correlation_id);
        }
        std::string token_text(*token);
        auto principal = co_await m.auth->Authenticate(std::move(token_text));
        if (!principal) {
            if (principal.error().code != ErrorCode::kAuthRequired) {
                co_return ServiceErrorResponse(principal.error(), correlation_id);
            }
            m.auth_failures.WithLabels({"invalid"}).Inc();
            co_return AuthRequired(principal.error().message, correlation_id);
        }
        ctx.principal = std::move(*principal);
        const auth::Permission needed = PermissionFor(route.auth);
        if (!ctx.principal.Allows(needed)) {
            m.auth_failures.WithLabels({"forbidden"}).Inc();
            co_return ErrorResponse(ErrorCode::kForbidden,
                                    "role " + std::string(auth::RoleName(ctx.principal.role)) +
                                        " may not " + request.method + " " + route.path +
                                        " (needs " + std::string(auth::PermissionName(needed)) +
                                        ")",
                                    correlation_id);
        }
        if (m.limits != nullptr && route.rate != RateClass::kNone) {
            RequestLimits::Outcome o;
            if (m.limits->shared()) {
                std::string rate_key = ctx.principal.RateKey();
                o = co_await m.limits->CheckPrincipalShared(std::move(rate_key));
            } else {
                o = m.limits->CheckPrincipal(ctx.principal.RateKey());
            }
            if (o.limited) {
                m.rate_limit_hits.WithLabels({o.bucket}).Inc();
                m.log->warn(
                    "rate_limit exceeded bucket=principal principal={} limit={} "
                    "route={} correlation_id={}",
                    ctx.principal.RateKey(), o.decision.limit, route.path, correlation_id);
                co_return RateLimited(o, correlation_id);
            }
        }
    }
    net::HttpResponse res = co_await route.handler(ctx);
    if (shown) AddRateHeaders(res, *shown);
    if ((route.auth == AuthLevel::kAdmin || route.auth == AuthLevel::kOwner) &&
        request.method != "GET" && m.auth != nullptr && res.status < 400) {
        json::object details{
            {"method", request.method}, {"path", Shorten(request.path)}, {"status", res.status}};
        auth::RequestOrigin origin{ctx.client_ip, correlation_id};
        std::string action = "admin_action";
        std::string target = route.path;
        std::string details_text = json::serialize(details);
        co_await m.auth->Audit(ctx.principal, std::move(action), std::move(target),
                               std::move(details_text), origin);
    }
    co_return res;
}

// A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): answered
// before routing, for allowed origins only.
std::optional<net::HttpResponse> Preflight(const Middleware& m, const net::HttpRequest& request,
                                           const std::string& correlation_id) {
    if (request.method != "OPTIONS" || !request.HasHeader("origin") ||
        !request.HasHeader("access-control-request-method")) {
        return std::nullopt;
    }
    const std::string origin = request.Header("origin");
    if (!m.cors.Allows(origin)) {
        return ErrorResponse(ErrorCode::kForbidden,
                             "origin not allowed (ARAGORA_ALLOWED_ORIGINS): " + Shorten(origin),
                             correlation_id);
    }
    net::HttpResponse res;
    res.status = 204;
    res.AddHeader("Access-Control-Allow-Origin", origin);
    res.AddHeader("Vary", "Origin");
    res.AddHeader("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    res.AddHeader("Access-Control-Allow-Headers", std::string(kCorsAllowHeaders));
    res.AddHeader("Access-Control-Max-Age", "600");
    return res;
}

// The open development mode's 403 for requests a web page could have made (security.hpp
// OpenModeGuard); nullopt otherwise. `m.auth` is never null (MakeHttpHandler refuses it).
std::optional<net::HttpResponse> OpenModeRefusal(const Middleware& m,
                                                 const net::HttpRequest& request,
                                                 const std::string& correlation_id) {
    if (!m.auth->open()) return std::nullopt;
    auto refusal = m.open_mode.Refusal(request, m.cors);
    if (!refusal) return std::nullopt;
    m.auth_failures.WithLabels({"open_mode"}).Inc();
    m.log->warn("open_mode refused method={} path={} client_ip={} correlation_id={}: {}",
                request.method, Shorten(RawPath(request)), request.remote_address, correlation_id,
                *refusal);
    return ErrorResponse(ErrorCode::kForbidden, std::move(*refusal), correlation_id);
}

// The request's server span: a child of the caller's `traceparent` when it sent a valid
// one, else the root of a new trace. Named and given its status by EndRequestSpan.
trace::Span StartRequestSpan(const Middleware& m, const net::HttpRequest& request,
                             const std::string& correlation_id) {
    if (m.tracer == nullptr) return trace::Span();
    const auto parent = trace::ParseTraceparent(request.Header("traceparent"));
    trace::Span span = m.tracer->Start(request.method, trace::SpanKind::kServer,
                                       parent.value_or(trace::SpanContext{}));
    span.SetAttribute("http.request.method", request.method);
    span.SetAttribute("url.path", Shorten(RawPath(request)));
    span.SetAttribute("aragora.correlation_id", correlation_id);
    return span;
}

void EndRequestSpan(trace::Span& span, const net::HttpRequest& request,
                    const std::string& route_label, const net::HttpResponse& response) {
    if (!span.Recording()) return;
    if (route_label != kUnmatched) {
        span.SetName(request.method + " " + route_label);
        span.SetAttribute("http.route", route_label);
    }
    span.SetAttribute("http.response.status_code", response.status);
    if (response.status >= 500) {
        span.SetStatus(trace::StatusCode::kError, "HTTP " + std::to_string(response.status));
    }
    span.End();
}

asio::awaitable<net::HttpResponse> Handle(std::shared_ptr<const Middleware> m,
                                          net::HttpRequest request) {
    const std::string correlation_id = net::CorrelationIdOf(request);
    const auto start = std::chrono::steady_clock::now();
    trace::Span span = StartRequestSpan(*m, request, correlation_id);
    const trace::Context trace_context = span.ChildContext();
    std::string route_label(kUnmatched);
    net::HttpResponse response;
    std::string failure;
    try {
        auto refused = OpenModeRefusal(*m, request, correlation_id);
        auto preflight = refused ? std::nullopt : Preflight(*m, request, correlation_id);
        if (refused) {
            response = std::move(*refused);
        } else if (preflight) {
            response = std::move(*preflight);
        } else {
            response = co_await Dispatch(*m, request, correlation_id, route_label, trace_context);
        }
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
    if (request.method != "OPTIONS" && request.HasHeader("origin")) {
        const std::string origin = request.Header("origin");
        if (m->cors.Allows(origin)) {
            response.AddHeader("Access-Control-Allow-Origin", origin);
            response.AddHeader("Vary", "Origin");
            response.AddHeader("Access-Control-Expose-Headers", std::string(kCorsExposeHeaders));
        }
    }
    if (response.status >= 500 && m->errors != nullptr) {
        ErrorLog::Entry e;
        e.timestamp = common::FormatIso8601(std::chrono::system_clock::now());
        e.status = response.status;
        e.code = failure.empty() ? "http_" + std::to_string(response.status) : "internal_error";
        e.message = failure.empty() ? Shorten(ErrorMessageOf(response.body)) : Shorten(failure);
        e.method = request.method;
        e.route = route_label;
        e.correlation_id = correlation_id;
        e.query = request.query;
        e.headers = request.headers;
        m->errors->Record(std::move(e));
    }

    const auto elapsed = std::chrono::steady_clock::now() - start;
    const std::string status = std::to_string(response.status);
    m->requests.WithLabels({status, route_label}).Inc();
    m->latency.WithLabels({route_label}).ObserveDuration(elapsed);
    const std::string trace_id = span.TraceIdHex();
    EndRequestSpan(span, request, route_label, response);
    m->log->info(
        "request method={} path={} route={} status={} duration_ms={} correlation_id={}{}{}",
        request.method, RawPath(request), route_label, status,
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), correlation_id,
        trace_id.empty() ? "" : " trace_id=", trace_id);
    co_return response;
}

}  // namespace

net::HttpHandler MakeHttpHandler(const Router& router, ApiDeps& deps) {
    if (deps.auth == nullptr) {
        // Fail closed: a missing auth service must not read as "every route open".
        throw std::invalid_argument(
            "MakeHttpHandler: ApiDeps::auth is required (open mode is an AuthService "
            "configured open)");
    }
    // Bounds: one series per route template (aliases included) and status code seen.
    auto& requests = deps.metrics.AddCounter(
        "aragora_requests_total", "HTTP requests by status code and route template.",
        {"status", "handler"}, metrics::FamilyOptions{.max_series = 4096});
    auto& latency = deps.metrics.AddHistogram(
        "aragora_request_latency_seconds", "HTTP request latency by route template.", {"handler"},
        metrics::DefaultLatencyBuckets(), metrics::FamilyOptions{.max_series = 1024});
    auto& hits = deps.metrics.AddCounter("aragora_rate_limit_hits_total",
                                         "Requests refused with 429 by rate-limit bucket.",
                                         {"bucket"}, metrics::FamilyOptions{.max_series = 16});
    auto& auth_failures = deps.metrics.AddCounter(
        "aragora_auth_failures_total",
        "Requests refused by auth: missing or invalid credentials, a role too low, or (open "
        "development mode) a foreign Host or cross-site Origin.",
        {"reason"}, metrics::FamilyOptions{.max_series = 8});
    auto m = std::make_shared<const Middleware>(
        Middleware{router, requests, latency, hits, auth_failures, common::GetLogger("aragora.api"),
                   deps.auth, deps.limits, deps.cors, deps.open_mode, deps.errors, deps.tracer});
    return [m](net::HttpRequest request) { return Handle(m, std::move(request)); };
}

}  // namespace aragora::api
