#include "service/storage_health.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/logging.hpp"

namespace aragora::service {

namespace asio = boost::asio;

bool IsStorageOutage(const common::Error& error) {
    return error.code == common::ErrorCode::kUnavailable;
}

void StorageWriteHealth::RecordSuccess() {
    {
        std::lock_guard lock(mutex_);
        if (state_.writable) return;
        state_.writable = true;
        state_.last_error.clear();
        state_.failing_since.reset();
    }
    if (on_change_) on_change_(true, {});
}

void StorageWriteHealth::RecordFailure(const common::Error& error) {
    if (!IsStorageOutage(error)) return;
    bool changed = false;
    {
        std::lock_guard lock(mutex_);
        ++state_.outage_failures;
        state_.last_error = error.message;
        if (state_.writable) {
            changed = true;
            state_.writable = false;
            state_.failing_since = clock_.SystemNow();
            ++state_.outages;
        }
    }
    if (changed && on_change_) on_change_(false, error.message);
}

bool StorageWriteHealth::writable() const {
    std::lock_guard lock(mutex_);
    return state_.writable;
}

StorageWriteState StorageWriteHealth::State() const {
    std::lock_guard lock(mutex_);
    return state_;
}

std::shared_ptr<StorageProbe> StorageProbe::Create(asio::any_io_executor executor,
                                                   storage::Store& store,
                                                   common::BlockingPool& pool,
                                                   std::shared_ptr<StorageWriteHealth> health,
                                                   std::chrono::milliseconds interval) {
    return std::shared_ptr<StorageProbe>(
        new StorageProbe(std::move(executor), store, pool, std::move(health), interval));
}

StorageProbe::StorageProbe(asio::any_io_executor executor, storage::Store& store,
                           common::BlockingPool& pool, std::shared_ptr<StorageWriteHealth> health,
                           std::chrono::milliseconds interval)
    : executor_(std::move(executor)),
      store_(store),
      pool_(pool),
      health_(std::move(health)),
      interval_(interval) {}

void StorageProbe::Start() {
    if (stopped_ || unsupported_ || running_.exchange(true)) return;
    asio::co_spawn(executor_, Loop(shared_from_this()), asio::detached);
}

asio::awaitable<void> StorageProbe::Loop(std::shared_ptr<StorageProbe> self) {
    asio::steady_timer timer(self->executor_);
    while (!self->stopped_ && !self->health_->writable()) {
        timer.expires_after(self->interval_);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (self->stopped_ || self->health_->writable()) break;
        storage::Store* store = &self->store_;
        auto probed = co_await self->pool_.Run([store]() -> common::Result<common::Unit> {
            auto s = store->ProbeWrite();
            if (!s) return s.error();
            return common::Unit{};
        });
        if (!probed && probed.error().code == common::ErrorCode::kNotImplemented) {
            common::GetLogger("aragora.storage")
                ->warn("storage: {}; the next real write tells whether writes work again",
                       probed.error().message);
            self->unsupported_ = true;
            break;
        }
        if (!probed && !IsStorageOutage(probed.error())) {
            common::GetLogger("aragora.storage")
                ->warn("storage: write probe failed: {}", probed.error().message);
        }
        self->health_->Record(probed);
    }
    self->running_ = false;
    // A failure recorded between the loop's last look and the flag: probe again.
    if (!self->health_->writable()) self->Start();
}

}  // namespace aragora::service
