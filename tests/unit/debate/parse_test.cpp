#include "debate/parse.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aragora::debate {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::vector<std::string> kCandidates = {"demo:analyst", "demo:critic", "demo:contrarian",
                                              "demo:moderator"};

// ---- critiques ------------------------------------------------------------------

TEST(ParseCritique, PlainJson) {
    const std::string reply =
        R"({"issues":["No rollback plan","Costs ignored"],"suggestions":["Add a kill switch"],)"
        R"("severity":7,"reasoning":"Too optimistic."})";
    const auto c = ParseCritique("demo:critic", "demo:analyst", reply);
    EXPECT_TRUE(c.parsed);
    EXPECT_EQ(c.critic, "demo:critic");
    EXPECT_EQ(c.target, "demo:analyst");
    EXPECT_THAT(c.issues, ElementsAre("No rollback plan", "Costs ignored"));
    EXPECT_THAT(c.suggestions, ElementsAre("Add a kill switch"));
    EXPECT_DOUBLE_EQ(c.severity, 7);
    EXPECT_EQ(c.reasoning, "Too optimistic.");
    EXPECT_EQ(c.content, reply);
}

TEST(ParseCritique, JsonEmbeddedInProse) {
    const auto c = ParseCritique("x", "y",
                                 "Here is my critique {of sorts}:\n"
                                 R"({"issues": ["Vague"], "severity": "8/10", "suggestions": []})"
                                 "\nHope it helps.");
    EXPECT_TRUE(c.parsed);
    EXPECT_THAT(c.issues, ElementsAre("Vague"));
    EXPECT_THAT(c.suggestions, IsEmpty());
    EXPECT_DOUBLE_EQ(c.severity, 8);
}

TEST(ParseCritique, FencedJsonWithObjectsAndTrailingComma) {
    const auto c =
        ParseCritique("x", "y",
                      "```json\n"
                      "{\n"
                      "  \"Issues\": [{\"description\": \"Missing data\"}, \"Too long\"],\n"
                      "  \"Severity\": 15,\n"
                      "  \"Reasoning\": \"  Needs numbers.  \",\n"
                      "}\n"
                      "```\n");
    EXPECT_TRUE(c.parsed);
    EXPECT_THAT(c.issues, ElementsAre("Missing data", "Too long"));
    EXPECT_DOUBLE_EQ(c.severity, 10);  // clamped
    EXPECT_EQ(c.reasoning, "Needs numbers.");
}

TEST(ParseCritique, NegativeSeverityIsClamped) {
    const auto c = ParseCritique("x", "y", R"({"issues":["a"],"severity":-3})");
    EXPECT_DOUBLE_EQ(c.severity, 0);
}

TEST(ParseCritique, LabelledLines) {
    const auto c = ParseCritique("x", "y",
                                 "**Issues:**\n"
                                 "- The plan has no owner.\n"
                                 "* Budget is unclear.\n"
                                 "2) Timeline is unrealistic.\n"
                                 "\n"
                                 "Suggestions:\n"
                                 "1. Name an owner.\n"
                                 "Severity: 6/10\n"
                                 "Reasoning: Good idea,\n"
                                 "poor plan.\n");
    EXPECT_TRUE(c.parsed);
    EXPECT_THAT(c.issues, ElementsAre("The plan has no owner.", "Budget is unclear.",
                                      "Timeline is unrealistic."));
    EXPECT_THAT(c.suggestions, ElementsAre("Name an owner."));
    EXPECT_DOUBLE_EQ(c.severity, 6);
    EXPECT_EQ(c.reasoning, "Good idea, poor plan.");
}

TEST(ParseCritique, LabelWithInlineValue) {
    const auto c = ParseCritique("x", "y", "Issue: no tests\nSeverity: 4");
    EXPECT_TRUE(c.parsed);
    EXPECT_THAT(c.issues, ElementsAre("no tests"));
    EXPECT_DOUBLE_EQ(c.severity, 4);
}

TEST(ParseCritique, GarbageFallsBackToOneIssue) {
    const std::string reply = "  I just don't like it, to be honest.  ";
    const auto c = ParseCritique("x", "y", reply);
    EXPECT_FALSE(c.parsed);
    EXPECT_THAT(c.issues, ElementsAre("I just don't like it, to be honest."));
    EXPECT_THAT(c.suggestions, IsEmpty());
    EXPECT_DOUBLE_EQ(c.severity, 5);
    EXPECT_EQ(c.content, reply);
}

