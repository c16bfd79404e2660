#include "ops/retention.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace aragora::ops {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::system_clock;

// The Monday that starts the ISO-8601 week holding `day`.
sys_days MondayOf(sys_days day) {
    const unsigned since_monday = (std::chrono::weekday(day).c_encoding() + 6) % 7;
    return day - days(since_monday);
}

// Months since year 0, so consecutive months differ by one across a year boundary.
long MonthIndex(sys_days day) {
    const std::chrono::year_month_day ymd(day);
    return static_cast<long>(static_cast<int>(ymd.year())) * 12 +
           static_cast<long>(static_cast<unsigned>(ymd.month())) - 1;
}

bool Newer(const RetentionEntry& a, const RetentionEntry& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
}

RetentionDecision Decide(const RetentionEntry& e, std::vector<RetentionReason> reasons) {
    return RetentionDecision{e.id, e.created_at, e.status, std::move(reasons)};
}

}  // namespace

RetentionPolicy RetentionPolicyFrom(const config::BackupSettings& settings) {
    return RetentionPolicy{settings.keep_daily, settings.keep_weekly, settings.keep_monthly,
                           settings.min_backups};
}

std::string_view ToString(RetentionReason reason) {
    switch (reason) {
        case RetentionReason::kDaily:
            return "daily";
        case RetentionReason::kWeekly:
            return "weekly";
        case RetentionReason::kMonthly:
            return "monthly";
        case RetentionReason::kMinBackups:
            return "min_backups";
        case RetentionReason::kFuture:
            return "future";
        case RetentionReason::kInProgress:
            return "in_progress";
        case RetentionReason::kOutsidePolicy:
            return "outside_policy";
        case RetentionReason::kFailed:
            return "failed";
        case RetentionReason::kExpired:
            return "expired";
    }
    return "outside_policy";
}

std::string ReasonsText(const RetentionDecision& decision) {
    std::string out;
    for (RetentionReason r : decision.reasons) {
        if (!out.empty()) out += ',';
        out += ToString(r);
    }
    return out;
}

RetentionPlan PlanRetention(const std::vector<RetentionEntry>& backups,
                            const RetentionPolicy& policy, system_clock::time_point now) {
    std::vector<const RetentionEntry*> sorted;
    sorted.reserve(backups.size());
    for (const auto& b : backups) sorted.push_back(&b);
    std::sort(sorted.begin(), sorted.end(),
              [](const RetentionEntry* a, const RetentionEntry* b) { return Newer(*a, *b); });

    const long keep_daily = std::max(policy.keep_daily, 0);
    const long keep_weekly = std::max(policy.keep_weekly, 0);
    const long keep_monthly = std::max(policy.keep_monthly, 0);
    const std::size_t min_backups = static_cast<std::size_t>(std::max(policy.min_backups, 0));

    const sys_days today = std::chrono::floor<days>(now);
    const sys_days this_monday = MondayOf(today);
    const long this_month = MonthIndex(today);

    // Walking newest first, the first candidate met in a day / week / month is its newest.
    std::set<sys_days> days_taken, weeks_taken;
    std::set<long> months_taken;
    std::vector<std::vector<RetentionReason>> reasons(sorted.size());
    std::vector<bool> keep(sorted.size(), false), candidate(sorted.size(), false);
    std::size_t kept_candidates = 0;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        const RetentionEntry& e = *sorted[i];
        switch (e.status) {
            case BackupStatus::kFailed:
                reasons[i] = {RetentionReason::kFailed};
                continue;
            case BackupStatus::kExpired:
                reasons[i] = {RetentionReason::kExpired};
                continue;
            case BackupStatus::kPending:
            case BackupStatus::kInProgress:
                keep[i] = true;
                reasons[i] = {RetentionReason::kInProgress};
                continue;
            case BackupStatus::kCompleted:
            case BackupStatus::kVerified:
                break;
        }
        candidate[i] = true;
        if (e.created_at > now) {
            keep[i] = true;
            reasons[i] = {RetentionReason::kFuture};
            ++kept_candidates;
            continue;
        }
        const sys_days day = std::chrono::floor<days>(e.created_at);
        const sys_days monday = MondayOf(day);
        const long month = MonthIndex(day);
        if ((today - day).count() < keep_daily && days_taken.insert(day).second) {
            reasons[i].push_back(RetentionReason::kDaily);
        }
        if ((this_monday - monday).count() / 7 < keep_weekly && weeks_taken.insert(monday).second) {
            reasons[i].push_back(RetentionReason::kWeekly);
        }
        if (this_month - month < keep_monthly && months_taken.insert(month).second) {
            reasons[i].push_back(RetentionReason::kMonthly);
        }
        if (!reasons[i].empty()) {
            keep[i] = true;
            ++kept_candidates;
        }
    }
    for (std::size_t i = 0; i < sorted.size() && kept_candidates < min_backups; ++i) {
        if (candidate[i] && !keep[i]) {
            keep[i] = true;
            reasons[i] = {RetentionReason::kMinBackups};
            ++kept_candidates;
        }
    }

    RetentionPlan plan;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (keep[i]) {
            plan.keep.push_back(Decide(*sorted[i], std::move(reasons[i])));
        } else {
            if (reasons[i].empty()) reasons[i] = {RetentionReason::kOutsidePolicy};
            plan.remove.push_back(Decide(*sorted[i], std::move(reasons[i])));
        }
    }
    return plan;
}

}  // namespace aragora::ops
