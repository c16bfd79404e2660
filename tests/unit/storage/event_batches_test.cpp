// Store::AppendEventBatches, the group commit across debates: many runs' events in one
// call, each batch stored whole or not at all, a failure (a missing debate, a lost lease,
// an invalid event) given to its own batch only while the others are stored, a retried
// batch harmless. Written against the Store interface: every test runs on SQLite and
// PostgreSQL (store_backends.hpp); the encrypting decorator is covered on SQLite.

#include <gtest/gtest.h>

#include <memory>
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

constexpr const char* kLeaseUntil = "2099-03-01T10:00:00.000Z";

// The lease suites' debate, leased by `owner` ("" = none) far into the future.
DebateRecord Running(const std::string& id, const std::string& owner = "") {
    return test_support::lease::Local(id, "running", owner, owner.empty() ? "" : kLeaseUntil);
}

std::vector<events::Event> Events(const std::string& id, std::int64_t from, std::int64_t to) {
    std::vector<events::Event> out;
    for (auto seq = from; seq <= to; ++seq)
        out.push_back(test_support::TestEvent(id, seq, "token_delta"));
    return out;
}

class EventBatchesTest : public test_support::StoreSuite {
protected:
    std::vector<std::int64_t> Seqs(const std::string& id) {
        std::vector<std::int64_t> out;
        auto events = store_->ListEvents(id, 0, 1000);
        EXPECT_TRUE(events.ok());
        if (events.ok())
            for (const auto& e : *events) out.push_back(e.seq);
        return out;
    }
};

TEST_P(EventBatchesTest, EveryRunsBatchIsStoredByOneCall) {
    std::vector<std::vector<events::Event>> events;
    std::vector<std::string> owners;
    for (int i = 0; i < 30; ++i) {
        const std::string id = "d" + std::to_string(i);
        // Every third one is leased (an instance's own debate on a shared database).
        owners.push_back(i % 3 == 0 ? "inst_a" : "");
        Create(Running(id, owners.back()));
        events.push_back(Events(id, 1, 1 + i % 4));
    }
    std::vector<EventBatch> batches;
    for (int i = 0; i < 30; ++i) batches.push_back(EventBatch{events[i], owners[i]});
    // A second batch of d0 later in the same call (its next commit): kept in order.
    auto more = Events("d0", 2, 3);
    batches.push_back(EventBatch{more, "inst_a"});
    auto statuses = store_->AppendEventBatches(batches);
    ASSERT_EQ(statuses.size(), batches.size());
    for (std::size_t i = 0; i < statuses.size(); ++i)
        EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error().message;
    EXPECT_EQ(Seqs("d0"), (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(Seqs("d7"), (std::vector<std::int64_t>{1, 2, 3, 4}));
    EXPECT_EQ(Seqs("d29"), (std::vector<std::int64_t>{1, 2}));
    if (GetParam() == BackendKind::kPostgres) {
        // Every row carries the id of the transaction that wrote it: one for all 30 runs.
        EXPECT_EQ(backend_->Column("SELECT COUNT(DISTINCT xmin::text) FROM debate_events"),
                  std::vector<std::string>{"1"});
    }
}

TEST_P(EventBatchesTest, AFailingInsertFailsItsBatchOnlyAndNothingOfIt) {
    Create(Running("a"));
    Create(Running("b"));
    Create(Running("c"));
    auto a = Events("a", 1, 2);
    // Its last event belongs to no debate (a foreign key violation): the whole batch
    // fails, its first events included.
    auto bad = Events("b", 1, 2);
    bad.push_back(test_support::TestEvent("no_such_debate", 1, "token_delta"));
    auto c = Events("c", 1, 3);
    std::vector<EventBatch> batches{{a, ""}, {bad, ""}, {c, ""}};
    auto statuses = store_->AppendEventBatches(batches);
    ASSERT_EQ(statuses.size(), 3u);
    EXPECT_TRUE(statuses[0].ok());
    EXPECT_FALSE(statuses[1].ok());
    EXPECT_TRUE(statuses[2].ok()) << statuses[2].error().message;
    EXPECT_EQ(Seqs("a"), (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(Seqs("b"), (std::vector<std::int64_t>{}));
    EXPECT_EQ(Seqs("c"), (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_P(EventBatchesTest, ALostLeaseFailsItsBatchOnly) {
    Create(Running("mine", "inst_a"));
    Create(Running("theirs", "inst_b"));
    Create(Running("plain"));
    auto mine = Events("mine", 1, 2);
    auto theirs = Events("theirs", 1, 2);  // inst_a writes where inst_b holds the lease
    auto plain = Events("plain", 1, 1);
    std::vector<EventBatch> batches{{theirs, "inst_a"}, {mine, "inst_a"}, {plain, ""}};
    auto statuses = store_->AppendEventBatches(batches);
    ASSERT_EQ(statuses.size(), 3u);
    ASSERT_FALSE(statuses[0].ok());
    EXPECT_EQ(statuses[0].error().code, ErrorCode::kConflict);
    EXPECT_TRUE(statuses[1].ok()) << statuses[1].error().message;
    EXPECT_TRUE(statuses[2].ok()) << statuses[2].error().message;
    EXPECT_EQ(Seqs("theirs"), (std::vector<std::int64_t>{}));
    EXPECT_EQ(Seqs("mine"), (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(Seqs("plain"), (std::vector<std::int64_t>{1}));
}

TEST_P(EventBatchesTest, AnInvalidOrEmptyBatchAndARetriedOne) {
    Create(Running("a"));
    Create(Running("b"));
    ASSERT_TRUE(store_->AppendEvents(Events("a", 1, 2)).ok());
    auto retried = Events("a", 2, 3);  // seq 2 is stored already: skipped, 3 added
    retried[0].data_json = R"({"changed":true})";
    auto invalid = Events("b", 0, 1);  // seq 0
    std::vector<events::Event> none;
    std::vector<EventBatch> batches{{retried, ""}, {invalid, ""}, {none, ""}};
    auto statuses = store_->AppendEventBatches(batches);
    ASSERT_EQ(statuses.size(), 3u);
    EXPECT_TRUE(statuses[0].ok()) << statuses[0].error().message;
    ASSERT_FALSE(statuses[1].ok());
    EXPECT_EQ(statuses[1].error().code, ErrorCode::kValidation);
    EXPECT_TRUE(statuses[2].ok());
    EXPECT_EQ(Seqs("a"), (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ((*store_->ListEvents("a", 1, 1))[0].data_json, "{}");  // not overwritten
    EXPECT_EQ(Seqs("b"), (std::vector<std::int64_t>{}));
}

INSTANTIATE_TEST_SUITE_P(Backends, EventBatchesTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
