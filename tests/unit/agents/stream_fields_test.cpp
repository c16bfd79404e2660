#include "agents/stream_fields.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "agents/wire.hpp"

namespace aragora::agents::wire {
namespace {

using detail::Extraction;
using detail::ExtractStreamStep;

struct Case {
    Format format;
    std::string event;  // the SSE event: line
    std::string data;
};

std::string Describe(const Checked<StreamStep>& c) {
    if (!c.ok()) return "fault " + std::string(ToString(c.fault)) + ": " + c.message;
    std::string out = "delta[" + c->delta + "] finish[" + c->finish_reason + "] refusal[" +
                      c->refusal + "] done " + (c->done ? "1" : "0");
    if (c->usage) {
        out += " usage " + std::to_string(c->usage->input_tokens) + "/" +
               std::to_string(c->usage->output_tokens);
    }
    return out;
}

// The extractor's answer is the document decoder's, whatever the input.
void ExpectSame(const Case& c) {
    SseEvent event{c.event, c.data};
    EXPECT_EQ(Describe(CheckStreamEvent(c.format, event)),
              Describe(CheckStreamEventDocument(c.format, event)))
        << "format " << static_cast<int>(c.format) << " event [" << c.event << "] data [" << c.data
        << "]";
}

const std::vector<Case>& Seeds() {
    static const std::vector<Case> seeds = {
        // Anthropic, as streamed.
        {Format::kAnthropic, "message_start",
         R"({"type":"message_start","message":{"id":"m1","type":"message","role":"assistant",)"
         R"("content":[],"model":"claude","usage":{"input_tokens":25,"output_tokens":1}}})"},
        {Format::kAnthropic, "content_block_start",
         R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
        {Format::kAnthropic, "content_block_start",
         R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}})"},
        {Format::kAnthropic, "content_block_delta",
         R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})"},
        {Format::kAnthropic, "content_block_delta",
         R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta",)"
         R"("text":"caf\u00e9 \"quoted\" \\ line\nnext \ud83d\ude00"}})"},
        {Format::kAnthropic, "content_block_delta",
         R"({"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{"}})"},
        {Format::kAnthropic, "",
         R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})"},
        {Format::kAnthropic, "message_delta",
         R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
         R"("usage":{"output_tokens":15}})"},
        {Format::kAnthropic, "message_delta",
         R"({"type":"message_delta","delta":{"stop_reason":"refusal"},"usage":7})"},
        {Format::kAnthropic, "message_stop", R"({"type":"message_stop"})"},
        {Format::kAnthropic, "ping", R"({"type": "ping"})"},
        {Format::kAnthropic, "error",
         R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"},
        {Format::kAnthropic, "",
         R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})"},
        {Format::kAnthropic, "", R"({"type":"error"})"},
        {Format::kAnthropic, "content_block_delta",
         R"({"type":"content_block_delta","delta":{"type":"text_delta","text":"a","text":"b"}})"},
        {Format::kAnthropic, "message_start",
         R"({"type":"message_start","message":{"usage":{"input_tokens":-3,"output_tokens":2.0}}})"},
        {Format::kAnthropic, "message_start",
         R"({"message":{"usage":{"input_tokens":18446744073709551615,"output_tokens":1e3}}})"},
        {Format::kAnthropic, "message_start", R"({"message":{"usage":null}})"},
        {Format::kAnthropic, "message_start", R"({"message":[{"usage":{"input_tokens":3}}]})"},
        // OpenAI family.
        {Format::kOpenAi, "",
         R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",)"
         R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},)"
         R"("logprobs":null,"finish_reason":null}]})"},
        {Format::kOpenAi, "",
         R"({"id":"c1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]})"},
        {Format::kOpenAi, "",
         R"({"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})"},
        {Format::kOpenAi, "",
         R"({"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,)"
         R"("total_tokens":21}})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"refusal":"I can't"}}]})"},
        {Format::kOpenAi, "",
         R"({"choices":[{"delta":{"content":[{"type":"text","text":"a"},"x",{"text":"b"},)"
         R"({"text":5},{"thought":true,"text":"c"}]}}]})"},
        {Format::kOpenAi, "",
         R"({"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]})"},
        {Format::kOpenAi, "", R"({"choices":[[{"delta":{"content":"a"}}]]})"},
        {Format::kOpenAi, "", R"({"choices":{"delta":{"content":"a"}}})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":"a"},"delta":{}}]})"},
        {Format::kOpenAi, "", R"({"usage":"many"})"},
        {Format::kOpenAi, "", R"({"error":{"message":"Rate limit reached","type":"requests"}})"},
        {Format::kOpenAi, "", R"({"error":{"message":"bad","code":400}})"},
        {Format::kOpenAi, "", R"({"error":""})"},
        {Format::kOpenAi, "", R"({"error":null,"choices":[{"delta":{"content":"ok"}}]})"},
        {Format::kOpenAi, "", R"([{"error":{"message":"overloaded","code":503}}])"},
        {Format::kOpenAi, "", R"("just a string")"},
        {Format::kOpenAi, "", R"(42)"},
        {Format::kOpenAi, "", R"(null)"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":"a"}}]} trailing)"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":"a"}}]}{})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":"a\x"}}]})"},
        {Format::kOpenAi, "", "{\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"con\u0074ent":"escaped key"}}]})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":"a"}}],})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":"a"}}]/*c*/})"},
        {Format::kOpenAi, "",
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"},
        {Format::kOpenAi, "",
         R"({"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],)"
         R"("choices":[{"delta":{"content":"deep"}}]})"},
        // Gemini.
        {Format::kGemini, "",
         R"({"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],)"
         R"("usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1,"totalTokenCount":9},)"
         R"("modelVersion":"gemini-2.5-flash"})"},
        {Format::kGemini, "",
         R"({"candidates":[{"content":{"parts":[{"text":"thinking...","thought":true},)"
         R"({"text":"answer"},{"thought":false,"text":" more"},{"text":"t","thought":"true"}]},)"
         R"("finishReason":"STOP"}]})"},
        {Format::kGemini, "", R"({"candidates":[{"finishReason":"SAFETY"}]})"},
        {Format::kGemini, "", R"({"promptFeedback":{"blockReason":"SAFETY"}})"},
        {Format::kGemini, "",
         R"({"promptFeedback":{"blockReason":"SAFETY"},"candidates":[{"content":{"parts":[]}}]})"},
        {Format::kGemini, "",
         R"({"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}})"},
        {Format::kGemini, "", R"({"candidates":[{"content":{"parts":{"text":"not an array"}}}]})"},
        {Format::kGemini, "",
         R"({"candidates":[{"content":{"parts":[{"text":"a","text":"b"}]}}]})"},
        {Format::kGemini, "",
         R"({"candidates":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]})"},
        {Format::kGemini, "", R"({"usageMetadata":[1,2]})"},
        {Format::kGemini, "", R"({"candidates":[{"finishReason":7}]})"},
    };
    return seeds;
}

