#pragma once

// The backends the storage contract suites run against: one fresh database per test
// (a SQLite file in a temp dir, or a PostgreSQL database on the test server), opened as
// many times as a test needs (a second opening = a second instance/process), plus raw
// SQL for what the store APIs deliberately do not offer.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "pg_test_server.hpp"
#include "sqlite_test_support.hpp"
#include "storage/auth_store.hpp"
#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"
#include "storage/store.hpp"

namespace aragora::storage::test_support {

enum class BackendKind { kSqlite, kPostgres };

inline std::string BackendName(const ::testing::TestParamInfo<BackendKind>& info) {
    return info.param == BackendKind::kSqlite ? "SQLite" : "PostgreSQL";
}

struct OpenedStores {
    std::unique_ptr<Store> store;
    std::unique_ptr<AuthStore> auth;
    std::unique_ptr<KeyStore> keys;
};

class TestBackend {
public:
    virtual ~TestBackend() = default;
    // "" when the database is ready; else why not (the test fails with it).
    virtual std::string error() const = 0;
    // Both stores over one connection/pool, with OpenSqliteStores/OpenPgStores semantics.
    virtual common::Result<OpenedStores> Open(bool migrate) = 0;
    // Raw SQL (the dialects agree on what the suites use).
    virtual void Exec(const std::string& sql) = 0;
    virtual std::string ExecError(const std::string& sql) = 0;
    virtual std::vector<std::string> Column(const std::string& sql) = 0;
    // Removes the append-only triggers of audit_log (tampering tests).
    virtual void DropAuditTriggers() = 0;
};

class SqliteBackend final : public TestBackend {
public:
    SqliteBackend() : path_((dir_.path() / "data" / "aragora.sqlite3").string()) {}
    std::string error() const override { return {}; }
    common::Result<OpenedStores> Open(bool migrate) override {
        auto stores = OpenSqliteStores({path_}, migrate);
        if (!stores) return stores.error();
        return OpenedStores{std::move(stores->store), std::move(stores->auth),
                            std::move(stores->keys)};
    }
    void Exec(const std::string& sql) override { RawDb(path_).Exec(sql.c_str()); }
    std::string ExecError(const std::string& sql) override {
        return RawDb(path_).ExecError(sql.c_str());
    }
    std::vector<std::string> Column(const std::string& sql) override {
        return RawDb(path_).Column(sql.c_str());
    }
    void DropAuditTriggers() override {
        Exec("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete");
    }

private:
    TempDir dir_;
    std::string path_;
};

class PgBackend final : public TestBackend {
public:
    std::string error() const override { return db_.error(); }
    common::Result<OpenedStores> Open(bool migrate) override {
        auto dsn = BuildPgDsn(db_.url(), "");
        if (!dsn) return dsn.error();
        PgPoolOptions options;
        options.dsn = *dsn;
        options.pool_size = 4;
        options.max_overflow = 4;
        auto stores = OpenPgStores(options, migrate);
        if (!stores) return stores.error();
        return OpenedStores{std::move(stores->store), std::move(stores->auth),
                            std::move(stores->keys)};
    }
    void Exec(const std::string& sql) override { db_.Exec(sql); }
    std::string ExecError(const std::string& sql) override { return db_.ExecError(sql); }
    std::vector<std::string> Column(const std::string& sql) override { return db_.Column(sql); }
    void DropAuditTriggers() override {
        Exec(
            "DROP TRIGGER audit_log_no_update ON audit_log; "
            "DROP TRIGGER audit_log_no_delete ON audit_log");
    }

    PgTestDatabase& db() { return db_; }

private:
    PgTestDatabase db_;
};

inline std::unique_ptr<TestBackend> MakeBackend(BackendKind kind) {
    if (kind == BackendKind::kSqlite) return std::make_unique<SqliteBackend>();
    return std::make_unique<PgBackend>();
}

#define ARAGORA_STORAGE_BACKENDS                                                 \
    ::testing::Values(::aragora::storage::test_support::BackendKind::kSqlite,    \
                      ::aragora::storage::test_support::BackendKind::kPostgres), \
        ::aragora::storage::test_support::BackendName

// A stored event of `type` at `seq` with empty data (timestamp 1 + seq).
inline events::Event TestEvent(const std::string& id, std::int64_t seq, const std::string& type) {
    events::Event e;
    e.debate_id = id;
    e.seq = seq;
    e.type = type;
    e.timestamp = 1.0 + static_cast<double>(seq);
    e.data_json = "{}";
    return e;
}

// A receipt builder that chains onto whichever receipt the store finds before it.
inline ReceiptBuilder TestReceiptBuilder(const std::string& receipt_id,
                                         const std::string& created_at) {
    return [receipt_id, created_at](
               const std::optional<std::string>& previous) -> common::Result<ReceiptRecord> {
        ReceiptRecord r;
        r.receipt_id = receipt_id;
        r.content_hash = "hash-" + receipt_id;
        r.previous_hash = previous;
        r.created_at = created_at;
        r.json = "{}";
        return r;
    };
}

// A suite over one freshly migrated Store (and its AuthStore) per test, on the backend of
// its parameter.
class StoreSuite : public ::testing::TestWithParam<BackendKind> {
protected:
    void SetUp() override {
        backend_ = MakeBackend(GetParam());
        ASSERT_EQ(backend_->error(), "");
        auto stores = backend_->Open(/*migrate=*/true);
        ASSERT_TRUE(stores) << stores.error().message;
        store_ = std::move(stores->store);
        auth_ = std::move(stores->auth);
        ASSERT_NE(store_, nullptr);
    }
    void Create(const DebateRecord& d) {
        auto s = store_->CreateDebate(d);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }

    std::unique_ptr<TestBackend> backend_;  // outlives the stores
    std::unique_ptr<Store> store_;
    std::unique_ptr<AuthStore> auth_;
};

}  // namespace aragora::storage::test_support
