#include "storage/sqlite/sqlite_db.hpp"

#include <climits>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/strings.hpp"

namespace aragora::storage::sqlite {

namespace {

// The disk, not the statement: full (SQLITE_FULL), failing or gone (SQLITE_IOERR_*), or
// held by another writer past the busy timeout (SQLITE_BUSY). The same write may succeed
// later, so callers answer 503 and retry.
bool IsOutageCode(int rc) {
    const int primary = rc & 0xff;
    return primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_BUSY;
}

common::Error MakeStorageError(int rc, std::string_view what, std::string_view detail) {
    std::string msg = "sqlite: ";
    msg.append(what);
    msg.append(": ");
    msg.append(detail);
    const bool conflict = rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE;
    if (conflict) return common::MakeError(common::ErrorCode::kConflict, std::move(msg));
    if (IsOutageCode(rc)) {
        return common::MakeError(common::ErrorCode::kUnavailable,
                                 "storage unavailable: " + std::move(msg));
    }
    return common::MakeError(common::ErrorCode::kStorage, std::move(msg));
}

}  // namespace

common::Error LastError(sqlite3* db, std::string_view what) {
    if (db == nullptr) return MakeStorageError(SQLITE_ERROR, what, "no connection");
    return MakeStorageError(sqlite3_extended_errcode(db), what, sqlite3_errmsg(db));
}

common::Result<DbHandle> OpenDb(const std::string& path, int flags, int busy_timeout_ms) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    DbHandle db(raw);  // sqlite3_open_v2 may hand back a handle even on failure
    if (rc != SQLITE_OK) {
        std::string what = "open " + path;
        if (!db) return MakeStorageError(rc, what, sqlite3_errstr(rc));
        return LastError(db.get(), what);
    }
    sqlite3_extended_result_codes(db.get(), 1);
    if (sqlite3_busy_timeout(db.get(), busy_timeout_ms) != SQLITE_OK)
        return LastError(db.get(), "set busy timeout");
    return db;
}

bool IsPlainFilePath(const std::string& path) {
    return path != ":memory:" && path.rfind("file:", 0) != 0;
}

common::Status ValidateDbPath(const std::string& path) {
    if (path.empty())
        return common::MakeError(common::ErrorCode::kValidation, "SQLite path is empty", "path");
    const std::string ext = common::ToLower(std::filesystem::path(path).extension().string());
    if (ext == ".db") {
        return common::MakeError(common::ErrorCode::kValidation,
                                 "refusing SQLite path '" + path +
                                     "': *.db files are deleted by the cache clean-up; "
                                     "name the database aragora.sqlite3",
                                 "path");
    }
    return {};
}

common::Result<DbHandle> OpenReadWrite(const std::string& path, int busy_timeout_ms, bool create) {
    if (auto s = ValidateDbPath(path); !s) return s.error();
    if (create && IsPlainFilePath(path)) {
        const auto parent = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!parent.empty()) std::filesystem::create_directories(parent, ec);
        if (ec) {
            return common::MakeError(
                common::ErrorCode::kStorage,
                "sqlite: create directory " + parent.string() + ": " + ec.message());
        }
    }
    auto db = OpenDb(path,
                     SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                         SQLITE_OPEN_NOMUTEX | (path.rfind("file:", 0) == 0 ? SQLITE_OPEN_URI : 0),
                     busy_timeout_ms);
    if (!db) return db.error();
    if (auto s = ConfigureReadWrite(db->get()); !s) return s.error();
    return db;
}

common::Status ConfigureReadWrite(sqlite3* db) {
    auto journal = Stmt::Prepare(db, "PRAGMA journal_mode=WAL", "set WAL journal mode");
    if (!journal) return journal.error();
    auto row = journal->Step();
    if (!row) return row.error();
    const std::string mode = *row ? journal->Text(0) : std::string();
    // An in-memory database reports "memory" and cannot use WAL; a file must.
    if (mode != "wal" && mode != "memory") {
        return common::MakeError(common::ErrorCode::kStorage,
                                 "sqlite: set WAL journal mode: journal mode is '" + mode + "'");
    }
    if (auto s = Exec(db, "PRAGMA synchronous=NORMAL", "set synchronous=NORMAL"); !s) return s;
    if (auto s = Exec(db, "PRAGMA foreign_keys=ON", "enable foreign keys"); !s) return s;
    return {};
}

common::Status Exec(sqlite3* db, const char* sql, std::string_view what) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return {};
    std::string detail = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return MakeStorageError(sqlite3_extended_errcode(db), what, detail);
}

// --- Stmt ---

Stmt::Stmt(sqlite3* db, sqlite3_stmt* stmt, std::string_view what)
    : db_(db), stmt_(stmt), what_(what) {}

