// LocalDebateService in the two distributed roles: an API instance that only enqueues
// (ExecutionMode::kWorker) and a worker that runs what it claimed under a lease
// (RunClaimed, heartbeat, lease lost ⇒ nothing written, ReapExpiredLeases). A real SQLite
// store in a temp dir, demo agents, an io_context on two threads; time-dependent steps
// (lease expiry) are driven by explicit times passed to the store, never by sleeping.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "agents/registry.hpp"
#include "common/time.hpp"
#include "service/local_debate_service.hpp"
#include "service/records.hpp"
#include "service_test_support.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::service {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;

constexpr const char* kFarFuture = "2099-01-01T00:00:00.000Z";

class WorkerModeTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        store_ = OpenStoreAndStart("worker-test-key");
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        // Drain awaits every run's completion: none is still finishing on an I/O thread
        // when its service goes (the slot is released before the run leaves the registry).
        for (auto* s : {api_.get(), worker_.get()}) {
            if (s != nullptr) Await(s->Drain(std::chrono::milliseconds(0)));
        }
        api_.reset();
        worker_.reset();
        StopAndClean();
    }

    std::unique_ptr<LocalDebateService> Make(ExecutionMode mode, const std::string& worker_id,
                                             int latency_ms) {
        ServiceSettings s;
        s.max_running = 2;
        s.max_queued = 0;
        s.demo_latency = std::chrono::milliseconds(latency_ms);
        s.execution = mode;
        s.lease.worker_id = worker_id;
        s.lease.duration = std::chrono::seconds(30);
        s.lease.heartbeat = std::chrono::milliseconds(20);
        registries_.push_back(std::make_unique<metrics::Registry>());
        return std::make_unique<LocalDebateService>(ioc_.get_executor(), clock_, s, *store_, pool_,
                                                    keys_, hub_, *registries_.back());
    }

    CreateDebateRequest Request(int rounds = 2) {
        CreateDebateRequest r;
        r.task = "Should we adopt trunk-based development?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo:critic", "demo"}).value();
        r.rounds = rounds;
        r.created_by = "usr_1";
        return r;
    }

    std::optional<storage::DebateRecord> Claim(const std::string& worker_id) {
        auto c = store_->ClaimQueuedDebate(worker_id, common::FormatIso8601(clock_.SystemNow()),
                                           kFarFuture);
        EXPECT_TRUE(c.ok()) << c.error().message;
        return c.ok() ? *c : std::nullopt;
    }

    storage::DebateRecord WaitTerminal(const std::string& id) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (std::chrono::steady_clock::now() < deadline) {
            auto r = store_->GetDebate(id);
            if (r.ok() && (r->status == events::DebateStatus::kCompleted ||
                           r->status == events::DebateStatus::kFailed ||
                           r->status == events::DebateStatus::kCancelled))
                return *r;
            std::this_thread::yield();
        }
        ADD_FAILURE() << "debate " << id << " did not finish";
        return {};
    }

    bool WaitIdle(LocalDebateService& s) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (s.Stats().running > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        return s.Stats().running == 0;
    }

    common::SystemClock clock_;
    std::unique_ptr<storage::Store> store_;
    std::vector<std::unique_ptr<metrics::Registry>> registries_;  // one per service
    std::unique_ptr<LocalDebateService> api_;
    std::unique_ptr<LocalDebateService> worker_;
};

TEST(ExecutionModeTest, Parses) {
    EXPECT_EQ(ParseExecutionMode("local"), ExecutionMode::kLocal);
    EXPECT_EQ(ParseExecutionMode("worker"), ExecutionMode::kWorker);
    EXPECT_FALSE(ParseExecutionMode("Worker").has_value());
    EXPECT_FALSE(ParseExecutionMode("").has_value());
}

TEST(StoredSpecTest, RoundTripsThroughSpecJson) {
    debate::DebateSpec spec;
    spec.id = "d_1";
    spec.task = "t";
    spec.context = "c";
    spec.rounds = 4;
    spec.consensus = debate::ConsensusMethod::kJudge;
    spec.consensus_threshold = 0.7;
    spec.judge = "demo:critic";
    spec.metadata_json = R"({"k":1})";
    auto specs = agents::ParseAgentSpecs({"demo", "demo:critic@skeptic"}).value();
    for (const auto& a : specs) {
        spec.agents.push_back(a.name);
        spec.providers.push_back(a.provider);
    }
    storage::DebateRecord row;
    row.id = "d_1";
    row.created_by = "usr_9";
    row.org_id = "org_2";
    row.spec_json = SpecToJson(spec, specs);
    auto back = SpecFromRecord(row);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->spec.task, "t");
    EXPECT_EQ(back->spec.context, "c");
    EXPECT_EQ(back->spec.rounds, 4);
    EXPECT_EQ(back->spec.consensus, debate::ConsensusMethod::kJudge);
    EXPECT_DOUBLE_EQ(back->spec.consensus_threshold, 0.7);
    EXPECT_EQ(back->spec.judge, "demo:critic");
    EXPECT_EQ(back->spec.metadata_json, R"({"k":1})");
    EXPECT_EQ(back->spec.agents, spec.agents);
    EXPECT_EQ(back->spec.created_by, "usr_9");
    EXPECT_EQ(back->spec.org_id, "org_2");
    ASSERT_EQ(back->agents.size(), 2u);
    EXPECT_EQ(back->agents[1].name, "skeptic");
    EXPECT_EQ(back->agents[1].persona, specs[1].persona);
    row.spec_json = R"({"task":"t","rounds":2,"consensus":"majority"})";
    EXPECT_EQ(SpecFromRecord(row).error().code, ErrorCode::kValidation);
    row.spec_json = "[";
    EXPECT_EQ(SpecFromRecord(row).error().code, ErrorCode::kValidation);
}

