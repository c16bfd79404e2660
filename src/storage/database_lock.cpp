#include "storage/database_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace aragora::storage {
namespace {

using common::ErrorCode;

// The pid written by the holder ("" while it has not written it yet).
std::string ReadHolder(int fd) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return {};
    std::string text(buf, static_cast<std::size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    for (char c : text) {
        if (c < '0' || c > '9') return {};
    }
    return text;
}

}  // namespace

std::optional<std::string> DatabaseLock::PathFor(const config::StorageSettings& storage) {
    if (storage.backend != config::DbBackend::kSqlite) return std::nullopt;
    const std::string& db = storage.sqlite_path;
    if (db.empty() || db == ":memory:" || db.rfind("file:", 0) == 0) return std::nullopt;
    return db + ".lock";
}

common::Result<DatabaseLock> DatabaseLock::Acquire(const std::string& lock_path,
                                                   const std::string& database) {
    const std::filesystem::path dir = std::filesystem::path(lock_path).parent_path();
    if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);  // open() below names any failure
    }
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return common::MakeError(ErrorCode::kUnavailable, "cannot open the lock file " + lock_path +
                                                              ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        // Not ours: closed as is (the holder's pid stays in the file).
        const std::string pid = err == EWOULDBLOCK ? ReadHolder(fd) : std::string();
        ::close(fd);
        if (err == EWOULDBLOCK) {
            return common::MakeError(ErrorCode::kConflict,
                                     database + " is in use by another aragora process (pid " +
                                         (pid.empty() ? std::string("unknown") : pid) +
                                         "; lock file " + lock_path + ")");
        }
        return common::MakeError(ErrorCode::kUnavailable,
                                 "cannot lock " + lock_path + ": " + std::strerror(err));
    }
    DatabaseLock lock(fd);
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        return common::MakeError(
            ErrorCode::kUnavailable,
            "cannot write the lock file " + lock_path + ": " + std::strerror(errno));
    }
    return lock;
}

DatabaseLock::DatabaseLock(DatabaseLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DatabaseLock& DatabaseLock::operator=(DatabaseLock&& other) noexcept {
    if (this != &other) {
        DatabaseLock old(std::move(*this));
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

DatabaseLock::~DatabaseLock() {
    if (fd_ < 0) return;
    // Still holding the lock: no other process can be reading a pid we clear.
    (void)::ftruncate(fd_, 0);
    ::close(fd_);
}

common::Result<DatabaseLock> LockConfiguredDatabase(const config::StorageSettings& storage) {
    auto path = DatabaseLock::PathFor(storage);
    if (!path) return DatabaseLock{};
    return DatabaseLock::Acquire(*path, storage.sqlite_path);
}

}  // namespace aragora::storage
