#include <chrono>
#include <pqxx/connection_base>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <string>
#include <thread>
#include <vector>

#include "common/time.hpp"
#include "resilience/backoff.hpp"
#include "storage/migration_plan.hpp"
#include "storage/postgres/pg_sql.hpp"
#include "storage/postgres/pg_store.hpp"

namespace aragora::storage {

namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

// The SQLite schema in PostgreSQL's dialect. Text that is sorted or compared (ids, ISO
// times, emails) uses the "C" collation: byte order, as SQLite's BINARY, whatever the
// database's locale; lower() then folds ASCII only, as SQLite's. Unset times and hashes
// are NULL, as in SQLite.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE debates (
    id                TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    task              TEXT NOT NULL,
    status            TEXT COLLATE "C" NOT NULL,
    agents            TEXT NOT NULL DEFAULT '[]',
    rounds            INTEGER NOT NULL DEFAULT 0,
    rounds_used       INTEGER NOT NULL DEFAULT 0,
    consensus_method  TEXT NOT NULL DEFAULT '',
    consensus_reached BOOLEAN,
    confidence        DOUBLE PRECISION,
    verdict           TEXT NOT NULL DEFAULT '',
    final_answer      TEXT NOT NULL DEFAULT '',
    dissenting_agents TEXT NOT NULL DEFAULT '[]',
    created_at        TEXT COLLATE "C" NOT NULL,
    started_at        TEXT COLLATE "C",
    completed_at      TEXT COLLATE "C",
    duration_seconds  DOUBLE PRECISION,
    receipt_id        TEXT COLLATE "C",
    error_code        TEXT,
    error_message     TEXT,
    spec_json         TEXT NOT NULL DEFAULT '{}',
    result_json       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_debates_created ON debates (created_at DESC, id DESC);
CREATE INDEX idx_debates_status ON debates (status, created_at DESC, id DESC);

CREATE TABLE debate_events (
    debate_id TEXT COLLATE "C" NOT NULL REFERENCES debates (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    type      TEXT NOT NULL,
    round     INTEGER NOT NULL DEFAULT 0,
    agent     TEXT NOT NULL DEFAULT '',
    timestamp DOUBLE PRECISION NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (debate_id, seq)
);

CREATE TABLE receipts (
    receipt_id    TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    chain_seq     BIGINT NOT NULL,
    debate_id     TEXT COLLATE "C" NOT NULL REFERENCES debates (id),
    content_hash  TEXT COLLATE "C" NOT NULL,
    previous_hash TEXT COLLATE "C",
    created_at    TEXT COLLATE "C" NOT NULL,
    json          TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_receipts_chain_seq ON receipts (chain_seq);
CREATE UNIQUE INDEX idx_receipts_debate ON receipts (debate_id);
CREATE INDEX idx_receipts_created ON receipts (created_at);
)sql";

// Additive, as SQLite's migration 2. The audit log refuses UPDATE, DELETE and TRUNCATE
// with the message SQLite's triggers raise.
constexpr const char* kMigration2 = R"sql(
ALTER TABLE debates ADD COLUMN created_by TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE debates ADD COLUMN org_id TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX idx_debates_created_by ON debates (created_by, created_at DESC, id DESC);

CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    email         TEXT COLLATE "C" NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    org_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TEXT COLLATE "C" NOT NULL DEFAULT '',
    updated_at    TEXT COLLATE "C" NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX idx_users_email ON users (lower(email));
CREATE INDEX idx_users_created ON users (created_at, id);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    key_hash     TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL DEFAULT '',
    expires_at   TEXT COLLATE "C",
    last_used_at TEXT COLLATE "C",
    revoked_at   TEXT COLLATE "C"
);
CREATE UNIQUE INDEX idx_api_keys_hash ON api_keys (key_hash);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, created_at DESC, id DESC);

CREATE TABLE refresh_tokens (
    token_hash  TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL DEFAULT '',
    expires_at  TEXT COLLATE "C" NOT NULL,
    revoked_at  TEXT COLLATE "C",
    replaced_by TEXT COLLATE "C"
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY NOT NULL,
    at             TEXT COLLATE "C" NOT NULL,
    actor          TEXT NOT NULL DEFAULT '',
    action         TEXT NOT NULL,
    target         TEXT NOT NULL DEFAULT '',
    ip             TEXT NOT NULL DEFAULT '',
    correlation_id TEXT NOT NULL DEFAULT '',
    details_json   TEXT NOT NULL DEFAULT '{}',
    prev_hash      TEXT NOT NULL DEFAULT '',
    hash           TEXT NOT NULL
);
CREATE INDEX idx_audit_log_at ON audit_log (at);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql";

// Additive, as SQLite's migration 3: the worker queue lives in the debates table.
constexpr const char* kMigration3 = R"sql(
ALTER TABLE debates ADD COLUMN queued_for_worker BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE debates ADD COLUMN lease_owner TEXT COLLATE "C";
ALTER TABLE debates ADD COLUMN lease_expires_at TEXT COLLATE "C";
ALTER TABLE debates ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_debates_queue ON debates (status, created_at, id) WHERE queued_for_worker;
)sql";

