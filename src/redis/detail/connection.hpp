#pragma once

// Internal to src/redis: one Redis connection (TCP or TLS) speaking RESP through hiredis'
// formatter and reader. Includes Asio's socket and SSL headers: never include it from a
// public header.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "redis/options.hpp"
#include "redis/reply.hpp"

struct redisReader;

namespace aragora::redis::detail {

// RESP encoding of one command (hiredis' redisFormatCommandArgv). kBadRequest when empty.
common::Result<std::string> FormatCommand(const std::vector<std::string>& args);

// The TLS context of a client or subscriber (one per object, shared by its connections).
// Its error (an unreadable CA file...) is reported by every connection attempt. When not
// `enabled` (redis://) nothing is loaded.
struct TlsContext {
    TlsContext(const TlsOptions& options, bool enabled);
    boost::asio::ssl::context context;
    std::string error;
};

// Not thread-safe: every call on one strand. Owned by shared_ptr (Open's deadline guard
// holds a reference).
class Connection : public std::enable_shared_from_this<Connection> {
public:
    // `tls` must outlive the connection (used for rediss:// only).
    Connection(boost::asio::any_io_executor executor, TlsContext& tls);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // DNS, TCP connect, TLS handshake, AUTH (when the URL has a password) and SELECT (when
    // `select_db` and db != 0), all before `deadline`. kUnavailable with a message
    // naming the step and the server (never the password); kAuthRequired when AUTH is
    // refused.
    boost::asio::awaitable<common::Status> Open(const ConnectionOptions& options, bool select_db,
                                                std::chrono::steady_clock::time_point deadline);

    // Writes all of `data`. kUnavailable on a socket error.
    boost::asio::awaitable<common::Status> Write(std::string_view data);

    // Reads once from the socket and returns every complete reply now buffered (maybe none).
    // kUnavailable on a socket error or end of stream, kInternal on a protocol error.
    boost::asio::awaitable<common::Result<std::vector<Reply>>> ReadReplies();

    // Closes the socket: pending reads and writes complete with an error. Idempotent.
    void Close();

private:
    boost::asio::awaitable<common::Result<Reply>> RoundTrip(const std::vector<std::string>& args);

    boost::asio::any_io_executor executor_;
    TlsContext& tls_;
    bool use_tls_ = false;
    boost::asio::ip::tcp::resolver resolver_;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> stream_;
    redisReader* reader_;
    std::vector<char> buffer_;
    bool closed_ = false;
};

}  // namespace aragora::redis::detail
