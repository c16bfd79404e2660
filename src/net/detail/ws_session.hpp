#pragma once

// Internal to src/net: hand-off of an upgrade request from the HTTP session to the
// WebSocket session. Includes Beast: only http_session.cpp and ws_session.cpp use it.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>

#include "net/detail/server_core.hpp"
#include "net/http_types.hpp"

namespace aragora::net::detail {

// Completes the handshake for `upgrade` and serves the WebSocket until it closes.
// The caller reserved a slot with core->TryAcquireWsSlot(); this releases it. Runs on
// the socket's strand. (A plain socket, not beast::tcp_stream: the WebSocket has its
// own timeouts, and the extra layer costs compile time in every operation.)
boost::asio::awaitable<void> RunWebSocketSession(
    std::shared_ptr<ServerCore> core, boost::asio::ip::tcp::socket socket,
    boost::beast::http::request<boost::beast::http::string_body> upgrade, HttpRequest plain);

}  // namespace aragora::net::detail
