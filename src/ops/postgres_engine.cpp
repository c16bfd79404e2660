#include "ops/postgres_engine.hpp"

#include <time.h>

#include <utility>
#include <vector>

#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/postgres/pg_store.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
constexpr std::size_t kMaxDatabaseName = 63;

std::string UtcStamp(std::chrono::system_clock::time_point t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

// "<name>.pre-restore-<UTC>", the name shortened (never a UTF-8 sequence cut) to fit.
std::string KeptName(const std::string& name, std::chrono::system_clock::time_point now) {
    const std::string suffix = ".pre-restore-" + UtcStamp(now);
    std::string base = name;
    if (base.size() + suffix.size() > kMaxDatabaseName) {
        base.resize(kMaxDatabaseName - suffix.size());
        while (!base.empty() && (static_cast<unsigned char>(base.back()) & 0xC0) == 0x80) {
            base.pop_back();
        }
        if (!base.empty() && (static_cast<unsigned char>(base.back()) & 0x80) != 0) {
            base.pop_back();  // the lead byte of the cut sequence
        }
    }
    return base + suffix;
}

class PgScratch final : public ScratchDatabase {
public:
    PgScratch(PgScratchDatabase db, std::shared_ptr<storage::PgPool> pool,
              std::unique_ptr<storage::Store> store, std::chrono::seconds timeout)
        : db_(std::move(db)), pool_(std::move(pool)), store_(std::move(store)), timeout_(timeout) {}
    // Members go in reverse order: the store and its connections, then the database.

    storage::Store& store() override { return *store_; }
    common::Result<DbInspection> Inspect() override {
        return InspectPg(db_.dsn(), std::chrono::steady_clock::now() + timeout_);
    }
    std::string Location() const override { return db_.name(); }

private:
    PgScratchDatabase db_;
    std::shared_ptr<storage::PgPool> pool_;
    std::unique_ptr<storage::Store> store_;
    std::chrono::seconds timeout_;
};

class PostgresBackupEngine final : public BackupEngine {
public:
    explicit PostgresBackupEngine(PostgresBackupOptions options)
        : options_(std::move(options)), redacted_(storage::RedactPgDsn(options_.dsn)) {
        if (auto target = ParsePgTarget(options_.dsn)) dbname_ = target->dbname;
    }

    std::string Kind() const override { return "postgresql"; }
    std::string SourceLocation() const override { return redacted_; }
    std::string FileStem() const override {
        std::string stem;
        for (char c : dbname_) {
            const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
            stem += safe ? c : '_';
        }
        return stem.empty() || stem.front() == '.' ? "postgres" + stem : stem;
    }
    std::string SnapshotSuffix() const override { return ".dump"; }

    common::Result<SnapshotInfo> Snapshot(const fs::path& out,
                                          const ProgressFn& progress) override {
        PgDumpOptions dump_options;
        dump_options.tools = options_.tools;
        dump_options.inspect = true;
        if (progress) {
            dump_options.on_progress = [&](std::uint64_t bytes) { progress("snapshot", bytes, 0); };
        }
        auto dump = PgDump(options_.dsn, out, NewDeadline(), dump_options);
        if (!dump) return dump.error();
        SnapshotInfo info;
        info.source_size_bytes = dump->database_size_bytes;
        info.snapshot_size_bytes = dump->size_bytes;
        info.inspection = std::move(*dump->inspection);
        info.schema_version = dump->schema_version;
        return info;
    }

    common::Result<DbInspection> Inspect() override {
        return InspectPg(options_.dsn, NewDeadline());
    }

    common::Result<std::unique_ptr<ScratchDatabase>> RestoreScratch(
        const fs::path& snapshot, const fs::path& scratch_dir,
        const ProgressFn& progress) override {
        (void)scratch_dir;  // pg_restore reads the snapshot in place; nothing to unpack
        const Deadline deadline = NewDeadline();
        // Not a dump of ours: kValidation before a database is created.
        if (auto archive = ReadPgArchive(snapshot, deadline, options_.tools); !archive) {
            return archive.error();
        }
        auto db = PgScratchDatabase::Create(options_.dsn, deadline);
        if (!db) return db.error();
        if (progress) progress("restore", 0, 0);
        if (auto s = PgRestore(snapshot, db->dsn(), deadline, options_.tools); !s) {
            return s.error();  // `db` drops the scratch database
        }
        if (progress) progress("restore", 1, 1);
        // Opened as serve would read it, but without refusing an older schema version:
        // verification of an old backup reads what it can and reports the rest.
        storage::PgPoolOptions pool_options;
        pool_options.dsn = db->dsn();
        pool_options.pool_size = 2;
        pool_options.max_overflow = 2;
        auto pool = storage::PgPool::Create(pool_options);
        if (!pool) return pool.error();
        auto store = storage::MakePgStore(*pool);
        return std::unique_ptr<ScratchDatabase>(
            new PgScratch(std::move(*db), std::move(*pool), std::move(store), options_.timeout));
    }

    common::Result<RestoreOutcome> RestoreInto(const fs::path& snapshot,
                                               const RestoreTarget& target,
                                               const ProgressFn& progress) override {
        const Deadline deadline = NewDeadline();
        auto target_dsn = ResolveTarget(target.location);
        if (!target_dsn) return target_dsn.error();
        auto parsed = ParsePgTarget(*target_dsn);
        if (!parsed) return parsed.error();
        const std::string name = parsed->dbname;
        if (name.empty()) {
            return MakeError(ErrorCode::kValidation,
                             "the restore target " + parsed->redacted + " names no database");
        }
        if (name.size() > kMaxDatabaseName || name.find('\0') != std::string::npos) {
            return MakeError(ErrorCode::kValidation,
                             "database name \"" + name + "\" is longer than 63 bytes");
        }
        if (IsPgScratchName(name)) {
            return MakeError(ErrorCode::kValidation,
                             "\"" + name + "\" is a scratch database name of aragora itself");
        }
        if (auto archive = ReadPgArchive(snapshot, deadline, options_.tools); !archive) {
            return archive.error();
        }

        // A database anything is connected to is live: a running server (its pool keeps
        // connections), a worker, an operator's psql. Refused even with --force.
        auto sessions = PgDatabaseSessions(*target_dsn, name, deadline);
        if (!sessions) return sessions.error();
        if (!sessions->empty()) {
            std::string list;
            for (const auto& s : *sessions) list += (list.empty() ? "" : ", ") + s;
            return MakeError(ErrorCode::kConflict,
                             "database \"" + name + "\" is in use (" + list +
                                 "): stop the server and workers using it before restoring "
                                 "into it");
        }
        auto exists = PgDatabaseExists(*target_dsn, name, deadline);
        if (!exists) return exists.error();
        const std::string kept = *exists ? KeptName(name, target.now) : "";
        if (*exists && !target.force) {
            return MakeError(ErrorCode::kConflict,
                             "database \"" + name +
                                 "\" already exists: restore with --force to replace it (it is "
                                 "kept as \"" +
                                 kept + "\")");
        }
        if (!kept.empty()) {
            auto taken = PgDatabaseExists(*target_dsn, kept, deadline);
            if (!taken) return taken.error();
            if (*taken) {
                return MakeError(ErrorCode::kConflict, "database \"" + kept +
                                                           "\" already exists: try again in a "
                                                           "second");
            }
        }

        auto staging = PgScratchDatabase::Create(*target_dsn, deadline, kPgStagingPrefix);
        if (!staging) return staging.error();
        if (progress) progress("restore", 0, 0);
        if (auto s = PgRestore(snapshot, staging->dsn(), deadline, options_.tools); !s) {
            return s.error();  // the staging database is dropped; the target never changed
        }
        std::vector<std::pair<std::string, std::string>> renames;
        if (!kept.empty()) renames.emplace_back(name, kept);
        renames.emplace_back(staging->name(), name);
        if (auto s = PgRenameDatabases(*target_dsn, renames, deadline); !s) return s.error();
        staging->Release();
        if (progress) progress("restore", 1, 1);
        return RestoreOutcome{name, kept};
    }

private:
    Deadline NewDeadline() const { return std::chrono::steady_clock::now() + options_.timeout; }

    // "" or the source location: the configured database. A URL or "key=value" string: that
    // DSN (its own credentials). Anything else: a database of that name on the configured
    // server.
    common::Result<std::string> ResolveTarget(const std::string& location) const {
        if (location.empty() || location == redacted_) return options_.dsn;
        if (location.find("://") != std::string::npos || location.find('=') != std::string::npos) {
            return storage::BuildPgDsn(location, "");
        }
        return PgDsnForDatabase(options_.dsn, location);
    }

    PostgresBackupOptions options_;
    std::string redacted_;
    std::string dbname_;
};

}  // namespace

std::shared_ptr<BackupEngine> MakePostgresBackupEngine(PostgresBackupOptions options) {
    return std::make_shared<PostgresBackupEngine>(std::move(options));
}

}  // namespace aragora::ops
