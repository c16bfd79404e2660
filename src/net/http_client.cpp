// Outbound HTTP/1.1 client. One of the few TUs with Beast, and the only one with the
// SSL stream. Beast contributes only its (separately compiled) response parser: the
// request is formatted here and the bytes are read with plain read_some calls, so a
// streamed body reaches the sink as soon as a read returns it.
//
// Every exchange runs as a child coroutine on its own strand (wrapping the caller's
// executor, so the sink still runs through the caller's executor). The deadline timer
// and the cancellation handler run on that strand too and abort the exchange by
// closing the socket (or waking the DNS wait): the resolver of Asio 1.26 cannot be
// cancelled per operation, a closed socket stops every other operation. The
// cancellation handler sits on the caller's slot for the whole exchange (RunAbortable);
// it cannot sit on the child coroutine's own slot, which use_awaitable clears after
// every completed operation.

#include "net/http_client.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "common/strings.hpp"

namespace aragora::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using common::ErrorCode;
using common::IEquals;
using common::MakeError;
using common::Result;
using common::Status;
using common::ToLower;
using Clock = std::chrono::steady_clock;

// Bytes asked for per read: one TLS record, or a few SSE events.
constexpr std::size_t kReadBytes = 16 * 1024;
// Bound on a proxy's answer to CONNECT.
constexpr std::size_t kMaxProxyAnswerBytes = 64 * 1024;

// Completion token of every awaited operation in an exchange: errors as values, and
// no per-operation cancellation (the exchange is aborted as a whole, see above).
auto Tok() {
    return asio::bind_cancellation_slot(asio::cancellation_slot(),
                                        asio::as_tuple(asio::use_awaitable));
}

// RFC 9110 token characters (method and header names).
bool IsToken(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u)) continue;
        if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
    }
    return true;
}

bool IsSafeValue(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsHostNameChar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '-' || c == '.' || c == '_';
}

std::string PercentDecode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out.push_back(
                static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::string Base64(std::string_view s) {
    std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(s.data()),
                                  static_cast<int>(s.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

struct HostPort {
    std::string host;  // lowercased, IPv6 without brackets
    bool host_is_ip = false;
    bool host_is_v6 = false;
    std::uint16_t port = 0;
};

Result<HostPort> ParseAuthority(std::string_view authority, std::uint16_t default_port,
                                std::string_view field) {
    HostPort hp;
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return MakeError(ErrorCode::kValidation, "unterminated IPv6 address",
                             std::string(field));
        }
        hp.host = ToLower(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return MakeError(ErrorCode::kValidation, "bad text after the IPv6 address",
                                 std::string(field));
            }
            port_text = after.substr(1);
        }
        error_code ec;
        asio::ip::make_address_v6(hp.host, ec);
        if (ec) return MakeError(ErrorCode::kValidation, "bad IPv6 address", std::string(field));
        hp.host_is_ip = true;
        hp.host_is_v6 = true;
    } else {
        const auto colon = authority.rfind(':');
        std::string_view host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
        if (host.empty()) return MakeError(ErrorCode::kValidation, "no host", std::string(field));
        if (!std::all_of(host.begin(), host.end(), IsHostNameChar)) {
            return MakeError(ErrorCode::kValidation, "bad character in the host name",
                             std::string(field));
        }
        hp.host = ToLower(host);
        error_code ec;
        asio::ip::make_address_v4(hp.host, ec);
        hp.host_is_ip = !ec;
    }
    hp.port = default_port;
    if (!port_text.empty()) {
        if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; })) {
            return MakeError(ErrorCode::kValidation, "bad port", std::string(field));
        }
        const int port = std::stoi(std::string(port_text));
        if (port < 1 || port > 65535) {
            return MakeError(ErrorCode::kValidation, "port out of range", std::string(field));
        }
        hp.port = static_cast<std::uint16_t>(port);
    }
    return hp;
}

struct Url {
    bool https = false;
    HostPort where;
    std::string target;  // path and query, at least "/"
};

Result<Url> ParseUrl(std::string_view s) {
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
            return MakeError(ErrorCode::kValidation,
                             "URL must not contain spaces or control characters", "url");
        }
    }
    const auto sep = s.find("://");
    if (sep == std::string_view::npos) {
        return MakeError(ErrorCode::kValidation, "URL must be absolute (http:// or https://)",
                         "url");
    }
    const std::string scheme = ToLower(s.substr(0, sep));
    Url url;
    if (scheme == "https") {
        url.https = true;
    } else if (scheme != "http") {
        return MakeError(ErrorCode::kValidation, "unsupported URL scheme '" + scheme + "'", "url");
    }
    std::string_view rest = s.substr(sep + 3);
    const auto authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view tail =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return MakeError(ErrorCode::kValidation, "credentials in the URL are not supported", "url");
    }
    auto where = ParseAuthority(authority, url.https ? 443 : 80, "url");
    if (!where) return where.error();
    url.where = std::move(*where);
    tail = tail.substr(0, tail.find('#'));
    if (tail.empty() || tail.front() == '?') {
        url.target = "/" + std::string(tail);
    } else {
        url.target = std::string(tail);
    }
    return url;
}