// Bytes a random edit puts into an event's data: JSON punctuation, literals, member
// names the decoders read, a two-byte UTF-8 character.
const std::string kEditAlphabet =
    "{}[]:,\"\\ nul0123456789.eE-+truefalsetextcontentdeltaerror\xc3\xa9";

// One random edit of the non-empty `data`, of the first `kinds` kinds: a byte replaced, a
// byte inserted, up to 4 bytes removed, a span of up to 24 bytes duplicated.
void EditOnce(std::string& data, std::mt19937& rng, unsigned kinds) {
    const std::size_t at = rng() % data.size();
    switch (rng() % kinds) {
        case 0:
            data[at] = kEditAlphabet[rng() % kEditAlphabet.size()];
            break;
        case 1:
            data.insert(at, 1, kEditAlphabet[rng() % kEditAlphabet.size()]);
            break;
        case 2:
            data.erase(at, 1 + rng() % 4);
            break;
        case 3: {
            const std::size_t len = 1 + rng() % 24;
            data.insert(at, data.substr(rng() % data.size(), len));
            break;
        }
    }
}

TEST(StreamFields, AgreesWithTheDocumentDecoderOnEverySeed) {
    for (const Case& c : Seeds()) ExpectSame(c);
}

TEST(StreamFields, AgreesOnEveryPrefixOfEverySeed) {
    for (const Case& c : Seeds()) {
        for (std::size_t n = 0; n < c.data.size(); ++n) {
            ExpectSame(Case{c.format, c.event, c.data.substr(0, n)});
        }
    }
}

