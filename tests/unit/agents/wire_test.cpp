#include "agents/wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_text.hpp"

namespace aragora::agents::wire {
namespace {

namespace json = boost::json;
using common::ErrorCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// The value of header `name` (any case); nullopt when absent; fails on duplicates.
std::optional<std::string> Header(const net::ClientRequest& r, std::string_view name) {
    std::optional<std::string> found;
    for (const auto& [k, v] : r.headers) {
        if (Lower(k) != Lower(name)) continue;
        EXPECT_FALSE(found.has_value()) << "duplicate header " << name;
        found = v;
    }
    return found;
}

json::object Body(const net::ClientRequest& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << "body is not JSON: " << r.body;
    if (ec || !v.is_object()) return {};
    return v.get_object();
}

ChatRequest Sample(bool stream = false) {
    ChatRequest r;
    r.model = "m-1";
    r.api_key = "sk-test";
    r.system = "You are terse.";
    r.prompt = "Say \"hi\"\nplease ü";
    r.stream = stream;
    r.max_tokens = 321;
    r.temperature = 0.25;
    return r;
}

// ---------------------------------------------------------------- provider table

TEST(WireProviders, TableHoldsEveryProviderInEnumOrder) {
    const auto& all = Providers();
    ASSERT_EQ(all.size(), 7u);
    const Provider order[] = {Provider::kAnthropic,       Provider::kOpenAi, Provider::kOpenRouter,
                              Provider::kMistral,         Provider::kXai,    Provider::kGemini,
                              Provider::kOpenAiCompatible};
    for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].provider, order[i]) << i;
        EXPECT_EQ(Info(order[i]).provider, order[i]) << i;
        EXPECT_EQ(Info(order[i]).name, all[i].name) << i;
    }
}

struct TableRow {
    Provider provider;
    std::string_view name;
    Format format;
    std::string_view base;
    std::string_view model;
    std::string_view key_env;
    std::string_view base_env;
    std::string_view chat_path;
    std::string_view models_path;
};

TEST(WireProviders, EndpointsModelsAndEnvNames) {
    const TableRow rows[] = {
        {Provider::kAnthropic, "anthropic", Format::kAnthropic, "https://api.anthropic.com",
         "claude-sonnet-4-20250514", "ANTHROPIC_API_KEY", "ARAGORA_ANTHROPIC_BASE_URL",
         "/v1/messages", "/v1/models"},
        {Provider::kOpenAi, "openai", Format::kOpenAi, "https://api.openai.com", "gpt-4o",
         "OPENAI_API_KEY", "ARAGORA_OPENAI_BASE_URL", "/v1/chat/completions", "/v1/models"},
        {Provider::kOpenRouter, "openrouter", Format::kOpenAi, "https://openrouter.ai",
         "anthropic/claude-sonnet-4", "OPENROUTER_API_KEY", "ARAGORA_OPENROUTER_BASE_URL",
         "/api/v1/chat/completions", "/api/v1/key"},
        {Provider::kMistral, "mistral", Format::kOpenAi, "https://api.mistral.ai",
         "mistral-large-latest", "MISTRAL_API_KEY", "ARAGORA_MISTRAL_BASE_URL",
         "/v1/chat/completions", "/v1/models"},
        {Provider::kXai, "xai", Format::kOpenAi, "https://api.x.ai", "grok-3", "XAI_API_KEY",
         "ARAGORA_XAI_BASE_URL", "/v1/chat/completions", "/v1/models"},
        {Provider::kGemini, "gemini", Format::kGemini, "https://generativelanguage.googleapis.com",
         "gemini-2.0-flash", "GEMINI_API_KEY", "ARAGORA_GEMINI_BASE_URL", "/v1beta/models",
         "/v1beta/models"},
        {Provider::kOpenAiCompatible, "openai-compatible", Format::kOpenAi,
         "http://127.0.0.1:11434", "llama3.1", "", "ARAGORA_OPENAI_COMPATIBLE_BASE_URL",
         "/v1/chat/completions", "/v1/models"},
    };
    for (const auto& row : rows) {
        const ProviderInfo& info = Info(row.provider);
        SCOPED_TRACE(std::string(row.name));
        EXPECT_EQ(info.name, row.name);
        EXPECT_EQ(info.format, row.format);
        EXPECT_EQ(info.default_base, row.base);
        EXPECT_EQ(info.default_model, row.model);
        EXPECT_EQ(info.key_env, row.key_env);
        EXPECT_EQ(info.base_url_env, row.base_env);
        EXPECT_EQ(info.chat_path, row.chat_path);
        EXPECT_EQ(info.models_path, row.models_path);
    }
}

// ---------------------------------------------------------------- names and aliases

TEST(WireResolveProvider, ProviderNamesInAnyCase) {
    EXPECT_EQ(ResolveProvider("anthropic"), Provider::kAnthropic);
    EXPECT_EQ(ResolveProvider("Anthropic"), Provider::kAnthropic);
    EXPECT_EQ(ResolveProvider("OPENAI"), Provider::kOpenAi);
    EXPECT_EQ(ResolveProvider("openrouter"), Provider::kOpenRouter);
    EXPECT_EQ(ResolveProvider("Mistral"), Provider::kMistral);
    EXPECT_EQ(ResolveProvider("xai"), Provider::kXai);
    EXPECT_EQ(ResolveProvider("gemini"), Provider::kGemini);
    EXPECT_EQ(ResolveProvider("openai-compatible"), Provider::kOpenAiCompatible);
    EXPECT_EQ(ResolveProvider(" openai "), Provider::kOpenAi);
}

TEST(WireResolveProvider, RunbookAliases) {
    EXPECT_EQ(ResolveProvider("claude"), Provider::kAnthropic);
    EXPECT_EQ(ResolveProvider("Claude"), Provider::kAnthropic);
    EXPECT_EQ(ResolveProvider("gpt"), Provider::kOpenAi);
    EXPECT_EQ(ResolveProvider("gpt-4"), Provider::kOpenAi);
    EXPECT_EQ(ResolveProvider("gpt4"), Provider::kOpenAi);
    EXPECT_EQ(ResolveProvider("gpt-4o"), Provider::kOpenAi);
    EXPECT_EQ(ResolveProvider("ChatGPT"), Provider::kOpenAi);
    EXPECT_EQ(ResolveProvider("grok"), Provider::kXai);
    EXPECT_EQ(ResolveProvider("google"), Provider::kGemini);
    EXPECT_EQ(ResolveProvider("local"), Provider::kOpenAiCompatible);
    EXPECT_EQ(ResolveProvider("ollama"), Provider::kOpenAiCompatible);
}

TEST(WireResolveProvider, UnknownNames) {
    EXPECT_EQ(ResolveProvider(""), std::nullopt);
    EXPECT_EQ(ResolveProvider("demo"), std::nullopt);
    EXPECT_EQ(ResolveProvider("anthropicx"), std::nullopt);
    EXPECT_EQ(ResolveProvider("open"), std::nullopt);
    EXPECT_EQ(ResolveProvider("gpt-5"), std::nullopt);
    EXPECT_EQ(ResolveProvider("claude:opus"), std::nullopt);
}

TEST(WireAliasModel, OnlyModelAliasesImplyAModel) {
    EXPECT_EQ(AliasModel("gpt-4"), "gpt-4");
    EXPECT_EQ(AliasModel("GPT-4"), "gpt-4");
    EXPECT_EQ(AliasModel("gpt4"), "gpt-4");
    EXPECT_EQ(AliasModel("gpt-4o"), "gpt-4o");
    EXPECT_EQ(AliasModel("claude"), std::nullopt);
    EXPECT_EQ(AliasModel("gpt"), std::nullopt);
    EXPECT_EQ(AliasModel("grok"), std::nullopt);
    EXPECT_EQ(AliasModel("openai"), std::nullopt);
    EXPECT_EQ(AliasModel("anthropic"), std::nullopt);
    EXPECT_EQ(AliasModel("nonsense"), std::nullopt);
}

