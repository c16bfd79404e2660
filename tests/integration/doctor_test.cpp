// `aragora doctor` against the built binary (issue 19): each check broken on purpose gives
// its line and exit 1; with PostgreSQL (or Redis) frozen by SIGSTOP it still answers within
// 10 s, the database (redis) line failed. Real PostgreSQL (the storage tests' PgTestServer)
// and redis-server; ports on loopback held by sockets the test owns.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/crypto.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/redis/redis_test_server.hpp"
#include "unit/storage/pg_test_server.hpp"

namespace aragora::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::steady_clock;
using storage::test_support::PgTestDatabase;
using storage::test_support::PgTestServer;

// A loopback TCP port the test holds: bound only (connections are refused) or listening
// (connections complete in the kernel's backlog and are never accepted or answered).
class HeldPort {
public:
    explicit HeldPort(bool listen) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
        if (listen && ::listen(fd_, 16) != 0) return;
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~HeldPort() {
        if (fd_ >= 0) ::close(fd_);
    }
    HeldPort(const HeldPort&) = delete;
    HeldPort& operator=(const HeldPort&) = delete;
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

// SIGSTOP now, SIGCONT when the scope ends (a failing assertion included).
class Frozen {
public:
    explicit Frozen(pid_t pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
    ~Frozen() { ::kill(pid_, SIGCONT); }
    Frozen(const Frozen&) = delete;
    Frozen& operator=(const Frozen&) = delete;

private:
    pid_t pid_;
};

class DoctorTest : public ::testing::Test {
protected:
    std::string Path(const std::string& name) const {
        return (fs::path(dir_.path()) / name).string();
    }

    // Development, a fresh data dir, every port 0 (skipped): the baseline passes.
    std::map<std::string, std::string> Env(std::map<std::string, std::string> overrides = {}) {
        std::map<std::string, std::string> env = {
            {"ARAGORA_ENV", "development"}, {"ARAGORA_DATA_DIR", Path("data")},
            {"ARAGORA_API_PORT", "0"},      {"ARAGORA_WS_PORT", "0"},
            {"ARAGORA_METRICS_PORT", "0"},
        };
        for (auto& [k, v] : overrides) env[k] = v;
        return env;
    }

    ProcessResult Doctor(const std::map<std::string, std::string>& env,
                         std::vector<std::string> flags = {}) {
        std::vector<std::string> args{ARAGORA_BINARY, "doctor"};
        args.insert(args.end(), flags.begin(), flags.end());
        return RunProcess(args, env, 60);
    }

    // The line of check `name` ("" when absent).
    static std::string LineOf(const std::string& out, const std::string& name) {
        std::istringstream in(out);
        std::string line;
        while (std::getline(in, line)) {
            const auto at = line.find(" " + name + ": ");
            if (line.rfind("  ", 0) == 0 && at != std::string::npos && at <= 6) return line;
        }
        return "";
    }
    static bool Starts(const std::string& line, const std::string& prefix) {
        return line.rfind(prefix, 0) == 0;
    }
    static bool Has(const std::string& text, const std::string& part) {
        return text.find(part) != std::string::npos;
    }

