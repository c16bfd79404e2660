// LocalDebateService through a storage outage (disk full, database unreachable): a store
// whose writes fail on demand, over a real SQLite store. Creates are refused with
// kUnavailable (503 + Retry-After at the API), the write health flips and recovers by
// itself (probe), running debates retry their writes and either complete once storage is
// back within the outage budget or end failed (storage_unavailable) with a stored
// debate_end — never left running. Cancel of a debate another instance runs goes to the
// remote-cancel hook. The outage budget runs on a manual clock; the test waits on the
// store's write attempts, never on time.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <thread>

#include "agents/registry.hpp"
#include "service/local_debate_service.hpp"
#include "service/storage_health.hpp"
#include "service_test_support.hpp"
#include "storage/forwarding_store.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::service {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;
using common::Status;
using std::chrono::milliseconds;

// A store whose writes fail with what SQLite answers on a full disk while failing() is
// set; reads always work. Counts the write attempts (failed or not) per method, and keeps
// the last record FinishDebate was asked to write.
class FaultyStore final : public storage::ForwardingStore {
public:
    explicit FaultyStore(std::unique_ptr<storage::Store> inner)
        : ForwardingStore(*inner), inner_(std::move(inner)) {}

    // `creates_too` false: CreateDebate still works (a debate is accepted, then the disk
    // fills), so the test needs no race with the debate's first write.
    void SetFailing(bool failing, bool creates_too = true) {
        std::lock_guard lock(mu_);
        failing_ = failing;
        fail_creates_ = creates_too;
    }
    // Waits (bounded) until `pred` holds over the counters; false at the deadline.
    bool WaitFor(const std::function<bool()>& pred, milliseconds deadline = milliseconds(20000)) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, deadline, pred);
    }
    int finish_attempts() const { return finish_attempts_; }                // under WaitFor's lock
    int append_attempts() const { return append_attempts_; }                // under WaitFor's lock
    int probe_attempts() const { return probe_attempts_; }                  // under WaitFor's lock
    std::string last_finish_status() const { return last_finish_status_; }  // ditto
    storage::Store& inner() { return *inner_; }

    Status CreateDebate(const storage::DebateRecord& d) override {
        if (auto e = Write(/*create=*/true)) return *e;
        return inner_->CreateDebate(d);
    }
    Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                              const std::string& started_at) override {
        if (auto e = Write()) return *e;
        return inner_->UpdateDebateStatus(id, status, started_at);
    }
    Result<std::optional<storage::ReceiptRecord>> FinishDebate(
        const storage::DebateRecord& debate, const std::vector<events::Event>& events,
        const storage::ReceiptBuilder* receipt) override {
        {
            std::lock_guard lock(mu_);
            ++finish_attempts_;
            last_finish_status_ = std::string(events::ToString(debate.status)) +
                                  (debate.error_code.empty() ? "" : "/") + debate.error_code;
        }
        cv_.notify_all();
        if (auto e = Write()) return *e;
        auto r = inner_->FinishDebate(debate, events, receipt);
        cv_.notify_all();  // WaitTerminal reads the row
        return r;
    }
    Result<int> MarkInterrupted(const std::string& now) override {
        if (auto e = Write()) return *e;
        return inner_->MarkInterrupted(now);
    }
    Status AppendEvents(const std::vector<events::Event>& events) override {
        {
            std::lock_guard lock(mu_);
            ++append_attempts_;
        }
        cv_.notify_all();
        if (auto e = Write()) return *e;
        return inner_->AppendEvents(events);
    }
    Status Ping() override { return inner_->Ping(); }  // reads work: only writes fail
    Status ProbeWrite() override {
        {
            std::lock_guard lock(mu_);
            ++probe_attempts_;
        }
        cv_.notify_all();
        if (auto e = Write()) return *e;
        return inner_->ProbeWrite();
    }

private:
    std::optional<common::Error> Write(bool create = false) {
        std::lock_guard lock(mu_);
        if (!failing_ || (create && !fail_creates_)) return std::nullopt;
        return common::MakeError(ErrorCode::kUnavailable,
                                 "storage unavailable: sqlite: commit: database or disk is full");
    }

    std::unique_ptr<storage::Store> inner_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool failing_ = false;
    bool fail_creates_ = true;
    int finish_attempts_ = 0;
    int append_attempts_ = 0;
    int probe_attempts_ = 0;
    std::string last_finish_status_;
};

class StorageOutageTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        await_limit_ = std::chrono::seconds(30);
        auto store = OpenStoreAndStart("outage-test-key");
        ASSERT_NE(store, nullptr);
        store_ = std::make_unique<FaultyStore>(std::move(store));
    }
    void TearDown() override {
        store_->SetFailing(false);
        if (service_) Await(service_->Drain(milliseconds(5000)));
        service_.reset();
        StopAndClean();
    }

    // Retries every few ms; the budget (30 s) passes only when the test advances clock_.
    void Make(int latency_ms = 0) {
        ServiceSettings s;
        s.max_running = 4;
        s.max_queued = 4;
        s.demo_latency = milliseconds(latency_ms);
        s.storage_retry_initial = milliseconds(1);
        s.storage_retry_max = milliseconds(5);
        s.storage_outage_budget = std::chrono::seconds(30);
        s.storage_probe_interval = milliseconds(2);
        registries_.push_back(std::make_unique<metrics::Registry>());
        service_ = std::make_unique<LocalDebateService>(ioc_.get_executor(), clock_, s, *store_,
                                                        pool_, keys_, hub_, *registries_.back());
    }

    CreateDebateRequest Request(int rounds = 2) {
        CreateDebateRequest r;
        r.task = "Should the disk be bigger?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo", "demo"}).value();
        r.rounds = rounds;
        return r;
    }

    // The row once terminal: checked at each finished final write (and at once).
    storage::DebateRecord WaitTerminal(const std::string& id) {
        storage::DebateRecord out;
        const bool done = store_->WaitFor([&] {
            auto r = store_->inner().GetDebate(id);
            if (!r.ok() || (r->status != events::DebateStatus::kCompleted &&
                            r->status != events::DebateStatus::kFailed &&
                            r->status != events::DebateStatus::kCancelled))
                return false;
            out = *r;
            return true;
        });
        if (!done) ADD_FAILURE() << "debate " << id << " did not end";
        return out;
    }

    // Every stored event, seq 1..n without a gap, debate_end last.
    std::vector<events::Event> ExpectCleanEnd(const std::string& id) {
        auto events = store_->inner().ListEvents(id, 0, 10000);
        EXPECT_TRUE(events.ok());
        if (!events.ok() || events->empty()) {
            ADD_FAILURE() << "no events stored for " << id;
            return {};
        }
        for (std::size_t i = 0; i < events->size(); ++i)
            EXPECT_EQ((*events)[i].seq, static_cast<std::int64_t>(i) + 1);
        EXPECT_EQ(events->back().type, "debate_end");
        return *events;
    }

    common::ManualClock clock_;
    std::unique_ptr<FaultyStore> store_;
    std::vector<std::unique_ptr<metrics::Registry>> registries_;
    std::unique_ptr<LocalDebateService> service_;
};

TEST(StorageWriteHealthTest, FlipsOnOutageErrorsOnlyAndBackOnSuccess) {
    common::ManualClock clock;
    StorageWriteHealth health(clock);
    std::vector<bool> changes;
    health.SetChangeHandler(
        [&changes](bool writable, const std::string&) { changes.push_back(writable); });
    EXPECT_TRUE(health.writable());
    health.RecordFailure(common::MakeError(ErrorCode::kConflict, "duplicate id"));
    health.RecordFailure(common::MakeError(ErrorCode::kStorage, "foreign key"));
    EXPECT_TRUE(health.writable()) << "a refused write says nothing about the storage";
    health.RecordFailure(common::MakeError(ErrorCode::kUnavailable, "disk full"));
    health.RecordFailure(common::MakeError(ErrorCode::kUnavailable, "disk still full"));
    EXPECT_FALSE(health.writable());
    auto state = health.State();
    EXPECT_EQ(state.last_error, "disk still full");
    EXPECT_EQ(state.outage_failures, 2u);
    EXPECT_EQ(state.outages, 1u);
    ASSERT_TRUE(state.failing_since.has_value());
    EXPECT_EQ(*state.failing_since, clock.SystemNow());
    health.RecordSuccess();
    EXPECT_TRUE(health.writable());
    EXPECT_EQ(health.State().last_error, "");
    EXPECT_EQ(changes, (std::vector<bool>{false, true}));
}

