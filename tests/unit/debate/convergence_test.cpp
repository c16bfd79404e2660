#include "debate/convergence.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aragora::debate {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Not;

Proposal P(std::string agent, std::string content, int round = 1) {
    Proposal p;
    p.agent = std::move(agent);
    p.content = std::move(content);
    p.round = round;
    return p;
}

constexpr const char* kBase =
    "We should adopt the staged rollout plan because it limits risk and gives measurable "
    "feedback every two weeks.";
constexpr const char* kEdited =
    "We should adopt the staged rollout plan because it limits risk; a dedicated team reviews "
    "the budget and customer feedback monthly.";
constexpr const char* kUnrelated =
    "Kubernetes clusters demand specialised operators, expensive observability tooling, "
    "careful capacity planning.";

constexpr const char* kRich =
    "According to the 2023 survey [1], teams cut deployment time by 35% within 6 months. For "
    "example, one team reduced incidents from 12 to 4 per quarter, which means fewer pages "
    "because rollbacks are automated (source: https://example.org/report).";
constexpr const char* kVague =
    "It depends on various factors. Generally, in some cases it could potentially help, and "
    "many experts think it is somewhat useful, perhaps.";
constexpr const char* kVague2 =
    "It depends on various factors. Generally, in some cases it could potentially help, and "
    "many experts think it is somewhat useful.";

TEST(TfIdfCosine, IdenticalTextsAreOne) {
    const std::vector<std::string> corpus = {kBase, kUnrelated};
    EXPECT_DOUBLE_EQ(TfIdfCosine(kBase, kBase, corpus), 1.0);
    EXPECT_THAT(TfIdfCosine("Hello, World!", "hello world", {}), DoubleNear(1.0, 1e-12));
    EXPECT_DOUBLE_EQ(TfIdfCosine("", "", {}), 1.0);
}

TEST(TfIdfCosine, DisjointTextsAreZero) {
    EXPECT_DOUBLE_EQ(TfIdfCosine("alpha beta gamma", "delta epsilon", {"alpha beta gamma"}), 0.0);
    EXPECT_DOUBLE_EQ(TfIdfCosine("", "something", {}), 0.0);
}

TEST(TfIdfCosine, PartialOverlapIsBetweenAndSymmetric) {
    const std::vector<std::string> corpus = {kBase, kEdited, kUnrelated};
    const double ab = TfIdfCosine(kBase, kEdited, corpus);
    EXPECT_GT(ab, 0.3);
    EXPECT_LT(ab, 0.9);
    EXPECT_DOUBLE_EQ(ab, TfIdfCosine(kEdited, kBase, corpus));
    EXPECT_LT(TfIdfCosine(kBase, kUnrelated, corpus), 0.1);
}

TEST(TfIdfCosine, SharedRareWordsWeighMoreThanSharedCommonWords) {
    // "apple" is in every text of the corpus, "quince" in only two.
    const std::vector<std::string> corpus = {"apple quince", "apple pear", "apple quince fig",
                                             "apple plum"};
    const double common = TfIdfCosine("apple quince", "apple pear", corpus);
    const double rare = TfIdfCosine("apple quince", "quince fig", corpus);
    EXPECT_GT(rare, common);
}

TEST(ConvergenceStatusNames, AreTheEventValues) {
    EXPECT_EQ(ToString(ConvergenceStatus::kConverged), "converged");
    EXPECT_EQ(ToString(ConvergenceStatus::kRefining), "refining");
    EXPECT_EQ(ToString(ConvergenceStatus::kDiverging), "diverging");
}

