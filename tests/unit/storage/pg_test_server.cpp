#include "pg_test_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace aragora::storage::test_support {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kDefaultBinDir = "/usr/lib/postgresql/15/bin";

std::string BinDir() {
    const char* env = std::getenv("ARAGORA_PG_BINDIR");
    return env != nullptr && *env != '\0' ? env : kDefaultBinDir;
}

struct RunAs {
    bool switch_user = false;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The server refuses to run as root: then it (and initdb) run as `postgres`.
bool ResolveUser(RunAs* who, std::string* error) {
    who->uid = geteuid();
    who->gid = getegid();
    if (who->uid != 0) return true;
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
        *error = "running as root and there is no `postgres` user to run PostgreSQL as";
        return false;
    }
    who->switch_user = true;
    who->uid = pw->pw_uid;
    who->gid = pw->pw_gid;
    return true;
}

// Forks and execs `argv` as `who`, output to `log`. In the child only async-signal-safe
// calls. With `die_with_parent`, the child gets SIGQUIT (PostgreSQL's immediate shutdown)
// when this thread exits.
pid_t Spawn(const std::vector<std::string>& argv, const RunAs& who, const std::string& log,
            bool die_with_parent) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid != 0) return pid;
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (who.switch_user) {
        if (setgroups(0, nullptr) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0) _exit(126);
    }
    // After setuid: a credential change clears the parent-death signal.
    if (die_with_parent) {
        prctl(PR_SET_PDEATHSIG, SIGQUIT);
        if (getppid() != parent) _exit(125);
    }
    execv(args[0], args.data());
    _exit(127);
}

// Waits for `pid` until `deadline`; the exit code, or -1 on timeout (the child is killed).
int WaitExit(pid_t pid, Clock::time_point deadline) {
    while (true) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0) return -1;
        if (Clock::now() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int RunToEnd(const std::vector<std::string>& argv, const RunAs& who, const std::string& log,
             std::chrono::seconds timeout) {
    return WaitExit(Spawn(argv, who, log, /*die_with_parent=*/false), Clock::now() + timeout);
}

std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void Chown(const std::string& path, const RunAs& who) {
    if (who.switch_user && chown(path.c_str(), who.uid, who.gid) != 0)
        throw std::runtime_error("chown " + path + " failed");
}

int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = 0;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

double SecondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// initdb once per machine (per PostgreSQL bin dir and user), under a file lock, into a
// template that every test process copies: initdb takes ~1 s, a copy ~0.1 s.
bool EnsureTemplate(const RunAs& who, std::string* template_dir, double* initdb_seconds,
                    std::string* error) {
    const std::string base =
        (fs::temp_directory_path() / ("aragora-pg-template-15-uid" + std::to_string(who.uid)))
            .string();
    *template_dir = base + "/data";
    const std::string lock_path = base + ".lock";
    const int lock = open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        *error = "cannot lock " + lock_path;
        if (lock >= 0) close(lock);
        return false;
    }
    struct Unlock {
        int fd;
        ~Unlock() { close(fd); }
    } unlock{lock};
    if (fs::exists(*template_dir + "/PG_VERSION")) return true;

    std::error_code ec;
    fs::remove_all(base, ec);
    fs::create_directories(base, ec);
    if (ec) {
        *error = "cannot create " + base + ": " + ec.message();
        return false;
    }
    Chown(base, who);
    const std::string staging = base + "/staging";
    const std::string log = base + "/initdb.log";
    const auto start = Clock::now();
    const int rc = RunToEnd({BinDir() + "/initdb", "-D", staging, "-N", "-A", "trust", "-U",
                             "postgres", "-E", "UTF8", "--locale=C"},
                            who, log, std::chrono::seconds(120));
    *initdb_seconds = SecondsSince(start);
    if (rc != 0) {
        *error = "initdb failed (exit " + std::to_string(rc) + "): " + ReadFile(log);
        return false;
    }
    fs::rename(staging, *template_dir, ec);
    if (ec) {
        *error = "cannot rename the initdb template: " + ec.message();
        return false;
    }
    return true;
}

PgTestServer* g_server = nullptr;

class PgServerEnvironment final : public ::testing::Environment {
public:
    void TearDown() override {
        if (g_server != nullptr) g_server->Stop();
    }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgServerEnvironment);

std::string FirstLine(std::string text) {
    for (std::string_view prefix : {"ERROR:  ", "FATAL:  "}) {
        if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
    }
    const auto nl = text.find('\n');
    if (nl != std::string::npos) text.resize(nl);
    return text;
}

std::string AdminConninfo(int port) {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " dbname=postgres user=postgres connect_timeout=5";
}

}  // namespace

// --- PgTestServer

PgTestServer* PgTestServer::Get(std::string* error) {
    static std::string start_error;
    static bool tried = false;
    if (!tried) {
        tried = true;
        auto server = std::unique_ptr<PgTestServer>(new PgTestServer());
        if (server->Start(&start_error)) g_server = server.release();
    }
    if (g_server == nullptr) *error = "PostgreSQL test server unavailable: " + start_error;
    return g_server;
}

PgTestServer::~PgTestServer() { Stop(); }

std::string PgTestServer::UrlFor(const std::string& db) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

