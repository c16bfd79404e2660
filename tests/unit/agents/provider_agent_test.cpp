// ProviderAgent against the fake LLM provider (real wire formats on loopback): replies,
// streaming, retries, OpenRouter fallback, missing keys, and the circuit breaker on a
// manual clock (open after the threshold, half-open after the cooldown, closed by a
// successful probe).

#include "agents/provider_agent.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
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

// A request with render_prompt (the engine's form for an agent that reads only the
// prompt): each attempt renders the prompt and sends it byte for byte as a request with
// `prompt` set would.
TEST_F(ProviderAgentTest, APromptRenderedOnDemandIsRenderedPerAttemptAndSentAsIs) {
    EXPECT_TRUE(ProviderAgent("a", wire::Provider::kOpenAi, "gpt-t", Context()).ReadsPromptOnly());
    auto ctx = Context(2);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_TRUE(r.ok()) << r.error().message;
    const std::string body_with_prompt = fake_.Requests().back().body;

    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 503, .times = 1});
    int renders = 0;
    AgentRequest req = Request(false);
    const std::string prompt = req.prompt;
    req.prompt.clear();
    req.render_prompt = [&renders, &prompt] {
        ++renders;
        return prompt;
    };
    auto r2 = Run(agent, req);
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    EXPECT_EQ(renders, 2);  // the 503 attempt and the retry
    EXPECT_EQ(fake_.Requests().back().body, body_with_prompt);
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

// Every transient fault the fake can produce, once, for each format, plain and streamed:
// the call is retried and answers.
TEST_F(ProviderAgentTest, EveryTransientFaultIsRetriedOnceAndTheCallAnswers) {
    struct Case {
        FakeRule rule;
        std::string_view fault;  // the agent_retry's `fault`
    };
    const std::vector<Case> cases = {
        {{.action = FakeAction::kMalformed, .times = 1}, ""},
        {{.action = FakeAction::kCutStream, .times = 1}, "stream_cut"},
        {{.action = FakeAction::kWrongContentType, .times = 1}, "not_provider_format"},
        {{.action = FakeAction::kStatus, .status = 529, .times = 1}, "overloaded"},
        {{.action = FakeAction::kStatus, .status = 500, .times = 1}, "server_error"},
        {{.action = FakeAction::kStatus, .status = 502, .times = 1}, "server_error"},
        {{.action = FakeAction::kStatus, .status = 503, .times = 1}, "overloaded"},
        {{.action = FakeAction::kStatus, .status = 504, .times = 1}, "server_error"},
        {{.action = FakeAction::kStatus, .status = 429, .retry_after_seconds = 0, .times = 1},
         "rate_limited"},
    };
    auto ctx = Context(1);
    for (auto [provider, format] : {std::pair{wire::Provider::kAnthropic, "anthropic"},
                                    std::pair{wire::Provider::kOpenAi, "openai"},
                                    std::pair{wire::Provider::kGemini, "gemini"}}) {
        for (bool stream : {false, true}) {
            for (const auto& c : cases) {
                SCOPED_TRACE(std::string(format) + (stream ? " streamed " : " plain ") +
                             std::to_string(static_cast<int>(c.rule.action)) + " " +
                             std::to_string(c.rule.status));
                fake_.ClearRules();
                fake_.ResetRecords();
                FakeRule rule = c.rule;
                rule.format = format;
                fake_.AddRule(rule);
                ProviderAgent agent("a", provider, "m-" + std::string(format), ctx);
                std::vector<std::string> tokens;
                std::vector<events::AgentRetry> retries;
                AgentRequest req = Request(stream, &tokens);
                req.phase = Phase::kCritique;
                req.on_event = [&retries](const AgentNotice& n) {
                    if (auto* r = std::get_if<events::AgentRetry>(&n)) retries.push_back(*r);
                };
                auto r = Run(agent, req);
                ASSERT_TRUE(r.ok()) << r.error().message;
                if (stream && c.rule.action == FakeAction::kMalformed && format == "gemini") {
                    // The fake's broken Gemini event follows a first event that already
                    // holds finishReason: the reply was complete, nothing to retry.
                    EXPECT_EQ(fake_.RequestCount(), 1u);
                    continue;
                }
                EXPECT_EQ(fake_.RequestCount(), 2u);
                ASSERT_EQ(retries.size(), 1u);
                const std::string_view expected = !c.fault.empty() ? c.fault
                                                  : stream
                                                      ? std::string_view("stream_malformed")
                                                      : std::string_view("not_provider_format");
                EXPECT_EQ(retries[0].fault, expected);
                EXPECT_EQ(retries[0].phase, "critique");
                if (stream) {
                    // What on_token gave after the last restart is the reply.
                    std::string after;
                    for (auto i = static_cast<std::size_t>(retries[0].discarded_tokens);
                         i < tokens.size(); ++i) {
                        after += tokens[i];
                    }
                    EXPECT_EQ(after, r->text);
                    EXPECT_EQ(retries[0].restart, retries[0].discarded_tokens > 0);
                } else {
                    EXPECT_FALSE(retries[0].restart);
                }
            }
        }
    }
}

