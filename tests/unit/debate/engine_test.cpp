// The engine with scripted agents: protocol order, events, failures, cancellation,
// deadline (manual clock), judge, early stop, hollow consensus, determinism.

#include "debate/engine.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <functional>
#include <set>

#include "agents/demo_agent.hpp"

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
    std::vector<std::string> Types() const {
        std::vector<std::string> t;
        for (const auto& e : events) t.push_back(e.type);
        return t;
    }
    std::size_t Count(const std::string& type) const {
        return std::count_if(events.begin(), events.end(),
                             [&](const events::Event& e) { return e.type == type; });
    }
    std::vector<events::Event> events;
};

// Answers from a script; `hook` may replace any reply or fail the call.
class ScriptedAgent final : public agents::Agent {
public:
    using Hook = std::function<std::optional<common::Result<AgentReply>>(const AgentRequest&)>;
    ScriptedAgent(std::string name, std::string proposal, std::string vote_for)
        : name_(std::move(name)), proposal_(std::move(proposal)), vote_for_(std::move(vote_for)) {}

    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }

    asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& r) override {
        requests.push_back(r);
        if (on_call) on_call(r);
        if (block_forever || (block_from_round > 0 && r.round >= block_from_round)) {
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
            boost::system::error_code ec;
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            co_return common::MakeError(common::ErrorCode::kCancelled, "cancelled");
        }
        if (hook) {
            if (auto r2 = hook(r)) co_return *r2;
        }
        AgentReply reply;
        reply.usage = {10, 5};
        switch (r.phase) {
            case Phase::kPropose:
            case Phase::kRevise:
                reply.text = proposal_ + "\nConfidence: 0.8";
                break;
            case Phase::kCritique:
                reply.text =
                    R"({"issues":["needs numbers"],"suggestions":["cite a source"],"severity":4,"reasoning":"r"})";
                break;
            case Phase::kVote:
                reply.text = "{\"choice\":\"" + vote_for_ +
                             "\",\"confidence\":0.9,\"reasoning\":\"" + name_ + " prefers it.\"}";
                break;
            case Phase::kJudge:
                reply.text = "Judge synthesis: " + proposal_;
                break;
        }
        co_return reply;
    }

    std::vector<AgentRequest> requests;
    Hook hook;
    std::function<void(const AgentRequest&)> on_call;
    bool block_forever = false;
    int block_from_round = 0;

private:
    std::string name_;
    std::string provider_ = "scripted";
    std::string proposal_;
    std::string vote_for_;
};

const char* kEvidenceRich =
    "Adopt continuous deployment in 3 phases because incident data from 2023 shows a 45% "
    "drop in rollback time; for example, according to the DORA report [1], elite teams "
    "deploy 973x more often. Therefore start with 2 services.";

struct Fixture {
    common::ManualClock clock;
    EngineSettings settings;
    RecordingSink sink;
    std::vector<std::shared_ptr<ScriptedAgent>> agents;
    DebateSpec spec;
    // The engine's backoff waits: each moves the manual clock on at once (no sleeping).
    std::vector<std::chrono::steady_clock::duration> waits;
    std::function<void()> on_wait;

    Fixture(int n, int rounds) {
        spec.id = "d_test";
        spec.task = "Should we adopt continuous deployment?";
        spec.rounds = rounds;
        for (int i = 0; i < n; ++i) {
            std::string name = "a" + std::to_string(i);
            agents.push_back(std::make_shared<ScriptedAgent>(
                name, std::string(kEvidenceRich) + " Variant " + name + ".", "a0"));
            spec.agents.push_back(name);
        }
    }

    EngineDeps Deps() {
        EngineDeps deps;
        deps.wait = [this](std::chrono::steady_clock::duration d) -> asio::awaitable<void> {
            waits.push_back(d);
            clock.Advance(d);
            if (on_wait) on_wait();
            co_return;
        };
        deps.random = [] { return 0.5; };
        return deps;
    }

    // The data of every event of `type`, in order.
    std::vector<json::object> Data(const std::string& type) const {
        std::vector<json::object> out;
        for (const auto& e : sink.events) {
            if (e.type == type) out.push_back(json::parse(e.data_json).as_object());
        }
        return out;
    }

    DebateResult Run(asio::cancellation_signal* cancel = nullptr,
                     std::function<void(asio::io_context&)> before_run = {}) {
        Engine engine(clock, settings, Deps());
        EventEmitter emitter(spec.id, clock, sink);
        std::vector<std::shared_ptr<agents::Agent>> team(agents.begin(), agents.end());
        asio::io_context ioc(1);
        DebateResult result;
        bool done = false;
        auto handler = [&](std::exception_ptr ep, DebateResult r) {
            ASSERT_FALSE(ep);
            result = std::move(r);
            done = true;
        };
        if (cancel) {
            asio::co_spawn(ioc, engine.Run(spec, team, emitter),
                           asio::bind_cancellation_slot(cancel->slot(), handler));
        } else {
            asio::co_spawn(ioc, engine.Run(spec, team, emitter), handler);
        }
        if (before_run) before_run(ioc);
        ioc.run_for(std::chrono::seconds(20));
        EXPECT_TRUE(done) << "debate did not finish";
        return result;
    }
};

void ExpectGapFreeSeq(const RecordingSink& sink) {
    for (std::size_t i = 0; i < sink.events.size(); ++i) {
        EXPECT_EQ(sink.events[i].seq, static_cast<std::int64_t>(i + 1));
        EXPECT_EQ(sink.events[i].debate_id, "d_test");
        auto data = json::parse(sink.events[i].data_json).as_object();
        EXPECT_EQ(data.at("debate_id"), "d_test") << sink.events[i].type;
    }
}

