#include "ops/postgres_backup.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <thread>
#include <utility>
#include <vector>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"
#include "ops/subprocess.hpp"
#include "storage/postgres/pg_dsn.hpp"
#include "storage/postgres/pg_pool.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using common::ErrorCode;
using common::MakeError;

constexpr const char* kInstallHint =
    "install the PostgreSQL client tools (Debian: apt install postgresql-client) or put them "
    "in PATH";

// --- connection strings

struct Conninfo {
    std::vector<std::pair<std::string, std::string>> items;

    const std::string* Get(std::string_view key) const {
        for (const auto& [k, v] : items) {
            if (k == key) return &v;
        }
        return nullptr;
    }
    void Set(std::string_view key, std::string value) {
        for (auto& [k, v] : items) {
            if (k == key) {
                v = std::move(value);
                return;
            }
        }
        items.emplace_back(std::string(key), std::move(value));
    }
    void Erase(std::string_view key) {
        std::erase_if(items, [&](const auto& kv) { return kv.first == key; });
    }
    std::string Join() const {
        std::string out;
        for (const auto& [k, v] : items) {
            if (!out.empty()) out += ' ';
            out += k + "='";
            for (char c : v) {
                if (c == '\'' || c == '\\') out += '\\';
                out += c;
            }
            out += '\'';
        }
        return out;
    }
};

// libpq's own parser (URL or keywords), so that every form libpq accepts is understood
// alike. Its message is not passed on: it may quote the password.
common::Result<Conninfo> ParseConninfo(std::string_view dsn) {
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(std::string(dsn).c_str(), &err);
    if (options == nullptr) {
        if (err != nullptr) PQfreemem(err);
        return MakeError(ErrorCode::kValidation,
                         "invalid PostgreSQL connection string " + storage::RedactPgDsn(dsn),
                         "dsn");
    }
    Conninfo out;
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val != nullptr && *o->val != '\0') out.items.emplace_back(o->keyword, o->val);
    }
    PQconninfoFree(options);
    return out;
}

// Whole seconds left, at least `floor`, at most a day (a far deadline is no deadline).
int SecondsLeft(Deadline deadline, int floor) {
    const auto left = std::chrono::ceil<std::chrono::seconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<std::int64_t>(left, floor, 86400));
}

// Milliseconds left for statement_timeout / lock_timeout: 1 when none are (the next
// statement fails at once), at most what PostgreSQL accepts (INT_MAX).
std::int64_t MillisLeft(Deadline deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return std::clamp<std::int64_t>(left, 1, 2147483647);
}

// One line from a multi-line message: whitespace runs become one space, lines are joined
// with "; ", a password is masked.
std::string OneLine(std::string_view text, std::string_view password = {}) {
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == '\n') {
            while (!out.empty() && out.back() == ' ') out.pop_back();
            if (!out.empty() && !out.ends_with(";")) out += ";";
            space = true;
        } else if (common::IsAsciiSpace(c)) {
            space = true;
        } else {
            if (space && !out.empty()) out += ' ';
            space = false;
            out += c;
        }
    }
    while (!out.empty() && (out.back() == ';' || out.back() == ' ')) out.pop_back();
    if (!password.empty()) {
        for (auto pos = out.find(password); pos != std::string::npos;
             pos = out.find(password, pos + 3)) {
            out.replace(pos, password.size(), "***");
        }
    }
    return out;
}

// The error of a client tool: its "error:" lines and their "detail:" lines, without the
// program prefix; else its last line.
std::string ToolErrorLine(std::string_view stderr_text, std::string_view password) {
    std::vector<std::string> picked;
    std::string last;
    for (std::string_view line : common::Split(stderr_text, '\n')) {
        line = common::Trim(line);
        if (line.empty()) continue;
        last = std::string(line);
        for (std::string_view tag : {"error: ", "detail: ", "FATAL: "}) {
            const auto pos = line.find(tag);
            if (pos != std::string_view::npos && picked.size() < 3) {
                std::string_view rest = line.substr(pos);
                if (rest.starts_with("error: ")) rest.remove_prefix(7);
                picked.emplace_back(rest);
                break;
            }
        }
    }
    if (picked.empty()) return last.empty() ? "(no message)" : OneLine(last, password);
    return OneLine(common::Join(picked, "; "), password);
}

std::vector<std::string> ToolEnvironment(const std::string& password) {
    // Messages in English (they are parsed and quoted); PG* variables stay, so that the
    // tools resolve a connection exactly like this process's own libpq does.
    std::vector<std::string> extra = {"LC_MESSAGES=C"};
    if (!password.empty()) extra.push_back("PGPASSWORD=" + password);
    return InheritedEnvironment({"LC_ALL", "LANGUAGE"}, extra);
}

// --- connections with a deadline

