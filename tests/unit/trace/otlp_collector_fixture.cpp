#include "otlp_collector_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>
#include <vector>

#ifndef ARAGORA_TEST_TOOLS_DIR
#error "ARAGORA_TEST_TOOLS_DIR must name tests/tools"
#endif

namespace aragora::trace::test_support {
namespace {

using Clock = std::chrono::steady_clock;

// Reads `fd` until `stop(text)`, EOF or `deadline`; the text read so far.
template <class Stop>
std::string ReadUntil(int fd, Clock::time_point deadline, Stop stop) {
    std::string text;
    while (!stop(text)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

}  // namespace

std::unique_ptr<OtlpCollector> OtlpCollector::Start(std::string* error) {
    const std::string tools = ARAGORA_TEST_TOOLS_DIR;
    const std::string script = tools + "/otlp_collector.js";
    if (!std::filesystem::exists(tools + "/node_modules/@grpc/grpc-js") ||
        !std::filesystem::exists(tools + "/node_modules/@opentelemetry/otlp-transformer")) {
        *error = tools + "/node_modules is missing: run scripts/install-deps.sh (npm ci there)";
        return nullptr;
    }
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
        *error = "pipe failed";
        return nullptr;
    }
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        *error = "pipe failed";
        return nullptr;
    }
    std::vector<std::string> args = {"node", script};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::execvp("node", argv.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (pid < 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        *error = "fork failed";
        return nullptr;
    }
    std::unique_ptr<OtlpCollector> c(new OtlpCollector());
    c->pid_ = pid;
    c->stdin_fd_ = in_pipe[1];
    // Node's start-up takes well under a second; 30 s covers a loaded machine.
    const std::string line =
        ReadUntil(out_pipe[0], Clock::now() + std::chrono::seconds(30),
                  [](const std::string& t) { return t.find('\n') != std::string::npos; });
    ::close(out_pipe[0]);
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(line, ec);
    if (ec || !parsed.is_object() || !parsed.as_object().contains("grpc_port")) {
        *error = "otlp_collector.js did not start (is node installed? output: '" + line + "')";
        c->Stop();
        return nullptr;
    }
    c->grpc_port_ = static_cast<int>(parsed.as_object().at("grpc_port").to_number<int>());
    c->http_port_ = static_cast<int>(parsed.as_object().at("http_port").to_number<int>());
    return c;
}

boost::json::value OtlpCollector::Received() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return nullptr;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(http_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return nullptr;
    }
    const std::string request = "GET /spans HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return nullptr;
    }
    const std::string response = ReadUntil(fd, Clock::now() + std::chrono::seconds(5),
                                           [](const std::string&) { return false; });
    ::close(fd);
    const auto body = response.find("\r\n\r\n");
    if (body == std::string::npos) return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(response.substr(body + 4), ec);
    if (ec) return nullptr;
    return v;
}

OtlpCollector::~OtlpCollector() { Stop(); }

void OtlpCollector::Stop() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    if (stdin_fd_ >= 0) {
        ::close(stdin_fd_);
        stdin_fd_ = -1;
    }
}

}  // namespace aragora::trace::test_support
