#include "common/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace aragora::common {
namespace {

common::Error Failed(const std::string& what, const std::string& path, int err) {
    return common::MakeError(common::ErrorCode::kInternal,
                             what + " " + path + ": " + std::strerror(err));
}

bool WriteAll(int fd, std::string_view content) {
    while (!content.empty()) {
        const ssize_t n = ::write(fd, content.data(), content.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        content.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

common::Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
    const std::filesystem::path target(path);
    std::filesystem::path dir = target.parent_path();
    if (dir.empty()) dir = ".";
    std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return Failed("cannot create a temporary file for", path, errno);
    auto fail = [&](const char* what) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return Failed(what, path, err);
    };
    if (::fchmod(fd, mode) != 0) return fail("cannot set the mode of");
    if (!WriteAll(fd, content)) return fail("cannot write");
    if (::fsync(fd) != 0) return fail("cannot sync");
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return Failed("cannot write", path, err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return Failed("cannot replace", path, err);
    }
    return {};
}

}  // namespace aragora::common
