#pragma once

// RedisSubscriber: a dedicated Redis connection in subscribe mode. Subscriptions are
// declarative: the subscriber remembers every channel and pattern asked for and makes
// them again by itself after each reconnect (a Redis restart, a network cut), so no
// manual step is needed after an outage. Publishing goes through RedisClient (PUBLISH).
//
// Delivery: messages are queued in a bounded inbox (max_buffered_messages) and handed to
// the handler one at a time, in arrival order, on the subscriber's internal strand. The
// handler must be quick and must not block (post heavier work elsewhere); an exception
// it throws is logged and the message dropped. When the inbox is full the OLDEST message
// is dropped and counted (Stats().dropped), with one warning per overflow episode.
// A message that arrives for a channel (or pattern) already unsubscribed is not delivered.
//
// Thread-safety: every method may be called from any thread and any executor. Lifetime:
// as RedisClient (Stop before the io_context stops); the handler is never called after
// the subscriber is stopped and its strand has drained.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "redis/options.hpp"

namespace aragora::redis {

struct SubscriberOptions {
    ConnectionOptions connection;
    std::size_t max_buffered_messages = 4096;  // inbox bound
    std::size_t max_subscriptions = 1024;      // channels + patterns
    std::string name = "default";              // logs: "aragora.redis.sub.<name>"
};

struct Message {
    std::string pattern;  // the matching pattern for PSUBSCRIBE deliveries, else empty
    std::string channel;
    std::string payload;
};

using MessageHandler = std::function<void(const Message&)>;

struct SubscriberStats {
    std::uint64_t messages = 0;  // delivered to the handler
    std::uint64_t dropped = 0;   // inbox overflow
    std::uint64_t connects = 0;  // successful connections (each re-subscribes everything)
    std::uint64_t connect_failures = 0;
};

class RedisSubscriber {
public:
    RedisSubscriber(boost::asio::any_io_executor executor, SubscriberOptions options,
                    MessageHandler handler);
    ~RedisSubscriber();  // Stop()
    RedisSubscriber(const RedisSubscriber&) = delete;
    RedisSubscriber& operator=(const RedisSubscriber&) = delete;

    // Connects in the background and keeps reconnecting until Stop. Idempotent.
    void Start();
    void Stop();

    // Records the subscription (kept across reconnects until unsubscribed) and waits until
    // the server confirms it, at most `timeout`. When not confirmed in time: kUnavailable
    // while Redis is unreachable, else kTimeout — the subscription stays recorded either
    // way and is made as soon as possible. kOverloaded past max_subscriptions (not
    // recorded). kBadRequest for an empty name.
    boost::asio::awaitable<common::Status> Subscribe(std::string channel,
                                                     std::chrono::milliseconds timeout);
    boost::asio::awaitable<common::Status> PSubscribe(std::string pattern,
                                                      std::chrono::milliseconds timeout);
    // Forgets the subscription at once (no later delivery) and tells the server when
    // connected. Never fails for a name not subscribed.
    boost::asio::awaitable<common::Status> Unsubscribe(std::string channel);
    boost::asio::awaitable<common::Status> PUnsubscribe(std::string pattern);

    // Waits until connected with every recorded subscription confirmed (ready()), at
    // most `timeout`; kUnavailable / kTimeout as Subscribe.
    boost::asio::awaitable<common::Status> WaitReady(std::chrono::milliseconds timeout);

    bool connected() const;
    // Connected and every recorded subscription confirmed by the server.
    bool ready() const;
    SubscriberStats Stats() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace aragora::redis
