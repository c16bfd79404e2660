#pragma once

// Encrypted backup files: AES-256-GCM (OpenSSL 3 EVP) over a stream of chunks, so a
// backup of any size is encrypted and decrypted with bounded memory (two chunk buffers),
// and a wrong key, a cut file or a flipped byte is one clear error, never garbage output.
//
// File format, version 1 (all integers big-endian):
//
//   header (37 bytes)
//     0   8  magic "ARAGBKUP"
//     8   1  format version = 1
//     9   4  chunk size C: plaintext bytes per full chunk, 1 .. kMaxBackupChunkSize
//    13  16  key id: 16 lowercase hex chars, the first 16 of SHA-256(key bytes) in hex
//    29   8  nonce prefix: 8 random bytes, fresh for every file
//   records, i = 0, 1, 2, ...
//     ciphertext of chunk i, then its 16-byte GCM tag
//
// Every chunk but the last holds exactly C plaintext bytes; the last ("final") chunk
// holds 0 .. C-1 bytes, so a plaintext of k*C bytes ends with an empty final chunk. A
// record of full length (C + 16 bytes) is therefore never final and a short one always
// is: the reader knows where the stream must end without a length field.
//   nonce(i) = nonce prefix ‖ uint32(i)                            (12 bytes)
//   AAD(i)   = the 37 header bytes ‖ uint64(i) ‖ final flag (0x00 / 0x01)
// The header is authenticated by every chunk; the index in the AAD (and the nonce)
// detects reordered or dropped chunks; the final flag detects a file cut at a chunk
// boundary (the last remaining chunk was not sealed as final) and appended bytes (the
// final record changes). At most 2^32 chunks per file (4 PiB at the default 1 MiB).
// Nonces never repeat under one key in practice: a random 64-bit prefix per file.
//
// Errors: kCrypto, one line, never quoting key material:
//   "backup is encrypted under key <id>; ARAGORA_BACKUP_ENCRYPTION_KEY is key <id2>"
//   "encrypted backup is cut short (after chunk N)"  / "(after the header)" /
//       "(in the header)" / "(in chunk N)"
//   "encrypted backup is damaged (authentication failed in chunk N)"
//   "not an encrypted Aragora backup (no ARAGBKUP header)"
//   "unsupported encrypted backup format version V (this build reads version 1)"
//   "encrypted backup header is damaged (...)"
// Chunks are numbered from 1 in messages. I/O failures are kInternal naming the path and
// the system's reason (kNotFound when the input does not exist).
//
// All functions here block on file I/O: run them on the blocking pool, never on an I/O
// thread. They are safe to call from several threads at once on different files.

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::ops {

inline constexpr std::string_view kBackupMagic = "ARAGBKUP";
inline constexpr std::uint8_t kBackupFormatVersion = 1;
inline constexpr std::size_t kBackupHeaderSize = 37;
inline constexpr std::size_t kBackupTagSize = 16;
inline constexpr std::uint32_t kDefaultBackupChunkSize = 1u << 20;  // 1 MiB
inline constexpr std::uint32_t kMaxBackupChunkSize = 64u << 20;     // bounds a reader's memory

// A 256-bit backup encryption key (the value of ARAGORA_BACKUP_ENCRYPTION_KEY) and its
// public id (first 16 lowercase hex chars of SHA-256 of the key bytes). The id may be
// logged and written to manifests; the bytes never.
struct BackupKey {
    std::array<unsigned char, 32> bytes{};
    std::string key_id;
};

// Parses 64 hex digits (either case; surrounding whitespace ignored). kValidation with
// field "ARAGORA_BACKUP_ENCRYPTION_KEY" when the length or a digit is wrong or the key is
// all zeros; the message never contains the value.
common::Result<BackupKey> ParseBackupKey(std::string_view hex64);
// A key from raw bytes (key id computed).
BackupKey BackupKeyFromBytes(const std::array<unsigned char, 32>& bytes);
// A fresh random key from the OS CSPRNG (tests; an operator's `openssl rand -hex 32`).
BackupKey GenerateBackupKey();
// The key id of `bytes`: first 16 lowercase hex chars of their SHA-256.
std::string BackupKeyId(const std::array<unsigned char, 32>& bytes);

struct BackupCryptoOptions {
    // Plaintext bytes per chunk (1 .. kMaxBackupChunkSize). Tests use small ones.
    std::uint32_t chunk_size = kDefaultBackupChunkSize;
    // Mode of the files written (encrypted or decrypted output).
    mode_t mode = 0600;
};

// Streams plaintext into an encrypted file. Output goes to a fresh temporary file beside
// `out` (mkostemp, O_EXCL); Commit() seals the final chunk, fsyncs, renames it over `out`
// and fsyncs the directory. Without a successful Commit() (an error, or destruction) the
// temporary file is removed and `out` is untouched. Not thread-safe; one writer per file.
class EncryptedFileWriter {
public:
    // kValidation for a bad chunk size; kInternal when the temporary file cannot be made.
    static common::Result<std::unique_ptr<EncryptedFileWriter>> Create(
        const std::filesystem::path& out, const BackupKey& key,
        const BackupCryptoOptions& options = {});
    ~EncryptedFileWriter();
    EncryptedFileWriter(const EncryptedFileWriter&) = delete;
    EncryptedFileWriter& operator=(const EncryptedFileWriter&) = delete;

    // Appends plaintext. After an error the writer is failed: later calls return it again.
    common::Status Write(std::string_view data);
    common::Status Commit();
    // Ciphertext bytes written so far (header and tags included).
    std::uint64_t bytes_written() const;

    struct Impl;

private:
    explicit EncryptedFileWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Encrypts `in` into `out` (atomically, as EncryptedFileWriter). `in` may equal `out`.
common::Status EncryptFile(const std::filesystem::path& in, const std::filesystem::path& out,
                           const BackupKey& key, const BackupCryptoOptions& options = {});

// Decrypts `in` into `out`: each chunk is authenticated before its plaintext is written
// to a temporary file beside `out`, which replaces `out` (fsync, rename) only once the
// whole stream — final chunk included — has verified (nothing is created for a foreign
// file or a wrong key). On any error `out` is untouched and no temporary file is left.
// Output mode 0600 unless `mode` says otherwise.
common::Status DecryptFile(const std::filesystem::path& in, const std::filesystem::path& out,
                           const BackupKey& key, mode_t mode = 0600);

// Decrypts `in` and hands each authenticated chunk's plaintext to `sink`, in order (to
// decompress or hash while decrypting). An error — from the file or returned by `sink` —
// can come after some chunks were delivered: the caller must then discard everything it
// received. Success means the whole stream verified.
common::Status DecryptFileTo(const std::filesystem::path& in, const BackupKey& key,
                             const std::function<common::Status(std::string_view)>& sink);

// In-memory variants, same format (a blob from EncryptBytes decrypts with DecryptFile and
// vice versa): for small files such as the keys file a backup carries.
common::Result<std::string> EncryptBytes(std::string_view plaintext, const BackupKey& key,
                                         const BackupCryptoOptions& options = {});
common::Result<std::string> DecryptBytes(std::string_view sealed, const BackupKey& key);

// True when `path` is readable and starts with the magic (version not checked).
bool IsEncryptedBackup(const std::filesystem::path& path);

// What the header of an encrypted backup says, read without a key.
struct EncryptedBackupInfo {
    std::uint8_t version = 0;
    std::uint32_t chunk_size = 0;
    std::string key_id;
};
// Errors as for decryption's header checks ("not an encrypted Aragora backup", version,
// cut short in the header, damaged header fields) or the I/O error.
common::Result<EncryptedBackupInfo> ReadEncryptedBackupInfo(const std::filesystem::path& path);
// The key id the backup at `path` is encrypted under.
common::Result<std::string> EncryptedBackupKeyId(const std::filesystem::path& path);

}  // namespace aragora::ops
