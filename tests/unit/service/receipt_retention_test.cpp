// service::ReceiptRetention on a real SQLite store with a manual clock: held receipts stay,
// the others go, the chain still verifies across their tombstones, the dry run counts what
// the deletion deletes, the status numbers, the run deadline, one claim per slot, metrics.

#include "service/receipt_retention.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "metrics/registry.hpp"
#include "retention_test_support.hpp"
#include "service_test_support.hpp"

namespace aragora::service {
namespace {

using common::ErrorCode;
using namespace std::chrono_literals;

// 2020-01-01T00:00:00Z: when the "old" receipts are made.
const auto kOld = std::chrono::system_clock::time_point(std::chrono::seconds(1577836800));

class ReceiptRetentionTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        store_ = OpenStoreAndStart("retention-test-key");
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        retention_.reset();
        StopAndClean();
    }

    // The service at `now_` (2027), retention 365 days unless changed.
    ReceiptRetention& Make(RetentionOptions options = {}) {
        if (options.retention_days == 2555) options.retention_days = 365;
        retention_ = std::make_unique<ReceiptRetention>(options, pool_, now_, registry_);
        retention_->AttachStore(store_.get());
        return *retention_;
    }

    // Receipts d1..dn made in 2020 (a day apart), then y1..ym made "now".
    void Seed(int old_count, int young_count) {
        common::ManualClock then(kOld);
        for (int i = 1; i <= old_count; ++i) {
            test_support::AddSignedReceipt(*store_, "d" + std::to_string(i), then, keys_);
            then.Advance(24h);
        }
        for (int i = 1; i <= young_count; ++i) {
            test_support::AddSignedReceipt(*store_, "y" + std::to_string(i), now_, keys_);
        }
    }

    debate::ChainReport VerifyChain() {
        auto report = VerifyStoredChain(*store_, keys_, 2);
        EXPECT_TRUE(report.ok()) << report.error().message;
        return report.ok() ? *report : debate::ChainReport{};
    }

    double Metric(const std::string& name) {
        const std::string text = registry_.RenderPrometheus();
        const std::string key = "\n" + name + " ";
        auto pos = text.find(key);
        if (pos == std::string::npos) {
            ADD_FAILURE() << name << " not exported";
            return -1;
        }
        return std::stod(text.substr(pos + key.size()));
    }

    std::unique_ptr<storage::Store> store_;
    common::ManualClock now_;  // 2027-01-15
    metrics::Registry registry_;
    std::unique_ptr<ReceiptRetention> retention_;
};

