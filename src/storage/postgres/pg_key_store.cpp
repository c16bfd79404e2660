// storage::KeyStore on PostgreSQL (over the shared PgPool).

#include <memory>
#include <optional>
#include <pqxx/connection_base>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <string>
#include <utility>
#include <vector>

#include "storage/key_store.hpp"
#include "storage/postgres/pg_sql.hpp"
#include "storage/postgres/pg_store.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

void InsertKey(pqxx::transaction_base& tx, const DataKeyRecord& k) {
    pg::Params p;
    const std::string values = p.Text(k.key_id) + ", " + p.Int(k.version) + ", " +
                               p.Text(k.wrapped) + ", " + p.Text(k.state) + ", " +
                               p.Text(k.created_at) + ", " + p.Text(k.activated_at) + ", " +
                               p.Text(k.retired_at) + ", " + p.Text(k.expires_at);
    pg::Exec(tx,
             std::string("INSERT INTO encryption_data_keys (") + kDataKeyColumns + ") VALUES (" +
                 values + ")",
             p);
}

Status KeyConflict(Status s, const DataKeyRecord& k) {
    if (!s && s.error().code == ErrorCode::kConflict) {
        return MakeError(ErrorCode::kConflict, "data key " + k.key_id + " v" +
                                                   std::to_string(k.version) + " already exists");
    }
    return s;
}

// Holds the leased connection (discarded on release, so the session lock goes with it).
// Holds the session lock's connection (discarded: closed on release). Releasing unlocks
// first: the server drops a closed session's locks only once its backend has noticed the
// close, and a rotation asked for right after this one ends must find the lock free.
struct PgRotationLock final : RotationLock {
    explicit PgRotationLock(PgPool::Lease lease) : lease_(std::move(lease)) {}
    ~PgRotationLock() override {
        try {
            pqxx::nontransaction tx(lease_.conn());
            pg::Params p;
            pg::Exec(tx, "SELECT pg_advisory_unlock(" + p.Int(pg::kKeyRotationLockKey) + ")", p);
        } catch (...) {
            // Closing the connection releases it anyway, a moment later.
        }
    }
    PgPool::Lease lease_;
};

class PgKeyStore final : public KeyStore {
public:
    explicit PgKeyStore(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

    Result<std::vector<DataKeyRecord>> ListDataKeys() override {
        std::vector<DataKeyRecord> out;
        auto s = pool_->Run("list data keys", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            const pqxx::result r = tx.exec(std::string("SELECT ") + kDataKeyColumns +
                                           " FROM encryption_data_keys ORDER BY key_id, version");
            for (const auto& row : r) {
                DataKeyRecord k;
                k.key_id = pg::Text(row, 0);
                k.version = pg::Int(row, 1);
                k.wrapped = pg::Text(row, 2);
                k.state = pg::Text(row, 3);
                k.created_at = pg::Text(row, 4);
                k.activated_at = pg::Text(row, 5);
                k.retired_at = pg::Text(row, 6);
                k.expires_at = pg::Text(row, 7);
                out.push_back(std::move(k));
            }
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Status InsertDataKey(const DataKeyRecord& key) override {
        if (auto s = ValidateDataKey(key); !s) return s;
        auto s = pool_->Run("insert data key", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            InsertKey(tx, key);
            tx.commit();
            return {};
        });
        return KeyConflict(std::move(s), key);
    }

    Status RotateDataKey(const DataKeyRecord& next, const std::string& now,
                         const std::string& old_expires_at) override {
        if (auto s = ValidateDataKey(next); !s) return s;
        auto s = pool_->Run("rotate data key", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            pg::Params p;
            pg::Exec(tx,
                     "UPDATE encryption_data_keys SET state = 'retired', retired_at = " +
                         p.Text(now) + ", expires_at = " + p.Text(old_expires_at) +
                         " WHERE key_id = " + p.Text(next.key_id) + " AND state = 'active'",
                     p);
            InsertKey(tx, next);
            tx.commit();
            return {};
        });
        return KeyConflict(std::move(s), next);
    }

    Status SetDataKeyState(const std::string& key_id, std::int64_t version,
                           const std::string& state) override {
        bool found = false;
        auto s = pool_->Run("set data key state", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            pg::Params p;
            const pqxx::result r = pg::Exec(
                tx,
                "UPDATE encryption_data_keys SET state = " + p.Text(state) +
                    " WHERE key_id = " + p.Text(key_id) + " AND version = " + p.Int(version),
                p);
            found = r.affected_rows() > 0;
            tx.commit();
            return {};
        });
        if (!s) return s;
        if (!found) {
            return MakeError(ErrorCode::kNotFound,
                             "data key " + key_id + " v" + std::to_string(version) + " not found");
        }
        return {};
    }

