#include "ops/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

extern char** environ;

namespace aragora::ops {
namespace {

using Clock = std::chrono::steady_clock;
using common::ErrorCode;
using common::MakeError;

std::string Errno(int err) { return std::strerror(err); }

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { Close(); }
    int get() const { return fd_; }
    void Reset(int fd) {
        Close();
        fd_ = fd;
    }
    void Close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

struct Pipe {
    Fd read;
    Fd write;
};

common::Status MakePipe(Pipe* p) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return MakeError(ErrorCode::kInternal, "pipe2 failed: " + Errno(errno));
    }
    p->read.Reset(fds[0]);
    p->write.Reset(fds[1]);
    // Read ends are drained without blocking once the child has exited.
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    return {};
}

// Keeps at most `limit` bytes: the first ones (stdout) or the last ones (stderr).
struct Sink {
    std::string* text;
    std::size_t limit;
    bool keep_tail;
    bool* truncated;

    void Append(std::string_view chunk) {
        if (!keep_tail) {
            const std::size_t room = limit > text->size() ? limit - text->size() : 0;
            text->append(chunk.substr(0, room));
            if (chunk.size() > room) *truncated = true;
            return;
        }
        text->append(chunk);
        // Trim in amortised steps, not on every read.
        if (text->size() > 2 * limit + 4096) {
            text->erase(0, text->size() - limit);
            *truncated = true;
        }
    }
    void Finish() {
        if (keep_tail && text->size() > limit) {
            text->erase(0, text->size() - limit);
            *truncated = true;
        }
    }
};

