#pragma once

// Internal to the backup manager: a raw snapshot file ↔ the backup file (gzip, then
// encryption when a key is given). Streaming, bounded memory; the output appears whole
// or not at all (temporary name, fsync, rename).

#include <filesystem>

#include "common/result.hpp"
#include "ops/backup_crypto.hpp"
#include "ops/backup_engine.hpp"

namespace aragora::ops {

struct CodecOptions {
    bool compress = true;
    const BackupKey* key = nullptr;  // encrypt / decrypt with it (ops/backup_crypto)
};

// Reads `raw`, writes `out` (mode 0600); returns the SHA-256 hex of the file written.
// Without compression and encryption `raw` itself is synced and renamed to `out`.
common::Result<std::string> EncodeBackupFile(const std::filesystem::path& raw,
                                             const std::filesystem::path& out,
                                             const CodecOptions& options,
                                             const ProgressFn& progress);

// Reads the backup file `in`, writes the raw snapshot `raw_out` (mode 0600). A damaged or
// cut gzip stream is kValidation, a wrong key or a damaged or cut encrypted file kCrypto
// (backup_crypto.hpp's one-line messages); `raw_out` is then not created.
common::Status DecodeBackupFile(const std::filesystem::path& in,
                                const std::filesystem::path& raw_out, const CodecOptions& options,
                                const ProgressFn& progress);

}  // namespace aragora::ops
