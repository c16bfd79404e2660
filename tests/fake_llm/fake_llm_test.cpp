// Self-test of the fake LLM provider, through a tiny blocking HTTP client (Beast,
// header-only, this translation unit only).

#include "fake_llm/fake_llm.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace aragora::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lowercased
    std::string body;
    bool complete = false;  // the whole message arrived
    std::string error;      // read error ("timeout" when nothing came in time)
    boost::system::error_code ec;
    // Body size after each read that added bytes, with the time it arrived.
    std::vector<std::pair<Clock::time_point, std::size_t>> arrivals;

    std::string Header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string{} : it->second;
    }
};

// One connection; every read has a deadline (async operations driven by run_one_until).
class Client {
public:
    Client(asio::io_context& ioc, uint16_t port) : ioc_(ioc), socket_(ioc) {
        socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }

    void Send(const std::string& method, const std::string& target, const std::string& body = {},
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        http::request<http::string_body> req;
        req.method_string(method);
        req.target(target);
        req.version(11);
        req.set(http::field::host, "127.0.0.1");
        for (const auto& [name, value] : headers) req.set(name, value);
        if (!body.empty()) req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        http::write(socket_, req);
    }

    // Reads one response; stops after `max_arrivals` body reads when given.
    Response Read(std::chrono::milliseconds timeout = 5s,
                  std::optional<std::size_t> max_arrivals = std::nullopt) {
        Response r;
        parser_.emplace();
        parser_->body_limit(64 * 1024 * 1024);
        const auto deadline = Clock::now() + timeout;
        boost::system::error_code ec;
        bool done = false;
        http::async_read_header(socket_, buffer_, *parser_,
                                [&](boost::system::error_code e, std::size_t) {
                                    ec = e;
                                    done = true;
                                });
        if (!RunUntil(done, deadline)) {
            r.error = "timeout";
            return r;
        }
        if (ec) {
            r.error = ec.message();
            return r;
        }
        const auto& msg = parser_->get();
        r.status = static_cast<int>(msg.result_int());
        for (const auto& field : msg) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            r.headers[name] = std::string(field.value());
        }
        while (!parser_->is_done()) {
            if (max_arrivals && r.arrivals.size() >= *max_arrivals) break;
            const std::size_t before = parser_->get().body().size();
            done = false;
            http::async_read_some(socket_, buffer_, *parser_,
                                  [&](boost::system::error_code e, std::size_t) {
                                      ec = e;
                                      done = true;
                                  });
            if (!RunUntil(done, deadline)) {
                r.error = "timeout";
                break;
            }
            const std::size_t after = parser_->get().body().size();
            if (after != before) r.arrivals.emplace_back(Clock::now(), after);
            if (ec) {
                r.error = ec.message();
                r.ec = ec;
                break;
            }
        }
        r.body = parser_->get().body();
        r.complete = parser_->is_done();
        return r;
    }

    // True when the server closes the connection within `timeout`. Not after a read that
    // already saw the end of the stream (Asio's reactor would wait for another edge).
    bool WaitForClose(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            std::array<char, 1024> scratch;
            boost::system::error_code ec;
            bool done = false;
            socket_.async_read_some(asio::buffer(scratch),
                                    [&](boost::system::error_code e, std::size_t) {
                                        ec = e;
                                        done = true;
                                    });
            if (!RunUntil(done, deadline)) return false;
            if (ec) return true;
        }
    }

    void Close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

private:
    bool RunUntil(const bool& done, Clock::time_point deadline) {
        ioc_.restart();
        while (!done && Clock::now() < deadline) ioc_.run_one_until(deadline);
        if (done) return true;
        boost::system::error_code ignored;
        socket_.cancel(ignored);
        ioc_.restart();
        while (!done) ioc_.run_one();
        return false;
    }

    asio::io_context& ioc_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::string_body>> parser_;
};

Response Call(uint16_t port, const std::string& method, const std::string& target,
              const std::string& body = {},
              const std::vector<std::pair<std::string, std::string>>& headers = {},
              std::chrono::milliseconds timeout = 5s) {
    asio::io_context ioc;
    Client c(ioc, port);
    c.Send(method, target, body, headers);
    return c.Read(timeout);
}

json::value Json(const std::string& text) { return json::parse(text); }

std::string Escape(const std::string& s) { return json::serialize(json::value(s)); }

std::string AnthropicBody(const std::string& model, const std::string& prompt,
                          bool stream = false) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":256,\"system\":\"be brief\"," +
           "\"messages\":[{\"role\":\"user\",\"content\":" + Escape(prompt) + "}]" +
           (stream ? ",\"stream\":true" : "") + "}";
}

std::string OpenAiBody(const std::string& model, const std::string& prompt, bool stream = false,
                       bool include_usage = false) {
    std::string body = "{\"model\":\"" + model +
                       "\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":" +
                       Escape(prompt) + "}]";
    if (stream) body += ",\"stream\":true";
    if (include_usage) body += ",\"stream_options\":{\"include_usage\":true}";
    return body + "}";
}

std::string GeminiBody(const std::string& prompt) {
    return "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":" + Escape(prompt) + "}]}]}";
}

const std::vector<std::pair<std::string, std::string>> kAnthropicHeaders = {
    {"x-api-key", "sk-ant-test"}, {"anthropic-version", "2023-06-01"}};

struct SseEvent {
    std::string event;
    std::string data;
};

// Events of an SSE body (CRLF or LF line ends), in order.
std::vector<SseEvent> ParseSse(std::string body) {
    std::string normalized;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') continue;
        normalized += body[i];
    }
    std::vector<SseEvent> events;
    std::size_t pos = 0;
    while (pos < normalized.size()) {
        auto end = normalized.find("\n\n", pos);
        if (end == std::string::npos) break;
        SseEvent e;
        std::string block = normalized.substr(pos, end - pos);
        std::size_t lp = 0;
        while (lp <= block.size()) {
            auto le = block.find('\n', lp);
            std::string line =
                block.substr(lp, le == std::string::npos ? std::string::npos : le - lp);
            if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
            if (line.rfind("data: ", 0) == 0) e.data = line.substr(6);
            if (le == std::string::npos) break;
            lp = le + 1;
        }
        events.push_back(e);
        pos = end + 2;
    }
    return events;
}

std::size_t Words(const std::string& s) {
    std::size_t n = 0;
    bool in = false;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            in = false;
        } else if (!in) {
            in = true;
            ++n;
        }
    }
    return n;
}

// Polls `pred` for up to `timeout`.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = 3s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

std::string OpenAiText(uint16_t port, const std::string& prompt) {
    auto r = Call(port, "POST", "/v1/chat/completions", OpenAiBody("gpt-x", prompt));
    if (r.status != 200) return "status " + std::to_string(r.status);
    return std::string(
        Json(r.body).at("choices").as_array().at(0).at("message").at("content").as_string());
}

// Rules in tests: Rule().Action(FakeAction::kStatus).Status(429)...
class Rule {
public:
    Rule& Format(std::string v) {
        r_.format = std::move(v);
        return *this;
    }
    Rule& Model(std::string v) {
        r_.model = std::move(v);
        return *this;
    }
    Rule& Action(FakeAction v) {
        r_.action = v;
        return *this;
    }
    Rule& Status(int v) {
        r_.status = v;
        return *this;
    }
    Rule& RetryAfter(int v) {
        r_.retry_after_seconds = v;
        return *this;
    }
    Rule& Latency(std::chrono::milliseconds v) {
        r_.latency = v;
        return *this;
    }
    Rule& Times(int v) {
        r_.times = v;
        return *this;
    }
    Rule& Text(std::string v) {
        r_.text = std::move(v);
        return *this;
    }
    operator FakeRule() const { return r_; }

private:
    FakeRule r_;
};