// Additive, as SQLite's migration 4: legal hold, the receipt deletion log (tombstones)
// and scheduled_runs (exactly one instance per scheduled slot, by primary key).
constexpr const char* kMigration4 = R"sql(
ALTER TABLE receipts ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE receipts ADD COLUMN legal_hold_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE receipts ADD COLUMN legal_hold_placed_by TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE receipts ADD COLUMN legal_hold_placed_at TEXT COLLATE "C";
ALTER TABLE receipts ADD COLUMN legal_hold_matter_id TEXT COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE receipt_deletions (
    deletion_id        TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    receipt_id         TEXT COLLATE "C" NOT NULL,
    chain_seq          BIGINT NOT NULL,
    debate_id          TEXT COLLATE "C" NOT NULL,
    content_hash       TEXT COLLATE "C" NOT NULL,
    previous_hash      TEXT COLLATE "C",
    receipt_created_at TEXT COLLATE "C" NOT NULL,
    verdict            TEXT NOT NULL DEFAULT '',
    deleted_at         TEXT COLLATE "C" NOT NULL,
    reason             TEXT COLLATE "C" NOT NULL,
    operator           TEXT NOT NULL DEFAULT '',
    metadata_json      TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX idx_receipt_deletions_receipt ON receipt_deletions (receipt_id);
CREATE UNIQUE INDEX idx_receipt_deletions_chain_seq ON receipt_deletions (chain_seq);
CREATE INDEX idx_receipt_deletions_deleted_at ON receipt_deletions (deleted_at);
CREATE FUNCTION receipt_deletions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'receipt_deletions is append-only';
END;
$$;
CREATE TRIGGER receipt_deletions_no_update BEFORE UPDATE ON receipt_deletions
    FOR EACH ROW EXECUTE FUNCTION receipt_deletions_append_only();
CREATE TRIGGER receipt_deletions_no_delete BEFORE DELETE ON receipt_deletions
    FOR EACH ROW EXECUTE FUNCTION receipt_deletions_append_only();
CREATE TRIGGER receipt_deletions_no_truncate BEFORE TRUNCATE ON receipt_deletions
    FOR EACH STATEMENT EXECUTE FUNCTION receipt_deletions_append_only();

CREATE TABLE scheduled_runs (
    job         TEXT COLLATE "C" NOT NULL,
    slot        TEXT COLLATE "C" NOT NULL,
    instance    TEXT NOT NULL,
    claimed_at  TEXT COLLATE "C" NOT NULL,
    finished_at TEXT COLLATE "C",
    status      TEXT NOT NULL DEFAULT 'running',
    detail      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job, slot)
);
)sql";

// Migration 5: the receipt keyring (issue 23). One row per key that signed receipts;
// HMAC keys only sealed (keys::FieldCipher) or not at all, Ed25519 public keys in clear.
constexpr const char* kMigration5 = R"sql(
CREATE TABLE receipt_signing_keys (
    key_id        TEXT COLLATE "C" PRIMARY KEY,
    algorithm     TEXT NOT NULL,
    public_key    TEXT NOT NULL DEFAULT '',
    sealed_secret TEXT NOT NULL DEFAULT '',
    first_seen_at TEXT COLLATE "C" NOT NULL,
    last_seen_at  TEXT COLLATE "C" NOT NULL,
    retired_at    TEXT COLLATE "C" NOT NULL DEFAULT ''
);
)sql";

// Encryption at rest (issue 23): data keys wrapped under the master key, and where each
// re-encryption pass stands (so a killed pass resumes).
constexpr const char* kMigration6 = R"sql(
CREATE TABLE encryption_data_keys (
    key_id       TEXT NOT NULL,
    version      BIGINT NOT NULL,
    wrapped      TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    activated_at TEXT NOT NULL DEFAULT '',
    retired_at   TEXT NOT NULL DEFAULT '',
    expires_at   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key_id, version)
);
CREATE TABLE encryption_reencrypt_progress (
    target      TEXT PRIMARY KEY NOT NULL,
    key_id      TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    cursor      TEXT NOT NULL DEFAULT '',
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    rewritten   BIGINT NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);
)sql";

// SQLite's migration 7 rebuilds its debate_events as a rowid table. PostgreSQL's already
// has that shape (a heap in insertion order, the primary key a separate index), so here
// the version is only recorded: both backends keep the same numbering.
constexpr const char* kMigration7 = "SELECT 1";

constexpr const char* kCreateVersionTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT,
    applied_at TEXT,
    additive   BOOLEAN NOT NULL DEFAULT TRUE
)
)sql";

