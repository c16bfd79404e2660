#include "ops/file_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/crypto.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

constexpr std::size_t kChunk = 256 * 1024;

common::Error SysError(const std::string& what, const fs::path& path, int err) {
    return MakeError(ErrorCode::kInternal, what + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

// ---- AtomicFileWriter ----

common::Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(const fs::path& out,
                                                                           mode_t mode) {
    fs::path dir = out.parent_path();
    if (dir.empty()) dir = ".";
    std::string tmp = (dir / ("." + out.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return SysError("cannot create a temporary file for", out, errno);
    if (::fchmod(fd, mode) != 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return SysError("cannot set the mode of", out, err);
    }
    return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(out, tmp, fd));
}

AtomicFileWriter::AtomicFileWriter(fs::path out, fs::path tmp, int fd)
    : out_(std::move(out)), tmp_(std::move(tmp)), fd_(fd) {}

AtomicFileWriter::~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
}

common::Status AtomicFileWriter::Write(std::string_view data) {
    if (fd_ < 0) return MakeError(ErrorCode::kInternal, "write after close of " + out_.string());
    while (!data.empty()) {
        const ssize_t n = ::write(fd_, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return SysError("cannot write", tmp_, errno);
        }
        written_ += static_cast<std::uint64_t>(n);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

common::Status AtomicFileWriter::Commit() {
    if (fd_ < 0) return MakeError(ErrorCode::kInternal, "commit after close of " + out_.string());
    if (::fsync(fd_) != 0) return SysError("cannot sync", tmp_, errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return SysError("cannot write", tmp_, errno);
    if (::rename(tmp_.c_str(), out_.c_str()) != 0) return SysError("cannot rename to", out_, errno);
    committed_ = true;
    fs::path dir = out_.parent_path();
    return SyncDirectory(dir.empty() ? fs::path(".") : dir);
}

// ---- gzip ----

struct GzipEncoder::State {
    z_stream z{};
    bool ready = false;
    bool finished = false;
    std::vector<unsigned char> out = std::vector<unsigned char>(kChunk);
};

GzipEncoder::GzipEncoder(ByteSink sink, int level)
    : state_(std::make_unique<State>()), sink_(std::move(sink)) {
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    state_->ready =
        deflateInit2(&state_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipEncoder::~GzipEncoder() {
    if (state_->ready) deflateEnd(&state_->z);
}

common::Status GzipEncoder::Pump(int flush) {
    auto& z = state_->z;
    do {
        z.next_out = state_->out.data();
        z.avail_out = static_cast<uInt>(state_->out.size());
        const int rc = deflate(&z, flush);
        if (rc == Z_STREAM_ERROR) return MakeError(ErrorCode::kInternal, "gzip: deflate failed");
        const std::size_t have = state_->out.size() - z.avail_out;
        if (have > 0) {
            auto s =
                sink_(std::string_view(reinterpret_cast<const char*>(state_->out.data()), have));
            if (!s) return s;
        }
        if (flush == Z_FINISH && rc == Z_STREAM_END) return {};
    } while (z.avail_out == 0 || (flush == Z_FINISH));
    return {};
}

common::Status GzipEncoder::Write(std::string_view data) {
    if (!state_->ready || state_->finished)
        return MakeError(ErrorCode::kInternal, "gzip: encoder not usable");
    auto& z = state_->z;
    while (!data.empty()) {
        const std::size_t piece = std::min<std::size_t>(data.size(), kChunk);
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
        z.avail_in = static_cast<uInt>(piece);
        if (auto s = Pump(Z_NO_FLUSH); !s) return s;
        data.remove_prefix(piece);
    }
    return {};
}

common::Status GzipEncoder::Finish() {
    if (!state_->ready || state_->finished)
        return MakeError(ErrorCode::kInternal, "gzip: encoder not usable");
    state_->z.next_in = nullptr;
    state_->z.avail_in = 0;
    auto s = Pump(Z_FINISH);
    state_->finished = true;
    return s;
}

struct GzipDecoder::State {
    z_stream z{};
    bool ready = false;
    bool ended = false;
    std::vector<unsigned char> out = std::vector<unsigned char>(kChunk);
};

GzipDecoder::GzipDecoder(ByteSink sink)
    : state_(std::make_unique<State>()), sink_(std::move(sink)) {
    state_->ready = inflateInit2(&state_->z, 15 + 16) == Z_OK;
}

GzipDecoder::~GzipDecoder() {
    if (state_->ready) inflateEnd(&state_->z);
}

common::Status GzipDecoder::Write(std::string_view data) {
    if (!state_->ready) return MakeError(ErrorCode::kInternal, "gzip: decoder not usable");
    auto& z = state_->z;
    if (state_->ended && !data.empty()) {
        return MakeError(ErrorCode::kValidation,
                         "backup has data after the end of its gzip stream");
    }
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    while (z.avail_in > 0 && !state_->ended) {
        z.next_out = state_->out.data();
        z.avail_out = static_cast<uInt>(state_->out.size());
        const int rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            return MakeError(ErrorCode::kValidation,
                             std::string("backup is not a valid gzip stream (") +
                                 (z.msg ? z.msg : "inflate error") + ")");
        }
        const std::size_t have = state_->out.size() - z.avail_out;
        if (have > 0) {
            auto s =
                sink_(std::string_view(reinterpret_cast<const char*>(state_->out.data()), have));
            if (!s) return s;
        }
        if (rc == Z_STREAM_END) state_->ended = true;
        if (rc == Z_BUF_ERROR && have == 0) break;
    }
    if (state_->ended && z.avail_in > 0) {
        return MakeError(ErrorCode::kValidation,
                         "backup has data after the end of its gzip stream");
    }
    return {};
}

common::Status GzipDecoder::Finish() {
    if (!state_->ended) {
        return MakeError(ErrorCode::kValidation,
                         "backup is not a complete gzip stream (cut short)");
    }
    return {};
}

// ---- files ----

common::Status ReadFileTo(const fs::path& path, const ByteSink& sink, const ProgressFn& progress,
                          std::string_view phase) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        auto e = SysError("cannot read", path, err);
        if (err == ENOENT) e.code = ErrorCode::kNotFound;
        return e;
    }
    struct stat st {};
    const std::uint64_t total = ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    std::vector<char> buf(kChunk);
    std::uint64_t done = 0;
    common::Status result;
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            result = SysError("cannot read", path, errno);
            break;
        }
        if (n == 0) break;
        if (auto s = sink(std::string_view(buf.data(), static_cast<std::size_t>(n))); !s) {
            result = s;
            break;
        }
        done += static_cast<std::uint64_t>(n);
        if (progress) progress(phase, done, total);
    }
    ::close(fd);
    return result;
}

common::Result<std::string> Sha256File(const fs::path& path) {
    common::Sha256Stream hasher;
    auto s = ReadFileTo(path, [&](std::string_view d) {
        hasher.Update(d);
        return common::Status();
    });
    if (!s) return s.error();
    return hasher.FinalHex();
}

common::Status SyncDirectory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return SysError("cannot open directory", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    // Some filesystems refuse fsync on a directory; the rename itself has happened.
    if (rc != 0 && err != EINVAL && err != EROFS)
        return SysError("cannot sync directory", dir, err);
    return {};
}

fs::path UniqueSibling(const fs::path& path, std::string_view label) {
    fs::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    return dir / ("." + path.filename().string() + "." + std::string(label) + "-" +
                  common::HexEncode(common::RandomBytes(6)));
}

}  // namespace aragora::ops
