#pragma once

// RedisClient: one pipelined connection to Redis over Asio (TCP or TLS), with per-command
// deadlines, a bounded queue and automatic reconnection.
//
// Errors (Result<Reply>):
//   kUnavailable "redis unavailable: <why>"  not connected (fails fast, nothing is queued),
//                                             or the connection broke with the command in
//                                             flight (it may or may not have run)
//   kOverloaded                               max_pending commands already queued/in flight
//   kTimeout                                  no reply before the command's deadline; the
//                                             connection is then reset (later replies would
//                                             be matched to the wrong commands) and every
//                                             other command in flight fails kUnavailable
//   kBadRequest                               an empty command
// A Redis error reply ("-ERR ...", "-NOSCRIPT ...") is NOT an error here: it is a Reply of
// type kError, for the caller to interpret.
//
// Thread-safety: every method may be called from any thread and any executor; the state
// lives on an internal strand and each coroutine resumes on its caller's executor.
// Lifetime: the executor's io_context must be running for anything to happen; call Stop()
// (or destroy the client) before the io_context stops. Coroutines still awaiting when the
// client stops complete with kUnavailable.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "redis/options.hpp"
#include "redis/reply.hpp"

namespace aragora::redis {

struct ClientOptions {
    ConnectionOptions connection;
    // Deadline of a command when the caller gives none.
    std::chrono::milliseconds command_timeout{1000};
    // Bound on commands queued or awaiting their reply.
    std::size_t max_pending = 1024;
    // Names the client in logs ("redis.<name>").
    std::string name = "default";
};

struct ClientStats {
    std::uint64_t commands = 0;  // accepted into the queue
    std::uint64_t timeouts = 0;
    std::uint64_t overloaded = 0;   // refused: queue full
    std::uint64_t unavailable = 0;  // refused or failed: not connected / connection lost
    std::uint64_t connects = 0;     // successful connections (the first one included)
    std::uint64_t connect_failures = 0;
};

class RedisClient {
public:
    RedisClient(boost::asio::any_io_executor executor, ClientOptions options);
    ~RedisClient();  // Stop()
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // Starts connecting in the background (and reconnecting whenever the connection
    // breaks, until Stop). Returns at once; idempotent.
    void Start();
    // Closes the connection, fails every pending command (kUnavailable) and stops
    // reconnecting. Returns at once; idempotent.
    void Stop();

    // Waits until the client is connected, at most `timeout`. kUnavailable with the last
    // connection error when it is not; kUnavailable at once when stopped.
    boost::asio::awaitable<common::Status> WaitConnected(std::chrono::milliseconds timeout);

    // Sends one command (e.g. {"SET", key, value}); pipelined with the other commands in
    // flight. Arguments are binary-safe.
    boost::asio::awaitable<common::Result<Reply>> Command(std::vector<std::string> args);
    boost::asio::awaitable<common::Result<Reply>> Command(std::vector<std::string> args,
                                                          std::chrono::milliseconds timeout);

    // PING round trip; the latency measured on the steady clock.
    boost::asio::awaitable<common::Result<std::chrono::microseconds>> Ping(
        std::chrono::milliseconds timeout);

    // Connected right now (commands are accepted).
    bool connected() const;
    // The last connection error ("" when none yet), for health endpoints.
    std::string LastError() const;
    ClientStats Stats() const;
    const ClientOptions& options() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace aragora::redis
