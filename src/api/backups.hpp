#pragma once

// What the /api/v2/backups and /api/v2/dr routes (api/backups.cpp) reach. app/ fills it:
// the pools, metrics and settings before the routes are added, the manager once the
// startup sequence has opened it (until then, or when it cannot be opened, the routes
// answer 503 with the reason).
//
// Every manager call runs on a pool, never on an I/O thread: the quick ones (list, get,
// stats, status, delete, cleanup: manifest reads and file removals) on `pool`; the long
// ones (create, verify, verify-comprehensive, restore-test, drill) on `long_pool`, with
// `long_deadline`: past it the request answers 504 while the work finishes in the
// background (its result shows in the listing and the manifest).
//
// Thread-safety: Set*() and the getters may be called from any thread; the rest is set
// before the server starts and only read afterwards.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "config/settings.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_metrics.hpp"

namespace aragora::api {

class BackupAccess {
public:
    struct Options {
        common::BlockingPool* pool = nullptr;       // quick manager calls
        common::BlockingPool* long_pool = nullptr;  // create, verify, restore tests, drills
        ops::BackupMetrics* metrics = nullptr;      // null: nothing recorded
        const common::Clock* clock = nullptr;       // required
        std::chrono::nanoseconds long_deadline = std::chrono::minutes(5);
        // The schedule and retention (BACKUP_*), for /api/v2/dr/{status,objectives}.
        config::BackupSettings settings;
        // POST /api/v2/backups `source_path`, when given, must resolve inside `data_dir`
        // and name the configured database (`database_path`; empty for PostgreSQL, where
        // source_path is refused).
        std::string data_dir;
        std::string database_path;
    };

    explicit BackupAccess(Options options) : options_(std::move(options)) {}

    // The manager, once open (it must outlive the server).
    void SetManager(ops::BackupManager* manager) { manager_.store(manager); }
    // Why there is no manager (answered with 503 by every route meanwhile).
    void SetUnavailable(std::string reason) {
        std::lock_guard lock(mu_);
        unavailable_ = std::move(reason);
    }
    ops::BackupManager* manager() const { return manager_.load(); }
    std::string UnavailableReason() const {
        std::lock_guard lock(mu_);
        return unavailable_;
    }
    const Options& options() const { return options_; }

private:
    Options options_;
    std::atomic<ops::BackupManager*> manager_{nullptr};
    mutable std::mutex mu_;
    std::string unavailable_ = "backups are not set up yet (startup in progress)";
};

}  // namespace aragora::api
