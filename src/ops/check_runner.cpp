#include "ops/check_runner.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

namespace aragora::ops {
namespace {

using Clock = std::chrono::steady_clock;

// Shared by the runner and every check thread: an abandoned check may finish after
// RunChecks returned, and then writes here, never into the caller's frame.
struct RunState {
    std::mutex mu;
    std::condition_variable answered;
    std::vector<std::optional<CheckOutcome>> outcomes;
    std::vector<Clock::time_point> finished_at;
};

std::int64_t Millis(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

std::string_view ToString(CheckStatus status) {
    switch (status) {
        case CheckStatus::kOk:
            return "ok";
        case CheckStatus::kWarn:
            return "warn";
        case CheckStatus::kFail:
            return "fail";
        case CheckStatus::kSkip:
            return "skip";
    }
    return "fail";
}

std::string FormatSeconds(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000.0);
    std::string text = buf;
    while (text.back() == '0') text.pop_back();
    return text + " s";
}

CheckRun RunChecks(std::vector<Check> checks) {
    const std::size_t n = checks.size();
    auto state = std::make_shared<RunState>();
    state->outcomes.resize(n);
    state->finished_at.resize(n);
    const Clock::time_point start = Clock::now();

    for (std::size_t i = 0; i < n; ++i) {
        auto body = [state, i, run = std::move(checks[i].run)] {
            CheckOutcome outcome;
            try {
                outcome = run ? run() : CheckOutcome{CheckStatus::kFail, "no check function"};
            } catch (const std::exception& e) {
                outcome = {CheckStatus::kFail, std::string("internal error: ") + e.what()};
            }
            std::lock_guard lock(state->mu);
            state->outcomes[i] = std::move(outcome);
            state->finished_at[i] = Clock::now();
            state->answered.notify_all();
        };
        try {
            std::thread(std::move(body)).detach();
        } catch (const std::system_error& e) {
            std::lock_guard lock(state->mu);
            state->outcomes[i] =
                CheckOutcome{CheckStatus::kFail, std::string("cannot start: ") + e.what()};
            state->finished_at[i] = Clock::now();
        }
    }

    std::vector<bool> abandoned(n, false);
    std::unique_lock lock(state->mu);
    for (;;) {
        const Clock::time_point now = Clock::now();
        std::optional<Clock::time_point> next;
        for (std::size_t i = 0; i < n; ++i) {
            if (state->outcomes[i] || abandoned[i]) continue;
            const Clock::time_point deadline = start + checks[i].deadline;
            if (now >= deadline) {
                abandoned[i] = true;
            } else {
                next = next ? std::min(*next, deadline) : deadline;
            }
        }
        if (!next) break;
        state->answered.wait_until(lock, *next);
    }

    CheckRun run;
    run.results.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        CheckResult r;
        r.name = checks[i].name;
        if (abandoned[i]) {
            r.status = CheckStatus::kFail;
            r.detail = "no answer within " + FormatSeconds(checks[i].deadline);
            if (!checks[i].timeout_hint.empty()) r.detail += "; " + checks[i].timeout_hint;
            r.duration_ms = checks[i].deadline.count();
            ++run.abandoned;
        } else {
            r.status = state->outcomes[i]->status;
            r.detail = state->outcomes[i]->detail;
            r.duration_ms = Millis(state->finished_at[i] - start);
        }
        run.results.push_back(std::move(r));
    }
    run.duration_ms = Millis(Clock::now() - start);
    return run;
}

}  // namespace aragora::ops
