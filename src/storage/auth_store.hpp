#pragma once

// Users, API keys, refresh tokens, the audit log and the usage report (SQLite now,
// PostgreSQL later behind the same interface). Calls are blocking: callers on I/O threads
// go through common::BlockingPool. Implementations are thread-safe.
//
// Times are ISO 8601 UTC strings of one fixed format (they compare as text); "" = unset.
// The store keeps no clock: callers pass `now`.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace aragora::storage {

struct UserRecord {
    std::string id;     // "usr_..." (caller-chosen)
    std::string email;  // unique, case-insensitive (stored as given; compared as lower())
    std::string name;
    std::string role;  // owner|admin|member|viewer (not validated here beyond non-empty)
    std::string org_id;
    std::string password_hash;
    std::string created_at;  // ISO 8601
    std::string updated_at;
    bool disabled = false;
};

struct ApiKeyRecord {
    std::string id;       // the key's display prefix ("ara_XXXXXXXX"), unique
    std::string user_id;  // an existing user (deleting the user deletes its keys)
    std::string name;
    std::string key_hash;  // unique
    std::string created_at;
    std::string expires_at;    // "" = never
    std::string last_used_at;  // "" = never
    std::string revoked_at;    // "" = active
};

struct RefreshTokenRecord {
    std::string token_hash;  // primary key
    std::string user_id;     // an existing user (deleting the user deletes its tokens)
    std::string family_id;   // all rotations of one login share it
    std::string created_at;
    std::string expires_at;
    std::string revoked_at;   // "" = active
    std::string replaced_by;  // hash of the token it was rotated into
};

struct AuditEntry {
    std::int64_t seq = 0;  // assigned by the store (1, 2, ...)
    std::string at;        // ISO 8601 (caller-set)
    std::string actor;     // user id, "service", or "" (anonymous)
    // "login", "login_failed", "token_refresh", "api_key_created", "api_key_revoked",
    // "role_changed", "user_added", "user_removed", "debate_cancelled", "admin_action"...
    std::string action;
    std::string target;  // what it acted on (user id, key prefix, debate id, route)
    std::string ip;
    std::string correlation_id;
    std::string details_json = "{}";
    std::string prev_hash;  // hash of the previous row ("" for the first), set by the store
    // Set by the store: common::Sha256Hex(prev_hash + "\n" + seq + "\n" + at + "\n" + actor
    // + "\n" + action + "\n" + target + "\n" + ip + "\n" + correlation_id + "\n" +
    // details_json), seq in decimal. See AuditEntryHash().
    std::string hash;
};

// The hash AppendAudit() stores for `entry` (its seq and prev_hash as given).
std::string AuditEntryHash(const AuditEntry& entry);

struct AuditChainStatus {
    bool ok = true;
    std::int64_t rows = 0;           // rows in the log
    std::int64_t first_bad_seq = 0;  // 0 when ok
};

// A finished or running debate seen by the usage report.
struct UsageRow {
    std::string debate_id, created_by, org_id, status, created_at, spec_json, result_json;
};

class AuthStore {
public:
    virtual ~AuthStore() = default;

    // Users. Duplicate id or email (case-insensitive) ⇒ kConflict. Missing ⇒ kNotFound.
    // Empty id/email/role ⇒ kValidation.
    virtual common::Status CreateUser(const UserRecord& user) = 0;
    virtual common::Result<UserRecord> GetUser(const std::string& id) = 0;
    virtual common::Result<UserRecord> GetUserByEmail(const std::string& email) = 0;
    virtual common::Result<std::vector<UserRecord>> ListUsers() = 0;  // by created_at, id
    virtual common::Result<std::int64_t> CountUsers() = 0;
    // Writes email, name, role, org_id, password_hash, disabled, updated_at of user.id.
    virtual common::Status UpdateUser(const UserRecord& user) = 0;
    // Deletes the user, its API keys and refresh tokens. Debates keep created_by.
    virtual common::Status DeleteUser(const std::string& id) = 0;

