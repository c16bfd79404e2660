#include "ops/sqlite_inspect.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/crypto.hpp"
#include "storage/sqlite/sqlite_db.hpp"

namespace aragora::ops::sqlite_backup {
namespace {

using storage::sqlite::Stmt;

struct Column {
    std::string name;
    std::string type;
    bool notnull = false;
    int pk = 0;  // position in the primary key, 0 = not part of it
};

struct ForeignKey {
    std::string column, ref_table, ref_column;
    bool operator<(const ForeignKey& o) const {
        return std::tie(column, ref_table, ref_column) <
               std::tie(o.column, o.ref_table, o.ref_column);
    }
};

struct Index {
    std::string name;
    std::vector<std::string> columns;
    bool unique = false;
};

struct TableSchema {
    std::vector<Column> columns;
    std::vector<ForeignKey> foreign_keys;
    std::vector<Index> indexes;
    bool without_rowid = false;
};

// Identifiers come from sqlite_master; quoting keeps any name a name.
std::string Quote(const std::string& ident) {
    std::string out = "\"";
    for (char c : ident) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

const char* PyBool(bool b) { return b ? "True" : "False"; }

common::Result<std::vector<std::string>> ListTables(sqlite3* db) {
    auto st = Stmt::Prepare(db,
                            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                            "LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                            "list tables");
    if (!st) return st.error();
    std::vector<std::string> out;
    for (;;) {
        auto row = st->Step();
        if (!row) return row.error();
        if (!*row) break;
        out.push_back(st->Text(0));
    }
    return out;
}

common::Result<TableSchema> ReadSchema(sqlite3* db, const std::string& table) {
    TableSchema schema;
    auto cols = Stmt::Prepare(db, "PRAGMA table_info(" + Quote(table) + ")", "table_info");
    if (!cols) return cols.error();
    for (;;) {
        auto row = cols->Step();
        if (!row) return row.error();
        if (!*row) break;
        schema.columns.push_back(Column{cols->Text(1), cols->Text(2), cols->Int(3) != 0,
                                        static_cast<int>(cols->Int(5))});
    }
    auto fks = Stmt::Prepare(db, "PRAGMA foreign_key_list(" + Quote(table) + ")", "fk list");
    if (!fks) return fks.error();
    for (;;) {
        auto row = fks->Step();
        if (!row) return row.error();
        if (!*row) break;
        schema.foreign_keys.push_back(
            ForeignKey{fks->Text(3), fks->Text(2), fks->IsNull(4) ? "None" : fks->Text(4)});
    }
    std::sort(schema.foreign_keys.begin(), schema.foreign_keys.end());
    auto idx = Stmt::Prepare(db, "PRAGMA index_list(" + Quote(table) + ")", "index_list");
    if (!idx) return idx.error();
    for (;;) {
        auto row = idx->Step();
        if (!row) return row.error();
        if (!*row) break;
        schema.indexes.push_back(Index{idx->Text(1), {}, idx->Int(2) != 0});
    }
    for (auto& index : schema.indexes) {
        auto info = Stmt::Prepare(db, "PRAGMA index_info(" + Quote(index.name) + ")", "index_info");
        if (!info) return info.error();
        for (;;) {
            auto row = info->Step();
            if (!row) return row.error();
            if (!*row) break;
            // An expression column (lower(email)) has no name.
            index.columns.push_back(info->IsNull(2) ? "<expr>" : info->Text(2));
        }
    }
    std::sort(schema.indexes.begin(), schema.indexes.end(),
              [](const Index& a, const Index& b) { return a.name < b.name; });
    auto kind = Stmt::Prepare(
        db, "SELECT wr FROM pragma_table_list WHERE name = ?1 AND schema = 'main'", "table_list");
    if (kind) {
        kind->BindText(1, table);
        auto row = kind->Step();
        if (row && *row) schema.without_rowid = kind->Int(0) != 0;
    } else {
        // pragma_table_list needs SQLite 3.37; before it, tell by the CREATE text.
        auto sql = Stmt::Prepare(db, "SELECT sql FROM sqlite_master WHERE name = ?1", "table sql");
        if (!sql) return sql.error();
        sql->BindText(1, table);
        auto row = sql->Step();
        if (!row) return row.error();
        if (*row) {
            std::string text = sql->Text(0);
            std::transform(text.begin(), text.end(), text.begin(), ::toupper);
            schema.without_rowid = text.find("WITHOUT ROWID") != std::string::npos;
        }
    }
    return schema;
}

// The original's listing: TABLE, then columns by name, sorted foreign keys, indexes by
// name; booleans as Python prints them.
std::string SchemaListing(const std::map<std::string, TableSchema>& tables) {
    std::string out;
    for (const auto& [name, schema] : tables) {
        out += "TABLE:" + name + "\n";
        auto columns = schema.columns;
        std::sort(columns.begin(), columns.end(),
                  [](const Column& a, const Column& b) { return a.name < b.name; });
        for (const auto& c : columns) {
            out += "  COL:" + c.name + ":" + c.type + ":" + PyBool(c.notnull) + ":" +
                   PyBool(c.pk != 0) + "\n";
        }
        for (const auto& fk : schema.foreign_keys) {
            out += "  FK:" + fk.column + "->" + fk.ref_table + "." + fk.ref_column + "\n";
        }
        for (const auto& idx : schema.indexes) {
            std::string cols;
            for (const auto& c : idx.columns) cols += (cols.empty() ? "" : ",") + c;
            out += "  IDX:" + idx.name + ":" + cols + ":" + PyBool(idx.unique) + "\n";
        }
    }
    return out;
}

common::Result<std::int64_t> CountRows(sqlite3* db, const std::string& table) {
    auto st = Stmt::Prepare(db, "SELECT COUNT(*) FROM " + Quote(table), "count rows");
    if (!st) return st.error();
    auto row = st->Step();
    if (!row) return row.error();
    return *row ? st->Int(0) : 0;
}

common::Result<std::string> TableChecksum(sqlite3* db, const std::string& table,
                                          const TableSchema& schema) {
    std::vector<const Column*> pk;
    for (const auto& c : schema.columns)
        if (c.pk > 0) pk.push_back(&c);
    std::sort(pk.begin(), pk.end(), [](const Column* a, const Column* b) { return a->pk < b->pk; });
    std::string order;
    for (const auto* c : pk) order += (order.empty() ? "" : ", ") + Quote(c->name);
    if (order.empty()) order = schema.without_rowid ? "1" : "rowid";
    auto st = Stmt::Prepare(db, "SELECT * FROM " + Quote(table) + " ORDER BY " + order,
                            "checksum " + table);
    if (!st) return st.error();
    common::Sha256Stream hasher;
    std::string line;
    for (;;) {
        auto row = st->Step();
        if (!row) return row.error();
        if (!*row) break;
        line.clear();
        const int n = static_cast<int>(schema.columns.size());
        for (int i = 0; i < n; ++i) {
            if (i > 0) line += '|';
            line += st->Text(i);
        }
        hasher.Update(line);
    }
    return hasher.FinalHex();
}

common::Status CheckProblems(sqlite3* db, const std::map<std::string, TableSchema>& tables,
                             std::vector<std::string>& problems) {
    auto integrity = Stmt::Prepare(db, "PRAGMA integrity_check", "integrity_check");
    if (!integrity) return integrity.error();
    for (;;) {
        auto row = integrity->Step();
        if (!row) return row.error();
        if (!*row) break;
        const std::string msg = integrity->Text(0);
        if (msg != "ok") problems.push_back("database: integrity_check: " + msg);
    }
    // Rows per (table, parent) that reference a missing parent.
    auto fk = Stmt::Prepare(db, "PRAGMA foreign_key_check", "foreign_key_check");
    if (!fk) return fk.error();
    std::map<std::pair<std::string, std::string>, std::int64_t> orphans;
    for (;;) {
        auto row = fk->Step();
        if (!row) return row.error();
        if (!*row) break;
        ++orphans[{fk->Text(0), fk->Text(2)}];
    }
    for (const auto& [key, n] : orphans) {
        problems.push_back(key.first + ": " + std::to_string(n) +
                           " row(s) violate a foreign key to " + key.second);
    }
    for (const auto& [table, schema] : tables) {
        for (const auto& c : schema.columns) {
            if (!c.notnull) continue;
            // typeof(): SQLite folds "col IS NULL" to false for a NOT NULL column.
            auto st = Stmt::Prepare(db,
                                    "SELECT COUNT(*) FROM " + Quote(table) + " WHERE typeof(" +
                                        Quote(c.name) + ") = 'null'",
                                    "not null scan");
            if (!st) return st.error();
            auto row = st->Step();
            if (!row) return row.error();
            if (*row && st->Int(0) > 0) {
                problems.push_back(table + ": column " + c.name + " has " +
                                   std::to_string(st->Int(0)) + " NULL value(s)");
            }
        }
    }
    return {};
}

}  // namespace

common::Result<DbInspection> InspectDb(sqlite3* db, bool check_problems) {
    DbInspection out;
    out.kind = "sqlite";
    auto names = ListTables(db);
    if (!names) return names.error();
    std::map<std::string, TableSchema> schemas;
    for (const auto& name : *names) {
        auto schema = ReadSchema(db, name);
        if (!schema) return schema.error();
        schemas.emplace(name, std::move(*schema));
    }
    for (const auto& [name, schema] : schemas) {
        TableInspection t;
        t.name = name;
        auto rows = CountRows(db, name);
        if (!rows) return rows.error();
        t.rows = *rows;
        auto sum = TableChecksum(db, name, schema);
        if (!sum) return sum.error();
        t.checksum = *sum;
        out.tables.push_back(std::move(t));
        for (const auto& fk : schema.foreign_keys)
            out.foreign_keys.push_back({name, fk.column, fk.ref_table, fk.ref_column});
        for (const auto& idx : schema.indexes) {
            std::string cols;
            for (const auto& c : idx.columns) cols += (cols.empty() ? "" : ",") + c;
            out.indexes.push_back({idx.name, name, cols});
        }
    }
    std::sort(out.foreign_keys.begin(), out.foreign_keys.end());
    std::sort(out.indexes.begin(), out.indexes.end());
    out.schema_hash = common::Sha256Hex(SchemaListing(schemas));
    if (check_problems) {
        if (auto s = CheckProblems(db, schemas, out.problems); !s) return s.error();
    }
    return out;
}

common::Result<int> ReadSchemaVersion(sqlite3* db) {
    auto exists = Stmt::Prepare(
        db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        "find schema_migrations");
    if (!exists) return exists.error();
    auto row = exists->Step();
    if (!row) return row.error();
    if (!*row) return 0;
    auto st = Stmt::Prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                            "schema version");
    if (!st) return st.error();
    auto r = st->Step();
    if (!r) return r.error();
    return *r ? static_cast<int>(st->Int(0)) : 0;
}

}  // namespace aragora::ops::sqlite_backup
