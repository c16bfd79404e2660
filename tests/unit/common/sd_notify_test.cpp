#include "common/sd_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

namespace aragora::common::sd {
namespace {

// A bound AF_UNIX datagram socket playing systemd's end of NOTIFY_SOCKET.
class NotifyListener {
public:
    explicit NotifyListener(bool abstract) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const std::string tag = "aragora-sd-test-" + std::to_string(::getpid()) + "-" +
                                std::to_string(reinterpret_cast<std::uintptr_t>(this));
        socklen_t len = 0;
        if (abstract) {
            name_ = "@" + tag;
            std::memcpy(addr.sun_path + 1, tag.data(), tag.size());
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + tag.size());
        } else {
            name_ = (std::filesystem::temp_directory_path() / (tag + ".sock")).string();
            std::filesystem::remove(name_);
            std::memcpy(addr.sun_path, name_.data(), name_.size());
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + 1);
        }
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
        timeval tv{.tv_sec = 10, .tv_usec = 0};  // a deadline, not a pace: failures end here
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~NotifyListener() {
        ::close(fd_);
        if (name_[0] == '/') std::filesystem::remove(name_);
    }
    const std::string& name() const { return name_; }
    std::string Receive() {
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        return n < 0 ? std::string("<nothing: ") + std::strerror(errno) + ">"
                     : std::string(buf, static_cast<std::size_t>(n));
    }

private:
    int fd_ = -1;
    std::string name_;
};

NotifyEnv Env(std::string socket, std::string usec = "", std::string pid = "") {
    return NotifyEnv{std::move(socket), std::move(usec), std::move(pid)};
}

TEST(SdNotify, NoSocketIsANoOp) {
    auto r = Notify("READY=1", NotifyEnv{});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(*r);
}

TEST(SdNotify, SendsOneDatagramToAPathSocket) {
    NotifyListener listener(/*abstract=*/false);
    NotifyEnv env = Env(listener.name());
    auto r = Notify("READY=1\nSTATUS=ready", env);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(*r);
    EXPECT_EQ(listener.Receive(), "READY=1\nSTATUS=ready");
}

TEST(SdNotify, SendsToAnAbstractSocket) {
    NotifyListener listener(/*abstract=*/true);
    NotifyEnv env = Env(listener.name());
    ASSERT_TRUE(Notify("STOPPING=1", env).ok());
    EXPECT_EQ(listener.Receive(), "STOPPING=1");
}

TEST(SdNotify, MissingSocketIsAnErrorNotAHang) {
    NotifyEnv env = Env("/nonexistent/aragora-notify.sock");
    EXPECT_FALSE(Notify("READY=1", env).ok());
    EXPECT_FALSE(Notify("READY=1", Env("relative.sock")).ok());
}

TEST(SdNotify, WatchdogIntervalIsHalfOfWatchdogUsecForThisProcess) {
    NotifyEnv env = Env("@x", "30000000");
    EXPECT_EQ(WatchdogPingInterval(env), std::chrono::microseconds(15000000));
    env.watchdog_pid = std::to_string(::getpid());
    EXPECT_EQ(WatchdogPingInterval(env), std::chrono::microseconds(15000000));
    env.watchdog_pid = std::to_string(::getpid() + 1);  // meant for another process
    EXPECT_EQ(WatchdogPingInterval(env), std::nullopt);
    EXPECT_EQ(WatchdogPingInterval(Env("@x", "0")), std::nullopt);
    EXPECT_EQ(WatchdogPingInterval(Env("@x", "12x")), std::nullopt);
    EXPECT_EQ(WatchdogPingInterval(Env("", "1000")), std::nullopt);
}

TEST(SdNotify, WatchdogPingsRepeatWhileTheLoopRuns) {
    NotifyListener listener(/*abstract=*/false);
    NotifyEnv env = Env(listener.name(), "20000");
    boost::asio::io_context ioc;
    auto interval = StartWatchdog(ioc.get_executor(), env);
    ASSERT_EQ(interval, std::chrono::microseconds(10000));
    std::thread loop([&ioc] { ioc.run(); });
    // The first at start, then one per interval: three in all prove it re-arms.
    for (int i = 0; i < 3; ++i) EXPECT_EQ(listener.Receive(), "WATCHDOG=1") << i;
    ioc.stop();
    loop.join();
}

TEST(SdNotify, NoWatchdogWithoutWatchdogUsec) {
    boost::asio::io_context ioc;
    EXPECT_EQ(StartWatchdog(ioc.get_executor(), Env("@x")), std::nullopt);
    EXPECT_EQ(ioc.poll(), 0u);  // nothing was scheduled
}

}  // namespace
}  // namespace aragora::common::sd