// The round checks count each text once for the round; their figures are exactly the
// pairwise TfIdfCosine over the same corpus (bit for bit, not merely close).
TEST(CheckConvergence, PerAgentFiguresEqualTfIdfCosineOverTheRound) {
    const std::vector<Proposal> prev = {P("a", kBase), P("b", kRich), P("c", kVague),
                                        P("d", "Ünïcode wörds and ASCII WORDS, words.")};
    const std::vector<Proposal> cur = {P("a", kEdited, 2), P("b", kRich, 2), P("c", kVague2, 2),
                                       P("d", "unicode words ascii", 2)};
    const auto r = CheckConvergence(prev, cur, 0.85, 0.40);
    std::vector<std::string> corpus;
    for (std::size_t i = 0; i < prev.size(); ++i) {
        corpus.push_back(prev[i].content);
        corpus.push_back(cur[i].content);
    }
    double min_sim = 1.0;
    for (std::size_t i = 0; i < prev.size(); ++i) {
        const double expected = TfIdfCosine(prev[i].content, cur[i].content, corpus);
        EXPECT_EQ(r.per_agent.at(cur[i].agent), expected) << cur[i].agent;
        min_sim = std::min(min_sim, expected);
    }
    EXPECT_EQ(r.min_similarity, min_sim);
}

TEST(CheckHollowConsensus, AgreementEqualsMeanPairwiseTfIdfCosine) {
    const std::vector<Proposal> cur = {P("a", kBase), P("b", kEdited), P("c", kVague),
                                       P("d", kVague2)};
    std::vector<std::string> corpus;
    for (const auto& p : cur) corpus.push_back(p.content);
    double total = 0;
    int pairs = 0;
    for (std::size_t i = 0; i < cur.size(); ++i) {
        for (std::size_t j = i + 1; j < cur.size(); ++j) {
            total += TfIdfCosine(cur[i].content, cur[j].content, corpus);
            ++pairs;
        }
    }
    EngineSettings settings;
    TricksterState state;
    const auto d = CheckHollowConsensus(1, cur, nullptr, settings, state);
    EXPECT_EQ(d.agreement, total / pairs);
}

TEST(CheckConvergence, UnchangedProposalsConverge) {
    const std::vector<Proposal> prev = {P("a", kBase), P("b", kRich)};
    const std::vector<Proposal> cur = {P("a", kBase, 2), P("b", kRich, 2)};
    const auto r = CheckConvergence(prev, cur, 0.85, 0.40);
    EXPECT_EQ(r.status, ConvergenceStatus::kConverged);
    EXPECT_DOUBLE_EQ(r.min_similarity, 1.0);
    EXPECT_DOUBLE_EQ(r.mean_similarity, 1.0);
    EXPECT_EQ(r.per_agent.size(), 2u);
}

TEST(CheckConvergence, ModerateEditIsRefining) {
    const auto r = CheckConvergence({P("a", kBase), P("b", kRich)},
                                    {P("a", kEdited, 2), P("b", kRich, 2)}, 0.85, 0.40);
    EXPECT_EQ(r.status, ConvergenceStatus::kRefining);
    EXPECT_GE(r.min_similarity, 0.40);
    EXPECT_LT(r.min_similarity, 0.85);
    EXPECT_DOUBLE_EQ(r.per_agent.at("b"), 1.0);
    EXPECT_DOUBLE_EQ(r.min_similarity, r.per_agent.at("a"));
    EXPECT_THAT(r.mean_similarity, DoubleNear((r.per_agent.at("a") + 1.0) / 2, 1e-12));
}

TEST(CheckConvergence, OneRewrittenPositionIsDiverging) {
    const auto r = CheckConvergence({P("a", kBase), P("b", kRich)},
                                    {P("a", kUnrelated, 2), P("b", kRich, 2)}, 0.85, 0.40);
    EXPECT_EQ(r.status, ConvergenceStatus::kDiverging);
    EXPECT_LT(r.min_similarity, 0.40);
}

TEST(CheckConvergence, ThresholdsAreParameters) {
    const std::vector<Proposal> prev = {P("a", kBase)};
    const std::vector<Proposal> cur = {P("a", kEdited, 2)};
    EXPECT_EQ(CheckConvergence(prev, cur, 0.5, 0.40).status, ConvergenceStatus::kConverged);
    EXPECT_EQ(CheckConvergence(prev, cur, 0.95, 0.9).status, ConvergenceStatus::kDiverging);
}

