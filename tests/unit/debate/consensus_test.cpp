#include "debate/consensus.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace aragora::debate {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

Proposal P(std::string agent, std::string content = "") {
    Proposal p;
    p.agent = std::move(agent);
    p.content = content.empty() ? "Proposal of " + p.agent + "." : std::move(content);
    return p;
}

Vote V(std::string voter, std::string choice, double confidence, std::string reasoning = "") {
    Vote v;
    v.voter = std::move(voter);
    v.choice = std::move(choice);
    v.confidence = confidence;
    v.reasoning = std::move(reasoning);
    return v;
}

const std::vector<Proposal> kABC = {P("a"), P("b"), P("c")};

TEST(DecideConsensus, MajorityReachedWithDissent) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "a", 0.8), V("y", "a", 0.7), V("z", "b", 0.9)});
    EXPECT_TRUE(out.reached);
    EXPECT_EQ(out.method, ConsensusMethod::kMajority);
    EXPECT_EQ(out.winner, "a");
    EXPECT_EQ(out.final_answer, "Proposal of a.");
    EXPECT_THAT(out.confidence, DoubleNear(1.5 / 2.4, 1e-12));
    EXPECT_THAT(out.supporting_agents, ElementsAre("x", "y"));
    EXPECT_THAT(out.dissenting_agents, ElementsAre("z"));
    ASSERT_EQ(out.dissents.size(), 1u);
    EXPECT_EQ(out.dissents[0].agent, "z");
}

TEST(DecideConsensus, MajorityNotReachedOnThreeWaySplit) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "c", 0.7), V("y", "b", 0.7), V("z", "a", 0.7)});
    EXPECT_FALSE(out.reached);
    EXPECT_THAT(out.confidence, DoubleNear(1.0 / 3.0, 1e-12));
    // Equal weight and voters: the proposal listed first wins the tie.
    EXPECT_EQ(out.winner, "a");
    EXPECT_EQ(out.dissents.size(), 2u);
}

TEST(DecideConsensus, MajorityAcceptsExactlyHalf) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "b", 0.6), V("y", "c", 0.6)});
    EXPECT_TRUE(out.reached);
    EXPECT_THAT(out.confidence, DoubleNear(0.5, 1e-12));
    EXPECT_EQ(out.winner, "b");  // tie: b is listed before c
}

TEST(DecideConsensus, TieBreakPrefersHigherWeightOverMoreVoters) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "b", 0.4), V("y", "b", 0.4), V("z", "c", 0.9)});
    EXPECT_EQ(out.winner, "c");
}

TEST(DecideConsensus, TieBreakOnEqualWeightPrefersMoreVoters) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "a", 0.5), V("y", "c", 0.25), V("z", "c", 0.25)});
    EXPECT_EQ(out.winner, "c");
    EXPECT_THAT(out.supporting_agents, ElementsAre("y", "z"));
}

TEST(DecideConsensus, TieBreakOnEqualWeightAndVotersPrefersProposalOrder) {
    const std::vector<Proposal> proposals = {P("c"), P("b"), P("a")};
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, proposals,
                                     {V("x", "a", 0.5), V("y", "c", 0.5)});
    EXPECT_EQ(out.winner, "c");
}

TEST(DecideConsensus, OutcomeDoesNotDependOnVoteOrder) {
    // (0.1 + 0.2) + 0.3 and (0.3 + 0.2) + 0.1 differ in the last bit; the tie must hold.
    std::vector<Vote> votes = {V("v1", "b", 0.1), V("v2", "b", 0.2), V("v3", "b", 0.3),
                               V("v4", "a", 0.3), V("v5", "a", 0.2), V("v6", "a", 0.1)};
    const auto first = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC, votes);
    std::reverse(votes.begin(), votes.end());
    const auto second = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC, votes);
    EXPECT_EQ(first.winner, "a");
    EXPECT_EQ(second.winner, "a");
    EXPECT_EQ(first.reached, second.reached);
}

TEST(DecideConsensus, NoVotesIsNotReached) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC, {});
    EXPECT_FALSE(out.reached);
    EXPECT_EQ(out.confidence, 0);
    EXPECT_EQ(out.winner, "a");
    EXPECT_EQ(out.final_answer, "Proposal of a.");
    EXPECT_THAT(out.supporting_agents, IsEmpty());
    EXPECT_THAT(out.dissents, IsEmpty());

    const auto none = DecideConsensus(ConsensusMethod::kUnanimous, 0.6, {}, {});
    EXPECT_FALSE(none.reached);
    EXPECT_EQ(none.winner, "");
    EXPECT_EQ(none.final_answer, "");
}