// host[:port] as written in Host and CONNECT (brackets around IPv6, port when needed).
std::string Authority(const HostPort& hp, std::uint16_t default_port) {
    std::string out = hp.host_is_v6 ? "[" + hp.host + "]" : hp.host;
    if (hp.port != default_port) out += ":" + std::to_string(hp.port);
    return out;
}

struct ProxyConfig {
    HostPort where;
    std::string authorization;  // "Basic ..." or ""
};

Result<ProxyConfig> ParseProxy(std::string_view s) {
    const auto sep = s.find("://");
    if (sep != std::string_view::npos) {
        if (ToLower(s.substr(0, sep)) != "http") {
            return MakeError(ErrorCode::kValidation, "https_proxy must be an http:// URL",
                             "https_proxy");
        }
        s = s.substr(sep + 3);
    }
    s = s.substr(0, s.find('/'));
    ProxyConfig proxy;
    const auto at = s.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = s.substr(0, at);
        const auto colon = userinfo.find(':');
        std::string user = PercentDecode(userinfo.substr(0, colon));
        std::string pass =
            colon == std::string_view::npos ? "" : PercentDecode(userinfo.substr(colon + 1));
        proxy.authorization = "Basic " + Base64(user + ":" + pass);
        s = s.substr(at + 1);
    }
    auto where = ParseAuthority(s, 80, "https_proxy");
    if (!where) return where.error();
    proxy.where = std::move(*where);
    return proxy;
}

Result<std::string> BuildRequest(const ClientRequest& request, const Url& url,
                                 const std::string& user_agent, bool& wants_close) {
    if (!IsToken(request.method)) {
        return MakeError(ErrorCode::kValidation, "bad HTTP method", "method");
    }
    bool has_host = false, has_agent = false, has_length = false, has_connection = false;
    wants_close = false;
    for (const auto& [name, value] : request.headers) {
        if (!IsToken(name) || !IsSafeValue(value)) {
            return MakeError(ErrorCode::kValidation, "bad header field '" + name + "'", "headers");
        }
        has_host |= IEquals(name, "host");
        has_agent |= IEquals(name, "user-agent");
        has_length |= IEquals(name, "content-length") || IEquals(name, "transfer-encoding");
        if (IEquals(name, "connection")) {
            has_connection = true;
            wants_close |= ToLower(value).find("close") != std::string::npos;
        }
    }
    std::string wire;
    wire.reserve(256 + request.body.size());
    wire.append(request.method).append(" ").append(url.target).append(" HTTP/1.1\r\n");
    if (!has_host) {
        wire.append("Host: ").append(Authority(url.where, url.https ? 443 : 80)).append("\r\n");
    }
    if (!has_agent && !user_agent.empty()) wire.append("User-Agent: " + user_agent + "\r\n");
    const bool body_expected =
        request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
    if (!has_length && (body_expected || !request.body.empty())) {
        wire.append("Content-Length: " + std::to_string(request.body.size()) + "\r\n");
    }
    if (!has_connection) wire.append("Connection: keep-alive\r\n");
    for (const auto& [name, value] : request.headers) {
        wire.append(name).append(": ").append(value).append("\r\n");
    }
    wire.append("\r\n").append(request.body);
    return wire;
}

// The response parser: fields in arrival order with lowercased names, and the body
// either buffered (bounded) or, for a 2xx answer when a sink is given, collected into
// `pending` for the caller to hand over after each read.
class ResponseParser final : public http::basic_parser<false> {
public:
    ResponseParser(bool may_stream, std::size_t max_bytes, bool no_body)
        : may_stream_(may_stream), max_bytes_(max_bytes) {
        eager(true);
        skip(no_body);
        body_limit(boost::none);  // enforced below, only for buffered bodies
        header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(max_bytes, std::numeric_limits<std::uint32_t>::max())));
    }

    int status() const { return status_; }
    bool streaming() const { return streaming_; }
    std::vector<std::pair<std::string, std::string>>& fields() { return fields_; }
    std::string& body() { return body_; }
    std::string& pending() { return pending_; }

