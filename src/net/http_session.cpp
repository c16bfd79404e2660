// HTTP/1.1 session: one coroutine per connection on its own strand, modelled on
// Beast's example/advanced/server-flex-awaitable. One of the few TUs with Beast.

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "net/detail/chunked_body.hpp"
#include "net/detail/request_parse.hpp"
#include "net/detail/server_core.hpp"
#include "net/detail/ws_session.hpp"

namespace aragora::net::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

using Request = BeastRequest;

// First read of a request when the buffer is empty; what a typical request needs.
constexpr size_t kFirstReadBytes = 8 * 1024;
// A connection over max_connections gets little time to send the request we reject
// (at most header_timeout).
constexpr std::chrono::seconds kRejectReadTimeout{5};
// After an error answer sent before the request was fully read, keep reading (and
// discarding) for a while: closing with unread data makes the kernel send a reset,
// which can destroy the answer before the client reads it.
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kLingerBytes = 1024 * 1024;
constexpr int kRetryAfterSeconds = 1;

// Correlation id from the fields read so far (see CorrelationIdOf).
std::string CorrelationIdOfFields(const http::fields& fields) {
    HttpRequest probe;
    for (auto [field, name] : {std::pair{"X-Correlation-ID", "x-correlation-id"},
                               std::pair{"X-Request-ID", "x-request-id"}}) {
        auto it = fields.find(field);
        if (it != fields.end()) probe.headers.emplace_back(name, std::string(it->value()));
    }
    return CorrelationIdOf(probe);
}

// Header names and values from a handler go on the wire verbatim; refuse anything
// that could split the header section.
bool IsSafeHeader(std::string_view name, std::string_view value) {
    if (name.empty()) return false;
    for (char c : name) {
        if (c <= 0x20 || c >= 0x7f || c == ':') return false;
    }
    for (char c : value) {
        if (c == '\r' || c == '\n' || c == '\0') return false;
    }
    return true;
}

void AddOverloadHeaders(HttpResponse& res, size_t limit) {
    const auto reset = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() +
                       kRetryAfterSeconds;
    res.AddHeader("X-RateLimit-Limit", std::to_string(limit));
    res.AddHeader("X-RateLimit-Remaining", "0");
    res.AddHeader("X-RateLimit-Reset", std::to_string(reset));
}

class HttpSession final : public Interruptible, public std::enable_shared_from_this<HttpSession> {
public:
    HttpSession(std::shared_ptr<ServerCore> core, tcp::socket socket, uint16_t local_port,
                std::string client_key)
        : core_(std::move(core)),
          executor_(socket.get_executor()),
          stream_(std::move(socket)),
          local_port_(local_port),
          client_key_(std::move(client_key)) {
        boost::system::error_code ec;
        const auto endpoint = stream_.socket().remote_endpoint(ec);
        if (!ec) remote_address_ = endpoint.address().to_string();
    }

    void InterruptIfIdle() override {
        asio::post(executor_, [self = shared_from_this()] {
            if (self->idle_ && !self->upgraded_) self->stream_.close();
        });
    }

    void Evict(uint64_t ticket) override {
        asio::post(executor_, [self = shared_from_this(), ticket] {
            if (self->wait_ticket_ != ticket || self->upgraded_) return;
            self->evicted_ = true;
            self->core_->stats.connections_evicted.fetch_add(1);
            self->stream_.close();
        });
    }

    asio::awaitable<void> Run(bool reject);
    bool upgraded() const { return upgraded_; }

    // Ends the session's count under its client key (TryAddPending); idempotent.
    void ReleasePending() {
        if (!pending_) return;
        core_->RemovePending(client_key_);
        pending_ = false;
    }
    // Leaves the eviction order (BeginWait); idempotent. On the strand.
    void EndWait() {
        if (wait_ticket_ == 0) return;
        core_->EndWait(wait_ticket_);
        wait_ticket_ = 0;
    }

private:
    enum class After { kKeepAlive, kClose, kLinger, kUpgraded };

    asio::awaitable<After> ServeOne(bool reject);
    // Reads the chunked body after the header into `body` (detail/chunked_body.hpp);
    // nullopt when it was read, otherwise what to do after the answer already sent.
    asio::awaitable<std::optional<After>> ReadChunkedBody(std::string& body,
                                                          const http::fields& fields,
                                                          unsigned version);
    // `in_header`: the error came while reading the header (a timeout is a header
    // timeout), otherwise while reading the body.
    asio::awaitable<After> AnswerReadError(const beast::error_code& ec, const http::fields& fields,
                                           unsigned version, bool in_header);
    asio::awaitable<bool> Write(HttpResponse res, unsigned version, bool close, bool head);
    asio::awaitable<void> AnswerError(int status, std::string_view code, std::string_view message,
                                      std::string correlation_id, unsigned version,
                                      size_t overload_limit = 0);
    asio::awaitable<void> LingeringClose();

