#pragma once

#include <memory>
#include <string>

#include "common/result.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

// The numbered SQLite migrations (additive only: a previous release keeps working on
// a database a newer one migrated).
const std::vector<Migration>& SqliteMigrations();

// Opens (creating parent dirs) the SQLite database at `path` with WAL, a busy timeout
// and foreign keys on. Does not migrate.
struct SqliteOptions {
    std::string path;
    int busy_timeout_ms = 5000;
};

class SqliteStore;

// Migration control for `aragora db migrate` and startup.
common::Result<MigrationStatus> CheckSqliteMigrations(const std::string& path);
// Applies pending migrations in one transaction each; idempotent. Refuses (error) when
// the database holds a version newer than this binary knows that is not additive.
common::Result<MigrationStatus> ApplySqliteMigrations(const std::string& path);

// Opens the store (applying migrations first when `migrate`).
common::Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options, bool migrate);

}  // namespace aragora::storage
