#pragma once

// Backups of the configured database (docs/operations.md; the original's BackupManager,
// ORIGINAL-OPERATIONS.md §1, with its gaps fixed): create, list, get, verify, restore,
// drill, cleanup, delete, stats and DR status over `<backup_dir>/manifest.json`.
//
// A backup is one file "<stem>_<UTC YYYYmmdd_HHMMSS>_<id><suffix>[.gz][.enc]" holding a
// consistent snapshot (BackupEngine), gzip-compressed, encrypted with
// ARAGORA_BACKUP_ENCRYPTION_KEY when set, with the SHA-256 of the final file in the
// manifest. Receipt HMAC secrets are never written in the clear: an encrypted backup
// carries them in an encrypted sidecar ("<backup file>.keys"), an unencrypted one lists
// only their key ids (the operator keeps the keys). Verification restores the snapshot
// into a scratch database and re-verifies every receipt's signature and the hash chain.
//
// Threads: every method blocks (database, file and process I/O) and is thread-safe; call
// it off the I/O threads (common::BlockingPool). Several processes may share a backup
// dir (the CLI and `serve`'s scheduler): every manifest or drill-history change is a
// read-modify-replace under an exclusive flock on "<backup_dir>/.manifest.lock", and the
// files are replaced atomically (common::WriteFileAtomically), so readers never lock.
//
// Errors (Result): kNotFound (no backup with that id or prefix), kConflict (ambiguous
// prefix; restore over a live or existing target), kValidation (bad input: filters,
// paths, a backup of another database kind), kForbidden (a path outside the allowed
// dirs), kStorage/kUnavailable/kCrypto/kInternal for failures. A verification that finds
// problems is not an error: its result says verified=false and names every failure.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "debate/receipt.hpp"
#include "keys/cipher.hpp"
#include "ops/backup_engine.hpp"
#include "ops/backup_status.hpp"

namespace aragora::ops {

using TimePoint = std::chrono::system_clock::time_point;

// A receipt verification key in use when the backup was made: the key id receipts
// carry, "hmac-sha256" or "ed25519", and for Ed25519 the public key (base64). Never the
// HMAC secret.
struct ReceiptKeyInfo {
    std::string key_id;
    std::string algorithm;
    std::string public_key;  // base64, Ed25519 only
};

// One manifest entry. ToJson() is the original's BackupMetadata.to_dict (same names and
// types, times ISO 8601 UTC, nulls where it has None) plus the fields marked "ours".
struct BackupMetadata {
    std::string id;  // 8 lowercase hex chars
    TimePoint created_at{};
    std::string backup_type = "full";  // a label: every backup is a full snapshot
    BackupStatus status = BackupStatus::kPending;
    std::string source_path;                  // the live database (file, or redacted DSN)
    std::string backup_path;                  // the backup file (absolute)
    std::uint64_t size_bytes = 0;             // the live database
    std::uint64_t compressed_size_bytes = 0;  // the backup file
    std::string checksum;                     // SHA-256 hex of the backup file
    std::map<std::string, std::int64_t> row_counts;
    std::vector<std::string> tables;
    double duration_seconds = 0;
    bool verified = false;
    std::optional<TimePoint> verified_at;
    bool restore_tested = false;
    std::optional<std::string> error;
    std::string storage_backend = "local";
    std::optional<std::string> encryption_key_id;  // key id of the backup encryption key
    boost::json::object metadata;                  // free-form; "notes" from --notes
    std::string schema_hash;
    std::map<std::string, std::string> table_checksums;
    std::vector<std::vector<std::string>> foreign_keys;  // [table, col, ref_table, ref_col]
    std::vector<std::vector<std::string>> indexes;       // [name, table, "c1,c2"]
    // Ours:
    std::string kind;       // "sqlite" | "postgresql"
    std::string file_name;  // the backup file's name inside backup_dir
    bool compressed = true;
    bool encrypted = false;
    int schema_version = 0;                    // highest migration in the snapshot
    std::string app_version;                   // aragora version that made it
    std::vector<ReceiptKeyInfo> receipt_keys;  // keys in use (ids, Ed25519 public keys)
    // "<file_name>.keys" when the (encrypted) backup carries the receipt HMAC secrets in
    // an encrypted sidecar; "" otherwise (the operator must keep receipt_keys' secrets).
    std::string keys_file;

