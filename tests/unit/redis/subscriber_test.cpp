// RedisSubscriber against a real redis-server: channels and patterns, re-subscription by
// itself after the server is killed and restarted, FLUSHALL, unsubscribe, bounded inbox.

#include "redis/subscriber.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "redis/client.hpp"
#include "redis_test_server.hpp"

namespace aragora::redis {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using testing::IoThreads;
using testing::RedisTestServer;
using testing::WaitFor;

ConnectionOptions Connection(const std::string& url) {
    ConnectionOptions o;
    o.url = *RedisUrl::Parse(url);
    o.reconnect_min = milliseconds(20);
    o.reconnect_max = milliseconds(200);
    return o;
}

// Thread-safe record of delivered messages.
class Inbox {
public:
    void Add(const Message& m) {
        std::lock_guard lock(mu_);
        messages_.push_back(m);
    }
    std::vector<Message> All() const {
        std::lock_guard lock(mu_);
        return messages_;
    }
    std::size_t Count() const {
        std::lock_guard lock(mu_);
        return messages_.size();
    }
    bool Has(const std::string& channel, const std::string& payload) const {
        std::lock_guard lock(mu_);
        for (const auto& m : messages_) {
            if (m.channel == channel && m.payload == payload) return true;
        }
        return false;
    }

private:
    mutable std::mutex mu_;
    std::vector<Message> messages_;
};

asio::awaitable<common::Result<Reply>> Publish(RedisClient& client, std::string channel,
                                               std::string payload) {
    std::vector<std::string> args{"PUBLISH", std::move(channel), std::move(payload)};
    co_return co_await client.Command(std::move(args));
}

class RedisSubscriberTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string err = server_.Start();
        ASSERT_TRUE(err.empty()) << err;
        ClientOptions co;
        co.connection = Connection(server_.Url());
        client_ = std::make_unique<RedisClient>(io_.executor(), co);
        client_->Start();
        ASSERT_TRUE(io_.Await(client_->WaitConnected(milliseconds(5000))).ok());
    }
    void TearDown() override {
        if (client_) client_->Stop();
    }

    std::unique_ptr<RedisSubscriber> MakeSubscriber(SubscriberOptions o = {}) {
        o.connection = Connection(server_.Url());
        auto sub = std::make_unique<RedisSubscriber>(io_.executor(), o,
                                                     [this](const Message& m) { inbox_.Add(m); });
        sub->Start();
        return sub;
    }

    // Publishes until the subscriber has it (a fresh reconnect of the *publisher* may
    // still be under way); returns whether it arrived.
    bool PublishUntilReceived(const std::string& channel, const std::string& payload) {
        return WaitFor([&] {
            if (inbox_.Has(channel, payload)) return true;
            auto r = io_.Await(Publish(*client_, channel, payload));
            return r.ok() && r->integer >= 1 &&
                   WaitFor([&] { return inbox_.Has(channel, payload); }, milliseconds(500));
        });
    }

    RedisTestServer server_;
    IoThreads io_;
    std::unique_ptr<RedisClient> client_;
    Inbox inbox_;
};

TEST_F(RedisSubscriberTest, ChannelsAndPatterns) {
    auto sub = MakeSubscriber();
    ASSERT_TRUE(io_.Await(sub->Subscribe("debates:1", milliseconds(5000))).ok());
    ASSERT_TRUE(io_.Await(sub->PSubscribe("events:*", milliseconds(5000))).ok());
    EXPECT_TRUE(sub->ready());

    auto one = io_.Await(Publish(*client_, "debates:1", "hello"));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->integer, 1);  // one receiver: the subscriber
    ASSERT_TRUE(io_.Await(Publish(*client_, "events:round", "r1")).ok());
    ASSERT_TRUE(io_.Await(Publish(*client_, "other", "ignored")).ok());
    ASSERT_TRUE(WaitFor([&] { return inbox_.Count() >= 2; }));
    auto all = inbox_.All();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].channel, "debates:1");
    EXPECT_EQ(all[0].payload, "hello");
    EXPECT_TRUE(all[0].pattern.empty());
    EXPECT_EQ(all[1].channel, "events:round");
    EXPECT_EQ(all[1].pattern, "events:*");
    EXPECT_EQ(all[1].payload, "r1");
    EXPECT_EQ(sub->Stats().messages, 2u);
}

