#include "ops/sqlite_backup.hpp"

#include <sqlite3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <system_error>

#include "common/crypto.hpp"
#include "ops/file_stream.hpp"
#include "ops/sqlite_inspect.hpp"
#include "storage/database_lock.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;
using storage::sqlite::DbHandle;
using storage::sqlite::Exec;
using storage::sqlite::LastError;
using storage::sqlite::OpenDb;

constexpr std::string_view kSqliteMagic{"SQLite format 3\0", 16};

common::Status CheckIsSqlite(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    char head[16] = {};
    if (!in.read(head, sizeof head) || std::string_view(head, sizeof head) != kSqliteMagic) {
        return MakeError(ErrorCode::kValidation,
                         path.string() + " is not an SQLite database snapshot");
    }
    return {};
}

// "20270115T020000Z"
std::string CompactUtc(std::chrono::system_clock::time_point tp) {
    const std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

// The database and the files SQLite keeps beside it.
std::vector<fs::path> DbFiles(const fs::path& db) {
    return {db, fs::path(db.string() + "-wal"), fs::path(db.string() + "-shm")};
}

void RemoveDbFiles(const fs::path& db) {
    std::error_code ec;
    for (const auto& f : DbFiles(db)) fs::remove(f, ec);
}

class SqliteScratch final : public ScratchDatabase {
public:
    explicit SqliteScratch(fs::path path) : path_(std::move(path)) {}
    ~SqliteScratch() override {
        store_.reset();
        RemoveDbFiles(path_);
    }

    storage::Store& store() override {
        // Opened on first use, after Inspect() has seen the snapshot as it was: a snapshot
        // of an older schema is migrated so that the current code reads it.
        if (!store_) {
            auto opened = storage::OpenSqliteStore(storage::SqliteOptions{path_.string()}, true);
            if (!opened) {
                open_error_ = opened.error();
                store_ = std::make_unique<FailingStore>(*open_error_);
            } else {
                store_ = std::move(*opened);
            }
        }
        return *store_;
    }

    common::Result<DbInspection> Inspect() override {
        auto db = OpenDb(path_.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, 5000);
        if (!db) return db.error();
        return sqlite_backup::InspectDb(db->get(), true);
    }

    std::string Location() const override { return path_.string(); }

private:
    // A store whose every read answers the open error, so that the verifier reports it
    // as one failure instead of crashing.
    class FailingStore final : public storage::Store {
    public:
        explicit FailingStore(common::Error e) : e_(std::move(e)) {}
        common::Status CreateDebate(const storage::DebateRecord&) override { return e_; }
        common::Result<storage::DebateRecord> GetDebate(const std::string&) override { return e_; }
        common::Result<storage::DebatePage> ListDebates(const storage::DebateFilter&) override {
            return e_;
        }
        common::Status UpdateDebateStatus(const std::string&, events::DebateStatus,
                                          const std::string&) override {
            return e_;
        }
        common::Result<std::optional<storage::ReceiptRecord>> FinishDebate(
            const storage::DebateRecord&, const std::vector<events::Event>&,
            const storage::ReceiptBuilder*) override {
            return e_;
        }
        common::Result<int> MarkInterrupted(const std::string&) override { return e_; }
        common::Status AppendEvents(const std::vector<events::Event>&) override { return e_; }
        common::Result<std::vector<events::Event>> ListEvents(const std::string&, std::int64_t,
                                                              int) override {
            return e_;
        }
        common::Result<storage::ReceiptRecord> GetReceipt(const std::string&) override {
            return e_;
        }
        common::Result<storage::ReceiptPage> ListReceipts(const std::string&, int, int) override {
            return e_;
        }
        common::Result<std::optional<std::string>> LastReceiptHash() override { return e_; }
        common::Result<std::vector<storage::ReceiptChainEntry>> ListReceiptChain(std::int64_t,
                                                                                 int) override {
            return e_;
        }
        common::Status Ping() override { return e_; }

    private:
        common::Error e_;
    };

    fs::path path_;
    std::unique_ptr<storage::Store> store_;
    std::optional<common::Error> open_error_;
};

class SqliteEngine final : public BackupEngine {
public:
    explicit SqliteEngine(SqliteBackupOptions options) : options_(std::move(options)) {}

    std::string Kind() const override { return "sqlite"; }
    std::string SourceLocation() const override { return options_.database_path; }
    std::string FileStem() const override {
        std::string stem = fs::path(options_.database_path).stem().string();
        return stem.empty() ? "aragora" : stem;
    }
    std::string SnapshotSuffix() const override { return ".db"; }

    common::Result<SnapshotInfo> Snapshot(const fs::path& out, const ProgressFn& progress) override;
    common::Result<DbInspection> Inspect() override;
    common::Result<std::unique_ptr<ScratchDatabase>> RestoreScratch(
        const fs::path& snapshot, const fs::path& scratch_dir, const ProgressFn& progress) override;
    common::Result<RestoreOutcome> RestoreInto(const fs::path& snapshot,
                                               const RestoreTarget& target,
                                               const ProgressFn& progress) override;

private:
    common::Result<DbHandle> OpenSource() const {
        std::error_code ec;
        if (!fs::exists(options_.database_path, ec)) {
            return MakeError(ErrorCode::kNotFound,
                             "database " + options_.database_path + " does not exist");
        }
        return OpenDb(options_.database_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      options_.busy_timeout_ms);
    }

    SqliteBackupOptions options_;
};

// Ends the read transaction that pins the snapshot, whatever happens.
struct ReadTransaction {
    sqlite3* db;
    ~ReadTransaction() { sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr); }
};