TEST(ParseCritique, BrokenOrUnrelatedJsonFallsBack) {
    const auto truncated = ParseCritique("x", "y", R"({"issues": ["cut off)");
    EXPECT_FALSE(truncated.parsed);
    EXPECT_DOUBLE_EQ(truncated.severity, 5);
    ASSERT_EQ(truncated.issues.size(), 1u);

    const auto unrelated = ParseCritique("x", "y", R"({"answer": 42})");
    EXPECT_FALSE(unrelated.parsed);
    EXPECT_THAT(unrelated.issues, ElementsAre(R"({"answer": 42})"));
}

TEST(ParseCritique, EmptyReply) {
    const auto c = ParseCritique("x", "y", "");
    EXPECT_FALSE(c.parsed);
    EXPECT_THAT(c.issues, IsEmpty());
    EXPECT_DOUBLE_EQ(c.severity, 5);
}

// ---- votes ------------------------------------------------------------------------

TEST(ParseVote, JsonExactName) {
    const auto v = ParseVote("demo:analyst",
                             R"({"choice":"demo:critic","confidence":0.82,"reasoning":"Safer."})",
                             kCandidates, "demo:analyst");
    EXPECT_TRUE(v.parsed);
    EXPECT_EQ(v.vote.voter, "demo:analyst");
    EXPECT_EQ(v.vote.choice, "demo:critic");
    EXPECT_DOUBLE_EQ(v.vote.confidence, 0.82);
    EXPECT_EQ(v.vote.reasoning, "Safer.");
}

TEST(ParseVote, MatchesCaseInsensitively) {
    const auto v = ParseVote("v", R"({"choice":"DEMO:Moderator","confidence":85})", kCandidates,
                             "demo:analyst");
    EXPECT_TRUE(v.parsed);
    EXPECT_EQ(v.vote.choice, "demo:moderator");
    EXPECT_DOUBLE_EQ(v.vote.confidence, 0.85);  // a percentage
}

TEST(ParseVote, MatchesAUniquePrefix) {
    const auto v = ParseVote("v", R"({"choice":"demo:crit"})", kCandidates, "demo:analyst");
    EXPECT_TRUE(v.parsed);
    EXPECT_EQ(v.vote.choice, "demo:critic");
    EXPECT_DOUBLE_EQ(v.vote.confidence, 0.5);
}

TEST(ParseVote, AmbiguousPrefixFallsBack) {
    // "demo:c" starts both demo:critic and demo:contrarian.
    const auto v =
        ParseVote("v", R"({"choice":"demo:c","confidence":0.9})", kCandidates, "demo:analyst");
    EXPECT_FALSE(v.parsed);
    EXPECT_EQ(v.vote.choice, "demo:analyst");
    EXPECT_DOUBLE_EQ(v.vote.confidence, 0.5);
}

TEST(ParseVote, MatchesTheBareModelName) {
    const auto v =
        ParseVote("v", "Vote: **contrarian**\nConfidence: 0.7", kCandidates, "demo:analyst");
    EXPECT_TRUE(v.parsed);
    EXPECT_EQ(v.vote.choice, "demo:contrarian");
    EXPECT_DOUBLE_EQ(v.vote.confidence, 0.7);
}

