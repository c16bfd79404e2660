#include "s3rver_fixture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>
#include <vector>

#ifndef ARAGORA_TEST_TOOLS_DIR
#error "ARAGORA_TEST_TOOLS_DIR must name tests/tools"
#endif

namespace aragora::ops::test_support {

namespace {

// Reads `fd` until a newline, EOF or `deadline`; the text read so far.
std::string ReadLine(int fd, std::chrono::steady_clock::time_point deadline) {
    std::string line;
    while (line.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        char buf[256];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    return line;
}

}  // namespace

std::unique_ptr<S3rverProcess> S3rverProcess::Start(const std::string& bucket, std::string* error) {
    const std::string tools = ARAGORA_TEST_TOOLS_DIR;
    const std::string script = tools + "/s3rver_launch.js";
    if (!std::filesystem::exists(tools + "/node_modules/@20minutes/s3rver")) {
        *error = tools + "/node_modules is missing: run scripts/install-deps.sh (npm ci there)";
        return nullptr;
    }
    char dir_template[] = "/tmp/aragora_s3rver_XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
        *error = "mkdtemp failed";
        return nullptr;
    }
    std::unique_ptr<S3rverProcess> server(new S3rverProcess());
    server->dir_ = dir_template;

    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
        *error = "pipe failed";
        return nullptr;
    }
    const std::string data_dir = server->dir_ + "/data";
    // s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in
    // its legacy provider: without it every second page is an InternalError.
    std::vector<std::string> args = {"node", "--openssl-legacy-provider", script, data_dir, bucket};
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
    server->pid_ = pid;
    server->stdin_fd_ = in_pipe[1];
    // Node's start-up and the module load take well under a second; 30 s covers a loaded
    // machine.
    const std::string line =
        ReadLine(out_pipe[0], std::chrono::steady_clock::now() + std::chrono::seconds(30));
    ::close(out_pipe[0]);
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(line, ec);
    if (ec || !parsed.is_object() || !parsed.as_object().contains("port")) {
        *error = "s3rver did not start (is node installed? output: '" + line + "')";
        server->Stop();
        return nullptr;
    }
    server->port_ = static_cast<int>(parsed.as_object().at("port").to_number<int>());
    return server;
}

S3rverProcess::~S3rverProcess() { Stop(); }

void S3rverProcess::Stop() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    if (stdin_fd_ >= 0) {
        ::close(stdin_fd_);
        stdin_fd_ = -1;
    }
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

}  // namespace aragora::ops::test_support
