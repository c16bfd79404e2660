#pragma once

// When `serve`'s scheduled jobs run (pure: no clock, no I/O; docs/operations.md).
//
// Every job has slots at `offset + k * period` seconds since the Unix epoch (UTC), k an
// integer, so every instance computes the same slots from the same settings and the
// slot's start names it (ISO 8601) in Store::ClaimScheduledRun:
//   backup, daily (BACKUP_INTERVAL unset): period 1 day, offset BACKUP_DAILY_TIME;
//   backup, BACKUP_INTERVAL=N:             period N s, offset 0;
//   dr_drill:                              period BACKUP_DR_DRILL_INTERVAL_DAYS days,
//                                          offset BACKUP_DAILY_TIME (after the backup of
//                                          the same minute: the scheduler runs due jobs
//                                          in list order).
// A slot may still be started until its starting deadline, min(period / 2, 1 h) after
// its start (a restart at 02:10 still takes the 02:00 backup); later it is missed.

#include <chrono>
#include <string>

#include "config/settings.hpp"

namespace aragora::ops {

using SysTime = std::chrono::system_clock::time_point;

struct SlotRule {
    std::chrono::seconds period{86400};  // > 0
    std::chrono::seconds offset{0};      // taken modulo period
};

SlotRule BackupSlotRule(const config::BackupSettings& settings);
SlotRule DrillSlotRule(const config::BackupSettings& settings);

// The start of the slot `now` falls in: the latest start <= now.
SysTime SlotStartAt(const SlotRule& rule, SysTime now);
// The earliest start > now.
SysTime NextSlotAfter(const SlotRule& rule, SysTime now);
// How long after its start a slot may still be started: min(period / 2, 1 h).
std::chrono::seconds StartingDeadline(const SlotRule& rule);
// The slot's name in scheduled_runs: its start, "2026-12-06T02:00:00.000Z".
std::string SlotName(SysTime start);

}  // namespace aragora::ops
