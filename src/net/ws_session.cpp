// WebSocket session: one reader coroutine, one Write at a time from the handler's writer
// (net keeps no frame queue), a write watchdog. One of the few TUs with Beast.
//
// Data frames are framed here and written with one gather write per Write call (the
// handler hands over every frame it has queued, so a burst costs one syscall, not one per
// frame); Beast does the handshake, reads, pongs, keep-alive pings and the closing
// handshake. Every byte of both goes through GatedSocket, which lets one write at a time
// reach the socket and each write complete before the next starts, so Beast's control
// frames never land inside a data frame.

#include "net/detail/ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.hpp"

namespace aragora::net::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The TCP socket under the Beast stream: one write at a time reaches it, each in full
// (asio::async_write) before the next starts, whether it comes from Beast (handshake
// answer, pong, ping, close) or from the session's data frames (Acquire/Release). All
// on the connection's strand.
class GatedSocket {
public:
    using executor_type = tcp::socket::executor_type;
    using next_layer_type = tcp::socket;

    explicit GatedSocket(tcp::socket socket)
        : socket_(std::move(socket)), gate_(std::make_shared<Gate>(socket_.get_executor())) {}
    GatedSocket(GatedSocket&&) = default;
    GatedSocket& operator=(GatedSocket&&) = delete;
    // A write of Beast's may still be in flight or waiting (a keep-alive ping when the
    // session ends): it holds the gate, not this object, and a waiter completes with
    // operation_aborted.
    ~GatedSocket() {
        if (!gate_) return;
        gate_->gone = true;
        gate_->timer.cancel();
    }

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    tcp::socket& next_layer() noexcept { return socket_; }

    template <typename MutableBuffers, typename Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return socket_.async_read_some(buffers, std::forward<Token>(token));
    }

    // Beast's writes: waits for the gate, then writes every byte (a partial write would
    // let another writer in mid-frame) and reports them all.
    template <typename ConstBuffers, typename Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return asio::async_compose<Token, void(beast::error_code, std::size_t)>(
            WriteOp<ConstBuffers>{gate_, &socket_, buffers}, token, socket_);
    }

    bool busy() const { return gate_->busy; }
    void Acquire() { gate_->busy = true; }
    void Release() { gate_->Release(); }
    // Completes when the gate may be free (re-check busy()).
    asio::awaitable<void> WaitGate() {
        std::shared_ptr<Gate> gate = gate_;
        ++gate->waiters;
        co_await gate->timer.async_wait(kTuple);
        --gate->waiters;
    }

private:
    struct Gate {
        explicit Gate(const executor_type& ex) : timer(ex) {
            timer.expires_at(std::chrono::steady_clock::time_point::max());
        }
        void Release() {
            busy = false;
            if (waiters > 0) timer.cancel();  // every waiter re-checks
        }
        asio::steady_timer timer;  // never expires; Release cancels it to wake waiters
        bool busy = false;
        bool gone = false;  // the socket was destroyed
        int waiters = 0;
    };

    template <typename ConstBuffers>
    struct WriteOp {
        std::shared_ptr<Gate> gate;
        tcp::socket* socket;  // used only while the gate says it exists
        ConstBuffers buffers;
        bool waiting = false;
        bool writing = false;

        template <typename Self>
        void operator()(Self& self, beast::error_code ec = {}, std::size_t n = 0) {
            if (writing) {
                gate->Release();
                self.complete(ec, n);
                return;
            }
            if (waiting) {
                waiting = false;
                --gate->waiters;
                if (gate->gone) {  // only after a wait: never inside the initiation
                    self.complete(asio::error::operation_aborted, 0);
                    return;
                }
            }
            if (gate->busy) {
                waiting = true;
                ++gate->waiters;
                gate->timer.async_wait(std::move(self));
                return;
            }
            gate->busy = true;
            writing = true;
            asio::async_write(*socket, buffers, std::move(self));
        }
    };

    tcp::socket socket_;
    std::shared_ptr<Gate> gate_;
};

// Beast's closing handshake ends with a teardown of the next layer (found by ADL).
template <typename Handler>
void async_teardown(beast::role_type role, GatedSocket& s, Handler&& handler) {
    websocket::async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}

