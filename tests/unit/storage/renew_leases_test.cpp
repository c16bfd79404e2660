// Store::RenewLeases: one instance renews the leases of every debate it runs at once. It
// extends exactly the leases the owner still holds (pending or running under its lease),
// answers for every other id the error RenewLease gives for it alone (kConflict when
// reaped, finished, released or another's; kNotFound when unknown), works across chunks of
// kRenewLeasesChunk ids, and a renewed lease is not reaped while an unrenewed one is.
//
// Written against the Store interface: every test runs on SQLite and PostgreSQL
// (store_backends.hpp).

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "lease_test_support.hpp"
#include "storage/store.hpp"
#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;

using namespace test_support::lease;  // kT0…kT4, Local

// Each lost id with its error code.
std::map<std::string, ErrorCode> Codes(const std::vector<LostLease>& lost) {
    std::map<std::string, ErrorCode> out;
    for (const auto& l : lost) out[l.id] = l.error.code;
    return out;
}

class RenewLeasesTest : public test_support::StoreSuite {
protected:
    std::string Until(const std::string& id) { return store_->GetDebate(id)->lease_expires_at; }
};

TEST_P(RenewLeasesTest, RenewsTheHeldLeasesAndAnswersForEachOtherIdAsRenewLeaseWould) {
    ASSERT_TRUE(store_->CreateDebate(Local("running", "running", "inst_a", kT2)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("waiting", "pending", "inst_a", kT2)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("theirs", "running", "inst_b", kT2)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("finished", "running", "inst_a", kT2)).ok());
    DebateRecord done = Local("finished", "completed", "", "");
    done.completed_at = kT1;
    ASSERT_TRUE(store_
                    ->FinishLeasedDebate(done,
                                         {test_support::TestEvent("finished", 1, "debate_end")},
                                         nullptr, "inst_a")
                    .ok());

    const std::vector<std::string> ids = {"running", "theirs", "waiting", "finished", "ghost"};
    auto lost = store_->RenewLeases("inst_a", ids, kT4);
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_EQ(Codes(*lost), (std::map<std::string, ErrorCode>{{"theirs", ErrorCode::kConflict},
                                                              {"finished", ErrorCode::kConflict},
                                                              {"ghost", ErrorCode::kNotFound}}));
    // The same words as the single renewal's (the run logs them when it stops).
    for (const auto& l : *lost) {
        auto single = store_->RenewLease(l.id, "inst_a", kT4);
        ASSERT_FALSE(single.ok()) << l.id;
        EXPECT_EQ(l.error.code, single.error().code) << l.id;
        EXPECT_EQ(l.error.message, single.error().message) << l.id;
    }
    EXPECT_EQ(Until("running"), kT4);
    EXPECT_EQ(Until("waiting"), kT4);
    EXPECT_EQ(Until("theirs"), kT2);
    EXPECT_EQ(store_->GetDebate("waiting")->status, events::DebateStatus::kPending);
    EXPECT_EQ(store_->GetDebate("finished")->status, events::DebateStatus::kCompleted);

    auto none = store_->RenewLeases("inst_a", {}, kT4);
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_TRUE(none->empty());
}

// The reaper takes the lease that was not renewed and leaves the renewed one; the reaped
// debate is then lost to its old owner's next renewal.
TEST_P(RenewLeasesTest, ARenewedLeaseOutlivesTheReaperAndAReapedOneIsLost) {
    ASSERT_TRUE(store_->CreateDebate(Local("kept", "running", "inst_a", kT1)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("stalled", "running", "inst_a", kT1)).ok());
    auto lost = store_->RenewLeases("inst_a", {"kept"}, kT4);
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_TRUE(lost->empty());

    auto reaped = store_->ReapExpiredLeases(kT3, nullptr);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(*reaped, std::vector<std::string>{"stalled"});
    EXPECT_EQ(store_->GetDebate("kept")->status, events::DebateStatus::kRunning);
    EXPECT_EQ(store_->GetDebate("stalled")->error_code, kInstanceLostCode);

    lost = store_->RenewLeases("inst_a", {"kept", "stalled"}, kT4);
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    ASSERT_EQ(lost->size(), 1u);
    EXPECT_EQ((*lost)[0].id, "stalled");
    EXPECT_EQ((*lost)[0].error.code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("stalled")->status, events::DebateStatus::kFailed);
    EXPECT_EQ(store_->GetDebate("stalled")->lease_expires_at, kT1);
}

// More ids than one chunk: every chunk is renewed, and what is lost is found in each.
TEST_P(RenewLeasesTest, RenewsAcrossChunks) {
    const std::size_t n = kRenewLeasesChunk + 2;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) {
        std::string id = std::to_string(i);
        ids.push_back("d" + std::string(5 - id.size(), '0') + id);  // sorts as numbered
        // The last of the first chunk and the first of the second are another's.
        const bool theirs = i == kRenewLeasesChunk - 1 || i == kRenewLeasesChunk;
        ASSERT_TRUE(
            store_->CreateDebate(Local(ids.back(), "running", theirs ? "inst_b" : "inst_a", kT2))
                .ok());
    }
    auto lost = store_->RenewLeases("inst_a", ids, kT4);
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_EQ(Codes(*lost),
              (std::map<std::string, ErrorCode>{{ids[kRenewLeasesChunk - 1], ErrorCode::kConflict},
                                                {ids[kRenewLeasesChunk], ErrorCode::kConflict}}));
    EXPECT_EQ(Until(ids.front()), kT4);
    EXPECT_EQ(Until(ids.back()), kT4);
    EXPECT_EQ(Until(ids[kRenewLeasesChunk]), kT2);
    auto reaped = store_->ReapExpiredLeases(kT3, nullptr);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(reaped->size(), 2u);
}

// Ids that need quoting in PostgreSQL's array literal are matched as they are.
TEST_P(RenewLeasesTest, IdsWithQuotesAndBackslashesAreMatchedExactly) {
    const std::vector<std::string> ids = {"d\"quoted\"", "d\\back", "d,comma", "d{brace}"};
    for (const auto& id : ids)
        ASSERT_TRUE(store_->CreateDebate(Local(id, "running", "inst_a", kT2)).ok()) << id;
    auto lost = store_->RenewLeases("inst_a", ids, kT4);
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_TRUE(lost->empty());
    for (const auto& id : ids) EXPECT_EQ(Until(id), kT4) << id;
}

INSTANTIATE_TEST_SUITE_P(Backends, RenewLeasesTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