TEST(ParseVote, PrefersTheExactNameOverALongerOne) {
    const std::vector<std::string> candidates = {"demo:critic#2", "demo:critic"};
    EXPECT_EQ(ParseVote("v", R"({"choice":"demo:critic"})", candidates, "x").vote.choice,
              "demo:critic");
    EXPECT_EQ(ParseVote("v", R"({"choice":"demo:critic#2"})", candidates, "x").vote.choice,
              "demo:critic#2");
    EXPECT_EQ(ParseVote("v", "I vote for demo:critic#2.", candidates, "x").vote.choice,
              "demo:critic#2");
}

TEST(ParseVote, LabelledLines) {
    const auto v = ParseVote("v",
                             "Choice: demo:analyst's proposal\n"
                             "Confidence: 85%\n"
                             "Reasoning: It has data.\n"
                             "And a plan.",
                             kCandidates, "demo:critic");
    EXPECT_TRUE(v.parsed);
    EXPECT_EQ(v.vote.choice, "demo:analyst");
    EXPECT_DOUBLE_EQ(v.vote.confidence, 0.85);
    EXPECT_EQ(v.vote.reasoning, "It has data. And a plan.");
}

TEST(ParseVote, FreeTextNamingOneCandidate) {
    const auto v = ParseVote("v", "After reading all of them I vote for demo:moderator, clearly.",
                             kCandidates, "demo:critic");
    EXPECT_TRUE(v.parsed);
    EXPECT_EQ(v.vote.choice, "demo:moderator");
}

TEST(ParseVote, FallbackWhenNoCandidateIsNamed) {
    const auto none = ParseVote("v", "I like the second one best.", kCandidates, "demo:critic");
    EXPECT_FALSE(none.parsed);
    EXPECT_EQ(none.vote.choice, "demo:critic");
    EXPECT_DOUBLE_EQ(none.vote.confidence, 0.5);
    EXPECT_EQ(none.vote.reasoning, "I like the second one best.");

    const auto two =
        ParseVote("v", "demo:analyst or demo:critic, hard to say.", kCandidates, "demo:moderator");
    EXPECT_FALSE(two.parsed);
    EXPECT_EQ(two.vote.choice, "demo:moderator");

    const auto unknown =
        ParseVote("v", R"({"choice":"gpt-9","confidence":0.9})", kCandidates, "demo:analyst");
    EXPECT_FALSE(unknown.parsed);
    EXPECT_EQ(unknown.vote.choice, "demo:analyst");
    EXPECT_DOUBLE_EQ(unknown.vote.confidence, 0.5);
}

TEST(ParseVote, ConfidenceIsClamped) {
    EXPECT_DOUBLE_EQ(ParseVote("v", R"({"choice":"demo:critic","confidence":-2})", kCandidates, "")
                         .vote.confidence,
                     0.0);
    EXPECT_DOUBLE_EQ(ParseVote("v", R"({"choice":"demo:critic","confidence":250})", kCandidates, "")
                         .vote.confidence,
                     1.0);
    EXPECT_DOUBLE_EQ(
        ParseVote("v", R"({"choice":"demo:critic","confidence":"8/10"})", kCandidates, "")
            .vote.confidence,
        0.8);
}

// ---- proposals ----------------------------------------------------------------------

TEST(ParseProposal, StripsTheTrailingConfidenceLine) {
    const auto p =
        ParseProposal("demo:analyst", 2, "Do it in stages.\nMeasure it.\nConfidence: 0.72\n");
    EXPECT_EQ(p.agent, "demo:analyst");
    EXPECT_EQ(p.round, 2);
    EXPECT_EQ(p.content, "Do it in stages.\nMeasure it.");
    EXPECT_DOUBLE_EQ(p.confidence, 0.72);
}

TEST(ParseProposal, MarkdownAndPercentConfidence) {
    const auto p = ParseProposal("a", 1, "Yes.\n\n**Confidence:** 80%");
    EXPECT_EQ(p.content, "Yes.");
    EXPECT_DOUBLE_EQ(p.confidence, 0.8);
}

TEST(ParseProposal, WithoutConfidenceKeepsEverything) {
    const auto p = ParseProposal("a", 1, "  Confidence: high is not a number.\nJust text.  ");
    EXPECT_EQ(p.content, "Confidence: high is not a number.\nJust text.");
    EXPECT_DOUBLE_EQ(p.confidence, 0.5);

    const auto q = ParseProposal("a", 1, "Text.\nConfidence: very high");
    EXPECT_EQ(q.content, "Text.\nConfidence: very high");
    EXPECT_DOUBLE_EQ(q.confidence, 0.5);
}

TEST(ParseProposal, OnlyAConfidenceLine) {
    const auto p = ParseProposal("a", 1, "Confidence: 1.0");
    EXPECT_EQ(p.content, "");
    EXPECT_DOUBLE_EQ(p.confidence, 1.0);
}

}  // namespace
}  // namespace aragora::debate
