#pragma once

// Whether writes to the store succeed now: the signal that readiness and health follow
// while the disk is full or failing or the database cannot take writes. The writers feed
// it (LocalDebateService records the outcome of every write it makes, and probes the
// store while writes fail, so that it recovers by itself with no traffic); the app reads
// it for /readyz, /health and /api/v1/health.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "storage/store.hpp"

namespace aragora::service {

// A write failure that says the storage, not the write, is the problem (the same write
// may succeed later): kUnavailable, which the stores return for a full or failing disk, a
// database that stays locked, and an unreachable or exhausted PostgreSQL.
bool IsStorageOutage(const common::Error& error);

struct StorageWriteState {
    bool writable = true;
    std::string last_error;  // the latest outage error ("" while writable)
    // Since when writes fail (wall clock); nullopt while writable.
    std::optional<std::chrono::system_clock::time_point> failing_since;
    std::uint64_t outage_failures = 0;  // outage errors since the process started
    std::uint64_t outages = 0;          // writable → unwritable transitions
};

// Thread-safety: every method may be called from any thread.
class StorageWriteHealth {
public:
    // Called on every change of writable(), outside the lock, on the thread that recorded
    // the change (true = writable again).
    using ChangeHandler = std::function<void(bool writable, const std::string& error)>;

    explicit StorageWriteHealth(const common::Clock& clock) : clock_(clock) {}

    // Set before the first Record*.
    void SetChangeHandler(ChangeHandler handler) { on_change_ = std::move(handler); }

    // A write succeeded: writable again.
    void RecordSuccess();
    // A write failed: an outage error (IsStorageOutage) makes the store unwritable; other
    // errors (a conflict, a validation error) say nothing about the storage and are ignored.
    void RecordFailure(const common::Error& error);
    template <typename R>
    void Record(const R& result) {
        if (result.ok()) {
            RecordSuccess();
        } else {
            RecordFailure(result.error());
        }
    }

    bool writable() const;
    StorageWriteState State() const;

private:
    const common::Clock& clock_;
    ChangeHandler on_change_;
    mutable std::mutex mutex_;
    StorageWriteState state_;
};

// Runs Store::ProbeWrite on the blocking pool every `interval` while `health` says the
// store is unwritable, and records the outcome, so that writes are seen to work again
// when nothing else writes (readiness answers 503 meanwhile, so no traffic comes). One
// loop at a time; it ends once writable (or stopped) and Start() makes a new one.
// Thread-safety: Start/Stop from any thread. The loop keeps the probe alive; `store` and
// `pool` must outlive the io_context's run (as for every user of the pool).
class StorageProbe : public std::enable_shared_from_this<StorageProbe> {
public:
    static std::shared_ptr<StorageProbe> Create(boost::asio::any_io_executor executor,
                                                storage::Store& store, common::BlockingPool& pool,
                                                std::shared_ptr<StorageWriteHealth> health,
                                                std::chrono::milliseconds interval);
    // Starts the loop unless it runs (or the backend cannot be probed, or Stop() was called).
    void Start();
    // The loop ends at its next wake-up.
    void Stop() { stopped_ = true; }

private:
    StorageProbe(boost::asio::any_io_executor executor, storage::Store& store,
                 common::BlockingPool& pool, std::shared_ptr<StorageWriteHealth> health,
                 std::chrono::milliseconds interval);
    static boost::asio::awaitable<void> Loop(std::shared_ptr<StorageProbe> self);

    boost::asio::any_io_executor executor_;
    storage::Store& store_;
    common::BlockingPool& pool_;
    std::shared_ptr<StorageWriteHealth> health_;
    std::chrono::milliseconds interval_;
    std::atomic<bool> running_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<bool> unsupported_{false};
};

}  // namespace aragora::service
