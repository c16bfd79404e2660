// The chain verifier used by backup verification and receipt retention: every receipt,
// every stored column, every link, tombstones across gaps.

#include "debate/receipt_chain.hpp"

#include <gtest/gtest.h>

#include "common/time.hpp"

namespace aragora::debate {
namespace {

class ReceiptChainTest : public ::testing::Test {
protected:
    ReceiptChainTest() { keys_.hmac_current = "chain-test-key"; }

    // n signed receipts linked by previous_hash, as the store writes them.
    std::vector<ChainLink> Chain(int n) {
        std::vector<ChainLink> out;
        std::optional<std::string> previous;
        for (int i = 1; i <= n; ++i) {
            DebateSpec spec;
            spec.id = "deb_" + std::to_string(i);
            spec.task = "Question " + std::to_string(i);
            spec.agents = {"a", "b"};
            spec.rounds = 1;
            DebateResult result;
            result.status = DebateStatus::kCompleted;
            result.verdict = "approved";
            result.confidence = 0.5;
            auto r = BuildSignedReceipt(spec, result, "rcpt_" + std::to_string(i), previous,
                                        *common::ParseIso8601("2026-01-01T00:00:00Z"), keys_);
            EXPECT_TRUE(r.ok());
            out.push_back({i, r->receipt_id, r->content_hash, previous, r->json, false});
            previous = r->content_hash;
        }
        return out;
    }

    ChainReport Verify(const std::vector<ChainLink>& links, bool mid = false) {
        ReceiptChainVerifier v(keys_);
        if (mid) v.StartsMidChain();
        for (const auto& l : links) v.Add(l);
        return v.report();
    }

    ReceiptKeys keys_;
};

TEST_F(ReceiptChainTest, IntactChainVerifies) {
    auto r = Verify(Chain(4));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.receipts, 4);
    EXPECT_EQ(r.verified, 4);
    EXPECT_TRUE(r.failures.empty());
}

TEST_F(ReceiptChainTest, AlteredReceiptIsNamed) {
    auto chain = Chain(3);
    const auto pos = chain[1].json.find("Question 2");
    ASSERT_NE(pos, std::string::npos);
    chain[1].json.replace(pos, 10, "Question X");
    auto r = Verify(chain);
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.failures.size(), 1u);
    EXPECT_EQ(r.failures[0].receipt_id, "rcpt_2");
    EXPECT_EQ(r.failures[0].reason, "content hash mismatch");
    EXPECT_EQ(r.verified, 2);
}

TEST_F(ReceiptChainTest, WrongKeyFailsEveryReceipt) {
    auto chain = Chain(2);
    keys_.hmac_current = "another-key";
    auto r = Verify(chain);
    EXPECT_EQ(r.failed, 2);
    EXPECT_NE(r.failures[0].reason.find("unknown signing key"), std::string::npos);
}

TEST_F(ReceiptChainTest, TombstonesKeepTheChainVerifiableAcrossAGap) {
    auto chain = Chain(5);
    chain[0].json.clear();  // deleted by retention: only the hashes stay
    chain[0].tombstone = true;
    chain[1].json.clear();
    chain[1].tombstone = true;
    auto r = Verify(chain);
    EXPECT_TRUE(r.ok()) << (r.failures.empty() ? "" : r.failures[0].reason);
    EXPECT_EQ(r.tombstones, 2);
    EXPECT_EQ(r.receipts, 3);
    EXPECT_EQ(r.verified, 3);
}

TEST_F(ReceiptChainTest, AMissingLinkOrAlteredColumnIsABreak) {
    auto chain = Chain(4);
    chain.erase(chain.begin() + 1);  // removed without a tombstone
    auto r = Verify(chain);
    ASSERT_EQ(r.failed, 1);
    EXPECT_EQ(r.failures[0].receipt_id, "rcpt_3");
    EXPECT_NE(r.failures[0].reason.find("chain broken"), std::string::npos);

    auto chain2 = Chain(2);
    chain2[1].content_hash = std::string(64, '0');
    auto r2 = Verify(chain2);
    ASSERT_EQ(r2.failed, 1);
    EXPECT_EQ(r2.failures[0].reason, "stored content_hash differs from the receipt's");

    auto chain3 = Chain(2);
    chain3.erase(chain3.begin());  // the head is gone
    EXPECT_FALSE(Verify(chain3).ok());
    EXPECT_TRUE(Verify(chain3, /*mid=*/true).ok());
}

TEST_F(ReceiptChainTest, FailuresAreCappedButCounted) {
    ReceiptChainVerifier v(keys_);
    for (std::size_t i = 0; i < ChainReport::kMaxFailures + 5; ++i) {
        v.Add({static_cast<std::int64_t>(i + 1), "r", "h", std::nullopt, "{", false});
    }
    EXPECT_EQ(v.report().failures.size(), ChainReport::kMaxFailures);
    EXPECT_EQ(v.report().failed, static_cast<std::int64_t>(ChainReport::kMaxFailures + 5) +
                                     static_cast<std::int64_t>(ChainReport::kMaxFailures + 4));
}

}  // namespace
}  // namespace aragora::debate
