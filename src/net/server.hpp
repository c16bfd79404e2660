#pragma once

// Generic HTTP/1.1 + WebSocket server core (no domain code). Handlers see only the
// plain structs of net/http_types.hpp; Beast stays inside src/net/*.cpp.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/result.hpp"
#include "net/http_types.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace aragora::net {

// Every bound the server enforces. Hitting one increments a ServerStats counter and
// answers clearly (see HttpServer); zero is not "unlimited" unless stated.
struct ServerLimits {
    size_t max_body_bytes = 1024 * 1024;  // larger bodies: 413 payload_too_large
    size_t max_header_bytes = 16 * 1024;  // request line + header fields: 431
    size_t max_header_count = 100;        // more fields: 431
    // Concurrent HTTP connections (per server object, all listeners together). A
    // connection upgraded to WebSocket stops counting here and counts against
    // ws_max_connections instead.
    size_t max_connections = 1024;
    // Connections from one client (its IPv4 address, or the /64 of its IPv6 address) that
    // have not yet sent a complete first request header; more are closed at once. 0 = no
    // limit. A connection stops counting once its first request header is read, so the
    // many connections of a reverse proxy do not add up.
    size_t max_pending_connections_per_ip = 64;
    // A request line and header section must be complete within this: for a new
    // connection counted from the accept, for a later request on a keep-alive connection
    // from its first byte. Otherwise the connection is closed without an answer.
    std::chrono::seconds header_timeout{10};
    std::chrono::seconds keep_alive_idle{60};  // wait for the next request on a connection
    std::chrono::seconds read_timeout{30};     // a request body
    std::chrono::seconds write_timeout{30};    // each response / each WebSocket frame
    size_t ws_max_connections = 1000;
    size_t ws_max_message_bytes = 1024 * 1024;  // per frame sent; per message received
    // Protocol ping after this much silence from the client; the connection is closed
    // after twice this much. Zero disables pings and the idle timeout.
    std::chrono::seconds ws_ping_interval{15};
};

// Counters the owner reads for metrics (any thread, any time). Monotonic unless marked
// "gauge". Each value is exact, but counters of one event may be updated at slightly
// different moments.
struct ServerStats {
    std::atomic<uint64_t> connections_accepted{0};
    std::atomic<uint64_t> connections_active{0};     // gauge: HTTP connections
    std::atomic<uint64_t> connections_rejected{0};   // over max_connections
    std::atomic<uint64_t> requests{0};               // complete requests handed to the handler
                                                     // or upgraded to WebSocket
    std::atomic<uint64_t> handler_errors{0};         // handler threw: answered 500
    std::atomic<uint64_t> bad_requests{0};           // malformed: 400 bad_request
    std::atomic<uint64_t> body_too_large{0};         // 413 payload_too_large
    std::atomic<uint64_t> headers_too_large{0};      // 431 (max_header_bytes)
    std::atomic<uint64_t> too_many_headers{0};       // 431 (max_header_count)
    std::atomic<uint64_t> header_timeouts{0};        // header not read within header_timeout
    std::atomic<uint64_t> read_timeouts{0};          // body not read within read_timeout
    std::atomic<uint64_t> write_timeouts{0};         // response or WS frame not written in time
    std::atomic<uint64_t> idle_closes{0};            // keep-alive connection idle too long
    std::atomic<uint64_t> ws_connections_active{0};  // gauge (incl. handshakes in progress)
    std::atomic<uint64_t> ws_connections_total{0};   // completed handshakes
    std::atomic<uint64_t> ws_rejected{0};            // over ws_max_connections: 503
    std::atomic<uint64_t> ws_messages_sent{0};       // frames written
    std::atomic<uint64_t> ws_messages_received{0};   // messages read
    std::atomic<uint64_t> ws_send_refused{0};        // Write of a frame > ws_max_message_bytes
    std::atomic<uint64_t> ws_timeouts{0};            // no data (not even a pong) in time
    // Failed handshakes, protocol errors, oversize incoming messages (closed 1009),
    // exceptions from WsHandler callbacks.
    std::atomic<uint64_t> ws_errors{0};
    // gauge: HTTP connections waiting for a request header (their first, or the next on
    // keep-alive): those that make room when the table is full.
    std::atomic<uint64_t> connections_waiting{0};
    // Closed at once: over max_pending_connections_per_ip.
    std::atomic<uint64_t> connections_refused_per_ip{0};
    // Closed while waiting for a request, to make room (max_connections reached).
    std::atomic<uint64_t> connections_evicted{0};
};

// One accepted WebSocket connection. Owned by shared_ptr; the server keeps it alive
// until it is closed and the last user reference is dropped. Users drop their references
// in OnClose; any still held when the io_context stops must be released before the
// io_context is destroyed.
//
// net keeps no frame queue: the handler is the connection's one writer. It awaits one
// Write or WriteMany at a time on executor() (WriteMany: every frame it has queued, in one
// socket write), so the handler's own queue is the only one and its bound is the only
// slow-consumer bound (one socket write in flight).
class WsConnection {
public:
    virtual ~WsConnection() = default;