private:
    void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                         error_code&) override {}
    void on_response_impl(int code, beast::string_view, int, error_code&) override {
        status_ = code;
        // Providers answer with ~5-10 fields: one allocation instead of four as they come
        // (not in the constructor: a held call waits for its answer holding nothing).
        fields_.reserve(12);
    }
    void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                       error_code&) override {
        fields_.emplace_back(ToLower(std::string_view(name.data(), name.size())),
                             std::string(value.data(), value.size()));
    }
    void on_header_impl(error_code&) override {
        streaming_ = may_stream_ && status_ >= 200 && status_ < 300;
        // A read hands the sink at most about one read's body: one allocation for the
        // response instead of a string doubling from empty every response.
        if (streaming_) pending_.reserve(kReadBytes);
    }
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) override {
        if (!streaming_ && length && *length > max_bytes_) ec = http::error::body_limit;
    }
    std::size_t on_body_impl(beast::string_view piece, error_code& ec) override {
        return Take(piece, ec);
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view piece,
                                   error_code& ec) override {
        return Take(piece, ec);
    }
    void on_finish_impl(error_code&) override {}

    std::size_t Take(beast::string_view piece, error_code& ec) {
        if (streaming_) {
            pending_.append(piece.data(), piece.size());
            return piece.size();
        }
        if (body_.size() + piece.size() > max_bytes_) {
            ec = http::error::body_limit;
            return 0;
        }
        body_.append(piece.data(), piece.size());
        return piece.size();
    }

    bool may_stream_;
    std::size_t max_bytes_;
    int status_ = 0;
    bool streaming_ = false;
    std::vector<std::pair<std::string, std::string>> fields_;
    std::string body_;
    std::string pending_;
};

// One TCP connection, optionally with TLS on top. Owned by one exchange at a time (or
// by the pool); its I/O objects use the io_context executor and completions run on the
// awaiting exchange's strand.
class Connection {
public:
    Connection(asio::any_io_executor ex, std::string key)
        : socket_(std::move(ex)), key_(std::move(key)) {}

    tcp::socket& socket() { return socket_; }
    const std::string& key() const { return key_; }
    SSL* StartTls(ssl::context& ctx) {
        tls_.emplace(socket_, ctx);
        return tls_->native_handle();
    }

    asio::awaitable<std::tuple<error_code, std::size_t>> ReadSome(asio::mutable_buffer buffer) {
        std::tuple<error_code, std::size_t> result;
        if (tls_) {
            result = co_await tls_->async_read_some(buffer, Tok());
        } else {
            result = co_await socket_.async_read_some(buffer, Tok());
        }
        co_return result;
    }
    // Waits until the socket has bytes to read, holding no buffer meanwhile (a provider
    // call waits seconds for its answer: the read buffer is allocated once bytes come).
    // With TLS the engine may hold bytes already: it returns at once.
    asio::awaitable<std::tuple<error_code>> WaitReadable() {
        if (tls_) co_return std::tuple<error_code>{};
        co_return co_await socket_.async_wait(tcp::socket::wait_read, Tok());
    }
    asio::awaitable<std::tuple<error_code, std::size_t>> Write(asio::const_buffer buffer) {
        std::tuple<error_code, std::size_t> result;
        if (tls_) {
            result = co_await asio::async_write(*tls_, buffer, Tok());
        } else {
            result = co_await asio::async_write(socket_, buffer, Tok());
        }
        co_return result;
    }
    asio::awaitable<std::tuple<error_code>> Handshake() {
        co_return co_await tls_->async_handshake(ssl::stream_base::client, Tok());
    }

    // False when the peer already closed (or, without TLS, sent something unasked) while
    // the connection sat idle. With TLS, unread bytes may be session tickets: kept, and
    // the retry covers the case where they were a close_notify.
    bool LooksAlive() {
        char byte;
        const auto n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
        return tls_.has_value();
    }

    void Close() {
        error_code ignored;
        socket_.close(ignored);
    }

    Clock::time_point idle_since;

private:
    tcp::socket socket_;
    std::optional<ssl::stream<tcp::socket&>> tls_;
    std::string key_;
};

enum class AbortReason { kNone, kTimeout, kCancelled };

// Shared by an exchange and its deadline and cancellation handlers (all on the
// exchange's strand). Abort closes whatever the exchange is waiting on.
struct AbortState {
    AbortReason reason = AbortReason::kNone;
    bool finished = false;
    Connection* conn = nullptr;
    asio::steady_timer* wake = nullptr;

    void Abort(AbortReason why) {
        if (finished || reason != AbortReason::kNone) return;
        reason = why;
        if (conn != nullptr) conn->Close();
        if (wake != nullptr) wake->cancel();
    }
    bool aborted() const { return reason != AbortReason::kNone; }
    // An abort that came before the connection was watched closes it at once.
    void Watch(Connection* c) {
        conn = c;
        if (aborted() && c != nullptr) c->Close();
    }
};

common::Error AbortError(const AbortState& abort, std::string_view stage) {
    if (abort.reason == AbortReason::kCancelled) {
        return MakeError(ErrorCode::kCancelled, "request cancelled during " + std::string(stage));
    }
    return MakeError(ErrorCode::kTimeout, "request timed out during " + std::string(stage));
}

// Points the abort state at a connection for the lifetime of the binding.
class ConnBinding {
public:
    ConnBinding(AbortState& abort, Connection* conn) : abort_(abort) { abort_.Watch(conn); }
    ~ConnBinding() { abort_.Watch(nullptr); }
    ConnBinding(const ConnBinding&) = delete;
    ConnBinding& operator=(const ConnBinding&) = delete;

private:
    AbortState& abort_;
};

