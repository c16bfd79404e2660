// PostgreSQL backups against a real server (tests/unit/storage/pg_test_server): pg_dump
// and pg_restore round trips, one consistent snapshot while debates keep finishing,
// scratch databases that never outlive a failure, deadlines, and the version check.

#include "ops/postgres_backup.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <thread>

#include "../storage/store_backends.hpp"
#include "pg_backup_test_support.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using storage::test_support::PgBackend;
using storage::test_support::PgTestServer;
using test_support::FinishSignedDebate;
using test_support::kEventsPerDebate;
using test_support::TestReceiptKeys;
using test_support::VerifyChain;

std::string ReadAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Raw SQL on any database of the test server (tampering, checks).
std::vector<std::string> Column(const std::string& dsn, const std::string& sql) {
    pqxx::connection c(dsn);
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const auto& row : tx.exec(sql)) out.emplace_back(row[0].is_null() ? "" : row[0].c_str());
    return out;
}
void Exec(const std::string& dsn, const std::string& sql) {
    pqxx::connection c(dsn);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
}

bool DatabaseExists(const std::string& server_dsn, const std::string& name) {
    return Column(server_dsn,
                  "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'")[0] == "1";
}

// A PostgreSQL server that completes the start-up handshake and then never answers
// again: what a frozen server (SIGSTOP, a hung storage) looks like to a connected client.
class FrozenAfterHandshakeServer {
public:
    FrozenAfterHandshakeServer() {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(listen_, 16), 0);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
        EXPECT_EQ(::pipe2(stop_, O_CLOEXEC), 0);
        thread_ = std::thread([this] { Serve(); });
    }
    ~FrozenAfterHandshakeServer() {
        EXPECT_EQ(::write(stop_[1], "x", 1), 1);
        thread_.join();
        for (int fd : clients_) ::close(fd);
        ::close(listen_);
        ::close(stop_[0]);
        ::close(stop_[1]);
    }
    std::string Dsn() const {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) +
               "/frozen?sslmode=disable&gssencmode=disable";
    }

