// One lease renewal per process (service/run/LeaseRenewer) through LocalDebateService with
// lease_local: every leased run, running or waiting for a slot, is renewed by one
// Store::RenewLeases call per beat (no RenewLease per debate); a lease lost to a reaper
// stops exactly that run, which writes nothing more; a renewal racing a run's own end is
// not a lost lease; a storage error is one warning and the next beat renews them all; a
// worker's claimed debate is renewed the same way; a drain stops the renewer without
// waiting for its next beat.
// Beats are driven by the test (RenewOnce) on a manual clock: the loop's own heartbeat is an
// hour, and demo agents answer after an hour, so debates stay running until stopped. No
// test sleeps.

#include "service/run/lease_renewer.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <future>
#include <mutex>

#include "agents/registry.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "events/status.hpp"
#include "service/local_debate_service.hpp"
#include "service/records.hpp"
#include "service_test_support.hpp"

namespace aragora::service {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;
using common::Status;
using std::chrono::hours;

// Forwards to a real store. Counts lease renewals (RenewLeases calls and the ids they
// carried; RenewLease calls); can fail RenewLeases (a storage outage), and can hold a
// FinishLeasedDebate after it committed, before it returns (bounded wait, no sleep).
class LeaseStore final : public storage::Store {
public:
    explicit LeaseStore(std::unique_ptr<storage::Store> inner) : inner_(std::move(inner)) {}

    storage::Store& inner() { return *inner_; }
    struct Counts {
        int renew_leases = 0;  // RenewLeases calls
        int renew_lease = 0;   // RenewLease calls
        std::vector<std::size_t> ids_per_call;
    };
    Counts counts() {
        std::lock_guard lock(mu_);
        return counts_;
    }
    void FailRenewals(bool fail) {
        std::lock_guard lock(mu_);
        fail_renewals_ = fail;
    }
    void HoldFinishes() {
        std::lock_guard lock(mu_);
        hold_finishes_ = true;
    }
    void ReleaseFinishes() {
        {
            std::lock_guard lock(mu_);
            hold_finishes_ = false;
        }
        cv_.notify_all();
    }
    // Waits (bounded) until a held finish has committed.
    bool WaitFinishCommitted() {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return finish_committed_; });
    }

    Result<std::vector<storage::LostLease>> RenewLeases(const std::string& owner,
                                                        const std::vector<std::string>& ids,
                                                        const std::string& until) override {
        {
            std::lock_guard lock(mu_);
            ++counts_.renew_leases;
            counts_.ids_per_call.push_back(ids.size());
            if (fail_renewals_) {
                return common::MakeError(ErrorCode::kUnavailable,
                                         "storage unavailable: database is restarting");
            }
        }
        return inner_->RenewLeases(owner, ids, until);
    }
    Status RenewLease(const std::string& id, const std::string& owner,
                      const std::string& until) override {
        {
            std::lock_guard lock(mu_);
            ++counts_.renew_lease;
        }
        return inner_->RenewLease(id, owner, until);
    }
    Result<std::optional<storage::ReceiptRecord>> FinishLeasedDebate(
        const storage::DebateRecord& debate, const std::vector<events::Event>& events,
        const storage::ReceiptBuilder* receipt, const std::string& owner) override {
        auto r = inner_->FinishLeasedDebate(debate, events, receipt, owner);
        std::unique_lock lock(mu_);
        if (hold_finishes_) {
            finish_committed_ = true;
            cv_.notify_all();
            cv_.wait_for(lock, std::chrono::seconds(20), [&] { return !hold_finishes_; });
        }
        return r;
    }

    Result<std::optional<storage::DebateRecord>> ClaimQueuedDebate(
        const std::string& worker_id, const std::string& now,
        const std::string& lease_until) override {
        return inner_->ClaimQueuedDebate(worker_id, now, lease_until);
    }
    Status ReleaseLease(const std::string& id, const std::string& owner) override {
        return inner_->ReleaseLease(id, owner);
    }
    Result<std::vector<std::string>> ReapExpiredLeases(
        const std::string& now, const storage::DebateEndDataBuilder& end_data) override {
        return inner_->ReapExpiredLeases(now, end_data);
    }
    Status StartLeasedDebate(const std::string& id, const std::string& owner,
                             const std::string& started_at) override {
        return inner_->StartLeasedDebate(id, owner, started_at);
    }
    Status AppendLeasedEvents(const std::vector<events::Event>& events,
                              const std::string& owner) override {
        return inner_->AppendLeasedEvents(events, owner);
    }
    std::vector<Status> AppendEventBatches(std::span<const storage::EventBatch> b) override {
        return inner_->AppendEventBatches(b);
    }
    Status CreateDebate(const storage::DebateRecord& d) override { return inner_->CreateDebate(d); }
    Result<storage::DebateRecord> GetDebate(const std::string& id) override {
        return inner_->GetDebate(id);
    }
    Result<storage::DebatePage> ListDebates(const storage::DebateFilter& f) override {
        return inner_->ListDebates(f);
    }
    Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                              const std::string& started_at) override {
        return inner_->UpdateDebateStatus(id, status, started_at);
    }
    Result<std::optional<storage::ReceiptRecord>> FinishDebate(
        const storage::DebateRecord& debate, const std::vector<events::Event>& events,
        const storage::ReceiptBuilder* receipt) override {
        return inner_->FinishDebate(debate, events, receipt);
    }
    Result<int> MarkInterrupted(const std::string& now) override {
        return inner_->MarkInterrupted(now);
    }
    Status AppendEvents(const std::vector<events::Event>& events) override {
        return inner_->AppendEvents(events);
    }
    Result<std::vector<events::Event>> ListEvents(const std::string& id, std::int64_t since,
                                                  int limit) override {
        return inner_->ListEvents(id, since, limit);
    }
    Result<storage::ReceiptRecord> GetReceipt(const std::string& id) override {
        return inner_->GetReceipt(id);
    }
    Result<storage::ReceiptPage> ListReceipts(const std::string& debate_id, int limit,
                                              int offset) override {
        return inner_->ListReceipts(debate_id, limit, offset);
    }
    Result<std::optional<std::string>> LastReceiptHash() override {
        return inner_->LastReceiptHash();
    }
    Status Ping() override { return inner_->Ping(); }
    Status ProbeWrite() override { return inner_->ProbeWrite(); }

