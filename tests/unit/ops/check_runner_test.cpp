#include "ops/check_runner.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace aragora::ops {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Opened by the test; waiters give up after a minute so that no thread outlives the run.
class Gate {
public:
    void Open() {
        {
            std::lock_guard lock(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }
    bool WaitOpen(milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [this] { return open_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Both sides must arrive before either leaves: only possible when they run at once.
class Rendezvous {
public:
    bool ArriveAndWait(milliseconds timeout) {
        std::unique_lock lock(mu_);
        ++arrived_;
        cv_.notify_all();
        return cv_.wait_for(lock, timeout, [this] { return arrived_ >= 2; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int arrived_ = 0;
};

TEST(CheckRunnerTest, ACheckThatNeverAnswersFailsAtItsDeadlineAndIsAbandoned) {
    auto gate = std::make_shared<Gate>();
    std::vector<Check> checks;
    checks.push_back({.name = "fast", .deadline = seconds(60), .run = [] {
                          return CheckOutcome{CheckStatus::kOk, "fine"};
                      }});
    checks.push_back({.name = "hangs",
                      .deadline = milliseconds(50),
                      .run =
                          [gate] {
                              gate->WaitOpen(seconds(60));
                              return CheckOutcome{CheckStatus::kOk, "too late"};
                          },
                      .timeout_hint = "the gate is shut"});
    checks.push_back({.name = "warns", .deadline = seconds(60), .run = [] {
                          return CheckOutcome{CheckStatus::kWarn, "careful"};
                      }});

    CheckRun run = RunChecks(std::move(checks));
    gate->Open();  // the abandoned thread finishes into the runner's shared state

    ASSERT_EQ(run.results.size(), 3u);
    EXPECT_EQ(run.abandoned, 1);
    EXPECT_EQ(run.results[0].name, "fast");
    EXPECT_EQ(run.results[0].status, CheckStatus::kOk);
    EXPECT_EQ(run.results[0].detail, "fine");
    EXPECT_EQ(run.results[1].name, "hangs");
    EXPECT_EQ(run.results[1].status, CheckStatus::kFail);
    EXPECT_EQ(run.results[1].detail, "no answer within 0.05 s; the gate is shut");
    EXPECT_EQ(run.results[1].duration_ms, 50);
    EXPECT_EQ(run.results[2].status, CheckStatus::kWarn);
    EXPECT_EQ(run.results[2].detail, "careful");
}

TEST(CheckRunnerTest, ChecksRunConcurrently) {
    // Run one after the other, the first would wait out its rendezvous and fail.
    auto meet = std::make_shared<Rendezvous>();
    auto side = [meet] {
        return meet->ArriveAndWait(seconds(30)) ? CheckOutcome{CheckStatus::kOk, "met"}
                                                : CheckOutcome{CheckStatus::kFail, "alone"};
    };
    std::vector<Check> checks;
    checks.push_back({.name = "left", .deadline = seconds(60), .run = side});
    checks.push_back({.name = "right", .deadline = seconds(60), .run = side});
    CheckRun run = RunChecks(std::move(checks));
    ASSERT_EQ(run.results.size(), 2u);
    EXPECT_EQ(run.abandoned, 0);
    EXPECT_EQ(run.results[0].detail, "met");
    EXPECT_EQ(run.results[1].detail, "met");
}

TEST(CheckRunnerTest, ReturnsAsSoonAsEveryCheckAnsweredNotAtTheDeadlines) {
    // With deadlines of an hour, waiting for them would time the test out.
    std::vector<Check> checks;
    for (int i = 0; i < 4; ++i) {
        checks.push_back(
            {.name = "c" + std::to_string(i), .deadline = std::chrono::hours(1), .run = [] {
                 return CheckOutcome{CheckStatus::kSkip, "n/a"};
             }});
    }
    CheckRun run = RunChecks(std::move(checks));
    ASSERT_EQ(run.results.size(), 4u);
    for (const auto& r : run.results) EXPECT_EQ(r.status, CheckStatus::kSkip);
}

TEST(CheckRunnerTest, AnExceptionIsAFailedCheck) {
    std::vector<Check> checks;
    checks.push_back({.name = "throws", .deadline = seconds(60), .run = []() -> CheckOutcome {
                          throw std::runtime_error("boom");
                      }});
    checks.push_back({.name = "empty", .deadline = seconds(60), .run = nullptr});
    CheckRun run = RunChecks(std::move(checks));
    EXPECT_EQ(run.results[0].status, CheckStatus::kFail);
    EXPECT_EQ(run.results[0].detail, "internal error: boom");
    EXPECT_EQ(run.results[1].status, CheckStatus::kFail);
}

TEST(CheckRunnerTest, NamesAndDurations) {
    EXPECT_EQ(ToString(CheckStatus::kOk), "ok");
    EXPECT_EQ(ToString(CheckStatus::kWarn), "warn");
    EXPECT_EQ(ToString(CheckStatus::kFail), "fail");
    EXPECT_EQ(ToString(CheckStatus::kSkip), "skip");
    EXPECT_EQ(FormatSeconds(milliseconds(5000)), "5 s");
    EXPECT_EQ(FormatSeconds(milliseconds(1500)), "1.5 s");
    EXPECT_EQ(FormatSeconds(milliseconds(250)), "0.25 s");
}

}  // namespace
}  // namespace aragora::ops