// Appends the header of an unmasked, unfragmented text frame of `size` bytes (RFC 6455
// 5.2; no extension negotiated, so RSV bits are 0).
void AppendTextFrameHeader(std::string& out, std::size_t size) {
    out.push_back(static_cast<char>(0x81));  // FIN, opcode 1
    if (size < 126) {
        out.push_back(static_cast<char>(size));
    } else if (size <= 0xFFFF) {
        out.push_back(static_cast<char>(126));
        out.push_back(static_cast<char>((size >> 8) & 0xFF));
        out.push_back(static_cast<char>(size & 0xFF));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF));
        }
    }
}

using FrameText = std::shared_ptr<const std::string>;

// The buffers of `texts` as consecutive text frames: one header per frame (appended to
// `headers`, reserved here so the pointers stay stable; a header is at most 10 bytes),
// then each frame's shared text as it is (no copy).
std::vector<asio::const_buffer> GatherFrames(std::span<const FrameText> texts,
                                             std::string& headers) {
    headers.clear();
    headers.reserve(texts.size() * 10);
    std::vector<asio::const_buffer> gather;
    gather.reserve(texts.size() * 2);
    for (const auto& text : texts) {
        const std::size_t at = headers.size();
        AppendTextFrameHeader(headers, text->size());
        gather.emplace_back(headers.data() + at, headers.size() - at);
        if (!text->empty()) gather.emplace_back(text->data(), text->size());
    }
    return gather;
}

// The first protocol of "Sec-WebSocket-Protocol: a, b" ("" when none offered).
std::string FirstSubprotocol(const http::fields& fields) {
    auto it = fields.find(http::field::sec_websocket_protocol);
    if (it == fields.end()) return {};
    std::string_view offered = it->value();
    const size_t comma = offered.find(',');
    return std::string(common::TrimOws(offered.substr(0, comma)));
}