// Cuts a connection's socket at the deadline, so that a query to a server that stopped
// answering (SIGSTOP, network gone) ends instead of waiting forever: libpq then reports a
// lost connection.
class ConnectionWatchdog {
public:
    ConnectionWatchdog(int sock, Deadline deadline) {
        if (sock < 0) return;
        thread_ = std::thread([this, sock, deadline] {
            std::unique_lock lock(mu_);
            if (!cv_.wait_until(lock, deadline, [this] { return done_; })) {
                fired_ = true;
                ::shutdown(sock, SHUT_RDWR);
            }
        });
    }
    ~ConnectionWatchdog() {
        {
            std::lock_guard lock(mu_);
            done_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }
    ConnectionWatchdog(const ConnectionWatchdog&) = delete;
    ConnectionWatchdog& operator=(const ConnectionWatchdog&) = delete;
    bool fired() {
        std::lock_guard lock(mu_);
        return fired_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    bool fired_ = false;
    std::thread thread_;
};

common::Result<std::unique_ptr<pqxx::connection>> Connect(std::string_view dsn, Deadline deadline) {
    auto info = ParseConninfo(dsn);
    if (!info) return info.error();
    const std::string redacted = storage::RedactPgDsn(dsn);
    if (Clock::now() >= deadline) {
        return MakeError(ErrorCode::kTimeout,
                         "no time left to connect to PostgreSQL at " + redacted);
    }
    // libpq's connect_timeout (2 s at least) bounds the whole connection start-up.
    const int left = SecondsLeft(deadline, 2);
    int timeout = left;
    if (const std::string* t = info->Get("connect_timeout")) {
        const int configured = std::atoi(t->c_str());
        if (configured > 0) timeout = std::min(configured, left);
    }
    info->Set("connect_timeout", std::to_string(std::max(timeout, 2)));
    if (info->Get("application_name") == nullptr) {
        info->Set("fallback_application_name", "aragora-backup");
    }
    try {
        return std::make_unique<pqxx::connection>(info->Join());
    } catch (const std::exception& e) {
        const std::string password = info->Get("password") ? *info->Get("password") : "";
        const std::string reason = OneLine(e.what(), password);
        if (reason.find("timeout expired") != std::string::npos) {
            return MakeError(ErrorCode::kTimeout, "PostgreSQL at " + redacted +
                                                      " did not answer within " +
                                                      std::to_string(timeout) + " s");
        }
        const bool no_database = reason.find("database \"") != std::string::npos &&
                                 reason.find("does not exist") != std::string::npos;
        return MakeError(no_database ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                         "cannot connect to PostgreSQL at " + redacted + ": " + reason);
    }
}

// A connection to the server `dsn` names, on a database other than those in `avoid` (a
// session on a database blocks its rename and drop): the DSN's own, else `postgres`, else
// `template1`. The first error when none can be reached.
common::Result<std::unique_ptr<pqxx::connection>> ConnectToServer(
    std::string_view dsn, const std::vector<std::string>& avoid, Deadline deadline) {
    auto own = ParseConninfo(dsn);
    if (!own) return own.error();
    const std::string* own_db = own->Get("dbname");
    std::vector<std::string> candidates;
    if (own_db != nullptr) candidates.push_back(*own_db);
    candidates.emplace_back("postgres");
    candidates.emplace_back("template1");
    std::optional<common::Error> first;
    for (const auto& db : candidates) {
        if (std::find(avoid.begin(), avoid.end(), db) != avoid.end()) continue;
        Conninfo c = *own;
        c.Set("dbname", db);
        auto conn = Connect(c.Join(), deadline);
        if (conn) return conn;
        if (conn.error().code == ErrorCode::kTimeout) return conn.error();
        if (!first) first = conn.error();
    }
    if (first) return *first;
    return MakeError(ErrorCode::kValidation, "no database to connect to on that server");
}

// Maps the exception being handled, as PgPool::Run does, except that a connection cut by
// the watchdog is the deadline.
common::Error CurrentError(std::string_view what, ConnectionWatchdog& watchdog) {
    bool broken = false;
    common::Error error = storage::PgCurrentError(what, &broken);
    if (watchdog.fired()) {
        return MakeError(ErrorCode::kTimeout, "PostgreSQL did not answer within the deadline (" +
                                                  std::string(what) + ")");
    }
    error.message = OneLine(error.message);
    return error;
}

// --- files

class TempFile {
public:
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    common::Status Create(const fs::path& beside) {
        const fs::path dir = beside.has_parent_path() ? beside.parent_path() : fs::path(".");
        std::string pattern = (dir / ("." + beside.filename().string() + ".tmp-XXXXXX")).string();
        fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
        if (fd_ < 0) {
            return MakeError(ErrorCode::kInternal, "cannot create a temporary file in " +
                                                       dir.string() + ": " + std::strerror(errno));
        }
        path_ = pattern;
        ::fchmod(fd_, 0600);
        return {};
    }
    int fd() const { return fd_; }
    // fsync, close, rename over `target`, fsync the directory.
    common::Status Commit(const fs::path& target) {
        if (::fsync(fd_) != 0) return Fail("fsync " + path_);
        if (::close(fd_) != 0) {
            fd_ = -1;
            return Fail("close " + path_);
        }
        fd_ = -1;
        if (::rename(path_.c_str(), target.c_str()) != 0)
            return Fail("rename to " + target.string());
        path_.clear();
        const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            const int rc = ::fsync(dfd);
            ::close(dfd);
            if (rc != 0) return Fail("fsync " + dir.string());
        }
        return {};
    }

private:
    common::Status Fail(const std::string& what) {
        return MakeError(ErrorCode::kInternal, what + ": " + std::strerror(errno));
    }
    int fd_ = -1;
    std::string path_;
};

// --- inspection helpers

class Sha256 {
public:
    Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(ctx_); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void Update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
    std::string HexDigest() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(ctx_, md, &len);
        return common::HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
    }

private:
    EVP_MD_CTX* ctx_;
};

