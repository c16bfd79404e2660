#include "storage/sqlite/sqlite_migrations.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "common/time.hpp"
#include "storage/migration_plan.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::storage {

namespace {

// Debate times are ISO 8601 UTC strings with a fixed width, so they sort as text.
// Strings that the record keeps as "" when unset are NULL here.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE debates (
    id                TEXT PRIMARY KEY NOT NULL,
    task              TEXT NOT NULL,
    status            TEXT NOT NULL,
    agents            TEXT NOT NULL DEFAULT '[]',
    rounds            INTEGER NOT NULL DEFAULT 0,
    rounds_used       INTEGER NOT NULL DEFAULT 0,
    consensus_method  TEXT NOT NULL DEFAULT '',
    consensus_reached INTEGER,
    confidence        REAL,
    verdict           TEXT NOT NULL DEFAULT '',
    final_answer      TEXT NOT NULL DEFAULT '',
    dissenting_agents TEXT NOT NULL DEFAULT '[]',
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    completed_at      TEXT,
    duration_seconds  REAL,
    receipt_id        TEXT,
    error_code        TEXT,
    error_message     TEXT,
    spec_json         TEXT NOT NULL DEFAULT '{}',
    result_json       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_debates_created ON debates (created_at DESC, id DESC);
CREATE INDEX idx_debates_status ON debates (status, created_at DESC, id DESC);

CREATE TABLE debate_events (
    debate_id TEXT NOT NULL REFERENCES debates (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    type      TEXT NOT NULL,
    round     INTEGER NOT NULL DEFAULT 0,
    agent     TEXT NOT NULL DEFAULT '',
    timestamp REAL NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (debate_id, seq)
) WITHOUT ROWID;

CREATE TABLE receipts (
    receipt_id    TEXT PRIMARY KEY NOT NULL,
    chain_seq     INTEGER NOT NULL,
    debate_id     TEXT NOT NULL REFERENCES debates (id),
    content_hash  TEXT NOT NULL,
    previous_hash TEXT,
    created_at    TEXT NOT NULL,
    json          TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_receipts_chain_seq ON receipts (chain_seq);
CREATE UNIQUE INDEX idx_receipts_debate ON receipts (debate_id);
CREATE INDEX idx_receipts_created ON receipts (created_at);
)sql";

// Additive: an older binary ignores the new tables and inserts debates without the new
// columns (their defaults apply). Unset times and hashes are NULL, as in migration 1.
// Emails are unique case-insensitively through an index on lower(email).
constexpr const char* kMigration2 = R"sql(
ALTER TABLE debates ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE debates ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
CREATE INDEX idx_debates_created_by ON debates (created_by, created_at DESC, id DESC);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    org_id        TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX idx_users_email ON users (lower(email));
CREATE INDEX idx_users_created ON users (created_at, id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    key_hash     TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT '',
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX idx_api_keys_hash ON api_keys (key_hash);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, created_at DESC, id DESC);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT '',
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    replaced_by TEXT
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY NOT NULL,
    at             TEXT NOT NULL,
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
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
)sql";

// Additive: the worker queue lives in the debates table. An older binary inserts debates
// with the defaults (not queued) and never reads the lease columns. The partial index
// serves the claim (oldest pending queued debate) and the reaper (running queued debates).
constexpr const char* kMigration3 = R"sql(
ALTER TABLE debates ADD COLUMN queued_for_worker INTEGER NOT NULL DEFAULT 0;
ALTER TABLE debates ADD COLUMN lease_owner TEXT;
ALTER TABLE debates ADD COLUMN lease_expires_at TEXT;
ALTER TABLE debates ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_debates_queue ON debates (status, created_at, id) WHERE queued_for_worker = 1;
)sql";

// Additive: receipt retention and scheduled jobs (docs/operations.md).
// - receipts gain the legal-hold columns (a held receipt is never deleted by retention);
// - receipt_deletions is the deletion log and the chain's tombstones: a deleted receipt
//   keeps its id, chain_seq, content_hash and previous_hash there, so the receipts that
//   remain still verify as one chain; append-only like audit_log;
// - scheduled_runs: one row per (job, slot) — the primary key makes exactly one instance
//   take a scheduled slot (backups, drills, receipt cleanup) on a shared database.
constexpr const char* kMigration4 = R"sql(
ALTER TABLE receipts ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE receipts ADD COLUMN legal_hold_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE receipts ADD COLUMN legal_hold_placed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE receipts ADD COLUMN legal_hold_placed_at TEXT;
ALTER TABLE receipts ADD COLUMN legal_hold_matter_id TEXT NOT NULL DEFAULT '';

