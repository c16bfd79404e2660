#pragma once

// A blocking WebSocket client for the black-box tests (Boost.Beast, kept to ws_client.cpp):
// connect to ws://127.0.0.1:<port><target>, read text frames with a deadline, send text,
// stop reading to play a slow consumer (optionally with a tiny SO_RCVBUF), close, and
// report the server's close code. Not thread-safe; one client per thread.
//
// A read that times out leaves the underlying stream unusable (Beast fails a stream whose
// read was cancelled): after a timeout every later Read returns nullopt at once.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace aragora::testing {

class WsClient {
public:
    WsClient();
    ~WsClient();
    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;

    // Connects and completes the upgrade. `receive_buffer` sets SO_RCVBUF before connect
    // (the kernel then advertises a small window: a client that stops reading fills up
    // quickly). False with error() on failure.
    bool Connect(std::uint16_t port, const std::string& target,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10),
                 std::optional<int> receive_buffer = std::nullopt);

    // The next data frame; nullopt on timeout, close or error (see the accessors).
    std::optional<std::string> Read(std::chrono::milliseconds timeout);
    // Whether the last frame Read returned was a text frame.
    bool last_was_text() const { return last_was_text_; }

    bool Send(const std::string& text,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Sends a close frame (1000) and waits briefly for the server's answer.
    void Close();
    // Drops the TCP connection without a close handshake (a client that vanished).
    void Abort();

    bool closed() const { return closed_; }  // the server closed (frame or TCP)
    bool timed_out() const { return timed_out_; }
    // The code of the server's close frame, when one arrived.
    std::optional<std::uint16_t> close_code() const { return close_code_; }
    const std::string& error() const { return error_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    bool closed_ = false;
    bool timed_out_ = false;
    bool broken_ = false;
    bool last_was_text_ = false;
    std::optional<std::uint16_t> close_code_;
    std::string error_;
};

}  // namespace aragora::testing