private:
    static bool ReadN(int fd, char* buf, std::size_t n) {
        while (n > 0) {
            const ssize_t r = ::read(fd, buf, n);
            if (r <= 0) return false;
            buf += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }
    static void Put32(std::string& out, std::uint32_t v) {
        const std::uint32_t be = htonl(v);
        out.append(reinterpret_cast<const char*>(&be), 4);
    }
    static void Param(std::string& out, const std::string& k, const std::string& v) {
        out += 'S';
        Put32(out, static_cast<std::uint32_t>(4 + k.size() + 1 + v.size() + 1));
        out += k;
        out += '\0';
        out += v;
        out += '\0';
    }
    void Serve() {
        while (true) {
            pollfd fds[2] = {{listen_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0 || (fds[1].revents & POLLIN) != 0) return;
            const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            clients_.push_back(fd);
            while (true) {  // SSL/GSS requests are declined, then comes the start-up packet
                char head[8];
                if (!ReadN(fd, head, 8)) break;
                std::uint32_t len = 0;
                std::uint32_t code = 0;
                std::memcpy(&len, head, 4);
                std::memcpy(&code, head + 4, 4);
                len = ntohl(len);
                code = ntohl(code);
                std::string rest(len - 8, '\0');
                if (!ReadN(fd, rest.data(), rest.size())) break;
                if (code == 80877103 || code == 80877104) {
                    if (::write(fd, "N", 1) != 1) break;
                    continue;
                }
                std::string reply = "R";
                Put32(reply, 8);
                Put32(reply, 0);  // AuthenticationOk
                Param(reply, "server_version", "15.0");
                Param(reply, "server_encoding", "UTF8");
                Param(reply, "client_encoding", "UTF8");
                Param(reply, "standard_conforming_strings", "on");
                Param(reply, "integer_datetimes", "on");
                reply += 'K';
                Put32(reply, 12);
                Put32(reply, 4242);
                Put32(reply, 1);
                reply += 'Z';
                Put32(reply, 5);
                reply += 'I';
                if (::write(fd, reply.data(), reply.size()) < 0) break;
                break;  // and never a word more
            }
        }
    }

    int listen_ = -1;
    int port_ = 0;
    int stop_[2] = {-1, -1};
    std::vector<int> clients_;
    std::thread thread_;
};

// --- versions and connection strings (no server)

TEST(PgVersionTest, ParsesToolAndServerTexts) {
    EXPECT_EQ(*ParsePgVersion("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"), 150018);
    EXPECT_EQ(*ParsePgVersion("pg_restore (PostgreSQL) 16.2"), 160002);
    EXPECT_EQ(*ParsePgVersion("9.6.24"), 90624);
    EXPECT_EQ(*ParsePgVersion("16beta2"), 160000);
    EXPECT_EQ(*ParsePgVersion("17.0 (Ubuntu 17.0-1.pgdg22.04+1)"), 170000);
    EXPECT_FALSE(ParsePgVersion("pg_dump: command not found").ok());
    EXPECT_EQ(PgVersionText(150018), "15.18");
    EXPECT_EQ(PgVersionText(90624), "9.6.24");
}

TEST(PgVersionTest, APgDumpOlderThanTheServerIsOneLineNamingBothAndWhatToInstall) {
    auto s = CheckPgDumpVersion(150018, 160002);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(s.error().message,
              "pg_dump 15.18 is older than the PostgreSQL 16.2 server it must dump: install the "
              "PostgreSQL 16 client tools (Debian: apt install postgresql-client-16) and put "
              "that pg_dump first in PATH");
    EXPECT_EQ(s.error().message.find('\n'), std::string::npos);

    auto old = CheckPgDumpVersion(90624, 100004);
    ASSERT_FALSE(old.ok());
    EXPECT_NE(old.error().message.find("postgresql-client-10"), std::string::npos);

    EXPECT_TRUE(CheckPgDumpVersion(150018, 150002).ok());  // same major, older minor
    EXPECT_TRUE(CheckPgDumpVersion(150002, 150018).ok());  // minor releases are compatible
    EXPECT_TRUE(CheckPgDumpVersion(160002, 120010).ok());  // newer pg_dump, older server
    EXPECT_TRUE(CheckPgDumpVersion(150018, 90624).ok());
    EXPECT_FALSE(CheckPgDumpVersion(150018, 90124).ok());  // pg_dump 15 needs 9.2+
}

TEST(PgTargetTest, ThePasswordIsTakenOutOfTheConnectionString) {
    auto url = ParsePgTarget("postgresql://app:s%40cret@db.example:6543/aragora?sslmode=require");
    ASSERT_TRUE(url.ok()) << url.error().message;
    EXPECT_EQ(url->password, "s@cret");
    EXPECT_EQ(url->dbname, "aragora");
    EXPECT_EQ(url->conninfo.find("cret"), std::string::npos);
    EXPECT_NE(url->conninfo.find("host='db.example'"), std::string::npos);
    EXPECT_NE(url->conninfo.find("port='6543'"), std::string::npos);
    EXPECT_NE(url->conninfo.find("sslmode='require'"), std::string::npos);
    EXPECT_EQ(url->redacted.find("cret"), std::string::npos);

    auto kw = ParsePgTarget("host=h dbname='my db' password='it''s'");
    ASSERT_FALSE(kw.ok());  // libpq syntax: a doubled quote is not an escape
    kw = ParsePgTarget("host=h dbname='my db' password='it\\'s'");
    ASSERT_TRUE(kw.ok());
    EXPECT_EQ(kw->password, "it's");
    EXPECT_EQ(kw->dbname, "my db");
    EXPECT_NE(kw->conninfo.find("host='h'"), std::string::npos);
    EXPECT_NE(kw->conninfo.find("dbname='my db'"), std::string::npos);
    EXPECT_EQ(kw->conninfo.find("password"), std::string::npos);

    auto other = PgDsnForDatabase("postgresql://u:pw@h:5/src", "aragora_verify_0123456789ab");
    ASSERT_TRUE(other.ok());
    EXPECT_NE(other->find("dbname='aragora_verify_0123456789ab'"), std::string::npos);
    EXPECT_NE(other->find("password='pw'"), std::string::npos);

    EXPECT_EQ(ParsePgTarget("not a dsn at all").error().code, ErrorCode::kValidation);
}

TEST(PgScratchNameTest, OnlyOurOwnNamesAreScratch) {
    EXPECT_TRUE(IsPgScratchName("aragora_verify_0123456789ab"));
    EXPECT_FALSE(IsPgScratchName("aragora_verify_0123456789AB"));
    EXPECT_FALSE(IsPgScratchName("aragora_verify_0123"));
    EXPECT_FALSE(IsPgScratchName("aragora"));
    EXPECT_FALSE(IsPgScratchName("aragora_verify_0123456789ab; DROP DATABASE x"));
}

// --- against the test server

class PgBackupTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(source_.error(), "");
        auto dsn = storage::BuildPgDsn(source_.db().url(), "");
        ASSERT_TRUE(dsn.ok());
        dsn_ = *dsn;
        auto stores = source_.Open(/*migrate=*/true);
        ASSERT_TRUE(stores.ok()) << stores.error().message;
        stores_ = std::move(*stores);
        char tmpl[] = "/tmp/aragora_pgbackup_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    Deadline In(int s) const { return Clock::now() + seconds(s); }

    // A shell script standing in for a client tool.
    std::string FakeTool(const std::string& name, const std::string& body) {
        const fs::path p = dir_ / name;
        std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
        fs::permissions(p, fs::perms::owner_all);
        return p.string();
    }

    std::vector<std::string> FilesIn(const fs::path& dir) {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
        return out;
    }

    PgBackend source_;
    std::string dsn_;
    storage::test_support::OpenedStores stores_;
    fs::path dir_;
};

