#pragma once

// The lock `aragora serve` and `aragora worker` hold on "<database>.lock" for their whole
// life (app/database_lock.hpp: an exclusive flock(2), the holder's pid inside), taken by a
// restore that replaces that database: it refuses while a server runs on it, and holds
// it while it replaces the file so that no server starts on a half-replaced database.
// Kept here rather than shared with app/ because app/ links ops/ (the scheduler in serve).

#include <filesystem>

#include "common/result.hpp"

namespace aragora::ops {

class LiveDbLock {
public:
    // Takes the lock on "<database>.lock" without waiting (creating the file) and writes
    // this process's pid in it. kConflict naming the holder's pid when a server holds it:
    // "<database> is the live database of a running aragora process (pid N; lock file
    // <path>); stop it first or restore to another path"; kUnavailable when the lock file
    // cannot be created or locked.
    static common::Result<LiveDbLock> Acquire(const std::filesystem::path& database);

    LiveDbLock() = default;
    LiveDbLock(LiveDbLock&& other) noexcept;
    LiveDbLock& operator=(LiveDbLock&& other) noexcept;
    LiveDbLock(const LiveDbLock&) = delete;
    LiveDbLock& operator=(const LiveDbLock&) = delete;
    ~LiveDbLock();  // empties the file and releases the lock (the file stays)

private:
    explicit LiveDbLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace aragora::ops
