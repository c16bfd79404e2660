#pragma once

// The PostgreSQL backend of storage::Store and storage::AuthStore: same contracts as the
// SQLite ones (see store.hpp, auth_store.hpp), over a PgPool. All calls block (callers on
// I/O threads go through common::BlockingPool); everything here is thread-safe. Chains
// (receipts, audit) stay linear across processes: their appends take a transaction-level
// advisory lock before reading the last link.

#include <chrono>
#include <memory>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "storage/auth_store.hpp"
#include "storage/key_store.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

// The numbered PostgreSQL migrations: the versions and names of SqliteMigrations(), in
// PostgreSQL's dialect. Recorded in schema_migrations(version, name, applied_at, additive).
const std::vector<Migration>& PgMigrations();

// Reports current/latest/pending without changing anything (no schema_migrations table =
// version 0). Fails (kStorage) on an unknown non-additive version, with the message of
// CheckSqliteMigrations(); kUnavailable when the database cannot be reached.
common::Result<MigrationStatus> CheckPgMigrations(PgPool& pool);

struct PgMigrateOptions {
    // How long to keep retrying pg_try_advisory_lock while another instance migrates.
    std::chrono::milliseconds lock_wait{60000};
};

// Applies the pending migrations under the session advisory lock 2089872453, each in its own
// transaction that re-checks schema_migrations first, so instances starting together apply
// each migration exactly once. When the lock stays taken for `lock_wait`, re-reads the
// status: nothing pending ⇒ that status; else kTimeout. Refuses (as CheckPgMigrations) an
// unknown non-additive version without changing anything. Returns the status afterwards.
common::Result<MigrationStatus> ApplyPgMigrations(PgPool& pool,
                                                  const PgMigrateOptions& options = {});

struct PgStores {
    std::unique_ptr<Store> store;
    std::unique_ptr<AuthStore> auth;
    std::unique_ptr<KeyStore> keys;  // encryption data keys (issue 23)
    std::shared_ptr<PgPool> pool;    // shared by both stores; Stats() for metrics
};

// The pool lease renewals use (OpenPgStores): one connection kept open, one overflow, a
// short acquire wait. Renewals never queue behind event commits for a connection.
PgPoolOptions LeasePoolOptions(const PgPoolOptions& options);

// Creates the pool (PgPool::Create) and both stores on it (either may be destroyed first).
// The store's RenewLease runs on a second, small pool of its own (LeasePoolOptions), so
// that a commit pool held busy by event writes cannot starve lease renewals.
// With `migrate`: applies the pending migrations first. Without: the schema must be
// current, else kStorage ("... run `aragora db migrate --upgrade`"). Connects once to
// check the schema, so an unreachable server fails here (kUnavailable).
common::Result<PgStores> OpenPgStores(const PgPoolOptions& options, bool migrate,
                                      const common::Clock* clock = nullptr);

// Both stores over an existing pool (the schema is not checked). `lease_pool` (null: `pool`)
// runs RenewLease only.
std::unique_ptr<Store> MakePgStore(std::shared_ptr<PgPool> pool,
                                   std::shared_ptr<PgPool> lease_pool = nullptr);
std::unique_ptr<AuthStore> MakePgAuthStore(std::shared_ptr<PgPool> pool);
std::unique_ptr<KeyStore> MakePgKeyStore(std::shared_ptr<PgPool> pool);

}  // namespace aragora::storage