private:
    std::unique_ptr<storage::Store> inner_;
    std::mutex mu_;
    std::condition_variable cv_;
    Counts counts_;
    bool fail_renewals_ = false;
    bool hold_finishes_ = false;
    bool finish_committed_ = false;
};

class LeaseRenewerTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        auto inner = OpenStoreAndStart("lease-renewer-test-key");
        ASSERT_NE(inner, nullptr);
        store_ = std::make_unique<LeaseStore>(std::move(inner));
        sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024);
        common::GetLogger("aragora.debate")->sinks().push_back(sink_);
    }
    void TearDown() override {
        if (store_) store_->ReleaseFinishes();
        if (service_) Await(service_->Drain(std::chrono::milliseconds(0)));
        service_.reset();
        auto& sinks = common::GetLogger("aragora.debate")->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
        StopAndClean();
    }

    // An API instance on a shared database (lease_local), or a worker (`worker`: only the
    // debates it claims are leased). The loop's heartbeat is an hour: the test beats.
    void Make(std::size_t max_running, std::size_t max_queued, bool worker = false) {
        ServiceSettings s;
        s.max_running = max_running;
        s.max_queued = max_queued;
        s.demo_latency = hours(1);
        s.lease.worker_id = "inst_a";
        s.lease.duration = hours(1);
        s.lease.heartbeat = hours(1);
        s.lease_local = !worker;
        service_ = std::make_unique<LocalDebateService>(ioc_.get_executor(), clock_, s, *store_,
                                                        pool_, keys_, hub_, registry_);
        ASSERT_NE(service_->lease_renewer(), nullptr);
    }
    run::LeaseRenewer& Renewer() { return *service_->lease_renewer(); }

    CreateDebateRequest Request() {
        CreateDebateRequest r;
        r.task = "Should one statement renew every lease?";
        r.agents = agents::ParseAgentSpecs({"demo", "demo"}).value();
        r.rounds = 2;
        return r;
    }
    // A debate that runs (blocked in its first agent call, its opening events stored).
    std::string StartRunning() {
        auto created = Await(service_->Create(Request()));
        EXPECT_TRUE(created.ok()) << created.error().message;
        if (!created.ok()) return "";
        const std::string id = created->id;
        EXPECT_TRUE(Eventually([&] {
            auto events = store_->ListEvents(id, 0, 10);
            return events.ok() && !events->empty();
        }));
        return id;
    }
    // A debate waiting for a slot.
    std::string StartWaiting() {
        auto created = Await(service_->Create(Request()));
        EXPECT_TRUE(created.ok()) << created.error().message;
        return created.ok() ? created->id : "";
    }
    std::string LeaseUntil(const std::string& id) {
        return store_->GetDebate(id)->lease_expires_at;
    }
    std::string Expected() { return common::FormatIso8601(clock_.SystemNow() + hours(1)); }
    // Log lines of aragora.debate containing `text`.
    int Logged(const std::string& text) {
        int n = 0;
        for (const auto& line : sink_->last_formatted()) n += line.find(text) != std::string::npos;
        return n;
    }
    int DebateEnds(const std::string& id) {
        auto events = store_->ListEvents(id, 0, 1000);  // kept: the loop reads into it
        int n = 0;
        for (const auto& e : *events) n += e.type == "debate_end";
        return n;
    }

    common::ManualClock clock_;
    std::unique_ptr<LeaseStore> store_;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    metrics::Registry registry_;
    std::unique_ptr<LocalDebateService> service_;
};