TEST(EngineTest, RunsTheFullProtocolInOrder) {
    Fixture f(3, 2);
    f.settings.early_stop = false;
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
    EXPECT_EQ(r.rounds_used, 2);
    auto types = f.sink.Types();
    ASSERT_FALSE(types.empty());
    EXPECT_EQ(types.front(), "debate_start");
    EXPECT_EQ(types.back(), "consensus");
    EXPECT_EQ(f.sink.Count("round_start"), 2u);
    EXPECT_EQ(f.sink.Count("round_end"), 2u);
    EXPECT_EQ(f.sink.Count("agent_message"), 6u);
    EXPECT_EQ(f.sink.Count("critique"), 12u);  // N(N-1) per round
    EXPECT_EQ(f.sink.Count("vote"), 3u);
    EXPECT_EQ(f.sink.Count("convergence"), 1u);
    ExpectGapFreeSeq(f.sink);
    // Round 2 is a revision carrying the critiques the agent received.
    const auto& reqs = f.agents[1]->requests;
    auto revise = std::find_if(reqs.begin(), reqs.end(),
                               [](const AgentRequest& q) { return q.phase == Phase::kRevise; });
    ASSERT_NE(revise, reqs.end());
    EXPECT_EQ(revise->critiques.size(), 2u);
    EXPECT_FALSE(revise->own_proposal.empty());
    EXPECT_NE(revise->prompt.find("Critiques you received"), std::string::npos);
    // Everyone voted for a0: unanimous majority, no dissent.
    EXPECT_TRUE(r.consensus.reached);
    EXPECT_EQ(r.consensus.winner, "a0");
    EXPECT_TRUE(r.consensus.dissenting_agents.empty());
    EXPECT_EQ(r.usage.at("a0").calls, 2 + 4 + 1);
    EXPECT_FALSE(r.provenance.empty());
}

TEST(EngineTest, FailedAgentIsSkippedForThatPhaseAndRecorded) {
    Fixture f(3, 1);
    f.agents[2]->hook = [](const AgentRequest& r) -> std::optional<common::Result<AgentReply>> {
        if (r.phase == Phase::kCritique)
            return common::MakeError(common::ErrorCode::kProviderError, "HTTP 503");
        return std::nullopt;
    };
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted);
    // Each of a2's two critiques: the first attempt and 3 later ones in the phase.
    EXPECT_EQ(f.sink.Count("agent_error"), 8u);
    EXPECT_EQ(f.sink.Count("agent_phase_retry"), 6u);
    ASSERT_EQ(r.failures.size(), 2u);
    std::set<std::string> targets;
    for (const auto& x : r.failures) {
        EXPECT_EQ(x.agent, "a2");
        EXPECT_EQ(x.phase, "critique");
        EXPECT_EQ(x.attempts, 4);
        EXPECT_EQ(x.outcome, FailureOutcome::kCountedOut);
        EXPECT_EQ(x.code, "provider_error");
        targets.insert(x.target);
    }
    EXPECT_EQ(targets, (std::set<std::string>{"a0", "a1"}));
    EXPECT_TRUE(r.substitutions.empty()) << "no one critiques in a2's name";
    int finals = 0;
    for (const auto& d : f.Data("agent_error")) finals += d.at("final").as_bool();
    EXPECT_EQ(finals, 2);
    EXPECT_EQ(f.sink.Count("vote"), 3u);  // back for the vote
    EXPECT_EQ(r.usage.at("a2").failures, 8);
}

TEST(EngineTest, FailsCleanlyWhenFewerThanTwoAgentsRemain) {
    Fixture f(3, 2);
    auto down = [](const AgentRequest&) -> std::optional<common::Result<AgentReply>> {
        return common::MakeError(common::ErrorCode::kProviderError, "down");
    };
    f.agents[1]->hook = down;
    f.agents[2]->hook = down;
    DebateResult r = f.Run();
    EXPECT_EQ(r.status, DebateStatus::kFailed);
    EXPECT_EQ(r.error_code, "agents_unavailable");
    EXPECT_NE(r.error_message.find("only 1 of 3 agents answered the propose phase"),
              std::string::npos)
        << r.error_message;
    EXPECT_EQ(f.sink.Count("consensus"), 0u);
    // Only after the policy: each was tried again in the phase, then counted out.
    EXPECT_EQ(f.sink.Count("agent_phase_retry"), 6u);
    ASSERT_EQ(r.failures.size(), 2u);
    for (const auto& x : r.failures) {
        EXPECT_EQ(x.attempts, 4);
        EXPECT_EQ(x.outcome, FailureOutcome::kCountedOut);
    }
    EXPECT_TRUE(r.substitutions.empty());
}

TEST(EngineTest, CancellationEndsCancelledAndKeepsEvents) {
    Fixture f(3, 3);
    asio::cancellation_signal cancel;
    asio::io_context* ctx = nullptr;
    // In round 2 every agent blocks, and a0's call asks for cancellation.
    for (auto& a : f.agents) a->block_from_round = 2;
    f.agents[0]->on_call = [&](const AgentRequest& r) {
        if (r.round == 2) asio::post(*ctx, [&] { cancel.emit(asio::cancellation_type::terminal); });
    };
    auto start = std::chrono::steady_clock::now();
    DebateResult r = f.Run(&cancel, [&](asio::io_context& ioc) { ctx = &ioc; });
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_EQ(r.status, DebateStatus::kCancelled);
    EXPECT_EQ(r.error_code, "cancelled");
    EXPECT_GE(f.sink.Count("agent_message"), 3u);  // round 1 kept
    EXPECT_EQ(f.sink.Count("consensus"), 0u);
    ExpectGapFreeSeq(f.sink);
}

