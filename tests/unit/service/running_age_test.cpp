// aragora_debate_oldest_running_seconds and aragora_debate_running_too_long_seconds, the
// pair the AragoraDebateRunningTooLong alert compares: the age of the oldest debate running
// (queued ones do not count) on a manual clock, and the configured threshold.

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>

#include "agents/registry.hpp"
#include "common/clock.hpp"
#include "metrics/registry.hpp"
#include "service/local_debate_service.hpp"
#include "service_test_support.hpp"

namespace aragora::service {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kOldest = "aragora_debate_oldest_running_seconds";

class RunningAgeTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        store_ = OpenStoreAndStart("running-age-key");
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        Eventually([this] { return !service_ || service_->Stats().running == 0; });
        service_.reset();
        StopAndClean();
    }

    // The value of an unlabelled series in the registry's exposition; -1 when absent.
    double Sample(const std::string& name) const {
        std::istringstream in(registry_.RenderPrometheus());
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
        }
        return -1;
    }

    CreateDebateRequest Request() {
        CreateDebateRequest r;
        r.task = "Should the on-call rotation be weekly?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo", "demo", "demo"}).value();
        r.rounds = 12;  // long enough to still run while the test looks (cancelled at the end)
        return r;
    }

    bool Running(const std::string& id) {
        auto r = store_->GetDebate(id);
        return r.ok() && r->status == events::DebateStatus::kRunning;
    }

    common::ManualClock clock_;
    std::unique_ptr<storage::Store> store_;
    metrics::Registry registry_;
    std::unique_ptr<LocalDebateService> service_;
};

TEST_F(RunningAgeTest, OldestRunningDebateAgeFollowsTheClockAndTheThresholdIsExported) {
    ServiceSettings s;
    s.max_running = 1;
    s.max_queued = 2;
    s.demo_latency = milliseconds(200);
    s.running_too_long = seconds(42);
    service_ = std::make_unique<LocalDebateService>(ioc_.get_executor(), clock_, s, *store_, pool_,
                                                    keys_, hub_, registry_);
    EXPECT_EQ(Sample("aragora_debate_running_too_long_seconds"), 42);
    EXPECT_EQ(Sample(kOldest), 0) << "nothing runs yet";

    auto a = Await(service_->Create(Request()));
    ASSERT_TRUE(a.ok()) << a.error().message;
    ASSERT_TRUE(Eventually([&] { return Running(a->id); }));
    clock_.Advance(seconds(700));
    EXPECT_EQ(Sample(kOldest), 700);

    // A queued debate does not run: the age is still a's.
    auto b = Await(service_->Create(Request()));
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->status, events::DebateStatus::kPending);
    clock_.Advance(seconds(10));
    EXPECT_EQ(Sample(kOldest), 710);

    // a ends; b gets the slot and is the oldest from the moment it starts.
    auto ca = Await(service_->Cancel(a->id));
    ASSERT_TRUE(ca.ok()) << ca.error().message;
    ASSERT_TRUE(Eventually([&] { return Running(b->id); }));
    clock_.Advance(seconds(5));
    EXPECT_EQ(Sample(kOldest), 5);

    auto cb = Await(service_->Cancel(b->id));
    ASSERT_TRUE(cb.ok()) << cb.error().message;
    EXPECT_TRUE(Eventually([&] { return Sample(kOldest) == 0; })) << Sample(kOldest);
}

}  // namespace
}  // namespace aragora::service