TEST(CheckConvergence, IgnoresAgentsMissingOnEitherSide) {
    const auto r = CheckConvergence({P("a", kBase), P("gone", kRich)},
                                    {P("a", kBase, 2), P("new", kUnrelated, 2)}, 0.85, 0.40);
    EXPECT_EQ(r.status, ConvergenceStatus::kConverged);
    EXPECT_EQ(r.per_agent.size(), 1u);
    EXPECT_EQ(r.per_agent.count("a"), 1u);

    const auto none = CheckConvergence({P("x", kBase)}, {P("y", kBase, 2)}, 0.85, 0.40);
    EXPECT_EQ(none.status, ConvergenceStatus::kRefining);
    EXPECT_TRUE(none.per_agent.empty());
    EXPECT_EQ(none.min_similarity, 0);
}

TEST(EvidenceQuality, EvidenceRichTextScoresHigherThanVagueText) {
    const double rich = EvidenceQuality(kRich);
    const double vague = EvidenceQuality(kVague);
    EXPECT_GT(rich, 0.6);
    EXPECT_LT(vague, 0.2);
    EXPECT_GT(rich, vague);
    EXPECT_LE(rich, 1.0);
    EXPECT_GE(vague, 0.0);
}

TEST(EvidenceQuality, EachSignalCounts) {
    const double plain = EvidenceQuality("We think this plan is good for the team.");
    EXPECT_DOUBLE_EQ(plain, 0.0);
    EXPECT_GT(EvidenceQuality("We think this plan is good, according to the audit."), plain);
    EXPECT_GT(EvidenceQuality("We think this plan cuts latency by 40 ms."), plain);
    EXPECT_GT(EvidenceQuality("We think this plan is good, e.g. for billing."), plain);
    EXPECT_GT(EvidenceQuality("We think this plan is good because it is simple."), plain);
    EXPECT_GT(EvidenceQuality("See https://example.org for the plan."), plain);
    // Numbers with units weigh more than bare numbers.
    EXPECT_GT(EvidenceQuality("Latency fell by 40%."), EvidenceQuality("Latency fell by 40."));
}

TEST(EvidenceQuality, VaguePhrasesLowerTheScore) {
    const std::string base = "Latency fell by 40% because of caching.";
    EXPECT_LT(EvidenceQuality(base + " Generally it depends, perhaps."), EvidenceQuality(base));
}

TEST(EvidenceQuality, IgnoresTheConfidenceLine) {
    EXPECT_DOUBLE_EQ(EvidenceQuality("Confidence: 0.95"), 0.0);
    EXPECT_DOUBLE_EQ(EvidenceQuality("We agree.\n**Confidence:** 85%"), 0.0);
}

EngineSettings Defaults() { return EngineSettings{}; }

TEST(CheckHollowConsensus, FiresWhenAgreementIsHighAndEvidenceLow) {
    TricksterState state;
    const std::vector<Proposal> cur = {P("demo:analyst", kVague), P("demo:critic", kVague2)};
    const auto d = CheckHollowConsensus(1, cur, nullptr, Defaults(), state);
    EXPECT_TRUE(d.hollow);
    EXPECT_TRUE(d.intervene);
    EXPECT_GE(d.agreement, 0.70);
    EXPECT_LT(d.evidence_quality, 0.40);
    EXPECT_EQ(state.interventions, 1);
    EXPECT_EQ(state.last_intervention_round, 1);
    EXPECT_THAT(d.challenge, HasSubstr("evidence"));
    EXPECT_THAT(d.challenge, HasSubstr("counter-example"));
    EXPECT_THAT(d.challenge, HasSubstr("sources"));
}

TEST(CheckHollowConsensus, NamesTheWeakestProposal) {
    TricksterState state;
    ConvergenceReport conv;
    conv.min_similarity = 0.9;
    conv.per_agent = {{"strong", 0.9}, {"weak", 0.95}};
    const std::vector<Proposal> cur = {
        P("strong", "Latency fell by 40% in 3 weeks because of caching.", 2), P("weak", kVague, 2)};
    const auto d = CheckHollowConsensus(2, cur, &conv, Defaults(), state);
    ASSERT_TRUE(d.intervene);
    EXPECT_DOUBLE_EQ(d.agreement, 0.9);  // round >= 2: the convergence minimum
    EXPECT_THAT(d.challenge, HasSubstr("weak"));
    EXPECT_THAT(d.challenge, Not(HasSubstr("strong")));
}

