// System routes (API.md "Health and status"): probes, health, status, build, metrics,
// the OpenAPI document, and the honest 501 of features this build does not have. The
// bodies come from SystemInfo (app/); these handlers only pick the status code.

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <memory>
#include <mutex>

#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_access.hpp"
#include "common/logging.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;

constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The string member `name` of the JSON object `body`; nullopt when `body` is not an
// object or the member is missing or not a string.
std::optional<std::string> StringMemberOf(std::string_view body, std::string_view name) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return common::StringField(v.get_object(), name);
}

asio::awaitable<net::HttpResponse> Ready(net::HttpResponse response) { co_return response; }

// A handler answering 200 with a JSON body computed by `body` (before the coroutine
// starts, so no coroutine frame refers to the lambda's captures).
template <typename F>
Handler StaticJson(F body) {
    return [body](RequestContext& ctx) {
        return Ready(JsonResponse(200, body(), ctx.correlation_id));
    };
}

// 200, or 503 with Retry-After (API.md: every 503 carries one).
net::HttpResponse HealthResponse(bool ok, std::string body, std::string_view correlation_id) {
    net::HttpResponse res = JsonResponse(ok ? 200 : 503, std::move(body), correlation_id);
    if (!ok) res.AddHeader("Retry-After", std::to_string(kDefaultRetryAfterSeconds));
    return res;
}

asio::awaitable<net::HttpResponse> Readyz(ApiDeps& deps, RequestContext& ctx) {
    const std::optional<std::string> reason = deps.system.NotReadyReason();
    if (!reason) {
        // NotReadyReason covers startup, draining and the database (api.hpp); ready means
        // each of them passed.
        co_return JsonResponse(
            200, R"({"status":"ready","checks":{"startup":"ok","draining":"ok","database":"ok"}})",
            ctx.correlation_id);
    }
    co_return HealthResponse(
        false, "{\"status\":\"not_ready\",\"reason\":" + net::JsonQuote(*reason) + "}",
        ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> DeepHealth(ApiDeps& deps, RequestContext& ctx) {
    std::string body = co_await deps.system.DeepHealthJson();
    const auto overall = StringMemberOf(body, "overall");
    if (!overall) {
        common::GetLogger("aragora.api")
            ->error("deep health body has no \"overall\" string correlation_id={}",
                    ctx.correlation_id);
    }
    // "degraded" (e.g. no provider key: demo agents only) still serves: 200. Only a
    // failed dependency ("error") is 503.
    co_return HealthResponse(overall && *overall != "error", std::move(body), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> ApiHealth(ApiDeps& deps, RequestContext& ctx) {
    const std::string deep_param = ctx.request.QueryParam("deep").value_or("");
    const bool deep = deep_param == "1" || deep_param == "true";
    std::string body = co_await deps.system.HealthJson(deep);
    const auto status = StringMemberOf(body, "status");
    if (!status) {
        common::GetLogger("aragora.api")
            ->error("health body has no \"status\" string correlation_id={}", ctx.correlation_id);
    }
    const bool unhealthy = !status || *status == "unhealthy";
    co_return HealthResponse(!unhealthy, std::move(body), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> Prometheus(ApiDeps& deps, RequestContext& ctx, bool websocket) {
    if (!deps.system.MetricsEnabled()) {
        co_return ErrorResponse(ErrorCode::kNotFound,
                                "metrics are disabled (ARAGORA_METRICS_ENABLED=false)",
                                ctx.correlation_id);
    }
    net::HttpResponse res;
    res.status = 200;
    res.body = websocket ? deps.system.PrometheusWebSocketText() : deps.system.PrometheusText();
    res.content_type = std::string(kPrometheusContentType);
    res.AddHeader("X-Correlation-ID", ctx.correlation_id);
    co_return res;
}

}  // namespace

Handler HealthzHandler(ApiDeps&) {
    return StaticJson([] { return std::string(R"({"status":"ok"})"); });
}
Handler ReadyzHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Readyz(deps, ctx); };
}
Handler DeepHealthHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return DeepHealth(deps, ctx); };
}
Handler ApiHealthHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return ApiHealth(deps, ctx); };
}
Handler ThreadsHandler(ApiDeps& deps) {
    return StaticJson([&deps] { return deps.system.ThreadsJson(); });
}
Handler BuildHandler(ApiDeps& deps) {
    return StaticJson([&deps] { return deps.system.BuildJson(); });
}
Handler StatusHandler(ApiDeps& deps) {
    return StaticJson([&deps] { return deps.system.StatusJson(); });
}
Handler WsStatsHandler(ApiDeps& deps) {
    return StaticJson([&deps] { return deps.system.WsStatsJson(); });
}
Handler MetricsSummaryHandler(ApiDeps& deps) {
    return StaticJson([&deps] { return deps.system.MetricsSummaryJson(); });
}
Handler PrometheusHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Prometheus(deps, ctx, false); };
}
Handler PrometheusWebSocketHandler(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Prometheus(deps, ctx, true); };
}

Handler OpenApiHandler(const Router& router) {
    // Built on first use, once the route table is complete; the table never changes.
    auto cache = std::make_shared<std::pair<std::once_flag, std::string>>();
    return StaticJson([&router, cache] {
        std::call_once(cache->first, [&] { cache->second = OpenApiJson(router); });
        return cache->second;
    });
}

Handler NotImplementedHandler(std::string feature) {
    auto message =
        std::make_shared<const std::string>(feature + " is not implemented in this build");
    return [message](RequestContext& ctx) {
        return Ready(ErrorResponse(ErrorCode::kNotImplemented, *message, ctx.correlation_id));
    };
}

}  // namespace aragora::api