bool IsSendableCloseCode(uint16_t code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession> {
public:
    WsSession(std::shared_ptr<ServerCore> core, tcp::socket socket, HttpRequest plain)
        : core_(std::move(core)),
          executor_(socket.get_executor()),
          ws_(std::move(socket)),
          watchdog_(executor_),
          request_(std::move(plain)),
          id_(core_->next_ws_id.fetch_add(1)) {
        watchdog_.expires_at(std::chrono::steady_clock::time_point::max());
    }

    uint64_t id() const override { return id_; }
    asio::any_io_executor executor() const override { return executor_; }
    const HttpRequest& upgrade_request() const override { return request_; }

    bool is_open() const override {
        std::lock_guard lock(mu_);
        return state_ == State::kOpen;
    }

    asio::awaitable<bool> Write(std::shared_ptr<const std::string> text) override;
    asio::awaitable<bool> WriteMany(
        std::span<const std::shared_ptr<const std::string>> texts) override;
    bool TryWriteNow(std::span<const std::shared_ptr<const std::string>> texts) override;
    void Close(uint16_t code, std::string reason) override;
    CloseCodes close_codes() const override {
        std::lock_guard lock(mu_);
        return codes_;
    }
    asio::awaitable<std::optional<std::string>> Read() override;

    asio::awaitable<void> Run(http::request<http::string_body> upgrade);

private:
    enum class State { kHandshake, kOpen, kClosing, kClosed };

    // Claims the closing handshake unless a Write or the closer runs; call with mu_ held,
    // spawn after unlocking.
    bool ClaimCloserLocked() {
        if (writing_ || closer_running_ || !close_pending_) return false;
        closer_running_ = true;
        return true;
    }
    void SpawnCloser() {
        asio::co_spawn(executor_, CloseHandshake(shared_from_this()), asio::detached);
    }
    asio::awaitable<void> CloseHandshake(std::shared_ptr<WsSession> self);
    // The rest of a TryWriteNow the socket did not take at once: `texts`' frames from
    // byte `skip` on. Holds the gate (taken by TryWriteNow) until written.
    asio::awaitable<void> WriteRest(std::shared_ptr<WsSession> self, std::vector<FrameText> texts,
                                    std::size_t skip);
    // After a write of the session's own (WriteMany, WriteRest): a failure starts closing,
    // and a Close() that came meanwhile runs its handshake.
    void WriteEnded(const beast::error_code& ec);
    // A write (or the close) in flight must finish by now + write_timeout. The timer is
    // not moved per write (that would cost a cancel, a wake-up and two timer-queue
    // operations per frame burst): it is set once when a write starts on an idle
    // watchdog, and when it fires the Watchdog either closes (the write in flight is
    // overdue), re-arms for the write in flight, or goes idle. Strand only.
    // (Two may overlap: the rest of a TryWriteNow, and the close or a WriteMany waiting
    // behind it; the deadline is the latest one's.)
    void ArmWatchdog() {
        ++writes_in_flight_;
        write_deadline_ = std::chrono::steady_clock::now() + core_->limits.write_timeout;
        if (!watchdog_armed_) {
            watchdog_armed_ = true;
            watchdog_.expires_at(write_deadline_);  // wakes the idle wait once
        }
    }
    void DisarmWatchdog() { --writes_in_flight_; }
    asio::awaitable<void> Watchdog(std::shared_ptr<WsSession> self);
    void ReadFailed(const beast::error_code& ec);
    // The reads ended: the connection is closed, leaves the server's table and its slot.
    // Strand only; once.
    void EndReads();
    void CloseSocket() {
        beast::error_code ignored;
        ws_.next_layer().next_layer().close(ignored);
    }

    std::shared_ptr<ServerCore> core_;
    const asio::any_io_executor executor_;  // the connection's strand
    // No permessage-deflate (clients do not need it; saves compile time and CPU).
    websocket::stream<GatedSocket, /*deflateSupported=*/false> ws_;
    asio::steady_timer watchdog_;
    const HttpRequest request_;
    const uint64_t id_;

    mutable std::mutex mu_;  // guards the members below it up to the strand-only ones
    State state_ = State::kHandshake;
    bool writing_ = false;  // a Write is in progress
    bool closer_running_ = false;
    bool close_pending_ = false;
    websocket::close_reason close_reason_;
    CloseCodes codes_;

    // Strand-only.
    int writes_in_flight_ = 0;
    bool watchdog_armed_ = false;
    std::chrono::steady_clock::time_point write_deadline_{};
    bool finished_ = false;
    bool reads_ended_ = false;
    bool reading_ = false;
    beast::flat_buffer read_buffer_;
};

asio::awaitable<bool> WsSession::Write(std::shared_ptr<const std::string> text) {
    co_return co_await WriteMany(std::span<const std::shared_ptr<const std::string>>(&text, 1));
}

asio::awaitable<bool> WsSession::WriteMany(
    std::span<const std::shared_ptr<const std::string>> texts) {
    auto self = shared_from_this();
    ServerStats& stats = core_->stats;
    for (const auto& text : texts) {
        if (!text || text->size() > core_->limits.ws_max_message_bytes) {
            stats.ws_send_refused.fetch_add(1);
            co_return false;
        }
    }
    {
        std::lock_guard lock(mu_);
        if (state_ != State::kOpen || writing_ || closer_running_) co_return false;
        writing_ = true;
    }
    ArmWatchdog();
    GatedSocket& socket = ws_.next_layer();
    while (socket.busy()) co_await socket.WaitGate();  // a pong or ping of Beast's
    beast::error_code ec;
    if (!ws_.is_open()) {
        // Beast started a closing handshake (the peer's close): nothing may follow it.
        ec = websocket::error::closed;
    } else {
        socket.Acquire();
        // (Locals, not members: an idle connection keeps no buffers.)
        std::string headers;
        const std::vector<asio::const_buffer> gather = GatherFrames(texts, headers);
        auto [wec, n] = co_await asio::async_write(socket.next_layer(), gather, kTuple);
        ec = wec;
        socket.Release();
    }
    DisarmWatchdog();
    if (!ec) stats.ws_messages_sent.fetch_add(texts.size());
    {
        std::lock_guard lock(mu_);
        writing_ = false;
    }
    WriteEnded(ec);
    co_return !ec;
}

void WsSession::WriteEnded(const beast::error_code& ec) {
    bool close = false;
    {
        std::lock_guard lock(mu_);
        if (ec && state_ == State::kOpen) state_ = State::kClosing;
        if (ec) close_pending_ = false;
        close = ClaimCloserLocked();  // a Close() that came during the write
    }
    if (close) SpawnCloser();
}

bool WsSession::TryWriteNow(std::span<const std::shared_ptr<const std::string>> texts) {
    for (const auto& text : texts) {
        if (!text || text->size() > core_->limits.ws_max_message_bytes) return false;
    }
    {
        std::lock_guard lock(mu_);
        if (state_ != State::kOpen || writing_ || closer_running_) return false;
    }
    GatedSocket& socket = ws_.next_layer();
    // Beast's control frame or the rest of an earlier TryWriteNow in flight, or Beast's
    // closing handshake started (nothing may follow it): the awaited path.
    if (socket.busy() || !ws_.is_open()) return false;
    std::string headers;
    const std::vector<asio::const_buffer> gather = GatherFrames(texts, headers);
    beast::error_code ec;
    // One sendmsg; the socket is non-blocking (Run), so this never waits.
    const std::size_t n = socket.next_layer().write_some(gather, ec);
    // would_block: nothing written. Any other error: WriteMany meets it too and reports it.
    if (ec || n == 0) return false;
    if (n == asio::buffer_size(gather)) {
        core_->stats.ws_messages_sent.fetch_add(texts.size());
        return true;
    }
    // Part of it: the rest goes out in the background, first (the gate is held from here,
    // so neither Beast nor a WriteMany can write in between).
    socket.Acquire();
    ArmWatchdog();
    asio::co_spawn(
        executor_,
        WriteRest(shared_from_this(), std::vector<FrameText>(texts.begin(), texts.end()), n),
        asio::detached);
    return true;
}

asio::awaitable<void> WsSession::WriteRest(std::shared_ptr<WsSession> self,
                                           std::vector<FrameText> texts, std::size_t skip) {
    std::string headers;
    std::vector<asio::const_buffer> rest = GatherFrames(texts, headers);
    std::size_t first = 0;
    while (skip >= rest[first].size()) skip -= rest[first++].size();
    rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(first));
    rest.front() += skip;
    GatedSocket& socket = ws_.next_layer();
    auto [ec, written] = co_await asio::async_write(socket.next_layer(), rest, kTuple);
    (void)written;
    socket.Release();
    DisarmWatchdog();
    if (!ec) core_->stats.ws_messages_sent.fetch_add(texts.size());
    WriteEnded(ec);
}

