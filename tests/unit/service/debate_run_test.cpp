// service/run: the completion signal, and the service's cancel and drain awaiting a
// run's completion on a manual clock (nothing advances it; no test sleeps): a wait that
// ran to its deadline (an hour here) would trip the bounded Await instead.

#include "service/run/debate_run.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <mutex>
#include <span>
#include <vector>

#include "agents/registry.hpp"
#include "events/status.hpp"
#include "service/local_debate_service.hpp"
#include "service_test_support.hpp"

namespace aragora::service {
namespace {

namespace asio = boost::asio;
using std::chrono::hours;

// Checks, as each event reaches the hub, that the store already holds it.
class StoredBeforeVisible final : public events::Subscriber {
public:
    explicit StoredBeforeVisible(storage::Store& store) : store_(store) {}
    void Deliver(const events::Event& e) override {
        auto stored = store_.ListEvents(e.debate_id, e.seq - 1, 1);
        const bool held = stored.ok() && !stored->empty() && stored->front().seq == e.seq;
        std::lock_guard lock(mutex_);
        ++seen_;
        if (!held) ++unstored_;
    }
    int seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    int unstored() {
        std::lock_guard lock(mutex_);
        return unstored_;
    }

private:
    storage::Store& store_;
    std::mutex mutex_;
    int seen_ = 0;
    int unstored_ = 0;
};

// Records each delivery from the hub: a Deliver is one event, a DeliverBatch its run.
class DeliveryRecorder final : public events::Subscriber {
public:
    void Deliver(const events::Event& e) override {
        std::lock_guard lock(mutex_);
        calls_.push_back({e.seq});
    }
    void DeliverBatch(std::span<const events::Event* const> events) override {
        std::vector<std::int64_t> seqs;
        for (const events::Event* e : events) seqs.push_back(e->seq);
        std::lock_guard lock(mutex_);
        calls_.push_back(std::move(seqs));
    }
    std::vector<std::vector<std::int64_t>> calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }

private:
    std::mutex mutex_;
    std::vector<std::vector<std::int64_t>> calls_;
};

class DebateRunTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        store_ = OpenStoreAndStart("run-test-key");
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        // A run may still be finishing (its end stored, its hooks not yet called): the
        // service outlives its runs once drained.
        if (service_) Await(service_->Drain(std::chrono::milliseconds(0)));
        service_.reset();
        StopAndClean();
    }

    // Demo agents that answer after an hour of real time: a debate runs until stopped.
    void Make(std::chrono::milliseconds latency = hours(1)) {
        ServiceSettings s;
        s.max_running = 2;
        s.max_queued = 4;
        s.demo_latency = latency;
        s.cancel_wait = hours(1);
        service_ = std::make_unique<LocalDebateService>(ioc_.get_executor(), clock_, s, *store_,
                                                        pool_, keys_, hub_, registry_);
    }

    std::string Start() {
        CreateDebateRequest r;
        r.task = "Is a completion signal better than a polling loop?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo"}).value();
        r.rounds = 2;
        auto created = Await(service_->Create(r));
        EXPECT_TRUE(created.ok()) << created.error().message;
        if (!created.ok()) return "";
        const std::string id = created->id;
        // Running and blocked in its first agent call (its opening events are stored).
        EXPECT_TRUE(Eventually([&] {
            auto events = store_->ListEvents(id, 0, 10);
            return events.ok() && !events->empty();
        }));
        return id;
    }

    std::string Status(const std::string& id) {
        return std::string(events::ToString(store_->GetDebate(id)->status));
    }

    common::ManualClock clock_;
    std::unique_ptr<storage::Store> store_;
    metrics::Registry registry_;
    std::unique_ptr<LocalDebateService> service_;
};

TEST(CompletionTest, WaitEndsWhenSetOrAtItsDeadline) {
    asio::io_context ioc;
    run::Completion done(ioc.get_executor());
    auto timed_out = asio::co_spawn(ioc, done.Wait(std::chrono::milliseconds(1)), asio::use_future);
    ioc.run();
    EXPECT_FALSE(timed_out.get());
    ioc.restart();
    // A waiter parked for an hour resumes as soon as the signal is set.
    auto waiting = asio::co_spawn(ioc, done.Wait(hours(1)), asio::use_future);
    asio::post(ioc, [&done] { done.Set(); });
    ioc.run();
    EXPECT_TRUE(waiting.get());
    EXPECT_TRUE(done.IsSet());
    // Once set, every later wait returns at once.
    ioc.restart();
    auto later = asio::co_spawn(ioc, done.Wait(hours(1)), asio::use_future);
    ioc.run();
    EXPECT_TRUE(later.get());
}

