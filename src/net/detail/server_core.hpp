#pragma once

// Internal to src/net: the state shared by the listeners and every session of one
// HttpServer. Asio only (no Beast), so server.cpp stays cheap to compile.

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/server.hpp"

namespace aragora::net::detail {

// An HTTP session the server may close while it waits for a request.
class Interruptible {
public:
    virtual ~Interruptible() = default;
    // Thread-safe; hops to the session's strand and closes the connection if it is
    // still waiting for the next request there (shutdown).
    virtual void InterruptIfIdle() = 0;
    // Thread-safe; hops to the session's strand and closes the connection if it still
    // waits for the request header it started waiting for with `ticket` (BeginWait):
    // the connection table is full and this session was chosen to make room.
    virtual void Evict(uint64_t ticket) = 0;
};

// The key connections are counted under per client: the IPv4 address, or the /64 of an
// IPv6 address (one host usually holds a whole /64). IPv4-mapped IPv6 counts as IPv4.
std::string ClientAddressKey(const boost::asio::ip::address& address);

// Owned by shared_ptr: HttpServer and every running session/listener hold one, so
// the state outlives the HttpServer object while connections drain.
class ServerCore {
public:
    ServerCore(ServerLimits limits, HttpHandler handler, WsHandler* ws_handler,
               WsPathPredicate is_ws_path);

    const ServerLimits limits;
    const HttpHandler handler;
    WsHandler* const ws_handler;
    const WsPathPredicate is_ws_path;
    ServerStats stats;

    std::atomic<bool> shutting_down{false};
    std::atomic<uint64_t> next_ws_id{1};
    // Connections over max_connections currently being answered 503.
    std::atomic<size_t> rejecting{0};

    // Registry of HTTP sessions (for Shutdown) and open WebSockets (for CloseAll).
    void AddHttpSession(const std::shared_ptr<Interruptible>& session);
    void RemoveHttpSession(const Interruptible* session);
    void AddWebSocket(const std::shared_ptr<WsConnection>& conn);
    void RemoveWebSocket(uint64_t id);

    void InterruptIdleHttpSessions();
    void CloseAllWebSockets(uint16_t code, const std::string& reason);

    // Connections per client (ClientAddressKey) accepted whose first request header is
    // not complete yet. False, counting nothing, when `key` has
    // max_pending_connections_per_ip of them already (never when that limit is 0).
    bool TryAddPending(const std::string& key);
    void RemovePending(const std::string& key);

    // Sessions waiting for a request header (the first, or the next one on a keep-alive
    // connection), in the order they started waiting, with their client's key.
    // BeginWait returns the session's ticket (never 0); EndWait forgets it (no-op when
    // already forgotten).
    uint64_t BeginWait(const std::shared_ptr<Interruptible>& session,
                       const std::string& client_key);
    void EndWait(uint64_t ticket);
    // Makes room: forgets one waiting session and asks it to close
    // (Interruptible::Evict). The one chosen belongs to the client with the most waiting
    // sessions (a client holding many slow connections pays first, one that sends its
    // request at once is almost never chosen), and of those it is the one that has
    // waited longest. False when no session waits.
    bool EvictWaiting();

    // A warning of `kind`, at most one a second per kind; the others are counted and
    // the next one says how many were left out (a flood must not flood the log).
    enum class WarningKind { kPerIpLimit, kEvicted, kCount };
    void WarnThrottled(WarningKind kind, const std::string& message);

    // Reserves one of ws_max_connections (counted in ws_connections_active).
    bool TryAcquireWsSlot();
    void ReleaseWsSlot();

    // Logging lives in server.cpp so the Beast TUs need not include spdlog.
    void LogWarning(std::string_view message) const;
    void LogError(std::string_view message) const;

private:
    void EndWaitLocked(uint64_t ticket);

    struct Throttle {
        std::chrono::steady_clock::time_point next_warning{};
        uint64_t left_out = 0;
    };

    std::mutex mu_;
    std::unordered_map<const Interruptible*, std::weak_ptr<Interruptible>> http_sessions_;
    std::unordered_map<uint64_t, std::weak_ptr<WsConnection>> websockets_;

    std::mutex admission_mu_;
    std::unordered_map<std::string, size_t> pending_per_client_;  // guarded
    struct Waiting {
        std::weak_ptr<Interruptible> session;
        std::string client_key;
    };
    std::map<uint64_t, Waiting> waiting_;                         // guarded; by ticket
    std::unordered_map<std::string, size_t> waiting_per_client_;  // guarded
    uint64_t next_ticket_ = 1;                                    // guarded
    std::array<Throttle, static_cast<size_t>(WarningKind::kCount)> throttles_;  // guarded
};

// Serves one accepted connection until it closes (http_session.cpp). The socket's
// executor must be a strand. With `reject`, the connection is over max_connections:
// its first request is answered 503 and the connection closed (the caller counted it
// in `rejecting`; the session releases that count). The caller counted the connection
// under `client_key` with TryAddPending; the session removes it once its first request
// header is complete or the connection ends.
boost::asio::awaitable<void> RunHttpSession(std::shared_ptr<ServerCore> core,
                                            boost::asio::ip::tcp::socket socket,
                                            uint16_t local_port, bool reject,
                                            std::string client_key);

}  // namespace aragora::net::detail