TEST(EngineTest, DeadlineOnTheInjectedClockFailsWithTimeout) {
    Fixture f(3, 3);
    f.settings.debate_timeout = std::chrono::minutes(10);
    f.agents[0]->hook = [&](const AgentRequest& r) -> std::optional<common::Result<AgentReply>> {
        if (r.phase == Phase::kCritique) f.clock.Advance(std::chrono::minutes(11));
        return std::nullopt;
    };
    DebateResult r = f.Run();
    EXPECT_EQ(r.status, DebateStatus::kFailed);
    EXPECT_EQ(r.error_code, "timeout");
    EXPECT_EQ(f.sink.Count("round_start"), 1u);
    EXPECT_EQ(f.sink.Count("consensus"), 0u);
}

TEST(EngineTest, AgentCallTimeoutIsAnAgentFailure) {
    Fixture f(3, 1);
    f.settings.agent_timeout = std::chrono::milliseconds(5);
    f.agents[2]->block_forever = true;
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
    ASSERT_FALSE(r.failures.empty());
    EXPECT_EQ(r.failures[0].agent, "a2");
    EXPECT_EQ(r.failures[0].code, "timeout");
}

TEST(EngineTest, JudgeSynthesizesAndFallsBackToMajority) {
    {
        Fixture f(3, 1);
        f.spec.consensus = ConsensusMethod::kJudge;
        f.spec.judge = "a1";
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted);
        EXPECT_EQ(r.consensus.method, ConsensusMethod::kJudge);
        EXPECT_TRUE(r.consensus.reached);
        EXPECT_NE(r.consensus.final_answer.find("Judge synthesis"), std::string::npos);
        EXPECT_FALSE(r.consensus.judge_fallback);
    }
    {
        Fixture f(3, 1);
        f.spec.consensus = ConsensusMethod::kJudge;
        f.agents[0]->hook = [](const AgentRequest& r) -> std::optional<common::Result<AgentReply>> {
            if (r.phase == Phase::kJudge)
                return common::MakeError(common::ErrorCode::kTimeout, "judge timed out");
            return std::nullopt;
        };
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted);
        // a0 could not judge even later in the phase: a1, which voted, judges instead.
        EXPECT_FALSE(r.consensus.judge_fallback);
        EXPECT_EQ(r.consensus.method, ConsensusMethod::kJudge);
        EXPECT_EQ(r.consensus.final_answer.rfind("Judge synthesis", 0), 0u);
        EXPECT_NE(r.consensus.final_answer.find("Variant a1"), std::string::npos);
        ASSERT_EQ(r.substitutions.size(), 1u);
        EXPECT_EQ(r.substitutions[0].agent, "a0");
        EXPECT_EQ(r.substitutions[0].replaced_by, "a1");
        EXPECT_EQ(r.substitutions[0].phase, "judge");
        EXPECT_EQ(r.substitutions[0].reason, SubstitutionReason::kSubstituteJudge);
        ASSERT_EQ(r.failures.size(), 1u);
        EXPECT_EQ(r.failures[0].outcome, FailureOutcome::kSubstituted);
        EXPECT_EQ(r.failures[0].attempts, 4);
        auto subs = f.Data("agent_substitution");
        ASSERT_EQ(subs.size(), 1u);
        EXPECT_EQ(subs[0].at("replaced_by"), "a1");
        EXPECT_EQ(subs[0].at("reason"), "substitute_judge");
        // The judge's provenance names who wrote the synthesis.
        bool judged_by_a1 = false;
        for (const auto& e : r.provenance.back().entries)
            judged_by_a1 |= e.phase == "judge" && e.agent == "a1";
        EXPECT_TRUE(judged_by_a1);
    }
    {
        // No one can judge: majority decides (DEBATE.md), no substitution is claimed.
        Fixture f(3, 1);
        f.spec.consensus = ConsensusMethod::kJudge;
        for (auto& a : f.agents) {
            a->hook = [](const AgentRequest& r) -> std::optional<common::Result<AgentReply>> {
                if (r.phase == Phase::kJudge)
                    return common::MakeError(common::ErrorCode::kTimeout, "judge timed out");
                return std::nullopt;
            };
        }
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted);
        EXPECT_TRUE(r.consensus.judge_fallback);
        EXPECT_EQ(r.consensus.method, ConsensusMethod::kMajority);
        EXPECT_TRUE(r.consensus.reached);
        EXPECT_TRUE(r.substitutions.empty());
        ASSERT_EQ(r.failures.size(), 2u) << "the judge and its substitute";
        EXPECT_EQ(r.failures[0].agent, "a0");
        EXPECT_EQ(r.failures[1].agent, "a1");
        EXPECT_EQ(f.sink.Count("agent_substitution"), 0u);
    }
}

TEST(EngineTest, StopsEarlyWhenConvergedWithGoodEvidence) {
    Fixture f(3, 5);
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted);
    EXPECT_EQ(r.rounds_used, 2);  // identical revisions ⇒ converged at round 2
    EXPECT_EQ(f.sink.Count("hollow_consensus"), 0u);
}

TEST(EngineTest, HollowConsensusInjectsAChallenge) {
    Fixture f(3, 3);
    f.agents.clear();
    f.spec.agents.clear();
    for (int i = 0; i < 3; ++i) {
        std::string name = "v" + std::to_string(i);
        f.agents.push_back(std::make_shared<ScriptedAgent>(
            name, "It depends. Generally various factors matter in some cases.", "v0"));
        f.spec.agents.push_back(name);
    }
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted);
    EXPECT_GE(f.sink.Count("hollow_consensus"), 1u);
    EXPECT_GE(f.sink.Count("trickster_intervention"), 1u);
    EXPECT_GE(r.trickster_interventions, 1);
    // The challenge reaches the next round's prompts.
    bool challenged = false;
    for (const auto& q : f.agents[1]->requests) challenged |= !q.challenge.empty();
    EXPECT_TRUE(challenged);
    // Reported confidence carries the penalty.
    EXPECT_LT(r.confidence, r.consensus.confidence);
}

