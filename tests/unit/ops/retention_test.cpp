#include "ops/retention.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace aragora::ops {
namespace {

using std::chrono::system_clock;
using TimePoint = system_clock::time_point;
using R = RetentionReason;

TimePoint Utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
    return std::chrono::sys_days{std::chrono::year{y} / m / d} + std::chrono::hours(hh) +
           std::chrono::minutes(mm) + std::chrono::seconds(ss);
}

RetentionEntry Entry(std::string id, TimePoint t, BackupStatus s = BackupStatus::kCompleted) {
    return RetentionEntry{std::move(id), t, s};
}

std::vector<std::string> Ids(const std::vector<RetentionDecision>& ds) {
    std::vector<std::string> out;
    for (const auto& d : ds) out.push_back(d.id);
    return out;
}

std::map<std::string, std::vector<R>> Reasons(const std::vector<RetentionDecision>& ds) {
    std::map<std::string, std::vector<R>> out;
    for (const auto& d : ds) out[d.id] = d.reasons;
    return out;
}

// ---------------------------------------------------------------------------------------
// An independent oracle: the calendar rule written out by brute force with the C library's
// gmtime_r and the ISO-8601 week-number formula, not with std::chrono's calendar types.

struct CivilDate {
    int year, month, day;  // month 1-12
    int yday;              // 1-366
    int iso_wday;          // Monday = 1 .. Sunday = 7
};

CivilDate Civil(TimePoint t) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
    std::time_t tt = static_cast<std::time_t>(secs.count());
    if (std::chrono::seconds(tt) > secs) --tt;  // floor for sub-second negative times
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return CivilDate{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_yday + 1,
                     tm.tm_wday == 0 ? 7 : tm.tm_wday};
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// ISO weeks in year y: 53 when 1 January is a Thursday, or a Wednesday in a leap year.
int IsoWeeksIn(int y) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mday = 1;
    const std::time_t jan1 = timegm(&tm);
    std::tm out{};
    gmtime_r(&jan1, &out);
    return (out.tm_wday == 4 || (IsLeap(y) && out.tm_wday == 3)) ? 53 : 52;
}

std::pair<int, int> IsoWeek(TimePoint t) {
    const CivilDate c = Civil(t);
    int week = (c.yday - c.iso_wday + 10) / 7;
    if (week < 1) return {c.year - 1, IsoWeeksIn(c.year - 1)};
    if (week > IsoWeeksIn(c.year)) return {c.year + 1, 1};
    return {c.year, week};
}

std::tuple<int, int, int> DayKey(TimePoint t) {
    const CivilDate c = Civil(t);
    return {c.year, c.month, c.day};
}

std::pair<int, int> MonthKey(TimePoint t) {
    const CivilDate c = Civil(t);
    return {c.year, c.month};
}

std::map<std::string, std::vector<R>> OracleKept(const std::vector<RetentionEntry>& all,
                                                 const RetentionPolicy& p, TimePoint now) {
    std::map<std::string, std::vector<R>> kept;
    std::vector<RetentionEntry> past;
    int kept_candidates = 0;
    for (const auto& e : all) {
        const bool candidate =
            e.status == BackupStatus::kCompleted || e.status == BackupStatus::kVerified;
        if (e.status == BackupStatus::kPending || e.status == BackupStatus::kInProgress) {
            kept[e.id] = {R::kInProgress};
        } else if (candidate && e.created_at > now) {
            kept[e.id] = {R::kFuture};
            ++kept_candidates;
        } else if (candidate) {
            past.push_back(e);
        }
    }
    auto newest_where = [&](auto pred) -> const RetentionEntry* {
        const RetentionEntry* best = nullptr;
        for (const auto& e : past) {
            if (!pred(e)) continue;
            if (!best || std::tie(e.created_at, e.id) > std::tie(best->created_at, best->id)) {
                best = &e;
            }
        }
        return best;
    };
    const auto one_day = std::chrono::hours(24);
    std::map<std::string, std::vector<R>> bucket;
    for (int k = 0; k < p.keep_daily; ++k) {
        const auto key = DayKey(now - k * one_day);
        if (auto* b =
                newest_where([&](const RetentionEntry& e) { return DayKey(e.created_at) == key; }))
            bucket[b->id].push_back(R::kDaily);
    }
    for (int k = 0; k < p.keep_weekly; ++k) {
        const auto key = IsoWeek(now - k * 7 * one_day);
        if (auto* b =
                newest_where([&](const RetentionEntry& e) { return IsoWeek(e.created_at) == key; }))
            bucket[b->id].push_back(R::kWeekly);
    }
    auto [year, month] = MonthKey(now);
    for (int k = 0; k < p.keep_monthly; ++k) {
        const std::pair<int, int> key{year, month};
        if (auto* b = newest_where(
                [&](const RetentionEntry& e) { return MonthKey(e.created_at) == key; }))
            bucket[b->id].push_back(R::kMonthly);
        if (--month == 0) {
            month = 12;
            --year;
        }
    }
    for (auto& [id, reasons] : bucket) {
        kept[id] = reasons;
        ++kept_candidates;
    }
    std::sort(past.begin(), past.end(), [](const RetentionEntry& a, const RetentionEntry& b) {
        return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
    });
    for (const auto& e : past) {
        if (kept_candidates >= p.min_backups) break;
        if (kept.count(e.id)) continue;
        kept[e.id] = {R::kMinBackups};
        ++kept_candidates;
    }
    return kept;
}