TEST(WireOpenRouterModel, MapsDirectProvidersToVendorPrefixes) {
    EXPECT_EQ(OpenRouterModel(Provider::kAnthropic, "claude-sonnet-4-20250514"),
              "anthropic/claude-sonnet-4");
    EXPECT_EQ(OpenRouterModel(Provider::kOpenAi, "gpt-4o"), "openai/gpt-4o");
    EXPECT_EQ(OpenRouterModel(Provider::kGemini, "gemini-2.0-flash"), "google/gemini-2.0-flash");
    EXPECT_EQ(OpenRouterModel(Provider::kMistral, "mistral-large-latest"),
              "mistralai/mistral-large-latest");
    EXPECT_EQ(OpenRouterModel(Provider::kXai, "grok-3"), "x-ai/grok-3");
}

TEST(WireOpenRouterModel, KeepsQualifiedModelsAndFillsDefaults) {
    EXPECT_EQ(OpenRouterModel(Provider::kAnthropic, "anthropic/claude-3.5-sonnet"),
              "anthropic/claude-3.5-sonnet");
    EXPECT_EQ(OpenRouterModel(Provider::kOpenRouter, "meta-llama/llama-3-70b"),
              "meta-llama/llama-3-70b");
    EXPECT_EQ(OpenRouterModel(Provider::kAnthropic, ""), "anthropic/claude-sonnet-4");
    EXPECT_EQ(OpenRouterModel(Provider::kOpenRouter, ""), "anthropic/claude-sonnet-4");
}

// ---------------------------------------------------------------- requests

TEST(WireBuildRequest, Anthropic) {
    const auto r = BuildRequest(Provider::kAnthropic, [] {
        auto c = Sample();
        c.base_url = "https://api.anthropic.com";
        return c;
    }());
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "https://api.anthropic.com/v1/messages");
    EXPECT_EQ(Header(r, "x-api-key"), "sk-test");
    EXPECT_EQ(Header(r, "anthropic-version"), "2023-06-01");
    EXPECT_EQ(Header(r, "content-type"), "application/json");
    EXPECT_EQ(Header(r, "authorization"), std::nullopt);
    EXPECT_NE(Header(r, "accept"), "text/event-stream");

    const json::object body = Body(r);
    EXPECT_EQ(body.at("model"), "m-1");
    EXPECT_EQ(body.at("max_tokens"), 321);
    EXPECT_EQ(body.at("system"), "You are terse.");
    EXPECT_EQ(body.at("temperature").as_double(), 0.25);
    const auto& messages = body.at("messages").as_array();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].at("role"), "user");
    EXPECT_EQ(messages[0].at("content"), "Say \"hi\"\nplease ü");
    EXPECT_FALSE(body.contains("stream"));
}

// The bodies as a Boost.JSON document serialized by common::SerializeJson (how they were
// built before they were written directly): the same bytes for every provider.
json::object DocumentBody(Format format, const ChatRequest& r, std::string_view model) {
    json::object body;
    switch (format) {
        case Format::kAnthropic: {
            body["model"] = model;
            body["max_tokens"] = r.max_tokens;
            if (!r.system.empty()) body["system"] = r.system;
            json::array messages;
            messages.push_back(json::object{{"role", "user"}, {"content", r.prompt}});
            body["messages"] = std::move(messages);
            body["temperature"] = r.temperature;
            if (r.stream) body["stream"] = true;
            break;
        }
        case Format::kOpenAi: {
            body["model"] = model;
            json::array messages;
            if (!r.system.empty()) {
                messages.push_back(json::object{{"role", "system"}, {"content", r.system}});
            }
            messages.push_back(json::object{{"role", "user"}, {"content", r.prompt}});
            body["messages"] = std::move(messages);
            body["max_tokens"] = r.max_tokens;
            body["temperature"] = r.temperature;
            if (r.stream) {
                body["stream"] = true;
                body["stream_options"] = json::object{{"include_usage", true}};
            }
            break;
        }
        case Format::kGemini: {
            json::array parts;
            parts.push_back(json::object{{"text", r.prompt}});
            json::array contents;
            contents.push_back(json::object{{"role", "user"}, {"parts", std::move(parts)}});
            body["contents"] = std::move(contents);
            if (!r.system.empty()) {
                json::array system_parts;
                system_parts.push_back(json::object{{"text", r.system}});
                body["systemInstruction"] = json::object{{"parts", std::move(system_parts)}};
            }
            body["generationConfig"] =
                json::object{{"maxOutputTokens", r.max_tokens}, {"temperature", r.temperature}};
            break;
        }
    }
    return body;
}

TEST(WireBuildRequest, BodiesAreTheSerializedDocumentsBytes) {
    const std::string prompts[] = {"",
                                   "plain",
                                   "quote \" backslash \\ slash / tab \t nl \n",
                                   "ctl \x01\x1f del \x7f",
                                   "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                   "bad utf8 \xff\xc3",
                                   std::string(3000, 'x')};
    const double temperatures[] = {0.7,  0,    1,     1.5,
                                   1e-7, 2e21, -0.25, std::numeric_limits<double>::quiet_NaN()};
    for (const auto& p : Providers()) {
        int n = 0;
        for (const auto& prompt : prompts) {
            for (bool stream : {false, true}) {
                ChatRequest r;
                r.prompt = prompt;
                r.system = (n % 2 == 0) ? "" : "You are \"terse\".\n" + prompt;
                r.model = (n % 3 == 0) ? "" : "model-\xc3\xa9";
                r.stream = stream;
                r.max_tokens = n % 4 == 0 ? 2048 : -n;
                r.temperature = temperatures[n % std::size(temperatures)];
                ++n;
                const std::string_view model =
                    r.model.empty() ? p.default_model : std::string_view(r.model);
                EXPECT_EQ(BuildRequest(p.provider, r).body,
                          common::SerializeJson(DocumentBody(p.format, r, model)))
                    << p.name << " case " << n;
            }
        }
    }
}

TEST(WireBuildRequest, AnthropicStreaming) {
    const auto r = BuildRequest(Provider::kAnthropic, Sample(/*stream=*/true));
    EXPECT_EQ(r.url, "https://api.anthropic.com/v1/messages");
    EXPECT_EQ(Header(r, "accept"), "text/event-stream");
    const json::object body = Body(r);
    EXPECT_EQ(body.at("stream"), true);
    EXPECT_FALSE(body.contains("stream_options"));
}

TEST(WireBuildRequest, OpenAi) {
    const auto r = BuildRequest(Provider::kOpenAi, Sample());
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "https://api.openai.com/v1/chat/completions");
    EXPECT_EQ(Header(r, "authorization"), "Bearer sk-test");
    EXPECT_EQ(Header(r, "content-type"), "application/json");
    EXPECT_EQ(Header(r, "x-api-key"), std::nullopt);
    EXPECT_EQ(Header(r, "http-referer"), std::nullopt);

    const json::object body = Body(r);
    EXPECT_EQ(body.at("model"), "m-1");
    EXPECT_EQ(body.at("max_tokens"), 321);
    EXPECT_EQ(body.at("temperature").as_double(), 0.25);
    const auto& messages = body.at("messages").as_array();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].at("role"), "system");
    EXPECT_EQ(messages[0].at("content"), "You are terse.");
    EXPECT_EQ(messages[1].at("role"), "user");
    EXPECT_EQ(messages[1].at("content"), "Say \"hi\"\nplease ü");
    EXPECT_FALSE(body.contains("stream"));
    EXPECT_FALSE(body.contains("stream_options"));
}

