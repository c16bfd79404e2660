#include "net/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "net/http_types.hpp"
#include "net_test_support.hpp"

namespace aragora::net {
namespace {

namespace asio = boost::asio;
using testing::Eventually;
using testing::RawClient;
using testing::RawResponse;
using testing::ServerHarness;

boost::json::object ParseObject(const std::string& body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    EXPECT_FALSE(ec) << body;
    EXPECT_TRUE(v.is_object()) << body;
    return v.is_object() ? v.as_object() : boost::json::object{};
}

// Expects the flat JSON error of API.md.
void ExpectJsonError(const RawResponse& res, int status, const std::string& code) {
    EXPECT_EQ(res.status, status);
    EXPECT_EQ(res.Header("content-type"), "application/json");
    auto o = ParseObject(res.body);
    ASSERT_TRUE(o.contains("error") && o["error"].is_string()) << res.body;
    EXPECT_EQ(o["code"], code.c_str()) << res.body;
    ASSERT_TRUE(o.contains("correlation_id")) << res.body;
    EXPECT_EQ(o["trace_id"], o["correlation_id"]);
    EXPECT_EQ(res.Header("x-correlation-id"), o["correlation_id"].as_string().c_str());
}

HttpHandler EchoHandler(std::atomic<int>* calls = nullptr) {
    return [calls](HttpRequest req) -> asio::awaitable<HttpResponse> {
        if (calls) calls->fetch_add(1);
        HttpResponse res;
        res.content_type = "text/plain";
        res.AddHeader("X-Method", req.method);
        res.AddHeader("X-Path", req.path);
        res.AddHeader("X-Query", req.query);
        res.AddHeader("X-Name", req.QueryParam("name").value_or("<none>"));
        res.AddHeader("X-Custom-Seen", req.Header("X-CUSTOM"));
        res.AddHeader("X-Remote", req.remote_address);
        res.AddHeader("X-Local-Port", std::to_string(req.local_port));
        res.body = "body:" + req.body;
        co_return res;
    };
}

TEST(HttpTypesTest, PercentDecode) {
    EXPECT_EQ(PercentDecode("/a%20b/%2Fc", false), "/a b//c");
    EXPECT_EQ(PercentDecode("a+b", false), "a+b");
    EXPECT_EQ(PercentDecode("a+b%2B", true), "a b+");
    EXPECT_FALSE(PercentDecode("%4", false));
    EXPECT_FALSE(PercentDecode("%zz", false));
    EXPECT_FALSE(PercentDecode("a%00b", false));
}

TEST(HttpTypesTest, QueryParamAndHeader) {
    HttpRequest req;
    req.query = "a=1&b=hello+world&c=%E2%9C%93&flag&empty=&a=2&bad=%zz";
    req.headers = {{"x-correlation-id", "abc"}, {"content-type", "text/plain"}};
    EXPECT_EQ(req.QueryParam("a"), "1");
    EXPECT_EQ(req.QueryParam("b"), "hello world");
    EXPECT_EQ(req.QueryParam("c"), "\xE2\x9C\x93");
    EXPECT_EQ(req.QueryParam("flag"), "");
    EXPECT_EQ(req.QueryParam("empty"), "");
    EXPECT_EQ(req.QueryParam("bad"), "%zz");
    EXPECT_FALSE(req.QueryParam("missing"));
    EXPECT_EQ(req.Header("Content-Type"), "text/plain");
    EXPECT_EQ(req.Header("missing"), "");
    EXPECT_TRUE(req.HasHeader("X-Correlation-Id"));
    EXPECT_EQ(CorrelationIdOf(req), "abc");
}

TEST(HttpTypesTest, CorrelationIdFallsBackAndGenerates) {
    HttpRequest req;
    req.headers = {{"x-request-id", "rid-1"}};
    EXPECT_EQ(CorrelationIdOf(req), "rid-1");
    req.headers = {{"x-correlation-id", "has space"}};
    const std::string generated = CorrelationIdOf(req);
    EXPECT_EQ(generated.rfind("req_", 0), 0u) << generated;
    EXPECT_NE(CorrelationIdOf(HttpRequest{}), generated);
}

TEST(HttpTypesTest, ErrorResponseIsFlatJson) {
    HttpResponse res =
        MakeErrorResponse(503, "overloaded", "too \"busy\"\n", "cid-1", /*retry_after=*/7);
    EXPECT_EQ(res.status, 503);
    auto o = ParseObject(res.body);
    EXPECT_EQ(o["error"], "too \"busy\"\n");
    EXPECT_EQ(o["code"], "overloaded");
    EXPECT_EQ(o["correlation_id"], "cid-1");
    EXPECT_EQ(o["trace_id"], "cid-1");
    EXPECT_EQ(o["retry_after"], 7);
    bool retry_header = false, id_header = false;
    for (const auto& [name, value] : res.headers) {
        if (name == "Retry-After" && value == "7") retry_header = true;
        if (name == "X-Correlation-ID" && value == "cid-1") id_header = true;
    }
    EXPECT_TRUE(retry_header);
    EXPECT_TRUE(id_header);
}

TEST(HttpServerTest, GetReachesHandlerWithDecodedPathQueryAndHeaders) {
    ServerHarness h({}, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send(
        "GET /api/a%20b?name=J%C3%BCrgen+X&x=1 HTTP/1.1\r\nHost: t\r\nX-Custom: yes\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "body:");
    EXPECT_EQ(res->Header("content-type"), "text/plain");
    EXPECT_EQ(res->Header("x-method"), "GET");
    EXPECT_EQ(res->Header("x-path"), "/api/a b");
    EXPECT_EQ(res->Header("x-query"), "name=J%C3%BCrgen+X&x=1");
    EXPECT_EQ(res->Header("x-name"), "J\xC3\xBCrgen X");
    EXPECT_EQ(res->Header("x-custom-seen"), "yes");
    EXPECT_EQ(res->Header("x-remote"), "127.0.0.1");
    EXPECT_EQ(res->Header("x-local-port"), std::to_string(h.port()));
    EXPECT_EQ(h.server().stats().requests.load(), 1u);
}

TEST(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
    std::atomic<int> calls{0};
    ServerHarness h({}, EchoHandler(&calls));
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto first = c->ReadResponse();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->Header("x-path"), "/one");
    EXPECT_NE(first->Header("connection"), "close");
    ASSERT_TRUE(c->Send("GET /two HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    auto second = c->ReadResponse();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->Header("x-path"), "/two");
    EXPECT_EQ(second->Header("connection"), "close");
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_EQ(calls.load(), 2);
    EXPECT_EQ(h.server().stats().connections_accepted.load(), 1u);
    EXPECT_TRUE(Eventually(h.server().stats().connections_active, 0));
}

TEST(HttpServerTest, PostBodyIsDelivered) {
    ServerHarness h({}, EchoHandler());
    auto c = h.NewClient();
    const std::string body(10000, 'x');
    ASSERT_TRUE(c->Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->Header("x-method"), "POST");
    EXPECT_EQ(res->body, "body:" + body);

    // Chunked, on the same connection.
    ASSERT_TRUE(
        c->Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body, "body:abcde");
}

TEST(HttpServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
    ServerHarness h({}, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send(
        "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = c->ReadResponse();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(c->Send("hello"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "body:hello");
}

TEST(HttpServerTest, HeadGetsContentLengthWithoutBody) {
    ServerHarness h({}, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n"));
    // The client must not expect the body of a HEAD answer: read the head only.
    ASSERT_TRUE(c->Send("GET /g HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    std::string raw;
    EXPECT_TRUE(c->WaitClosed(&raw));
    const size_t head_end = raw.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    EXPECT_NE(raw.find("Content-Length: 5\r\n"), std::string::npos) << raw;
    // The second answer starts right after the first head: no body was sent for HEAD.
    EXPECT_EQ(raw.compare(head_end + 4, 8, "HTTP/1.1"), 0) << raw;
}

TEST(HttpServerTest, MalformedRequestLineIs400JsonAndCloses) {
    std::atomic<int> calls{0};
    ServerHarness h({}, EchoHandler(&calls));
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("THIS IS NOT HTTP\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 400, "bad_request");
    EXPECT_EQ(res->Header("connection"), "close");
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_EQ(calls.load(), 0);
    EXPECT_EQ(h.server().stats().bad_requests.load(), 1u);
}

TEST(HttpServerTest, BadPercentEncodingInPathIs400) {
    ServerHarness h({}, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 400, "bad_request");
}

TEST(HttpServerTest, BodyOverLimitIs413WithoutReadingIt) {
    ServerLimits limits;
    limits.max_body_bytes = 1024;
    std::atomic<int> calls{0};
    ServerHarness h(limits, EchoHandler(&calls));
    auto c = h.NewClient();
    // Announces 100 MB but sends none of it: the answer must come from the headers.
    ASSERT_TRUE(
        c->Send("POST /p HTTP/1.1\r\nHost: t\r\nX-Correlation-ID: corr-413\r\n"
                "Content-Length: 100000000\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 413, "payload_too_large");
    EXPECT_EQ(res->Header("x-correlation-id"), "corr-413");
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_EQ(calls.load(), 0);
    EXPECT_EQ(h.server().stats().body_too_large.load(), 1u);
}

TEST(HttpServerTest, ChunkedBodyOverLimitIs413) {
    ServerLimits limits;
    limits.max_body_bytes = 16;
    ServerHarness h(limits, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(
        c->Send("POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 413, "payload_too_large");
    EXPECT_TRUE(c->WaitClosed());
}

TEST(HttpServerTest, TooManyHeadersIs431) {
    ServerLimits limits;
    limits.max_header_count = 10;
    std::atomic<int> calls{0};
    ServerHarness h(limits, EchoHandler(&calls));
    auto c = h.NewClient();
    std::string req = "GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: rid-431\r\n";
    for (int i = 0; i < 20; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
    ASSERT_TRUE(c->Send(req + "\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 431, "bad_request");
    EXPECT_EQ(res->Header("x-correlation-id"), "rid-431");
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_EQ(calls.load(), 0);
    EXPECT_EQ(h.server().stats().too_many_headers.load(), 1u);
}

TEST(HttpServerTest, HeaderSectionOverLimitIs431) {
    ServerLimits limits;
    limits.max_header_bytes = 1024;
    ServerHarness h(limits, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(
        c->Send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 431, "bad_request");
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_EQ(h.server().stats().headers_too_large.load(), 1u);
}

TEST(HttpServerTest, HandlerExceptionIs500) {
    ServerHarness h({}, [](HttpRequest) -> asio::awaitable<HttpResponse> {
        throw std::runtime_error("boom");
        co_return HttpResponse{};
    });
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\nX-Correlation-ID: c-500\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 500, "internal_error");
    EXPECT_EQ(res->Header("x-correlation-id"), "c-500");
    EXPECT_EQ(h.server().stats().handler_errors.load(), 1u);
    // The connection stays usable.
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 500);
}

TEST(HttpServerTest, HandlerCannotBreakFraming) {
    ServerHarness h({}, [](HttpRequest) -> asio::awaitable<HttpResponse> {
        HttpResponse res;
        res.status = 201;
        res.AddHeader("Content-Length", "999");
        res.AddHeader("X-Evil", "a\r\nInjected: yes");
        res.AddHeader("Location", "/x/1");
        res.body = "{}";
        co_return res;
    });
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 201);
    EXPECT_EQ(res->Header("content-length"), "2");
    EXPECT_EQ(res->Header("injected"), "");
    EXPECT_EQ(res->Header("location"), "/x/1");
    EXPECT_EQ(res->body, "{}");
}

TEST(HttpServerTest, OverMaxConnectionsIs503WhenNoConnectionWaitsForARequest) {
    ServerLimits limits;
    limits.max_connections = 1;
    // The first request's handler holds until the test lets it go: that connection holds
    // its slot and waits for no request, so it is not one to make room.
    std::promise<void> entered;
    auto entered_future = entered.get_future();
    std::shared_ptr<asio::steady_timer> gate;
    std::mutex gate_mu;
    std::atomic<int> calls{0};
    ServerHarness h(limits, [&](HttpRequest req) -> asio::awaitable<HttpResponse> {
        if (calls.fetch_add(1) == 0) {
            auto timer = std::make_shared<asio::steady_timer>(
                co_await asio::this_coro::executor, std::chrono::steady_clock::time_point::max());
            {
                std::lock_guard lock(gate_mu);
                gate = timer;
            }
            entered.set_value();
            co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));  // until cancelled
        }
        HttpResponse res;
        res.body = "served " + req.path;
        co_return res;
    });
    auto first = h.NewClient();
    ASSERT_TRUE(first->Send("GET /first HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_EQ(entered_future.wait_for(testing::kDeadline), std::future_status::ready);

    auto second = h.NewClient();
    ASSERT_TRUE(second->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto res = second->ReadResponse();
    ASSERT_TRUE(res);
    ExpectJsonError(*res, 503, "overloaded");
    EXPECT_EQ(res->Header("retry-after"), "1");
    EXPECT_EQ(res->Header("x-ratelimit-limit"), "1");
    EXPECT_TRUE(second->WaitClosed());
    EXPECT_EQ(h.server().stats().connections_rejected.load(), 1u);
    EXPECT_EQ(h.server().stats().connections_evicted.load(), 0u);

    // The first connection is still served.
    {
        std::lock_guard lock(gate_mu);
        asio::post(gate->get_executor(), [t = gate] { t->cancel(); });
    }
    auto again = first->ReadResponse();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
    EXPECT_EQ(again->body, "served /first");
    h.StopIo();
    std::lock_guard lock(gate_mu);
    gate.reset();  // a timer must not outlive its io_context
}

TEST(HttpServerTest, StopAcceptingRefusesNewConnections) {
    ServerHarness h({}, EchoHandler());
    auto before = h.NewClient();
    // Served once, so surely accepted (connections still in the backlog are reset).
    ASSERT_TRUE(before->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(before->ReadResponse());
    h.server().StopAccepting();
    // The listener closes on its strand; until then a connect may still land in the
    // backlog (and be reset). Refusal must follow within the deadline.
    const auto deadline = std::chrono::steady_clock::now() + testing::kDeadline;
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() < deadline) {
        RawClient c(h.client_ioc());
        refused = c.Connect(h.port()) == asio::error::connection_refused;
    }
    EXPECT_TRUE(refused);
    // A connection accepted before is still served.
    ASSERT_TRUE(before->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto res = before->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_FALSE(h.server().Listen("127.0.0.1", 0).ok());
}

TEST(HttpServerTest, ShutdownClosesIdleConnections) {
    ServerHarness h({}, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(c->ReadResponse());
    h.server().Shutdown();
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_TRUE(Eventually(h.server().stats().connections_active, 0));
}

TEST(HttpServerTest, ShutdownLetsTheRequestInProgressFinish) {
    std::promise<void> entered;
    auto entered_future = entered.get_future();
    std::shared_ptr<asio::steady_timer> gate;
    std::mutex gate_mu;
    ServerHarness h({}, [&](HttpRequest) -> asio::awaitable<HttpResponse> {
        auto timer = std::make_shared<asio::steady_timer>(
            co_await asio::this_coro::executor, std::chrono::steady_clock::time_point::max());
        {
            std::lock_guard lock(gate_mu);
            gate = timer;
        }
        entered.set_value();
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));  // until cancelled
        HttpResponse res;
        res.body = "finished";
        co_return res;
    });
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_EQ(entered_future.wait_for(testing::kDeadline), std::future_status::ready);
    h.server().Shutdown();
    {
        std::lock_guard lock(gate_mu);
        asio::post(gate->get_executor(), [t = gate] { t->cancel(); });
    }
    auto res = c->ReadResponse();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "finished");
    EXPECT_EQ(res->Header("connection"), "close");
    EXPECT_TRUE(c->WaitClosed());
    std::lock_guard lock(gate_mu);
    gate.reset();  // a timer must not outlive its io_context
}

TEST(HttpServerTest, IncompleteHeaderTimesOut) {
    ServerLimits limits;
    limits.header_timeout = std::chrono::seconds(1);
    ServerHarness h(limits, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\n"));  // header never finished
    EXPECT_TRUE(c->WaitClosed());
    // Counted when the session sees its read fail, just after the socket closed.
    EXPECT_TRUE(Eventually(h.server().stats().header_timeouts, 1));
    EXPECT_EQ(h.server().stats().read_timeouts.load(), 0u);
}

TEST(HttpServerTest, IncompleteBodyTimesOut) {
    ServerLimits limits;
    limits.read_timeout = std::chrono::seconds(1);
    ServerHarness h(limits, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nabc"));
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_TRUE(Eventually(h.server().stats().read_timeouts, 1));
    EXPECT_EQ(h.server().stats().header_timeouts.load(), 0u);
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
    ServerLimits limits;
    limits.keep_alive_idle = std::chrono::seconds(1);
    ServerHarness h(limits, EchoHandler());
    auto c = h.NewClient();
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(c->ReadResponse());
    EXPECT_TRUE(c->WaitClosed());
    EXPECT_TRUE(Eventually(h.server().stats().idle_closes, 1));
    EXPECT_EQ(h.server().stats().read_timeouts.load(), 0u);
}

TEST(HttpServerTest, ListenRejectsBadAddress) {
    ServerHarness h({}, EchoHandler());
    auto r = h.server().Listen("not an address", 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, common::ErrorCode::kUnavailable);
    // The port already bound by the harness cannot be bound again.
    EXPECT_FALSE(h.server().Listen("127.0.0.1", h.port()).ok());
}

}  // namespace
}  // namespace aragora::net
