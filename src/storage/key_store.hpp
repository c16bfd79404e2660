#pragma once

// The data keys of encryption at rest (issue 23) and the progress of re-encryption passes,
// persisted beside the other tables (SQLite and PostgreSQL) so a restart loses no key and
// a killed pass resumes. Holds WRAPPED keys only (sealed under the master key by keys/);
// nothing here sees key material in the clear. Calls block (callers on I/O threads go
// through common::BlockingPool); implementations are thread-safe.
//
// Times are ISO 8601 UTC strings of one fixed format (they compare as text); "" = unset.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace aragora::storage {

// States of a data key: the one that seals ("active", exactly one per key_id after the
// first rotation), one still opening values during the overlap ("retired"), one no longer
// usable ("expired"; its wrapped bytes stay for audit but the keyring refuses it).
inline constexpr const char* kDataKeyActive = "active";
inline constexpr const char* kDataKeyRetired = "retired";
inline constexpr const char* kDataKeyExpired = "expired";

struct DataKeyRecord {
    std::string key_id;        // e.g. "primary"
    std::int64_t version = 0;  // 1, 2, ... per key_id; (key_id, version) is unique
    std::string wrapped;       // the key sealed under the master key (text form)
    std::string state;         // kDataKeyActive | kDataKeyRetired | kDataKeyExpired
    std::string created_at;
    std::string activated_at;  // when it became the sealing key
    std::string retired_at;    // when a newer key replaced it ("" = never)
    std::string expires_at;    // end of the overlap ("" = none)
};

// Where a re-encryption pass over one ReEncryptTarget stands.
struct ReEncryptProgressRecord {
    std::string target;  // ReEncryptTarget::Name(); primary key
    std::string key_id;  // the key the pass re-seals under
    std::int64_t key_version = 0;
    std::string cursor;  // opaque, from the target ("" = from the start)
    bool done = false;
    std::int64_t rewritten = 0;  // values re-sealed by this pass so far
    std::string updated_at;
};

// Held while one instance rotates or re-encrypts; released when destroyed.
class RotationLock {
public:
    virtual ~RotationLock() = default;
};

class KeyStore {
public:
    virtual ~KeyStore() = default;

    // Every data key, by key_id then version.
    virtual common::Result<std::vector<DataKeyRecord>> ListDataKeys() = 0;
    // kConflict when (key_id, version) exists; kValidation for an empty key_id, wrapped or
    // state, or a version < 1.
    virtual common::Status InsertDataKey(const DataKeyRecord& key) = 0;
    // One transaction: every active key of next.key_id becomes retired (retired_at = now,
    // expires_at = old_expires_at), then `next` is inserted. kConflict when next's version
    // exists (another instance rotated first): nothing changes.
    virtual common::Status RotateDataKey(const DataKeyRecord& next, const std::string& now,
                                         const std::string& old_expires_at) = 0;
    // Sets the state of one key. kNotFound when absent.
    virtual common::Status SetDataKeyState(const std::string& key_id, std::int64_t version,
                                           const std::string& state) = 0;

    virtual common::Result<std::vector<ReEncryptProgressRecord>> ListReEncryptProgress() = 0;
    // Inserts or replaces the row of progress.target.
    virtual common::Status SaveReEncryptProgress(const ReEncryptProgressRecord& progress) = 0;

    // One rotating instance at a time: PostgreSQL takes a session advisory lock on a
    // connection held until the lock is destroyed; SQLite answers a process-local lock
    // (the database lock already keeps other processes out). nullptr (no error) when
    // another holder has it.
    virtual common::Result<std::unique_ptr<RotationLock>> TryLockRotation() = 0;
};

// Shared by both backends: the column lists and the rule a stored data key keeps.
inline constexpr const char* kDataKeyColumns =
    "key_id, version, wrapped, state, created_at, activated_at, retired_at, expires_at";
inline constexpr const char* kReencryptProgressColumns =
    "target, key_id, key_version, cursor, done, rewritten, updated_at";

inline common::Status ValidateDataKey(const DataKeyRecord& k) {
    if (k.key_id.empty() || k.wrapped.empty() || k.state.empty() || k.version < 1) {
        return common::MakeError(common::ErrorCode::kValidation,
                                 "data key needs key_id, version >= 1, wrapped bytes and a state");
    }
    return {};
}

}  // namespace aragora::storage
