#include "ops/backup_schedule.hpp"

#include <algorithm>

#include "common/time.hpp"

namespace aragora::ops {
namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

constexpr seconds kDay{86400};

seconds Period(const SlotRule& rule) { return std::max(rule.period, seconds{1}); }

seconds Offset(const SlotRule& rule) {
    const auto p = Period(rule).count();
    return seconds{((rule.offset.count() % p) + p) % p};
}

// Floor division (times before the epoch round down too).
std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

}  // namespace

SlotRule BackupSlotRule(const config::BackupSettings& s) {
    if (s.interval_seconds > 0) return {seconds{s.interval_seconds}, seconds{0}};
    return {kDay, seconds{s.daily_minute_of_day * 60}};
}

SlotRule DrillSlotRule(const config::BackupSettings& s) {
    return {kDay * std::max(1, s.dr_drill_interval_days), seconds{s.daily_minute_of_day * 60}};
}

SysTime SlotStartAt(const SlotRule& rule, SysTime now) {
    const auto period = Period(rule);
    const auto offset = Offset(rule);
    // Whole nanoseconds since the epoch, shifted so that slots start at multiples of period.
    const auto since = now.time_since_epoch() - offset;
    const auto period_ns = duration_cast<std::chrono::nanoseconds>(period).count();
    const auto k = FloorDiv(duration_cast<std::chrono::nanoseconds>(since).count(), period_ns);
    return SysTime(duration_cast<SysTime::duration>(offset + period * k));
}

SysTime NextSlotAfter(const SlotRule& rule, SysTime now) {
    return SlotStartAt(rule, now) + Period(rule);
}

seconds StartingDeadline(const SlotRule& rule) { return std::min(Period(rule) / 2, seconds{3600}); }

std::string SlotName(SysTime start) { return common::FormatIso8601(start); }

}  // namespace aragora::ops
