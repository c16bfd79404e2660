// The receipt retention schedule of `serve` on a manual clock (no sleeps: the scheduler's
// waits advance the clock): the first cleanup after the start delay, then one per UTC slot,
// gauge refreshes in between, and exactly one instance running each slot.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../service/retention_test_support.hpp"
#include "../service/service_test_support.hpp"
#include "app/receipt_retention.hpp"
#include "common/time.hpp"
#include "metrics/registry.hpp"

namespace aragora::app {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::system_clock;

system_clock::time_point At(const char* iso) { return *common::ParseIso8601(iso); }

TEST(RetentionSlotTest, SlotsAreIntervalWindowsFromTheEpochInUtc) {
    EXPECT_EQ(RetentionSlotStart(At("2027-01-15T08:00:00.000Z"), 24h), At("2027-01-15T00:00:00Z"));
    EXPECT_EQ(RetentionSlotStart(At("2027-01-15T00:00:00.000Z"), 24h), At("2027-01-15T00:00:00Z"));
    EXPECT_EQ(RetentionSlotStart(At("2027-01-15T23:59:59.999Z"), 24h), At("2027-01-15T00:00:00Z"));
    EXPECT_EQ(RetentionSlotStart(At("2027-01-15T08:30:00.000Z"), 1h), At("2027-01-15T08:00:00Z"));
    EXPECT_EQ(RetentionSlotStart(At("2027-01-15T08:30:00.000Z"), 6h), At("2027-01-15T06:00:00Z"));
}

TEST(RetentionSlotTest, TheScheduleComesFromTheSettings) {
    config::ReceiptSettings s;
    s.cleanup_first_delay_seconds = 0;
    s.cleanup_interval_hours = 6;
    s.retention_days = 30;
    auto schedule = RetentionScheduleFrom(s, "inst_x");
    EXPECT_EQ(schedule.first_delay, 0s);
    EXPECT_EQ(schedule.interval, 6h);
    EXPECT_EQ(schedule.instance_id, "inst_x");
    EXPECT_EQ(RetentionOptionsFrom(s).retention_days, 30);
    EXPECT_EQ(RetentionOptionsFrom(s).cleanup_interval_hours, 6);
}

class RetentionSchedulerTest : public service::test_support::ServiceTestBase {
protected:
    void SetUp() override {
        store_ = OpenStoreAndStart("scheduler-test-key");
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override { StopAndClean(); }

    // One instance: its own clock (starting at kStart), service and registry over the
    // shared store. Its scheduler stops itself at its `stop_after`-th wait.
    struct Instance {
        common::ManualClock clock{At(kStart)};
        metrics::Registry registry;
        std::unique_ptr<service::ReceiptRetention> retention;
        std::unique_ptr<ReceiptRetentionScheduler> scheduler;
        std::vector<milliseconds> waits;
        std::size_t stop_after = 0;
    };

    std::unique_ptr<Instance> MakeInstance(const std::string& id, std::size_t stop_after) {
        auto in = std::make_unique<Instance>();
        service::RetentionOptions options;
        options.retention_days = 365;
        in->retention =
            std::make_unique<service::ReceiptRetention>(options, pool_, in->clock, in->registry);
        in->retention->AttachStore(store_.get());
        RetentionSchedule schedule;
        schedule.first_delay = 60s;
        schedule.interval = 24h;
        schedule.gauge_refresh = 1h;
        schedule.instance_id = id;
        in->stop_after = stop_after;
        Instance* raw = in.get();
        auto wait = [raw](milliseconds d) -> boost::asio::awaitable<void> {
            raw->waits.push_back(d);
            raw->clock.Advance(d);
            if (raw->waits.size() >= raw->stop_after) raw->scheduler->Stop();
            co_return;
        };
        in->scheduler = std::make_unique<ReceiptRetentionScheduler>(
            ioc_.get_executor(), in->clock, *in->retention, schedule, std::move(wait));
        return in;
    }

    static constexpr const char* kStart = "2027-01-15T08:00:00.000Z";
    std::unique_ptr<storage::Store> store_;
};

TEST_F(RetentionSchedulerTest, FirstRunAfterTheDelayThenOnePerSlot) {
    common::ManualClock old(At("2020-01-01T00:00:00.000Z"));
    service::test_support::AddSignedReceipt(*store_, "d1", old, keys_);
    service::test_support::AddSignedReceipt(*store_, "d2", old, keys_);
    // Expires between the first slot (cutoff 2026-01-15T08:01) and the next (2026-01-16).
    common::ManualClock later(At("2026-01-15T12:00:00.000Z"));
    service::test_support::AddSignedReceipt(*store_, "d3", later, keys_);
    // Held: never deleted.
    service::test_support::AddSignedReceipt(*store_, "d4", old, keys_);
    ASSERT_TRUE(store_->SetLegalHold("rcpt_d4", "hold", "", "u", "2027-01-01T00:00:00.000Z").ok());

    // Waits: 60 s; 15 × 1 h of gauge refreshes (08:01 → 23:01); 59 min to midnight, where
    // the second slot runs; the 18th wait stops it.
    auto a = MakeInstance("inst_a", 18);
    Await(a->scheduler->Run());
    ASSERT_EQ(a->waits.size(), 18u);
    EXPECT_EQ(a->waits[0], 60s);
    for (std::size_t i = 1; i <= 15; ++i) EXPECT_EQ(a->waits[i], 1h) << i;
    EXPECT_EQ(a->waits[16], 59min);
    EXPECT_EQ(a->scheduler->slots_run(), 2);
    EXPECT_EQ(a->scheduler->slots_skipped(), 0);

    auto stats = a->retention->Stats();
    EXPECT_EQ(stats.total_runs, 2);
    EXPECT_EQ(stats.total_receipts_deleted, 3);
    ASSERT_TRUE(stats.last_result.has_value());
    EXPECT_EQ(stats.last_result->receipt_ids, (std::vector<std::string>{"rcpt_d3"}));
    EXPECT_EQ(stats.last_result->started_at, "2027-01-16T00:00:00.000Z");
    EXPECT_TRUE(store_->GetReceipt("rcpt_d4").ok());
    auto report = service::VerifyStoredChain(*store_, keys_);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok());
    EXPECT_EQ(report->tombstones, 3);
    EXPECT_EQ(report->verified, 1);
}

TEST_F(RetentionSchedulerTest, ASecondInstanceNeverRunsASlotTheFirstTook) {
    common::ManualClock old(At("2020-01-01T00:00:00.000Z"));
    service::test_support::AddSignedReceipt(*store_, "d1", old, keys_);
    auto a = MakeInstance("inst_a", 18);
    Await(a->scheduler->Run());
    EXPECT_EQ(a->scheduler->slots_run(), 2);

    // Instance b lives through the same two slots (a second server, or a restart).
    auto b = MakeInstance("inst_b", 18);
    Await(b->scheduler->Run());
    EXPECT_EQ(b->waits, a->waits);
    EXPECT_EQ(b->scheduler->slots_run(), 0);
    EXPECT_EQ(b->scheduler->slots_skipped(), 2);
    EXPECT_EQ(b->retention->Stats().total_runs, 0);
    EXPECT_EQ(a->retention->Stats().total_receipts_deleted, 1);
}

}  // namespace
}  // namespace aragora::app