TEST_F(RedisSubscriberTest, ResubscribesByItselfAfterARestart) {
    auto sub = MakeSubscriber();
    ASSERT_TRUE(io_.Await(sub->Subscribe("debates:1", milliseconds(5000))).ok());
    ASSERT_TRUE(io_.Await(sub->PSubscribe("events:*", milliseconds(5000))).ok());
    ASSERT_TRUE(PublishUntilReceived("debates:1", "before"));

    server_.Kill();
    ASSERT_TRUE(WaitFor([&] { return !sub->connected(); }));
    EXPECT_FALSE(sub->ready());
    // Subscribing while Redis is down records the channel and says so.
    auto late = io_.Await(sub->Subscribe("debates:2", milliseconds(100)));
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, common::ErrorCode::kUnavailable);

    const std::string err = server_.Start();
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_TRUE(io_.Await(sub->WaitReady(milliseconds(10000))).ok());
    ASSERT_TRUE(io_.Await(client_->WaitConnected(milliseconds(10000))).ok());
    EXPECT_TRUE(PublishUntilReceived("debates:1", "after"));
    EXPECT_TRUE(PublishUntilReceived("debates:2", "recorded while down"));
    EXPECT_TRUE(PublishUntilReceived("events:x", "pattern too"));
    EXPECT_GE(sub->Stats().connects, 2u);
}

TEST_F(RedisSubscriberTest, KeepsWorkingAfterFlushAll) {
    auto sub = MakeSubscriber();
    ASSERT_TRUE(io_.Await(sub->Subscribe("debates:1", milliseconds(5000))).ok());
    ASSERT_EQ(server_.Exec({"FLUSHALL"}), "+OK");
    EXPECT_TRUE(PublishUntilReceived("debates:1", "after flush"));
    EXPECT_TRUE(sub->ready());
}

TEST_F(RedisSubscriberTest, UnsubscribeStopsDelivery) {
    auto sub = MakeSubscriber();
    ASSERT_TRUE(io_.Await(sub->Subscribe("a", milliseconds(5000))).ok());
    ASSERT_TRUE(io_.Await(sub->Subscribe("b", milliseconds(5000))).ok());
    ASSERT_TRUE(io_.Await(sub->Unsubscribe("a")).ok());
    ASSERT_TRUE(io_.Await(Publish(*client_, "a", "1")).ok());
    ASSERT_TRUE(io_.Await(Publish(*client_, "b", "2")).ok());
    // One connection delivers in order: once "b" is in, "a" would have been before it.
    ASSERT_TRUE(WaitFor([&] { return inbox_.Has("b", "2"); }));
    EXPECT_FALSE(inbox_.Has("a", "1"));
}

TEST_F(RedisSubscriberTest, FullInboxDropsTheOldestAndCounts) {
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> delivered{0};
    SubscriberOptions o;
    o.max_buffered_messages = 10;
    o.connection = Connection(server_.Url());
    // The handler holds the first message until everything is published, so the rest
    // arrives in one burst.
    RedisSubscriber sub(io_.executor(), o, [&](const Message& m) {
        if (delivered.fetch_add(1) == 0) {
            std::unique_lock lock(mu);
            cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
        }
    });
    sub.Start();
    ASSERT_TRUE(io_.Await(sub.Subscribe("burst", milliseconds(5000))).ok());
    constexpr int kMessages = 300;
    for (int i = 0; i < kMessages; ++i) {
        auto r = io_.Await(Publish(*client_, "burst", std::to_string(i)));
        ASSERT_TRUE(r.ok());
    }
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    ASSERT_TRUE(WaitFor([&] {
        auto s = sub.Stats();
        return s.messages + s.dropped == kMessages;
    })) << "delivered "
        << sub.Stats().messages << " dropped " << sub.Stats().dropped;
    EXPECT_GT(sub.Stats().dropped, 0u);
    EXPECT_EQ(sub.Stats().messages, static_cast<std::uint64_t>(delivered.load()));
    sub.Stop();
}

}  // namespace
}  // namespace aragora::redis