struct ColumnInfo {
    std::string name;
    std::string type;
    bool not_null = false;
    int pk_position = 0;  // 1-based position in the primary key, 0 = not in it
};

struct ForeignKey {
    std::string name;
    std::string table;      // unqualified
    std::string ref_table;  // unqualified
    std::string table_sql;  // regclass text (quoted, qualified when needed)
    std::string ref_table_sql;
    std::vector<std::string> columns;
    std::vector<std::string> ref_columns;
};

struct IndexInfo {
    std::string name;
    std::string table;
    std::string columns;
    bool unique = false;
    std::string definition;
};

}  // namespace

namespace {

// The inspection, inside the caller's REPEATABLE READ transaction (pqxx exceptions
// propagate to the caller, which maps them).
common::Result<DbInspection> InspectIn(pqxx::transaction_base& tx, int server_version) {
    DbInspection out;
    out.kind = "postgresql";
    {
        // Fixed text forms, so that the checksums do not depend on session settings.
        tx.exec(
            "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL TimeZone = 'UTC'; "
            "SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = 'hex'; "
            "SET LOCAL IntervalStyle = 'postgres'");
        const pqxx::result schema =
            tx.exec("SELECT oid FROM pg_namespace WHERE nspname = current_schema()");
        if (schema.empty() || schema[0][0].is_null()) {
            return MakeError(ErrorCode::kStorage,
                             "the database has no current schema (check search_path)");
        }
        const std::string ns = schema[0][0].c_str();
        const std::string key_atts = server_version >= 110000 ? "x.indnkeyatts" : "x.indnatts";

        // Tables and their columns (ordinal order).
        std::map<std::string, std::vector<ColumnInfo>> columns;  // sorted by table name
        std::map<std::string, std::string> table_sql;            // regclass text
        for (const auto& row :
             tx.exec("SELECT c.relname, c.oid::regclass::text FROM pg_class c "
                     "WHERE c.relnamespace = " +
                     ns + " AND c.relkind IN ('r', 'p') AND NOT c.relispartition")) {
            columns[row[0].c_str()];
            table_sql[row[0].c_str()] = row[1].c_str();
        }
        for (const auto& row :
             tx.exec("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
                     "a.attnotnull, coalesce(array_position(pk.conkey, a.attnum), 0) "
                     "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                     "LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p' "
                     "WHERE c.relnamespace = " +
                     ns +
                     " AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                     "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum")) {
            ColumnInfo col;
            col.name = row[1].c_str();
            col.type = row[2].c_str();
            col.not_null = row[3].as<bool>();
            col.pk_position = row[4].as<int>();
            columns[row[0].c_str()].push_back(std::move(col));
        }

        // Foreign keys, their columns in key order.
        std::vector<ForeignKey> fks;
        for (const auto& row :
             tx.exec("SELECT con.conname, c.relname, rc.relname, con.conrelid::regclass::text, "
                     "con.confrelid::regclass::text, a.attname, ra.attname "
                     "FROM pg_constraint con "
                     "JOIN pg_class c ON c.oid = con.conrelid "
                     "JOIN pg_class rc ON rc.oid = con.confrelid "
                     "JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY "
                     "AS k(col, refcol, ord) ON true "
                     "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col "
                     "JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refcol "
                     "WHERE con.contype = 'f' AND c.relnamespace = " +
                     ns + " ORDER BY c.relname, con.conname, k.ord")) {
            if (fks.empty() || fks.back().name != row[0].c_str() ||
                fks.back().table != row[1].c_str()) {
                ForeignKey fk;
                fk.name = row[0].c_str();
                fk.table = row[1].c_str();
                fk.ref_table = row[2].c_str();
                fk.table_sql = row[3].c_str();
                fk.ref_table_sql = row[4].c_str();
                fks.push_back(std::move(fk));
            }
            fks.back().columns.emplace_back(row[5].c_str());
            fks.back().ref_columns.emplace_back(row[6].c_str());
        }

        // Indexes.
        std::vector<IndexInfo> indexes;
        for (const auto& row :
             tx.exec("SELECT i.relname, c.relname, x.indisunique, pg_get_indexdef(x.indexrelid), "
                     "(SELECT string_agg(pg_get_indexdef(x.indexrelid, k, true), ',' ORDER BY k) "
                     "FROM generate_series(1, " +
                     key_atts +
                     ") AS k) "
                     "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                     "JOIN pg_class c ON c.oid = x.indrelid WHERE c.relnamespace = " +
                     ns + " AND c.relkind IN ('r', 'p') AND NOT c.relispartition")) {
            IndexInfo idx;
            idx.name = row[0].c_str();
            idx.table = row[1].c_str();
            idx.unique = row[2].as<bool>();
            idx.definition = row[3].c_str();
            idx.columns = row[4].is_null() ? "" : row[4].c_str();
            indexes.push_back(std::move(idx));
        }
        std::sort(indexes.begin(), indexes.end(),
                  [](const IndexInfo& a, const IndexInfo& b) { return a.name < b.name; });

        // Schema hash and the sorted lists.
        Sha256 schema_hash;
        for (const auto& [table, cols] : columns) {
            schema_hash.Update("TABLE:" + table + "\n");
            std::vector<const ColumnInfo*> by_name;
            for (const auto& c : cols) by_name.push_back(&c);
            std::sort(by_name.begin(), by_name.end(),
                      [](const ColumnInfo* a, const ColumnInfo* b) { return a->name < b->name; });
            for (const ColumnInfo* c : by_name) {
                schema_hash.Update("  COL:" + c->name + ":" + c->type + ":" +
                                   (c->not_null ? "1" : "0") + ":" +
                                   std::to_string(c->pk_position) + "\n");
            }
            std::vector<std::string> fk_lines;
            for (const auto& fk : fks) {
                if (fk.table != table) continue;
                for (std::size_t i = 0; i < fk.columns.size(); ++i) {
                    fk_lines.push_back("  FK:" + fk.columns[i] + "->" + fk.ref_table + "." +
                                       fk.ref_columns[i] + "\n");
                }
            }
            std::sort(fk_lines.begin(), fk_lines.end());
            for (const auto& l : fk_lines) schema_hash.Update(l);
            for (const auto& idx : indexes) {
                if (idx.table != table) continue;
                schema_hash.Update("  IDX:" + idx.name + ":" + idx.columns + ":" +
                                   (idx.unique ? "1" : "0") + ":" + idx.definition + "\n");
            }
        }
        out.schema_hash = schema_hash.HexDigest();
        for (const auto& fk : fks) {
            for (std::size_t i = 0; i < fk.columns.size(); ++i) {
                out.foreign_keys.push_back(
                    {fk.table, fk.columns[i], fk.ref_table, fk.ref_columns[i]});
            }
        }
        std::sort(out.foreign_keys.begin(), out.foreign_keys.end());
        for (const auto& idx : indexes) out.indexes.push_back({idx.name, idx.table, idx.columns});

        // Rows: count and checksum in primary-key order, through a cursor.
        for (const auto& [table, cols] : columns) {
            const std::string& from = table_sql[table];
            std::string row_text;
            std::vector<std::pair<int, std::string>> pk;
            for (const auto& c : cols) {
                if (!row_text.empty()) row_text += " || '|' || ";
                row_text += "coalesce(" + tx.quote_name(c.name) + "::text, '')";
                if (c.pk_position > 0) pk.emplace_back(c.pk_position, tx.quote_name(c.name));
            }
            if (row_text.empty()) row_text = "''";
            std::sort(pk.begin(), pk.end());
            std::string order;
            for (const auto& [pos, name] : pk) order += (order.empty() ? "" : ", ") + name;
            if (order.empty()) order = "1 COLLATE \"C\"";
            tx.exec("DECLARE aragora_inspect NO SCROLL CURSOR FOR SELECT " + row_text +
                    " FROM ONLY " + from + " ORDER BY " + order);
            Sha256 hash;
            TableInspection ti;
            ti.name = table;
            while (true) {
                const pqxx::result batch = tx.exec("FETCH FORWARD 500 FROM aragora_inspect");
                if (batch.empty()) break;
                for (const auto& row : batch) {
                    hash.Update(std::string_view(row[0].c_str(), row[0].size()));
                    ++ti.rows;
                }
            }
            tx.exec("CLOSE aragora_inspect");
            ti.checksum = hash.HexDigest();
            out.tables.push_back(std::move(ti));

            // NULLs in NOT NULL columns (a scan per table, whatever the column count).
            std::vector<const ColumnInfo*> required;
            std::string counts;
            for (const auto& c : cols) {
                if (!c.not_null) continue;
                required.push_back(&c);
                if (!counts.empty()) counts += ", ";
                counts += "count(*) FILTER (WHERE " + tx.quote_name(c.name) + " IS NULL)";
            }
            if (!required.empty()) {
                const pqxx::result r = tx.exec("SELECT " + counts + " FROM ONLY " + from);
                for (std::size_t i = 0; i < required.size(); ++i) {
                    const auto n = r[0][static_cast<int>(i)].as<std::int64_t>();
                    if (n > 0) {
                        out.problems.push_back(table + ": " + std::to_string(n) +
                                               " row(s) with NULL in NOT NULL column " +
                                               required[i]->name);
                    }
                }
            }
        }

        // Rows whose foreign key matches no referenced row.
        for (const auto& fk : fks) {
            std::string cond;
            std::string join;
            for (std::size_t i = 0; i < fk.columns.size(); ++i) {
                const std::string col = "c." + tx.quote_name(fk.columns[i]);
                cond += (i == 0 ? "" : " AND ") + col + " IS NOT NULL";
                join += std::string(i == 0 ? "" : " AND ") + "p." +
                        tx.quote_name(fk.ref_columns[i]) + " = " + col;
            }
            const pqxx::result r =
                tx.exec("SELECT count(*) FROM ONLY " + fk.table_sql + " c WHERE " + cond +
                        " AND NOT EXISTS (SELECT 1 FROM ONLY " + fk.ref_table_sql + " p WHERE " +
                        join + ")");
            const auto n = r[0][0].as<std::int64_t>();
            if (n > 0) {
                out.problems.push_back(fk.table + ": " + std::to_string(n) +
                                       " row(s) violate foreign key " + fk.name + " (" +
                                       common::Join(fk.columns, ",") + ") -> " + fk.ref_table +
                                       " (" + common::Join(fk.ref_columns, ",") + ")");
            }
        }
    }
    std::sort(out.tables.begin(), out.tables.end(),
              [](const TableInspection& a, const TableInspection& b) { return a.name < b.name; });
    return out;
}

// Session settings for a long read: the deadline as statement_timeout, and no idle
// timeout while pg_dump works from our exported snapshot.
void PrepareSession(pqxx::connection_base& conn, Deadline deadline) {
    pqxx::nontransaction setup(conn);
    setup.exec("SET statement_timeout = " + std::to_string(MillisLeft(deadline)) +
               "; SET idle_in_transaction_session_timeout = 0");
}

using SnapshotTx = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

}  // namespace

// --- connection strings

common::Result<PgTarget> ParsePgTarget(std::string_view dsn) {
    auto info = ParseConninfo(dsn);
    if (!info) return info.error();
    PgTarget out;
    if (const std::string* p = info->Get("password")) out.password = *p;
    if (const std::string* d = info->Get("dbname")) out.dbname = *d;
    info->Erase("password");
    out.conninfo = info->Join();
    out.redacted = storage::RedactPgDsn(dsn);
    return out;
}

common::Result<std::string> PgDsnForDatabase(std::string_view dsn, std::string_view dbname) {
    auto info = ParseConninfo(dsn);
    if (!info) return info.error();
    info->Set("dbname", std::string(dbname));
    return info->Join();
}

// --- versions

common::Result<int> ParsePgVersion(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) continue;
        if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '.'))
            continue;
        std::vector<int> parts;
        std::size_t j = i;
        while (j < text.size() && parts.size() < 3) {
            int n = 0;
            std::size_t digits = 0;
            while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) &&
                   digits < 6) {
                n = n * 10 + (text[j] - '0');
                ++j;
                ++digits;
            }
            if (digits == 0) break;
            parts.push_back(n);
            if (j + 1 < text.size() && text[j] == '.' &&
                std::isdigit(static_cast<unsigned char>(text[j + 1]))) {
                ++j;
            } else {
                break;
            }
        }
        const int major = parts[0];
        if (major >= 10 && major < 1000) return major * 10000 + (parts.size() > 1 ? parts[1] : 0);
        if (major >= 7 && major <= 9 && parts.size() >= 2) {
            return major * 10000 + parts[1] * 100 + (parts.size() > 2 ? parts[2] : 0);
        }
        i = j;
    }
    return MakeError(ErrorCode::kValidation,
                     "no PostgreSQL version in \"" + OneLine(text.substr(0, 200)) + "\"");
}

