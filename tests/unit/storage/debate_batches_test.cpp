// Store::WriteDebateBatches, the group commit that also carries runs' starts and final
// writes: each batch written as StartLeasedDebate/UpdateDebateStatus, AppendEventBatches
// or FinishDebate/FinishLeasedDebate would write it, whole or not at all, with their
// errors given to that batch only (a lost lease, an unknown debate, a receipt builder
// that fails) while the others are stored. Runs on SQLite and PostgreSQL
// (store_backends.hpp); the encrypting decorator (the default path) on SQLite.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lease_test_support.hpp"
#include "storage/content_cipher.hpp"
#include "storage/store.hpp"
#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;

constexpr const char* kT0 = "2026-03-01T10:00:00.000Z";
constexpr const char* kT1 = "2026-03-01T10:00:05.000Z";
constexpr const char* kLeaseUntil = "2099-03-01T10:00:00.000Z";

// The lease suites' debate, leased by `owner` ("" = none) far into the future.
DebateRecord Pending(const std::string& id, const std::string& owner = "") {
    return test_support::lease::Local(id, "pending", owner, owner.empty() ? "" : kLeaseUntil);
}

DebateRecord Completed(const std::string& id) {
    DebateRecord d = Pending(id);
    d.status = events::DebateStatus::kCompleted;
    d.started_at = kT0;
    d.completed_at = kT1;
    d.consensus_reached = true;
    d.verdict = "yes";
    d.rounds_used = 2;
    return d;
}

std::vector<events::Event> Events(const std::string& id, std::int64_t from, std::int64_t to) {
    std::vector<events::Event> out;
    for (auto seq = from; seq <= to; ++seq)
        out.push_back(test_support::TestEvent(id, seq, "token_delta"));
    return out;
}

DebateBatch Start(const std::string& id, const std::string& owner = "") {
    DebateBatch b;
    b.debate_id = id;
    b.lease_owner = owner;
    b.started_at = kT1;
    return b;
}

DebateBatch Finish(const DebateRecord& row, const std::vector<events::Event>& events,
                   const ReceiptBuilder* receipt, std::optional<ReceiptRecord>* stored,
                   const std::string& owner = "") {
    DebateBatch b;
    b.debate_id = row.id;
    b.events = events;
    b.lease_owner = owner;
    b.finish = &row;
    b.receipt = receipt;
    b.stored_receipt = stored;
    return b;
}

class DebateBatchesTest : public test_support::StoreSuite {
protected:
    DebateRecord Get(const std::string& id) {
        auto d = store_->GetDebate(id);
        EXPECT_TRUE(d.ok());
        return d.ok() ? *d : DebateRecord{};
    }
    std::size_t EventCount(const std::string& id) {
        auto events = store_->ListEvents(id, 0, 1000);
        EXPECT_TRUE(events.ok());
        return events.ok() ? events->size() : 0;
    }
};

TEST_P(DebateBatchesTest, StartsEventsAndFinalWritesOfManyDebatesInOneCall) {
    Create(Pending("d_start"));
    Create(Pending("d_leased", "inst-a"));
    Create(Pending("d_events"));
    Create(Pending("d_end"));
    Create(Pending("d_end2"));
    const auto evs = Events("d_events", 1, 3);
    const auto end_evs = Events("d_end", 1, 4);
    const auto end2_evs = Events("d_end2", 1, 2);
    const DebateRecord end = Completed("d_end");
    const DebateRecord end2 = Completed("d_end2");
    const ReceiptBuilder b1 = test_support::TestReceiptBuilder("rcpt_1", kT1);
    const ReceiptBuilder b2 = test_support::TestReceiptBuilder("rcpt_2", kT1);
    std::optional<ReceiptRecord> r1, r2;
    DebateBatch plain;
    plain.debate_id = "d_events";
    plain.events = evs;
    std::vector<DebateBatch> batches{Start("d_start"), Start("d_leased", "inst-a"), plain,
                                     Finish(end, end_evs, &b1, &r1),
                                     Finish(end2, end2_evs, &b2, &r2)};
    const auto out = store_->WriteDebateBatches(batches);
    ASSERT_EQ(out.size(), batches.size());
    for (const auto& s : out) EXPECT_TRUE(s.ok()) << s.error().message;

    EXPECT_EQ(Get("d_start").status, events::DebateStatus::kRunning);
    EXPECT_EQ(Get("d_start").started_at, kT1);
    EXPECT_EQ(Get("d_leased").status, events::DebateStatus::kRunning);
    EXPECT_EQ(EventCount("d_events"), 3u);
    EXPECT_EQ(Get("d_end").status, events::DebateStatus::kCompleted);
    EXPECT_EQ(EventCount("d_end"), 4u);
    EXPECT_EQ(EventCount("d_end2"), 2u);
    // Each final write's receipt comes back, chained in the order given.
    ASSERT_TRUE(r1.has_value());
    ASSERT_TRUE(r2.has_value());
    EXPECT_EQ(r1->receipt_id, "rcpt_1");
    EXPECT_EQ(r2->previous_hash, std::optional<std::string>(r1->content_hash));
    EXPECT_EQ(Get("d_end2").receipt_id, "rcpt_2");
    EXPECT_TRUE(store_->GetReceipt("rcpt_2").ok());
}