CREATE TABLE receipt_deletions (
    deletion_id        TEXT PRIMARY KEY NOT NULL,
    receipt_id         TEXT NOT NULL,
    chain_seq          INTEGER NOT NULL,
    debate_id          TEXT NOT NULL,
    content_hash       TEXT NOT NULL,
    previous_hash      TEXT,
    receipt_created_at TEXT NOT NULL,
    verdict            TEXT NOT NULL DEFAULT '',
    deleted_at         TEXT NOT NULL,
    reason             TEXT NOT NULL,
    operator           TEXT NOT NULL DEFAULT '',
    metadata_json      TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX idx_receipt_deletions_receipt ON receipt_deletions (receipt_id);
CREATE UNIQUE INDEX idx_receipt_deletions_chain_seq ON receipt_deletions (chain_seq);
CREATE INDEX idx_receipt_deletions_deleted_at ON receipt_deletions (deleted_at);
CREATE TRIGGER receipt_deletions_no_update BEFORE UPDATE ON receipt_deletions
BEGIN
    SELECT RAISE(ABORT, 'receipt_deletions is append-only');
END;
CREATE TRIGGER receipt_deletions_no_delete BEFORE DELETE ON receipt_deletions
BEGIN
    SELECT RAISE(ABORT, 'receipt_deletions is append-only');
END;

CREATE TABLE scheduled_runs (
    job         TEXT NOT NULL,
    slot        TEXT NOT NULL,
    instance    TEXT NOT NULL,
    claimed_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running',
    detail      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job, slot)
);
)sql";

// Migration 5: the receipt keyring (issue 23). One row per key that signed receipts;
// HMAC keys only sealed (keys::FieldCipher) or not at all, Ed25519 public keys in clear.
constexpr const char* kMigration5 = R"sql(
CREATE TABLE receipt_signing_keys (
    key_id        TEXT PRIMARY KEY,
    algorithm     TEXT NOT NULL,
    public_key    TEXT NOT NULL DEFAULT '',
    sealed_secret TEXT NOT NULL DEFAULT '',
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    retired_at    TEXT NOT NULL DEFAULT ''
);
)sql";

// Encryption at rest (issue 23): data keys wrapped under the master key, and where each
// re-encryption pass stands (so a killed pass resumes).
constexpr const char* kMigration6 = R"sql(
CREATE TABLE encryption_data_keys (
    key_id       TEXT NOT NULL,
    version      INTEGER NOT NULL,
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
    key_version INTEGER NOT NULL,
    cursor      TEXT NOT NULL DEFAULT '',
    done        INTEGER NOT NULL DEFAULT 0,
    rewritten   INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);
)sql";

// debate_events becomes a rowid table (issue 20: write amplification of the event commits).
// As WITHOUT ROWID it was one index B-tree keyed by (debate_id, seq) holding whole rows,
// so every commit rewrote a partly filled leaf at each of its debates' places in the tree,
// and interior pages, which hold whole rows in such a tree, fanned out ~5 ways (453
// interior pages for 2,197 leaves after 100 debates). Now rows append in commit order to
// the table's right-hand pages (rowid = max + 1) and the declared PRIMARY KEY (debate_id,
// seq) is a separate unique index (sqlite_autoindex_debate_events_1, the same name, columns
// and uniqueness as before) of small entries that serves every read by debate and seq,
// the foreign key's ON DELETE CASCADE and ON CONFLICT (debate_id, seq). Same columns,
// types, defaults and key: a binary of migration 6 runs on it unchanged, hence additive.
// The copy is one transaction: time and WAL space grow with the table.
constexpr const char* kMigration7 = R"sql(
ALTER TABLE debate_events RENAME TO debate_events_v6;
CREATE TABLE debate_events (
    debate_id TEXT NOT NULL REFERENCES debates (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    type      TEXT NOT NULL,
    round     INTEGER NOT NULL DEFAULT 0,
    agent     TEXT NOT NULL DEFAULT '',
    timestamp REAL NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (debate_id, seq)
);
INSERT INTO debate_events (debate_id, seq, type, round, agent, timestamp, data)
    SELECT debate_id, seq, type, round, agent, timestamp, data FROM debate_events_v6
    ORDER BY debate_id, seq;
DROP TABLE debate_events_v6;
)sql";

