// The one translation unit of the fake that includes Asio's and Beast's headers (Beast
// header-only here; Asio's implementation comes from aragora_common).

#include "fake_llm.hpp"

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <thread>

#include "common/json_text.hpp"

namespace aragora::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t kMaxRecords = 100000;
constexpr std::size_t kControlListed = 100;
constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;
constexpr auto kStopGrace = std::chrono::seconds(3);

// ---------------------------------------------------------------------------------------
// Text helpers

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t CountWords(std::string_view text) {
    std::size_t words = 0;
    bool in_word = false;
    for (char c : text) {
        if (IsSpace(c)) {
            in_word = false;
        } else if (!in_word) {
            in_word = true;
            ++words;
        }
    }
    return words;
}

// Word tokens that concatenate back to `text`: each is the whitespace before a word plus
// the word; trailing whitespace joins the last token.
std::vector<std::string> SplitTokens(std::string_view text) {
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t start = i;
        while (i < text.size() && IsSpace(text[i])) ++i;
        if (i == text.size()) {
            if (tokens.empty()) {
                tokens.emplace_back(text.substr(start));
            } else {
                tokens.back().append(text.substr(start));
            }
            break;
        }
        while (i < text.size() && !IsSpace(text[i])) ++i;
        tokens.emplace_back(text.substr(start, i - start));
    }
    return tokens;
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
    return s;
}

uint64_t Fnv1a(std::string_view s) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

// "Critique the proposal of <name>:" → name.
std::string CritiqueTarget(std::string_view prompt) {
    constexpr std::string_view kMarker = "Critique the proposal of ";
    auto pos = prompt.find(kMarker);
    if (pos == std::string_view::npos) return {};
    auto rest = prompt.substr(pos + kMarker.size());
    auto end = rest.find_first_of(":\n");
    return std::string(Trim(rest.substr(0, end)));
}

// The name after the first line starting with "### ".
std::string FirstHeading(std::string_view prompt) {
    std::size_t pos = 0;
    while (pos <= prompt.size()) {
        auto end = prompt.find('\n', pos);
        auto line =
            prompt.substr(pos, end == std::string_view::npos ? prompt.size() - pos : end - pos);
        if (line.substr(0, 4) == "### ") return std::string(Trim(line.substr(4)));
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    return {};
}

constexpr std::array<std::string_view, 4> kSubjects = {
    "a staged rollout", "a read-through cache", "a bounded work queue", "an incremental migration"};

std::string GenerateReply(std::string_view prompt) {
    const uint64_t h = Fnv1a(prompt);
    const auto subject = kSubjects[h % kSubjects.size()];
    const auto percent = std::to_string(5 + (h >> 8) % 21);
    const auto budget_ms = std::to_string(100 + (h >> 16) % 9 * 50);
    const auto weeks = std::to_string(2 + (h >> 24) % 5);

    if (prompt.find("Critique the proposal of") != std::string_view::npos) {
        const auto target = CritiqueTarget(prompt);
        json::object o;
        o["issues"] = json::array{
            "The proposal of " + target + " gives no measured source for its main figure.",
            "It does not say what happens when the load doubles within " + weeks + " weeks."};
        o["suggestions"] = json::array{
            "Cite a measured baseline, e.g. a " + budget_ms + " ms p99 from production traces.",
            "Add a rollback step with an explicit trigger."};
        o["severity"] = 4;
        o["reasoning"] = "The direction is sound, but the evidence behind the numbers is thin.";
        return common::SerializeJson(o);
    }
    if (prompt.find("Vote for the proposal") != std::string_view::npos) {
        const auto choice = FirstHeading(prompt);
        json::object o;
        o["choice"] = choice;
        o["confidence"] = 0.8;
        o["reasoning"] = choice + " gives the most specific and testable plan.";
        return common::SerializeJson(o);
    }
    if (prompt.find("You are the judge") != std::string_view::npos) {
        return "Synthesis: the proposals agree on " + std::string(subject) +
               ". The final answer is to pilot it on " + percent +
               " percent of the traffic with a " + budget_ms +
               " ms latency budget, and to resolve the critiques about missing evidence by "
               "measuring each stage before widening it.";
    }
    return "I recommend " + std::string(subject) + ": start with a pilot on " + percent +
           " percent of the traffic, keep p99 latency under " + budget_ms +
           " ms, and widen the scope over " + weeks +
           " weeks because each stage gives measured evidence, for example error rates and "
           "cost per request, before the next step.\nConfidence: 0.8";
}

// ---------------------------------------------------------------------------------------
// Wire formats

enum class Kind { kChat, kModels, kUnknown };

struct Route {
    std::string format;
    Kind kind = Kind::kUnknown;
    std::string model;  // Gemini: from the path
    bool stream = false;
};

bool HasHeader(const http::request<http::string_body>& req, std::string_view name) {
    return req.find(name) != req.end();
}

Route Classify(const http::request<http::string_body>& req, std::string_view path) {
    Route r;
    const bool post = req.method() == http::verb::post;
    const bool get = req.method() == http::verb::get;
    constexpr std::string_view kGeminiModels = "/v1beta/models";
    if (path == "/v1/messages") {
        r.format = "anthropic";
        if (post) r.kind = Kind::kChat;
    } else if (path == "/v1/chat/completions" || path == "/api/v1/chat/completions") {
        r.format = "openai";
        if (post) r.kind = Kind::kChat;
    } else if (path == "/v1/models") {
        r.format = HasHeader(req, "x-api-key") || HasHeader(req, "anthropic-version") ? "anthropic"
                                                                                      : "openai";
        if (get) r.kind = Kind::kModels;
    } else if (path == "/api/v1/models" || path == "/api/v1/key") {
        r.format = "openai";
        if (get) r.kind = Kind::kModels;
    } else if (path == kGeminiModels) {
        r.format = "gemini";
        if (get) r.kind = Kind::kModels;
    } else if (path.substr(0, kGeminiModels.size() + 1) == "/v1beta/models/") {
        r.format = "gemini";
        auto rest = path.substr(kGeminiModels.size() + 1);
        auto colon = rest.rfind(':');
        if (post && colon != std::string_view::npos) {
            auto verb = rest.substr(colon + 1);
            if (verb == "generateContent" || verb == "streamGenerateContent") {
                r.kind = Kind::kChat;
                r.model = std::string(rest.substr(0, colon));
                r.stream = verb == "streamGenerateContent";
            }
        }
    } else if (path.substr(0, 7) == "/v1beta") {
        r.format = "gemini";
    }
    return r;
}

const json::value* Find(const json::object& o, std::string_view key) { return o.if_contains(key); }

std::string StringField(const json::object& o, std::string_view key) {
    const auto* v = Find(o, key);
    if (v == nullptr || !v->is_string()) return {};
    return std::string(v->get_string());
}

// Text of a message `content`: a string, or an array of {"type":"text","text"} parts.
std::string ContentText(const json::value& content) {
    if (content.is_string()) return std::string(content.get_string());
    std::string out;
    if (const auto* parts = content.if_array()) {
        for (const auto& part : *parts) {
            const auto* obj = part.if_object();
            if (obj == nullptr) continue;
            const auto* text = obj->if_contains("text");
            if (text != nullptr && text->is_string()) out += std::string(text->get_string());
        }
    }
    return out;
}

// The last user message of a chat body (Anthropic and OpenAI: messages[]; Gemini:
// contents[] with role "user" or no role, parts[].text).
std::string Prompt(const std::string& format, const json::object& body) {
    if (format == "gemini") {
        const auto* contents = Find(body, "contents");
        if (contents == nullptr || !contents->is_array()) return {};
        const auto& arr = contents->get_array();
        for (auto it = arr.rbegin(); it != arr.rend(); ++it) {
            const auto* obj = it->if_object();
            if (obj == nullptr) continue;
            const auto role = StringField(*obj, "role");
            if (!role.empty() && role != "user") continue;
            const auto* parts = obj->if_contains("parts");
            return parts != nullptr ? ContentText(*parts) : std::string{};
        }
        return {};
    }
    const auto* messages = Find(body, "messages");
    if (messages == nullptr || !messages->is_array()) return {};
    const auto& arr = messages->get_array();
    for (auto it = arr.rbegin(); it != arr.rend(); ++it) {
        const auto* obj = it->if_object();
        if (obj == nullptr || StringField(*obj, "role") != "user") continue;
        const auto* content = obj->if_contains("content");
        return content != nullptr ? ContentText(*content) : std::string{};
    }
    return {};
}

bool BoolField(const json::object& o, std::string_view key) {
    const auto* v = Find(o, key);
    return v != nullptr && v->is_bool() && v->get_bool();
}

std::optional<int64_t> AsInt(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) return static_cast<int64_t>(v.get_uint64());
    if (v.is_double()) return static_cast<int64_t>(v.get_double());
    return std::nullopt;
}

