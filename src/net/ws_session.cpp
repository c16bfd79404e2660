// WebSocket session: one reader coroutine, one Write at a time from the handler's writer
// (net keeps no frame queue), a write watchdog. One of the few TUs with Beast.

#include "net/detail/ws_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "common/strings.hpp"

namespace aragora::net::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

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
    void Close(uint16_t code, std::string reason) override;
    CloseCodes close_codes() const override {
        std::lock_guard lock(mu_);
        return codes_;
    }

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
    // The watchdog's deadline: now + write_timeout while a write (or the close) is in
    // flight, never otherwise. Strand only.
    void ArmWatchdog() {
        write_in_flight_ = true;
        watchdog_.expires_after(core_->limits.write_timeout);
    }
    void DisarmWatchdog() {
        write_in_flight_ = false;
        watchdog_.expires_at(std::chrono::steady_clock::time_point::max());
    }
    asio::awaitable<void> Watchdog(std::shared_ptr<WsSession> self);
    void ReadFailed(const beast::error_code& ec);
    void CloseSocket() {
        beast::error_code ignored;
        ws_.next_layer().close(ignored);
    }
    // Runs a handler callback; an exception closes the connection with 1011.
    template <typename F>
    void Invoke(const char* what, F&& callback);

    std::shared_ptr<ServerCore> core_;
    const asio::any_io_executor executor_;  // the connection's strand
    // No permessage-deflate (clients do not need it; saves compile time and CPU).
    websocket::stream<tcp::socket, /*deflateSupported=*/false> ws_;
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
    bool write_in_flight_ = false;
    bool finished_ = false;
};

asio::awaitable<bool> WsSession::Write(std::shared_ptr<const std::string> text) {
    auto self = shared_from_this();
    ServerStats& stats = core_->stats;
    if (!text || text->size() > core_->limits.ws_max_message_bytes) {
        stats.ws_send_refused.fetch_add(1);
        co_return false;
    }
    {
        std::lock_guard lock(mu_);
        if (state_ != State::kOpen || writing_ || closer_running_) co_return false;
        writing_ = true;
    }
    ArmWatchdog();
    auto [ec, n] = co_await ws_.async_write(asio::buffer(*text), kTuple);
    DisarmWatchdog();
    if (!ec) stats.ws_messages_sent.fetch_add(1);
    bool close = false;
    {
        std::lock_guard lock(mu_);
        writing_ = false;
        if (ec && state_ == State::kOpen) state_ = State::kClosing;
        if (ec) close_pending_ = false;
        close = ClaimCloserLocked();  // a Close() that came during the write
    }
    if (close) SpawnCloser();
    co_return !ec;
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
    // Sleeps until the deadline of the write in flight; ArmWatchdog/DisarmWatchdog move
    // it (which wakes this wait early), Run's end cancels it.
    while (!finished_) {
        co_await watchdog_.async_wait(kTuple);
        if (finished_) break;
        if (write_in_flight_ && watchdog_.expiry() <= std::chrono::steady_clock::now()) {
            core_->stats.write_timeouts.fetch_add(1);
            // Closing the socket fails the write and the pending read; Run cleans up.
            CloseSocket();
            break;
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

template <typename F>
void WsSession::Invoke(const char* what, F&& callback) {
    std::string failure;
    try {
        callback();
        return;
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "non-standard exception";
    }
    core_->stats.ws_errors.fetch_add(1);
    core_->LogError(std::string("WebSocket ") + what + " handler failed: " + failure);
    Close(static_cast<uint16_t>(websocket::close_code::internal_error), "internal error");
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
    ws_.next_layer().set_option(asio::socket_base::send_buffer_size(64 * 1024), sndbuf_ec);

    auto [ec] = co_await ws_.async_accept(upgrade, kTuple);
    if (ec) {
        stats.ws_errors.fetch_add(1);
        core_->ReleaseWsSlot();
        co_return;
    }
    stats.ws_connections_total.fetch_add(1);
    {
        std::lock_guard lock(mu_);
        state_ = State::kOpen;
    }
    core_->AddWebSocket(self);
    asio::co_spawn(executor_, Watchdog(self), asio::detached);
    // Shutdown may have run its CloseAll between our slot check and AddWebSocket.
    if (core_->shutting_down.load()) Close(1001, "server shutting down");

    WsHandler* handler = core_->ws_handler;
    Invoke("open", [&] { handler->OnOpen(self); });

    beast::flat_buffer buffer;
    for (;;) {
        auto [rec, n] = co_await ws_.async_read(buffer, kTuple);
        if (rec) {
            ReadFailed(rec);
            break;
        }
        stats.ws_messages_received.fetch_add(1);
        std::string text = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        Invoke("message", [&] { handler->OnMessage(self, std::move(text)); });
    }

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
    Invoke("close", [&] { handler->OnClose(self); });
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
