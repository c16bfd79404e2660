#pragma once

// One SQLite database, one server: `aragora serve` and `aragora worker` hold an exclusive
// flock(2) on "<database file>.lock" (by default <data dir>/aragora.sqlite3.lock) for
// their whole life, so a second process on the same file cannot run crash recovery over
// the debates the first one is running (two debate_end events per debate). The file
// holds the holder's pid while it runs (emptied on a clean exit). The kernel drops the
// lock when the process dies, even by SIGKILL, so a leftover file never blocks a start
// and is safe to delete while no aragora process runs. PostgreSQL is shared by design
// (several instances and workers): no lock. CLI commands (debates list/show, db migrate
// --check, users, ask) take no lock and keep working while a server runs.

#include <optional>
#include <string>

#include "common/result.hpp"
#include "config/settings.hpp"

namespace aragora::storage {

class DatabaseLock {
public:
    // The lock file for the configured store: "<sqlite file>.lock"; nullopt for
    // PostgreSQL and for SQLite without a file of its own (":memory:", "file:" URIs).
    static std::optional<std::string> PathFor(const config::StorageSettings& storage);

    // Takes the lock without waiting (creating the file, and its directory, when
    // missing) and writes this process's pid in it. Errors: kConflict when another
    // process holds it: "<database> is in use by another aragora process (pid N; lock
    // file <path>)"; kUnavailable when the file cannot be created or locked.
    static common::Result<DatabaseLock> Acquire(const std::string& lock_path,
                                                const std::string& database);

    DatabaseLock() = default;
    DatabaseLock(DatabaseLock&& other) noexcept;
    DatabaseLock& operator=(DatabaseLock&& other) noexcept;
    DatabaseLock(const DatabaseLock&) = delete;
    DatabaseLock& operator=(const DatabaseLock&) = delete;
    // Empties the file and releases the lock (the file stays: removing it could let two
    // processes lock two different files of the same name).
    ~DatabaseLock();

    bool held() const { return fd_ >= 0; }

private:
    explicit DatabaseLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// For `serve` and `worker`: the lock of the configured SQLite database (an empty lock for
// PostgreSQL). The error is the one line to print (kConflict naming the holder's pid).
common::Result<DatabaseLock> LockConfiguredDatabase(const config::StorageSettings& storage);

}  // namespace aragora::storage