// ---------------------------------------------------------------------------------------

void ExpectPlansEqual(const RetentionPlan& a, const RetentionPlan& b) {
    EXPECT_EQ(Ids(a.keep), Ids(b.keep));
    EXPECT_EQ(Ids(a.remove), Ids(b.remove));
    EXPECT_EQ(Reasons(a.keep), Reasons(b.keep));
    EXPECT_EQ(Reasons(a.remove), Reasons(b.remove));
}

struct SimulationCase {
    RetentionPolicy policy;
    unsigned seed;
};

class RetentionSimulationTest : public ::testing::TestWithParam<SimulationCase> {};

// 400 days (2026-03-02 .. 2027-04-05: every month end, the ISO week 2026-W53 across the
// new year, February), 0-3 backups a day at random times with random outcomes, cleanup
// applied once a day to what survived. Every day the plan equals the oracle, the preview
// equals the deletion, and a second run deletes nothing more.
TEST_P(RetentionSimulationTest, FourHundredDaysMatchTheCalendarRuleEveryDay) {
    const auto [policy, seed] = GetParam();
    std::mt19937 rng(seed);
    auto uniform = [&rng](int lo, int hi) {
        return std::uniform_int_distribution<int>(lo, hi)(rng);
    };
    std::vector<RetentionEntry> survivors;
    std::vector<RetentionEntry> history;  // every backup ever made, statuses kept current
    int next_id = 0;
    std::size_t total_deleted = 0, max_kept = 0;
    std::set<R> reasons_seen;
    const TimePoint start = Utc(2026, 3, 2);
    for (int day = 0; day < 400; ++day) {
        const TimePoint midnight = start + std::chrono::hours(24 * day);
        const TimePoint now = midnight + std::chrono::seconds(uniform(3600, 86399));
        const std::string date = [&] {
            const auto c = Civil(now);
            return std::to_string(c.year) + "-" + std::to_string(c.month) + "-" +
                   std::to_string(c.day);
        }();
        SCOPED_TRACE("day " + std::to_string(day) + " (" + date + ")");

        // Yesterday's unfinished backups have finished by now.
        for (auto* set : {&survivors, &history}) {
            for (auto& e : *set) {
                if (e.status == BackupStatus::kPending || e.status == BackupStatus::kInProgress) {
                    const int id = std::stoi(e.id.substr(1));
                    e.status = id % 3 == 0 ? BackupStatus::kFailed : BackupStatus::kCompleted;
                }
            }
        }
        const int count = uniform(0, 3);
        for (int i = 0; i < count; ++i) {
            const int roll = uniform(0, 99);
            const auto span = std::chrono::duration_cast<std::chrono::seconds>(now - midnight);
            TimePoint at =
                midnight + std::chrono::seconds(uniform(0, static_cast<int>(span.count())));
            if (roll < 3) at = now + std::chrono::minutes(uniform(1, 180));  // clock skew
            BackupStatus status = BackupStatus::kCompleted;
            if (roll >= 60 && roll < 80) status = BackupStatus::kVerified;
            if (roll >= 80 && roll < 88) status = BackupStatus::kFailed;
            if (roll >= 88 && roll < 91) status = BackupStatus::kExpired;
            if (roll >= 91 && roll < 95) status = BackupStatus::kInProgress;
            if (roll >= 95) status = BackupStatus::kPending;
            char id[16];
            std::snprintf(id, sizeof id, "b%05d", next_id++);
            survivors.push_back(Entry(id, at, status));
            history.push_back(survivors.back());
        }
        // An occasional exact tie on created_at, broken by id.
        if (count > 0 && uniform(0, 19) == 0) {
            RetentionEntry twin = survivors.back();
            twin.id = "b" + std::to_string(next_id++) + "-twin";
            survivors.push_back(twin);
            history.push_back(twin);
        }

        // Preview (dry run) on the list in one order, the real run on it shuffled.
        const RetentionPlan preview = PlanRetention(survivors, policy, now);
        std::vector<RetentionEntry> shuffled = survivors;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        const RetentionPlan plan = PlanRetention(shuffled, policy, now);
        ExpectPlansEqual(preview, plan);
        ASSERT_EQ(plan.keep.size() + plan.remove.size(), survivors.size());

        const auto expected = OracleKept(survivors, policy, now);
        ASSERT_EQ(Reasons(plan.keep), expected);
        for (const auto& d : plan.remove) {
            ASSERT_EQ(d.reasons.size(), 1u);
            const R want = d.status == BackupStatus::kFailed    ? R::kFailed
                           : d.status == BackupStatus::kExpired ? R::kExpired
                                                                : R::kOutsidePolicy;
            EXPECT_EQ(d.reasons[0], want) << d.id;
        }
        for (const auto& d : plan.keep) reasons_seen.insert(d.reasons.begin(), d.reasons.end());
        for (const auto& d : plan.remove) reasons_seen.insert(d.reasons.begin(), d.reasons.end());

        // The calendar buckets hold the newest backup ever made in them, not merely the
        // newest survivor: no earlier cleanup deleted a backup the rule keeps today.
        auto bucket_only = [](std::map<std::string, std::vector<R>> m) {
            for (auto it = m.begin(); it != m.end();) {
                auto& r = it->second;
                r.erase(
                    std::remove_if(
                        r.begin(), r.end(),
                        [](R x) { return x != R::kDaily && x != R::kWeekly && x != R::kMonthly; }),
                    r.end());
                it = r.empty() ? m.erase(it) : std::next(it);
            }
            return m;
        };
        EXPECT_EQ(bucket_only(Reasons(plan.keep)), bucket_only(OracleKept(history, policy, now)));

        // The deletion: what it leaves is what the preview said it keeps.
        std::set<std::string> doomed;
        for (const auto& d : plan.remove) doomed.insert(d.id);
        std::erase_if(survivors, [&](const RetentionEntry& e) { return doomed.count(e.id) > 0; });
        total_deleted += doomed.size();
        std::vector<std::string> left;
        for (const auto& e : survivors) left.push_back(e.id);
        std::vector<std::string> previewed = Ids(preview.keep);
        std::sort(left.begin(), left.end());
        std::sort(previewed.begin(), previewed.end());
        ASSERT_EQ(left, previewed);
        max_kept = std::max(max_kept, survivors.size());

        // Idempotent: a second cleanup at the same moment deletes nothing.
        const RetentionPlan again = PlanRetention(survivors, policy, now);
        EXPECT_TRUE(again.remove.empty());
        ExpectPlansEqual(again, RetentionPlan{plan.keep, {}});
    }
    // The run exercised what it claims to.
    EXPECT_GT(total_deleted, 300u);
    EXPECT_LE(max_kept, static_cast<std::size_t>(policy.keep_daily + policy.keep_weekly +
                                                 policy.keep_monthly + policy.min_backups + 8));
    for (R r : {R::kFuture, R::kInProgress, R::kOutsidePolicy, R::kFailed, R::kExpired}) {
        EXPECT_TRUE(reasons_seen.count(r)) << ToString(r);
    }
    EXPECT_EQ(reasons_seen.count(R::kDaily) > 0, policy.keep_daily > 0);
    EXPECT_EQ(reasons_seen.count(R::kWeekly) > 0, policy.keep_weekly > 0);
    EXPECT_EQ(reasons_seen.count(R::kMonthly) > 0, policy.keep_monthly > 0);
    if (policy.min_backups > policy.keep_daily + policy.keep_weekly + policy.keep_monthly) {
        EXPECT_TRUE(reasons_seen.count(R::kMinBackups));
    }
}

