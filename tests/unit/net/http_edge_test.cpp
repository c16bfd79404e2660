// The HTTP edge against desynchronisation and starvation (issue 18): request smuggling
// through Transfer-Encoding, chunk extensions, slow clients holding connections.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "net/http_types.hpp"
#include "net/server.hpp"
#include "net_test_support.hpp"

namespace aragora::net {
namespace {

namespace asio = boost::asio;
using testing::Eventually;
using testing::RawClient;
using testing::ServerHarness;

HttpHandler CountingHandler(std::atomic<int>* calls) {
    return [calls](HttpRequest req) -> asio::awaitable<HttpResponse> {
        calls->fetch_add(1);
        HttpResponse res;
        res.content_type = "text/plain";
        res.body = req.path + ":" + req.body;
        co_return res;
    };
}

size_t CountResponses(const std::string& raw) {
    size_t n = 0;
    for (size_t at = raw.find("HTTP/1."); at != std::string::npos;
         at = raw.find("HTTP/1.", at + 1)) {
        ++n;
    }
    return n;
}

// The bytes of issue 18's reproduction, with `framing` in place of its Transfer-Encoding
// and Content-Length: the body "2a\r\n" is followed by a second request.
std::string SmugglingAttempt(const std::string& framing) {
    return "POST /api/v1/receipts/verify HTTP/1.1\r\nHost: x\r\n" + framing +
           "\r\n2a\r\nGET /api/v1/nonexistent-smuggled HTTP/1.1\r\nHost: x\r\n"
           "Connection: close\r\n\r\n";
}

TEST(HttpEdgeTest, TransferEncodingOtherThanChunkedGetsOne400AndAClose) {
    for (const std::string framing : {
             "Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n",
             "Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n",
             "Transfer-Encoding: identity\r\nContent-Length: 4\r\n",
             "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
             "Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n",
             "Transfer-Encoding: xchunked\r\n",
         }) {
        std::atomic<int> calls{0};
        ServerHarness h({}, CountingHandler(&calls));
        auto c = h.NewClient();
        ASSERT_TRUE(c->Send(SmugglingAttempt(framing)));
        std::string raw;
        EXPECT_TRUE(c->WaitClosed(&raw)) << framing;
        EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << framing << raw;
        EXPECT_EQ(CountResponses(raw), 1u) << framing << raw;
        EXPECT_EQ(raw.find("smuggled"), std::string::npos) << raw;
        EXPECT_EQ(calls.load(), 0) << framing;
        EXPECT_EQ(h.server().stats().requests.load(), 0u) << framing;
    }
}

TEST(HttpEdgeTest, BadFramingAnswerNamesTheRule) {
    std::atomic<int> calls{0};
    ServerHarness h({}, CountingHandler(&calls));
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send(SmugglingAttempt("Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n")));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("Transfer-Encoding other than chunked"), std::string::npos)
        << res->body;
    EXPECT_NE(res->body.find("\"code\":\"bad_request\""), std::string::npos) << res->body;
    EXPECT_EQ(res->Header("connection"), "close");
    EXPECT_EQ(h.server().stats().bad_requests.load(), 1u);
}

