// Receipt retention in the Store contract (store.hpp), on SQLite and PostgreSQL: legal
// holds, expired receipts deleted with a tombstone each, the chain kept linear across the
// gap (also when its newest receipt goes), the append-only deletion log, the counts of the
// retention status.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;
using test_support::TestReceiptBuilder;

constexpr const char* kNow = "2026-06-01T00:00:00.000Z";
constexpr const char* kCutoff = "2025-01-01T00:00:00.000Z";

class ReceiptRetentionContractTest : public test_support::StoreSuite {
public:
    // A completed debate `id` (verdict "approve") with receipt "rcpt_<id>" created at
    // `created_at`, chained onto whatever the store finds before it.
    void AddReceipt(const std::string& id, const std::string& created_at) {
        DebateRecord d;
        d.id = id;
        d.task = "task of " + id;
        d.status = events::DebateStatus::kRunning;
        d.agents = {"a", "b"};
        d.rounds = 1;
        d.created_at = created_at;
        ASSERT_TRUE(store_->CreateDebate(d).ok());
        d.status = events::DebateStatus::kCompleted;
        d.verdict = "approve";
        d.completed_at = created_at;
        ReceiptBuilder b = TestReceiptBuilder("rcpt_" + id, created_at);
        auto r = store_->FinishDebate(d, {}, &b);
        ASSERT_TRUE(r.ok()) << r.error().message;
    }

    static ExpiredReceiptsDeletion Request(int limit = 500) {
        ExpiredReceiptsDeletion r;
        r.cutoff = kCutoff;
        r.now = kNow;
        r.operator_name = "system:receipt_retention_scheduler";
        r.metadata_json = R"({"retention_days":2555})";
        r.limit = limit;
        return r;
    }

    // Every batch until one comes back short; the receipt ids deleted, in order.
    std::vector<std::string> DeleteAll(int limit) {
        std::vector<std::string> ids;
        for (int guard = 0; guard < 100; ++guard) {
            auto batch = store_->DeleteExpiredReceipts(Request(limit));
            EXPECT_TRUE(batch.ok()) << batch.error().message;
            if (!batch.ok()) break;
            for (const auto& d : *batch) ids.push_back(d.receipt_id);
            if (static_cast<int>(batch->size()) < limit) break;
        }
        return ids;
    }

    std::vector<ReceiptChainEntry> Chain() {
        std::vector<ReceiptChainEntry> out;
        std::int64_t after = 0;
        while (true) {
            auto page = store_->ListReceiptChain(after, 2);
            EXPECT_TRUE(page.ok()) << page.error().message;
            if (!page.ok() || page->empty()) break;
            for (auto& e : *page) {
                after = e.chain_seq;
                out.push_back(std::move(e));
            }
        }
        return out;
    }

    // Every link's previous_hash is the content_hash of the entry before it.
    static void ExpectLinear(const std::vector<ReceiptChainEntry>& chain) {
        for (std::size_t i = 0; i < chain.size(); ++i) {
            if (i == 0) {
                EXPECT_FALSE(chain[i].receipt.previous_hash.has_value());
            } else {
                EXPECT_EQ(chain[i].receipt.previous_hash,
                          std::optional<std::string>(chain[i - 1].receipt.content_hash))
                    << "at chain_seq " << chain[i].chain_seq;
                EXPECT_EQ(chain[i].chain_seq, chain[i - 1].chain_seq + 1);
            }
        }
    }
};