INSTANTIATE_TEST_SUITE_P(Policies, RetentionSimulationTest,
                         ::testing::Values(SimulationCase{RetentionPolicy{}, 20261228},
                                           SimulationCase{RetentionPolicy{3, 2, 5, 12}, 7},
                                           SimulationCase{RetentionPolicy{1, 0, 0, 0}, 42}),
                         [](const ::testing::TestParamInfo<SimulationCase>& info) {
                             const RetentionPolicy& p = info.param.policy;
                             return "d" + std::to_string(p.keep_daily) + "w" +
                                    std::to_string(p.keep_weekly) + "m" +
                                    std::to_string(p.keep_monthly) + "min" +
                                    std::to_string(p.min_backups);
                         });

// ---------------------------------------------------------------------------------------

RetentionPolicy Only(int daily, int weekly, int monthly, int min_backups = 0) {
    return RetentionPolicy{daily, weekly, monthly, min_backups};
}

TEST(RetentionTest, IsoWeek53SpansTheNewYear) {
    // 2026-12-28 (Monday) .. 2027-01-03 (Sunday) is 2026-W53.
    const std::vector<RetentionEntry> backups = {
        Entry("w51", Utc(2026, 12, 20, 12)),
        Entry("w52-old", Utc(2026, 12, 26, 9)),
        Entry("w52-sun", Utc(2026, 12, 27, 23, 59, 59)),
        Entry("w53-mon", Utc(2026, 12, 28, 0)),
        Entry("w53-dec31", Utc(2026, 12, 31, 9)),
        Entry("w53-jan1", Utc(2027, 1, 1, 8)),
    };
    const auto sat = PlanRetention(backups, Only(0, 2, 0), Utc(2027, 1, 2, 12));
    EXPECT_EQ(Ids(sat.keep), (std::vector<std::string>{"w53-jan1", "w52-sun"}));
    EXPECT_EQ(Ids(sat.remove),
              (std::vector<std::string>{"w53-dec31", "w53-mon", "w52-old", "w51"}));
    // Sunday 2027-01-03 23:59 is still W53; Monday 2027-01-04 starts 2027-W01, so W53 is
    // now "last week" and W52 drops out of two weeks.
    const auto sun = PlanRetention(backups, Only(0, 2, 0), Utc(2027, 1, 3, 23, 59));
    EXPECT_EQ(Ids(sun.keep), (std::vector<std::string>{"w53-jan1", "w52-sun"}));
    const auto mon = PlanRetention(backups, Only(0, 2, 0), Utc(2027, 1, 4, 0, 0, 1));
    EXPECT_EQ(Ids(mon.keep), (std::vector<std::string>{"w53-jan1"}));
    EXPECT_EQ(Reasons(mon.keep).at("w53-jan1"), (std::vector<R>{R::kWeekly}));
}