TEST_P(DebateBatchesTest, ALostLeaseOrAnUnknownDebateFailsItsBatchOnly) {
    Create(Pending("d_theirs", "inst-b"));
    Create(Pending("d_ours", "inst-a"));
    Create(Pending("d_end_theirs", "inst-b"));
    Create(Pending("d_fine"));
    const auto end_evs = Events("d_end_theirs", 1, 2);
    const DebateRecord end = Completed("d_end_theirs");
    const ReceiptBuilder b = test_support::TestReceiptBuilder("rcpt_x", kT1);
    std::optional<ReceiptRecord> r;
    std::vector<DebateBatch> batches{Start("d_theirs", "inst-a"), Start("d_missing"),
                                     Finish(end, end_evs, &b, &r, "inst-a"),
                                     Start("d_ours", "inst-a"), Start("d_fine")};
    const auto out = store_->WriteDebateBatches(batches);
    ASSERT_EQ(out.size(), batches.size());
    ASSERT_FALSE(out[0].ok());
    EXPECT_EQ(out[0].error().code, ErrorCode::kConflict);
    ASSERT_FALSE(out[1].ok());
    EXPECT_EQ(out[1].error().code, ErrorCode::kNotFound);
    // A leased final write still checks the lease owner: nothing of it is written.
    ASSERT_FALSE(out[2].ok());
    EXPECT_EQ(out[2].error().code, ErrorCode::kConflict);
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(Get("d_end_theirs").status, events::DebateStatus::kPending);
    EXPECT_EQ(EventCount("d_end_theirs"), 0u);
    EXPECT_FALSE(store_->GetReceipt("rcpt_x").ok());
    EXPECT_EQ(Get("d_theirs").status, events::DebateStatus::kPending);
    EXPECT_TRUE(out[3].ok()) << out[3].error().message;
    EXPECT_TRUE(out[4].ok()) << out[4].error().message;
    EXPECT_EQ(Get("d_ours").status, events::DebateStatus::kRunning);
    EXPECT_EQ(Get("d_fine").status, events::DebateStatus::kRunning);
}

TEST_P(DebateBatchesTest, AFailingReceiptBuilderFailsItsFinalWriteOnly) {
    Create(Pending("d_bad"));
    Create(Pending("d_good"));
    const auto bad_evs = Events("d_bad", 1, 2);
    const auto good_evs = Events("d_good", 1, 2);
    const DebateRecord bad = Completed("d_bad");
    const DebateRecord good = Completed("d_good");
    const ReceiptBuilder failing =
        [](const std::optional<std::string>&) -> common::Result<ReceiptRecord> {
        return common::MakeError(ErrorCode::kInternal, "signing failed");
    };
    const ReceiptBuilder fine = test_support::TestReceiptBuilder("rcpt_good", kT1);
    std::optional<ReceiptRecord> r_bad, r_good;
    std::vector<DebateBatch> batches{Finish(bad, bad_evs, &failing, &r_bad),
                                     Finish(good, good_evs, &fine, &r_good)};
    const auto out = store_->WriteDebateBatches(batches);
    ASSERT_EQ(out.size(), 2u);
    ASSERT_FALSE(out[0].ok());
    EXPECT_EQ(out[0].error().message, "signing failed");
    EXPECT_FALSE(r_bad.has_value());
    EXPECT_EQ(Get("d_bad").status, events::DebateStatus::kPending);
    EXPECT_EQ(EventCount("d_bad"), 0u);
    ASSERT_TRUE(out[1].ok()) << out[1].error().message;
    ASSERT_TRUE(r_good.has_value());
    EXPECT_EQ(Get("d_good").receipt_id, "rcpt_good");
    EXPECT_EQ(EventCount("d_good"), 2u);
}

TEST_P(DebateBatchesTest, AnInvalidFinalWriteIsRefusedAlone) {
    Create(Pending("d_one"));
    DebateRecord not_terminal = Pending("d_one");
    not_terminal.status = events::DebateStatus::kRunning;
    const std::vector<events::Event> none;
    const std::vector<DebateBatch> batches{Finish(not_terminal, none, nullptr, nullptr),
                                           Start("d_one")};
    const auto out = store_->WriteDebateBatches(batches);
    ASSERT_EQ(out.size(), 2u);
    ASSERT_FALSE(out[0].ok());
    EXPECT_EQ(out[0].error().code, ErrorCode::kValidation);
    EXPECT_TRUE(out[1].ok()) << out[1].error().message;
    EXPECT_EQ(Get("d_one").status, events::DebateStatus::kRunning);
}

INSTANTIATE_TEST_SUITE_P(Backends, DebateBatchesTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
