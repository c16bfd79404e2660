// Group commit across debates, end to end through LocalDebateService and its runs: while
// the store's event transaction is held open, every other running debate's commit waits
// for the next transaction, which takes them all; every debate still ends completed with
// a gap-free, once-stored history ending in one debate_end. The store counts its write
// transactions, so the test reports transactions per debate.

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>

#include "agents/registry.hpp"
#include "events/status.hpp"
#include "service/local_debate_service.hpp"
#include "service_test_support.hpp"
#include "storage/forwarding_store.hpp"

namespace aragora::service {
namespace {

using common::Result;
using common::Status;

// Forwards to a real store; counts write transactions; can hold the group-commit
// transactions (WriteDebateBatches: runs' starts, event commits and final writes) until
// released (bounded wait, no sleep).
class CountingStore final : public storage::ForwardingStore {
public:
    explicit CountingStore(std::unique_ptr<storage::Store> inner)
        : ForwardingStore(*inner), inner_(std::move(inner)) {}

    void Hold() {
        std::lock_guard lock(mu_);
        held_ = true;
    }
    void Release() {
        {
            std::lock_guard lock(mu_);
            held_ = false;
        }
        cv_.notify_all();
    }
    struct Counts {
        int writes = 0;              // every write transaction
        int event_transactions = 0;  // WriteDebateBatches calls
        int event_batches = 0;       // runs' commits they carried
        int starts = 0;              // of them: runs' starts
        int final_writes = 0;        // of them: runs' final writes
        int own_starts = 0;          // UpdateDebateStatus / StartLeasedDebate calls
        int own_final_writes = 0;    // FinishDebate / FinishLeasedDebate calls
        std::vector<int> batches_per_transaction;
    };
    Counts counts() {
        std::lock_guard lock(mu_);
        return counts_;
    }

    std::vector<Status> WriteDebateBatches(std::span<const storage::DebateBatch> b) override {
        {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::seconds(20), [&] { return !held_; });
            ++counts_.writes;
            ++counts_.event_transactions;
            counts_.event_batches += static_cast<int>(b.size());
            counts_.batches_per_transaction.push_back(static_cast<int>(b.size()));
            for (const auto& one : b) {
                counts_.starts += !one.started_at.empty();
                counts_.final_writes += one.finish != nullptr;
            }
        }
        return inner_->WriteDebateBatches(b);
    }
    Status CreateDebate(const storage::DebateRecord& d) override {
        Count();
        return inner_->CreateDebate(d);
    }
    Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                              const std::string& started_at) override {
        Count();
        {
            std::lock_guard lock(mu_);
            ++counts_.own_starts;
        }
        return inner_->UpdateDebateStatus(id, status, started_at);
    }
    Result<std::optional<storage::ReceiptRecord>> FinishDebate(
        const storage::DebateRecord& debate, const std::vector<events::Event>& events,
        const storage::ReceiptBuilder* receipt) override {
        Count();
        {
            std::lock_guard lock(mu_);
            ++counts_.own_final_writes;
        }
        return inner_->FinishDebate(debate, events, receipt);
    }
    Status AppendEvents(const std::vector<events::Event>& events) override {
        Count();
        return inner_->AppendEvents(events);
    }

private:
    void Count() {
        std::lock_guard lock(mu_);
        ++counts_.writes;
    }

    std::unique_ptr<storage::Store> inner_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool held_ = false;
    Counts counts_;
};

class CrossDebateCommitTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        auto inner = OpenStoreAndStart("commit-test-key");
        ASSERT_NE(inner, nullptr);
        store_ = std::make_unique<CountingStore>(std::move(inner));
    }
    void TearDown() override {
        if (store_) store_->Release();
        if (service_) Await(service_->Drain(std::chrono::milliseconds(0)));
        service_.reset();
        StopAndClean();
    }
    void Make(std::size_t running) {
        ServiceSettings s;
        s.max_running = running;
        s.max_queued = 0;
        s.demo_latency = std::chrono::milliseconds(0);
        service_ = std::make_unique<LocalDebateService>(ioc_.get_executor(), clock_, s, *store_,
                                                        pool_, keys_, hub_, registry_);
    }
    std::string Create() {
        CreateDebateRequest r;
        r.task = "Should commits of many debates share one transaction?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo", "demo"}).value();
        r.rounds = 2;
        auto created = Await(service_->Create(r));
        EXPECT_TRUE(created.ok()) << created.error().message;
        return created.ok() ? created->id : "";
    }
    // Completed, seqs 1..n once each, one debate_end and it is the last.
    void ExpectWhole(const std::string& id) {
        auto d = store_->GetDebate(id);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->status, events::DebateStatus::kCompleted) << id;
        auto events = store_->ListEvents(id, 0, 100000);
        ASSERT_TRUE(events.ok());
        ASSERT_FALSE(events->empty());
        int ends = 0;
        for (std::size_t i = 0; i < events->size(); ++i) {
            EXPECT_EQ((*events)[i].seq, static_cast<std::int64_t>(i + 1)) << id;
            ends += (*events)[i].type == "debate_end";
        }
        EXPECT_EQ(ends, 1) << id;
        EXPECT_EQ(events->back().type, "debate_end") << id;
    }

    common::ManualClock clock_;
    std::unique_ptr<CountingStore> store_;
    metrics::Registry registry_;
    std::unique_ptr<LocalDebateService> service_;
};

