#pragma once

#include <memory>

#include "common/result.hpp"
#include "storage/auth_store.hpp"
#include "storage/key_store.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

// Opens an AuthStore on its OWN connection to `options.path` (WAL, busy timeout, foreign
// keys on), with the semantics of OpenSqliteStore(): with `migrate` it creates the file
// and applies migrations; without, the schema must be current, else kStorage. Works beside
// a SqliteStore open on the same file (SQLite locks order the writers). Not for
// ":memory:", where a second connection is a different database: use OpenSqliteStores().
// Thread-safe (one connection behind a mutex); its calls block.
common::Result<std::unique_ptr<AuthStore>> OpenSqliteAuthStore(const SqliteOptions& options,
                                                               bool migrate);

struct SqliteStores {
    std::unique_ptr<Store> store;
    std::unique_ptr<AuthStore> auth;
    std::unique_ptr<KeyStore> keys;  // encryption data keys (issue 23)
};

// Opens both stores on ONE connection and one mutex (shared by both objects, which may be
// destroyed in any order): the design that also works for ":memory:", and uses one
// connection instead of two for a server. Same options and `migrate` semantics as
// OpenSqliteStore(). The two stores' calls are serialized against each other.
common::Result<SqliteStores> OpenSqliteStores(const SqliteOptions& options, bool migrate);

}  // namespace aragora::storage
