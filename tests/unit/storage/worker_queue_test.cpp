// The worker queue of the Store (ClaimQueuedDebate, RenewLease, ReleaseLease,
// ReapExpiredLeases, CancelQueuedDebate, AppendLeasedEvents, FinishLeasedDebate): claims
// are exclusive across threads and connections, a lease lost to the reaper cannot be
// renewed or finished, a reaped debate is failed `worker_lost` with a final debate_end and
// never gets a receipt.
//
// Written against the Store interface only: every test runs on each backend of
// store_backends.hpp (SQLite, PostgreSQL). A backend opens any number of stores on one
// fresh database, so that "two processes" can be two stores (two connections or pools).
// PostgreSQL-only tests (SKIP LOCKED across pools) are at the end.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/store.hpp"
#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;

constexpr const char* kT0 = "2026-03-01T10:00:00.000Z";
constexpr const char* kT1 = "2026-03-01T10:00:10.000Z";
constexpr const char* kT2 = "2026-03-01T10:00:30.000Z";
constexpr const char* kT3 = "2026-03-01T10:00:31.000Z";
constexpr const char* kT4 = "2026-03-01T10:01:00.000Z";

DebateRecord Queued(const std::string& id, const std::string& created_at) {
    DebateRecord d;
    d.id = id;
    d.task = "task of " + id;
    d.status = events::DebateStatus::kPending;
    d.agents = {"demo:analyst", "demo:critic"};
    d.rounds = 2;
    d.consensus_method = "majority";
    d.created_at = created_at;
    d.spec_json = R"({"task":"task of )" + id + R"("})";
    d.queued_for_worker = true;
    return d;
}

constexpr auto Event = test_support::TestEvent;

ReceiptBuilder Builder(const std::string& receipt_id) {
    return test_support::TestReceiptBuilder(receipt_id, kT1);
}

class WorkerQueueTest : public ::testing::TestWithParam<BackendKind> {
protected:
    void SetUp() override {
        backend_ = MakeBackend(GetParam());
        ASSERT_EQ(backend_->error(), "");
        store_ = Open();
        ASSERT_NE(store_, nullptr);
    }

    // Another store on the same database: another process (connection or pool).
    std::unique_ptr<Store> Open() {
        auto stores = backend_->Open(/*migrate=*/true);
        if (!stores) throw std::runtime_error(stores.error().message);
        return std::move(stores->store);
    }

    // The completed row a worker writes for a claimed debate.
    static DebateRecord Completed(DebateRecord d) {
        d.status = events::DebateStatus::kCompleted;
        d.completed_at = kT1;
        d.rounds_used = 2;
        d.consensus_reached = true;
        d.verdict = "approved";
        d.receipt_id = "rcpt_" + d.id;
        return d;
    }

    std::unique_ptr<TestBackend> backend_;
    std::unique_ptr<Store> store_;
};

TEST_P(WorkerQueueTest, ClaimTakesTheOldestQueuedDebateAndSetsTheLease) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q2", kT1)).ok());
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    DebateRecord local = Queued("local", kT0);
    local.id = "local";
    local.queued_for_worker = false;  // run by an API instance itself: never claimed
    ASSERT_TRUE(store_->CreateDebate(local).ok());

    auto stored = store_->GetDebate("q1");
    ASSERT_TRUE(stored.ok());
    EXPECT_TRUE(stored->queued_for_worker);
    EXPECT_EQ(stored->attempts, 0);
    EXPECT_EQ(stored->lease_owner, "");

    auto first = store_->ClaimQueuedDebate("w1", kT1, kT2);
    ASSERT_TRUE(first.ok()) << first.error().message;
    ASSERT_TRUE(first->has_value());
    EXPECT_EQ((*first)->id, "q1");
    EXPECT_EQ((*first)->status, events::DebateStatus::kRunning);
    EXPECT_EQ((*first)->started_at, kT1);
    EXPECT_EQ((*first)->lease_owner, "w1");
    EXPECT_EQ((*first)->lease_expires_at, kT2);
    EXPECT_EQ((*first)->attempts, 1);
    EXPECT_EQ((*first)->spec_json, Queued("q1", kT0).spec_json);
    auto reread = store_->GetDebate("q1");
    ASSERT_TRUE(reread.ok());
    EXPECT_EQ(reread->status, events::DebateStatus::kRunning);
    EXPECT_EQ(reread->lease_owner, "w1");

    auto second = store_->ClaimQueuedDebate("w2", kT1, kT2);
    ASSERT_TRUE(second.ok());
    ASSERT_TRUE(second->has_value());
    EXPECT_EQ((*second)->id, "q2");
    auto none = store_->ClaimQueuedDebate("w3", kT1, kT2);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    EXPECT_EQ(store_->GetDebate("local")->status, events::DebateStatus::kPending);
    EXPECT_EQ(store_->ClaimQueuedDebate("", kT1, kT2).error().code, ErrorCode::kValidation);
}

