#include "storage/postgres/pg_content_targets.hpp"

#include <pqxx/connection_base>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <string>
#include <utility>

#include "storage/postgres/pg_sql.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

constexpr int kMaxBatch = 10000;
constexpr int kCountPage = 500;

class PgContentTarget final : public keys::ReEncryptTarget {
public:
    PgContentTarget(std::shared_ptr<PgPool> pool, content::SealedTableSpec spec,
                    std::shared_ptr<const keys::FieldCipher> cipher,
                    std::shared_ptr<DecryptFailureCounts> failures)
        : pool_(std::move(pool)),
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
        keys::ReEncryptBatch batch;
        auto s = pool_->Run("re-encrypt " + spec_.table, [&](pqxx::connection_base& c) -> Status {
            pqxx::work tx(c);
            const auto rows = ReadRows(tx, *after, limit, /*for_update=*/true);
            auto plan = content::PlanReEncrypt(spec_, cipher, rows, failures_.get());
            if (!plan) return plan.error();
            for (const auto& update : plan->updates) {
                for (const auto& [column, value] : update.set) {
                    // Column and key names are the spec's constants; values are parameters.
                    pg::Params p;
                    std::string sql = "UPDATE " + spec_.table + " SET " + column + " = " +
                                      p.Text(value) + KeyWhere(p, update.key);
                    pg::Exec(tx, sql, p);
                }
            }
            tx.commit();
            batch = keys::ReEncryptBatch{};
            batch.rewritten = plan->rewritten;
            batch.skipped = plan->skipped;
            batch.done = static_cast<int>(rows.size()) < limit;
            batch.next_cursor =
                rows.empty() ? std::string(after_cursor) : content::EncodeCursor(rows.back().key);
            return {};
        });
        if (!s) return s.error();
        return batch;
    }

    Result<std::int64_t> CountNotUnder(const keys::KeyRef& current) override {
        std::int64_t n = 0;
        std::vector<std::string> after;
        while (true) {
            std::vector<content::SealedRow> rows;
            auto s = pool_->Run("count " + spec_.table + " to re-encrypt",
                                [&](pqxx::connection_base& c) -> Status {
                                    pqxx::nontransaction tx(c);
                                    rows = ReadRows(tx, after, kCountPage, /*for_update=*/false);
                                    return {};
                                });
            if (!s) return s.error();
            n += content::CountNotUnder(*cipher_, rows, current);
            if (static_cast<int>(rows.size()) < kCountPage) return n;
            after = rows.back().key;
        }
    }

private:
    std::string KeyList() const {
        std::string out;
        for (std::size_t i = 0; i < spec_.key.size(); ++i) {
            if (i > 0) out += ", ";
            out += spec_.key[i].name;
        }
        return out;
    }

    std::string KeyParam(pg::Params& p, std::size_t i, const std::string& value) const {
        return spec_.key[i].integer ? p.Text(value) + "::bigint" : p.Text(value);
    }

    std::string KeyWhere(pg::Params& p, const std::vector<std::string>& key) const {
        std::string out = " WHERE ";
        for (std::size_t i = 0; i < spec_.key.size(); ++i) {
            if (i > 0) out += " AND ";
            out += spec_.key[i].name + " = " + KeyParam(p, i, key[i]);
        }
        return out;
    }

    std::vector<content::SealedRow> ReadRows(pqxx::transaction_base& tx,
                                             const std::vector<std::string>& after, int limit,
                                             bool for_update) const {
        pg::Params p;
        std::string sql = "SELECT " + KeyList();
        for (const auto& c : spec_.columns) sql += ", " + c;
        sql += " FROM " + spec_.table;
        if (!after.empty()) {
            sql += " WHERE (" + KeyList() + ") > (";
            for (std::size_t i = 0; i < spec_.key.size(); ++i) {
                if (i > 0) sql += ", ";
                sql += KeyParam(p, i, after[i]);
            }
            sql += ")";
        }
        sql += " ORDER BY " + KeyList() + " LIMIT " + p.Int(limit);
        if (for_update) sql += " FOR UPDATE";
        std::vector<content::SealedRow> rows;
        const int nkey = static_cast<int>(spec_.key.size());
        for (const auto& row : pg::Exec(tx, sql, p)) {
            content::SealedRow r;
            for (int i = 0; i < nkey; ++i) r.key.push_back(pg::Text(row, i));
            for (std::size_t c = 0; c < spec_.columns.size(); ++c) {
                r.values.push_back(pg::Text(row, nkey + static_cast<int>(c)));
            }
            rows.push_back(std::move(r));
        }
        return rows;
    }

    std::shared_ptr<PgPool> pool_;
    content::SealedTableSpec spec_;
    std::shared_ptr<const keys::FieldCipher> cipher_;
    std::shared_ptr<DecryptFailureCounts> failures_;
};

}  // namespace

std::vector<std::shared_ptr<keys::ReEncryptTarget>> MakePgContentTargets(
    std::shared_ptr<PgPool> pool, std::shared_ptr<const keys::FieldCipher> cipher,
    std::shared_ptr<DecryptFailureCounts> failures) {
    std::vector<std::shared_ptr<keys::ReEncryptTarget>> out;
    for (const auto& spec : content::SealedTables()) {
        out.push_back(std::make_shared<PgContentTarget>(pool, spec, cipher, failures));
    }
    return out;
}

}  // namespace aragora::storage