std::string PgVersionText(int version_num) {
    if (version_num >= 100000) {
        return std::to_string(version_num / 10000) + "." + std::to_string(version_num % 10000);
    }
    return std::to_string(version_num / 10000) + "." + std::to_string(version_num / 100 % 100) +
           "." + std::to_string(version_num % 100);
}

namespace {
// 15 for 150018, 9.6 for 90624 (the release a pg_dump must match or exceed).
std::string MajorText(int version_num) {
    if (version_num >= 100000) return std::to_string(version_num / 10000);
    return std::to_string(version_num / 10000) + "." + std::to_string(version_num / 100 % 100);
}
// Comparable major versions: 15 → 1500, 9.6 → 906.
int Major(int version_num) {
    return version_num >= 100000 ? version_num / 10000 * 100 : version_num / 100;
}
}  // namespace

common::Status CheckPgDumpVersion(int pg_dump_version, int server_version) {
    if (Major(pg_dump_version) < Major(server_version)) {
        const std::string major = MajorText(server_version);
        return MakeError(ErrorCode::kUnavailable,
                         "pg_dump " + PgVersionText(pg_dump_version) +
                             " is older than the PostgreSQL " + PgVersionText(server_version) +
                             " server it must dump: install the PostgreSQL " + major +
                             " client tools (Debian: apt install postgresql-client-" + major +
                             ") and put that pg_dump first in PATH");
    }
    if (pg_dump_version >= 150000 && server_version < 90200) {
        return MakeError(ErrorCode::kUnavailable,
                         "pg_dump " + PgVersionText(pg_dump_version) +
                             " cannot dump the PostgreSQL " + PgVersionText(server_version) +
                             " server (it supports 9.2 and newer): use the pg_dump of an older "
                             "PostgreSQL release");
    }
    return {};
}

