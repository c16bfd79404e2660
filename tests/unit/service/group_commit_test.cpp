// service/run/group_commit: the runs' event commits share the store's transactions. The
// store here is a fake whose transaction can be held open (a gate the test opens): what
// the runs ask meanwhile must go into the next transaction, one batch per run. Deadlines
// run on a manual clock; nothing sleeps.

#include "service/run/group_commit.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace aragora::service::run {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;
using common::Status;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::chrono::seconds kLimit{20};  // a hung test fails instead of hanging

// Records every AppendEventBatches call (one transaction); while held, a call waits in
// the store until Release() (bounded by kLimit). Batches of a debate in `failing` fail.
class GatedStore final : public storage::Store {
public:
    void Hold() {
        std::lock_guard lock(mu_);
        held_ = true;
    }
    void Release() {
        {
            std::lock_guard lock(mu_);
            held_ = false;
        }
        cv_.notify_all();
    }
    void Fail(const std::string& debate_id) {
        std::lock_guard lock(mu_);
        failing_.insert(debate_id);
    }
    // Waits until `n` transactions have started (bounded).
    bool WaitStarted(std::size_t n) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, kLimit, [&] { return started_ >= n; });
    }
    std::vector<std::vector<std::string>> transactions() {
        std::lock_guard lock(mu_);
        return transactions_;
    }
    std::map<std::string, std::vector<std::int64_t>> stored() {
        std::lock_guard lock(mu_);
        return stored_;
    }

    std::vector<Status> AppendEventBatches(std::span<const storage::EventBatch> batches) override {
        std::unique_lock lock(mu_);
        ++started_;
        cv_.notify_all();
        if (!cv_.wait_for(lock, kLimit, [&] { return !held_; })) std::abort();
        std::vector<std::string> ids;
        std::vector<Status> out;
        for (const auto& b : batches) {
            const std::string& id = b.events.front().debate_id;
            ids.push_back(id + (b.lease_owner.empty() ? "" : "@" + std::string(b.lease_owner)));
            if (failing_.count(id) != 0) {
                out.push_back(common::MakeError(ErrorCode::kConflict, "lease lost: " + id));
                continue;
            }
            for (const auto& e : b.events) stored_[id].push_back(e.seq);
            out.emplace_back();
        }
        transactions_.push_back(std::move(ids));
        return out;
    }

    // Unused by the committer.
    Status CreateDebate(const storage::DebateRecord&) override { return {}; }
    Result<storage::DebateRecord> GetDebate(const std::string&) override { return Nope(); }
    Result<storage::DebatePage> ListDebates(const storage::DebateFilter&) override {
        return Nope();
    }
    Status UpdateDebateStatus(const std::string&, events::DebateStatus,
                              const std::string&) override {
        return {};
    }
    Result<std::optional<storage::ReceiptRecord>> FinishDebate(
        const storage::DebateRecord&, const std::vector<events::Event>&,
        const storage::ReceiptBuilder*) override {
        return Nope();
    }
    Result<int> MarkInterrupted(const std::string&) override { return 0; }
    Status AppendEvents(const std::vector<events::Event>&) override { return Nope(); }
    Result<std::vector<events::Event>> ListEvents(const std::string&, std::int64_t, int) override {
        return Nope();
    }
    Result<storage::ReceiptRecord> GetReceipt(const std::string&) override { return Nope(); }
    Result<storage::ReceiptPage> ListReceipts(const std::string&, int, int) override {
        return Nope();
    }
    Result<std::optional<std::string>> LastReceiptHash() override { return Nope(); }
    Status Ping() override { return {}; }

private:
    static common::Error Nope() { return common::MakeError(ErrorCode::kInternal, "not here"); }

    std::mutex mu_;
    std::condition_variable cv_;
    bool held_ = false;
    std::size_t started_ = 0;
    std::set<std::string> failing_;
    std::vector<std::vector<std::string>> transactions_;
    std::map<std::string, std::vector<std::int64_t>> stored_;
};