// Arms the deadline of one exchange on its strand; disarms it on destruction (a late
// timer or cancellation handler finds `finished`).
class Guard {
public:
    Guard(const asio::any_io_executor& strand, Clock::time_point deadline,
          std::shared_ptr<AbortState> state)
        : state_(std::move(state)), timer_(strand) {
        timer_.expires_at(deadline);
        timer_.async_wait([state = state_](error_code ec) {
            if (!ec) state->Abort(AbortReason::kTimeout);
        });
    }
    ~Guard() {
        state_->finished = true;
        state_->conn = nullptr;
        state_->wake = nullptr;
        timer_.cancel();
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

    AbortState& state() { return *state_; }

private:
    std::shared_ptr<AbortState> state_;
    asio::steady_timer timer_;
};

// Runs `child` on `strand` and awaits it; while it runs, the awaiting coroutine's
// cancellation slot (any cancellation type its filter lets through) aborts `state`.
template <typename T>
asio::awaitable<T> RunAbortable(asio::strand<asio::any_io_executor> strand,
                                std::shared_ptr<AbortState> state, asio::awaitable<T> child) {
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&,
                                            void(std::exception_ptr, T)>(
        [&](auto handler) {
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected()) {
                slot.assign([strand, state](asio::cancellation_type type) {
                    if (type == asio::cancellation_type::none) return;
                    asio::dispatch(strand, [state] { state->Abort(AbortReason::kCancelled); });
                });
            }
            // Bound to no slot: co_spawn must not replace the handler installed above.
            asio::co_spawn(
                strand, std::move(child),
                asio::bind_cancellation_slot(asio::cancellation_slot(), std::move(handler)));
        },
        asio::use_awaitable);
}

// Idle keep-alive connections per "scheme://host:port".
class Pool {
public:
    Pool(std::size_t max_idle, std::chrono::seconds idle_timeout)
        : max_idle_(max_idle), idle_timeout_(idle_timeout) {}

    std::unique_ptr<Connection> Take(const std::string& key) {
        std::vector<std::unique_ptr<Connection>> stale;  // closed outside the lock
        std::unique_ptr<Connection> found;
        {
            std::lock_guard lock(mu_);
            auto it = idle_.find(key);
            if (it == idle_.end()) return nullptr;
            auto& list = it->second;
            const auto now = Clock::now();
            while (!list.empty() && !found) {
                auto conn = std::move(list.back());
                list.pop_back();
                if (now - conn->idle_since >= idle_timeout_ || !conn->LooksAlive()) {
                    stale.push_back(std::move(conn));
                } else {
                    found = std::move(conn);
                }
            }
            if (list.empty()) idle_.erase(it);
        }
        return found;
    }

    void Put(std::unique_ptr<Connection> conn) {
        if (max_idle_ == 0) return;
        std::unique_ptr<Connection> evicted;
        conn->idle_since = Clock::now();
        std::lock_guard lock(mu_);
        auto& list = idle_[conn->key()];
        list.push_back(std::move(conn));
        if (list.size() > max_idle_) {
            evicted = std::move(list.front());
            list.pop_front();
        }
    }

    void Clear() {
        std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> all;
        std::lock_guard lock(mu_);
        all.swap(idle_);
    }

private:
    const std::size_t max_idle_;
    const std::chrono::seconds idle_timeout_;
    std::mutex mu_;
    std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
};