TEST(WireBuildRequest, OpenAiStreamingAsksForUsage) {
    const auto r = BuildRequest(Provider::kOpenAi, Sample(/*stream=*/true));
    EXPECT_EQ(Header(r, "accept"), "text/event-stream");
    const json::object body = Body(r);
    EXPECT_EQ(body.at("stream"), true);
    EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
}

TEST(WireBuildRequest, EmptySystemPromptIsLeftOut) {
    auto c = Sample();
    c.system.clear();
    const auto messages = Body(BuildRequest(Provider::kOpenAi, c)).at("messages").as_array();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].at("role"), "user");
    EXPECT_FALSE(Body(BuildRequest(Provider::kAnthropic, c)).contains("system"));
    EXPECT_FALSE(Body(BuildRequest(Provider::kGemini, c)).contains("systemInstruction"));
}

TEST(WireBuildRequest, OpenRouterAddsAttributionHeaders) {
    const auto r = BuildRequest(Provider::kOpenRouter, Sample(true));
    EXPECT_EQ(r.url, "https://openrouter.ai/api/v1/chat/completions");
    EXPECT_EQ(Header(r, "authorization"), "Bearer sk-test");
    const auto referer = Header(r, "http-referer");
    ASSERT_TRUE(referer.has_value());
    EXPECT_THAT(*referer, HasSubstr("https://"));
    const auto title = Header(r, "x-title");
    ASSERT_TRUE(title.has_value());
    EXPECT_FALSE(title->empty());
    const json::object body = Body(r);
    EXPECT_EQ(body.at("stream_options").at("include_usage"), true);
}

TEST(WireBuildRequest, MistralAndXaiSpeakOpenAi) {
    const auto m = BuildRequest(Provider::kMistral, Sample());
    EXPECT_EQ(m.url, "https://api.mistral.ai/v1/chat/completions");
    EXPECT_EQ(Header(m, "authorization"), "Bearer sk-test");
    EXPECT_EQ(Body(m).at("messages").as_array().size(), 2u);
    const auto x = BuildRequest(Provider::kXai, Sample());
    EXPECT_EQ(x.url, "https://api.x.ai/v1/chat/completions");
    EXPECT_EQ(Header(x, "authorization"), "Bearer sk-test");
    EXPECT_EQ(Body(x).at("model"), "m-1");
}

TEST(WireBuildRequest, Gemini) {
    auto c = Sample();
    c.model = "gemini-2.0-flash";
    const auto r = BuildRequest(Provider::kGemini, c);
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url,
              "https://generativelanguage.googleapis.com/v1beta/models/"
              "gemini-2.0-flash:generateContent");
    EXPECT_EQ(Header(r, "x-goog-api-key"), "sk-test");
    EXPECT_EQ(Header(r, "authorization"), std::nullopt);
    EXPECT_EQ(Header(r, "content-type"), "application/json");

    const json::object body = Body(r);
    EXPECT_FALSE(body.contains("model"));
    EXPECT_FALSE(body.contains("stream"));
    const auto& contents = body.at("contents").as_array();
    ASSERT_EQ(contents.size(), 1u);
    EXPECT_EQ(contents[0].at("role"), "user");
    EXPECT_EQ(contents[0].at("parts").at(0).at("text"), "Say \"hi\"\nplease ü");
    EXPECT_EQ(body.at("systemInstruction").at("parts").at(0).at("text"), "You are terse.");
    EXPECT_EQ(body.at("generationConfig").at("maxOutputTokens"), 321);
    EXPECT_EQ(body.at("generationConfig").at("temperature").as_double(), 0.25);
}

TEST(WireBuildRequest, GeminiStreamingUsesSseEndpoint) {
    auto c = Sample(true);
    c.model = "gemini-2.5-pro";
    const auto r = BuildRequest(Provider::kGemini, c);
    EXPECT_EQ(r.url,
              "https://generativelanguage.googleapis.com/v1beta/models/"
              "gemini-2.5-pro:streamGenerateContent?alt=sse");
    EXPECT_EQ(Header(r, "accept"), "text/event-stream");
    EXPECT_FALSE(Body(r).contains("stream"));
}

TEST(WireBuildRequest, GeminiAcceptsResourceNames) {
    auto c = Sample();
    c.model = "models/gemini-2.0-flash";
    EXPECT_EQ(BuildRequest(Provider::kGemini, c).url,
              "https://generativelanguage.googleapis.com/v1beta/models/"
              "gemini-2.0-flash:generateContent");
}

TEST(WireBuildRequest, OpenAiCompatibleWithoutKeySendsNoAuthorization) {
    auto c = Sample();
    c.api_key.clear();
    c.base_url = "http://127.0.0.1:8080";
    const auto r = BuildRequest(Provider::kOpenAiCompatible, c);
    EXPECT_EQ(r.url, "http://127.0.0.1:8080/v1/chat/completions");
    EXPECT_EQ(Header(r, "authorization"), std::nullopt);
    EXPECT_EQ(Header(r, "content-type"), "application/json");

    c.api_key = "local-key";
    EXPECT_EQ(Header(BuildRequest(Provider::kOpenAiCompatible, c), "authorization"),
              "Bearer local-key");
}

TEST(WireBuildRequest, EmptyBaseAndModelMeanDefaults) {
    ChatRequest c;
    c.prompt = "p";
    const auto r = BuildRequest(Provider::kOpenAiCompatible, c);
    EXPECT_EQ(r.url, "http://127.0.0.1:11434/v1/chat/completions");
    EXPECT_EQ(Body(r).at("model"), "llama3.1");
    EXPECT_EQ(Body(r).at("max_tokens"), 2048);
    EXPECT_EQ(Body(BuildRequest(Provider::kAnthropic, c)).at("model"), "claude-sonnet-4-20250514");
    EXPECT_THAT(BuildRequest(Provider::kGemini, c).url,
                HasSubstr("/v1beta/models/gemini-2.0-flash:generateContent"));
}

TEST(WireBuildRequest, TrailingSlashesOfTheBaseAreStripped) {
    auto c = Sample();
    c.base_url = "http://127.0.0.1:9000/";
    EXPECT_EQ(BuildRequest(Provider::kAnthropic, c).url, "http://127.0.0.1:9000/v1/messages");
    c.base_url = "http://127.0.0.1:9000//";
    EXPECT_EQ(BuildRequest(Provider::kOpenAi, c).url, "http://127.0.0.1:9000/v1/chat/completions");
    c.base_url = "http://[::1]:9000/";
    c.model = "g";
    EXPECT_EQ(BuildRequest(Provider::kGemini, c).url,
              "http://[::1]:9000/v1beta/models/g:generateContent");
}

TEST(WireBuildRequest, SdkStyleBaseDoesNotDoubleThePrefix) {
    auto c = Sample();
    c.base_url = "http://localhost:8000/v1";
    EXPECT_EQ(BuildRequest(Provider::kOpenAiCompatible, c).url,
              "http://localhost:8000/v1/chat/completions");
    c.base_url = "https://openrouter.ai/api/v1/";
    EXPECT_EQ(BuildRequest(Provider::kOpenRouter, c).url,
              "https://openrouter.ai/api/v1/chat/completions");
    c.base_url = "http://proxy.test/llm/v1";
    EXPECT_EQ(BuildRequest(Provider::kAnthropic, c).url, "http://proxy.test/llm/v1/messages");
    // A path segment that merely ends like the prefix is not one.
    c.base_url = "http://proxy.test/apiv1";
    EXPECT_EQ(BuildRequest(Provider::kOpenAi, c).url,
              "http://proxy.test/apiv1/v1/chat/completions");
}