    boost::json::object ToJson() const;
    // Lenient on missing optional members (the original's from_dict defaults); kValidation
    // when id, created_at, status or backup_path is missing or malformed.
    static common::Result<BackupMetadata> FromJson(const boost::json::object& o);
};

// One check that failed, named: `table` and/or `receipt_id` set when it is about one.
struct VerificationFailure {
    // "checksum", "decrypt", "decompress", "restore", "tables", "row_counts",
    // "schema_hash", "table_checksum", "integrity", "foreign_key", "not_null",
    // "receipt", "receipt_chain", "keys".
    std::string check;
    std::string table;
    std::string receipt_id;
    std::int64_t chain_seq = 0;  // receipts: its place in the chain
    std::string message;         // one readable line
    boost::json::object ToJson() const;
};

// The receipt part of a verification: counts over the whole chain.
struct ReceiptChainSummary {
    bool checked = false;  // false: not reached (an earlier step failed, or skipped)
    std::int64_t receipts = 0;
    std::int64_t tombstones = 0;
    std::int64_t verified = 0;
    std::int64_t failed = 0;
    std::vector<std::string> key_ids_seen;  // key ids the receipts were signed with
    boost::json::object ToJson() const;
};

// The original's VerificationResult (backup_id, verified, checksum_valid, restore_tested,
// tables_valid, row_counts_valid, errors, warnings, verified_at, duration_seconds) plus
// ours: receipts_valid, receipt_chain, failures (every failed check, named). Unlike the
// original a row-count mismatch is an error (a snapshot is exact).
struct VerificationResult {
    std::string backup_id;
    bool verified = false;
    bool checksum_valid = false;
    bool restore_tested = false;
    bool tables_valid = false;
    bool row_counts_valid = false;
    bool schema_valid = false;           // ours: schema hash equal
    bool integrity_valid = false;        // ours: integrity, foreign keys, NOT NULL
    bool table_checksums_valid = false;  // ours
    bool receipts_valid = false;         // ours: every receipt and link verified
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    TimePoint verified_at{};
    double duration_seconds = 0;
    ReceiptChainSummary receipt_chain;
    std::vector<VerificationFailure> failures;
    std::int64_t rows_verified = 0;  // sum of the restored row counts
    boost::json::object ToJson() const;
};

// The original's ComprehensiveVerificationResult.to_dict: backup_id, verified,
// basic_verification{checksum_valid, restore_tested, tables_valid, row_counts_valid},
// schema_validation{valid, tables_match, columns_match, types_match}|null,
// integrity_check{valid, foreign_keys_valid, orphaned_records{table:n}}|null,
// table_checksums_valid, all_errors, all_warnings, verified_at, duration_seconds; plus
// ours: receipt_chain, failures, and schema_validation.schema_hash_match,
// integrity_check.{integrity_errors, null_constraint_violations}.
struct ComprehensiveVerificationResult {
    VerificationResult basic;
    bool schema_checked = false;  // false → schema_validation null
    bool tables_match = false;
    bool columns_match = false;  // schema hash equal (columns, types, constraints, indexes)
    std::vector<std::string> missing_tables;
    std::vector<std::string> extra_tables;
    bool integrity_checked = false;  // false → integrity_check null
    bool foreign_keys_valid = false;
    std::map<std::string, std::int64_t> orphaned_records;
    std::vector<std::string> integrity_errors;
    std::vector<std::string> null_constraint_violations;
    boost::json::object ToJson() const;
};

// The original's RestoreDrillReport.to_dict (drill_id, backup_id, started_at,
// completed_at, duration_seconds, status "passed"|"failed", tables_verified,
// rows_verified, checksum_valid, schema_valid, integrity_valid, errors, metadata) plus
// ours: rpo_seconds (age of the backup at the drill), rto_seconds (measured restore
// time: decrypt, decompress, restore, open), receipts_verified, receipts_valid.
struct RestoreDrillReport {
    std::string drill_id;  // 12 lowercase hex chars
    std::string backup_id;
    TimePoint started_at{};
    std::optional<TimePoint> completed_at;
    double duration_seconds = 0;
    std::string status = "pending";
    std::int64_t tables_verified = 0;
    std::int64_t rows_verified = 0;
    bool checksum_valid = false;
    bool schema_valid = false;
    bool integrity_valid = false;
    std::vector<std::string> errors;
    boost::json::object metadata;
    double rpo_seconds = 0;
    double rto_seconds = 0;
    std::int64_t receipts_verified = 0;
    bool receipts_valid = false;
    boost::json::object ToJson() const;
    static common::Result<RestoreDrillReport> FromJson(const boost::json::object& o);
};

struct RetentionSummary {
    int keep_daily = 7;
    int keep_weekly = 4;
    int keep_monthly = 3;
    int min_backups = 1;
    boost::json::object ToJson() const;  // {keep_daily, keep_weekly, keep_monthly, min_backups}
};

// The original's get_backup_status(): total_backups, verified_backups, failed_backups,
// total_size_bytes, last_successful_backup (BackupMetadata JSON | null), last_drill
// (RestoreDrillReport JSON | null), retention_policy; plus ours: last_success_age_seconds
// (null when none; the RPO an alert watches), backup_dir.
struct DrStatus {
    std::int64_t total_backups = 0;
    std::int64_t verified_backups = 0;
    std::int64_t failed_backups = 0;
    std::uint64_t total_size_bytes = 0;
    std::optional<BackupMetadata> last_successful_backup;  // newest verified|completed
    std::optional<RestoreDrillReport> last_drill;
    std::optional<double> last_success_age_seconds;
    RetentionSummary retention_policy;
    std::string backup_dir;
    boost::json::object ToJson() const;
    // The `stats` object of GET /api/v2/backups/stats: total_backups, verified_backups,
    // failed_backups, total_size_bytes, total_size_mb, latest_backup (newest backup's
    // JSON | null), retention_policy.
    boost::json::object StatsJson() const;
    std::optional<BackupMetadata> latest_backup;  // newest of any status
};

struct CreateOptions {
    std::string backup_type = "full";
    std::string notes{};  // metadata.notes
    boost::json::object metadata{};
    // Verify after creating (the original's verify_after_backup); nullopt = the manager's
    // option.
    std::optional<bool> verify{};
    ProgressFn progress{};
};

struct ListFilter {
    int limit = 20;  // 1..1000
    int offset = 0;  // >= 0
    std::optional<BackupStatus> status{};
    std::optional<TimePoint> since{};  // created_at >= since
    std::string source{};              // source_path equal; "" = any
};

struct BackupPage {
    std::vector<BackupMetadata> items;  // newest first
    std::int64_t total = 0;             // every match
    int limit = 20;
    int offset = 0;
    bool has_more = false;
    // {backups: [...], pagination: {limit, offset, total, has_more}} (the HTTP shape).
    boost::json::object ToJson() const;
};

struct RestoreOptions {
    // The target (RestoreTarget::location). SQLite: a relative path is taken under the
    // restore dir; an absolute one as given (the CLI passes the operator's path; the HTTP
    // layer confines it first, ops::ConfinePath).
    std::string target{};
    bool dry_run = false;      // verify and check the target, write nothing
    bool force = false;        // replace an existing target (kept as .pre-restore-<UTC>)
    bool skip_verify = false;  // only the checksum before restoring
    ProgressFn progress{};
};

struct RestoreResult {
    std::string backup_id;
    std::string target_path;
    bool dry_run = false;
    bool restored = false;
    std::string kept_previous;  // "" when nothing was replaced
    bool verified = false;
    std::optional<VerificationResult> verification;  // nullopt with skip_verify
    // The receipt key file written beside the restored database from the backup's
    // encrypted sidecar ("" when none): only when the source used a local key file and
    // the target directory had none.
    std::string receipt_key_file;
    // Key ids the restored receipts need that the current configuration lacks (set
    // ARAGORA_RECEIPT_SIGNING_KEY[_PREVIOUS] before starting serve on it).
    std::vector<std::string> missing_key_ids;
    double duration_seconds = 0;
    std::string message;
    boost::json::object ToJson() const;
};

struct CleanupResult {
    bool dry_run = true;
    std::vector<std::string> backup_ids;  // deleted (or, dry run, to delete)
    std::vector<std::string> kept_ids;
    std::vector<std::string> errors;  // files that could not be removed
    // {dry_run, backup_ids, count, kept, message} (the HTTP shape plus `kept`).
    boost::json::object ToJson() const;
};

struct BackupManagerOptions {
    std::filesystem::path backup_dir;   // created (0750) when missing
    std::filesystem::path restore_dir;  // scratch databases; relative restore targets
    bool compression = true;
    bool verify_after_backup = true;
    int keep_daily = 7;
    int keep_weekly = 4;
    int keep_monthly = 3;
    int min_backups = 1;
    // ARAGORA_BACKUP_ENCRYPTION_KEY (64 hex chars); "" = backups are not encrypted.
    std::string encryption_key_hex;
    // The receipt keys to verify with and to list in the manifest: loaded WITHOUT
    // creating a key file (ops::LoadReceiptKeysForBackup). nullopt: none configured —
    // verification reports every signed receipt as signed by an unknown key.
    std::optional<debate::ReceiptKeys> receipt_keys;
    // Where the HMAC secret came from, to decide whether restore may write a key file
    // beside the restored database: the data dir's receipt_signing.key (true) or the
    // environment (false: never written to a file).
    bool receipt_key_from_file = false;
    std::string app_version;
    // Opens debate content sealed at rest (storage/content_cipher.hpp) in a restored
    // database, so that its receipts verify; null: no cipher configured (sealed receipts
    // then fail verification as malformed).
    std::shared_ptr<const keys::FieldCipher> content_cipher;
};

class BackupManager {
public:
    // Creates backup_dir (and restore_dir) when missing. `engine` is the configured
    // database's; `clock` decides created_at, ages and retention (ManualClock in tests)
    // and must outlive the manager.
    static common::Result<std::unique_ptr<BackupManager>> Open(BackupManagerOptions options,
                                                               std::shared_ptr<BackupEngine> engine,
                                                               const common::Clock& clock);
    ~BackupManager();
    BackupManager(const BackupManager&) = delete;
    BackupManager& operator=(const BackupManager&) = delete;

