#pragma once

// `serve`'s backups (docs/operations.md): the BackupManager of the configured database,
// the /api/v2/backups routes' access to it, and with BACKUP_ENABLED the scheduler with
// its jobs (backup; dr_drill when BACKUP_DR_DRILL_ENABLED). Internal to app/.

#include <boost/asio/awaitable.hpp>

#include "api/backups.hpp"
#include "app/app_state.hpp"
#include "app/backup_jobs.hpp"
#include "ops/backup_manager.hpp"

namespace aragora::app {

// What the routes need, known before the listeners open (the manager comes later).
api::BackupAccess::Options BackupAccessOptions(App& app);

// Startup step (after the store is open): opens the manager on the backup pool, hands it
// to the routes, seeds the last-success metric from the manifest and, with
// BACKUP_ENABLED, starts the scheduler. A manager that cannot be opened is logged (an
// error when BACKUP_ENABLED) and the routes answer 503 with the reason; serve goes on.
boost::asio::awaitable<void> StartBackups(App& app);

// Drain: the scheduler stops at its next wait (a backup in progress finishes).
void StopBackups(App& app);

}  // namespace aragora::app
