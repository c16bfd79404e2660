#include "app/redis_bus.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <vector>

#include "redis/client.hpp"

namespace aragora::app {

namespace asio = boost::asio;

RedisBusTransport::RedisBusTransport(asio::any_io_executor executor, redis::RedisClient& client,
                                     std::size_t max_outbox)
    : strand_(asio::make_strand(std::move(executor))), client_(client), max_outbox_(max_outbox) {}

bool RedisBusTransport::Send(std::string_view channel, std::string payload) {
    bool spawn = false;
    {
        std::lock_guard lock(mutex_);
        if (outbox_.size() >= max_outbox_) {
            ++stats_.dropped;
            return false;
        }
        outbox_.emplace_back(std::string(channel), std::move(payload));
        spawn = !draining_;
        draining_ = true;
    }
    if (spawn) asio::co_spawn(strand_, Drain(), asio::detached);
    return true;
}

bool RedisBusTransport::NextCommand(std::vector<std::string>& command) {
    std::lock_guard lock(mutex_);
    if (outbox_.empty()) {
        draining_ = false;
        return false;
    }
    command = {"PUBLISH", std::move(outbox_.front().first), std::move(outbox_.front().second)};
    outbox_.pop_front();
    return true;
}

void RedisBusTransport::Count(bool published) {
    std::lock_guard lock(mutex_);
    ++(published ? stats_.published : stats_.failed);
}

// No lock is held across a suspension point: NextCommand() and Count() take it.
asio::awaitable<void> RedisBusTransport::Drain() {
    std::vector<std::string> command;
    while (NextCommand(command)) {
        // One at a time keeps the order of a debate's events on the bus. A failure loses
        // the message on the bus only: receivers read gaps back from the store.
        auto reply = co_await client_.Command(std::move(command), std::chrono::milliseconds(500));
        Count(reply && !reply->IsError());
        command.clear();
    }
}

RedisBusStats RedisBusTransport::Stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace aragora::app
