#pragma once

// The LLM providers' wire formats as pure functions (no I/O): the provider table,
// request builders, reply and error parsers, and an incremental SSE decoder per
// format. Facts: ../shared/reference/DEBATE.md (Agents).

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "net/http_client.hpp"

namespace aragora::agents::wire {

enum class Format { kAnthropic, kOpenAi, kGemini };

enum class Provider {
    kAnthropic,
    kOpenAi,
    kOpenRouter,
    kMistral,
    kXai,
    kGemini,
    kOpenAiCompatible,
};

struct ProviderInfo {
    Provider provider;
    std::string_view name;  // "anthropic", "openai", ..., "openai-compatible"
    Format format;
    std::string_view default_base;   // e.g. "https://api.anthropic.com"
    std::string_view default_model;  // e.g. "claude-sonnet-4-20250514"
    std::string_view key_env;        // "ANTHROPIC_API_KEY"; "" for openai-compatible
    std::string_view base_url_env;   // "ARAGORA_ANTHROPIC_BASE_URL"
    // Path appended to the base URL for chat: "/v1/messages", "/v1/chat/completions",
    // "/api/v1/chat/completions" (OpenRouter); Gemini builds its own (see BuildRequest)
    // under "/v1beta/models".
    std::string_view chat_path;
    // Path of a cheap authenticated GET used by the connectivity check ("/v1/models",
    // "/api/v1/key" for OpenRouter, whose model list needs no key, "/v1beta/models").
    std::string_view models_path;
};

// Every provider, in the order above.
const std::vector<ProviderInfo>& Providers();
const ProviderInfo& Info(Provider provider);

// A name as users write it (any case): provider names, and the runbooks' aliases
// claude → anthropic, gpt / gpt-4 / gpt4 / gpt-4o / chatgpt → openai, grok / x-ai → xai,
// google → gemini, local / ollama / openai_compatible → openai-compatible. Surrounding
// blanks are ignored. nullopt when unknown.
std::optional<Provider> ResolveProvider(std::string_view name);

// The model an alias implies when the user gave none, e.g. "gpt-4" / "gpt4" → "gpt-4",
// "gpt-4o" → "gpt-4o"; nullopt for plain provider names and aliases that imply no model
// (then default_model).
std::optional<std::string> AliasModel(std::string_view name);

// The OpenRouter model for a direct provider's model (fallback): "anthropic/<model>",
// "openai/<model>", "google/<model>", "mistralai/<model>", "x-ai/<model>"; a model
// already holding '/' is kept; OpenRouter and openai-compatible models are kept as they
// are. An empty model means the provider's default_model.
std::string OpenRouterModel(Provider provider, std::string_view model);

struct ChatRequest {
    // No trailing slash needed (trailing ones are stripped); "" means the provider's
    // default_base. A base already ending in the path's leading segments (SDK style:
    // "http://host:8000/v1", "https://openrouter.ai/api/v1") does not get them twice.
    std::string base_url;
    std::string model;    // "" means the provider's default_model
    std::string api_key;  // may be empty (openai-compatible)
    std::string system;
    std::string prompt;
    bool stream = false;
    int max_tokens = 2048;
    double temperature = 0.7;
};

// The HTTP request of one chat call: URL, auth header (x-api-key + anthropic-version
// for Anthropic; Bearer for the OpenAI family, omitted when the key is empty;
// x-goog-api-key for Gemini; OpenRouter adds HTTP-Referer and X-Title), content type,
// JSON body (stream: "stream": true; OpenAI family also
// "stream_options": {"include_usage": true}; Gemini uses
// ":streamGenerateContent?alt=sse" instead of ":generateContent"). timeout left default.
// An empty system prompt is left out of the body. Never fails: the inputs are ours.
net::ClientRequest BuildRequest(Provider provider, const ChatRequest& request);

// The authenticated GET of models_path, for the connectivity check (base as in
// ChatRequest::base_url).
net::ClientRequest BuildModelsRequest(Provider provider, std::string_view base_url,
                                      std::string_view api_key);

struct Usage {
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
};

struct Reply {
    std::string text;
    Usage usage;
};

// --- Faults: why an attempt gave no reply, and what the agent does about it. ---
//
// Every way a provider call can fail is one Fault; DispositionOf (one table, in
// wire.cpp) says whether it is retried. Transient faults — the ones a later attempt can
// heal — are retried: connection errors, timeouts, 408/429/5xx/529, a 2xx whose body is
// not the provider's format (an HTML error page from a gateway, JSON without the
// provider's fields), a stream cut before its final event, a malformed event in a
// stream, and an error object the provider put in a 2xx body or stream for an overload
// or a server error. Faults that the same request cannot heal are not: 400/404/other
// 4xx (the request is wrong), 401/403 (key), 402 (quota) — those two may go to the
// OpenRouter fallback — a content-policy refusal (the same prompt is refused again), a
// reply over the size bound.
enum class Fault {
    kNone,
    kConnection,         // DNS, refused, reset, TLS, before any response
    kTimeout,            // the attempt's deadline (connect, headers or body)
    kRateLimited,        // 429, or a rate-limit error object in a 2xx
    kOverloaded,         // 529 (Anthropic overloaded), 503
    kServerError,        // 500, 502, 504, other 5xx, 408
    kAuth,               // 401, 403, or such an error object
    kQuota,              // 402
    kBadRequest,         // 400, 404, other 4xx, or an invalid-request error object
    kNotProviderFormat,  // 2xx: HTML, wrong content type, not JSON, missing fields
    kEmptyReply,         // 2xx in the provider's format, without any text
    kStreamCut,          // stream ended before its final event, or closed mid-body
    kStreamMalformed,    // an event in the stream whose data is not the provider's JSON
    kProviderError,      // an error object in a 2xx body or stream: overload, server error
    kRefusal,            // content policy: the model or the provider refused the prompt
    kTooLarge,           // the reply exceeded the client's bound
    kCancelled,          // the caller cancelled
};

enum class Disposition {
    kRetry,            // after backoff (and Retry-After), within the retry limit
    kRetryOrFallback,  // 429: OpenRouter when its key is set, else retried like kRetry
    kFallbackOrFail,   // 401/403/402: OpenRouter when its key is set, else the call fails
    kFail,             // not retried
    kCancelled,        // not retried, not a breaker failure
};

// The one classification table (see docs/agents.md, Resilience).
Disposition DispositionOf(Fault fault);
// A closed set of snake_case names ("stream_cut", "not_provider_format", ...): event
// field and log value.
std::string_view ToString(Fault fault);
// The fault of a non-2xx HTTP status.
Fault FaultOfStatus(int status);

// A reply, or why there is none.
template <class T>
struct Checked {
    std::optional<T> value;
    Fault fault = Fault::kNone;
    std::string message;  // when !value
    bool ok() const { return value.has_value(); }
    T* operator->() { return &*value; }
    const T* operator->() const { return &*value; }
};

// A complete 2xx reply checked against the provider's format: `content_type` (the
// response's Content-Type; "" when unknown) must be JSON when given, the body must
// parse and hold the provider's fields (see ParseReply). Faults: kNotProviderFormat,
// kEmptyReply, kRefusal (OpenAI `refusal`, Gemini blockReason or a safety
// finishReason without text, Anthropic stop_reason "refusal" without text), and an
// error object's fault (wire.cpp, FaultOfErrorObject: an overload or server error is
// kProviderError, an invalid request kBadRequest, a key error kAuth, ...).
Checked<Reply> CheckReply(Format format, std::string_view content_type, std::string_view body);

// Parses a complete 2xx JSON reply: Anthropic content[].text (type "text", joined),
// usage.input_tokens/output_tokens; OpenAI choices[0].message.content,
// usage.prompt_tokens/completion_tokens; Gemini candidates[0].content.parts[].text,
// usageMetadata.promptTokenCount/candidatesTokenCount. Errors (kProviderError):
// not JSON, not the expected shape, an empty reply, a provider error object.
common::Result<Reply> ParseReply(Format format, std::string_view body);

// The readable message of a provider error body ({"error": {"message"}} for Anthropic
// and the OpenAI family, {"error": {"message", "status"}} for Gemini); falls back to
// the first 200 bytes of the body; "" for an empty body.
std::string ErrorMessage(std::string_view body);

// One server-sent event (WHATWG EventSource rules: "event:", "data:" lines joined with
// "\n", comments and "id:"/"retry:" ignored, CRLF/LF/CR line ends, dispatch on a blank
// line).
struct SseEvent {
    std::string event;  // "" when no event: line
    std::string data;
};

// Incremental SSE parser: feed it body pieces as they arrive, split anywhere.
class SseParser {
public:
    // Appends `piece`; returns the events completed by it, in order.
    std::vector<SseEvent> Feed(std::string_view piece);
    // The same, handing each completed event to `on_event` as it completes (no copy: the
    // event is valid during the call only); stops early, leaving the rest of `piece`
    // unread, when on_event returns false.
    template <class F>
    void Feed(std::string_view piece, F&& on_event);
    // Bytes buffered for an unfinished event (bounded by the caller's response limit).
    std::size_t buffered() const { return buffer_.size() + data_.size(); }

private:
    std::string buffer_;  // unterminated line
    std::string event_;
    std::string data_;
    bool has_data_ = false;
    bool last_was_cr_ = false;
    SseEvent ready_;  // the event being handed out; its buffers are reused
    // Processes one complete line; true when it completed an event (then in ready_).
    bool Line(std::string_view line);
};

template <class F>
void SseParser::Feed(std::string_view piece, F&& on_event) {
    std::size_t i = 0;
    if (last_was_cr_ && !piece.empty()) {
        // The CR that ended the previous piece already ended its line; this LF is its pair.
        if (piece.front() == '\n') i = 1;
        last_was_cr_ = false;
    }
    while (i < piece.size()) {
        // The line ends at the first CR or LF: memchr finds the LF, then a CR before it
        // (both scan whole words at a time; an LF-only stream has no CR to find).
        const char* const start = piece.data() + i;
        const std::size_t rest = piece.size() - i;
        const void* lf = std::memchr(start, '\n', rest);
        const std::size_t to_lf =
            lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - start) : rest;
        const void* cr = std::memchr(start, '\r', to_lf);
        const std::size_t end =
            i + (cr != nullptr ? static_cast<std::size_t>(static_cast<const char*>(cr) - start)
                               : to_lf);
        if (end == piece.size()) {
            buffer_.append(piece.substr(i));
            return;
        }
        bool completed = false;
        if (buffer_.empty()) {
            completed = Line(piece.substr(i, end - i));
        } else {
            buffer_.append(piece.substr(i, end - i));
            completed = Line(buffer_);
            buffer_.clear();
        }
        std::size_t next = end + 1;
        if (piece[end] == '\r') {
            if (next == piece.size()) {
                last_was_cr_ = true;
            } else if (piece[next] == '\n') {
                ++next;
            }
        }
        i = next;
        if (completed && !on_event(static_cast<const SseEvent&>(ready_))) {
            // The rest stays unparsed, as if never fed (the caller stops reading).
            return;
        }
    }
}