const std::string kPrompt =
    "Question: How should we cut checkout latency?\n\nPropose an answer. End with a line "
    "'Confidence: <0..1>'.";

// ---------------------------------------------------------------------------------------

TEST(FakeLlm, AnthropicReplyHasTheMessagesShapeAndIsRecorded) {
    FakeLlmServer fake;
    EXPECT_EQ(fake.base_url(), "http://127.0.0.1:" + std::to_string(fake.port()));
    auto r = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("claude-x", kPrompt),
                  kAnthropicHeaders);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    auto v = Json(r.body).as_object();
    EXPECT_EQ(v.at("type").as_string(), "message");
    EXPECT_EQ(v.at("role").as_string(), "assistant");
    EXPECT_EQ(v.at("model").as_string(), "claude-x");
    EXPECT_EQ(v.at("stop_reason").as_string(), "end_turn");
    EXPECT_FALSE(v.at("id").as_string().empty());
    const auto& block = v.at("content").as_array().at(0).as_object();
    EXPECT_EQ(block.at("type").as_string(), "text");
    const std::string text(block.at("text").as_string());
    EXPECT_EQ(v.at("usage").at("input_tokens").as_int64(), static_cast<int64_t>(Words(kPrompt)));
    EXPECT_EQ(v.at("usage").at("output_tokens").as_int64(), static_cast<int64_t>(Words(text)));

    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(fake.RequestCount(), 1u);
    EXPECT_EQ(reqs[0].method, "POST");
    EXPECT_EQ(reqs[0].path, "/v1/messages");
    EXPECT_EQ(reqs[0].format, "anthropic");
    EXPECT_EQ(reqs[0].model, "claude-x");
    EXPECT_FALSE(reqs[0].stream);
    EXPECT_EQ(reqs[0].status_sent, 200);
    EXPECT_EQ(reqs[0].body, AnthropicBody("claude-x", kPrompt));
    bool saw_key = false;
    for (const auto& [name, value] : reqs[0].headers) {
        if (name == "x-api-key" && value == "sk-ant-test") saw_key = true;
    }
    EXPECT_TRUE(saw_key);

    fake.ResetRecords();
    EXPECT_EQ(fake.RequestCount(), 0u);
    EXPECT_TRUE(fake.Requests().empty());
}

TEST(FakeLlm, OpenAiReplyOnBothChatPaths) {
    FakeLlmServer fake;
    for (const std::string path : {"/v1/chat/completions", "/api/v1/chat/completions"}) {
        auto r = Call(fake.port(), "POST", path, OpenAiBody("gpt-x", kPrompt),
                      {{"authorization", "Bearer sk-test"}});
        ASSERT_EQ(r.status, 200) << path << " " << r.error;
        auto v = Json(r.body).as_object();
        EXPECT_EQ(v.at("object").as_string(), "chat.completion");
        EXPECT_EQ(v.at("model").as_string(), "gpt-x");
        const auto& choice = v.at("choices").as_array().at(0).as_object();
        EXPECT_EQ(choice.at("index").as_int64(), 0);
        EXPECT_EQ(choice.at("finish_reason").as_string(), "stop");
        EXPECT_EQ(choice.at("message").at("role").as_string(), "assistant");
        const std::string text(choice.at("message").at("content").as_string());
        EXPECT_NE(text.find("Confidence: 0.8"), std::string::npos);
        const auto& usage = v.at("usage").as_object();
        EXPECT_EQ(usage.at("prompt_tokens").as_int64(), static_cast<int64_t>(Words(kPrompt)));
        EXPECT_EQ(usage.at("completion_tokens").as_int64(), static_cast<int64_t>(Words(text)));
        EXPECT_EQ(usage.at("total_tokens").as_int64(),
                  static_cast<int64_t>(Words(kPrompt) + Words(text)));
    }
    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[1].format, "openai");
    EXPECT_EQ(reqs[1].path, "/api/v1/chat/completions");
}

TEST(FakeLlm, GeminiReplyTakesTheModelFromThePath) {
    FakeLlmServer fake;
    auto r = Call(fake.port(), "POST", "/v1beta/models/gemini-x:generateContent",
                  GeminiBody(kPrompt), {{"x-goog-api-key", "g-test"}});
    ASSERT_EQ(r.status, 200) << r.error;
    auto v = Json(r.body).as_object();
    const auto& cand = v.at("candidates").as_array().at(0).as_object();
    EXPECT_EQ(cand.at("finishReason").as_string(), "STOP");
    EXPECT_EQ(cand.at("content").at("role").as_string(), "model");
    const std::string text(cand.at("content").at("parts").as_array().at(0).at("text").as_string());
    EXPECT_NE(text.find("Confidence: 0.8"), std::string::npos);
    const auto& usage = v.at("usageMetadata").as_object();
    EXPECT_EQ(usage.at("promptTokenCount").as_int64(), static_cast<int64_t>(Words(kPrompt)));
    EXPECT_EQ(usage.at("candidatesTokenCount").as_int64(), static_cast<int64_t>(Words(text)));
    EXPECT_EQ(usage.at("totalTokenCount").as_int64(),
              static_cast<int64_t>(Words(kPrompt) + Words(text)));
    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].format, "gemini");
    EXPECT_EQ(reqs[0].model, "gemini-x");
    EXPECT_FALSE(reqs[0].stream);
}

TEST(FakeLlm, AnthropicStreamSendsEveryEventInOrder) {
    FakeLlmServer fake;
    const auto plain = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt));
    const std::string expected(
        Json(plain.body).at("content").as_array().at(0).at("text").as_string());

    auto r = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    ASSERT_EQ(r.status, 200) << r.error;
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
    EXPECT_EQ(r.Header("content-type").rfind("text/event-stream", 0), 0u);
    const auto events = ParseSse(r.body);
    ASSERT_GE(events.size(), 7u);
    EXPECT_EQ(events[0].event, "message_start");
    EXPECT_EQ(Json(events[0].data).at("message").at("usage").at("input_tokens").as_int64(),
              static_cast<int64_t>(Words(kPrompt)));
    EXPECT_EQ(events[1].event, "content_block_start");
    EXPECT_EQ(events[2].event, "ping");
    std::string text;
    std::size_t deltas = 0;
    for (std::size_t i = 3; i + 3 < events.size(); ++i) {
        ASSERT_EQ(events[i].event, "content_block_delta");
        auto d = Json(events[i].data).at("delta").as_object();
        EXPECT_EQ(d.at("type").as_string(), "text_delta");
        const std::string token(d.at("text").as_string());
        EXPECT_EQ(Words(token), 1u) << "one word per delta: '" << token << "'";
        text += token;
        ++deltas;
    }
    EXPECT_EQ(text, expected);
    EXPECT_EQ(deltas, Words(expected));
    const auto n = events.size();
    EXPECT_EQ(events[n - 3].event, "content_block_stop");
    EXPECT_EQ(events[n - 2].event, "message_delta");
    EXPECT_EQ(Json(events[n - 2].data).at("usage").at("output_tokens").as_int64(),
              static_cast<int64_t>(Words(expected)));
    EXPECT_EQ(Json(events[n - 2].data).at("delta").at("stop_reason").as_string(), "end_turn");
    EXPECT_EQ(events[n - 1].event, "message_stop");
    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_TRUE(reqs[1].stream);
}