struct BackupHandle {
    sqlite3_backup* p;
    ~BackupHandle() {
        if (p) sqlite3_backup_finish(p);
    }
};

common::Result<SnapshotInfo> SqliteEngine::Snapshot(const fs::path& out,
                                                    const ProgressFn& progress) {
    std::error_code ec;
    if (fs::exists(out, ec)) {
        return MakeError(ErrorCode::kInternal, "snapshot file " + out.string() + " already exists");
    }
    auto src = OpenSource();
    if (!src) return src.error();
    SnapshotInfo info;
    info.source_size_bytes = fs::file_size(options_.database_path, ec);

    // One read transaction for the whole copy: in WAL mode it pins one consistent view
    // that writers on other connections never wait for, and since the backup never
    // re-opens a transaction between steps it never sees their commits and never restarts.
    if (auto s = Exec(src->get(), "BEGIN", "begin snapshot"); !s) return s.error();
    ReadTransaction pin{src->get()};
    {
        auto start = storage::sqlite::Stmt::Prepare(
            src->get(), "SELECT COUNT(*) FROM sqlite_master", "start snapshot");
        if (!start) return start.error();
        if (auto row = start->Step(); !row) return row.error();
    }

    auto dst =
        OpenDb(out.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
               options_.busy_timeout_ms);
    if (!dst) return dst.error();
    BackupHandle backup{sqlite3_backup_init(dst->get(), "main", src->get(), "main")};
    if (backup.p == nullptr) return LastError(dst->get(), "start backup");
    for (;;) {
        const int rc = sqlite3_backup_step(backup.p, options_.pages_per_step);
        if (progress) {
            const int total = sqlite3_backup_pagecount(backup.p);
            const int left = sqlite3_backup_remaining(backup.p);
            progress("snapshot", static_cast<std::uint64_t>(total - left),
                     static_cast<std::uint64_t>(total));
        }
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_OK) {
            const int finish = sqlite3_backup_finish(backup.p);
            backup.p = nullptr;
            (void)finish;
            return MakeError(ErrorCode::kStorage,
                             std::string("sqlite: backup step: ") + sqlite3_errstr(rc));
        }
    }
    const int finish = sqlite3_backup_finish(backup.p);
    backup.p = nullptr;
    if (finish != SQLITE_OK) return LastError(dst->get(), "finish backup");

    // The copy is exact; inspecting it (not the live database) gives the snapshot's own
    // counts and checksums, and frees the source's view at once.
    sqlite3_exec(src->get(), "ROLLBACK", nullptr, nullptr, nullptr);
    // A standalone file: no -wal beside it (the source's WAL flag is copied with page 1).
    if (auto s = Exec(dst->get(), "PRAGMA journal_mode=DELETE", "snapshot journal"); !s)
        return s.error();
    auto inspection = sqlite_backup::InspectDb(dst->get(), false);
    if (!inspection) return inspection.error();
    info.inspection = std::move(*inspection);
    auto version = sqlite_backup::ReadSchemaVersion(dst->get());
    if (!version) return version.error();
    info.schema_version = *version;
    dst->reset();
    info.snapshot_size_bytes = fs::file_size(out, ec);
    return info;
}

common::Result<DbInspection> SqliteEngine::Inspect() {
    auto src = OpenSource();
    if (!src) return src.error();
    if (auto s = Exec(src->get(), "BEGIN", "begin inspection"); !s) return s.error();
    ReadTransaction pin{src->get()};
    return sqlite_backup::InspectDb(src->get(), true);
}

common::Status CopyFile(const fs::path& from, AtomicFileWriter& to, const ProgressFn& progress) {
    return ReadFileTo(
        from, [&](std::string_view d) { return to.Write(d); }, progress, "restore");
}