TEST_F(LeaseRenewerTest, OneRenewLeasesCallPerBeatRenewsEveryLeasedRun) {
    Make(/*max_running=*/3, /*max_queued=*/2);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(StartRunning());
    for (int i = 0; i < 2; ++i) ids.push_back(StartWaiting());
    ASSERT_TRUE(Eventually([&] { return Renewer().Size() == 5; }));
    EXPECT_EQ(store_->GetDebate(ids.back())->status, events::DebateStatus::kPending);

    for (int beat = 1; beat <= 2; ++beat) {
        clock_.Advance(std::chrono::minutes(20));
        auto lost = Await(Renewer().RenewOnce());
        ASSERT_TRUE(lost.ok()) << lost.error().message;
        EXPECT_EQ(*lost, 0u);
        auto counts = store_->counts();
        EXPECT_EQ(counts.renew_leases, beat);
        EXPECT_EQ(counts.ids_per_call.back(), 5u);
        EXPECT_EQ(counts.renew_lease, 0);  // no renewal per debate
        for (const auto& id : ids) EXPECT_EQ(LeaseUntil(id), Expected()) << id;
    }
    auto stats = Renewer().Stats();
    EXPECT_EQ(stats.renewals, 2u);
    EXPECT_EQ(stats.renewed, 10u);
    EXPECT_EQ(stats.lost, 0u);
    EXPECT_NE(registry_.RenderPrometheus().find("aragora_lease_renewals_total 2"),
              std::string::npos);
}

// The first debate's lease runs out (this process stalled past it) and a reaper ends it:
// the next beat stops exactly that run, which writes nothing more; the others run on and
// are renewed.
TEST_F(LeaseRenewerTest, ALostLeaseStopsExactlyThatRun) {
    Make(/*max_running=*/3, /*max_queued=*/0);
    const std::string lost_id = StartRunning();
    clock_.Advance(hours(2));
    const std::string b = StartRunning();
    const std::string c = StartRunning();
    ASSERT_TRUE(Eventually([&] { return Renewer().Size() == 3; }));
    auto reaped =
        store_->inner().ReapExpiredLeases(common::FormatIso8601(clock_.SystemNow()), nullptr);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    ASSERT_EQ(*reaped, std::vector<std::string>{lost_id});

    auto lost = Await(Renewer().RenewOnce());
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_EQ(*lost, 1u);
    ASSERT_TRUE(Eventually([&] { return !service_->RunsHere(lost_id); }));
    auto d = store_->GetDebate(lost_id);
    EXPECT_EQ(d->status, events::DebateStatus::kFailed);
    EXPECT_EQ(d->error_code, storage::kInstanceLostCode);
    EXPECT_EQ(d->receipt_id, "");
    EXPECT_EQ(DebateEnds(lost_id), 1);  // the reaper's, nothing after it
    EXPECT_EQ(store_->ListEvents(lost_id, 0, 1000)->back().type, "debate_end");
    EXPECT_EQ(Logged("lease lost debate_id=" + lost_id), 1);
    for (const auto& id : {b, c}) {
        EXPECT_TRUE(service_->RunsHere(id)) << id;
        EXPECT_EQ(store_->GetDebate(id)->status, events::DebateStatus::kRunning) << id;
        EXPECT_EQ(LeaseUntil(id), Expected()) << id;
    }
    EXPECT_EQ(Renewer().Size(), 2u);  // the lost one is renewed no more
    EXPECT_EQ(Renewer().Stats().lost, 1u);
    EXPECT_EQ(service_->Stats().running, 2u);
}