// Eight claimants on four stores (connections) race over 40 debates: each debate is
// claimed exactly once.
TEST_P(WorkerQueueTest, ConcurrentClaimsAreExclusive) {
    constexpr int kDebates = 40;
    for (int i = 0; i < kDebates; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "q%02d", i);
        ASSERT_TRUE(store_->CreateDebate(Queued(id, kT0)).ok());
    }
    std::vector<std::unique_ptr<Store>> stores;
    for (int i = 0; i < 4; ++i) stores.push_back(Open());
    std::mutex mutex;
    std::vector<std::string> claimed;
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            Store& store = *stores[static_cast<std::size_t>(t % 4)];
            const std::string worker = "w" + std::to_string(t);
            while (true) {
                auto r = store.ClaimQueuedDebate(worker, kT1, kT2);
                if (!r) {
                    ++errors;
                    return;
                }
                if (!r->has_value()) return;
                std::lock_guard lock(mutex);
                claimed.push_back((*r)->id);
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    ASSERT_EQ(claimed.size(), static_cast<std::size_t>(kDebates));
    std::set<std::string> unique(claimed.begin(), claimed.end());
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(kDebates));
    auto page = store_->ListDebates({"running", 100, 0});
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->total, kDebates);
    for (const auto& d : page->items) EXPECT_EQ(d.attempts, 1) << d.id;
}

TEST_P(WorkerQueueTest, RenewExtendsOnlyTheHoldersLease) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(store_->ClaimQueuedDebate("w1", kT0, kT1).ok());
    ASSERT_TRUE(store_->RenewLease("q1", "w1", kT2).ok());
    EXPECT_EQ(store_->GetDebate("q1")->lease_expires_at, kT2);
    EXPECT_EQ(store_->RenewLease("q1", "w2", kT4).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("q1")->lease_expires_at, kT2);
    EXPECT_EQ(store_->RenewLease("nope", "w1", kT2).error().code, ErrorCode::kNotFound);
}