common::Result<Stmt> Stmt::Prepare(sqlite3* db, std::string_view sql, std::string_view what) {
    if (sql.size() > static_cast<std::size_t>(INT_MAX))
        return common::MakeError(common::ErrorCode::kInternal, "sqlite: statement too long");
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
        auto err = LastError(db, std::string("prepare ") + std::string(what));
        sqlite3_finalize(stmt);
        return err;
    }
    return Stmt(db, stmt, what);
}

Stmt::Stmt(Stmt&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      what_(std::move(other.what_)),
      bind_rc_(other.bind_rc_),
      bind_index_(other.bind_index_) {}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(stmt_);
        db_ = std::exchange(other.db_, nullptr);
        stmt_ = std::exchange(other.stmt_, nullptr);
        what_ = std::move(other.what_);
        bind_rc_ = other.bind_rc_;
        bind_index_ = other.bind_index_;
    }
    return *this;
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

namespace {

// sqlite3_bind_text with a null pointer binds NULL, so an empty view needs a real pointer.
const char* NonNullData(std::string_view value) {
    return value.data() != nullptr ? value.data() : "";
}

}  // namespace

void Stmt::NoteBind(int index, int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) {
        bind_rc_ = rc;
        bind_index_ = index;
    }
}

void Stmt::BindTextAs(int index, std::string_view value, sqlite3_destructor_type lifetime) {
    if (value.size() > static_cast<std::size_t>(INT_MAX)) {
        NoteBind(index, SQLITE_TOOBIG);
        return;
    }
    NoteBind(index, sqlite3_bind_text(stmt_, index, NonNullData(value),
                                      static_cast<int>(value.size()), lifetime));
}

void Stmt::BindText(int index, std::string_view value) {
    BindTextAs(index, value, SQLITE_TRANSIENT);
}

void Stmt::BindTextView(int index, std::string_view value) {
    BindTextAs(index, value, SQLITE_STATIC);
}

void Stmt::ClearBindings() { sqlite3_clear_bindings(stmt_); }

void Stmt::BindTextOrNull(int index, std::string_view value) {
    if (value.empty()) {
        BindNull(index);
    } else {
        BindText(index, value);
    }
}

void Stmt::BindInt(int index, std::int64_t value) {
    NoteBind(index, sqlite3_bind_int64(stmt_, index, value));
}

void Stmt::BindDouble(int index, double value) {
    NoteBind(index, sqlite3_bind_double(stmt_, index, value));
}

void Stmt::BindNull(int index) { NoteBind(index, sqlite3_bind_null(stmt_, index)); }

void Stmt::BindOptDouble(int index, const std::optional<double>& value) {
    if (value) {
        BindDouble(index, *value);
    } else {
        BindNull(index);
    }
}

void Stmt::BindOptBool(int index, const std::optional<bool>& value) {
    if (value) {
        BindInt(index, *value ? 1 : 0);
    } else {
        BindNull(index);
    }
}

void Stmt::BindOptText(int index, const std::optional<std::string>& value) {
    if (value) {
        BindText(index, *value);
    } else {
        BindNull(index);
    }
}

common::Result<bool> Stmt::Step() {
    if (bind_rc_ != SQLITE_OK) {
        return MakeStorageError(
            bind_rc_, what_,
            "bind parameter " + std::to_string(bind_index_) + ": " + sqlite3_errstr(bind_rc_));
    }
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return LastError(db_, what_);
}

common::Status Stmt::Run() {
    auto row = Step();
    if (!row) return row.error();
    return {};
}

void Stmt::Reset() {
    sqlite3_reset(stmt_);  // its return code repeats the last Step() error, already reported
    sqlite3_clear_bindings(stmt_);
    bind_rc_ = SQLITE_OK;
    bind_index_ = 0;
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::string Stmt::Text(int col) const {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<std::string> Stmt::OptText(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
}

std::int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

double Stmt::Double(int col) const { return sqlite3_column_double(stmt_, col); }

std::optional<double> Stmt::OptDouble(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Double(col);
}

std::optional<bool> Stmt::OptBool(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col) != 0;
}

// --- Transaction ---

common::Result<Transaction> Transaction::Begin(sqlite3* db) {
    if (auto s = Exec(db, "BEGIN IMMEDIATE", "begin transaction"); !s) return s.error();
    return Transaction(db);
}

common::Result<Transaction> Transaction::BeginRead(sqlite3* db) {
    if (auto s = Exec(db, "BEGIN DEFERRED", "begin read transaction"); !s) return s.error();
    return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
    // Some errors (SQLITE_FULL, IOERR, ...) already rolled back; then autocommit is on.
    if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

common::Status Transaction::Commit() {
    if (db_ == nullptr)
        return common::MakeError(common::ErrorCode::kInternal, "sqlite: commit: no transaction");
    if (auto s = Exec(db_, "COMMIT", "commit"); !s) return s;  // still open: rolled back later
    db_ = nullptr;
    return {};
}

}  // namespace aragora::storage::sqlite
