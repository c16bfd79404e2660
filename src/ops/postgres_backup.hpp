#pragma once

// PostgreSQL backups with the server's own client tools: `pg_dump -Fc` of the configured
// database (pg_dump takes one consistent snapshot by itself: everything a transaction
// committed before the snapshot is in the dump, nothing of a later one), `pg_restore` into
// a target database, scratch databases for verification, and the catalog-level inspection
// that backup creation records and verification compares (ops::DbInspection).
//
// Every function blocks (run it off the I/O threads) until its deadline at the latest: a
// client tool still running then is killed (SIGTERM, then SIGKILL), a connection whose
// server stops answering is cut. The password never appears on a command line, in an
// error message or in a log: the tools get it as PGPASSWORD in their own environment (the
// rest of this process's environment, PG* variables included, is passed on, so that they
// reach the server exactly as this process's own libpq does). Errors are one line.
//
// `dsn` arguments are connection strings as storage::BuildPgDsn returns them (URL or libpq
// keywords, password already merged in).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "ops/db_inspection.hpp"

namespace aragora::ops {

using Deadline = std::chrono::steady_clock::time_point;

// The client tools: a path, or a bare name looked up in PATH.
struct PgTools {
    std::string pg_dump = "pg_dump";
    std::string pg_restore = "pg_restore";
};

// --- Connection strings

// A DSN taken apart for a client tool. kValidation when libpq cannot parse it.
struct PgTarget {
    std::string conninfo;  // libpq keywords, no password: safe on a command line
    std::string password;  // "" when the DSN has none
    std::string dbname;    // "" = libpq's default (the user name)
    std::string redacted;  // for messages
};
common::Result<PgTarget> ParsePgTarget(std::string_view dsn);

// The same server, user and password, database `dbname` (libpq keyword form).
common::Result<std::string> PgDsnForDatabase(std::string_view dsn, std::string_view dbname);

// --- Versions (as server_version_num: 15.18 → 150018, 9.6.24 → 90624)

// The first version number in `text`: "15.18", "16beta2", "9.6.24" or
// "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". kValidation when there is none.
common::Result<int> ParsePgVersion(std::string_view text);
// "15.18", "9.6.24".
std::string PgVersionText(int version_num);
// Whether this pg_dump can dump that server: a pg_dump older (by major version) than the
// server refuses it, and one of 15 or newer does not dump servers before 9.2. Otherwise
// kUnavailable, one line naming both versions and what to install, e.g. "pg_dump 15.18 is
// older than the PostgreSQL 16.2 server it must dump: install the PostgreSQL 16 client
// tools (Debian: apt install postgresql-client-16) and put that pg_dump first in PATH".
common::Status CheckPgDumpVersion(int pg_dump_version, int server_version);

// `tool --version`, parsed. kNotFound (with what to install) when it cannot be run.
common::Result<int> PgToolVersion(const std::string& tool, Deadline deadline);
// The server's server_version_num (a connection, no query). kUnavailable (redacted DSN and
// libpq's reason) when it cannot be reached, kNotFound when the database does not exist,
// kTimeout when it does not answer in time.
common::Result<int> PgServerVersion(std::string_view dsn, Deadline deadline);

// --- Dump and restore

struct PgDumpOptions {
    PgTools tools;
    // Also inspect the database (InspectPg) in the very snapshot pg_dump dumps, and read
    // its size and schema version there.
    bool inspect = false;
    // Bytes of the dump written so far, about twice a second while pg_dump runs (on the
    // calling thread); may be empty.
    std::function<void(std::uint64_t bytes)> on_progress;
};

struct PgDumpInfo {
    std::filesystem::path path;
    std::uint64_t size_bytes = 0;
    std::string dbname;
    int server_version = 0;
    int pg_dump_version = 0;
    // With PgDumpOptions::inspect, all from the dumped snapshot: the inspection (problems
    // checked), pg_database_size, the highest schema_migrations version (0 when none).
    std::optional<DbInspection> inspection;
    std::uint64_t database_size_bytes = 0;
    int schema_version = 0;
};

// Writes `pg_dump --format=custom` of the DSN's database to `out`. One connection opens a
// REPEATABLE READ transaction, exports its snapshot (pg_export_snapshot) and keeps it open
// while pg_dump dumps exactly that snapshot (--snapshot) and, when asked, the inspection
// reads it. Checks the versions first (CheckPgDumpVersion); dumps into a fresh temporary
// file beside `out` (mode 0600), fsyncs it, renames it over `out` and fsyncs the
// directory; on any failure the temporary file is removed and `out` is untouched. Every
// schema of the database is dumped (owners and privileges are recorded; PgRestore leaves
// them out). Writers are not blocked (pg_dump's ACCESS SHARE locks only wait for DDL, at
// most until the deadline). Errors: the versions (kUnavailable), the server
// (kUnavailable; kNotFound: no such database), pg_dump not runnable (kNotFound), pg_dump failing
// (kStorage "pg_dump failed (exit N): <its error line>"), the deadline (kTimeout), the file system
// (kInternal).
common::Result<PgDumpInfo> PgDump(std::string_view dsn, const std::filesystem::path& out,
                                  Deadline deadline, const PgDumpOptions& options = {});

// What `pg_restore --list` says of an archive (also a check that it is one).
struct PgArchiveInfo {
    std::string dbname;            // the database it was dumped from
    std::string server_version;    // "15.18 (Debian ...)" as recorded
    std::string pg_dump_version;   // likewise
    std::int64_t toc_entries = 0;  // objects listed
    std::int64_t table_data = 0;   // of which TABLE DATA entries
};
// kValidation "<path> is not a pg_dump custom-format archive: ..." for anything else;
// kUnavailable when pg_restore is too old for the archive (one line saying so).
common::Result<PgArchiveInfo> ReadPgArchive(const std::filesystem::path& dump, Deadline deadline,
                                            const PgTools& tools = {});

// `pg_restore --no-owner --no-privileges --exit-on-error --single-transaction` of `dump`
// into the (existing, empty) database the DSN names: all of it or, on any error, nothing.
// Refuses (kUnavailable, one line) an archive taken from a newer major version than the
// target server. Errors as PgDump's ("pg_restore failed (exit 1): <its error line>").
common::Status PgRestore(const std::filesystem::path& dump, std::string_view target_dsn,
                         Deadline deadline, const PgTools& tools = {});

// --- Scratch databases (verification restores into one, then drops it; a restore into a
// target database restores into one first and renames it into place)

inline constexpr std::string_view kPgScratchPrefix = "aragora_verify_";
inline constexpr std::string_view kPgStagingPrefix = "aragora_restoring_";
// One of the two prefixes + 12 lowercase hex characters: the only names
// DropPgScratchDatabase drops.
bool IsPgScratchName(std::string_view name);

// A database created on the server a DSN names and dropped (WITH FORCE) when this object
// is destroyed or Drop() is called, whatever happened in between. Movable, not copyable.
class PgScratchDatabase {
public:
    // Creates `prefix` (kPgScratchPrefix or kPgStagingPrefix) + <12 random hex> from
    // template0 with the encoding and locale of the database it connects to: the DSN's,
    // or when that cannot be reached `postgres`, then `template1` (a restore after the
    // configured database was lost). Needs the CREATEDB privilege (kStorage naming it).
    static common::Result<PgScratchDatabase> Create(std::string_view server_dsn, Deadline deadline,
                                                    std::string_view prefix = kPgScratchPrefix);