TEST(WireBuildModelsRequest, AuthenticatedGetPerProvider) {
    const auto a = BuildModelsRequest(Provider::kAnthropic, "", "k1");
    EXPECT_EQ(a.method, "GET");
    EXPECT_EQ(a.url, "https://api.anthropic.com/v1/models");
    EXPECT_EQ(Header(a, "x-api-key"), "k1");
    EXPECT_EQ(Header(a, "anthropic-version"), "2023-06-01");
    EXPECT_TRUE(a.body.empty());

    const auto o = BuildModelsRequest(Provider::kOpenAi, "http://127.0.0.1:1/", "k2");
    EXPECT_EQ(o.method, "GET");
    EXPECT_EQ(o.url, "http://127.0.0.1:1/v1/models");
    EXPECT_EQ(Header(o, "authorization"), "Bearer k2");

    const auto r = BuildModelsRequest(Provider::kOpenRouter, "", "k3");
    EXPECT_EQ(r.url, "https://openrouter.ai/api/v1/key");
    EXPECT_EQ(Header(r, "authorization"), "Bearer k3");

    const auto g = BuildModelsRequest(Provider::kGemini, "", "k4");
    EXPECT_EQ(g.url, "https://generativelanguage.googleapis.com/v1beta/models");
    EXPECT_EQ(Header(g, "x-goog-api-key"), "k4");

    const auto l = BuildModelsRequest(Provider::kOpenAiCompatible, "", "");
    EXPECT_EQ(l.url, "http://127.0.0.1:11434/v1/models");
    EXPECT_EQ(Header(l, "authorization"), std::nullopt);
}

// ---------------------------------------------------------------- complete replies

void ExpectProviderError(const common::Result<Reply>& r, std::string_view what = {}) {
    ASSERT_FALSE(r.ok()) << "parsed: " << r->text;
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    if (!what.empty()) {
        EXPECT_THAT(r.error().message, HasSubstr(std::string(what)));
    }
}

TEST(WireParseReply, Anthropic) {
    const auto r = ParseReply(Format::kAnthropic, R"({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
        "content": [{"type": "text", "text": "Hello there."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 42, "output_tokens": 7}})");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text, "Hello there.");
    EXPECT_EQ(r->usage.input_tokens, 42);
    EXPECT_EQ(r->usage.output_tokens, 7);
}

TEST(WireParseReply, AnthropicJoinsTextBlocksAndSkipsOthers) {
    const auto r = ParseReply(Format::kAnthropic, R"({"content": [
        {"type": "thinking", "thinking": "secret"},
        {"type": "text", "text": "Part one, "},
        {"type": "tool_use", "id": "t", "name": "x", "input": {}},
        {"type": "text", "text": "part two."}]})");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text, "Part one, part two.");
    EXPECT_EQ(r->usage.input_tokens, 0);
    EXPECT_EQ(r->usage.output_tokens, 0);
}

TEST(WireParseReply, OpenAi) {
    const auto r = ParseReply(Format::kOpenAi, R"({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Bonjour."}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}})");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text, "Bonjour.");
    EXPECT_EQ(r->usage.input_tokens, 11);
    EXPECT_EQ(r->usage.output_tokens, 3);
}

TEST(WireParseReply, OpenAiContentParts) {
    const auto r = ParseReply(Format::kOpenAi, R"({"choices": [{"message": {"content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]})");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text, "ab");
}

TEST(WireParseReply, Gemini) {
    const auto r = ParseReply(Format::kGemini, R"({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "First, "}, {"text": "second."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4,
                          "totalTokenCount": 13}})");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text, "First, second.");
    EXPECT_EQ(r->usage.input_tokens, 9);
    EXPECT_EQ(r->usage.output_tokens, 4);
}

TEST(WireParseReply, GeminiSkipsThoughtParts) {
    const auto r = ParseReply(Format::kGemini, R"({"candidates": [{"content": {"parts": [
        {"text": "pondering", "thought": true}, {"text": "Answer."}]}}]})");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text, "Answer.");
}

TEST(WireParseReply, NotJson) {
    for (Format f : {Format::kAnthropic, Format::kOpenAi, Format::kGemini}) {
        ExpectProviderError(ParseReply(f, ""));
        ExpectProviderError(ParseReply(f, "{"));
        ExpectProviderError(ParseReply(f, "<html>502 Bad Gateway</html>"));
        ExpectProviderError(ParseReply(f, R"({"content": [)"));
        ExpectProviderError(ParseReply(f, std::string(100, '[')));
    }
}

TEST(WireParseReply, WrongShape) {
    for (Format f : {Format::kAnthropic, Format::kOpenAi, Format::kGemini}) {
        ExpectProviderError(ParseReply(f, "[]"));
        ExpectProviderError(ParseReply(f, "\"text\""));
        ExpectProviderError(ParseReply(f, "42"));
        ExpectProviderError(ParseReply(f, "{}"));
    }
    ExpectProviderError(ParseReply(Format::kAnthropic, R"({"content": "hello"})"));
    ExpectProviderError(ParseReply(Format::kAnthropic, R"({"content": [{"type": "text"}]})"));
    ExpectProviderError(ParseReply(Format::kAnthropic, R"({"content": [{"text": 5}]})"));
    ExpectProviderError(ParseReply(Format::kOpenAi, R"({"choices": {}})"));
    ExpectProviderError(ParseReply(Format::kOpenAi, R"({"choices": [{"text": "legacy"}]})"));
    ExpectProviderError(ParseReply(Format::kOpenAi, R"({"choices": [{"message": 3}]})"));
    ExpectProviderError(ParseReply(Format::kGemini, R"({"candidates": [{"content": 1}]})"));
    // A reply of another format is the wrong shape, not an empty success.
    ExpectProviderError(
        ParseReply(Format::kOpenAi, R"({"content": [{"type": "text", "text": "hi"}]})"));
}

TEST(WireParseReply, EmptyContent) {
    ExpectProviderError(ParseReply(Format::kAnthropic, R"({"content": []})"), "empty");
    ExpectProviderError(
        ParseReply(Format::kAnthropic, R"({"content": [{"type": "text", "text": "  \n"}]})"),
        "empty");
    ExpectProviderError(
        ParseReply(Format::kOpenAi, R"({"choices": [{"message": {"content": ""}}]})"), "empty");
    ExpectProviderError(
        ParseReply(Format::kOpenAi, R"({"choices": [{"message": {"content": null}}]})"), "empty");
    ExpectProviderError(
        ParseReply(Format::kGemini, R"({"candidates": [{"content": {"parts": []}}]})"), "empty");
}

TEST(WireParseReply, ErrorObjectsRefusalsAndBlocks) {
    ExpectProviderError(ParseReply(Format::kAnthropic,
                                   R"({"type": "error", "error": {"type": "overloaded_error",
                       "message": "Overloaded"}})"),
                        "Overloaded");
    ExpectProviderError(
        ParseReply(Format::kOpenAi, R"({"error": {"message": "Rate limit reached"}})"),
        "Rate limit reached");
    ExpectProviderError(
        ParseReply(Format::kOpenAi,
                   R"({"choices": [{"message": {"content": null, "refusal": "I can't"}}]})"),
        "I can't");
    ExpectProviderError(
        ParseReply(Format::kGemini, R"({"promptFeedback": {"blockReason": "SAFETY"}})"), "SAFETY");
    ExpectProviderError(
        ParseReply(Format::kGemini, R"({"candidates": [{"finishReason": "MAX_TOKENS"}]})"),
        "MAX_TOKENS");
}

