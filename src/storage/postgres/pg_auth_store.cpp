#include <initializer_list>
#include <memory>
#include <pqxx/connection_base>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/postgres/pg_sql.hpp"
#include "storage/postgres/pg_store.hpp"
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

using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

std::string Join(std::initializer_list<std::string> items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += ", ";
        out += item;
    }
    return out;
}

UserRecord ReadUser(const pqxx::row& r) {
    UserRecord u;
    u.id = pg::Text(r, 0);
    u.email = pg::Text(r, 1);
    u.name = pg::Text(r, 2);
    u.role = pg::Text(r, 3);
    u.org_id = pg::Text(r, 4);
    u.password_hash = pg::Text(r, 5);
    u.created_at = pg::Text(r, 6);
    u.updated_at = pg::Text(r, 7);
    u.disabled = pg::OptBool(r, 8).value_or(false);
    return u;
}

ApiKeyRecord ReadApiKey(const pqxx::row& r) {
    ApiKeyRecord k;
    k.id = pg::Text(r, 0);
    k.user_id = pg::Text(r, 1);
    k.name = pg::Text(r, 2);
    k.key_hash = pg::Text(r, 3);
    k.created_at = pg::Text(r, 4);
    k.expires_at = pg::Text(r, 5);
    k.last_used_at = pg::Text(r, 6);
    k.revoked_at = pg::Text(r, 7);
    return k;
}

RefreshTokenRecord ReadRefreshToken(const pqxx::row& r) {
    RefreshTokenRecord t;
    t.token_hash = pg::Text(r, 0);
    t.user_id = pg::Text(r, 1);
    t.family_id = pg::Text(r, 2);
    t.created_at = pg::Text(r, 3);
    t.expires_at = pg::Text(r, 4);
    t.revoked_at = pg::Text(r, 5);
    t.replaced_by = pg::Text(r, 6);
    return t;
}

AuditEntry ReadAudit(const pqxx::row& r) {
    AuditEntry e;
    e.seq = pg::Int(r, 0);
    e.at = pg::Text(r, 1);
    e.actor = pg::Text(r, 2);
    e.action = pg::Text(r, 3);
    e.target = pg::Text(r, 4);
    e.ip = pg::Text(r, 5);
    e.correlation_id = pg::Text(r, 6);
    e.details_json = pg::Text(r, 7);
    e.prev_hash = pg::Text(r, 8);
    e.hash = pg::Text(r, 9);
    return e;
}

UsageRow ReadUsage(const pqxx::row& r) {
    UsageRow u;
    u.debate_id = pg::Text(r, 0);
    u.created_by = pg::Text(r, 1);
    u.org_id = pg::Text(r, 2);
    u.status = pg::Text(r, 3);
    u.created_at = pg::Text(r, 4);
    u.spec_json = pg::Text(r, 5);
    u.result_json = pg::Text(r, 6);
    return u;
}

template <typename Reader>
auto Collect(const pqxx::result& rows, Reader read) {
    std::vector<decltype(read(rows[0]))> out;
    out.reserve(rows.size());
    for (const auto& row : rows) out.push_back(read(row));
    return out;
}

// A unique violation names PostgreSQL's index; callers want to know what collided.
Status Conflict(Status s, std::string message) {
    if (!s && s.error().code == ErrorCode::kConflict)
        return MakeError(ErrorCode::kConflict, std::move(message));
    return s;
}

common::Error AuthRequired(std::string message) {
    return MakeError(ErrorCode::kAuthRequired, std::move(message));
}

// Inside the caller's transaction; the key-share lock keeps the user from being deleted
// before the insert that follows, so an unknown user is kNotFound, never a foreign-key
// error.
Status UserMustExist(pqxx::transaction_base& tx, const std::string& user_id) {
    pg::Params p;
    const std::string sql = "SELECT 1 FROM users WHERE id = " + p.Text(user_id) + " FOR KEY SHARE";
    if (pg::Exec(tx, sql, p).empty())
        return MakeError(ErrorCode::kNotFound, "user " + user_id + " not found");
    return {};
}

