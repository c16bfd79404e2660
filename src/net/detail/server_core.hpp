#pragma once

// Internal to src/net: the state shared by the listeners and every session of one
// HttpServer. Asio only (no Beast), so server.cpp stays cheap to compile.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/server.hpp"

namespace aragora::net::detail {

// An HTTP session the server may interrupt at shutdown when it waits for a request.
class Interruptible {
public:
    virtual ~Interruptible() = default;
    // Thread-safe; hops to the session's strand and closes the connection if it is
    // still waiting for the next request there.
    virtual void InterruptIfIdle() = 0;
};

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

    // Reserves one of ws_max_connections (counted in ws_connections_active).
    bool TryAcquireWsSlot();
    void ReleaseWsSlot();

    // Logging lives in server.cpp so the Beast TUs need not include spdlog.
    void LogWarning(std::string_view message) const;
    void LogError(std::string_view message) const;

private:
    std::mutex mu_;
    std::unordered_map<const Interruptible*, std::weak_ptr<Interruptible>> http_sessions_;
    std::unordered_map<uint64_t, std::weak_ptr<WsConnection>> websockets_;
};

// Serves one accepted connection until it closes (http_session.cpp). The socket's
// executor must be a strand. With `reject`, the connection is over max_connections:
// its first request is answered 503 and the connection closed (the caller counted it
// in `rejecting`; the session releases that count).
boost::asio::awaitable<void> RunHttpSession(std::shared_ptr<ServerCore> core,
                                            boost::asio::ip::tcp::socket socket,
                                            uint16_t local_port, bool reject);

}  // namespace aragora::net::detail