TEST_F(PgBackupTest, DumpAndRestoreRoundTripKeepsEveryTableAndTheReceiptChain) {
    const auto keys = TestReceiptKeys();
    for (int i = 0; i < 12; ++i) {
        ASSERT_TRUE(FinishSignedDebate(*stores_.store, "deb_" + std::to_string(i), keys).ok());
    }
    test_support::SeedAuth(*stores_.auth, 3);

    const fs::path out = dir_ / "aragora.dump";
    auto dump = PgDump(dsn_, out, In(120));
    ASSERT_TRUE(dump.ok()) << dump.error().message;
    EXPECT_EQ(dump->dbname, source_.db().name());
    EXPECT_GT(dump->size_bytes, 0u);
    EXPECT_EQ(dump->size_bytes, fs::file_size(out));
    EXPECT_EQ(ReadAll(out).substr(0, 5), "PGDMP");
    EXPECT_EQ(fs::status(out).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(FilesIn(dir_), std::vector<std::string>{"aragora.dump"});  // no temp left

    auto archive = ReadPgArchive(out, In(60));
    ASSERT_TRUE(archive.ok()) << archive.error().message;
    EXPECT_EQ(archive->dbname, source_.db().name());
    EXPECT_GE(archive->table_data, 6);  // debates, events, receipts, users, audit_log, ...
    EXPECT_FALSE(archive->pg_dump_version.empty());

    auto scratch = PgScratchDatabase::Create(dsn_, In(60));
    ASSERT_TRUE(scratch.ok()) << scratch.error().message;
    EXPECT_TRUE(IsPgScratchName(scratch->name()));
    auto restored = PgRestore(out, scratch->dsn(), In(120));
    ASSERT_TRUE(restored.ok()) << restored.error().message;

    auto before = InspectPg(dsn_, In(60));
    auto after = InspectPg(scratch->dsn(), In(60));
    ASSERT_TRUE(before.ok()) << before.error().message;
    ASSERT_TRUE(after.ok()) << after.error().message;
    EXPECT_EQ(before->kind, "postgresql");
    EXPECT_TRUE(before->problems.empty());
    EXPECT_TRUE(after->problems.empty());
    EXPECT_EQ(before->schema_hash, after->schema_hash);
    EXPECT_EQ(before->foreign_keys, after->foreign_keys);
    EXPECT_EQ(before->indexes, after->indexes);
    ASSERT_EQ(before->tables.size(), after->tables.size());
    std::set<std::string> names;
    for (std::size_t i = 0; i < before->tables.size(); ++i) {
        const auto& b = before->tables[i];
        const auto& a = after->tables[i];
        names.insert(b.name);
        EXPECT_EQ(b.name, a.name);
        EXPECT_EQ(b.rows, a.rows) << b.name;
        EXPECT_EQ(b.checksum, a.checksum) << b.name;
        EXPECT_EQ(b.checksum.size(), 64u);
    }
    for (const char* t : {"debates", "debate_events", "receipts", "users", "api_keys", "audit_log",
                          "schema_migrations"}) {
        EXPECT_TRUE(names.count(t)) << t;
    }
    auto rows = [&](const DbInspection& i, const std::string& t) {
        for (const auto& x : i.tables)
            if (x.name == t) return x.rows;
        return std::int64_t{-1};
    };
    EXPECT_EQ(rows(*after, "debates"), 12);
    EXPECT_EQ(rows(*after, "debate_events"), 12 * kEventsPerDebate);
    EXPECT_EQ(rows(*after, "receipts"), 12);
    EXPECT_EQ(rows(*after, "users"), 3);
    EXPECT_EQ(rows(*after, "audit_log"), 3);
    // The sorted lists carry the schema's shape.
    EXPECT_NE(std::find(after->foreign_keys.begin(), after->foreign_keys.end(),
                        std::vector<std::string>{"receipts", "debate_id", "debates", "id"}),
              after->foreign_keys.end());
    EXPECT_NE(std::find(after->indexes.begin(), after->indexes.end(),
                        std::vector<std::string>{"idx_users_email", "users", "lower(email)"}),
              after->indexes.end());

    // The restored database opens as a store at the current schema and serves the same,
    // verifying receipts; its audit chain verifies too.
    storage::PgPoolOptions options;
    options.dsn = scratch->dsn();
    options.pool_size = 2;
    auto copy = storage::OpenPgStores(options, /*migrate=*/false);
    ASSERT_TRUE(copy.ok()) << copy.error().message;
    auto src_chain = VerifyChain(*stores_.store, keys);
    auto copy_chain = VerifyChain(*copy->store, keys);
    EXPECT_TRUE(copy_chain.report.ok());
    EXPECT_EQ(copy_chain.report.verified, 12);
    ASSERT_EQ(copy_chain.receipts.size(), src_chain.receipts.size());
    for (std::size_t i = 0; i < src_chain.receipts.size(); ++i) {
        EXPECT_EQ(copy_chain.receipts[i].json, src_chain.receipts[i].json);
        EXPECT_EQ(copy_chain.receipts[i].content_hash, src_chain.receipts[i].content_hash);
    }
    auto audit = copy->auth->VerifyAuditChain();
    ASSERT_TRUE(audit.ok());
    EXPECT_TRUE(audit->ok);
    EXPECT_EQ(audit->rows, 3);

    const std::string name = scratch->name();
    ASSERT_TRUE(scratch->Drop(In(60)).ok());
    EXPECT_FALSE(DatabaseExists(dsn_, name));
}

TEST_F(PgBackupTest, DebatesFinishingDuringTheDumpAreWholeOrAbsentAndTheChainHolds) {
    const auto keys = TestReceiptKeys();
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::condition_variable cv;
    int finished = 0;
    std::vector<std::string> errors;
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
        writers.emplace_back([&, t] {
            for (int n = 0; !stop.load(); ++n) {
                const std::string id = "deb_" + std::to_string(t) + "_" + std::to_string(n);
                auto s = FinishSignedDebate(*stores_.store, id, keys);
                std::lock_guard lock(mu);
                if (!s) {
                    errors.push_back(s.error().message);
                    break;
                }
                ++finished;
                cv.notify_all();
            }
        });
    }
    int at_dump_start = 0;
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(
            cv.wait_for(lock, seconds(60), [&] { return finished >= 30 || !errors.empty(); }));
        at_dump_start = finished;
    }
    const fs::path out = dir_ / "live.dump";
    PgDumpOptions options;
    options.inspect = true;  // in the dumped snapshot itself, while writers go on
    std::uint64_t progress_bytes = 0;
    options.on_progress = [&](std::uint64_t bytes) { progress_bytes = bytes; };
    auto dump = PgDump(dsn_, out, In(120), options);
    {
        // Writers keep going after the dump too, so the source ends ahead of the snapshot.
        std::unique_lock lock(mu);
        const int at_dump_end = finished;
        cv.wait_for(lock, seconds(60),
                    [&] { return finished >= at_dump_end + 10 || !errors.empty(); });
    }
    stop = true;
    for (auto& w : writers) w.join();
    ASSERT_TRUE(errors.empty()) << errors.front();
    ASSERT_TRUE(dump.ok()) << dump.error().message;

    auto scratch = PgScratchDatabase::Create(dsn_, In(60));
    ASSERT_TRUE(scratch.ok()) << scratch.error().message;
    ASSERT_TRUE(PgRestore(out, scratch->dsn(), In(120)).ok());

    const int restored = std::stoi(Column(scratch->dsn(), "SELECT count(*) FROM debates")[0]);
    const int total = std::stoi(Column(dsn_, "SELECT count(*) FROM debates")[0]);
    EXPECT_GE(restored, at_dump_start);  // everything finished before the dump is in it
    EXPECT_LT(restored, total);          // and nothing finished after it
    // No debate is half-present: each has its row, all its events and its receipt.
    EXPECT_EQ(Column(scratch->dsn(),
                     "SELECT count(*) FROM debates d WHERE "
                     "(SELECT count(*) FROM debate_events e WHERE e.debate_id = d.id) <> " +
                         std::to_string(kEventsPerDebate) +
                         " OR NOT EXISTS (SELECT 1 FROM receipts r WHERE r.debate_id = d.id)")[0],
              "0");
    EXPECT_EQ(Column(scratch->dsn(), "SELECT count(*) FROM debate_events")[0],
              std::to_string(restored * kEventsPerDebate));
    EXPECT_EQ(Column(scratch->dsn(), "SELECT count(*) FROM receipts")[0], std::to_string(restored));

    // The inspection recorded with the dump describes exactly what was dumped.
    EXPECT_EQ(progress_bytes, dump->size_bytes);
    ASSERT_TRUE(dump->inspection.has_value());
    EXPECT_GT(dump->database_size_bytes, 0u);
    EXPECT_GT(dump->schema_version, 0);
    auto restored_inspection = InspectPg(scratch->dsn(), In(60));
    ASSERT_TRUE(restored_inspection.ok());
    ASSERT_EQ(dump->inspection->tables.size(), restored_inspection->tables.size());
    for (std::size_t i = 0; i < restored_inspection->tables.size(); ++i) {
        const auto& d = dump->inspection->tables[i];
        const auto& r = restored_inspection->tables[i];
        EXPECT_EQ(d.name, r.name);
        EXPECT_EQ(d.rows, r.rows) << d.name;
        EXPECT_EQ(d.checksum, r.checksum) << d.name;
        if (d.name == "debates") {
            EXPECT_EQ(d.rows, restored);
        }
    }
    EXPECT_EQ(dump->inspection->schema_hash, restored_inspection->schema_hash);

    storage::PgPoolOptions pool;
    pool.dsn = scratch->dsn();
    pool.pool_size = 2;
    auto copy = storage::OpenPgStores(pool, /*migrate=*/false);
    ASSERT_TRUE(copy.ok()) << copy.error().message;
    auto chain = VerifyChain(*copy->store, keys);
    EXPECT_TRUE(chain.report.ok())
        << (chain.report.failures.empty() ? "" : chain.report.failures[0].reason);
    EXPECT_EQ(chain.report.verified, restored);
    // Byte-identical receipts: the restored chain is the head of the source's.
    auto source_chain = VerifyChain(*stores_.store, keys);
    ASSERT_GE(source_chain.receipts.size(), chain.receipts.size());
    for (std::size_t i = 0; i < chain.receipts.size(); ++i) {
        ASSERT_EQ(chain.receipts[i].receipt_id, source_chain.receipts[i].receipt_id);
        EXPECT_EQ(chain.receipts[i].json, source_chain.receipts[i].json);
    }
}