TEST_F(DebateRunTest, CancelAwaitsTheRunsEndOnAManualClock) {
    Make();
    const std::string id = Start();
    ASSERT_FALSE(id.empty());
    const auto before = clock_.SteadyNow();
    auto cancelled = Await(service_->Cancel(id));
    ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
    EXPECT_EQ(cancelled->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(Status(id), "cancelled");
    EXPECT_FALSE(service_->RunsHere(id));
    EXPECT_EQ(service_->Stats().running, 0u);
    EXPECT_EQ(clock_.SteadyNow(), before);  // nothing waited on the clock
    auto events = store_->ListEvents(id, 0, 1000);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->back().type, "debate_end");
}

TEST_F(DebateRunTest, DrainReturnsAsSoonAsTheRunsEndNotAtTheGraceDeadline) {
    Make();
    const std::string id = Start();
    ASSERT_FALSE(id.empty());
    // A grace of an hour: Drain returns when the debate ends (cancelled here).
    auto drained = asio::co_spawn(ioc_, service_->Drain(hours(1)), asio::use_future);
    ASSERT_TRUE(Eventually([&] {
        auto refused = Await(service_->Create(CreateDebateRequest{}));
        return !refused.ok() && refused.error().code == common::ErrorCode::kUnavailable;
    }));
    auto cancelled = Await(service_->Cancel(id));
    ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
    ASSERT_EQ(drained.wait_for(await_limit_), std::future_status::ready);
    EXPECT_EQ(Status(id), "cancelled");
    EXPECT_EQ(service_->Stats().running, 0u);
}

TEST_F(DebateRunTest, DrainPastItsGraceStopsRunsAndAwaitsTheirEnd) {
    Make();
    const std::string a = Start();
    const std::string b = Start();
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    Await(service_->Drain(std::chrono::milliseconds(0)));
    // Both were stopped and stored before Drain returned.
    EXPECT_EQ(Status(a), "cancelled");
    EXPECT_EQ(Status(b), "cancelled");
    EXPECT_EQ(service_->Stats().running, 0u);
}

TEST_F(DebateRunTest, NoEventReachesTheHubBeforeTheStoreHoldsIt) {
    // The relay sees every event the hub accepts, on the publisher's thread.
    auto watcher = std::make_shared<StoredBeforeVisible>(*store_);
    hub_.SetRelay([watcher](const events::Event& e) { watcher->Deliver(e); });
    Make(std::chrono::milliseconds(0));
    CreateDebateRequest r;
    r.task = "Group commit";
    r.agents = agents::ParseAgentSpecs({"demo", "demo", "demo"}).value();
    r.rounds = 3;
    auto created = Await(service_->Create(r));
    ASSERT_TRUE(created.ok()) << created.error().message;
    ASSERT_TRUE(Eventually([&] { return Status(created->id) == "completed"; }));
    auto events = store_->ListEvents(created->id, 0, 10000);
    ASSERT_TRUE(events.ok());
    ASSERT_GT(events->size(), 10u);
    ASSERT_TRUE(Eventually([&] { return watcher->seen() == static_cast<int>(events->size()); }));
    EXPECT_EQ(watcher->unstored(), 0);
}

TEST_F(DebateRunTest, EachCommitReachesTheHubAsOneBatch) {
    // Two running debates hold both slots; a third waits in the queue, so that a viewer
    // subscribes before its first event.
    Make();
    const std::string a = Start();
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(Start().empty());
    CreateDebateRequest r;
    r.task = "Batches";
    r.agents = agents::ParseAgentSpecs({"demo", "demo"}).value();
    r.rounds = 2;
    auto queued = Await(service_->Create(r));
    ASSERT_TRUE(queued.ok()) << queued.error().message;
    auto viewer = std::make_shared<DeliveryRecorder>();
    hub_.Subscribe(queued->id, 0, viewer);
    ASSERT_TRUE(Await(service_->Cancel(a)).ok());
    // Its opening events are emitted in one turn of its strand before its first agent
    // call (an hour away): they are committed together and delivered as one batch.
    ASSERT_TRUE(Eventually([&] {
        auto events = store_->ListEvents(queued->id, 0, 100);
        return events.ok() && events->size() >= 2 && !viewer->calls().empty();
    }));
    auto stored = store_->ListEvents(queued->id, 0, 100);
    ASSERT_TRUE(stored.ok());
    ASSERT_TRUE(Eventually([&] {
        std::size_t n = 0;
        for (const auto& call : viewer->calls()) n += call.size();
        return n == stored->size();
    }));
    const auto calls = viewer->calls();
    EXPECT_GE(calls.front().size(), 2u) << "the first commit's events came one call each";
    std::int64_t next = 1;
    for (const auto& call : calls) {
        for (std::int64_t seq : call) EXPECT_EQ(seq, next++);
    }
}

}  // namespace
}  // namespace aragora::service
