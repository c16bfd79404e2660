#include "ops/live_db_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/strings.hpp"

namespace aragora::ops {
namespace {

std::string ReadPid(int fd) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return "unknown";
    std::string pid(common::Trim(std::string_view(buf, static_cast<std::size_t>(n))));
    return pid.empty() ? "unknown" : pid;
}

}  // namespace

common::Result<LiveDbLock> LiveDbLock::Acquire(const std::filesystem::path& database) {
    using common::ErrorCode;
    const std::string lock_path = database.string() + ".lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return common::MakeError(ErrorCode::kUnavailable, "cannot open lock file " + lock_path +
                                                              ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err == EWOULDBLOCK) {
            const std::string pid = ReadPid(fd);
            ::close(fd);
            return common::MakeError(
                ErrorCode::kConflict,
                database.string() + " is the live database of a running aragora process (pid " +
                    pid + "; lock file " + lock_path +
                    "); stop it first or restore to another path");
        }
        ::close(fd);
        return common::MakeError(ErrorCode::kUnavailable,
                                 "cannot lock " + lock_path + ": " + std::strerror(err));
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] ssize_t w = ::pwrite(fd, pid.data(), pid.size(), 0);
    }
    return LiveDbLock(fd);
}

LiveDbLock::LiveDbLock(LiveDbLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

LiveDbLock& LiveDbLock::operator=(LiveDbLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

LiveDbLock::~LiveDbLock() {
    if (fd_ < 0) return;
    [[maybe_unused]] int rc = ::ftruncate(fd_, 0);
    ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace aragora::ops
