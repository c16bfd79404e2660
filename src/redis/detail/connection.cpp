#include "redis/detail/connection.hpp"

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace aragora::redis::detail {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;

Reply Convert(const redisReply* r) {
    switch (r->type) {
        case REDIS_REPLY_INTEGER:
            return Reply::Integer(r->integer);
        case REDIS_REPLY_STRING:
            return Reply::String(std::string(r->str, r->len));
        case REDIS_REPLY_STATUS:
            return Reply::Status(std::string(r->str, r->len));
        case REDIS_REPLY_ERROR:
            return Reply::ErrorReply(std::string(r->str, r->len));
        case REDIS_REPLY_ARRAY: {
            std::vector<Reply> elements;
            elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i)
                elements.push_back(Convert(r->element[i]));
            return Reply::Array(std::move(elements));
        }
        default:
            return Reply::Nil();
    }
}

bool IsIpLiteral(const std::string& host) {
    error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

std::string SocketError(const error_code& ec) {
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
        return "connection closed by the server";
    }
    return ec.message();
}

}  // namespace

Result<std::string> FormatCommand(const std::vector<std::string>& args) {
    if (args.empty()) return MakeError(ErrorCode::kBadRequest, "redis: empty command");
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* out = nullptr;
    const int n =
        redisFormatCommandArgv(&out, static_cast<int>(args.size()), argv.data(), lens.data());
    if (n < 0 || out == nullptr) {
        return MakeError(ErrorCode::kInternal, "redis: cannot format the command");
    }
    std::string formatted(out, static_cast<std::size_t>(n));
    redisFreeCommand(out);
    return formatted;
}

TlsContext::TlsContext(const TlsOptions& options, bool enabled)
    : context(ssl::context::tls_client) {
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    if (!enabled) return;
    error_code ec;
    if (options.insecure_skip_verify) {
        context.set_verify_mode(ssl::verify_none);
    } else {
        context.set_verify_mode(ssl::verify_peer);
        context.set_default_verify_paths(ec);
        if (ec) error = "cannot load the system trust store: " + ec.message();
        if (!options.ca_file.empty()) {
            context.load_verify_file(options.ca_file, ec);
            if (ec) error = "cannot load the CA file " + options.ca_file + ": " + ec.message();
        }
    }
    if (!options.cert_file.empty()) {
        context.use_certificate_chain_file(options.cert_file, ec);
        if (ec)
            error = "cannot load the client certificate " + options.cert_file + ": " + ec.message();
        context.use_private_key_file(options.key_file, ssl::context::pem, ec);
        if (ec) error = "cannot load the client key " + options.key_file + ": " + ec.message();
    }
}

Connection::Connection(asio::any_io_executor executor, TlsContext& tls)
    : executor_(std::move(executor)),
      tls_(tls),
      resolver_(executor_),
      reader_(redisReaderCreate()),
      buffer_(kReadChunk) {}

Connection::~Connection() {
    if (reader_ != nullptr) redisReaderFree(reader_);
}

void Connection::Close() {
    closed_ = true;
    resolver_.cancel();
    if (stream_) {
        error_code ignored;
        stream_->next_layer().close(ignored);
    }
}

asio::awaitable<Status> Connection::Open(const ConnectionOptions& options, bool select_db,
                                         std::chrono::steady_clock::time_point deadline) {
    const RedisUrl& url = options.url;
    const std::string where = url.Authority();
    if (reader_ == nullptr) co_return MakeError(ErrorCode::kInternal, "redis: out of memory");
    use_tls_ = url.tls;
    if (use_tls_ && !tls_.error.empty()) {
        co_return MakeError(ErrorCode::kUnavailable, "tls: " + tls_.error);
    }
    // A plain connection uses only the stream's lowest layer; the SSL object is driven
    // for rediss:// only.
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(executor_, tls_.context);

    // The deadline closes the socket (and cancels DNS): the step in progress fails at once.
    auto expired = std::make_shared<bool>(false);
    asio::steady_timer guard(executor_);
    guard.expires_at(deadline);
    auto self = shared_from_this();
    auto on_deadline = [self, expired](error_code ec) {
        if (ec) return;
        *expired = true;
        self->Close();
    };
    guard.async_wait(on_deadline);
    auto fail = [&](const std::string& step, const std::string& why) -> Status {
        guard.cancel();
        if (*expired) {
            return MakeError(ErrorCode::kUnavailable,
                             step + " " + where + " timed out after " +
                                 std::to_string(options.connect_timeout.count()) + " ms");
        }
        return MakeError(ErrorCode::kUnavailable, step + " " + where + " failed: " + why);
    };

    auto [rec, endpoints] =
        co_await resolver_.async_resolve(url.host, std::to_string(url.port), kTuple);
    if (rec || *expired || closed_) co_return fail("resolving", rec ? rec.message() : "closed");
    auto [cec, endpoint] = co_await asio::async_connect(stream_->next_layer(), endpoints, kTuple);
    if (cec || *expired || closed_) co_return fail("connecting to", cec ? cec.message() : "closed");
    error_code ignored;
    stream_->next_layer().set_option(tcp::no_delay(true), ignored);
    stream_->next_layer().set_option(asio::socket_base::keep_alive(true), ignored);

    if (use_tls_) {
        SSL* ssl_handle = stream_->native_handle();
        const bool ip = IsIpLiteral(url.host);
        bool set = true;
        if (!ip) set = SSL_set_tlsext_host_name(ssl_handle, url.host.c_str()) == 1;
        if (!options.tls.insecure_skip_verify) {
            if (ip) {
                set = set && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle),
                                                           url.host.c_str()) == 1;
            } else {
                set = set && SSL_set1_host(ssl_handle, url.host.c_str()) == 1;
            }
            SSL_set_hostflags(ssl_handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        }
        if (!set) co_return fail("TLS setup for", "cannot set the host name to verify");
        auto [hec] = co_await stream_->async_handshake(ssl::stream_base::client, kTuple);
        if (hec || *expired || closed_) {
            const long verify = SSL_get_verify_result(ssl_handle);
            if (!*expired && verify != X509_V_OK) {
                co_return fail("TLS handshake with",
                               std::string("certificate verification failed: ") +
                                   X509_verify_cert_error_string(verify));
            }
            co_return fail("TLS handshake with", hec ? hec.message() : "closed");
        }
    }

    if (!url.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!url.username.empty()) auth.push_back(url.username);
        auth.push_back(url.password);
        auto reply = co_await RoundTrip(auth);
        if (!reply) co_return fail("AUTH on", reply.error().message);
        if (reply->IsError()) {
            guard.cancel();
            co_return MakeError(ErrorCode::kAuthRequired,
                                "AUTH on " + where + " refused: " + reply->str);
        }
    }
    if (select_db && url.db != 0) {
        std::vector<std::string> select{"SELECT", std::to_string(url.db)};
        auto reply = co_await RoundTrip(select);
        if (!reply) co_return fail("SELECT on", reply.error().message);
        if (reply->IsError()) {
            guard.cancel();
            co_return MakeError(
                ErrorCode::kUnavailable,
                "SELECT " + std::to_string(url.db) + " on " + where + " refused: " + reply->str);
        }
    }
    guard.cancel();
    if (*expired) co_return fail("connecting to", "deadline");
    co_return Status();
}