json::object Usage(const std::string& format, std::size_t in, std::size_t out) {
    json::object u;
    if (format == "anthropic") {
        u["input_tokens"] = in;
        u["output_tokens"] = out;
    } else if (format == "gemini") {
        u["promptTokenCount"] = in;
        u["candidatesTokenCount"] = out;
        u["totalTokenCount"] = in + out;
    } else {
        u["prompt_tokens"] = in;
        u["completion_tokens"] = out;
        u["total_tokens"] = in + out;
    }
    return u;
}

int64_t UnixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

json::object GeminiCandidate(std::string_view text, bool finished) {
    json::object part;
    part["text"] = text;
    json::object content;
    content["role"] = "model";
    content["parts"] = json::array{part};
    json::object candidate;
    candidate["content"] = std::move(content);
    if (finished) candidate["finishReason"] = "STOP";
    candidate["index"] = 0;
    return candidate;
}

std::string ChatReply(const std::string& format, const std::string& model, const std::string& id,
                      const std::string& text, std::size_t in, std::size_t out) {
    json::object o;
    if (format == "anthropic") {
        json::object block;
        block["type"] = "text";
        block["text"] = text;
        o["id"] = "msg_" + id;
        o["type"] = "message";
        o["role"] = "assistant";
        o["model"] = model;
        o["content"] = json::array{block};
        o["stop_reason"] = "end_turn";
        o["stop_sequence"] = nullptr;
        o["usage"] = Usage(format, in, out);
    } else if (format == "gemini") {
        o["candidates"] = json::array{GeminiCandidate(text, true)};
        o["usageMetadata"] = Usage(format, in, out);
        o["modelVersion"] = model;
    } else {
        json::object message;
        message["role"] = "assistant";
        message["content"] = text;
        json::object choice;
        choice["index"] = 0;
        choice["message"] = std::move(message);
        choice["finish_reason"] = "stop";
        o["id"] = "chatcmpl-" + id;
        o["object"] = "chat.completion";
        o["created"] = UnixNow();
        o["model"] = model;
        o["choices"] = json::array{choice};
        o["usage"] = Usage(format, in, out);
    }
    return common::SerializeJson(o);
}

std::string AnthropicEvent(std::string_view name, const json::object& data) {
    return "event: " + std::string(name) + "\ndata: " + common::SerializeJson(data) + "\n\n";
}

std::string DataEvent(const json::object& data, std::string_view end = "\n\n") {
    return "data: " + common::SerializeJson(data) + std::string(end);
}

json::object OpenAiChunk(const std::string& id, const std::string& model, json::object delta,
                         bool finished) {
    json::object choice;
    choice["index"] = 0;
    choice["delta"] = std::move(delta);
    if (finished) {
        choice["finish_reason"] = "stop";
    } else {
        choice["finish_reason"] = nullptr;
    }
    json::object o;
    o["id"] = "chatcmpl-" + id;
    o["object"] = "chat.completion.chunk";
    o["created"] = UnixNow();
    o["model"] = model;
    o["choices"] = json::array{choice};
    return o;
}

// An event rendered once around a placeholder string, then filled per token: the same
// bytes as serializing each event, at the cost of a string copy (streams of thousands of
// concurrent calls spend their CPU here otherwise).
class TokenTemplate {
public:
    static constexpr std::string_view kPlaceholder = "\x01token\x01";

    explicit TokenTemplate(const std::string& rendered) {
        const std::string quoted = common::SerializeJson(json::value(kPlaceholder));
        const auto at = rendered.find(quoted);
        if (at == std::string::npos) {
            prefix_ = rendered;
            return;
        }
        prefix_ = rendered.substr(0, at);
        suffix_ = rendered.substr(at + quoted.size());
        found_ = true;
    }

    std::string Fill(std::string_view token) const {
        if (!found_) return prefix_;
        return prefix_ + common::SerializeJson(json::value(token)) + suffix_;
    }

private:
    std::string prefix_;
    std::string suffix_;
    bool found_ = false;
};

// Every event of a streamed reply, each a complete SSE event.
std::vector<std::string> StreamEvents(const std::string& format, const std::string& model,
                                      const std::string& id, const std::string& text,
                                      std::size_t in, std::size_t out, bool include_usage) {
    std::vector<std::string> events;
    const auto tokens = SplitTokens(text);
    if (format == "anthropic") {
        json::object message;
        message["id"] = "msg_" + id;
        message["type"] = "message";
        message["role"] = "assistant";
        message["model"] = model;
        message["content"] = json::array{};
        message["stop_reason"] = nullptr;
        message["stop_sequence"] = nullptr;
        message["usage"] = Usage(format, in, 1);
        events.push_back(AnthropicEvent(
            "message_start", json::object{{"type", "message_start"}, {"message", message}}));
        json::object block_start{{"type", "content_block_start"}, {"index", 0}};
        block_start["content_block"] = json::object{{"type", "text"}, {"text", ""}};
        events.push_back(AnthropicEvent("content_block_start", block_start));
        events.push_back(AnthropicEvent("ping", json::object{{"type", "ping"}}));
        json::object delta{{"type", "content_block_delta"}, {"index", 0}};
        delta["delta"] =
            json::object{{"type", "text_delta"}, {"text", TokenTemplate::kPlaceholder}};
        const TokenTemplate token_event(AnthropicEvent("content_block_delta", delta));
        for (const auto& token : tokens) events.push_back(token_event.Fill(token));
        events.push_back(AnthropicEvent(
            "content_block_stop", json::object{{"type", "content_block_stop"}, {"index", 0}}));
        json::object message_delta{{"type", "message_delta"}};
        message_delta["delta"] =
            json::object{{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}};
        message_delta["usage"] = json::object{{"output_tokens", out}};
        events.push_back(AnthropicEvent("message_delta", message_delta));
        events.push_back(AnthropicEvent("message_stop", json::object{{"type", "message_stop"}}));
    } else if (format == "gemini") {
        if (tokens.empty()) {
            json::object o;
            o["candidates"] = json::array{GeminiCandidate("", true)};
            o["usageMetadata"] = Usage(format, in, out);
            o["modelVersion"] = model;
            events.push_back(DataEvent(o, "\r\n\r\n"));
        }
        json::object middle;
        middle["candidates"] = json::array{GeminiCandidate(TokenTemplate::kPlaceholder, false)};
        middle["modelVersion"] = model;
        const TokenTemplate token_event(DataEvent(middle, "\r\n\r\n"));
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            const bool last = i + 1 == tokens.size();
            if (!last) {
                events.push_back(token_event.Fill(tokens[i]));
                continue;
            }
            json::object o;
            o["candidates"] = json::array{GeminiCandidate(tokens[i], last)};
            if (last) o["usageMetadata"] = Usage(format, in, out);
            o["modelVersion"] = model;
            events.push_back(DataEvent(o, "\r\n\r\n"));
        }
    } else {
        events.push_back(DataEvent(
            OpenAiChunk(id, model, json::object{{"role", "assistant"}, {"content", ""}}, false)));
        const TokenTemplate token_event(DataEvent(
            OpenAiChunk(id, model, json::object{{"content", TokenTemplate::kPlaceholder}}, false)));
        for (const auto& token : tokens) events.push_back(token_event.Fill(token));
        events.push_back(DataEvent(OpenAiChunk(id, model, json::object{}, true)));
        if (include_usage) {
            json::object o;
            o["id"] = "chatcmpl-" + id;
            o["object"] = "chat.completion.chunk";
            o["created"] = UnixNow();
            o["model"] = model;
            o["choices"] = json::array{};
            o["usage"] = Usage(format, in, out);
            events.push_back(DataEvent(o));
        }
        events.push_back("data: [DONE]\n\n");
    }
    return events;
}