    std::shared_ptr<ServerCore> core_;
    asio::any_io_executor executor_;  // the strand; stream_ is moved out on upgrade
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string remote_address_;
    uint16_t local_port_;
    const std::string client_key_;  // ClientAddressKey of the peer
    bool pending_ = true;           // counted under client_key_ (TryAddPending)
    uint64_t served_ = 0;
    // Touched only on the strand.
    bool idle_ = false;
    bool upgraded_ = false;
    uint64_t wait_ticket_ = 0;  // while waiting for a request header (0: not waiting)
    bool evicted_ = false;
};

asio::awaitable<void> HttpSession::Run(bool reject) {
    After after = After::kKeepAlive;
    while (after == After::kKeepAlive && !core_->shutting_down.load()) {
        after = co_await ServeOne(reject);
    }
    if (after == After::kUpgraded) co_return;
    if (after == After::kLinger) {
        co_await LingeringClose();
    } else {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    stream_.close();
}

asio::awaitable<HttpSession::After> HttpSession::ServeOne(bool reject) {
    const ServerLimits& limits = core_->limits;
    ServerStats& stats = core_->stats;
    const bool first = served_ == 0;
    const auto header_timeout =
        reject ? std::min(limits.header_timeout, kRejectReadTimeout) : limits.header_timeout;

    // Until its header is complete the connection may be evicted when the table is full
    // (a connection over the limit holds no slot and is not).
    if (!reject) wait_ticket_ = core_->BeginWait(shared_from_this(), client_key_);

    // The first request's header must be complete within header_timeout of the accept.
    // Later ones: wait for the first byte under the idle deadline, so that "idle" means
    // no request started, then the header within header_timeout.
    if (buffer_.size() == 0) {
        stream_.expires_after(first ? header_timeout : limits.keep_alive_idle);
        idle_ = true;
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kFirstReadBytes), kTuple);
        idle_ = false;
        if (ec) {
            if (ec == beast::error::timeout && !evicted_) {
                (first ? stats.header_timeouts : stats.idle_closes).fetch_add(1);
            }
            co_return After::kClose;
        }
        buffer_.commit(n);
        if (!first) stream_.expires_after(header_timeout);
    } else {
        stream_.expires_after(header_timeout);
    }

    RequestParser parser;
    ApplyRequestLimits(parser, limits);
    {
        auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
        if (ec) {
            EndWait();
            co_return co_await AnswerReadError(ec, parser.get(), parser.get().version(),
                                               /*in_header=*/true);
        }
    }
    EndWait();
    ReleasePending();  // the first request's header is in: no longer a pending connection

    const http::fields& fields = parser.get();
    const unsigned version = parser.get().version();
    const HeaderVerdict verdict = CheckRequestHeader(parser, limits);
    if (verdict == HeaderVerdict::kTooManyFields) {
        stats.too_many_headers.fetch_add(1);
        co_await AnswerError(
            431, "bad_request",
            "too many header fields (limit " + std::to_string(limits.max_header_count) + ")",
            CorrelationIdOfFields(fields), version);
        co_return After::kLinger;
    }
    if (verdict == HeaderVerdict::kBadFraming) {
        // Answered before any of the body is read; the connection is closed after it, so
        // what a proxy might read as the body never becomes a request here.
        stats.bad_requests.fetch_add(1);
        co_await AnswerError(400, "bad_request", kBadFramingMessage, CorrelationIdOfFields(fields),
                             version == 10 ? 10 : 11);
        co_return After::kLinger;
    }
    if (reject) {
        co_await AnswerError(503, "overloaded", "server has too many connections",
                             CorrelationIdOfFields(fields), version, limits.max_connections);
        co_return After::kLinger;
    }
    if (verdict == HeaderVerdict::kBodyTooLarge) {
        stats.body_too_large.fetch_add(1);
        co_await AnswerError(
            413, "payload_too_large",
            "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes",
            CorrelationIdOfFields(fields), version);
        co_return After::kLinger;
    }

    std::string chunked_body;
    const bool chunked = parser.chunked();
    if (!parser.is_done()) {
        auto expect = fields.find(http::field::expect);
        if (version >= 11 && expect != fields.end() &&
            beast::iequals(expect->value(), "100-continue")) {
            // A fixed interim answer; a Beast message type just for it costs compile time.
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            stream_.expires_after(limits.write_timeout);
            auto [ec, n] = co_await asio::async_write(
                stream_, asio::buffer(kContinue.data(), kContinue.size()), kTuple);
            if (ec) {
                if (ec == beast::error::timeout) stats.write_timeouts.fetch_add(1);
                co_return After::kClose;
            }
        }
        stream_.expires_after(limits.read_timeout);
        if (chunked) {
            // Never Beast's chunk parser: see detail/chunked_body.hpp.
            if (auto after = co_await ReadChunkedBody(chunked_body, fields, version)) {
                co_return *after;
            }
        } else {
            auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kTuple);
            if (ec) {
                co_return co_await AnswerReadError(ec, parser.get(), version,
                                                   /*in_header=*/false);
            }
        }
    }
    stream_.expires_never();

    Request req = parser.release();
    if (chunked) req.body() = std::move(chunked_body);
    HttpRequest plain;
    if (!ToPlainRequest(req, plain)) {
        stats.bad_requests.fetch_add(1);
        co_await AnswerError(400, "bad_request", "invalid request target",
                             CorrelationIdOfFields(req), version);
        co_return After::kClose;
    }
    plain.remote_address = remote_address_;
    plain.local_port = local_port_;
    stats.requests.fetch_add(1);

    if (core_->ws_handler != nullptr && beast::websocket::is_upgrade(req) &&
        (!core_->is_ws_path || core_->is_ws_path(plain))) {
        if (core_->shutting_down.load()) {
            co_await AnswerError(503, "unavailable", "server is shutting down",
                                 CorrelationIdOfFields(req), version);
            co_return After::kClose;
        }
        if (!core_->TryAcquireWsSlot()) {
            stats.ws_rejected.fetch_add(1);
            co_await AnswerError(503, "overloaded", "too many WebSocket connections",
                                 CorrelationIdOfFields(req), version, limits.ws_max_connections);
            co_return After::kClose;
        }
        // From here the connection counts as a WebSocket, not as an HTTP connection.
        // Bytes after the upgrade request are not expected (the client waits for 101).
        upgraded_ = true;
        core_->RemoveHttpSession(this);
        stats.connections_active.fetch_sub(1);
        stream_.expires_never();
        co_await RunWebSocketSession(core_, stream_.release_socket(), std::move(req),
                                     std::move(plain));
        co_return After::kUpgraded;
    }

    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    HttpResponse res;
    std::string failure;
    try {
        if (core_->handler) {
            res = co_await core_->handler(std::move(plain));
        } else {
            res = MakeErrorResponse(404, "not_found", "not found", CorrelationIdOfFields(req));
        }
    } catch (const std::exception& e) {
        failure = e.what();
        if (failure.empty()) failure = "exception";
    } catch (...) {
        failure = "non-standard exception";
    }
    if (!failure.empty()) {
        stats.handler_errors.fetch_add(1);
        std::string correlation_id = CorrelationIdOfFields(req);
        core_->LogError("request handler failed: " + failure + " method=" +
                        std::string(req.method_string()) + " correlation_id=" + correlation_id);
        res = MakeErrorResponse(500, "internal_error", "internal server error", correlation_id);
    }
    const bool close = !keep_alive || core_->shutting_down.load();
    const bool written = co_await Write(std::move(res), version, close, head);
    ++served_;
    co_return (written && !close) ? After::kKeepAlive : After::kClose;
}

