#pragma once

// Internal to storage/postgres: parameters and column readers over libpqxx. Every value
// travels as text (NULL for an absent one); PostgreSQL infers the types from the SQL.

#include <charconv>
#include <cstdint>
#include <optional>
#include <pqxx/field>
#include <pqxx/prepared_statement>
#include <pqxx/result>
#include <pqxx/row>
#include <pqxx/transaction_base>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aragora::storage::pg {

// Positional parameters: Add*() returns the placeholder ("$1", "$2", ...) to splice into
// the SQL, so numbering follows the order of the calls.
class Params {
public:
    std::string Text(std::string_view value) {
        values_.emplace_back(std::string(value));
        return Placeholder();
    }
    // NULL when empty.
    std::string TextOrNull(std::string_view value) {
        if (value.empty()) return Null();
        return Text(value);
    }
    std::string OptText(const std::optional<std::string>& value) {
        if (!value) return Null();
        return Text(*value);
    }
    std::string Int(std::int64_t value) { return Text(std::to_string(value)); }
    std::string Bool(bool value) { return Text(value ? "true" : "false"); }
    std::string OptBool(const std::optional<bool>& value) {
        if (!value) return Null();
        return Bool(*value);
    }
    // Shortest text that reads back as the same double.
    std::string Double(double value) {
        char buf[64];
        const auto r = std::to_chars(buf, buf + sizeof buf, value);
        return Text(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    std::string OptDouble(const std::optional<double>& value) {
        if (!value) return Null();
        return Double(*value);
    }
    // A text[] parameter (an array literal: every element quoted, `"` and `\` escaped);
    // cast it in the SQL (`$n::text[]`).
    std::string TextArray(const std::vector<std::string>& values) {
        std::string literal = "{";
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i > 0) literal += ',';
            literal += '"';
            for (const char c : values[i]) {
                if (c == '"' || c == '\\') literal += '\\';
                literal += c;
            }
            literal += '"';
        }
        literal += '}';
        return Text(literal);
    }
    std::string Null() {
        values_.emplace_back(std::nullopt);
        return Placeholder();
    }

    const std::vector<std::optional<std::string>>& values() const { return values_; }

private:
    std::string Placeholder() const { return "$" + std::to_string(values_.size()); }
    std::vector<std::optional<std::string>> values_;
};

inline pqxx::result Exec(pqxx::transaction_base& tx, const std::string& sql, const Params& params) {
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params.values()));
}

inline std::string Text(const pqxx::row& row, int col) {
    const pqxx::field f = row[col];
    if (f.is_null()) return {};
    return std::string(f.c_str(), f.size());
}

inline std::optional<std::string> OptText(const pqxx::row& row, int col) {
    if (row[col].is_null()) return std::nullopt;
    return Text(row, col);
}

inline std::int64_t Int(const pqxx::row& row, int col) {
    const pqxx::field f = row[col];
    std::int64_t v = 0;
    if (!f.is_null()) std::from_chars(f.c_str(), f.c_str() + f.size(), v);
    return v;
}

inline std::optional<double> OptDouble(const pqxx::row& row, int col) {
    const pqxx::field f = row[col];
    if (f.is_null()) return std::nullopt;
    double v = 0;
    std::from_chars(f.c_str(), f.c_str() + f.size(), v);
    return v;
}

inline double Double(const pqxx::row& row, int col) { return OptDouble(row, col).value_or(0.0); }

// PostgreSQL prints booleans as "t" / "f".
inline std::optional<bool> OptBool(const pqxx::row& row, int col) {
    const pqxx::field f = row[col];
    if (f.is_null()) return std::nullopt;
    return f.size() > 0 && f.c_str()[0] == 't';
}

// Advisory lock keys (pg_advisory_xact_lock / pg_try_advisory_lock); one per chain.
constexpr std::int64_t kMigrationLockKey = 2089872453;
constexpr std::int64_t kReceiptChainLockKey = 2089872454;
constexpr std::int64_t kAuditChainLockKey = 2089872455;
// Held (session lock) by the instance rotating encryption keys / re-encrypting.
constexpr std::int64_t kKeyRotationLockKey = 2089872460;

}  // namespace aragora::storage::pg
