#pragma once

// `aragora worker` as a child process for the black-box tests: environment of
// ServerEnv() plus the test's variables, output in a temp file, killed (SIGKILL) by the
// destructor if still running and by the kernel if the test process dies.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {

class WorkerProcess {
public:
    WorkerProcess(const std::string& data_dir, std::map<std::string, std::string> env)
        : env_(ServerEnv(data_dir, env)) {}
    ~WorkerProcess() {
        if (pid_ > 0 && !exited_) Kill();
    }
    WorkerProcess(const WorkerProcess&) = delete;
    WorkerProcess& operator=(const WorkerProcess&) = delete;

    // Spawns the worker and waits for its "worker started" line (20 s).
    bool Start(const std::vector<std::string>& extra = {}) {
        log_path_ = io_.path() + "/worker.log";
        std::vector<std::string> args = {ARAGORA_BINARY, "worker"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<std::string> env_strings;
        for (const auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
        std::vector<char*> argv, envp;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        for (auto& e : env_strings) envp.push_back(e.data());
        envp.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) return false;
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            int in = ::open("/dev/null", O_RDONLY);
            int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(in, 0);
            ::dup2(out, 1);
            ::dup2(out, 2);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        return PollUntil(
                   [this] {
                       return Logs().find("worker started") != std::string::npos || !Running();
                   },
                   std::chrono::seconds(20)) &&
               Running();
    }
    void Kill() {
        if (pid_ <= 0 || exited_) return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        exited_ = true;
    }
    bool Running() {
        if (pid_ <= 0 || exited_) return false;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            return false;
        }
        return true;
    }
    void SendSignal(int sig) {
        if (pid_ > 0 && !exited_) ::kill(pid_, sig);
    }
    // SIGTERM; the exit code, or -1 when it did not exit within `deadline` (then killed).
    int Terminate(std::chrono::milliseconds deadline) {
        if (pid_ <= 0 || exited_) return -1;
        ::kill(pid_, SIGTERM);
        int status = 0;
        auto end = std::chrono::steady_clock::now() + deadline;
        while (std::chrono::steady_clock::now() < end) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));  // reaping
        }
        Kill();
        return -1;
    }
    std::string Logs() const { return log_path_.empty() ? "" : ReadAll(log_path_); }
    // The worker id from its start line ("worker started worker=<id> ...").
    std::string Id() const {
        std::string logs = Logs();
        auto p = logs.find("worker started worker=");
        if (p == std::string::npos) return "";
        p += std::string("worker started worker=").size();
        return logs.substr(p, logs.find(' ', p) - p);
    }

private:
    std::map<std::string, std::string> env_;
    TempDir io_;
    std::string log_path_;
    pid_t pid_ = -1;
    bool exited_ = false;
};

}  // namespace aragora::testing