// The agent's first `times` calls of `phase` fail with `code`, later ones answer.
ScriptedAgent::Hook FailFirst(Phase phase, int times,
                              common::ErrorCode code = common::ErrorCode::kProviderError) {
    auto left = std::make_shared<int>(times);
    return [phase, left, code](const AgentRequest& r) -> std::optional<common::Result<AgentReply>> {
        if (r.phase != phase || *left <= 0) return std::nullopt;
        --*left;
        return common::MakeError(code, "HTTP 529 overloaded");
    };
}

// Every call of `phase` fails.
ScriptedAgent::Hook AlwaysFail(Phase phase,
                               common::ErrorCode code = common::ErrorCode::kProviderError) {
    return FailFirst(phase, 1'000'000, code);
}

// Half-jittered backoff with random 0.5: ceiling/2 + 0.5·ceiling/2 (ceilings 3, 6, 12 s).
constexpr auto kFirstWait = std::chrono::milliseconds(2250);
constexpr auto kSecondWait = std::chrono::milliseconds(4500);

class EnginePhaseFailureTest : public ::testing::TestWithParam<Phase> {};

TEST_P(EnginePhaseFailureTest, AnAgentFailingOnceIsTriedAgainLaterInThePhase) {
    const Phase phase = GetParam();
    Fixture f(3, 2);
    f.settings.early_stop = false;
    f.spec.consensus = ConsensusMethod::kJudge;
    f.spec.judge = "a1";
    f.agents[1]->hook = FailFirst(phase, 1);
    std::vector<std::string> calls_of_phase;
    for (auto& a : f.agents) {
        a->on_call = [&calls_of_phase, phase, name = a->Name()](const AgentRequest& q) {
            const int first_round = phase == Phase::kPropose || phase == Phase::kCritique ? 1 : 2;
            if (q.phase == phase && q.round == first_round) calls_of_phase.push_back(name);
        };
    }
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
    // The agent's part is all there: nothing was lost.
    EXPECT_EQ(f.sink.Count("agent_message"), 6u);
    EXPECT_EQ(f.sink.Count("critique"), 12u);
    EXPECT_EQ(f.sink.Count("vote"), 3u);
    EXPECT_EQ(r.consensus.method, ConsensusMethod::kJudge);
    EXPECT_FALSE(r.consensus.judge_fallback);
    EXPECT_TRUE(r.substitutions.empty());

    const int round = phase == Phase::kPropose || phase == Phase::kCritique ? 1 : 2;
    ASSERT_EQ(r.failures.size(), 1u);
    const AgentFailure& x = r.failures[0];
    EXPECT_EQ(x.agent, "a1");
    EXPECT_EQ(x.phase, agents::ToString(phase));
    EXPECT_EQ(x.round, round);
    EXPECT_EQ(x.target, phase == Phase::kCritique ? "a0" : "");
    EXPECT_EQ(x.attempts, 2);
    EXPECT_EQ(x.outcome, FailureOutcome::kRecovered);
    EXPECT_EQ(x.code, "provider_error");

    auto errors = f.Data("agent_error");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].at("attempt"), 1);
    EXPECT_EQ(errors[0].at("final"), false);
    EXPECT_EQ(errors[0].at("round_number"), round);
    auto retries = f.Data("agent_phase_retry");
    ASSERT_EQ(retries.size(), 1u);
    EXPECT_EQ(retries[0].at("agent"), "a1");
    EXPECT_EQ(retries[0].at("phase").as_string(), agents::ToString(phase));
    EXPECT_EQ(retries[0].at("attempt"), 2);
    EXPECT_EQ(retries[0].at("delay_ms"), kFirstWait.count());
    EXPECT_EQ(retries[0].at("reason"), "HTTP 529 overloaded");
    ASSERT_EQ(f.waits.size(), 1u);
    EXPECT_EQ(f.waits[0], kFirstWait);
    EXPECT_EQ(r.usage.at("a1").failures, 1);
    ExpectGapFreeSeq(f.sink);

    // The later attempt came after every other call of the phase.
    if (phase != Phase::kJudge) {
        ASSERT_GE(calls_of_phase.size(), 4u);
        EXPECT_EQ(calls_of_phase.back(), "a1");
        EXPECT_EQ(std::count(calls_of_phase.begin(), calls_of_phase.end(), "a1"),
                  phase == Phase::kCritique ? 3 : 2);
    }
}

TEST_P(EnginePhaseFailureTest, AnAgentThatAlwaysFailsAPhaseIsCountedOutOrStoodInForVisibly) {
    const Phase phase = GetParam();
    Fixture f(3, 2);
    f.settings.early_stop = false;
    f.spec.consensus = ConsensusMethod::kJudge;
    f.spec.judge = "a1";
    f.agents[1]->hook = AlwaysFail(phase);
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
    ASSERT_FALSE(r.failures.empty());
    for (const auto& x : r.failures) {
        EXPECT_EQ(x.agent, "a1");
        EXPECT_EQ(x.phase, agents::ToString(phase));
        EXPECT_EQ(x.attempts, 4) << "3 later attempts in the phase";
    }
    const FailureOutcome expected = phase == Phase::kRevise  ? FailureOutcome::kCarriedOver
                                    : phase == Phase::kJudge ? FailureOutcome::kSubstituted
                                                             : FailureOutcome::kCountedOut;
    EXPECT_EQ(r.failures.back().outcome, expected);
    const bool stood_in = phase == Phase::kRevise || phase == Phase::kJudge;
    EXPECT_EQ(r.substitutions.size(), stood_in ? 1u : 0u);
    EXPECT_EQ(f.sink.Count("agent_substitution"), stood_in ? 1u : 0u);
    std::size_t finals = 0;
    for (const auto& d : f.Data("agent_error")) finals += d.at("final").as_bool();
    EXPECT_EQ(finals, r.failures.size()) << "one standing failure per call";
    EXPECT_EQ(f.sink.Count("agent_phase_retry"), 3 * r.failures.size());
    if (phase == Phase::kJudge) {
        EXPECT_EQ(r.substitutions[0].replaced_by, "a0");
        EXPECT_EQ(r.consensus.method, ConsensusMethod::kJudge);
    }
}