TEST(FakeLlm, OpenAiStreamSendsDeltasUsageWhenAskedAndDone) {
    FakeLlmServer fake;
    for (bool include_usage : {true, false}) {
        auto r = Call(fake.port(), "POST", "/v1/chat/completions",
                      OpenAiBody("gpt-x", kPrompt, true, include_usage));
        ASSERT_EQ(r.status, 200) << r.error;
        ASSERT_TRUE(r.complete) << r.error;
        EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
        const auto events = ParseSse(r.body);
        ASSERT_GE(events.size(), 3u);
        EXPECT_EQ(events.back().data, "[DONE]");
        std::string text;
        bool saw_usage = false;
        bool saw_stop = false;
        for (std::size_t i = 0; i + 1 < events.size(); ++i) {
            auto o = Json(events[i].data).as_object();
            EXPECT_EQ(o.at("object").as_string(), "chat.completion.chunk");
            if (const auto* usage = o.if_contains("usage")) {
                saw_usage = true;
                EXPECT_EQ(usage->at("prompt_tokens").as_int64(),
                          static_cast<int64_t>(Words(kPrompt)));
                continue;
            }
            const auto& choice = o.at("choices").as_array().at(0).as_object();
            if (choice.at("finish_reason").is_string()) saw_stop = true;
            if (const auto* c = choice.at("delta").as_object().if_contains("content")) {
                text += std::string(c->as_string());
            }
        }
        EXPECT_EQ(saw_usage, include_usage);
        EXPECT_TRUE(saw_stop);
        EXPECT_NE(text.find("Confidence: 0.8"), std::string::npos);
        EXPECT_EQ(text, OpenAiText(fake.port(), kPrompt));
    }
}

TEST(FakeLlm, GeminiStreamEndsWithFinishReasonAndUsage) {
    FakeLlmServer fake;
    auto r = Call(fake.port(), "POST", "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
                  GeminiBody(kPrompt));
    ASSERT_EQ(r.status, 200) << r.error;
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(r.Header("content-type"), "text/event-stream");
    const auto events = ParseSse(r.body);
    ASSERT_GE(events.size(), 2u);
    std::string text;
    for (std::size_t i = 0; i < events.size(); ++i) {
        auto o = Json(events[i].data).as_object();
        const auto& cand = o.at("candidates").as_array().at(0).as_object();
        text += std::string(cand.at("content").at("parts").as_array().at(0).at("text").as_string());
        const bool last = i + 1 == events.size();
        EXPECT_EQ(cand.contains("finishReason"), last) << i;
        EXPECT_EQ(o.contains("usageMetadata"), last) << i;
        if (last) {
            EXPECT_EQ(cand.at("finishReason").as_string(), "STOP");
            EXPECT_EQ(o.at("usageMetadata").at("candidatesTokenCount").as_int64(),
                      static_cast<int64_t>(Words(text)));
        }
    }
    EXPECT_EQ(events.size(), Words(text));
    EXPECT_NE(text.find("Confidence: 0.8"), std::string::npos);
    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_TRUE(reqs[0].stream);
    EXPECT_EQ(reqs[0].model, "gemini-x");
}

TEST(FakeLlm, TokenDelaySpreadsStreamedEventsOverTime) {
    FakeLlmServer fake;
    fake.SetTokenDelay(30ms);
    fake.AddRule(Rule().Text("one two three four five six"));
    const auto start = Clock::now();
    auto r = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", "hi", true));
    ASSERT_TRUE(r.complete) << r.error;
    const auto events = ParseSse(r.body);
    // role chunk + 6 tokens + stop chunk + [DONE]
    ASSERT_EQ(events.size(), 9u);
    ASSERT_FALSE(r.arrivals.empty());
    EXPECT_GE(r.arrivals.back().first - start, 8 * 30ms);
    // Flushed one by one: the client saw the body grow many times, not once.
    EXPECT_GE(r.arrivals.size(), 5u);
    EXPECT_GE(r.arrivals.back().first - r.arrivals.front().first, 4 * 30ms);
}

TEST(FakeLlm, StreamWithoutTokenDelayComesAtOnce) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Text("one two three four five six"));
    const auto start = Clock::now();
    auto r = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", "hi", true));
    ASSERT_TRUE(r.complete) << r.error;
    EXPECT_EQ(ParseSse(r.body).size(), 9u);
    EXPECT_LT(Clock::now() - start, 8 * 30ms * 10);
}

TEST(FakeLlm, GeneratedCritiqueIsAJsonObject) {
    FakeLlmServer fake;
    const std::string prompt =
        "Question: q\n\nCritique the proposal of claude-1:\nWe should cache.\n\nAnswer with a "
        "JSON object.";
    const auto text = OpenAiText(fake.port(), prompt);
    auto v = Json(text).as_object();
    ASSERT_FALSE(v.at("issues").as_array().empty());
    ASSERT_FALSE(v.at("suggestions").as_array().empty());
    EXPECT_EQ(v.at("severity").as_int64(), 4);
    EXPECT_FALSE(v.at("reasoning").as_string().empty());
    EXPECT_NE(std::string(v.at("issues").as_array().at(0).as_string()).find("claude-1"),
              std::string::npos);
}

TEST(FakeLlm, GeneratedVoteNamesTheFirstHeading) {
    FakeLlmServer fake;
    const std::string prompt =
        "Question: q\n\nFinal proposals:\n### gpt-2\nUse a cache.\n\n### claude-1\nUse a "
        "queue.\n\nVote for the proposal you find best supported.";
    const auto text = OpenAiText(fake.port(), prompt);
    auto v = Json(text).as_object();
    EXPECT_EQ(v.at("choice").as_string(), "gpt-2");
    EXPECT_DOUBLE_EQ(v.at("confidence").to_number<double>(), 0.8);
    EXPECT_FALSE(v.at("reasoning").as_string().empty());
    // Written as people write numbers (not "8E-1").
    EXPECT_NE(text.find("\"confidence\":0.8"), std::string::npos) << text;
}

TEST(FakeLlm, GeneratedJudgeAnswerIsASynthesisParagraph) {
    FakeLlmServer fake;
    const auto text = OpenAiText(
        fake.port(), "Question: q\n\nYou are the judge. Proposals:\n### a\nx\n\nSynthesize.");
    EXPECT_EQ(text.rfind("Synthesis:", 0), 0u) << text;
    EXPECT_EQ(text.find('\n'), std::string::npos);
    EXPECT_EQ(text.find("Confidence:"), std::string::npos);
    EXPECT_GE(Words(text), 20u);
}

TEST(FakeLlm, GeneratedProposalHasANumberAUnitAndAConfidenceLine) {
    FakeLlmServer fake;
    const auto text = OpenAiText(fake.port(), kPrompt);
    EXPECT_TRUE(std::regex_search(text, std::regex("[0-9]+ (ms|percent|weeks)"))) << text;
    const std::string last_line = text.substr(text.rfind('\n') + 1);
    EXPECT_EQ(last_line, "Confidence: 0.8");
    EXPECT_GE(Words(text), 35u);
    EXPECT_LE(Words(text), 55u);
    // Deterministic: the same prompt gives the same reply, from any format.
    EXPECT_EQ(OpenAiText(fake.port(), kPrompt), text);
    auto a = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt));
    EXPECT_EQ(Json(a.body).at("content").as_array().at(0).at("text").as_string(), text);
}

