#include "events/hub.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace aragora::events {
namespace {

Event Make(const std::string& debate_id, std::int64_t seq, std::string type = "agent_message") {
    Event e;
    e.debate_id = debate_id;
    e.seq = seq;
    e.type = std::move(type);
    e.timestamp = 1.0 + static_cast<double>(seq);
    e.data_json = R"({"debate_id":")" + debate_id + R"("})";
    return e;
}

// Records delivered seqs; thread-safe.
class Recorder : public Subscriber {
public:
    void Deliver(const Event& event) override {
        std::lock_guard lock(mu_);
        seqs_.push_back(event.seq);
        debates_.push_back(event.debate_id);
    }
    std::vector<std::int64_t> seqs() const {
        std::lock_guard lock(mu_);
        return seqs_;
    }
    std::vector<std::string> debates() const {
        std::lock_guard lock(mu_);
        return debates_;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::int64_t> seqs_;
    std::vector<std::string> debates_;
};

// Records each delivery call (Deliver: one event; DeliverBatch: its run) as the seqs it
// carried.
class CallRecorder : public Subscriber {
public:
    void Deliver(const Event& event) override {
        std::lock_guard lock(mu_);
        calls_.push_back({event.seq});
    }
    void DeliverBatch(std::span<const Event* const> events) override {
        std::vector<std::int64_t> seqs;
        for (const Event* e : events) seqs.push_back(e->seq);
        std::lock_guard lock(mu_);
        calls_.push_back(std::move(seqs));
    }
    std::vector<std::vector<std::int64_t>> calls() const {
        std::lock_guard lock(mu_);
        return calls_;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::vector<std::int64_t>> calls_;
};

template <typename Events>
std::vector<std::int64_t> Seqs(const Events& events) {
    std::vector<std::int64_t> out;
    for (const auto& e : events) out.push_back(e.seq);
    return out;
}

std::vector<std::int64_t> Range(std::int64_t first, std::int64_t last) {
    std::vector<std::int64_t> out;
    for (std::int64_t s = first; s <= last; ++s) out.push_back(s);
    return out;
}

TEST(EventHubTest, FansOutToEverySubscriberOfTheDebateOnly) {
    EventHub hub(100, 10);
    auto a = std::make_shared<Recorder>();
    auto b = std::make_shared<Recorder>();
    auto other = std::make_shared<Recorder>();
    hub.Subscribe("d1", 0, a);
    hub.Subscribe("d1", 0, b);
    hub.Subscribe("d2", 0, other);

    for (int s = 1; s <= 3; ++s) hub.Publish(Make("d1", s));
    hub.Publish(Make("d2", 1));

    EXPECT_EQ(a->seqs(), Range(1, 3));
    EXPECT_EQ(b->seqs(), Range(1, 3));
    EXPECT_EQ(other->seqs(), Range(1, 1));
    EXPECT_EQ(other->debates(), std::vector<std::string>{"d2"});
    EXPECT_EQ(hub.Stats().subscriptions, 3u);
    EXPECT_EQ(hub.Stats().events_published, 4u);
    EXPECT_EQ(hub.Stats().live_debates, 2u);
}

// Keeps the envelope pointer of every delivered event.
class FrameRecorder : public Subscriber {
public:
    void Deliver(const Event& event) override {
        std::lock_guard lock(mu_);
        frames.push_back(event.envelope);
    }
    std::mutex mu_;
    std::vector<std::shared_ptr<const std::string>> frames;
};

TEST(EventHubTest, EveryReaderSharesOneEncodingOfAnEvent) {
    EventHub hub(100, 10);
    auto a = std::make_shared<FrameRecorder>();
    auto b = std::make_shared<FrameRecorder>();
    hub.Subscribe("d1", 0, a);
    hub.Subscribe("d1", 0, b);

    hub.Publish(Make("d1", 1));

    ASSERT_EQ(a->frames.size(), 1u);
    ASSERT_EQ(b->frames.size(), 1u);
    ASSERT_TRUE(a->frames[0]);
    EXPECT_EQ(a->frames[0].get(), b->frames[0].get());
    EXPECT_EQ(*a->frames[0], ToEnvelopeJson(Make("d1", 1)));
    const auto snapshot = hub.Subscribe("d1", 0, std::make_shared<Recorder>());
    ASSERT_EQ(snapshot.buffered.size(), 1u);
    EXPECT_EQ(snapshot.buffered[0].envelope.get(), a->frames[0].get());
}

// An event its publisher no longer needs (the run, once it is stored) is taken into the
// buffer, not copied: the buffered event holds the publisher's data bytes.
TEST(EventHubTest, AnEventHandedOverIsTakenNotCopied) {
    EventHub hub(100, 10);
    Event e = Make("d1", 1);
    e.data_json = R"({"content":")" + std::string(200, 'x') + R"("})";
    const char* bytes = e.data_json.data();
    hub.Publish(std::move(e));
    const auto snapshot = hub.Subscribe("d1", 0, std::make_shared<Recorder>());
    ASSERT_EQ(snapshot.buffered.size(), 1u);
    EXPECT_EQ(snapshot.buffered[0].data_json.data(), bytes);
    // A publisher that keeps its event still gets it copied.
    const Event kept = Make("d1", 2);
    hub.Publish(kept);
    EXPECT_EQ(kept.seq, 2);
    EXPECT_FALSE(kept.data_json.empty());
}

// Subscribing copies no event: every subscriber's snapshot reads the hub's own buffered
// events (the same objects), and a snapshot outlives the buffer dropping them.
TEST(EventHubTest, SubscribeSharesTheBufferedEventsWithoutCopying) {
    EventHub hub(100, 10);
    for (int s = 1; s <= 150; ++s) hub.Publish(Make("d1", s));  // crosses chunks; 51..150 kept
    const SubscribeResult a = hub.Subscribe("d1", 0, std::make_shared<Recorder>());
    const SubscribeResult b = hub.Subscribe("d1", 60, std::make_shared<Recorder>());
    ASSERT_EQ(Seqs(a.buffered), Range(51, 150));
    ASSERT_EQ(Seqs(b.buffered), Range(61, 150));
    for (std::size_t i = 0; i < b.buffered.size(); ++i) {
        EXPECT_EQ(&b.buffered[i], &a.buffered[i + 10]) << i;  // one object, not two copies
    }
    // The hub drops all of them from its buffer; the snapshots still read them.
    for (int s = 151; s <= 400; ++s) hub.Publish(Make("d1", s));
    EXPECT_EQ(Seqs(a.buffered), Range(51, 150));
    EXPECT_EQ(a.buffered[0].data_json, Make("d1", 51).data_json);
    EXPECT_EQ(Seqs(hub.Subscribe("d1", 0, std::make_shared<Recorder>()).buffered), Range(301, 400));
    EXPECT_EQ(hub.Stats().buffered_events, 100u);
}

// The subscriber list is kept in blocks: joins and leaves in any order, across block
// boundaries, leave exactly the remaining subscribers to deliver to.
TEST(EventHubTest, ManySubscribersJoinAndLeaveInAnyOrder) {
    EventHub hub(10, 10);
    constexpr int kSubs = 300;
    std::vector<std::shared_ptr<Recorder>> recorders;
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < kSubs; ++i) {
        recorders.push_back(std::make_shared<Recorder>());
        ids.push_back(hub.Subscribe("d1", 0, recorders.back()).subscription_id);
    }
    std::vector<int> order(kSubs);
    for (int i = 0; i < kSubs; ++i) order[static_cast<std::size_t>(i)] = i;
    std::mt19937 rng(3);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<bool> left(kSubs, false);
    for (int n = 0; n < kSubs; ++n) {
        const int i = order[static_cast<std::size_t>(n)];
        hub.Unsubscribe("d1", ids[static_cast<std::size_t>(i)]);
        hub.Unsubscribe("d1", ids[static_cast<std::size_t>(i)]);  // idempotent
        left[static_cast<std::size_t>(i)] = true;
        EXPECT_EQ(hub.Stats().subscriptions, static_cast<std::size_t>(kSubs - n - 1));
        if (n % 37 != 0) continue;
        const std::int64_t seq = n + 1;
        hub.Publish(Make("d1", seq));
        for (int j = 0; j < kSubs; ++j) {
            const auto seqs = recorders[static_cast<std::size_t>(j)]->seqs();
            const bool got = !seqs.empty() && seqs.back() == seq;
            ASSERT_EQ(got, !left[static_cast<std::size_t>(j)]) << "subscriber " << j << " at " << n;
        }
    }
    auto late = std::make_shared<Recorder>();
    hub.Subscribe("d1", 0, late);
    hub.Publish(Make("d1", 1000));
    EXPECT_EQ(late->seqs().back(), 1000);
}

// The chunked buffer keeps exactly the newest N events for every N around the chunk sizes.
TEST(EventHubTest, BufferKeepsTheNewestEventsAcrossChunkBoundaries) {
    for (std::size_t size : {1u, 3u, 4u, 5u, 63u, 64u, 65u, 130u}) {
        EventHub hub(size, 10);
        for (int s = 1; s <= 300; ++s) {
            hub.Publish(Make("d1", s));
            const std::int64_t first = std::max<std::int64_t>(1, s - static_cast<int>(size) + 1);
            ASSERT_EQ(Seqs(hub.Buffered("d1", 0, 1000)), Range(first, s))
                << "size " << size << " after " << s;
            ASSERT_EQ(Seqs(hub.Subscribe("d1", s - 2, std::make_shared<Recorder>()).buffered),
                      Range(std::max<std::int64_t>(first, s - 1), s))
                << "size " << size << " after " << s;
        }
    }
}

TEST(EventHubTest, SubscribeReturnsBufferedAfterFromSeqThenLiveOnly) {
    EventHub hub(100, 10);
    for (int s = 1; s <= 5; ++s) hub.Publish(Make("d1", s));
    auto r = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("d1", 2, r);
    EXPECT_TRUE(res.known);
    EXPECT_FALSE(res.ended);
    EXPECT_EQ(res.latest_seq, 5);
    EXPECT_EQ(res.first_buffered_seq, 1);
    EXPECT_EQ(Seqs(res.buffered), Range(3, 5));
    EXPECT_TRUE(r->seqs().empty());

    hub.Publish(Make("d1", 6));
    EXPECT_EQ(r->seqs(), Range(6, 6));
}

TEST(EventHubTest, LiveEventsAtOrBelowFromSeqAreNotDelivered) {
    EventHub hub(100, 10);
    auto r = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("d1", 3, r);
    EXPECT_FALSE(res.known);
    for (int s = 1; s <= 5; ++s) hub.Publish(Make("d1", s));
    EXPECT_EQ(r->seqs(), Range(4, 5));
}

TEST(EventHubTest, UnknownDebateRegistersAndReceivesItsFirstEvents) {
    EventHub hub(100, 10);
    auto r = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("later", 0, r);
    EXPECT_FALSE(res.known);
    EXPECT_EQ(res.latest_seq, 0);
    EXPECT_EQ(res.first_buffered_seq, 0);
    EXPECT_TRUE(res.buffered.empty());
    hub.Publish(Make("later", 1, "debate_start"));
    EXPECT_EQ(r->seqs(), Range(1, 1));
}

TEST(EventHubTest, UnsubscribeStopsDeliveryAndDropsPlaceholders) {
    EventHub hub(100, 10);
    auto r = std::make_shared<Recorder>();
    auto keep = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("d1", 0, r);
    hub.Subscribe("d1", 0, keep);
    hub.Publish(Make("d1", 1));
    hub.Unsubscribe("d1", res.subscription_id);
    hub.Unsubscribe("d1", res.subscription_id);  // idempotent
    hub.Unsubscribe("nope", 42);                 // unknown: ignored
    hub.Publish(Make("d1", 2));
    EXPECT_EQ(r->seqs(), Range(1, 1));
    EXPECT_EQ(keep->seqs(), Range(1, 2));
    EXPECT_EQ(hub.Stats().subscriptions, 1u);

    // Probing an id that never publishes leaves nothing behind.
    auto probe = std::make_shared<Recorder>();
    SubscribeResult p = hub.Subscribe("ghost", 0, probe);
    EXPECT_EQ(hub.Stats().subscriptions, 2u);
    hub.Unsubscribe("ghost", p.subscription_id);
    EXPECT_EQ(hub.Stats().subscriptions, 1u);
    EXPECT_FALSE(hub.Subscribe("ghost", 0, probe).known);
    EXPECT_EQ(probe.use_count(), 2);  // held by the new registration only
}

TEST(EventHubTest, RingBufferKeepsTheNewestEventsAndReportsFirstBufferedSeq) {
    EventHub hub(4, 10);
    for (int s = 1; s <= 10; ++s) hub.Publish(Make("d1", s));
    auto r = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("d1", 0, r);
    EXPECT_EQ(res.first_buffered_seq, 7);
    EXPECT_EQ(res.latest_seq, 10);
    EXPECT_EQ(Seqs(res.buffered), Range(7, 10));
    EXPECT_EQ(Seqs(hub.Subscribe("d1", 8, r).buffered), Range(9, 10));
    EXPECT_EQ(hub.Stats().buffered_events, 4u);

    EXPECT_EQ(Seqs(hub.Buffered("d1", 0, 100)), Range(7, 10));
    EXPECT_EQ(Seqs(hub.Buffered("d1", 7, 2)), Range(8, 9));
    EXPECT_TRUE(hub.Buffered("d1", 10, 100).empty());
    EXPECT_TRUE(hub.Buffered("unknown", 0, 100).empty());
}

TEST(EventHubTest, AnUnwatchedDebateKeepsOnlyItsNewestEventsUntilSomeoneSubscribes) {
    EventHub hub(100, 10, 3);
    for (int s = 1; s <= 10; ++s) hub.Publish(Make("d1", s));
    EXPECT_EQ(hub.Stats().buffered_events, 3u);
    auto r = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("d1", 0, r);
    // The older events come from the store (first_buffered_seq tells the caller).
    EXPECT_EQ(res.first_buffered_seq, 8);
    EXPECT_EQ(Seqs(res.buffered), Range(8, 10));
    // Watched, the buffer grows to the full replay size again.
    for (int s = 11; s <= 20; ++s) hub.Publish(Make("d1", s));
    EXPECT_EQ(Seqs(hub.Buffered("d1", 0, 100)), Range(8, 20));
    EXPECT_EQ(r->seqs(), Range(11, 20));
    // Unwatched again: trimmed at the next event.
    hub.Unsubscribe("d1", res.subscription_id);
    hub.Publish(Make("d1", 21));
    EXPECT_EQ(Seqs(hub.Buffered("d1", 0, 100)), Range(19, 21));
    EXPECT_EQ(hub.Stats().buffered_events, 3u);
}

TEST(EventHubTest, ZeroSizedBufferStillTracksLatestSeq) {
    EventHub hub(0, 10);
    for (int s = 1; s <= 3; ++s) hub.Publish(Make("d1", s));
    auto r = std::make_shared<Recorder>();
    SubscribeResult res = hub.Subscribe("d1", 0, r);
    EXPECT_TRUE(res.known);
    EXPECT_EQ(res.latest_seq, 3);
    EXPECT_EQ(res.first_buffered_seq, 0);
    EXPECT_TRUE(res.buffered.empty());
}

TEST(EventHubTest, DuplicateAndStaleSeqsAreIgnored) {
    EventHub hub(10, 10);
    auto r = std::make_shared<Recorder>();
    hub.Subscribe("d1", 0, r);
    hub.Publish(Make("d1", 1));
    hub.Publish(Make("d1", 2));
    hub.Publish(Make("d1", 2));
    hub.Publish(Make("d1", 1));
    hub.Publish(Make("d1", 3));
    EXPECT_EQ(r->seqs(), Range(1, 3));
    EXPECT_EQ(Seqs(hub.Buffered("d1", 0, 10)), Range(1, 3));
    EXPECT_EQ(hub.Stats().events_ignored, 2u);
}

TEST(EventHubTest, EndedDebatesAreKeptForTheMostRecentOnesOnly) {
    EventHub hub(10, 2);
    auto end = [&](const std::string& id) {
        hub.Publish(Make(id, 1, "debate_start"));
        hub.Publish(Make(id, 2, "debate_end"));
    };
    end("a");
    end("b");
    EXPECT_EQ(hub.Stats().ended_debates, 2u);
    EXPECT_EQ(hub.Stats().live_debates, 0u);

    auto r = std::make_shared<Recorder>();
    SubscribeResult a = hub.Subscribe("a", 0, r);  // touches "a": "b" is now the oldest
    EXPECT_TRUE(a.known);
    EXPECT_TRUE(a.ended);
    EXPECT_EQ(Seqs(a.buffered), Range(1, 2));
    hub.Unsubscribe("a", a.subscription_id);

    end("c");
    EXPECT_EQ(hub.Stats().ended_debates, 2u);
    EXPECT_TRUE(hub.Buffered("b", 0, 10).empty());
    EXPECT_EQ(Seqs(hub.Buffered("a", 0, 10)), Range(1, 2));
    EXPECT_EQ(Seqs(hub.Buffered("c", 0, 10)), Range(1, 2));

    for (int i = 0; i < 50; ++i) end("x" + std::to_string(i));
    HubStats s = hub.Stats();
    EXPECT_EQ(s.ended_debates, 2u);
    EXPECT_EQ(s.buffered_events, 4u);
    EXPECT_EQ(s.subscriptions, 0u);
    SubscribeResult gone = hub.Subscribe("a", 0, r);
    EXPECT_FALSE(gone.known);
    EXPECT_TRUE(gone.buffered.empty());
}

TEST(EventHubTest, EvictionReleasesSubscribersOfDroppedDebates) {
    EventHub hub(10, 1);
    auto r = std::make_shared<Recorder>();
    hub.Subscribe("a", 0, r);
    hub.Publish(Make("a", 1, "debate_end"));
    EXPECT_EQ(r->seqs(), Range(1, 1));  // delivered even though "a" is evicted below
    hub.Publish(Make("b", 1, "debate_end"));
    EXPECT_EQ(r.use_count(), 1);
    EXPECT_EQ(hub.Stats().subscriptions, 0u);
}

TEST(EventHubTest, NoEndedDebatesKeptWhenMaxIsZero) {
    EventHub hub(10, 0);
    auto r = std::make_shared<Recorder>();
    hub.Subscribe("a", 0, r);
    hub.Publish(Make("a", 1));
    hub.Publish(Make("a", 2, "debate_end"));
    EXPECT_EQ(r->seqs(), Range(1, 2));
    EXPECT_EQ(hub.Stats().ended_debates, 0u);
    EXPECT_FALSE(hub.Subscribe("a", 0, r).known);
}

// Snapshot + live must be gap-free and duplicate-free whatever the interleaving of
// Subscribe() with a concurrent publisher.
TEST(EventHubTest, ConcurrentPublisherSnapshotPlusLiveIsGapFree) {
    constexpr std::int64_t kEvents = 10'000;
    EventHub hub(kEvents, 4);
    std::atomic<std::int64_t> published{0};
    std::thread publisher([&] {
        for (std::int64_t s = 1; s <= kEvents; ++s) {
            hub.Publish(Make("d1", s, s == kEvents ? "debate_end" : "token_delta"));
            published.store(s);
            if (s % 64 == 0) std::this_thread::yield();
        }
    });

    struct Sub {
        std::int64_t from = 0;
        SubscribeResult result;
        std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
    };
    // Subscription points spread over the whole run: wait for random publish counts.
    std::mt19937 rng(12345);
    std::vector<std::int64_t> points;
    for (int i = 0; i < 200; ++i) {
        points.push_back(std::uniform_int_distribution<std::int64_t>(0, kEvents)(rng));
    }
    std::sort(points.begin(), points.end());
    std::vector<Sub> subs;
    for (std::int64_t point : points) {
        while (published.load() < point) std::this_thread::yield();
        Sub s;
        const std::int64_t now = published.load();
        // Mostly recent positions (a reconnecting client), some from the start, some ahead.
        s.from = std::uniform_int_distribution<std::int64_t>(std::max<std::int64_t>(0, now - 50),
                                                             now + 3)(rng);
        if (subs.size() % 10 == 0) s.from = 0;
        s.result = hub.Subscribe("d1", s.from, s.recorder);
        subs.push_back(std::move(s));
    }
    publisher.join();
    std::size_t mid_stream = 0;
    for (const auto& s : subs) {
        if (!s.recorder->seqs().empty() && !s.result.buffered.empty()) ++mid_stream;
    }
    EXPECT_GT(mid_stream, 20u) << "subscriptions should land while events are flowing";

    for (const auto& s : subs) {
        std::vector<std::int64_t> all = Seqs(s.result.buffered);
        for (std::int64_t seq : s.recorder->seqs()) all.push_back(seq);
        ASSERT_EQ(all, Range(s.from + 1, kEvents)) << "from_seq " << s.from;
    }
    EXPECT_EQ(hub.Stats().events_published, static_cast<std::uint64_t>(kEvents));
}

TEST(EventHubTest, PublishBatchReachesEachSubscriberInOneCall) {
    EventHub hub(100, 10);
    auto a = std::make_shared<CallRecorder>();
    auto late = std::make_shared<CallRecorder>();  // already has 1..3
    auto other = std::make_shared<CallRecorder>();
    hub.Subscribe("d1", 0, a);
    hub.Subscribe("d1", 3, late);
    hub.Subscribe("d2", 0, other);
    std::vector<std::string> relayed;
    hub.SetRelay(
        [&](const Event& e) { relayed.push_back(e.debate_id + ":" + std::to_string(e.seq)); });

    // One debate's run, then another's, in one call: one delivery call per run and
    // subscriber; a subscriber's from_seq trims its part; one event goes through Deliver.
    const std::vector<Event> batch = {Make("d1", 1), Make("d1", 2), Make("d1", 3), Make("d1", 4),
                                      Make("d2", 1)};
    hub.PublishBatch(batch);
    using Calls = std::vector<std::vector<std::int64_t>>;
    EXPECT_EQ(a->calls(), (Calls{{1, 2, 3, 4}}));
    EXPECT_EQ(late->calls(), (Calls{{4}}));
    EXPECT_EQ(other->calls(), (Calls{{1}}));
    EXPECT_EQ(relayed, (std::vector<std::string>{"d1:1", "d1:2", "d1:3", "d1:4", "d2:1"}));
    EXPECT_EQ(hub.Stats().events_published, 5u);

    // Old seqs in a batch are ignored, the rest delivered; buffered like Publish's.
    hub.PublishBatch(std::vector<Event>{Make("d1", 4), Make("d1", 5), Make("d1", 6)});
    EXPECT_EQ(a->calls(), (Calls{{1, 2, 3, 4}, {5, 6}}));
    EXPECT_EQ(hub.Stats().events_ignored, 1u);
    EXPECT_EQ(Seqs(hub.Buffered("d1", 0, 100)), Range(1, 6));
    // Every delivered event is sealed once and shared with the buffer.
    auto sub = hub.Subscribe("d1", 0, std::make_shared<Recorder>());
    ASSERT_EQ(sub.buffered.size(), 6u);
    EXPECT_NE(sub.buffered[5].envelope, nullptr);
}

TEST(EventHubTest, PublishBatchWithoutABufferAndWithItsDebateEvicted) {
    // No replay buffer: the batch is delivered from the sealed copies; an ending debate
    // evicted at once (max_ended 0) still delivers the whole batch to its subscribers.
    EventHub hub(0, 0);
    auto a = std::make_shared<CallRecorder>();
    hub.Subscribe("d1", 0, a);
    hub.PublishBatch(std::vector<Event>{Make("d1", 1), Make("d1", 2), Make("d1", 3, "debate_end")});
    using Calls = std::vector<std::vector<std::int64_t>>;
    EXPECT_EQ(a->calls(), (Calls{{1, 2, 3}}));
    EXPECT_EQ(hub.Stats().ended_debates, 0u);
    EXPECT_EQ(hub.Stats().subscriptions, 0u);
    EXPECT_EQ(hub.Stats().live_debates, 0u);
}

}  // namespace
}  // namespace aragora::events
