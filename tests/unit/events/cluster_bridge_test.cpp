// Two instances' hubs joined by ClusterBridge over an in-memory bus that the test
// delivers (or loses) by hand; the "shared store" is a map the gap loader reads.

#include "events/cluster_bridge.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "events/hub.hpp"

namespace aragora::events {
namespace {

namespace asio = boost::asio;

struct Message {
    std::string channel;
    std::string payload;
};

// Collects what a bridge sends; `accept = false` plays a bus that is down.
class FakeBus final : public BusTransport {
public:
    bool Send(std::string_view channel, std::string payload) override {
        if (!accept) return false;
        sent.push_back({std::string(channel), std::move(payload)});
        return true;
    }
    bool accept = true;
    std::vector<Message> sent;
};

class Collector final : public Subscriber {
public:
    void Deliver(const Event& e) override {
        std::lock_guard lock(mutex);
        seqs.push_back(e.seq);
        types.push_back(e.type);
    }
    std::mutex mutex;
    std::vector<std::int64_t> seqs;
    std::vector<std::string> types;
};

Event MakeEvent(const std::string& id, std::int64_t seq, std::string type = "agent_message") {
    Event e;
    e.debate_id = id;
    e.seq = seq;
    e.type = std::move(type);
    e.timestamp = 1700000000.5 + static_cast<double>(seq);
    e.round = 1;
    e.agent = "claude";
    e.data_json = R"({"debate_id":")" + id + R"(","content":"turn )" + std::to_string(seq) + "\"}";
    return e;
}

struct Instance {
    Instance(asio::io_context& ioc, std::string id, std::map<std::int64_t, Event>& store)
        : bridge(
              ioc.get_executor(), hub, bus,
              [&store](const std::string& debate_id, std::int64_t after,
                       std::int64_t before) -> asio::awaitable<common::Result<std::vector<Event>>> {
                  std::vector<Event> out;
                  for (const auto& [seq, e] : store) {
                      if (e.debate_id == debate_id && seq > after && seq < before) out.push_back(e);
                  }
                  co_return out;
              },
              ClusterBridgeOptions{.instance_id = std::move(id)}) {
        hub.SetRelay([this](const Event& e) { bridge.Forward(e); });
    }
    EventHub hub{100};
    FakeBus bus;
    ClusterBridge bridge;
};

class ClusterBridgeTest : public ::testing::Test {
protected:
    // Hands every message `from` sent so far to `to`, in order.
    void Deliver(Instance& from, Instance& to) {
        for (const auto& m : from.bus.sent) to.bridge.OnBusMessage(m.channel, m.payload);
        from.bus.sent.clear();
        ioc.restart();
        ioc.run();
    }
    // What the running instance does: store, then publish locally.
    void Run(Instance& owner, const Event& e) {
        store[e.seq] = e;
        owner.hub.Publish(e);
    }

    asio::io_context ioc;
    std::map<std::int64_t, Event> store;
    Instance a{ioc, "inst-a", store};
    Instance b{ioc, "inst-b", store};
};

TEST(BusEventCodecTest, RoundTripsEveryField) {
    const Event e = MakeEvent("d_1", 7, "vote");
    auto decoded = DecodeBusEvent(EncodeBusEvent("inst-a", e));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->instance_id, "inst-a");
    EXPECT_EQ(decoded->event.debate_id, "d_1");
    EXPECT_EQ(decoded->event.seq, 7);
    EXPECT_EQ(decoded->event.type, "vote");
    EXPECT_DOUBLE_EQ(decoded->event.timestamp, e.timestamp);
    EXPECT_EQ(decoded->event.round, 1);
    EXPECT_EQ(decoded->event.agent, "claude");
    EXPECT_EQ(decoded->event.data_json, e.data_json);
    EXPECT_EQ(ToEnvelopeJson(decoded->event), ToEnvelopeJson(e));
}

TEST(BusEventCodecTest, RefusesMalformedMessages) {
    EXPECT_FALSE(DecodeBusEvent("not json").ok());
    EXPECT_FALSE(DecodeBusEvent(R"({"instance":"x"})").ok());
    EXPECT_FALSE(DecodeBusEvent(R"({"event":{"debate_id":"d","type":"t","seq":0}})").ok());
    EXPECT_FALSE(DecodeBusEvent(R"({"event":{"type":"t","seq":1}})").ok());
    EXPECT_FALSE(DecodeCancelRequest(R"({"instance":"x"})").ok());
    auto id = DecodeCancelRequest(EncodeCancelRequest("inst-b", "d_9"));
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(*id, "d_9");
}

