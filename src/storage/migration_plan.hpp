#pragma once

// Shared by the SQLite and PostgreSQL migrators: compares the versions a database
// recorded in schema_migrations with the migrations this binary knows.

#include <vector>

#include "common/result.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

struct AppliedMigration {
    int version = 0;
    bool additive = true;
};

// `known` is ascending by version. Fails (kStorage) when `applied` holds a version
// missing from `known` that is not additive: "database schema version N is newer than
// this binary supports (M) and not backward compatible; upgrade aragora".
common::Result<MigrationStatus> EvaluateMigrations(const std::vector<Migration>& known,
                                                   const std::vector<AppliedMigration>& applied);

}  // namespace aragora::storage
