#include "storage/sqlite/sqlite_auth_store.hpp"

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/store_rules.hpp"

namespace aragora::storage {

namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;
using rules::kApiKeyColumns;
using rules::kAuditColumns;
using rules::kRefreshColumns;
using rules::kUsageColumns;
using rules::kUserColumns;
using rules::Sql;

constexpr int kMaxAuditLimit = 1000;

UserRecord ReadUser(const sqlite::Stmt& s) {
    UserRecord u;
    u.id = s.Text(0);
    u.email = s.Text(1);
    u.name = s.Text(2);
    u.role = s.Text(3);
    u.org_id = s.Text(4);
    u.password_hash = s.Text(5);
    u.created_at = s.Text(6);
    u.updated_at = s.Text(7);
    u.disabled = s.Int(8) != 0;
    return u;
}

ApiKeyRecord ReadApiKey(const sqlite::Stmt& s) {
    ApiKeyRecord k;
    k.id = s.Text(0);
    k.user_id = s.Text(1);
    k.name = s.Text(2);
    k.key_hash = s.Text(3);
    k.created_at = s.Text(4);
    k.expires_at = s.Text(5);
    k.last_used_at = s.Text(6);
    k.revoked_at = s.Text(7);
    return k;
}

RefreshTokenRecord ReadRefreshToken(const sqlite::Stmt& s) {
    RefreshTokenRecord t;
    t.token_hash = s.Text(0);
    t.user_id = s.Text(1);
    t.family_id = s.Text(2);
    t.created_at = s.Text(3);
    t.expires_at = s.Text(4);
    t.revoked_at = s.Text(5);
    t.replaced_by = s.Text(6);
    return t;
}

AuditEntry ReadAudit(const sqlite::Stmt& s) {
    AuditEntry e;
    e.seq = s.Int(0);
    e.at = s.Text(1);
    e.actor = s.Text(2);
    e.action = s.Text(3);
    e.target = s.Text(4);
    e.ip = s.Text(5);
    e.correlation_id = s.Text(6);
    e.details_json = s.Text(7);
    e.prev_hash = s.Text(8);
    e.hash = s.Text(9);
    return e;
}

UsageRow ReadUsage(const sqlite::Stmt& s) {
    UsageRow u;
    u.debate_id = s.Text(0);
    u.created_by = s.Text(1);
    u.org_id = s.Text(2);
    u.status = s.Text(3);
    u.created_at = s.Text(4);
    u.spec_json = s.Text(5);
    u.result_json = s.Text(6);
    return u;
}

using rules::Required;
using rules::ValidateToken;
using rules::ValidateUser;

// A unique violation names SQLite's index; callers want to know what collided.
Status Conflict(Status s, std::string message) {
    if (!s && s.error().code == ErrorCode::kConflict)
        return MakeError(ErrorCode::kConflict, std::move(message));
    return s;
}

common::Error AuthRequired(std::string message) {
    return MakeError(ErrorCode::kAuthRequired, std::move(message));
}

}  // namespace

// Shares the connection (and its mutex) with a SqliteStore when opened by
// OpenSqliteStores(). Writes that read before writing run in one BEGIN IMMEDIATE
// transaction, which also orders them against other connections.
class SqliteAuthStore final : public AuthStore {
public:
    explicit SqliteAuthStore(std::shared_ptr<sqlite::Connection> connection)
        : conn_(std::move(connection)) {}

    // --- users

    Status CreateUser(const UserRecord& user) override {
        if (auto s = ValidateUser(user); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"INSERT INTO users (", kUserColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"}),
                            "insert user");
        if (!stmt) return stmt.error();
        BindUser(*stmt, user);
        return Conflict(stmt->Run(),
                        "user " + user.id + " or email " + user.email + " already exists");
    }

    Result<UserRecord> GetUser(const std::string& id) override {
        std::lock_guard lock(conn_->mu);
        return FindUserLocked("id = ?1", id, "user " + id + " not found");
    }

    Result<UserRecord> GetUserByEmail(const std::string& email) override {
        std::lock_guard lock(conn_->mu);
        return FindUserLocked("lower(email) = lower(?1)", email, "no user with email " + email);
    }