    const BackupManagerOptions& options() const { return options_; }
    BackupEngine& engine() { return *engine_; }

    // Snapshot → compress → encrypt → SHA-256 → temp name, fsync, rename → manifest;
    // then verify when asked. A failure after the entry was written leaves it with
    // status failed and `error` (as the original) and returns the error.
    common::Result<BackupMetadata> Create(const CreateOptions& options);
    common::Result<BackupPage> List(const ListFilter& filter) const;
    // By id or a unique id prefix (>= 1 char). kConflict naming the matches when several.
    common::Result<BackupMetadata> Get(std::string_view id_or_prefix) const;
    // Checksum; then (test_restore) decrypt/decompress into a scratch database, tables,
    // row counts, schema hash, integrity/FK/NOT NULL, table checksums and every receipt
    // (signature, stored columns, chain). Records verified/verified_at/restore_tested.
    common::Result<VerificationResult> Verify(std::string_view id, bool test_restore = true,
                                              const ProgressFn& progress = {});
    common::Result<ComprehensiveVerificationResult> VerifyComprehensive(
        std::string_view id, const ProgressFn& progress = {});
    common::Result<RestoreResult> Restore(std::string_view id, const RestoreOptions& options);
    // Verify of `id`, or of the newest verified backup when empty, timing the restore;
    // appended to drill_history.json. kNotFound when there is no (verified) backup.
    common::Result<RestoreDrillReport> Drill(std::string_view id = {},
                                             const ProgressFn& progress = {});
    common::Result<std::vector<RestoreDrillReport>> DrillHistory() const;
    // The calendar retention rule (ops/retention) decides; dry_run only reports. Preview
    // and deletion use the same function on the same manifest.
    common::Result<CleanupResult> Cleanup(bool dry_run);
    // Removes the backup file, its sidecar and its manifest entry.
    common::Status Delete(std::string_view id);
    common::Result<DrStatus> Status() const;