TEST_P(ReceiptRetentionContractTest, HeldReceiptsStayOthersGoAndTombstonesKeepTheChain) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    AddReceipt("d2", "2020-02-01T00:00:00.000Z");
    AddReceipt("d3", "2020-03-01T00:00:00.000Z");
    AddReceipt("d4", "2026-05-01T00:00:00.000Z");
    AddReceipt("d5", "2020-04-01T00:00:00.000Z");  // old, inserted after a new one
    auto hold = store_->SetLegalHold("rcpt_d2", "Litigation - Smith v. Corp", "M-17", "usr_admin",
                                     "2026-05-30T00:00:00.000Z");
    ASSERT_TRUE(hold.ok()) << hold.error().message;

    // Batches of 2: 3 deletable (d1, d3, d5) ⇒ one full batch and one short one.
    EXPECT_EQ(DeleteAll(2), (std::vector<std::string>{"rcpt_d1", "rcpt_d3", "rcpt_d5"}));
    EXPECT_TRUE(DeleteAll(2).empty());  // nothing more is due

    EXPECT_TRUE(store_->GetReceipt("rcpt_d2").ok());  // held
    EXPECT_TRUE(store_->GetReceipt("rcpt_d4").ok());  // young
    for (const std::string id : {"rcpt_d1", "debate-d3", "d5"}) {
        auto gone = store_->GetReceipt(id);
        ASSERT_FALSE(gone.ok()) << id;
        EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
        EXPECT_NE(
            gone.error().message.find("was deleted (retention_expired) on " + std::string(kNow)),
            std::string::npos)
            << gone.error().message;
    }
    EXPECT_EQ(store_->GetReceipt("nope").error().message, "receipt nope not found");

    auto chain = Chain();
    ASSERT_EQ(chain.size(), 5u);
    const std::vector<bool> tombstone = {true, false, true, false, true};
    for (std::size_t i = 0; i < chain.size(); ++i) {
        EXPECT_EQ(chain[i].tombstone, tombstone[i]) << i;
        EXPECT_EQ(chain[i].receipt.json.empty(), tombstone[i]) << i;
        EXPECT_EQ(chain[i].receipt.content_hash,
                  "hash-rcpt_d" + std::to_string(static_cast<int>(i) + 1));
    }
    EXPECT_EQ(chain[0].receipt.debate_id, "d1");
    EXPECT_EQ(chain[0].receipt.created_at, "2020-01-01T00:00:00.000Z");
    ExpectLinear(chain);

    auto log = store_->ListReceiptDeletions(10, 0, "");
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_EQ(log->total, 3);
    ASSERT_EQ(log->items.size(), 3u);
    const ReceiptDeletion& newest = log->items[0];  // same deleted_at: chain_seq descending
    EXPECT_EQ(newest.receipt_id, "rcpt_d5");
    EXPECT_EQ(newest.chain_seq, 5);
    EXPECT_EQ(newest.debate_id, "d5");
    EXPECT_EQ(newest.content_hash, "hash-rcpt_d5");
    EXPECT_EQ(newest.previous_hash, std::optional<std::string>("hash-rcpt_d4"));
    EXPECT_EQ(newest.receipt_created_at, "2020-04-01T00:00:00.000Z");
    EXPECT_EQ(newest.verdict, "approve");
    EXPECT_EQ(newest.deleted_at, kNow);
    EXPECT_EQ(newest.reason, kRetentionExpired);
    EXPECT_EQ(newest.operator_name, "system:receipt_retention_scheduler");
    EXPECT_EQ(newest.metadata_json, R"({"retention_days":2555})");
    EXPECT_EQ(newest.deletion_id.size(), 16u);
    EXPECT_EQ(newest.deletion_id.rfind("del_", 0), 0u);
    EXPECT_NE(log->items[1].deletion_id, newest.deletion_id);
    EXPECT_EQ(store_->ListReceiptDeletions(10, 0, "gdpr_erasure")->total, 0);
    auto second = store_->ListReceiptDeletions(1, 1, kRetentionExpired);
    ASSERT_TRUE(second.ok());
    ASSERT_EQ(second->items.size(), 1u);
    EXPECT_EQ(second->items[0].receipt_id, "rcpt_d3");
    EXPECT_EQ(second->total, 3);

    // The receipts list and the debate rows are untouched apart from the deleted receipts.
    EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 2);
    EXPECT_TRUE(store_->GetDebate("d1").ok());
}