TEST_F(StorageOutageTest, CreateIsRefusedAsUnavailableAndHealthRecoversByItself) {
    Make();
    store_->SetFailing(true);
    auto refused = Await(service_->Create(Request()));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(refused.error().message.find("disk is full"), std::string::npos);
    EXPECT_FALSE(service_->write_health().writable());
    EXPECT_EQ(service_->Stats().running + service_->Stats().queued, 0u) << "slot released";
    // Nothing else writes: the probe keeps trying, and notices that writes work again.
    ASSERT_TRUE(store_->WaitFor([&] { return store_->probe_attempts() >= 2; }));
    EXPECT_FALSE(service_->write_health().writable());
    store_->SetFailing(false);
    ASSERT_TRUE(Eventually([&] { return service_->write_health().writable(); }))
        << "write health did not recover";
    auto created = Await(service_->Create(Request(1)));
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_EQ(WaitTerminal(created->id).status, events::DebateStatus::kCompleted);
}

TEST_F(StorageOutageTest, DebateRetriesItsWritesAndCompletesWhenStorageReturnsInTime) {
    Make();
    store_->SetFailing(true, /*creates_too=*/false);
    auto created = Await(service_->Create(Request(2)));
    ASSERT_TRUE(created.ok()) << created.error().message;
    // The final write fails and is retried (the budget has not passed on the clock).
    ASSERT_TRUE(store_->WaitFor([&] { return store_->finish_attempts() >= 3; }));
    EXPECT_EQ(store_->inner().GetDebate(created->id)->status, events::DebateStatus::kPending);
    EXPECT_FALSE(service_->write_health().writable());
    store_->SetFailing(false);
    auto done = WaitTerminal(created->id);
    EXPECT_EQ(done.status, events::DebateStatus::kCompleted);
    EXPECT_FALSE(done.receipt_id.empty());
    auto events = ExpectCleanEnd(created->id);
    EXPECT_NE(events.back().data_json.find(done.receipt_id), std::string::npos);
    // Recorded once the write returns to the service, just after the row turned final.
    EXPECT_TRUE(Eventually([&] { return service_->write_health().writable(); }));
}

TEST_F(StorageOutageTest, PastTheBudgetItEndsFailedOnceStorageIsBack) {
    Make();
    store_->SetFailing(true, /*creates_too=*/false);
    auto created = Await(service_->Create(Request(2)));
    ASSERT_TRUE(created.ok()) << created.error().message;
    ASSERT_TRUE(store_->WaitFor([&] { return store_->finish_attempts() >= 2; }));
    EXPECT_EQ(store_->last_finish_status(), "completed");
    // The outage outlasts the budget: the debate gives up its result and keeps trying
    // to store its failure, as long as it takes.
    clock_.Advance(std::chrono::seconds(31));
    ASSERT_TRUE(store_->WaitFor(
        [&] { return store_->last_finish_status() == "failed/storage_unavailable"; }));
    const int attempts = store_->finish_attempts();
    ASSERT_TRUE(store_->WaitFor([&] { return store_->finish_attempts() >= attempts + 3; }));
    EXPECT_EQ(store_->inner().GetDebate(created->id)->status, events::DebateStatus::kPending)
        << "nothing is stored while the disk is full";
    EXPECT_EQ(service_->Stats().running, 1u) << "a run is still behind it";
    store_->SetFailing(false);
    auto done = WaitTerminal(created->id);
    EXPECT_EQ(done.status, events::DebateStatus::kFailed);
    EXPECT_EQ(done.error_code, "storage_unavailable");
    EXPECT_TRUE(done.receipt_id.empty());
    EXPECT_FALSE(store_->inner().GetReceipt(created->id).ok());
    auto events = ExpectCleanEnd(created->id);
    EXPECT_NE(events.back().data_json.find("storage_unavailable"), std::string::npos);
    EXPECT_NE(events.back().data_json.find("\"status\":\"failed\""), std::string::npos);
}

TEST_F(StorageOutageTest, ALongRunningDebateIsStoppedWhenItsEventsCannotBeStored) {
    Make(20);  // 10 rounds at 20 ms per call: far longer than the test
    store_->SetFailing(true, /*creates_too=*/false);
    auto created = Await(service_->Create(Request(10)));
    ASSERT_TRUE(created.ok()) << created.error().message;
    ASSERT_TRUE(store_->WaitFor([&] { return store_->append_attempts() >= 2; }));
    EXPECT_EQ(store_->finish_attempts(), 0);
    clock_.Advance(std::chrono::seconds(31));
    // The next failed flush stops the engine; the failed end is then retried.
    ASSERT_TRUE(store_->WaitFor(
        [&] { return store_->last_finish_status() == "failed/storage_unavailable"; }));
    store_->SetFailing(false);
    auto done = WaitTerminal(created->id);
    EXPECT_EQ(done.status, events::DebateStatus::kFailed);
    EXPECT_EQ(done.error_code, "storage_unavailable");
    EXPECT_LT(done.rounds_used, 10);
    ExpectCleanEnd(created->id);
}