void WsSession::Close(uint16_t code, std::string reason) {
    bool spawn = false;
    {
        std::lock_guard lock(mu_);
        if (state_ != State::kOpen) return;
        state_ = State::kClosing;
        close_pending_ = true;
        // A close reason must fit a control frame (125 bytes with the code), and a
        // reserved code (1004-1006, 1015, <1000) would be a protocol error on the wire.
        if (reason.size() > 123) reason.resize(123);
        if (!IsSendableCloseCode(code)) code = 1000;
        close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
        codes_.sent = code;
        spawn = ClaimCloserLocked();
    }
    if (spawn) SpawnCloser();
}

asio::awaitable<void> WsSession::CloseHandshake(std::shared_ptr<WsSession> self) {
    websocket::close_reason reason;
    {
        std::lock_guard lock(mu_);
        close_pending_ = false;
        if (state_ == State::kClosed) {
            closer_running_ = false;
            co_return;
        }
        reason = close_reason_;
    }
    ArmWatchdog();
    auto [ec] = co_await ws_.async_close(reason, kTuple);
    DisarmWatchdog();
    std::lock_guard lock(mu_);
    closer_running_ = false;
}

asio::awaitable<void> WsSession::Watchdog(std::shared_ptr<WsSession> self) {
    // Sleeps until the armed deadline (ArmWatchdog moves an idle one, which wakes this
    // wait early); the reads' end cancels it.
    while (!finished_) {
        co_await watchdog_.async_wait(kTuple);
        if (finished_) break;
        const auto now = std::chrono::steady_clock::now();
        if (watchdog_.expiry() > now) continue;  // moved: wait for the new deadline
        if (writes_in_flight_ == 0) {
            watchdog_armed_ = false;
            watchdog_.expires_at(std::chrono::steady_clock::time_point::max());
        } else if (write_deadline_ <= now) {
            core_->stats.write_timeouts.fetch_add(1);
            // Closing the socket fails the write and the pending read; Run cleans up.
            CloseSocket();
            break;
        } else {
            watchdog_.expires_at(write_deadline_);  // a later write is in flight
        }
    }
}

void WsSession::ReadFailed(const beast::error_code& ec) {
    ServerStats& stats = core_->stats;
    if (ec == websocket::error::closed || ec == asio::error::operation_aborted ||
        ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::bad_descriptor) {
        return;
    }
    if (ec == beast::error::timeout) {
        stats.ws_timeouts.fetch_add(1);
        return;
    }
    // Protocol violations, oversize messages (Beast answers 1009), and the rest.
    stats.ws_errors.fetch_add(1);
}