TEST(RetentionTest, MonthsAndDaysFollowTheCalendarNotAges) {
    const std::vector<RetentionEntry> backups = {
        Entry("mar-01", Utc(2027, 3, 1, 0, 10)),
        Entry("feb-28-late", Utc(2027, 2, 28, 23, 59, 59) + std::chrono::milliseconds(999)),
        Entry("feb-28", Utc(2027, 2, 28, 10)),
        Entry("feb-27", Utc(2027, 2, 27, 23, 59)),
        Entry("jan-31", Utc(2027, 1, 31, 23, 59, 59)),
        Entry("dec-31", Utc(2026, 12, 31, 12)),
    };
    const TimePoint now = Utc(2027, 3, 1, 0, 30);
    const auto months = PlanRetention(backups, Only(0, 0, 3), now);
    EXPECT_EQ(Ids(months.keep), (std::vector<std::string>{"mar-01", "feb-28-late", "jan-31"}));
    EXPECT_EQ(Ids(months.remove), (std::vector<std::string>{"feb-28", "feb-27", "dec-31"}));
    // 20 minutes and 31 minutes old, on different calendar days: both are daily keeps.
    const auto days = PlanRetention(backups, Only(2, 0, 0), now);
    EXPECT_EQ(Ids(days.keep), (std::vector<std::string>{"mar-01", "feb-28-late"}));
    // A 30-day month: 2027-04-30 and 2027-05-01 are one day apart.
    const auto apr = PlanRetention(
        {Entry("apr-30", Utc(2027, 4, 30, 23)), Entry("apr-29", Utc(2027, 4, 29, 23))},
        Only(2, 0, 0), Utc(2027, 5, 1, 1));
    EXPECT_EQ(Ids(apr.keep), (std::vector<std::string>{"apr-30"}));
}