bool IsReadEof(const error_code& ec) {
    return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

// How reading one response ended, when it did not fail.
enum class ReadEnd { kComplete, kStoppedBySink };

struct ReadContext {
    Connection& conn;
    AbortState& abort;
    beast::flat_buffer& buffer;
    bool& got_bytes;  // set when any byte of the answer arrived
};

// Reads one response (skipping interim 1xx answers) into `parser`, handing streamed
// body pieces to `sink` after every read.
asio::awaitable<Result<ReadEnd>> ReadResponse(ReadContext ctx,
                                              std::optional<ResponseParser>& parser,
                                              bool may_stream, std::size_t max_bytes, bool no_body,
                                              const BodySink* sink) {
    parser.emplace(may_stream, max_bytes, no_body);
    for (;;) {
        while (ctx.buffer.size() > 0 && !parser->is_done()) {
            error_code ec;
            const std::size_t used = parser->put(ctx.buffer.data(), ec);
            ctx.buffer.consume(used);
            if (ec == http::error::need_more) break;
            if (ec == http::error::body_limit || ec == http::error::header_limit) {
                co_return MakeError(ErrorCode::kProviderError, "response too large");
            }
            if (ec) {
                co_return MakeError(ErrorCode::kProviderError,
                                    "malformed HTTP response: " + ec.message());
            }
            if (parser->is_done() && parser->status() >= 100 && parser->status() < 200) {
                if (parser->status() == 101) {
                    co_return MakeError(ErrorCode::kProviderError, "unexpected 101 answer");
                }
                parser.emplace(may_stream, max_bytes, no_body);
            }
        }
        if (parser->streaming() && !parser->pending().empty()) {
            const bool more = (*sink)(parser->pending());
            parser->pending().clear();
            // A sink that stops at the stream's last event usually has the body's end in
            // the same read: the response is then complete and its connection reusable.
            if (!more) co_return parser->is_done() ? ReadEnd::kComplete : ReadEnd::kStoppedBySink;
        }
        if (parser->is_done()) co_return ReadEnd::kComplete;

        if (ctx.buffer.capacity() == 0) {
            // Nothing read yet: wait for the answer's first bytes without a buffer. An
            // error here shows again on the read below.
            auto [wait_ec] = co_await ctx.conn.WaitReadable();
            (void)wait_ec;
            if (ctx.abort.aborted()) co_return AbortError(ctx.abort, "read");
        }
        auto [ec, n] = co_await ctx.conn.ReadSome(ctx.buffer.prepare(kReadBytes));
        ctx.buffer.commit(n);
        if (n > 0) ctx.got_bytes = true;
        if (ctx.abort.aborted()) co_return AbortError(ctx.abort, "read");
        if (!ec) continue;
        if (IsReadEof(ec)) {
            if (!ctx.got_bytes) {
                co_return MakeError(ErrorCode::kUnavailable,
                                    "connection closed before any response byte");
            }
            error_code eof_ec;
            parser->put_eof(eof_ec);
            if (!eof_ec) {
                if (parser->streaming() && !parser->pending().empty()) {
                    (*sink)(parser->pending());
                    parser->pending().clear();
                }
                co_return ReadEnd::kComplete;
            }
            co_return MakeError(ErrorCode::kProviderError,
                                parser->is_header_done()
                                    ? "connection closed before the body ended"
                                    : "connection closed inside the header section");
        }
        if (!ctx.got_bytes) {
            co_return MakeError(ErrorCode::kUnavailable, "read: " + ec.message());
        }
        co_return MakeError(ErrorCode::kProviderError,
                            "connection lost before the response ended: " + ec.message());
    }
}

void Record(ProbeReport::Stage* stage, Clock::time_point start, const Status& status) {
    if (stage == nullptr) return;
    stage->attempted = true;
    stage->ok = status.ok();
    stage->latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    stage->error = status.ok() ? "" : status.error().message;
}

}  // namespace

bool GoesDirect(std::string_view host, std::string_view no_proxy) {
    std::string h = ToLower(host);
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    while (!h.empty() && h.back() == '.') h.pop_back();
    if (h == "localhost" || h.ends_with(".localhost")) return true;
    error_code ec;
    const auto address = asio::ip::make_address(h, ec);
    if (!ec && address.is_loopback()) return true;
    while (!no_proxy.empty()) {
        const auto comma = no_proxy.find(',');
        std::string entry = ToLower(common::TrimOws(no_proxy.substr(0, comma)));
        no_proxy =
            comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
        if (entry == "*") return true;
        if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']') {
            entry = entry.substr(1, entry.size() - 2);
        }
        while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
        if (entry.empty()) continue;
        if (h == entry || h.ends_with("." + entry)) return true;
    }
    return false;
}

std::string ClientResponse::Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (IEquals(key, name)) return value;
    }
    return {};
}

struct HttpClient::Impl {
    Impl(asio::io_context& io, HttpClientOptions opts)
        : ioc(io),
          options(std::move(opts)),
          tls(ssl::context::tls_client),
          pool(options.max_idle_per_host, options.idle_timeout) {
        SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
        static constexpr unsigned char kAlpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(tls.native_handle(), kAlpn, sizeof(kAlpn) - 1);
        tls.set_verify_mode(ssl::verify_peer);
        error_code ec;
        tls.set_default_verify_paths(ec);
        if (ec) tls_error = "cannot load the system trust store: " + ec.message();
        if (!options.ca_file.empty()) {
            tls.load_verify_file(options.ca_file, ec);
            if (ec) tls_error = "cannot load ca_file " + options.ca_file + ": " + ec.message();
        }
        if (!options.https_proxy.empty()) {
            auto parsed = ParseProxy(options.https_proxy);
            if (parsed) {
                proxy = std::move(*parsed);
            } else {
                proxy_error = parsed.error();
            }
        }
    }

    bool ViaProxy(const Url& url) const {
        return url.https && !options.https_proxy.empty() &&
               !GoesDirect(url.where.host, options.no_proxy);
    }

    static std::string PoolKey(const Url& url) {
        return std::string(url.https ? "https://" : "http://") + Authority(url.where, 0);
    }