asio::awaitable<std::optional<HttpSession::After>> HttpSession::ReadChunkedBody(
    std::string& body, const http::fields& fields, unsigned version) {
    using State = ChunkedBodyDecoder::State;
    const ServerLimits& limits = core_->limits;
    ServerStats& stats = core_->stats;
    ChunkedBodyDecoder decoder(limits.max_body_bytes, MaxTrailerBytes(limits));
    for (;;) {
        const auto data = buffer_.data();
        buffer_.consume(decoder.Feed(
            std::string_view(static_cast<const char*>(data.data()), data.size()), body));
        if (decoder.state() != State::kNeedMore) break;
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kFirstReadBytes), kTuple);
        if (ec) {
            if (ec == beast::error::timeout) stats.read_timeouts.fetch_add(1);
            co_return After::kClose;
        }
        buffer_.commit(n);
    }
    const unsigned answer_version = version == 10 ? 10 : 11;
    switch (decoder.state()) {
        case State::kNeedMore:
        case State::kDone:
            co_return std::nullopt;
        case State::kMalformed:
            stats.bad_requests.fetch_add(1);
            co_await AnswerError(400, "bad_request",
                                 "malformed HTTP request: " + std::string(decoder.error()),
                                 CorrelationIdOfFields(fields), answer_version);
            break;
        case State::kBodyTooLarge:
            stats.body_too_large.fetch_add(1);
            co_await AnswerError(
                413, "payload_too_large",
                "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes",
                CorrelationIdOfFields(fields), answer_version);
            break;
        case State::kTrailerTooLarge:
            stats.headers_too_large.fetch_add(1);
            co_await AnswerError(431, "bad_request",
                                 "request trailer section exceeds " +
                                     std::to_string(MaxTrailerBytes(limits)) + " bytes",
                                 CorrelationIdOfFields(fields), answer_version);
            break;
    }
    co_return After::kLinger;
}

