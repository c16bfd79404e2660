#pragma once

// The SQLite BackupEngine (backup_engine.hpp): snapshots with the online backup API from
// a separate read-only connection while `serve` keeps writing (WAL), inspection of a
// database file, scratch restores and restores into a target path.

#include <filesystem>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "ops/backup_engine.hpp"
#include "ops/db_inspection.hpp"

namespace aragora::ops {

struct SqliteBackupOptions {
    std::string database_path;  // the live database file (storage::SqliteOptions::path)
    // Pages copied per sqlite3_backup_step: the longest a writer can wait on the snapshot
    // (one step holds the source's read lock only for that many page reads).
    int pages_per_step = 256;
    int busy_timeout_ms = 5000;
};

std::shared_ptr<BackupEngine> MakeSqliteBackupEngine(SqliteBackupOptions options);

// Inspects an SQLite database file, read-only: every table except SQLite's own
// (sqlite_%), row counts, table checksums, schema hash, foreign keys and indexes (the
// original's listing, db_inspection.hpp); with `check_problems` also PRAGMA
// integrity_check, PRAGMA foreign_key_check and a NOT NULL scan of every column.
common::Result<DbInspection> InspectSqliteFile(const std::filesystem::path& path,
                                               bool check_problems);

}  // namespace aragora::ops