// A first valid event, then one whose data is cut-off JSON.
std::vector<std::string> MalformedStreamEvents(const std::string& format, const std::string& model,
                                               const std::string& id) {
    auto events = StreamEvents(format, model, id, "Hello", 1, 1, false);
    events.resize(1);
    if (format == "anthropic") {
        events.push_back(
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\n\n");
    } else if (format == "gemini") {
        events.push_back("data: {\"candidates\": [{\"content\": {\r\n\r\n");
    } else {
        events.push_back("data: {\"id\":\"chatcmpl-" + id + "\",\"choices\":[{\"delta\":{\n\n");
    }
    return events;
}

std::string MalformedBody(const std::string& format) {
    if (format == "anthropic") return "{\"content\": [";
    if (format == "gemini") return "{\"candidates\": [";
    return "{\"choices\": [";
}

// What a gateway in front of a provider answers on a bad day: 200 text/html.
constexpr std::string_view kGatewayErrorPage =
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>\n"
    "<h1>502 Bad Gateway</h1>\n<p>The upstream server returned an invalid response.</p>\n"
    "<hr><address>fake-gateway</address>\n</body></html>\n";

// 200 application/json that is valid JSON but no provider's reply format.
std::string ForeignJsonBody(uint64_t seq) {
    json::object o;
    o["status"] = "error";
    o["message"] = "upstream request timeout";
    o["request_id"] = "fake-" + std::to_string(seq);
    return common::SerializeJson(o);
}

// The kind a decided answer is counted under in the stats' "faults" ("" for kOk).
std::string FaultKind(FakeAction action, int status) {
    switch (action) {
        case FakeAction::kOk:
            return {};
        case FakeAction::kStatus:
            return "status_" + std::to_string(status);
        case FakeAction::kHang:
            return "hang";
        case FakeAction::kMalformed:
            return "malformed";
        case FakeAction::kCutStream:
            return "cut_stream";
        case FakeAction::kWrongContentType:
            return "html_200";
        case FakeAction::kForeignJson:
            return "foreign_json_200";
        case FakeAction::kFlaky:
            break;
    }
    return "flaky";
}

std::string ModelList(const std::string& format) {
    json::object o;
    if (format == "anthropic") {
        json::object m{{"type", "model"},
                       {"id", "claude-sonnet-4-20250514"},
                       {"display_name", "Claude Sonnet 4"},
                       {"created_at", "2025-05-14T00:00:00Z"}};
        o["data"] = json::array{m};
        o["has_more"] = false;
        o["first_id"] = "claude-sonnet-4-20250514";
        o["last_id"] = "claude-sonnet-4-20250514";
    } else if (format == "gemini") {
        json::object m{{"name", "models/gemini-2.0-flash"}, {"displayName", "Gemini 2.0 Flash"}};
        m["supportedGenerationMethods"] = json::array{"generateContent", "streamGenerateContent"};
        o["models"] = json::array{m};
    } else {
        json::object m{
            {"id", "gpt-4o"}, {"object", "model"}, {"created", 1715367049}, {"owned_by", "system"}};
        o["object"] = "list";
        o["data"] = json::array{m};
    }
    return common::SerializeJson(o);
}

std::string ErrorBody(const std::string& format, int status, std::string_view message) {
    json::object o;
    if (format == "anthropic") {
        std::string type = "api_error";
        switch (status) {
            case 400:
                type = "invalid_request_error";
                break;
            case 401:
                type = "authentication_error";
                break;
            case 403:
                type = "permission_error";
                break;
            case 404:
                type = "not_found_error";
                break;
            case 413:
                type = "request_too_large";
                break;
            case 429:
                type = "rate_limit_error";
                break;
            case 529:
                type = "overloaded_error";
                break;
            default:
                break;
        }
        o["type"] = "error";
        o["error"] = json::object{{"type", type}, {"message", message}};
    } else if (format == "gemini") {
        std::string s = status >= 500 ? "INTERNAL" : "UNKNOWN";
        switch (status) {
            case 400:
                s = "INVALID_ARGUMENT";
                break;
            case 401:
                s = "UNAUTHENTICATED";
                break;
            case 403:
                s = "PERMISSION_DENIED";
                break;
            case 404:
                s = "NOT_FOUND";
                break;
            case 429:
                s = "RESOURCE_EXHAUSTED";
                break;
            case 503:
                s = "UNAVAILABLE";
                break;
            case 504:
                s = "DEADLINE_EXCEEDED";
                break;
            default:
                break;
        }
        o["error"] = json::object{{"code", status}, {"message", message}, {"status", s}};
    } else {
        std::string type = status >= 500 ? "server_error" : "invalid_request_error";
        std::string code = status >= 500 ? "server_error" : "invalid_request";
        switch (status) {
            case 401:
                code = "invalid_api_key";
                break;
            case 403:
                code = "permission_denied";
                break;
            case 404:
                code = "model_not_found";
                break;
            case 429:
                type = "rate_limit_exceeded";
                code = "rate_limit_exceeded";
                break;
            default:
                break;
        }
        o["error"] =
            json::object{{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}};
    }
    return common::SerializeJson(o);
}

std::string ErrorMessageFor(int status) {
    switch (status) {
        case 401:
            return "fake: invalid API key";
        case 403:
            return "fake: permission denied";
        case 404:
            return "fake: not found";
        case 429:
            return "fake: rate limit exceeded";
        case 529:
            return "fake: overloaded";
        default:
            return "fake: scripted error " + std::to_string(status);
    }
}

std::string Reason(int status) {
    if (status == 529) return "Site Overloaded";
    auto reason = http::obsolete_reason(static_cast<http::status>(status));
    if (reason.empty() || reason.front() == '<') return "Unknown";
    return std::string(reason);
}

struct Head {
    int status = 200;
    std::string content_type = "application/json";
    std::optional<std::size_t> content_length;
    bool chunked = false;
    bool keep_alive = true;
    bool http10 = false;
    std::vector<std::pair<std::string, std::string>> extra;
};

std::string RenderHead(const Head& h) {
    std::string out = h.http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(h.status) + " " + Reason(h.status) + "\r\n";
    out += "Server: aragora-fake-llm\r\n";
    out += "Content-Type: " + h.content_type + "\r\n";
    if (h.content_length) out += "Content-Length: " + std::to_string(*h.content_length) + "\r\n";
    if (h.chunked) out += "Transfer-Encoding: chunked\r\n";
    for (const auto& [name, value] : h.extra) out += name + ": " + value + "\r\n";
    out += h.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    out += "\r\n";
    return out;
}

std::string Chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string out = size;
    out.append(data);
    out += "\r\n";
    return out;
}