// The API instance stores the debate queued and runs nothing; a worker claims it and
// completes it with exactly one receipt.
TEST_F(WorkerModeTest, EnqueueOnlyThenAWorkerCompletesItWithOneReceipt) {
    api_ = Make(ExecutionMode::kWorker, "", 0);
    worker_ = Make(ExecutionMode::kLocal, "w1", 0);
    CreateDebateRequest request = Request();
    request.correlation_id = "req_from_the_api";
    auto created = Await(api_->Create(request));
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_EQ(created->status, events::DebateStatus::kPending);
    EXPECT_EQ(api_->Stats().running, 0u);
    auto stored = store_->GetDebate(created->id);
    ASSERT_TRUE(stored.ok());
    EXPECT_TRUE(stored->queued_for_worker);
    // The worker's log lines of this debate carry the API request's correlation id.
    EXPECT_NE(stored->spec_json.find(R"("correlation_id":"req_from_the_api")"), std::string::npos)
        << stored->spec_json;
    EXPECT_EQ(stored->status, events::DebateStatus::kPending);
    EXPECT_TRUE(store_->ListEvents(created->id, 0, 10)->empty());

    auto claimed = Claim("w1");
    ASSERT_TRUE(claimed.has_value());
    ASSERT_EQ(claimed->id, created->id);
    auto started = Await(worker_->RunClaimed(*claimed));
    ASSERT_TRUE(started.ok()) << started.error().message;
    auto done = WaitTerminal(created->id);
    EXPECT_EQ(done.status, events::DebateStatus::kCompleted)
        << done.error_code << ": " << done.error_message;
    EXPECT_FALSE(done.receipt_id.empty());
    EXPECT_EQ(done.created_by, "usr_1");
    EXPECT_EQ(done.lease_owner, "w1");
    EXPECT_EQ(store_->ListReceipts(created->id, 10, 0)->total, 1);
    // The stored spec still names its agents' specs (a retry or audit can rebuild it).
    EXPECT_TRUE(SpecFromRecord(done).ok());
    auto events = store_->ListEvents(created->id, 0, 1000);
    ASSERT_FALSE(events->empty());
    for (std::size_t i = 0; i < events->size(); ++i)
        EXPECT_EQ((*events)[i].seq, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(events->back().type, "debate_end");
    ASSERT_TRUE(WaitIdle(*worker_));
    EXPECT_FALSE(Claim("w1").has_value());
}

// Another process reaps the lease while the debate runs: the worker's next heartbeat sees
// kConflict, stops the debate and writes nothing; the row stays failed worker_lost.
TEST_F(WorkerModeTest, LostLeaseStopsTheDebateAndWritesNothing) {
    api_ = Make(ExecutionMode::kWorker, "", 0);
    worker_ = Make(ExecutionMode::kLocal, "w1", 100);
    auto created = Await(api_->Create(Request(6)));
    ASSERT_TRUE(created.ok());
    auto claimed = Claim("w1");
    ASSERT_TRUE(claimed.has_value());
    ASSERT_TRUE(Await(worker_->RunClaimed(*claimed)).ok());
    // Let it store some events first, so that the reaper's debate_end follows them.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (store_->ListEvents(created->id, 0, 10)->empty() &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    ASSERT_FALSE(store_->ListEvents(created->id, 0, 10)->empty());
    // Claim() leased it until kFarFuture; the worker's start renews it to now + lease,
    // which "much later" below has passed. Reaping before that renewal would find nothing.
    while (store_->GetDebate(created->id)->lease_expires_at == kFarFuture &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    ASSERT_NE(store_->GetDebate(created->id)->lease_expires_at, kFarFuture);

    auto reaped = store_->ReapExpiredLeases(kFarFuture, nullptr);  // "much later"
    ASSERT_TRUE(reaped.ok());
    ASSERT_EQ(*reaped, std::vector<std::string>{created->id});
    ASSERT_TRUE(WaitIdle(*worker_));
    auto d = store_->GetDebate(created->id);
    EXPECT_EQ(d->status, events::DebateStatus::kFailed);
    EXPECT_EQ(d->error_code, storage::kWorkerLostCode);
    EXPECT_EQ(d->receipt_id, "");
    EXPECT_EQ(store_->ListReceipts(created->id, 10, 0)->total, 0);
    auto events = store_->ListEvents(created->id, 0, 5000);
    ASSERT_FALSE(events->empty());
    EXPECT_EQ(events->back().type, "debate_end");
    EXPECT_EQ(std::count_if(events->begin(), events->end(),
                            [](const events::Event& e) { return e.type == "debate_end"; }),
              1);
    for (std::size_t i = 0; i < events->size(); ++i)
        EXPECT_EQ((*events)[i].seq, static_cast<std::int64_t>(i) + 1);
}

TEST_F(WorkerModeTest, ReapUsesTheServiceClockAndDebateEndData) {
    worker_ = Make(ExecutionMode::kLocal, "w2", 0);
    api_ = Make(ExecutionMode::kWorker, "", 0);
    auto created = Await(api_->Create(Request()));
    ASSERT_TRUE(created.ok());
    // A worker that claimed with a lease already over and then vanished.
    auto c =
        store_->ClaimQueuedDebate("gone", "2020-01-01T00:00:00.000Z", "2020-01-01T00:00:30.000Z");
    ASSERT_TRUE(c.ok() && c->has_value());
    auto reaped = Await(worker_->ReapExpiredLeases());
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    EXPECT_EQ(*reaped, std::vector<std::string>{created->id});
    auto events = store_->ListEvents(created->id, 0, 10);
    ASSERT_EQ(events->size(), 1u);
    EXPECT_NE(events->front().data_json.find("\"worker_lost\""), std::string::npos);
    EXPECT_NE(events->front().data_json.find("\"total_rounds\""), std::string::npos);
}

TEST_F(WorkerModeTest, CancelOfAQueuedDebateAndOfOneAWorkerRuns) {
    api_ = Make(ExecutionMode::kWorker, "", 0);
    worker_ = Make(ExecutionMode::kLocal, "w1", 100);
    auto queued = Await(api_->Create(Request()));
    ASSERT_TRUE(queued.ok());
    auto cancelled = Await(api_->Cancel(queued->id));
    ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
    EXPECT_EQ(cancelled->status, events::DebateStatus::kCancelled);
    EXPECT_FALSE(Claim("w1").has_value());
    auto again = Await(api_->Cancel(queued->id));
    EXPECT_EQ(again.error().code, ErrorCode::kConflict);

    auto running = Await(api_->Create(Request(6)));
    ASSERT_TRUE(running.ok());
    auto claimed = Claim("w1");
    ASSERT_TRUE(claimed.has_value());
    ASSERT_TRUE(Await(worker_->RunClaimed(*claimed)).ok());
    auto elsewhere = Await(api_->Cancel(running->id));
    ASSERT_FALSE(elsewhere.ok());
    EXPECT_EQ(elsewhere.error().code, ErrorCode::kConflict);
    EXPECT_NE(elsewhere.error().message.find("w1"), std::string::npos);

    // The hook the app wires (cross-instance cancel): here it asks the worker directly.
    api_->SetRemoteCancel(
        [this](const std::string& id,
               const std::string& owner) -> asio::awaitable<common::Result<storage::DebateRecord>> {
            EXPECT_EQ(owner, "w1");
            co_return co_await worker_->Cancel(id);
        });
    auto via_hook = Await(api_->Cancel(running->id));
    ASSERT_TRUE(via_hook.ok()) << via_hook.error().message;
    EXPECT_EQ(via_hook->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(store_->ListReceipts(running->id, 10, 0)->total, 0);
}

// Shutdown of a worker: a debate cancelled by the drain is finished cancelled under its
// lease (its events are stored, so it cannot go back to the queue).
TEST_F(WorkerModeTest, DrainCancelsRunningDebatesUnderTheLease) {
    api_ = Make(ExecutionMode::kWorker, "", 0);
    worker_ = Make(ExecutionMode::kLocal, "w1", 100);
    auto created = Await(api_->Create(Request(8)));
    ASSERT_TRUE(created.ok());
    auto claimed = Claim("w1");
    ASSERT_TRUE(claimed.has_value());
    ASSERT_TRUE(Await(worker_->RunClaimed(*claimed)).ok());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (store_->ListEvents(created->id, 0, 10)->empty() &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    Await(worker_->Drain(std::chrono::milliseconds(0)));
    auto d = store_->GetDebate(created->id);
    EXPECT_EQ(d->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(store_->ListReceipts(created->id, 10, 0)->total, 0);
    // Draining: a claimed debate is refused and released back to the queue.
    auto next = Await(api_->Create(Request()));
    ASSERT_TRUE(next.ok());
    auto c2 = Claim("w1");
    ASSERT_TRUE(c2.has_value());
    EXPECT_EQ(Await(worker_->RunClaimed(*c2)).error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(store_->GetDebate(next->id)->status, events::DebateStatus::kPending);
}

}  // namespace
}  // namespace aragora::service