    Result<std::vector<ReEncryptProgressRecord>> ListReEncryptProgress() override {
        std::vector<ReEncryptProgressRecord> out;
        auto s = pool_->Run("list re-encryption progress", [&](pqxx::connection_base& c) -> Status {
            pqxx::nontransaction tx(c);
            const pqxx::result r = tx.exec(std::string("SELECT ") + kReencryptProgressColumns +
                                           " FROM encryption_reencrypt_progress ORDER BY target");
            for (const auto& row : r) {
                ReEncryptProgressRecord p;
                p.target = pg::Text(row, 0);
                p.key_id = pg::Text(row, 1);
                p.key_version = pg::Int(row, 2);
                p.cursor = pg::Text(row, 3);
                p.done = pg::OptBool(row, 4).value_or(false);
                p.rewritten = pg::Int(row, 5);
                p.updated_at = pg::Text(row, 6);
                out.push_back(std::move(p));
            }
            return {};
        });
        if (!s) return s.error();
        return out;
    }

    Status SaveReEncryptProgress(const ReEncryptProgressRecord& pr) override {
        if (pr.target.empty()) {
            return MakeError(ErrorCode::kValidation, "re-encryption progress needs a target");
        }
        return pool_->Run("save re-encryption progress", [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            pg::Params p;
            const std::string values = p.Text(pr.target) + ", " + p.Text(pr.key_id) + ", " +
                                       p.Int(pr.key_version) + ", " + p.Text(pr.cursor) + ", " +
                                       p.Bool(pr.done) + ", " + p.Int(pr.rewritten) + ", " +
                                       p.Text(pr.updated_at);
            pg::Exec(tx,
                     std::string("INSERT INTO encryption_reencrypt_progress (") +
                         kReencryptProgressColumns + ") VALUES (" + values +
                         ") ON CONFLICT (target) DO UPDATE SET key_id = EXCLUDED.key_id, "
                         "key_version = EXCLUDED.key_version, cursor = EXCLUDED.cursor, "
                         "done = EXCLUDED.done, rewritten = EXCLUDED.rewritten, "
                         "updated_at = EXCLUDED.updated_at",
                     p);
            tx.commit();
            return {};
        });
    }

    Result<std::unique_ptr<RotationLock>> TryLockRotation() override {
        auto lease = pool_->Acquire();
        if (!lease) return lease.error();
        // The session lock must not stay on a pooled connection: it is closed on release.
        lease->Discard();
        bool locked = false;
        try {
            pqxx::nontransaction tx(lease->conn());
            pg::Params p;
            locked = pg::OptBool(pg::Exec(tx,
                                          "SELECT pg_try_advisory_lock(" +
                                              p.Int(pg::kKeyRotationLockKey) + ")",
                                          p)[0],
                                 0)
                         .value_or(false);
        } catch (...) {
            bool broken = false;
            return PgCurrentError("try key rotation lock", &broken);
        }
        if (!locked) return std::unique_ptr<RotationLock>();
        return std::unique_ptr<RotationLock>(std::make_unique<PgRotationLock>(std::move(*lease)));
    }

private:
    std::shared_ptr<PgPool> pool_;
};

}  // namespace

std::unique_ptr<KeyStore> MakePgKeyStore(std::shared_ptr<PgPool> pool) {
    return std::make_unique<PgKeyStore>(std::move(pool));
}

}  // namespace aragora::storage