    // Offsite copies (ops/offsite) are composed by the caller:
    // Records `value` as metadata[key] of a backup (e.g. "offsite": its s3:// URL).
    common::Status SetMetadata(std::string_view id, const std::string& key,
                               boost::json::value value);
    // Adopts a backup fetched from elsewhere (an offsite download): `entry` is its manifest
    // entry, its file already at <backup_dir>/<entry.file_name>; backup_path is set to that.
    // An entry with the same id and checksum is already there: returned as it is;
    // same id, other checksum: kConflict. kNotFound when the file is missing; kValidation
    // for a file name with a '/'. The file's checksum is checked by Verify/Restore.
    common::Result<BackupMetadata> Import(BackupMetadata entry);

private:
    BackupManager(BackupManagerOptions options, std::shared_ptr<BackupEngine> engine,
                  const common::Clock& clock);
    // Verify of one entry; `details` filled when given; `restore_seconds` set to the time
    // from the start of decoding to an open scratch store (the drill's RTO).
    common::Result<VerificationResult> VerifyEntry(const BackupMetadata& meta, bool test_restore,
                                                   ComprehensiveVerificationResult* details,
                                                   const ProgressFn& progress,
                                                   double* restore_seconds);
    // An encrypted backup's sidecar with the receipt HMAC secrets (sets m.keys_file).
    common::Status WriteKeysSidecar(BackupMetadata& m);
    // The keys receipts are checked with: the configured ones, completed by those an
    // encrypted backup carries (authenticated by the backup key like the backup itself).
    std::optional<debate::ReceiptKeys> VerificationKeys(const BackupMetadata& meta) const;

public:
    struct Impl;  // backup_manager_impl.hpp

private:
    std::unique_ptr<Impl> impl_;
    BackupManagerOptions options_;
    std::shared_ptr<BackupEngine> engine_;
    const common::Clock& clock_;
};

}  // namespace aragora::ops