// Reads what is available. False at end of file (or a read error): the pipe is done.
bool Drain(int fd, Sink& sink) {
    char buf[16 * 1024];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            sink.Append(std::string_view(buf, static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

int PidFdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

class SpawnAttrs {
public:
    SpawnAttrs() {
        posix_spawn_file_actions_init(&actions_);
        posix_spawnattr_init(&attr_);
    }
    ~SpawnAttrs() {
        posix_spawn_file_actions_destroy(&actions_);
        posix_spawnattr_destroy(&attr_);
    }
    SpawnAttrs(const SpawnAttrs&) = delete;
    SpawnAttrs& operator=(const SpawnAttrs&) = delete;
    posix_spawn_file_actions_t* actions() { return &actions_; }
    posix_spawnattr_t* attr() { return &attr_; }

private:
    posix_spawn_file_actions_t actions_;
    posix_spawnattr_t attr_;
};

}  // namespace

common::Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options) {
    if (options.argv.empty() || options.argv[0].empty()) {
        return MakeError(ErrorCode::kValidation, "no program to run");
    }
    const std::string& program = options.argv[0];
    const bool capture_stdout = options.stdout_fd < 0;

    Pipe out_pipe;
    Pipe err_pipe;
    if (capture_stdout) {
        if (auto s = MakePipe(&out_pipe); !s) return s.error();
    }
    if (auto s = MakePipe(&err_pipe); !s) return s.error();

    SpawnAttrs spawn;
    posix_spawn_file_actions_addopen(spawn.actions(), 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(spawn.actions(),
                                     capture_stdout ? out_pipe.write.get() : options.stdout_fd, 1);
    posix_spawn_file_actions_adddup2(spawn.actions(), err_pipe.write.get(), 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Descriptors other threads opened without O_CLOEXEC do not leak into the child.
    posix_spawn_file_actions_addclosefrom_np(spawn.actions(), 3);
#endif
    // The child starts with no blocked signal and default dispositions for the ones a
    // server ignores or handles (an ignored SIGPIPE would survive exec).
    sigset_t empty;
    sigemptyset(&empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
        sigaddset(&defaults, sig);
    }
    posix_spawnattr_setsigmask(spawn.attr(), &empty);
    posix_spawnattr_setsigdefault(spawn.attr(), &defaults);
    posix_spawnattr_setflags(spawn.attr(), POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv;
    argv.reserve(options.argv.size() + 1);
    for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    envp.reserve(options.env.size() + 1);
    for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    const auto start = Clock::now();
    pid_t pid = -1;
    const bool search_path = program.find('/') == std::string::npos;
    const int spawn_err = search_path ? posix_spawnp(&pid, program.c_str(), spawn.actions(),
                                                     spawn.attr(), argv.data(), envp.data())
                                      : posix_spawn(&pid, program.c_str(), spawn.actions(),
                                                    spawn.attr(), argv.data(), envp.data());
    if (spawn_err != 0) {
        return MakeError(ErrorCode::kNotFound, "cannot run " + program + ": " + Errno(spawn_err));
    }
    // Only the child writes into the pipes now: their ends close when it (and anything it
    // started) is gone.
    out_pipe.write.Close();
    err_pipe.write.Close();

    SubprocessResult result;
    Sink out_sink{&result.stdout_text, options.stdout_limit, false, &result.stdout_truncated};
    Sink err_sink{&result.stderr_tail, options.stderr_limit, true, &result.stderr_truncated};

    // pidfd: the child's exit wakes poll() like its output does, so nothing sleeps. Without
    // it (kernels before 5.3) poll() wakes every 20 ms to ask waitpid().
    Fd pidfd(PidFdOpen(pid));
    const auto kFallbackSlice = std::chrono::milliseconds(20);

    bool exited = false;
    bool lost = false;
    int wait_status = 0;
    bool term_sent = false;
    bool kill_sent = false;
    Clock::time_point kill_at{};
    Clock::time_point next_tick = start + options.tick_interval;
    bool out_open = capture_stdout;
    bool err_open = true;

    auto reap = [&](bool block) {
        while (true) {
            const pid_t r = ::waitpid(pid, &wait_status, block ? 0 : WNOHANG);
            if (r == pid) {
                exited = true;
                return;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {  // not our child any more (SIGCHLD ignored): its status is lost
                exited = true;
                lost = true;
            }
            return;
        }
    };

    while (!exited) {
        const auto now = Clock::now();
        if (!term_sent && now >= options.deadline) {
            ::kill(pid, SIGTERM);
            term_sent = true;
            result.timed_out = true;
            kill_at = now + options.kill_grace;
        } else if (term_sent && !kill_sent && now >= kill_at) {
            ::kill(pid, SIGKILL);
            kill_sent = true;
        }
        if (kill_sent) {
            reap(/*block=*/true);  // SIGKILL cannot be caught: the wait is short
            break;
        }
        if (options.on_tick && now >= next_tick) {
            options.on_tick();
            next_tick = now + options.tick_interval;
        }
        auto until = term_sent ? kill_at : options.deadline;
        if (options.on_tick) until = std::min(until, next_tick);
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(until - now) +
                    std::chrono::milliseconds(1);
        if (pidfd.get() < 0) wait = std::min<std::chrono::milliseconds>(wait, kFallbackSlice);
        const int timeout_ms =
            static_cast<int>(std::min<std::int64_t>(wait.count(), 24LL * 3600 * 1000));

        pollfd fds[3];
        nfds_t n = 0;
        int out_idx = -1;
        int err_idx = -1;
        int pid_idx = -1;
        if (out_open) {
            out_idx = static_cast<int>(n);
            fds[n++] = {out_pipe.read.get(), POLLIN, 0};
        }
        if (err_open) {
            err_idx = static_cast<int>(n);
            fds[n++] = {err_pipe.read.get(), POLLIN, 0};
        }
        if (pidfd.get() >= 0) {
            pid_idx = static_cast<int>(n);
            fds[n++] = {pidfd.get(), POLLIN, 0};
        }
        const int rc = ::poll(fds, n, std::max(timeout_ms, 0));
        if (rc < 0 && errno != EINTR) {
            const int err = errno;
            ::kill(pid, SIGKILL);
            reap(/*block=*/true);
            return MakeError(ErrorCode::kInternal, "poll failed: " + Errno(err));
        }
        if (out_idx >= 0 && (fds[out_idx].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            out_open = Drain(out_pipe.read.get(), out_sink);
        }
        if (err_idx >= 0 && (fds[err_idx].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            err_open = Drain(err_pipe.read.get(), err_sink);
        }
        if (pid_idx < 0 || (fds[pid_idx].revents & POLLIN) != 0) reap(/*block=*/false);
    }
    // Everything the child wrote before it exited is in the pipes already; a grandchild
    // holding them open is not waited for.
    if (out_open) Drain(out_pipe.read.get(), out_sink);
    if (err_open) Drain(err_pipe.read.get(), err_sink);
    out_sink.Finish();
    err_sink.Finish();

    if (lost) {
        return MakeError(ErrorCode::kInternal,
                         "lost the exit status of " + program + " (is SIGCHLD ignored?)");
    }
    if (WIFEXITED(wait_status)) {
        result.exit_code = WEXITSTATUS(wait_status);
    } else if (WIFSIGNALED(wait_status)) {
        result.exit_code = -1;
        result.term_signal = WTERMSIG(wait_status);
    }
    result.elapsed = Clock::now() - start;
    return result;
}

std::vector<std::string> InheritedEnvironment(const std::vector<std::string>& drop_prefixes,
                                              const std::vector<std::string>& extra) {
    auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
    std::vector<std::string> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const std::string_view name = name_of(entry);
        const bool dropped = std::any_of(drop_prefixes.begin(), drop_prefixes.end(),
                                         [&](const std::string& p) { return name.starts_with(p); });
        const bool replaced = std::any_of(extra.begin(), extra.end(),
                                          [&](const std::string& x) { return name_of(x) == name; });
        if (!dropped && !replaced) out.emplace_back(entry);
    }
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
}

std::string DescribeExit(const SubprocessResult& result) {
    if (result.timed_out) return "timed out";
    if (result.term_signal != 0) {
        return "killed by signal " + std::to_string(result.term_signal) + " (" +
               ::strsignal(result.term_signal) + ")";
    }
    return "exit " + std::to_string(result.exit_code);
}

}  // namespace aragora::ops