common::Result<std::unique_ptr<ScratchDatabase>> SqliteEngine::RestoreScratch(
    const fs::path& snapshot, const fs::path& scratch_dir, const ProgressFn& progress) {
    if (auto s = CheckIsSqlite(snapshot); !s) return s.error();
    std::error_code ec;
    fs::create_directories(scratch_dir, ec);
    const fs::path path =
        scratch_dir / ("scratch-" + common::HexEncode(common::RandomBytes(6)) + ".sqlite3");
    // The snapshot is the caller's temporary file: moved when it can be, else copied.
    if (::rename(snapshot.c_str(), path.c_str()) != 0) {
        auto writer = AtomicFileWriter::Create(path);
        if (!writer) return writer.error();
        if (auto s = CopyFile(snapshot, **writer, progress); !s) return s.error();
        if (auto s = (*writer)->Commit(); !s) return s.error();
    }
    return std::unique_ptr<ScratchDatabase>(std::make_unique<SqliteScratch>(path));
}

common::Result<RestoreOutcome> SqliteEngine::RestoreInto(const fs::path& snapshot,
                                                         const RestoreTarget& target,
                                                         const ProgressFn& progress) {
    if (auto s = storage::sqlite::ValidateDbPath(target.location); !s) return s.error();
    if (auto s = CheckIsSqlite(snapshot); !s) return s.error();
    const fs::path db = fs::absolute(target.location);
    std::error_code ec;
    fs::create_directories(db.parent_path(), ec);
    if (ec) {
        return MakeError(ErrorCode::kInternal,
                         "cannot create " + db.parent_path().string() + ": " + ec.message());
    }
    // The lock `serve` and `worker` hold on this database for their life: refused while one
    // runs on it, and held while the file is replaced so that none starts on a half one.
    auto lock = storage::DatabaseLock::Acquire(db.string() + ".lock", db.string());
    if (!lock) {
        common::Error e = lock.error();
        if (e.code == ErrorCode::kConflict)
            e.message += "; stop it first or restore to another path";
        return e;
    }

    bool exists = false;
    for (const auto& f : DbFiles(db)) exists = exists || fs::exists(f, ec);
    if (exists && !target.force) {
        return MakeError(ErrorCode::kConflict,
                         db.string() + " exists; use --force to replace it (it is kept as " +
                             db.filename().string() + ".pre-restore-<UTC>)");
    }
    auto writer = AtomicFileWriter::Create(db, 0640);
    if (!writer) return writer.error();
    if (auto s = CopyFile(snapshot, **writer, progress); !s) return s.error();

    RestoreOutcome outcome;
    outcome.target = db.string();
    // Moved aside (never deleted), and moved back if the new file cannot take its place.
    std::vector<std::pair<fs::path, fs::path>> moved;
    auto put_back = [&] {
        for (auto it = moved.rbegin(); it != moved.rend(); ++it)
            ::rename(it->second.c_str(), it->first.c_str());
    };
    if (exists) {
        std::string kept = db.string() + ".pre-restore-" + CompactUtc(target.now);
        for (int n = 1; fs::exists(kept, ec); ++n) {
            kept = db.string() + ".pre-restore-" + CompactUtc(target.now) + "-" + std::to_string(n);
        }
        const auto files = DbFiles(db);
        const std::vector<std::string> suffixes = {"", "-wal", "-shm"};
        for (std::size_t i = 0; i < files.size(); ++i) {
            if (!fs::exists(files[i], ec)) continue;
            const fs::path to = kept + suffixes[i];
            if (::rename(files[i].c_str(), to.c_str()) != 0) {
                const int err = errno;
                put_back();
                return MakeError(ErrorCode::kInternal, "cannot keep " + files[i].string() + " as " +
                                                           to.string() + ": " + std::strerror(err));
            }
            moved.emplace_back(files[i], to);
        }
        outcome.kept_previous = kept;
    }
    if (auto s = (*writer)->Commit(); !s) {
        put_back();
        return s.error();
    }
    return outcome;
}

}  // namespace

std::shared_ptr<BackupEngine> MakeSqliteBackupEngine(SqliteBackupOptions options) {
    return std::make_shared<SqliteEngine>(std::move(options));
}

common::Result<DbInspection> InspectSqliteFile(const fs::path& path, bool check_problems) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return MakeError(ErrorCode::kNotFound, "database " + path.string() + " does not exist");
    }
    auto db = OpenDb(path.string(), SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, 5000);
    if (!db) return db.error();
    if (auto s = Exec(db->get(), "BEGIN", "begin inspection"); !s) return s.error();
    ReadTransaction pin{db->get()};
    return sqlite_backup::InspectDb(db->get(), check_problems);
}

}  // namespace aragora::ops