TEST_F(PgBackupTest, AScratchDatabaseIsDroppedWhenTheRestoreFails) {
    ASSERT_TRUE(FinishSignedDebate(*stores_.store, "deb_1", TestReceiptKeys()).ok());
    const fs::path out = dir_ / "a.dump";
    ASSERT_TRUE(PgDump(dsn_, out, In(120)).ok());
    std::string name;
    {
        auto scratch = PgScratchDatabase::Create(dsn_, In(60));
        ASSERT_TRUE(scratch.ok()) << scratch.error().message;
        name = scratch->name();
        ASSERT_TRUE(DatabaseExists(dsn_, name));
        ASSERT_TRUE(PgRestore(out, scratch->dsn(), In(120)).ok());
        // A second restore into the same database collides on the first table and, being
        // one transaction, leaves the first restore as it was.
        auto again = PgRestore(out, scratch->dsn(), In(120));
        ASSERT_FALSE(again.ok());
        EXPECT_EQ(again.error().code, ErrorCode::kStorage);
        EXPECT_EQ(again.error().message.rfind("pg_restore failed (exit 1): ", 0), 0u)
            << again.error().message;
        EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
        EXPECT_EQ(again.error().message.find('\n'), std::string::npos);
        EXPECT_EQ(Column(scratch->dsn(), "SELECT count(*) FROM debates")[0], "1");
    }  // the guard goes out of scope on the failure path
    EXPECT_FALSE(DatabaseExists(dsn_, name));

    // Not an archive at all: refused before anything runs against the database.
    std::ofstream(dir_ / "junk.dump") << "not a dump";
    {
        auto scratch = PgScratchDatabase::Create(dsn_, In(60));
        ASSERT_TRUE(scratch.ok());
        name = scratch->name();
        auto r = PgRestore(dir_ / "junk.dump", scratch->dsn(), In(60));
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ErrorCode::kValidation);
        EXPECT_NE(r.error().message.find("is not a pg_dump custom-format archive"),
                  std::string::npos)
            << r.error().message;
    }
    EXPECT_FALSE(DatabaseExists(dsn_, name));
}