// The run's final write has committed (cancelled) but the run has not finished when a
// beat finds the debate no longer held: that is the run's own end, not a lost lease.
TEST_F(LeaseRenewerTest, ARenewalRacingTheRunsOwnEndIsNotALostLease) {
    Make(/*max_running=*/1, /*max_queued=*/0);
    const std::string id = StartRunning();
    ASSERT_TRUE(Eventually([&] { return Renewer().Size() == 1; }));
    store_->HoldFinishes();
    auto cancelled = asio::co_spawn(ioc_, service_->Cancel(id), asio::use_future);
    ASSERT_TRUE(store_->WaitFinishCommitted());
    EXPECT_EQ(store_->inner().GetDebate(id)->status, events::DebateStatus::kCancelled);

    auto lost = Await(Renewer().RenewOnce());
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_EQ(*lost, 1u);  // the store no longer holds it for us; the run decides
    store_->ReleaseFinishes();
    ASSERT_EQ(cancelled.wait_for(await_limit_), std::future_status::ready);
    auto ended = cancelled.get();
    ASSERT_TRUE(ended.ok()) << ended.error().message;
    EXPECT_EQ(ended->status, events::DebateStatus::kCancelled);
    EXPECT_EQ(DebateEnds(id), 1);
    EXPECT_EQ(Logged("lease lost debate_id=" + id), 0);
    EXPECT_EQ(Logged("debate_discarded debate_id=" + id), 0);
    EXPECT_EQ(Renewer().Size(), 0u);
}

// A storage error: one warning for the whole beat (not one per debate), the write health
// says so, no run is stopped; the next beat renews them all and the health recovers.
TEST_F(LeaseRenewerTest, AStorageErrorIsOneWarningAndTheNextBeatRenewsThemAll) {
    Make(/*max_running=*/3, /*max_queued=*/0);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(StartRunning());
    ASSERT_TRUE(Eventually([&] { return Renewer().Size() == 3; }));
    store_->FailRenewals(true);
    clock_.Advance(std::chrono::minutes(20));
    auto failed = Await(Renewer().RenewOnce());
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
    // The health turned (its transition's log line; writable() itself may already be true
    // again: the running debates' own event commits succeed meanwhile and say so).
    EXPECT_EQ(Logged("storage: writes fail"), 1);
    EXPECT_EQ(Logged("lease renewal of 3 debate(s) failed"), 1);
    EXPECT_EQ(Logged("lease lost"), 0);
    for (const auto& id : ids) EXPECT_TRUE(service_->RunsHere(id)) << id;

    store_->FailRenewals(false);
    auto renewed = Await(Renewer().RenewOnce());
    ASSERT_TRUE(renewed.ok()) << renewed.error().message;
    EXPECT_EQ(*renewed, 0u);
    EXPECT_TRUE(service_->write_health().writable());
    for (const auto& id : ids) EXPECT_EQ(LeaseUntil(id), Expected()) << id;
    EXPECT_EQ(Renewer().Stats().failures, 1u);
    EXPECT_EQ(store_->counts().renew_lease, 0);
}

// `aragora worker`: a claimed debate is renewed by the same beat.
TEST_F(LeaseRenewerTest, AWorkersClaimedDebateIsRenewedByTheBeat) {
    Make(/*max_running=*/2, /*max_queued=*/0, /*worker=*/true);
    debate::DebateSpec spec;
    spec.id = "d_queued";
    spec.task = "Claimed by a worker";
    spec.agents = {"demo", "demo"};
    spec.providers = {"demo", "demo"};
    spec.rounds = 2;
    storage::DebateRecord queued =
        run::PendingRecord(spec, common::FormatIso8601(clock_.SystemNow()),
                           SpecToJson(spec, agents::ParseAgentSpecs({"demo", "demo"}).value()));
    queued.queued_for_worker = true;
    ASSERT_TRUE(store_->CreateDebate(queued).ok());
    auto claimed =
        store_->ClaimQueuedDebate("inst_a", common::FormatIso8601(clock_.SystemNow()), Expected());
    ASSERT_TRUE(claimed.ok() && claimed->has_value());
    auto started = Await(service_->RunClaimed(**claimed));
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_TRUE(Eventually([&] { return Renewer().Size() == 1; }));
    clock_.Advance(std::chrono::minutes(20));
    auto lost = Await(Renewer().RenewOnce());
    ASSERT_TRUE(lost.ok()) << lost.error().message;
    EXPECT_EQ(*lost, 0u);
    EXPECT_EQ(LeaseUntil("d_queued"), Expected());
    EXPECT_EQ(store_->counts().renew_leases, 1);
}

// Drain stops the renewer at once: its loop waits an hour between beats, and the drain
// returns within the test's bounded Await.
TEST_F(LeaseRenewerTest, DrainStopsTheRenewerWithoutWaitingForItsNextBeat) {
    Make(/*max_running=*/1, /*max_queued=*/0);
    const std::string id = StartRunning();
    Await(service_->Drain(std::chrono::milliseconds(0)));
    EXPECT_EQ(store_->GetDebate(id)->status, events::DebateStatus::kCancelled);
    EXPECT_TRUE(Await(Renewer().WaitStopped(std::chrono::nanoseconds(0))));
    EXPECT_EQ(Renewer().Size(), 0u);
    EXPECT_EQ(store_->counts().renew_leases, 0);  // no beat came in between
}

}  // namespace
}  // namespace aragora::service