TEST_P(ReceiptRetentionContractTest, NextReceiptAfterDeletingTheNewestLinksToItsTombstone) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    AddReceipt("d2", "2020-01-02T00:00:00.000Z");
    EXPECT_EQ(DeleteAll(100), (std::vector<std::string>{"rcpt_d1", "rcpt_d2"}));
    auto head = store_->LastReceiptHash();
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(*head, std::optional<std::string>("hash-rcpt_d2"));

    AddReceipt("d3", "2026-05-01T00:00:00.000Z");
    auto r3 = store_->GetReceipt("rcpt_d3");
    ASSERT_TRUE(r3.ok());
    EXPECT_EQ(r3->previous_hash, std::optional<std::string>("hash-rcpt_d2"));
    auto chain = Chain();
    ASSERT_EQ(chain.size(), 3u);
    EXPECT_EQ(chain[2].chain_seq, 3);  // after the tombstones, not a reused 1
    EXPECT_FALSE(chain[2].tombstone);
    ExpectLinear(chain);
}

TEST_P(ReceiptRetentionContractTest, TheDeletionLogIsAppendOnly) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    ASSERT_EQ(DeleteAll(10).size(), 1u);
    EXPECT_NE(backend_->ExecError("UPDATE receipt_deletions SET reason = 'user_request'"), "");
    EXPECT_NE(backend_->ExecError("DELETE FROM receipt_deletions"), "");
    EXPECT_EQ(backend_->Column("SELECT reason FROM receipt_deletions"),
              (std::vector<std::string>{"retention_expired"}));
}

TEST_P(ReceiptRetentionContractTest, LegalHoldsArePlacedReplacedAndReleased) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    auto none = store_->GetLegalHold("rcpt_d1");
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->active);

    // Any of the three id forms.
    auto placed = store_->SetLegalHold("debate-d1", "Audit 2026", "", "usr_a", kNow);
    ASSERT_TRUE(placed.ok()) << placed.error().message;
    EXPECT_EQ(placed->receipt_id, "rcpt_d1");
    EXPECT_TRUE(placed->active);
    EXPECT_EQ(placed->reason, "Audit 2026");
    EXPECT_EQ(placed->placed_by, "usr_a");
    EXPECT_EQ(placed->placed_at, kNow);
    auto replaced = store_->SetLegalHold("d1", "Litigation", "M-1", "usr_b", kNow);
    ASSERT_TRUE(replaced.ok());
    EXPECT_EQ(replaced->matter_id, "M-1");
    EXPECT_EQ(store_->GetLegalHold("rcpt_d1")->placed_by, "usr_b");

    // Held: the dry run and the deletion agree that it stays.
    auto preview = store_->FindExpiredReceipts(kCutoff, 10);
    ASSERT_TRUE(preview.ok());
    EXPECT_EQ(preview->deletable, 0);
    EXPECT_EQ(preview->held, 1);
    EXPECT_TRUE(DeleteAll(10).empty());

    auto released = store_->ReleaseLegalHold("rcpt_d1");
    ASSERT_TRUE(released.ok());
    EXPECT_TRUE(released->active);  // the hold as it was
    EXPECT_EQ(released->reason, "Litigation");
    auto again = store_->ReleaseLegalHold("rcpt_d1");
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->active);
    auto after = store_->GetLegalHold("rcpt_d1");
    EXPECT_FALSE(after->active);
    EXPECT_EQ(after->reason, "");
    EXPECT_EQ(after->placed_at, "");

    EXPECT_EQ(DeleteAll(10), (std::vector<std::string>{"rcpt_d1"}));
    auto deleted = store_->SetLegalHold("rcpt_d1", "too late", "", "usr_a", kNow);
    ASSERT_FALSE(deleted.ok());
    EXPECT_EQ(deleted.error().code, ErrorCode::kNotFound);
    EXPECT_NE(deleted.error().message.find("was deleted"), std::string::npos);
    EXPECT_EQ(store_->ReleaseLegalHold("rcpt_d1").error().code, ErrorCode::kNotFound);
    EXPECT_EQ(store_->SetLegalHold("nope", "r", "", "u", kNow).error().code, ErrorCode::kNotFound);
    EXPECT_EQ(store_->SetLegalHold("rcpt_d1", "", "", "u", kNow).error().code,
              ErrorCode::kValidation);
}