TEST_F(ReceiptRetentionTest, HeldReceiptsStayOthersGoAndTheChainStillVerifies) {
    Seed(4, 2);
    auto& retention = Make();
    ASSERT_TRUE(VerifyChain().ok());
    auto hold = Await(retention.PlaceHold("rcpt_d2", "Litigation", "M-9", "usr_admin"));
    ASSERT_TRUE(hold.ok()) << hold.error().message;
    EXPECT_EQ(Metric("aragora_receipts_legal_hold"), 1);

    CleanupRequest preview_request;
    preview_request.dry_run = true;
    auto preview = Await(retention.RunCleanup(preview_request));
    ASSERT_TRUE(preview.ok()) << preview.error().message;
    EXPECT_EQ(preview->receipts_deleted, 3);
    EXPECT_EQ(preview->held_kept, 1);
    EXPECT_EQ(preview->receipt_ids, (std::vector<std::string>{"rcpt_d1", "rcpt_d3", "rcpt_d4"}));
    EXPECT_EQ(Metric("aragora_receipt_cleanup_total"), 0);  // a dry run is not a cleanup

    auto run = Await(retention.RunCleanup(CleanupRequest{}));
    ASSERT_TRUE(run.ok()) << run.error().message;
    EXPECT_TRUE(run->success);
    EXPECT_TRUE(run->complete);
    EXPECT_EQ(run->receipts_deleted, preview->receipts_deleted);  // preview = deletion
    EXPECT_EQ(run->receipt_ids, preview->receipt_ids);
    EXPECT_EQ(run->held_kept, 1);
    EXPECT_EQ(run->retention_days, 365);
    EXPECT_EQ(run->operator_name, kRetentionSchedulerOperator);

    EXPECT_TRUE(store_->GetReceipt("rcpt_d2").ok());
    EXPECT_TRUE(store_->GetReceipt("rcpt_y1").ok());
    auto gone = store_->GetReceipt("rcpt_d3");
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
    EXPECT_NE(gone.error().message.find("deleted (retention_expired)"), std::string::npos);

    auto report = VerifyChain();
    EXPECT_TRUE(report.ok()) << (report.failures.empty() ? "" : report.failures[0].reason);
    EXPECT_EQ(report.receipts, 3);
    EXPECT_EQ(report.tombstones, 3);
    EXPECT_EQ(report.verified, 3);

    auto log = Await(retention.Deletions(10, 0, ""));
    ASSERT_TRUE(log.ok());
    EXPECT_EQ(log->total, 3);
    EXPECT_EQ(log->items[0].metadata_json, R"({"retention_days":365})");
    EXPECT_EQ(log->items[0].operator_name, kRetentionSchedulerOperator);

    EXPECT_EQ(Metric("aragora_receipt_cleanup_total"), 1);
    EXPECT_EQ(Metric("aragora_receipts_deleted_total"), 3);
    EXPECT_EQ(Metric("aragora_receipt_cleanup_errors_total"), 0);
    EXPECT_EQ(Metric("aragora_receipts_stored"), 3);
    EXPECT_EQ(Metric("aragora_decision_receipts_total"), 6);  // issued: 3 stored + 3 tombstones
    EXPECT_EQ(Metric("aragora_receipt_retention_seconds"), 365 * 86400);
    EXPECT_EQ(Metric("aragora_receipt_last_cleanup_timestamp"),
              common::EpochSeconds(now_.SystemNow()));
    EXPECT_EQ(Metric("aragora_receipt_cleanup_duration_seconds_count"), 1);

    auto stats = retention.Stats();
    EXPECT_EQ(stats.total_runs, 1);
    EXPECT_EQ(stats.total_receipts_deleted, 3);
    ASSERT_TRUE(stats.last_result.has_value());

    // Released: the next run deletes it too, and the chain is still whole.
    auto released = Await(retention.ReleaseHold("rcpt_d2"));
    ASSERT_TRUE(released.ok());
    EXPECT_TRUE(released->active);
    auto second = Await(retention.RunCleanup(CleanupRequest{}));
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->receipts_deleted, 1);
    EXPECT_TRUE(VerifyChain().ok());
}

TEST_F(ReceiptRetentionTest, ANewReceiptAfterTheNewestWasDeletedKeepsTheChainVerifiable) {
    Seed(2, 0);
    auto& retention = Make();
    ASSERT_EQ(Await(retention.RunCleanup(CleanupRequest{}))->receipts_deleted, 2);
    test_support::AddSignedReceipt(*store_, "y1", now_, keys_);
    auto report = VerifyChain();
    EXPECT_TRUE(report.ok()) << (report.failures.empty() ? "" : report.failures[0].reason);
    EXPECT_EQ(report.tombstones, 2);
    EXPECT_EQ(report.verified, 1);
}

