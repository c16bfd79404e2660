// What a debate in flight holds on the heap (issue 20: 10,000 in flight within 1 GB): a
// phase builds each call's request (prompt, peer texts) only when the call starts, a
// call's unsent streamed text is not a second copy of its reply, and a critique's raw
// reply is not kept once its event is out. Measured with a counting
// operator new over this test binary: the live bytes while a call is held, against
// texts large enough that one more copy of any of them shows.

#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "agents/agent.hpp"
#include "debate/engine.hpp"

namespace {
std::atomic<std::int64_t> g_live_bytes{0};
}  // namespace

void* operator new(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) throw std::bad_alloc();
    g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                           std::memory_order_relaxed);
    return p;
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept {
    if (p == nullptr) return;
    g_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)),
                           std::memory_order_relaxed);
    std::free(p);
}
void operator delete[](void* p) noexcept { ::operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete(p); }

namespace aragora::debate {
namespace {

namespace asio = boost::asio;
using agents::AgentReply;
using agents::AgentRequest;
using agents::Phase;

constexpr std::size_t kText = 64 * 1024;  // one proposal, one critique reply

// Drops every event (a recording sink would hold each text once more).
class NullSink final : public events::EventSink {
public:
    void Publish(const events::Event&) override { ++count; }
    int count = 0;
};

// Answers with kText-sized proposals and critiques and records, at the start of every
// call, the phase and the live heap bytes.
class BigAgent final : public agents::Agent {
public:
    struct Sample {
        Phase phase;
        std::int64_t live;
        std::int64_t replied;  // bytes of the replies given before this call, all agents
    };
    BigAgent(std::string name, bool prompt_only, std::vector<Sample>& samples,
             std::int64_t& replied)
        : name_(std::move(name)), prompt_only_(prompt_only), samples_(samples), replied_(replied) {}
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    bool ReadsPromptOnly() const override { return prompt_only_; }
    asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& r) override {
        // What a provider agent holds while its call waits: the request body it sent,
        // which quotes the prompt.
        std::string body;
        if (prompt_only_) body = r.Prompt();
        samples_.push_back({r.phase, g_live_bytes.load(), replied_});
        AgentReply reply;
        switch (r.phase) {
            case Phase::kPropose:
            case Phase::kRevise:
                reply.text = name_ + " proposes " + std::string(kText, 'p') + "\nConfidence: 0.8";
                break;
            case Phase::kCritique:
                // A quarter text of issues (kept for the revisions), a text of reasoning
                // (only in the event).
                reply.text = R"({"issues":[")" + std::string(kText / 4, 'i') +
                             R"("],"suggestions":["cite"],"severity":4,"reasoning":")" +
                             std::string(kText, 'r') + "\"}";
                break;
            case Phase::kVote:
                reply.text = R"({"choice":"a0","confidence":0.9,"reasoning":"r"})";
                break;
            case Phase::kJudge:
                reply.text = "judged";
                break;
        }
        reply.text.shrink_to_fit();  // a reply is one text, not the slack of its appends
        // Streamed as an LLM agent would: a first piece (sent at once), then the rest,
        // which waits for the phase's end to go out.
        if (r.on_token) {
            r.on_token(std::string_view(reply.text).substr(0, 8));
            r.on_token(std::string_view(reply.text).substr(8));
        }
        replied_ += static_cast<std::int64_t>(malloc_usable_size(reply.text.data()));
        co_return reply;
    }

private:
    std::string name_;
    std::string provider_ = "scripted";
    bool prompt_only_;
    std::vector<Sample>& samples_;
    std::int64_t& replied_;
};

struct Held {
    std::int64_t critique_max = 0;             // live bytes while a critique is held
    std::int64_t revise_max = 0;               // ... while a revision is held
    std::vector<std::int64_t> critique_first;  // ... while each round's first critique is
};