TEST(FakeLlm, StatusRuleAnswersWithEachProvidersErrorShape) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Format("anthropic").Action(FakeAction::kStatus).Status(529));
    fake.AddRule(Rule().Format("openai").Action(FakeAction::kStatus).Status(429).RetryAfter(7));
    fake.AddRule(Rule().Format("gemini").Action(FakeAction::kStatus).Status(500));

    auto a = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt));
    EXPECT_EQ(a.status, 529);
    auto av = Json(a.body);
    EXPECT_EQ(av.at("type").as_string(), "error");
    EXPECT_EQ(av.at("error").at("type").as_string(), "overloaded_error");
    EXPECT_FALSE(av.at("error").at("message").as_string().empty());
    EXPECT_EQ(a.Header("retry-after"), "");

    auto o = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt));
    EXPECT_EQ(o.status, 429);
    EXPECT_EQ(o.Header("retry-after"), "7");
    auto ov = Json(o.body);
    EXPECT_FALSE(ov.at("error").at("message").as_string().empty());
    EXPECT_EQ(ov.at("error").at("type").as_string(), "rate_limit_exceeded");
    EXPECT_EQ(ov.at("error").at("code").as_string(), "rate_limit_exceeded");

    auto g = Call(fake.port(), "POST", "/v1beta/models/g:generateContent", GeminiBody(kPrompt));
    EXPECT_EQ(g.status, 500);
    auto gv = Json(g.body);
    EXPECT_EQ(gv.at("error").at("code").as_int64(), 500);
    EXPECT_EQ(gv.at("error").at("status").as_string(), "INTERNAL");
    EXPECT_FALSE(gv.at("error").at("message").as_string().empty());

    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 3u);
    EXPECT_EQ(reqs[0].status_sent, 529);
    EXPECT_EQ(reqs[1].status_sent, 429);
    EXPECT_EQ(reqs[2].status_sent, 500);
}

TEST(FakeLlm, StatusRuleAnswersAStreamRequestWithAPlainError) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kStatus).Status(401));
    auto r = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    EXPECT_EQ(r.status, 401);
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(Json(r.body).at("error").at("type").as_string(), "authentication_error");
}

TEST(FakeLlm, HangNeverAnswersAndTheClientLeavingIsRecorded) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kHang));
    asio::io_context ioc;
    Client c(ioc, fake.port());
    c.Send("POST", "/v1/messages", AnthropicBody("c", kPrompt));
    auto r = c.Read(300ms);
    EXPECT_EQ(r.error, "timeout");
    EXPECT_EQ(r.status, 0);
    ASSERT_EQ(fake.RequestCount(), 1u);
    EXPECT_EQ(fake.Requests()[0].status_sent, 0);
    EXPECT_TRUE(fake.ClientAborts().empty());
    const auto closed_at = Clock::now();
    c.Close();
    ASSERT_TRUE(Eventually([&] { return fake.ClientAborts().size() == 1; }));
    EXPECT_GE(fake.ClientAborts()[0], closed_at);
}

TEST(FakeLlm, HungAndStreamingConnectionsDoNotBlockShutdown) {
    auto fake = std::make_unique<FakeLlmServer>();
    fake->AddRule(Rule().Model("hang").Action(FakeAction::kHang));
    fake->SetTokenDelay(1s);
    asio::io_context ioc;
    Client hung(ioc, fake->port());
    hung.Send("POST", "/v1/messages", AnthropicBody("hang", kPrompt));
    Client streaming(ioc, fake->port());
    streaming.Send("POST", "/v1/messages", AnthropicBody("s", kPrompt, true));
    auto partial = streaming.Read(3s, 1);
    EXPECT_EQ(partial.status, 200);
    ASSERT_TRUE(Eventually([&] { return fake->RequestCount() == 2; }));
    const auto start = Clock::now();
    fake.reset();
    EXPECT_LT(Clock::now() - start, 2s);
    EXPECT_TRUE(hung.WaitForClose(1s));
    EXPECT_TRUE(streaming.WaitForClose(1s));
}

TEST(FakeLlm, MalformedBodyIsNotJson) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kMalformed));
    for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/messages", AnthropicBody("c", kPrompt)},
             {"/v1/chat/completions", OpenAiBody("m", kPrompt)},
             {"/v1beta/models/g:generateContent", GeminiBody(kPrompt)}}) {
        auto r = Call(fake.port(), "POST", path, body);
        EXPECT_EQ(r.status, 200) << path;
        EXPECT_TRUE(r.complete) << path;
        EXPECT_EQ(r.Header("content-type"), "application/json");
        boost::system::error_code ec;
        json::parse(r.body, ec);
        EXPECT_TRUE(ec) << path << ": " << r.body;
    }
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt)).body,
              "{\"content\": [");
}

TEST(FakeLlm, MalformedStreamHasAnEventWithBrokenJson) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kMalformed));
    for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/messages", AnthropicBody("c", kPrompt, true)},
             {"/v1/chat/completions", OpenAiBody("m", kPrompt, true)},
             {"/v1beta/models/g:streamGenerateContent?alt=sse", GeminiBody(kPrompt)}}) {
        auto r = Call(fake.port(), "POST", path, body);
        EXPECT_EQ(r.status, 200) << path;
        EXPECT_EQ(r.Header("content-type").rfind("text/event-stream", 0), 0u) << path;
        const auto events = ParseSse(r.body);
        ASSERT_EQ(events.size(), 2u) << path;
        boost::system::error_code ec;
        json::parse(events[0].data, ec);
        EXPECT_FALSE(ec) << path << ": first event is valid";
        json::parse(events[1].data, ec);
        EXPECT_TRUE(ec) << path << ": " << events[1].data;
    }
}

TEST(FakeLlm, CutStreamClosesTheConnectionHalfWay) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kCutStream));
    asio::io_context ioc;
    Client c(ioc, fake.port());
    c.Send("POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    auto r = c.Read();
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.complete);
    EXPECT_NE(r.error, "timeout");
    EXPECT_FALSE(r.error.empty());
    const auto events = ParseSse(r.body);
    ASSERT_GE(events.size(), 1u);
    EXPECT_EQ(events[0].event, "message_start");
    EXPECT_EQ(r.body.find("message_stop"), std::string::npos);
    // The server closed the connection before the last chunk.
    EXPECT_EQ(r.ec, http::error::partial_message) << r.error;
}

TEST(FakeLlm, CutNonStreamBodyIsShorterThanItsContentLength) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kCutStream));
    auto r = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt));
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.complete);
    EXPECT_FALSE(r.error.empty());
    EXPECT_NE(r.error, "timeout");
    ASSERT_FALSE(r.Header("content-length").empty());
    EXPECT_LT(r.body.size(), std::stoul(r.Header("content-length")));
    EXPECT_EQ(r.ec, http::error::partial_message) << r.error;
    EXPECT_GT(r.body.size(), 0u);
}

TEST(FakeLlm, WrongContentTypeSendsHtml) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kWrongContentType));
    for (bool stream : {false, true}) {
        auto r = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt, stream));
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.Header("content-type"), "text/html");
        EXPECT_EQ(r.body, "<html>oops</html>");
    }
}

TEST(FakeLlm, RuleWithTimesIsUsedUp) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kStatus).Status(503).Times(2));
    std::vector<int> statuses;
    for (int i = 0; i < 4; ++i) {
        statuses.push_back(
            Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt)).status);
    }
    EXPECT_EQ(statuses, (std::vector<int>{503, 503, 200, 200}));
}

