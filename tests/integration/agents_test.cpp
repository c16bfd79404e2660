// Provider agents end to end: `aragora serve` talks to a fake LLM provider (in this test
// process, speaking the real Anthropic / OpenAI / Gemini wire formats) through every
// ARAGORA_<PROVIDER>_BASE_URL. Streamed tokens on the WebSocket, OpenRouter fallback on
// 429, timeouts opening the breaker and the reset route, malformed replies, retries,
// cancellation of a streaming call, missing keys, and the runbook's diagnostics routes.

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
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

class AgentsTest : public ::testing::Test {
protected:
    // Every provider pointed at the fake, keys for the ones a test names.
    std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
        std::map<std::string, std::string> env{
            {"ARAGORA_ANTHROPIC_BASE_URL", fake_.base_url()},
            {"ARAGORA_OPENAI_BASE_URL", fake_.base_url()},
            {"ARAGORA_GEMINI_BASE_URL", fake_.base_url()},
            {"ARAGORA_OPENROUTER_BASE_URL", fake_.base_url()},
            {"ARAGORA_MISTRAL_BASE_URL", fake_.base_url()},
            {"ARAGORA_XAI_BASE_URL", fake_.base_url()},
            {"ARAGORA_AGENT_RETRY_BASE_MS", "10"},
            {"ARAGORA_AGENT_RETRY_CAP_MS", "50"},
            // These tests count the provider layer's own attempts; the engine's later
            // attempts in a phase are phase_failure_test.cpp's.
            {"ARAGORA_PHASE_RETRIES", "0"},
            {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"},
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

    HttpClient Http() const { return server_->Http(); }

    std::string Create(const std::vector<std::string>& agents, int rounds) {
        json::object body{{"task", "Should we cache provider replies for 24 hours?"},
                          {"rounds", rounds}};
        json::array a;
        for (const auto& s : agents) a.emplace_back(s);
        body["agents"] = std::move(a);
        return CreateDebate(Http(), json::serialize(body));
    }

    std::vector<json::object> EventsOfType(const std::string& id, const std::string& type) {
        std::vector<json::object> out;
        for (auto& e : AllEvents(Http(), id)) {
            if (StringOf(e, "type") == type) out.push_back(e);
        }
        return out;
    }

    static json::object DataOf(const json::object& event) {
        const json::value* d = event.if_contains("data");
        return d && d->is_object() ? d->as_object() : json::object{};
    }

    std::string Metrics() { return Http().Get("/metrics").body; }

    FakeLlmServer fake_;
    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(AgentsTest, ThreeProvidersDebateWithStreamedTokensOnTheWebSocket) {
    fake_.SetTokenDelay(milliseconds(1));
    Start(Env({{"ANTHROPIC_API_KEY", "sk-ant-test"},
               {"OPENAI_API_KEY", "sk-openai-test"},
               {"GEMINI_API_KEY", "gemini-test"}}));
    const std::string id = Create({"claude", "openai", "gemini"}, 1);
    ASSERT_FALSE(id.empty());

    WsClient ws;
    ASSERT_TRUE(ws.Connect(server_->api_port(), "/ws?debate_id=" + id)) << ws.error();
    std::map<std::string, int> starts, deltas, ends;
    std::map<std::string, std::string> streamed_propose;
    bool ended = false;
    const auto until = Clock::now() + seconds(60);
    while (!ended && Clock::now() < until) {
        auto text = ws.Read(seconds(30));
        ASSERT_TRUE(text) << "WebSocket read failed: " << ws.error();
        json::value v = json::parse(*text);
        const auto& o = v.as_object();
        const std::string type = StringOf(o, "type");
        const std::string agent = StringOf(o, "agent");
        if (type == "token_start") ++starts[agent];
        if (type == "token_end") ++ends[agent];
        if (type == "token_delta") {
            ++deltas[agent];
            const auto d = DataOf(o);
            EXPECT_EQ(StringOf(d, "agent"), agent);
            if (StringOf(d, "phase") == "propose") streamed_propose[agent] += StringOf(d, "delta");
        }
        if (type == "debate_end") ended = true;
    }
    ASSERT_TRUE(ended) << "no debate_end";
    ws.Close();

    auto done = WaitForStatus(Http(), id, {"completed"});
    ASSERT_TRUE(done);
    EXPECT_FALSE(StringOf(*done, "receipt_id").empty());
    // Usage per agent and per debate.
    ASSERT_TRUE((*done)["usage"].is_object()) << json::serialize(*done);
    auto usage = (*done)["usage"].as_object();
    EXPECT_GT(usage["total"].as_object()["output_tokens"].as_int64(), 0);
    EXPECT_GT(usage["total"].as_object()["input_tokens"].as_int64(), 0);
    EXPECT_EQ(usage["agents"].as_object().size(), 3u);
    ASSERT_EQ(starts.size(), 3u) << "every agent streamed";
    for (const auto& [agent, n] : starts) {
        EXPECT_GE(deltas[agent], 5) << agent;
        EXPECT_EQ(ends[agent], n) << agent << ": one token_end per token_start";
    }
    // What was streamed is what the agent proposed.
    for (const auto& m : EventsOfType(id, "agent_message")) {
        const auto d = DataOf(m);
        const std::string agent = StringOf(d, "agent");
        ASSERT_TRUE(streamed_propose.count(agent)) << agent;
        EXPECT_NE(streamed_propose[agent].find(StringOf(d, "content").substr(0, 40)),
                  std::string::npos)
            << agent;
    }

    std::set<std::string> formats;
    for (const auto& r : fake_.Requests()) {
        formats.insert(r.format);
        EXPECT_TRUE(r.stream) << r.path;
        std::map<std::string, std::string> h;
        for (const auto& [k, val] : r.headers) {
            std::string lower = k;
            for (auto& c : lower) c = static_cast<char>(std::tolower(c));
            h[lower] = val;
        }
        if (r.format == "anthropic") {
            EXPECT_EQ(h["x-api-key"], "sk-ant-test");
            EXPECT_EQ(h["anthropic-version"], "2023-06-01");
        } else if (r.format == "openai") {
            EXPECT_EQ(h["authorization"], "Bearer sk-openai-test");
        } else if (r.format == "gemini") {
            EXPECT_EQ(h["x-goog-api-key"], "gemini-test");
        }
    }
    EXPECT_EQ(formats, (std::set<std::string>{"anthropic", "openai", "gemini"}));
    const std::string metrics = Metrics();
    EXPECT_NE(
        metrics.find("aragora_agent_tokens_total{provider=\"anthropic\",direction=\"output\"}"),
        std::string::npos);
}

TEST_F(AgentsTest, RateLimitedProviderFallsBackToOpenRouter) {
    fake_.AddRule({.format = "anthropic",
                   .action = FakeAction::kStatus,
                   .status = 429,
                   .retry_after_seconds = 1});
    Start(Env({{"ANTHROPIC_API_KEY", "sk-ant-test"},
               {"OPENAI_API_KEY", "sk-openai-test"},
               {"OPENROUTER_API_KEY", "sk-or-test"}}));
    const std::string id = Create({"anthropic:claude-test", "openai:gpt-test"}, 1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << json::serialize(*done);

    auto fallbacks = EventsOfType(id, "agent_fallback");
    ASSERT_FALSE(fallbacks.empty());
    const auto d = DataOf(fallbacks.front());
    EXPECT_EQ(StringOf(d, "from_provider"), "anthropic");
    EXPECT_EQ(StringOf(d, "to_provider"), "openrouter");
    EXPECT_EQ(StringOf(d, "model"), "anthropic/claude-test");
    EXPECT_TRUE(EventsOfType(id, "agent_error").empty()) << "the fallback answered every call";

    bool routed = false;
    for (const auto& r : fake_.Requests()) {
        if (r.path.find("/api/v1/chat/completions") == 0 && r.model == "anthropic/claude-test") {
            routed = true;
            bool bearer = false;
            for (const auto& [k, v] : r.headers) bearer |= v == "Bearer sk-or-test";
            EXPECT_TRUE(bearer);
        }
    }
    EXPECT_TRUE(routed);
    EXPECT_NE(Metrics().find("aragora_agent_fallbacks_total{provider=\"anthropic\"}"),
              std::string::npos);
    EXPECT_NE(server_->Logs().find("agent fallback"), std::string::npos);
}

TEST_F(AgentsTest, HangingProviderTimesOutOpensItsBreakerAndResetClosesIt) {
    fake_.AddRule({.format = "anthropic", .action = FakeAction::kHang});
    Start(Env({{"ANTHROPIC_API_KEY", "sk-ant-test"},
               {"ARAGORA_AGENT_TIMEOUT_SECONDS", "0.2"},
               {"ARAGORA_CIRCUIT_BREAKER_THRESHOLD", "1"},
               {"ARAGORA_DEMO_LATENCY_MS", "5"}}));
    const auto started = Clock::now();
    const std::string id = Create({"anthropic:claude-hang", "demo", "demo"}, 1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << "the demo agents carry on";
    EXPECT_LT(Clock::now() - started, seconds(20));

    auto errors = EventsOfType(id, "agent_error");
    ASSERT_FALSE(errors.empty());
    EXPECT_EQ(StringOf(DataOf(errors.front()), "code"), "timeout");
    // Propose: 1 + 3 attempts timed out, one failed call opens the breaker (threshold 1);
    // the vote's call is skipped at once.
    bool skipped_open = false;
    for (const auto& e : errors) {
        skipped_open |=
            StringOf(DataOf(e), "message").find("circuit breaker open") != std::string::npos;
    }
    EXPECT_TRUE(skipped_open) << "the open breaker skipped the agent";

    auto breakers = Http().Get("/api/agents/circuit-breakers");
    ASSERT_EQ(breakers.status, 200) << breakers.Describe();
    auto b = breakers.Object()["circuit_breakers"].as_object()["anthropic:claude-hang"].as_object();
    EXPECT_EQ(StringOf(b, "state"), "open");
    EXPECT_EQ(breakers.Object()["summary"].as_object()["open"].as_int64(), 1);
    EXPECT_NE(Metrics().find("aragora_circuit_breaker_state{agent=\"anthropic:claude-hang\"} 1"),
              std::string::npos);
    EXPECT_EQ(Http()
                  .Get("/api/v1/health")
                  .Object()["checks"]
                  .as_object()["circuit_breakers"]
                  .as_object()["open"]
                  .as_int64(),
              1);
    EXPECT_NE(server_->Logs().find("circuit_breaker agent=anthropic:claude-hang"),
              std::string::npos);

    // The runbook's reset, by alias and without a body.
    auto reset = Http().Post("/api/agents/claude/reset-circuit");
    ASSERT_EQ(reset.status, 200) << reset.Describe();
    EXPECT_EQ(reset.Object()["reset"].as_array().size(), 1u);
    breakers = Http().Get("/api/system/circuit-breakers");
    b = breakers.Object()["circuit_breakers"].as_object()["anthropic:claude-hang"].as_object();
    EXPECT_EQ(StringOf(b, "state"), "closed");
    EXPECT_NE(Metrics().find("aragora_circuit_breaker_state{agent=\"anthropic:claude-hang\"} 0"),
              std::string::npos);
    ExpectError(Http().Post("/api/agents/nobody/reset-circuit"), 404, "not_found", "unknown");
}

TEST_F(AgentsTest, PersistentlyMalformedRepliesAreRetriedThenRecordedAndSkipped) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kMalformed});
    fake_.AddRule({.format = "gemini", .action = FakeAction::kWrongContentType});
    // The breaker would open after 5 failed attempts and skip the vote's call at once.
    Start(Env({{"OPENAI_API_KEY", "k"},
               {"GEMINI_API_KEY", "k"},
               {"ARAGORA_CIRCUIT_BREAKER_THRESHOLD", "100"}}));
    const std::string id = Create({"openai:gpt-bad", "gemini:gem-html", "demo", "demo"}, 1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed");
    std::set<std::string> failed;
    for (const auto& e : EventsOfType(id, "agent_error")) {
        const auto d = DataOf(e);
        failed.insert(StringOf(d, "agent"));
        EXPECT_EQ(StringOf(d, "code"), "provider_error") << StringOf(d, "message");
    }
    EXPECT_EQ(failed, (std::set<std::string>{"openai:gpt-bad", "gemini:gem-html"}));
    // A malformed reply is retried (ARAGORA_AGENT_MAX_RETRIES, default 3) like a 5xx.
    std::size_t openai_calls = 0;
    for (const auto& r : fake_.Requests()) openai_calls += r.model == "gpt-bad";
    EXPECT_EQ(openai_calls, 8u) << "propose and vote, 1 + 3 attempts each";

    // Not streamed (the agent test does not stream): the same answer.
    auto test = Http().Post("/api/debug/agent-test", R"({"agent": "openai:gpt-bad"})");
    ASSERT_EQ(test.status, 200) << test.Describe();
    EXPECT_FALSE(test.Object()["success"].as_bool());
    EXPECT_EQ(StringOf(test.Object(), "code"), "provider_error");
    EXPECT_EQ(Http().Get("/healthz").status, 200);
}

// Each transient fault a provider sends on a bad day, once, to its own agent: every call
// is retried, the debate completes without an agent_error, and the cut stream's retry
// announces a restart before the new token_start.
TEST_F(AgentsTest, EveryTransientFaultOnceIsRetriedAndTheDebateCompletes) {
    fake_.AddRule({.format = "anthropic",
                   .model = "claude-malformed",
                   .action = FakeAction::kMalformed,
                   .times = 1});
    fake_.AddRule(
        {.format = "openai", .model = "gpt-cut", .action = FakeAction::kCutStream, .times = 1});
    fake_.AddRule({.format = "gemini",
                   .model = "gem-html",
                   .action = FakeAction::kWrongContentType,
                   .times = 1});
    fake_.AddRule({.format = "anthropic",
                   .model = "claude-overloaded",
                   .action = FakeAction::kStatus,
                   .status = 529,
                   .times = 1});
    fake_.AddRule({.format = "openai",
                   .model = "gpt-limited",
                   .action = FakeAction::kStatus,
                   .status = 429,
                   .retry_after_seconds = 1,
                   .times = 1});
    Start(Env({{"ANTHROPIC_API_KEY", "k"}, {"OPENAI_API_KEY", "k"}, {"GEMINI_API_KEY", "k"}}));
    const std::string id =
        Create({"anthropic:claude-malformed", "openai:gpt-cut", "gemini:gem-html",
                "anthropic:claude-overloaded", "openai:gpt-limited"},
               1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << json::serialize(*done);
    EXPECT_TRUE(EventsOfType(id, "agent_error").empty());

    std::map<std::string, json::object> retry_of;
    for (const auto& e : EventsOfType(id, "agent_retry")) {
        const auto d = DataOf(e);
        EXPECT_FALSE(retry_of.count(StringOf(d, "agent"))) << "one retry per agent";
        retry_of[StringOf(d, "agent")] = d;
    }
    const std::map<std::string, std::string> expected = {
        {"anthropic:claude-malformed", "stream_malformed"},
        {"openai:gpt-cut", "stream_cut"},
        {"gemini:gem-html", "not_provider_format"},
        {"anthropic:claude-overloaded", "overloaded"},
        {"openai:gpt-limited", "rate_limited"},
    };
    for (const auto& [agent, fault] : expected) {
        ASSERT_TRUE(retry_of.count(agent)) << agent;
        EXPECT_EQ(StringOf(retry_of[agent], "fault"), fault) << agent;
        EXPECT_EQ(StringOf(retry_of[agent], "phase"), "propose") << agent;
    }
    // Retry-After: 1 s asked, capped at ARAGORA_AGENT_RETRY_CAP_MS (50).
    EXPECT_EQ(retry_of["openai:gpt-limited"]["delay_ms"].as_int64(), 50);
    // Statuses and a page without events stream nothing: nothing to restart.
    EXPECT_FALSE(retry_of["anthropic:claude-overloaded"]["restart"].as_bool());
    EXPECT_FALSE(retry_of["gemini:gem-html"]["restart"].as_bool());
    EXPECT_TRUE(retry_of["openai:gpt-cut"]["restart"].as_bool());
    EXPECT_GT(retry_of["openai:gpt-cut"]["discarded_tokens"].as_int64(), 0);

    // The cut agent's propose stream, in seq order: start, void text, the restart, a new
    // start, then exactly the text of the message.
    std::vector<std::string> order;
    std::string after_restart;
    for (const auto& e : AllEvents(Http(), id)) {
        const auto d = DataOf(e);
        if (StringOf(d, "agent") != "openai:gpt-cut") continue;
        const std::string type = StringOf(e, "type");
        if (type == "agent_retry") {
            order.push_back(type);
            continue;
        }
        if (type.rfind("token_", 0) != 0 || StringOf(d, "phase") != "propose") continue;
        if (order.empty() || order.back() != type) order.push_back(type);
        if (type == "token_start") after_restart.clear();
        if (type == "token_delta") after_restart += StringOf(d, "delta");
    }
    EXPECT_EQ(order, (std::vector<std::string>{"token_start", "token_delta", "agent_retry",
                                               "token_start", "token_delta", "token_end"}));
    std::string content;
    for (const auto& m : EventsOfType(id, "agent_message")) {
        const auto d = DataOf(m);
        if (StringOf(d, "agent") == "openai:gpt-cut" && StringOf(d, "role") == "proposer")
            content = StringOf(d, "content");
    }
    ASSERT_FALSE(content.empty());
    EXPECT_EQ(after_restart.find(content.substr(0, 40)), 0u)
        << "the text after the restart is the reply, without the void part:\n"
        << after_restart;
}

// Hedging on, a fixed hedge delay: the first attempt of one agent is held 30 s by the
// fake; a second attempt after 300 ms answers, the held one is cancelled.
TEST_F(AgentsTest, AHedgedCallAnswersForAHeldFirstAttempt) {
    fake_.AddRule(
        {.format = "openai", .model = "gpt-slow", .latency = milliseconds(30'000), .times = 1});
    Start(Env({{"OPENAI_API_KEY", "k"},
               {"ARAGORA_AGENT_HEDGE_ENABLED", "true"},
               {"ARAGORA_AGENT_HEDGE_AFTER_MS", "300"}}));
    const auto start = Clock::now();
    const std::string id = Create({"openai:gpt-slow", "demo", "demo"}, 1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << json::serialize(*done);
    EXPECT_LT(Clock::now() - start, seconds(25)) << "the held attempt was not waited for";
    EXPECT_TRUE(EventsOfType(id, "agent_error").empty());
    EXPECT_TRUE(EventsOfType(id, "agent_retry").empty()) << "a hedge is not a retry";
    const std::string metrics = Metrics();
    EXPECT_NE(metrics.find("aragora_agent_hedges_total{provider=\"openai\",outcome=\"hedge_won\"}"),
              std::string::npos)
        << metrics.substr(0, 2000);
    // The held attempt's connection was closed by the server (the fake saw it leave).
    EXPECT_FALSE(fake_.ClientAborts().empty());
}

TEST_F(AgentsTest, ServerErrorsAndCutStreamsAreRetried) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 500, .times = 1});
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 529, .times = 1});
    fake_.AddRule({.format = "anthropic", .action = FakeAction::kCutStream, .times = 1});
    Start(Env({{"OPENAI_API_KEY", "k"}, {"ANTHROPIC_API_KEY", "k"}}));
    const std::string id = Create({"openai:gpt-flaky", "anthropic:claude-cut"}, 1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << json::serialize(*done);
    EXPECT_TRUE(EventsOfType(id, "agent_error").empty());
    std::map<std::string, int> retries;
    for (const auto& e : EventsOfType(id, "agent_retry")) ++retries[StringOf(DataOf(e), "agent")];
    EXPECT_EQ(retries["openai:gpt-flaky"], 2);
    EXPECT_EQ(retries["anthropic:claude-cut"], 1);
}

TEST_F(AgentsTest, CancelDuringAStreamingCallClosesTheProviderSocketAtOnce) {
    std::string long_text;
    for (int i = 0; i < 400; ++i) long_text += "word" + std::to_string(i) + " ";
    fake_.AddRule({.format = "anthropic", .text = long_text});
    fake_.AddRule({.format = "openai", .text = long_text});
    fake_.SetTokenDelay(milliseconds(50));
    Start(Env({{"ANTHROPIC_API_KEY", "k"}, {"OPENAI_API_KEY", "k"}}));
    const std::string id = Create({"anthropic:claude-long", "openai:gpt-long"}, 1);
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(PollUntil([&] { return EventsOfType(id, "token_delta").size() >= 4; }, seconds(20)))
        << "the agents never streamed";
    ASSERT_TRUE(fake_.ClientAborts().empty());

    const auto cancel_sent = Clock::now();
    auto cancel = Http().Post("/api/v1/debates/" + id + "/cancel");
    ASSERT_EQ(cancel.status, 200) << cancel.Describe();
    ASSERT_TRUE(PollUntil([&] { return fake_.ClientAborts().size() >= 2; }, seconds(5)))
        << "the provider sockets stayed open";
    for (const auto& at : fake_.ClientAborts()) {
        const auto ms = std::chrono::duration_cast<milliseconds>(at - cancel_sent).count();
        EXPECT_LE(ms, 100) << "socket closed " << ms << " ms after the cancel was sent";
        std::cerr << "provider socket closed " << ms << " ms after the cancel was sent\n";
    }
    auto got = Http().Get("/api/v1/debates/" + id).Object();
    EXPECT_EQ(StringOf(got, "status"), "cancelled");
}

TEST_F(AgentsTest, ProviderWithoutKeyIsRefusedNamingTheKey) {
    Start(Env());
    auto r = Http().Post("/api/v1/debates",
                         R"({"task": "t", "agents": ["claude", "demo"], "rounds": 1})");
    ExpectError(r, 400, "validation_error", "missing key");
    EXPECT_NE(StringOf(r.Object(), "error").find("ANTHROPIC_API_KEY"), std::string::npos) << r.body;
    EXPECT_EQ(fake_.RequestCount(), 0u);

    // The CLI: exit 2 and one line naming the key.
    auto env = ServerEnv(dir_.path() + "/cli", Env());
    auto cli = RunProcess({ARAGORA_BINARY, "ask", "Cache replies?", "--agents", "gpt-4,demo"}, env);
    EXPECT_EQ(cli.exit_code, 2) << cli.err;
    EXPECT_NE(cli.err.find("OPENAI_API_KEY"), std::string::npos) << cli.err;
}

TEST_F(AgentsTest, CliAskRunsProviderAgentsAndWritesAVerifiableReceipt) {
    auto env =
        ServerEnv(dir_.path() + "/cli", Env({{"ANTHROPIC_API_KEY", "k"}, {"OPENAI_API_KEY", "k"}}));
    const std::string receipt = dir_.path() + "/receipt.json";
    auto cli = RunProcess({ARAGORA_BINARY, "ask", "Cache replies?", "--agents",
                           "claude,gpt-4@skeptic", "--rounds", "1", "--receipt", receipt},
                          env);
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    std::set<std::string> formats;
    for (const auto& r : fake_.Requests()) formats.insert(r.format);
    EXPECT_EQ(formats, (std::set<std::string>{"anthropic", "openai"}));
    auto verify = RunProcess({ARAGORA_BINARY, "receipt", "verify", receipt}, env);
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(ReadAll(receipt).find("skeptic"), std::string::npos);
}

TEST_F(AgentsTest, OpenRouterKeyAloneRunsDirectProvidersThroughIt) {
    Start(Env({{"OPENROUTER_API_KEY", "sk-or"}}));
    const std::string id = Create({"claude", "gpt-4"}, 1);
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "completed") << json::serialize(*done);
    for (const auto& r : fake_.Requests()) {
        EXPECT_EQ(r.path.rfind("/api/v1/chat/completions", 0), 0u) << r.path;
    }
    EXPECT_FALSE(EventsOfType(id, "agent_fallback").empty());
}

TEST_F(AgentsTest, AgentTestAndConnectivityCheckAsTheRunbookSendsThem) {
    fake_.AddRule({.format = "gemini", .action = FakeAction::kStatus, .status = 401});
    Start(Env({{"ANTHROPIC_API_KEY", "k"}, {"GEMINI_API_KEY", "bad"}}));
    // curl -X POST .../api/debug/agent-test -d '{"agent":"claude"}' (form content type).
    auto r = Http().Post("/api/debug/agent-test", R"({"agent":"claude"})",
                         {{"Content-Type", "application/x-www-form-urlencoded"}});
    ASSERT_EQ(r.status, 200) << r.Describe();
    auto o = r.Object();
    EXPECT_TRUE(o["success"].as_bool()) << r.body;
    EXPECT_EQ(StringOf(o, "provider"), "anthropic");
    EXPECT_FALSE(StringOf(o, "response").empty());
    EXPECT_GT(NumberOf(o["latency_ms"]), 0);
    EXPECT_GT(o["tokens"].as_object()["output"].as_int64(), 0);
    EXPECT_EQ(fake_.Requests().back().body.find("Say hello") != std::string::npos, true);

    auto unknown = Http().Post("/api/debug/agent-test", R"({"agent":"nosuch"})");
    ExpectError(unknown, 400, "validation_error", "unknown agent");
    ExpectError(Http().Post("/api/debug/agent-test", R"({"prompt":"hi"})"), 400, "validation_error",
                "no agent");
    auto nokey = Http().Post("/api/debug/agent-test", R"({"agent":"grok"})");
    ASSERT_EQ(nokey.status, 200);
    EXPECT_FALSE(nokey.Object()["success"].as_bool());
    EXPECT_NE(StringOf(nokey.Object(), "error").find("XAI_API_KEY"), std::string::npos);

    auto c = Http().Post("/api/debug/connectivity-check");
    ASSERT_EQ(c.status, 200) << c.Describe();
    auto body = c.Object();
    EXPECT_EQ(StringOf(body, "status"), "degraded") << c.body;
    std::map<std::string, json::object> by;
    for (const auto& p : body["providers"].as_array())
        by[StringOf(p.as_object(), "provider")] = p.as_object();
    ASSERT_EQ(by.size(), 2u) << c.body;
    auto& a = by["anthropic"];
    EXPECT_TRUE(a["ok"].as_bool()) << json::serialize(a);
    EXPECT_TRUE(a["dns"].as_object()["ok"].as_bool());
    EXPECT_TRUE(a["tcp"].as_object()["ok"].as_bool());
    EXPECT_FALSE(a["tls"].as_object()["attempted"].as_bool()) << "plain http to the fake";
    EXPECT_EQ(a["auth"].as_object()["status"].as_int64(), 200);
    auto& g = by["gemini"];
    EXPECT_FALSE(g["ok"].as_bool());
    EXPECT_EQ(g["auth"].as_object()["status"].as_int64(), 401);

    auto health = Http().Get("/health").Object();
    auto keys = health["checks"].as_object()["api_keys"].as_object();
    EXPECT_EQ(StringOf(keys, "status"), "ok");
}

// The process-wide provider connection budget (ARAGORA_PROVIDER_CONNECTIONS): a call
// beyond it waits instead of failing; when the wait queue is full a new provider debate
// is refused with 503 + Retry-After; a cancelled debate gives its connection and its
// queue place back.
TEST_F(AgentsTest, ProviderConnectionBudgetQueuesCallsAndRefusesDebatesWhenFull) {
    fake_.SetDefaultLatency(milliseconds(30'000));  // every call is held until cancelled
    Start(Env({{"ANTHROPIC_API_KEY", "sk-ant-test"},
               {"OPENAI_API_KEY", "sk-openai-test"},
               {"ARAGORA_PROVIDER_CONNECTIONS", "1"},
               {"ARAGORA_PROVIDER_CALL_QUEUE_MAX", "1"},
               {"ARAGORA_MAX_PARALLEL_AGENT_CALLS", "2"}}));
    const std::string first = Create({"claude", "openai"}, 1);
    ASSERT_FALSE(first.empty());
    // Its two proposals: one holds the only connection, the other waits.
    const auto until = Clock::now() + seconds(30);
    std::string metrics;
    while (Clock::now() < until) {
        metrics = Metrics();
        // The permit is taken before the connection: wait for the held call's request too.
        if (metrics.find("\naragora_provider_calls_waiting 1\n") != std::string::npos &&
            fake_.RequestCount() >= 1)
            break;
        std::this_thread::sleep_for(milliseconds(20));
    }
    ASSERT_NE(metrics.find("\naragora_provider_calls_in_flight 1\n"), std::string::npos) << metrics;
    ASSERT_NE(metrics.find("\naragora_provider_calls_waiting 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\naragora_provider_connections_limit 1\n"), std::string::npos);
    EXPECT_EQ(fake_.RequestCount(), 1u) << "the waiting call opened no connection";

    const std::string body =
        R"({"task":"Should we cache provider replies?","rounds":1,"agents":["claude","openai"]})";
    auto refused = Http().Post("/api/v1/debates", body);
    EXPECT_EQ(refused.status, 503) << refused.Describe();
    EXPECT_TRUE(refused.Header("Retry-After").has_value()) << refused.Describe();
    auto error = json::parse(refused.body).as_object();
    EXPECT_NE(json::serialize(error).find("provider connections"), std::string::npos)
        << refused.body;
    EXPECT_NE(Metrics().find(R"(aragora_debates_rejected_total{reason="provider_connections"} 1)"),
              std::string::npos);
    // Demo debates hold no provider connection: still accepted.
    EXPECT_FALSE(Create({"demo", "demo"}, 1).empty());

    // Cancelling the debate frees the connection and the queue place.
    auto cancel = Http().Post("/api/v1/debates/" + first + "/cancel");
    ASSERT_EQ(cancel.status, 200) << cancel.Describe();
    ASSERT_TRUE(WaitForStatus(Http(), first, {"cancelled"}));
    const auto freed_until = Clock::now() + seconds(30);
    while (Clock::now() < freed_until) {
        metrics = Metrics();
        if (metrics.find("\naragora_provider_calls_in_flight 0\n") != std::string::npos &&
            metrics.find("\naragora_provider_calls_waiting 0\n") != std::string::npos)
            break;
        std::this_thread::sleep_for(milliseconds(20));
    }
    EXPECT_NE(metrics.find("\naragora_provider_calls_in_flight 0\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\naragora_provider_calls_waiting 0\n"), std::string::npos);
    auto accepted = Http().Post("/api/v1/debates", body);
    EXPECT_TRUE(accepted.status == 200 || accepted.status == 201) << accepted.Describe();
}

}  // namespace
}  // namespace aragora::testing