    PgScratchDatabase(PgScratchDatabase&& other) noexcept;
    PgScratchDatabase& operator=(PgScratchDatabase&& other) noexcept;
    PgScratchDatabase(const PgScratchDatabase&) = delete;
    PgScratchDatabase& operator=(const PgScratchDatabase&) = delete;
    // Drops it (30 s at most) unless dropped or released; a failure is logged.
    ~PgScratchDatabase();

    const std::string& name() const { return name_; }
    // The scratch database's DSN (with the password; for libpq and storage::PgStore).
    const std::string& dsn() const { return dsn_; }
    // Drops it now; idempotent.
    common::Status Drop(Deadline deadline);
    // Gives it up: it is not dropped any more (it was renamed into place).
    void Release() { dropped_ = true; }

private:
    PgScratchDatabase(std::string server_dsn, std::string name, std::string dsn);
    std::string server_dsn_;
    std::string name_;
    std::string dsn_;
    bool dropped_ = true;
};

// DROP DATABASE IF EXISTS `name` WITH (FORCE) (sessions terminated first on servers before
// 13), connected to another database of `server_dsn`'s server. A name IsPgScratchName
// refuses is kForbidden and nothing is dropped.
common::Status DropPgScratchDatabase(std::string_view server_dsn, std::string_view name,
                                     Deadline deadline);

// --- Databases of a server (connected to another database of the server `server_dsn`
// names: its own, else `postgres`, else `template1`)

// Whether database `name` exists.
common::Result<bool> PgDatabaseExists(std::string_view server_dsn, std::string_view name,
                                      Deadline deadline);
// The sessions connected to database `name`, one readable item each
// ("pid 4711 aragora-serve from 10.0.0.5"); empty when none.
common::Result<std::vector<std::string>> PgDatabaseSessions(std::string_view server_dsn,
                                                            std::string_view name,
                                                            Deadline deadline);
// ALTER DATABASE ... RENAME TO ... for each pair in order, in one transaction: all or
// none. A database with sessions cannot be renamed (kStorage, the server's reason).
common::Status PgRenameDatabases(std::string_view server_dsn,
                                 const std::vector<std::pair<std::string, std::string>>& renames,
                                 Deadline deadline);

// --- Inspection

// The database's user tables in its current schema (search_path's first; `public` by
// default), read in one REPEATABLE READ READ ONLY transaction:
// - rows: the number of rows;
// - checksum: SHA-256 hex over each row's text, rows in primary-key order (every column of
//   the key ascending; tables without one: by the row's text, byte order). A row's text is
//   its columns in ordinal order, each as PostgreSQL's text output (`col::text` with
//   DateStyle ISO, TimeZone UTC, extra_float_digits 1, bytea_output hex, IntervalStyle
//   postgres), NULL as "", joined by '|'; the texts are hashed one after another with
//   nothing between them (streamed through a cursor: bounded memory for any table);
// - schema_hash: SHA-256 hex of, per table sorted by name, "TABLE:<t>\n", then per column
//   sorted by name "  COL:<name>:<format_type>:<not null 1|0>:<position in the primary key,
//   0 = none>\n", then the sorted foreign-key columns "  FK:<col>-><table>.<col>\n", then
//   per index sorted by name "  IDX:<name>:<key columns>:<unique 1|0>:<pg_get_indexdef>\n";
// - foreign_keys [table, column, referenced table, referenced column] and indexes [name,
//   table, "col1,col2"] (an expression key as pg_get_indexdef prints it), sorted;
// - problems: rows violating a foreign key (an anti-join per constraint, MATCH SIMPLE: a
//   key with a NULL column is not checked) and NULLs in NOT NULL columns, one line each
//   naming the table, the constraint or column, and how many rows.
// kUnavailable / kTimeout as PgServerVersion; kStorage for a failing query.
common::Result<DbInspection> InspectPg(std::string_view dsn, Deadline deadline);

}  // namespace aragora::ops