TEST(FakeLlm, RulesMatchOnModelAndFormat) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Model("bad-model").Action(FakeAction::kStatus).Status(500));
    fake.AddRule(
        Rule().Format("gemini").Model("bad-gemini").Action(FakeAction::kStatus).Status(429));
    fake.AddRule(Rule().Format("openai").Action(FakeAction::kStatus).Status(401));
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("good", kPrompt)).status,
              200);
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("bad-model", kPrompt)).status,
              500);
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("any", kPrompt)).status,
              401);
    EXPECT_EQ(
        Call(fake.port(), "POST", "/v1beta/models/bad-gemini:generateContent", GeminiBody(kPrompt))
            .status,
        429);
    EXPECT_EQ(
        Call(fake.port(), "POST", "/v1beta/models/good-gemini:generateContent", GeminiBody(kPrompt))
            .status,
        200);
    fake.ClearRules();
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("any", kPrompt)).status,
              200);
}

TEST(FakeLlm, FirstMatchingRuleWinsAndTextReplacesTheReply) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Model("m").Text("first rule"));
    fake.AddRule(Rule().Model("m").Action(FakeAction::kStatus).Status(500));
    fake.AddRule(Rule().Text("catch all"));
    EXPECT_EQ(OpenAiText(fake.port(), kPrompt), "catch all");  // model "gpt-x"
    auto r = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt));
    EXPECT_EQ(r.status, 200);
    auto v = Json(r.body);
    EXPECT_EQ(v.at("choices").as_array().at(0).at("message").at("content").as_string(),
              "first rule");
    EXPECT_EQ(v.at("usage").at("completion_tokens").as_int64(), 2);
}

TEST(FakeLlm, LatencyDelaysTheResponseHeaders) {
    FakeLlmServer fake;
    fake.SetDefaultLatency(150ms);
    auto start = Clock::now();
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt)).status, 200);
    EXPECT_GE(Clock::now() - start, 150ms);

    fake.AddRule(Rule().Model("slow").Latency(400ms));
    start = Clock::now();
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("slow", kPrompt)).status,
              200);
    EXPECT_GE(Clock::now() - start, 400ms);

    fake.SetDefaultLatency(0ms);
    fake.AddRule(Rule().Action(FakeAction::kStatus).Status(429).Latency(200ms));
    start = Clock::now();
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt)).status, 429);
    EXPECT_GE(Clock::now() - start, 200ms);
}

TEST(FakeLlm, ClientLeavingMidStreamIsRecordedWhenItHappens) {
    FakeLlmServer fake;
    fake.SetTokenDelay(3s);  // the next event is seconds away when the client leaves
    asio::io_context ioc;
    Client c(ioc, fake.port());
    c.Send("POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    auto partial = c.Read(5s, 1);
    ASSERT_EQ(partial.status, 200) << partial.error;
    EXPECT_FALSE(partial.complete);
    EXPECT_EQ(ParseSse(partial.body).size(), 1u);
    EXPECT_TRUE(fake.ClientAborts().empty());
    const auto closed_at = Clock::now();
    c.Close();
    ASSERT_TRUE(Eventually([&] { return fake.ClientAborts().size() == 1; }));
    const auto noticed = fake.ClientAborts()[0];
    EXPECT_GE(noticed, closed_at);
    // Noticed while waiting between events, not at the next write seconds later.
    EXPECT_LT(noticed - closed_at, 1s);
}

TEST(FakeLlm, ClientLeavingAFastStreamIsRecorded) {
    FakeLlmServer fake;
    fake.SetTokenDelay(20ms);
    asio::io_context ioc;
    Client c(ioc, fake.port());
    c.Send("POST", "/v1/chat/completions", OpenAiBody("m", kPrompt, true));
    auto partial = c.Read(5s, 3);
    ASSERT_EQ(partial.status, 200) << partial.error;
    c.Close();
    ASSERT_TRUE(Eventually([&] { return fake.ClientAborts().size() == 1; }));
}

TEST(FakeLlm, ClientLeavingAStreamWithoutTokenDelayIsRecorded) {
    FakeLlmServer fake;
    std::string long_text;
    for (int i = 0; i < 100000; ++i) long_text += "word ";
    fake.AddRule(Rule().Text(long_text));
    asio::io_context ioc;
    Client c(ioc, fake.port());
    c.Send("POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    auto partial = c.Read(5s, 1);
    ASSERT_EQ(partial.status, 200) << partial.error;
    EXPECT_FALSE(partial.complete);
    c.Close();  // unread bytes: the peer's writes fail at once
    ASSERT_TRUE(Eventually([&] { return fake.ClientAborts().size() == 1; }));
}

TEST(FakeLlm, ClientLeavingDuringLatencyIsRecorded) {
    FakeLlmServer fake;
    fake.SetDefaultLatency(5s);
    asio::io_context ioc;
    Client c(ioc, fake.port());
    c.Send("POST", "/v1beta/models/g:generateContent", GeminiBody(kPrompt));
    ASSERT_TRUE(Eventually([&] { return fake.RequestCount() == 1; }));
    const auto closed_at = Clock::now();
    c.Close();
    ASSERT_TRUE(Eventually([&] { return fake.ClientAborts().size() == 1; }));
    EXPECT_LT(fake.ClientAborts()[0] - closed_at, 1s);
    EXPECT_EQ(fake.Requests()[0].status_sent, 0);
}

TEST(FakeLlm, FinishedResponsesAreNotCountedAsAborts) {
    FakeLlmServer fake;
    fake.SetTokenDelay(1ms);
    for (int i = 0; i < 3; ++i) {
        asio::io_context ioc;
        Client c(ioc, fake.port());
        c.Send("POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
        EXPECT_TRUE(c.Read().complete);
        c.Close();
    }
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(fake.ClientAborts().empty());
}

TEST(FakeLlm, ModelListsAnswerEachFormat) {
    FakeLlmServer fake;
    auto a = Call(fake.port(), "GET", "/v1/models", {}, kAnthropicHeaders);
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(Json(a.body).at("data").as_array().at(0).at("type").as_string(), "model");
    auto o = Call(fake.port(), "GET", "/v1/models", {}, {{"authorization", "Bearer k"}});
    ASSERT_EQ(o.status, 200);
    EXPECT_EQ(Json(o.body).at("object").as_string(), "list");
    auto r = Call(fake.port(), "GET", "/api/v1/models");
    ASSERT_EQ(r.status, 200);
    EXPECT_FALSE(Json(r.body).at("data").as_array().empty());
    auto g = Call(fake.port(), "GET", "/v1beta/models", {}, {{"x-goog-api-key", "k"}});
    ASSERT_EQ(g.status, 200);
    EXPECT_FALSE(Json(g.body).at("models").as_array().empty());
    auto reqs = fake.Requests();
    ASSERT_EQ(reqs.size(), 4u);
    EXPECT_EQ(reqs[0].format, "anthropic");
    EXPECT_EQ(reqs[1].format, "openai");
    EXPECT_EQ(reqs[3].format, "gemini");

    fake.AddRule(Rule().Action(FakeAction::kStatus).Status(401));
    a = Call(fake.port(), "GET", "/v1/models", {}, kAnthropicHeaders);
    EXPECT_EQ(a.status, 401);
    EXPECT_EQ(Json(a.body).at("error").at("type").as_string(), "authentication_error");
    o = Call(fake.port(), "GET", "/api/v1/models");
    EXPECT_EQ(o.status, 401);
    EXPECT_EQ(Json(o.body).at("error").at("code").as_string(), "invalid_api_key");
    g = Call(fake.port(), "GET", "/v1beta/models");
    EXPECT_EQ(g.status, 401);
    EXPECT_EQ(Json(g.body).at("error").at("status").as_string(), "UNAUTHENTICATED");
}

TEST(FakeLlm, UnknownPathsAndBadBodiesGetProviderErrors) {
    FakeLlmServer fake;
    auto r = Call(fake.port(), "POST", "/v2/nothing", "{}");
    EXPECT_EQ(r.status, 404);
    r = Call(fake.port(), "GET", "/v1/messages");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(Json(r.body).at("type").as_string(), "error");
    r = Call(fake.port(), "POST", "/v1/messages", "not json");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(Json(r.body).at("error").at("type").as_string(), "invalid_request_error");
    r = Call(fake.port(), "POST", "/v1beta/models/g:generateContent", "[1]");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(Json(r.body).at("error").at("status").as_string(), "INVALID_ARGUMENT");
    EXPECT_EQ(fake.RequestCount(), 4u);
}

TEST(FakeLlm, KeepAliveServesSeveralRequestsOnOneConnection) {
    FakeLlmServer fake;
    asio::io_context ioc;
    Client c(ioc, fake.port());
    for (int i = 0; i < 3; ++i) {
        c.Send("POST", "/v1/chat/completions", OpenAiBody("m", kPrompt, i == 1, i == 1));
        auto r = c.Read();
        ASSERT_EQ(r.status, 200) << i << " " << r.error;
        EXPECT_TRUE(r.complete) << i;
        EXPECT_EQ(r.Header("connection"), "keep-alive");
    }
    c.Send("POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    EXPECT_TRUE(c.Read().complete);
    EXPECT_EQ(fake.RequestCount(), 4u);
}

TEST(FakeLlm, ManyConcurrentHungConnectionsAreAllRead) {
    FakeLlmServer fake;
    fake.AddRule(Rule().Action(FakeAction::kHang));
    constexpr int kClients = 300;
    asio::io_context ioc;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<Client>(ioc, fake.port()));
        clients.back()->Send("POST", "/v1/messages", AnthropicBody("c", kPrompt));
    }
    // Every request was read while none was answered: they are all served at once.
    ASSERT_TRUE(Eventually([&] { return fake.RequestCount() == kClients; }, 10s))
        << fake.RequestCount();
    for (auto& c : clients) c->Close();
    ASSERT_TRUE(Eventually([&] { return fake.ClientAborts().size() == kClients; }, 10s))
        << fake.ClientAborts().size();
}

TEST(FakeLlm, ManyConcurrentStreamsAllComplete) {
    FakeLlmServer fake;
    fake.SetTokenDelay(5ms);
    constexpr int kClients = 200;
    asio::io_context ioc;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<Client>(ioc, fake.port()));
        clients.back()->Send("POST", "/v1/chat/completions",
                             OpenAiBody("m", kPrompt + std::to_string(i), true, true));
    }
    ASSERT_TRUE(Eventually([&] { return fake.RequestCount() == kClients; }, 10s));
    for (int i = 0; i < kClients; ++i) {
        auto r = clients[i]->Read(20s);
        ASSERT_TRUE(r.complete) << i << " " << r.error;
        EXPECT_EQ(ParseSse(r.body).back().data, "[DONE]");
    }
    EXPECT_TRUE(fake.ClientAborts().empty());
}

