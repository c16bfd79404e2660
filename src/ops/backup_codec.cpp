#include "ops/backup_codec.hpp"

#include <memory>
#include <optional>

#include "ops/file_stream.hpp"

namespace aragora::ops {

common::Status EncodeBackupFile(const std::filesystem::path& raw, const std::filesystem::path& out,
                                const CodecOptions& options, const ProgressFn& progress) {
    auto writer = AtomicFileWriter::Create(out, 0600);
    if (!writer) return writer.error();
    ByteSink sink = [&](std::string_view d) { return (*writer)->Write(d); };
    std::optional<GzipEncoder> gzip;
    ByteSink input = sink;
    if (options.compress) {
        gzip.emplace(sink);
        input = [&](std::string_view d) { return gzip->Write(d); };
    }
    if (auto s = ReadFileTo(raw, input, progress, "compress"); !s) return s;
    if (gzip) {
        if (auto s = gzip->Finish(); !s) return s;
    }
    return (*writer)->Commit();
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
    if (auto s = ReadFileTo(in, input, progress, "decompress"); !s) return s;
    if (gunzip) {
        if (auto s = gunzip->Finish(); !s) return s;
    }
    return (*writer)->Commit();
}

}  // namespace aragora::ops
