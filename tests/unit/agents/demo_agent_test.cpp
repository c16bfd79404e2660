#include "agents/demo_agent.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aragora::agents {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kTask = "Should we migrate our billing system to Kubernetes this year?";

DemoAgent Make(Persona p, std::string name = "") {
    if (name.empty()) name = "demo:" + std::string(ToString(p));
    return DemoAgent(std::move(name), p, std::chrono::milliseconds(0));
}

AgentRequest Propose(std::string task = kTask) {
    AgentRequest r;
    r.phase = Phase::kPropose;
    r.task = std::move(task);
    r.round = 1;
    r.total_rounds = 3;
    return r;
}

std::string LastLine(const std::string& text) {
    const auto nl = text.find_last_of('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::string WithoutLastLine(const std::string& text) {
    const auto nl = text.find_last_of('\n');
    return nl == std::string::npos ? "" : text.substr(0, nl);
}

const Persona kAll[] = {Persona::kAnalyst, Persona::kCritic, Persona::kModerator,
                        Persona::kContrarian};

TEST(Persona, NamesRoundTrip) {
    for (auto p : kAll) {
        Persona parsed = Persona::kAnalyst;
        ASSERT_TRUE(ParsePersona(ToString(p), parsed));
        EXPECT_EQ(parsed, p);
    }
    Persona p = Persona::kAnalyst;
    EXPECT_TRUE(ParsePersona("Critic", p));
    EXPECT_EQ(p, Persona::kCritic);
    EXPECT_FALSE(ParsePersona("pirate", p));
    EXPECT_FALSE(ParsePersona("", p));
    EXPECT_EQ(ToString(Persona::kContrarian), "contrarian");
}

TEST(PhaseNames, AreTheProvenanceValues) {
    EXPECT_EQ(ToString(Phase::kPropose), "propose");
    EXPECT_EQ(ToString(Phase::kCritique), "critique");
    EXPECT_EQ(ToString(Phase::kRevise), "revise");
    EXPECT_EQ(ToString(Phase::kVote), "vote");
    EXPECT_EQ(ToString(Phase::kJudge), "judge");
}

TEST(DemoAgent, SameRequestSameReply) {
    for (auto p : kAll) {
        const auto a = Make(p);
        const auto b = Make(p);
        EXPECT_EQ(a.Compose(Propose()), b.Compose(Propose()));
        AgentRequest crit = Propose();
        crit.phase = Phase::kCritique;
        crit.target = {"demo:other", "Some proposal with 3 numbers."};
        EXPECT_EQ(a.Compose(crit), b.Compose(crit));
    }
}

TEST(DemoAgent, IdentityAndProvider) {
    const auto a = Make(Persona::kModerator, "demo:moderator#2");
    EXPECT_EQ(a.Name(), "demo:moderator#2");
    EXPECT_EQ(a.Provider(), "demo");
    EXPECT_EQ(a.persona(), Persona::kModerator);
}

TEST(DemoAgent, ProposalDependsOnTheTask) {
    const auto a = Make(Persona::kAnalyst);
    const auto k8s = a.Compose(Propose());
    const auto other = a.Compose(Propose("Is PostgreSQL the right database for analytics?"));
    EXPECT_NE(k8s, other);
    EXPECT_THAT(k8s, HasSubstr("Kubernetes"));
    EXPECT_THAT(other, HasSubstr("PostgreSQL"));
    EXPECT_THAT(other, Not(HasSubstr("Kubernetes")));
}

TEST(DemoAgent, PersonasSpeakDifferently) {
    std::set<std::string> proposals;
    for (auto p : kAll) {
        const auto text = Make(p).Compose(Propose());
        EXPECT_THAT(text, HasSubstr("billing")) << ToString(p);
        proposals.insert(WithoutLastLine(text));
    }
    EXPECT_EQ(proposals.size(), 4u);
}

TEST(DemoAgent, ProposalEndsWithAConfidenceLine) {
    for (auto p : kAll) {
        const auto text = Make(p).Compose(Propose());
        const auto last = LastLine(text);
        ASSERT_EQ(last.rfind("Confidence: 0.", 0), 0u) << text;
        const double c = std::stod(last.substr(12));
        EXPECT_GT(c, 0.4);
        EXPECT_LT(c, 1.0);
        EXPECT_GE(WithoutLastLine(text).size(), 200u);
    }
}

TEST(DemoAgent, CritiqueIsAJsonObject) {
    for (auto p : kAll) {
        AgentRequest r = Propose();
        r.phase = Phase::kCritique;
        r.target = {"demo:analyst", Make(Persona::kAnalyst).Compose(Propose())};
        const auto text = Make(p).Compose(r);
        const auto v = boost::json::parse(text);
        ASSERT_TRUE(v.is_object()) << text;
        const auto& o = v.as_object();
        ASSERT_TRUE(o.contains("issues"));
        EXPECT_FALSE(o.at("issues").as_array().empty());
        ASSERT_TRUE(o.contains("suggestions"));
        ASSERT_TRUE(o.contains("severity"));
        const auto severity = o.at("severity").as_int64();
        EXPECT_GE(severity, 0);
        EXPECT_LE(severity, 10);
        EXPECT_TRUE(o.at("reasoning").is_string());
    }
}

TEST(DemoAgent, TheCriticIsHarsherThanTheAnalyst) {
    AgentRequest r = Propose();
    r.phase = Phase::kCritique;
    r.target = {"demo:moderator", Make(Persona::kModerator).Compose(Propose())};
    const auto severity = [&](Persona p) {
        return boost::json::parse(Make(p).Compose(r)).as_object().at("severity").as_int64();
    };
    EXPECT_GE(severity(Persona::kCritic), 5);
    EXPECT_GT(severity(Persona::kCritic), severity(Persona::kAnalyst));
}

TEST(DemoAgent, VoteChoosesAProposal) {
    AgentRequest r = Propose();
    r.phase = Phase::kVote;
    for (auto p : kAll) {
        r.proposals.push_back({"demo:" + std::string(ToString(p)), Make(p).Compose(Propose())});
    }
    for (auto p : kAll) {
        const auto text = Make(p).Compose(r);
        const auto o = boost::json::parse(text).as_object();
        const std::string choice(o.at("choice").as_string());
        EXPECT_TRUE(std::any_of(r.proposals.begin(), r.proposals.end(), [&](const PeerText& t) {
            return t.agent == choice;
        })) << choice;
        const double c = o.at("confidence").to_number<double>();
        EXPECT_GT(c, 0.0);
        EXPECT_LE(c, 1.0);
        EXPECT_THAT(std::string(o.at("reasoning").as_string()), HasSubstr(choice));
    }
}

TEST(DemoAgent, VotesDifferAcrossTasks) {
    // Over a handful of tasks the four personas sometimes agree and sometimes split.
    const char* tasks[] = {"Should we adopt Rust?",
                           "Is a four-day week worth it?",
                           "Should we open-source the SDK?",
                           "Do we need a QA team?",
                           "Should cities ban cars downtown?",
                           "Is nuclear power necessary?",
                           "Should we rewrite the frontend in React?",
                           "Remote or office?"};
    std::set<std::size_t> distinct_counts;
    for (const char* task : tasks) {
        AgentRequest r = Propose(task);
        r.phase = Phase::kVote;
        for (auto p : kAll) r.proposals.push_back({"demo:" + std::string(ToString(p)), "text"});
        std::set<std::string> choices;
        for (auto p : kAll) {
            choices.insert(std::string(
                boost::json::parse(Make(p).Compose(r)).as_object().at("choice").as_string()));
        }
        distinct_counts.insert(choices.size());
    }
    EXPECT_TRUE(distinct_counts.count(4)) << "no fully split vote";
    EXPECT_TRUE(distinct_counts.count(2)) << "no vote with a clear leader";
}

TEST(DemoAgent, VoteWithoutProposalsIsEmptyChoice) {
    AgentRequest r = Propose();
    r.phase = Phase::kVote;
    const auto o = boost::json::parse(Make(Persona::kCritic).Compose(r)).as_object();
    EXPECT_EQ(o.at("choice").as_string(), "");
}

TEST(DemoAgent, RevisionKeepsThePreviousProposalAndAnswersTheStrongestCritique) {
    const auto agent = Make(Persona::kAnalyst);
    const auto first = agent.Compose(Propose());
    AgentRequest r = Propose();
    r.phase = Phase::kRevise;
    r.round = 2;
    r.own_proposal = first;
    r.critiques = {{"demo:moderator", {"Mild point"}, {"Mild fix"}, 3},
                   {"demo:critic", {"No rollback plan exists."}, {"Add a rollback path."}, 8}};
    const auto revised = agent.Compose(r);
    const auto body = WithoutLastLine(revised);
    EXPECT_EQ(body.rfind(WithoutLastLine(first), 0), 0u) << "previous text must be kept";
    EXPECT_THAT(body, HasSubstr("demo:critic"));
    EXPECT_THAT(body, HasSubstr("no rollback plan exists"));
    EXPECT_THAT(body, HasSubstr("add a rollback path"));
    EXPECT_THAT(body, Not(HasSubstr("Mild")));
    EXPECT_EQ(LastLine(revised).rfind("Confidence: ", 0), 0u);

    // The next revision replaces the answer instead of piling up answers.
    r.round = 3;
    r.own_proposal = revised;
    const auto again = WithoutLastLine(agent.Compose(r));
    EXPECT_EQ(again.find("Revision (round 2)"), std::string::npos);
    EXPECT_NE(again.find("Revision (round 3)"), std::string::npos);
}

TEST(DemoAgent, RevisionAddsEvidenceWhenChallenged) {
    const auto agent = Make(Persona::kModerator);
    AgentRequest r = Propose();
    r.phase = Phase::kRevise;
    r.round = 3;
    r.own_proposal = agent.Compose(Propose());
    const auto calm = agent.Compose(r);
    EXPECT_THAT(calm, Not(HasSubstr("Specific evidence")));
    r.challenge = "Hollow consensus: give specific evidence.";
    const auto challenged = agent.Compose(r);
    EXPECT_THAT(challenged, HasSubstr("Specific evidence"));
    EXPECT_THAT(challenged, HasSubstr("counter-example"));
    EXPECT_THAT(challenged, HasSubstr("%"));
    EXPECT_THAT(challenged, HasSubstr("source:"));

    // Evidence already added is kept in later unchallenged revisions.
    r.challenge.clear();
    r.round = 4;
    r.own_proposal = challenged;
    EXPECT_THAT(agent.Compose(r), HasSubstr("Specific evidence"));
}

TEST(DemoAgent, RevisionWithoutPreviousProposalProposesAfresh) {
    AgentRequest r = Propose();
    r.phase = Phase::kRevise;
    r.round = 2;
    const auto text = Make(Persona::kCritic).Compose(r);
    EXPECT_THAT(text, HasSubstr("Kubernetes"));
    EXPECT_EQ(LastLine(text).rfind("Confidence: ", 0), 0u);
}

TEST(DemoAgent, JudgeSynthesizesFromProposals) {
    AgentRequest r = Propose();
    r.phase = Phase::kJudge;
    for (auto p : kAll) {
        r.proposals.push_back({"demo:" + std::string(ToString(p)), Make(p).Compose(Propose())});
    }
    const auto text = Make(Persona::kModerator).Compose(r);
    EXPECT_THAT(text, HasSubstr("demo:analyst"));  // the best-supported proposal anchors it
    EXPECT_THAT(text, HasSubstr("Final answer"));
    EXPECT_EQ(LastLine(text).rfind("Confidence: 0.", 0), 0u);
}

// ---- Call(): latency, usage, cancellation -------------------------------------------

struct CallOutcome {
    bool done = false;
    std::exception_ptr error;
    std::optional<common::Result<AgentReply>> result;
};

// Result<T> has no default constructor, which co_spawn's completion needs; the wrapper
// coroutine stores the result instead. Call() runs on the wrapper's awaitable thread, so
// the cancellation slot bound to co_spawn reaches it.
void Spawn(boost::asio::io_context& io, Agent& agent, const AgentRequest& req, CallOutcome& out,
           boost::asio::cancellation_slot slot = {}) {
    boost::asio::co_spawn(
        io,
        [&agent, &req, &out]() -> boost::asio::awaitable<void> {
            out.result.emplace(co_await agent.Call(req));
        },
        boost::asio::bind_cancellation_slot(slot, [&out](std::exception_ptr e) {
            out.done = true;
            out.error = e;
        }));
}

TEST(DemoAgentCall, ReturnsTheComposedReplyWithUsage) {
    boost::asio::io_context io;
    DemoAgent agent("demo:critic", Persona::kCritic, std::chrono::milliseconds(0));
    AgentRequest req = Propose();
    req.prompt = "one two three four";
    CallOutcome out;
    Spawn(io, agent, req, out);
    io.run();
    ASSERT_TRUE(out.done);
    ASSERT_FALSE(out.error);
    ASSERT_TRUE(out.result->ok());
    const auto& reply = out.result->value();
    EXPECT_EQ(reply.text, agent.Compose(req));
    // 4 prompt words + 10 task words.
    EXPECT_EQ(reply.usage.input_tokens, 14);
    EXPECT_GT(reply.usage.output_tokens, 40);
}

TEST(DemoAgentCall, CancellationRightAfterStartAnswersCancelled) {
    boost::asio::io_context io;
    DemoAgent agent("demo:analyst", Persona::kAnalyst, std::chrono::seconds(10));
    const AgentRequest req = Propose();
    boost::asio::cancellation_signal signal;
    CallOutcome out;
    Spawn(io, agent, req, out, signal.slot());
    boost::asio::post(io, [&] { signal.emit(boost::asio::cancellation_type::terminal); });
    // Without cancellation this would run for 10 s and then succeed.
    io.run();
    ASSERT_TRUE(out.done);
    ASSERT_FALSE(out.error);
    ASSERT_FALSE(out.result->ok());
    EXPECT_EQ(out.result->error().code, common::ErrorCode::kCancelled);
}

TEST(DemoAgentCall, CancellationDuringTheWaitAnswersCancelled) {
    boost::asio::io_context io;
    DemoAgent agent("demo:analyst", Persona::kAnalyst, std::chrono::seconds(10));
    const AgentRequest req = Propose();
    boost::asio::cancellation_signal signal;
    CallOutcome out;
    Spawn(io, agent, req, out, signal.slot());
    // Let the coroutine reach its timer first: a few hops through the queue.
    std::function<void(int)> hop = [&](int left) {
        if (left == 0) {
            signal.emit(boost::asio::cancellation_type::terminal);
            return;
        }
        boost::asio::post(io, [&, left] { hop(left - 1); });
    };
    hop(5);
    io.run();
    ASSERT_TRUE(out.done);
    ASSERT_FALSE(out.error);
    ASSERT_FALSE(out.result->ok());
    EXPECT_EQ(out.result->error().code, common::ErrorCode::kCancelled);
}

TEST(DemoAgentCall, AlreadyCancelledCallDoesNotWait) {
    boost::asio::io_context io;
    DemoAgent agent("demo:critic", Persona::kCritic, std::chrono::seconds(10));
    const AgentRequest req = Propose();
    boost::asio::cancellation_signal signal;
    CallOutcome out;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            // The caller tolerates the signal, which lands before Call() starts.
            co_await boost::asio::this_coro::throw_if_cancelled(false);
            signal.emit(boost::asio::cancellation_type::terminal);
            out.result.emplace(co_await agent.Call(req));
        },
        boost::asio::bind_cancellation_slot(signal.slot(), [&out](std::exception_ptr e) {
            out.done = true;
            out.error = e;
        }));
    io.run();
    ASSERT_TRUE(out.done);
    ASSERT_FALSE(out.error);
    ASSERT_FALSE(out.result->ok());
    EXPECT_EQ(out.result->error().code, common::ErrorCode::kCancelled);
}

}  // namespace
}  // namespace aragora::agents