TEST(FakeLlm, StatsCountHeldResponsesConnectionsAndCpu) {
    FakeLlmServer fake;
    fake.SetDefaultLatency(60s);
    constexpr std::size_t kClients = 300;
    asio::io_context ioc;
    std::vector<std::unique_ptr<Client>> clients;
    for (std::size_t i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<Client>(ioc, fake.port()));
        clients.back()->Send("POST", "/v1/messages", AnthropicBody("c", kPrompt, true));
    }
    ASSERT_TRUE(Eventually([&] { return fake.Stats().in_flight == kClients; }, 10s))
        << fake.Stats().in_flight;
    auto st = fake.Stats();
    EXPECT_EQ(st.connections, kClients);
    EXPECT_EQ(st.connections_total, kClients);
    EXPECT_EQ(st.requests, kClients);
    EXPECT_GT(st.cpu_user_seconds + st.cpu_system_seconds, 0.0);
    EXPECT_GT(st.max_rss_kib, 0);

    // The control API reports the same (its own connection is one more).
    auto r = Call(fake.port(), "GET", "/_fake/stats");
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = Json(r.body);
    EXPECT_EQ(v.at("in_flight").as_int64(), static_cast<int64_t>(kClients));
    EXPECT_EQ(v.at("in_flight_peak").as_int64(), static_cast<int64_t>(kClients));
    EXPECT_GE(v.at("connections_peak").as_int64(), static_cast<int64_t>(kClients));
    EXPECT_GT(v.at("cpu_seconds").as_double(), 0.0);
    EXPECT_EQ(v.at("requests").as_int64(), static_cast<int64_t>(kClients));

    for (auto& c : clients) c->Close();
    ASSERT_TRUE(Eventually(
        [&] {
            const auto now = fake.Stats();
            return now.in_flight == 0 && now.connections == 0;
        },
        10s));
    EXPECT_EQ(fake.Stats().in_flight_peak, kClients);
}

TEST(FakeLlm, KeptRequestsZeroOnlyCountsThem) {
    FakeLlmServer fake;
    fake.SetKeptRequests(0);
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt)).status, 200);
    EXPECT_EQ(
        Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt, true)).status,
        200);
    EXPECT_EQ(fake.RequestCount(), 2u);
    EXPECT_TRUE(fake.Requests().empty());
    auto q = Json(Call(fake.port(), "GET", "/_fake/requests").body);
    EXPECT_EQ(q.at("count").as_int64(), 2);
    EXPECT_TRUE(q.at("requests").as_array().empty());

    // Through the control API, and keeping some again trims to the newest.
    auto r = Call(fake.port(), "POST", "/_fake/config", R"({"keep_requests":1})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json(r.body).at("keep_requests").as_int64(), 1);
    Call(fake.port(), "POST", "/v1/messages", AnthropicBody("first", kPrompt));
    Call(fake.port(), "POST", "/v1/messages", AnthropicBody("second", kPrompt));
    ASSERT_EQ(fake.Requests().size(), 1u);
    EXPECT_EQ(fake.Requests()[0].model, "second");
    EXPECT_EQ(fake.RequestCount(), 4u);
}