asio::awaitable<Result<Reply>> Connection::RoundTrip(const std::vector<std::string>& args) {
    auto formatted = FormatCommand(args);
    if (!formatted) co_return formatted.error();
    Status written = co_await Write(*formatted);
    if (!written) co_return written.error();
    while (true) {
        auto replies = co_await ReadReplies();
        if (!replies) co_return replies.error();
        if (replies->size() > 1) {
            co_return MakeError(ErrorCode::kInternal, "protocol error: unexpected extra reply");
        }
        if (replies->size() == 1) co_return std::move(replies->front());
    }
}

asio::awaitable<Status> Connection::Write(std::string_view data) {
    if (!stream_ || closed_) co_return MakeError(ErrorCode::kUnavailable, "connection closed");
    error_code ec;
    if (use_tls_) {
        std::tie(ec, std::ignore) =
            co_await asio::async_write(*stream_, asio::buffer(data), kTuple);
    } else {
        std::tie(ec, std::ignore) =
            co_await asio::async_write(stream_->next_layer(), asio::buffer(data), kTuple);
    }
    if (ec) co_return MakeError(ErrorCode::kUnavailable, "write failed: " + SocketError(ec));
    co_return Status();
}

asio::awaitable<Result<std::vector<Reply>>> Connection::ReadReplies() {
    if (!stream_ || closed_) co_return MakeError(ErrorCode::kUnavailable, "connection closed");
    error_code ec;
    std::size_t n = 0;
    if (use_tls_) {
        std::tie(ec, n) = co_await stream_->async_read_some(asio::buffer(buffer_), kTuple);
    } else {
        std::tie(ec, n) =
            co_await stream_->next_layer().async_read_some(asio::buffer(buffer_), kTuple);
    }
    if (ec) co_return MakeError(ErrorCode::kUnavailable, SocketError(ec));
    if (redisReaderFeed(reader_, buffer_.data(), n) != REDIS_OK) {
        co_return MakeError(ErrorCode::kInternal,
                            std::string("protocol error: ") + reader_->errstr);
    }
    std::vector<Reply> replies;
    while (true) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
            co_return MakeError(ErrorCode::kInternal,
                                std::string("protocol error: ") + reader_->errstr);
        }
        if (raw == nullptr) break;
        replies.push_back(Convert(static_cast<redisReply*>(raw)));
        freeReplyObject(raw);
    }
    co_return replies;
}

}  // namespace aragora::redis::detail

namespace aragora::redis {

common::Status Validate(const ConnectionOptions& options) {
    using common::ErrorCode;
    auto bad = [](std::string why) {
        return common::MakeError(ErrorCode::kValidation, "redis: " + std::move(why));
    };
    if (options.connect_timeout.count() <= 0) return bad("connect_timeout must be > 0");
    if (options.reconnect_min.count() <= 0) return bad("reconnect_min must be > 0");
    if (options.reconnect_max < options.reconnect_min) {
        return bad("reconnect_max must be >= reconnect_min");
    }
    if (options.url.host.empty()) return bad("no host");
    if (options.url.tls) {
        detail::TlsContext tls(options.tls, true);
        if (!tls.error.empty()) return bad(tls.error);
        if (!options.tls.cert_file.empty() && options.tls.key_file.empty()) {
            return bad("a client certificate needs a key file");
        }
    }
    return common::Status();
}

}  // namespace aragora::redis
