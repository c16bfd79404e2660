// The exporter against an independent decoder: tests/tools/otlp_collector.js reads what
// our hand-written protobuf says, over OTLP/gRPC and OTLP/HTTP.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "otlp_collector_fixture.hpp"
#include "trace/otlp_grpc.hpp"
#include "trace/otlp_http.hpp"
#include "trace/tracer.hpp"

namespace aragora::trace {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using test_support::OtlpCollector;

class CollectorTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string error;
        collector_ = OtlpCollector::Start(&error);
        if (!collector_) GTEST_SKIP() << error;
    }

    std::unique_ptr<BatchExporter> Exporter(std::unique_ptr<Transport> transport) {
        ExporterOptions o;
        o.export_timeout = std::chrono::milliseconds(5000);
        return std::make_unique<BatchExporter>(ioc_.get_executor(), std::move(transport),
                                               Resource{"aragora-test", "1.2.3", "inst_1"}, o);
    }

    void Flush(BatchExporter& e) {
        auto f = asio::co_spawn(ioc_, e.Flush(), asio::use_future);
        ioc_.run();
        ioc_.restart();
        f.get();
    }

    // A request span with a child that has every attribute type and an error status.
    void RecordTrace(BatchExporter& exporter) {
        common::SystemClock clock;
        Tracer tracer({SamplerKind::kAlwaysOn, true, 1.0}, clock, exporter);
        auto parent = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        Span request = StartSpan(Context{&tracer, *parent}, "POST /api/debates", SpanKind::kServer);
        request.SetAttribute("http.response.status_code", 201);
        {
            Span call = StartSpan(request.ChildContext(), "agent.call", SpanKind::kClient);
            call.SetAttribute("gen_ai.system", "anthropic");
            call.SetAttribute("gen_ai.usage.input_tokens", std::int64_t{1234567890123});
            call.SetAttribute("aragora.ratio", 0.25);
            call.SetAttribute("aragora.retried", true);
            call.SetStatus(StatusCode::kError, "provider 503");
        }
    }

    const json::object* Find(const json::array& spans, std::string_view name) {
        for (const auto& s : spans) {
            if (s.as_object().at("name").as_string() == name) return &s.as_object();
        }
        return nullptr;
    }

    void ExpectDecoded(std::string_view transport) {
        json::value got = collector_->Received();
        ASSERT_TRUE(got.is_object()) << "collector did not answer";
        const auto& spans = got.as_object().at("spans").as_array();
        ASSERT_EQ(spans.size(), 2u) << json::serialize(got);
        const json::object* request = Find(spans, "POST /api/debates");
        const json::object* call = Find(spans, "agent.call");
        ASSERT_TRUE(request && call) << json::serialize(got);
        EXPECT_EQ(request->at("transport").as_string(), transport);
        EXPECT_EQ(request->at("service_name").as_string(), "aragora-test");
        EXPECT_EQ(request->at("scope").as_string(), "aragora");
        EXPECT_EQ(request->at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        EXPECT_EQ(request->at("parent_span_id").as_string(), "00f067aa0ba902b7");
        EXPECT_EQ(request->at("kind").to_number<int>(), 2);  // SERVER
        EXPECT_EQ(request->at("attributes").at("http.response.status_code").to_number<int>(), 201);
        EXPECT_EQ(call->at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        EXPECT_EQ(call->at("parent_span_id"), request->at("span_id"));
        EXPECT_EQ(call->at("kind").to_number<int>(), 3);  // CLIENT
        const auto& a = call->at("attributes").as_object();
        EXPECT_EQ(a.at("gen_ai.system").as_string(), "anthropic");
        EXPECT_EQ(a.at("gen_ai.usage.input_tokens").to_number<std::int64_t>(), 1234567890123);
        EXPECT_DOUBLE_EQ(a.at("aragora.ratio").to_number<double>(), 0.25);
        EXPECT_EQ(a.at("aragora.retried").as_bool(), true);
        EXPECT_EQ(call->at("status").at("code").to_number<int>(), 2);  // ERROR
        EXPECT_EQ(call->at("status").at("message").as_string(), "provider 503");
        const auto start = std::stoull(std::string(call->at("start_unix_nano").as_string()));
        const auto end = std::stoull(std::string(call->at("end_unix_nano").as_string()));
        EXPECT_GT(start, 1'700'000'000'000'000'000ULL);
        EXPECT_GE(end, start);
    }

    asio::io_context ioc_;
    std::unique_ptr<OtlpCollector> collector_;
};

TEST_F(CollectorTest, GrpcExportIsDecodedByTheReferenceDecoder) {
    auto transport = MakeGrpcTransport(collector_->grpc_endpoint());
    ASSERT_TRUE(transport.ok()) << transport.error().message;
    auto exporter = Exporter(std::move(*transport));
    RecordTrace(*exporter);
    Flush(*exporter);
    EXPECT_EQ(exporter->stats().exported.load(), 2u);
    ExpectDecoded("grpc");
}

TEST_F(CollectorTest, HttpProtobufExportIsDecodedByTheReferenceDecoder) {
    auto exporter = Exporter(MakeHttpTransport(ioc_, collector_->http_endpoint() + "/v1/traces"));
    RecordTrace(*exporter);
    Flush(*exporter);
    EXPECT_EQ(exporter->stats().exported.load(), 2u);
    ExpectDecoded("http");
}

TEST_F(CollectorTest, ACollectorThatIsDownCostsDroppedSpansOnly) {
    const int grpc_port = collector_->grpc_port();
    const int http_port = collector_->http_port();
    collector_->Stop();
    for (bool grpc : {true, false}) {
        std::unique_ptr<Transport> t;
        if (grpc) {
            auto g = MakeGrpcTransport("http://127.0.0.1:" + std::to_string(grpc_port));
            ASSERT_TRUE(g.ok());
            t = std::move(*g);
        } else {
            t = MakeHttpTransport(ioc_,
                                  "http://127.0.0.1:" + std::to_string(http_port) + "/v1/traces");
        }
        auto exporter = Exporter(std::move(t));
        RecordTrace(*exporter);
        const auto start = std::chrono::steady_clock::now();
        Flush(*exporter);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6))
            << "the export deadline bounds a call";
        EXPECT_EQ(exporter->stats().exported.load(), 0u);
        EXPECT_EQ(exporter->stats().dropped_export.load(), 2u) << (grpc ? "grpc" : "http");
        EXPECT_EQ(exporter->stats().export_failures.load(), 1u);
    }
}

TEST(GrpcEndpoint, RefusesPathsAndOtherSchemes) {
    EXPECT_FALSE(MakeGrpcTransport("ftp://c:4317").ok());
    EXPECT_FALSE(MakeGrpcTransport("http://c:4317/v1/traces").ok());
    EXPECT_TRUE(MakeGrpcTransport("http://c:4317").ok());
    EXPECT_TRUE(MakeGrpcTransport("https://c:4317/").ok());
}

}  // namespace
}  // namespace aragora::trace