common::Result<int> PgToolVersion(const std::string& tool, Deadline deadline) {
    SubprocessOptions options;
    options.argv = {tool, "--version"};
    options.env = ToolEnvironment("");
    options.deadline = deadline;
    auto run = RunSubprocess(options);
    if (!run) {
        return MakeError(ErrorCode::kNotFound, run.error().message + " (" + kInstallHint + ")");
    }
    if (run->timed_out) {
        return MakeError(ErrorCode::kTimeout, tool + " --version did not finish in time");
    }
    if (!run->ok()) {
        return MakeError(ErrorCode::kUnavailable, tool + " --version failed (" +
                                                      DescribeExit(*run) +
                                                      "): " + ToolErrorLine(run->stderr_tail, ""));
    }
    auto version = ParsePgVersion(run->stdout_text);
    if (!version) {
        return MakeError(ErrorCode::kUnavailable, tool + " --version printed no version: \"" +
                                                      OneLine(run->stdout_text) + "\"");
    }
    return *version;
}

common::Result<int> PgServerVersion(std::string_view dsn, Deadline deadline) {
    auto conn = Connect(dsn, deadline);
    if (!conn) return conn.error();
    return (*conn)->server_version();
}

// --- dump and restore

common::Result<PgDumpInfo> PgDump(std::string_view dsn, const fs::path& out, Deadline deadline,
                                  const PgDumpOptions& options) {
    const PgTools& tools = options.tools;
    auto target = ParsePgTarget(dsn);
    if (!target) return target.error();
    auto dump_version = PgToolVersion(tools.pg_dump, deadline);
    if (!dump_version) return dump_version.error();
    auto conn = Connect(dsn, deadline);
    if (!conn) return conn.error();
    PgDumpInfo info;
    info.dbname = target->dbname;
    info.server_version = (*conn)->server_version();
    info.pg_dump_version = *dump_version;
    if (auto s = CheckPgDumpVersion(info.pg_dump_version, info.server_version); !s) {
        return s.error();
    }

    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    std::unique_ptr<SnapshotTx> tx;
    std::string snapshot;
    try {
        PrepareSession(**conn, deadline);
        tx = std::make_unique<SnapshotTx>(**conn);
        snapshot = tx->exec("SELECT pg_export_snapshot()")[0][0].c_str();
    } catch (...) {
        return CurrentError("export snapshot", watchdog);
    }

    TempFile temp;
    if (auto s = temp.Create(out); !s) return s.error();
    SubprocessOptions run_options;
    // pg_dump waits for its table locks (a migration holding one) no longer than we can.
    run_options.argv = {tools.pg_dump,
                        "--format=custom",
                        "--no-password",
                        "--snapshot=" + snapshot,
                        "--lock-wait-timeout=" + std::to_string(MillisLeft(deadline)),
                        "--dbname=" + target->conninfo};
    run_options.env = ToolEnvironment(target->password);
    run_options.stdout_fd = temp.fd();
    run_options.deadline = deadline;
    if (options.on_progress) {
        run_options.on_tick = [&] {
            struct stat st {};
            if (::fstat(temp.fd(), &st) == 0) {
                options.on_progress(static_cast<std::uint64_t>(st.st_size));
            }
        };
    }
    auto run = RunSubprocess(run_options);
    if (!run) {
        return MakeError(run.error().code, run.error().message + " (" + kInstallHint + ")");
    }
    if (run->timed_out) {
        return MakeError(ErrorCode::kTimeout,
                         "pg_dump of " + target->redacted +
                             " did not finish before the deadline and was stopped");
    }
    if (!run->ok()) {
        return MakeError(ErrorCode::kStorage,
                         "pg_dump failed (" + DescribeExit(*run) +
                             "): " + ToolErrorLine(run->stderr_tail, target->password));
    }
    struct stat st {};
    if (::fstat(temp.fd(), &st) != 0 || st.st_size == 0) {
        return MakeError(ErrorCode::kStorage, "pg_dump wrote nothing");
    }
    info.size_bytes = static_cast<std::uint64_t>(st.st_size);
    if (options.on_progress) options.on_progress(info.size_bytes);

    if (options.inspect) {
        try {
            auto inspection = InspectIn(*tx, info.server_version);
            if (!inspection) return inspection.error();
            info.inspection = std::move(*inspection);
            info.database_size_bytes =
                tx->exec("SELECT pg_database_size(current_database())")[0][0].as<std::uint64_t>();
            if (!tx->exec("SELECT to_regclass('schema_migrations')")[0][0].is_null()) {
                info.schema_version =
                    tx->exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0]
                        .as<int>();
            }
        } catch (...) {
            return CurrentError("inspect", watchdog);
        }
    }
    try {
        tx->commit();
    } catch (...) {
        return CurrentError("end snapshot", watchdog);
    }
    if (auto s = temp.Commit(out); !s) return s.error();
    info.path = out;
    return info;
}

