// The only translation unit of the tests that includes Beast.

#include "ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace aragora::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Runs the io_context until `done` or the timeout; on timeout cancels the socket's
// operations and lets their handlers run. True when `done` came in time.
bool RunUntil(asio::io_context& ioc, tcp::socket& socket, const bool& done,
              std::chrono::milliseconds timeout) {
    ioc.restart();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done && std::chrono::steady_clock::now() < deadline) {
        ioc.run_one_until(deadline);
    }
    if (done) return true;
    boost::system::error_code ignored;
    socket.cancel(ignored);
    ioc.restart();
    ioc.run_for(std::chrono::seconds(2));
    return false;
}

}  // namespace

struct WsClient::Impl {
    asio::io_context ioc;
    websocket::stream<tcp::socket> ws{ioc};
    beast::flat_buffer buffer;
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}

WsClient::~WsClient() { Abort(); }

bool WsClient::Connect(std::uint16_t port, const std::string& target,
                       std::chrono::milliseconds timeout, std::optional<int> receive_buffer) {
    tcp::socket& socket = impl_->ws.next_layer();
    boost::system::error_code ec;
    socket.open(tcp::v4(), ec);
    if (ec) {
        error_ = "open: " + ec.message();
        return false;
    }
    if (receive_buffer) {
        socket.set_option(asio::socket_base::receive_buffer_size(*receive_buffer), ec);
    }
    bool done = false;
    tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    socket.async_connect(endpoint, [&](boost::system::error_code e) {
        ec = e;
        done = true;
    });
    if (!RunUntil(impl_->ioc, socket, done, timeout) || ec) {
        error_ = "connect: " + (ec ? ec.message() : std::string("timed out"));
        broken_ = true;
        return false;
    }
    impl_->ws.read_message_max(8 * 1024 * 1024);
    impl_->ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, "aragora-integration-tests");
    }));
    done = false;
    impl_->ws.async_handshake("127.0.0.1:" + std::to_string(port), target,
                              [&](boost::system::error_code e) {
                                  ec = e;
                                  done = true;
                              });
    if (!RunUntil(impl_->ioc, socket, done, timeout) || ec) {
        error_ = "handshake: " + (ec ? ec.message() : std::string("timed out"));
        broken_ = true;
        return false;
    }
    return true;
}

std::optional<std::string> WsClient::Read(std::chrono::milliseconds timeout) {
    if (broken_) return std::nullopt;
    impl_->buffer.clear();
    bool done = false;
    boost::system::error_code ec;
    impl_->ws.async_read(impl_->buffer, [&](boost::system::error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!RunUntil(impl_->ioc, impl_->ws.next_layer(), done, timeout)) {
        timed_out_ = true;
        broken_ = true;
        error_ = "read timed out";
        return std::nullopt;
    }
    if (ec) {
        broken_ = true;
        closed_ = true;
        if (ec == websocket::error::closed) {
            close_code_ = static_cast<std::uint16_t>(impl_->ws.reason().code);
            error_ = "closed by the server: " + std::to_string(*close_code_) + " " +
                     std::string(impl_->ws.reason().reason.c_str());
        } else {
            error_ = "read: " + ec.message();
        }
        return std::nullopt;
    }
    last_was_text_ = impl_->ws.got_text();
    return beast::buffers_to_string(impl_->buffer.data());
}

bool WsClient::Send(const std::string& text, std::chrono::milliseconds timeout) {
    if (broken_) return false;
    impl_->ws.text(true);
    bool done = false;
    boost::system::error_code ec;
    impl_->ws.async_write(asio::buffer(text), [&](boost::system::error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!RunUntil(impl_->ioc, impl_->ws.next_layer(), done, timeout) || ec) {
        broken_ = true;
        error_ = "write: " + (ec ? ec.message() : std::string("timed out"));
        return false;
    }
    return true;
}

void WsClient::Close() {
    if (!broken_ && impl_->ws.is_open()) {
        bool done = false;
        impl_->ws.async_close(websocket::close_code::normal,
                              [&](boost::system::error_code) { done = true; });
        RunUntil(impl_->ioc, impl_->ws.next_layer(), done, std::chrono::seconds(2));
    }
    broken_ = true;
    Abort();
}

void WsClient::Abort() {
    broken_ = true;
    boost::system::error_code ignored;
    tcp::socket& socket = impl_->ws.next_layer();
    if (socket.is_open()) {
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
    }
}

}  // namespace aragora::testing
