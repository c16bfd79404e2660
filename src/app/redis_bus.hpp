#pragma once

// The multi-instance bus on Redis pub/sub: events::BusTransport over a RedisClient
// (PUBLISH), in order, from a bounded outbox. Subscribing is the app's RedisSubscriber,
// whose handler hands messages to events::ClusterBridge::OnBusMessage.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/cluster_bridge.hpp"

namespace aragora::redis {
class RedisClient;
}

namespace aragora::app {

struct RedisBusStats {
    std::uint64_t published = 0;
    std::uint64_t dropped = 0;  // outbox full: refused by Send()
    std::uint64_t failed = 0;   // PUBLISH failed (Redis down, timeout): lost on the bus
};

// Thread-safety: Send() and Stats() from any thread. One coroutine publishes the outbox in
// order on its own strand; the client must outlive it (stop the io_context first).
class RedisBusTransport final : public events::BusTransport {
public:
    RedisBusTransport(boost::asio::any_io_executor executor, redis::RedisClient& client,
                      std::size_t max_outbox = 4096);
    bool Send(std::string_view channel, std::string payload) override;
    RedisBusStats Stats() const;

private:
    boost::asio::awaitable<void> Drain();
    bool NextCommand(std::vector<std::string>& command);  // false: outbox empty, drain ends
    void Count(bool published);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    redis::RedisClient& client_;
    const std::size_t max_outbox_;
    mutable std::mutex mutex_;
    std::deque<std::pair<std::string, std::string>> outbox_;  // guarded by mutex_
    bool draining_ = false;                                   // guarded by mutex_
    RedisBusStats stats_;                                     // guarded by mutex_
};

}  // namespace aragora::app