TEST_F(PgBackupTest, DropRefusesADatabaseThatIsNotAScratchDatabase) {
    auto s = DropPgScratchDatabase(dsn_, source_.db().name(), In(30));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kForbidden);
    EXPECT_TRUE(DatabaseExists(dsn_, source_.db().name()));
    // A scratch name that does not exist is fine (IF EXISTS).
    EXPECT_TRUE(DropPgScratchDatabase(dsn_, "aragora_verify_000000000000", In(30)).ok());
}

TEST_F(PgBackupTest, ABogusPgDumpPathIsOneClearErrorAndLeavesNoFile) {
    PgDumpOptions tools;
    tools.tools.pg_dump = "/nonexistent/bin/pg_dump";
    auto r = PgDump(dsn_, dir_ / "x.dump", In(30), tools);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(r.error().message,
              "cannot run /nonexistent/bin/pg_dump: No such file or directory (install the "
              "PostgreSQL client tools (Debian: apt install postgresql-client) or put them in "
              "PATH)");
    EXPECT_TRUE(FilesIn(dir_).empty());
}

TEST_F(PgBackupTest, AServerThatDoesNotAnswerFailsWithinTheDeadline) {
    // A listening socket nobody accepts on: TCP connects, PostgreSQL never answers.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::string silent =
        "postgresql://postgres:pw@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
        "/aragora?connect_timeout=600";

    const auto start = Clock::now();
    auto r = PgDump(silent, dir_ / "x.dump", Clock::now() + seconds(3));
    const auto took = Clock::now() - start;
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kTimeout) << r.error().message;
    EXPECT_NE(r.error().message.find("did not answer within 3 s"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().message.find("pw"), std::string::npos);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    EXPECT_LT(took, seconds(20));  // the configured 600 s did not apply
    EXPECT_TRUE(FilesIn(dir_).empty());

    auto i = InspectPg(silent, Clock::now() + seconds(2));
    ASSERT_FALSE(i.ok());
    EXPECT_EQ(i.error().code, ErrorCode::kTimeout);
    ::close(fd);
}