TEST_F(ProviderAgentTest, ACutStreamThatEmittedTextIsAnnouncedAsARestart) {
    fake_.AddRule({.format = "anthropic", .action = FakeAction::kCutStream, .times = 1});
    auto ctx = Context(1);
    ProviderAgent agent("a", wire::Provider::kAnthropic, "claude-t", ctx);
    // Tokens and notices in one sequence, as the engine sees them.
    std::vector<std::string> seen;
    AgentRequest req = Request(true);
    req.on_token = [&seen](std::string_view d) { seen.push_back("tok:" + std::string(d)); };
    req.on_event = [&seen](const AgentNotice& n) {
        if (auto* r = std::get_if<events::AgentRetry>(&n)) {
            seen.push_back("retry:restart=" + std::to_string(r->restart) +
                           ",discarded=" + std::to_string(r->discarded_tokens) + "," + r->fault);
        }
        EXPECT_TRUE(RestartsStream(n));
    };
    auto r = Run(agent, req);
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::size_t notice = 0;
    while (notice < seen.size() && seen[notice].rfind("retry:", 0) != 0) ++notice;
    ASSERT_LT(notice, seen.size());
    ASSERT_GT(notice, 0u) << "the cut attempt streamed text first";
    EXPECT_EQ(seen[notice], "retry:restart=1,discarded=" + std::to_string(notice) + ",stream_cut");
    std::string after;
    for (std::size_t i = notice + 1; i < seen.size(); ++i) after += seen[i].substr(4);
    EXPECT_EQ(after, r->text);
}

TEST_F(ProviderAgentTest, AnAttemptThatTimesOutIsRetried) {
    fake_.AddRule({.format = "anthropic", .action = FakeAction::kHang, .times = 1});
    auto ctx = Context(1);
    ctx.settings.attempt_timeout = std::chrono::milliseconds(150);
    ProviderAgent agent("a", wire::Provider::kAnthropic, "claude-t", ctx);
    std::vector<events::AgentRetry> retries;
    std::vector<std::string> tokens;
    AgentRequest req = Request(true, &tokens);
    req.on_event = [&retries](const AgentNotice& n) {
        if (auto* r = std::get_if<events::AgentRetry>(&n)) retries.push_back(*r);
    };
    auto r = Run(agent, req);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(retries.size(), 1u);
    EXPECT_EQ(retries[0].fault, "timeout");
    EXPECT_FALSE(retries[0].restart);
}

TEST_F(ProviderAgentTest, RetryAfterIsHonouredUpToTheCap) {
    fake_.AddRule({.format = "openai",
                   .action = FakeAction::kStatus,
                   .status = 429,
                   .retry_after_seconds = 7,
                   .times = 1});
    auto ctx = Context(1);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
    std::vector<events::AgentRetry> retries;
    AgentRequest req = Request(false);
    req.on_event = [&retries](const AgentNotice& n) {
        if (auto* r = std::get_if<events::AgentRetry>(&n)) retries.push_back(*r);
    };
    auto r = Run(agent, req);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(retries.size(), 1u);
    // 7 s asked, the backoff cap (5 ms here) bounds it; the jittered backoff alone is 0.
    EXPECT_EQ(retries[0].delay_ms, 5);
    EXPECT_EQ(retries[0].fault, "rate_limited");
}

TEST_F(ProviderAgentTest, RequestErrorsAreNotRetried) {
    for (int status : {400, 404}) {
        fake_.ClearRules();
        fake_.ResetRecords();
        fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = status});
        auto ctx = Context(2);
        ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-t", ctx);
        std::vector<std::string> events;
        auto r = Run(agent, Request(false, nullptr, &events));
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
        EXPECT_EQ(fake_.RequestCount(), 1u) << status;
        EXPECT_TRUE(events.empty());
    }
}

