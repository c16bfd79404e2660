// libFuzzer target: the HTTP/1.1 request parser path of the server (net/request_parse.hpp:
// the Beast parser with the server's limits, the header checks and the conversion to
// net::HttpRequest that http_session.cpp uses), on a keep-alive connection's bytes.
//
// Each input is parsed under the production limits and under small ones (to reach the
// 413/431 paths with short inputs), handed over at once and in small reads: the outcome
// must not depend on how the bytes arrive.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "net/http_types.hpp"
#include "net/request_parse.hpp"
#include "net/server.hpp"

namespace {

namespace net = aragora::net;
using aragora::fuzz::Check;
using net::RequestParseOutcome;

// Requests read from one connection before giving up on the input.
constexpr int kMaxRequestsPerInput = 8;

net::ServerLimits SmallLimits() {
    net::ServerLimits limits;
    limits.max_header_bytes = 512;
    limits.max_body_bytes = 64;
    limits.max_header_count = 8;
    return limits;
}

void CheckRequest(const net::HttpRequest& req, const net::ServerLimits& limits) {
    Check(!req.method.empty() && !req.target.empty(), "method and target are set");
    Check(req.path == "*" || (!req.path.empty() && req.path.front() == '/'),
          "path is * or starts with /");
    Check(req.path.find('\0') == std::string::npos, "path holds no NUL");
    Check(req.headers.size() <= limits.max_header_count, "field count within the limit");
    Check(req.body.size() <= limits.max_body_bytes, "body within the limit");
    for (const auto& [name, value] : req.headers) {
        Check(!name.empty(), "header name is not empty");
        for (char c : name) Check(c < 'A' || c > 'Z', "header name is lowercased");
        Check(req.HasHeader(name), "HasHeader finds every header");
    }
    // What handlers and middleware read from every request.
    (void)req.Header("content-type");
    (void)req.Header("Authorization");
    (void)net::CorrelationIdOf(req);
    std::string_view rest = req.query;
    for (int i = 0; i < 8 && !rest.empty(); ++i) {
        const size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;  // QueryParam skips empty pairs too
        if (auto key = net::PercentDecode(pair.substr(0, pair.find('=')), true)) {
            Check(req.QueryParam(*key).has_value(), "QueryParam finds a key of the query");
        }
    }
}

// Two ways Beast's answer depends on how the bytes arrive (README.md "Findings"). Once a
// put() ran out of bytes, Beast parses nothing until it has seen the end of the header
// section within header_limit counted from the request line; parsing everything at once
// it applies header_limit to the request line and to the fields separately. So:
//  - an error it finds at once (bare LF line ends, say) waits in small reads for more
//    bytes or the limit;
//  - a header section longer than the limit passes at once when the request line plus
//    the limit covers it, but is 431 header_limit in small reads.
bool KnownBeastDifference(std::string_view bytes, const net::ServerLimits& limits,
                          const net::ParsedHttpRequest& whole,
                          const net::ParsedHttpRequest& split) {
    if (whole.outcome == RequestParseOutcome::kMalformed &&
        (split.outcome == RequestParseOutcome::kIncomplete ||
         split.outcome == RequestParseOutcome::kHeaderTooLarge)) {
        return true;
    }
    const size_t end = bytes.find("\r\n\r\n");
    const size_t header_bytes = end == std::string_view::npos ? bytes.size() : end + 4;
    return split.outcome == RequestParseOutcome::kHeaderTooLarge &&
           header_bytes + 4 > limits.max_header_bytes;
}

bool SameRequest(const net::HttpRequest& a, const net::HttpRequest& b) {
    return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
           a.headers == b.headers && a.body == b.body;
}

void Connection(std::string_view bytes, const net::ServerLimits& limits, size_t read_chunk) {
    for (int i = 0; i < kMaxRequestsPerInput && !bytes.empty(); ++i) {
        const net::ParsedHttpRequest whole = net::ParseHttpRequestBytes(bytes, limits);
        const net::ParsedHttpRequest split = net::ParseHttpRequestBytes(bytes, limits, read_chunk);
        if (whole.outcome != split.outcome && !KnownBeastDifference(bytes, limits, whole, split)) {
            std::fprintf(stderr, "at once: outcome %d (%s); in reads of %zu: outcome %d (%s)\n",
                         static_cast<int>(whole.outcome), whole.error.c_str(), read_chunk,
                         static_cast<int>(split.outcome), split.error.c_str());
            Check(false, "outcome does not depend on the reads");
        }
        Check(whole.consumed <= bytes.size(), "consumed within the input");
        if (whole.outcome != RequestParseOutcome::kComplete || split.outcome != whole.outcome) {
            return;
        }
        if (whole.consumed != split.consumed) {
            std::fprintf(stderr, "at once: consumed %zu; in reads of %zu: consumed %zu\n",
                         whole.consumed, read_chunk, split.consumed);
            Check(false, "consumed does not depend on the reads");
        }
        Check(SameRequest(whole.request, split.request), "request does not depend on the reads");
        Check(whole.consumed > 0, "a complete request consumed bytes");
        CheckRequest(whole.request, limits);
        if (!whole.keep_alive) return;
        bytes.remove_prefix(whole.consumed);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    static const net::ServerLimits kProduction{};
    static const net::ServerLimits kSmall = SmallLimits();
    const size_t read_chunk = 1 + size % 13;
    Connection(bytes, kProduction, read_chunk);
    Connection(bytes, kSmall, read_chunk);
    return 0;
}
