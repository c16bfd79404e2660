#pragma once

// A scriptable fake LLM provider for integration tests and benchmarks: an HTTP/1.1
// server on loopback that speaks the Anthropic Messages, OpenAI chat completions
// (also OpenRouter's /api/v1 prefix) and Gemini generateContent wire formats, plain and
// streamed (SSE), and answers each request according to the first matching rule:
// a generated reply, an error status, a hang, a malformed body, a stream cut half way,
// the wrong content type, a JSON body in no provider's format, or — with `flaky` — one
// of the faults real providers send on a bad day, picked at random. A rule may apply to
// only a share of its matching requests (`probability`). Facts:
// ../shared/reference/DEBATE.md (Agents).
//
// Endpoints (the format is decided by the path):
//   POST /v1/messages                                  anthropic
//   POST /v1/chat/completions, /api/v1/chat/completions openai
//   POST /v1beta/models/{model}:generateContent         gemini
//   POST /v1beta/models/{model}:streamGenerateContent   gemini, streamed (alt=sse)
//   GET  /v1/models (anthropic when the request carries x-api-key or anthropic-version,
//        else openai), /api/v1/models and /api/v1/key (openai: OpenRouter), /v1beta/models (gemini)
// Control API (not recorded as requests):
//   POST /_fake/rules    JSON array (or one object) of rules: format, model, action
//                        ("ok|status|hang|malformed|cut_stream|wrong_content_type|
//                        foreign_json|flaky"), status, retry_after_seconds, latency_ms,
//                        times, text, probability (0..1, default 1); appended
//   DELETE /_fake/rules  clears the rules
//   GET /_fake/requests  {"count", "requests": [the newest 100]}
//   DELETE /_fake/requests  ResetRecords()
//   POST /_fake/config   {"latency_ms", "token_delay_ms", "keep_requests", "seed"} (each
//                        optional; "seed" re-seeds the generator of random faults)
//   GET /_fake/stats     FakeStats as JSON: this process's CPU time (getrusage), peak
//                        RSS, open connections, responses in flight, and their peaks;
//                        "faults" {kind: count} and "faults_total" (every non-ok answer
//                        decided, see FaultKind below), "tokens_input", "tokens_output",
//                        "tokens_output_cut" (billed tokens, see below)
//
// Random faults. A rule with `probability` p < 1 applies to a matching request with
// probability p: one draw from a seeded generator (std::mt19937_64; seed 0 unless
// SetSeed, `--seed N` or /_fake/config {"seed"}); when it does not apply, matching goes
// on with the next rule (no rule left: kOk), and `times` is used up only when it
// applies. Rules with probability 1 take no draw. One generator serves every request
// under the rules' mutex, so a given sequence of requests is decided the same way for
// a given seed (concurrent requests may reach it in any order).
// Action `flaky` turns into one of six faults, each with probability 1/6 (a second
// draw): 429 with "Retry-After: 1", 500, 529 (each with the provider's error body), a
// 200 text/html gateway error page, a 200 application/json body that is not the
// provider's format ({"status":"error","message":...}), or a reply cut half way (a
// stream closed after half its events, i.e. after some tokens; a plain body closed
// after half its Content-Length). Fault kinds counted in "faults": "status_<code>",
// "hang", "malformed", "cut_stream", "html_200", "foreign_json_200".
// Billing (the stats' tokens): a whole reply costs its input and output tokens, a cut
// one its input tokens and the output tokens sent before the cut (counted in
// "tokens_output_cut" too), error and foreign answers nothing; model lists are free.
// ResetRecords (DELETE /_fake/requests) zeroes the fault and token counts too.
//
// Generated replies (kOk without `text`) are deterministic functions of the prompt
// (the last user message): a critique JSON object when it contains "Critique the
// proposal of", a vote JSON object naming the first "### <name>" heading when it
// contains "Vote for the proposal", a synthesis paragraph when it contains "You are the
// judge", else a ~40-word proposal with a number and a unit ending in the line
// "Confidence: 0.8". Streams send one delta per word token (a word with the whitespace
// before it). Usage: input tokens = words of the prompt, output tokens = words of the
// reply. Anthropic and OpenAI events end in "\n\n", Gemini's in "\r\n\r\n" as the real
// service sends them. Without a token delay the whole stream goes out in one write.
//
// Scale (benchmarks): every connection is one coroutine on the two threads; a response
// held for its latency costs a timer and a watched socket, the request's body is released
// before the wait, and with SetKeptRequests(0) nothing of a request is kept but its count,
// so tens of thousands of concurrent calls stay cheap in CPU and memory.
//
// Nothing here blocks the caller beyond a mutex held for a copy; the server runs on its
// own two threads. Every public member is thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace aragora::testing {