std::vector<events::Event> EventsOf(const std::string& debate_id, std::int64_t first, int n) {
    std::vector<events::Event> out;
    for (int i = 0; i < n; ++i) {
        events::Event e;
        e.debate_id = debate_id;
        e.seq = first + i;
        e.type = "token_delta";
        out.push_back(e);
    }
    return out;
}

class GroupCommitTest : public ::testing::Test {
protected:
    void SetUp() override {
        thread_ = std::thread([this] { ioc_.run(); });
    }
    void TearDown() override {
        store_.Release();
        committer_.reset();
        guard_.reset();
        ioc_.stop();
        thread_.join();
    }

    void Make(GroupCommitOptions options = {}) {
        committer_ = std::make_unique<GroupCommitter>(store_, clock_, options);
    }

    // One run's commit, as DebateRun's committer asks it: the events and the owner live
    // in the awaiting coroutine's frame until it resumes.
    std::future<Status> Commit(std::string debate_id, std::int64_t first, int n,
                               std::string owner = "") {
        auto run = [](GroupCommitter& c, std::vector<events::Event> events,
                      std::string lease_owner) -> asio::awaitable<Status> {
            co_return co_await c.Commit(events, lease_owner);
        };
        return asio::co_spawn(ioc_, run(*committer_, EventsOf(debate_id, first, n), owner),
                              asio::use_future);
    }

    // A run's commit that stays open to its next events (DebateRun's committer): `commit`
    // outlives the returned future.
    std::future<Status> CommitOpen(OpenCommit& commit) {
        auto run = [](GroupCommitter& c, OpenCommit& open) -> asio::awaitable<Status> {
            const std::string owner;
            co_return co_await c.Commit(open, owner);
        };
        return asio::co_spawn(ioc_, run(*committer_, commit), asio::use_future);
    }

    // Until `n` commits wait for a transaction (the spawned coroutines have asked).
    bool WaitWaiting(std::size_t n) {
        const auto deadline = std::chrono::steady_clock::now() + kLimit;
        while (committer_->Stats().waiting != n) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::yield();
        }
        return true;
    }

    static Status Get(std::future<Status>& f) {
        if (f.wait_for(kLimit) != std::future_status::ready) {
            ADD_FAILURE() << "commit did not complete";
            std::abort();
        }
        return f.get();
    }

    common::ManualClock clock_;
    GatedStore store_;
    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(ioc_);
    std::thread thread_;
    std::unique_ptr<GroupCommitter> committer_;
};