asio::awaitable<std::optional<std::string>> WsSession::Read() {
    if (reads_ended_ || reading_) co_return std::nullopt;
    auto self = shared_from_this();
    reading_ = true;
    auto [ec, n] = co_await ws_.async_read(read_buffer_, kTuple);
    reading_ = false;
    if (ec) {
        ReadFailed(ec);
        EndReads();
        co_return std::nullopt;
    }
    core_->stats.ws_messages_received.fetch_add(1);
    std::string text = beast::buffers_to_string(read_buffer_.data());
    read_buffer_.consume(read_buffer_.size());
    if (read_buffer_.capacity() > 64 * 1024) read_buffer_.shrink_to_fit();
    co_return text;
}

void WsSession::EndReads() {
    if (reads_ended_) return;
    reads_ended_ = true;
    {
        std::lock_guard lock(mu_);
        state_ = State::kClosed;
        close_pending_ = false;
        codes_.received = static_cast<uint16_t>(ws_.reason().code);  // 0 without a close frame
    }
    finished_ = true;
    watchdog_.cancel();
    core_->RemoveWebSocket(id_);
    core_->ReleaseWsSlot();
}

asio::awaitable<void> WsSession::Run(http::request<http::string_body> upgrade) {
    auto self = shared_from_this();
    const ServerLimits& limits = core_->limits;
    ServerStats& stats = core_->stats;

    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = limits.read_timeout;
    if (limits.ws_ping_interval.count() > 0) {
        // Beast pings after half the idle timeout of silence, and gives up after all of it.
        timeouts.idle_timeout = 2 * limits.ws_ping_interval;
        timeouts.keep_alive_pings = true;
    } else {
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
    }
    ws_.set_option(timeouts);
    ws_.read_message_max(limits.ws_max_message_bytes);
    ws_.text(true);
    ws_.set_option(websocket::stream_base::decorator(
        [protocol = FirstSubprotocol(upgrade)](websocket::response_type& res) {
            if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
        }));

    // A client that stops reading must not park megabytes in the kernel (Linux grows an
    // untuned send buffer to 4 MB): the handler's bounded queue is the buffer that counts.
    boost::system::error_code sndbuf_ec;
    ws_.next_layer().next_layer().set_option(asio::socket_base::send_buffer_size(64 * 1024),
                                             sndbuf_ec);

    auto [ec] = co_await ws_.async_accept(upgrade, kTuple);
    if (ec) {
        stats.ws_errors.fetch_add(1);
        core_->ReleaseWsSlot();
        co_return;
    }
    // TryWriteNow's write must never wait (Asio's own operations are asynchronous anyway).
    boost::system::error_code nb_ec;
    ws_.next_layer().next_layer().non_blocking(true, nb_ec);
    stats.ws_connections_total.fetch_add(1);
    {
        std::lock_guard lock(mu_);
        state_ = State::kOpen;
    }
    core_->AddWebSocket(self);
    asio::co_spawn(executor_, Watchdog(self), asio::detached);
    // Shutdown may have run its CloseAll between our slot check and AddWebSocket.
    if (core_->shutting_down.load()) Close(1001, "server shutting down");

    // The handler's Serve is the connection's reader; whatever arrives after it returned
    // is read and dropped until the connection ends (the closing handshake needs reads).
    std::string failure;
    try {
        co_await core_->ws_handler->Serve(self);
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "non-standard exception";
    }
    if (!failure.empty()) {
        stats.ws_errors.fetch_add(1);
        core_->LogError("WebSocket handler failed: " + failure);
        Close(static_cast<uint16_t>(websocket::close_code::internal_error), "internal error");
    }
    for (;;) {
        std::optional<std::string> dropped = co_await Read();
        if (!dropped) break;
    }
    EndReads();
    // The closing handshake (if any) is over once the read ended; closing the socket
    // also fails a write stalled on a client that stopped reading.
    CloseSocket();
}

}  // namespace

asio::awaitable<void> RunWebSocketSession(std::shared_ptr<ServerCore> core, tcp::socket socket,
                                          http::request<http::string_body> upgrade,
                                          HttpRequest plain) {
    auto session = std::make_shared<WsSession>(core, std::move(socket), std::move(plain));
    try {
        co_await session->Run(std::move(upgrade));
    } catch (const std::exception& e) {
        core->LogError(std::string("WebSocket session failed: ") + e.what());
    }
}

}  // namespace aragora::net::detail