TEST(FakeLlm, ControlApiScriptsRulesConfigAndReadsRequests) {
    FakeLlmServer fake;
    auto r =
        Call(fake.port(), "POST", "/_fake/rules",
             R"([{"model":"m","action":"status","status":503,"retry_after_seconds":2,"times":1},
                      {"format":"anthropic","action":"ok","text":"scripted","latency_ms":0}])");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json(r.body).at("added").as_int64(), 2);

    auto o = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt));
    EXPECT_EQ(o.status, 503);
    EXPECT_EQ(o.Header("retry-after"), "2");
    EXPECT_EQ(Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt)).status,
              200);
    auto a = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt));
    EXPECT_EQ(Json(a.body).at("content").as_array().at(0).at("text").as_string(), "scripted");

    auto q = Call(fake.port(), "GET", "/_fake/requests");
    ASSERT_EQ(q.status, 200);
    auto qv = Json(q.body);
    EXPECT_EQ(qv.at("count").as_int64(), 3);  // control calls are not recorded
    const auto& list = qv.at("requests").as_array();
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].at("status_sent").as_int64(), 503);
    EXPECT_EQ(list[2].at("format").as_string(), "anthropic");
    EXPECT_EQ(list[2].at("path").as_string(), "/v1/messages");

    r = Call(fake.port(), "POST", "/_fake/config", R"({"latency_ms":200,"token_delay_ms":3})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json(r.body).at("latency_ms").as_int64(), 200);
    const auto start = Clock::now();
    Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("x", kPrompt));
    EXPECT_GE(Clock::now() - start, 200ms);

    r = Call(fake.port(), "DELETE", "/_fake/rules");
    EXPECT_EQ(r.status, 200);
    a = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt));
    EXPECT_NE(Json(a.body).at("content").as_array().at(0).at("text").as_string(), "scripted");

    EXPECT_EQ(Call(fake.port(), "POST", "/_fake/rules", "[{\"action\":\"explode\"}]").status, 400);
    EXPECT_EQ(Call(fake.port(), "POST", "/_fake/rules", "{oops").status, 400);
    EXPECT_EQ(Call(fake.port(), "POST", "/_fake/config", R"({"latency_ms":-1})").status, 400);
    EXPECT_EQ(Call(fake.port(), "GET", "/_fake/nothing").status, 404);

    EXPECT_EQ(Call(fake.port(), "DELETE", "/_fake/requests").status, 200);
    EXPECT_EQ(fake.RequestCount(), 0u);
}

TEST(FakeLlm, ControlApiListsOnlyTheNewest100Requests) {
    FakeLlmServer fake;
    asio::io_context ioc;
    Client c(ioc, fake.port());
    for (int i = 0; i < 105; ++i) {
        c.Send("GET", "/v1beta/models?i=" + std::to_string(i));
        ASSERT_EQ(c.Read().status, 200);
    }
    auto q = Json(Call(fake.port(), "GET", "/_fake/requests").body);
    EXPECT_EQ(q.at("count").as_int64(), 105);
    const auto& list = q.at("requests").as_array();
    ASSERT_EQ(list.size(), 100u);
    EXPECT_EQ(list.front().at("path").as_string(), "/v1beta/models?i=5");
    EXPECT_EQ(list.back().at("path").as_string(), "/v1beta/models?i=104");
}

TEST(FakeLlm, BinaryPrintsItsAddressServesAndStopsOnSigterm) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(ARAGORA_FAKE_LLM_BINARY, ARAGORA_FAKE_LLM_BINARY, "--port", "0", "--latency-ms", "1",
              nullptr);
        _exit(127);
    }
    close(out[1]);
    std::string line;
    const auto deadline = Clock::now() + 10s;
    while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        const auto n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    close(out[0]);
    std::smatch m;
    const bool matched =
        std::regex_match(line, m, std::regex("fake-llm listening on 127\\.0\\.0\\.1:([0-9]+)\n"));
    if (matched) {
        const auto port = static_cast<uint16_t>(std::stoi(m[1]));
        EXPECT_EQ(Call(port, "POST", "/v1/messages", AnthropicBody("c", kPrompt)).status, 200);
    }
    kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(matched) << "stdout: '" << line << "'";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Reads `fd` until it closes or `done` says the text is complete (or 10 s pass).