// ---------------------------------------------------------------- error bodies

TEST(WireErrorMessage, ProviderShapes) {
    EXPECT_EQ(ErrorMessage(R"({"type": "error", "error": {"type": "rate_limit_error",
                                "message": "Number of requests exceeded"}})"),
              "Number of requests exceeded");
    EXPECT_EQ(ErrorMessage(R"({"error": {"message": "Incorrect API key provided",
                                "type": "invalid_request_error", "code": "invalid_api_key"}})"),
              "Incorrect API key provided");
    EXPECT_EQ(ErrorMessage(R"({"error": {"code": 400, "message": "API key not valid.",
                                "status": "INVALID_ARGUMENT"}})"),
              "API key not valid.");
    EXPECT_EQ(ErrorMessage(R"([{"error": {"code": 429, "message": "Quota exceeded",
                                "status": "RESOURCE_EXHAUSTED"}}])"),
              "Quota exceeded");
    EXPECT_EQ(ErrorMessage(R"({"error": "model 'llama9' not found"})"), "model 'llama9' not found");
    EXPECT_EQ(ErrorMessage(R"({"object": "error", "message": "Invalid model",
                                "type": "invalid_model"})"),
              "Invalid model");
    EXPECT_EQ(ErrorMessage(R"({"error": {"status": "UNAVAILABLE"}})"), "UNAVAILABLE");
}

TEST(WireErrorMessage, FallsBackToTheBodyStart) {
    EXPECT_EQ(ErrorMessage(""), "");
    EXPECT_EQ(ErrorMessage("Bad Gateway\n"), "Bad Gateway");
    EXPECT_EQ(ErrorMessage(R"({"unexpected": true})"), R"({"unexpected": true})");
    EXPECT_EQ(ErrorMessage("{not json"), "{not json");
    const std::string long_body(500, 'x');
    EXPECT_EQ(ErrorMessage(long_body), std::string(200, 'x'));
    // 199 ASCII bytes then a two-byte character: the cut does not split it.
    const std::string utf8 = std::string(199, 'a') + "é" + std::string(50, 'b');
    EXPECT_EQ(ErrorMessage(utf8), std::string(199, 'a'));
}

// ---------------------------------------------------------------- SSE

std::vector<SseEvent> FeedAll(SseParser& p, const std::vector<std::string_view>& pieces) {
    std::vector<SseEvent> out;
    for (auto piece : pieces) {
        for (auto& e : p.Feed(piece)) out.push_back(std::move(e));
    }
    return out;
}

std::vector<std::string> Describe(const std::vector<SseEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.event + "|" + e.data);
    return out;
}

// Mixed line ends, comments, id/retry, multi-line data, a field without a colon.
constexpr std::string_view kSampleStream =
    ": keep-alive comment\r\n"
    "retry: 3000\r\n"
    "event: first\r\n"
    "id: 1\r\n"
    "data: one\r\n"
    "data:two\r\n"
    "\r\n"
    "data:  spaced\n"
    "\n"
    "event: third\r"
    "data: {\"a\":1}\r"
    "\r"
    "event: ignored-no-data\n"
    "\n"
    "data\r\n"
    "unknown: field\r\n"
    "\r\n"
    "data: tail\n\n";

const std::vector<std::string> kSampleEvents = {"first|one\ntwo", "| spaced", "third|{\"a\":1}",
                                                "|", "|tail"};

TEST(WireSseParser, WholeStream) {
    SseParser p;
    EXPECT_THAT(Describe(p.Feed(kSampleStream)), ::testing::ElementsAreArray(kSampleEvents));
    EXPECT_EQ(p.buffered(), 0u);
}

TEST(WireSseParser, SplitAtEveryBytePosition) {
    for (std::size_t cut = 0; cut <= kSampleStream.size(); ++cut) {
        SseParser p;
        const auto events = FeedAll(p, {kSampleStream.substr(0, cut), kSampleStream.substr(cut)});
        EXPECT_THAT(Describe(events), ::testing::ElementsAreArray(kSampleEvents))
            << "cut at " << cut;
    }
}

TEST(WireSseParser, OneByteAtATime) {
    SseParser p;
    std::vector<SseEvent> events;
    for (char c : kSampleStream) {
        for (auto& e : p.Feed(std::string_view(&c, 1))) events.push_back(std::move(e));
    }
    EXPECT_THAT(Describe(events), ::testing::ElementsAreArray(kSampleEvents));
}

TEST(WireSseParser, CrLfSplitBetweenCrAndLfIsOneLineEnd) {
    SseParser p;
    EXPECT_TRUE(p.Feed("data: a\r").empty());
    // Were the LF taken for a blank line, "a" would be dispatched on its own.
    EXPECT_TRUE(p.Feed("\ndata: b\r").empty());
    EXPECT_TRUE(p.Feed("").empty());
    EXPECT_THAT(Describe(p.Feed("\n\r\n")), ElementsAre("|a\nb"));
}

TEST(WireSseParser, EventNameResetsAfterDispatch) {
    SseParser p;
    EXPECT_THAT(Describe(p.Feed("event: ping\ndata: {}\n\ndata: x\n\n")),
                ElementsAre("ping|{}", "|x"));
}

TEST(WireSseParser, UnfinishedEventIsBufferedNotDispatched) {
    SseParser p;
    EXPECT_TRUE(p.Feed("data: partial line").empty());
    EXPECT_GT(p.buffered(), 0u);
    EXPECT_TRUE(p.Feed(" continues\n").empty());
    EXPECT_GT(p.buffered(), 0u);
    EXPECT_THAT(Describe(p.Feed("\n")), ElementsAre("|partial line continues"));
    EXPECT_EQ(p.buffered(), 0u);
}

// Line ends found by a memchr for LF, then for a CR before it: a CR that comes before an
// LF later in the piece still ends its line there, long lines split anywhere stay whole.
TEST(WireSseParser, TheFirstCrOrLfEndsTheLineWhereverTheyAre) {
    const std::string long_value(5000, 'x');
    const std::string stream =
        "data: a\rdata: b\n\ndata: " + long_value + "\r\n\r\nevent: e\rdata: c\r\rdata: d\n\n";
    const std::vector<std::string> want = {"|a\nb", "|" + long_value, "e|c", "|d"};
    const std::string_view all(stream);
    for (std::size_t cut : {std::size_t{0}, std::size_t{3}, std::size_t{9}, std::size_t{2500},
                            std::size_t{5008}, std::size_t{5009}, stream.size()}) {
        SseParser p;
        const auto events = FeedAll(p, {all.substr(0, cut), all.substr(cut)});
        EXPECT_THAT(Describe(events), ::testing::ElementsAreArray(want)) << "cut at " << cut;
        EXPECT_EQ(p.buffered(), 0u);
    }
}

// ---------------------------------------------------------------- stream decoding

// Feeds `stream` in pieces of `step` bytes; collects the deltas; stops on error.
struct StreamRun {
    std::vector<std::string> deltas;
    std::optional<common::Error> error;
};

StreamRun FeedInPieces(StreamDecoder& d, std::string_view stream, std::size_t step) {
    StreamRun run;
    for (std::size_t i = 0; i < stream.size(); i += step) {
        auto r = d.Feed(stream.substr(i, step));
        if (!r.ok()) {
            run.error = r.error();
            return run;
        }
        for (auto& s : *r) run.deltas.push_back(std::move(s));
    }
    return run;
}

constexpr std::string_view kAnthropicStream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\","
    "\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
    "\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\", wörld\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";

