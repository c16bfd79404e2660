#pragma once

// Test support for code that talks to Redis: a real redis-server started by the test
// itself (own temp dir, free port, no persistence, killed at the end even when the test
// fails, and killed by the kernel if the test process dies), plus a small io_context
// runner to await coroutines from a test body.
//
// When /usr/bin/redis-server (Debian package redis-server) is missing, Start() returns a
// message saying so and the tests fail with it: they never skip silently.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace aragora::redis::testing {

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";

// An io_context run by `threads` threads for the whole test.
class IoThreads {
public:
    explicit IoThreads(int threads = 2) : work_(boost::asio::make_work_guard(io_)) {
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
    }
    ~IoThreads() {
        work_.reset();
        io_.stop();
        for (auto& t : threads_) t.join();
    }
    boost::asio::io_context& io() { return io_; }
    boost::asio::any_io_executor executor() { return io_.get_executor(); }

    // Runs the coroutine on the io_context and waits for its result, at most `timeout`
    // (then throws: a hung coroutine must fail the test, not hang it).
    template <typename T>
    T Await(boost::asio::awaitable<T> coro,
            std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        auto future = boost::asio::co_spawn(io_, std::move(coro), boost::asio::use_future);
        if (future.wait_for(timeout) != std::future_status::ready) {
            throw std::runtime_error("coroutine did not finish within the test deadline");
        }
        return future.get();
    }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

// Polls `done` every 10 ms until it holds or `timeout` passes; returns its last value.
template <typename F>
bool WaitFor(F done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return done();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

struct RedisServerOptions {
    std::string password;  // --requirepass
    bool tls = false;      // TLS only (--port 0 --tls-port <port>), self-signed cert
};

class RedisTestServer {
public:
    explicit RedisTestServer(RedisServerOptions options = {}) : options_(std::move(options)) {
        char tmpl[] = "/tmp/aragora_redis_test_XXXXXX";
        if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
    }
    ~RedisTestServer() {
        Kill();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }
    RedisTestServer(const RedisTestServer&) = delete;
    RedisTestServer& operator=(const RedisTestServer&) = delete;

    // Starts the server and waits until it answers (10 s). "" on success, else why not.
    // A second Start after Kill reuses the same port (a restart).
    std::string Start() {
        if (::access(kRedisServer, X_OK) != 0) {
            return std::string(kRedisServer) +
                   " not found: install the Debian package redis-server (`make test` does)";
        }
        if (dir_.empty()) return "cannot create a temp dir";
        if (options_.tls && cert_.empty()) {
            std::string err = MakeCertificate();
            if (!err.empty()) return err;
        }
        if (port_ == 0) port_ = FreePort();
        if (port_ == 0) return "no free port";
        std::vector<std::string> args{kRedisServer, "--bind",       "127.0.0.1", "--save",
                                      "",           "--appendonly", "no",        "--daemonize",
                                      "no",         "--dir",        dir_,        "--protected-mode",
                                      "no"};
        if (options_.tls) {
            const std::vector<std::string> tls{"--port",
                                               "0",
                                               "--tls-port",
                                               std::to_string(port_),
                                               "--tls-cert-file",
                                               cert_,
                                               "--tls-key-file",
                                               key_,
                                               "--tls-ca-cert-file",
                                               cert_,
                                               "--tls-auth-clients",
                                               "no"};
            args.insert(args.end(), tls.begin(), tls.end());
        } else {
            args.push_back("--port");
            args.push_back(std::to_string(port_));
        }
        if (!options_.password.empty()) {
            args.push_back("--requirepass");
            args.push_back(options_.password);
        }
        const std::string log = dir_ + "/redis.log";
        pid_ = ::fork();
        if (pid_ < 0) return "fork failed";
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(kRedisServer, argv.data());
            ::_exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return "redis-server exited at start; its log:\n" + ReadFile(log);
            }
            if (options_.tls ? CanConnect() : !Exec({"PING"}).empty()) return "";
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        Kill();
        return "redis-server did not answer within 10 s; its log:\n" + ReadFile(log);
    }

    // SIGKILL and reap (an abrupt crash, as the restart runbook's worst case).
    void Kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    bool running() const { return pid_ > 0; }
    // The server's pid (for tests that freeze it with SIGSTOP); -1 when not running.
    pid_t pid() const { return pid_; }
    int port() const { return port_; }
    const std::string& ca_file() const { return cert_; }
    const std::string& dir() const { return dir_; }
    std::string Url() const {
        return std::string(options_.tls ? "rediss://" : "redis://") +
               "127.0.0.1:" + std::to_string(port_);
    }

    // One command over a plain blocking socket (not for TLS servers), AUTH first when the
    // server has a password. Returns the first reply line ("+OK", ":3", "-ERR ...") or ""
    // when the server cannot be reached.
    std::string Exec(const std::vector<std::string>& args) const {
        const int fd = Connect();
        if (fd < 0) return "";
        std::string request;
        if (!options_.password.empty()) request += Resp({"AUTH", options_.password});
        request += Resp(args);
        std::string reply;
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
            const int lines = options_.password.empty() ? 1 : 2;
            std::string buf;
            char c;
            int seen = 0;
            while (seen < lines && ::recv(fd, &c, 1, 0) == 1) {
                buf.push_back(c);
                if (c == '\n') {
                    ++seen;
                    if (seen == lines) {
                        const auto start = buf.rfind('\n', buf.size() - 2);
                        reply = buf.substr(start == std::string::npos ? 0 : start + 1);
                        reply.resize(reply.size() - 2);
                    }
                }
            }
        }
        ::close(fd);
        return reply;
    }

private:
    static std::string Resp(const std::vector<std::string>& args) {
        std::string out = "*" + std::to_string(args.size()) + "\r\n";
        for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        return out;
    }

    static std::string ReadFile(const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    static int FreePort() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        int port = 0;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
            socklen_t len = sizeof(addr);
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
            port = ntohs(addr.sin_port);
        }
        ::close(fd);
        return port;
    }

    int Connect() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    bool CanConnect() const {
        const int fd = Connect();
        if (fd < 0) return false;
        ::close(fd);
        return true;
    }

    std::string MakeCertificate() {
        cert_ = dir_ + "/cert.pem";
        key_ = dir_ + "/key.pem";
        const std::string cmd =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
            "-keyout " +
            key_ + " -out " + cert_ +
            " -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
            ">" +
            dir_ + "/openssl.log 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            return "openssl req failed: " + ReadFile(dir_ + "/openssl.log");
        }
        ::chmod(key_.c_str(), 0600);
        return "";
    }

    RedisServerOptions options_;
    std::string dir_;
    std::string cert_;
    std::string key_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace aragora::redis::testing