asio::awaitable<HttpSession::After> HttpSession::AnswerReadError(const beast::error_code& ec,
                                                                 const http::fields& fields,
                                                                 unsigned version, bool in_header) {
    ServerStats& stats = core_->stats;
    const unsigned answer_version = version == 10 ? 10 : 11;
    if (ec == http::error::header_limit) {
        stats.headers_too_large.fetch_add(1);
        co_await AnswerError(431, "bad_request",
                             "request header section exceeds " +
                                 std::to_string(core_->limits.max_header_bytes) + " bytes",
                             CorrelationIdOfFields(fields), answer_version);
        co_return After::kLinger;
    }
    if (ec == http::error::body_limit) {
        stats.body_too_large.fetch_add(1);
        co_await AnswerError(
            413, "payload_too_large",
            "request body exceeds " + std::to_string(core_->limits.max_body_bytes) + " bytes",
            CorrelationIdOfFields(fields), answer_version);
        co_return After::kLinger;
    }
    if (IsMalformedRequestError(ec)) {
        stats.bad_requests.fetch_add(1);
        co_await AnswerError(400, "bad_request", "malformed HTTP request: " + ec.message(),
                             CorrelationIdOfFields(fields), answer_version);
        co_return After::kLinger;
    }
    if (ec == beast::error::timeout && !evicted_) {
        (in_header ? stats.header_timeouts : stats.read_timeouts).fetch_add(1);
    }
    // end of stream, reset, timeout, eviction (the stream is closed already): nobody to
    // answer.
    co_return After::kClose;
}

asio::awaitable<bool> HttpSession::Write(HttpResponse res, unsigned version, bool close,
                                         bool head) {
    if (res.status < 200 || res.status > 599) {
        core_->LogError("request handler returned invalid status " + std::to_string(res.status));
        res = MakeErrorResponse(500, "internal_error", "internal server error",
                                CorrelationIdOf(HttpRequest{}));
    }
    http::response<http::string_body> out;
    out.version(version);
    out.result(static_cast<unsigned>(res.status));
    bool has_content_type = false;
    for (const auto& [name, value] : res.headers) {
        if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
            beast::iequals(name, "connection") || !IsSafeHeader(name, value)) {
            continue;
        }
        if (beast::iequals(name, "content-type")) has_content_type = true;
        out.insert(name, value);
    }
    if (!has_content_type && !res.content_type.empty() &&
        IsSafeHeader("content-type", res.content_type)) {
        out.set(http::field::content_type, res.content_type);
    }
    // 204 and 304 carry neither a body nor Content-Length.
    if (res.status != 204 && res.status != 304) {
        out.body() = std::move(res.body);
        out.prepare_payload();
        if (head) out.body().clear();  // Content-Length stays: that of the GET answer
    }
    out.keep_alive(!close);

    stream_.expires_after(core_->limits.write_timeout);
    auto [ec, n] = co_await http::async_write(stream_, out, kTuple);
    if (ec == beast::error::timeout) core_->stats.write_timeouts.fetch_add(1);
    co_return !ec;
}

asio::awaitable<void> HttpSession::AnswerError(int status, std::string_view code,
                                               std::string_view message, std::string correlation_id,
                                               unsigned version, size_t overload_limit) {
    std::optional<int> retry_after;
    if (status == 503) retry_after = kRetryAfterSeconds;
    HttpResponse res = MakeErrorResponse(status, code, message, correlation_id, retry_after);
    if (status == 503 && overload_limit > 0) AddOverloadHeaders(res, overload_limit);
    co_await Write(std::move(res), version, /*close=*/true, /*head=*/false);
}

asio::awaitable<void> HttpSession::LingeringClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    stream_.expires_after(kLingerTime);
    size_t drained = 0;
    while (drained < kLingerBytes) {
        buffer_.consume(buffer_.size());
        auto [rec, n] = co_await stream_.async_read_some(buffer_.prepare(16 * 1024), kTuple);
        if (rec) break;
        drained += n;
    }
}

}  // namespace

asio::awaitable<void> RunHttpSession(std::shared_ptr<ServerCore> core, tcp::socket socket,
                                     uint16_t local_port, bool reject, std::string client_key) {
    auto session =
        std::make_shared<HttpSession>(core, std::move(socket), local_port, std::move(client_key));
    core->AddHttpSession(session);
    try {
        co_await session->Run(reject);
    } catch (const std::exception& e) {
        core->LogError(std::string("HTTP session failed: ") + e.what());
    }
    session->EndWait();
    session->ReleasePending();
    core->RemoveHttpSession(session.get());
    if (reject) {
        core->rejecting.fetch_sub(1);
    } else if (!session->upgraded()) {
        core->stats.connections_active.fetch_sub(1);
    }
}

}  // namespace aragora::net::detail