Result<std::vector<AppliedMigration>> ReadApplied(pqxx::transaction_base& tx) {
    std::vector<AppliedMigration> out;
    const pqxx::result exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!pg::OptBool(exists[0], 0).value_or(false)) return out;
    for (const auto& row :
         tx.exec("SELECT version, additive FROM schema_migrations ORDER BY version"))
        out.push_back({static_cast<int>(pg::Int(row, 0)), pg::OptBool(row, 1).value_or(true)});
    return out;
}

Result<MigrationStatus> ReadStatusOn(pqxx::connection_base& c) {
    pqxx::read_transaction tx(c);
    auto applied = ReadApplied(tx);
    if (!applied) return applied.error();
    return EvaluateMigrations(PgMigrations(), *applied);
}

Result<MigrationStatus> ReadStatus(PgPool& pool) {
    Result<MigrationStatus> status;
    auto s = pool.Run("read schema_migrations", [&](pqxx::connection_base& c) -> Status {
        status = ReadStatusOn(c);
        return {};
    });
    if (!s) return s.error();
    return status;
}

// On the connection that holds the migration lock.
Status ApplyOne(pqxx::connection_base& c, const Migration& m) {
    pqxx::work tx(c, "migration " + std::to_string(m.version));
    pg::Params check;
    const std::string sql =
        "SELECT 1 FROM schema_migrations WHERE version = " + check.Int(m.version);
    if (!pg::Exec(tx, sql, check).empty()) return {};  // applied meanwhile: roll back
    tx.exec(m.sql);
    pg::Params p;
    const std::string insert =
        "INSERT INTO schema_migrations (version, name, applied_at, additive) VALUES (" +
        p.Int(m.version) + ", " + p.Text(m.name) + ", " +
        p.Text(common::FormatIso8601(std::chrono::system_clock::now())) + ", " +
        p.Bool(m.additive) + ")";
    pg::Exec(tx, insert, p);
    tx.commit();
    return {};
}

}  // namespace

const std::vector<Migration>& PgMigrations() {
    static const std::vector<Migration> kMigrations = {
        {1, "debates, debate_events, receipts", kMigration1, true},
        {2, "debate creators, users, api_keys, refresh_tokens, audit_log", kMigration2, true},
        {3, "worker queue: queued_for_worker, lease_owner, lease_expires_at, attempts", kMigration3,
         true},
        {4, "receipt legal hold, receipt_deletions (tombstones), scheduled_runs", kMigration4,
         true},
        {5, "receipt_signing_keys (the receipt keyring)", kMigration5, true},
        {6, "encryption_data_keys, encryption_reencrypt_progress", kMigration6, true},
        {7, "debate_events as a rowid table (rows append in commit order)", kMigration7, true},
    };
    return kMigrations;
}

Result<MigrationStatus> CheckPgMigrations(PgPool& pool) { return ReadStatus(pool); }

Result<MigrationStatus> ApplyPgMigrations(PgPool& pool, const PgMigrateOptions& options) {
    auto lease = pool.Acquire();
    if (!lease) return lease.error();
    // The session lock and any half-done state go with the connection.
    lease->Discard();
    pqxx::connection_base& c = lease->conn();
    std::string what = "apply migrations";
    try {
        const auto deadline = std::chrono::steady_clock::now() + options.lock_wait;
        const resilience::Backoff backoff(
            {std::chrono::milliseconds(20), std::chrono::milliseconds(500), 0});
        int attempt = 0;
        bool locked = false;
        while (true) {
            {
                pqxx::nontransaction tx(c);
                pg::Params p;
                const std::string sql =
                    "SELECT pg_try_advisory_lock(" + p.Int(pg::kMigrationLockKey) + ")";
                locked = pg::OptBool(pg::Exec(tx, sql, p)[0], 0).value_or(false);
            }
            if (locked || std::chrono::steady_clock::now() >= deadline) break;
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                backoff.Ceiling(attempt++), deadline - std::chrono::steady_clock::now()));
        }
        if (!locked) {
            auto status = ReadStatusOn(c);
            if (!status) return status.error();
            if (status->pending.empty()) return status;
            return MakeError(ErrorCode::kTimeout, "another instance held the migration lock for " +
                                                      std::to_string(options.lock_wait.count()) +
                                                      " ms; " +
                                                      std::to_string(status->pending.size()) +
                                                      " migration(s) still pending");
        }
        {
            pqxx::nontransaction tx(c);
            tx.exec(kCreateVersionTable);
        }
        auto before = ReadStatusOn(c);
        if (!before) return before.error();
        for (const auto& m : before->pending) {
            what = "migration " + std::to_string(m.version) + " (" + m.name + ")";
            if (auto s = ApplyOne(c, m); !s) return s.error();
        }
        what = "apply migrations";
        return ReadStatusOn(c);
    } catch (...) {
        bool broken = false;
        common::Error error = PgCurrentError(what, &broken);
        if (broken) lease->MarkBroken();
        return error;
    }
}

}  // namespace aragora::storage