// w1 goes silent; its lease expires and w2's reaper fails the debate. w1's renew and its
// late result are refused and write nothing.
TEST_P(WorkerQueueTest, ReapFailsExpiredLeasesAndTheOldHolderCanNoLongerWrite) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(store_->CreateDebate(Queued("q2", kT0)).ok());
    auto claimed = store_->ClaimQueuedDebate("w1", kT0, kT1);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    ASSERT_EQ((*claimed)->id, "q1");
    ASSERT_TRUE(store_->ClaimQueuedDebate("w2", kT0, kT4).ok());  // q2: still leased
    ASSERT_TRUE(
        store_->AppendEvents({Event("q1", 1, "debate_start"), Event("q1", 2, "round_start")}).ok());

    auto other = Open();                                  // another process
    auto early = other->ReapExpiredLeases(kT1, nullptr);  // expiry is strict: not yet
    ASSERT_TRUE(early.ok()) << early.error().message;
    EXPECT_TRUE(early->empty());

    std::vector<std::string> built_for;
    DebateEndDataBuilder end_data = [&built_for](const DebateRecord& d) {
        built_for.push_back(d.id + ":" + std::string(events::ToString(d.status)) + ":" +
                            d.error_code);
        return std::string(R"({"status":"failed","marker":true})");
    };
    auto reaped = other->ReapExpiredLeases(kT2, end_data);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(*reaped, std::vector<std::string>{"q1"});
    EXPECT_EQ(built_for, std::vector<std::string>{"q1:failed:worker_lost"});

    auto d = store_->GetDebate("q1");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->status, events::DebateStatus::kFailed);
    EXPECT_EQ(d->error_code, kWorkerLostCode);
    EXPECT_EQ(d->error_message, kWorkerLostMessage);
    EXPECT_EQ(d->completed_at, kT2);
    EXPECT_EQ(d->receipt_id, "");
    ASSERT_TRUE(d->duration_seconds.has_value());
    EXPECT_NEAR(*d->duration_seconds, 30.0, 0.01);
    auto events = store_->ListEvents("q1", 0, 100);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 3u);
    EXPECT_EQ(events->back().seq, 3);
    EXPECT_EQ(events->back().type, "debate_end");
    EXPECT_EQ(events->back().data_json, R"({"status":"failed","marker":true})");
    EXPECT_EQ(store_->GetDebate("q2")->status, events::DebateStatus::kRunning);

    // Reaping again finds nothing: each debate is reaped once.
    auto again = store_->ReapExpiredLeases(kT3, end_data);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty());

    EXPECT_EQ(store_->RenewLease("q1", "w1", kT4).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->AppendLeasedEvents({Event("q1", 4, "vote")}, "w1").error().code,
              ErrorCode::kConflict);
    ReceiptBuilder builder = Builder("rcpt_q1");
    auto late = store_->FinishLeasedDebate(Completed(**claimed),
                                           {Event("q1", 3, "vote"), Event("q1", 4, "debate_end")},
                                           &builder, "w1");
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("q1")->status, events::DebateStatus::kFailed);
    EXPECT_EQ(store_->ListReceipts("q1", 10, 0)->total, 0);
    EXPECT_EQ(store_->ListEvents("q1", 0, 100)->size(), 3u);
    EXPECT_EQ(store_->ListEvents("q1", 0, 100)->back().data_json,
              R"({"status":"failed","marker":true})");
}

TEST_P(WorkerQueueTest, FinishUnderTheLeaseWritesOneReceipt) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    auto claimed = store_->ClaimQueuedDebate("w1", kT0, kT2);
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    DebateRecord done = Completed(**claimed);
    ReceiptBuilder builder = Builder("rcpt_q1");
    // Another worker's id is refused, nothing written.
    auto wrong = store_->FinishLeasedDebate(done, {Event("q1", 1, "debate_end")}, &builder, "w2");
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 0);
    EXPECT_TRUE(store_->ListEvents("q1", 0, 10)->empty());
    EXPECT_EQ(store_->AppendLeasedEvents({Event("q1", 1, "debate_start")}, "w2").error().code,
              ErrorCode::kConflict);
    EXPECT_TRUE(store_->ListEvents("q1", 0, 10)->empty());
    ASSERT_TRUE(store_->AppendLeasedEvents({Event("q1", 1, "debate_start")}, "w1").ok());
    auto ok = store_->FinishLeasedDebate(
        done, {Event("q1", 1, "debate_start"), Event("q1", 2, "debate_end")}, &builder, "w1");
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    ASSERT_TRUE(ok->has_value());
    auto d = store_->GetDebate("q1");
    EXPECT_EQ(d->status, events::DebateStatus::kCompleted);
    EXPECT_EQ(d->receipt_id, "rcpt_q1");
    // The queue columns survive the whole-row write.
    EXPECT_TRUE(d->queued_for_worker);
    EXPECT_EQ(d->lease_owner, "w1");
    EXPECT_EQ(d->attempts, 1);
    // Finished: the lease is gone, so neither a second finish nor a reap can touch it.
    auto twice = store_->FinishLeasedDebate(done, {}, &builder, "w1");
    EXPECT_EQ(twice.error().code, ErrorCode::kConflict);
    EXPECT_TRUE(store_->ReapExpiredLeases(kT4, nullptr)->empty());
    EXPECT_EQ(store_->RenewLease("q1", "w1", kT4).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 1);
}

