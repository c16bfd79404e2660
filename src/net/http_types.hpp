#pragma once

// Plain-struct boundary between the HTTP server core and request handlers.
// No Beast or Asio here: handlers (src/api) see only these types.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aragora::net {

// One complete HTTP/1.1 request as the server read it.
struct HttpRequest {
    std::string method;  // as sent, e.g. "GET" (case preserved, HTTP methods are case-sensitive)
    std::string target;  // raw request-target, e.g. "/api/v1/debates?limit=5"
    std::string path;    // percent-decoded path without the query, e.g. "/api/v1/debates"
    std::string query;   // raw query after '?', not decoded ("" when none)
    // Header fields in arrival order; names lowercased, values as sent (repeats kept).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string remote_address;  // peer IP, e.g. "127.0.0.1" or "::1"
    uint16_t local_port = 0;     // port of the listener that accepted the connection

    // Value of the first header named `name` (any case); "" when absent.
    std::string Header(std::string_view name) const;
    // True when a header named `name` (any case) is present, even if empty.
    bool HasHeader(std::string_view name) const;
    // First query parameter named `name` (compared after decoding), percent-decoded with
    // '+' read as a space; "" for "?name" or "?name="; nullopt when absent.
    std::optional<std::string> QueryParam(std::string_view name) const;
};

// What a handler answers. The server owns framing: Content-Length, Transfer-Encoding
// and Connection entries in `headers` are ignored; keep-alive follows the request.
struct HttpResponse {
    int status = 200;  // 200..599 (others are answered as 500)
    // Extra header fields, written in order (names as given).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Sent as Content-Type unless empty (then no Content-Type is sent unless `headers`
    // holds one). A "content-type" entry in `headers` wins over this field.
    std::string content_type = "application/json";

    // Appends a header field (no de-duplication).
    HttpResponse& AddHeader(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

// Percent-decodes `in` ("%2F" → "/"); with `plus_as_space`, '+' becomes ' ' (query
// strings). nullopt when a '%' is not followed by two hex digits or decodes to NUL.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_as_space);

// The request's correlation id: its X-Correlation-ID, else its X-Request-ID, when that
// is 1..128 visible ASCII characters; otherwise a fresh id "req_<24 hex>". The same
// request always gets the same answer only when it carries a usable header.
std::string CorrelationIdOf(const HttpRequest& request);

// The flat JSON error of API.md:
//   {"error": message, "code": code, "correlation_id": id, "trace_id": id}
// with an `X-Correlation-ID: id` header. With `retry_after_seconds` (429/503), also a
// `Retry-After: <n>` header and a `"retry_after": n` member.
HttpResponse MakeErrorResponse(int status, std::string_view code, std::string_view message,
                               std::string_view correlation_id,
                               std::optional<int> retry_after_seconds = std::nullopt);

// JSON string literal for `s` (quotes included), escaping per RFC 8259; bytes >= 0x80
// are passed through unchanged (callers pass UTF-8).
std::string JsonQuote(std::string_view s);

}  // namespace aragora::net
