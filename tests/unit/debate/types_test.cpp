#include "debate/types.hpp"

#include <gtest/gtest.h>

namespace aragora::debate {
namespace {

TEST(ConsensusMethodNames, RoundTrip) {
    for (auto m :
         {ConsensusMethod::kMajority, ConsensusMethod::kSupermajority, ConsensusMethod::kUnanimous,
          ConsensusMethod::kWeighted, ConsensusMethod::kJudge}) {
        const auto parsed = ParseConsensusMethod(ToString(m));
        ASSERT_TRUE(parsed.has_value()) << ToString(m);
        EXPECT_EQ(*parsed, m);
        EXPECT_NE(ConsensusMethodList().find(ToString(m)), std::string_view::npos);
    }
    EXPECT_EQ(ToString(ConsensusMethod::kSupermajority), "supermajority");
    EXPECT_EQ(ConsensusMethodList(), "majority, supermajority, unanimous, weighted, judge");
}

TEST(ConsensusMethodNames, RejectsUnknownNames) {
    EXPECT_FALSE(ParseConsensusMethod("").has_value());
    EXPECT_FALSE(ParseConsensusMethod("Majority").has_value());
    EXPECT_FALSE(ParseConsensusMethod("plurality").has_value());
}

TEST(DebateStatusNames, RoundTripExactlyTheApiStatuses) {
    const std::pair<DebateStatus, std::string_view> expected[] = {
        {DebateStatus::kPending, "pending"},
        {DebateStatus::kRunning, "running"},
        {DebateStatus::kCompleted, "completed"},
        {DebateStatus::kFailed, "failed"},
        {DebateStatus::kCancelled, "cancelled"}};
    for (auto [status, name] : expected) {
        EXPECT_EQ(ToString(status), name);
        ASSERT_TRUE(ParseDebateStatus(name).has_value());
        EXPECT_EQ(*ParseDebateStatus(name), status);
    }
    EXPECT_FALSE(ParseDebateStatus("active").has_value());
    EXPECT_FALSE(ParseDebateStatus("no_consensus").has_value());
    EXPECT_FALSE(ParseDebateStatus("canceled").has_value());
}

}  // namespace
}  // namespace aragora::debate
