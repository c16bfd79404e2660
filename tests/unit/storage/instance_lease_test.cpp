// Debates an API instance runs itself under its own lease (serve on a shared database):
// CreateDebate keeps the lease, crash recovery (MarkInterrupted) of another instance
// leaves leased rows alone — expired or not — while it still fails unleased leftovers,
// the owner starts, renews, appends and finishes only while it holds the lease, and once
// the lease expires any instance's reaper fails the debate `instance_lost` with one final
// debate_end, after which the old owner can write nothing.
//
// Written against the Store interface: every test runs on SQLite and PostgreSQL
// (store_backends.hpp); "another instance" is a second store on the same database.

#include <gtest/gtest.h>

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

constexpr auto Event = test_support::TestEvent;

ReceiptBuilder Builder(const std::string& receipt_id) {
    return test_support::TestReceiptBuilder(receipt_id, kT1);
}

class InstanceLeaseTest : public ::testing::TestWithParam<BackendKind> {
protected:
    void SetUp() override {
        backend_ = MakeBackend(GetParam());
        ASSERT_EQ(backend_->error(), "");
        store_ = Open();
        ASSERT_NE(store_, nullptr);
    }
    std::unique_ptr<Store> Open() {
        auto stores = backend_->Open(/*migrate=*/true);
        if (!stores) throw std::runtime_error(stores.error().message);
        return std::move(stores->store);
    }
    int DebateEnds(const std::string& id) {
        auto events = store_->ListEvents(id, 0, 1000);  // kept: the loop reads into it
        int n = 0;
        for (const auto& e : *events) n += e.type == "debate_end";
        return n;
    }

    std::unique_ptr<TestBackend> backend_;
    std::unique_ptr<Store> store_;
};

TEST_P(InstanceLeaseTest, CreateKeepsTheLeaseOfALocalDebateOnly) {
    ASSERT_TRUE(store_->CreateDebate(Local("mine", "pending", "inst_a", kT2)).ok());
    auto d = store_->GetDebate("mine");
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_FALSE(d->queued_for_worker);
    EXPECT_EQ(d->lease_owner, "inst_a");
    EXPECT_EQ(d->lease_expires_at, kT2);
    EXPECT_EQ(d->attempts, 0);
    // A lease that could never expire is refused: nothing could end the debate.
    auto endless = store_->CreateDebate(Local("endless", "pending", "inst_a", ""));
    ASSERT_FALSE(endless.ok());
    EXPECT_EQ(endless.error().code, ErrorCode::kValidation);
    EXPECT_EQ(store_->GetDebate("endless").error().code, ErrorCode::kNotFound);
}

// Instance B starts (or restarts) on the database while instance A runs debates under its
// lease: B's crash recovery fails only the unleased leftover of a crash, never A's rows,
// not even one whose lease already expired (that is the reaper's, with its debate_end).
TEST_P(InstanceLeaseTest, RecoveryOfAnotherInstanceSkipsLeasedRows) {
    ASSERT_TRUE(store_->CreateDebate(Local("a_running", "running", "inst_a", kT4)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("a_waiting", "pending", "inst_a", kT4)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("a_expired", "running", "inst_dead", kT1)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("leftover", "running", "", "")).ok());
    ASSERT_TRUE(store_->AppendEvents({Event("a_running", 1, "debate_start")}).ok());

    auto b = Open();
    auto marked = b->MarkInterrupted(kT2);
    ASSERT_TRUE(marked.ok()) << marked.error().message;
    EXPECT_EQ(*marked, 1);
    EXPECT_EQ(store_->GetDebate("leftover")->status, events::DebateStatus::kFailed);
    EXPECT_EQ(store_->GetDebate("leftover")->error_code, "interrupted");
    for (const char* id : {"a_running", "a_expired"}) {
        auto d = store_->GetDebate(id);
        EXPECT_EQ(d->status, events::DebateStatus::kRunning) << id;
        EXPECT_EQ(d->error_code, "") << id;
    }
    EXPECT_EQ(store_->GetDebate("a_waiting")->status, events::DebateStatus::kPending);

    // A goes on: renews, starts the waiting one, appends and finishes with one receipt.
    ASSERT_TRUE(store_->RenewLease("a_running", "inst_a", kT4).ok());
    ASSERT_TRUE(store_->RenewLease("a_waiting", "inst_a", kT4).ok());
    ASSERT_TRUE(store_->StartLeasedDebate("a_waiting", "inst_a", kT2).ok());
    auto started = store_->GetDebate("a_waiting");
    EXPECT_EQ(started->status, events::DebateStatus::kRunning);
    EXPECT_EQ(started->started_at, kT2);
    ASSERT_TRUE(store_->AppendLeasedEvents({Event("a_running", 2, "round_start")}, "inst_a").ok());
    DebateRecord done = Local("a_running", "completed", "", "");
    done.completed_at = kT3;
    done.consensus_reached = true;
    ReceiptBuilder builder = Builder("rcpt_a");
    auto finished =
        store_->FinishLeasedDebate(done, {Event("a_running", 3, "debate_end")}, &builder, "inst_a");
    ASSERT_TRUE(finished.ok()) << finished.error().message;
    auto d = store_->GetDebate("a_running");
    EXPECT_EQ(d->status, events::DebateStatus::kCompleted);
    EXPECT_EQ(d->receipt_id, "rcpt_a");
    EXPECT_EQ(d->lease_owner, "inst_a");  // kept by the whole-row write
    EXPECT_EQ(DebateEnds("a_running"), 1);
    EXPECT_EQ(store_->ListReceipts("a_running", 10, 0)->total, 1);
    // A second recovery still touches none of it.
    EXPECT_EQ(*b->MarkInterrupted(kT4), 0);
}

