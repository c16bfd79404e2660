// OpenTelemetry traces end to end: `aragora serve` with OTEL_EXPORTER_OTLP_ENDPOINT runs a
// debate over the fake LLM provider and a loopback collector (tests/tools/otlp_collector.js,
// an independent OTLP decoder) receives one trace: request → debate → round → phase →
// agent call → provider HTTP attempt, plus the debate's store calls, with the caller's
// traceparent continued and the attempt's traceparent sent to the provider. With the
// collector down the server keeps answering and counts the dropped spans.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "fake_llm/fake_llm.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/trace/otlp_collector_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using trace::test_support::OtlpCollector;

constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kCallerSpan = "00f067aa0ba902b7";

class TracingTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string error;
        collector_ = OtlpCollector::Start(&error);
        if (!collector_) GTEST_SKIP() << error;
    }

    std::map<std::string, std::string> Env(std::map<std::string, std::string> extra) {
        std::map<std::string, std::string> env{
            {"ARAGORA_ANTHROPIC_BASE_URL", fake_.base_url()},
            {"ARAGORA_OPENAI_BASE_URL", fake_.base_url()},
            {"ARAGORA_GEMINI_BASE_URL", fake_.base_url()},
            {"ANTHROPIC_API_KEY", "sk-ant-test"},
            {"OPENAI_API_KEY", "sk-openai-test"},
            {"GEMINI_API_KEY", "gemini-test"},
            {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"},
            {"OTEL_SERVICE_NAME", "aragora-it"},
            {"OTEL_BSP_SCHEDULE_DELAY", "100"},
            {"OTEL_BSP_EXPORT_TIMEOUT", "2000"},
        };
        for (auto& [k, v] : extra) env[k] = v;
        return env;
    }

    void Start(std::map<std::string, std::string> env) {
        server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(env));
        ASSERT_TRUE(server_->StartReady()) << server_->error();
    }

    void TearDown() override {
        if (!server_) return;
        const int code = server_->Terminate();
        EXPECT_EQ(code, 0) << "exit code after SIGTERM; server output:\n" << server_->Logs();
    }

    // One debate of `rounds` over three providers, created with the caller's traceparent;
    // its id once it completed.
    std::string RunDebate(int rounds) {
        json::object body{{"task", "Should we cache provider replies for 24 hours?"},
                          {"rounds", rounds},
                          {"agents", json::array{"claude", "openai", "gemini"}}};
        const std::string traceparent = std::string("00-") + kTraceId + "-" + kCallerSpan + "-01";
        auto r = server_->Http().Post(
            "/api/v1/debates", json::serialize(body),
            {{"Content-Type", "application/json"}, {"traceparent", traceparent}});
        EXPECT_EQ(r.status, 201) << r.body;
        auto v = json::parse(r.body);
        const std::string id = std::string(v.as_object().at("debate_id").as_string());
        auto done = WaitForStatus(server_->Http(), id, kTerminalStatuses);
        EXPECT_TRUE(done.has_value());
        if (done) {
            EXPECT_EQ(StringOf(*done, "status"), "completed");
        }
        return id;
    }

    // The spans of the caller's trace (kTraceId) once `name` is among them (the debate span
    // ends last, after the final store write), within 30 s. Other requests (readiness and
    // status polls) are traces of their own.
    json::array SpansOnceArrived(const std::string& name) {
        const auto until = Clock::now() + seconds(30);
        json::array spans;
        while (Clock::now() < until) {
            json::value got = collector_->Received();
            if (got.is_object()) {
                spans.clear();
                for (const auto& s : got.as_object().at("spans").as_array()) {
                    if (s.as_object().at("trace_id").as_string() == kTraceId) spans.push_back(s);
                }
                for (const auto& s : spans) {
                    if (s.as_object().at("name").as_string() == name) return spans;
                }
            }
            std::this_thread::sleep_for(milliseconds(100));
        }
        ADD_FAILURE() << "no span named " << name << " arrived; got " << json::serialize(spans)
                      << "\nserver output:\n"
                      << server_->Logs();
        return spans;
    }

    static std::vector<json::object> Named(const json::array& spans, std::string_view prefix) {
        std::vector<json::object> out;
        for (const auto& s : spans) {
            if (s.as_object().at("name").as_string().subview().starts_with(prefix))
                out.push_back(s.as_object());
        }
        return out;
    }

    static std::string Str(const json::object& span, const char* key) {
        return std::string(span.at(key).as_string());
    }
    static const json::value* Attr(const json::object& span, const char* key) {
        return span.at("attributes").as_object().if_contains(key);
    }

    FakeLlmServer fake_;
    TempDir dir_;
    std::unique_ptr<OtlpCollector> collector_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(TracingTest, OneDebateIsOneTraceWithRequestDebatePhaseAndAgentCallSpans) {
    Start(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", collector_->grpc_endpoint()}}));
    const std::string id = RunDebate(1);
    const json::array spans = SpansOnceArrived("debate");

    std::map<std::string, json::object> by_id;
    for (const auto& s : spans) {
        const auto& o = s.as_object();
        EXPECT_EQ(Str(o, "trace_id"), kTraceId) << json::serialize(o);
        EXPECT_EQ(Str(o, "service_name"), "aragora-it");
        EXPECT_EQ(Str(o, "transport"), "grpc");
        by_id[Str(o, "span_id")] = o;
    }
    auto parent_name = [&](const json::object& s) -> std::string {
        auto it = by_id.find(Str(s, "parent_span_id"));
        return it == by_id.end() ? "" : Str(it->second, "name");
    };

    auto requests = Named(spans, "POST /api/v1/debates");
    ASSERT_EQ(requests.size(), 1u) << json::serialize(spans);
    const auto& request = requests[0];
    EXPECT_EQ(Str(request, "parent_span_id"), kCallerSpan) << "the caller's traceparent";
    EXPECT_EQ(request.at("kind").to_number<int>(), 2);  // SERVER
    EXPECT_EQ(Attr(request, "http.route")->as_string(), "/api/v1/debates");
    EXPECT_EQ(Attr(request, "http.response.status_code")->to_number<int>(), 201);

    auto debates = Named(spans, "debate");  // also matches debate.* below; pick the exact one
    std::vector<json::object> debate_spans;
    for (auto& d : debates)
        if (Str(d, "name") == "debate") debate_spans.push_back(d);
    ASSERT_EQ(debate_spans.size(), 1u);
    const auto& debate = debate_spans[0];
    EXPECT_EQ(Str(debate, "parent_span_id"), Str(request, "span_id"));
    EXPECT_EQ(Attr(debate, "debate.id")->as_string(), id);
    EXPECT_EQ(Attr(debate, "debate.status")->as_string(), "completed");

    auto rounds = Named(spans, "debate.round");
    ASSERT_EQ(rounds.size(), 1u);
    EXPECT_EQ(parent_name(rounds[0]), "debate");
    for (const char* phase : {"debate.proposal", "debate.critique"}) {
        auto p = Named(spans, phase);
        ASSERT_EQ(p.size(), 1u) << phase;
        EXPECT_EQ(parent_name(p[0]), "debate.round") << phase;
    }
    for (const char* phase : {"debate.vote", "debate.consensus"}) {
        auto p = Named(spans, phase);
        ASSERT_EQ(p.size(), 1u) << phase;
        EXPECT_EQ(parent_name(p[0]), "debate") << phase;
    }

    // 3 proposals + 6 critiques + 3 votes, each an agent call under its phase.
    auto calls = Named(spans, "agent.call ");
    EXPECT_EQ(calls.size(), 12u);
    std::set<std::string> providers;
    for (const auto& c : calls) {
        const std::string parent = parent_name(c);
        EXPECT_TRUE(parent == "debate.proposal" || parent == "debate.critique" ||
                    parent == "debate.vote")
            << parent;
        providers.insert(std::string(Attr(c, "gen_ai.system")->as_string()));
        EXPECT_FALSE(Attr(c, "gen_ai.request.model")->as_string().empty());
        EXPECT_EQ(Attr(c, "aragora.agent.outcome")->as_string(), "ok");
        EXPECT_EQ(Attr(c, "aragora.agent.retries")->to_number<int>(), 0);
        EXPECT_NE(Attr(c, "gen_ai.usage.input_tokens"), nullptr);
        EXPECT_NE(Attr(c, "gen_ai.usage.output_tokens"), nullptr);
    }
    EXPECT_EQ(providers, (std::set<std::string>{"anthropic", "openai", "gemini"}));

    // Each provider HTTP attempt is a client span under its call, and the provider got its
    // traceparent.
    auto attempts = Named(spans, "chat ");
    EXPECT_EQ(attempts.size(), calls.size());
    std::set<std::string> attempt_ids;
    for (const auto& a : attempts) {
        EXPECT_EQ(a.at("kind").to_number<int>(), 3);  // CLIENT
        EXPECT_TRUE(parent_name(a).starts_with("agent.call ")) << parent_name(a);
        EXPECT_EQ(Attr(a, "http.response.status_code")->to_number<int>(), 200);
        attempt_ids.insert(Str(a, "span_id"));
    }
    std::size_t propagated = 0;
    for (const auto& r : fake_.Requests()) {
        for (const auto& [name, value] : r.headers) {
            if (name != "traceparent" && name != "Traceparent") continue;
            ASSERT_EQ(value.size(), 55u) << value;
            EXPECT_EQ(value.substr(3, 32), kTraceId);
            EXPECT_TRUE(attempt_ids.count(value.substr(36, 16))) << value;
            ++propagated;
        }
    }
    EXPECT_EQ(propagated, attempts.size());

    // Store calls: the pending row under the request, the final write under the debate.
    auto creates = Named(spans, "db CreateDebate");
    ASSERT_EQ(creates.size(), 1u);
    EXPECT_EQ(Str(creates[0], "parent_span_id"), Str(request, "span_id"));
    auto finishes = Named(spans, "db FinishDebate");
    ASSERT_EQ(finishes.size(), 1u);
    EXPECT_EQ(parent_name(finishes[0]), "debate");
    EXPECT_EQ(finishes[0].at("kind").to_number<int>(), 3);

    // The trace id is in the request's log line.
    EXPECT_NE(server_->Logs().find(std::string("trace_id=") + kTraceId), std::string::npos);
    const std::string metrics = server_->Http().Get("/metrics").body;
    EXPECT_NE(metrics.find("aragora_trace_spans_exported_total"), std::string::npos);
}

TEST_F(TracingTest, OtlpHttpProtobufCarriesTheSameTrace) {
    Start(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", collector_->http_endpoint()},
               {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}}));
    RunDebate(1);
    const json::array spans = SpansOnceArrived("debate");
    EXPECT_EQ(Named(spans, "POST /api/v1/debates").size(), 1u);
    EXPECT_EQ(Named(spans, "agent.call ").size(), 12u);
    for (const auto& s : spans) {
        EXPECT_EQ(Str(s.as_object(), "transport"), "http");
        EXPECT_EQ(Str(s.as_object(), "trace_id"), kTraceId);
    }
}

