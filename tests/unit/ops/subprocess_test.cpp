// The runner pg_dump and pg_restore go through: argv and environment exactly as given,
// output captured within bounds, and a deadline that ends any child.

#include "ops/subprocess.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace aragora::ops {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

SubprocessOptions Sh(const std::string& script) {
    SubprocessOptions o;
    o.argv = {"/bin/sh", "-c", script};
    o.env = {"PATH=/usr/bin:/bin"};
    o.deadline = Clock::now() + seconds(30);
    return o;
}

TEST(SubprocessTest, CapturesStdoutStderrAndExitCode) {
    auto r = RunSubprocess(Sh("echo out; echo err >&2; exit 3"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->term_signal, 0);
    EXPECT_FALSE(r->timed_out);
    EXPECT_EQ(r->stdout_text, "out\n");
    EXPECT_EQ(r->stderr_tail, "err\n");
    EXPECT_FALSE(r->ok());
    EXPECT_EQ(DescribeExit(*r), "exit 3");
}

TEST(SubprocessTest, ArgumentsAreNotInterpretedByAShell) {
    SubprocessOptions o;
    o.argv = {"/bin/echo", "a b", "$HOME", "; rm -rf /"};
    o.deadline = Clock::now() + seconds(30);
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->stdout_text, "a b $HOME ; rm -rf /\n");
}

TEST(SubprocessTest, TheChildGetsExactlyTheGivenEnvironment) {
    ::setenv("ARAGORA_SUBPROCESS_TEST_SECRET", "leak", 1);
    SubprocessOptions o;
    o.argv = {"/usr/bin/env"};
    o.env = {"ONLY=this"};
    o.deadline = Clock::now() + seconds(30);
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->stdout_text, "ONLY=this\n");
    ::unsetenv("ARAGORA_SUBPROCESS_TEST_SECRET");
}

TEST(SubprocessTest, InheritedEnvironmentDropsPrefixesAndReplacesNames) {
    ::setenv("ARAGORA_SUBPROCESS_DROP_ME", "x", 1);
    ::setenv("ARAGORA_SUBPROCESS_KEEP", "old", 1);
    const auto env = InheritedEnvironment({"ARAGORA_SUBPROCESS_DROP"},
                                          {"ARAGORA_SUBPROCESS_KEEP=new", "EXTRA=1"});
    auto has = [&](const std::string& e) {
        return std::find(env.begin(), env.end(), e) != env.end();
    };
    EXPECT_FALSE(has("ARAGORA_SUBPROCESS_DROP_ME=x"));
    EXPECT_FALSE(has("ARAGORA_SUBPROCESS_KEEP=old"));
    EXPECT_TRUE(has("ARAGORA_SUBPROCESS_KEEP=new"));
    EXPECT_TRUE(has("EXTRA=1"));
    ::unsetenv("ARAGORA_SUBPROCESS_DROP_ME");
    ::unsetenv("ARAGORA_SUBPROCESS_KEEP");
}

TEST(SubprocessTest, StderrKeepsOnlyItsLastBytes) {
    auto o = Sh("head -c 200000 /dev/zero | tr '\\000' x >&2; echo END >&2");
    o.stderr_limit = 100;
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_TRUE(r->stderr_truncated);
    EXPECT_EQ(r->stderr_tail.size(), 100u);
    EXPECT_TRUE(r->stderr_tail.ends_with("xxEND\n"));
}

TEST(SubprocessTest, CapturedStdoutIsBoundedAndTheChildStillFinishes) {
    auto o = Sh("head -c 300000 /dev/zero; exit 0");
    o.stdout_limit = 1000;
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0);  // read to the end, not blocked on a full pipe
    EXPECT_EQ(r->stdout_text.size(), 1000u);
    EXPECT_TRUE(r->stdout_truncated);
}

TEST(SubprocessTest, StdoutCanGoToAFile) {
    char path[] = "/tmp/aragora_subprocess_XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    auto o = Sh("echo into-the-file");
    o.stdout_fd = fd;
    auto r = RunSubprocess(o);
    ::close(fd);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_TRUE(r->stdout_text.empty());
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str(), "into-the-file\n");
    ::unlink(path);
}

TEST(SubprocessTest, AChildStillRunningAtTheDeadlineIsTerminated) {
    SubprocessOptions o;
    o.argv = {"/bin/sleep", "60"};
    o.deadline = Clock::now() + milliseconds(200);
    const auto start = Clock::now();
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->timed_out);
    EXPECT_EQ(r->term_signal, SIGTERM);
    EXPECT_FALSE(r->ok());
    EXPECT_EQ(DescribeExit(*r), "timed out");
    EXPECT_LT(Clock::now() - start, seconds(30));  // far below the child's 60 s
}

TEST(SubprocessTest, AChildIgnoringSigtermIsKilledAfterTheGrace) {
    // exec: the shell becomes the sleep, which inherits the ignored SIGTERM.
    auto o = Sh("trap '' TERM; exec sleep 60");
    o.deadline = Clock::now() + milliseconds(200);
    o.kill_grace = milliseconds(300);
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->timed_out);
    EXPECT_EQ(r->term_signal, SIGKILL);
}

TEST(SubprocessTest, TicksComeWhileTheChildRuns) {
    auto o = Sh("sleep 1");
    int ticks = 0;
    o.on_tick = [&] { ++ticks; };
    o.tick_interval = milliseconds(50);
    auto r = RunSubprocess(o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_GE(ticks, 1);
}

TEST(SubprocessTest, AProgramThatCannotRunIsOneClearError) {
    SubprocessOptions o;
    o.argv = {"/nonexistent/pg_dump", "--version"};
    o.deadline = Clock::now() + seconds(30);
    auto r = RunSubprocess(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, common::ErrorCode::kNotFound);
    EXPECT_EQ(r.error().message, "cannot run /nonexistent/pg_dump: No such file or directory");

    o.argv = {"aragora-no-such-program-in-path"};
    r = RunSubprocess(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, common::ErrorCode::kNotFound);
}

TEST(SubprocessTest, EmptyArgvIsRefused) {
    auto r = RunSubprocess(SubprocessOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, common::ErrorCode::kValidation);
}

}  // namespace
}  // namespace aragora::ops