// A 4-agent, 2-round debate at call cap 1 of BigAgents; what a held call sees live.
Held Measure(bool prompt_only) {
    std::vector<BigAgent::Sample> samples;
    samples.reserve(256);  // no growth of the record itself while measuring
    std::int64_t replied = 0;
    common::ManualClock clock;
    EngineSettings settings;
    settings.max_parallel_calls = 1;  // the bench's call cap: one call of a debate at a time
    settings.early_stop = false;
    DebateSpec spec;
    spec.id = "d_memory";
    spec.task = "How much does a debate hold?";
    spec.rounds = 2;
    std::vector<std::shared_ptr<agents::Agent>> team;
    for (int i = 0; i < 4; ++i) {
        team.push_back(
            std::make_shared<BigAgent>("a" + std::to_string(i), prompt_only, samples, replied));
        spec.agents.push_back(team.back()->Name());
    }
    NullSink sink;
    Engine engine(clock, settings);
    EventEmitter emitter(spec.id, clock, sink);
    asio::io_context ioc(1);
    DebateResult result;
    bool done = false;
    const std::int64_t before = g_live_bytes.load();
    asio::co_spawn(ioc, engine.Run(spec, team, emitter),
                   [&](std::exception_ptr ep, DebateResult r) {
                       EXPECT_FALSE(ep);
                       result = std::move(r);
                       done = true;
                   });
    ioc.run_for(std::chrono::seconds(30));
    EXPECT_TRUE(done);
    EXPECT_EQ(result.status, DebateStatus::kCompleted);

    // Each sample less the replies its phase's earlier calls gave: those wait for the
    // phase's end, where their events go out in call order (and with them the streamed
    // text not sent yet, which is the replies' end: no more bytes).
    const auto text = static_cast<std::int64_t>(kText);
    std::int64_t critique_max = 0;
    std::int64_t revise_max = 0;
    int critiques = 0;
    int revisions = 0;
    std::vector<std::int64_t> critique_first;
    std::int64_t phase_replied = 0;  // `replied` at the phase's first call
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto& s = samples[i];
        const bool first = i == 0 || samples[i - 1].phase != s.phase;
        if (first) phase_replied = s.replied;
        const std::int64_t held = s.live - before - (s.replied - phase_replied);
        if (first && s.phase == Phase::kCritique) critique_first.push_back(held);
        if (s.phase == Phase::kCritique) {
            critique_max = std::max(critique_max, held);
            ++critiques;
        }
        if (s.phase == Phase::kRevise) {
            revise_max = std::max(revise_max, held);
            ++revisions;
        }
    }
    EXPECT_EQ(critiques, 24);
    EXPECT_EQ(revisions, 4);
    return {critique_max, revise_max, critique_first};
}

TEST(EngineMemoryTest, AHeldCallHoldsOneRequestAndNoEarlierCritiqueReplies) {
    const auto text = static_cast<std::int64_t>(kText);
    const Held held = Measure(false);
    // While a critique is held: the 4 current proposals and the held call's request (its
    // own proposal, the target's, the prompt quoting it): 7 texts. Not the phase's other
    // 11 requests (33 texts), nor the last round's proposals (4) or critiques (12 quarter
    // texts of issues), which the revisions were the last to need.
    EXPECT_LT(held.critique_max, 9 * text) << "live bytes " << held.critique_max;
    // While a revision is held: the proposals (4), its request (its proposal, the prompt,
    // the 3 critiques it got: 4 texts) and the round's 12 critiques as issues, suggestions
    // and severity only (3 texts): their raw replies (15 texts) went out with their events.
    EXPECT_LT(held.revise_max, 13 * text) << "live bytes " << held.revise_max;
}

// An agent that reads only the prompt (a provider agent) holds the body it sent; its
// request holds neither a rendered prompt nor the texts the prompt quotes.
TEST(EngineMemoryTest, APromptOnlyAgentsHeldCallHoldsOnlyItsBody) {
    const auto text = static_cast<std::int64_t>(kText);
    const Held held = Measure(true);
    // The 4 proposals and the body (the prompt quoting the target's proposal): 5 texts,
    // against 7 with the rendered prompt and the two proposals in the request.
    EXPECT_LT(held.critique_max, 6 * text) << "live bytes " << held.critique_max;
}

// The provenance trail costs little while the debate runs: between round 1's first
// critique and round 2's, the debate's state grew by 20 provenance entries (16 of round 1,
// the 4 revisions), the texts being the same sizes. Kept as four strings each (~290 bytes
// with a hex digest) they were ~4 KB; kept compact (names by index, the digest raw) and
// made into strings once the debate ends, about 1.5 KB.
TEST(EngineMemoryTest, TheProvenanceTrailIsCompactWhileTheDebateRuns) {
    const Held held = Measure(true);
    ASSERT_EQ(held.critique_first.size(), 2u);
    const std::int64_t grown = held.critique_first[1] - held.critique_first[0];
    EXPECT_LT(grown, 2560) << "grown by " << grown << " bytes";
}

}  // namespace
}  // namespace aragora::debate
