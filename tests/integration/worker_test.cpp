// `aragora worker` as built, on SQLite: debates are put in the queue through the Store
// (as an API instance with ARAGORA_DEBATE_EXECUTION=worker does; serve's wiring of that
// mode lives in src/app), a worker runs them to exactly one receipt; a worker killed
// with SIGKILL mid-debate loses its lease, a second worker reaps the debate (failed,
// worker_lost, no receipt, debate_end last) and never runs it. Only loopback, no sleeps:
// every wait polls a condition with a deadline.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agents/registry.hpp"
#include "common/ids.hpp"
#include "common/time.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "service/records.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "worker_process.hpp"

namespace aragora::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkerTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto store = storage::OpenSqliteStore({DataDir() + "/aragora.sqlite3"}, true);
        ASSERT_TRUE(store.ok()) << store.error().message;
        store_ = std::move(*store);
    }
    std::string DataDir() const { return dir_.path() + "/data"; }

    // What an enqueue-only API instance stores for POST /api/v1/debates.
    std::string Enqueue(const std::string& task, int rounds, int agents) {
        std::vector<std::string> names(static_cast<std::size_t>(agents), "demo");
        auto specs = agents::ParseAgentSpecs(names).value();
        debate::DebateSpec spec;
        spec.id = common::NewId("d_");
        spec.task = task;
        spec.rounds = rounds;
        for (const auto& a : specs) {
            spec.agents.push_back(a.name);
            spec.providers.push_back(a.provider);
        }
        storage::DebateRecord d;
        d.id = spec.id;
        d.task = task;
        d.status = events::DebateStatus::kPending;
        d.agents = spec.agents;
        d.rounds = rounds;
        d.consensus_method = "majority";
        d.created_at = common::FormatIso8601(std::chrono::system_clock::now());
        d.spec_json = service::SpecToJson(spec, specs);
        d.queued_for_worker = true;
        auto s = store_->CreateDebate(d);
        EXPECT_TRUE(s.ok()) << s.error().message;
        return d.id;
    }

    storage::DebateRecord Row(const std::string& id) {
        auto d = store_->GetDebate(id);
        return d.ok() ? *d : storage::DebateRecord{};
    }
    bool WaitStatus(const std::string& id, const std::string& status, milliseconds deadline) {
        return PollUntil([&] { return events::ToString(Row(id).status) == status; }, deadline);
    }

    TempDir dir_;
    std::unique_ptr<storage::Store> store_;
};

std::map<std::string, std::string> WorkerEnv() {
    return {{"ARAGORA_WORKER_LEASE_SECONDS", "2"},
            {"ARAGORA_DEMO_LATENCY_MS", "50"},
            {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"},
            {"WORKER_CONCURRENCY", "2"}};
}

TEST_F(WorkerTest, RunsAQueuedDebateToExactlyOneReceiptAndStopsOnSigterm) {
    WorkerProcess worker(DataDir(), WorkerEnv());
    ASSERT_TRUE(worker.Start()) << worker.Logs();
    const std::string id = Enqueue("Should the worker run this?", 1, 2);
    ASSERT_TRUE(WaitStatus(id, "completed", seconds(30)))
        << events::ToString(Row(id).status) << " " << Row(id).error_code << "\n"
        << worker.Logs();
    auto d = Row(id);
    EXPECT_EQ(d.lease_owner, worker.Id());
    EXPECT_EQ(d.attempts, 1);
    EXPECT_FALSE(d.receipt_id.empty());
    auto receipts = store_->ListReceipts(id, 10, 0);
    ASSERT_TRUE(receipts.ok());
    EXPECT_EQ(receipts->total, 1);
    auto events = store_->ListEvents(id, 0, 5000);
    ASSERT_TRUE(events.ok());
    ASSERT_FALSE(events->empty());
    EXPECT_EQ(events->back().type, "debate_end");
    // The debate_end log line follows the stored end: the row may be read first.
    EXPECT_TRUE(PollUntil(
        [&] { return worker.Logs().find("debate_end debate_id=" + id) != std::string::npos; },
        seconds(10)))
        << worker.Logs();
    const std::string logs = worker.Logs();
    EXPECT_NE(logs.find("claimed debate_id=" + id), std::string::npos) << logs;
    EXPECT_EQ(worker.Terminate(seconds(20)), 0) << worker.Logs();
}

TEST_F(WorkerTest, AKilledWorkersDebateIsReapedByAnotherAndNeverGetsAReceipt) {
    auto first = std::make_unique<WorkerProcess>(DataDir(), WorkerEnv());
    ASSERT_TRUE(first->Start()) << first->Logs();
    const std::string first_id = first->Id();
    ASSERT_FALSE(first_id.empty());
    // 12 rounds, 8 agents, 50 ms per call, no early stop: several seconds.
    const std::string id = Enqueue("A long debate the first worker will not finish", 12, 8);
    ASSERT_TRUE(PollUntil(
        [&] {
            auto e = store_->ListEvents(id, 0, 20);
            return Row(id).status == events::DebateStatus::kRunning && e.ok() && e->size() >= 5;
        },
        seconds(30)))
        << first->Logs();
    ASSERT_EQ(Row(id).lease_owner, first_id);
    first->Kill();
    const auto killed_at = std::chrono::steady_clock::now();

    WorkerProcess second(DataDir(), WorkerEnv());
    ASSERT_TRUE(second.Start()) << second.Logs();
    ASSERT_TRUE(WaitStatus(id, "failed", seconds(20))) << events::ToString(Row(id).status) << "\n"
                                                       << second.Logs();
    // Not before the lease (2 s) could have run out.
    EXPECT_GE(std::chrono::steady_clock::now() - killed_at, milliseconds(1000));
    auto d = Row(id);
    EXPECT_EQ(d.error_code, "worker_lost");
    EXPECT_EQ(d.error_message, "worker stopped while the debate was running");
    EXPECT_EQ(d.receipt_id, "");
    EXPECT_EQ(d.lease_owner, first_id);  // the second worker never ran it
    EXPECT_EQ(d.attempts, 1);
    EXPECT_EQ(store_->ListReceipts(id, 10, 0)->total, 0);
    auto events = store_->ListEvents(id, 0, 100000);
    ASSERT_TRUE(events.ok());
    ASSERT_FALSE(events->empty());
    EXPECT_EQ(events->back().type, "debate_end");
    EXPECT_NE(events->back().data_json.find("worker_lost"), std::string::npos);
    for (std::size_t i = 0; i < events->size(); ++i)
        EXPECT_EQ((*events)[i].seq, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(second.Logs().find("claimed debate_id=" + id), std::string::npos);

    // The second worker keeps serving the queue: a new debate completes with its receipt,
    // and the reaped one still has none.
    const std::string next = Enqueue("After the crash", 1, 2);
    ASSERT_TRUE(WaitStatus(next, "completed", seconds(30))) << second.Logs();
    EXPECT_EQ(Row(next).lease_owner, second.Id());
    EXPECT_EQ(store_->ListReceipts(next, 10, 0)->total, 1);
    EXPECT_EQ(store_->ListReceipts(id, 10, 0)->total, 0);
    EXPECT_EQ(Row(id).status, events::DebateStatus::kFailed);
    EXPECT_EQ(second.Terminate(seconds(20)), 0) << second.Logs();
}

}  // namespace
}  // namespace aragora::testing
