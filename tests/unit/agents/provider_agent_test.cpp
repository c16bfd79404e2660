// ProviderAgent against the fake LLM provider (real wire formats on loopback): replies,
// streaming, retries, OpenRouter fallback, missing keys, and the circuit breaker on a
// manual clock (open after the threshold, half-open after the cooldown, closed by a
// successful probe).

#include "agents/provider_agent.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <map>

#include "fake_llm/fake_llm.hpp"

namespace aragora::agents {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using testing::FakeAction;
using testing::FakeRule;
using ::testing::HasSubstr;

class ProviderAgentTest : public ::testing::Test {
protected:
    ProviderAgentTest()
        : client_(ioc_),
          breakers_(clock_,
                    {.breaker = {.failure_threshold = 3, .cooldown = std::chrono::seconds(60)}}) {
        env_["ANTHROPIC_API_KEY"] = "sk-ant";
        env_["OPENAI_API_KEY"] = "sk-oai";
        env_["GEMINI_API_KEY"] = "gem";
        for (const char* v : {"ARAGORA_ANTHROPIC_BASE_URL", "ARAGORA_OPENAI_BASE_URL",
                              "ARAGORA_GEMINI_BASE_URL", "ARAGORA_OPENROUTER_BASE_URL"})
            env_[v] = fake_.base_url();
    }

    ProviderContext Context(int max_retries = 2) {
        ProviderCallSettings s;
        s.attempt_timeout = std::chrono::milliseconds(2000);
        s.retry = {std::chrono::milliseconds(1), std::chrono::milliseconds(5), max_retries};
        auto env = [this](std::string_view k) -> std::optional<std::string> {
            auto it = env_.find(std::string(k));
            if (it == env_.end()) return std::nullopt;
            return it->second;
        };
        return ProviderContext{&client_, env, &breakers_,
                               nullptr,  s,   resilience::Backoff(s.retry, [] { return 0.5; })};
    }

    common::Result<AgentReply> Run(Agent& agent, AgentRequest req) {
        auto fut = asio::co_spawn(ioc_, agent.Call(req), asio::use_future);
        ioc_.restart();
        ioc_.run();
        return fut.get();
    }

    static AgentRequest Request(bool stream, std::vector<std::string>* tokens = nullptr,
                                std::vector<std::string>* events = nullptr) {
        AgentRequest r;
        r.prompt = "Propose a caching policy.";
        r.system_prompt = "Be brief.";
        if (stream) r.on_token = [tokens](std::string_view d) { tokens->emplace_back(d); };
        if (events) {
            r.on_event = [events](const AgentNotice& notice) {
                std::visit([events](const auto& n) { events->emplace_back(n.kType); }, notice);
            };
        }
        return r;
    }

    testing::FakeLlmServer fake_;
    asio::io_context ioc_;
    net::HttpClient client_;
    common::ManualClock clock_;
    resilience::CircuitBreakerRegistry breakers_;
    std::map<std::string, std::string> env_;
};

TEST_F(ProviderAgentTest, EachFormatAnswersWithTextAndUsage) {
    auto ctx = Context();
    for (auto [provider, model] : {std::pair{wire::Provider::kAnthropic, "claude-t"},
                                   std::pair{wire::Provider::kOpenAi, "gpt-t"},
                                   std::pair{wire::Provider::kGemini, "gem-t"}}) {
        ProviderAgent agent("a", provider, model, ctx);
        auto r = Run(agent, Request(false));
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_THAT(r->text, HasSubstr("Confidence: 0.8"));
        EXPECT_GT(r->usage.input_tokens, 0);
        EXPECT_GT(r->usage.output_tokens, 0);
        EXPECT_FALSE(fake_.Requests().back().stream);
        EXPECT_EQ(fake_.Requests().back().model, model);
    }
}

TEST_F(ProviderAgentTest, StreamedTokensAddUpToTheReply) {
    auto ctx = Context();
    ProviderAgent agent("a", wire::Provider::kAnthropic, "claude-t", ctx);
    std::vector<std::string> tokens;
    auto r = Run(agent, Request(true, &tokens));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(fake_.Requests().back().stream);
    ASSERT_FALSE(tokens.empty());
    std::string joined;
    for (const auto& t : tokens) joined += t;
    EXPECT_EQ(joined, r->text);
    EXPECT_GT(r->usage.output_tokens, 0);
}

TEST_F(ProviderAgentTest, ServerErrorsAreRetriedThenSucceed) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 503, .times = 2});
    auto ctx = Context(2);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
    std::vector<std::string> events;
    auto r = Run(agent, Request(false, nullptr, &events));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(fake_.RequestCount(), 3u);
    EXPECT_EQ(events, (std::vector<std::string>{"agent_retry", "agent_retry"}));
}