    TempDir dir_;
};

TEST_F(DoctorTest, AHealthyDevelopmentSetupPassesAndCreatesNothing) {
    auto r = Doctor(Env());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(Has(r.out, "ARAGORA HEALTH CHECK")) << r.out;
    for (const char* name :
         {"settings", "secrets", "data dir", "backup dir", "database", "receipt keys", "clock"}) {
        EXPECT_TRUE(Starts(LineOf(r.out, name), std::string("  ✓ ") + name + ": ")) << r.out;
    }
    EXPECT_TRUE(Starts(LineOf(r.out, "log dir"), "  ○ log dir: skipped (")) << r.out;
    EXPECT_TRUE(Starts(LineOf(r.out, "api port"), "  ○ api port: skipped (")) << r.out;
    EXPECT_TRUE(Has(LineOf(r.out, "receipt keys"), "no local key yet")) << r.out;
    EXPECT_TRUE(Has(r.out, "Summary: ")) << r.out;
    // Nothing written: no data dir, no database, no local receipt key.
    EXPECT_FALSE(fs::exists(Path("data"))) << r.out;
}

TEST_F(DoctorTest, JsonShapeAndTheValidateAlias) {
    auto r = Doctor(Env(), {"--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    json::value doc = json::parse(r.out);
    const auto& o = doc.as_object();
    EXPECT_EQ(o.at("ok"), true);
    EXPECT_TRUE(o.at("duration_ms").is_int64());
    const auto& checks = o.at("checks").as_array();
    std::vector<std::string> names;
    for (const auto& c : checks) {
        const auto& co = c.as_object();
        names.push_back(std::string(co.at("name").as_string()));
        const std::string status(co.at("status").as_string());
        EXPECT_TRUE(status == "ok" || status == "warn" || status == "fail" || status == "skip");
        EXPECT_TRUE(co.at("detail").is_string());
        EXPECT_TRUE(co.at("duration_ms").is_int64());
    }
    const std::vector<std::string> expected = {
        "settings", "database",   "redis",        "api port", "ws port", "secrets",      "data dir",
        "log dir",  "backup dir", "metrics port", "clock",    "backups", "receipt keys",
    };
    for (const auto& n : expected) {
        EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
    }

    auto alias = RunProcess({ARAGORA_BINARY, "validate"}, Env(), 60);
    EXPECT_EQ(alias.exit_code, 0) << alias.out;
    EXPECT_TRUE(Has(alias.out, "ARAGORA HEALTH CHECK"));
    EXPECT_EQ(Doctor(Env(), {"--no-such-flag"}).exit_code, 2);
}

TEST_F(DoctorTest, ABadSettingIsTheSettingsLineAndSkipsWhatDependsOnIt) {
    auto r = Doctor(Env({{"ARAGORA_API_PORT", "eighty"}}));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(Starts(LineOf(r.out, "settings"),
                       "  ✗ settings: ARAGORA_API_PORT must be an integer in [0, 65535], got "
                       "'eighty'"))
        << r.out;
    EXPECT_EQ(LineOf(r.out, "api port"),
              "  ○ api port: skipped (ARAGORA_API_PORT is invalid, see settings)")
        << r.out;
    // The others still ran on the remaining settings.
    EXPECT_TRUE(Starts(LineOf(r.out, "database"), "  ✓ database: sqlite ")) << r.out;
}

TEST_F(DoctorTest, AMissingProductionSecretIsTheSecretsLine) {
    auto r =
        Doctor(Env({{"ARAGORA_ENV", "production"}, {"ARAGORA_JWT_SECRET", std::string(40, 'j')}}));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(Starts(LineOf(r.out, "settings"), "  ✓ settings: ARAGORA_ENV=production")) << r.out;
    EXPECT_TRUE(Starts(LineOf(r.out, "secrets"),
                       "  ✗ secrets: ARAGORA_ENV=production requires ARAGORA_RECEIPT_SIGNING_KEY"))
        << r.out;

    auto ok = Doctor(Env({{"ARAGORA_ENV", "production"},
                          {"ARAGORA_JWT_SECRET", std::string(40, 'j')},
                          {"ARAGORA_RECEIPT_SIGNING_KEY", "prod-key"}}));
    EXPECT_EQ(ok.exit_code, 0) << ok.out;
    EXPECT_TRUE(Starts(LineOf(ok.out, "secrets"), "  ✓ secrets: production: ")) << ok.out;
}

TEST_F(DoctorTest, AnUnwritableDataDirFails) {
    // A file where the directory should be.
    WriteAll(Path("file"), "x");
    auto r = Doctor(Env({{"ARAGORA_DATA_DIR", Path("file")}}));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_EQ(LineOf(r.out, "data dir"),
              "  ✗ data dir: " + Path("file") + " is not a directory (ARAGORA_DATA_DIR)")
        << r.out;

    // A directory that cannot be written: sysfs refuses new files even to root.
    std::string locked = "/sys";
    if (::geteuid() != 0) {
        locked = Path("locked");
        fs::create_directory(locked);
        ::chmod(locked.c_str(), 0555);
    }
    auto w = Doctor(Env({{"ARAGORA_DATA_DIR", locked}}));
    EXPECT_EQ(w.exit_code, 1) << w.out;
    EXPECT_TRUE(Starts(LineOf(w.out, "data dir"), "  ✗ data dir: " + locked + " is not writable: "))
        << w.out;
    if (locked != "/sys") ::chmod(locked.c_str(), 0755);
}

TEST_F(DoctorTest, AnUnreachableDatabaseFails) {
    HeldPort closed(/*listen=*/false);
    ASSERT_GT(closed.port(), 0);
    auto r = Doctor(Env({{"DATABASE_URL", "postgresql://aragora:hunter2@127.0.0.1:" +
                                              std::to_string(closed.port()) + "/aragora"}}));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    const std::string line = LineOf(r.out, "database");
    EXPECT_TRUE(Starts(line, "  ✗ database: postgresql postgresql://aragora:***@127.0.0.1:"))
        << r.out;
    EXPECT_TRUE(Has(line, "unreachable")) << line;
    EXPECT_FALSE(Has(r.out, "hunter2")) << r.out;
}

// The newest schema version recorded in the SQLite database (-1 on error).
int SchemaVersion(const std::string& path) {
    sqlite3* db = nullptr;
    int version = -1;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_migrations", -1, &st,
                               nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            version = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return version;
}

TEST_F(DoctorTest, PendingMigrationsFail) {
    auto up = RunProcess({ARAGORA_BINARY, "db", "migrate", "--upgrade"}, Env(), 60);
    ASSERT_EQ(up.exit_code, 0) << up.err;
    const std::string path = Path("data/aragora.sqlite3");
    auto current = Doctor(Env());
    EXPECT_EQ(current.exit_code, 0) << current.out;
    EXPECT_TRUE(Has(LineOf(current.out, "database"), "(current)")) << current.out;

    // An old schema: the last migration forgotten.
    const int latest = SchemaVersion(path);
    ASSERT_GT(latest, 1);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string forget =
        "DELETE FROM schema_migrations WHERE version = " + std::to_string(latest);
    ASSERT_EQ(sqlite3_exec(db, forget.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);

    auto r = Doctor(Env());
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_EQ(LineOf(r.out, "database"),
              "  ✗ database: sqlite " + path + ": schema version " + std::to_string(latest - 1) +
                  ", 1 migration(s) pending (latest " + std::to_string(latest) +
                  "); apply them with `aragora db migrate --upgrade` (serve applies them at "
                  "start, under the migration lock)")
        << r.out;
    // The doctor applied nothing.
    EXPECT_EQ(SchemaVersion(path), latest - 1);
}

TEST_F(DoctorTest, RedisOnAClosedPortFails) {
    HeldPort closed(/*listen=*/false);
    ASSERT_GT(closed.port(), 0);
    auto r = Doctor(
        Env({{"ARAGORA_REDIS_URL", "redis://127.0.0.1:" + std::to_string(closed.port()) + "/0"}}));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_TRUE(Starts(LineOf(r.out, "redis"),
                       "  ✗ redis: redis://127.0.0.1:" + std::to_string(closed.port()) + "/0: "))
        << r.out;
}

TEST_F(DoctorTest, APortHeldByAnotherProgramFailsNamingTheVariable) {
    HeldPort held(/*listen=*/true);
    ASSERT_GT(held.port(), 0);
    const std::string port = std::to_string(held.port());
    auto r = Doctor(Env({{"ARAGORA_WS_PORT", port}}));
    EXPECT_EQ(r.exit_code, 1) << r.out;
    const std::string line = LineOf(r.out, "ws port");
    EXPECT_TRUE(Starts(line, "  ✗ ws port: 127.0.0.1:" + port + " is in use by another program ("))
        << r.out;
    EXPECT_TRUE(Has(line, "set ARAGORA_WS_PORT")) << line;
}

TEST_F(DoctorTest, PortsHeldByARunningAragoraAreFine) {
    ServerProcess server(Path("data"));
    ASSERT_TRUE(server.StartReady()) << server.error() << server.Logs();
    auto r = Doctor(Env({{"ARAGORA_API_PORT", std::to_string(server.api_port())},
                         {"ARAGORA_WS_PORT", std::to_string(server.ws_port())},
                         {"ARAGORA_METRICS_PORT", std::to_string(server.metrics_port())},
                         {"ARAGORA_RECEIPT_SIGNING_KEY", "integration-key-1"}}));
    EXPECT_EQ(LineOf(r.out, "api port"),
              "  ✓ api port: 127.0.0.1:" + std::to_string(server.api_port()) +
                  " held by aragora (GET /healthz answered)")
        << r.out;
    EXPECT_TRUE(
        Starts(LineOf(r.out, "ws port"),
               "  ✓ ws port: 127.0.0.1:" + std::to_string(server.ws_port()) + " held by aragora"))
        << r.out;
    EXPECT_TRUE(Starts(LineOf(r.out, "metrics port"),
                       "  ✓ metrics port: 127.0.0.1:" + std::to_string(server.metrics_port()) +
                           " held by aragora"))
        << r.out;
    EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_F(DoctorTest, ReceiptKeyIdsAndACorruptKeyFile) {
    auto ok = Doctor(Env({{"ARAGORA_RECEIPT_SIGNING_KEY", "current-key"},
                          {"ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS", "old-key"}}));
    EXPECT_EQ(ok.exit_code, 0) << ok.out;
    const std::string id = common::Sha256Hex("current-key").substr(0, 16);
    const std::string previous = common::Sha256Hex("old-key").substr(0, 16);
    EXPECT_EQ(LineOf(ok.out, "receipt keys"),
              "  ✓ receipt keys: HMAC key id " + id +
                  " (ARAGORA_RECEIPT_SIGNING_KEY), previous HMAC key id " + previous +
                  " (ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS)")
        << ok.out;

    WriteAll(Path("ed25519.pem"),
             "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
    auto bad = Doctor(Env({{"ARAGORA_RECEIPT_SIGNING_KEY", "current-key"},
                           {"ARAGORA_RECEIPT_ED25519_KEY_FILE", Path("ed25519.pem")}}));
    EXPECT_EQ(bad.exit_code, 1) << bad.out;
    EXPECT_TRUE(Starts(LineOf(bad.out, "receipt keys"),
                       "  ✗ receipt keys: ARAGORA_RECEIPT_ED25519_KEY_FILE: " +
                           Path("ed25519.pem") + " is not an Ed25519 PKCS#8 PEM private key"))
        << bad.out;

    // Development: the local key file is read when it exists; an empty one fails.
    fs::create_directories(Path("data"));
    WriteAll(Path("data/receipt_signing.key"), "\n");
    ::chmod(Path("data/receipt_signing.key").c_str(), 0600);
    auto empty = Doctor(Env());
    EXPECT_EQ(empty.exit_code, 1) << empty.out;
    EXPECT_EQ(LineOf(empty.out, "receipt keys"),
              "  ✗ receipt keys: " + Path("data/receipt_signing.key") + " is empty")
        << empty.out;
    WriteAll(Path("data/receipt_signing.key"), "bG9jYWwta2V5\n");
    auto local = Doctor(Env());
    EXPECT_EQ(local.exit_code, 0) << local.out;
    EXPECT_EQ(LineOf(local.out, "receipt keys"),
              "  ✓ receipt keys: HMAC key id " + common::Sha256Hex("bG9jYWwta2V5").substr(0, 16) +
                  " (" + Path("data/receipt_signing.key") + ")")
        << local.out;
}

TEST_F(DoctorTest, AStaleBackupWarnsAndFailsWithStrictACorruptManifestFails) {
    fs::create_directories(Path("backups"));
    WriteAll(Path("backups/manifest.json"),
             R"({"backups": {"0a1b2c3d": {"id": "0a1b2c3d", "created_at": "2020-01-01T02:00:00Z",
                 "status": "verified"}}, "updated_at": "2020-01-01T02:00:05Z"})");
    const auto env = Env({{"BACKUP_DIR", Path("backups")}});
    auto stale = Doctor(env);
    EXPECT_EQ(stale.exit_code, 0) << stale.out;  // a warning
    const std::string line = LineOf(stale.out, "backups");
    EXPECT_TRUE(Starts(line, "  ! backups: newest 0a1b2c3d (verified) ")) << stale.out;
    EXPECT_TRUE(Has(line, "older than twice the schedule interval (24.0 h)")) << line;
    auto strict = Doctor(env, {"--strict"});
    EXPECT_EQ(strict.exit_code, 1) << strict.out;

    WriteAll(Path("backups/manifest.json"), "{\"backups\": {\"x\": ");
    auto corrupt = Doctor(env);
    EXPECT_EQ(corrupt.exit_code, 1) << corrupt.out;
    EXPECT_TRUE(Starts(LineOf(corrupt.out, "backups"),
                       "  ✗ backups: " + Path("backups/manifest.json") + ": not valid JSON"))
        << corrupt.out;
}

// A server that accepts and never replies, with a connect_timeout longer than the check's
// deadline: the check is abandoned, reported, and the process still exits in time.
TEST_F(DoctorTest, ACheckThatNeverAnswersIsReportedAtItsDeadline) {
    HeldPort silent(/*listen=*/true);
    ASSERT_GT(silent.port(), 0);
    const auto start = steady_clock::now();
    auto r = Doctor(
        Env({{"DATABASE_URL", "postgresql://aragora@127.0.0.1:" + std::to_string(silent.port()) +
                                  "/aragora?connect_timeout=60"}}),
        {"--json"});
    const double seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
    EXPECT_LT(seconds, 10.0);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    json::value doc = json::parse(r.out);
    EXPECT_EQ(doc.at("ok"), false);
    bool seen = false;
    for (const auto& c : doc.at("checks").as_array()) {
        if (c.at("name") != "database") continue;
        seen = true;
        EXPECT_EQ(c.at("status"), "fail");
        const std::string detail(c.at("detail").as_string());
        EXPECT_TRUE(Starts(detail, "no answer within 5 s; the database accepts connections"))
            << detail;
    }
    EXPECT_TRUE(seen) << r.out;
}

// The acceptance: PostgreSQL frozen (SIGSTOP) ⇒ an answer within 10 s, the database line
// failed, the other checks answered.
TEST_F(DoctorTest, FrozenPostgresStillAnswersWithinTenSeconds) {
    std::string error;
    PgTestServer* server = PgTestServer::Get(&error);
    ASSERT_NE(server, nullptr) << error;
    PgTestDatabase database;
    ASSERT_TRUE(database.error().empty()) << database.error();
    const auto env = Env({{"DATABASE_URL", database.url()}});

    auto live = Doctor(env);
    EXPECT_EQ(live.exit_code, 0) << live.out;
    EXPECT_TRUE(Starts(LineOf(live.out, "database"), "  ✓ database: postgresql ")) << live.out;
    EXPECT_TRUE(Has(LineOf(live.out, "clock"), "PostgreSQL's clock within")) << live.out;

    ProcessResult frozen;
    double seconds = 0;
    {
        Frozen stop(server->pid());
        const auto start = steady_clock::now();
        frozen = Doctor(env);
        seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
    }
    EXPECT_LT(seconds, 10.0) << frozen.out;
    EXPECT_EQ(frozen.exit_code, 1) << frozen.out;
    EXPECT_TRUE(Starts(LineOf(frozen.out, "database"), "  ✗ database: postgresql ")) << frozen.out;
    EXPECT_TRUE(Starts(LineOf(frozen.out, "data dir"), "  ✓ data dir: ")) << frozen.out;
    EXPECT_TRUE(Starts(LineOf(frozen.out, "clock"), "  ✓ clock: ")) << frozen.out;
    EXPECT_TRUE(Has(frozen.out, "Summary: ")) << frozen.out;
}

TEST_F(DoctorTest, FrozenRedisStillAnswersWithinTenSeconds) {
    redis::testing::RedisTestServer redis;
    const std::string started = redis.Start();
    ASSERT_EQ(started, "") << started;
    const auto env = Env({{"ARAGORA_REDIS_URL", redis.Url()}});
    auto live = Doctor(env);
    EXPECT_EQ(live.exit_code, 0) << live.out;
    EXPECT_TRUE(Has(LineOf(live.out, "redis"), ": PONG in ")) << live.out;

    ProcessResult frozen;
    double seconds = 0;
    {
        Frozen stop(redis.pid());
        const auto start = steady_clock::now();
        frozen = Doctor(env);
        seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
    }
    EXPECT_LT(seconds, 10.0) << frozen.out;
    EXPECT_EQ(frozen.exit_code, 1) << frozen.out;
    EXPECT_TRUE(Starts(LineOf(frozen.out, "redis"), "  ✗ redis: " + redis.Url() + "/0: "))
        << frozen.out;
}

}  // namespace
}  // namespace aragora::testing
