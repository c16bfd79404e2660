#pragma once

// The per-database-kind half of backups (docs/operations.md). The BackupManager
// (backup_manager.hpp) drives one BackupEngine for the configured database — SQLite
// (ops/sqlite_backup.hpp) or PostgreSQL (ops/postgres_backup.hpp) — and does everything
// else (compression, encryption, checksums, manifest, receipt re-verification, retention)
// the same way for both.
//
// Threads: every call blocks (file, database and process I/O); run them off the I/O
// threads (common::BlockingPool). An engine is used by one manager; its calls may come
// from several threads at once and must be safe so (each call opens what it needs).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "ops/db_inspection.hpp"
#include "storage/store.hpp"

namespace aragora::ops {

// Progress of a long step: `done` of `total` units of `phase` ("snapshot", "compress",
// "restore", ...; pages or bytes); total 0 = unknown. Called on the thread doing the work,
// at most every few milliseconds of work; must be cheap and must not throw. May be empty.
using ProgressFn =
    std::function<void(std::string_view phase, std::uint64_t done, std::uint64_t total)>;

struct SnapshotInfo {
    // Size of the live database when the snapshot began (the original's size_bytes;
    // PostgreSQL: pg_database_size).
    std::uint64_t source_size_bytes = 0;
    // Size of the raw snapshot file written.
    std::uint64_t snapshot_size_bytes = 0;
    // What the snapshot holds, taken from the same consistent view the snapshot was
    // copied from (never the live database a moment later): tables, row counts, table
    // checksums, schema hash, foreign keys, indexes. `problems` is filled when checked.
    DbInspection inspection;
    // Highest applied schema migration in the snapshot (schema_migrations); 0 when none.
    int schema_version = 0;
};

// A database restored from a snapshot for verification only, private to the verifier.
// Destroying it removes the database (SQLite: the file with its -wal/-shm; PostgreSQL:
// DROP DATABASE of the scratch database).
class ScratchDatabase {
public:
    virtual ~ScratchDatabase() = default;
    // The restored data as `aragora serve` would read it (opened without migrating).
    virtual storage::Store& store() = 0;
    // Inspection of the restored database, `problems` filled: storage-level integrity,
    // foreign-key violations, NULLs in NOT NULL columns — each naming its table.
    virtual common::Result<DbInspection> Inspect() = 0;
    // Where it lives (a file path, or a database name), for messages.
    virtual std::string Location() const = 0;
};

struct RestoreTarget {
    // SQLite: the database file to write (e.g. /srv/aragora/data/aragora.sqlite3; never a
    // *.db name, see storage::SqliteOptions). PostgreSQL: the database name, or a DSN.
    std::string location;
    // Replace an existing target. The replaced one is kept (renamed, never deleted) as
    // "<name>.pre-restore-<UTC YYYYmmddTHHMMSSZ>" (SQLite: with its -wal/-shm files).
    bool force = false;
    // The time written into the kept name (the manager's clock).
    std::chrono::system_clock::time_point now{};
};

struct RestoreOutcome {
    std::string target;         // what was written (the file, or the database)
    std::string kept_previous;  // where the replaced one was kept; "" when none existed
};

class BackupEngine {
public:
    virtual ~BackupEngine() = default;

    // "sqlite" or "postgresql" (the manifest's `kind`).
    virtual std::string Kind() const = 0;
    // The live database for the manifest's source_path and for messages: the file, or
    // the DSN with its password redacted.
    virtual std::string SourceLocation() const = 0;
    // Stem of backup file names: "aragora" for aragora.sqlite3; the database name for
    // PostgreSQL.
    virtual std::string FileStem() const = 0;
    // Suffix of a raw snapshot file: ".db" (an SQLite database file), ".dump" (pg_dump
    // custom format). The backup file is "<stem>_<UTC YYYYmmdd_HHMMSS>_<id><suffix>"
    // plus ".gz" when compressed and ".enc" when encrypted.
    virtual std::string SnapshotSuffix() const = 0;

    // Writes one consistent snapshot of the live database to `out` (a path that does not
    // exist yet; the caller removes it on failure) while the server keeps writing: every
    // transaction committed before the snapshot is in it, none after, none in part.
    // Writers are never stopped for longer than one step of the copy. Fills SnapshotInfo
    // from the same view. Errors: kNotFound (no such database), kUnavailable (cannot
    // connect / read), kStorage, kInternal; each one readable line.
    virtual common::Result<SnapshotInfo> Snapshot(const std::filesystem::path& out,
                                                  const ProgressFn& progress) = 0;

    // Inspects the live database now (problems checked). For `doctor` and tests.
    virtual common::Result<DbInspection> Inspect() = 0;

    // Restores `snapshot` (a raw snapshot file this kind of engine wrote, already
    // decrypted and decompressed) into a new scratch database: SQLite under
    // `scratch_dir`, PostgreSQL as a new uniquely named database (`scratch_dir` holds its
    // temporary files). kValidation when the file is not a snapshot of this kind.
    virtual common::Result<std::unique_ptr<ScratchDatabase>> RestoreScratch(
        const std::filesystem::path& snapshot, const std::filesystem::path& scratch_dir,
        const ProgressFn& progress) = 0;

    // Restores `snapshot` into `target`, written beside it under a temporary name and
    // renamed into place (SQLite) or restored into a new database that is renamed
    // (PostgreSQL), so a failure leaves the old target untouched. Refuses, with kConflict
    // and nothing changed: the live database of a running server (SQLite: the server's
    // flock on "<db>.lock" is held — the message names the holder's pid), and an existing
    // target without `force`. With `force` the replaced target is kept (RestoreTarget).
    virtual common::Result<RestoreOutcome> RestoreInto(const std::filesystem::path& snapshot,
                                                       const RestoreTarget& target,
                                                       const ProgressFn& progress) = 0;
};

}  // namespace aragora::ops
