#include "agents/wire.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <utility>

#include "agents/stream_fields.hpp"
#include "common/jcs.hpp"
#include "common/strings.hpp"

namespace aragora::agents::wire {
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::ToLower;
using common::Trim;

namespace {

constexpr std::string_view kAnthropicVersion = "2023-06-01";
// OpenRouter's app attribution (shown on its dashboards); any stable values do.
constexpr std::string_view kOpenRouterReferer = "https://github.com/an0mium/aragora";
constexpr std::string_view kOpenRouterTitle = "Aragora";
constexpr std::size_t kErrorSnippetBytes = 200;

const std::vector<ProviderInfo> kProviders = {
    {Provider::kAnthropic, "anthropic", Format::kAnthropic, "https://api.anthropic.com",
     "claude-sonnet-4-20250514", "ANTHROPIC_API_KEY", "ARAGORA_ANTHROPIC_BASE_URL", "/v1/messages",
     "/v1/models"},
    {Provider::kOpenAi, "openai", Format::kOpenAi, "https://api.openai.com", "gpt-4o",
     "OPENAI_API_KEY", "ARAGORA_OPENAI_BASE_URL", "/v1/chat/completions", "/v1/models"},
    {Provider::kOpenRouter, "openrouter", Format::kOpenAi, "https://openrouter.ai",
     "anthropic/claude-sonnet-4", "OPENROUTER_API_KEY", "ARAGORA_OPENROUTER_BASE_URL",
     "/api/v1/chat/completions", "/api/v1/key"},
    {Provider::kMistral, "mistral", Format::kOpenAi, "https://api.mistral.ai",
     "mistral-large-latest", "MISTRAL_API_KEY", "ARAGORA_MISTRAL_BASE_URL", "/v1/chat/completions",
     "/v1/models"},
    {Provider::kXai, "xai", Format::kOpenAi, "https://api.x.ai", "grok-3", "XAI_API_KEY",
     "ARAGORA_XAI_BASE_URL", "/v1/chat/completions", "/v1/models"},
    {Provider::kGemini, "gemini", Format::kGemini, "https://generativelanguage.googleapis.com",
     "gemini-2.0-flash", "GEMINI_API_KEY", "ARAGORA_GEMINI_BASE_URL", "/v1beta/models",
     "/v1beta/models"},
    {Provider::kOpenAiCompatible, "openai-compatible", Format::kOpenAi, "http://127.0.0.1:11434",
     "llama3.1", "", "ARAGORA_OPENAI_COMPATIBLE_BASE_URL", "/v1/chat/completions", "/v1/models"},
};

struct Alias {
    std::string_view name;
    Provider provider;
    std::string_view model;  // "" when the alias implies no model
};

constexpr std::array<Alias, 12> kAliases = {{
    {"claude", Provider::kAnthropic, ""},
    {"gpt", Provider::kOpenAi, ""},
    {"chatgpt", Provider::kOpenAi, ""},
    {"gpt-4", Provider::kOpenAi, "gpt-4"},
    {"gpt4", Provider::kOpenAi, "gpt-4"},
    {"gpt-4o", Provider::kOpenAi, "gpt-4o"},
    {"grok", Provider::kXai, ""},
    {"x-ai", Provider::kXai, ""},
    {"google", Provider::kGemini, ""},
    {"local", Provider::kOpenAiCompatible, ""},
    {"ollama", Provider::kOpenAiCompatible, ""},
    {"openai_compatible", Provider::kOpenAiCompatible, ""},
}};

const Alias* FindAlias(std::string_view lowered) {
    for (const auto& a : kAliases) {
        if (a.name == lowered) return &a;
    }
    return nullptr;
}

// `base` without trailing slashes, followed by `path`. Users often configure SDK-style
// bases that already hold the API prefix ("http://host:8000/v1",
// "https://openrouter.ai/api/v1"); the path's leading segments are then not repeated.
std::string JoinUrl(std::string_view base, std::string_view path) {
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    std::size_t skip = 0;
    for (std::size_t k = path.find('/', 1); k != std::string_view::npos;
         k = path.find('/', k + 1)) {
        const std::string_view prefix = path.substr(0, k);
        if (base.size() >= prefix.size() && base.substr(base.size() - prefix.size()) == prefix) {
            skip = k;
        }
    }
    std::string url(base);
    url.append(path.substr(skip));
    return url;
}

std::string BaseOr(std::string_view base, const ProviderInfo& info) {
    return std::string(Trim(base).empty() ? info.default_base : Trim(base));
}

void AddAuthHeaders(const ProviderInfo& info, std::string_view api_key, net::ClientRequest& out) {
    switch (info.format) {
        case Format::kAnthropic:
            if (!api_key.empty()) out.headers.emplace_back("x-api-key", std::string(api_key));
            out.headers.emplace_back("anthropic-version", std::string(kAnthropicVersion));
            break;
        case Format::kGemini:
            if (!api_key.empty()) out.headers.emplace_back("x-goog-api-key", std::string(api_key));
            break;
        case Format::kOpenAi:
            if (!api_key.empty()) {
                out.headers.emplace_back("Authorization", "Bearer " + std::string(api_key));
            }
            break;
    }
    if (info.provider == Provider::kOpenRouter) {
        out.headers.emplace_back("HTTP-Referer", std::string(kOpenRouterReferer));
        out.headers.emplace_back("X-Title", std::string(kOpenRouterTitle));
    }
}

// Gemini addresses a model as a resource name: "models/<id>" unless one is given
// ("models/x", "tunedModels/y").
std::string GeminiResource(std::string_view model) {
    if (model.find('/') != std::string_view::npos) return std::string(model);
    return "models/" + std::string(model);
}

// Request bodies are written straight into their text (one per provider call): the bytes
// common::SerializeJson wrote for the same members in the same order.
void AppendMember(std::string& out, std::string_view key) {
    if (out.back() != '{') out.push_back(',');
    common::AppendJsonString(key, out);
    out.push_back(':');
}

void AppendDouble(double v, std::string& out) {
    if (std::isfinite(v)) {
        common::AppendJsonNumber(v, out);
    } else {
        out.append("null");
    }
}

void AppendMessage(std::string& out, std::string_view role, std::string_view content) {
    out.append(R"({"role":)");
    common::AppendJsonString(role, out);
    out.append(R"(,"content":)");
    common::AppendJsonString(content, out);
    out.push_back('}');
}

std::string AnthropicBody(const ChatRequest& r, std::string_view model) {
    std::string out;
    out.reserve(r.prompt.size() + r.system.size() + 192);
    out.push_back('{');
    AppendMember(out, "model");
    common::AppendJsonString(model, out);
    AppendMember(out, "max_tokens");
    out.append(std::to_string(r.max_tokens));
    if (!r.system.empty()) {
        AppendMember(out, "system");
        common::AppendJsonString(r.system, out);
    }
    AppendMember(out, "messages");
    out.push_back('[');
    AppendMessage(out, "user", r.prompt);
    out.push_back(']');
    AppendMember(out, "temperature");
    AppendDouble(r.temperature, out);
    if (r.stream) out.append(R"(,"stream":true)");
    out.push_back('}');
    return out;
}

std::string OpenAiBody(const ChatRequest& r, std::string_view model) {
    std::string out;
    out.reserve(r.prompt.size() + r.system.size() + 224);
    out.push_back('{');
    AppendMember(out, "model");
    common::AppendJsonString(model, out);
    AppendMember(out, "messages");
    out.push_back('[');
    if (!r.system.empty()) {
        AppendMessage(out, "system", r.system);
        out.push_back(',');
    }
    AppendMessage(out, "user", r.prompt);
    out.push_back(']');
    AppendMember(out, "max_tokens");
    out.append(std::to_string(r.max_tokens));
    AppendMember(out, "temperature");
    AppendDouble(r.temperature, out);
    if (r.stream) out.append(R"(,"stream":true,"stream_options":{"include_usage":true})");
    out.push_back('}');
    return out;
}

std::string GeminiBody(const ChatRequest& r) {
    std::string out;
    out.reserve(r.prompt.size() + r.system.size() + 192);
    out.append(R"({"contents":[{"role":"user","parts":[{"text":)");
    common::AppendJsonString(r.prompt, out);
    out.append("}]}]");
    if (!r.system.empty()) {
        out.append(R"(,"systemInstruction":{"parts":[{"text":)");
        common::AppendJsonString(r.system, out);
        out.append("}]}");
    }
    out.append(R"(,"generationConfig":{"maxOutputTokens":)");
    out.append(std::to_string(r.max_tokens));
    out.append(R"(,"temperature":)");
    AppendDouble(r.temperature, out);
    out.append("}}");
    return out;
}

// --- Reading replies: every accessor tolerates any shape and answers "absent". ---

const json::value* Member(const json::value* v, std::string_view key) {
    if (v == nullptr) return nullptr;
    const json::object* o = v->if_object();
    if (o == nullptr) return nullptr;
    const json::value* m = o->if_contains(key);
    if (m == nullptr || m->is_null()) return nullptr;
    return m;
}

const json::value* Member(const json::value& v, std::string_view key) { return Member(&v, key); }

const json::value* First(const json::value* v) {
    if (v == nullptr) return nullptr;
    const json::array* a = v->if_array();
    if (a == nullptr || a->empty()) return nullptr;
    return &a->front();
}

std::string_view StringOf(const json::value* v) {
    if (v == nullptr) return {};
    const json::string* s = v->if_string();
    if (s == nullptr) return {};
    return std::string_view(s->data(), s->size());
}

// Token counts: integers (or integral doubles from lenient servers); else nullopt.
std::optional<std::int64_t> CountOf(const json::value* v) {
    if (v == nullptr) return std::nullopt;
    if (const auto* i = v->if_int64()) return *i >= 0 ? std::optional(*i) : std::nullopt;
    if (const auto* u = v->if_uint64()) {
        return *u <= static_cast<std::uint64_t>(INT64_MAX)
                   ? std::optional(static_cast<std::int64_t>(*u))
                   : std::nullopt;
    }
    if (const auto* d = v->if_double()) {
        if (*d >= 0 && *d < 9.0e18) return static_cast<std::int64_t>(*d);
    }
    return std::nullopt;
}

std::optional<json::value> ParseJson(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return std::nullopt;
    return v;
}

common::Error ProviderError(std::string message) {
    return MakeError(ErrorCode::kProviderError, std::move(message));
}

template <class T>
Checked<T> Fail(Fault fault, std::string message) {
    Checked<T> out;
    out.fault = fault;
    out.message = std::move(message);
    return out;
}

template <class T>
Checked<T> Pass(T value) {
    Checked<T> out;
    out.value = std::move(value);
    return out;
}

struct FaultRule {
    Fault fault;
    std::string_view name;
    Disposition disposition;
};

// The classification table: docs/agents.md (Resilience) is this table in prose.
constexpr std::array<FaultRule, 17> kFaultTable = {{
    {Fault::kNone, "none", Disposition::kFail},
    {Fault::kConnection, "connection", Disposition::kRetry},
    {Fault::kTimeout, "timeout", Disposition::kRetry},
    {Fault::kRateLimited, "rate_limited", Disposition::kRetryOrFallback},
    {Fault::kOverloaded, "overloaded", Disposition::kRetry},
    {Fault::kServerError, "server_error", Disposition::kRetry},
    {Fault::kAuth, "auth", Disposition::kFallbackOrFail},
    {Fault::kQuota, "quota", Disposition::kFallbackOrFail},
    {Fault::kBadRequest, "bad_request", Disposition::kFail},
    {Fault::kNotProviderFormat, "not_provider_format", Disposition::kRetry},
    {Fault::kEmptyReply, "empty_reply", Disposition::kRetry},
    {Fault::kStreamCut, "stream_cut", Disposition::kRetry},
    {Fault::kStreamMalformed, "stream_malformed", Disposition::kRetry},
    {Fault::kProviderError, "provider_error", Disposition::kRetry},
    {Fault::kRefusal, "refusal", Disposition::kFail},
    {Fault::kTooLarge, "too_large", Disposition::kFail},
    {Fault::kCancelled, "cancelled", Disposition::kCancelled},
}};

const FaultRule& RuleOf(Fault fault) {
    for (const auto& r : kFaultTable) {
        if (r.fault == fault) return r;
    }
    return kFaultTable.front();  // unreachable: the table holds every enumerator
}

bool OneOf(std::string_view s, std::initializer_list<std::string_view> set) {
    return std::find(set.begin(), set.end(), s) != set.end();
}

// What an error object in a 2xx body or stream means, from the shapes providers use:
// Anthropic {"type": "error", "error": {"type": "overloaded_error"}}, OpenAI and
// OpenRouter {"error": {"type", "code": "server_error" | 502}}, Gemini
// {"error": {"code": 503, "status": "UNAVAILABLE"}}. Anything not known to be the
// request's or the key's fault is taken for an overload or a server error (retried).
Fault FaultOfErrorObject(const json::value& v) {
    if (const json::value* first = First(&v)) return FaultOfErrorObject(*first);
    const json::value* e = Member(v, "error");
    const std::string type = ToLower(StringOf(Member(e, "type")));
    const std::string status(StringOf(Member(e, "status")));
    const std::string code_text = ToLower(StringOf(Member(e, "code")));
    const std::int64_t code = CountOf(Member(e, "code")).value_or(0);
    if (OneOf(code_text, {"content_filter", "content_policy_violation"}) ||
        type == "content_policy_violation") {
        return Fault::kRefusal;
    }
    if (OneOf(type, {"insufficient_quota"}) || code_text == "insufficient_quota" || code == 402) {
        return Fault::kQuota;
    }
    if (OneOf(type, {"rate_limit_error", "rate_limit_exceeded", "requests", "tokens"}) ||
        code_text == "rate_limit_exceeded" || status == "RESOURCE_EXHAUSTED" || code == 429) {
        return Fault::kRateLimited;
    }
    if (OneOf(type, {"authentication_error", "permission_error"}) ||
        code_text == "invalid_api_key" || OneOf(status, {"UNAUTHENTICATED", "PERMISSION_DENIED"}) ||
        code == 401 || code == 403) {
        return Fault::kAuth;
    }
    if (OneOf(type, {"invalid_request_error", "not_found_error", "request_too_large"}) ||
        OneOf(status, {"INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION"}) ||
        OneOf(code_text, {"context_length_exceeded", "model_not_found"}) ||
        (code >= 400 && code < 500 && code != 408)) {
        return Fault::kBadRequest;
    }
    return Fault::kProviderError;
}

// Gemini's finishReasons that mean "refused" (no text follows from asking again).
bool IsGeminiRefusal(std::string_view reason) {
    return OneOf(reason, {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                          "IMAGE_SAFETY", "LANGUAGE"});
}

// A finish reason (any format) that says the provider refused the content.
bool IsRefusalFinish(std::string_view reason) {
    return IsGeminiRefusal(reason) || reason == "content_filter" || reason == "refusal";
}

// A body that is a provider error object, in any of the shapes providers use:
// {"error": {"message"}}, {"error": "text"}, [{"error": {...}}] (Gemini streams).
bool HasError(const json::value& v) {
    if (const json::value* first = First(&v)) return HasError(*first);
    const json::value* e = Member(v, "error");
    return e != nullptr && !(e->is_string() && e->get_string().empty());
}

std::string ErrorText(const json::value& v) {
    if (const json::value* first = First(&v)) return ErrorText(*first);
    const json::value* e = Member(v, "error");
    if (auto s = StringOf(e); !s.empty()) return std::string(s);
    for (const char* key : {"message", "type", "status", "code"}) {
        if (auto s = StringOf(Member(e, key)); !s.empty()) return std::string(s);
    }
    // Mistral's and vLLM's {"object": "error", "message": ...}; FastAPI's {"detail"}.
    for (const char* key : {"message", "detail"}) {
        if (auto s = StringOf(Member(v, key)); !s.empty()) return std::string(s);
    }
    return {};
}

// At most `limit` bytes of `s`, never ending inside a UTF-8 sequence.
std::string Snippet(std::string_view s, std::size_t limit) {
    if (s.size() <= limit) return std::string(s);
    std::size_t n = limit;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return std::string(s.substr(0, n));
}

// The text parts of a Gemini candidate, joined; thought summaries are not the answer.
std::string GeminiText(const json::value* candidate) {
    std::string text;
    const json::value* parts = Member(Member(candidate, "content"), "parts");
    if (parts == nullptr || !parts->is_array()) return text;
    for (const auto& part : parts->get_array()) {
        if (const json::value* thought = Member(part, "thought");
            thought && thought->is_bool() && thought->get_bool()) {
            continue;
        }
        text.append(StringOf(Member(part, "text")));
    }
    return text;
}

// "blocked: SAFETY" when Gemini refused the prompt itself (no candidates then).
std::optional<std::string> GeminiBlock(const json::value& v) {
    if (First(Member(v, "candidates")) != nullptr) return std::nullopt;
    auto reason = StringOf(Member(Member(v, "promptFeedback"), "blockReason"));
    if (reason.empty()) return std::nullopt;
    return "gemini blocked the prompt: " + std::string(reason);
}

// OpenAI-family content: a string, or (some compatible servers) an array of parts.
std::string OpenAiContent(const json::value* content) {
    if (content == nullptr) return {};
    if (content->is_string()) return std::string(StringOf(content));
    std::string text;
    if (const json::array* parts = content->if_array()) {
        for (const auto& part : *parts) text.append(StringOf(Member(part, "text")));
    }
    return text;
}

Usage UsageOf(const json::value* u, std::string_view in_key, std::string_view out_key) {
    Usage usage;
    usage.input_tokens = CountOf(Member(u, in_key)).value_or(0);
    usage.output_tokens = CountOf(Member(u, out_key)).value_or(0);
    return usage;
}

Checked<StreamStep> DecodeAnthropic(const SseEvent& event, const json::value& v) {
    StreamStep step;
    std::string_view type = event.event;
    if (type.empty()) type = StringOf(Member(v, "type"));
    if (type == "content_block_delta") {
        const json::value* delta = Member(v, "delta");
        if (StringOf(Member(delta, "type")) == "text_delta") {
            step.delta = std::string(StringOf(Member(delta, "text")));
        }
    } else if (type == "content_block_start") {
        const json::value* block = Member(v, "content_block");
        if (StringOf(Member(block, "type")) == "text") {
            step.delta = std::string(StringOf(Member(block, "text")));
        }
    } else if (type == "message_start") {
        if (const json::value* u = Member(Member(v, "message"), "usage")) {
            step.usage = UsageOf(u, "input_tokens", "output_tokens");
        }
    } else if (type == "message_delta") {
        if (const json::value* u = Member(v, "usage")) {
            step.usage = UsageOf(u, "input_tokens", "output_tokens");
        }
        step.finish_reason = std::string(StringOf(Member(Member(v, "delta"), "stop_reason")));
    } else if (type == "message_stop") {
        step.done = true;
    } else if (type == "error" || HasError(v)) {
        std::string message = ErrorText(v);
        return Fail<StreamStep>(FaultOfErrorObject(v),
                                message.empty() ? "anthropic stream error" : message);
    }
    return Pass(std::move(step));
}

Checked<StreamStep> DecodeOpenAi(const json::value& v) {
    if (HasError(v)) {
        std::string message = ErrorText(v);
        return Fail<StreamStep>(FaultOfErrorObject(v),
                                message.empty() ? "provider stream error" : message);
    }
    StreamStep step;
    const json::value* choice = First(Member(v, "choices"));
    const json::value* delta = Member(choice, "delta");
    step.delta = OpenAiContent(Member(delta, "content"));
    step.refusal = std::string(StringOf(Member(delta, "refusal")));
    step.finish_reason = std::string(StringOf(Member(choice, "finish_reason")));
    if (const json::value* u = Member(v, "usage"); u && u->is_object()) {
        step.usage = UsageOf(u, "prompt_tokens", "completion_tokens");
    }
    return Pass(std::move(step));
}

Checked<StreamStep> DecodeGemini(const json::value& v) {
    if (HasError(v)) {
        std::string message = ErrorText(v);
        return Fail<StreamStep>(FaultOfErrorObject(v),
                                message.empty() ? "gemini stream error" : message);
    }
    if (auto blocked = GeminiBlock(v)) return Fail<StreamStep>(Fault::kRefusal, *blocked);
    StreamStep step;
    const json::value* candidate = First(Member(v, "candidates"));
    step.delta = GeminiText(candidate);
    step.finish_reason = std::string(StringOf(Member(candidate, "finishReason")));
    if (!step.finish_reason.empty()) step.done = true;
    if (const json::value* u = Member(v, "usageMetadata"); u && u->is_object()) {
        step.usage = UsageOf(u, "promptTokenCount", "candidatesTokenCount");
    }
    return Pass(std::move(step));
}

}  // namespace

const std::vector<ProviderInfo>& Providers() { return kProviders; }

const ProviderInfo& Info(Provider provider) {
    for (const auto& p : kProviders) {
        if (p.provider == provider) return p;
    }
    return kProviders.front();  // unreachable: the table holds every enumerator
}

Disposition DispositionOf(Fault fault) { return RuleOf(fault).disposition; }

std::string_view ToString(Fault fault) { return RuleOf(fault).name; }

Fault FaultOfStatus(int status) {
    if (status == 429) return Fault::kRateLimited;
    if (status == 401 || status == 403) return Fault::kAuth;
    if (status == 402) return Fault::kQuota;
    if (status == 408) return Fault::kServerError;
    if (status == 503 || status == 529) return Fault::kOverloaded;
    if (status >= 500 && status <= 599) return Fault::kServerError;
    if (status >= 200 && status < 300) return Fault::kNone;
    // Other 4xx, and 1xx/3xx (a redirect means a wrong base URL): asking again is futile.
    return Fault::kBadRequest;
}

std::optional<Provider> ResolveProvider(std::string_view name) {
    const std::string lowered = ToLower(Trim(name));
    for (const auto& p : kProviders) {
        if (p.name == lowered) return p.provider;
    }
    if (const Alias* a = FindAlias(lowered)) return a->provider;
    return std::nullopt;
}

std::optional<std::string> AliasModel(std::string_view name) {
    const Alias* a = FindAlias(ToLower(Trim(name)));
    if (a == nullptr || a->model.empty()) return std::nullopt;
    return std::string(a->model);
}

std::string OpenRouterModel(Provider provider, std::string_view model) {
    if (model.empty()) model = Info(provider).default_model;
    if (model.find('/') != std::string_view::npos) return std::string(model);
    std::string_view vendor;
    switch (provider) {
        case Provider::kAnthropic:
            vendor = "anthropic/";
            break;
        case Provider::kOpenAi:
            vendor = "openai/";
            break;
        case Provider::kGemini:
            vendor = "google/";
            break;
        case Provider::kMistral:
            vendor = "mistralai/";
            break;
        case Provider::kXai:
            vendor = "x-ai/";
            break;
        case Provider::kOpenRouter:
        case Provider::kOpenAiCompatible:
            break;
    }
    // OpenRouter names Anthropic models without the date suffix of the direct API
    // ("claude-sonnet-4-20250514" is "anthropic/claude-sonnet-4" there).
    if (provider == Provider::kAnthropic && model.size() > 9 && model[model.size() - 9] == '-' &&
        std::all_of(model.end() - 8, model.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        model.remove_suffix(9);
    }
    return std::string(vendor) + std::string(model);
}

net::ClientRequest BuildRequest(Provider provider, const ChatRequest& request) {
    const ProviderInfo& info = Info(provider);
    const std::string base = BaseOr(request.base_url, info);
    const std::string_view model =
        request.model.empty() ? info.default_model : std::string_view(request.model);

    net::ClientRequest out;
    out.method = "POST";
    switch (info.format) {
        case Format::kAnthropic:
            out.url = JoinUrl(base, info.chat_path);
            out.body = AnthropicBody(request, model);
            break;
        case Format::kOpenAi:
            out.url = JoinUrl(base, info.chat_path);
            out.body = OpenAiBody(request, model);
            break;
        case Format::kGemini: {
            std::string path = "/v1beta/" + GeminiResource(model);
            path += request.stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
            out.url = JoinUrl(base, path);
            out.body = GeminiBody(request);
            break;
        }
    }
    out.headers.emplace_back("Content-Type", "application/json");
    out.headers.emplace_back("Accept", request.stream ? "text/event-stream" : "application/json");
    AddAuthHeaders(info, request.api_key, out);
    return out;
}

net::ClientRequest BuildModelsRequest(Provider provider, std::string_view base_url,
                                      std::string_view api_key) {
    const ProviderInfo& info = Info(provider);
    net::ClientRequest out;
    out.method = "GET";
    out.url = JoinUrl(BaseOr(base_url, info), info.models_path);
    out.headers.emplace_back("Accept", "application/json");
    AddAuthHeaders(info, api_key, out);
    return out;
}

Checked<Reply> CheckReply(Format format, std::string_view content_type, std::string_view body) {
    const std::string type = ToLower(content_type);
    if (type.find("html") != std::string::npos) {
        return Fail<Reply>(
            Fault::kNotProviderFormat,
            "provider reply is not JSON (Content-Type: " + std::string(content_type) +
                "): " + Snippet(Trim(body), kErrorSnippetBytes));
    }
    const auto parsed = ParseJson(body);
    if (!parsed) {
        return Fail<Reply>(Fault::kNotProviderFormat, "provider reply is not JSON: " +
                                                          Snippet(Trim(body), kErrorSnippetBytes));
    }
    const json::value& v = *parsed;
    if (HasError(v)) {
        std::string message = ErrorText(v);
        return Fail<Reply>(
            FaultOfErrorObject(v),
            "provider error: " + (message.empty() ? Snippet(body, kErrorSnippetBytes) : message));
    }
    if (!v.is_object()) {
        return Fail<Reply>(Fault::kNotProviderFormat, "provider reply is not a JSON object");
    }

    Reply reply;
    std::string finish;
    switch (format) {
        case Format::kAnthropic: {
            const json::value* content = Member(v, "content");
            if (content == nullptr || !content->is_array()) {
                return Fail<Reply>(Fault::kNotProviderFormat,
                                   "anthropic reply has no content array");
            }
            for (const auto& block : content->get_array()) {
                if (StringOf(Member(block, "type")) == "text") {
                    reply.text.append(StringOf(Member(block, "text")));
                }
            }
            finish = std::string(StringOf(Member(v, "stop_reason")));
            reply.usage = UsageOf(Member(v, "usage"), "input_tokens", "output_tokens");
            break;
        }
        case Format::kOpenAi: {
            const json::value* choice = First(Member(v, "choices"));
            const json::value* message = Member(choice, "message");
            if (message == nullptr) {
                return Fail<Reply>(Fault::kNotProviderFormat, "reply has no choices[0].message");
            }
            reply.text = OpenAiContent(Member(message, "content"));
            if (reply.text.empty()) {
                if (auto refusal = StringOf(Member(message, "refusal")); !refusal.empty()) {
                    return Fail<Reply>(Fault::kRefusal, "model refused: " + std::string(refusal));
                }
            }
            finish = std::string(StringOf(Member(choice, "finish_reason")));
            reply.usage = UsageOf(Member(v, "usage"), "prompt_tokens", "completion_tokens");
            break;
        }
        case Format::kGemini: {
            if (auto blocked = GeminiBlock(v)) return Fail<Reply>(Fault::kRefusal, *blocked);
            const json::value* candidate = First(Member(v, "candidates"));
            if (candidate == nullptr) {
                return Fail<Reply>(Fault::kNotProviderFormat, "gemini reply has no candidates");
            }
            reply.text = GeminiText(candidate);
            finish = std::string(StringOf(Member(candidate, "finishReason")));
            if (reply.text.empty() && !finish.empty() && finish != "STOP") {
                return Fail<Reply>(IsGeminiRefusal(finish) ? Fault::kRefusal : Fault::kEmptyReply,
                                   "gemini returned no text (finishReason " + finish + ")");
            }
            reply.usage =
                UsageOf(Member(v, "usageMetadata"), "promptTokenCount", "candidatesTokenCount");
            break;
        }
    }
    if (Trim(reply.text).empty()) {
        if (IsRefusalFinish(finish)) {
            return Fail<Reply>(Fault::kRefusal, "provider refused the prompt (" + finish + ")");
        }
        return Fail<Reply>(Fault::kEmptyReply, "provider returned an empty reply");
    }
    return Pass(std::move(reply));
}

common::Result<Reply> ParseReply(Format format, std::string_view body) {
    auto checked = CheckReply(format, {}, body);
    if (!checked.ok()) return ProviderError(std::move(checked.message));
    return std::move(*checked.value);
}

std::string ErrorMessage(std::string_view body) {
    if (Trim(body).empty()) return {};
    if (const auto parsed = ParseJson(body)) {
        if (std::string message = ErrorText(*parsed); !message.empty()) return message;
    }
    return Snippet(Trim(body), kErrorSnippetBytes);
}

bool SseParser::Line(std::string_view line) {
    if (line.empty()) {
        if (!has_data_) {
            event_.clear();
            return false;
        }
        // Swapped rather than moved: both keep their capacity for the next event.
        ready_.event.swap(event_);
        ready_.data.swap(data_);
        event_.clear();
        data_.clear();
        has_data_ = false;
        return true;
    }
    if (line.front() == ':') return false;
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "event") {
        event_.assign(value);
    } else if (field == "data") {
        if (has_data_) data_.push_back('\n');
        data_.append(value);
        has_data_ = true;
    }
    return false;
}

std::vector<SseEvent> SseParser::Feed(std::string_view piece) {
    std::vector<SseEvent> out;
    Feed(piece, [&out](const SseEvent& e) {
        out.push_back(e);
        return true;
    });
    return out;
}

namespace {

// "[DONE]" and events without data: the same answer on both decoding paths. nullopt when
// the event's data must be decoded.
std::optional<StreamStep> TrivialStep(Format format, const SseEvent& event, std::string_view data) {
    if (format == Format::kOpenAi && data == "[DONE]") {
        StreamStep step;
        step.done = true;
        return step;
    }
    if (data.empty()) {
        StreamStep step;
        if (format == Format::kAnthropic && event.event == "message_stop") step.done = true;
        return step;
    }
    return std::nullopt;
}

Checked<StreamStep> MalformedEvent(std::string_view data) {
    return Fail<StreamStep>(Fault::kStreamMalformed,
                            "malformed stream event: " + Snippet(data, kErrorSnippetBytes));
}

// The document decoder (every shape, error objects): parse, then read the members.
Checked<StreamStep> DecodeDocument(Format format, const SseEvent& event, std::string_view data) {
    unsigned char buffer[4096];
    json::monotonic_resource arena(buffer, sizeof buffer);
    boost::system::error_code ec;
    const json::value parsed = json::parse(data, ec, &arena);
    if (ec) return MalformedEvent(data);
    switch (format) {
        case Format::kAnthropic:
            return DecodeAnthropic(event, parsed);
        case Format::kOpenAi:
            return DecodeOpenAi(parsed);
        case Format::kGemini:
            return DecodeGemini(parsed);
    }
    return Pass(StreamStep{});
}

// CheckStreamEvent of the trimmed `data`; with `span`, where the step's text lies when the
// SAX extractor decoded it (found is false for every other answer).
Checked<StreamStep> CheckTrimmed(Format format, const SseEvent& event, std::string_view data,
                                 detail::TextSpan* span) {
    if (auto step = TrivialStep(format, event, data)) return Pass(std::move(*step));
    // One event per token: the members the decoders read are taken as the JSON is parsed,
    // without a document; error objects and odd shapes go to the document decoder.
    StreamStep step;
    switch (detail::ExtractStreamStep(format, event.event, data, step, span)) {
        case detail::Extraction::kDecoded:
            return Pass(std::move(step));
        case detail::Extraction::kMalformed:
            return MalformedEvent(data);
        case detail::Extraction::kDeclined:
            if (span != nullptr) *span = detail::TextSpan{};
            break;
    }
    return DecodeDocument(format, event, data);
}

}  // namespace

Checked<StreamStep> CheckStreamEvent(Format format, const SseEvent& event) {
    return CheckTrimmed(format, event, Trim(event.data), nullptr);
}

Checked<StreamStep> CheckStreamEventDocument(Format format, const SseEvent& event) {
    const std::string_view data = Trim(event.data);
    if (auto step = TrivialStep(format, event, data)) return Pass(std::move(*step));
    return DecodeDocument(format, event, data);
}

common::Result<StreamStep> DecodeStreamEvent(Format format, const SseEvent& event) {
    auto checked = CheckStreamEvent(format, event);
    if (!checked.ok()) return ProviderError(std::move(checked.message));
    return std::move(*checked.value);
}

common::Result<std::vector<std::string>> StreamDecoder::Feed(std::string_view piece) {
    std::vector<std::string> deltas;
    auto fed = FeedEach(piece, [&deltas](std::string&& d) { deltas.push_back(std::move(d)); });
    if (!fed) return fed.error();
    return deltas;
}

common::Status StreamDecoder::FeedInto(std::string_view piece, std::string& text) {
    return FeedEach(piece, [&text](std::string&& d) { text += d; });
}

Checked<StreamStep> StreamDecoder::Decode(const SseEvent& event) {
    const std::string_view data = Trim(event.data);
    Shape& shape = shape_;
    if (shape.valid && event.event == shape.event_type &&
        data.size() >= shape.prefix.size() + shape.suffix.size() &&
        data.substr(0, shape.prefix.size()) == shape.prefix &&
        data.substr(data.size() - shape.suffix.size()) == shape.suffix) {
        const std::string_view text = data.substr(
            shape.prefix.size(), data.size() - shape.prefix.size() - shape.suffix.size());
        if (detail::IsPlainJsonText(text)) {
            Checked<StreamStep> out;
            out.value.emplace(shape.step);
            out.value->delta.assign(text);
            return out;
        }
    }
    detail::TextSpan span;
    Checked<StreamStep> checked = CheckTrimmed(format_, event, data, &span);
    if (!checked.ok()) return checked;
    const StreamStep& step = *checked.value;
    // Learnt only from a text that is the whole delta (not a thought part, not a text
    // the event type leaves out), and not empty (an empty delta says nothing of where
    // it came from).
    if (span.found && span.size > 0 && step.delta == data.substr(span.offset, span.size)) {
        shape.valid = true;
        shape.event_type.assign(event.event);
        shape.prefix.assign(data.substr(0, span.offset));
        shape.suffix.assign(data.substr(span.offset + span.size));
        shape.step.finish_reason.assign(step.finish_reason);
        shape.step.refusal.assign(step.refusal);
        shape.step.usage = step.usage;
        shape.step.done = step.done;
    }
    return checked;
}

template <class OnDelta>
common::Status StreamDecoder::FeedEach(std::string_view piece, OnDelta&& on_delta) {
    if (error_) return *error_;
    if (done_) return {};
    // Events are decoded as the parser completes them, from its own reused buffers.
    parser_.Feed(piece, [&](const SseEvent& event) {
        auto step = Decode(event);
        if (!step.ok()) {
            fault_ = step.fault;
            error_ = ProviderError(std::move(step.message));
            return false;
        }
        saw_event_ = true;
        if (!step->finish_reason.empty()) {
            finished_ = true;
            finish_reason_ = std::move(step->finish_reason);
        }
        refusal_ += step->refusal;
        if (!step->delta.empty()) {
            text_ += step->delta;
            on_delta(std::move(step->delta));
        }
        if (step->usage) {
            if (step->usage->input_tokens > 0) usage_.input_tokens = step->usage->input_tokens;
            if (step->usage->output_tokens > 0) usage_.output_tokens = step->usage->output_tokens;
        }
        if (step->done) {
            done_ = true;
            return false;
        }
        return true;
    });
    if (error_) return *error_;
    return {};
}

Checked<Reply> StreamDecoder::Finish(bool body_complete, std::string_view content_type) const {
    if (error_) return Fail<Reply>(fault_, error_->message);
    if (!saw_event_) {
        return Fail<Reply>(
            Fault::kNotProviderFormat,
            "the reply was not an event stream (Content-Type: " + std::string(content_type) + ")");
    }
    if (!complete()) {
        return Fail<Reply>(Fault::kStreamCut,
                           body_complete ? "the stream ended before its final event"
                                         : "the connection closed in the middle of the stream");
    }
    if (Trim(text_).empty()) {
        if (!refusal_.empty()) return Fail<Reply>(Fault::kRefusal, "model refused: " + refusal_);
        if (IsRefusalFinish(finish_reason_)) {
            return Fail<Reply>(Fault::kRefusal,
                               "provider refused the prompt (" + finish_reason_ + ")");
        }
        return Fail<Reply>(Fault::kEmptyReply, "the streamed reply was empty");
    }
    return Pass(Reply{text_, usage_});
}

}  // namespace aragora::agents::wire
