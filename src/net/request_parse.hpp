#pragma once

// One HTTP/1.1 request parsed from bytes in memory the way an HTTP session parses and
// converts it (the same Beast parser, limits, checks and conversion to HttpRequest),
// without a socket. For fuzzing and tests; the server reads from its sockets. No Beast.

#include <cstddef>
#include <string>
#include <string_view>

#include "net/http_types.hpp"
#include "net/server.hpp"

namespace aragora::net {

enum class RequestParseOutcome {
    kComplete,        // `request` holds the request
    kIncomplete,      // the bytes end before the request does: the server would wait
    kMalformed,       // answered 400 bad_request "malformed HTTP request: <error>"
    kBadTarget,       // answered 400 bad_request "invalid request target"
    kHeaderTooLarge,  // answered 431: header section over max_header_bytes
    kTooManyHeaders,  // answered 431: more than max_header_count fields
    kBodyTooLarge,    // answered 413: body over max_body_bytes
    kOtherError,      // any other parser error: the server closes without an answer
};

struct ParsedHttpRequest {
    RequestParseOutcome outcome = RequestParseOutcome::kIncomplete;
    HttpRequest request;       // kComplete only (remote_address and local_port empty)
    std::size_t consumed = 0;  // bytes the parser took; for kComplete, those of the request
    bool keep_alive = false;   // kComplete: the connection would stay open
    std::string error;         // the parser's message for kMalformed and kOtherError
};

// Parses the first request in `bytes` under `limits` (header and body limits, field
// count). With `read_chunk_bytes` > 0 the parser sees the bytes arrive in reads of at
// most that many (as from a socket, each read appended to what is still unparsed);
// 0 hands them over at once. Bytes after the request are left for the next one.
ParsedHttpRequest ParseHttpRequestBytes(std::string_view bytes, const ServerLimits& limits,
                                        std::size_t read_chunk_bytes = 0);

}  // namespace aragora::net
