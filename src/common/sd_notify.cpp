#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace aragora::common::sd {
namespace {

std::string EnvOr(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

std::optional<std::int64_t> ParseInt(std::string_view s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// Re-arms itself until the timer is cancelled or its execution context is destroyed.
struct WatchdogPinger : std::enable_shared_from_this<WatchdogPinger> {
    WatchdogPinger(const boost::asio::any_io_executor& ex, NotifyEnv e,
                   std::chrono::microseconds every)
        : timer(ex), env(std::move(e)), interval(every) {}

    void Arm() {
        timer.expires_after(interval);
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) return;
            (void)Notify("WATCHDOG=1", self->env);
            self->Arm();
        });
    }

    boost::asio::steady_timer timer;
    const NotifyEnv env;
    const std::chrono::microseconds interval;
};

}  // namespace

NotifyEnv NotifyEnv::FromProcess() {
    return {EnvOr("NOTIFY_SOCKET"), EnvOr("WATCHDOG_USEC"), EnvOr("WATCHDOG_PID")};
}

Result<bool> Notify(std::string_view state, const NotifyEnv& env) {
    const std::string& path = env.notify_socket;
    if (path.empty()) return false;
    if (path[0] != '/' && path[0] != '@') {
        return MakeError(ErrorCode::kValidation,
                         "NOTIFY_SOCKET must be a path or an @abstract name: " + path);
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        return MakeError(ErrorCode::kValidation, "NOTIFY_SOCKET path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                                 (path[0] == '@' ? 0 : 1));
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return MakeError(ErrorCode::kUnavailable,
                         std::string("notify socket: ") + std::strerror(errno));
    }
    const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&addr), addr_len);
    const int err = errno;
    ::close(fd);
    if (sent < 0) {
        return MakeError(ErrorCode::kUnavailable,
                         "notify " + path + ": " + std::string(std::strerror(err)));
    }
    return true;
}

std::optional<std::chrono::microseconds> WatchdogPingInterval(const NotifyEnv& env) {
    if (env.notify_socket.empty() || env.watchdog_usec.empty()) return std::nullopt;
    auto usec = ParseInt(env.watchdog_usec);
    if (!usec || *usec <= 0) return std::nullopt;
    if (!env.watchdog_pid.empty()) {
        auto pid = ParseInt(env.watchdog_pid);
        if (!pid || *pid != static_cast<std::int64_t>(::getpid())) return std::nullopt;
    }
    return std::chrono::microseconds(std::max<std::int64_t>(1, *usec / 2));
}

std::optional<std::chrono::microseconds> StartWatchdog(const boost::asio::any_io_executor& ex,
                                                       const NotifyEnv& env) {
    auto interval = WatchdogPingInterval(env);
    if (!interval) return std::nullopt;
    (void)Notify("WATCHDOG=1", env);
    std::make_shared<WatchdogPinger>(ex, env, *interval)->Arm();
    return interval;
}

}  // namespace aragora::common::sd
