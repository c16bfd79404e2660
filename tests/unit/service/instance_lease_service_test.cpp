// LocalDebateService with lease_local (serve on a database several instances share): the
// debates it runs itself carry its lease from creation (also while they wait for a slot)
// and renew it; another instance's start-up recovery leaves them to finish once, with a
// receipt; a lease lost to a reaper (this process stalled past it) stops the debate, or
// drops it from the slot queue, and writes nothing more; a drain cancels under the lease.
// A real SQLite store in a temp dir (the store contract is the same on PostgreSQL), demo
// agents, an io_context on two threads; lease expiry is driven by explicit times passed
// to the store's reaper, never by sleeping.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "agents/registry.hpp"
#include "common/time.hpp"
#include "service/local_debate_service.hpp"
#include "service_test_support.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::service {
namespace {

namespace asio = boost::asio;

constexpr const char* kFarFuture = "2099-01-01T00:00:00.000Z";

class InstanceLeaseServiceTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        store_ = OpenStoreAndStart("instance-lease-test-key");
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        for (auto& s : services_) EXPECT_TRUE(WaitIdle(*s));
        // A run leaves the registry after its slot is free: drain, so that no run still
        // touches a service being destroyed (TSan saw it).
        for (auto& s : services_) Await(s->Drain(std::chrono::milliseconds(5000)));
        services_.clear();
        StopAndClean();
    }

    // An API instance on the shared database, leasing its own debates as `owner`.
    LocalDebateService& Instance(const std::string& owner, int latency_ms,
                                 std::size_t max_running = 4, std::size_t max_queued = 4) {
        ServiceSettings s;
        s.max_running = max_running;
        s.max_queued = max_queued;
        s.demo_latency = std::chrono::milliseconds(latency_ms);
        s.lease.worker_id = owner;
        s.lease.duration = std::chrono::seconds(30);
        s.lease.heartbeat = std::chrono::milliseconds(20);
        s.lease_local = true;
        registries_.push_back(std::make_unique<metrics::Registry>());
        services_.push_back(std::make_unique<LocalDebateService>(
            ioc_.get_executor(), clock_, s, *store_, pool_, keys_, hub_, *registries_.back()));
        return *services_.back();
    }

    CreateDebateRequest Request(int rounds) {
        CreateDebateRequest r;
        r.task = "Should we adopt trunk-based development?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo:critic", "demo"}).value();
        r.rounds = rounds;
        return r;
    }

    bool Terminal(const std::string& id) {
        auto d = store_->GetDebate(id);
        return d.ok() && (d->status == events::DebateStatus::kCompleted ||
                          d->status == events::DebateStatus::kFailed ||
                          d->status == events::DebateStatus::kCancelled);
    }
    static bool WaitIdle(LocalDebateService& s) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while ((s.Stats().running > 0 || s.Stats().queued > 0) &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        return s.Stats().running == 0 && s.Stats().queued == 0;
    }
    // Exactly one debate_end, last, and seqs 1..n without a gap.
    void ExpectOneEnd(const std::string& id) {
        auto events = store_->ListEvents(id, 0, 5000);
        ASSERT_TRUE(events.ok());
        ASSERT_FALSE(events->empty()) << id;
        EXPECT_EQ(events->back().type, "debate_end") << id;
        EXPECT_EQ(std::count_if(events->begin(), events->end(),
                                [](const events::Event& e) { return e.type == "debate_end"; }),
                  1)
            << id;
        for (std::size_t i = 0; i < events->size(); ++i)
            EXPECT_EQ((*events)[i].seq, static_cast<std::int64_t>(i) + 1) << id;
    }

    common::SystemClock clock_;
    std::unique_ptr<storage::Store> store_;
    std::vector<std::unique_ptr<metrics::Registry>> registries_;
    std::vector<std::unique_ptr<LocalDebateService>> services_;  // destroyed before the pool
};

// Instance A runs one debate and has a second waiting for its only slot; instance B
// starts on the same database and runs its crash recovery. Without leases, B would mark
// both failed (interrupted) and A would then finish them: two debate_end events each.
TEST_F(InstanceLeaseServiceTest, AnotherInstancesRecoveryLeavesLeasedDebatesToFinishOnce) {
    auto& a = Instance("inst_a", 40, /*max_running=*/1);
    auto running = Await(a.Create(Request(3)));
    ASSERT_TRUE(running.ok()) << running.error().message;
    auto waiting = Await(a.Create(Request(1)));
    ASSERT_TRUE(waiting.ok()) << waiting.error().message;
    ASSERT_TRUE(Eventually([&] { return !store_->ListEvents(running->id, 0, 1)->empty(); }));
    for (const auto& id : {running->id, waiting->id}) {
        auto d = store_->GetDebate(id);
        EXPECT_EQ(d->lease_owner, "inst_a") << id;
        EXPECT_FALSE(d->queued_for_worker) << id;
    }
    EXPECT_EQ(store_->GetDebate(waiting->id)->status, events::DebateStatus::kPending);
    // The heartbeat renews both, the waiting one too.
    const std::string first_until = store_->GetDebate(waiting->id)->lease_expires_at;
    ASSERT_TRUE(Eventually(
        [&] { return store_->GetDebate(waiting->id)->lease_expires_at != first_until; }));

    auto& b = Instance("inst_b", 40);
    auto recovered = Await(b.RecoverInterrupted());
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    EXPECT_EQ(*recovered, 0);

    for (const auto& id : {running->id, waiting->id}) {
        ASSERT_TRUE(Eventually([&] { return Terminal(id); })) << id;
        auto d = store_->GetDebate(id);
        EXPECT_EQ(d->status, events::DebateStatus::kCompleted) << id << " " << d->error_code;
        EXPECT_NE(d->error_code, "interrupted");
        EXPECT_EQ(store_->ListReceipts(id, 10, 0)->total, 1) << id;
        ExpectOneEnd(id);
    }
}

