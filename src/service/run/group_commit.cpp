#include "service/run/group_commit.hpp"

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>

namespace aragora::service::run {

namespace asio = boost::asio;
using common::Error;
using common::ErrorCode;
using common::Status;

struct GroupCommitter::Core {
    struct Request {
        storage::DebateBatch batch;  // views into the awaiting caller's frame
        // Non-null: batch.events are this commit's, fixed when a transaction takes it.
        OpenCommit* open = nullptr;
        std::chrono::steady_clock::time_point asked;
        // Resumes the awaiting coroutine on its own executor with the outcome.
        std::function<void(Status)> complete;
    };
    using Batch = std::vector<Request>;

    Core(storage::Store& s, const common::Clock& c, GroupCommitOptions o)
        : store(s),
          clock(c),
          options(o),
          // One thread per transaction in flight; nothing else runs there.
          threads(std::max<std::size_t>(o.max_in_flight, 1)) {}

    void Enqueue(Request request) {
        std::vector<std::pair<Request, Error>> answered;
        Batch batch;
        {
            std::lock_guard lock(mu);
            if (stopped) {
                ++stats.rejected;
                answered.emplace_back(std::move(request),
                                      Error{ErrorCode::kUnavailable, "event commits stopped", {}});
            } else if (waiting.size() >= options.max_waiting) {
                ++stats.rejected;
                answered.emplace_back(std::move(request),
                                      Error{ErrorCode::kOverloaded,
                                            "event commit queue full (" +
                                                std::to_string(options.max_waiting) + " waiting)",
                                            {}});
            } else {
                waiting.push_back(std::move(request));
                batch = TakeLocked(answered);
            }
        }
        for (auto& [r, error] : answered) r.complete(std::move(error));
        if (!batch.empty()) Start(std::move(batch));
    }

    // Under mu: the next transaction's commits, oldest first (those past their deadline
    // go to `expired`); empty when none waits or max_in_flight transactions run.
    Batch TakeLocked(std::vector<std::pair<Request, Error>>& expired) {
        Batch batch;
        if (in_flight >= std::max<std::size_t>(options.max_in_flight, 1)) return batch;
        const auto now = clock.SteadyNow();
        std::size_t events = 0;
        while (!waiting.empty()) {
            Request& next = waiting.front();
            if (now - next.asked >= options.queue_deadline) {
                ++stats.expired;
                expired.emplace_back(
                    std::move(next),
                    Error{ErrorCode::kTimeout,
                          "event commit waited " + std::to_string(options.queue_deadline.count()) +
                              " ms for a transaction",
                          {}});
                waiting.pop_front();
                continue;
            }
            if (next.open != nullptr) {
                // Closed here, under mu: its run appends no more from now on.
                const std::size_t room =
                    options.max_batch_events > events ? options.max_batch_events - events : 0;
                auto taken = next.open->CloseIfFits(room, batch.empty());
                if (!taken) break;
                next.batch.events = *taken;
            }
            const std::size_t n = next.batch.events.size();
            if (!batch.empty() && events + n > options.max_batch_events) break;
            events += n;
            batch.push_back(std::move(next));
            waiting.pop_front();
        }
        if (!batch.empty()) ++in_flight;
        return batch;
    }

    // Runs `batch` on a committer thread; that thread then goes on with whatever
    // accumulated meanwhile, so a commit costs one hop there and one back to its run.
    void Start(Batch batch) {
        asio::post(threads, [this, batch = std::move(batch)]() mutable {
            while (!batch.empty()) batch = WriteAndTakeNext(std::move(batch));
        });
    }

    Batch WriteAndTakeNext(Batch batch) {
        std::vector<storage::DebateBatch> batches;
        batches.reserve(batch.size());
        for (const auto& r : batch) batches.push_back(r.batch);
        std::vector<Status> statuses;
        Error failure{ErrorCode::kInternal, "event commit: no outcome", {}};
        try {
            statuses = store.WriteDebateBatches(batches);
        } catch (const std::exception& e) {
            // A store that throws is a bug; its commits still get an answer.
            failure = Error{ErrorCode::kInternal, std::string("event commit: ") + e.what(), {}};
        }
        statuses.resize(batch.size(), Status(failure));

        std::vector<std::pair<Request, Error>> expired;
        Batch next;
        {
            std::lock_guard lock(mu);
            ++stats.transactions;
            stats.commits += batch.size();
            for (std::size_t i = 0; i < batch.size(); ++i) {
                stats.events += batch[i].batch.events.size();
                if (!statuses[i]) ++stats.failed;
            }
            --in_flight;
            if (!stopped) next = TakeLocked(expired);
        }
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i].complete(std::move(statuses[i]));
        for (auto& [r, error] : expired) r.complete(std::move(error));
        return next;
    }