TEST(WireStreamDecoder, AnthropicStream) {
    for (std::size_t step : {kAnthropicStream.size(), std::size_t{1}, std::size_t{7}}) {
        SCOPED_TRACE(step);
        StreamDecoder d(Format::kAnthropic);
        EXPECT_FALSE(d.saw_event());
        const StreamRun run = FeedInPieces(d, kAnthropicStream, step);
        ASSERT_FALSE(run.error.has_value()) << run.error->message;
        EXPECT_THAT(run.deltas, ElementsAre("Hello", ", wörld"));
        EXPECT_EQ(d.text(), "Hello, wörld");
        EXPECT_EQ(d.usage().input_tokens, 25);
        EXPECT_EQ(d.usage().output_tokens, 15);
        EXPECT_TRUE(d.done());
        EXPECT_TRUE(d.saw_event());
    }
}

// The reader's path: the text of every delta a piece completes, appended to one string.
TEST(WireStreamDecoder, FeedIntoAppendsTheDeltasOfEachPiece) {
    for (std::size_t step : {kAnthropicStream.size(), std::size_t{1}, std::size_t{7}}) {
        SCOPED_TRACE(step);
        StreamDecoder d(Format::kAnthropic);
        std::string all;
        for (std::size_t i = 0; i < kAnthropicStream.size(); i += step) {
            std::string piece_text = "kept:";
            auto fed = d.FeedInto(kAnthropicStream.substr(i, step), piece_text);
            ASSERT_TRUE(fed.ok()) << fed.error().message;
            ASSERT_EQ(piece_text.rfind("kept:", 0), 0u);  // appended, not replaced
            all += piece_text.substr(5);
        }
        EXPECT_EQ(all, "Hello, wörld");
        EXPECT_EQ(d.text(), "Hello, wörld");
        EXPECT_TRUE(d.done());
    }
    StreamDecoder bad(Format::kAnthropic);
    std::string text;
    EXPECT_FALSE(bad.FeedInto("data: not json\n\n", text).ok());
    EXPECT_FALSE(bad.FeedInto("data: {}\n\n", text).ok());  // the first error stays
    EXPECT_TRUE(text.empty());
}

TEST(WireStreamDecoder, InputAfterDoneIsIgnored) {
    StreamDecoder d(Format::kAnthropic);
    std::string stream(kAnthropicStream);
    stream +=
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"late\"}}\n\n";
    auto r = d.Feed(stream);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(*r, ElementsAre("Hello", ", wörld"));
    r = d.Feed("data: not json\n\n");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
    EXPECT_EQ(d.text(), "Hello, wörld");
}

TEST(WireStreamDecoder, AnthropicErrorEventStopsTheStream) {
    StreamDecoder d(Format::kAnthropic);
    auto r = d.Feed(
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"Hi\"}}\n\n"
        "event: error\n"
        "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}\n\n");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    EXPECT_THAT(r.error().message, HasSubstr("Overloaded"));
    EXPECT_EQ(d.text(), "Hi");
    EXPECT_FALSE(d.done());
    // The first error stops it: later input is not decoded.
    r = d.Feed(
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"more\"}}\n\n");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message, HasSubstr("Overloaded"));
    EXPECT_EQ(d.text(), "Hi");
}

TEST(WireDecodeStreamEvent, AnthropicIrrelevantEventsAreEmpty) {
    for (const SseEvent& e : {
             SseEvent{"ping", "{\"type\":\"ping\"}"},
             SseEvent{"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
             SseEvent{"content_block_delta",
                      "{\"type\":\"content_block_delta\",\"delta\":{\"type\":"
                      "\"input_json_delta\",\"partial_json\":\"{\\\"a\"}}"},
             SseEvent{"content_block_delta",
                      "{\"type\":\"content_block_delta\",\"delta\":{\"type\":"
                      "\"thinking_delta\",\"thinking\":\"hmm\"}}"},
             SseEvent{"brand_new_event", "{\"type\":\"brand_new_event\"}"},
         }) {
        SCOPED_TRACE(e.event);
        const auto step = DecodeStreamEvent(Format::kAnthropic, e);
        ASSERT_TRUE(step.ok()) << step.error().message;
        EXPECT_EQ(step->delta, "");
        EXPECT_FALSE(step->usage.has_value());
        EXPECT_FALSE(step->done);
    }
}

TEST(WireDecodeStreamEvent, AnthropicTypeFromDataWhenNoEventLine) {
    const auto step = DecodeStreamEvent(
        Format::kAnthropic,
        SseEvent{"", R"({"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}})"});
    ASSERT_TRUE(step.ok());
    EXPECT_EQ(step->delta, "x");
    const auto stop =
        DecodeStreamEvent(Format::kAnthropic, SseEvent{"", R"({"type":"message_stop"})"});
    ASSERT_TRUE(stop.ok());
    EXPECT_TRUE(stop->done);
}

constexpr std::string_view kOpenAiStream =
    ": OPENROUTER PROCESSING\n"
    "\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],"
    "\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The \"},"
    "\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"answer.\"},"
    "\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},"
    "\"finish_reason\":\"stop\"}],\"usage\":null}\n"
    "\n"
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":3,\"total_tokens\":15}}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

TEST(WireStreamDecoder, OpenAiStream) {
    for (std::size_t step : {kOpenAiStream.size(), std::size_t{1}, std::size_t{13}}) {
        SCOPED_TRACE(step);
        StreamDecoder d(Format::kOpenAi);
        const StreamRun run = FeedInPieces(d, kOpenAiStream, step);
        ASSERT_FALSE(run.error.has_value()) << run.error->message;
        EXPECT_THAT(run.deltas, ElementsAre("The ", "answer."));
        EXPECT_EQ(d.text(), "The answer.");
        EXPECT_EQ(d.usage().input_tokens, 12);
        EXPECT_EQ(d.usage().output_tokens, 3);
        EXPECT_TRUE(d.done());
        EXPECT_TRUE(d.saw_event());
    }
}

TEST(WireStreamDecoder, OpenAiStreamWithoutDoneIsNotDone) {
    StreamDecoder d(Format::kOpenAi);
    const std::string_view cut = kOpenAiStream.substr(0, kOpenAiStream.find("data: [DONE]"));
    auto r = d.Feed(cut);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(d.text(), "The answer.");
    EXPECT_FALSE(d.done());
}

TEST(WireStreamDecoder, OpenAiMidStreamErrorChunk) {
    StreamDecoder d(Format::kOpenAi);
    auto r = d.Feed(
        "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"
        "data: {\"error\":{\"message\":\"upstream provider timed out\",\"code\":502}}\n\n");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    EXPECT_THAT(r.error().message, HasSubstr("upstream provider timed out"));
    EXPECT_EQ(d.text(), "par");
}

constexpr std::string_view kGeminiStream =
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Gem\"}],"
    "\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 8,"
    "\"candidatesTokenCount\": 1,\"totalTokenCount\": 9},\"modelVersion\": \"gemini-2.0-flash\"}"
    "\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"ini \"},{\"text\": "
    "\"speaks.\"}],\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 8,"
    "\"candidatesTokenCount\": 4,\"totalTokenCount\": 12}}"
    "\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},"
    "\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": 8,"
    "\"candidatesTokenCount\": 5,\"totalTokenCount\": 13}}"
    "\r\n\r\n";