    // API keys
    // kConflict on a duplicate id/hash; kNotFound for an unknown user; kValidation for an
    // empty id, user_id or key_hash.
    virtual common::Status CreateApiKey(const ApiKeyRecord& key) = 0;
    // Revoked (and expired) ones too: the caller checks. Unknown ⇒ kNotFound.
    virtual common::Result<ApiKeyRecord> GetApiKeyByHash(const std::string& key_hash) = 0;
    // Active (not revoked; expired included) keys, newest first (created_at, id).
    virtual common::Result<std::vector<ApiKeyRecord>> ListApiKeys(const std::string& user_id) = 0;
    // Revokes key `id` of `user_id` (user_id empty = of any user). kNotFound when no such
    // active key.
    virtual common::Status RevokeApiKey(const std::string& user_id, const std::string& id,
                                        const std::string& now) = 0;
    // Revokes every active key of the user; returns how many.
    virtual common::Result<int> RevokeUserApiKeys(const std::string& user_id,
                                                  const std::string& now) = 0;
    // Sets last_used_at. Unknown id ⇒ kNotFound.
    virtual common::Status TouchApiKey(const std::string& id, const std::string& now) = 0;

    // Refresh tokens
    // kConflict on a duplicate hash; kNotFound for an unknown user; kValidation for an
    // empty token_hash, user_id, family_id or expires_at.
    virtual common::Status CreateRefreshToken(const RefreshTokenRecord& token) = 0;
    // In one transaction: the token `old_hash` must exist, be active and unexpired at `now`
    // (expires_at > now), its user must exist and not be disabled; it is revoked with
    // replaced_by = replacement.token_hash and `replacement` is inserted active (its
    // user_id and family_id are the old token's: filled when empty, kValidation when
    // different; created_at defaults to `now`). Returns the OLD record as now stored
    // (revoked_at = now, replaced_by set).
    // A token already revoked (reuse of a rotated token: theft) revokes every active token
    // of its family and is kAuthRequired "refresh token reused; session revoked"; an
    // unknown or expired token, or a missing/disabled user, is kAuthRequired and changes
    // nothing.
    virtual common::Result<RefreshTokenRecord> RotateRefreshToken(
        const std::string& old_hash, const RefreshTokenRecord& replacement,
        const std::string& now) = 0;
    // Revokes every active token of the user (logout everywhere); returns how many.
    virtual common::Result<int> RevokeRefreshTokens(const std::string& user_id,
                                                    const std::string& now) = 0;

    // Audit (append-only: the schema refuses UPDATE and DELETE of rows).
    // Appends in one BEGIN IMMEDIATE transaction (seq = last seq + 1, prev_hash = last
    // row's hash), returns the stored entry with seq/prev_hash/hash. The entry's own seq,
    // prev_hash and hash are ignored. Empty `at` or `action` ⇒ kValidation.
    virtual common::Result<AuditEntry> AppendAudit(const AuditEntry& entry) = 0;
    // Entries with at >= since (ISO; "" = all), newest first (by seq), at most `limit`
    // (1..1000, else kValidation).
    virtual common::Result<std::vector<AuditEntry>> ListAudit(int limit,
                                                              const std::string& since) = 0;
    // Recomputes every hash in seq order: a row is bad when its seq is not the previous
    // one + 1, its prev_hash is not the previous row's hash, or its hash does not match.
    virtual common::Result<AuditChainStatus> VerifyAuditChain() = 0;

    // Usage: debates other than pending ones with created_at >= since ("" = all), of
    // created_by (empty = all users), at most `limit` rows (negative ⇒ kValidation),
    // newest first (created_at, id).
    virtual common::Result<std::vector<UsageRow>> ListUsage(const std::string& since,
                                                            const std::string& created_by,
                                                            int limit) = 0;
};

}  // namespace aragora::storage
