#pragma once

// `aragora serve` as a child process for the black-box tests: spawned on 127.0.0.1 with
// every port 0 (the kernel picks free ones), a data directory of the test's choosing,
// its stdout/stderr captured in files; the ports are read from the "listening" log line.
// Stopped with SIGTERM (the exit code is collected) or SIGKILL; the destructor kills a
// server that is still running, so a failing test never leaks one.
//
// Plus the polling helpers every test uses: no test sleeps to synchronize, it polls a
// condition with a deadline.

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http_client.hpp"

namespace aragora::testing {

// The environment every test server starts with (development mode, text logs, small demo
// latency, a fixed receipt signing key); `overrides` replace or add variables.
std::map<std::string, std::string> ServerEnv(const std::string& data_dir,
                                             const std::map<std::string, std::string>& overrides);

class ServerProcess {
public:
    ServerProcess(std::string data_dir, std::map<std::string, std::string> env = {},
                  std::vector<std::string> extra_args = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Spawns the server and waits for its "listening" line. False (see error()) when the
    // process exits first or the deadline passes.
    bool Start(std::chrono::milliseconds deadline = std::chrono::seconds(20));
    // Polls GET /readyz until 200. False at the deadline or if the process exits.
    bool WaitReady(std::chrono::milliseconds deadline = std::chrono::seconds(20));
    bool StartReady(std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
        return Start(deadline) && WaitReady(deadline);
    }
    // The --host to listen on (before Start; default 127.0.0.1). Only the startup-refusal
    // tests use another one (0.0.0.0, with every port 0, stopped at once).
    void set_host(std::string host) { host_ = std::move(host); }

    // SIGTERM, then waits for the exit: its code (128 + signal when killed by one), or
    // -1 when it did not exit in time (it is then killed).
    int Terminate(std::chrono::milliseconds deadline = std::chrono::seconds(30));
    void SendSignal(int signal);
    // SIGKILL and reap.
    void Kill();
    // The exit code once the process has exited within `deadline`.
    std::optional<int> WaitExit(std::chrono::milliseconds deadline);
    bool Running();

    pid_t pid() const { return pid_; }
    std::uint16_t api_port() const { return api_port_; }
    std::uint16_t ws_port() const { return ws_port_; }
    std::uint16_t metrics_port() const { return metrics_port_; }
    const std::string& data_dir() const { return data_dir_; }
    HttpClient Http() const { return HttpClient(api_port_); }

    // Everything the server wrote so far (stderr, then stdout).
    std::string Stderr() const;
    std::string Stdout() const;
    std::string Logs() const { return Stderr() + Stdout(); }
    const std::string& error() const { return error_; }

private:
    std::string data_dir_;
    std::map<std::string, std::string> env_;
    std::vector<std::string> extra_args_;
    std::string host_ = "127.0.0.1";
    std::string io_dir_;
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::uint16_t api_port_ = 0;
    std::uint16_t ws_port_ = 0;
    std::uint16_t metrics_port_ = 0;
    std::string error_;
};

// Polls `condition` every few milliseconds until it holds or `deadline` passes.
bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
               std::chrono::milliseconds interval = std::chrono::milliseconds(10));

// --- debate helpers (API.md shapes) ---------------------------------------------------

inline const std::set<std::string> kTerminalStatuses = {"completed", "failed", "cancelled"};

// A create body: `rounds` rounds, `agents` bare demo agents.
std::string DebateBody(const std::string& task, int rounds = 2, int agents = 3);

// POST /api/v1/debates; the new id, or "" (with a gtest failure) unless 201.
std::string CreateDebate(const HttpClient& http, const std::string& body,
                         const std::string& path = "/api/v1/debates");

// Polls GET /api/v1/debates/{id} until its status is one of `statuses`; the debate, or
// nullopt (with a gtest failure naming the last status) at the deadline.
std::optional<boost::json::object> WaitForStatus(
    const HttpClient& http, const std::string& id, const std::set<std::string>& statuses,
    std::chrono::milliseconds deadline = std::chrono::seconds(60));

// Polls /events until the debate has at least `count` events.
bool WaitForEvents(const HttpClient& http, const std::string& id, std::int64_t count,
                   std::chrono::milliseconds deadline = std::chrono::seconds(30));

// Every event of the debate via GET .../events (pages of 500).
std::vector<boost::json::object> AllEvents(const HttpClient& http, const std::string& id);

// ISO 8601 UTC with Z (API.md "Times").
bool IsIsoUtc(const boost::json::value& v);
// A JSON number (integer or not).
bool IsNumber(const boost::json::value& v);
bool IsInteger(const boost::json::value& v);
double NumberOf(const boost::json::value& v);
std::string StringOf(const boost::json::object& o, const char* key);

// Checks the flat error shape of API.md (error, code, correlation_id, trace_id) with the
// given status and code (alternatives separated by '|'); adds gtest failures naming `what`.
void ExpectError(const HttpResponse& r, int status, const std::string& code,
                 const std::string& what);

}  // namespace aragora::testing
