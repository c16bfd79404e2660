#include "ops/backup_codec.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "common/crypto.hpp"
#include "ops/file_stream.hpp"

namespace aragora::ops {

namespace {

// fsync of the file, then rename over `out` and fsync of the directory.
common::Status SyncAndRename(const std::filesystem::path& from, const std::filesystem::path& out) {
    const int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0 || ::fchmod(fd, 0600) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        return common::MakeError(common::ErrorCode::kInternal,
                                 "cannot sync " + from.string() + ": " + std::strerror(err));
    }
    ::close(fd);
    if (::rename(from.c_str(), out.c_str()) != 0) {
        return common::MakeError(common::ErrorCode::kInternal,
                                 "cannot rename to " + out.string() + ": " + std::strerror(errno));
    }
    return SyncDirectory(out.parent_path());
}

}  // namespace

common::Result<std::string> EncodeBackupFile(const std::filesystem::path& raw,
                                             const std::filesystem::path& out,
                                             const CodecOptions& options,
                                             const ProgressFn& progress) {
    if (!options.compress && options.key == nullptr) {
        if (auto s = SyncAndRename(raw, out); !s) return s.error();
        return Sha256File(out);
    }
    // The output: plain (hashed as written) or encrypted (hashed from the file afterwards:
    // the ciphertext is the writer's).
    std::unique_ptr<AtomicFileWriter> plain;
    std::unique_ptr<EncryptedFileWriter> sealed;
    common::Sha256Stream hasher;
    ByteSink sink;
    if (options.key != nullptr) {
        auto w = EncryptedFileWriter::Create(out, *options.key);
        if (!w) return w.error();
        sealed = std::move(*w);
        sink = [&](std::string_view d) { return sealed->Write(d); };
    } else {
        auto w = AtomicFileWriter::Create(out, 0600);
        if (!w) return w.error();
        plain = std::move(*w);
        sink = [&](std::string_view d) {
            hasher.Update(d);
            return plain->Write(d);
        };
    }
    std::optional<GzipEncoder> gzip;
    ByteSink input = sink;
    if (options.compress) {
        gzip.emplace(sink);
        input = [&](std::string_view d) { return gzip->Write(d); };
    }
    if (auto s = ReadFileTo(raw, input, progress, "compress"); !s) return s.error();
    if (gzip) {
        if (auto s = gzip->Finish(); !s) return s.error();
    }
    if (sealed) {
        if (auto s = sealed->Commit(); !s) return s.error();
        return Sha256File(out);
    }
    if (auto s = plain->Commit(); !s) return s.error();
    return hasher.FinalHex();
}

common::Status DecodeBackupFile(const std::filesystem::path& in,
                                const std::filesystem::path& raw_out, const CodecOptions& options,
                                const ProgressFn& progress) {
    auto writer = AtomicFileWriter::Create(raw_out, 0600);
    if (!writer) return writer.error();
    ByteSink sink = [&](std::string_view d) { return (*writer)->Write(d); };
    std::optional<GzipDecoder> gunzip;
    ByteSink input = sink;
    if (options.compress) {
        gunzip.emplace(sink);
        input = [&](std::string_view d) { return gunzip->Write(d); };
    }
    if (options.key != nullptr) {
        // Every chunk is authenticated before it reaches `input`; an error after some
        // chunks leaves the temporary file unrenamed (removed with the writer).
        if (auto s = DecryptFileTo(in, *options.key, input); !s) return s;
    } else if (auto s = ReadFileTo(in, input, progress, "decompress"); !s) {
        return s;
    }
    if (gunzip) {
        if (auto s = gunzip->Finish(); !s) return s;
    }
    return (*writer)->Commit();
}

}  // namespace aragora::ops
