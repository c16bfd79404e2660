#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

// The numbered SQLite migrations (additive only: a previous release keeps working on
// a database a newer one migrated). Versions are recorded in
// schema_migrations(version, name, applied_at, additive).
const std::vector<Migration>& SqliteMigrations();

// The database file is `<data dir>/aragora.sqlite3`. Paths ending in `.db` are refused
// (kValidation): the runbooks' cache clean-up deletes `*.db`. ":memory:" and "file:" URIs
// are accepted (tests).
struct SqliteOptions {
    std::string path;
    int busy_timeout_ms = 5000;
};

class SqliteStore;

// Migration control for `aragora db migrate` and startup. All are blocking.
//
// Reports current/latest/pending without changing anything: a missing file is version 0
// with every migration pending, and is not created. Fails (kStorage) when the database
// holds a version this binary does not know that is not additive, with the message
// "database schema version N is newer than this binary supports (M) and not backward
// compatible; upgrade aragora". Unknown additive versions are listed in
// `unknown_versions` and are not an error.
common::Result<MigrationStatus> CheckSqliteMigrations(const std::string& path);
// Creates the parent directories and the file when missing, then applies the pending
// migrations, each in its own BEGIN IMMEDIATE transaction (safe against a concurrent
// migrator: an already applied version is skipped); idempotent. Refuses, with the error
// above and without changing anything, a database holding an unknown non-additive
// version. Returns the status afterwards.
common::Result<MigrationStatus> ApplySqliteMigrations(const std::string& path);

// Opens the store with WAL, synchronous=NORMAL, the busy timeout and foreign keys on.
// With `migrate`: creates parent dirs and file, and applies migrations first. Without: the
// file must exist and be fully migrated, else kStorage ("... run `aragora db migrate
// --upgrade`"). The store is thread-safe (one connection behind a mutex); its calls block.
// OpenSqliteStores() (sqlite_auth_store.hpp) opens it together with an AuthStore on one
// connection.
common::Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options, bool migrate);

}  // namespace aragora::storage
