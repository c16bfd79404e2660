// The agent routes over a real AgentFactory (no network client: demo agents only) and a
// breaker registry on a manual clock.

#include <gtest/gtest.h>

#include "agents/factory.hpp"
#include "api_test_support.hpp"

namespace aragora::api::testing {
namespace {

namespace json = boost::json;

class AgentRoutesTest : public ::testing::Test {
protected:
    AgentRoutesTest()
        : keys_(TestKeys()),
          breakers_(clock_,
                    {.breaker = {.failure_threshold = 2, .cooldown = std::chrono::seconds(60)}}),
          factory_(
              {}, [](std::string_view) { return std::optional<std::string>(); }, nullptr,
              &breakers_, nullptr),
          deps_{service_, keys_, system_, registry_} {
        deps_.agents = &factory_;
        deps_.auth = open_auth_.get();
        AddRoutes(router_, deps_);
        handler_ = MakeHttpHandler(router_, deps_);
    }

    net::HttpResponse Call(std::string method, std::string target, std::string body = {},
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
        return ApiFixture::Invoke(handler_, std::move(method), std::move(target), std::move(body),
                                  std::move(headers));
    }
    static json::object Obj(const net::HttpResponse& r) { return json::parse(r.body).as_object(); }

    common::ManualClock clock_;
    FakeDebateService service_;
    FakeSystemInfo system_;
    debate::ReceiptKeys keys_;
    metrics::Registry registry_;
    resilience::CircuitBreakerRegistry breakers_;
    agents::AgentFactory factory_;
    OpenAuth open_auth_;
    ApiDeps deps_;
    Router router_;
    net::HttpHandler handler_;
};

TEST_F(AgentRoutesTest, BreakersAreListedAndResetByAliasProviderOrKey) {
    auto* b = *breakers_.GetOrCreate("anthropic:claude-x");
    ASSERT_TRUE(breakers_.GetOrCreate("openai:gpt-y").ok());
    b->RecordFailure();
    b->RecordFailure();
    auto list = Call("GET", "/api/agents/circuit-breakers");
    ASSERT_EQ(list.status, 200) << list.body;
    auto o = Obj(list);
    EXPECT_EQ(o["circuit_breakers"].as_object()["anthropic:claude-x"].as_object()["state"], "open");
    EXPECT_EQ(o["summary"].as_object()["open"].as_int64(), 1);
    EXPECT_EQ(o["summary"].as_object()["total"].as_int64(), 2);
    EXPECT_EQ(
        Call("GET", "/api/v1/system/circuit-breakers").body.find("claude-x") != std::string::npos,
        true);

    auto reset = Call("POST", "/api/agents/claude/reset-circuit");
    ASSERT_EQ(reset.status, 200) << reset.body;
    auto r = Obj(reset);
    ASSERT_EQ(r["reset"].as_array().size(), 1u);
    EXPECT_EQ(r["reset"].as_array()[0], "anthropic:claude-x");
    EXPECT_EQ(b->State(), resilience::CircuitState::kClosed);

    EXPECT_EQ(
        Obj(Call("POST", "/api/agents/openai:gpt-y/reset-circuit"))["reset"].as_array().size(), 1u);
    EXPECT_EQ(Obj(Call("POST", "/api/agents/gemini/reset-circuit"))["reset"].as_array().size(), 0u);
    auto unknown = Call("POST", "/api/agents/nobody/reset-circuit");
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(Obj(unknown)["code"], "not_found");
}

TEST_F(AgentRoutesTest, AgentTestAnswersReplyLatencyAndTokensOrTheReason) {
    // The runbook's curl -d sends form encoding; the body is JSON all the same.
    auto r = Call("POST", "/api/debug/agent-test", R"({"agent": "demo:critic"})",
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto o = Obj(r);
    EXPECT_TRUE(o["success"].as_bool());
    EXPECT_EQ(o["agent"], "demo:critic");
    EXPECT_FALSE(o["response"].as_string().empty());
    EXPECT_TRUE(o["latency_ms"].is_number());
    EXPECT_EQ(o["prompt"], "Say hello");

    auto nokey = Obj(Call("POST", "/api/debug/agent-test", R"({"agent":"claude","prompt":"hi"})"));
    EXPECT_FALSE(nokey["success"].as_bool());
    EXPECT_EQ(nokey["code"], "validation_error");
    EXPECT_NE(std::string(nokey["error"].as_string()).find("ANTHROPIC_API_KEY"), std::string::npos);

    for (const char* bad : {R"({"prompt":"hi"})", R"({"agent": 3})", R"({"agent":"llama"})",
                            R"({"agent":"demo","prompt":5})", "not json", ""}) {
        auto e = Call("POST", "/api/debug/agent-test", bad);
        EXPECT_EQ(e.status, 400) << bad << " -> " << e.body;
    }
}

TEST_F(AgentRoutesTest, ConnectivityCheckWithoutKeysSaysSo) {
    auto r = Call("POST", "/api/debug/connectivity-check");
    ASSERT_EQ(r.status, 200) << r.body;
    auto o = Obj(r);
    EXPECT_EQ(o["status"], "no_providers");
    EXPECT_TRUE(o["providers"].as_array().empty());
    EXPECT_NE(std::string(o["message"].as_string()).find("ANTHROPIC_API_KEY"), std::string::npos);
}

}  // namespace
}  // namespace aragora::api::testing