// Random edits of the seeds (bytes replaced, inserted, removed, spans duplicated), the same
// sequence on every run.
TEST(StreamFields, AgreesOnMutatedSeeds) {
    std::mt19937 rng(20);
    const auto& seeds = Seeds();
    for (int round = 0; round < 20000; ++round) {
        Case c = seeds[rng() % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits && !c.data.empty(); ++e) EditOnce(c.data, rng, 4);
        ExpectSame(c);
        if (HasFailure()) return;
    }
}

// The point of the extractor: the events of a stream are decoded without a document.
TEST(StreamFields, TokenEventsAreDecodedWithoutTheDocument) {
    const Case decoded[] = {Seeds()[0], Seeds()[3], Seeds()[4], Seeds()[7], Seeds()[9]};
    for (const Case& c : decoded) {
        StreamStep step;
        EXPECT_EQ(ExtractStreamStep(c.format, c.event, c.data, step), Extraction::kDecoded)
            << c.data;
    }
    StreamStep step;
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "",
                                R"({"choices":[{"delta":{"content":"Hello"}}]})", step),
              Extraction::kDecoded);
    EXPECT_EQ(step.delta, "Hello");
    step = {};
    EXPECT_EQ(ExtractStreamStep(Format::kGemini, "",
                                R"({"candidates":[{"content":{"parts":[{"text":"A","thought":)"
                                R"(true},{"text":"B"}]},"finishReason":"STOP"}]})",
                                step),
              Extraction::kDecoded);
    EXPECT_EQ(step.delta, "B");
    EXPECT_TRUE(step.done);
}

TEST(StreamFields, ErrorObjectsAndDuplicatesGoToTheDocumentDecoder) {
    StreamStep step;
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "", R"({"error":{"message":"x"}})", step),
              Extraction::kDeclined);
    EXPECT_EQ(ExtractStreamStep(Format::kAnthropic, "error", R"({"type":"error"})", step),
              Extraction::kDeclined);
    EXPECT_EQ(ExtractStreamStep(Format::kGemini, "", R"({"promptFeedback":{}})", step),
              Extraction::kDeclined);
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "",
                                R"({"choices":[{"delta":{"content":"a","content":"b"}}]})", step),
              Extraction::kDeclined);
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "", R"([])", step), Extraction::kDeclined);
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "", R"({"choices":[)", step),
              Extraction::kMalformed);
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "", R"({} {})", step), Extraction::kMalformed);
    // Duplicates of members nobody reads are fine.
    EXPECT_EQ(ExtractStreamStep(Format::kOpenAi, "", R"({"id":1,"id":2})", step),
              Extraction::kDecoded);
}

// --- StreamDecoder::Decode: a stream's token events answered from the last one's shape. ---

// A token event as providers stream it, cut around its text: the text is spliced in raw
// (so that the event may become another JSON text, or none).
struct TokenShape {
    Format format;
    std::string event;
    std::string before;
    std::string after;
    SseEvent With(std::string_view text) const {
        return SseEvent{event, before + std::string(text) + after};
    }
};