std::optional<FakeAction> ParseAction(std::string_view s) {
    if (s == "ok") return FakeAction::kOk;
    if (s == "status") return FakeAction::kStatus;
    if (s == "hang") return FakeAction::kHang;
    if (s == "malformed") return FakeAction::kMalformed;
    if (s == "cut_stream") return FakeAction::kCutStream;
    if (s == "wrong_content_type") return FakeAction::kWrongContentType;
    if (s == "foreign_json") return FakeAction::kForeignJson;
    if (s == "flaky") return FakeAction::kFlaky;
    return std::nullopt;
}

std::string_view ActionName(FakeAction a) {
    switch (a) {
        case FakeAction::kOk:
            return "ok";
        case FakeAction::kStatus:
            return "status";
        case FakeAction::kHang:
            return "hang";
        case FakeAction::kMalformed:
            return "malformed";
        case FakeAction::kCutStream:
            return "cut_stream";
        case FakeAction::kWrongContentType:
            return "wrong_content_type";
        case FakeAction::kForeignJson:
            return "foreign_json";
        case FakeAction::kFlaky:
            return "flaky";
    }
    return "ok";
}

// A rule from its control-API JSON; an error message on bad input.
std::optional<FakeRule> ParseRule(const json::value& v, std::string& error) {
    const auto* o = v.if_object();
    if (o == nullptr) {
        error = "a rule must be a JSON object";
        return std::nullopt;
    }
    FakeRule rule;
    for (const auto& [key, value] : *o) {
        if (key == "format" || key == "model" || key == "action" || key == "text") {
            if (!value.is_string()) {
                error = "rule field '" + std::string(key) + "' must be a string";
                return std::nullopt;
            }
            std::string s(value.get_string());
            if (key == "format") {
                if (!s.empty() && s != "anthropic" && s != "openai" && s != "gemini") {
                    error = "unknown format '" + s + "'";
                    return std::nullopt;
                }
                rule.format = s;
            } else if (key == "model") {
                rule.model = s;
            } else if (key == "text") {
                rule.text = s;
            } else {
                auto action = ParseAction(s);
                if (!action) {
                    error = "unknown action '" + s + "'";
                    return std::nullopt;
                }
                rule.action = *action;
            }
        } else if (key == "probability") {
            if (!value.is_number()) {
                error = "rule field 'probability' must be a number";
                return std::nullopt;
            }
            const double p = value.to_number<double>();
            if (!(p >= 0.0 && p <= 1.0)) {
                error = "probability must be 0..1";
                return std::nullopt;
            }
            rule.probability = p;
        } else if (key == "status" || key == "retry_after_seconds" || key == "latency_ms" ||
                   key == "times") {
            auto n = AsInt(value);
            if (!n) {
                error = "rule field '" + std::string(key) + "' must be a number";
                return std::nullopt;
            }
            if (key == "status") {
                if (*n < 100 || *n > 999) {
                    error = "status must be 100..999";
                    return std::nullopt;
                }
                rule.status = static_cast<int>(*n);
            } else if (key == "retry_after_seconds") {
                rule.retry_after_seconds = static_cast<int>(*n);
            } else if (key == "latency_ms") {
                rule.latency = std::chrono::milliseconds(*n);
            } else {
                rule.times = static_cast<int>(*n);
            }
        } else {
            error = "unknown rule field '" + std::string(key) + "'";
            return std::nullopt;
        }
    }
    return rule;
}

// The answer to one request, decided from the rules before anything is sent.
struct Decision {
    FakeAction action = FakeAction::kOk;
    int status = 200;
    int retry_after_seconds = -1;
    std::chrono::milliseconds latency{0};
    std::optional<std::string> text;
    std::string fault;  // the fault's kind for the stats ("" = none): FaultKind()
};

// What a request asks for, as far as the answer depends on it.
struct Answer {
    std::string format;
    Kind kind = Kind::kChat;
    std::string model;
    std::string id;
    std::string text;
    std::size_t in = 0;
    std::size_t out = 0;
    bool stream = false;
    bool include_usage = false;
    bool keep_alive = true;
    bool http10 = false;
    uint64_t seq = 0;
};

enum class Waited { kElapsed, kClientGone, kStopped };

struct Conn {
    explicit Conn(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
    tcp::socket socket;
    asio::steady_timer timer;
    // False once unread bytes (a pipelined request) are pending: readability then says
    // nothing about the client going away.
    bool watch = true;
};

}  // namespace

// ---------------------------------------------------------------------------------------

struct FakeLlmServer::Impl {
    struct RuleState {
        FakeRule rule;
        int remaining;  // -1 = forever
    };

    // State first: the io_context (declared after it) is destroyed first, and destroying
    // it destroys suspended coroutine frames whose destructors may still touch this.
    std::atomic<bool> stopping{false};
    std::atomic<int64_t> default_latency_ms{0};
    std::atomic<int64_t> token_delay_ms{0};
    std::atomic<uint64_t> next_id{1};
    std::atomic<std::size_t> kept_requests{kMaxRecords};
    std::atomic<std::size_t> open_conns{0};
    std::atomic<std::size_t> conns_peak{0};
    std::atomic<std::size_t> conns_total{0};
    std::atomic<std::size_t> in_flight{0};
    std::atomic<std::size_t> in_flight_peak{0};

    mutable std::mutex mu;
    std::vector<RuleState> rules;
    std::deque<std::pair<uint64_t, FakeRequest>> requests;
    std::size_t request_count = 0;
    std::vector<Clock::time_point> aborts;
    // Random faults (rules with probability < 1, action flaky): one generator for every
    // decision, under mu, so a sequence of requests is decided the same way for a seed.
    uint64_t seed = 0;
    std::mt19937_64 rng{0};
    std::map<std::string, std::size_t> faults;  // kind -> injected (FaultKind)
    std::size_t tokens_input = 0;               // billed like a provider would: see Bill()
    std::size_t tokens_output = 0;
    std::size_t tokens_output_cut = 0;  // output tokens sent in streams then cut

    std::mutex conns_mu;
    std::condition_variable conns_cv;
    std::map<uint64_t, std::weak_ptr<Conn>> conns;

    std::string host;
    uint16_t port = 0;

    asio::io_context ioc{2};
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    tcp::acceptor acceptor{asio::make_strand(ioc)};
    std::vector<std::thread> threads;

    void Start(const std::string& bind_host, uint16_t bind_port);
    void Stop();