TEST(CheckHollowConsensus, QuietWhenEvidenceIsStrong) {
    TricksterState state;
    const std::vector<Proposal> cur = {P("a", kRich), P("b", kRich)};
    const auto d = CheckHollowConsensus(1, cur, nullptr, Defaults(), state);
    EXPECT_FALSE(d.hollow);
    EXPECT_FALSE(d.intervene);
    EXPECT_GE(d.agreement, 0.99);
    EXPECT_TRUE(d.challenge.empty());
    EXPECT_EQ(state.interventions, 0);
}

TEST(CheckHollowConsensus, QuietWhenAgentsDisagree) {
    TricksterState state;
    const std::vector<Proposal> cur = {P("a", kVague), P("b", "Maybe. Perhaps not.")};
    const auto d = CheckHollowConsensus(1, cur, nullptr, Defaults(), state);
    EXPECT_LT(d.agreement, 0.70);
    EXPECT_FALSE(d.hollow);

    ConvergenceReport conv;
    conv.min_similarity = 0.5;
    conv.per_agent = {{"a", 0.5}};
    const auto later =
        CheckHollowConsensus(2, {P("a", kVague, 2), P("b", kVague, 2)}, &conv, Defaults(), state);
    EXPECT_DOUBLE_EQ(later.agreement, 0.5);
    EXPECT_FALSE(later.hollow);
}

TEST(CheckHollowConsensus, RespectsTheCooldown) {
    TricksterState state;
    const std::vector<Proposal> cur = {P("a", kVague), P("b", kVague)};
    const auto settings = Defaults();  // cooldown 1 round
    EXPECT_TRUE(CheckHollowConsensus(2, cur, nullptr, settings, state).intervene);
    const auto cooling = CheckHollowConsensus(3, cur, nullptr, settings, state);
    EXPECT_TRUE(cooling.hollow);
    EXPECT_FALSE(cooling.intervene);
    EXPECT_TRUE(cooling.challenge.empty());
    EXPECT_EQ(state.interventions, 1);
    EXPECT_TRUE(CheckHollowConsensus(4, cur, nullptr, settings, state).intervene);
    EXPECT_EQ(state.interventions, 2);
    EXPECT_EQ(state.last_intervention_round, 4);
}

TEST(CheckHollowConsensus, RespectsTheCap) {
    const std::vector<Proposal> cur = {P("a", kVague), P("b", kVague)};
    auto settings = Defaults();
    settings.trickster_cooldown_rounds = 0;
    TricksterState state;
    int interventions = 0;
    for (int round = 1; round <= 12; ++round) {
        const auto d = CheckHollowConsensus(round, cur, nullptr, settings, state);
        EXPECT_TRUE(d.hollow);
        interventions += d.intervene ? 1 : 0;
        EXPECT_EQ(d.intervene, round <= 5) << "round " << round;
    }
    EXPECT_EQ(interventions, 5);
    EXPECT_EQ(state.interventions, 5);

    settings.trickster_cooldown_rounds = 1;
    TricksterState spaced;
    std::vector<int> rounds;
    for (int round = 1; round <= 12; ++round) {
        if (CheckHollowConsensus(round, cur, nullptr, settings, spaced).intervene) {
            rounds.push_back(round);
        }
    }
    EXPECT_EQ(rounds, (std::vector<int>{1, 3, 5, 7, 9}));
}

TEST(CheckHollowConsensus, NoProposalsNoAlarm) {
    TricksterState state;
    const auto d = CheckHollowConsensus(1, {}, nullptr, Defaults(), state);
    EXPECT_FALSE(d.hollow);
    EXPECT_FALSE(d.intervene);
}

}  // namespace
}  // namespace aragora::debate
