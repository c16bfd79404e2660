#pragma once

// Streaming file pieces of the backup pipeline: a file written under a temporary name
// and renamed into place once synced, gzip in both directions, SHA-256 of a file. Bounded
// memory for files of any size. Blocking; not thread-safe per object.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "ops/backup_engine.hpp"

namespace aragora::ops {

// Receives the bytes of a stream in order; an error stops the stream.
using ByteSink = std::function<common::Status(std::string_view)>;

// Writes `out` so that it appears whole or not at all: a fresh temporary file beside it
// (mkostemp, O_EXCL, `mode` from the start), Commit() fsyncs it, renames it over `out`
// and fsyncs the directory. Destroyed without a successful Commit(): the temporary file
// is removed and `out` is untouched. Errors kInternal naming the path and the reason.
class AtomicFileWriter {
public:
    static common::Result<std::unique_ptr<AtomicFileWriter>> Create(
        const std::filesystem::path& out, mode_t mode = 0600);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    common::Status Write(std::string_view data);
    common::Status Commit();
    std::uint64_t bytes_written() const { return written_; }
    const std::filesystem::path& temp_path() const { return tmp_; }

private:
    AtomicFileWriter(std::filesystem::path out, std::filesystem::path tmp, int fd);
    std::filesystem::path out_;
    std::filesystem::path tmp_;
    int fd_ = -1;
    std::uint64_t written_ = 0;
    bool committed_ = false;
};

// gzip (RFC 1952) compression into `sink`.
class GzipEncoder {
public:
    explicit GzipEncoder(ByteSink sink, int level = 6);
    ~GzipEncoder();
    GzipEncoder(const GzipEncoder&) = delete;
    GzipEncoder& operator=(const GzipEncoder&) = delete;
    common::Status Write(std::string_view data);
    common::Status Finish();

private:
    common::Status Pump(int flush);
    struct State;
    std::unique_ptr<State> state_;
    ByteSink sink_;
};

// gzip decompression into `sink`. Finish() fails (kValidation, "backup is not a complete
// gzip stream") when the stream was cut short; corrupt data fails at once; bytes after
// the end of the stream are an error too.
class GzipDecoder {
public:
    explicit GzipDecoder(ByteSink sink);
    ~GzipDecoder();
    GzipDecoder(const GzipDecoder&) = delete;
    GzipDecoder& operator=(const GzipDecoder&) = delete;
    common::Status Write(std::string_view data);
    common::Status Finish();

private:
    struct State;
    std::unique_ptr<State> state_;
    ByteSink sink_;
};

// Feeds the file's bytes to `sink` in 256 KiB pieces, reporting progress as `phase`.
common::Status ReadFileTo(const std::filesystem::path& path, const ByteSink& sink,
                          const ProgressFn& progress = {}, std::string_view phase = "read");

// SHA-256 hex of the file's content.
common::Result<std::string> Sha256File(const std::filesystem::path& path);

// fsync of a directory (after a rename in it).
common::Status SyncDirectory(const std::filesystem::path& dir);

// "<dir>/.<name>.<label>-<12 random hex>": a fresh name for a private temporary file.
std::filesystem::path UniqueSibling(const std::filesystem::path& path, std::string_view label);

}  // namespace aragora::ops