TEST_F(PgBackupTest, AServerThatFreezesAfterConnectingIsCutAtTheDeadline) {
    FrozenAfterHandshakeServer frozen;
    auto start = Clock::now();
    auto i = InspectPg(frozen.Dsn(), Clock::now() + seconds(2));
    ASSERT_FALSE(i.ok());
    EXPECT_EQ(i.error().code, ErrorCode::kTimeout) << i.error().message;
    EXPECT_EQ(i.error().message, "PostgreSQL did not answer within the deadline (inspect)");
    EXPECT_LT(Clock::now() - start, seconds(20));

    start = Clock::now();
    auto d = PgDump(frozen.Dsn(), dir_ / "x.dump", Clock::now() + seconds(2));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kTimeout) << d.error().message;
    EXPECT_LT(Clock::now() - start, seconds(20));
    EXPECT_TRUE(FilesIn(dir_).empty());

    auto scratch = PgScratchDatabase::Create(frozen.Dsn(), Clock::now() + seconds(2));
    ASSERT_FALSE(scratch.ok());
    EXPECT_EQ(scratch.error().code, ErrorCode::kTimeout);
}

TEST_F(PgBackupTest, PgRestoreVersionProblemsAreOneClearLine) {
    std::ofstream(dir_ / "a.dump") << "PGDMP";
    PgTools tools;
    // An archive from a newer server than the target.
    tools.pg_restore = FakeTool("pg_restore_newer",
                                "case \"$1\" in --list) echo ';     dbname: aragora'; "
                                "echo ';     Dumped from database version: 99.1'; "
                                "echo ';     Dumped by pg_dump version: 99.1';; *) echo ran > " +
                                    (dir_ / "ran").string() + ";; esac");
    auto r = PgRestore(dir_ / "a.dump", dsn_, In(60), tools);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(r.error().message.rfind("the backup was taken from PostgreSQL 99.1 and the target "
                                      "server runs 15.",
                                      0),
              0u)
        << r.error().message;
    EXPECT_NE(r.error().message.find("restore it into a PostgreSQL 99 server or newer"),
              std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / "ran"));

    // An archive format newer than this pg_restore reads.
    tools.pg_restore = FakeTool("pg_restore_older",
                                "case \"$1\" in --version) echo 'pg_restore (PostgreSQL) 15.18';; "
                                "*) echo 'pg_restore: error: unsupported version (1.16) in file "
                                "header' >&2; exit 1;; esac");
    r = PgRestore(dir_ / "a.dump", dsn_, In(60), tools);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(r.error().message.rfind("pg_restore 15.18 is older than the pg_dump that wrote ", 0),
              0u)
        << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST_F(PgBackupTest, APgDumpStillRunningAtTheDeadlineIsStoppedAndLeavesNoFile) {
    PgDumpOptions tools;
    tools.tools.pg_dump = FakeTool("pg_dump",
                                   "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 99.1';; "
                                   "*) printf PGDMP; exec sleep 60;; esac");
    auto r = PgDump(dsn_, dir_ / "out" / "x.dump", In(3), tools);
    ASSERT_FALSE(r.ok());  // the directory does not exist
    fs::create_directory(dir_ / "out");
    const auto start = Clock::now();
    r = PgDump(dsn_, dir_ / "out" / "x.dump", In(3), tools);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
    EXPECT_NE(r.error().message.find("did not finish before the deadline"), std::string::npos);
    EXPECT_LT(Clock::now() - start, seconds(20));
    EXPECT_TRUE(FilesIn(dir_ / "out").empty());
}