TEST_P(InstanceLeaseTest, OnlyTheOwnerStartsRenewsAndWritesAndItCannotRequeue) {
    ASSERT_TRUE(store_->CreateDebate(Local("d", "pending", "inst_a", kT2)).ok());
    EXPECT_EQ(store_->StartLeasedDebate("d", "inst_b", kT1).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("d")->status, events::DebateStatus::kPending);
    EXPECT_EQ(store_->RenewLease("d", "inst_b", kT4).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("d")->lease_expires_at, kT2);
    EXPECT_EQ(store_->StartLeasedDebate("nope", "inst_a", kT1).error().code, ErrorCode::kNotFound);
    ASSERT_TRUE(store_->StartLeasedDebate("d", "inst_a", kT1).ok());
    EXPECT_EQ(store_->AppendLeasedEvents({Event("d", 1, "debate_start")}, "inst_b").error().code,
              ErrorCode::kConflict);
    EXPECT_TRUE(store_->ListEvents("d", 0, 10)->empty());
    // Not a queued debate: it never goes back to a queue nobody claims from.
    EXPECT_EQ(store_->ReleaseLease("d", "inst_a").error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("d")->status, events::DebateStatus::kRunning);
    EXPECT_EQ(store_->GetDebate("d")->lease_owner, "inst_a");
}

// A is killed: its lease runs out and B's reaper fails its debates `instance_lost` — a
// running one and one that was still waiting for a slot — each with one debate_end. A
// zombie A can then write nothing: no start, no event, no result, no receipt.
TEST_P(InstanceLeaseTest, ReaperEndsAnExpiredInstanceLeaseOnceAndTheOldOwnerCannotWrite) {
    ASSERT_TRUE(store_->CreateDebate(Local("run", "running", "inst_a", kT1)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("wait", "pending", "inst_a", kT1)).ok());
    ASSERT_TRUE(store_->CreateDebate(Local("alive", "running", "inst_c", kT4)).ok());
    ASSERT_TRUE(store_->AppendEvents({Event("run", 1, "debate_start"), Event("run", 2, "x")}).ok());

    auto b = Open();
    EXPECT_TRUE(b->ReapExpiredLeases(kT1, nullptr)->empty());  // strict: not yet expired
    std::vector<std::string> built_for;
    DebateEndDataBuilder end_data = [&built_for](const DebateRecord& d) {
        built_for.push_back(d.id + ":" + std::string(events::ToString(d.status)) + ":" +
                            d.error_code);
        return std::string(R"({"status":"failed"})");
    };
    auto reaped = b->ReapExpiredLeases(kT2, end_data);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(*reaped, (std::vector<std::string>{"run", "wait"}));
    EXPECT_EQ(built_for,
              (std::vector<std::string>{"run:failed:instance_lost", "wait:failed:instance_lost"}));
    auto run = store_->GetDebate("run");
    EXPECT_EQ(run->status, events::DebateStatus::kFailed);
    EXPECT_EQ(run->error_code, kInstanceLostCode);
    EXPECT_EQ(run->error_message, kInstanceLostMessage);
    EXPECT_EQ(run->completed_at, kT2);
    ASSERT_TRUE(run->duration_seconds.has_value());
    EXPECT_NEAR(*run->duration_seconds, 30.0, 0.01);
    auto events = store_->ListEvents("run", 0, 10);
    ASSERT_EQ(events->size(), 3u);
    EXPECT_EQ(events->back().type, "debate_end");
    EXPECT_EQ(events->back().seq, 3);
    auto wait = store_->GetDebate("wait");
    EXPECT_EQ(wait->status, events::DebateStatus::kFailed);
    EXPECT_EQ(wait->error_code, kInstanceLostCode);
    EXPECT_FALSE(wait->duration_seconds.has_value());  // it never started
    EXPECT_EQ(DebateEnds("wait"), 1);
    EXPECT_EQ(store_->GetDebate("alive")->status, events::DebateStatus::kRunning);

    // Reaped once, by anyone.
    EXPECT_TRUE(store_->ReapExpiredLeases(kT3, end_data)->empty());
    // The zombie owner is refused everywhere, and nothing changes.
    EXPECT_EQ(store_->RenewLease("run", "inst_a", kT4).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->StartLeasedDebate("wait", "inst_a", kT3).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->AppendLeasedEvents({Event("run", 4, "vote")}, "inst_a").error().code,
              ErrorCode::kConflict);
    DebateRecord late = Local("run", "completed", "", "");
    late.completed_at = kT3;
    ReceiptBuilder builder = Builder("rcpt_run");
    EXPECT_EQ(store_->FinishLeasedDebate(late, {Event("run", 4, "debate_end")}, &builder, "inst_a")
                  .error()
                  .code,
              ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("run")->status, events::DebateStatus::kFailed);
    EXPECT_EQ(store_->GetDebate("wait")->status, events::DebateStatus::kFailed);
    EXPECT_EQ(DebateEnds("run"), 1);
    EXPECT_EQ(store_->ListReceipts("run", 10, 0)->total, 0);
    // And recovery, too, leaves the reaped rows as they are.
    EXPECT_EQ(*b->MarkInterrupted(kT4), 0);
    EXPECT_EQ(store_->GetDebate("run")->error_code, kInstanceLostCode);
}

INSTANTIATE_TEST_SUITE_P(Backends, InstanceLeaseTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
