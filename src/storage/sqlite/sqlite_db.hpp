#pragma once

// Internal to storage/sqlite: thin RAII wrappers over the SQLite C API. Not thread-safe;
// the owner of a connection serializes its use.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::storage::sqlite {

struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

// The connection's last error as a value: kConflict for a primary-key/unique violation,
// kUnavailable ("storage unavailable: ...") when the disk is full or failing or the
// database stays locked (SQLITE_FULL, SQLITE_IOERR_*, SQLITE_BUSY: the write may succeed
// later), kStorage otherwise. The message is "sqlite: <what>: <sqlite3_errmsg>". Call it right
// after the failing call, before anything else touches the connection.
common::Error LastError(sqlite3* db, std::string_view what);

// False for ":memory:" and "file:" URIs (no parent directory to create, no file to check).
bool IsPlainFilePath(const std::string& path);

// Refuses paths the runbooks would destroy: the cache clean-up runs `rm .../*.db`, so the
// durable database must not be named *.db (use aragora.sqlite3). kValidation.
common::Status ValidateDbPath(const std::string& path);

// Validates the path, opens it read-write and applies ConfigureReadWrite(). With `create`,
// creates the parent directories and the file when missing; without, a missing file is
// an error.
common::Result<DbHandle> OpenReadWrite(const std::string& path, int busy_timeout_ms, bool create);

// Opens `path` with `flags` (SQLITE_OPEN_*), extended result codes and the busy timeout.
common::Result<DbHandle> OpenDb(const std::string& path, int flags, int busy_timeout_ms);

// WAL journal, synchronous=NORMAL, foreign keys on. For read-write connections.
common::Status ConfigureReadWrite(sqlite3* db);

// Runs constant SQL (one or more statements, no parameters).
common::Status Exec(sqlite3* db, const char* sql, std::string_view what);

// A prepared statement. Bind errors are remembered and reported by the next Step().
class Stmt {
public:
    static common::Result<Stmt> Prepare(sqlite3* db, std::string_view sql, std::string_view what);

    Stmt(Stmt&& other) noexcept;
    Stmt& operator=(Stmt&& other) noexcept;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt();

    // Parameters are 1-based.
    void BindText(int index, std::string_view value);
    // Binds `value` without copying it: it must stay alive and unchanged until the
    // statement is stepped for the last time with this binding (rebind or ClearBindings()
    // before it goes).
    void BindTextView(int index, std::string_view value);
    // Unbinds every parameter (NULL), e.g. so that no view outlives its text.
    void ClearBindings();
    void BindTextOrNull(int index, std::string_view value);  // NULL when empty
    void BindInt(int index, std::int64_t value);
    void BindDouble(int index, double value);
    void BindNull(int index);
    void BindOptDouble(int index, const std::optional<double>& value);
    void BindOptBool(int index, const std::optional<bool>& value);
    void BindOptText(int index, const std::optional<std::string>& value);

    // true: a row is available; false: done.
    common::Result<bool> Step();
    // Steps through every row, calling on_row() with the statement on each (read the
    // columns from it); the first step error is returned.
    template <class OnRow>
    common::Status EachRow(OnRow&& on_row) {
        while (true) {
            auto row = Step();
            if (!row) return row.error();
            if (!*row) return {};
            on_row();
        }
    }
    // Steps a statement that returns no rows (INSERT/UPDATE/DDL).
    common::Status Run();
    // Makes the statement reusable with new bindings.
    void Reset();

    // Columns are 0-based.
    bool IsNull(int col) const;
    std::string Text(int col) const;  // "" when NULL
    std::optional<std::string> OptText(int col) const;
    std::int64_t Int(int col) const;
    double Double(int col) const;
    std::optional<double> OptDouble(int col) const;
    std::optional<bool> OptBool(int col) const;

private:
    Stmt(sqlite3* db, sqlite3_stmt* stmt, std::string_view what);
    void NoteBind(int index, int rc);  // keeps the first bind error for Step()
    // sqlite3_bind_text with `lifetime` (SQLITE_TRANSIENT: SQLite copies; SQLITE_STATIC: a view).
    void BindTextAs(int index, std::string_view value, sqlite3_destructor_type lifetime);

    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
    std::string what_;
    int bind_rc_ = SQLITE_OK;
    int bind_index_ = 0;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back on destruction unless committed, so an early
// return on any error leaves nothing half-written.
class Transaction {
public:
    static common::Result<Transaction> Begin(sqlite3* db);
    // A deferred (read) transaction: statements inside it see one snapshot. Ending it by
    // destruction (rollback) is fine when nothing was written.
    static common::Result<Transaction> BeginRead(sqlite3* db);

    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();

    common::Status Commit();

private:
    explicit Transaction(sqlite3* db) : db_(db) {}
    sqlite3* db_ = nullptr;
};

}  // namespace aragora::storage::sqlite