TEST_F(ProviderAgentTest, RetriesStopAtTheLimit) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 529});
    auto ctx = Context(1);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    EXPECT_THAT(r.error().message, HasSubstr("529"));
    EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(ProviderAgentTest, AuthErrorsAreNotRetriedWithoutFallback) {
    fake_.AddRule({.format = "anthropic", .action = FakeAction::kStatus, .status = 401});
    auto ctx = Context();
    ProviderAgent agent("a", wire::Provider::kAnthropic, "claude-t", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(ProviderAgentTest, RateLimitFallsBackToOpenRouterWithTheMappedModel) {
    fake_.AddRule({.format = "anthropic",
                   .action = FakeAction::kStatus,
                   .status = 429,
                   .retry_after_seconds = 30});
    env_["OPENROUTER_API_KEY"] = "sk-or";
    auto ctx = Context();
    ProviderAgent agent("a", wire::Provider::kAnthropic, "claude-sonnet-4-20250514", ctx);
    std::vector<std::string> events;
    auto r = Run(agent, Request(false, nullptr, &events));
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto reqs = fake_.Requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[1].path, "/api/v1/chat/completions");
    EXPECT_EQ(reqs[1].model, "anthropic/claude-sonnet-4");
    EXPECT_EQ(events, std::vector<std::string>{"agent_fallback"});
}

TEST_F(ProviderAgentTest, MissingKeyIsAValidationErrorUnlessOpenRouterAnswers) {
    env_.erase("OPENAI_API_KEY");
    auto ctx = Context();
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kValidation);
    EXPECT_THAT(r.error().message, HasSubstr("OPENAI_API_KEY"));
    EXPECT_EQ(fake_.RequestCount(), 0u);

    env_["OPENROUTER_API_KEY"] = "sk-or";
    auto via = Run(agent, Request(false));
    ASSERT_TRUE(via.ok()) << via.error().message;
    EXPECT_EQ(fake_.Requests().back().model, "openai/gpt-t");
}

TEST_F(ProviderAgentTest, KeysAreReadAtEachCall) {
    auto ctx = Context();
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
    ASSERT_TRUE(Run(agent, Request(false)).ok());
    env_["OPENAI_API_KEY"] = "sk-rotated";
    ASSERT_TRUE(Run(agent, Request(false)).ok());
    bool rotated = false;
    const auto requests = fake_.Requests();
    for (const auto& [k, v] : requests.back().headers) rotated |= v == "Bearer sk-rotated";
    EXPECT_TRUE(rotated);
}

TEST_F(ProviderAgentTest, MalformedReplyIsAnErrorAndNotRetried) {
    fake_.AddRule({.format = "gemini", .action = FakeAction::kMalformed});
    auto ctx = Context();
    ProviderAgent agent("a", wire::Provider::kGemini, "gem-t", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    EXPECT_THAT(r.error().message, HasSubstr("malformed"));
    EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(ProviderAgentTest, BreakerOpensSkipsAtOnceAndRecoversAfterTheCooldown) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 500, .times = 3});
    auto ctx = Context(0);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-b", ctx);
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(Run(agent, Request(false)).ok());
    auto* breaker = breakers_.Find("openai:gpt-b");
    ASSERT_NE(breaker, nullptr);
    EXPECT_EQ(breaker->State(), resilience::CircuitState::kOpen);

    auto skipped = Run(agent, Request(false));
    ASSERT_FALSE(skipped.ok());
    EXPECT_EQ(skipped.error().code, ErrorCode::kUnavailable);
    EXPECT_THAT(skipped.error().message, HasSubstr("circuit breaker open"));
    EXPECT_EQ(fake_.RequestCount(), 3u) << "an open breaker sends nothing";

    clock_.Advance(std::chrono::seconds(61));
    EXPECT_EQ(breaker->State(), resilience::CircuitState::kHalfOpen);
    ASSERT_TRUE(Run(agent, Request(false)).ok());  // the probe, now answered
    EXPECT_EQ(breaker->State(), resilience::CircuitState::kClosed);
}

}  // namespace
}  // namespace aragora::agents