enum class FakeAction {
    kOk,                // 200 with the generated reply (or `text`), streamed when asked
    kStatus,            // `status` with the provider's error body (never streamed)
    kHang,              // reads the request and never answers
    kMalformed,         // 200 application/json with a broken body; streams: an event
                        // with broken JSON data after the first valid event
    kCutStream,         // starts the answer (chunked stream, or a Content-Length body)
                        // and closes the socket half way
    kWrongContentType,  // 200 text/html "<html>oops</html>" (or `text`)
    kForeignJson,       // 200 application/json {"status":"error",...}: valid JSON that is
                        // no provider's reply format (never streamed)
    kFlaky,             // one of the bad-day faults at random (see the header comment)
};

struct FakeRule {
    std::string format;  // "anthropic" | "openai" | "gemini" | "" (any)
    std::string model;   // "" = any; else must equal the request's model (Gemini: the path's)
    FakeAction action = FakeAction::kOk;
    int status = 500;                       // kStatus: the HTTP status
    int retry_after_seconds = -1;           // kStatus: Retry-After header when >= 0
    std::chrono::milliseconds latency{-1};  // before the response headers; -1 = default
    int times = -1;                         // requests it applies to; -1 = forever
    std::string text;  // kOk: reply text instead of the generated one; kWrongContentType: body
    double probability = 1.0;  // share of matching requests the rule applies to (0..1)
};
// Rules also apply to the model-list GETs (which carry no model, so only rules with an
// empty `model` match them) and a match there uses up one of `times`.

struct FakeRequest {
    std::string method;
    std::string path;    // the request target, query included
    std::string format;  // "anthropic" | "openai" | "gemini" | "" (unknown path)
    std::string model;   // body "model"; Gemini: from the path; "" for model lists
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // as received
    bool stream = false;
    int status_sent = 0;  // 0 for kHang (and when the client left before the headers)
    std::chrono::steady_clock::time_point received_at;  // request fully read
};

// What the fake costs and holds, for benchmarks that report it apart from the server.
struct FakeStats {
    double cpu_user_seconds = 0;    // getrusage(RUSAGE_SELF): the whole process
    double cpu_system_seconds = 0;  //   (every FakeLlmServer in it)
    long max_rss_kib = 0;           // ru_maxrss of the process
    std::size_t connections = 0;    // open now (this server)
    std::size_t connections_peak = 0;
    std::size_t connections_total = 0;  // accepted since the start
    std::size_t in_flight = 0;          // provider requests read and not yet answered in full
    std::size_t in_flight_peak = 0;
    std::size_t requests = 0;                   // RequestCount()
    std::map<std::string, std::size_t> faults;  // fault kind -> answers decided that way
    std::size_t faults_total = 0;
    std::size_t tokens_input = 0;  // billed tokens (header comment)
    std::size_t tokens_output = 0;
    std::size_t tokens_output_cut = 0;
};

class FakeLlmServer {
public:
    // Binds host:port (port 0 = any free port) and starts serving on two threads.
    // Throws std::system_error when the address cannot be bound.
    explicit FakeLlmServer(std::string host = "127.0.0.1", uint16_t port = 0);
    // Stops accepting, closes every connection (hung ones too), joins the threads.
    ~FakeLlmServer();
    FakeLlmServer(const FakeLlmServer&) = delete;
    FakeLlmServer& operator=(const FakeLlmServer&) = delete;

    uint16_t port() const;
    std::string base_url() const;  // "http://127.0.0.1:<port>"

    // Rules are matched in insertion order; the first one that matches (and is not used
    // up) decides the answer. No rule matching: kOk with the server defaults.
    void AddRule(FakeRule rule);
    void ClearRules();
    void SetDefaultLatency(std::chrono::milliseconds latency);  // before headers (default 0)
    void SetTokenDelay(std::chrono::milliseconds delay);        // between streamed events (0)
    void SetSeed(uint64_t seed);  // re-seeds the generator of random faults (default 0)

    // Provider requests (not control API ones) since the start or the last
    // ResetRecords(), oldest first; the newest 100000 are kept (SetKeptRequests changes
    // that; 0 keeps none), RequestCount() counts all.
    std::vector<FakeRequest> Requests() const;
    void SetKeptRequests(std::size_t n);
    FakeStats Stats() const;
    std::size_t RequestCount() const;
    // One entry per response the client abandoned: the time the server noticed that the
    // client closed the connection while it was streaming the response or holding it
    // (latency before the headers, kHang). Not recorded when the server itself stops.
    std::vector<std::chrono::steady_clock::time_point> ClientAborts() const;
    void ResetRecords();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aragora::testing
