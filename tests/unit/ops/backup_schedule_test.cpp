// The slot rule of serve's scheduled jobs: slots at offset + k * period from the epoch
// (UTC), named by their start, with a starting deadline of min(period / 2, 1 h).

#include "ops/backup_schedule.hpp"

#include <gtest/gtest.h>

#include "common/time.hpp"

namespace aragora::ops {
namespace {

SysTime At(const char* iso) {
    auto t = common::ParseIso8601(iso);
    EXPECT_TRUE(t.has_value()) << iso;
    return t.value_or(SysTime{});
}

std::string Name(SysTime t) { return SlotName(t); }

config::BackupSettings Daily(int hour, int minute) {
    config::BackupSettings s;
    s.daily_minute_of_day = hour * 60 + minute;
    return s;
}

TEST(BackupScheduleTest, DailyAtTheConfiguredUtcTime) {
    const SlotRule rule = BackupSlotRule(Daily(2, 0));
    EXPECT_EQ(rule.period, std::chrono::hours(24));
    EXPECT_EQ(Name(SlotStartAt(rule, At("2026-12-06T01:59:59.999Z"))), "2026-12-05T02:00:00.000Z");
    EXPECT_EQ(Name(SlotStartAt(rule, At("2026-12-06T02:00:00.000Z"))), "2026-12-06T02:00:00.000Z");
    EXPECT_EQ(Name(SlotStartAt(rule, At("2026-12-06T23:59:00.000Z"))), "2026-12-06T02:00:00.000Z");
    EXPECT_EQ(Name(NextSlotAfter(rule, At("2026-12-06T01:59:59.000Z"))),
              "2026-12-06T02:00:00.000Z");
    // Exactly at a start, the next slot is the following day's.
    EXPECT_EQ(Name(NextSlotAfter(rule, At("2026-12-06T02:00:00.000Z"))),
              "2026-12-07T02:00:00.000Z");
    // Across a month and a year end.
    EXPECT_EQ(Name(NextSlotAfter(BackupSlotRule(Daily(23, 45)), At("2026-12-31T23:50:00.000Z"))),
              "2027-01-01T23:45:00.000Z");
    EXPECT_EQ(Name(SlotStartAt(BackupSlotRule(Daily(0, 0)), At("2027-03-01T00:00:00.001Z"))),
              "2027-03-01T00:00:00.000Z");
}

TEST(BackupScheduleTest, IntervalSlotsCountFromTheEpoch) {
    config::BackupSettings s = Daily(2, 0);
    s.interval_seconds = 60;
    const SlotRule minute = BackupSlotRule(s);
    EXPECT_EQ(minute.period, std::chrono::seconds(60));
    EXPECT_EQ(Name(SlotStartAt(minute, At("2026-12-06T10:17:42.500Z"))),
              "2026-12-06T10:17:00.000Z");
    EXPECT_EQ(Name(NextSlotAfter(minute, At("2026-12-06T10:17:42.500Z"))),
              "2026-12-06T10:18:00.000Z");
    // BACKUP_DAILY_TIME does not shift interval slots.
    s.interval_seconds = 7 * 3600;
    const SlotRule seven_hours = BackupSlotRule(s);
    const SysTime start = SlotStartAt(seven_hours, At("2026-12-06T10:00:00.000Z"));
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch()).count() %
                  (7 * 3600),
              0);
    EXPECT_LE(start, At("2026-12-06T10:00:00.000Z"));
    EXPECT_GT(start + std::chrono::hours(7), At("2026-12-06T10:00:00.000Z"));
}

TEST(BackupScheduleTest, DrillsEveryNDaysAtTheDailyTime) {
    config::BackupSettings s = Daily(3, 30);
    s.dr_drill_interval_days = 30;
    const SlotRule rule = DrillSlotRule(s);
    EXPECT_EQ(rule.period, std::chrono::hours(24 * 30));
    const SysTime start = SlotStartAt(rule, At("2026-12-06T12:00:00.000Z"));
    const SysTime next = NextSlotAfter(rule, At("2026-12-06T12:00:00.000Z"));
    EXPECT_EQ(next - start, std::chrono::hours(24 * 30));
    // At 03:30 UTC on a day whose number since the epoch is a multiple of 30.
    const auto since = std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch());
    EXPECT_EQ(since.count() % 86400, 3 * 3600 + 30 * 60);
    EXPECT_EQ((since.count() / 86400) % 30, 0);
    // The interval setting does not change drills.
    s.interval_seconds = 60;
    EXPECT_EQ(DrillSlotRule(s).period, std::chrono::hours(24 * 30));
}

TEST(BackupScheduleTest, StartingDeadline) {
    EXPECT_EQ(StartingDeadline(BackupSlotRule(Daily(2, 0))), std::chrono::hours(1));
    config::BackupSettings s;
    s.interval_seconds = 60;
    EXPECT_EQ(StartingDeadline(BackupSlotRule(s)), std::chrono::seconds(30));
    s.interval_seconds = 1800;
    EXPECT_EQ(StartingDeadline(BackupSlotRule(s)), std::chrono::minutes(15));
}

TEST(BackupScheduleTest, OffsetLargerThanPeriodWraps) {
    const SlotRule rule{std::chrono::seconds(60), std::chrono::seconds(90)};
    EXPECT_EQ(Name(SlotStartAt(rule, At("2026-12-06T10:17:42.000Z"))), "2026-12-06T10:17:30.000Z");
}

}  // namespace
}  // namespace aragora::ops
