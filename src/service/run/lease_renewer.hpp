#pragma once

// One lease renewal per process for every debate it runs under its lease (an API
// instance's own debates on a shared database, a worker's claimed ones). Each heartbeat
// it renews the leases of all the registered runs with one Store::RenewLeases call on the
// lease pool (never on an I/O thread) and tells each run whose lease was lost. Issue 20:
// one renewal per debate (10,000 UPDATEs every 10 s on one connection) fell behind, the
// leases ran out and the instance's own reaper failed its debates (instance_lost).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "service/run/completion.hpp"
#include "service/storage_health.hpp"
#include "storage/store.hpp"

namespace aragora::metrics {
class Histogram;
}

namespace aragora::service::run {

class DebateRun;

struct LeaseRenewerOptions {
    std::string owner;                            // the lease owner (worker or instance id)
    std::chrono::milliseconds duration{30'000};   // each renewal extends to now + this
    std::chrono::milliseconds heartbeat{10'000};  // renewed this often
};

// Totals since the start (thread-safe snapshot).
struct LeaseRenewerStats {
    std::uint64_t renewals = 0;  // RenewLeases calls that answered (batches)
    std::uint64_t failures = 0;  // RenewLeases calls that failed (retried next beat)
    std::uint64_t renewed = 0;   // leases extended
    std::uint64_t lost = 0;      // leases found lost (the runs were told)
};

// Thread-safety: every public method may be called from any thread. The renewer keeps
// itself alive while its loop or a renewal runs; `store`, `pool` and `clock` must outlive
// it (as for every user of the pool). A run is told on its own strand (DebateRun::
// OnLeaseLost), where the rule "a renewal racing the debate's end is not a lost lease"
// is decided.
class LeaseRenewer : public std::enable_shared_from_this<LeaseRenewer> {
public:
    // `health` (may be null) records one outcome per renewal; `duration_seconds` (may be
    // null) observes how long each RenewLeases call took (the injected clock).
    static std::shared_ptr<LeaseRenewer> Create(boost::asio::any_io_executor executor,
                                                const common::Clock& clock, storage::Store& store,
                                                common::BlockingPool& pool,
                                                std::shared_ptr<StorageWriteHealth> health,
                                                LeaseRenewerOptions options,
                                                metrics::Histogram* duration_seconds = nullptr);

    const LeaseRenewerOptions& options() const { return options_; }

    // A leased run is renewed from Add until Remove (its end, or its lease lost).
    void Add(const std::shared_ptr<DebateRun>& run);
    void Remove(const std::string& id);
    std::size_t Size() const;

    // Starts the loop: RenewOnce every heartbeat until Stop. Idempotent.
    void Start();
    // Ends the loop at once (its wait is cut short, not run out); a renewal in flight
    // completes first. Idempotent; a later Start does nothing.
    void Stop();
    // Resumes once the loop has ended (true), or at `timeout` (false). True at once when
    // it never started.
    boost::asio::awaitable<bool> WaitStopped(std::chrono::nanoseconds timeout);

    // One renewal of every registered run, now (the loop's beat; tests call it on a manual
    // clock): RenewLeases(owner, ids, now + duration) on the pool, then each run whose
    // lease is held by no one or another (kConflict) is told, and dropped from here.
    // Returns how many were lost; a storage error is returned as is (logged once: the next
    // beat renews them all again).
    boost::asio::awaitable<common::Result<std::size_t>> RenewOnce();

    LeaseRenewerStats Stats() const;

private:
    LeaseRenewer(boost::asio::any_io_executor executor, const common::Clock& clock,
                 storage::Store& store, common::BlockingPool& pool,
                 std::shared_ptr<StorageWriteHealth> health, LeaseRenewerOptions options,
                 metrics::Histogram* duration_seconds);
    static boost::asio::awaitable<void> Loop(std::shared_ptr<LeaseRenewer> self);

    boost::asio::any_io_executor executor_;
    const common::Clock& clock_;
    storage::Store& store_;
    common::BlockingPool& pool_;
    std::shared_ptr<StorageWriteHealth> health_;
    LeaseRenewerOptions options_;
    metrics::Histogram* duration_seconds_;

    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::weak_ptr<DebateRun>> runs_;  // guarded by mutex_
    LeaseRenewerStats stats_;                                         // guarded by mutex_
    bool failing_ = false;  // guarded by mutex_: the last renewal failed (logged once)

    std::atomic<bool> started_{false};
    std::atomic<bool> stopped_{false};
    Completion stop_;    // wakes the loop's wait
    Completion exited_;  // the loop has ended
};

}  // namespace aragora::service::run
