#pragma once

// Internal to src/redis: the reconnecting connection shared by RedisClient and
// RedisSubscriber. A Link runs, on its owner's strand, the loop
//   connect (a failed attempt waits reconnect_min doubling to reconnect_max) ->
//   session (one reader and one writer on the connection, until it ends) -> again,
// until Stop(). What a client and a subscriber do differently (counters, the pending
// commands, the subscriptions, their log lines on connect) is a LinkUser's.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis/detail/connection.hpp"
#include "redis/options.hpp"
#include "redis/reply.hpp"
#include "resilience/backoff.hpp"

namespace aragora::redis::detail {

// Every call on the Link's strand.
class LinkUser {
public:
    // A connection attempt failed with `error` (the Link logs the first of a run of them).
    virtual void OnConnectFailed(const std::string& error) = 0;
    // A session started (the Link's session is open: Queue works). `again`: after a
    // failure or a lost connection rather than the first connect.
    virtual void OnConnected(bool again) = 0;
    // Replies read on the session, in order. May call Link::EndSession.
    virtual void OnReplies(std::vector<Reply>& replies) = 0;
    // The session ended with `reason` (the Link has closed it and dropped unwritten output).
    virtual void OnSessionEnded(const std::string& reason) = 0;
    // The loop is over (stopped).
    virtual void OnLoopEnded() = 0;

protected:
    ~LinkUser() = default;
};

class Link {
public:
    // `label` names the user in log lines ("redis", "redis subscriber"); `select_db`: send
    // SELECT after connecting (a subscriber does not need it).
    Link(boost::asio::strand<boost::asio::any_io_executor> strand, ConnectionOptions options,
         bool select_db, std::string label, std::shared_ptr<spdlog::logger> log);
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    // Spawns the loop on the strand (on the strand; `owner` keeps this Link and `user`
    // alive while it runs). False, and nothing spawned, once started or stopped.
    bool Start(std::shared_ptr<void> owner, LinkUser& user);
    // The completion handler of a coroutine of the link's owner: logs an exception.
    std::function<void(std::exception_ptr)> CrashLogger() const;

    // Appends formatted RESP to what the writer sends next (dropped when no session is open).
    void Queue(std::string_view formatted);
    // Ends the current session (closes the socket: the reader and the writer return).
    void EndSession(std::string reason);
    // Ends the session and the loop for good. Idempotent.
    void Stop(std::string reason);

    bool session_over() const { return session_over_; }
    // Readable from any thread (a caller's fast path); set on the strand.
    bool started() const { return started_; }
    bool stopped() const { return stopped_.load(std::memory_order_acquire); }

private:
    static boost::asio::awaitable<void> Run(std::shared_ptr<void> owner, Link& link,
                                            LinkUser& user);
    static boost::asio::awaitable<void> Reader(std::shared_ptr<void> owner, Link& link,
                                               LinkUser& user, std::shared_ptr<Connection> c);
    static boost::asio::awaitable<void> Writer(std::shared_ptr<void> owner, Link& link,
                                               std::shared_ptr<Connection> c);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    const ConnectionOptions options_;
    const bool select_db_;
    const std::string label_;
    std::shared_ptr<spdlog::logger> log_;
    resilience::Backoff reconnect_;  // its Ceiling: reconnect_min doubling to reconnect_max
    TlsContext tls_;
    boost::asio::steady_timer wake_;     // the writer's "more to write" signal
    boost::asio::steady_timer backoff_;  // between connection attempts

    std::shared_ptr<Connection> conn_;
    std::string out_;  // formatted, not yet written
    bool started_ = false;
    std::atomic<bool> stopped_{false};
    bool session_over_ = true;
    std::string end_reason_;
};

}  // namespace aragora::redis::detail