TEST_F(StorageOutageTest, ShutdownGivesUpAndTheNextStartEndsTheDebate) {
    Make();
    store_->SetFailing(true, /*creates_too=*/false);
    auto created = Await(service_->Create(Request(2)));
    ASSERT_TRUE(created.ok()) << created.error().message;
    ASSERT_TRUE(store_->WaitFor([&] { return store_->finish_attempts() >= 2; }));
    // The grace runs on the manual clock: advance it until Drain has given up.
    auto drained = asio::co_spawn(ioc_, service_->Drain(milliseconds(10)), asio::use_future);
    for (int i = 0; i < 2000 && drained.wait_for(milliseconds(10)) != std::future_status::ready;
         ++i) {
        clock_.Advance(std::chrono::seconds(1));
    }
    ASSERT_EQ(drained.wait_for(milliseconds(0)), std::future_status::ready);
    EXPECT_EQ(service_->Stats().running, 0u) << "drain must not wait on a full disk forever";
    EXPECT_EQ(store_->inner().GetDebate(created->id)->status, events::DebateStatus::kPending);
    store_->SetFailing(false);
    // The next process: crash recovery ends it, with a debate_end.
    service_.reset();
    Make();
    auto recovered = Await(service_->RecoverInterrupted());
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    EXPECT_EQ(*recovered, 1);
    auto row = store_->inner().GetDebate(created->id);
    EXPECT_EQ(row->status, events::DebateStatus::kFailed);
    EXPECT_EQ(row->error_code, "interrupted");
    ExpectCleanEnd(created->id);
}

// Another instance runs the debate (local execution there, not a worker's queue): the
// cancel goes to the remote-cancel hook with no lease owner, for a running and for a
// pending debate, and answers the row as it ended.
TEST_F(StorageOutageTest, CancelOfADebateAnotherInstanceRunsGoesThroughTheBus) {
    Make();
    for (const char* status : {"running", "pending"}) {
        storage::DebateRecord elsewhere;
        elsewhere.id = std::string("d_elsewhere_") + status;
        elsewhere.task = "runs on instance A";
        elsewhere.status = events::ParseDebateStatus(status).value();
        elsewhere.created_at = "2026-11-23T10:00:00.000Z";
        ASSERT_TRUE(store_->CreateDebate(elsewhere).ok());

        // Without the bus: a clear conflict, not "already running".
        auto alone = Await(service_->Cancel(elsewhere.id));
        ASSERT_FALSE(alone.ok());
        EXPECT_EQ(alone.error().code, ErrorCode::kConflict);
        EXPECT_NE(alone.error().message.find("another process"), std::string::npos)
            << alone.error().message;
        EXPECT_NE(alone.error().message.find("ARAGORA_MULTI_INSTANCE"), std::string::npos);
    }
    std::vector<std::pair<std::string, std::string>> asked;
    service_->SetRemoteCancel(
        [this, &asked](const std::string& id,
                       const std::string& owner) -> asio::awaitable<Result<storage::DebateRecord>> {
            asked.emplace_back(id, owner);
            // The instance running it cancels it: its row as it ended.
            storage::DebateRecord row = *store_->GetDebate(id);
            row.status = events::DebateStatus::kCancelled;
            row.error_code = "cancelled";
            row.completed_at = "2026-11-23T10:00:01.000Z";
            auto end = store_->FinishDebate(row, {}, nullptr);
            if (!end) co_return end.error();
            co_return *store_->GetDebate(id);
        });
    for (const char* status : {"running", "pending"}) {
        const std::string id = std::string("d_elsewhere_") + status;
        auto cancelled = Await(service_->Cancel(id));
        ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
        EXPECT_EQ(cancelled->status, events::DebateStatus::kCancelled);
        EXPECT_EQ(store_->GetDebate(id)->status, events::DebateStatus::kCancelled);
        auto again = Await(service_->Cancel(id));
        EXPECT_EQ(again.error().code, ErrorCode::kConflict);
    }
    ASSERT_EQ(asked.size(), 2u);
    EXPECT_EQ(asked[0], (std::pair<std::string, std::string>{"d_elsewhere_running", ""}));
    EXPECT_EQ(asked[1], (std::pair<std::string, std::string>{"d_elsewhere_pending", ""}));
}

}  // namespace
}  // namespace aragora::service
