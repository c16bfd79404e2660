#include "node_tool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

namespace aragora::test_support {

std::string ReadUntilImpl(int fd, std::chrono::steady_clock::time_point deadline,
                          bool (*stop)(const std::string&, const void*), const void* ctx) {
    std::string text;
    while (!stop(text, ctx)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

std::unique_ptr<NodeTool> NodeTool::Start(const std::vector<std::string>& node_args,
                                          const std::string& name, const std::string& required_key,
                                          std::string* error, const std::string& program) {
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
    std::vector<std::string> args = {program};
    args.insert(args.end(), node_args.begin(), node_args.end());
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
        ::execvp(program.c_str(), argv.data());
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
    std::unique_ptr<NodeTool> tool(new NodeTool());
    tool->pid_ = pid;
    tool->stdin_fd_ = in_pipe[1];
    // Node's start-up and the module load take well under a second; 30 s covers a loaded
    // machine.
    const std::string line =
        ReadUntil(out_pipe[0], std::chrono::steady_clock::now() + std::chrono::seconds(30),
                  [](const std::string& t) { return t.find('\n') != std::string::npos; });
    ::close(out_pipe[0]);
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(line, ec);
    if (ec || !parsed.is_object() || !parsed.as_object().contains(required_key)) {
        *error = name + " did not start (is " + program + " installed? output: '" + line + "')";
        tool->Stop();
        return nullptr;
    }
    tool->hello_ = parsed.as_object();
    return tool;
}

int NodeTool::IntField(const std::string& key) const {
    const auto* v = hello_.if_contains(key);
    return v == nullptr ? 0 : v->to_number<int>();
}

NodeTool::~NodeTool() { Stop(); }

void NodeTool::Stop() {
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

}  // namespace aragora::test_support