TEST_F(TracingTest, WithTheCollectorDownTheServerAnswersAndCountsDroppedSpans) {
    const std::string endpoint = collector_->grpc_endpoint();
    collector_->Stop();
    Start(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", endpoint}}));
    RunDebate(1);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(server_->Http().Get("/healthz").status, 200);
    // The exporter fails within its deadline and counts: wait for the counter to move.
    const auto until = Clock::now() + seconds(30);
    double dropped = 0;
    while (Clock::now() < until && dropped <= 0) {
        const std::string m = server_->Http().Get("/metrics").body;
        const auto pos = m.find("\naragora_trace_spans_dropped_total ");
        if (pos != std::string::npos) {
            dropped = std::stod(
                m.substr(pos + std::string("\naragora_trace_spans_dropped_total ").size()));
        }
        if (dropped <= 0) std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_GT(dropped, 0) << server_->Logs();
    EXPECT_NE(server_->Logs().find("trace export failed"), std::string::npos);
    EXPECT_EQ(server_->Http().Get("/healthz").status, 200);
}

TEST_F(TracingTest, ABadSamplerSettingRefusesToStart) {
    ServerProcess server(dir_.path() + "/bad",
                         Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", collector_->grpc_endpoint()},
                              {"OTEL_TRACES_SAMPLER", "sometimes"}}));
    EXPECT_FALSE(server.Start(seconds(10))) << "it must not listen";
    auto code = server.WaitExit(seconds(20));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 2);
    EXPECT_NE(server.Logs().find("OTEL_TRACES_SAMPLER"), std::string::npos) << server.Logs();
}

}  // namespace
}  // namespace aragora::testing
