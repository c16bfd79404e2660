#pragma once

// Internal to storage/sqlite: migrations on an already open connection.

#include <sqlite3.h>

#include "common/result.hpp"
#include "storage/store.hpp"

namespace aragora::storage::sqlite {

// Reads schema_migrations (absent = version 0) and compares it with SqliteMigrations().
// Fails when the database holds an unknown version that is not additive. Changes nothing.
common::Result<MigrationStatus> ReadMigrationStatus(sqlite3* db);

// Applies the pending migrations, each in its own BEGIN IMMEDIATE transaction that first
// re-checks that no other process applied it meanwhile. Returns the status afterwards.
common::Result<MigrationStatus> MigrateDb(sqlite3* db);

}  // namespace aragora::storage::sqlite