common::Result<PgArchiveInfo> ReadPgArchive(const fs::path& dump, Deadline deadline,
                                            const PgTools& tools) {
    SubprocessOptions options;
    options.argv = {tools.pg_restore, "--list", dump.string()};
    options.env = ToolEnvironment("");
    options.deadline = deadline;
    options.stdout_limit = 32 * 1024 * 1024;
    auto run = RunSubprocess(options);
    if (!run) {
        return MakeError(run.error().code, run.error().message + " (" + kInstallHint + ")");
    }
    if (run->timed_out) {
        return MakeError(ErrorCode::kTimeout,
                         "pg_restore --list " + dump.string() + " did not finish in time");
    }
    if (!run->ok()) {
        const std::string line = ToolErrorLine(run->stderr_tail, "");
        if (line.find("unsupported version") != std::string::npos) {
            auto version = PgToolVersion(tools.pg_restore, deadline);
            return MakeError(ErrorCode::kUnavailable,
                             "pg_restore " + (version ? PgVersionText(*version) : "") +
                                 " is older than the pg_dump that wrote " + dump.string() + " (" +
                                 line +
                                 "): install the client tools of the PostgreSQL release that "
                                 "made the backup, or newer");
        }
        return MakeError(ErrorCode::kValidation,
                         dump.string() + " is not a pg_dump custom-format archive: " + line);
    }
    PgArchiveInfo info;
    auto value_after = [](std::string_view line,
                          std::string_view key) -> std::optional<std::string> {
        const auto pos = line.find(key);
        if (pos == std::string_view::npos) return std::nullopt;
        return std::string(common::Trim(line.substr(pos + key.size())));
    };
    for (std::string_view line : common::Split(run->stdout_text, '\n')) {
        if (line.starts_with(";")) {
            if (auto v = value_after(line, "dbname:")) info.dbname = *v;
            if (auto v = value_after(line, "TOC Entries:"))
                info.toc_entries = std::atoll(v->c_str());
            if (auto v = value_after(line, "Dumped from database version:"))
                info.server_version = *v;
            if (auto v = value_after(line, "Dumped by pg_dump version:")) info.pg_dump_version = *v;
        } else if (line.find(" TABLE DATA ") != std::string_view::npos) {
            ++info.table_data;
        }
    }
    if (info.server_version.empty()) {
        return MakeError(ErrorCode::kValidation,
                         dump.string() + " is not a pg_dump custom-format archive (no header)");
    }
    return info;
}

