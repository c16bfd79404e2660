// A call whose stream restarts (agents::RestartsStream: a retry after a cut stream):
// the engine drops the void text it still held, the restart notice comes before a new
// token_start, and the token_deltas after that start are the final attempt's text.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "debate/engine.hpp"

namespace aragora::debate {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using agents::AgentReply;
using agents::AgentRequest;
using agents::Phase;

class RecordingSink final : public events::EventSink {
public:
    void Publish(const events::Event& e) override { events.push_back(e); }
    std::vector<events::Event> events;
};

// Proposes in two attempts: the first streams "cut0 cut1 " and is announced void by an
// agent_retry with restart, the second streams "w0 .. w4 ".
class RestartingAgent final : public agents::Agent {
public:
    RestartingAgent(std::string name, common::ManualClock& clock, std::chrono::milliseconds step)
        : name_(std::move(name)), clock_(clock), step_(step) {}
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& r) override {
        AgentReply reply;
        if (r.phase == Phase::kVote) {
            reply.text = R"({"choice":"r0","confidence":0.9,"reasoning":"r"})";
            co_return reply;
        }
        if (r.phase != Phase::kPropose) {
            reply.text = R"({"issues":["i"],"suggestions":["s"],"severity":3,"reasoning":"r"})";
            co_return reply;
        }
        for (const char* word : {"cut0 ", "cut1 "}) {
            if (r.on_token) r.on_token(word);
            clock_.Advance(step_);
        }
        events::AgentRetry retry;
        retry.agent = name_;
        retry.retry = 1;
        retry.fault = "stream_cut";
        retry.phase = "propose";
        retry.restart = true;
        retry.discarded_tokens = 2;
        retry.round_number = r.round;
        if (r.on_event) r.on_event(agents::AgentNotice(retry));
        for (int i = 0; i < 5; ++i) {
            std::string word = "w" + std::to_string(i) + " ";
            if (r.on_token) r.on_token(word);
            reply.text += word;
            clock_.Advance(step_);
        }
        reply.text += "\nConfidence: 0.7";
        co_return reply;
    }

private:
    std::string name_;
    std::string provider_ = "scripted";
    common::ManualClock& clock_;
    std::chrono::milliseconds step_;
};

std::vector<events::Event> RunRestarting(std::chrono::milliseconds step) {
    common::ManualClock clock;
    EngineSettings settings;
    DebateSpec spec;
    spec.id = "d_restart";
    spec.task = "Restart?";
    spec.rounds = 1;
    std::vector<std::shared_ptr<agents::Agent>> team;
    for (const char* n : {"r0", "r1"}) {
        team.push_back(std::make_shared<RestartingAgent>(n, clock, step));
        spec.agents.emplace_back(n);
    }
    RecordingSink sink;
    Engine engine(clock, settings);
    EventEmitter emitter(spec.id, clock, sink);
    asio::io_context ioc(1);
    asio::co_spawn(ioc, engine.Run(spec, team, emitter), asio::detached);
    ioc.run_for(std::chrono::seconds(10));
    return sink.events;
}

// r0's propose-phase stream events, as "type" or "token_delta:<text>".
std::vector<std::string> ProposeStream(const std::vector<events::Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        if (e.agent != "r0") continue;
        if (e.type != "token_start" && e.type != "token_delta" && e.type != "token_end" &&
            e.type != "agent_retry") {
            continue;
        }
        auto d = json::parse(e.data_json).as_object();
        if (auto* p = d.if_contains("phase"); p && p->as_string() != "propose") continue;
        if (e.type == "token_delta") {
            out.push_back("token_delta:" + std::string(d.at("delta").as_string()));
        } else {
            out.push_back(e.type);
        }
    }
    return out;
}

TEST(EngineStreamRestartTest, UnsentVoidTextIsDroppedAndANewStartFollowsTheNotice) {
    // No flush interval passes: "cut0 " goes out with token_start, "cut1 " is still held
    // when the restart comes and must never be sent.
    const auto stream = ProposeStream(RunRestarting(std::chrono::milliseconds(0)));
    const std::vector<std::string> expected = {
        "token_start",     "token_delta:cut0 ",        "agent_retry", "token_start",
        "token_delta:w0 ", "token_delta:w1 w2 w3 w4 ", "token_end"};
    EXPECT_EQ(stream, expected);
}

TEST(EngineStreamRestartTest, DeltasAfterTheLastStartAreTheFinalText) {
    const auto stream = ProposeStream(RunRestarting(std::chrono::milliseconds(60)));
    auto last_start = std::find(stream.rbegin(), stream.rend(), "token_start");
    ASSERT_NE(last_start, stream.rend());
    auto retry = std::find(stream.begin(), stream.end(), "agent_retry");
    ASSERT_NE(retry, stream.end());
    EXPECT_LT(retry - stream.begin(), stream.rend() - last_start - 1) << "notice first";
    std::string text;
    for (auto it = last_start.base(); it != stream.end(); ++it) {
        if (it->rfind("token_delta:", 0) == 0) text += it->substr(12);
    }
    EXPECT_EQ(text, "w0 w1 w2 w3 w4 ");
}

}  // namespace
}  // namespace aragora::debate
