#include "net/request_parse.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <iterator>
#include <limits>
#include <utility>

#include "net/detail/chunked_body.hpp"
#include "net/detail/request_parse.hpp"

namespace aragora::net {
namespace detail {

namespace beast = boost::beast;
namespace http = beast::http;

void ApplyRequestLimits(RequestParser& parser, const ServerLimits& limits) {
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(limits.max_body_bytes);
}

bool IsMalformedRequestError(const beast::error_code& ec) {
    return ec == http::error::bad_line_ending || ec == http::error::bad_method ||
           ec == http::error::bad_target || ec == http::error::bad_version ||
           ec == http::error::bad_field || ec == http::error::bad_value ||
           ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding ||
           ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension ||
           ec == http::error::bad_obs_fold || ec == http::error::multiple_content_length ||
           ec == http::error::unexpected_body;
}

namespace {

std::string_view TrimSpaces(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// One Transfer-Encoding field whose value is exactly `chunked`, no Content-Length, HTTP/1.1;
// or no Transfer-Encoding at all (then Beast has checked Content-Length).
bool FramingIsAcceptable(const BeastRequest& header) {
    auto [first, last] = header.equal_range(http::field::transfer_encoding);
    if (first == last) return true;
    if (std::next(first) != last) return false;
    if (header.find(http::field::content_length) != header.end()) return false;
    if (header.version() != 11) return false;
    return beast::iequals(TrimSpaces(first->value()), "chunked");
}

}  // namespace

HeaderVerdict CheckRequestHeader(const RequestParser& parser, const ServerLimits& limits) {
    const http::fields& fields = parser.get();
    const auto field_count = static_cast<size_t>(std::distance(fields.begin(), fields.end()));
    if (field_count > limits.max_header_count) return HeaderVerdict::kTooManyFields;
    if (!FramingIsAcceptable(parser.get())) return HeaderVerdict::kBadFraming;
    if (auto length = parser.content_length(); length && *length > limits.max_body_bytes) {
        return HeaderVerdict::kBodyTooLarge;
    }
    return HeaderVerdict::kOk;
}

bool ToPlainRequest(BeastRequest& req, HttpRequest& out) {
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    std::string_view target = out.target;
    if (target.empty()) return false;
    if (target.front() != '/' && target != "*") {
        // absolute-form (sent to proxies): keep the path and query
        const size_t scheme = target.find("://");
        if (scheme == std::string_view::npos) return false;
        const size_t slash = target.find_first_of("/?", scheme + 3);
        target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        if (target.front() == '?') {
            out.query = std::string(target.substr(1));
            out.path = "/";
            target = {};
        }
    }
    if (!target.empty()) {
        const size_t question = target.find('?');
        if (question != std::string_view::npos)
            out.query = std::string(target.substr(question + 1));
        auto path = PercentDecode(target.substr(0, question), false);
        if (!path) return false;
        out.path = std::move(*path);
    }
    out.headers.reserve(static_cast<size_t>(std::distance(req.begin(), req.end())));
    for (const auto& field : req) {
        std::string name(field.name_string());
        for (char& c : name) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        out.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    out.body = std::move(req.body());
    return true;
}

}  // namespace detail

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// Feeds the parser like Beast's read algorithms feed it from a flat_buffer: everything
// received and not yet consumed, one more read whenever it needs more.
class ByteFeed {
public:
    ByteFeed(std::string_view bytes, size_t read_chunk_bytes)
        : bytes_(bytes), chunk_(read_chunk_bytes == 0 ? bytes.size() : read_chunk_bytes) {}

    // Runs the parser until `done()`; need_more at the end of the bytes is reported as
    // http::error::need_more.
    template <typename Done>
    beast::error_code Run(detail::RequestParser& parser, Done done) {
        while (!done()) {
            if (consumed_ == received_ && !Receive()) return http::error::need_more;
            beast::error_code ec;
            const size_t n = parser.put(
                boost::asio::const_buffer(bytes_.data() + consumed_, received_ - consumed_), ec);
            consumed_ += n;
            if (ec == http::error::need_more || (!ec && n == 0)) {
                if (!Receive()) return http::error::need_more;
                continue;
            }
            if (ec) return ec;
        }
        return {};
    }