TEST(WireStreamDecoder, GeminiStream) {
    for (std::size_t step : {kGeminiStream.size(), std::size_t{1}, std::size_t{5}}) {
        SCOPED_TRACE(step);
        StreamDecoder d(Format::kGemini);
        const StreamRun run = FeedInPieces(d, kGeminiStream, step);
        ASSERT_FALSE(run.error.has_value()) << run.error->message;
        EXPECT_THAT(run.deltas, ElementsAre("Gem", "ini speaks."));
        EXPECT_EQ(d.text(), "Gemini speaks.");
        EXPECT_EQ(d.usage().input_tokens, 8);
        EXPECT_EQ(d.usage().output_tokens, 5);
        EXPECT_TRUE(d.done());
    }
}

TEST(WireStreamDecoder, GeminiErrorChunk) {
    StreamDecoder d(Format::kGemini);
    auto r = d.Feed(
        "data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded.\","
        "\"status\": \"UNAVAILABLE\"}}\n\n");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
    EXPECT_THAT(r.error().message, HasSubstr("The model is overloaded."));
}

TEST(WireStreamDecoder, MalformedDataLineIsAnError) {
    for (Format f : {Format::kAnthropic, Format::kOpenAi, Format::kGemini}) {
        SCOPED_TRACE(static_cast<int>(f));
        StreamDecoder d(f);
        auto r = d.Feed("event: content_block_delta\ndata: {\"choices\": [\n\n");
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ErrorCode::kProviderError);
        EXPECT_FALSE(d.done());
        EXPECT_FALSE(d.saw_event());
        EXPECT_EQ(d.text(), "");
    }
}

TEST(WireStreamDecoder, UsageMembersMergeAcrossEvents) {
    StreamDecoder d(Format::kAnthropic);
    auto r = d.Feed(
        "event: message_start\n"
        "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":30,"
        "\"output_tokens\":1}}}\n\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(d.usage().input_tokens, 30);
    EXPECT_EQ(d.usage().output_tokens, 1);
    r = d.Feed(
        "event: message_delta\n"
        "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":99}}\n\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(d.usage().input_tokens, 30);
    EXPECT_EQ(d.usage().output_tokens, 99);
    EXPECT_FALSE(d.done());
}

// ---------------------------------------------------------------- faults

TEST(WireFault, EveryTransientFaultIsRetriedAndNoPermanentOneIs) {
    for (Fault f : {Fault::kConnection, Fault::kTimeout, Fault::kOverloaded, Fault::kServerError,
                    Fault::kNotProviderFormat, Fault::kEmptyReply, Fault::kStreamCut,
                    Fault::kStreamMalformed, Fault::kProviderError}) {
        EXPECT_EQ(DispositionOf(f), Disposition::kRetry) << ToString(f);
    }
    EXPECT_EQ(DispositionOf(Fault::kRateLimited), Disposition::kRetryOrFallback);
    EXPECT_EQ(DispositionOf(Fault::kAuth), Disposition::kFallbackOrFail);
    EXPECT_EQ(DispositionOf(Fault::kQuota), Disposition::kFallbackOrFail);
    for (Fault f : {Fault::kBadRequest, Fault::kRefusal, Fault::kTooLarge}) {
        EXPECT_EQ(DispositionOf(f), Disposition::kFail) << ToString(f);
    }
    EXPECT_EQ(DispositionOf(Fault::kCancelled), Disposition::kCancelled);
}

TEST(WireFault, NamesAreDistinctSnakeCase) {
    std::set<std::string_view> names;
    for (int i = 0; i <= static_cast<int>(Fault::kCancelled); ++i) {
        const std::string_view n = ToString(static_cast<Fault>(i));
        EXPECT_TRUE(names.insert(n).second) << n;
        EXPECT_EQ(Lower(n), n);
    }
    EXPECT_EQ(ToString(Fault::kStreamCut), "stream_cut");
    EXPECT_EQ(ToString(Fault::kNotProviderFormat), "not_provider_format");
}

TEST(WireFault, OfStatus) {
    EXPECT_EQ(FaultOfStatus(429), Fault::kRateLimited);
    EXPECT_EQ(FaultOfStatus(529), Fault::kOverloaded);
    EXPECT_EQ(FaultOfStatus(503), Fault::kOverloaded);
    for (int s : {500, 502, 504, 408, 599}) EXPECT_EQ(FaultOfStatus(s), Fault::kServerError) << s;
    EXPECT_EQ(FaultOfStatus(401), Fault::kAuth);
    EXPECT_EQ(FaultOfStatus(403), Fault::kAuth);
    EXPECT_EQ(FaultOfStatus(402), Fault::kQuota);
    for (int s : {400, 404, 413, 422, 301}) EXPECT_EQ(FaultOfStatus(s), Fault::kBadRequest) << s;
}

const Format kFormats[] = {Format::kAnthropic, Format::kOpenAi, Format::kGemini};

std::string GoodReply(Format f) {
    switch (f) {
        case Format::kAnthropic:
            return R"({"content":[{"type":"text","text":"Yes."}],"stop_reason":"end_turn"})";
        case Format::kOpenAi:
            return R"({"choices":[{"message":{"content":"Yes."},"finish_reason":"stop"}]})";
        case Format::kGemini:
            return R"({"candidates":[{"content":{"parts":[{"text":"Yes."}]},"finishReason":"STOP"}]})";
    }
    return {};
}

TEST(WireCheckReply, GoodRepliesPass) {
    for (Format f : kFormats) {
        auto r = CheckReply(f, "application/json; charset=utf-8", GoodReply(f));
        ASSERT_TRUE(r.ok()) << r.message;
        EXPECT_EQ(r->text, "Yes.");
        EXPECT_EQ(r.fault, Fault::kNone);
    }
}

TEST(WireCheckReply, NotTheProvidersFormatIsRetryable) {
    for (Format f : kFormats) {
        SCOPED_TRACE(static_cast<int>(f));
        // A gateway's HTML page, even when it happens to be JSON-looking text.
        EXPECT_EQ(CheckReply(f, "text/html", "<html>502 Bad Gateway</html>").fault,
                  Fault::kNotProviderFormat);
        EXPECT_EQ(CheckReply(f, "text/html; charset=utf-8", GoodReply(f)).fault,
                  Fault::kNotProviderFormat);
        EXPECT_EQ(CheckReply(f, "", "<html>oops</html>").fault, Fault::kNotProviderFormat);
        EXPECT_EQ(CheckReply(f, "application/json", "{\"content\": [").fault,
                  Fault::kNotProviderFormat);
        EXPECT_EQ(CheckReply(f, "application/json", "[]").fault, Fault::kNotProviderFormat);
        EXPECT_EQ(CheckReply(f, "application/json", "{}").fault, Fault::kNotProviderFormat);
        EXPECT_EQ(CheckReply(f, "application/json", R"({"id": "x"})").fault,
                  Fault::kNotProviderFormat);
    }
    EXPECT_EQ(CheckReply(Format::kAnthropic, "", R"({"content":[]})").fault, Fault::kEmptyReply);
    EXPECT_EQ(CheckReply(Format::kOpenAi, "", R"({"choices":[{"message":{"content":""}}]})").fault,
              Fault::kEmptyReply);
}