common::Status PgRestore(const fs::path& dump, std::string_view target_dsn, Deadline deadline,
                         const PgTools& tools) {
    auto target = ParsePgTarget(target_dsn);
    if (!target) return target.error();
    auto archive = ReadPgArchive(dump, deadline, tools);
    if (!archive) return archive.error();
    auto server_version = PgServerVersion(target_dsn, deadline);
    if (!server_version) return server_version.error();
    if (auto from = ParsePgVersion(archive->server_version);
        from && Major(*from) > Major(*server_version)) {
        return MakeError(ErrorCode::kUnavailable,
                         "the backup was taken from PostgreSQL " + PgVersionText(*from) +
                             " and the target server runs " + PgVersionText(*server_version) +
                             ": restore it into a PostgreSQL " + MajorText(*from) +
                             " server or newer");
    }
    SubprocessOptions options;
    options.argv = {tools.pg_restore,
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                    "--no-password",
                    "--dbname=" + target->conninfo,
                    dump.string()};
    options.env = ToolEnvironment(target->password);
    options.deadline = deadline;
    auto run = RunSubprocess(options);
    if (!run) {
        return MakeError(run.error().code, run.error().message + " (" + kInstallHint + ")");
    }
    if (run->timed_out) {
        // The server rolls the single transaction back when pg_restore's session ends.
        return MakeError(ErrorCode::kTimeout,
                         "pg_restore into " + target->redacted +
                             " did not finish before the deadline and was stopped (nothing "
                             "restored)");
    }
    if (!run->ok()) {
        return MakeError(ErrorCode::kStorage,
                         "pg_restore failed (" + DescribeExit(*run) +
                             "): " + ToolErrorLine(run->stderr_tail, target->password));
    }
    return {};
}

// --- scratch databases

bool IsPgScratchName(std::string_view name) {
    std::string_view id;
    if (name.starts_with(kPgScratchPrefix)) {
        id = name.substr(kPgScratchPrefix.size());
    } else if (name.starts_with(kPgStagingPrefix)) {
        id = name.substr(kPgStagingPrefix.size());
    } else {
        return false;
    }
    return id.size() == 12 && std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

PgScratchDatabase::PgScratchDatabase(std::string server_dsn, std::string name, std::string dsn)
    : server_dsn_(std::move(server_dsn)),
      name_(std::move(name)),
      dsn_(std::move(dsn)),
      dropped_(false) {}

PgScratchDatabase::PgScratchDatabase(PgScratchDatabase&& other) noexcept
    : server_dsn_(std::move(other.server_dsn_)),
      name_(std::move(other.name_)),
      dsn_(std::move(other.dsn_)),
      dropped_(std::exchange(other.dropped_, true)) {}

PgScratchDatabase& PgScratchDatabase::operator=(PgScratchDatabase&& other) noexcept {
    if (this != &other) {
        if (!dropped_) (void)Drop(Clock::now() + std::chrono::seconds(30));
        server_dsn_ = std::move(other.server_dsn_);
        name_ = std::move(other.name_);
        dsn_ = std::move(other.dsn_);
        dropped_ = std::exchange(other.dropped_, true);
    }
    return *this;
}

PgScratchDatabase::~PgScratchDatabase() {
    if (dropped_) return;
    if (auto s = Drop(Clock::now() + std::chrono::seconds(30)); !s) {
        common::GetLogger("aragora.ops")
            ->error("scratch database {} was not dropped: {} (drop it by hand)", name_,
                    s.error().message);
    }
}

common::Status PgScratchDatabase::Drop(Deadline deadline) {
    if (dropped_) return {};
    auto s = DropPgScratchDatabase(server_dsn_, name_, deadline);
    if (s) dropped_ = true;
    return s;
}

common::Result<PgScratchDatabase> PgScratchDatabase::Create(std::string_view server_dsn,
                                                            Deadline deadline,
                                                            std::string_view prefix) {
    if (prefix != kPgScratchPrefix && prefix != kPgStagingPrefix) {
        return MakeError(ErrorCode::kValidation, "unknown scratch database prefix");
    }
    auto conn = ConnectToServer(server_dsn, {}, deadline);
    if (!conn) return conn.error();
    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    const std::string name = std::string(prefix) + common::HexEncode(common::RandomBytes(6));
    try {
        pqxx::nontransaction tx(**conn);
        // The source's encoding and locale (and provider, read through to_jsonb so that the
        // column names of any release work), so that text sorts and compares as it does
        // there.
        const pqxx::result r = tx.exec(
            "SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
            "to_jsonb(d) ->> 'datlocprovider', "
            "coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') "
            "FROM pg_database d WHERE d.datname = current_database()");
        std::string sql = "CREATE DATABASE " + tx.quote_name(name) + " TEMPLATE template0";
        if (!r.empty()) {
            sql += " ENCODING " + tx.quote(r[0][0].c_str()) + " LC_COLLATE " +
                   tx.quote(r[0][1].c_str()) + " LC_CTYPE " + tx.quote(r[0][2].c_str());
            const std::string provider = r[0][3].is_null() ? "" : r[0][3].c_str();
            const std::string locale = r[0][4].is_null() ? "" : r[0][4].c_str();
            if (provider == "i" && !locale.empty()) {
                sql += " LOCALE_PROVIDER icu ICU_LOCALE " + tx.quote(locale);
            } else if (provider == "b" && !locale.empty()) {
                sql += " LOCALE_PROVIDER builtin BUILTIN_LOCALE " + tx.quote(locale);
            }
        }
        tx.exec(sql);
    } catch (const pqxx::insufficient_privilege&) {
        return MakeError(ErrorCode::kStorage,
                         "cannot create a scratch database for verification: the PostgreSQL "
                         "role needs the CREATEDB privilege");
    } catch (...) {
        return CurrentError("create scratch database", watchdog);
    }
    auto dsn = PgDsnForDatabase(server_dsn, name);
    if (!dsn) return dsn.error();
    return PgScratchDatabase(std::string(server_dsn), name, std::move(*dsn));
}

common::Status DropPgScratchDatabase(std::string_view server_dsn, std::string_view name,
                                     Deadline deadline) {
    if (!IsPgScratchName(name)) {
        return MakeError(ErrorCode::kForbidden,
                         "refusing to drop database \"" + std::string(name) +
                             "\": not a scratch database of backup verification (" +
                             std::string(kPgScratchPrefix) + "<12 hex>)");
    }
    auto conn = ConnectToServer(server_dsn, {std::string(name)}, deadline);
    if (!conn) return conn.error();
    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    try {
        pqxx::nontransaction tx(**conn);
        const std::string quoted = tx.quote_name(std::string(name));
        if ((*conn)->server_version() >= 130000) {
            tx.exec("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)");
        } else {
            tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
                    tx.quote(std::string(name)));
            tx.exec("DROP DATABASE IF EXISTS " + quoted);
        }
    } catch (...) {
        return CurrentError("drop scratch database", watchdog);
    }
    return {};
}

