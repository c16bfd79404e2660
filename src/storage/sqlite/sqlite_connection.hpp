#pragma once

// Internal to storage/sqlite: one connection and the mutex that serializes its use,
// shared by the SqliteStore and SqliteAuthStore opened together (OpenSqliteStores).

#include <memory>
#include <mutex>

#include "common/result.hpp"
#include "storage/auth_store.hpp"
#include "storage/key_store.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/store.hpp"

namespace aragora::storage::sqlite {

// Every use of `db` holds `mu` for the whole call (transactions included), so the stores
// sharing it never interleave statements or transactions.
struct Connection {
    std::mutex mu;
    DbHandle db;
};

// Opens `options.path` read-write (WAL, foreign keys on). With `migrate`: creates parent
// dirs and file and applies migrations first. Without: the file must exist and be fully
// migrated, else kStorage ("... run `aragora db migrate --upgrade`").
common::Result<std::shared_ptr<Connection>> OpenConnection(const SqliteOptions& options,
                                                           bool migrate);

std::unique_ptr<Store> MakeSqliteStore(std::shared_ptr<Connection> connection);
std::unique_ptr<AuthStore> MakeSqliteAuthStore(std::shared_ptr<Connection> connection);
std::unique_ptr<KeyStore> MakeSqliteKeyStore(std::shared_ptr<Connection> connection);

}  // namespace aragora::storage::sqlite