    // DNS without blocking and without waiting for a resolver that cannot be cancelled:
    // the coroutine waits on `wake`, which the resolve handler or an abort cancels.
    asio::awaitable<Result<std::vector<tcp::endpoint>>> Resolve(const HostPort& where,
                                                                AbortState& abort) {
        error_code ec;
        const auto address = asio::ip::make_address(where.host, ec);
        if (!ec) co_return std::vector<tcp::endpoint>{tcp::endpoint(address, where.port)};

        struct Pending {
            explicit Pending(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
            tcp::resolver resolver;
            asio::steady_timer wake;
            error_code ec;
            std::vector<tcp::endpoint> endpoints;
            bool done = false;
        };
        auto strand = co_await asio::this_coro::executor;
        auto pending = std::make_shared<Pending>(strand);
        pending->wake.expires_at(Clock::time_point::max());
        pending->resolver.async_resolve(
            where.host, std::to_string(where.port),
            [pending](error_code rec, const tcp::resolver::results_type& results) {
                pending->ec = rec;
                for (const auto& entry : results) pending->endpoints.push_back(entry.endpoint());
                pending->done = true;
                pending->wake.cancel();
            });
        if (abort.aborted()) co_return AbortError(abort, "DNS resolution");
        abort.wake = &pending->wake;
        co_await pending->wake.async_wait(Tok());
        abort.wake = nullptr;
        if (abort.aborted()) co_return AbortError(abort, "DNS resolution");
        if (!pending->done) co_return MakeError(ErrorCode::kInternal, "DNS wait ended early");
        if (pending->ec || pending->endpoints.empty()) {
            co_return MakeError(ErrorCode::kUnavailable,
                                "DNS resolution of " + where.host + " failed: " +
                                    (pending->ec ? pending->ec.message() : "no address"));
        }
        co_return std::move(pending->endpoints);
    }

    // Tries each address in turn; the one that answered.
    asio::awaitable<Result<tcp::endpoint>> ConnectTcp(Connection& conn,
                                                      const std::vector<tcp::endpoint>& endpoints,
                                                      AbortState& abort) {
        error_code last;
        tcp::endpoint last_endpoint;
        for (const auto& endpoint : endpoints) {
            if (abort.aborted()) co_return AbortError(abort, "connect");
            conn.Close();
            error_code ec;
            conn.socket().open(endpoint.protocol(), ec);
            if (!ec) {
                std::tie(ec) = co_await conn.socket().async_connect(endpoint, Tok());
            }
            if (abort.aborted()) co_return AbortError(abort, "connect");
            if (!ec) {
                conn.socket().set_option(tcp::no_delay(true), ec);
                co_return endpoint;
            }
            last = ec;
            last_endpoint = endpoint;
        }
        std::ostringstream where;
        where << last_endpoint;
        co_return MakeError(ErrorCode::kUnavailable,
                            "connect to " + where.str() + " failed: " + last.message());
    }

    asio::awaitable<Status> ProxyConnect(Connection& conn, const Url& url, AbortState& abort) {
        const std::string target = Authority(url.where, 0);
        std::string wire = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
        if (!proxy->authorization.empty()) {
            wire += "Proxy-Authorization: " + proxy->authorization + "\r\n";
        }
        if (!options.user_agent.empty()) wire += "User-Agent: " + options.user_agent + "\r\n";
        wire += "\r\n";
        auto [wec, written] = co_await conn.Write(asio::buffer(wire));
        if (abort.aborted()) co_return AbortError(abort, "proxy CONNECT");
        if (wec) co_return MakeError(ErrorCode::kUnavailable, "proxy write: " + wec.message());

        beast::flat_buffer buffer;
        bool got_bytes = false;
        std::optional<ResponseParser> parser;
        // A 2xx answer to CONNECT has no body: skip, so the tunnel bytes are not read.
        ReadContext read_context{conn, abort, buffer, got_bytes};
        auto read =
            co_await ReadResponse(read_context, parser, false, kMaxProxyAnswerBytes, true, nullptr);
        if (!read) {
            auto error = read.error();
            if (error.code == ErrorCode::kProviderError) error.code = ErrorCode::kUnavailable;
            error.message = "proxy CONNECT: " + error.message;
            co_return error;
        }
        if (parser->status() < 200 || parser->status() >= 300) {
            co_return MakeError(ErrorCode::kUnavailable, "proxy refused CONNECT with status " +
                                                             std::to_string(parser->status()));
        }
        if (buffer.size() > 0) {
            co_return MakeError(ErrorCode::kUnavailable,
                                "proxy sent data before the TLS handshake");
        }
        co_return Status();
    }

    asio::awaitable<Status> Handshake(Connection& conn, const Url& url, AbortState& abort) {
        if (!tls_error.empty()) co_return MakeError(ErrorCode::kUnavailable, "tls: " + tls_error);
        SSL* ssl = conn.StartTls(tls);
        const std::string& host = url.where.host;
        bool set = true;
        if (url.where.host_is_ip) {
            set = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
        } else {
            set = SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
                  SSL_set1_host(ssl, host.c_str()) == 1;
        }
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!set) co_return MakeError(ErrorCode::kUnavailable, "tls: cannot verify host " + host);
        auto [ec] = co_await conn.Handshake();
        if (abort.aborted()) co_return AbortError(abort, "TLS handshake");
        if (ec) {
            const long verify = SSL_get_verify_result(ssl);
            if (verify != X509_V_OK) {
                co_return MakeError(ErrorCode::kUnavailable,
                                    "tls: certificate verification failed for " + host + ": " +
                                        X509_verify_cert_error_string(verify));
            }
            co_return MakeError(ErrorCode::kUnavailable,
                                "tls: handshake with " + host + " failed: " + ec.message());
        }
        co_return Status();
    }

