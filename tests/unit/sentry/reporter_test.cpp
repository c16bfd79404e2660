// The reporter: envelopes as Sentry reads them, scrubbed, rate-limited, bounded, and
// counted; Report never waits for the transport.

#include "sentry/reporter.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <mutex>

namespace aragora::sentry {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

struct Captured {
    std::mutex mu;
    std::vector<net::ClientRequest> requests;
};

Transport Recording(std::shared_ptr<Captured> c, int status = 200) {
    return
        [c, status](
            net::ClientRequest r) -> boost::asio::awaitable<common::Result<net::ClientResponse>> {
            {
                std::lock_guard lock(c->mu);
                c->requests.push_back(std::move(r));
            }
            net::ClientResponse res;
            res.status = status;
            if (status == 429) res.headers = {{"retry-after", "30"}};
            co_return res;
        };
}

ReporterOptions Options() {
    ReporterOptions o;
    o.dsn = *ParseDsn("http://pubkey@127.0.0.1:9/42");
    o.context.environment = "staging";
    o.context.release = "aragora@1.2.3";
    o.context.server_name = "host-a";
    o.context.sdk_version = "1.2.3";
    o.known_secrets = {"super-secret-jwt-value"};
    return o;
}

common::ErrorReport Http500() {
    common::ErrorReport r;
    r.type = "internal_error";
    r.message = "GET /api/v1/debates answered 500: boom with super-secret-jwt-value";
    r.correlation_id = "corr-xyz789";
    r.tags = {{"status", "500"}, {"route", "/api/v1/debates"}};
    r.method = "GET";
    r.path = "/api/v1/debates";
    r.query = "limit=5&api_key=sk-live-0123456789abcdef";
    r.headers = {{"authorization", "Bearer tokentokentoken"}, {"x-correlation-id", "corr-xyz789"}};
    return r;
}

std::vector<std::string> Lines(const std::string& body) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < body.size()) {
        auto end = body.find('\n', start);
        if (end == std::string::npos) end = body.size();
        out.push_back(body.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

TEST(SentryReporter, SendsAWellFormedScrubbedEnvelope) {
    common::ManualClock clock;
    metrics::Registry registry;
    auto captured = std::make_shared<Captured>();
    Reporter reporter(Options(), clock, registry, Recording(captured));
    reporter.Report(Http500());
    reporter.Close(5s);
    ASSERT_EQ(reporter.counts().sent, 1u);
    ASSERT_EQ(captured->requests.size(), 1u);
    const net::ClientRequest& req = captured->requests[0];
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.url, "http://127.0.0.1:9/api/42/envelope/");
    bool auth = false;
    for (const auto& [k, v] : req.headers) {
        if (k == "X-Sentry-Auth") {
            auth = true;
            EXPECT_NE(v.find("sentry_key=pubkey"), std::string::npos) << v;
            EXPECT_NE(v.find("sentry_version=7"), std::string::npos) << v;
        }
    }
    EXPECT_TRUE(auth);
    auto lines = Lines(req.body);
    ASSERT_EQ(lines.size(), 3u) << req.body;
    json::object header = json::parse(lines[0]).as_object();
    json::object item = json::parse(lines[1]).as_object();
    json::object event = json::parse(lines[2]).as_object();
    EXPECT_EQ(item.at("type"), "event");
    EXPECT_EQ(item.at("length").to_number<std::size_t>(), lines[2].size());
    EXPECT_EQ(header.at("event_id"), event.at("event_id"));
    EXPECT_EQ(event.at("event_id").as_string().size(), 32u);
    EXPECT_EQ(event.at("level"), "error");
    EXPECT_EQ(event.at("environment"), "staging");
    EXPECT_EQ(event.at("release"), "aragora@1.2.3");
    EXPECT_EQ(event.at("server_name"), "host-a");
    EXPECT_EQ(event.at("tags").as_object().at("correlation_id"), "corr-xyz789");
    EXPECT_EQ(event.at("tags").as_object().at("status"), "500");
    EXPECT_EQ(event.at("exception").at("values").as_array()[0].at("type"), "internal_error");
    EXPECT_EQ(event.at("request").at("method"), "GET");
    for (const char* secret :
         {"super-secret-jwt-value", "sk-live-0123456789abcdef", "tokentokentoken"}) {
        EXPECT_EQ(req.body.find(secret), std::string::npos) << secret << " in " << req.body;
    }
    EXPECT_NE(req.body.find("[Filtered]"), std::string::npos);
}

TEST(SentryReporter, RateLimitedByTokenBucketOnTheInjectedClock) {
    common::ManualClock clock;
    metrics::Registry registry;
    auto captured = std::make_shared<Captured>();
    ReporterOptions o = Options();
    o.burst = 3;
    o.events_per_minute = 60;  // one a second
    Reporter reporter(o, clock, registry, Recording(captured));
    for (int i = 0; i < 10; ++i) reporter.Report(Http500());
    EXPECT_EQ(reporter.counts().rate_limited, 7u);
    clock.Advance(2s);
    for (int i = 0; i < 5; ++i) reporter.Report(Http500());
    EXPECT_EQ(reporter.counts().rate_limited, 10u);
    reporter.Close(5s);
    EXPECT_EQ(reporter.counts().sent, 5u);
    EXPECT_EQ(captured->requests.size(), 5u);
}

TEST(SentryReporter, SentrysOwn429SuspendsSending) {
    common::ManualClock clock;
    metrics::Registry registry;
    auto captured = std::make_shared<Captured>();
    Reporter reporter(Options(), clock, registry, Recording(captured, 429));
    reporter.Report(Http500());
    // Wait (bounded) until the 429 was taken into account.
    for (int i = 0; i < 500 && reporter.counts().rate_limited == 0; ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_EQ(reporter.counts().rate_limited, 1u);
    reporter.Report(Http500());  // inside Retry-After: dropped, not sent
    EXPECT_EQ(reporter.counts().rate_limited, 2u);
    clock.Advance(31s);
    reporter.Report(Http500());
    reporter.Close(5s);
    EXPECT_EQ(captured->requests.size(), 2u);
}

TEST(SentryReporter, BoundedQueueDropsAndCountsWhileTheTransportHangs) {
    common::ManualClock clock;
    metrics::Registry registry;
    auto entered = std::make_shared<std::promise<void>>();
    auto release = std::make_shared<std::promise<void>>();
    std::shared_future<void> released = release->get_future().share();
    std::atomic<int> calls{0};
    Transport hanging =
        [entered, released, &calls](
            net::ClientRequest) -> boost::asio::awaitable<common::Result<net::ClientResponse>> {
        if (calls.fetch_add(1) == 0) {
            entered->set_value();
            released.wait();  // the test's transport blocks its own thread only
        }
        net::ClientResponse res;
        res.status = 200;
        co_return res;
    };
    ReporterOptions o = Options();
    o.queue_capacity = 2;
    Reporter reporter(o, clock, registry, hanging);
    reporter.Report(Http500());
    entered->get_future().wait();  // the first one is in flight, the queue is empty
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 6; ++i) reporter.Report(Http500());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "Report waited for the transport";
    EXPECT_EQ(reporter.counts().queue_full, 4u);
    release->set_value();
    reporter.Close(5s);
    EXPECT_EQ(reporter.counts().sent, 3u);
    const std::string text = registry.RenderPrometheus();
    EXPECT_NE(text.find("aragora_sentry_events_dropped_total{reason=\"queue_full\"} 4"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("aragora_sentry_events_sent_total 3"), std::string::npos) << text;
}

}  // namespace
}  // namespace aragora::sentry