    Result<std::vector<UserRecord>> ListUsers() override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"SELECT ", kUserColumns, " FROM users ORDER BY created_at, id"}),
                            "list users");
        if (!stmt) return stmt.error();
        return Collect(*stmt, ReadUser);
    }

    Result<std::int64_t> CountUsers() override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare("SELECT COUNT(*) FROM users", "count users");
        if (!stmt) return stmt.error();
        auto row = stmt->Step();
        if (!row) return row.error();
        return *row ? stmt->Int(0) : 0;
    }

    Status UpdateUser(const UserRecord& user) override {
        if (auto s = ValidateUser(user); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE users SET email = ?2, name = ?3, role = ?4, org_id = ?5, "
            "password_hash = ?6, updated_at = ?8, disabled = ?9 WHERE id = ?1",
            "update user");
        if (!stmt) return stmt.error();
        BindUser(*stmt, user);
        if (auto s = Conflict(stmt->Run(), "email " + user.email + " already exists"); !s) return s;
        return ChangedOrNotFound("user " + user.id + " not found");
    }

    Status DeleteUser(const std::string& id) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare("DELETE FROM users WHERE id = ?1", "delete user");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        if (auto s = stmt->Run(); !s) return s;  // keys and tokens go by ON DELETE CASCADE
        return ChangedOrNotFound("user " + id + " not found");
    }

    // --- API keys

    Status CreateApiKey(const ApiKeyRecord& key) override {
        if (auto s = Required(key.id, "api key id", "id"); !s) return s;
        if (auto s = Required(key.user_id, "api key user_id", "user_id"); !s) return s;
        if (auto s = Required(key.key_hash, "api key hash", "key_hash"); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        if (auto s = UserMustExistLocked(key.user_id); !s) return s;
        auto stmt = Prepare(Sql({"INSERT INTO api_keys (", kApiKeyColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"}),
                            "insert api key");
        if (!stmt) return stmt.error();
        stmt->BindText(1, key.id);
        stmt->BindText(2, key.user_id);
        stmt->BindText(3, key.name);
        stmt->BindText(4, key.key_hash);
        stmt->BindText(5, key.created_at);
        stmt->BindTextOrNull(6, key.expires_at);
        stmt->BindTextOrNull(7, key.last_used_at);
        stmt->BindTextOrNull(8, key.revoked_at);
        if (auto s = Conflict(stmt->Run(), "api key " + key.id + " (or its hash) already exists");
            !s)
            return s;
        return tx->Commit();
    }

    Result<ApiKeyRecord> GetApiKeyByHash(const std::string& key_hash) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"SELECT ", kApiKeyColumns, " FROM api_keys WHERE key_hash = ?1"}),
                            "get api key");
        if (!stmt) return stmt.error();
        stmt->BindText(1, key_hash);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return MakeError(ErrorCode::kNotFound, "api key not found");
        return ReadApiKey(*stmt);
    }

    Result<std::vector<ApiKeyRecord>> ListApiKeys(const std::string& user_id) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"SELECT ", kApiKeyColumns,
                                 " FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL "
                                 "ORDER BY created_at DESC, id DESC"}),
                            "list api keys");
        if (!stmt) return stmt.error();
        stmt->BindText(1, user_id);
        return Collect(*stmt, ReadApiKey);
    }

    Status RevokeApiKey(const std::string& user_id, const std::string& id,
                        const std::string& now) override {
        if (auto s = Required(now, "revocation time", "now"); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND revoked_at IS NULL "
            "AND (?2 = '' OR user_id = ?2)",
            "revoke api key");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        stmt->BindText(2, user_id);
        stmt->BindText(3, now);
        if (auto s = stmt->Run(); !s) return s;
        return ChangedOrNotFound("active api key " + id + " not found");
    }

    Result<int> RevokeUserApiKeys(const std::string& user_id, const std::string& now) override {
        if (auto s = Required(now, "revocation time", "now"); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        auto stmt =
            Prepare("UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    "revoke user api keys");
        if (!stmt) return stmt.error();
        stmt->BindText(1, user_id);
        stmt->BindText(2, now);
        if (auto s = stmt->Run(); !s) return s.error();
        return sqlite3_changes(db());
    }

    Status TouchApiKey(const std::string& id, const std::string& now) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", "touch api key");
        if (!stmt) return stmt.error();
        stmt->BindText(1, id);
        stmt->BindTextOrNull(2, now);
        if (auto s = stmt->Run(); !s) return s;
        return ChangedOrNotFound("api key " + id + " not found");
    }

    // --- refresh tokens

    Status CreateRefreshToken(const RefreshTokenRecord& token) override {
        if (auto s = ValidateToken(token); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        if (auto s = UserMustExistLocked(token.user_id); !s) return s;
        if (auto s = InsertTokenLocked(token); !s) return s;
        return tx->Commit();
    }

    Result<RefreshTokenRecord> RotateRefreshToken(const std::string& old_hash,
                                                  const RefreshTokenRecord& replacement,
                                                  const std::string& now) override {
        if (auto s = Required(now, "rotation time", "now"); !s) return s.error();
        if (auto s = Required(replacement.token_hash, "replacement token hash", "token_hash"); !s)
            return s.error();
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();

        auto find =
            Prepare(Sql({"SELECT ", kRefreshColumns, " FROM refresh_tokens WHERE token_hash = ?1"}),
                    "get refresh token");
        if (!find) return find.error();
        find->BindText(1, old_hash);
        auto found = find->Step();
        if (!found) return found.error();
        if (!*found) return AuthRequired("refresh token invalid");
        RefreshTokenRecord old = ReadRefreshToken(*find);

        if (!old.revoked_at.empty()) {
            // Only a stolen copy presents a rotated token again: end the whole session, and
            // commit that even though the call fails.
            auto revoke = Prepare(
                "UPDATE refresh_tokens SET revoked_at = ?2 "
                "WHERE family_id = ?1 AND revoked_at IS NULL",
                "revoke refresh token family");
            if (!revoke) return revoke.error();
            revoke->BindText(1, old.family_id);
            revoke->BindText(2, now);
            if (auto s = revoke->Run(); !s) return s.error();
            if (auto s = tx->Commit(); !s) return s.error();
            return AuthRequired("refresh token reused; session revoked");
        }
        if (old.expires_at <= now) return AuthRequired("refresh token expired");

        auto user = Prepare("SELECT disabled FROM users WHERE id = ?1", "get token user");
        if (!user) return user.error();
        user->BindText(1, old.user_id);
        auto user_row = user->Step();
        if (!user_row) return user_row.error();
        if (!*user_row) return AuthRequired("refresh token invalid");
        if (user->Int(0) != 0) return AuthRequired("user disabled");

        RefreshTokenRecord next = replacement;
        if (next.user_id.empty()) next.user_id = old.user_id;
        if (next.family_id.empty()) next.family_id = old.family_id;
        if (next.created_at.empty()) next.created_at = now;
        next.revoked_at.clear();
        next.replaced_by.clear();
        if (next.user_id != old.user_id || next.family_id != old.family_id) {
            return MakeError(ErrorCode::kValidation,
                             "replacement refresh token must keep the user and family of the "
                             "token it replaces");
        }
        if (auto s = ValidateToken(next); !s) return s.error();

        auto retire = Prepare(
            "UPDATE refresh_tokens SET revoked_at = ?2, replaced_by = ?3 WHERE token_hash = ?1",
            "revoke rotated refresh token");
        if (!retire) return retire.error();
        retire->BindText(1, old.token_hash);
        retire->BindText(2, now);
        retire->BindText(3, next.token_hash);
        if (auto s = retire->Run(); !s) return s.error();
        if (auto s = InsertTokenLocked(next); !s) return s.error();
        if (auto s = tx->Commit(); !s) return s.error();
        old.revoked_at = now;
        old.replaced_by = next.token_hash;
        return old;
    }

    Result<int> RevokeRefreshTokens(const std::string& user_id, const std::string& now) override {
        if (auto s = Required(now, "revocation time", "now"); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(
            "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            "revoke refresh tokens");
        if (!stmt) return stmt.error();
        stmt->BindText(1, user_id);
        stmt->BindText(2, now);
        if (auto s = stmt->Run(); !s) return s.error();
        return sqlite3_changes(db());
    }

    // --- audit

    Result<AuditEntry> AppendAudit(const AuditEntry& entry) override {
        if (auto s = Required(entry.at, "audit time", "at"); !s) return s.error();
        if (auto s = Required(entry.action, "audit action", "action"); !s) return s.error();
        std::lock_guard lock(conn_->mu);
        // The write lock is taken before reading the last row, so concurrent appenders (other
        // connections too) cannot both chain to the same row.
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto last =
            Prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", "read last audit");
        if (!last) return last.error();
        auto row = last->Step();
        if (!row) return row.error();

        AuditEntry stored = entry;
        stored.seq = *row ? last->Int(0) + 1 : 1;
        stored.prev_hash = *row ? last->Text(1) : std::string();
        stored.hash = AuditEntryHash(stored);

        auto insert = Prepare(Sql({"INSERT INTO audit_log (", kAuditColumns,
                                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"}),
                              "append audit");
        if (!insert) return insert.error();
        insert->BindInt(1, stored.seq);
        insert->BindText(2, stored.at);
        insert->BindText(3, stored.actor);
        insert->BindText(4, stored.action);
        insert->BindText(5, stored.target);
        insert->BindText(6, stored.ip);
        insert->BindText(7, stored.correlation_id);
        insert->BindText(8, stored.details_json);
        insert->BindText(9, stored.prev_hash);
        insert->BindText(10, stored.hash);
        if (auto s = insert->Run(); !s) return s.error();
        if (auto s = tx->Commit(); !s) return s.error();
        return stored;
    }

    Result<std::vector<AuditEntry>> ListAudit(int limit, const std::string& since) override {
        if (limit < 1 || limit > kMaxAuditLimit) {
            return MakeError(ErrorCode::kValidation,
                             "limit must be between 1 and " + std::to_string(kMaxAuditLimit),
                             "limit");
        }
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"SELECT ", kAuditColumns,
                                 " FROM audit_log WHERE at >= ?1 ORDER BY seq DESC LIMIT ?2"}),
                            "list audit");
        if (!stmt) return stmt.error();
        stmt->BindText(1, since);  // "" sorts before every time
        stmt->BindInt(2, limit);
        return Collect(*stmt, ReadAudit);
    }

    Result<AuditChainStatus> VerifyAuditChain() override {
        std::lock_guard lock(conn_->mu);
        auto snapshot = sqlite::Transaction::BeginRead(db());
        if (!snapshot) return snapshot.error();
        auto stmt = Prepare(Sql({"SELECT ", kAuditColumns, " FROM audit_log ORDER BY seq"}),
                            "verify audit");
        if (!stmt) return stmt.error();
        AuditChainStatus status;
        std::int64_t expected_seq = 1;
        std::string previous_hash;
        while (true) {
            auto row = stmt->Step();
            if (!row) return row.error();
            if (!*row) break;
            const AuditEntry e = ReadAudit(*stmt);
            ++status.rows;
            const bool good = e.seq == expected_seq && e.prev_hash == previous_hash &&
                              AuditEntryHash(e) == e.hash;
            if (!good && status.ok) {
                status.ok = false;
                status.first_bad_seq = e.seq;
            }
            expected_seq = e.seq + 1;
            previous_hash = e.hash;
        }
        return status;
    }

    // --- usage

    Result<std::vector<UsageRow>> ListUsage(const std::string& since, const std::string& created_by,
                                            int limit) override {
        if (limit < 0) return MakeError(ErrorCode::kValidation, "limit must be >= 0", "limit");
        std::lock_guard lock(conn_->mu);
        auto stmt = Prepare(Sql({"SELECT ", kUsageColumns,
                                 " FROM debates WHERE status <> 'pending' AND created_at >= ?1 "
                                 "AND (?2 = '' OR created_by = ?2) "
                                 "ORDER BY created_at DESC, id DESC LIMIT ?3"}),
                            "list usage");
        if (!stmt) return stmt.error();
        stmt->BindText(1, since);
        stmt->BindText(2, created_by);
        stmt->BindInt(3, limit);
        return Collect(*stmt, ReadUsage);
    }

private:
    sqlite3* db() { return conn_->db.get(); }

    Result<sqlite::Stmt> Prepare(std::string_view sql, std::string_view what) {
        return sqlite::Stmt::Prepare(db(), sql, what);
    }

    template <typename Reader>
    static auto Collect(sqlite::Stmt& stmt, Reader read)
        -> Result<std::vector<decltype(read(stmt))>> {
        std::vector<decltype(read(stmt))> out;
        while (true) {
            auto row = stmt.Step();
            if (!row) return row.error();
            if (!*row) break;
            out.push_back(read(stmt));
        }
        return out;
    }

    // Parameters in kUserColumns order.
    static void BindUser(sqlite::Stmt& s, const UserRecord& u) {
        s.BindText(1, u.id);
        s.BindText(2, u.email);
        s.BindText(3, u.name);
        s.BindText(4, u.role);
        s.BindText(5, u.org_id);
        s.BindText(6, u.password_hash);
        s.BindText(7, u.created_at);
        s.BindText(8, u.updated_at);
        s.BindInt(9, u.disabled ? 1 : 0);
    }

    // Caller holds the mutex. Right after an UPDATE/DELETE.
    Status ChangedOrNotFound(std::string message) {
        if (sqlite3_changes(db()) == 0) return MakeError(ErrorCode::kNotFound, std::move(message));
        return {};
    }

    // `where` is a constant condition on ?1 chosen by the caller; the value is bound.
    Result<UserRecord> FindUserLocked(std::string_view where, const std::string& value,
                                      std::string not_found) {
        auto stmt =
            Prepare(Sql({"SELECT ", kUserColumns, " FROM users WHERE ", where}), "get user");
        if (!stmt) return stmt.error();
        stmt->BindText(1, value);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return MakeError(ErrorCode::kNotFound, std::move(not_found));
        return ReadUser(*stmt);
    }

    // Inside the caller's transaction, so that the insert that follows cannot race a
    // delete: an unknown user is kNotFound rather than a foreign-key kStorage error.
    Status UserMustExistLocked(const std::string& user_id) {
        auto stmt = Prepare("SELECT 1 FROM users WHERE id = ?1", "check user");
        if (!stmt) return stmt.error();
        stmt->BindText(1, user_id);
        auto row = stmt->Step();
        if (!row) return row.error();
        if (!*row) return MakeError(ErrorCode::kNotFound, "user " + user_id + " not found");
        return {};
    }

    Status InsertTokenLocked(const RefreshTokenRecord& t) {
        auto stmt = Prepare(Sql({"INSERT INTO refresh_tokens (", kRefreshColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"}),
                            "insert refresh token");
        if (!stmt) return stmt.error();
        stmt->BindText(1, t.token_hash);
        stmt->BindText(2, t.user_id);
        stmt->BindText(3, t.family_id);
        stmt->BindText(4, t.created_at);
        stmt->BindText(5, t.expires_at);
        stmt->BindTextOrNull(6, t.revoked_at);
        stmt->BindTextOrNull(7, t.replaced_by);
        return Conflict(stmt->Run(), "refresh token already exists");
    }

    std::shared_ptr<sqlite::Connection> conn_;
};

namespace sqlite {

std::unique_ptr<AuthStore> MakeSqliteAuthStore(std::shared_ptr<Connection> connection) {
    return std::make_unique<SqliteAuthStore>(std::move(connection));
}

}  // namespace sqlite

Result<std::unique_ptr<AuthStore>> OpenSqliteAuthStore(const SqliteOptions& options, bool migrate) {
    auto connection = sqlite::OpenConnection(options, migrate);
    if (!connection) return connection.error();
    return sqlite::MakeSqliteAuthStore(std::move(*connection));
}

Result<SqliteStores> OpenSqliteStores(const SqliteOptions& options, bool migrate) {
    auto connection = sqlite::OpenConnection(options, migrate);
    if (!connection) return connection.error();
    SqliteStores stores;
    stores.store = sqlite::MakeSqliteStore(*connection);
    stores.keys = sqlite::MakeSqliteKeyStore(*connection);
    stores.auth = sqlite::MakeSqliteAuthStore(std::move(*connection));
    return stores;
}

}  // namespace aragora::storage