TEST(RetentionTest, NewestBackupOfTodayIsKeptForEveryRuleAtOnce) {
    const TimePoint now = Utc(2027, 6, 16, 12);
    const auto plan =
        PlanRetention({Entry("a", Utc(2027, 6, 16, 1)), Entry("b", Utc(2027, 6, 16, 2)),
                       Entry("c", Utc(2027, 6, 14, 2))},
                      RetentionPolicy{}, now);
    const auto reasons = Reasons(plan.keep);
    EXPECT_EQ(reasons.at("b"), (std::vector<R>{R::kDaily, R::kWeekly, R::kMonthly}));
    EXPECT_EQ(reasons.at("c"), (std::vector<R>{R::kDaily}));
    EXPECT_EQ(ReasonsText(plan.keep.front()), "daily,weekly,monthly");
    EXPECT_EQ(Ids(plan.remove), (std::vector<std::string>{"a"}));
    EXPECT_EQ(ToString(plan.remove[0].reasons[0]), "outside_policy");
}

TEST(RetentionTest, MinBackupsKeepsTheNewestWhenEveryBackupIsOld) {
    std::vector<RetentionEntry> old;
    for (unsigned m = 1; m <= 5; ++m)
        old.push_back(Entry("m" + std::to_string(m), Utc(2026, m, 10)));
    const auto plan = PlanRetention(old, RetentionPolicy{7, 4, 3, 3}, Utc(2027, 6, 1));
    EXPECT_EQ(Ids(plan.keep), (std::vector<std::string>{"m5", "m4", "m3"}));
    for (const auto& d : plan.keep) EXPECT_EQ(d.reasons, (std::vector<R>{R::kMinBackups}));
    EXPECT_EQ(Ids(plan.remove), (std::vector<std::string>{"m2", "m1"}));
    // Calendar keeps count towards min_backups; failed, expired and running ones do not.
    const auto mixed =
        PlanRetention({Entry("today", Utc(2027, 6, 1, 1)),
                       Entry("running", Utc(2027, 6, 1, 2), BackupStatus::kInProgress),
                       Entry("bad", Utc(2026, 12, 1), BackupStatus::kFailed),
                       Entry("old1", Utc(2026, 11, 1)), Entry("old2", Utc(2026, 10, 1))},
                      RetentionPolicy{7, 4, 3, 2}, Utc(2027, 6, 1, 3));
    EXPECT_EQ(Ids(mixed.keep), (std::vector<std::string>{"running", "today", "old1"}));
    EXPECT_EQ(Reasons(mixed.keep).at("old1"), (std::vector<R>{R::kMinBackups}));
    EXPECT_EQ(Ids(mixed.remove), (std::vector<std::string>{"bad", "old2"}));
}

TEST(RetentionTest, FailedAndExpiredGoRunningOnesStayAndNeitherTakesASlot) {
    const TimePoint now = Utc(2027, 6, 16, 12);
    const auto plan =
        PlanRetention({Entry("ok", Utc(2027, 6, 16, 1)),
                       Entry("failed", Utc(2027, 6, 16, 2), BackupStatus::kFailed),
                       Entry("expired", Utc(2027, 6, 16, 3), BackupStatus::kExpired),
                       Entry("pending", Utc(2027, 6, 16, 4), BackupStatus::kPending),
                       Entry("running", Utc(2020, 1, 1), BackupStatus::kInProgress),
                       Entry("verified", Utc(2027, 6, 15, 1), BackupStatus::kVerified)},
                      Only(2, 0, 0, 100), now);
    const auto kept = Reasons(plan.keep);
    EXPECT_EQ(kept.at("ok"), (std::vector<R>{R::kDaily}));
    EXPECT_EQ(kept.at("verified"), (std::vector<R>{R::kDaily}));
    EXPECT_EQ(kept.at("pending"), (std::vector<R>{R::kInProgress}));
    EXPECT_EQ(kept.at("running"), (std::vector<R>{R::kInProgress}));
    const auto removed = Reasons(plan.remove);
    EXPECT_EQ(removed.size(), 2u);
    EXPECT_EQ(removed.at("failed"), (std::vector<R>{R::kFailed}));
    EXPECT_EQ(removed.at("expired"), (std::vector<R>{R::kExpired}));
}