    asio::awaitable<void> Accept();
    asio::awaitable<void> Session(std::shared_ptr<Conn> conn);
    asio::awaitable<bool> Handle(Conn& conn, http::request<http::string_body>& req);
    asio::awaitable<bool> Respond(Conn& conn, const Answer& a, const Decision& d);
    asio::awaitable<Waited> Hold(Conn& conn, std::chrono::milliseconds d);
    asio::awaitable<void> HangUntilGone(Conn& conn);
    // `data` must outlive the call (a named local of the caller: g++ 12 mishandles
    // temporaries bound in co_await expressions).
    asio::awaitable<bool> Write(Conn& conn, const std::string& data);
    std::pair<int, std::string> Control(http::verb method, std::string_view path,
                                        const std::string& body);

    bool Register(uint64_t id, const std::shared_ptr<Conn>& conn);
    void Unregister(uint64_t id);
    void RecordAbort();
    uint64_t Record(FakeRequest r);
    void SetStatusSent(uint64_t seq, int status);
    Decision Decide(const std::string& format, const std::string& model);
    double Uniform();  // [0, 1) from rng; mu held
    void Bill(const Answer& a, const Decision& d);
    void SetSeed(uint64_t s);
    FakeStats Stats() const;
};

namespace {

void RaisePeak(std::atomic<std::size_t>& peak, std::size_t value) {
    std::size_t seen = peak.load();
    while (value > seen && !peak.compare_exchange_weak(seen, value)) {
    }
}

// Counts a provider response from its request to its last byte (or the client leaving).
class InFlight {
public:
    InFlight(std::atomic<std::size_t>& count, std::atomic<std::size_t>& peak) : count_(count) {
        RaisePeak(peak, ++count_);
    }
    ~InFlight() { --count_; }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

private:
    std::atomic<std::size_t>& count_;
};

}  // namespace

void FakeLlmServer::Impl::Start(const std::string& bind_host, uint16_t bind_port) {
    error_code ec;
    auto address = asio::ip::make_address(bind_host, ec);
    tcp::endpoint endpoint;
    if (ec) {
        tcp::resolver resolver(ioc);
        auto results = resolver.resolve(bind_host, std::to_string(bind_port), ec);
        if (ec || results.empty()) {
            throw std::system_error(ec ? ec : make_error_code(asio::error::host_not_found),
                                    "fake-llm: resolve " + bind_host);
        }
        endpoint = results.begin()->endpoint();
    } else {
        endpoint = tcp::endpoint(address, bind_port);
    }
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    // The kernel caps the backlog at net.core.somaxconn; bursts of thousands of connects
    // (a debate phase starting everywhere at once) should wait there, not be refused.
    acceptor.listen(65535);
    const auto local = acceptor.local_endpoint();
    port = local.port();
    host = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                   : local.address().to_string();

    asio::co_spawn(acceptor.get_executor(), Accept(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            std::fprintf(stderr, "fake-llm: accept loop failed: %s\n", ex.what());
        }
    });
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([this] {
            for (;;) {
                try {
                    ioc.run();
                    return;
                } catch (const std::exception& ex) {
                    std::fprintf(stderr, "fake-llm: handler threw: %s\n", ex.what());
                }
            }
        });
    }
}

void FakeLlmServer::Impl::Stop() {
    stopping = true;
    asio::post(acceptor.get_executor(), [this] {
        error_code ignored;
        acceptor.close(ignored);
    });
    std::vector<std::shared_ptr<Conn>> live;
    {
        std::lock_guard lock(conns_mu);
        for (const auto& [id, weak] : conns) {
            if (auto c = weak.lock()) live.push_back(std::move(c));
        }
    }
    // Closing on each connection's strand cancels its pending read, wait or write; the
    // sessions then see `stopping` and end.
    for (const auto& c : live) {
        asio::post(c->socket.get_executor(), [c] {
            error_code ignored;
            c->socket.shutdown(tcp::socket::shutdown_both, ignored);
            c->socket.close(ignored);
            c->timer.cancel();
        });
    }
    live.clear();
    {
        std::unique_lock lock(conns_mu);
        conns_cv.wait_for(lock, kStopGrace, [this] { return conns.empty(); });
    }
    work.reset();
    ioc.stop();
    for (auto& t : threads) t.join();
    threads.clear();
}

bool FakeLlmServer::Impl::Register(uint64_t id, const std::shared_ptr<Conn>& conn) {
    std::lock_guard lock(conns_mu);
    if (stopping) return false;
    conns.emplace(id, conn);
    ++conns_total;
    RaisePeak(conns_peak, ++open_conns);
    return true;
}

void FakeLlmServer::Impl::Unregister(uint64_t id) {
    std::lock_guard lock(conns_mu);
    if (conns.erase(id) > 0) --open_conns;
    if (conns.empty()) conns_cv.notify_all();
}

asio::awaitable<void> FakeLlmServer::Impl::Accept() {
    for (;;) {
        asio::any_io_executor strand = asio::make_strand(ioc);
        auto [ec, socket] =
            co_await acceptor.async_accept(strand, asio::as_tuple(asio::use_awaitable));
        if (stopping || !acceptor.is_open()) co_return;
        if (ec) {
            // Out of descriptors and the like: back off instead of spinning.
            asio::steady_timer pause(co_await asio::this_coro::executor,
                                     std::chrono::milliseconds(20));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        // The synchronous drain in HangUntilGone must never block an I/O thread.
        socket.non_blocking(true, ignored);
        auto conn = std::make_shared<Conn>(std::move(socket));
        const uint64_t id = next_id++;
        if (!Register(id, conn)) co_return;
        asio::co_spawn(
            conn->socket.get_executor(), Session(conn), [this, id](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                        std::fprintf(stderr, "fake-llm: session failed: %s\n", ex.what());
                    }
                }
                Unregister(id);
            });
    }
}

asio::awaitable<void> FakeLlmServer::Impl::Session(std::shared_ptr<Conn> conn) {
    beast::flat_buffer buffer;
    while (!stopping) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(kMaxBodyBytes);
        parser.header_limit(64 * 1024);
        auto [ec, n] = co_await http::async_read(conn->socket, buffer, parser,
                                                 asio::as_tuple(asio::use_awaitable));
        if (ec) break;
        auto req = parser.release();
        // A big request leaves a big buffer behind; held responses should not keep it.
        if (buffer.size() == 0) buffer.shrink_to_fit();
        const bool keep = co_await Handle(*conn, req);
        if (!keep) break;
    }
    error_code ignored;
    conn->socket.shutdown(tcp::socket::shutdown_send, ignored);
    conn->socket.close(ignored);
}

void FakeLlmServer::Impl::RecordAbort() {
    if (stopping) return;
    const auto now = Clock::now();
    std::lock_guard lock(mu);
    aborts.push_back(now);
}

uint64_t FakeLlmServer::Impl::Record(FakeRequest r) {
    const uint64_t seq = next_id++;
    const std::size_t keep = kept_requests.load();
    std::lock_guard lock(mu);
    if (keep > 0) requests.emplace_back(seq, std::move(r));
    while (requests.size() > keep) requests.pop_front();
    ++request_count;
    return seq;
}

void FakeLlmServer::Impl::SetStatusSent(uint64_t seq, int status) {
    std::lock_guard lock(mu);
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
        if (it->first == seq) {
            it->second.status_sent = status;
            return;
        }
    }
}