TEST(HttpEdgeTest, ChunkExtensionGetsOne400AndAClose) {
    std::atomic<int> calls{0};
    ServerHarness h({}, CountingHandler(&calls));
    auto c = h.NewClient();
    ASSERT_TRUE(
        c->Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5;ext=\"a\r\nb\"\r\nhello\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string raw;
    EXPECT_TRUE(c->WaitClosed(&raw));
    EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << raw;
    EXPECT_NE(raw.find("chunk extensions are not accepted"), std::string::npos) << raw;
    EXPECT_EQ(CountResponses(raw), 1u) << raw;
    EXPECT_EQ(calls.load(), 0);
}

// The finding of issue 18 sent to the server at once and one byte per write: the same
// single answer either way.
TEST(HttpEdgeTest, ChunkExtensionFindingGetsTheSameAnswerWhateverTheWrites) {
    const std::string bytes =
        "POST /api/v1/keceipts/verify444 HTTP/1.1\r\nHost: a\r\n"
        "Transfer-Encoding: chunked\r\nContent-TyApe: application/json\r\n\r\n"
        "7;ext=\"\r\n{H\n1\rost: }\rHost: \n0tion/jTransferson\r\n\r\nt\r\n\r\n";
    std::vector<std::string> answers;
    for (bool one_byte : {false, true}) {
        std::atomic<int> calls{0};
        ServerHarness h({}, CountingHandler(&calls));
        auto c = h.NewClient();
        if (one_byte) {
            for (char b : bytes) ASSERT_TRUE(c->Send(std::string(1, b)));
        } else {
            ASSERT_TRUE(c->Send(bytes));
        }
        std::string raw;
        EXPECT_TRUE(c->WaitClosed(&raw));
        EXPECT_EQ(CountResponses(raw), 1u) << raw;
        answers.push_back(raw.substr(0, raw.find("\r\n")));
        EXPECT_EQ(calls.load(), 0);
    }
    EXPECT_EQ(answers[0], "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(answers[1], answers[0]);
}

TEST(HttpEdgeTest, ChunkedBodyWithTrailerIsDeliveredAndKeepAliveContinues) {
    std::atomic<int> calls{0};
    ServerHarness h({}, CountingHandler(&calls));
    auto c = h.NewClient();
    ASSERT_TRUE(
        c->Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
                "GET /next HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto first = c->ReadResponse();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "/p:abcde");
    auto second = c->ReadResponse();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "/next:");
}

// A client may hold only max_pending_connections_per_ip connections that have not sent a
// request; more are closed at once, while other clients are served.
TEST(HttpEdgeTest, PendingConnectionsPerClientAreCappedAndTheExcessClosedAtOnce) {
    ServerLimits limits;
    limits.max_pending_connections_per_ip = 2;
    // Far beyond the client's deadline: a close seen in time is the refusal, not this.
    limits.header_timeout = std::chrono::seconds(600);
    std::atomic<int> calls{0};
    ServerHarness h(limits, CountingHandler(&calls));

    auto slow1 = h.NewClient("127.0.0.2");
    auto slow2 = h.NewClient("127.0.0.2");
    ASSERT_TRUE(slow1->Send("GET /slow1 HTTP/1.1\r\nHost: t\r\n"));  // header not finished
    ASSERT_TRUE(slow2->Send("GET /slow2 HTTP/1.1\r\n"));
    ASSERT_TRUE(Eventually(h.server().stats().connections_active, 2));

    auto excess = h.NewClient("127.0.0.2");
    std::string raw;
    EXPECT_TRUE(excess->WaitClosed(&raw));
    EXPECT_EQ(raw, "");  // closed without an answer
    EXPECT_EQ(h.server().stats().connections_refused_per_ip.load(), 1u);

    // Another client is served meanwhile.
    auto other = h.NewClient("127.0.0.1");
    ASSERT_TRUE(other->Send("GET /other HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto res = other->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);

    // Once a connection has sent its request it stops counting: the client may open
    // another one, and keep both.
    ASSERT_TRUE(slow1->Send("\r\n"));
    res = slow1->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body, "/slow1:");
    auto next = h.NewClient("127.0.0.2");
    ASSERT_TRUE(next->Send("GET /next HTTP/1.1\r\nHost: t\r\n\r\n"));
    res = next->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(h.server().stats().connections_refused_per_ip.load(), 1u);
}

TEST(HttpEdgeTest, HeaderDeadlineClosesAConnectionThatNeverFinishesItsHeader) {
    ServerLimits limits;
    limits.header_timeout = std::chrono::seconds(1);
    limits.read_timeout = std::chrono::seconds(600);
    ServerHarness h(limits,
                    [](HttpRequest) -> asio::awaitable<HttpResponse> { co_return HttpResponse{}; });
    auto silent = h.NewClient();  // sends nothing at all
    auto partial = h.NewClient();
    ASSERT_TRUE(partial->Send("GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n"));
    EXPECT_TRUE(silent->WaitClosed());
    EXPECT_TRUE(partial->WaitClosed());
    EXPECT_TRUE(Eventually(h.server().stats().header_timeouts, 2));
    EXPECT_TRUE(Eventually(h.server().stats().connections_active, 0));
}

// The table is full of connections waiting for a request: a new client is served, and
// a waiting connection makes room (not a 503).
TEST(HttpEdgeTest, FullTableEvictsAWaitingConnectionForANewClient) {
    ServerLimits limits;
    limits.max_connections = 2;
    limits.header_timeout = std::chrono::seconds(600);
    std::atomic<int> calls{0};
    ServerHarness h(limits, CountingHandler(&calls));
    auto idle1 = h.NewClient("127.0.0.2");
    auto idle2 = h.NewClient("127.0.0.3");
    ASSERT_TRUE(idle1->Send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(idle2->Send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(Eventually(h.server().stats().connections_waiting, 2));

    auto fresh = h.NewClient();
    ASSERT_TRUE(fresh->Send("GET /fresh HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto res = fresh->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "/fresh:");
    EXPECT_TRUE(Eventually(h.server().stats().connections_evicted, 1));
    EXPECT_EQ(h.server().stats().connections_rejected.load(), 0u);
    // One of the two waiting connections was closed to make room (which one is decided
    // by the order their sessions started waiting; admission_test.cpp checks the choice).
    EXPECT_TRUE(Eventually(h.server().stats().connections_active, 2));
}

}  // namespace
}  // namespace aragora::net