TEST_F(PgBackupTest, ThePasswordGoesToPgDumpThroughItsEnvironmentOnly) {
    const fs::path args = dir_ / "args.txt";
    const fs::path pw = dir_ / "pw.txt";
    PgDumpOptions tools;
    tools.tools.pg_dump = FakeTool("pg_dump",
                                   "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 99.1';; "
                                   "*) echo \"$@\" > " +
                                       args.string() + "; echo \"$PGPASSWORD\" > " + pw.string() +
                                       "; printf PGDMP;; esac");
    // The test server trusts local connections, so any password is accepted.
    auto with_password = storage::BuildPgDsn(source_.db().url(), "s3cr3t-pw");
    ASSERT_TRUE(with_password.ok());
    ASSERT_NE(with_password->find("s3cr3t-pw"), std::string::npos);
    ::setenv("PGPASSWORD", "from-the-parent", 1);
    auto r = PgDump(*with_password, dir_ / "x.dump", In(60), tools);
    ::unsetenv("PGPASSWORD");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(ReadAll(dir_ / "x.dump"), "PGDMP");
    const std::string argv = ReadAll(args);
    EXPECT_EQ(argv.find("s3cr3t"), std::string::npos) << argv;
    EXPECT_NE(argv.find("--format=custom"), std::string::npos);
    EXPECT_NE(argv.find("--snapshot="), std::string::npos);  // the exported snapshot
    EXPECT_NE(argv.find("dbname='" + source_.db().name() + "'"), std::string::npos) << argv;
    EXPECT_EQ(ReadAll(pw), "s3cr3t-pw\n");
}