TEST_P(WorkerQueueTest, ReleaseReturnsAnUnstartedDebateToTheQueue) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(store_->ClaimQueuedDebate("w1", kT0, kT2).ok());
    EXPECT_EQ(store_->ReleaseLease("q1", "w2").error().code, ErrorCode::kConflict);
    ASSERT_TRUE(store_->ReleaseLease("q1", "w1").ok());
    auto d = store_->GetDebate("q1");
    EXPECT_EQ(d->status, events::DebateStatus::kPending);
    EXPECT_EQ(d->lease_owner, "");
    EXPECT_EQ(d->started_at, "");
    EXPECT_EQ(d->attempts, 1);
    // The old holder has lost it to the next claimant.
    auto next = store_->ClaimQueuedDebate("w2", kT1, kT4);
    ASSERT_TRUE(next.ok() && next->has_value());
    EXPECT_EQ((*next)->attempts, 2);
    EXPECT_EQ(store_->RenewLease("q1", "w1", kT4).error().code, ErrorCode::kConflict);

    // Once events are stored, clients may have seen them: no release.
    ASSERT_TRUE(store_->AppendEvents({Event("q1", 1, "debate_start")}).ok());
    auto refused = store_->ReleaseLease("q1", "w2");
    EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("q1")->status, events::DebateStatus::kRunning);
}

TEST_P(WorkerQueueTest, CancelQueuedOnlyBeforeAWorkerClaimsIt) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(store_->CreateDebate(Queued("q2", kT1)).ok());
    auto cancelled = store_->CancelQueuedDebate("q1", kT2, nullptr);
    ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
    EXPECT_EQ(cancelled->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(cancelled->error_code, "cancelled");
    EXPECT_EQ(cancelled->completed_at, kT2);
    auto events = store_->ListEvents("q1", 0, 10);
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ(events->front().type, "debate_end");
    EXPECT_EQ(events->front().seq, 1);
    EXPECT_NE(events->front().data_json.find("cancelled"), std::string::npos);
    // Not claimable any more; the next one is.
    auto next = store_->ClaimQueuedDebate("w1", kT2, kT4);
    ASSERT_TRUE(next.ok() && next->has_value());
    EXPECT_EQ((*next)->id, "q2");
    // Claimed or terminal: kConflict, nothing changed.
    EXPECT_EQ(store_->CancelQueuedDebate("q2", kT3, nullptr).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->GetDebate("q2")->status, events::DebateStatus::kRunning);
    EXPECT_EQ(store_->CancelQueuedDebate("q1", kT3, nullptr).error().code, ErrorCode::kConflict);
    EXPECT_EQ(store_->CancelQueuedDebate("nope", kT3, nullptr).error().code, ErrorCode::kNotFound);
}

// A restarting API instance marks its own interrupted debates failed, never the queue's.
TEST_P(WorkerQueueTest, MarkInterruptedLeavesQueuedDebatesToTheirLeases) {
    ASSERT_TRUE(store_->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(store_->CreateDebate(Queued("q2", kT0)).ok());
    ASSERT_TRUE(store_->ClaimQueuedDebate("w1", kT0, kT2).ok());
    DebateRecord local = Queued("local", kT0);
    local.queued_for_worker = false;
    ASSERT_TRUE(store_->CreateDebate(local).ok());
    auto n = store_->MarkInterrupted(kT1);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 1);
    EXPECT_EQ(store_->GetDebate("local")->status, events::DebateStatus::kFailed);
    EXPECT_EQ(store_->GetDebate("q1")->status, events::DebateStatus::kRunning);
    EXPECT_EQ(store_->GetDebate("q2")->status, events::DebateStatus::kPending);
}

