#pragma once

// Interfaces of encryption at rest (issue 23), shared by the key module (envelope,
// keyring, rotation) and the stores that hold sealed values. Pure: no I/O here.
//
// A sealed value is the text a store keeps instead of a plaintext field: the versioned
// AES-256-GCM envelope (key id, key version, 96-bit random nonce, ciphertext and tag),
// with the record's id as associated data so a value cannot be moved to another row.
// A sealed value is never mistaken for a plaintext one and the other way round
// (IsSealed is exact, not a guess from the first character).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::keys {

// Which data key sealed a value.
struct KeyRef {
    std::string key_id;
    std::uint32_t version = 0;
    friend bool operator==(const KeyRef&, const KeyRef&) = default;
};

// Seals new values with the current data key; opens values sealed by any key the
// keyring still holds. Thread-safe. Errors: kValidation for a value that is not a
// well-formed envelope (truncated, bad version), kCrypto for a failed tag (tampered,
// moved to another row), kNotFound for an unknown or expired key id/version. Messages
// name the key id/version, never key material.
class FieldCipher {
public:
    virtual ~FieldCipher() = default;
    virtual common::Result<std::string> Seal(std::string_view plaintext,
                                             std::string_view associated_data) const = 0;
    virtual common::Result<std::string> Open(std::string_view sealed,
                                             std::string_view associated_data) const = 0;
    virtual bool IsSealed(std::string_view value) const = 0;
    // The key that sealed `sealed` (no decryption).
    virtual common::Result<KeyRef> KeyOf(std::string_view sealed) const = 0;
    // The key Seal() uses now.
    virtual KeyRef Current() const = 0;
};

// One batch of a re-encryption pass over one kind of sealed value.
struct ReEncryptBatch {
    std::string next_cursor;  // opaque; give it back to continue
    int rewritten = 0;        // values re-sealed under cipher.Current()
    int skipped = 0;          // already under the current key (never sealed twice)
    bool done = false;        // no value after next_cursor
};

// A table (or column set) holding sealed values. The rotation re-encrypts through it in
// bounded batches; each batch is one transaction, so a crash loses at most the batch in
// flight and a rerun from the last persisted cursor rewrites only what is still under an
// old key.
class ReEncryptTarget {
public:
    virtual ~ReEncryptTarget() = default;
    virtual std::string Name() const = 0;  // stable, e.g. "debates", "events"
    virtual common::Result<ReEncryptBatch> ReEncrypt(const FieldCipher& cipher,
                                                     std::string_view after_cursor, int limit) = 0;
    // How many sealed values are not under `current` (for status and the overlap check).
    virtual common::Result<std::int64_t> CountNotUnder(const KeyRef& current) = 0;
};

}  // namespace aragora::keys