TEST_F(PgBackupTest, AnOlderPgDumpThanTheServerIsRefusedBeforeDumping) {
    PgDumpOptions tools;
    tools.tools.pg_dump = FakeTool("pg_dump",
                                   "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 9.6.24';; "
                                   "*) echo ran > " +
                                       (dir_ / "ran").string() + ";; esac");
    auto r = PgDump(dsn_, dir_ / "x.dump", In(60), tools);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(r.error().message.rfind("pg_dump 9.6.24 is older than the PostgreSQL 15.", 0), 0u)
        << r.error().message;
    EXPECT_NE(r.error().message.find("postgresql-client-15"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / "ran"));
    EXPECT_FALSE(fs::exists(dir_ / "x.dump"));
}

TEST_F(PgBackupTest, AFailingPgDumpGivesItsErrorLine) {
    auto missing = PgDsnForDatabase(dsn_, "aragora_no_such_db");
    ASSERT_TRUE(missing.ok());
    // The version check connects first: a missing database is caught there, one line.
    auto r = PgDump(*missing, dir_ / "x.dump", In(60));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_NE(r.error().message.find("database \"aragora_no_such_db\" does not exist"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);

    PgDumpOptions tools;
    tools.tools.pg_dump =
        FakeTool("pg_dump",
                 "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 99.1';; "
                 "*) echo 'pg_dump: error: query failed: ERROR:  boom' >&2; "
                 "echo 'pg_dump: detail: Query was: SELECT 1' >&2; exit 1;; esac");
    r = PgDump(dsn_, dir_ / "x.dump", In(60), tools);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kStorage);
    EXPECT_EQ(r.error().message,
              "pg_dump failed (exit 1): query failed: ERROR: boom; detail: Query was: SELECT 1");
    EXPECT_TRUE(FilesIn(dir_).size() == 1);  // only the fake tool
}

TEST_F(PgBackupTest, InspectionSeesChangedRowsAndNamesIntegrityProblems) {
    const auto keys = TestReceiptKeys();
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(FinishSignedDebate(*stores_.store, "deb_" + std::to_string(i), keys).ok());
    }
    auto clean = InspectPg(dsn_, In(60));
    ASSERT_TRUE(clean.ok()) << clean.error().message;
    ASSERT_TRUE(clean->problems.empty());

    // A receipt altered in place changes that table's checksum and no other.
    source_.db().Exec(
        "UPDATE receipts SET json = replace(json, 'deb_1', 'deb_X') "
        "WHERE receipt_id = 'rcpt_deb_1'");
    auto altered = InspectPg(dsn_, In(60));
    ASSERT_TRUE(altered.ok());
    for (std::size_t i = 0; i < clean->tables.size(); ++i) {
        if (clean->tables[i].name == "receipts") {
            EXPECT_NE(clean->tables[i].checksum, altered->tables[i].checksum);
        } else {
            EXPECT_EQ(clean->tables[i].checksum, altered->tables[i].checksum)
                << clean->tables[i].name;
        }
        EXPECT_EQ(clean->tables[i].rows, altered->tables[i].rows);
    }
    EXPECT_EQ(clean->schema_hash, altered->schema_hash);

    // Rows that bypassed the foreign keys (replication role skips their triggers) are
    // found by the anti-join and named with their table.
    Exec(dsn_,
         "SET session_replication_role = replica; "
         "INSERT INTO debate_events (debate_id, seq, type, timestamp) VALUES ('ghost', 1, 'x', 1); "
         "INSERT INTO debate_events (debate_id, seq, type, timestamp) VALUES ('ghost', 2, 'x', 2)");
    auto broken = InspectPg(dsn_, In(60));
    ASSERT_TRUE(broken.ok());
    ASSERT_EQ(broken->problems.size(), 1u);
    EXPECT_EQ(broken->problems[0],
              "debate_events: 2 row(s) violate foreign key debate_events_debate_id_fkey "
              "(debate_id) -> debates (id)");

    // A schema change shows in the schema hash.
    source_.db().Exec("ALTER TABLE debates ADD COLUMN extra TEXT");
    auto changed = InspectPg(dsn_, In(60));
    ASSERT_TRUE(changed.ok());
    EXPECT_NE(changed->schema_hash, clean->schema_hash);
}

}  // namespace
}  // namespace aragora::ops