TEST(WireCheckReply, ErrorObjectsInA2xxByKind) {
    struct Case {
        Format format;
        std::string_view body;
        Fault fault;
    };
    const Case cases[] = {
        {Format::kAnthropic,
         R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
         Fault::kProviderError},
        {Format::kAnthropic, R"({"type":"error","error":{"type":"api_error","message":"x"}})",
         Fault::kProviderError},
        {Format::kAnthropic,
         R"({"type":"error","error":{"type":"invalid_request_error","message":"x"}})",
         Fault::kBadRequest},
        {Format::kAnthropic,
         R"({"type":"error","error":{"type":"authentication_error","message":"x"}})", Fault::kAuth},
        {Format::kAnthropic, R"({"type":"error","error":{"type":"rate_limit_error"}})",
         Fault::kRateLimited},
        {Format::kOpenAi, R"({"error":{"message":"upstream timed out","code":502}})",
         Fault::kProviderError},
        {Format::kOpenAi, R"({"error":{"message":"x","type":"server_error"}})",
         Fault::kProviderError},
        {Format::kOpenAi, R"({"error":{"message":"x","code":"context_length_exceeded"}})",
         Fault::kBadRequest},
        {Format::kOpenAi, R"({"error":{"message":"x","code":"insufficient_quota"}})",
         Fault::kQuota},
        {Format::kOpenAi, R"({"error":{"message":"x","code":"content_policy_violation"}})",
         Fault::kRefusal},
        {Format::kGemini, R"({"error":{"code":503,"message":"x","status":"UNAVAILABLE"}})",
         Fault::kProviderError},
        {Format::kGemini, R"({"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}})",
         Fault::kRateLimited},
        {Format::kGemini, R"({"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT"}})",
         Fault::kBadRequest},
        {Format::kGemini, R"([{"error":{"code":500,"message":"x","status":"INTERNAL"}}])",
         Fault::kProviderError},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.body);
        EXPECT_EQ(CheckReply(c.format, "application/json", c.body).fault, c.fault);
    }
}

TEST(WireCheckReply, RefusalsAreNotRetried) {
    EXPECT_EQ(CheckReply(Format::kOpenAi, "",
                         R"({"choices":[{"message":{"content":null,"refusal":"I can't."}}]})")
                  .fault,
              Fault::kRefusal);
    EXPECT_EQ(
        CheckReply(Format::kOpenAi, "",
                   R"({"choices":[{"message":{"content":""},"finish_reason":"content_filter"}]})")
            .fault,
        Fault::kRefusal);
    EXPECT_EQ(
        CheckReply(Format::kGemini, "", R"({"promptFeedback":{"blockReason":"SAFETY"}})").fault,
        Fault::kRefusal);
    EXPECT_EQ(CheckReply(Format::kGemini, "",
                         R"({"candidates":[{"content":{"parts":[]},"finishReason":"SAFETY"}]})")
                  .fault,
              Fault::kRefusal);
    EXPECT_EQ(CheckReply(Format::kAnthropic, "", R"({"content":[],"stop_reason":"refusal"})").fault,
              Fault::kRefusal);
}

std::string CompleteStream(Format f) {
    switch (f) {
        case Format::kAnthropic:
            return std::string(kAnthropicStream);
        case Format::kOpenAi:
            return std::string(kOpenAiStream);
        case Format::kGemini:
            return std::string(kGeminiStream);
    }
    return {};
}

// The stream's bytes up to (not including) its final event.
std::string WithoutFinalEvent(Format f) {
    const std::string s = CompleteStream(f);
    switch (f) {
        case Format::kAnthropic:
            return s.substr(0, s.find("event: message_stop"));
        case Format::kOpenAi:  // finish_reason and [DONE] both missing
            return s.substr(0,
                            s.find("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},"));
        case Format::kGemini:
            return s.substr(0, s.rfind("data: "));
    }
    return {};
}

TEST(WireStreamFinish, CompleteStreamsPass) {
    for (Format f : kFormats) {
        StreamDecoder d(f);
        ASSERT_TRUE(d.Feed(CompleteStream(f)).ok());
        auto r = d.Finish(true, "text/event-stream");
        ASSERT_TRUE(r.ok()) << r.message;
        EXPECT_EQ(r->text, d.text());
    }
}

TEST(WireStreamFinish, AStreamWithoutItsFinalEventIsCut) {
    for (Format f : kFormats) {
        SCOPED_TRACE(static_cast<int>(f));
        StreamDecoder d(f);
        ASSERT_TRUE(d.Feed(WithoutFinalEvent(f)).ok());
        EXPECT_FALSE(d.text().empty());
        EXPECT_EQ(d.Finish(true).fault, Fault::kStreamCut);
        EXPECT_THAT(d.Finish(true).message, HasSubstr("final event"));
        EXPECT_EQ(d.Finish(false).fault, Fault::kStreamCut);
    }
}

TEST(WireStreamFinish, OpenAiFinishReasonWithoutDoneIsComplete) {
    // Some OpenAI-compatible servers end with finish_reason and no [DONE].
    StreamDecoder d(Format::kOpenAi);
    const std::string s(kOpenAiStream);
    ASSERT_TRUE(d.Feed(s.substr(0, s.find("data: [DONE]"))).ok());
    EXPECT_TRUE(d.Finish(true).ok());
}

TEST(WireStreamFinish, MalformedEventMidStreamIsRetryable) {
    for (Format f : kFormats) {
        SCOPED_TRACE(static_cast<int>(f));
        StreamDecoder d(f);
        const std::string partial = WithoutFinalEvent(f);
        ASSERT_TRUE(d.Feed(partial.substr(0, partial.size() / 2)).ok() ||
                    d.fault() == Fault::kStreamMalformed);
        auto r = d.Feed("\n\ndata: {\"broken\": \n\n");
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(d.fault(), Fault::kStreamMalformed);
        EXPECT_EQ(d.Finish(true).fault, Fault::kStreamMalformed);
        EXPECT_EQ(DispositionOf(d.Finish(true).fault), Disposition::kRetry);
    }
}

TEST(WireStreamFinish, HtmlInsteadOfAStreamIsNotTheProvidersFormat) {
    for (Format f : kFormats) {
        StreamDecoder d(f);
        ASSERT_TRUE(d.Feed("<html>oops</html>").ok());
        auto r = d.Finish(true, "text/html");
        EXPECT_EQ(r.fault, Fault::kNotProviderFormat);
        EXPECT_THAT(r.message, HasSubstr("text/html"));
    }
}

TEST(WireStreamFinish, ErrorEventsByKind) {
    StreamDecoder overloaded(Format::kAnthropic);
    ASSERT_FALSE(overloaded
                     .Feed("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                           "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
                     .ok());
    EXPECT_EQ(overloaded.Finish(true).fault, Fault::kProviderError);

    StreamDecoder upstream(Format::kOpenAi);
    ASSERT_FALSE(
        upstream.Feed("data: {\"error\":{\"message\":\"upstream\",\"code\":502}}\n\n").ok());
    EXPECT_EQ(upstream.Finish(true).fault, Fault::kProviderError);

    StreamDecoder unavailable(Format::kGemini);
    ASSERT_FALSE(unavailable
                     .Feed("data: {\"error\": {\"code\": 503, \"message\": \"overloaded\","
                           "\"status\": \"UNAVAILABLE\"}}\n\n")
                     .ok());
    EXPECT_EQ(unavailable.Finish(true).fault, Fault::kProviderError);

    StreamDecoder blocked(Format::kGemini);
    ASSERT_FALSE(
        blocked.Feed("data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"}}\n\n").ok());
    EXPECT_EQ(blocked.Finish(true).fault, Fault::kRefusal);

    StreamDecoder refused(Format::kOpenAi);
    ASSERT_TRUE(refused
                    .Feed("data: {\"choices\":[{\"delta\":{\"refusal\":\"I can't help.\"}}]}\n\n"
                          "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                          "data: [DONE]\n\n")
                    .ok());
    EXPECT_EQ(refused.Finish(true).fault, Fault::kRefusal);

    StreamDecoder empty(Format::kOpenAi);
    ASSERT_TRUE(empty
                    .Feed("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                          "data: [DONE]\n\n")
                    .ok());
    EXPECT_EQ(empty.Finish(true).fault, Fault::kEmptyReply);
}

}  // namespace
}  // namespace aragora::agents::wire