// Two reapers (two processes) race over the same expired leases: each debate is reaped by
// exactly one of them and gets exactly one debate_end.
TEST_P(WorkerQueueTest, RacingReapersReapEachDebateOnce) {
    constexpr int kDebates = 24;
    for (int i = 0; i < kDebates; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "q%02d", i);
        ASSERT_TRUE(store_->CreateDebate(Queued(id, kT0)).ok());
        auto claimed = store_->ClaimQueuedDebate("w-dead", kT0, kT1);
        ASSERT_TRUE(claimed.ok() && claimed->has_value());
        ASSERT_TRUE(store_->AppendEvents({Event(id, 1, "debate_start")}).ok());
    }
    std::vector<std::unique_ptr<Store>> reapers;
    for (int i = 0; i < 2; ++i) reapers.push_back(Open());
    std::vector<std::string> reaped[2];
    std::string errors[2];
    std::latch start(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            auto r = reapers[static_cast<std::size_t>(t)]->ReapExpiredLeases(kT2, nullptr);
            if (!r) {
                errors[t] = r.error().message;
                return;
            }
            reaped[t] = std::move(*r);
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    std::multiset<std::string> all(reaped[0].begin(), reaped[0].end());
    all.insert(reaped[1].begin(), reaped[1].end());
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kDebates));
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(),
              static_cast<std::size_t>(kDebates));
    for (int i = 0; i < kDebates; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "q%02d", i);
        auto d = store_->GetDebate(id);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->status, events::DebateStatus::kFailed) << id;
        EXPECT_EQ(d->error_code, kWorkerLostCode) << id;
        auto events = store_->ListEvents(id, 0, 100);
        ASSERT_TRUE(events.ok());
        ASSERT_EQ(events->size(), 2u) << id;
        EXPECT_EQ(events->back().type, "debate_end") << id;
        EXPECT_EQ(events->back().seq, 2) << id;
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, WorkerQueueTest, ARAGORA_STORAGE_BACKENDS);

// ---------------------------------------------------------------- PostgreSQL only

class PgWorkerQueueTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(db_.error(), ""); }

    // One API/worker instance: its own pool and store on the test database.
    PgStores Instance(std::chrono::milliseconds command_timeout = std::chrono::seconds(60)) {
        auto dsn = BuildPgDsn(db_.url(), "");
        if (!dsn) throw std::runtime_error(dsn.error().message);
        PgPoolOptions options;
        options.dsn = *dsn;
        options.pool_size = 4;
        options.max_overflow = 0;
        options.command_timeout = command_timeout;
        auto stores = OpenPgStores(options, /*migrate=*/true);
        if (!stores) throw std::runtime_error(stores.error().message);
        return std::move(*stores);
    }

    test_support::PgTestDatabase db_;
};

