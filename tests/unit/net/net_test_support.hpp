#pragma once

// Shared by the net tests: a server on 127.0.0.1:0 run by two I/O threads, and a raw
// TCP client whose every operation has a deadline (futures, never sleeps).

#include <gtest/gtest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/server.hpp"

namespace aragora::net::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

inline constexpr std::chrono::seconds kDeadline{10};

// use_future whose completion (and every intermediate handler of a composed operation)
// runs on `ex`; plain use_future would run some of them on Asio's system thread pool.
template <typename Executor>
auto UseFuture(const Executor& ex) {
    return asio::bind_executor(ex, asio::use_future);
}

// Waits for `f` at most kDeadline; on timeout runs `on_timeout` (which must make the
// operation complete, e.g. close its socket) and reports a failure.
template <typename T>
bool WaitReady(std::future<T>& f, const std::function<void()>& on_timeout) {
    if (f.wait_for(kDeadline) == std::future_status::ready) return true;
    ADD_FAILURE() << "operation did not complete within the deadline";
    on_timeout();
    f.wait();
    return false;
}

// An io_context run by `threads` threads until Stop().
class IoThreads {
public:
    explicit IoThreads(int threads) : guard_(asio::make_work_guard(ioc_)) {
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    }
    ~IoThreads() { Stop(); }
    void Stop() {
        guard_.reset();
        ioc_.stop();
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }
    asio::io_context& ioc() { return ioc_; }

private:
    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;
};

struct RawResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lowercased names
    std::string body;
    std::string Header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// A blocking-looking TCP client built on futures, so that every step has a deadline.
class RawClient {
public:
    explicit RawClient(asio::io_context& ioc) : socket_(ioc) {}

    // Connects to 127.0.0.1:port; the error (e.g. connection_refused) on failure. With
    // `source` (e.g. "127.0.0.2", any loopback address works on Linux) the connection
    // comes from that address, as from another client.
    boost::system::error_code Connect(uint16_t port, const std::string& source = "") {
        if (!source.empty()) {
            boost::system::error_code ec;
            socket_.open(tcp::v4(), ec);
            if (!ec) socket_.bind(tcp::endpoint(asio::ip::make_address(source), 0), ec);
            if (ec) return ec;
        }
        auto f = socket_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                       UseFuture(socket_.get_executor()));
        if (!WaitReady(f, [this] { CloseSocket(); })) return asio::error::timed_out;
        try {
            f.get();
        } catch (const boost::system::system_error& e) {
            return e.code();
        }
        return {};
    }

    bool Send(const std::string& data) {
        auto f = asio::async_write(socket_, asio::buffer(data), UseFuture(socket_.get_executor()));
        if (!WaitReady(f, [this] { CloseSocket(); })) return false;
        try {
            f.get();
        } catch (const boost::system::system_error&) {
            return false;
        }
        return true;
    }

    // Reads one response (interim 1xx responses are returned on their own).
    std::optional<RawResponse> ReadResponse() {
        auto header_end = ReadUntil("\r\n\r\n");
        if (!header_end) return std::nullopt;
        std::string head = buffer_.substr(0, *header_end);
        buffer_.erase(0, *header_end + 4);
        RawResponse res;
        size_t line_end = head.find("\r\n");
        std::string status_line = head.substr(0, line_end);
        if (status_line.size() < 12) return std::nullopt;
        res.status = std::stoi(status_line.substr(9, 3));
        size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            size_t end = head.find("\r\n", pos);
            if (end == std::string::npos) end = head.size();
            std::string line = head.substr(pos, end - pos);
            size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = line.substr(0, colon);
                for (char& c : name) c = static_cast<char>(std::tolower(c));
                size_t v = colon + 1;
                while (v < line.size() && line[v] == ' ') ++v;
                res.headers[name] = line.substr(v);
            }
            pos = end + 2;
        }
        if (res.status < 200) return res;
        size_t length =
            res.headers.count("content-length") ? std::stoul(res.headers["content-length"]) : 0;
        if (!ReadAtLeast(length)) return std::nullopt;
        res.body = buffer_.substr(0, length);
        buffer_.erase(0, length);
        return res;
    }

    // Reads until the server closes the connection; true when it did (EOF or reset)
    // within the deadline. Bytes read are appended to `rest` when given.
    bool WaitClosed(std::string* rest = nullptr) {
        for (;;) {
            auto f =
                socket_.async_read_some(asio::buffer(chunk_), UseFuture(socket_.get_executor()));
            if (!WaitReady(f, [this] { CloseSocket(); })) return false;
            try {
                size_t n = f.get();
                if (rest) rest->append(chunk_.data(), n);
            } catch (const boost::system::system_error&) {
                return true;
            }
        }
    }

    void Close() { CloseSocket(); }