TEST_F(ProviderAgentTest, MalformedRepliesAreRetriedUpToTheLimit) {
    fake_.AddRule({.format = "gemini", .action = FakeAction::kMalformed});
    auto ctx = Context(2);
    ProviderAgent agent("a", wire::Provider::kGemini, "gem-t", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    EXPECT_THAT(r.error().message, HasSubstr("malformed"));
    EXPECT_EQ(fake_.RequestCount(), 3u);
}

// Hedging: the first attempt is held (latency rule, once); the hedge after 30 ms answers
// and wins, the held one is cancelled (its connection closed), one breaker success.
TEST_F(ProviderAgentTest, AHedgeAnswersForASlowFirstAttempt) {
    for (bool stream : {false, true}) {
        SCOPED_TRACE(stream);
        fake_.ClearRules();
        fake_.ResetRecords();
        fake_.AddRule(
            {.format = "openai", .latency = std::chrono::milliseconds(20'000), .times = 1});
        metrics::Registry registry;
        AgentMetrics m(registry);
        LatencyWindows windows;
        auto ctx = Context(0);
        ctx.metrics = &m;
        ctx.latencies = &windows;
        ctx.settings.hedge.enabled = true;
        ctx.settings.hedge.after = std::chrono::milliseconds(30);
        ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-h", ctx);
        std::vector<std::string> tokens;
        const auto start = std::chrono::steady_clock::now();
        auto r = Run(agent, Request(stream, &tokens));
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
        EXPECT_EQ(fake_.RequestCount(), 2u);
        EXPECT_EQ(m.hedges.WithLabels({"openai", "hedge_won"}).Value(), 1);
        EXPECT_EQ(m.attempts.WithLabels({"openai", "ok"}).Value(), 1);
        if (stream) {
            std::string joined;
            for (const auto& t : tokens) joined += t;
            EXPECT_EQ(joined, r->text);
        }
        EXPECT_EQ(windows.Count("openai"), 1u);
        EXPECT_EQ(breakers_.Find("openai:gpt-h")->State(), resilience::CircuitState::kClosed);
        // The held attempt's connection was closed (the fake noticed the client leave).
        for (int i = 0; i < 200 && fake_.ClientAborts().empty(); ++i) {
            asio::steady_timer t(ioc_, std::chrono::milliseconds(10));
            t.async_wait([](auto) {});
            ioc_.restart();
            ioc_.run();
        }
        EXPECT_EQ(fake_.ClientAborts().size(), 1u);
    }
}

TEST_F(ProviderAgentTest, NoHedgeWhenTheFirstAttemptAnswersInTime) {
    metrics::Registry registry;
    AgentMetrics m(registry);
    auto ctx = Context(0);
    ctx.metrics = &m;
    ctx.settings.hedge.enabled = true;
    ctx.settings.hedge.after = std::chrono::milliseconds(60'000);
    ProviderAgent agent("a", wire::Provider::kAnthropic, "claude-h", ctx);
    std::vector<std::string> tokens;
    auto r = Run(agent, Request(true, &tokens));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(fake_.RequestCount(), 1u);
    EXPECT_EQ(m.hedges.WithLabels({"anthropic", "hedge_won"}).Value(), 0);
    EXPECT_EQ(m.hedges.WithLabels({"anthropic", "primary_won"}).Value(), 0);
}

TEST_F(ProviderAgentTest, AFailedPrimaryBeforeTheHedgeDelayIsRetriedNotHedged) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 500, .times = 1});
    metrics::Registry registry;
    AgentMetrics m(registry);
    auto ctx = Context(1);
    ctx.metrics = &m;
    ctx.settings.hedge.enabled = true;
    ctx.settings.hedge.after = std::chrono::milliseconds(60'000);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-f", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(fake_.RequestCount(), 2u);
    EXPECT_EQ(m.retries.WithLabels({"openai"}).Value(), 1);
}

// The breaker (threshold 3 here) counts calls: faults the retries heal are no failure,
// a call that fails for good is one.
TEST_F(ProviderAgentTest, FaultsTheRetriesHealDoNotOpenTheBreaker) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 529, .times = 3});
    auto ctx = Context(3);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-heal", ctx);
    auto r = Run(agent, Request(false));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(fake_.RequestCount(), 4u);
    EXPECT_EQ(breakers_.Find("openai:gpt-heal")->State(), resilience::CircuitState::kClosed);
}

TEST_F(ProviderAgentTest, ACallThatFailsForGoodIsOneBreakerFailure) {
    fake_.AddRule({.format = "openai", .action = FakeAction::kStatus, .status = 500});
    auto ctx = Context(1);
    ProviderAgent agent("a", wire::Provider::kOpenAi, "gpt-down", ctx);
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(Run(agent, Request(false)).ok());
    auto* breaker = breakers_.Find("openai:gpt-down");
    EXPECT_EQ(fake_.RequestCount(), 4u);
    EXPECT_EQ(breaker->State(), resilience::CircuitState::kClosed) << "2 calls, 4 attempts";
    EXPECT_FALSE(Run(agent, Request(false)).ok());
    EXPECT_EQ(breaker->State(), resilience::CircuitState::kOpen) << "the 3rd failed call";
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