bool PgTestServer::Start(std::string* error) {
    const std::string postgres = BinDir() + "/postgres";
    if (access(postgres.c_str(), X_OK) != 0 || access((BinDir() + "/initdb").c_str(), X_OK) != 0) {
        *error = "PostgreSQL 15 server binaries not found in " + BinDir() +
                 " (install the `postgresql` package: `make test` / scripts/install-deps.sh do)";
        return false;
    }
    RunAs who;
    if (!ResolveUser(&who, error)) return false;
    try {
        std::string template_dir;
        if (!EnsureTemplate(who, &template_dir, &initdb_seconds_, error)) return false;

        std::string pattern = (fs::temp_directory_path() / "aragora-pg-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            *error = "mkdtemp failed";
            return false;
        }
        dir_ = pattern;
        Chown(dir_, who);
        const std::string data = dir_ + "/data";
        const std::string log = dir_ + "/postgres.log";
        if (RunToEnd({"/bin/cp", "-a", template_dir, data}, who, log, std::chrono::seconds(60)) !=
            0) {
            *error = "copying the initdb template failed: " + ReadFile(log);
            return false;
        }

        // A port taken between FreePort() and the bind: try another.
        for (int attempt = 0; attempt < 3; ++attempt) {
            port_ = FreePort();
            if (Spawn(error)) return true;
            if (pid_ > 0) return false;  // still starting after 30 s (killed)
        }
        return false;
    } catch (const std::exception& e) {
        *error = e.what();
        return false;
    }
}

bool PgTestServer::Spawn(std::string* error) {
    RunAs who;
    if (!ResolveUser(&who, error)) return false;
    const std::string data = dir_ + "/data";
    const std::string log = dir_ + "/postgres.log";
    const auto start = Clock::now();
    pid_ = storage::test_support::Spawn(
        {BinDir() + "/postgres", "-D", data, "-p", std::to_string(port_), "-c",
         "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir_, "-c", "fsync=off"},
        who, log, /*die_with_parent=*/true);
    const auto deadline = start + std::chrono::seconds(30);
    const std::string conninfo = AdminConninfo(port_) + " connect_timeout=1";
    while (Clock::now() < deadline) {
        if (PQping(conninfo.c_str()) == PQPING_OK) {
            start_seconds_ = SecondsSince(start);
            return true;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            *error = "PostgreSQL exited while starting: " + ReadFile(log);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    *error = "PostgreSQL did not accept connections within 30 s: " + ReadFile(log);
    return false;
}

bool PgTestServer::Shutdown(std::string* error) {
    if (pid_ <= 0) return true;
    kill(pid_, SIGINT);  // fast shutdown
    const int rc = WaitExit(pid_, Clock::now() + std::chrono::seconds(30));
    pid_ = -1;
    if (rc != 0) {
        *error = "PostgreSQL fast shutdown ended with " + std::to_string(rc);
        return false;
    }
    return true;
}

bool PgTestServer::StartAgain(std::string* error) {
    if (pid_ > 0) return true;
    if (dir_.empty()) {
        *error = "the PostgreSQL test server was stopped for good";
        return false;
    }
    return Spawn(error);
}

void PgTestServer::Stop() {
    if (pid_ > 0) {
        kill(pid_, SIGQUIT);
        WaitExit(pid_, Clock::now() + std::chrono::seconds(10));
        pid_ = -1;
    }
    if (!dir_.empty()) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
        dir_.clear();
    }
}

// --- PgTestDatabase

PgTestDatabase::PgTestDatabase(const std::string& create_options) {
    server_ = PgTestServer::Get(&error_);
    if (server_ == nullptr) return;
    static std::atomic<int> counter{0};
    name_ = "aragora_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    try {
        pqxx::connection admin(AdminConninfo(server_->port()));
        pqxx::nontransaction tx(admin);
        tx.exec("CREATE DATABASE " + name_ + " " + create_options);
    } catch (const std::exception& e) {
        error_ = std::string("CREATE DATABASE failed: ") + e.what();
    }
}

PgTestDatabase::~PgTestDatabase() {
    if (server_ == nullptr || !error_.empty()) return;
    try {
        pqxx::connection admin(AdminConninfo(server_->port()));
        pqxx::nontransaction tx(admin);
        tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
        ADD_FAILURE() << "DROP DATABASE " << name_ << " failed: " << e.what();
    }
}

std::string PgTestDatabase::url() const {
    return server_ != nullptr ? server_->UrlFor(name_) : std::string();
}

void PgTestDatabase::Exec(const std::string& sql) {
    try {
        pqxx::connection c(url());
        pqxx::nontransaction tx(c);
        tx.exec(sql);
    } catch (const std::exception& e) {
        throw std::runtime_error(FirstLine(e.what()));
    }
}

std::string PgTestDatabase::ExecError(const std::string& sql) {
    try {
        Exec(sql);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

std::vector<std::string> PgTestDatabase::Column(const std::string& sql) {
    pqxx::connection c(url());
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const auto& row : tx.exec(sql))
        out.emplace_back(row[0].is_null() ? "<null>" : row[0].c_str());
    return out;
}

}  // namespace aragora::storage::test_support
