// Beast's implementation is compiled once, in aragora_net.
#define BOOST_BEAST_SEPARATE_COMPILATION

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/server.hpp"
#include "net_test_support.hpp"

namespace aragora::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using testing::ServerHarness;
using tcp = asio::ip::tcp;

std::shared_ptr<const std::string> Frame(std::string text) {
    return std::make_shared<const std::string>(std::move(text));
}

// Writes one frame on the connection's strand, as a handler's writer does, and waits for
// the answer (from the test thread, never from a callback).
bool WriteFrame(const std::shared_ptr<WsConnection>& conn, std::string text) {
    auto done =
        asio::co_spawn(conn->executor(), conn->Write(Frame(std::move(text))), asio::use_future);
    if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return false;
    return done.get();
}

// A writer coroutine: `frames` in order, one Write at a time; stops at the first refusal.
asio::awaitable<void> WriteAll(std::shared_ptr<WsConnection> conn, std::vector<std::string> frames,
                               std::shared_ptr<std::atomic<int>> written) {
    for (auto& text : frames) {
        if (!co_await conn->Write(Frame(std::move(text)))) co_return;
        if (written) written->fetch_add(1);
    }
}

// Records the callbacks; optional hooks run inside them (set before the server starts).
class RecordingHandler : public WsHandler {
public:
    std::function<void(const std::shared_ptr<WsConnection>&)> on_open;
    std::function<void(const std::shared_ptr<WsConnection>&, const std::string&)> on_message;

    void OnOpen(std::shared_ptr<WsConnection> conn) override {
        if (on_open) on_open(conn);
        std::lock_guard lock(mu_);
        opened_.push_back(std::move(conn));
        cv_.notify_all();
    }
    void OnMessage(std::shared_ptr<WsConnection> conn, std::string text) override {
        if (on_message) on_message(conn, text);
        std::lock_guard lock(mu_);
        messages_.push_back(std::move(text));
        cv_.notify_all();
    }
    void OnClose(std::shared_ptr<WsConnection> conn) override {
        std::lock_guard lock(mu_);
        closed_.push_back(conn->id());
        cv_.notify_all();
    }

    // The n-th opened connection (0-based), once it opened.
    std::shared_ptr<WsConnection> WaitOpened(size_t n) {
        if (!testing::WaitUntil(mu_, cv_, [&] { return opened_.size() > n; })) return nullptr;
        std::lock_guard lock(mu_);
        return opened_[n];
    }
    bool WaitClosed(size_t count) {
        return testing::WaitUntil(mu_, cv_, [&] { return closed_.size() >= count; });
    }
    bool WaitMessages(size_t count) {
        return testing::WaitUntil(mu_, cv_, [&] { return messages_.size() >= count; });
    }
    std::vector<std::string> messages() {
        std::lock_guard lock(mu_);
        return messages_;
    }
    // Drops the connections before the server's io_context goes away.
    void Clear() {
        std::lock_guard lock(mu_);
        opened_.clear();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::shared_ptr<WsConnection>> opened_;
    std::vector<std::string> messages_;
    std::vector<uint64_t> closed_;
};

// A WebSocket client whose every step has a deadline.
class WsClient {
public:
    explicit WsClient(asio::io_context& ioc) : ws_(ioc) {}

    // Connects and handshakes; returns the error (upgrade_declined: see response()).
    beast::error_code Connect(uint16_t port, const std::string& target,
                              const std::string& subprotocols = "") {
        auto& sock = beast::get_lowest_layer(ws_);
        auto c = sock.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                    testing::UseFuture(ws_.get_executor()));
        if (auto ec = Get(c)) return ec;
        if (!subprotocols.empty()) {
            ws_.set_option(
                websocket::stream_base::decorator([subprotocols](websocket::request_type& req) {
                    req.set(http::field::sec_websocket_protocol, subprotocols);
                }));
        }
        auto h = ws_.async_handshake(response_, "127.0.0.1", target,
                                     testing::UseFuture(ws_.get_executor()));
        return Get(h);
    }

