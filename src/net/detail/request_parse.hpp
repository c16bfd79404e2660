#pragma once

// Internal to src/net: the synchronous steps of reading one request that the HTTP
// session (http_session.cpp) and ParseHttpRequestBytes (request_parse.cpp) share, so
// that the fuzz target exercises the server's own code. Includes Beast: only
// src/net/*.cpp may include this header.

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_types.hpp"
#include "net/server.hpp"

namespace aragora::net::detail {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Sets the parser's header and body limits from max_header_bytes and max_body_bytes.
void ApplyRequestLimits(RequestParser& parser, const ServerLimits& limits);

// True for the parser errors the server answers 400 "malformed HTTP request"; false for
// the limits (header_limit: 431, body_limit: 413) and for ends of stream.
bool IsMalformedRequestError(const boost::beast::error_code& ec);

// What a complete header section says before the body is read, in the order the server
// checks (after kBadFraming it answers 503 to a connection over max_connections).
enum class HeaderVerdict {
    kOk,
    kTooManyFields,  // more than max_header_count fields: 431
    // Transfer-Encoding that is not exactly one `chunked` (e.g. "xchunked", "chunked,
    // identity", "identity"), Transfer-Encoding with Content-Length, or in HTTP/1.0:
    // 400 and close (RFC 9112 §6.1, §6.3). The body is never read, so bytes a proxy may
    // frame differently can never become a second request.
    kBadFraming,
    kBodyTooLarge,  // Content-Length over max_body_bytes: 413
};
HeaderVerdict CheckRequestHeader(const RequestParser& parser, const ServerLimits& limits);

// The 400 message of kBadFraming.
inline constexpr const char* kBadFramingMessage =
    "Transfer-Encoding other than chunked, or with Content-Length, is not accepted";

// Trailer fields of a chunked body count against max_header_bytes.
inline size_t MaxTrailerBytes(const ServerLimits& limits) { return limits.max_header_bytes; }

// Fills `out` from a complete request (moving the body): method, target, path
// (percent-decoded), query (raw), headers (names lowercased). False when the target is
// not usable (bad percent-encoding, neither origin- nor absolute-form).
bool ToPlainRequest(BeastRequest& req, HttpRequest& out);

}  // namespace aragora::net::detail
