#include "debate/emitter.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "common/clock.hpp"
#include "events/payloads.hpp"

namespace aragora::debate {
namespace {

class Collect final : public events::EventSink {
public:
    void Publish(const events::Event& e) override { got.push_back(e); }
    std::vector<events::Event> got;
};

// A sink that keeps events: the emitter hands it each new event to take, not to copy.
class Keep final : public events::EventSink {
public:
    void Publish(const events::Event& e) override { copied.push_back(e); }
    void Publish(events::Event&& e) override { taken.push_back(std::move(e)); }
    std::vector<events::Event> copied, taken;
};

TEST(EventEmitter, HandsNewEventsToTheSinkToTake) {
    common::ManualClock clock;
    Keep sink;
    EventEmitter emitter("d_8", clock, sink);
    events::RoundEnd end;
    end.round_number = 1;
    end.total_rounds = 1;
    EXPECT_EQ(emitter.Emit(1, "", end), 1);
    ASSERT_EQ(sink.taken.size(), 1u);
    EXPECT_TRUE(sink.copied.empty());
    EXPECT_EQ(sink.taken[0].seq, 1);
    EXPECT_EQ(sink.taken[0].type, "round_end");
    ASSERT_NE(sink.taken[0].envelope, nullptr);
}

// The emitter encodes a typed payload once and seals the envelope once: the event that
// reaches the sink carries the bytes the store, the WebSocket and the polling API use.
TEST(EventEmitter, EncodesTheTypedPayloadOnceAndSealsTheEnvelope) {
    common::ManualClock clock;
    Collect sink;
    EventEmitter emitter("d_7", clock, sink);
    events::Vote vote;
    vote.agent = "gpt";
    vote.choice = "claude";
    vote.confidence = 0.5;
    vote.round_number = 2;
    EXPECT_EQ(emitter.Emit(2, "gpt", vote), 1);
    events::RoundEnd end;
    end.round_number = 2;
    end.total_rounds = 2;
    EXPECT_EQ(emitter.Emit(2, "", end), 2);

    ASSERT_EQ(sink.got.size(), 2u);
    const events::Event& e = sink.got[0];
    EXPECT_EQ(e.type, "vote");
    EXPECT_EQ(e.seq, 1);
    EXPECT_EQ(e.debate_id, "d_7");
    EXPECT_EQ(e.data_json, events::EncodeData(vote, "d_7"));
    EXPECT_NE(e.data_json.find(R"("debate_id":"d_7")"), std::string::npos);
    ASSERT_NE(e.envelope, nullptr);
    events::Event unsealed = e;
    unsealed.envelope.reset();
    EXPECT_EQ(*e.envelope, events::ToEnvelopeJson(unsealed));
    EXPECT_NE(e.envelope->find(e.data_json), std::string::npos);  // embedded as encoded
    auto back = events::As<events::Vote>(e);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->choice, "claude");
    EXPECT_EQ(sink.got[1].type, "round_end");
}

TEST(EventEmitter, StampedEventsAreSealedButNotPublished) {
    common::ManualClock clock;
    Collect sink;
    EventEmitter emitter("d_8", clock, sink);
    events::DebateEnd end;
    end.debate_id = "d_8";
    end.status = events::DebateStatus::kCancelled;
    events::Event e = emitter.Stamp(0, "", end);
    EXPECT_TRUE(sink.got.empty());
    EXPECT_EQ(e.seq, 1);
    ASSERT_NE(e.envelope, nullptr);
    EXPECT_NE(e.envelope->find(R"("status":"cancelled")"), std::string::npos);
    emitter.Publish(e);
    ASSERT_EQ(sink.got.size(), 1u);
    EXPECT_EQ(sink.got[0].envelope, e.envelope);  // the same bytes, shared
}

}  // namespace
}  // namespace aragora::debate