TEST(DecideConsensus, UnanimousRequiresEveryVoter) {
    const auto all = DecideConsensus(ConsensusMethod::kUnanimous, 0.6, kABC,
                                     {V("x", "b", 0.9), V("y", "b", 0.2), V("z", "b", 0.5)});
    EXPECT_TRUE(all.reached);
    EXPECT_THAT(all.confidence, DoubleNear(1.0, 1e-12));
    EXPECT_THAT(all.dissents, IsEmpty());

    std::vector<Vote> votes;
    for (int i = 0; i < 9; ++i) votes.push_back(V("v" + std::to_string(i), "b", 1.0));
    votes.push_back(V("odd", "a", 0.05));
    const auto one_dissent = DecideConsensus(ConsensusMethod::kUnanimous, 0.6, kABC, votes);
    EXPECT_FALSE(one_dissent.reached);
    EXPECT_EQ(one_dissent.winner, "b");
    EXPECT_GT(one_dissent.confidence, 0.99);
    EXPECT_THAT(one_dissent.dissenting_agents, ElementsAre("odd"));
}

TEST(DecideConsensus, UnanimousWithOneVote) {
    const auto out = DecideConsensus(ConsensusMethod::kUnanimous, 0.6, kABC, {V("x", "c", 0.3)});
    EXPECT_TRUE(out.reached);
    EXPECT_EQ(out.winner, "c");
}

TEST(DecideConsensus, SupermajorityHasATwoThirdsFloor) {
    const std::vector<Vote> two_of_three = {V("x", "a", 0.7), V("y", "a", 0.7), V("z", "b", 0.7)};
    // Threshold 0.6 is below the floor: 2/3 is required, and exactly 2/3 suffices.
    EXPECT_TRUE(DecideConsensus(ConsensusMethod::kSupermajority, 0.6, kABC, two_of_three).reached);
    EXPECT_FALSE(DecideConsensus(ConsensusMethod::kSupermajority, 0.8, kABC, two_of_three).reached);

    // Share 0.65 passes a 0.6 threshold on its own, but not the 2/3 floor.
    const std::vector<Vote> share_065 = {V("x", "a", 0.65), V("y", "b", 0.35)};
    EXPECT_FALSE(DecideConsensus(ConsensusMethod::kSupermajority, 0.6, kABC, share_065).reached);
    EXPECT_TRUE(DecideConsensus(ConsensusMethod::kWeighted, 0.6, kABC, share_065).reached);

    const std::vector<Vote> share_085 = {V("x", "a", 0.85), V("y", "b", 0.15)};
    EXPECT_TRUE(DecideConsensus(ConsensusMethod::kSupermajority, 0.8, kABC, share_085).reached);
}

TEST(DecideConsensus, WeightedUsesTheThreshold) {
    const std::vector<Vote> votes = {V("x", "a", 0.8), V("y", "a", 0.7), V("z", "b", 0.9)};
    // share = 1.5 / 2.4 = 0.625
    EXPECT_TRUE(DecideConsensus(ConsensusMethod::kWeighted, 0.6, kABC, votes).reached);
    EXPECT_TRUE(DecideConsensus(ConsensusMethod::kWeighted, 0.625, kABC, votes).reached);
    EXPECT_FALSE(DecideConsensus(ConsensusMethod::kWeighted, 0.7, kABC, votes).reached);
}

TEST(DecideConsensus, ZeroConfidenceVotesStillCount) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "a", 0.0), V("y", "a", 0.0), V("z", "b", 0.0)});
    EXPECT_TRUE(out.reached);
    EXPECT_EQ(out.winner, "a");
    EXPECT_THAT(out.confidence, DoubleNear(2.0 / 3.0, 1e-12));

    // A zero-confidence vote weighs 0.01: it loses against any real confidence.
    const auto mixed = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                       {V("x", "a", 0.0), V("y", "a", 0.0), V("z", "b", 0.05)});
    EXPECT_EQ(mixed.winner, "b");
    EXPECT_THAT(mixed.confidence, DoubleNear(0.05 / 0.07, 1e-12));
}

TEST(DecideConsensus, ConfidenceIsClampedToOne) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "a", 7.0), V("y", "b", 1.0), V("z", "b", -3.0)});
    // a: 1.0; b: 1.0 + 0.01.
    EXPECT_EQ(out.winner, "b");
    EXPECT_THAT(out.confidence, DoubleNear(1.01 / 2.01, 1e-12));
}

