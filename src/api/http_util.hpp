#pragma once

// Response helpers shared by every handler: JSON bodies, the flat error shape of API.md,
// the one mapping from common::ErrorCode to HTTP status, query-parameter and id checks,
// and the document-or-JSON-wrapper rule of exports.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "net/http_types.hpp"

namespace aragora::api {

// The single ErrorCode → HTTP status mapping: kBadRequest/kValidation 400, kAuthRequired
// 401, kForbidden 403, kNotFound 404, kConflict and kCancelled 409, kPayloadTooLarge 413,
// kRateLimited 429, kOverloaded/kUnavailable 503, kNotImplemented 501, kTimeout 504,
// kProviderError 502, kStorage/kCrypto/kInternal 500.
int HttpStatusFor(common::ErrorCode code);

// The `code` of an error body: common::ToString(code), except that kStorage and kCrypto
// are "internal_error" (the codes API.md lists). Storage that cannot be written now (disk
// full, database unreachable) is kUnavailable: 503 "unavailable" with Retry-After.
std::string_view ApiCodeFor(common::ErrorCode code);

// A JSON response with `X-Correlation-ID`.
net::HttpResponse JsonResponse(int status, std::string body, std::string_view correlation_id);

// Seconds a client is told to wait after an overload / rate-limit / unavailable answer
// when the caller has no better estimate.
inline constexpr int kDefaultRetryAfterSeconds = 5;

// The flat error of API.md for `error` (status from HttpStatusFor, code from
// ApiCodeFor). An error with a field adds "errors": [{field, message}].
// kOverloaded, kRateLimited and kUnavailable (429/503) add `Retry-After` and
// "retry_after" (`retry_after_seconds`, default kDefaultRetryAfterSeconds), plus
// `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (epoch seconds when to retry).
net::HttpResponse ErrorResponse(const common::Error& error, std::string_view correlation_id,
                                std::optional<int> retry_after_seconds = std::nullopt);
// Shorthand for an error built from parts.
net::HttpResponse ErrorResponse(common::ErrorCode code, std::string message,
                                std::string_view correlation_id, std::string field = {});

// An error returned by a service. Server-side failures (500: storage, crypto, internal)
// are logged on "aragora.api" with the correlation id and answered without their
// detail, which may name tables or files; every other error is ErrorResponse(error).
net::HttpResponse ServiceErrorResponse(const common::Error& error, std::string_view correlation_id);

// kBadRequest ("invalid <what> '<id>': ids match [A-Za-z0-9_-]{1,128}") unless `id`
// follows the id rule of API.md. The id is shown only when it is short and printable.
common::Status ValidateId(std::string_view id, std::string_view what);

// An integer query parameter: absent or empty → `fallback`; otherwise a decimal integer
// (optional '-', digits only) within [min, max], else kValidation naming `name`.
common::Result<std::int64_t> IntQueryParam(const net::HttpRequest& request, std::string_view name,
                                           std::int64_t fallback, std::int64_t min,
                                           std::int64_t max);

// True when `Accept` names application/json and neither a text/ type nor */*: how the
// official clients ask for an export wrapped in JSON (API.md "Export").
bool WantsJsonWrapper(const net::HttpRequest& request);

// A rendered export document.
struct Document {
    std::string content;
    std::string format;        // "md", "html", "csv"
    std::string content_type;  // e.g. "text/markdown; charset=utf-8"
    std::string filename;      // "<id>.<ext>"
};

// The answer for an export (API.md "Export"): the document itself with its Content-Type
// and `Content-Disposition: attachment; filename="..."`, or, when WantsJsonWrapper, the
// JSON {<ids...>, "format", "content", "filename", "size_bytes", "generated_at"} where
// `ids` are leading string members (e.g. {"debate_id", "d_..."}).
net::HttpResponse ExportResponse(const net::HttpRequest& request, std::string_view correlation_id,
                                 const Document& document,
                                 const std::vector<std::pair<std::string, std::string>>& ids);

}  // namespace aragora::api