void InsertToken(pqxx::transaction_base& tx, const RefreshTokenRecord& t) {
    pg::Params p;
    const std::string values =
        Join({p.Text(t.token_hash), p.Text(t.user_id), p.Text(t.family_id), p.Text(t.created_at),
              p.Text(t.expires_at), p.TextOrNull(t.revoked_at), p.TextOrNull(t.replaced_by)});
    pg::Exec(tx, Sql({"INSERT INTO refresh_tokens (", kRefreshColumns, ") VALUES (", values, ")"}),
             p);
}

}  // namespace

// Each call leases one pooled connection (shared with the PgStore opened beside it).
// Rotation locks the token row (FOR UPDATE), so concurrent presentations of one token are
// ordered and the second sees it revoked; audit appends take pg_advisory_xact_lock before
// reading the last row, so the chain stays linear across processes.
class PgAuthStore final : public AuthStore {
public:
    explicit PgAuthStore(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

    // --- users

    Status CreateUser(const UserRecord& user) override {
        if (auto s = rules::ValidateUser(user); !s) return s;
        auto s = pool_->Run("insert user", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string values =
                Join({p.Text(user.id), p.Text(user.email), p.Text(user.name), p.Text(user.role),
                      p.Text(user.org_id), p.Text(user.password_hash), p.Text(user.created_at),
                      p.Text(user.updated_at), p.Bool(user.disabled)});
            pg::Exec(tx, Sql({"INSERT INTO users (", kUserColumns, ") VALUES (", values, ")"}), p);
            return {};
        });
        return Conflict(std::move(s),
                        "user " + user.id + " or email " + user.email + " already exists");
    }

    Result<UserRecord> GetUser(const std::string& id) override {
        return FindUser("id = $1", id, "user " + id + " not found");
    }

    Result<UserRecord> GetUserByEmail(const std::string& email) override {
        // Folded as the index folds (ASCII only, "C"), whatever the database's locale.
        return FindUser("lower(email) = lower(CAST($1 AS TEXT) COLLATE \"C\")", email,
                        "no user with email " + email);
    }

    Result<std::vector<UserRecord>> ListUsers() override {
        std::vector<UserRecord> out;
        auto s = pool_->Run("list users", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            out = Collect(
                tx.exec(Sql({"SELECT ", kUserColumns, " FROM users ORDER BY created_at, id"})),
                ReadUser);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<std::int64_t> CountUsers() override {
        std::int64_t n = 0;
        auto s = pool_->Run("count users", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            n = pg::Int(tx.exec("SELECT COUNT(*) FROM users")[0], 0);
            return {};
        });
        if (!s) return s.error();
        return n;
    }

    Status UpdateUser(const UserRecord& user) override {
        if (auto s = rules::ValidateUser(user); !s) return s;
        auto s = pool_->Run("update user", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql =
                "UPDATE users SET email = " + p.Text(user.email) + ", name = " + p.Text(user.name) +
                ", role = " + p.Text(user.role) + ", org_id = " + p.Text(user.org_id) +
                ", password_hash = " + p.Text(user.password_hash) +
                ", updated_at = " + p.Text(user.updated_at) +
                ", disabled = " + p.Bool(user.disabled) + " WHERE id = " + p.Text(user.id);
            if (pg::Exec(tx, sql, p).affected_rows() == 0)
                return MakeError(ErrorCode::kNotFound, "user " + user.id + " not found");
            return {};
        });
        return Conflict(std::move(s), "email " + user.email + " already exists");
    }