TEST(DecideConsensus, DissentCarriesReasonsAndAlternativeView) {
    const std::string long_view(700, 'x');
    const std::vector<Proposal> proposals = {
        P("a", "Adopt it in stages."),
        P("b", "Do not adopt it. " + std::string(400, 'y') + " tail words here"),
        P("c", long_view)};
    const auto out =
        DecideConsensus(ConsensusMethod::kMajority, 0.6, proposals,
                        {V("x", "a", 0.9, "Clear plan."), V("y", "a", 0.8, "Measurable."),
                         V("z", "b", 0.6, "The risks are ignored. Costs are unclear!  Why now?"),
                         V("w", "c", 0.5, "")});
    ASSERT_EQ(out.dissents.size(), 2u);
    EXPECT_EQ(out.dissents[0].agent, "z");
    EXPECT_THAT(out.dissents[0].reasons,
                ElementsAre("The risks are ignored.", "Costs are unclear!", "Why now?"));
    EXPECT_LE(out.dissents[0].alternative_view.size(), 303u);
    EXPECT_EQ(out.dissents[0].alternative_view.rfind("Do not adopt it.", 0), 0u);
    EXPECT_EQ(out.dissents[0].alternative_view.substr(out.dissents[0].alternative_view.size() - 3),
              "...");

    EXPECT_EQ(out.dissents[1].agent, "w");
    ASSERT_EQ(out.dissents[1].reasons.size(), 1u);  // no reasoning: a stated fallback
    EXPECT_NE(out.dissents[1].reasons[0].find("c"), std::string::npos);
    EXPECT_EQ(out.dissents[1].alternative_view, std::string(300, 'x') + "...");
    EXPECT_THAT(out.dissenting_agents, ElementsAre("z", "w"));
}

TEST(DecideConsensus, ShortAlternativeViewIsKeptWhole) {
    const auto out = DecideConsensus(ConsensusMethod::kMajority, 0.6, kABC,
                                     {V("x", "a", 0.9), V("y", "b", 0.2, "Prefer b.")});
    ASSERT_EQ(out.dissents.size(), 1u);
    EXPECT_EQ(out.dissents[0].alternative_view, "Proposal of b.");
}

TEST(DecideConsensus, JudgeMethodFallsBackToMajority) {
    const auto out = DecideConsensus(ConsensusMethod::kJudge, 0.9, kABC,
                                     {V("x", "a", 0.8), V("y", "a", 0.7), V("z", "b", 0.9)});
    EXPECT_EQ(out.method, ConsensusMethod::kJudge);
    EXPECT_TRUE(out.reached);  // majority rule, the 0.9 threshold does not apply
    EXPECT_EQ(out.winner, "a");
}

TEST(MapVerdict, FollowsTheTable) {
    // not reached
    EXPECT_EQ(MapVerdict(false, false, 0.4), "needs_review");
    EXPECT_EQ(MapVerdict(false, true, 0.9), "needs_review");
    EXPECT_EQ(MapVerdict(false, true, 0.39), "rejected");
    EXPECT_EQ(MapVerdict(false, false, 0.0), "rejected");
    // reached with dissent
    EXPECT_EQ(MapVerdict(true, true, 0.95), "approved_with_conditions");
    EXPECT_EQ(MapVerdict(true, true, 0.3), "approved_with_conditions");
    // reached, no dissent
    EXPECT_EQ(MapVerdict(true, false, 0.8), "approved");
    EXPECT_EQ(MapVerdict(true, false, 1.0), "approved");
    EXPECT_EQ(MapVerdict(true, false, 0.79), "approved_with_conditions");
}

TEST(PenalizedConfidence, LowersByFivePointsPerInterventionWithFloor) {
    EXPECT_DOUBLE_EQ(PenalizedConfidence(0.8, 0), 0.8);
    EXPECT_THAT(PenalizedConfidence(0.8, 1), DoubleNear(0.75, 1e-12));
    EXPECT_THAT(PenalizedConfidence(0.8, 2), DoubleNear(0.70, 1e-12));
    EXPECT_THAT(PenalizedConfidence(0.3, 5), DoubleNear(0.10, 1e-12));
    EXPECT_THAT(PenalizedConfidence(0.12, 1), DoubleNear(0.10, 1e-12));
    // Never raised to the floor.
    EXPECT_DOUBLE_EQ(PenalizedConfidence(0.05, 3), 0.05);
    EXPECT_DOUBLE_EQ(PenalizedConfidence(0.0, 1), 0.0);
}

TEST(PenalizedConfidence, CanChangeTheVerdict) {
    EXPECT_EQ(MapVerdict(true, false, PenalizedConfidence(0.82, 1)), "approved_with_conditions");
    EXPECT_EQ(MapVerdict(false, false, PenalizedConfidence(0.42, 1)), "rejected");
}

}  // namespace
}  // namespace aragora::debate
