#pragma once

// The store the settings name (config::StorageSettings): SQLite at sqlite_path, or
// PostgreSQL at postgres_dsn (POSTGRES_PASSWORD inserted when the DSN has none) with the
// ARAGORA_DB_POOL_* settings. What `aragora serve`, `aragora worker` and the CLI commands
// open, so that they all agree. Blocking (run it off the I/O threads).

#include <memory>
#include <string>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "storage/auth_store.hpp"
#include "storage/key_store.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

struct OpenedStores {
    std::unique_ptr<Store> store;
    std::unique_ptr<AuthStore> auth;
    std::unique_ptr<KeyStore> keys;   // encryption data keys (issue 23)
    std::shared_ptr<PgPool> pg_pool;  // PostgreSQL only (pool statistics)
    std::string backend;              // "sqlite" | "postgresql"
    std::string location;             // the file, or the DSN with its password redacted
};

// With `migrate`, pending migrations are applied (PostgreSQL: under the advisory lock, so
// instances starting together apply each once). SQLite creates the file's directory.
// PostgreSQL unreachable ⇒ kUnavailable; a bad DSN ⇒ kValidation.
common::Result<OpenedStores> OpenConfiguredStores(const config::StorageSettings& settings,
                                                  bool migrate);

// `aragora db migrate --check|--upgrade` on the configured backend. `location` is set to
// what was examined (redacted).
common::Result<MigrationStatus> CheckConfiguredMigrations(const config::StorageSettings& settings,
                                                          std::string* location);
common::Result<MigrationStatus> ApplyConfiguredMigrations(const config::StorageSettings& settings,
                                                          std::string* location);

}  // namespace aragora::storage