// Two instances (two pools), four claimants each, start together over 60 debates: every
// debate is claimed exactly once, by the worker whose lease the row then carries.
TEST_F(PgWorkerQueueTest, TwoPoolsClaimingConcurrentlyNeverClaimTheSameDebate) {
    PgStores a = Instance();
    PgStores b = Instance();
    ASSERT_NE(a.pool, b.pool);
    constexpr int kDebates = 60;
    for (int i = 0; i < kDebates; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "q%02d", i);
        ASSERT_TRUE(a.store->CreateDebate(Queued(id, i % 2 == 0 ? kT0 : kT1)).ok());
    }
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> claims;  // (debate, worker)
    std::vector<std::string> errors;
    constexpr int kClaimants = 8;
    std::latch start(kClaimants);
    std::vector<std::thread> threads;
    for (int t = 0; t < kClaimants; ++t) {
        threads.emplace_back([&, t] {
            Store& store = t % 2 == 0 ? *a.store : *b.store;
            const std::string worker = std::string(t % 2 == 0 ? "a" : "b") + std::to_string(t);
            start.arrive_and_wait();
            while (true) {
                auto r = store.ClaimQueuedDebate(worker, kT2, kT4);
                std::lock_guard lock(mutex);
                if (!r) {
                    errors.push_back(r.error().message);
                    return;
                }
                if (!r->has_value()) return;
                claims.emplace_back((*r)->id, worker);
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_TRUE(errors.empty()) << errors.front();
    ASSERT_EQ(claims.size(), static_cast<std::size_t>(kDebates));
    std::set<std::string> ids;
    std::set<std::string> instances;
    for (const auto& [id, worker] : claims) {
        ids.insert(id);
        instances.insert(worker.substr(0, 1));
        auto d = a.store->GetDebate(id);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->lease_owner, worker) << id;
        EXPECT_EQ(d->status, events::DebateStatus::kRunning) << id;
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(kDebates));
    EXPECT_EQ(db_.Column("SELECT COUNT(*) FROM debates WHERE attempts <> 1"),
              std::vector<std::string>{"0"});
}

// SKIP LOCKED: while another transaction holds the oldest queued row, a claim takes the
// next one instead of waiting (a wait would hit the 5 s statement timeout), and the
// oldest is claimable again once the holder lets go.
TEST_F(PgWorkerQueueTest, ClaimSkipsARowAnotherTransactionHolds) {
    PgStores holder = Instance();
    PgStores claimant = Instance(std::chrono::seconds(5));
    ASSERT_TRUE(claimant.store->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(claimant.store->CreateDebate(Queued("q2", kT1)).ok());

    auto lease = holder.pool->Acquire();
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    {
        pqxx::work tx(lease->conn());
        tx.exec("SELECT id FROM debates WHERE id = 'q1' FOR UPDATE");
        auto next = claimant.store->ClaimQueuedDebate("w1", kT2, kT4);
        ASSERT_TRUE(next.ok()) << next.error().message;
        ASSERT_TRUE(next->has_value());
        EXPECT_EQ((*next)->id, "q2");
        auto none = claimant.store->ClaimQueuedDebate("w2", kT2, kT4);
        ASSERT_TRUE(none.ok()) << none.error().message;
        EXPECT_FALSE(none->has_value());
        tx.abort();
    }
    auto oldest = claimant.store->ClaimQueuedDebate("w2", kT2, kT4);
    ASSERT_TRUE(oldest.ok()) << oldest.error().message;
    ASSERT_TRUE(oldest->has_value());
    EXPECT_EQ((*oldest)->id, "q1");
}

// A row another transaction holds (a worker's renew or finish in flight) is skipped by the
// reaper, not waited for (a wait would hit the 5 s statement timeout); once the holder
// lets go without renewing, the next round reaps it.
TEST_F(PgWorkerQueueTest, ReaperSkipsADebateWhoseRowIsHeld) {
    PgStores worker = Instance();
    PgStores reaper = Instance(std::chrono::seconds(5));
    ASSERT_TRUE(worker.store->CreateDebate(Queued("q1", kT0)).ok());
    ASSERT_TRUE(worker.store->ClaimQueuedDebate("w1", kT0, kT1).ok());

    auto lease = worker.pool->Acquire();
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    {
        pqxx::work tx(lease->conn());
        tx.exec("SELECT id FROM debates WHERE id = 'q1' FOR UPDATE");
        auto reaped = reaper.store->ReapExpiredLeases(kT2, nullptr);
        ASSERT_TRUE(reaped.ok()) << reaped.error().message;
        EXPECT_TRUE(reaped->empty());
        tx.abort();
    }
    auto reaped = reaper.store->ReapExpiredLeases(kT2, nullptr);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(*reaped, std::vector<std::string>{"q1"});
}

}  // namespace
}  // namespace aragora::storage
