#pragma once

// Internal to the backup manager: a raw snapshot file ↔ the backup file (gzip, then
// encryption when a key is given). Streaming, bounded memory; the output appears whole
// or not at all (temporary name, fsync, rename).

#include <filesystem>

#include "common/result.hpp"
#include "ops/backup_engine.hpp"

namespace aragora::ops {

struct CodecOptions {
    bool compress = true;
};

// Reads `raw`, writes `out` (mode 0600); returns the SHA-256 hex of the bytes written to
// `out`. Without compression (or encryption) `raw` itself is synced and renamed to `out`.
common::Result<std::string> EncodeBackupFile(const std::filesystem::path& raw,
                                             const std::filesystem::path& out,
                                             const CodecOptions& options,
                                             const ProgressFn& progress);

// Reads the backup file `in`, writes the raw snapshot `raw_out` (mode 0600). A damaged or
// cut stream is kValidation naming what is wrong; `raw_out` is then not created.
common::Status DecodeBackupFile(const std::filesystem::path& in,
                                const std::filesystem::path& raw_out, const CodecOptions& options,
                                const ProgressFn& progress);

}  // namespace aragora::ops