INSTANTIATE_TEST_SUITE_P(EveryPhase, EnginePhaseFailureTest,
                         ::testing::Values(Phase::kPropose, Phase::kCritique, Phase::kRevise,
                                           Phase::kVote, Phase::kJudge),
                         [](const ::testing::TestParamInfo<Phase>& info) {
                             return std::string(agents::ToString(info.param));
                         });

// Issue 25's case: two of three critics hit a provider burst. Without a later attempt
// the debate failed "only 1 of 3 agents answered the critique phase of round 1".
TEST(EngineTest, TwoCriticsHitByABurstStillCompleteTheDebate) {
    {
        Fixture f(3, 2);
        f.agents[1]->hook = FailFirst(Phase::kCritique, 2);
        f.agents[2]->hook = FailFirst(Phase::kCritique, 2);
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
        ASSERT_EQ(r.failures.size(), 4u);
        for (const auto& x : r.failures) EXPECT_EQ(x.outcome, FailureOutcome::kRecovered);
        EXPECT_EQ(f.sink.Count("agent_phase_retry"), 4u);
        EXPECT_EQ(f.waits.size(), 1u) << "one backoff for the whole pass";
    }
    {
        Fixture f(3, 2);
        f.settings.phase_retries = 0;  // the old behaviour
        f.agents[1]->hook = FailFirst(Phase::kCritique, 2);
        f.agents[2]->hook = FailFirst(Phase::kCritique, 2);
        DebateResult r = f.Run();
        EXPECT_EQ(r.status, DebateStatus::kFailed);
        EXPECT_EQ(r.error_message,
                  "only 1 of 3 agents answered the critique phase of round 1; a debate needs at "
                  "least 2");
    }
}

TEST(EngineTest, RetryPassesBackOffAndStayInsideThePhaseBudgetAndTheDeadline) {
    {
        Fixture f(3, 1);  // default budget: all 3 later attempts
        f.agents[2]->hook = AlwaysFail(Phase::kCritique);
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted);
        EXPECT_EQ(f.waits, (std::vector<std::chrono::steady_clock::duration>{
                               kFirstWait, kSecondWait, std::chrono::milliseconds(9000)}));
        EXPECT_EQ(r.failures[0].attempts, 4);
    }
    {
        Fixture f(3, 1);  // the first wait would end past the budget
        f.settings.phase_retry_budget = std::chrono::seconds(2);
        f.agents[2]->hook = AlwaysFail(Phase::kCritique);
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted);
        EXPECT_TRUE(f.waits.empty());
        EXPECT_EQ(f.sink.Count("agent_phase_retry"), 0u);
        EXPECT_EQ(r.failures[0].attempts, 1);
        EXPECT_EQ(f.Data("agent_error")[0].at("final"), true);
    }
    {
        Fixture f(3, 1);  // 2.25 + 4.5 s fit in 10 s, a third wait (9 s) does not
        f.settings.phase_retry_budget = std::chrono::seconds(10);
        f.agents[2]->hook = AlwaysFail(Phase::kCritique);
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted);
        EXPECT_EQ(f.waits.size(), 2u);
        EXPECT_EQ(r.failures[0].attempts, 3);
    }
    {
        Fixture f(3, 1);  // the deadline, 5 s away, allows one wait only
        f.settings.debate_timeout = std::chrono::seconds(5);
        f.agents[2]->hook = AlwaysFail(Phase::kCritique);
        DebateResult r = f.Run();
        ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
        EXPECT_EQ(f.waits.size(), 1u);
        EXPECT_EQ(r.failures[0].attempts, 2);
    }
}

TEST(EngineTest, FailuresThatWaitingCannotHealAreNotTriedAgain) {
    Fixture f(3, 1);
    f.agents[2]->hook = AlwaysFail(Phase::kCritique, common::ErrorCode::kAuthRequired);
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted);
    EXPECT_EQ(f.sink.Count("agent_phase_retry"), 0u);
    EXPECT_TRUE(f.waits.empty());
    ASSERT_EQ(r.failures.size(), 2u);
    EXPECT_EQ(r.failures[0].attempts, 1);
    EXPECT_EQ(r.failures[0].code, "auth_required");
}