    // Unique per HttpServer object, from 1.
    virtual uint64_t id() const = 0;

    // The connection's strand: the WsHandler callbacks run on it, and Write must be
    // awaited on it.
    virtual boost::asio::any_io_executor executor() const = 0;

    // Writes one text frame (exactly one frame per call); completes once the frame is
    // handed to the socket. At most one Write (or WriteMany) at a time per connection (the
    // caller is its single writer); `text` is only read, so one frame object may be
    // written to many connections. Returns false, writing nothing, when:
    //  - the connection is closing or closed, or another Write is in progress;
    //  - text is larger than ws_max_message_bytes (the connection stays open; counted in
    //    ws_send_refused);
    // and false when the write failed (the connection is then closing). A write that takes
    // longer than write_timeout closes the socket (counted in write_timeouts).
    virtual boost::asio::awaitable<bool> Write(std::shared_ptr<const std::string> text) = 0;

    // Starts the closing handshake with `code` after the Write in progress, if any; later
    // Writes fail. Any thread. No-op when already closing. The client is given
    // write_timeout to take the close frame. `code` must be sendable (1000-1003,
    // 1007-1014, 3000-4999; others become 1000); `reason` is cut to 123 bytes.
    virtual void Close(uint16_t code, std::string reason) = 0;

    // False once closing started (by either side) or the connection failed. Any thread.
    virtual bool is_open() const = 0;

    // The HTTP upgrade request (path, query, headers, remote address); immutable.
    virtual const HttpRequest& upgrade_request() const = 0;

    // How the connection ended, for logs (complete once OnClose runs): the close code
    // this server started the closing handshake with (0: it did not, e.g. the peer
    // closed first), and the code of the peer's close frame (0: none, e.g. the TCP
    // connection dropped or timed out).
    struct CloseCodes {
        uint16_t sent = 0;
        uint16_t received = 0;
    };
    virtual CloseCodes close_codes() const { return {}; }

    // The next text message from the client; nullopt once the connection has ended (the
    // read failed, the peer closed, or the closing handshake finished), and on every call
    // after that. Awaited on executor(), by the connection's one reader (WsHandler::Serve),
    // one Read at a time. close_codes() is complete once it returned nullopt.
    virtual boost::asio::awaitable<std::optional<std::string>> Read() = 0;

    // Writes `texts` as consecutive text frames, each its own message, in order, with one
    // gather write to the socket (a burst costs one syscall, not one per frame); completes
    // once all are handed to the socket. The rules of Write apply to the call as a whole:
    // false, writing nothing, when the connection is closing, another write is in
    // progress, or any text is larger than ws_max_message_bytes (counted in
    // ws_send_refused); false when the write failed. (This default, for test doubles,
    // writes them one Write at a time and stops at the first refusal.)
    virtual boost::asio::awaitable<bool> WriteMany(
        std::span<const std::shared_ptr<const std::string>> texts) {
        for (const auto& text : texts) {
            if (!co_await Write(text)) co_return false;
        }
        co_return true;
    }

    // WriteMany without waiting, for a writer whose frames would otherwise cost it a
    // wake-up and a socket round trip each (a live fan-out): when no write is in progress,
    // the connection is open and every text fits ws_max_message_bytes, writes `texts` with
    // one non-blocking gather write on the caller's turn of executor() and returns true
    // (the frames are handed over, as WriteMany's true). Whatever the socket did not take
    // at once is written by net in the background, before any later byte (a Write or
    // WriteMany started meanwhile waits for it; TryWriteNow returns false until it is
    // done). False, writing nothing, otherwise: the caller then awaits WriteMany, which
    // tells why. Call it on executor(), as the connection's single writer, never while one
    // of its Write/WriteMany is in progress. (This default, for test doubles: false.)
    virtual bool TryWriteNow(std::span<const std::shared_ptr<const std::string>> /*texts*/) {
        return false;
    }
};

// Serves WebSocket connections. net runs Serve(conn) once per connection, as a coroutine
// on the connection's strand (WsConnection::executor(), any I/O thread), right after the
// handshake: it is the connection's reader (co_await conn->Read() until nullopt) and may
// spawn the connection's writer on the same strand. When Serve returns, net reads (and
// drops) whatever still arrives until the connection has ended, then closes the socket.
// An exception from Serve is logged and counted in ws_errors, and the connection is closed
// with 1011. Nothing in Serve may block. The handler must outlive the server's io_context
// work (stop and destroy the io_context, or let it run out, before destroying it).
//
// The default Serve drives the callbacks (for handlers that need no coroutine): OnOpen
// first, then OnMessage once per message in arrival order, then OnClose exactly once when
// Read ends; an exception from a callback closes the connection with 1011 (the callbacks
// still run to OnClose) and is reported as Serve's.
class WsHandler {
public:
    virtual ~WsHandler() = default;
    virtual boost::asio::awaitable<void> Serve(std::shared_ptr<WsConnection> conn);
    virtual void OnOpen(std::shared_ptr<WsConnection> /*conn*/) {}
    virtual void OnMessage(std::shared_ptr<WsConnection> /*conn*/, std::string /*text*/) {}
    virtual void OnClose(std::shared_ptr<WsConnection> /*conn*/) {}
};