const std::vector<TokenShape>& TokenShapes() {
    static const std::vector<TokenShape> shapes = {
        {Format::kAnthropic, "content_block_delta",
         R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")",
         R"("}})"},
        {Format::kAnthropic, "",
         R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")",
         R"("}})"},
        {Format::kAnthropic, "message_delta",
         R"({"type":"message_delta","delta":{"type":"text_delta","text":")",
         R"(","stop_reason":"end_turn"},"usage":{"output_tokens":4}})"},
        {Format::kAnthropic, "content_block_start",
         R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":")",
         R"("}})"},
        {Format::kOpenAi, "",
         R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733580000,)"
         R"("model":"m","choices":[{"index":0,"delta":{"content":")",
         R"("},"finish_reason":null}]})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":[{"type":"text","text":")",
         R"("}]}}]})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"content":")",
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}})"},
        {Format::kOpenAi, "", R"({"choices":[{"delta":{"refusal":")", R"("}}]})"},
        {Format::kGemini, "", R"({"candidates":[{"content":{"parts":[{"text":")",
         R"("}],"role":"model"},"index":0}],"modelVersion":"g"})"},
        {Format::kGemini, "", R"({"candidates":[{"content":{"parts":[{"text":")",
         R"(","thought":true}]}}]})"},
        {Format::kGemini, "", R"({"candidates":[{"content":{"parts":[{"text":")",
         R"("}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,)"
         R"("candidatesTokenCount":5}})"},
    };
    return shapes;
}

// Texts spliced into the shapes: plain ones (answered from the shape), and ones that
// change what the event is or make it malformed.
const std::vector<std::string>& SplicedTexts() {
    static const std::vector<std::string> texts = {
        "Hello",
        " world",
        "x",
        "",
        " ",
        "a b c. (1/2) {x} [y] #~",
        "caf\xc3\xa9",
        "\xff",
        "tab\there",
        "\x7f",
        "ok\x01",
        "quote\"d",
        "back\\slash",
        "\\n",
        "\\u0041",
        "\\",
        "\"",
        "a\",\"content\":\"b",
        "a\",\"text\":\"b",
        "a\"}",
        "a\"}]}",
        "a\",\"thought\":true,\"x\":\"",
        "a\",\"thought\":false,\"x\":\"",
        "\",\"usage\":{\"prompt_tokens\":9},\"x\":\"",
        "\"}],\"error\":{\"message\":\"boom\"},\"x\":[{\"y\":\"",
        "\"},\"finish_reason\":\"length\",\"x\":{\"y\":\"",
        "/*",
        "}",
    };
    return texts;
}

void ExpectDecodeAgrees(StreamDecoder& decoder, Format format, const SseEvent& event) {
    EXPECT_EQ(Describe(decoder.Decode(event)), Describe(CheckStreamEvent(format, event)))
        << "format " << static_cast<int>(format) << " event [" << event.event << "] data ["
        << event.data << "]";
}

TEST(StreamDecoderShape, AgreesWithCheckStreamEventOnEveryPairOfTexts) {
    for (const TokenShape& shape : TokenShapes()) {
        for (const std::string& first : SplicedTexts()) {
            for (const std::string& second : SplicedTexts()) {
                StreamDecoder decoder(shape.format);
                ExpectDecodeAgrees(decoder, shape.format, shape.With(first));
                ExpectDecodeAgrees(decoder, shape.format, shape.With(second));
                ExpectDecodeAgrees(decoder, shape.format, shape.With("again"));
                // The same bytes under another event line (Anthropic reads the type there).
                SseEvent other = shape.With("other");
                other.event = shape.event.empty() ? "message_delta" : "";
                ExpectDecodeAgrees(decoder, shape.format, other);
                if (HasFailure()) return;
            }
        }
    }
}

