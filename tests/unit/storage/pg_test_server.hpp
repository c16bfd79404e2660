#pragma once

// A real PostgreSQL 15 server for the storage tests: started on first use, once per test
// process, on a free 127.0.0.1 port with its data directory and Unix socket in a fresh
// temp dir (fsync off), and stopped (immediate shutdown, dir removed) by a gtest
// Environment at the end of the run, whether tests failed or not. It also dies with the
// test process (PR_SET_PDEATHSIG), so a crashed run leaves no server behind.
//
// Run as root, the server and initdb run as the `postgres` system user. The binaries come
// from /usr/lib/postgresql/15/bin (ARAGORA_PG_BINDIR overrides); when they are missing,
// Get() returns the reason and the PostgreSQL tests fail with it (`make test` installs
// them). initdb runs once per machine into a template dir that each process copies.

#include <memory>
#include <string>
#include <vector>

namespace aragora::storage::test_support {

class PgTestServer {
public:
    // The running server, or nullptr with `*error` set.
    static PgTestServer* Get(std::string* error);

    ~PgTestServer();
    PgTestServer(const PgTestServer&) = delete;
    PgTestServer& operator=(const PgTestServer&) = delete;

    int port() const { return port_; }
    // postgresql://postgres@127.0.0.1:<port>/<db>
    std::string UrlFor(const std::string& db) const;
    // Seconds from fork to accepting connections (and of the template initdb, if run).
    double start_seconds() const { return start_seconds_; }
    double initdb_seconds() const { return initdb_seconds_; }

    // Immediate shutdown and removal of the temp dir. Idempotent.
    void Stop();

    // For the outage tests: a fast shutdown (SIGINT: sessions are terminated, the data dir
    // is kept) and a start again on the same port and data dir. Both wait (30 s at most);
    // false with `*error` on failure. Call them from the thread that called Get(): the
    // server gets SIGQUIT when the thread that spawned it exits.
    bool Shutdown(std::string* error);
    bool StartAgain(std::string* error);
    bool running() const { return pid_ > 0; }
    // The postmaster's pid (for tests that freeze it with SIGSTOP); -1 when stopped.
    int pid() const { return pid_; }

private:
    PgTestServer() = default;
    bool Start(std::string* error);
    // Spawns postgres on port_ and waits until it accepts connections.
    bool Spawn(std::string* error);

    std::string dir_;
    int pid_ = -1;
    int port_ = 0;
    double start_seconds_ = 0;
    double initdb_seconds_ = 0;
};

// A fresh database on the test server, created in the constructor and dropped (WITH
// FORCE) in the destructor. `error()` is non-empty when the server or the database is
// unavailable; tests assert on it.
class PgTestDatabase {
public:
    // `create_options` are appended to CREATE DATABASE (e.g. a locale).
    explicit PgTestDatabase(const std::string& create_options = "");
    ~PgTestDatabase();
    PgTestDatabase(const PgTestDatabase&) = delete;
    PgTestDatabase& operator=(const PgTestDatabase&) = delete;

    const std::string& error() const { return error_; }
    const std::string& name() const { return name_; }
    std::string url() const;

    // Raw SQL on a connection of its own (what the store APIs do not offer: tampering,
    // inspection). Exec throws std::runtime_error with the server's first message line.
    void Exec(const std::string& sql);
    // The server's first message line ("ERROR:  " removed), or "" when `sql` succeeds.
    std::string ExecError(const std::string& sql);
    // First column of every row, as text ("<null>" for NULL).
    std::vector<std::string> Column(const std::string& sql);

private:
    PgTestServer* server_ = nullptr;
    std::string name_;
    std::string error_;
};

}  // namespace aragora::storage::test_support