// --- inspection

// --- databases of a server

common::Result<bool> PgDatabaseExists(std::string_view server_dsn, std::string_view name,
                                      Deadline deadline) {
    auto conn = ConnectToServer(server_dsn, {std::string(name)}, deadline);
    if (!conn) return conn.error();
    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    try {
        pqxx::nontransaction tx(**conn);
        return !tx.exec("SELECT 1 FROM pg_database WHERE datname = " + tx.quote(std::string(name)))
                    .empty();
    } catch (...) {
        return CurrentError("look up database", watchdog);
    }
}

common::Result<std::vector<std::string>> PgDatabaseSessions(std::string_view server_dsn,
                                                            std::string_view name,
                                                            Deadline deadline) {
    auto conn = ConnectToServer(server_dsn, {std::string(name)}, deadline);
    if (!conn) return conn.error();
    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    try {
        pqxx::nontransaction tx(**conn);
        std::vector<std::string> out;
        for (const auto& row :
             tx.exec("SELECT pid, coalesce(nullif(application_name, ''), usename, '?'), "
                     "coalesce(host(client_addr), 'local socket') FROM pg_stat_activity "
                     "WHERE datname = " +
                     tx.quote(std::string(name)) + " AND pid <> pg_backend_pid() ORDER BY pid")) {
            out.push_back("pid " + std::string(row[0].c_str()) + " " + row[1].c_str() + " from " +
                          row[2].c_str());
        }
        return out;
    } catch (...) {
        return CurrentError("list sessions", watchdog);
    }
}

common::Status PgRenameDatabases(std::string_view server_dsn,
                                 const std::vector<std::pair<std::string, std::string>>& renames,
                                 Deadline deadline) {
    std::vector<std::string> involved;
    for (const auto& [from, to] : renames) {
        involved.push_back(from);
        involved.push_back(to);
    }
    auto conn = ConnectToServer(server_dsn, involved, deadline);
    if (!conn) return conn.error();
    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    try {
        pqxx::work tx(**conn);
        for (const auto& [from, to] : renames) {
            tx.exec("ALTER DATABASE " + tx.quote_name(from) + " RENAME TO " + tx.quote_name(to));
        }
        tx.commit();
    } catch (...) {
        return CurrentError("rename database", watchdog);
    }
    return {};
}

common::Result<DbInspection> InspectPg(std::string_view dsn, Deadline deadline) {
    auto conn = Connect(dsn, deadline);
    if (!conn) return conn.error();
    ConnectionWatchdog watchdog((*conn)->sock(), deadline);
    try {
        PrepareSession(**conn, deadline);
        SnapshotTx tx(**conn);
        auto out = InspectIn(tx, (*conn)->server_version());
        tx.commit();
        return out;
    } catch (...) {
        return CurrentError("inspect", watchdog);
    }
}

}  // namespace aragora::ops