constexpr const char* kCreateVersionTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT,
    applied_at TEXT,
    additive   INTEGER NOT NULL DEFAULT 1
)
)sql";

using AppliedVersion = AppliedMigration;

common::Result<std::vector<AppliedVersion>> ReadAppliedVersions(sqlite3* db) {
    std::vector<AppliedVersion> out;
    auto exists = sqlite::Stmt::Prepare(
        db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        "look up schema_migrations");
    if (!exists) return exists.error();
    auto found = exists->Step();
    if (!found) return found.error();
    if (!*found) return out;

    auto stmt = sqlite::Stmt::Prepare(
        db, "SELECT version, additive FROM schema_migrations ORDER BY version",
        "read schema_migrations");
    if (!stmt) return stmt.error();
    while (true) {
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back({static_cast<int>(stmt->Int(0)), stmt->Int(1) != 0});
    }
    return out;
}

common::Result<MigrationStatus> Evaluate(const std::vector<AppliedVersion>& applied) {
    return EvaluateMigrations(SqliteMigrations(), applied);
}

common::Status ApplyOne(sqlite3* db, const Migration& m) {
    const std::string what = "migration " + std::to_string(m.version) + " (" + m.name + ")";
    auto tx = sqlite::Transaction::Begin(db);
    if (!tx) return tx.error();

    // Another process may have applied it between our read and our write lock.
    auto check = sqlite::Stmt::Prepare(db, "SELECT 1 FROM schema_migrations WHERE version = ?1",
                                       "check " + what);
    if (!check) return check.error();
    check->BindInt(1, m.version);
    auto already = check->Step();
    if (!already) return already.error();
    if (*already) return {};  // the transaction rolls back: nothing was written

    if (auto s = sqlite::Exec(db, m.sql.c_str(), what); !s) return s;
    auto record =
        sqlite::Stmt::Prepare(db,
                              "INSERT INTO schema_migrations (version, name, applied_at, additive) "
                              "VALUES (?1, ?2, ?3, ?4)",
                              "record " + what);
    if (!record) return record.error();
    record->BindInt(1, m.version);
    record->BindText(2, m.name);
    record->BindText(3, common::FormatIso8601(std::chrono::system_clock::now()));
    record->BindInt(4, m.additive ? 1 : 0);
    if (auto s = record->Run(); !s) return s;
    return tx->Commit();
}

}  // namespace

const std::vector<Migration>& SqliteMigrations() {
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

namespace sqlite {

common::Result<MigrationStatus> ReadMigrationStatus(sqlite3* db) {
    auto applied = ReadAppliedVersions(db);
    if (!applied) return applied.error();
    return Evaluate(*applied);
}

common::Result<MigrationStatus> MigrateDb(sqlite3* db) {
    if (auto s = Exec(db, kCreateVersionTable, "create schema_migrations"); !s) return s.error();
    auto status = ReadMigrationStatus(db);
    if (!status) return status.error();
    for (const auto& m : status->pending) {
        if (auto s = ApplyOne(db, m); !s) return s.error();
    }
    return ReadMigrationStatus(db);
}

}  // namespace sqlite

common::Result<MigrationStatus> CheckSqliteMigrations(const std::string& path) {
    if (auto s = sqlite::ValidateDbPath(path); !s) return s.error();
    if (path == ":memory:") return Evaluate({});
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    if (sqlite::IsPlainFilePath(path)) {
        std::error_code ec;
        const bool exists = std::filesystem::exists(path, ec);
        if (ec) {
            return common::MakeError(common::ErrorCode::kStorage,
                                     "sqlite: check " + path + ": " + ec.message());
        }
        if (!exists) return Evaluate({});  // a missing database is version 0; don't create it
    } else {
        flags |= SQLITE_OPEN_URI;
    }
    auto db = sqlite::OpenDb(path, flags, SqliteOptions{}.busy_timeout_ms);
    if (!db) return db.error();
    return sqlite::ReadMigrationStatus(db->get());
}

common::Result<MigrationStatus> ApplySqliteMigrations(const std::string& path) {
    auto db = sqlite::OpenReadWrite(path, SqliteOptions{}.busy_timeout_ms, /*create=*/true);
    if (!db) return db.error();
    return sqlite::MigrateDb(db->get());
}

}  // namespace aragora::storage