double FakeLlmServer::Impl::Uniform() {
    return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

void FakeLlmServer::Impl::SetSeed(uint64_t s) {
    std::lock_guard lock(mu);
    seed = s;
    rng.seed(s);
}

Decision FakeLlmServer::Impl::Decide(const std::string& format, const std::string& model) {
    Decision d;
    d.latency = std::chrono::milliseconds(default_latency_ms.load());
    std::lock_guard lock(mu);
    for (auto& r : rules) {
        if (r.remaining == 0) continue;
        if (!r.rule.format.empty() && r.rule.format != format) continue;
        if (!r.rule.model.empty() && r.rule.model != model) continue;
        // A draw only for rules that leave it to chance: a rule with probability 1 keeps
        // the generator's sequence untouched.
        if (r.rule.probability < 1.0 && Uniform() >= r.rule.probability) continue;
        if (r.remaining > 0) --r.remaining;
        d.action = r.rule.action;
        if (d.action == FakeAction::kStatus) {
            d.status = r.rule.status;
            d.retry_after_seconds = r.rule.retry_after_seconds;
        }
        if (r.rule.latency.count() >= 0) d.latency = r.rule.latency;
        if (!r.rule.text.empty()) d.text = r.rule.text;
        if (d.action == FakeAction::kFlaky) {
            // What providers send on a bad day, each kind equally likely.
            d.text.reset();
            switch (rng() % 6) {
                case 0:
                    d.action = FakeAction::kStatus;
                    d.status = 429;
                    d.retry_after_seconds = 1;
                    break;
                case 1:
                    d.action = FakeAction::kStatus;
                    d.status = 500;
                    break;
                case 2:
                    d.action = FakeAction::kStatus;
                    d.status = 529;
                    break;
                case 3:
                    d.action = FakeAction::kWrongContentType;
                    d.text = std::string(kGatewayErrorPage);
                    break;
                case 4:
                    d.action = FakeAction::kForeignJson;
                    break;
                default:
                    d.action = FakeAction::kCutStream;
                    break;
            }
        }
        break;
    }
    if (d.action == FakeAction::kHang) d.status = 0;
    d.fault = FaultKind(d.action, d.status);
    if (!d.fault.empty()) ++faults[d.fault];
    return d;
}

// Tokens as a provider bills them: a reply sent whole costs its input and output tokens,
// a cut one its input and the output tokens sent before the cut (half the reply); error
// answers and foreign bodies cost nothing.
void FakeLlmServer::Impl::Bill(const Answer& a, const Decision& d) {
    if (a.kind != Kind::kChat) return;
    std::lock_guard lock(mu);
    if (d.action == FakeAction::kOk) {
        tokens_input += a.in;
        tokens_output += a.out;
    } else if (d.action == FakeAction::kCutStream) {
        tokens_input += a.in;
        tokens_output += a.out / 2;
        tokens_output_cut += a.out / 2;
    }
}

// The client is watched with a one-byte MSG_PEEK receive rather than async_wait: Asio's
// epoll reactor never tries a wait speculatively, so a FIN that arrived before the wait
// was queued would go unnoticed, while a receive is tried at once.
asio::awaitable<Waited> FakeLlmServer::Impl::Hold(Conn& conn, std::chrono::milliseconds d) {
    using namespace asio::experimental::awaitable_operators;
    const auto deadline = Clock::now() + d;
    conn.timer.expires_at(deadline);
    if (conn.watch) {
        char peek = 0;
        auto r =
            co_await (conn.timer.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                      conn.socket.async_receive(asio::buffer(&peek, 1), tcp::socket::message_peek,
                                                asio::as_tuple(asio::use_awaitable)));
        if (stopping) co_return Waited::kStopped;
        if (r.index() == 0) co_return Waited::kElapsed;
        if (std::get<0>(std::get<1>(r))) co_return Waited::kClientGone;
        // Bytes pending (a pipelined request): readability tells nothing more.
        conn.watch = false;
        conn.timer.expires_at(deadline);
    }
    co_await conn.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return stopping ? Waited::kStopped : Waited::kElapsed;
}

asio::awaitable<void> FakeLlmServer::Impl::HangUntilGone(Conn& conn) {
    for (;;) {
        char peek = 0;
        auto [ec, n] = co_await conn.socket.async_receive(
            asio::buffer(&peek, 1), tcp::socket::message_peek, asio::as_tuple(asio::use_awaitable));
        if (stopping) co_return;
        if (ec) {
            RecordAbort();
            co_return;
        }
        // More bytes from the client, which a hung server ignores: drop them so the peek
        // does not complete again at once.
        for (;;) {
            std::array<char, 4096> scratch;
            error_code rec;
            conn.socket.receive(asio::buffer(scratch), 0, rec);
            if (rec == asio::error::would_block || rec == asio::error::try_again) break;
            if (rec) {
                RecordAbort();
                co_return;
            }
        }
    }
}

asio::awaitable<bool> FakeLlmServer::Impl::Write(Conn& conn, const std::string& data) {
    auto [ec, n] = co_await asio::async_write(conn.socket, asio::buffer(data),
                                              asio::as_tuple(asio::use_awaitable));
    co_return !ec;
}

asio::awaitable<bool> FakeLlmServer::Impl::Handle(Conn& conn,
                                                  http::request<http::string_body>& req) {
    const auto received_at = Clock::now();
    const std::string target(req.target());
    const std::string_view path = std::string_view(target).substr(0, target.find('?'));
    const bool http10 = req.version() < 11;
    bool keep_alive = req.keep_alive();

    if (path.substr(0, 7) == "/_fake/") {
        auto [status, body] = Control(req.method(), path, req.body());
        Head h;
        h.status = status;
        h.content_length = body.size();
        h.keep_alive = keep_alive;
        h.http10 = http10;
        const std::string out = RenderHead(h) + body;
        const bool ok = co_await Write(conn, out);
        co_return ok&& keep_alive;
    }

    Route route = Classify(req, path);
    FakeRequest rec;
    rec.method = std::string(req.method_string());
    rec.path = target;
    rec.format = route.format;
    if (kept_requests.load() > 0) {
        rec.body = req.body();
        for (const auto& field : req) {
            rec.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
    }
    rec.received_at = received_at;

    std::string prompt;
    bool include_usage = false;
    bool bad_body = false;
    if (route.kind == Kind::kChat) {
        error_code jec;
        auto parsed = json::parse(req.body(), jec);
        if (jec || !parsed.is_object()) {
            bad_body = true;
        } else {
            const auto& obj = parsed.get_object();
            if (route.format != "gemini") {
                route.model = StringField(obj, "model");
                route.stream = BoolField(obj, "stream");
                if (const auto* so = Find(obj, "stream_options"); so && so->is_object()) {
                    include_usage = BoolField(so->get_object(), "include_usage");
                }
            }
            prompt = Prompt(route.format, obj);
        }
    }
    rec.model = route.model;
    rec.stream = route.stream;

    if (route.kind == Kind::kUnknown || bad_body) {
        const int status = bad_body ? 400 : 404;
        const std::string body = ErrorBody(
            route.format, status,
            bad_body ? "fake: request body is not a JSON object" : "fake: unknown endpoint");
        rec.status_sent = status;
        Record(std::move(rec));
        Head h;
        h.status = status;
        h.content_length = body.size();
        h.keep_alive = keep_alive;
        h.http10 = http10;
        const std::string out = RenderHead(h) + body;
        const bool ok = co_await Write(conn, out);
        co_return ok&& keep_alive;
    }

    const Decision d = Decide(route.format, route.model);
    rec.status_sent = d.status;
    const uint64_t seq = Record(std::move(rec));
    Answer a;
    a.format = route.format;
    a.kind = route.kind;
    a.model = route.model;
    a.id = "fake" + std::to_string(seq);
    a.text = d.text ? *d.text : GenerateReply(prompt);
    a.in = CountWords(prompt);
    a.out = CountWords(a.text);
    a.stream = route.kind == Kind::kChat && route.stream;
    a.include_usage = include_usage;
    a.keep_alive = keep_alive;
    a.http10 = http10;
    a.seq = seq;
    Bill(a, d);
    // Nothing of the request is needed any more: a held response keeps only its answer.
    prompt.clear();
    prompt.shrink_to_fit();
    req.body().clear();
    req.body().shrink_to_fit();
    InFlight counted(in_flight, in_flight_peak);
    co_return co_await Respond(conn, a, d);
}

asio::awaitable<bool> FakeLlmServer::Impl::Respond(Conn& conn, const Answer& a, const Decision& d) {
    const std::string& format = a.format;
    const bool stream = a.stream;
    if (d.action == FakeAction::kHang) {
        co_await HangUntilGone(conn);
        co_return false;
    }
    if (d.latency.count() > 0) {
        const auto w = co_await Hold(conn, d.latency);
        if (w == Waited::kClientGone) {
            RecordAbort();
            SetStatusSent(a.seq, 0);
        }
        if (w != Waited::kElapsed) co_return false;
    }

    Head h;
    h.keep_alive = a.keep_alive;
    h.http10 = a.http10;
    std::string body;
    switch (d.action) {
        case FakeAction::kStatus:
            body = ErrorBody(format, d.status, ErrorMessageFor(d.status));
            h.status = d.status;
            if (d.retry_after_seconds >= 0) {
                h.extra.emplace_back("Retry-After", std::to_string(d.retry_after_seconds));
            }
            break;
        case FakeAction::kWrongContentType:
            body = d.text ? *d.text : std::string("<html>oops</html>");
            h.content_type = "text/html";
            break;
        case FakeAction::kForeignJson:
            body = ForeignJsonBody(a.seq);
            break;
        case FakeAction::kMalformed:
            if (!stream) body = MalformedBody(format);
            break;
        default:
            if (!stream) {
                body = a.kind == Kind::kModels
                           ? ModelList(format)
                           : ChatReply(format, a.model, a.id, a.text, a.in, a.out);
            }
            break;
    }

    const bool as_stream =
        stream && (d.action == FakeAction::kOk || d.action == FakeAction::kMalformed ||
                   d.action == FakeAction::kCutStream);
    if (!as_stream) {
        h.content_length = body.size();
        if (d.action == FakeAction::kCutStream) {
            h.keep_alive = false;
            const std::string out = RenderHead(h) + body.substr(0, body.size() / 2);
            const bool ok = co_await Write(conn, out);
            if (!ok) RecordAbort();
            co_return false;
        }
        const std::string out = RenderHead(h) + body;
        const bool ok = co_await Write(conn, out);
        co_return ok&& h.keep_alive;
    }

    // Streams: chunked on HTTP/1.1, close-delimited on HTTP/1.0. Each event is written
    // (and so flushed, TCP_NODELAY) on its own, with the token delay between events.
    std::vector<std::string> events;
    std::size_t send = 0;
    if (d.action == FakeAction::kMalformed) {
        events = MalformedStreamEvents(format, a.model, a.id);
        send = events.size();
    } else {
        events = StreamEvents(format, a.model, a.id, a.text, a.in, a.out, a.include_usage);
        send = d.action == FakeAction::kCutStream ? std::max<std::size_t>(1, events.size() / 2)
                                                  : events.size();
    }
    h.content_type =
        format == "anthropic" ? "text/event-stream; charset=utf-8" : "text/event-stream";
    h.extra.emplace_back("Cache-Control", "no-cache");
    h.chunked = !a.http10;
    if (a.http10 || d.action == FakeAction::kCutStream) h.keep_alive = false;
    if (token_delay_ms.load() <= 0) {
        // No pacing: the head and every event in one write.
        std::string all = RenderHead(h);
        for (std::size_t i = 0; i < send; ++i) all += h.chunked ? Chunk(events[i]) : events[i];
        const bool complete = d.action != FakeAction::kCutStream;
        if (complete && h.chunked) all += "0\r\n\r\n";
        events.clear();
        const bool all_ok = co_await Write(conn, all);
        if (!all_ok) {
            RecordAbort();
            co_return false;
        }
        co_return complete&& h.keep_alive;
    }
    const std::string head = RenderHead(h);
    const bool head_ok = co_await Write(conn, head);
    if (!head_ok) {
        RecordAbort();
        co_return false;
    }
    for (std::size_t i = 0; i < send; ++i) {
        const auto delay = std::chrono::milliseconds(token_delay_ms.load());
        if (i > 0 && delay.count() > 0) {
            const auto w = co_await Hold(conn, delay);
            if (w == Waited::kClientGone) RecordAbort();
            if (w != Waited::kElapsed) co_return false;
        }
        const std::string piece = h.chunked ? Chunk(events[i]) : events[i];
        const bool piece_ok = co_await Write(conn, piece);
        if (!piece_ok) {
            RecordAbort();
            co_return false;
        }
    }
    if (d.action == FakeAction::kCutStream) co_return false;
    if (h.chunked) {
        const std::string last_chunk = "0\r\n\r\n";
        const bool last_ok = co_await Write(conn, last_chunk);
        if (!last_ok) {
            RecordAbort();
            co_return false;
        }
    }
    co_return h.keep_alive;
}

std::pair<int, std::string> FakeLlmServer::Impl::Control(http::verb method, std::string_view path,
                                                         const std::string& body) {
    auto error = [](int status, const std::string& message) {
        return std::pair<int, std::string>(status,
                                           common::SerializeJson(json::object{{"error", message}}));
    };
    if (path == "/_fake/rules") {
        if (method == http::verb::post) {
            error_code ec;
            auto v = json::parse(body, ec);
            if (ec) return error(400, "body is not JSON");
            std::vector<FakeRule> parsed;
            std::string message;
            if (v.is_array()) {
                for (const auto& item : v.get_array()) {
                    auto r = ParseRule(item, message);
                    if (!r) return error(400, message);
                    parsed.push_back(std::move(*r));
                }
            } else {
                auto r = ParseRule(v, message);
                if (!r) return error(400, message);
                parsed.push_back(std::move(*r));
            }
            std::size_t total = 0;
            {
                std::lock_guard lock(mu);
                for (auto& r : parsed) {
                    const int remaining = r.times;
                    rules.push_back(RuleState{std::move(r), remaining});
                }
                total = rules.size();
            }
            return {200, common::SerializeJson(
                             json::object{{"added", parsed.size()}, {"rules", total}})};
        }
        if (method == http::verb::delete_) {
            std::size_t cleared = 0;
            {
                std::lock_guard lock(mu);
                cleared = rules.size();
                rules.clear();
            }
            return {200, common::SerializeJson(json::object{{"cleared", cleared}})};
        }
        if (method == http::verb::get) {
            json::array list;
            std::lock_guard lock(mu);
            for (const auto& r : rules) {
                list.push_back(json::object{{"format", r.rule.format},
                                            {"model", r.rule.model},
                                            {"action", ActionName(r.rule.action)},
                                            {"status", r.rule.status},
                                            {"latency_ms", r.rule.latency.count()},
                                            {"probability", r.rule.probability},
                                            {"times_left", r.remaining}});
            }
            return {200, common::SerializeJson(json::object{{"rules", list}})};
        }
        return error(405, "use GET, POST or DELETE");
    }
    if (path == "/_fake/requests") {
        if (method == http::verb::get) {
            json::array list;
            std::size_t count = 0;
            {
                std::lock_guard lock(mu);
                count = request_count;
                const std::size_t from =
                    requests.size() > kControlListed ? requests.size() - kControlListed : 0;
                for (std::size_t i = from; i < requests.size(); ++i) {
                    const auto& r = requests[i].second;
                    list.push_back(json::object{{"method", r.method},
                                                {"path", r.path},
                                                {"format", r.format},
                                                {"model", r.model},
                                                {"stream", r.stream},
                                                {"status_sent", r.status_sent},
                                                {"body", r.body}});
                }
            }
            return {200, common::SerializeJson(json::object{{"count", count}, {"requests", list}})};
        }
        if (method == http::verb::delete_) {
            std::lock_guard lock(mu);
            requests.clear();
            request_count = 0;
            aborts.clear();
            faults.clear();
            tokens_input = tokens_output = tokens_output_cut = 0;
            return {200, "{\"reset\":true}"};
        }
        return error(405, "use GET or DELETE");
    }
    if (path == "/_fake/config") {
        if (method == http::verb::post) {
            error_code ec;
            auto v = json::parse(body, ec);
            if (ec || !v.is_object()) return error(400, "body must be a JSON object");
            const auto& o = v.get_object();
            std::optional<int64_t> latency;
            std::optional<int64_t> delay;
            std::optional<int64_t> keep;
            std::optional<int64_t> new_seed;
            for (const auto& [key, value] : o) {
                auto n = AsInt(value);
                if (!n || *n < 0) return error(400, "'" + std::string(key) + "' must be >= 0");
                if (key == "latency_ms") {
                    latency = n;
                } else if (key == "token_delay_ms") {
                    delay = n;
                } else if (key == "keep_requests") {
                    keep = n;
                } else if (key == "seed") {
                    new_seed = n;
                } else {
                    return error(400, "unknown config field '" + std::string(key) + "'");
                }
            }
            if (latency) default_latency_ms = *latency;
            if (delay) token_delay_ms = *delay;
            if (keep) kept_requests = static_cast<std::size_t>(*keep);
            if (new_seed) SetSeed(static_cast<uint64_t>(*new_seed));
        } else if (method != http::verb::get) {
            return error(405, "use GET or POST");
        }
        uint64_t current_seed = 0;
        {
            std::lock_guard lock(mu);
            current_seed = seed;
        }
        return {200, common::SerializeJson(json::object{{"latency_ms", default_latency_ms.load()},
                                                        {"token_delay_ms", token_delay_ms.load()},
                                                        {"keep_requests", kept_requests.load()},
                                                        {"seed", current_seed}})};
    }
    if (path == "/_fake/stats") {
        if (method != http::verb::get) return error(405, "use GET");
        const FakeStats st = Stats();
        json::object faults_json;
        for (const auto& [kind, n] : st.faults) faults_json[kind] = n;
        return {200, common::SerializeJson(
                         json::object{{"cpu_user_seconds", st.cpu_user_seconds},
                                      {"cpu_system_seconds", st.cpu_system_seconds},
                                      {"cpu_seconds", st.cpu_user_seconds + st.cpu_system_seconds},
                                      {"max_rss_kib", st.max_rss_kib},
                                      {"connections", st.connections},
                                      {"connections_peak", st.connections_peak},
                                      {"connections_total", st.connections_total},
                                      {"in_flight", st.in_flight},
                                      {"in_flight_peak", st.in_flight_peak},
                                      {"requests", st.requests},
                                      {"faults", std::move(faults_json)},
                                      {"faults_total", st.faults_total},
                                      {"tokens_input", st.tokens_input},
                                      {"tokens_output", st.tokens_output},
                                      {"tokens_output_cut", st.tokens_output_cut}})};
    }
    return error(404, "unknown control endpoint");
}

FakeStats FakeLlmServer::Impl::Stats() const {
    FakeStats st;
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    st.cpu_user_seconds = seconds(u.ru_utime);
    st.cpu_system_seconds = seconds(u.ru_stime);
    st.max_rss_kib = u.ru_maxrss;
    st.connections = open_conns.load();
    st.connections_peak = conns_peak.load();
    st.connections_total = conns_total.load();
    st.in_flight = in_flight.load();
    st.in_flight_peak = in_flight_peak.load();
    std::lock_guard lock(mu);
    st.requests = request_count;
    st.faults = faults;
    for (const auto& [kind, n] : faults) st.faults_total += n;
    st.tokens_input = tokens_input;
    st.tokens_output = tokens_output;
    st.tokens_output_cut = tokens_output_cut;
    return st;
}

// ---------------------------------------------------------------------------------------

FakeLlmServer::FakeLlmServer(std::string host, uint16_t port) : impl_(std::make_unique<Impl>()) {
    impl_->Start(host, port);
}

FakeLlmServer::~FakeLlmServer() { impl_->Stop(); }

uint16_t FakeLlmServer::port() const { return impl_->port; }

std::string FakeLlmServer::base_url() const {
    return "http://" + impl_->host + ":" + std::to_string(impl_->port);
}

void FakeLlmServer::AddRule(FakeRule rule) {
    std::lock_guard lock(impl_->mu);
    const int remaining = rule.times;
    impl_->rules.push_back(Impl::RuleState{std::move(rule), remaining});
}

void FakeLlmServer::ClearRules() {
    std::lock_guard lock(impl_->mu);
    impl_->rules.clear();
}

void FakeLlmServer::SetDefaultLatency(std::chrono::milliseconds latency) {
    impl_->default_latency_ms = latency.count();
}

void FakeLlmServer::SetTokenDelay(std::chrono::milliseconds delay) {
    impl_->token_delay_ms = delay.count();
}

void FakeLlmServer::SetSeed(uint64_t seed) { impl_->SetSeed(seed); }

std::vector<FakeRequest> FakeLlmServer::Requests() const {
    std::lock_guard lock(impl_->mu);
    std::vector<FakeRequest> out;
    out.reserve(impl_->requests.size());
    for (const auto& [seq, r] : impl_->requests) out.push_back(r);
    return out;
}

void FakeLlmServer::SetKeptRequests(std::size_t n) {
    impl_->kept_requests = n;
    std::lock_guard lock(impl_->mu);
    while (impl_->requests.size() > n) impl_->requests.pop_front();
}

FakeStats FakeLlmServer::Stats() const { return impl_->Stats(); }

std::size_t FakeLlmServer::RequestCount() const {
    std::lock_guard lock(impl_->mu);
    return impl_->request_count;
}

std::vector<std::chrono::steady_clock::time_point> FakeLlmServer::ClientAborts() const {
    std::lock_guard lock(impl_->mu);
    return impl_->aborts;
}

void FakeLlmServer::ResetRecords() {
    std::lock_guard lock(impl_->mu);
    impl_->requests.clear();
    impl_->request_count = 0;
    impl_->aborts.clear();
    impl_->faults.clear();
    impl_->tokens_input = impl_->tokens_output = impl_->tokens_output_cut = 0;
}

}  // namespace aragora::testing
