#include "service/run/lease_renewer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <utility>
#include <vector>

#include "common/logging.hpp"
#include "common/time.hpp"
#include "metrics/registry.hpp"
#include "service/run/debate_run.hpp"

namespace aragora::service::run {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;

namespace {

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.debate");
    return logger;
}

}  // namespace

std::shared_ptr<LeaseRenewer> LeaseRenewer::Create(
    asio::any_io_executor executor, const common::Clock& clock, storage::Store& store,
    common::BlockingPool& pool, std::shared_ptr<StorageWriteHealth> health,
    LeaseRenewerOptions options, metrics::Histogram* duration_seconds) {
    return std::shared_ptr<LeaseRenewer>(new LeaseRenewer(std::move(executor), clock, store, pool,
                                                          std::move(health), std::move(options),
                                                          duration_seconds));
}

LeaseRenewer::LeaseRenewer(asio::any_io_executor executor, const common::Clock& clock,
                           storage::Store& store, common::BlockingPool& pool,
                           std::shared_ptr<StorageWriteHealth> health, LeaseRenewerOptions options,
                           metrics::Histogram* duration_seconds)
    : executor_(executor),
      clock_(clock),
      store_(store),
      pool_(pool),
      health_(std::move(health)),
      options_(std::move(options)),
      duration_seconds_(duration_seconds),
      stop_(executor),
      exited_(executor) {}

void LeaseRenewer::Add(const std::shared_ptr<DebateRun>& run) {
    std::lock_guard lock(mutex_);
    runs_[run->id()] = run;
}

void LeaseRenewer::Remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    runs_.erase(id);
}

std::size_t LeaseRenewer::Size() const {
    std::lock_guard lock(mutex_);
    return runs_.size();
}

LeaseRenewerStats LeaseRenewer::Stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void LeaseRenewer::Start() {
    if (stopped_ || started_.exchange(true)) return;
    asio::co_spawn(executor_, Loop(shared_from_this()), asio::detached);
}

void LeaseRenewer::Stop() {
    stopped_ = true;
    stop_.Set();
    if (!started_.exchange(true)) exited_.Set();  // never started: nothing to wait for
}

asio::awaitable<bool> LeaseRenewer::WaitStopped(std::chrono::nanoseconds timeout) {
    co_return co_await exited_.Wait(timeout);
}

asio::awaitable<void> LeaseRenewer::Loop(std::shared_ptr<LeaseRenewer> self) {
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(self->options_.heartbeat);
    while (!self->stopped_) {
        if (co_await self->stop_.Wait(wait)) break;
        const auto began = self->clock_.SteadyNow();
        (void)co_await self->RenewOnce();
        // Beats keep their period: a slow renewal shortens the next wait (to none at all
        // when it took a whole period).
        const auto took = self->clock_.SteadyNow() - began;
        wait = std::max(
            std::chrono::nanoseconds::zero(),
            std::chrono::duration_cast<std::chrono::nanoseconds>(self->options_.heartbeat - took));
    }
    self->exited_.Set();
}

asio::awaitable<Result<std::size_t>> LeaseRenewer::RenewOnce() {
    auto self = shared_from_this();
    std::vector<std::string> ids;
    {
        std::lock_guard lock(mutex_);
        ids.reserve(runs_.size());
        for (const auto& [id, run] : runs_) ids.push_back(id);
    }
    if (ids.empty()) co_return std::size_t{0};
    const std::string until = common::FormatIso8601(
        clock_.SystemNow() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(options_.duration));
    const auto began = clock_.SteadyNow();
    auto lost = co_await pool_.Run(
        [this, &ids, &until] { return store_.RenewLeases(options_.owner, ids, until); });
    if (duration_seconds_ != nullptr)
        duration_seconds_->ObserveDuration(clock_.SteadyNow() - began);
    if (health_ != nullptr) health_->Record(lost);
    if (!lost) {
        {
            std::lock_guard lock(mutex_);
            ++stats_.failures;
            failing_ = true;
        }
        // A transient storage error: the next beat renews them all again. Should a lease
        // run out meanwhile, a reaper ends that debate and the next renewal finds it lost.
        Log()->warn("lease renewal of {} debate(s) failed (owner={}): {}; retrying next beat",
                    ids.size(), options_.owner, lost.error().message);
        co_return lost.error();
    }
    std::vector<std::pair<std::shared_ptr<DebateRun>, std::string>> tell;
    std::size_t unknown = 0;
    std::string unknown_error;
    bool recovered = false;
    {
        std::lock_guard lock(mutex_);
        ++stats_.renewals;
        stats_.renewed += ids.size() - lost->size();
        recovered = std::exchange(failing_, false);
        for (auto& l : *lost) {
            if (l.error.code != ErrorCode::kConflict) {
                // Not a verdict on the lease (no such row): renewed again next beat.
                ++unknown;
                unknown_error = l.error.message;
                continue;
            }
            ++stats_.lost;
            auto it = runs_.find(l.id);
            if (it == runs_.end()) continue;  // ended meanwhile
            auto run = it->second.lock();
            runs_.erase(it);
            if (run) tell.emplace_back(std::move(run), std::move(l.error.message));
        }
    }
    if (recovered) Log()->info("lease renewal works again (owner={})", options_.owner);
    if (unknown > 0) {
        Log()->warn("lease renewal: {} debate(s) not renewed (owner={}), e.g.: {}", unknown,
                    options_.owner, unknown_error);
    }
    // Each run decides on its strand whether this is a lost lease or its own end racing
    // the renewal.
    for (auto& [run, why] : tell) run->OnLeaseLost(std::move(why));
    co_return tell.size();
}

}  // namespace aragora::service::run
