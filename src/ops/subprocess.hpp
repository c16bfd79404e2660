#pragma once

// Runs an external program (pg_dump, pg_restore) to completion with a deadline: argv, never
// a shell string; an explicit environment; stdin /dev/null; stdout into a file descriptor
// the caller owns, or captured (bounded); stderr captured (its last bytes kept, bounded).
// At the deadline the child gets SIGTERM, then SIGKILL after a grace period, and is
// always reaped. Blocking: call it off the I/O threads. Thread-safe (no shared state).

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace aragora::ops {

struct SubprocessOptions {
    // argv[0] is the program: a path, or a bare name looked up in PATH (the PATH of this
    // process, not of `env`).
    std::vector<std::string> argv;
    // The child's whole environment, "NAME=value" each (nothing is inherited implicitly;
    // see InheritedEnvironment()).
    std::vector<std::string> env;
    // >= 0: the child's stdout is this descriptor (the caller keeps it open and owns it).
    // < 0: stdout is captured into SubprocessResult::stdout_text, at most stdout_limit
    // bytes (the rest is read and dropped, stdout_truncated set).
    int stdout_fd = -1;
    std::size_t stdout_limit = 64 * 1024;
    // The last stderr_limit bytes of stderr are kept.
    std::size_t stderr_limit = 8 * 1024;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    // Between SIGTERM and SIGKILL once the deadline has passed.
    std::chrono::milliseconds kill_grace{2000};
    // Called on the calling thread about every tick_interval while the child runs (for
    // progress reports); may be empty. Must not throw.
    std::function<void()> on_tick;
    std::chrono::milliseconds tick_interval{500};
};

struct SubprocessResult {
    int exit_code = -1;      // when the child exited; -1 when a signal ended it
    int term_signal = 0;     // the signal that ended it, 0 when it exited
    bool timed_out = false;  // the deadline passed and the child was killed
    std::string stdout_text;
    bool stdout_truncated = false;
    std::string stderr_tail;  // the last stderr_limit bytes
    bool stderr_truncated = false;
    std::chrono::steady_clock::duration elapsed{};
    bool ok() const { return exit_code == 0 && !timed_out; }
};

// Starts argv[0] and waits for it (and for its output to end) until the deadline. Errors:
// an empty argv is kValidation; a program that cannot be started (not found, not
// executable) is kNotFound "cannot run <program>: <reason>"; a failure of the plumbing
// (pipe, poll) is kInternal. A child that runs and fails, or is killed at the deadline,
// is a successful call: look at the result.
common::Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

// This process's environment minus every variable whose name starts with one of
// `drop_prefixes` (e.g. "PG" so that a stray PGPASSWORD/PGHOST never reaches pg_dump), plus
// `extra` ("NAME=value"; it replaces an inherited variable of the same name).
std::vector<std::string> InheritedEnvironment(const std::vector<std::string>& drop_prefixes,
                                              const std::vector<std::string>& extra);

// Human text for a finished child: "exit 3", "killed by signal 9", "timed out".
std::string DescribeExit(const SubprocessResult& result);

}  // namespace aragora::ops
