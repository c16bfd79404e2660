#pragma once

// What backup creation records about a database and backup verification compares: the
// same shape for SQLite (ops/sqlite_backup) and PostgreSQL (ops/postgres_backup), so the
// manifest and the verification report do not care which one made it.

#include <cstdint>
#include <string>
#include <vector>

namespace aragora::ops {

struct TableInspection {
    std::string name;
    std::int64_t rows = 0;
    // SHA-256 hex over the table's rows in primary-key order (each row's values joined by
    // '|', NULL as an empty field, one row per update); "" when not computed.
    std::string checksum;
};

struct DbInspection {
    std::string kind;                     // "sqlite" or "postgresql"
    std::vector<TableInspection> tables;  // every user table, sorted by name
    // SHA-256 hex of a text listing of tables, columns (name, type, not-null, pk),
    // foreign keys and indexes, each sorted by name (the original's schema_hash shape).
    std::string schema_hash;
    // [table, column, referenced table, referenced column], sorted.
    std::vector<std::vector<std::string>> foreign_keys;
    // [index name, table, "col1,col2"], sorted.
    std::vector<std::vector<std::string>> indexes;
    // Integrity problems found: storage-level corruption (SQLite integrity_check), rows
    // violating a foreign key, NULLs in NOT NULL columns — each one readable line naming
    // the table. Empty = sound.
    std::vector<std::string> problems;
};

}  // namespace aragora::ops