TEST_F(ReceiptRetentionTest, TheStatusCountsAgesExpiryAndHolds) {
    Seed(3, 2);
    const std::string made = common::FormatIso8601(now_.SystemNow());
    now_.Advance(1h);  // the young ones are an hour old
    auto& retention = Make();
    ASSERT_TRUE(Await(retention.PlaceHold("rcpt_d1", "hold", "", "u")).ok());
    auto status = Await(retention.GetStatus());
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(status->total_receipts, 5);
    EXPECT_EQ(status->retention_days, 365);
    EXPECT_EQ(status->already_expired, 2);
    EXPECT_EQ(status->expired_but_held, 1);
    EXPECT_EQ(status->legal_holds, 1);
    EXPECT_EQ(status->oldest_receipt, "2020-01-01T00:00:00.000Z");
    EXPECT_EQ(status->newest_receipt, made);
    // January 2020 is more than 2555 days (7 years) before 2027-01-15.
    const std::vector<std::pair<std::string, std::int64_t>> ages = {
        {"0-30_days", 2}, {"31-90_days", 0}, {"91-365_days", 0},
        {"1-3_years", 0}, {"3-7_years", 0},  {"over_7_years", 3}};
    EXPECT_EQ(status->age_distribution, ages);
    // The young ones expire in a year; nothing else is due soon.
    const std::vector<std::pair<std::string, std::int64_t>> expiring = {
        {"next_30_days", 0}, {"next_90_days", 0}, {"next_365_days", 2}};
    EXPECT_EQ(status->expiring, expiring);
    EXPECT_EQ(status->deleted_receipts, 0);
}

TEST_F(ReceiptRetentionTest, ZeroDaysExpiresEverythingNotHeld) {
    Seed(0, 3);
    auto& retention = Make();
    ASSERT_TRUE(Await(retention.PlaceHold("y2", "hold", "", "u")).ok());  // by debate id
    now_.Advance(1ms);  // strictly after the receipts' time
    CleanupRequest all;
    all.retention_days = 0;
    auto run = Await(retention.RunCleanup(all));
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->receipt_ids, (std::vector<std::string>{"rcpt_y1", "rcpt_y3"}));
    EXPECT_TRUE(VerifyChain().ok());
    CleanupRequest negative;
    negative.retention_days = -1;
    EXPECT_EQ(Await(retention.RunCleanup(negative)).error().code, ErrorCode::kValidation);
}

TEST_F(ReceiptRetentionTest, TheRunDeadlineStopsBetweenBatches) {
    Seed(5, 0);
    RetentionOptions options;
    options.batch_size = 2;
    options.run_deadline = 0s;  // the manual clock never moves: due after the first batch
    auto& retention = Make(options);
    auto first = Await(retention.RunCleanup(CleanupRequest{}));
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->receipts_deleted, 2);
    EXPECT_FALSE(first->complete);
    EXPECT_TRUE(VerifyChain().ok());
    ASSERT_EQ(Await(retention.RunCleanup(CleanupRequest{}))->receipts_deleted, 2);
    auto last = Await(retention.RunCleanup(CleanupRequest{}));
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->receipts_deleted, 1);
    EXPECT_TRUE(last->complete);
    EXPECT_EQ(store_->ListReceipts("", 10, 0)->total, 0);
}

TEST_F(ReceiptRetentionTest, ASlotIsRunByTheInstanceThatClaimsItOnly) {
    Seed(2, 0);
    auto& retention = Make();
    const std::string slot = "2027-01-15T00:00:00.000Z";
    auto first = Await(retention.RunScheduledSlot(slot, "inst_a"));
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(first->claimed);
    ASSERT_TRUE(first->result.has_value());
    EXPECT_EQ(first->result->receipts_deleted, 2);
    auto second = Await(retention.RunScheduledSlot(slot, "inst_b"));
    ASSERT_TRUE(second.ok());
    EXPECT_FALSE(second->claimed);
    EXPECT_FALSE(second->result.has_value());
    EXPECT_EQ(Metric("aragora_receipt_cleanup_total"), 1);
}

TEST_F(ReceiptRetentionTest, NothingRunsBeforeTheStoreIsAttached) {
    retention_ = std::make_unique<ReceiptRetention>(RetentionOptions{}, pool_, now_, registry_);
    EXPECT_EQ(Await(retention_->RunCleanup(CleanupRequest{})).error().code,
              ErrorCode::kUnavailable);
    EXPECT_EQ(Await(retention_->GetStatus()).error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(Metric("aragora_receipt_retention_scheduler_running"), 0);
    retention_->SetScheduler(true, "2027-01-16T00:00:00.000Z");
    EXPECT_EQ(Metric("aragora_receipt_retention_scheduler_running"), 1);
}

}  // namespace
}  // namespace aragora::service