    // DNS, TCP (+ proxy CONNECT) and TLS; each stage is recorded in `report` if given.
    asio::awaitable<Result<std::unique_ptr<Connection>>> Open(const Url& url, AbortState& abort,
                                                              ProbeReport* report) {
        const bool via_proxy = ViaProxy(url);
        if (via_proxy && !proxy) {
            Record(report ? &report->dns : nullptr, Clock::now(), proxy_error);
            co_return proxy_error;
        }
        const HostPort& first_hop = via_proxy ? proxy->where : url.where;

        auto start = Clock::now();
        auto endpoints = co_await Resolve(first_hop, abort);
        Record(report ? &report->dns : nullptr, start, common::ToStatus(endpoints));
        if (!endpoints) co_return endpoints.error();

        auto conn = std::make_unique<Connection>(ioc.get_executor(), PoolKey(url));
        ConnBinding binding(abort, conn.get());
        start = Clock::now();
        auto connected = co_await ConnectTcp(*conn, *endpoints, abort);
        Status tcp_status = common::ToStatus(connected);
        if (connected && report) report->resolved_address = connected->address().to_string();
        if (connected && via_proxy) {
            tcp_status = co_await ProxyConnect(*conn, url, abort);
        }
        Record(report ? &report->tcp : nullptr, start, tcp_status);
        if (!tcp_status) co_return tcp_status.error();

        if (url.https) {
            start = Clock::now();
            auto tls_status = co_await Handshake(*conn, url, abort);
            Record(report ? &report->tls : nullptr, start, tls_status);
            if (!tls_status) co_return tls_status.error();
        }
        co_return std::move(conn);
    }

    // `request` is the exchange's own copy: its body is released once encoded.
    asio::awaitable<Result<ClientResponse>> Perform(ClientRequest& request, const BodySink& sink,
                                                    AbortState& abort) {
        auto url = ParseUrl(request.url);
        if (!url) co_return url.error();
        if (request.timeout.count() <= 0) {
            co_return MakeError(ErrorCode::kValidation, "timeout must be positive", "timeout");
        }
        bool wants_close = false;
        auto wire = BuildRequest(request, *url, options.user_agent, wants_close);
        if (!wire) co_return wire.error();
        // The wire form is what a retry resends: a call held for seconds keeps one copy.
        std::string().swap(request.body);
        const bool no_body = request.method == "HEAD";
        const std::string key = PoolKey(*url);

        for (int attempt = 0;; ++attempt) {
            std::unique_ptr<Connection> conn = attempt == 0 ? pool.Take(key) : nullptr;
            const bool reused = conn != nullptr;
            if (reused) {
                stats.connections_reused.fetch_add(1, std::memory_order_relaxed);
            } else {
                auto opened = co_await Open(*url, abort, nullptr);
                if (!opened) co_return opened.error();
                conn = std::move(*opened);
                stats.connections_opened.fetch_add(1, std::memory_order_relaxed);
            }
            ConnBinding binding(abort, conn.get());
            bool got_bytes = false;
            beast::flat_buffer buffer;
            std::optional<ResponseParser> parser;

            auto [wec, written] = co_await conn->Write(asio::buffer(*wire));
            Result<ReadEnd> read = ReadEnd::kComplete;
            if (abort.aborted()) {
                read = AbortError(abort, "write");
            } else if (wec) {
                read = MakeError(ErrorCode::kUnavailable, "write: " + wec.message());
            } else {
                ReadContext read_context{*conn, abort, buffer, got_bytes};
                read = co_await ReadResponse(read_context, parser, static_cast<bool>(sink),
                                             options.max_response_bytes, no_body, &sink);
            }
            if (!read) {
                // A pooled connection the server dropped while it sat idle.
                if (reused && !got_bytes && !abort.aborted()) continue;
                co_return read.error();
            }
            ClientResponse response;
            response.status = parser->status();
            response.headers = std::move(parser->fields());
            response.body = std::move(parser->body());
            response.reused_connection = reused;
            if (*read == ReadEnd::kComplete && parser->keep_alive() && buffer.size() == 0 &&
                !wants_close) {
                abort.Watch(nullptr);  // from now on another exchange may own it
                pool.Put(std::move(conn));
            }
            co_return response;
        }
    }