TEST(RetentionTest, FutureBackupsAreKeptAndTakeNoSlot) {
    const TimePoint now = Utc(2027, 6, 16, 12);
    const auto plan =
        PlanRetention({Entry("skewed", now + std::chrono::minutes(5)),
                       Entry("morning", Utc(2027, 6, 16, 9)), Entry("early", Utc(2027, 6, 16, 8))},
                      Only(1, 0, 0, 0), now);
    const auto kept = Reasons(plan.keep);
    EXPECT_EQ(kept.at("skewed"), (std::vector<R>{R::kFuture}));
    EXPECT_EQ(kept.at("morning"), (std::vector<R>{R::kDaily}));
    EXPECT_EQ(Ids(plan.remove), (std::vector<std::string>{"early"}));
}

TEST(RetentionTest, TiesAreBrokenByIdWhateverTheInputOrder) {
    const TimePoint t = Utc(2027, 6, 16, 9);
    const TimePoint now = Utc(2027, 6, 16, 12);
    const auto ab = PlanRetention({Entry("a", t), Entry("b", t)}, Only(1, 0, 0), now);
    const auto ba = PlanRetention({Entry("b", t), Entry("a", t)}, Only(1, 0, 0), now);
    EXPECT_EQ(Ids(ab.keep), (std::vector<std::string>{"b"}));
    EXPECT_EQ(Ids(ab.remove), (std::vector<std::string>{"a"}));
    ExpectPlansEqual(ab, ba);
}

TEST(RetentionTest, EmptyInputAndZeroOrNegativePolicies) {
    const TimePoint now = Utc(2027, 6, 16, 12);
    const auto empty = PlanRetention({}, RetentionPolicy{}, now);
    EXPECT_TRUE(empty.keep.empty());
    EXPECT_TRUE(empty.remove.empty());
    const auto none = PlanRetention({Entry("a", Utc(2027, 6, 16, 9))}, Only(-1, -5, 0, -2), now);
    EXPECT_TRUE(none.keep.empty());
    EXPECT_EQ(Ids(none.remove), (std::vector<std::string>{"a"}));
}

TEST(RetentionTest, PolicyComesFromBackupSettings) {
    config::BackupSettings settings;
    settings.keep_daily = 9;
    settings.keep_weekly = 5;
    settings.keep_monthly = 12;
    settings.min_backups = 2;
    const RetentionPolicy p = RetentionPolicyFrom(settings);
    EXPECT_EQ(p.keep_daily, 9);
    EXPECT_EQ(p.keep_weekly, 5);
    EXPECT_EQ(p.keep_monthly, 12);
    EXPECT_EQ(p.min_backups, 2);
    const RetentionPolicy defaults = RetentionPolicyFrom(config::BackupSettings{});
    EXPECT_EQ(defaults.keep_daily, 7);
    EXPECT_EQ(defaults.keep_weekly, 4);
    EXPECT_EQ(defaults.keep_monthly, 3);
    EXPECT_EQ(defaults.min_backups, 1);
}

TEST(RetentionTest, StatusNamesRoundTrip) {
    for (BackupStatus s :
         {BackupStatus::kPending, BackupStatus::kInProgress, BackupStatus::kCompleted,
          BackupStatus::kVerified, BackupStatus::kFailed, BackupStatus::kExpired}) {
        EXPECT_EQ(ParseBackupStatus(ToString(s)), s);
    }
    EXPECT_EQ(ToString(BackupStatus::kInProgress), "in_progress");
    EXPECT_FALSE(ParseBackupStatus("Completed"));
}

}  // namespace
}  // namespace aragora::ops