    void Stop() {
        std::deque<Request> refused;
        {
            std::lock_guard lock(mu);
            stopped = true;
            refused.swap(waiting);
            stats.rejected += refused.size();
        }
        for (auto& r : refused)
            r.complete(Error{ErrorCode::kUnavailable, "event commits stopped (shutting down)", {}});
    }

    storage::Store& store;
    const common::Clock& clock;
    const GroupCommitOptions options;
    asio::thread_pool threads;

    mutable std::mutex mu;
    std::deque<Request> waiting;  // guarded by mu
    std::size_t in_flight = 0;    // guarded by mu
    bool stopped = false;         // guarded by mu
    GroupCommitStats stats;       // guarded by mu
};

GroupCommitter::GroupCommitter(storage::Store& store, const common::Clock& clock,
                               GroupCommitOptions options)
    : core_(std::make_unique<Core>(store, clock, options)) {}

GroupCommitter::~GroupCommitter() {
    core_->Stop();
    // The store must outlive the transactions in flight: wait for them.
    core_->threads.join();
}

void GroupCommitter::Stop() { core_->Stop(); }

void GroupCommitter::Join() {
    core_->Stop();
    core_->threads.join();
}

GroupCommitStats GroupCommitter::Stats() const {
    std::lock_guard lock(core_->mu);
    GroupCommitStats out = core_->stats;
    out.waiting = core_->waiting.size();
    out.in_flight = core_->in_flight;
    return out;
}

void OpenCommit::Open(std::vector<events::Event> events) {
    std::lock_guard lock(mu_);
    events_ = std::move(events);
    closed_ = false;
}

bool OpenCommit::Append(events::Event& e) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    events_.push_back(std::move(e));
    return true;
}

std::vector<events::Event> OpenCommit::Take() {
    std::lock_guard lock(mu_);
    closed_ = true;
    return std::move(events_);
}

std::optional<std::span<const events::Event>> OpenCommit::CloseIfFits(std::size_t room,
                                                                      bool first) {
    std::lock_guard lock(mu_);
    if (!first && events_.size() > room) return std::nullopt;
    closed_ = true;
    return std::span<const events::Event>(events_);
}

void OpenCommit::Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
}

asio::awaitable<Status> GroupCommitter::Commit(const std::vector<events::Event>& events,
                                               const std::string& lease_owner) {
    if (events.empty()) co_return Status();
    storage::DebateBatch batch;
    batch.events = events;
    batch.lease_owner = lease_owner;
    co_return co_await Commit(batch);
}

bool GroupCommitter::stopped() const {
    std::lock_guard lock(core_->mu);
    return core_->stopped;
}

asio::awaitable<Status> GroupCommitter::Commit(OpenCommit& commit, const std::string& lease_owner) {
    storage::DebateBatch batch;
    batch.lease_owner = lease_owner;
    co_return co_await Commit(batch, &commit);
}

asio::awaitable<Status> GroupCommitter::Commit(const storage::DebateBatch& batch) {
    co_return co_await Commit(batch, nullptr);
}

asio::awaitable<Status> GroupCommitter::Commit(const storage::DebateBatch& batch,
                                               OpenCommit* open) {
    Core& core = *core_;
    auto initiate = [&core, &batch, open](auto handler) {
        using Handler = decltype(handler);
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        using Work = decltype(work);
        struct Waiter {
            Waiter(Handler h, Work w) : handler(std::move(h)), work(std::move(w)) {}
            Handler handler;
            Work work;
        };
        auto waiter = std::make_shared<Waiter>(std::move(handler), std::move(work));
        Core::Request r;
        r.batch = batch;
        r.open = open;
        r.asked = core.clock.SteadyNow();
        r.complete = [waiter, open](Status s) {
            // Closed before its run can resume, whatever the answer: what it appended is
            // exactly what was (or was not) stored.
            if (open != nullptr) open->Close();
            auto ex = waiter->work.get_executor();
            asio::post(ex, [waiter, s = std::move(s)]() mutable {
                std::move(waiter->handler)(std::move(s));
                waiter->work.reset();
            });
        };
        core.Enqueue(std::move(r));
    };
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(Status)>(
        std::move(initiate), asio::use_awaitable);
}

}  // namespace aragora::service::run
