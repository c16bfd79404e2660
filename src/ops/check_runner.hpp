#pragma once

// Named diagnostic checks run concurrently, each under its own deadline (what `aragora
// doctor` runs; docs/doctor.md). A check that has not answered by its deadline is
// reported as failed ("no answer within N s") and abandoned: its thread is detached and
// keeps running until the check returns on its own (or the process exits), writing only
// into state it shares with the runner. So a check must own (or share by shared_ptr)
// everything it touches: nothing on the caller's stack.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace aragora::ops {

enum class CheckStatus { kOk, kWarn, kFail, kSkip };

// "ok" | "warn" | "fail" | "skip".
std::string_view ToString(CheckStatus status);

// What a check says. For kSkip, `detail` is the reason it was not run.
struct CheckOutcome {
    CheckStatus status = CheckStatus::kOk;
    std::string detail;
};

struct Check {
    std::string name;
    std::chrono::milliseconds deadline{5000};
    // Runs on a thread of its own; may block. An exception it throws becomes kFail.
    std::function<CheckOutcome()> run;
    // Appended to "no answer within N s" when the deadline passes (what probably hangs).
    std::string timeout_hint = {};
};

struct CheckResult {
    std::string name;
    CheckStatus status = CheckStatus::kOk;
    std::string detail;
    std::int64_t duration_ms = 0;  // the deadline for an abandoned check
};

struct CheckRun {
    std::vector<CheckResult> results;  // in the order of the checks given
    int abandoned = 0;                 // checks still running when RunChecks returned
    std::int64_t duration_ms = 0;
};

// Starts every check at once and returns when each has answered or passed its deadline,
// so within the largest deadline (plus scheduling). Never blocks longer than that, whatever
// a check does. Thread-safe; the calling thread only waits.
CheckRun RunChecks(std::vector<Check> checks);

// "5 s", "0.25 s": how the runner and the checks write a duration.
std::string FormatSeconds(std::chrono::milliseconds d);

}  // namespace aragora::ops
