#include "storage/sqlite/sqlite_content_targets.hpp"

#include <mutex>
#include <string>
#include <utility>

#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_db.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

constexpr int kMaxBatch = 10000;
constexpr int kCountPage = 500;

class SqliteContentTarget final : public keys::ReEncryptTarget {
public:
    SqliteContentTarget(std::shared_ptr<sqlite::Connection> conn, content::SealedTableSpec spec,
                        std::shared_ptr<const keys::FieldCipher> cipher,
                        std::shared_ptr<DecryptFailureCounts> failures)
        : conn_(std::move(conn)),
          spec_(std::move(spec)),
          cipher_(std::move(cipher)),
          failures_(std::move(failures)) {}

    std::string Name() const override { return spec_.target_name; }

    Result<keys::ReEncryptBatch> ReEncrypt(const keys::FieldCipher& cipher,
                                           std::string_view after_cursor, int limit) override {
        if (limit < 1 || limit > kMaxBatch) {
            return MakeError(ErrorCode::kValidation, "re-encryption batch size must be 1..10000",
                             "limit");
        }
        auto after = content::DecodeCursor(spec_, after_cursor);
        if (!after) return after.error();
        std::lock_guard lock(conn_->mu);
        auto tx = sqlite::Transaction::Begin(db());
        if (!tx) return tx.error();
        auto rows = ReadRowsLocked(*after, limit);
        if (!rows) return rows.error();
        auto plan = content::PlanReEncrypt(spec_, cipher, *rows, failures_.get());
        if (!plan) return plan.error();
        for (const auto& update : plan->updates) {
            for (const auto& [column, value] : update.set) {
                // Column and key names are the spec's constants; the values are bound.
                std::string sql =
                    "UPDATE " + spec_.table + " SET " + column + " = ?1" + KeyWhere(2);
                auto stmt = sqlite::Stmt::Prepare(db(), sql, "re-encrypt " + spec_.table);
                if (!stmt) return stmt.error();
                stmt->BindText(1, value);
                BindKey(*stmt, update.key, 2);
                if (auto s = stmt->Run(); !s) return s.error();
            }
        }
        if (auto s = tx->Commit(); !s) return s.error();
        keys::ReEncryptBatch batch;
        batch.rewritten = plan->rewritten;
        batch.skipped = plan->skipped;
        batch.done = static_cast<int>(rows->size()) < limit;
        batch.next_cursor =
            rows->empty() ? std::string(after_cursor) : content::EncodeCursor(rows->back().key);
        return batch;
    }

    Result<std::int64_t> CountNotUnder(const keys::KeyRef& current) override {
        std::int64_t n = 0;
        std::vector<std::string> after;
        while (true) {
            std::vector<content::SealedRow> rows;
            {
                std::lock_guard lock(conn_->mu);
                auto read = ReadRowsLocked(after, kCountPage);
                if (!read) return read.error();
                rows = std::move(*read);
            }
            n += content::CountNotUnder(*cipher_, rows, current);
            if (static_cast<int>(rows.size()) < kCountPage) return n;
            after = rows.back().key;
        }
    }

private:
    sqlite3* db() { return conn_->db.get(); }

    std::string KeyList() const {
        std::string out;
        for (std::size_t i = 0; i < spec_.key.size(); ++i) {
            if (i > 0) out += ", ";
            out += spec_.key[i].name;
        }
        return out;
    }

    // " WHERE k1 = ?first AND k2 = ?first+1"
    std::string KeyWhere(int first) const {
        std::string out = " WHERE ";
        for (std::size_t i = 0; i < spec_.key.size(); ++i) {
            if (i > 0) out += " AND ";
            out += spec_.key[i].name + " = ?" + std::to_string(first + static_cast<int>(i));
        }
        return out;
    }

    void BindKey(sqlite::Stmt& stmt, const std::vector<std::string>& key, int first) const {
        for (std::size_t i = 0; i < spec_.key.size(); ++i) {
            const int at = first + static_cast<int>(i);
            if (spec_.key[i].integer) {
                stmt.BindInt(at, std::stoll(key[i]));
            } else {
                stmt.BindText(at, key[i]);
            }
        }
    }

    Result<std::vector<content::SealedRow>> ReadRowsLocked(const std::vector<std::string>& after,
                                                           int limit) {
        std::string sql = "SELECT " + KeyList();
        for (const auto& c : spec_.columns) sql += ", " + c;
        sql += " FROM " + spec_.table;
        const int key_first = 2;
        if (!after.empty()) {
            sql += " WHERE (" + KeyList() + ") > (";
            for (std::size_t i = 0; i < spec_.key.size(); ++i) {
                if (i > 0) sql += ", ";
                sql += "?" + std::to_string(key_first + static_cast<int>(i));
            }
            sql += ")";
        }
        sql += " ORDER BY " + KeyList() + " LIMIT ?1";
        auto stmt = sqlite::Stmt::Prepare(db(), sql, "read " + spec_.table + " for re-encryption");
        if (!stmt) return stmt.error();
        stmt->BindInt(1, limit);
        if (!after.empty()) BindKey(*stmt, after, key_first);
        std::vector<content::SealedRow> rows;
        const int nkey = static_cast<int>(spec_.key.size());
        if (auto each = stmt->EachRow([&] {
                content::SealedRow r;
                for (int i = 0; i < nkey; ++i) {
                    r.key.push_back(spec_.key[i].integer ? std::to_string(stmt->Int(i))
                                                         : stmt->Text(i));
                }
                for (std::size_t c = 0; c < spec_.columns.size(); ++c) {
                    r.values.push_back(stmt->Text(nkey + static_cast<int>(c)));
                }
                rows.push_back(std::move(r));
            });
            !each) {
            return each.error();
        }
        return rows;
    }

    std::shared_ptr<sqlite::Connection> conn_;
    content::SealedTableSpec spec_;
    std::shared_ptr<const keys::FieldCipher> cipher_;
    std::shared_ptr<DecryptFailureCounts> failures_;
};

}  // namespace

Result<std::vector<std::shared_ptr<keys::ReEncryptTarget>>> OpenSqliteContentTargets(
    const SqliteOptions& options, std::shared_ptr<const keys::FieldCipher> cipher,
    std::shared_ptr<DecryptFailureCounts> failures) {
    if (!cipher) {
        return MakeError(ErrorCode::kValidation, "re-encryption targets need a cipher", "cipher");
    }
    auto conn = sqlite::OpenConnection(options, /*migrate=*/false);
    if (!conn) return conn.error();
    std::vector<std::shared_ptr<keys::ReEncryptTarget>> out;
    for (const auto& spec : content::SealedTables()) {
        out.push_back(std::make_shared<SqliteContentTarget>(*conn, spec, cipher, failures));
    }
    return out;
}

}  // namespace aragora::storage