std::string ReadPipe(int fd, const std::function<bool(const std::string&)>& done) {
    std::string text;
    const auto deadline = Clock::now() + 10s;
    while (!done(text) && Clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[512];
        const auto n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
}

TEST(FakeLlm, BinaryListenersEachServeAndStatsArePrintedOnExit) {
    int out[2];
    int err[2];
    ASSERT_EQ(pipe(out), 0);
    ASSERT_EQ(pipe(err), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        execl(ARAGORA_FAKE_LLM_BINARY, ARAGORA_FAKE_LLM_BINARY, "--port", "0", "--listeners", "3",
              "--keep-requests", "0", nullptr);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    const std::string text = ReadPipe(
        out[0], [](const std::string& t) { return std::count(t.begin(), t.end(), '\n') >= 3; });
    close(out[0]);
    const std::regex line("fake-llm (listening|also listening) on 127\\.0\\.0\\.1:([0-9]+)\n");
    std::vector<std::string> kinds;
    std::vector<uint16_t> ports;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), line);
         it != std::sregex_iterator(); ++it) {
        kinds.push_back((*it)[1]);
        ports.push_back(static_cast<uint16_t>(std::stoi((*it)[2])));
    }
    for (const auto port : ports) {
        EXPECT_EQ(Call(port, "POST", "/v1/messages", AnthropicBody("c", kPrompt)).status, 200);
        // Each listener is its own server with its own records.
        EXPECT_EQ(Json(Call(port, "GET", "/_fake/stats").body).at("requests").as_int64(), 1);
    }
    kill(pid, SIGTERM);
    const std::string stats =
        ReadPipe(err[0], [](const std::string& t) { return t.find('\n') != std::string::npos; });
    close(err[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_EQ(ports.size(), 3u) << "stdout: '" << text << "'";
    EXPECT_EQ(kinds, (std::vector<std::string>{"listening", "also listening", "also listening"}));
    EXPECT_NE(ports[0], ports[1]);
    EXPECT_TRUE(std::regex_search(
        stats, std::regex("fake-llm stats: cpu_user_seconds=[0-9.]+ cpu_system_seconds=[0-9.]+ "
                          "max_rss_kib=[0-9]+ requests=3 connections_total=6 ")))
        << "stderr: '" << stats << "'";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ---------------------------------------------------------------------------------------
// Random faults: probability, seed, flaky

// The statuses of `n` sequential OpenAI calls.
std::vector<int> Statuses(uint16_t port, int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i) {
        out.push_back(Call(port, "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt)).status);
    }
    return out;
}

TEST(FakeLlm, ProbabilityRuleAppliesToItsShareTheSameWayForASeed) {
    auto faulty = [] {
        FakeRule r = Rule().Action(FakeAction::kStatus).Status(503);
        r.probability = 0.3;
        return r;
    };
    FakeLlmServer a;
    a.SetSeed(42);
    a.AddRule(faulty());
    const auto first = Statuses(a.port(), 300);
    const auto failed = std::count(first.begin(), first.end(), 503);
    EXPECT_EQ(std::count(first.begin(), first.end(), 200) + failed, 300);
    // 300 draws at p = 0.3: 90 expected, sd ~7.9; the seed fixes the outcome anyway.
    EXPECT_GT(failed, 50);
    EXPECT_LT(failed, 130);

    FakeLlmServer b;
    b.SetSeed(42);
    b.AddRule(faulty());
    EXPECT_EQ(Statuses(b.port(), 300), first);

    FakeLlmServer c;
    c.SetSeed(43);
    c.AddRule(faulty());
    EXPECT_NE(Statuses(c.port(), 300), first);

    // The stats count the faults injected.
    auto st = a.Stats();
    EXPECT_EQ(st.faults_total, static_cast<std::size_t>(failed));
    EXPECT_EQ(st.faults["status_503"], static_cast<std::size_t>(failed));
}

TEST(FakeLlm, ProbabilityZeroNeverAppliesAndAMissFallsThroughToTheNextRule) {
    FakeLlmServer fake;
    FakeRule never = Rule().Action(FakeAction::kStatus).Status(500);
    never.probability = 0.0;
    fake.AddRule(never);
    EXPECT_EQ(Statuses(fake.port(), 20), std::vector<int>(20, 200));

    fake.ClearRules();
    FakeRule half = Rule().Action(FakeAction::kStatus).Status(500).Times(5);
    half.probability = 0.5;
    fake.AddRule(half);
    fake.AddRule(Rule().Action(FakeAction::kStatus).Status(503));
    const auto s = Statuses(fake.port(), 60);
    // `times` is used only when the rule applies: exactly 5 answers are 500, the rest
    // fell through to the next rule.
    EXPECT_EQ(std::count(s.begin(), s.end(), 500), 5);
    EXPECT_EQ(std::count(s.begin(), s.end(), 503), 55);
}

// What one flaky answer was, from the client's side.
std::string ClassifyFault(const Response& r) {
    if (r.status == 429)
        return r.Header("retry-after") == "1" ? "status_429" : "429 no retry-after";
    if (r.status == 500 || r.status == 529) return "status_" + std::to_string(r.status);
    if (r.status != 200) return "status " + std::to_string(r.status);
    if (!r.complete) return "cut_stream";
    if (r.Header("content-type") == "text/html") return "html_200";
    if (r.Header("content-type") == "application/json") {
        auto v = Json(r.body);
        if (v.is_object() && !v.as_object().contains("content") &&
            !v.as_object().contains("choices")) {
            return "foreign_json_200";
        }
    }
    return "ok";
}

TEST(FakeLlm, FlakySendsEveryBadDayFaultAndTheStatsCountEachKind) {
    for (bool stream : {false, true}) {
        SCOPED_TRACE(stream ? "streamed" : "plain");
        FakeLlmServer fake;
        fake.SetSeed(7);
        fake.AddRule(Rule().Action(FakeAction::kFlaky));
        std::map<std::string, std::size_t> seen;
        for (int i = 0; i < 180; ++i) {
            auto r = Call(fake.port(), "POST", "/v1/messages", AnthropicBody("c", kPrompt, stream),
                          kAnthropicHeaders);
            const auto kind = ClassifyFault(r);
            ++seen[kind];
            if (kind == "cut_stream" && stream) {
                // Cut after some tokens: the first events came, the end did not.
                EXPECT_NE(r.body.find("content_block_delta"), std::string::npos);
                EXPECT_EQ(r.body.find("message_stop"), std::string::npos);
            }
            if (kind == "html_200") {
                EXPECT_NE(r.body.find("502 Bad Gateway"), std::string::npos);
            }
        }
        const std::vector<std::string> kinds = {"status_429", "status_500",       "status_529",
                                                "html_200",   "foreign_json_200", "cut_stream"};
        std::size_t total = 0;
        for (const auto& k : kinds) {
            // 180 draws over 6 kinds: 30 expected each.
            EXPECT_GE(seen[k], 10u) << k;
            total += seen[k];
        }
        EXPECT_EQ(total, 180u);  // nothing else (no ok, no other status)
        const auto st = fake.Stats();
        EXPECT_EQ(st.faults, seen);
        EXPECT_EQ(st.faults_total, 180u);
        // Only cut replies were billed, each for half its output.
        EXPECT_GT(st.tokens_input, 0u);
        EXPECT_EQ(st.tokens_output, st.tokens_output_cut);
    }
}

TEST(FakeLlm, FlakyAtAProbabilityIsDeterministicForASeed) {
    auto run = [](uint64_t seed) {
        FakeLlmServer fake;
        fake.SetSeed(seed);
        FakeRule r = Rule().Action(FakeAction::kFlaky);
        r.probability = 0.3;
        fake.AddRule(r);
        std::vector<std::string> kinds;
        for (int i = 0; i < 100; ++i) {
            kinds.push_back(ClassifyFault(
                Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt))));
        }
        return kinds;
    };
    const auto first = run(11);
    EXPECT_EQ(run(11), first);
    const auto ok = std::count(first.begin(), first.end(), std::string("ok"));
    EXPECT_GT(ok, 50);
    EXPECT_LT(ok, 95);
}

TEST(FakeLlm, BillingCountsWholeRepliesAndTheSentPartOfCutOnes) {
    FakeLlmServer fake;
    auto r = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt));
    ASSERT_EQ(r.status, 200);
    const auto usage = Json(r.body).at("usage");
    auto st = fake.Stats();
    EXPECT_EQ(st.tokens_input, static_cast<std::size_t>(usage.at("prompt_tokens").as_int64()));
    EXPECT_EQ(st.tokens_output, static_cast<std::size_t>(usage.at("completion_tokens").as_int64()));
    EXPECT_EQ(st.tokens_output_cut, 0u);
    EXPECT_EQ(st.faults_total, 0u);

    fake.AddRule(Rule().Action(FakeAction::kCutStream).Times(1));
    Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt, true));
    fake.AddRule(Rule().Action(FakeAction::kStatus).Status(500).Times(1));
    Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("m", kPrompt));
    st = fake.Stats();
    EXPECT_EQ(st.tokens_input, 2 * static_cast<std::size_t>(usage.at("prompt_tokens").as_int64()));
    EXPECT_GT(st.tokens_output_cut, 0u);
    EXPECT_EQ(st.faults_total, 2u);
    EXPECT_EQ(st.faults["cut_stream"], 1u);
    EXPECT_EQ(st.faults["status_500"], 1u);

    fake.ResetRecords();
    EXPECT_EQ(fake.Stats().faults_total, 0u);
    EXPECT_EQ(fake.Stats().tokens_input, 0u);
}

TEST(FakeLlm, ControlApiTakesProbabilitySeedAndFlakyAndReportsFaults) {
    FakeLlmServer fake;
    auto r = Call(fake.port(), "POST", "/_fake/config", R"({"seed":5})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json(r.body).at("seed").as_int64(), 5);
    r = Call(fake.port(), "POST", "/_fake/rules",
             R"([{"model":"m","action":"flaky","probability":0.5},
                 {"model":"f","action":"foreign_json"}])");
    ASSERT_EQ(r.status, 200) << r.body;
    auto rules = Json(Call(fake.port(), "GET", "/_fake/rules").body);
    EXPECT_EQ(rules.at("rules").as_array().at(0).at("action").as_string(), "flaky");
    EXPECT_EQ(rules.at("rules").as_array().at(0).at("probability").as_double(), 0.5);
    const auto first = Statuses(fake.port(), 40);

    auto f = Call(fake.port(), "POST", "/v1/chat/completions", OpenAiBody("f", kPrompt));
    EXPECT_EQ(f.status, 200);
    EXPECT_EQ(ClassifyFault(f), "foreign_json_200") << f.body;

    auto stats = Json(Call(fake.port(), "GET", "/_fake/stats").body);
    std::int64_t sum = 0;
    for (const auto& [kind, n] : stats.at("faults").as_object()) sum += n.as_int64();
    EXPECT_EQ(sum, stats.at("faults_total").as_int64());
    EXPECT_GE(stats.at("faults").at("foreign_json_200").as_int64(), 1);
    EXPECT_GT(stats.at("tokens_input").as_int64(), 0);
    EXPECT_TRUE(stats.as_object().contains("tokens_output_cut"));

    // The same seed through the API again: the same answers.
    Call(fake.port(), "POST", "/_fake/config", R"({"seed":5})");
    EXPECT_EQ(Statuses(fake.port(), 40), first);

    EXPECT_EQ(Call(fake.port(), "POST", "/_fake/rules", R"({"probability":1.5})").status, 400);
    EXPECT_EQ(Call(fake.port(), "POST", "/_fake/rules", R"({"probability":"x"})").status, 400);
    EXPECT_EQ(Call(fake.port(), "POST", "/_fake/config", R"({"seed":-1})").status, 400);
}

}  // namespace
}  // namespace aragora::testing