    // Feeds `decoder` until its body ends or fails; false when the bytes end first.
    bool RunDecoder(detail::ChunkedBodyDecoder& decoder, std::string& body) {
        for (;;) {
            consumed_ += decoder.Feed(bytes_.substr(consumed_, received_ - consumed_), body);
            if (decoder.state() != detail::ChunkedBodyDecoder::State::kNeedMore) return true;
            if (!Receive()) return false;
        }
    }

    size_t consumed() const { return consumed_; }

private:
    bool Receive() {
        if (received_ == bytes_.size()) return false;
        received_ += std::min(chunk_, bytes_.size() - received_);
        return true;
    }

    std::string_view bytes_;
    size_t chunk_;
    size_t received_ = 0;
    size_t consumed_ = 0;
};

RequestParseOutcome ReadErrorOutcome(const beast::error_code& ec) {
    if (ec == http::error::need_more) return RequestParseOutcome::kIncomplete;
    if (ec == http::error::header_limit) return RequestParseOutcome::kHeaderTooLarge;
    if (ec == http::error::body_limit) return RequestParseOutcome::kBodyTooLarge;
    if (detail::IsMalformedRequestError(ec)) return RequestParseOutcome::kMalformed;
    return RequestParseOutcome::kOtherError;
}

}  // namespace

ParsedHttpRequest ParseHttpRequestBytes(std::string_view bytes, const ServerLimits& limits,
                                        size_t read_chunk_bytes) {
    ParsedHttpRequest result;
    detail::RequestParser parser;
    detail::ApplyRequestLimits(parser, limits);
    ByteFeed feed(bytes, read_chunk_bytes);
    auto fail = [&](const beast::error_code& ec) {
        result.outcome = ReadErrorOutcome(ec);
        if (result.outcome == RequestParseOutcome::kMalformed ||
            result.outcome == RequestParseOutcome::kOtherError) {
            result.error = ec.message();
        }
        result.consumed = feed.consumed();
        return std::move(result);
    };

    // As http::async_read_header, then the session's checks, then http::async_read.
    parser.eager(false);
    if (auto ec = feed.Run(parser, [&] { return parser.is_header_done(); })) return fail(ec);
    auto stop = [&](RequestParseOutcome outcome, std::string error = {}) {
        result.outcome = outcome;
        result.error = std::move(error);
        result.consumed = feed.consumed();
        return std::move(result);
    };
    switch (detail::CheckRequestHeader(parser, limits)) {
        case detail::HeaderVerdict::kTooManyFields:
            return stop(RequestParseOutcome::kTooManyHeaders);
        case detail::HeaderVerdict::kBadFraming:
            return stop(RequestParseOutcome::kMalformed, detail::kBadFramingMessage);
        case detail::HeaderVerdict::kBodyTooLarge:
            return stop(RequestParseOutcome::kBodyTooLarge);
        case detail::HeaderVerdict::kOk:
            break;
    }
    // A chunked body goes through the server's own decoder (detail/chunked_body.hpp),
    // never through Beast's.
    std::string chunked_body;
    const bool chunked = parser.chunked();
    if (chunked) {
        using State = detail::ChunkedBodyDecoder::State;
        detail::ChunkedBodyDecoder decoder(limits.max_body_bytes, detail::MaxTrailerBytes(limits));
        if (!feed.RunDecoder(decoder, chunked_body)) return stop(RequestParseOutcome::kIncomplete);
        switch (decoder.state()) {
            case State::kMalformed:
                return stop(RequestParseOutcome::kMalformed, std::string(decoder.error()));
            case State::kBodyTooLarge:
                return stop(RequestParseOutcome::kBodyTooLarge);
            case State::kTrailerTooLarge:
                return stop(RequestParseOutcome::kHeaderTooLarge);
            case State::kNeedMore:
            case State::kDone:
                break;
        }
    } else {
        parser.eager(true);
        if (auto ec = feed.Run(parser, [&] { return parser.is_done(); })) return fail(ec);
    }

    result.consumed = feed.consumed();
    detail::BeastRequest req = parser.release();
    if (chunked) req.body() = std::move(chunked_body);
    result.keep_alive = req.keep_alive();
    result.outcome = detail::ToPlainRequest(req, result.request) ? RequestParseOutcome::kComplete
                                                                 : RequestParseOutcome::kBadTarget;
    if (result.outcome != RequestParseOutcome::kComplete) result.request = HttpRequest{};
    return result;
}

}  // namespace aragora::net