    static asio::awaitable<Result<ClientResponse>> Exchange(std::shared_ptr<Impl> self,
                                                            ClientRequest request, BodySink sink,
                                                            Clock::time_point deadline,
                                                            std::shared_ptr<AbortState> state) {
        auto strand = co_await asio::this_coro::executor;
        Result<ClientResponse> result;
        if (state->aborted()) {
            result = AbortError(*state, "start");
        } else {
            Guard guard(strand, deadline, state);
            try {
                result = co_await self->Perform(request, sink, guard.state());
            } catch (const std::exception& e) {
                result = MakeError(ErrorCode::kInternal, std::string("http client: ") + e.what());
            }
        }
        self->Count(result);
        co_return result;
    }

    static asio::awaitable<ProbeReport> RunProbe(std::shared_ptr<Impl> self, std::string url_text,
                                                 Clock::time_point deadline,
                                                 std::shared_ptr<AbortState> state) {
        auto strand = co_await asio::this_coro::executor;
        ProbeReport report;
        auto url = ParseUrl(url_text);
        if (!url) {
            Record(&report.dns, Clock::now(), url.error());
            co_return report;
        }
        if (state->aborted()) {
            Record(&report.dns, Clock::now(), AbortError(*state, "start"));
            co_return report;
        }
        Guard guard(strand, deadline, state);
        try {
            auto conn = co_await self->Open(*url, guard.state(), &report);
        } catch (const std::exception& e) {
            ProbeReport::Stage* stage = !report.dns.attempted   ? &report.dns
                                        : !report.tcp.attempted ? &report.tcp
                                                                : &report.tls;
            stage->attempted = true;
            stage->ok = false;
            stage->error = std::string("probe: ") + e.what();
        }
        co_return report;
    }

    void Count(const Result<ClientResponse>& result) {
        if (result.ok()) return;
        switch (result.error().code) {
            case ErrorCode::kTimeout:
                stats.timeouts.fetch_add(1, std::memory_order_relaxed);
                break;
            case ErrorCode::kCancelled:
                stats.cancellations.fetch_add(1, std::memory_order_relaxed);
                break;
            default:
                stats.errors.fetch_add(1, std::memory_order_relaxed);
                break;
        }
    }

    asio::io_context& ioc;
    const HttpClientOptions options;
    ssl::context tls;
    std::string tls_error;  // set when the trust store could not be loaded
    std::optional<ProxyConfig> proxy;
    common::Error proxy_error;  // when https_proxy is set but unusable
    Pool pool;
    HttpClientStats stats;
};

HttpClient::HttpClient(asio::io_context& ioc, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

HttpClient::~HttpClient() { impl_->pool.Clear(); }

asio::awaitable<Result<ClientResponse>> HttpClient::Send(ClientRequest request, BodySink sink) {
    impl_->stats.requests.fetch_add(1, std::memory_order_relaxed);
    const auto deadline = Clock::now() + request.timeout;
    auto strand = asio::make_strand(co_await asio::this_coro::executor);
    auto state = std::make_shared<AbortState>();
    try {
        // Held until the exchange returns (its connection is closed or pooled by then).
        ConnectionBudget::Permit permit;
        if (impl_->options.budget != nullptr) {
            auto acquired = co_await impl_->options.budget->Acquire(request.timeout);
            if (!acquired) {
                auto& counter = acquired.error().code == ErrorCode::kTimeout
                                    ? impl_->stats.timeouts
                                    : (acquired.error().code == ErrorCode::kCancelled
                                           ? impl_->stats.cancellations
                                           : impl_->stats.errors);
                counter.fetch_add(1, std::memory_order_relaxed);
                co_return acquired.error();
            }
            permit = std::move(*acquired);
        }
        co_return co_await RunAbortable(
            strand, state,
            Impl::Exchange(impl_, std::move(request), std::move(sink), deadline, state));
    } catch (const boost::system::system_error& e) {
        // The caller's coroutine was already cancelled (its throw_if_cancelled fired).
        impl_->stats.cancellations.fetch_add(1, std::memory_order_relaxed);
        co_return MakeError(ErrorCode::kCancelled, std::string("request cancelled: ") + e.what());
    }
}

asio::awaitable<ProbeReport> HttpClient::Probe(std::string url, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    auto strand = asio::make_strand(co_await asio::this_coro::executor);
    auto state = std::make_shared<AbortState>();
    try {
        co_return co_await RunAbortable(strand, state,
                                        Impl::RunProbe(impl_, std::move(url), deadline, state));
    } catch (const boost::system::system_error& e) {
        ProbeReport report;
        Record(&report.dns, Clock::now(),
               MakeError(ErrorCode::kCancelled, std::string("probe cancelled: ") + e.what()));
        co_return report;
    }
}

const HttpClientStats& HttpClient::stats() const { return impl_->stats; }

}  // namespace aragora::net
