#pragma once

// Backup retention on the UTC calendar: ONE pure function decides which backups a cleanup
// keeps and which it deletes, so the preview (`aragora backup cleanup --dry-run`,
// POST /api/v2/backups/cleanup with dry_run) and the real deletion can never disagree
// (the original had two algorithms that did).
//
// The rule, for `now` (UTC days, ISO-8601 weeks starting on Monday, calendar months):
//  - candidates are backups with status completed or verified;
//  - failed and expired backups are deleted; pending and in_progress ones are kept
//    (never touched: a backup being written is not the cleanup's to remove);
//  - candidates dated after `now` (clock skew) are kept ("future") and take no slot;
//  - of the others, keep the newest candidate of each of the last keep_daily calendar
//    days (today included), of each of the last keep_weekly ISO weeks (this week
//    included; a week is identified by its Monday, so the week-53 / year boundary needs no
//    special case), and of each of the last keep_monthly calendar months (this month
//    included);
//  - if fewer than min_backups candidates are kept (future ones count), also keep the
//    newest remaining candidates until min_backups are kept;
//  - every other candidate is deleted.
// "Newest" orders by created_at, then by id (the greater id is the newer on a tie), so
// the result does not depend on the input order. Ids are assumed unique. A negative
// policy count is taken as 0.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "ops/backup_status.hpp"

namespace aragora::ops {

struct RetentionPolicy {
    int keep_daily = 7;
    int keep_weekly = 4;
    int keep_monthly = 3;
    int min_backups = 1;
};

// The policy config::BackupSettings describes (keep_daily, keep_weekly, keep_monthly,
// min_backups).
RetentionPolicy RetentionPolicyFrom(const config::BackupSettings& settings);

struct RetentionEntry {
    std::string id;
    std::chrono::system_clock::time_point created_at;
    BackupStatus status = BackupStatus::kCompleted;
};

// Why a backup is kept (the first six) or deleted (the last three).
enum class RetentionReason {
    kDaily,
    kWeekly,
    kMonthly,
    kMinBackups,
    kFuture,
    kInProgress,  // pending or in_progress
    kOutsidePolicy,
    kFailed,
    kExpired,
};

// "daily", "weekly", "monthly", "min_backups", "future", "in_progress",
// "outside_policy", "failed", "expired".
std::string_view ToString(RetentionReason reason);

struct RetentionDecision {
    std::string id;
    std::chrono::system_clock::time_point created_at;
    BackupStatus status = BackupStatus::kCompleted;
    // Kept: every rule that keeps it, in enum order (the newest backup of today is
    // daily, weekly and monthly at once). Deleted: exactly one reason.
    std::vector<RetentionReason> reasons;
};

struct RetentionPlan {
    std::vector<RetentionDecision> keep;    // newest first
    std::vector<RetentionDecision> remove;  // newest first
};

// Pure and deterministic: the same backups (in any order), policy and `now` give the
// same plan. Every input entry lands in exactly one of keep / remove.
RetentionPlan PlanRetention(const std::vector<RetentionEntry>& backups,
                            const RetentionPolicy& policy,
                            std::chrono::system_clock::time_point now);

// The reasons joined by ',' ("daily,weekly,monthly").
std::string ReasonsText(const RetentionDecision& decision);

}  // namespace aragora::ops