    Status DeleteUser(const std::string& id) override {
        return pool_->Run("delete user", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            // Keys and tokens go by ON DELETE CASCADE.
            if (pg::Exec(tx, "DELETE FROM users WHERE id = " + p.Text(id), p).affected_rows() == 0)
                return MakeError(ErrorCode::kNotFound, "user " + id + " not found");
            return {};
        });
    }

    // --- API keys

    Status CreateApiKey(const ApiKeyRecord& key) override {
        if (auto s = rules::Required(key.id, "api key id", "id"); !s) return s;
        if (auto s = rules::Required(key.user_id, "api key user_id", "user_id"); !s) return s;
        if (auto s = rules::Required(key.key_hash, "api key hash", "key_hash"); !s) return s;
        auto s = pool_->Run("insert api key", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            if (auto s = UserMustExist(tx, key.user_id); !s) return s;
            pg::Params p;
            const std::string values =
                Join({p.Text(key.id), p.Text(key.user_id), p.Text(key.name), p.Text(key.key_hash),
                      p.Text(key.created_at), p.TextOrNull(key.expires_at),
                      p.TextOrNull(key.last_used_at), p.TextOrNull(key.revoked_at)});
            pg::Exec(tx, Sql({"INSERT INTO api_keys (", kApiKeyColumns, ") VALUES (", values, ")"}),
                     p);
            tx.commit();
            return {};
        });
        return Conflict(std::move(s), "api key " + key.id + " (or its hash) already exists");
    }

    Result<ApiKeyRecord> GetApiKeyByHash(const std::string& key_hash) override {
        std::optional<ApiKeyRecord> found;
        auto s = pool_->Run("get api key", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const pqxx::result r =
                pg::Exec(tx,
                         Sql({"SELECT ", kApiKeyColumns,
                              " FROM api_keys WHERE key_hash = ", p.Text(key_hash)}),
                         p);
            if (!r.empty()) found = ReadApiKey(r[0]);
            return {};
        });
        if (!s) return s.error();
        if (!found) return MakeError(ErrorCode::kNotFound, "api key not found");
        return std::move(*found);
    }

    Result<std::vector<ApiKeyRecord>> ListApiKeys(const std::string& user_id) override {
        std::vector<ApiKeyRecord> out;
        auto s = pool_->Run("list api keys", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql =
                Sql({"SELECT ", kApiKeyColumns, " FROM api_keys WHERE user_id = ", p.Text(user_id),
                     " AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"});
            out = Collect(pg::Exec(tx, sql, p), ReadApiKey);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Status RevokeApiKey(const std::string& user_id, const std::string& id,
                        const std::string& now) override {
        if (auto s = rules::Required(now, "revocation time", "now"); !s) return s;
        return pool_->Run("revoke api key", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string owner = p.Text(user_id);
            const std::string sql = "UPDATE api_keys SET revoked_at = " + p.Text(now) +
                                    " WHERE id = " + p.Text(id) +
                                    " AND revoked_at IS NULL AND (CAST(" + owner +
                                    " AS TEXT) = '' OR user_id = " + owner + ")";
            if (pg::Exec(tx, sql, p).affected_rows() == 0)
                return MakeError(ErrorCode::kNotFound, "active api key " + id + " not found");
            return {};
        });
    }

    Result<int> RevokeUserApiKeys(const std::string& user_id, const std::string& now) override {
        if (auto s = rules::Required(now, "revocation time", "now"); !s) return s.error();
        return CountingUpdate("revoke user api keys", [&](pg::Params& p) {
            return "UPDATE api_keys SET revoked_at = " + p.Text(now) +
                   " WHERE user_id = " + p.Text(user_id) + " AND revoked_at IS NULL";
        });
    }

    Status TouchApiKey(const std::string& id, const std::string& now) override {
        return pool_->Run("touch api key", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql = "UPDATE api_keys SET last_used_at = " + p.TextOrNull(now) +
                                    " WHERE id = " + p.Text(id);
            if (pg::Exec(tx, sql, p).affected_rows() == 0)
                return MakeError(ErrorCode::kNotFound, "api key " + id + " not found");
            return {};
        });
    }

    // --- refresh tokens

    Status CreateRefreshToken(const RefreshTokenRecord& token) override {
        if (auto s = rules::ValidateToken(token); !s) return s;
        auto s = pool_->Run("insert refresh token", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            if (auto s = UserMustExist(tx, token.user_id); !s) return s;
            InsertToken(tx, token);
            tx.commit();
            return {};
        });
        return Conflict(std::move(s), "refresh token already exists");
    }

    Result<RefreshTokenRecord> RotateRefreshToken(const std::string& old_hash,
                                                  const RefreshTokenRecord& replacement,
                                                  const std::string& now) override {
        if (auto s = rules::Required(now, "rotation time", "now"); !s) return s.error();
        if (auto s =
                rules::Required(replacement.token_hash, "replacement token hash", "token_hash");
            !s)
            return s.error();
        RefreshTokenRecord old;
        auto s = pool_->Run("rotate refresh token", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            pg::Params find;
            const pqxx::result found = pg::Exec(
                tx,
                Sql({"SELECT ", kRefreshColumns, " FROM refresh_tokens WHERE token_hash = ",
                     find.Text(old_hash), " FOR UPDATE"}),
                find);
            if (found.empty()) return AuthRequired("refresh token invalid");
            old = ReadRefreshToken(found[0]);

            if (!old.revoked_at.empty()) {
                // Only a stolen copy presents a rotated token again: end the whole session,
                // and commit that even though the call fails.
                pg::Params p;
                pg::Exec(tx,
                         "UPDATE refresh_tokens SET revoked_at = " + p.Text(now) +
                             " WHERE family_id = " + p.Text(old.family_id) +
                             " AND revoked_at IS NULL",
                         p);
                tx.commit();
                return AuthRequired("refresh token reused; session revoked");
            }
            if (old.expires_at <= now) return AuthRequired("refresh token expired");

            pg::Params up;
            const pqxx::result user =
                pg::Exec(tx, "SELECT disabled FROM users WHERE id = " + up.Text(old.user_id), up);
            if (user.empty()) return AuthRequired("refresh token invalid");
            if (pg::OptBool(user[0], 0).value_or(false)) return AuthRequired("user disabled");

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
            if (auto s = rules::ValidateToken(next); !s) return s;

            pg::Params retire;
            pg::Exec(tx,
                     "UPDATE refresh_tokens SET revoked_at = " + retire.Text(now) +
                         ", replaced_by = " + retire.Text(next.token_hash) +
                         " WHERE token_hash = " + retire.Text(old.token_hash),
                     retire);
            InsertToken(tx, next);
            tx.commit();
            old.revoked_at = now;
            old.replaced_by = next.token_hash;
            return {};
        });
        if (auto c = Conflict(std::move(s), "refresh token already exists"); !c) return c.error();
        return old;
    }

    Result<int> RevokeRefreshTokens(const std::string& user_id, const std::string& now) override {
        if (auto s = rules::Required(now, "revocation time", "now"); !s) return s.error();
        return CountingUpdate("revoke refresh tokens", [&](pg::Params& p) {
            return "UPDATE refresh_tokens SET revoked_at = " + p.Text(now) +
                   " WHERE user_id = " + p.Text(user_id) + " AND revoked_at IS NULL";
        });
    }

    // --- audit

    Result<AuditEntry> AppendAudit(const AuditEntry& entry) override {
        if (auto s = rules::Required(entry.at, "audit time", "at"); !s) return s.error();
        if (auto s = rules::Required(entry.action, "audit action", "action"); !s) return s.error();
        AuditEntry stored = entry;
        auto s = pool_->Run("append audit", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            // Taken before reading the last row, held until commit: concurrent appenders
            // (other processes too) cannot both chain to the same row.
            pg::Params lock;
            pg::Exec(tx, "SELECT pg_advisory_xact_lock(" + lock.Int(pg::kAuditChainLockKey) + ")",
                     lock);
            const pqxx::result last =
                tx.exec("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
            stored = entry;
            stored.seq = last.empty() ? 1 : pg::Int(last[0], 0) + 1;
            stored.prev_hash = last.empty() ? std::string() : pg::Text(last[0], 1);
            stored.hash = AuditEntryHash(stored);

            pg::Params p;
            const std::string values = Join(
                {p.Int(stored.seq), p.Text(stored.at), p.Text(stored.actor), p.Text(stored.action),
                 p.Text(stored.target), p.Text(stored.ip), p.Text(stored.correlation_id),
                 p.Text(stored.details_json), p.Text(stored.prev_hash), p.Text(stored.hash)});
            pg::Exec(tx, Sql({"INSERT INTO audit_log (", kAuditColumns, ") VALUES (", values, ")"}),
                     p);
            tx.commit();
            return {};
        });
        if (!s) return s.error();
        return stored;
    }

    Result<std::vector<AuditEntry>> ListAudit(int limit, const std::string& since) override {
        if (limit < 1 || limit > rules::kMaxAuditLimit) {
            return MakeError(ErrorCode::kValidation,
                             "limit must be between 1 and " + std::to_string(rules::kMaxAuditLimit),
                             "limit");
        }
        std::vector<AuditEntry> out;
        auto s = pool_->Run("list audit", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            // "" sorts before every time.
            const std::string sql =
                Sql({"SELECT ", kAuditColumns, " FROM audit_log WHERE at >= ", p.Text(since),
                     " ORDER BY seq DESC LIMIT ", p.Int(limit)});
            out = Collect(pg::Exec(tx, sql, p), ReadAudit);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Result<AuditChainStatus> VerifyAuditChain() override {
        AuditChainStatus status;
        auto s = pool_->Run("verify audit", [&](pqxx::connection_base& c) -> Status {
            status = AuditChainStatus{};
            Snapshot tx(c);
            std::int64_t expected_seq = 1;
            std::string previous_hash;
            for (const auto& row :
                 tx.exec(Sql({"SELECT ", kAuditColumns, " FROM audit_log ORDER BY seq"}))) {
                const AuditEntry e = ReadAudit(row);
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
            return {};
        });
        if (!s) return s.error();
        return status;
    }

    // --- usage

    Result<std::vector<UsageRow>> ListUsage(const std::string& since, const std::string& created_by,
                                            int limit) override {
        if (limit < 0) return MakeError(ErrorCode::kValidation, "limit must be >= 0", "limit");
        std::vector<UsageRow> out;
        auto s = pool_->Run("list usage", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string creator = p.Text(created_by);
            const std::string sql =
                Sql({"SELECT ", kUsageColumns, " FROM debates WHERE status <> 'pending' ",
                     "AND created_at >= ", p.Text(since), " AND (CAST(", creator,
                     " AS TEXT) = '' OR created_by = ", creator,
                     ") ORDER BY created_at DESC, id DESC LIMIT ", p.Int(limit)});
            out = Collect(pg::Exec(tx, sql, p), ReadUsage);
            return {};
        });
        if (!s) return s.error();
        return out;
    }

private:
    // `where` is a constant condition on $1; the value is a parameter.
    Result<UserRecord> FindUser(std::string_view where, const std::string& value,
                                std::string not_found) {
        std::optional<UserRecord> found;
        auto s = pool_->Run("get user", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            p.Text(value);
            const pqxx::result r =
                pg::Exec(tx, Sql({"SELECT ", kUserColumns, " FROM users WHERE ", where}), p);
            if (!r.empty()) found = ReadUser(r[0]);
            return {};
        });
        if (!s) return s.error();
        if (!found) return MakeError(ErrorCode::kNotFound, std::move(not_found));
        return std::move(*found);
    }

    // One UPDATE built by `make`; returns the number of rows it changed.
    template <typename MakeSql>
    Result<int> CountingUpdate(std::string_view what, MakeSql make) {
        int changed = 0;
        auto s = pool_->Run(what, [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            pg::Params p;
            const std::string sql = make(p);
            changed = static_cast<int>(pg::Exec(tx, sql, p).affected_rows());
            return {};
        });
        if (!s) return s.error();
        return changed;
    }

    std::shared_ptr<PgPool> pool_;
};

std::unique_ptr<AuthStore> MakePgAuthStore(std::shared_ptr<PgPool> pool) {
    return std::make_unique<PgAuthStore>(std::move(pool));
}

}  // namespace aragora::storage