TEST_F(CrossDebateCommitTest, RunsCommittingWhileTheStoreIsBusyShareTheNextTransaction) {
    constexpr int kDebates = 8;
    Make(kDebates);
    store_->Hold();
    std::vector<std::string> ids;
    for (int i = 0; i < kDebates; ++i) ids.push_back(Create());
    // One run's commit holds the transaction open; each other run's first commit waits.
    ASSERT_TRUE(Eventually([&] { return service_->CommitStats().waiting == kDebates - 1; }));
    EXPECT_EQ(service_->CommitStats().in_flight, 1u);
    store_->Release();
    ASSERT_TRUE(Eventually([&] {
        for (const auto& id : ids) {
            if (store_->GetDebate(id)->status != events::DebateStatus::kCompleted) return false;
        }
        return true;
    }));
    for (const auto& id : ids) ExpectWhole(id);
    const auto counts = store_->counts();
    ASSERT_GE(counts.batches_per_transaction.size(), 2u);
    EXPECT_EQ(counts.batches_per_transaction[0], 1);
    EXPECT_EQ(counts.batches_per_transaction[1], kDebates - 1);  // all of them, at once
    EXPECT_LE(counts.event_transactions, counts.event_batches);
    std::printf(
        "[ figures  ] %d debates: %d write transactions (%.1f per debate), of them %d event "
        "transactions carrying %d runs' commits (%.1f commits per event transaction)\n",
        kDebates, counts.writes, static_cast<double>(counts.writes) / kDebates,
        counts.event_transactions, counts.event_batches,
        static_cast<double>(counts.event_batches) / counts.event_transactions);
}

// A run's start (running) and its final write (result, last events, receipt) are not
// transactions of their own: they share the group commit with the other runs' commits.
TEST_F(CrossDebateCommitTest, StartsAndFinalWritesShareTheGroupCommit) {
    constexpr int kDebates = 6;
    Make(kDebates);
    store_->Hold();
    std::vector<std::string> ids;
    for (int i = 0; i < kDebates; ++i) ids.push_back(Create());
    // The first run's start holds the transaction; the other starts wait for the next.
    ASSERT_TRUE(Eventually([&] { return service_->CommitStats().waiting == kDebates - 1; }));
    for (const auto& id : ids) {
        // Not started while its start is not stored.
        EXPECT_EQ(store_->GetDebate(id)->status, events::DebateStatus::kPending) << id;
    }
    store_->Release();
    ASSERT_TRUE(Eventually([&] {
        for (const auto& id : ids) {
            if (store_->GetDebate(id)->status != events::DebateStatus::kCompleted) return false;
        }
        return true;
    }));
    for (const auto& id : ids) {
        ExpectWhole(id);
        auto d = store_->GetDebate(id);
        ASSERT_TRUE(d.ok());
        EXPECT_FALSE(d->started_at.empty()) << id;
        ASSERT_FALSE(d->receipt_id.empty()) << id;
        EXPECT_TRUE(store_->GetReceipt(d->receipt_id).ok()) << id;
        auto receipts = store_->ListReceipts(id, 10, 0);
        ASSERT_TRUE(receipts.ok());
        EXPECT_EQ(receipts->total, 1) << id;  // exactly one receipt
    }
    const auto counts = store_->counts();
    EXPECT_EQ(counts.own_starts, 0);
    EXPECT_EQ(counts.own_final_writes, 0);
    EXPECT_EQ(counts.starts, kDebates);
    EXPECT_EQ(counts.final_writes, kDebates);
    ASSERT_GE(counts.batches_per_transaction.size(), 2u);
    EXPECT_EQ(counts.batches_per_transaction[1], kDebates - 1);  // the other starts, at once
}

TEST_F(CrossDebateCommitTest, ManyDebatesAtOnceStayWholeAndCountTheirTransactions) {
    constexpr int kDebates = 40;
    Make(kDebates);
    std::vector<std::string> ids;
    for (int i = 0; i < kDebates; ++i) ids.push_back(Create());
    ASSERT_TRUE(Eventually([&] {
        for (const auto& id : ids) {
            if (store_->GetDebate(id)->status != events::DebateStatus::kCompleted) return false;
        }
        return true;
    }));
    for (const auto& id : ids) ExpectWhole(id);
    const auto counts = store_->counts();
    const auto stats = service_->CommitStats();
    EXPECT_EQ(stats.transactions, static_cast<std::uint64_t>(counts.event_transactions));
    EXPECT_EQ(stats.commits, static_cast<std::uint64_t>(counts.event_batches));
    // Each debate: its row, running, its commits (shared), its final write.
    std::printf(
        "[ figures  ] %d debates at once: %.2f write transactions per debate (%.2f event "
        "transactions per debate for %.2f commits per debate)\n",
        kDebates, static_cast<double>(counts.writes) / kDebates,
        static_cast<double>(counts.event_transactions) / kDebates,
        static_cast<double>(counts.event_batches) / kDebates);
}

}  // namespace
}  // namespace aragora::service