private:
    void CloseSocket() {
        std::promise<void> done;
        asio::post(socket_.get_executor(), [&] {
            boost::system::error_code ignored;
            socket_.close(ignored);
            done.set_value();
        });
        done.get_future().wait();
    }

    std::optional<size_t> ReadUntil(const std::string& delimiter) {
        for (;;) {
            size_t found = buffer_.find(delimiter);
            if (found != std::string::npos) return found;
            if (!ReadSome()) return std::nullopt;
        }
    }

    bool ReadAtLeast(size_t n) {
        while (buffer_.size() < n) {
            if (!ReadSome()) return false;
        }
        return true;
    }

    bool ReadSome() {
        auto f = socket_.async_read_some(asio::buffer(chunk_), UseFuture(socket_.get_executor()));
        if (!WaitReady(f, [this] { CloseSocket(); })) return false;
        try {
            size_t n = f.get();
            buffer_.append(chunk_.data(), n);
            return true;
        } catch (const boost::system::system_error&) {
            return false;
        }
    }

    tcp::socket socket_;
    std::string buffer_;
    std::array<char, 16 * 1024> chunk_{};
};

// A server on 127.0.0.1:0 with two I/O threads, and a client io_context.
class ServerHarness {
public:
    ServerHarness(ServerLimits limits, HttpHandler handler, WsHandler* ws_handler = nullptr,
                  WsPathPredicate is_ws_path = {})
        : server_io_(std::make_unique<IoThreads>(2)), client_io_(std::make_unique<IoThreads>(1)) {
        server_ = std::make_unique<HttpServer>(server_io_->ioc(), limits, std::move(handler),
                                               ws_handler, std::move(is_ws_path));
        auto port = server_->Listen("127.0.0.1", 0);
        EXPECT_TRUE(port.ok()) << (port.ok() ? "" : port.error().message);
        port_ = port.ok() ? *port : 0;
    }

    // Stops the I/O threads, then destroys the server and the io_context (which drops
    // unfinished sessions without calling handlers).
    ~ServerHarness() {
        StopIo();
        server_.reset();
        server_io_.reset();
    }

    // Shuts the server down and stops all I/O threads; afterwards no callback runs.
    // Idempotent.
    void StopIo() {
        server_->Shutdown();
        server_io_->Stop();
        client_io_->Stop();
    }

    HttpServer& server() { return *server_; }
    uint16_t port() const { return port_; }
    asio::io_context& client_ioc() { return client_io_->ioc(); }
    std::unique_ptr<RawClient> NewClient(const std::string& source = "") {
        auto c = std::make_unique<RawClient>(client_ioc());
        EXPECT_FALSE(c->Connect(port_, source));
        return c;
    }

private:
    std::unique_ptr<IoThreads> server_io_;
    std::unique_ptr<IoThreads> client_io_;
    std::unique_ptr<HttpServer> server_;
    uint16_t port_ = 0;
};

// Spins (yielding) until `counter` reaches `value`: for counters the server updates
// after the client already saw the effect (e.g. a connection's end).
inline bool Eventually(const std::atomic<uint64_t>& counter, uint64_t value) {
    const auto deadline = std::chrono::steady_clock::now() + testing::kDeadline;
    while (counter.load() != value) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

// Blocks until `pred` holds (checked whenever `cv` is notified) or the deadline passes.
template <typename Pred>
bool WaitUntil(std::mutex& mu, std::condition_variable& cv, Pred pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kDeadline, pred);
}

}  // namespace aragora::net::testing