TEST(EngineTest, AFailedRevisionKeepsTheAgentsPreviousProposalMarked) {
    Fixture f(3, 2);
    f.settings.early_stop = false;
    f.agents[2]->hook = AlwaysFail(Phase::kRevise);
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
    EXPECT_EQ(r.rounds_used, 2);
    ASSERT_EQ(r.substitutions.size(), 1u);
    const Substitution& s = r.substitutions[0];
    EXPECT_EQ(s.agent, "a2");
    EXPECT_EQ(s.replaced_by, "a2");
    EXPECT_EQ(s.phase, "revise");
    EXPECT_EQ(s.round, 2);
    EXPECT_EQ(s.reason, SubstitutionReason::kPreviousProposalCarriedOver);
    ASSERT_EQ(r.failures.size(), 1u);
    EXPECT_EQ(r.failures[0].outcome, FailureOutcome::kCarriedOver);
    EXPECT_EQ(r.failures[0].attempts, 4);
    auto subs = f.Data("agent_substitution");
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0].at("reason"), "previous_proposal_carried_over");
    EXPECT_EQ(subs[0].at("round_number"), 2);
    // Its round-1 proposal is still its position: critiqued in round 2 and voted on.
    EXPECT_EQ(f.sink.Count("agent_message"), 5u);
    EXPECT_EQ(f.sink.Count("critique"), 12u);
    bool a2_final = false;
    for (const auto& p : r.final_proposals) a2_final |= p.agent == "a2" && p.round == 1;
    EXPECT_TRUE(a2_final);
    // It did not move because it did not speak: not counted as converged.
    auto conv = f.Data("convergence");
    ASSERT_EQ(conv.size(), 1u);
    EXPECT_FALSE(conv[0].at("per_agent").as_object().contains("a2"));
    EXPECT_TRUE(conv[0].at("per_agent").as_object().contains("a1"));
    // No revise provenance for a2 (it wrote nothing in round 2).
    for (const auto& e : r.provenance.front().entries) EXPECT_NE(e.phase, "revise");
    for (const auto& rp : r.provenance) {
        for (const auto& e : rp.entries) EXPECT_FALSE(e.agent == "a2" && e.phase == "revise");
    }
}

TEST(EngineTest, NoVoteIsCastInAnotherAgentsName) {
    Fixture f(3, 1);
    f.agents[1]->hook = AlwaysFail(Phase::kVote);
    f.agents[2]->hook = AlwaysFail(Phase::kVote);
    DebateResult r = f.Run();
    EXPECT_EQ(r.status, DebateStatus::kFailed);
    EXPECT_EQ(r.error_code, "agents_unavailable");
    EXPECT_NE(r.error_message.find("vote phase"), std::string::npos) << r.error_message;
    EXPECT_TRUE(r.substitutions.empty());
    EXPECT_EQ(f.sink.Count("vote"), 1u);
    EXPECT_EQ(r.failures.size(), 2u);
}

TEST(EngineTest, CancelDuringTheBackoffEndsTheDebateWithoutAnotherAttempt) {
    Fixture f(3, 1);
    asio::cancellation_signal cancel;
    f.agents[2]->hook = AlwaysFail(Phase::kCritique);
    f.on_wait = [&] { cancel.emit(asio::cancellation_type::terminal); };
    DebateResult r = f.Run(&cancel);
    EXPECT_EQ(r.status, DebateStatus::kCancelled);
    EXPECT_EQ(f.waits.size(), 1u);
    std::size_t critiques_by_a2 = 0;
    for (const auto& q : f.agents[2]->requests) critiques_by_a2 += q.phase == Phase::kCritique;
    EXPECT_EQ(critiques_by_a2, 2u) << "no attempt after the cancel";
}

// A streamed call that failed for good is closed (token_end ok=false); the later attempt
// opens a new stream whose text is the agent's message.
TEST(EngineTest, ALaterAttemptStreamsAnewAfterTheFailedStreamIsClosed) {
    Fixture f(3, 1);
    auto attempt = std::make_shared<int>(0);
    f.agents[1]->hook =
        [attempt](const AgentRequest& r) -> std::optional<common::Result<AgentReply>> {
        if (r.phase != Phase::kPropose) return std::nullopt;
        if (++*attempt == 1) {
            r.on_token("void text ");
            return common::MakeError(common::ErrorCode::kProviderError, "stream cut");
        }
        r.on_token("good text");
        AgentReply reply;
        reply.text = "good text\nConfidence: 0.7";
        return reply;
    };
    DebateResult r = f.Run();
    ASSERT_EQ(r.status, DebateStatus::kCompleted) << r.error_message;
    std::vector<std::string> trail;
    for (const auto& e : f.sink.events) {
        if (e.agent != "a1" || e.round != 1 || e.type == "critique" || e.type == "vote") continue;
        auto d = json::parse(e.data_json).as_object();
        if (d.contains("phase") && d.at("phase") != "propose") continue;
        std::string item = e.type;
        if (e.type == "token_end") item += d.at("ok").as_bool() ? "(ok)" : "(failed)";
        if (e.type == "token_delta") item += ":" + std::string(d.at("delta").as_string());
        trail.push_back(item);
    }
    EXPECT_EQ(trail, (std::vector<std::string>{
                         "token_start", "token_delta:void text ", "token_end(failed)",
                         "agent_error", "agent_phase_retry", "token_start", "token_delta:good text",
                         "token_end(ok)", "agent_message"}));
}

TEST(EngineTest, DemoDebatesAreDeterministic) {
    auto run = [] {
        common::ManualClock clock;
        RecordingSink sink;
        EventEmitter emitter("d_demo", clock, sink);
        Engine engine(clock, EngineSettings{});
        DebateSpec spec;
        spec.id = "d_demo";
        spec.task = "Should our team rewrite the billing service in Rust?";
        spec.rounds = 3;
        std::vector<std::shared_ptr<agents::Agent>> team;
        for (auto p : {agents::Persona::kAnalyst, agents::Persona::kCritic,
                       agents::Persona::kModerator, agents::Persona::kContrarian}) {
            std::string name = "demo:" + std::string(agents::ToString(p));
            team.push_back(
                std::make_shared<agents::DemoAgent>(name, p, std::chrono::milliseconds(0)));
            spec.agents.push_back(name);
        }
        asio::io_context ioc(1);
        DebateResult result;
        asio::co_spawn(ioc, engine.Run(spec, team, emitter),
                       [&](std::exception_ptr, DebateResult r) { result = std::move(r); });
        ioc.run();
        std::vector<std::string> trail;
        for (const auto& e : sink.events)
            trail.push_back(e.type + "|" + e.agent + "|" + e.data_json);
        return std::make_pair(result.verdict, trail);
    };
    auto a = run();
    auto b = run();
    EXPECT_EQ(a.first, b.first);
    EXPECT_EQ(a.second, b.second);
    EXPECT_FALSE(a.second.empty());
}

}  // namespace
}  // namespace aragora::debate