TEST_P(ReceiptRetentionContractTest, TheDryRunCountsWhatTheDeletionDeletes) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    AddReceipt("d2", "2020-01-02T00:00:00.000Z");
    AddReceipt("d3", "2020-01-03T00:00:00.000Z");
    AddReceipt("d4", "2026-01-03T00:00:00.000Z");
    ASSERT_TRUE(store_->SetLegalHold("rcpt_d2", "hold", "", "u", kNow).ok());
    auto preview = store_->FindExpiredReceipts(kCutoff, 1);
    ASSERT_TRUE(preview.ok()) << preview.error().message;
    EXPECT_EQ(preview->deletable, 2);
    EXPECT_EQ(preview->held, 1);
    EXPECT_EQ(preview->receipt_ids, (std::vector<std::string>{"rcpt_d1"}));
    EXPECT_EQ(store_->FindExpiredReceipts(kCutoff, 10)->receipt_ids,
              (std::vector<std::string>{"rcpt_d1", "rcpt_d3"}));
    EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 4);  // nothing changed
    EXPECT_EQ(DeleteAll(10), (std::vector<std::string>{"rcpt_d1", "rcpt_d3"}));
    EXPECT_EQ(store_->FindExpiredReceipts(kCutoff, 10)->deletable, 0);
}

TEST_P(ReceiptRetentionContractTest, CountsForTheRetentionStatus) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    AddReceipt("d2", "2024-06-01T00:00:00.000Z");
    AddReceipt("d3", "2026-05-01T00:00:00.000Z");
    ASSERT_TRUE(store_->SetLegalHold("rcpt_d1", "hold", "", "u", kNow).ok());
    auto counts = store_->CountReceiptsForRetention(
        {"2021-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z", "2030-01-01T00:00:00.000Z"});
    ASSERT_TRUE(counts.ok()) << counts.error().message;
    EXPECT_EQ(counts->total, 3);
    EXPECT_EQ(counts->held, 1);
    EXPECT_EQ(counts->tombstones, 0);
    EXPECT_EQ(counts->oldest_created_at, "2020-01-01T00:00:00.000Z");
    EXPECT_EQ(counts->newest_created_at, "2026-05-01T00:00:00.000Z");
    EXPECT_EQ(counts->created_before, (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(counts->held_created_before, (std::vector<std::int64_t>{1, 1, 1}));
    ASSERT_EQ(DeleteAll(10).size(), 1u);  // d2
    auto after = store_->CountReceiptsForRetention({});
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->total, 2);
    EXPECT_EQ(after->tombstones, 1);
    EXPECT_TRUE(after->created_before.empty());

    auto empty_bound = store_->CountReceiptsForRetention({""});
    EXPECT_EQ(empty_bound.error().code, ErrorCode::kValidation);
}

TEST_P(ReceiptRetentionContractTest, BadRequestsAreRefusedAndChangeNothing) {
    AddReceipt("d1", "2020-01-01T00:00:00.000Z");
    auto bad_limit = Request(0);
    EXPECT_EQ(store_->DeleteExpiredReceipts(bad_limit).error().code, ErrorCode::kValidation);
    auto no_operator = Request();
    no_operator.operator_name.clear();
    EXPECT_EQ(store_->DeleteExpiredReceipts(no_operator).error().code, ErrorCode::kValidation);
    auto bad_metadata = Request();
    bad_metadata.metadata_json = "[1]";
    EXPECT_EQ(store_->DeleteExpiredReceipts(bad_metadata).error().code, ErrorCode::kValidation);
    EXPECT_EQ(store_->FindExpiredReceipts("", 1).error().code, ErrorCode::kValidation);
    EXPECT_EQ(store_->ListReceiptDeletions(-1, 0, "").error().code, ErrorCode::kValidation);
    EXPECT_TRUE(store_->GetReceipt("rcpt_d1").ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, ReceiptRetentionContractTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