    bool Write(const std::string& text) {
        auto f = ws_.async_write(asio::buffer(text), testing::UseFuture(ws_.get_executor()));
        return !Get(f);
    }

    bool Ping() {
        auto f = ws_.async_ping({}, testing::UseFuture(ws_.get_executor()));
        return !Get(f);
    }

    // One message, or nullopt with `ec` set (websocket::error::closed on a close frame).
    std::optional<std::string> Read(beast::error_code* ec = nullptr) {
        buffer_.consume(buffer_.size());
        auto f = ws_.async_read(buffer_, testing::UseFuture(ws_.get_executor()));
        auto e = Get(f);
        if (ec) *ec = e;
        if (e) return std::nullopt;
        return beast::buffers_to_string(buffer_.data());
    }

    // Reads (and discards) until the connection ends; returns the code of the close
    // frame received, or 0 when it ended without one. (The reply to a close frame may
    // fail when the server tore the connection down at once, as after a 1009.)
    uint16_t ReadUntilClosed(size_t* messages = nullptr) {
        for (;;) {
            beast::error_code ec;
            if (!Read(&ec)) {
                if (ec != websocket::error::closed) last_error_ = ec;
                return ws_.reason().code;
            }
            if (messages) ++*messages;
        }
    }

    const websocket::response_type& response() const { return response_; }
    // The error that ended ReadUntilClosed without a close frame.
    beast::error_code last_error() const { return last_error_; }

private:
    template <typename T>
    beast::error_code Get(std::future<T>& f) {
        if (!testing::WaitReady(f, [this] {
                std::promise<void> done;
                asio::post(ws_.get_executor(), [&] {
                    beast::error_code ignored;
                    beast::get_lowest_layer(ws_).close(ignored);
                    done.set_value();
                });
                done.get_future().wait();
            })) {
            return asio::error::timed_out;
        }
        try {
            f.get();
        } catch (const boost::system::system_error& e) {
            return e.code();
        }
        return {};
    }

    websocket::stream<tcp::socket, /*deflateSupported=*/false> ws_;
    websocket::response_type response_;
    beast::flat_buffer buffer_;
    beast::error_code last_error_;
};

HttpHandler NotFoundHandler() {
    return [](HttpRequest req) -> asio::awaitable<HttpResponse> {
        co_return MakeErrorResponse(404, "not_found", "no route for " + req.path, "cid");
    };
}

// A harness plus handler, torn down in the right order (connections released before
// the server's io_context is destroyed).
struct WsFixture {
    explicit WsFixture(ServerLimits limits = {}, std::function<void(RecordingHandler&)> setup = {})
        : harness(limits, NotFoundHandler(), Setup(handler, setup),
                  [](const HttpRequest& req) { return req.path == "/ws"; }) {}
    // Connections must be released after the last callback and before the server's
    // io_context is destroyed.
    ~WsFixture() {
        harness.StopIo();
        handler.Clear();
    }

    static WsHandler* Setup(RecordingHandler& handler,
                            const std::function<void(RecordingHandler&)>& setup) {
        if (setup) setup(handler);
        return &handler;
    }

    RecordingHandler handler;
    ServerHarness harness;
};

TEST(WsServerTest, UpgradeOpenMessageSendRoundTripWithSubprotocolEcho) {
    WsFixture f({}, [](RecordingHandler& h) {
        h.on_message = [](const std::shared_ptr<WsConnection>& conn, const std::string& text) {
            asio::co_spawn(conn->executor(), WriteAll(conn, {"echo:" + text}, nullptr),
                           asio::detached);
        };
    });
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws?debate_id=d_1&x=2",
                                "access_token.secret-123, aragora.v1"));
    EXPECT_EQ(client.response()[http::field::sec_websocket_protocol], "access_token.secret-123");

    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    EXPECT_TRUE(conn->is_open());
    EXPECT_EQ(conn->id(), 1u);
    EXPECT_EQ(conn->upgrade_request().path, "/ws");
    EXPECT_EQ(conn->upgrade_request().QueryParam("debate_id"), "d_1");
    EXPECT_EQ(conn->upgrade_request().remote_address, "127.0.0.1");

    ASSERT_TRUE(client.Write("{\"type\":\"ping\"}"));
    EXPECT_EQ(client.Read(), "echo:{\"type\":\"ping\"}");
    ASSERT_TRUE(f.handler.WaitMessages(1));
    EXPECT_EQ(f.handler.messages()[0], "{\"type\":\"ping\"}");

    const ServerStats& stats = f.harness.server().stats();
    EXPECT_EQ(stats.ws_connections_active.load(), 1u);
    EXPECT_EQ(stats.ws_connections_total.load(), 1u);
    EXPECT_EQ(stats.ws_messages_received.load(), 1u);
    EXPECT_TRUE(testing::Eventually(stats.ws_messages_sent, 1));  // counted after the write
    EXPECT_EQ(stats.connections_active.load(), 0u);               // counted as a WebSocket now
}

