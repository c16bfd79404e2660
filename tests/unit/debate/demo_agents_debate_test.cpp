// The demo agents against the debate parsers and detectors: their replies must parse
// on the structured path, and over a set of tasks their debates must show every outcome
// the product can report.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "agents/demo_agent.hpp"
#include "debate/consensus.hpp"
#include "debate/convergence.hpp"
#include "debate/parse.hpp"

namespace aragora::debate {
namespace {

using agents::AgentRequest;
using agents::DemoAgent;
using agents::Persona;
using agents::Phase;

constexpr Persona kCycle[] = {Persona::kAnalyst, Persona::kCritic, Persona::kModerator,
                              Persona::kContrarian};

const std::vector<std::string> kTasks = {
    "Should we migrate our monolith to microservices?",
    "Is Rust a better choice than Go for our new payment service?",
    "Should the company adopt a four-day work week?",
    "Which database should we use for analytics: PostgreSQL or ClickHouse?",
    "Should we rewrite the frontend in React?",
    "Is remote work better for engineering productivity?",
    "Should we invest in Kubernetes for a team of five?",
    "How should we price our SaaS product for small businesses?",
    "Should cities ban cars from downtown areas?",
    "Is nuclear power necessary for decarbonization?",
    "Should we open-source our internal tooling?",
    "Do we need a dedicated QA team?",
};

std::vector<DemoAgent> Agents(int n) {
    std::vector<DemoAgent> out;
    for (int i = 0; i < n; ++i) {
        out.emplace_back("demo:" + std::string(agents::ToString(kCycle[i])), kCycle[i],
                         std::chrono::milliseconds(0));
    }
    return out;
}

struct Outcome {
    ConsensusOutcome consensus;
    int rounds_used = 0;
    int interventions = 0;
    std::vector<double> round_similarity;  // min similarity of rounds 2..
    bool all_parsed = true;
};

// A synchronous copy of the protocol (DEBATE.md steps 1-6) over Compose().
Outcome RunDebate(const std::string& task, int n_agents, int rounds = 3) {
    auto agents = Agents(n_agents);
    const EngineSettings settings;
    Outcome out;
    TricksterState trickster;
    std::vector<Proposal> previous, current;
    std::map<std::string, std::vector<agents::ReceivedCritique>> received;
    std::string challenge;
    for (int round = 1; round <= rounds; ++round) {
        out.rounds_used = round;
        current.clear();
        for (auto& a : agents) {
            AgentRequest r;
            r.task = task;
            r.round = round;
            r.total_rounds = rounds;
            r.phase = round == 1 ? Phase::kPropose : Phase::kRevise;
            r.challenge = challenge;
            for (const auto& p : previous) {
                if (p.agent == a.Name()) r.own_proposal = p.content;
            }
            r.critiques = received[a.Name()];
            current.push_back(ParseProposal(a.Name(), round, a.Compose(r)));
        }
        received.clear();
        for (auto& critic : agents) {
            for (const auto& p : current) {
                if (p.agent == critic.Name()) continue;
                AgentRequest r;
                r.task = task;
                r.round = round;
                r.phase = Phase::kCritique;
                r.target = {p.agent, p.content};
                const auto c = ParseCritique(critic.Name(), p.agent, critic.Compose(r));
                out.all_parsed = out.all_parsed && c.parsed;
                received[p.agent].push_back({c.critic, c.issues, c.suggestions, c.severity});
            }
        }
        ConvergenceReport conv;
        const ConvergenceReport* conv_ptr = nullptr;
        if (round > 1) {
            conv = CheckConvergence(previous, current, settings.convergence_threshold,
                                    settings.divergence_threshold);
            conv_ptr = &conv;
            out.round_similarity.push_back(conv.min_similarity);
        }
        const auto hollow = CheckHollowConsensus(round, current, conv_ptr, settings, trickster);
        challenge = hollow.intervene ? hollow.challenge : "";
        previous = current;
        if (conv_ptr != nullptr && conv.status == ConvergenceStatus::kConverged && !hollow.hollow) {
            break;
        }
    }
    out.interventions = trickster.interventions;

    std::vector<std::string> names;
    for (const auto& p : current) names.push_back(p.agent);
    std::vector<Vote> votes;
    for (auto& a : agents) {
        AgentRequest r;
        r.task = task;
        r.round = out.rounds_used;
        r.phase = Phase::kVote;
        for (const auto& p : current) r.proposals.push_back({p.agent, p.content});
        const auto v = ParseVote(a.Name(), a.Compose(r), names, names.front());
        out.all_parsed = out.all_parsed && v.parsed;
        votes.push_back(v.vote);
    }
    out.consensus = DecideConsensus(ConsensusMethod::kMajority, 0.6, current, votes);
    return out;
}

TEST(DemoAgentsWithParsers, RepliesTakeTheStructuredPath) {
    auto agents = Agents(4);
    for (auto& a : agents) {
        AgentRequest r;
        r.task = kTasks[0];
        r.phase = Phase::kPropose;
        const auto text = a.Compose(r);
        const auto p = ParseProposal(a.Name(), 1, text);
        EXPECT_NE(p.content, text);
        EXPECT_EQ(p.content.find("Confidence:"), std::string::npos);
        EXPECT_GT(p.confidence, 0.5);

        r.phase = Phase::kCritique;
        r.target = {"demo:other", p.content};
        const auto c = ParseCritique(a.Name(), "demo:other", a.Compose(r));
        EXPECT_TRUE(c.parsed) << a.Name();
        EXPECT_FALSE(c.issues.empty());
        EXPECT_FALSE(c.suggestions.empty());
        EXPECT_FALSE(c.reasoning.empty());

        r.phase = Phase::kVote;
        r.proposals = {{"demo:analyst", "a"}, {"demo:critic", "b"}, {"demo:other", "c"}};
        const auto v = ParseVote(a.Name(), a.Compose(r),
                                 {"demo:analyst", "demo:critic", "demo:other"}, "demo:other");
        EXPECT_TRUE(v.parsed) << a.Name();
        EXPECT_FALSE(v.vote.reasoning.empty());
    }
}

TEST(DemoAgentsWithParsers, EvidenceDiffersByPersona) {
    auto agents = Agents(4);
    std::map<std::string, double> quality;
    for (auto& a : agents) {
        AgentRequest r;
        r.task = kTasks[0];
        r.phase = Phase::kPropose;
        quality[a.Name()] = EvidenceQuality(ParseProposal(a.Name(), 1, a.Compose(r)).content);
    }
    EXPECT_GE(quality["demo:analyst"], 0.6);
    EXPECT_GT(quality["demo:analyst"], quality["demo:critic"]);
    EXPECT_GT(quality["demo:analyst"], quality["demo:moderator"]);
}

TEST(DemoAgentsWithParsers, RevisionsStaySimilarToThePreviousVersion) {
    for (const auto& task : kTasks) {
        const auto out = RunDebate(task, 4);
        for (double sim : out.round_similarity) {
            EXPECT_GE(sim, 0.7) << task;
            EXPECT_LT(sim, 1.0) << task;
        }
    }
}

TEST(DemoAgentsWithParsers, ChallengeRaisesEvidence) {
    DemoAgent moderator("demo:moderator", Persona::kModerator, std::chrono::milliseconds(0));
    AgentRequest r;
    r.task = kTasks[0];
    r.phase = Phase::kPropose;
    const auto first = ParseProposal(moderator.Name(), 1, moderator.Compose(r)).content;
    r.phase = Phase::kRevise;
    r.round = 2;
    r.own_proposal = first;
    const auto calm = ParseProposal(moderator.Name(), 2, moderator.Compose(r)).content;
    r.challenge = "Give specific evidence.";
    const auto challenged = ParseProposal(moderator.Name(), 2, moderator.Compose(r)).content;
    EXPECT_GT(EvidenceQuality(challenged), EvidenceQuality(calm) + 0.2);
}

TEST(DemoDebates, ShowEveryOutcomeAcrossTasks) {
    for (int n : {3, 4}) {
        int with_dissent = 0, unanimous = 0, no_consensus = 0, hollow = 0, early_stop = 0;
        for (const auto& task : kTasks) {
            const auto out = RunDebate(task, n, 5);
            EXPECT_TRUE(out.all_parsed) << task;
            const auto& c = out.consensus;
            if (!c.reached) {
                ++no_consensus;
            } else if (c.dissents.empty()) {
                ++unanimous;
            } else {
                ++with_dissent;
            }
            hollow += out.interventions > 0 ? 1 : 0;
            early_stop += out.rounds_used < 5 ? 1 : 0;
        }
        SCOPED_TRACE("agents: " + std::to_string(n));
        EXPECT_GT(with_dissent, 0);
        EXPECT_GT(no_consensus, 0);
        EXPECT_GT(hollow, 0);
        EXPECT_LT(hollow, static_cast<int>(kTasks.size()));
        EXPECT_GT(early_stop, 0);
        if (n == 3) {
            EXPECT_GT(unanimous, 0);
        }
    }
}

TEST(DemoDebates, SameTaskSameDebate) {
    const auto a = RunDebate(kTasks[3], 4);
    const auto b = RunDebate(kTasks[3], 4);
    EXPECT_EQ(a.consensus.winner, b.consensus.winner);
    EXPECT_EQ(a.consensus.final_answer, b.consensus.final_answer);
    EXPECT_EQ(a.consensus.confidence, b.consensus.confidence);
    EXPECT_EQ(a.rounds_used, b.rounds_used);
}

}  // namespace
}  // namespace aragora::debate