TEST_F(ClusterBridgeTest, EventsOfADebateOnAReachSubscribersOnBInOrder) {
    auto watcher = std::make_shared<Collector>();
    b.hub.Subscribe("d_1", 0, watcher);
    for (int seq = 1; seq <= 5; ++seq) Run(a, MakeEvent("d_1", seq));
    Run(a, MakeEvent("d_1", 6, "debate_end"));
    Deliver(a, b);
    EXPECT_EQ(watcher->seqs, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(watcher->types.back(), "debate_end");
    EXPECT_EQ(b.hub.LatestSeq("d_1"), 6);
    // B publishes nothing back: events from the bus are not relayed.
    EXPECT_TRUE(b.bus.sent.empty());
    EXPECT_EQ(a.bridge.Stats().forwarded, 6u);
    EXPECT_EQ(b.bridge.Stats().received, 6u);
}

TEST_F(ClusterBridgeTest, OwnEventsComingBackAreIgnored) {
    Run(a, MakeEvent("d_1", 1));
    const auto sent = a.bus.sent;
    for (const auto& m : sent) a.bridge.OnBusMessage(m.channel, m.payload);
    ioc.run();
    EXPECT_EQ(a.bridge.Stats().own_ignored, 1u);
    EXPECT_EQ(a.hub.Stats().events_ignored, 0u);
}

TEST_F(ClusterBridgeTest, LostMessagesAreReadBackFromTheStoreBeforeTheNextEvent) {
    auto watcher = std::make_shared<Collector>();
    b.hub.Subscribe("d_1", 0, watcher);
    Run(a, MakeEvent("d_1", 1));
    Deliver(a, b);
    // The bus loses 2..4 (Redis restarted, FLUSHALL): A still stores and publishes them.
    for (int seq = 2; seq <= 4; ++seq) Run(a, MakeEvent("d_1", seq));
    a.bus.sent.clear();
    Run(a, MakeEvent("d_1", 5));
    Deliver(a, b);
    EXPECT_EQ(watcher->seqs, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(b.bridge.Stats().gap_events_loaded, 3u);
}

TEST_F(ClusterBridgeTest, DuplicatesFromTheBusReachSubscribersOnce) {
    auto watcher = std::make_shared<Collector>();
    b.hub.Subscribe("d_1", 0, watcher);
    Run(a, MakeEvent("d_1", 1));
    Run(a, MakeEvent("d_1", 2));
    const auto sent = a.bus.sent;
    Deliver(a, b);
    for (const auto& m : sent) b.bridge.OnBusMessage(m.channel, m.payload);
    ioc.restart();
    ioc.run();
    EXPECT_EQ(watcher->seqs, (std::vector<std::int64_t>{1, 2}));
}

TEST_F(ClusterBridgeTest, ABusThatIsDownIsCountedNotFatal) {
    a.bus.accept = false;
    Run(a, MakeEvent("d_1", 1));
    EXPECT_EQ(a.bridge.Stats().forward_dropped, 1u);
    EXPECT_EQ(a.hub.LatestSeq("d_1"), 1) << "local subscribers still get it";
    a.bus.accept = true;
    Run(a, MakeEvent("d_1", 2));
    Deliver(a, b);
    EXPECT_EQ(b.hub.LatestSeq("d_1"), 2);
    EXPECT_EQ(b.hub.Buffered("d_1", 0, 10).size(), 2u) << "seq 1 read back from the store";
}

TEST_F(ClusterBridgeTest, InboundQueueIsBounded) {
    // Not the fixture's: a bridge with room for two messages.
    FakeBus bus;
    EventHub hub{100};
    ClusterBridge bridge(ioc.get_executor(), hub, bus, nullptr,
                         ClusterBridgeOptions{.instance_id = "inst-d", .max_inbound = 2});
    for (int seq = 1; seq <= 5; ++seq) {
        bridge.OnBusMessage("aragora:events", EncodeBusEvent("inst-a", MakeEvent("d_1", seq)));
    }
    EXPECT_EQ(bridge.Stats().inbound_dropped, 3u);
    ioc.run();
    EXPECT_EQ(hub.LatestSeq("d_1"), 2);
}

TEST_F(ClusterBridgeTest, CancelRequestsReachTheOtherInstance) {
    std::vector<std::string> cancelled;
    a.bridge.SetCancelHandler([&](const std::string& id) { cancelled.push_back(id); });
    ASSERT_TRUE(b.bridge.RequestCancel("d_7"));
    Deliver(b, a);
    EXPECT_EQ(cancelled, (std::vector<std::string>{"d_7"}));
    b.bus.accept = false;
    EXPECT_FALSE(b.bridge.RequestCancel("d_8"));
}

TEST_F(ClusterBridgeTest, BadMessagesAreCounted) {
    b.bridge.OnBusMessage("aragora:events", "{");
    b.bridge.OnBusMessage("aragora:control", "[]");
    b.bridge.OnBusMessage("other", "ignored");
    EXPECT_EQ(b.bridge.Stats().bad_messages, 2u);
}

}  // namespace
}  // namespace aragora::events
