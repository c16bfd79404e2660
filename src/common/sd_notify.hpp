#pragma once

// systemd's service notification protocol (sd_notify(3)), spoken directly: one datagram
// per message to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
// abstract namespace). Not libsystemd: the protocol is one sendto() of "KEY=VALUE\n..."
// lines, and doing it here keeps the binary free of a runtime dependency that the
// container image and non-systemd hosts would carry for nothing.
//
// Without $NOTIFY_SOCKET (not started by systemd Type=notify, or a container) every call is
// a no-op. Messages are sent with MSG_DONTWAIT on a fresh non-blocking socket: a call never
// blocks, so it is safe on an I/O thread; a message systemd cannot take at once is dropped
// (sd_notify(3) gives no delivery guarantee either).
//
// What aragora sends: READY=1 when /readyz first answers 200 (serve) or when the worker
// starts claiming; STOPPING=1 when the drain starts; WATCHDOG=1 every WATCHDOG_USEC/2 while
// the io_context runs (so a wedged event loop is restarted by WatchdogSec=); STATUS= lines
// with each.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::common::sd {

// The environment a notifier reads (tests pass their own; the process passes getenv).
struct NotifyEnv {
    std::string notify_socket;  // $NOTIFY_SOCKET
    std::string watchdog_usec;  // $WATCHDOG_USEC
    std::string watchdog_pid;   // $WATCHDOG_PID
    static NotifyEnv FromProcess();
};

// Sends `state` (one or more "KEY=VALUE" lines) to $NOTIFY_SOCKET. Ok(false) when there is
// no socket to notify; an error when the socket is set but the send failed (the caller may
// log it; it never throws). Any thread.
Result<bool> Notify(std::string_view state, const NotifyEnv& env = NotifyEnv::FromProcess());

// The interval to send WATCHDOG=1 at: half of WATCHDOG_USEC, when it is set, positive and
// meant for this process (WATCHDOG_PID absent or our pid).
std::optional<std::chrono::microseconds> WatchdogPingInterval(const NotifyEnv& env);

// With a watchdog interval in the environment, sends WATCHDOG=1 on `ex` at that interval
// until the execution context stops (the timer owns itself; nothing to keep). Returns the
// interval, or nullopt when systemd asked for no watchdog.
std::optional<std::chrono::microseconds> StartWatchdog(
    const boost::asio::any_io_executor& ex, const NotifyEnv& env = NotifyEnv::FromProcess());

}  // namespace aragora::common::sd
