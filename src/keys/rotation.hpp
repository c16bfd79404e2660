#pragma once

// Key rotation and re-encryption (the production runbook's "Key Rotation"): a rotation
// makes a new data key version active and retires the old one for the overlap; a
// re-encryption pass then re-seals every value of every registered ReEncryptTarget under
// the new key, one bounded batch per Step(), its cursor persisted after every batch
// (storage::KeyStore progress rows) so a killed process resumes where it stopped and
// nothing already re-sealed is touched again. After the overlap an old key expires, but
// only when no target still holds a value under an old key.
//
// One instance at a time: the work runs under KeyStore::TryLockRotation (PostgreSQL: an
// advisory lock), held across the batches of a pass and released when it ends.
//
// Every method blocks (store and target calls): run them on a blocking pool, never on an
// I/O thread; one call does at most one batch, so no pool thread is held for long.
// Thread-safe: calls are serialized by an internal mutex.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "config/settings.hpp"
#include "keys/cipher.hpp"
#include "keys/key_metrics.hpp"
#include "keys/keyring.hpp"
#include "storage/auth_store.hpp"
#include "storage/key_store.hpp"

namespace aragora::keys {

// The runbook's parameters (names of the original's KeyRotationConfig).
struct RotationConfig {
    int rotation_interval_days = 90;
    int check_interval_hours = 6;
    int key_overlap_days = 7;
    bool re_encrypt_on_rotation = true;
    int re_encrypt_batch_size = 100;
    int re_encrypt_timeout_seconds = 3600;
    int max_retries = 3;
    int notify_days_before = 7;
    // Manual rotations of a key younger than this need force (the admin API's rule).
    int min_manual_age_days = 30;

    static RotationConfig FromSettings(const config::EncryptionSettings& s);
};

struct RotateRequest {
    bool dry_run = false;
    bool force = false;               // rotate a key younger than min_manual_age_days
    std::vector<std::string> stores;  // targets to re-encrypt; empty = all registered
    std::string actor = "system:key_rotation_scheduler";
    std::string trigger = "manual";  // "manual" | "scheduled" (metric label)
};

// The original's rotation result, plus what the pass still has to do.
struct RotationResult {
    bool success = false;
    bool dry_run = false;
    std::string key_id;
    std::uint32_t old_version = 0;
    std::uint32_t new_version = 0;
    std::string started_at, completed_at;
    double duration_seconds = 0;
    std::vector<std::string> stores_processed;
    std::int64_t records_re_encrypted = 0;  // re-sealed by the batches run so far
    std::int64_t records_pending = 0;       // values still under an old key
    std::int64_t failed_records = 0;
    std::vector<std::string> errors;
    std::string error;
};

struct StepResult {
    bool more = false;   // another Step() has work
    bool busy = false;   // another instance holds the rotation lock
    std::string target;  // the target of this batch ("" = nothing ran)
    int rewritten = 0;
    int skipped = 0;
};

struct TargetProgress {
    std::string target;
    KeyRef key;
    std::string cursor;
    bool done = false;
    std::int64_t rewritten = 0;
    std::int64_t pending = -1;  // CountNotUnder(current); -1 when the count failed
    std::string updated_at;
};

struct RotationStatus {
    DataKeyInfo current;
    std::vector<DataKeyInfo> keys;
    std::vector<TargetProgress> targets;
    bool re_encryption_running = false;
    std::string next_rotation_at;
    bool rotation_due = false;
    std::int64_t rotation_count = 0;  // since start
    std::optional<RotationResult> last_result;
    std::string last_check_at;
    RotationConfig config;
};

class Rotator {
public:
    // Every reference must outlive the rotator. `audit` may be null (no audit entries).
    Rotator(Keyring& keyring, storage::KeyStore& store, storage::AuthStore* audit,
            const common::Clock& clock, KeyMetrics& metrics, RotationConfig config);
    ~Rotator();

    // Registers a target (before the first Step/Check; names must be unique).
    void AddTarget(ReEncryptTarget& target);
    std::vector<std::string> TargetNames() const;

    // Rotates now. Refuses (kValidation, "key primary v1 is only 3 days old; rotation needs
    // force (minimum 30 days)") a key younger than min_manual_age_days unless force or a
    // scheduled trigger; kConflict while another instance rotates. A dry run changes
    // nothing and reports what a rotation would re-encrypt. With re-encryption on, progress
    // rows are reset for the selected targets; Step() then does the work.
    common::Result<RotationResult> Rotate(const RotateRequest& request);

    // One batch of the pending re-encryption (or nothing). Stops the pass (releasing the
    // lock; the next Check resumes it) once its batches have taken re_encrypt_timeout_seconds
    // in all (time spent in the targets, not idle time between steps), and after
    // max_retries failed attempts of one batch (counted, returned as the error).
    common::Result<StepResult> Step();

    // A scheduler check: reloads the keyring, updates aragora_key_age_days, logs a warning
    // within notify_days_before of the due date, rotates when due (trigger "scheduled"),
    // expires old keys past their overlap when nothing is still under them. Does not run
    // batches (the caller loops Step() while it answers more).
    common::Result<RotationStatus> Check();

    common::Result<RotationStatus> Status();

private:
    struct Target;
    common::Result<RotationStatus> StatusLocked();
    common::Status AcquireLockLocked(bool* busy);
    void AuditLocked(const std::string& actor, const std::string& action, const std::string& target,
                     const std::string& details_json);
    common::Status ExpireOldKeysLocked();
    bool DueLocked(const DataKeyInfo& current) const;

    Keyring& keyring_;
    storage::KeyStore& store_;
    storage::AuthStore* audit_;
    const common::Clock& clock_;
    KeyMetrics& metrics_;
    const RotationConfig config_;

    mutable std::mutex mu_;
    std::vector<ReEncryptTarget*> targets_;
    std::unique_ptr<storage::RotationLock> lock_;
    std::optional<std::chrono::system_clock::time_point> pass_started_;
    // Time spent in target batches since the pass (re)started, against the timeout.
    std::chrono::steady_clock::duration work_{};
    std::optional<RotationResult> last_result_;
    std::int64_t rotation_count_ = 0;
    std::string last_check_at_;
    std::string last_alert_for_;  // the key (id vN) whose due-soon warning was logged
};

}  // namespace aragora::keys