// What one streamed event means, per format:
//  Anthropic: content_block_delta/text_delta → delta; message_start usage.input_tokens
//   and message_delta usage.output_tokens → usage; message_stop → done; "error" → error.
//  OpenAI family: choices[0].delta.content → delta; "usage" → usage; "[DONE]" → done.
//  Gemini: candidates[0].content.parts[].text → delta; usageMetadata → usage;
//   finishReason present → done (Gemini streams end with the HTTP body).
// Unknown or irrelevant events yield an empty StreamStep. Malformed JSON in a data
// line is an error (kProviderError).
struct StreamStep {
    std::string delta;
    // Replaces the usage seen so far, member by member: a member that is 0 (absent from
    // the event, e.g. input_tokens of Anthropic's message_delta) keeps the earlier value.
    std::optional<Usage> usage;
    bool done = false;
    // The model said it finished (OpenAI family: choices[0].finish_reason; Gemini:
    // finishReason; Anthropic: message_delta's stop_reason), though the stream may go on
    // (OpenAI's usage event and [DONE]). "" when this event does not say.
    std::string finish_reason;
    // OpenAI family: choices[0].delta.refusal text (the model refused).
    std::string refusal;
};
common::Result<StreamStep> DecodeStreamEvent(Format format, const SseEvent& event);
// The same, with the fault of an error: kStreamMalformed (data that is not JSON), an
// error event's fault (FaultOfErrorObject: an overload is kProviderError, an invalid
// request kBadRequest, ...), kRefusal (Gemini blocked the prompt).
Checked<StreamStep> CheckStreamEvent(Format format, const SseEvent& event);
// The same answer from a Boost.JSON document of the event: CheckStreamEvent reads the
// members it needs while parsing and hands error objects and odd shapes (duplicate
// members, a non-object event) to this decoder; tests compare the two.
Checked<StreamStep> CheckStreamEventDocument(Format format, const SseEvent& event);

