// storage::KeyStore on SQLite (the connection shared with SqliteStore/SqliteAuthStore).

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "storage/key_store.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_db.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

void BindKey(sqlite::Stmt& s, const DataKeyRecord& k) {
    s.BindText(1, k.key_id);
    s.BindInt(2, k.version);
    s.BindText(3, k.wrapped);
    s.BindText(4, k.state);
    s.BindText(5, k.created_at);
    s.BindText(6, k.activated_at);
    s.BindText(7, k.retired_at);
    s.BindText(8, k.expires_at);
}

// The process-local lock: the SQLite database lock keeps other processes out already.
struct ProcessLock final : RotationLock {
    explicit ProcessLock(std::shared_ptr<std::atomic<bool>> held) : held_(std::move(held)) {}
    ~ProcessLock() override { held_->store(false); }
    std::shared_ptr<std::atomic<bool>> held_;
};

class SqliteKeyStore final : public KeyStore {
public:
    explicit SqliteKeyStore(std::shared_ptr<sqlite::Connection> connection)
        : conn_(std::move(connection)) {}

    Result<std::vector<DataKeyRecord>> ListDataKeys() override {
        std::lock_guard lock(conn_->mu);
        auto stmt = sqlite::Stmt::Prepare(db(),
                                          std::string("SELECT ") + kDataKeyColumns +
                                              " FROM encryption_data_keys ORDER BY key_id, version",
                                          "list data keys");
        if (!stmt) return stmt.error();
        std::vector<DataKeyRecord> out;
        if (auto each = stmt->EachRow([&] {
                DataKeyRecord k;
                k.key_id = stmt->Text(0);
                k.version = stmt->Int(1);
                k.wrapped = stmt->Text(2);
                k.state = stmt->Text(3);
                k.created_at = stmt->Text(4);
                k.activated_at = stmt->Text(5);
                k.retired_at = stmt->Text(6);
                k.expires_at = stmt->Text(7);
                out.push_back(std::move(k));
            });
            !each) {
            return each.error();
        }
        return out;
    }

    Status InsertDataKey(const DataKeyRecord& key) override {
        if (auto s = ValidateDataKey(key); !s) return s;
        std::lock_guard lock(conn_->mu);
        return InsertLocked(key);
    }

    Status RotateDataKey(const DataKeyRecord& next, const std::string& now,
                         const std::string& old_expires_at) override {
        if (auto s = ValidateDataKey(next); !s) return s;
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto retire = sqlite::Stmt::Prepare(
            db(),
            "UPDATE encryption_data_keys SET state = 'retired', retired_at = ?1, expires_at = ?2 "
            "WHERE key_id = ?3 AND state = 'active'",
            "retire data key");
        if (!retire) return retire.error();
        retire->BindText(1, now);
        retire->BindText(2, old_expires_at);
        retire->BindText(3, next.key_id);
        if (auto s = retire->Run(); !s) return s;
        if (auto s = InsertLocked(next); !s) return s;
        return tx->Commit();
    }

    Status SetDataKeyState(const std::string& key_id, std::int64_t version,
                           const std::string& state) override {
        std::lock_guard lock(conn_->mu);
        auto stmt = sqlite::Stmt::Prepare(
            db(), "UPDATE encryption_data_keys SET state = ?1 WHERE key_id = ?2 AND version = ?3",
            "set data key state");
        if (!stmt) return stmt.error();
        stmt->BindText(1, state);
        stmt->BindText(2, key_id);
        stmt->BindInt(3, version);
        if (auto s = stmt->Run(); !s) return s;
        if (sqlite3_changes(db()) == 0) {
            return MakeError(ErrorCode::kNotFound,
                             "data key " + key_id + " v" + std::to_string(version) + " not found");
        }
        return {};
    }

    Result<std::vector<ReEncryptProgressRecord>> ListReEncryptProgress() override {
        std::lock_guard lock(conn_->mu);
        auto stmt = sqlite::Stmt::Prepare(db(),
                                          std::string("SELECT ") + kReencryptProgressColumns +
                                              " FROM encryption_reencrypt_progress ORDER BY target",
                                          "list re-encryption progress");
        if (!stmt) return stmt.error();
        std::vector<ReEncryptProgressRecord> out;
        if (auto each = stmt->EachRow([&] {
                ReEncryptProgressRecord p;
                p.target = stmt->Text(0);
                p.key_id = stmt->Text(1);
                p.key_version = stmt->Int(2);
                p.cursor = stmt->Text(3);
                p.done = stmt->Int(4) != 0;
                p.rewritten = stmt->Int(5);
                p.updated_at = stmt->Text(6);
                out.push_back(std::move(p));
            });
            !each) {
            return each.error();
        }
        return out;
    }

    Status SaveReEncryptProgress(const ReEncryptProgressRecord& p) override {
        if (p.target.empty()) {
            return MakeError(ErrorCode::kValidation, "re-encryption progress needs a target");
        }
        std::lock_guard lock(conn_->mu);
        auto stmt = sqlite::Stmt::Prepare(
            db(),
            std::string("INSERT OR REPLACE INTO encryption_reencrypt_progress (") +
                kReencryptProgressColumns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            "save re-encryption progress");
        if (!stmt) return stmt.error();
        stmt->BindText(1, p.target);
        stmt->BindText(2, p.key_id);
        stmt->BindInt(3, p.key_version);
        stmt->BindText(4, p.cursor);
        stmt->BindInt(5, p.done ? 1 : 0);
        stmt->BindInt(6, p.rewritten);
        stmt->BindText(7, p.updated_at);
        return stmt->Run();
    }

    Result<std::unique_ptr<RotationLock>> TryLockRotation() override {
        bool expected = false;
        if (!held_->compare_exchange_strong(expected, true)) {
            return std::unique_ptr<RotationLock>();
        }
        return std::unique_ptr<RotationLock>(std::make_unique<ProcessLock>(held_));
    }

private:
    sqlite3* db() const { return conn_->db.get(); }

    Status InsertLocked(const DataKeyRecord& key) {
        auto stmt =
            sqlite::Stmt::Prepare(db(),
                                  std::string("INSERT INTO encryption_data_keys (") +
                                      kDataKeyColumns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                  "insert data key");
        if (!stmt) return stmt.error();
        BindKey(*stmt, key);
        auto s = stmt->Run();
        if (!s && s.error().code == ErrorCode::kConflict) {
            return MakeError(
                ErrorCode::kConflict,
                "data key " + key.key_id + " v" + std::to_string(key.version) + " already exists");
        }
        return s;
    }

    std::shared_ptr<sqlite::Connection> conn_;
    std::shared_ptr<std::atomic<bool>> held_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

namespace sqlite {
std::unique_ptr<KeyStore> MakeSqliteKeyStore(std::shared_ptr<Connection> connection) {
    return std::make_unique<SqliteKeyStore>(std::move(connection));
}
}  // namespace sqlite

}  // namespace aragora::storage