namespace aragora::debate {
namespace {

// Streams its proposal word by word through on_token, advancing the manual clock by
// `step` between words.
class StreamingAgent final : public agents::Agent {
public:
    StreamingAgent(std::string name, common::ManualClock& clock, std::chrono::milliseconds step)
        : name_(std::move(name)), clock_(clock), step_(step) {}
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& r) override {
        AgentReply reply;
        if (r.phase == Phase::kVote) {
            reply.text = R"({"choice":"s0","confidence":0.9,"reasoning":"r"})";
            co_return reply;
        }
        if (r.phase == Phase::kCritique) {
            reply.text = R"({"issues":["i"],"suggestions":["s"],"severity":3,"reasoning":"r"})";
            co_return reply;
        }
        for (int i = 0; i < 10; ++i) {
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

struct StreamRun {
    RecordingSink sink;
    std::string DeltasOf(const std::string& agent, const std::string& phase, int* count) const {
        std::string text;
        *count = 0;
        for (const auto& e : sink.events) {
            if (e.type != "token_delta" || e.agent != agent) continue;
            auto d = json::parse(e.data_json).as_object();
            if (d.at("phase").as_string() != phase) continue;
            ++*count;
            text += std::string(d.at("delta").as_string());
        }
        return text;
    }
};

StreamRun RunStreaming(std::chrono::milliseconds step) {
    common::ManualClock clock;
    EngineSettings settings;
    DebateSpec spec;
    spec.id = "d_stream";
    spec.task = "Stream?";
    spec.rounds = 1;
    std::vector<std::shared_ptr<agents::Agent>> team;
    for (const char* n : {"s0", "s1"}) {
        team.push_back(std::make_shared<StreamingAgent>(n, clock, step));
        spec.agents.emplace_back(n);
    }
    StreamRun out;
    Engine engine(clock, settings);
    EventEmitter emitter(spec.id, clock, out.sink);
    asio::io_context ioc(1);
    asio::co_spawn(ioc, engine.Run(spec, team, emitter), asio::detached);
    ioc.run_for(std::chrono::seconds(10));
    return out;
}

TEST(EngineStreamingTest, TokensAreCoalescedWhileTheyArriveFasterThanTheFlushInterval) {
    auto run = RunStreaming(std::chrono::milliseconds(0));
    int count = 0;
    EXPECT_EQ(run.DeltasOf("s0", "propose", &count), "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ");
    EXPECT_EQ(count, 2) << "the first token at once, the rest when the call ended";
    EXPECT_EQ(run.sink.Count("token_start"), 2u);
    EXPECT_EQ(run.sink.Count("token_end"), 2u);
    // token_start, the deltas, token_end, then the agent's message.
    std::vector<std::string> order;
    for (const auto& e : run.sink.events) {
        if (e.agent == "s0" && e.round == 1) order.push_back(e.type);
    }
    ASSERT_GE(order.size(), 4u);
    EXPECT_EQ(order.front(), "token_start");
    auto end = std::find(order.begin(), order.end(), "token_end");
    auto msg = std::find(order.begin(), order.end(), "agent_message");
    EXPECT_LT(end, msg);
}

TEST(EngineStreamingTest, SlowStreamsGetOneDeltaPerFlushInterval) {
    auto run = RunStreaming(std::chrono::milliseconds(60));
    int count = 0;
    EXPECT_EQ(run.DeltasOf("s1", "propose", &count), "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ");
    EXPECT_EQ(count, 10);
}

}  // namespace
}  // namespace aragora::debate

namespace aragora::debate {
namespace {

// Proposes after a delay on a real timer, logging when its proposal call starts and ends.
class DelayedAgent final : public agents::Agent {
public:
    DelayedAgent(std::string name, std::chrono::milliseconds delay, std::vector<std::string>& log)
        : name_(std::move(name)), delay_(delay), log_(log) {}
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& r) override {
        AgentReply reply;
        if (r.phase == Phase::kVote) {
            reply.text = R"({"choice":"a1","confidence":0.9,"reasoning":"r"})";
            co_return reply;
        }
        if (r.phase == Phase::kCritique) {
            reply.text = R"({"issues":["i"],"suggestions":["s"],"severity":3,"reasoning":"r"})";
            co_return reply;
        }
        log_.push_back("start " + name_);
        asio::steady_timer t(co_await asio::this_coro::executor, delay_);
        co_await t.async_wait(asio::use_awaitable);
        log_.push_back("end " + name_);
        reply.text = "Proposal of " + name_ + "\nConfidence: 0.7";
        co_return reply;
    }

private:
    std::string name_;
    std::string provider_ = "scripted";
    std::chrono::milliseconds delay_;
    std::vector<std::string>& log_;
};

// At most 2 calls at a time: a2 starts as soon as a1 ends, while the slow a0 still runs
// (a fixed batch of 2 would make a2 wait for a0).
TEST(EngineWindowTest, ACallStartsAsSoonAsAnEarlierOneEnds) {
    common::ManualClock clock;
    EngineSettings settings;
    settings.max_parallel_calls = 2;
    DebateSpec spec;
    spec.id = "d_window";
    spec.task = "Window?";
    spec.rounds = 1;
    std::vector<std::string> log;
    std::vector<std::shared_ptr<agents::Agent>> team{
        std::make_shared<DelayedAgent>("a0", std::chrono::milliseconds(150), log),
        std::make_shared<DelayedAgent>("a1", std::chrono::milliseconds(1), log),
        std::make_shared<DelayedAgent>("a2", std::chrono::milliseconds(1), log)};
    for (const auto& a : team) spec.agents.push_back(a->Name());
    RecordingSink sink;
    Engine engine(clock, settings);
    EventEmitter emitter(spec.id, clock, sink);
    asio::io_context ioc(1);
    DebateResult result;
    asio::co_spawn(ioc, engine.Run(spec, team, emitter),
                   [&](std::exception_ptr, DebateResult r) { result = std::move(r); });
    ioc.run_for(std::chrono::seconds(10));
    EXPECT_EQ(result.status, DebateStatus::kCompleted);
    EXPECT_EQ(log, (std::vector<std::string>{"start a0", "start a1", "end a1", "start a2", "end a2",
                                             "end a0"}));
}

}  // namespace
}  // namespace aragora::debate

namespace aragora::debate {
namespace {

// Records, during each call, the prompt it would send and what else its request holds;
// `prompt_only` marks it as an agent that reads only the prompt.
class PromptAgent final : public agents::Agent {
public:
    struct Seen {
        std::string agent;
        Phase phase;
        int round;
        std::string prompt;  // request.Prompt() during the call
        bool prompt_field_empty;
        bool parts_empty;  // own_proposal, target, proposals, critiques, challenge
    };
    PromptAgent(std::string name, bool prompt_only, std::vector<Seen>& seen)
        : name_(std::move(name)), prompt_only_(prompt_only), seen_(seen) {}
    const std::string& Name() const override { return name_; }
    const std::string& Provider() const override { return provider_; }
    bool ReadsPromptOnly() const override { return prompt_only_; }
    asio::awaitable<common::Result<AgentReply>> Call(const AgentRequest& r) override {
        const bool parts_empty = r.own_proposal.empty() && r.target.agent.empty() &&
                                 r.target.text.empty() && r.proposals.empty() &&
                                 r.critiques.empty() && r.challenge.empty();
        seen_.push_back({name_, r.phase, r.round, r.Prompt(), r.prompt.empty(), parts_empty});
        AgentReply reply;
        switch (r.phase) {
            case Phase::kPropose:
            case Phase::kRevise:
                reply.text = name_ + " proposes round " + std::to_string(r.round) + ". " +
                             kEvidenceRich + "\nConfidence: 0.7";
                break;
            case Phase::kCritique:
                reply.text = R"({"issues":["needs numbers"],"suggestions":["cite"],"severity":6})";
                break;
            case Phase::kVote:
                reply.text = R"({"choice":"a1","confidence":0.9,"reasoning":"r"})";
                break;
            case Phase::kJudge:
                reply.text = "judged";
                break;
        }
        co_return reply;
    }

private:
    std::string name_;
    std::string provider_ = "scripted";
    bool prompt_only_;
    std::vector<Seen>& seen_;
};

// An agent that reads only the prompt (a provider agent) gets no rendered prompt and no
// structured parts in its request, only render_prompt, which renders exactly the prompt
// an agent reading the structured parts gets; the debates' events are the same.
TEST(EngineTest, AnAgentThatReadsOnlyThePromptGetsTheSamePromptRenderedOnDemand) {
    auto debate = [](bool prompt_only, std::vector<PromptAgent::Seen>& seen,
                     std::vector<std::string>& events) {
        common::ManualClock clock;
        EngineSettings settings;
        settings.early_stop = false;
        settings.max_parallel_calls = 2;
        DebateSpec spec;
        spec.id = "d_prompt";
        spec.task = "Render on demand?";
        spec.context = "A context.";
        spec.rounds = 2;
        spec.consensus = ConsensusMethod::kJudge;
        std::vector<std::shared_ptr<agents::Agent>> team;
        for (int i = 0; i < 3; ++i) {
            team.push_back(
                std::make_shared<PromptAgent>("a" + std::to_string(i), prompt_only, seen));
            spec.agents.push_back(team.back()->Name());
        }
        RecordingSink sink;
        Engine engine(clock, settings);
        EventEmitter emitter(spec.id, clock, sink);
        asio::io_context ioc(1);
        DebateResult result;
        asio::co_spawn(ioc, engine.Run(spec, team, emitter),
                       [&](std::exception_ptr, DebateResult r) { result = std::move(r); });
        ioc.run_for(std::chrono::seconds(10));
        EXPECT_EQ(result.status, DebateStatus::kCompleted);
        for (const auto& e : sink.events) events.push_back(e.type + " " + e.data_json);
    };
    std::vector<PromptAgent::Seen> structured, on_demand;
    std::vector<std::string> structured_events, on_demand_events;
    debate(false, structured, structured_events);
    debate(true, on_demand, on_demand_events);

    ASSERT_EQ(structured.size(), 2 * (3u + 3 * 2) + 3 + 1);  // 2 rounds, the votes, the judge
    ASSERT_EQ(on_demand.size(), structured.size());
    for (std::size_t i = 0; i < structured.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(on_demand[i].agent, structured[i].agent);
        EXPECT_EQ(on_demand[i].phase, structured[i].phase);
        EXPECT_EQ(on_demand[i].round, structured[i].round);
        EXPECT_EQ(on_demand[i].prompt, structured[i].prompt);
        EXPECT_FALSE(structured[i].prompt_field_empty);
        EXPECT_TRUE(on_demand[i].prompt_field_empty);
        EXPECT_TRUE(on_demand[i].parts_empty);
    }
    EXPECT_EQ(on_demand_events, structured_events);
}

}  // namespace
}  // namespace aragora::debate
