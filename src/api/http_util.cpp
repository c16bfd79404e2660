#include "api/http_util.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>

#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"

namespace aragora::api {
namespace {

using common::ErrorCode;

bool HasRetryAfter(ErrorCode code) {
    return code == ErrorCode::kOverloaded || code == ErrorCode::kRateLimited ||
           code == ErrorCode::kUnavailable;
}

// Parses an optionally negative run of decimal digits that fits in int64.
std::optional<std::int64_t> ParseInt64(std::string_view s) {
    bool negative = false;
    if (!s.empty() && s.front() == '-') {
        negative = true;
        s.remove_prefix(1);
    }
    if (s.empty() || s.size() > 18) return std::nullopt;  // 18 digits always fit
    std::int64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return negative ? -value : value;
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
    switch (code) {
        case ErrorCode::kBadRequest:
            return 400;
        case ErrorCode::kValidation:
            return 400;
        case ErrorCode::kAuthRequired:
            return 401;
        case ErrorCode::kForbidden:
            return 403;
        case ErrorCode::kNotFound:
            return 404;
        case ErrorCode::kConflict:
            return 409;
        case ErrorCode::kCancelled:
            return 409;
        case ErrorCode::kPayloadTooLarge:
            return 413;
        case ErrorCode::kRateLimited:
            return 429;
        case ErrorCode::kOverloaded:
            return 503;
        case ErrorCode::kUnavailable:
            return 503;
        case ErrorCode::kTimeout:
            return 504;
        case ErrorCode::kNotImplemented:
            return 501;
        case ErrorCode::kProviderError:
            return 502;
        case ErrorCode::kStorage:
            return 500;
        case ErrorCode::kCrypto:
            return 500;
        case ErrorCode::kInternal:
            return 500;
    }
    return 500;
}

std::string_view ApiCodeFor(ErrorCode code) {
    // Server-side failures are one code on the wire (API.md lists internal_error); the
    // log line of ServiceErrorResponse keeps the precise one.
    if (code == ErrorCode::kStorage || code == ErrorCode::kCrypto) return "internal_error";
    return common::ToString(code);
}

net::HttpResponse JsonResponse(int status, std::string body, std::string_view correlation_id) {
    net::HttpResponse res;
    res.status = status;
    res.body = std::move(body);
    res.content_type = "application/json";
    res.AddHeader("X-Correlation-ID", std::string(correlation_id));
    return res;
}

net::HttpResponse ErrorResponse(const common::Error& error, std::string_view correlation_id,
                                std::optional<int> retry_after_seconds) {
    std::optional<int> retry;
    if (HasRetryAfter(error.code)) retry = retry_after_seconds.value_or(kDefaultRetryAfterSeconds);
    net::HttpResponse res = net::MakeErrorResponse(
        HttpStatusFor(error.code), ApiCodeFor(error.code), error.message, correlation_id, retry);
    if (!error.field.empty() && !res.body.empty() && res.body.back() == '}') {
        res.body.pop_back();
        res.body += ",\"errors\":[{\"field\":" + net::JsonQuote(error.field) +
                    ",\"message\":" + net::JsonQuote(error.message) + "}]}";
    }
    if (retry) {
        const auto now = std::chrono::system_clock::now();
        const auto reset =
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() +
            *retry;
        res.AddHeader("X-RateLimit-Remaining", "0");
        res.AddHeader("X-RateLimit-Reset", std::to_string(reset));
    }
    return res;
}

net::HttpResponse ErrorResponse(ErrorCode code, std::string message,
                                std::string_view correlation_id, std::string field) {
    return ErrorResponse(common::MakeError(code, std::move(message), std::move(field)),
                         correlation_id);
}

net::HttpResponse ServiceErrorResponse(const common::Error& error,
                                       std::string_view correlation_id) {
    if (HttpStatusFor(error.code) != 500) return ErrorResponse(error, correlation_id);
    common::GetLogger("aragora.api")
        ->error("service error code={} correlation_id={} message={}", common::ToString(error.code),
                correlation_id, error.message);
    return ErrorResponse(error.code,
                         "the server failed to process the request (correlation id " +
                             std::string(correlation_id) + "; details are in the server log)",
                         correlation_id);
}

common::Status ValidateId(std::string_view id, std::string_view what) {
    if (common::IsValidId(id)) return {};
    std::string shown;
    bool printable = id.size() <= 64;
    for (char c : id) printable = printable && c >= 0x20 && c < 0x7f;
    if (printable) shown = " '" + std::string(id) + "'";
    return common::MakeError(ErrorCode::kBadRequest, "invalid " + std::string(what) + shown +
                                                         ": ids match [A-Za-z0-9_-]{1,128}");
}

common::Result<std::int64_t> IntQueryParam(const net::HttpRequest& request, std::string_view name,
                                           std::int64_t fallback, std::int64_t min,
                                           std::int64_t max) {
    auto raw = request.QueryParam(name);
    if (!raw || raw->empty()) return fallback;
    auto value = ParseInt64(*raw);
    if (!value || *value < min || *value > max) {
        // An int-sized maximum is a technical bound, not one worth telling the client.
        const std::string range =
            max >= std::numeric_limits<int>::max()
                ? ">= " + std::to_string(min)
                : "between " + std::to_string(min) + " and " + std::to_string(max);
        return common::MakeError(ErrorCode::kValidation,
                                 std::string(name) + " must be an integer " + range,
                                 std::string(name));
    }
    return *value;
}

bool WantsJsonWrapper(const net::HttpRequest& request) {
    const std::string accept = common::ToLower(request.Header("accept"));
    bool json = false;
    for (const std::string_view item : common::Split(accept, ',')) {
        const std::string_view type = common::TrimOws(item.substr(0, item.find(';')));
        if (type == "*/*" || type.substr(0, 5) == "text/") return false;
        if (type == "application/json") json = true;
    }
    return json;
}

net::HttpResponse ExportResponse(const net::HttpRequest& request, std::string_view correlation_id,
                                 const Document& document,
                                 const std::vector<std::pair<std::string, std::string>>& ids) {
    if (WantsJsonWrapper(request)) {
        std::string body = "{";
        for (const auto& [key, value] : ids) {
            body += net::JsonQuote(key) + ":" + net::JsonQuote(value) + ",";
        }
        body += "\"format\":" + net::JsonQuote(document.format) +
                ",\"content\":" + net::JsonQuote(document.content) +
                ",\"filename\":" + net::JsonQuote(document.filename) +
                ",\"size_bytes\":" + std::to_string(document.content.size()) +
                ",\"generated_at\":" +
                net::JsonQuote(common::FormatIso8601(std::chrono::system_clock::now())) + "}";
        return JsonResponse(200, std::move(body), correlation_id);
    }
    net::HttpResponse res;
    res.status = 200;
    res.body = document.content;
    res.content_type = document.content_type;
    res.AddHeader("Content-Disposition", "attachment; filename=\"" + document.filename + "\"");
    res.AddHeader("X-Content-Type-Options", "nosniff");
    res.AddHeader("X-Correlation-ID", std::string(correlation_id));
    return res;
}

}  // namespace aragora::api