TEST(WsServerTest, NoSubprotocolOfferedNoneEchoed) {
    WsFixture f;
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    EXPECT_EQ(client.response().count(http::field::sec_websocket_protocol), 0u);
}

TEST(WsServerTest, UpgradeOnOtherPathGoesToTheHttpHandler) {
    WsFixture f;
    WsClient client(f.harness.client_ioc());
    EXPECT_EQ(client.Connect(f.harness.port(), "/not-ws"), websocket::error::upgrade_declined);
    EXPECT_EQ(client.response().result_int(), 404);
    EXPECT_EQ(f.harness.server().stats().ws_connections_total.load(), 0u);
}

TEST(WsServerTest, SendsArriveInOrderAsSeparateFrames) {
    constexpr int kFrames = 200;
    WsFixture f({}, [](RecordingHandler& h) {
        h.on_open = [](const std::shared_ptr<WsConnection>& conn) {
            std::vector<std::string> frames;
            for (int i = 0; i < kFrames; ++i) frames.push_back("{\"n\":" + std::to_string(i) + "}");
            asio::co_spawn(conn->executor(), WriteAll(conn, std::move(frames), nullptr),
                           asio::detached);
        };
    });
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    for (int i = 0; i < kFrames; ++i) {
        ASSERT_EQ(client.Read(), "{\"n\":" + std::to_string(i) + "}");
    }
}

// Frames of one WriteMany go out in one gather write, each its own message: sizes on both
// sides of the 7-bit, 16-bit and 64-bit length forms, empty included, arrive intact and in
// order.
TEST(WsServerTest, WriteManySendsEachFrameAsItsOwnMessageInOrder) {
    WsFixture f;
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    const std::vector<std::size_t> sizes = {0, 1, 125, 126, 127, 65535, 65536, 70000, 3};
    std::vector<std::shared_ptr<const std::string>> frames;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        frames.push_back(Frame(std::string(sizes[i], static_cast<char>('a' + i))));
    }
    auto done = asio::co_spawn(
        conn->executor(),
        [conn, frames]() -> asio::awaitable<bool> { co_return co_await conn->WriteMany(frames); },
        asio::use_future);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        ASSERT_EQ(client.Read(), *frames[i]) << "frame " << i;
    }
    ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(done.get());
    EXPECT_TRUE(testing::Eventually(f.harness.server().stats().ws_messages_sent, sizes.size()));
}

// Beast answers the client's pings (pongs) through the same gate as the data writes, so a
// pong never lands inside a data frame: the client (which checks every frame) reads every
// message intact while pinging throughout.
TEST(WsServerTest, PongsNeverSplitGatheredDataFrames) {
    constexpr int kBatches = 100;
    constexpr int kPerBatch = 10;
    WsFixture f;
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    auto writer = [conn]() -> asio::awaitable<bool> {
        for (int b = 0; b < kBatches; ++b) {
            std::vector<std::shared_ptr<const std::string>> batch;
            for (int i = 0; i < kPerBatch; ++i) {
                const int n = b * kPerBatch + i;
                batch.push_back(Frame(std::to_string(n) + std::string(3000 + n % 7, 'p')));
            }
            if (!co_await conn->WriteMany(batch)) co_return false;
        }
        co_return true;
    };
    auto done = asio::co_spawn(conn->executor(), writer, asio::use_future);
    for (int n = 0; n < kBatches * kPerBatch; ++n) {
        if (n % 10 == 0) {
            ASSERT_TRUE(client.Ping());
        }
        ASSERT_EQ(client.Read(), std::to_string(n) + std::string(3000 + n % 7, 'p'));
    }
    ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(done.get());
    EXPECT_TRUE(conn->is_open());
    EXPECT_EQ(f.harness.server().stats().ws_errors.load(), 0u);
}