// Called once per complete request, on the connection's strand (the coroutine may
// co_await anything and resumes there). An exception becomes a 500 internal_error
// (counted in handler_errors). Requests on one connection are handled one at a time.
using HttpHandler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest)>;

// Decides whether an upgrade request is a WebSocket for the WsHandler (e.g. path ==
// "/ws" on the API port, anything on the WS port: see HttpRequest::local_port).
// Must not block. An empty predicate accepts every upgrade request.
using WsPathPredicate = std::function<bool(const HttpRequest&)>;

// HTTP/1.1 server with keep-alive, bounded everything, and WebSocket upgrade.
//
// One object may listen on several ports (Listen repeatedly); the listeners share the
// handler, limits and stats. Use one object per port when ports need different
// handlers, limits or stats (e.g. the metrics port).
//
// What the server answers by itself (flat JSON errors of API.md, with the request's
// X-Correlation-ID / X-Request-ID echoed in `X-Correlation-ID`, or a generated id),
// then closes the connection:
//  - malformed request (bad request line, header, chunking, target): 400 bad_request;
//  - Transfer-Encoding other than exactly `chunked`, Transfer-Encoding with
//    Content-Length, or Transfer-Encoding in HTTP/1.0: 400 bad_request without reading
//    the body (RFC 9112 §6.1), so nothing after it is parsed as another request;
//  - a chunk extension (";name=value" after a chunk size): 400 bad_request. Chunked
//    bodies are decoded byte by byte by the server (not by Beast), so whether a request
//    is accepted never depends on how TCP split it;
//  - Content-Length (or a chunked body) over max_body_bytes: 413 payload_too_large, as
//    soon as the headers are read, without reading the body;
//  - header section over max_header_bytes or more than max_header_count fields:
//    431 bad_request;
//  - a connection from a client that already has max_pending_connections_per_ip
//    connections without a complete first request header: closed at once, without
//    reading (connections_refused_per_ip; a throttled warning names the address);
//  - request header not complete within header_timeout: closed (header_timeouts);
//  - connection over max_connections: a connection waiting for a request header (its
//    first, or its next on keep-alive) is closed to make room: of the client with the
//    most waiting connections, the one that has waited longest (connections_evicted; a
//    throttled warning). So clients that send their request promptly get served even
//    while slow or idle connections from any number of addresses fill the table. When
//    no connection waits, its first request is answered 503 overloaded; when 64 such
//    rejections are already in progress, the connection is closed at once (still
//    counted in connections_rejected);
//  - WebSocket upgrade over ws_max_connections: 503 overloaded; after Shutdown():
//    503 unavailable.
// Every 503 carries Retry-After: 1 and "retry_after": 1; the overload ones also
// X-RateLimit-Limit (the bound), X-RateLimit-Remaining: 0 and X-RateLimit-Reset.
// An upgrade request goes to the WsHandler when one was given and is_ws_path accepts
// it; otherwise it is an ordinary request for the HttpHandler. The handshake echoes
// the first subprotocol the client offers in Sec-WebSocket-Protocol (browsers fail
// the handshake otherwise, e.g. with "access_token.<token>").
// Expect: 100-continue is answered before the body is read. A header or body read
// timeout or an idle keep-alive connection is closed without an answer.
//
// Thread-safety: every member may be called from any thread. Nothing blocks.
class HttpServer {
public:
    // `handler` must be set. `ws_handler` may be null (no WebSocket endpoint); when set
    // it must outlive all server work (see WsHandler).
    HttpServer(boost::asio::io_context& ioc, ServerLimits limits, HttpHandler handler,
               WsHandler* ws_handler = nullptr, WsPathPredicate is_ws_path = {});
    // Shutdown(). Sessions still running keep the shared server state alive until they
    // end. Destroy the server before its io_context.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds host:port ("0.0.0.0", "::", "127.0.0.1", "localhost"; "" = 0.0.0.0; port 0
    // lets the OS choose) and starts accepting. Returns the bound port, or kUnavailable
    // (bad address, port in use, after StopAccepting).
    common::Result<uint16_t> Listen(const std::string& host, uint16_t port);

    // Closes every listener (asynchronously, on its strand); new connections are then
    // refused by the OS, and those still in the listen backlog are reset. Connections
    // already accepted are served as usual. Idempotent.
    void StopAccepting();

    // Starts the closing handshake (code, reason) on every open WebSocket: 1001 for
    // drain, 1012 for restart. Connections opened afterwards are not affected.
    void CloseAllWebSockets(uint16_t code, std::string reason);

    // Graceful stop: StopAccepting; connections waiting for a request are closed;
    // requests in progress finish and their responses carry Connection: close; new
    // WebSocket upgrades get 503; open WebSockets are closed with 1001. Afterwards
    // the io_context runs out of server work once the last connection ends (each
    // bounded by the timeouts). Idempotent.
    void Shutdown();

    const ServerStats& stats() const;
    const ServerLimits& limits() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aragora::net
