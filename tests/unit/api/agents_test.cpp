// The agent routes over a real AgentFactory (no network client: demo agents only) and a
// breaker registry on a manual clock.

#include <gtest/gtest.h>

#include <map>

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

// GET /api/agents: demo personas, then every provider with its availability read from
// the environment as the factory reads it, and the breaker state of its default model.
TEST_F(AgentRoutesTest, AgentListShowsAvailabilityAndBreakerStateNeverAKey) {
    const std::map<std::string, std::string, std::less<>> env{
        {"ANTHROPIC_API_KEY", " sk-ant-unit-secret-4242 "},
        {"MISTRAL_API_KEY", "  "},  // blank is not set
        {"ARAGORA_OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:9"}};
    agents::AgentFactory factory(
        {},
        [&env](std::string_view name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
        },
        nullptr, &breakers_, nullptr);
    deps_.agents = &factory;
    auto* b = *breakers_.GetOrCreate("anthropic:claude-sonnet-4-20250514");
    b->RecordFailure();
    b->RecordFailure();

    for (const char* path : {"/api/agents", "/api/v1/agents"}) {
        auto r = Call("GET", path);
        ASSERT_EQ(r.status, 200) << path << " " << r.body;
        EXPECT_EQ(r.body.find("sk-ant-unit-secret"), std::string::npos) << r.body;
        auto list = Obj(r)["agents"].as_array();
        std::map<std::string, json::object> by_name;
        for (const auto& v : list)
            by_name[std::string(v.as_object().at("name").as_string())] = v.as_object();
        ASSERT_EQ(list.size(), 4u + 7u) << r.body;
        EXPECT_EQ(list[0].as_object().at("name"), "demo:analyst");
        auto demo = by_name["demo:critic"];
        EXPECT_EQ(demo["provider"], "demo");
        EXPECT_EQ(demo["persona"], "critic");
        EXPECT_EQ(demo["available"], true);
        EXPECT_TRUE(demo["reason"].is_null());

        auto anthropic = by_name["anthropic"];
        EXPECT_EQ(anthropic["available"], true);
        EXPECT_EQ(anthropic["key_configured"], true);
        EXPECT_EQ(anthropic["model"], "claude-sonnet-4-20250514");
        EXPECT_EQ(anthropic["spec"], "anthropic:claude-sonnet-4-20250514");
        EXPECT_EQ(anthropic["circuit_state"], "open");
        EXPECT_TRUE(anthropic["reason"].is_null());

        auto mistral = by_name["mistral"];
        EXPECT_EQ(mistral["available"], false);
        EXPECT_EQ(mistral["reason"], "MISTRAL_API_KEY is not set");
        EXPECT_EQ(mistral["circuit_state"], "closed");
        EXPECT_EQ(by_name["openai"]["reason"], "OPENAI_API_KEY is not set");
        EXPECT_EQ(by_name["xai"]["available"], false);
        EXPECT_EQ(by_name["gemini"]["available"], false);
        EXPECT_EQ(by_name["openrouter"]["available"], false);

        auto local = by_name["openai-compatible"];
        EXPECT_EQ(local["available"], true);
        EXPECT_EQ(local["base_url_set"], true);
        EXPECT_TRUE(local["key_env"].is_null());
    }
    deps_.agents = &factory_;
}

// With OPENROUTER_API_KEY only, every keyed provider is available through OpenRouter.
TEST_F(AgentRoutesTest, AgentListMarksProvidersReachableThroughOpenRouter) {
    agents::AgentFactory factory(
        {},
        [](std::string_view name) -> std::optional<std::string> {
            if (name == "OPENROUTER_API_KEY") return std::string("sk-or-unit-secret");
            return std::nullopt;
        },
        nullptr, &breakers_, nullptr);
    deps_.agents = &factory;
    auto r = Call("GET", "/api/agents");
    deps_.agents = &factory_;
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body.find("sk-or-unit-secret"), std::string::npos);
    const json::array list = Obj(r)["agents"].as_array();
    for (const auto& v : list) {
        const auto& o = v.as_object();
        const std::string provider(o.at("provider").as_string());
        if (provider == "demo") continue;
        if (provider == "openai-compatible") {
            EXPECT_EQ(o.at("available"), false);
            EXPECT_EQ(o.at("reason"), "ARAGORA_OPENAI_COMPATIBLE_BASE_URL is not set");
        } else {
            EXPECT_EQ(o.at("available"), true) << provider;
            EXPECT_EQ(o.at("via_openrouter"), provider != "openrouter") << provider;
        }
    }
}

}  // namespace
}  // namespace aragora::api::testing