// TryWriteNow writes on the caller's turn; what the socket does not take at once (2 MiB
// against a 64 KiB send buffer) is written in the background before anything else: a
// second TryWriteNow is refused meanwhile, a WriteMany waits for it, and Beast's pongs
// never land inside it.
TEST(WsServerTest, TryWriteNowWritesAtOnceAndItsRestGoesFirst) {
    ServerLimits limits;
    limits.ws_max_message_bytes = 1024 * 1024;
    WsFixture f(limits);
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    std::vector<std::shared_ptr<const std::string>> small = {Frame("a"), Frame("b")};
    std::vector<std::shared_ptr<const std::string>> big;
    for (int i = 0; i < 8; ++i)
        big.push_back(Frame(std::to_string(i) + std::string(256 * 1024, 'q')));
    std::vector<std::shared_ptr<const std::string>> oversize = {
        Frame(std::string(1024 * 1024 + 1, 'x'))};
    // The client does not read yet: the socket cannot take the 2 MiB at once.
    struct Outcome {
        bool small = false, oversize = true, big = false, while_rest = true;
    };
    auto tries = asio::co_spawn(
        conn->executor(),
        [conn, small, big, oversize]() -> asio::awaitable<Outcome> {
            Outcome o;
            o.small = conn->TryWriteNow(small);
            o.oversize = conn->TryWriteNow(oversize);
            o.big = conn->TryWriteNow(big);
            o.while_rest = conn->TryWriteNow(small);
            co_return o;
        },
        asio::use_future);
    ASSERT_EQ(tries.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    const Outcome o = tries.get();
    EXPECT_TRUE(o.small);
    EXPECT_FALSE(o.oversize);
    EXPECT_TRUE(o.big);
    EXPECT_FALSE(o.while_rest);
    auto after = asio::co_spawn(
        conn->executor(),
        [conn, small]() -> asio::awaitable<bool> {
            co_return co_await conn->WriteMany(std::span(small).subspan(0, 1));
        },
        asio::use_future);
    EXPECT_EQ(client.Read(), "a");
    EXPECT_EQ(client.Read(), "b");
    for (int i = 0; i < 8; ++i) {
        if (i % 2 == 0) {
            ASSERT_TRUE(client.Ping());
        }
        ASSERT_EQ(client.Read(), std::to_string(i) + std::string(256 * 1024, 'q'));
    }
    EXPECT_EQ(client.Read(), "a");  // the WriteMany, after the rest
    ASSERT_EQ(after.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(after.get());
    EXPECT_TRUE(conn->is_open());
    EXPECT_EQ(f.harness.server().stats().ws_messages_sent.load(), 11u);
    EXPECT_EQ(f.harness.server().stats().ws_errors.load(), 0u);
    // Closing: refused.
    conn->Close(1000, "bye");
    auto closed = asio::co_spawn(
        conn->executor(),
        [conn, small]() -> asio::awaitable<bool> { co_return conn->TryWriteNow(small); },
        asio::use_future);
    ASSERT_EQ(closed.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_FALSE(closed.get());
    EXPECT_EQ(client.ReadUntilClosed(), 1000);
}

TEST(WsServerTest, WriteManyWithAnOversizeFrameWritesNothing) {
    ServerLimits limits;
    limits.ws_max_message_bytes = 1024;
    WsFixture f(limits);
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    std::vector<std::shared_ptr<const std::string>> frames = {Frame("ok"),
                                                              Frame(std::string(1025, 'x'))};
    auto done = asio::co_spawn(
        conn->executor(),
        [conn, frames]() -> asio::awaitable<bool> { co_return co_await conn->WriteMany(frames); },
        asio::use_future);
    ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_FALSE(done.get());
    EXPECT_TRUE(conn->is_open());
    EXPECT_TRUE(WriteFrame(conn, "next"));
    EXPECT_EQ(client.Read(), "next");  // "ok" was not written
}

TEST(WsServerTest, OversizeWriteIsRefusedAndTheConnectionStaysOpen) {
    ServerLimits limits;
    limits.ws_max_message_bytes = 1024;
    WsFixture f(limits);
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    EXPECT_FALSE(WriteFrame(conn, std::string(1025, 'x')));
    EXPECT_TRUE(conn->is_open());
    EXPECT_TRUE(WriteFrame(conn, std::string(1024, 'y')));
    EXPECT_EQ(client.Read(), std::string(1024, 'y'));
    EXPECT_EQ(f.harness.server().stats().ws_send_refused.load(), 1u);
}

TEST(WsServerTest, OversizeIncomingMessageClosesWith1009) {
    ServerLimits limits;
    limits.ws_max_message_bytes = 1024;
    WsFixture f(limits);
    WsClient client(f.harness.client_ioc());
    ASSERT_FALSE(client.Connect(f.harness.port(), "/ws"));
    ASSERT_TRUE(client.Write(std::string(4096, 'x')));
    EXPECT_EQ(client.ReadUntilClosed(), 1009) << client.last_error().message();
    EXPECT_TRUE(f.handler.WaitClosed(1));
    EXPECT_EQ(f.handler.messages().size(), 0u);
}

// net keeps no queue: a writer to a client that stopped reading waits in its one Write
// (the handler's queue bounds what piles up behind it), other connections are unaffected,
// and a Close() during that write goes out after it.
TEST(WsServerTest, StalledWriteHoldsOnlyItsConnectionAndCloseFollowsIt) {
    WsFixture f;
    WsClient slow(f.harness.client_ioc());
    ASSERT_FALSE(slow.Connect(f.harness.port(), "/ws"));
    auto slow_conn = f.handler.WaitOpened(0);
    WsClient fast(f.harness.client_ioc());
    ASSERT_FALSE(fast.Connect(f.harness.port(), "/ws"));
    auto fast_conn = f.handler.WaitOpened(1);
    ASSERT_TRUE(slow_conn && fast_conn);

    auto written = std::make_shared<std::atomic<int>>(0);
    std::vector<std::string> frames(200, std::string(256 * 1024, 'b'));
    asio::co_spawn(slow_conn->executor(), WriteAll(slow_conn, frames, written), asio::detached);
    // The socket buffers fill up: the writer then waits in one Write.
    int last = -1;
    while (written->load() != last) {
        last = written->load();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_LT(written->load(), 200);

    // A second writer on the same connection is refused while one Write is in flight.
    EXPECT_FALSE(WriteFrame(slow_conn, "second writer"));
    EXPECT_TRUE(WriteFrame(fast_conn, "still here"));
    EXPECT_EQ(fast.Read(), "still here");
    EXPECT_TRUE(fast_conn->is_open());

    slow_conn->Close(1008, "slow consumer");
    EXPECT_FALSE(slow_conn->is_open());
    // When the slow client finally reads, it gets what was written, then 1008.
    size_t received = 0;
    EXPECT_EQ(slow.ReadUntilClosed(&received), 1008);
    EXPECT_LT(received, frames.size());
    EXPECT_TRUE(f.handler.WaitClosed(1));
}

TEST(WsServerTest, ClientThatNeverReadsIsDroppedAfterTheWriteTimeout) {
    ServerLimits limits;
    limits.write_timeout = std::chrono::seconds(1);
    WsFixture f(limits);
    WsClient stuck(f.harness.client_ioc());
    ASSERT_FALSE(stuck.Connect(f.harness.port(), "/ws"));
    auto conn = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn);
    auto written = std::make_shared<std::atomic<int>>(0);
    // One shared 256 KiB frame written up to 10,000 times (far more than the socket buffers
    // hold). Not 10,000 copies: allocating 2.5 GB took TSan longer than the connection's
    // idle timeout (2 x ws_ping_interval), which then closed it before any write was late.
    asio::co_spawn(
        conn->executor(),
        [](std::shared_ptr<WsConnection> c,
           std::shared_ptr<std::atomic<int>> n) -> asio::awaitable<void> {
            const std::shared_ptr<const std::string> frame = Frame(std::string(256 * 1024, 'b'));
            for (int i = 0; i < 10000; ++i) {
                if (!co_await c->Write(frame)) co_return;
                n->fetch_add(1);
            }
        }(conn, written),
        asio::detached);
    // The frame in flight cannot be written: the write watchdog drops the connection.
    EXPECT_TRUE(f.handler.WaitClosed(1));
    EXPECT_LT(written->load(), 10000);
    EXPECT_EQ(f.harness.server().stats().write_timeouts.load(), 1u);
    EXPECT_TRUE(testing::Eventually(f.harness.server().stats().ws_connections_active, 0));
}

// An echo server whose reader is the connection's one writer: each echo is written (and
// awaited) before the next message is read. (A writer spawned per message, as
// RecordingHandler's hooks do, may start while the previous echo's Write has not resumed
// yet, although the client already read that echo: net refuses it as a second Write in
// progress and the echo is never sent.)
class EchoServeHandler : public WsHandler {
public:
    asio::awaitable<void> Serve(std::shared_ptr<WsConnection> conn) override {
        for (;;) {
            std::optional<std::string> text = co_await conn->Read();
            if (!text) break;
            std::shared_ptr<const std::string> echo = Frame("echo:" + *text);
            if (!co_await conn->Write(echo)) refused.fetch_add(1);
        }
    }
    std::atomic<int> refused{0};
};

// The write deadline is per write, not per connection: a connection that keeps writing
// (each write quick) for several write_timeouts in a row is never dropped.
TEST(WsServerTest, SteadyWritesLongerThanTheWriteTimeoutInTotalKeepTheConnection) {
    ServerLimits limits;
    limits.write_timeout = std::chrono::seconds(1);
    EchoServeHandler handler;
    ServerHarness harness(limits, NotFoundHandler(), &handler,
                          [](const HttpRequest& req) { return req.path == "/ws"; });
    WsClient client(harness.client_ioc());
    ASSERT_FALSE(client.Connect(harness.port(), "/ws"));
    const auto until = std::chrono::steady_clock::now() + 3 * limits.write_timeout;
    int n = 0;
    while (std::chrono::steady_clock::now() < until) {
        const std::string text = std::to_string(n++);
        ASSERT_TRUE(client.Write(text));
        ASSERT_EQ(client.Read(), "echo:" + text) << "refused writes: " << handler.refused.load();
    }
    EXPECT_EQ(handler.refused.load(), 0);
    EXPECT_EQ(harness.server().stats().write_timeouts.load(), 0u);
    EXPECT_EQ(harness.server().stats().ws_connections_active.load(), 1u);
    harness.StopIo();
}

TEST(WsServerTest, CloseAllWebSocketsSendsTheCode) {
    WsFixture f;
    WsClient a(f.harness.client_ioc());
    ASSERT_FALSE(a.Connect(f.harness.port(), "/ws"));
    auto conn_a = f.handler.WaitOpened(0);
    ASSERT_TRUE(conn_a);
    WsClient b(f.harness.client_ioc());
    ASSERT_FALSE(b.Connect(f.harness.port(), "/ws"));
    ASSERT_TRUE(f.handler.WaitOpened(1));
    ASSERT_TRUE(WriteFrame(conn_a, "before"));
    f.harness.server().CloseAllWebSockets(1012, "service restart");
    EXPECT_EQ(a.Read(), "before");  // written frames arrive before the close frame
    EXPECT_EQ(a.ReadUntilClosed(), 1012);
    EXPECT_EQ(b.ReadUntilClosed(), 1012);
    EXPECT_TRUE(f.handler.WaitClosed(2));
}

TEST(WsServerTest, ShutdownClosesWith1001AndRefusesUpgrades) {
    WsFixture f;
    WsClient a(f.harness.client_ioc());
    ASSERT_FALSE(a.Connect(f.harness.port(), "/ws"));
    ASSERT_TRUE(f.handler.WaitOpened(0));
    f.harness.server().Shutdown();
    EXPECT_EQ(a.ReadUntilClosed(), 1001);
    EXPECT_TRUE(f.handler.WaitClosed(1));
}

TEST(WsServerTest, MaxConnectionsIsEnforcedWith503) {
    ServerLimits limits;
    limits.ws_max_connections = 1;
    WsFixture f(limits);
    WsClient first(f.harness.client_ioc());
    ASSERT_FALSE(first.Connect(f.harness.port(), "/ws"));
    WsClient second(f.harness.client_ioc());
    EXPECT_EQ(second.Connect(f.harness.port(), "/ws"), websocket::error::upgrade_declined);
    EXPECT_EQ(second.response().result_int(), 503);
    EXPECT_EQ(second.response()["Retry-After"], "1");
    EXPECT_EQ(f.harness.server().stats().ws_rejected.load(), 1u);
    EXPECT_EQ(f.harness.server().stats().ws_connections_active.load(), 1u);
}

TEST(WsServerTest, ClosedConnectionFreesItsSlot) {
    ServerLimits limits;
    limits.ws_max_connections = 1;
    WsFixture f(limits);
    {
        WsClient first(f.harness.client_ioc());
        ASSERT_FALSE(first.Connect(f.harness.port(), "/ws"));
        auto conn = f.handler.WaitOpened(0);
        ASSERT_TRUE(conn);
        conn->Close(1000, "bye");
        EXPECT_EQ(first.ReadUntilClosed(), 1000);
        ASSERT_TRUE(f.handler.WaitClosed(1));
    }
    WsClient second(f.harness.client_ioc());
    EXPECT_FALSE(second.Connect(f.harness.port(), "/ws"));
}

// A handler that is its connections' reader: Serve reads with co_await (no callbacks),
// answers each message, and on "bye" closes and returns; net finishes the closing
// handshake (it keeps reading after Serve returned) and frees the slot.
class CoroutineHandler : public WsHandler {
public:
    asio::awaitable<void> Serve(std::shared_ptr<WsConnection> conn) override {
        for (;;) {
            std::optional<std::string> text = co_await conn->Read();
            if (!text) {
                read_ends.fetch_add(1);
                co_return;
            }
            if (*text == "bye") {
                conn->Close(4000, "bye");
                co_return;
            }
            auto answer = std::make_shared<const std::string>("got:" + *text);
            const bool ok = co_await conn->Write(answer);
            if (!ok) co_return;
        }
    }
    std::atomic<int> read_ends{0};
};

TEST(WsServerTest, ServeCoroutineReadsMessagesWithCoAwait) {
    CoroutineHandler handler;
    ServerLimits limits;
    limits.ws_max_connections = 1;
    ServerHarness harness(limits, NotFoundHandler(), &handler,
                          [](const HttpRequest& req) { return req.path == "/ws"; });
    {
        WsClient client(harness.client_ioc());
        ASSERT_FALSE(client.Connect(harness.port(), "/ws"));
        ASSERT_TRUE(client.Write("a"));
        EXPECT_EQ(client.Read(), "got:a");
        ASSERT_TRUE(client.Write("b"));
        EXPECT_EQ(client.Read(), "got:b");
        ASSERT_TRUE(client.Write("bye"));
        EXPECT_EQ(client.ReadUntilClosed(), 4000);
    }
    const ServerStats& stats = harness.server().stats();
    EXPECT_TRUE(testing::Eventually(stats.ws_connections_active, 0));
    EXPECT_EQ(stats.ws_messages_received.load(), 3u);
    // The slot is free again (the one connection allowed).
    WsClient second(harness.client_ioc());
    ASSERT_FALSE(second.Connect(harness.port(), "/ws"));
    ASSERT_TRUE(second.Write("c"));
    EXPECT_EQ(second.Read(), "got:c");
    harness.StopIo();
    EXPECT_EQ(handler.read_ends.load(), 0);  // the first one returned on "bye"
}

}  // namespace
}  // namespace aragora::net