// Accumulates a whole stream: text, usage, done; the first error stops it (every later
// Feed answers that error again).
class StreamDecoder {
public:
    explicit StreamDecoder(Format format) : format_(format) {}
    // Feeds a body piece; returns the text deltas it completed (in order), or the first
    // error. After done, further input is ignored.
    common::Result<std::vector<std::string>> Feed(std::string_view piece);
    // The same, appending the text of those deltas to `text` (no list, no copy per
    // delta): the streaming reader's path, once per body piece.
    common::Status FeedInto(std::string_view piece, std::string& text);
    bool done() const { return done_; }
    // True when at least one data event was decoded.
    bool saw_event() const { return saw_event_; }
    const std::string& text() const { return text_; }
    // Bytes held: the text so far plus an unfinished event (callers bound it).
    std::size_t held() const { return text_.size() + parser_.buffered(); }
    const Usage& usage() const { return usage_; }
    // The fault of the error Feed answered (kNone while there is none).
    Fault fault() const { return fault_; }
    // True once the stream said it ended: its final event (Anthropic message_stop,
    // OpenAI [DONE], Gemini finishReason), or — for the OpenAI family, whose compatible
    // servers do not all send [DONE] — a finish_reason.
    bool complete() const { return done_ || (format_ == Format::kOpenAi && finished_); }
    // The verdict on the stream once its body ended (`body_complete`: the HTTP body
    // ended as framed; false when the connection closed mid-body). Faults: the Feed
    // error's; kNotProviderFormat (no event at all: an HTML page, the wrong content type,
    // named in the message); kStreamCut (no final event, or the body cut);
    // kRefusal; kEmptyReply.
    Checked<Reply> Finish(bool body_complete, std::string_view content_type = {}) const;
    // The next event of this stream decoded, without accumulating it: CheckStreamEvent's
    // answer, taken without a parse when the event is the last token event's shape with
    // another text (see Shape). Feed decodes every event through it.
    Checked<StreamStep> Decode(const SseEvent& event);

private:
    // Decodes the events `piece` completes, handing each delta to on_delta.
    template <class OnDelta>
    common::Status FeedEach(std::string_view piece, OnDelta&& on_delta);
    // The last decoded event whose delta is its one text string, cut around that text: a
    // stream's token events differ in their text only. An event that is the same bytes
    // with another plain text (detail::IsPlainJsonText) between the same prefix and
    // suffix is the same JSON with another string value, so its step is `step` with that
    // text as the delta, without a parse.
    struct Shape {
        bool valid = false;
        std::string event_type;
        std::string prefix;  // to the text's opening quote, included
        std::string suffix;  // from its closing quote
        StreamStep step;     // the event's step, but its delta
    };

    Format format_;
    SseParser parser_;
    Shape shape_;
    std::string text_;
    std::string refusal_;
    std::string finish_reason_;
    Usage usage_;
    bool done_ = false;
    bool finished_ = false;
    bool saw_event_ = false;
    std::optional<common::Error> error_;
    Fault fault_ = Fault::kNone;
};

}  // namespace aragora::agents::wire
