#pragma once

// Internal to ops/sqlite_backup: inspection of an open SQLite connection (the caller
// decides which view: the snapshot's read transaction, a scratch copy, a file).

#include <sqlite3.h>

#include "common/result.hpp"
#include "ops/db_inspection.hpp"

namespace aragora::ops::sqlite_backup {

// Tables (every table but sqlite_%), row counts, table checksums (rows in primary-key
// order, else rowid order; values as SQLite's text, NULL as an empty field, joined by
// '|'), the schema listing's hash, foreign keys and indexes. With `check_problems`:
// integrity_check, foreign_key_check and NULLs in NOT NULL columns, each problem one
// line "<table>: ..." ("database: ..." when SQLite names no table).
common::Result<DbInspection> InspectDb(sqlite3* db, bool check_problems);

// Highest version in schema_migrations; 0 when the table is absent or empty.
common::Result<int> ReadSchemaVersion(sqlite3* db);

}  // namespace aragora::ops::sqlite_backup