TEST_F(GroupCommitTest, CommitsAskedDuringATransactionShareTheNextOne) {
    Make();
    store_.Hold();
    auto first = Commit("d0", 1, 3);
    ASSERT_TRUE(store_.WaitStarted(1));
    // 50 runs ask while the store is busy: none starts a transaction of its own.
    std::vector<std::future<Status>> others;
    for (int i = 1; i <= 50; ++i) others.push_back(Commit("d" + std::to_string(i), 1, 2));
    ASSERT_TRUE(WaitWaiting(50));
    EXPECT_EQ(store_.transactions().size(), 0u);
    store_.Release();
    EXPECT_TRUE(Get(first).ok());
    for (auto& f : others) EXPECT_TRUE(Get(f).ok());
    auto txs = store_.transactions();
    ASSERT_EQ(txs.size(), 2u);
    EXPECT_EQ(txs[0], std::vector<std::string>{"d0"});
    EXPECT_EQ(txs[1].size(), 50u);  // one batch per run, in the order asked
    EXPECT_EQ(txs[1].front(), "d1");
    EXPECT_EQ(txs[1].back(), "d50");
    auto stored = store_.stored();
    EXPECT_EQ(stored["d0"], (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(stored["d50"], (std::vector<std::int64_t>{1, 2}));
    const GroupCommitStats stats = committer_->Stats();
    EXPECT_EQ(stats.transactions, 2u);
    EXPECT_EQ(stats.commits, 51u);
    EXPECT_EQ(stats.events, 103u);
    EXPECT_EQ(stats.waiting, 0u);
}

TEST_F(GroupCommitTest, EventsAppendedWhileACommitWaitsGoIntoItsTransaction) {
    Make();
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    OpenCommit open;
    open.Open(EventsOf("d1", 1, 2));
    auto waiting = CommitOpen(open);
    ASSERT_TRUE(WaitWaiting(1));
    // The run emits two more events while its commit waits: they join it.
    for (auto& e : EventsOf("d1", 3, 2)) EXPECT_TRUE(open.Append(e));
    store_.Release();
    EXPECT_TRUE(Get(first).ok());
    EXPECT_TRUE(Get(waiting).ok());
    // Answered: closed, an event now waits for the run's next commit.
    events::Event late = EventsOf("d1", 5, 1).front();
    EXPECT_FALSE(open.Append(late));
    EXPECT_EQ(late.seq, 5);
    auto stored = store_.stored();
    EXPECT_EQ(stored["d1"], (std::vector<std::int64_t>{1, 2, 3, 4}));
    ASSERT_EQ(store_.transactions().size(), 2u);
    const auto carried = open.Take();
    ASSERT_EQ(carried.size(), 4u);
    EXPECT_EQ(carried.back().seq, 4);
    const GroupCommitStats stats = committer_->Stats();
    EXPECT_EQ(stats.commits, 2u);
    EXPECT_EQ(stats.events, 5u);
}

TEST_F(GroupCommitTest, ACommitATransactionTookTakesNoMoreEvents) {
    Make();
    store_.Hold();
    OpenCommit open;
    open.Open(EventsOf("d0", 1, 2));
    auto running = CommitOpen(open);
    ASSERT_TRUE(store_.WaitStarted(1));
    // Its transaction runs: what the run emits now is not in it (and is not published
    // as stored).
    events::Event e = EventsOf("d0", 3, 1).front();
    EXPECT_FALSE(open.Append(e));
    store_.Release();
    EXPECT_TRUE(Get(running).ok());
    EXPECT_EQ(store_.stored()["d0"], (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(open.Take().size(), 2u);
}

TEST_F(GroupCommitTest, AFailedBatchFailsOnlyItsRun) {
    Make();
    store_.Fail("lost");
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    auto a = Commit("a", 1, 2, "owner-1");
    auto lost = Commit("lost", 5, 2, "owner-1");
    auto b = Commit("b", 1, 2);
    ASSERT_TRUE(WaitWaiting(3));
    store_.Release();
    EXPECT_TRUE(Get(first).ok());
    EXPECT_TRUE(Get(a).ok());
    EXPECT_TRUE(Get(b).ok());
    Status failed = Get(lost);
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, ErrorCode::kConflict);
    auto txs = store_.transactions();
    ASSERT_EQ(txs.size(), 2u);
    EXPECT_EQ(txs[1], (std::vector<std::string>{"a@owner-1", "lost@owner-1", "b"}));
    EXPECT_EQ(store_.stored().count("lost"), 0u);
    EXPECT_EQ(committer_->Stats().failed, 1u);
}

TEST_F(GroupCommitTest, AFullQueueAnswersOverloadedAtOnce) {
    GroupCommitOptions o;
    o.max_waiting = 3;
    Make(o);
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    std::vector<std::future<Status>> queued;
    for (int i = 1; i <= 3; ++i) queued.push_back(Commit("d" + std::to_string(i), 1, 1));
    ASSERT_TRUE(WaitWaiting(3));
    // The fourth is refused while the transaction is still held: the queue never grows
    // past its bound, and the run keeps its events to retry.
    auto refused = Commit("d4", 1, 1);
    Status r = Get(refused);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kOverloaded);
    EXPECT_EQ(committer_->Stats().waiting, 3u);
    EXPECT_EQ(committer_->Stats().rejected, 1u);
    store_.Release();
    EXPECT_TRUE(Get(first).ok());
    for (auto& f : queued) EXPECT_TRUE(Get(f).ok());
    EXPECT_EQ(store_.stored().count("d4"), 0u);
}

TEST_F(GroupCommitTest, ATransactionTakesAtMostMaxBatchEvents) {
    GroupCommitOptions o;
    o.max_batch_events = 10;
    Make(o);
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    std::vector<std::future<Status>> queued;
    for (int i = 1; i <= 4; ++i) queued.push_back(Commit("d" + std::to_string(i), 1, 4));
    auto big = Commit("big", 1, 25);  // larger than a transaction's bound: goes alone
    ASSERT_TRUE(WaitWaiting(5));
    store_.Release();
    for (auto& f : queued) EXPECT_TRUE(Get(f).ok());
    EXPECT_TRUE(Get(big).ok());
    auto txs = store_.transactions();
    ASSERT_EQ(txs.size(), 4u);
    EXPECT_EQ(txs[1], (std::vector<std::string>{"d1", "d2"}));
    EXPECT_EQ(txs[2], (std::vector<std::string>{"d3", "d4"}));
    EXPECT_EQ(txs[3], std::vector<std::string>{"big"});
    EXPECT_EQ(store_.stored()["big"].size(), 25u);
}

TEST_F(GroupCommitTest, ACommitWaitingPastItsDeadlineIsAnsweredTimeoutUnwritten) {
    GroupCommitOptions o;
    o.queue_deadline = seconds(5);
    Make(o);
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    auto late = Commit("late", 1, 1);
    ASSERT_TRUE(WaitWaiting(1));
    clock_.Advance(seconds(6));  // the held transaction outlasts the waiting one's deadline
    auto fresh = Commit("fresh", 1, 1);
    ASSERT_TRUE(WaitWaiting(2));
    store_.Release();
    EXPECT_TRUE(Get(first).ok());
    Status r = Get(late);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
    EXPECT_TRUE(Get(fresh).ok());
    auto txs = store_.transactions();
    ASSERT_EQ(txs.size(), 2u);
    EXPECT_EQ(txs[1], std::vector<std::string>{"fresh"});
    EXPECT_EQ(committer_->Stats().expired, 1u);
}

TEST_F(GroupCommitTest, StopAnswersWaitingCommitsAndLetsTheTransactionInFlightEnd) {
    Make();
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    std::vector<std::future<Status>> waiting;
    for (int i = 1; i <= 5; ++i) waiting.push_back(Commit("d" + std::to_string(i), 1, 1));
    ASSERT_TRUE(WaitWaiting(5));
    committer_->Stop();
    // Answered at once, the transaction still held.
    for (auto& f : waiting) {
        Status r = Get(f);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    }
    auto after = Commit("d6", 1, 1);
    Status r = Get(after);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    store_.Release();
    EXPECT_TRUE(Get(first).ok());  // its real outcome: stored
    EXPECT_EQ(store_.transactions().size(), 1u);
    EXPECT_EQ(store_.stored().size(), 1u);
}

TEST_F(GroupCommitTest, DestroyingTheCommitterWaitsForTheTransactionInFlight) {
    Make();
    store_.Hold();
    auto first = Commit("d0", 1, 1);
    ASSERT_TRUE(store_.WaitStarted(1));
    auto waiting = Commit("d1", 1, 1);
    ASSERT_TRUE(WaitWaiting(1));
    std::thread destroy([this] { committer_.reset(); });
    // The destructor stops the queue first (the waiting commit is answered), then waits
    // for the transaction in flight, which still ends normally.
    Status w = Get(waiting);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error().code, ErrorCode::kUnavailable);
    store_.Release();
    destroy.join();
    EXPECT_TRUE(Get(first).ok());
    EXPECT_EQ(store_.stored().size(), 1u);
    EXPECT_EQ(store_.transactions().size(), 1u);
}

}  // namespace
}  // namespace aragora::service::run