// Sequences of events of one format (token events with random texts, the seeds, and
// random edits of both), each decoded in the stream's context and alone: the same answer.
TEST(StreamDecoderShape, AgreesOnMutatedSequences) {
    std::mt19937 rng(2020);
    const std::string& alphabet = kEditAlphabet;
    const auto& shapes = TokenShapes();
    const auto& texts = SplicedTexts();
    const auto& seeds = Seeds();
    for (int round = 0; round < 4000; ++round) {
        const Format format = shapes[rng() % shapes.size()].format;
        StreamDecoder decoder(format);
        const int events = 2 + static_cast<int>(rng() % 7);
        for (int k = 0; k < events; ++k) {
            SseEvent event;
            if (rng() % 4 == 0) {
                const Case& seed = seeds[rng() % seeds.size()];
                if (seed.format != format) continue;
                event = SseEvent{seed.event, seed.data};
            } else {
                const TokenShape* shape = nullptr;
                while (shape == nullptr || shape->format != format) {
                    shape = &shapes[rng() % shapes.size()];
                }
                std::string text;
                if (rng() % 2 == 0) {
                    text = texts[rng() % texts.size()];
                } else {
                    const std::size_t n = rng() % 12;
                    for (std::size_t i = 0; i < n; ++i)
                        text.push_back(alphabet[rng() % alphabet.size()]);
                }
                event = shape->With(text);
            }
            if (rng() % 3 == 0 && !event.data.empty()) EditOnce(event.data, rng, 3);
            ExpectDecodeAgrees(decoder, format, event);
        }
        if (HasFailure()) return;
    }
}

// A whole stream per format, split in two at every byte: the same deltas, text, usage and
// verdict as fed whole (token texts with escapes and non-ASCII between plain ones).
TEST(StreamDecoderShape, StreamsSplitAtEveryByteDecodeAlike) {
    const std::vector<std::string> words = {"The ",         "cache ", "should ", "say \\\"no\\\" ",
                                            "caf\xc3\xa9 ", "plain ", "words ",  "end."};
    const std::string joined = "The cache should say \"no\" caf\xc3\xa9 plain words end.";
    std::string anthropic =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":"
        "{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: ping\ndata: {\"type\":\"ping\"}\n\n";
    std::string openai =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"\"},\"finish_reason\":null}]}\n\n";
    std::string gemini;
    for (const std::string& w : words) {
        anthropic +=
            "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\","
            "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" +
            w + "\"}}\r\n\r\n";
        openai += "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + w +
                  "\"},\"finish_reason\":null}]}\n\n";
        gemini += "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + w +
                  "\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n";
    }
    anthropic +=
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":8}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    openai +=
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
        "\n\ndata: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
        "\"completion_tokens\":8}}\n\ndata: [DONE]\n\n";
    gemini +=
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},"
        "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":12,"
        "\"candidatesTokenCount\":8}}\r\n\r\n";
    const std::pair<Format, std::string> streams[] = {
        {Format::kAnthropic, anthropic}, {Format::kOpenAi, openai}, {Format::kGemini, gemini}};
    for (const auto& [format, body] : streams) {
        for (std::size_t cut = 0; cut <= body.size(); ++cut) {
            StreamDecoder decoder(format);
            std::vector<std::string> deltas;
            for (const std::string_view piece :
                 {std::string_view(body).substr(0, cut), std::string_view(body).substr(cut)}) {
                auto fed = decoder.Feed(piece);
                ASSERT_TRUE(fed.ok()) << fed.error().message;
                deltas.insert(deltas.end(), fed->begin(), fed->end());
            }
            std::string text;
            for (const auto& d : deltas) text += d;
            EXPECT_EQ(deltas.size(), words.size()) << "cut " << cut;
            EXPECT_EQ(text, joined) << "cut " << cut;
            const auto reply = decoder.Finish(true);
            ASSERT_TRUE(reply.ok()) << reply.message;
            EXPECT_EQ(reply->text, joined);
            EXPECT_EQ(reply->usage.input_tokens, 12);
            EXPECT_EQ(reply->usage.output_tokens, 8);
            if (HasFailure()) return;
        }
    }
}

}  // namespace
}  // namespace aragora::agents::wire