// A stalled past its lease (simulated: the reaper runs "much later"): the running debate
// is stopped at the next heartbeat and the one waiting for a slot never runs; neither gets
// a second debate_end, a result or a receipt from A.
TEST_F(InstanceLeaseServiceTest, ALeaseLostToTheReaperStopsTheDebateAndWritesNothing) {
    auto& a = Instance("inst_a", 100, /*max_running=*/1);
    auto running = Await(a.Create(Request(8)));
    ASSERT_TRUE(running.ok());
    auto waiting = Await(a.Create(Request(1)));
    ASSERT_TRUE(waiting.ok());
    ASSERT_TRUE(Eventually([&] { return !store_->ListEvents(running->id, 0, 1)->empty(); }));

    auto reaped = store_->ReapExpiredLeases(kFarFuture, nullptr);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(reaped->size(), 2u);
    ASSERT_TRUE(WaitIdle(a));
    for (const auto& id : {running->id, waiting->id}) {
        auto d = store_->GetDebate(id);
        EXPECT_EQ(d->status, events::DebateStatus::kFailed) << id;
        EXPECT_EQ(d->error_code, storage::kInstanceLostCode) << id;
        EXPECT_EQ(d->receipt_id, "") << id;
        EXPECT_EQ(store_->ListReceipts(id, 10, 0)->total, 0) << id;
        ExpectOneEnd(id);
    }
    EXPECT_EQ(store_->GetDebate(waiting->id)->started_at, "");
    // A serves on: the next debate runs and completes under a new lease.
    auto next = Await(a.Create(Request(1)));
    ASSERT_TRUE(next.ok());
    ASSERT_TRUE(Eventually([&] { return Terminal(next->id); }));
    EXPECT_EQ(store_->GetDebate(next->id)->status, events::DebateStatus::kCompleted);
}

// Renewals do not queue behind the store pool (issue 20: under load, renewals waiting
// behind event commits ran past the lease and the instance reaped its own debates). With
// every thread of the service's blocking pool held busy and more work queued behind them,
// the running debate's lease is still renewed.
TEST_F(InstanceLeaseServiceTest, RenewalsGoOnWhileEveryStorePoolThreadIsHeld) {
    auto& a = Instance("inst_a", 100);
    auto running = Await(a.Create(Request(8)));
    ASSERT_TRUE(running.ok()) << running.error().message;
    ASSERT_TRUE(Eventually([&] { return !store_->ListEvents(running->id, 0, 1)->empty(); }));

    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    struct Release {
        std::promise<void>& p;
        ~Release() { p.set_value(); }
    } release_at_exit{release};
    auto holding = std::make_shared<std::atomic<int>>(0);
    auto hold = [released, holding]() -> common::Result<common::Unit> {
        ++*holding;
        released.wait();
        return common::Unit{};
    };
    for (int i = 0; i < 3; ++i) {  // both threads, and one job queued behind them
        asio::co_spawn(
            ioc_,
            [this, hold]() -> asio::awaitable<void> {
                auto r = co_await pool_.Run(hold);
                (void)r;
            },
            asio::detached);
    }
    ASSERT_TRUE(Eventually([&] { return holding->load() == 2; }));
    const std::string before = store_->GetDebate(running->id)->lease_expires_at;
    EXPECT_TRUE(
        Eventually([&] { return store_->GetDebate(running->id)->lease_expires_at != before; }));
}

// The reaper of the service (what serve runs periodically) ends a dead instance's leased
// debate with the service's debate_end data; a drain cancels this instance's own debate
// under its lease instead of putting it back in a queue nobody claims from.
TEST_F(InstanceLeaseServiceTest, ReaperEndsADeadInstancesDebateAndDrainCancelsOurs) {
    storage::DebateRecord dead;
    dead.id = "d_dead";
    dead.task = "left by a killed instance";
    dead.status = events::DebateStatus::kRunning;
    dead.agents = {"demo", "demo:critic"};
    dead.rounds = 2;
    dead.consensus_method = "majority";
    dead.created_at = "2020-01-01T00:00:00.000Z";
    dead.started_at = dead.created_at;
    dead.lease_owner = "inst_killed";
    dead.lease_expires_at = "2020-01-01T00:00:30.000Z";
    ASSERT_TRUE(store_->CreateDebate(dead).ok());

    auto& a = Instance("inst_a", 100);
    auto recovered = Await(a.RecoverInterrupted());  // reaps expired leases at start
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    EXPECT_EQ(*recovered, 0);
    auto d = store_->GetDebate("d_dead");
    EXPECT_EQ(d->status, events::DebateStatus::kFailed);
    EXPECT_EQ(d->error_code, storage::kInstanceLostCode);
    ExpectOneEnd("d_dead");
    EXPECT_NE(store_->ListEvents("d_dead", 0, 10)->front().data_json.find("\"instance_lost\""),
              std::string::npos);

    auto mine = Await(a.Create(Request(8)));
    ASSERT_TRUE(mine.ok());
    ASSERT_TRUE(Eventually([&] { return !store_->ListEvents(mine->id, 0, 1)->empty(); }));
    Await(a.Drain(std::chrono::milliseconds(0)));
    auto ended = store_->GetDebate(mine->id);
    EXPECT_EQ(ended->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(ended->lease_owner, "inst_a");
    ExpectOneEnd(mine->id);
}

}  // namespace
}  // namespace aragora::service
