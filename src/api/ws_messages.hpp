#pragma once

// Decoding of the client's WebSocket text messages (API.md "WebSocket"): the pure part of
// DebateStreamHandler's message handling, separate so that tests and the fuzz target reach it.
// Nothing here sends or subscribes; DebateStreamHandler maps each kind to its frames.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace boost::json {
class value;
}  // namespace boost::json

namespace aragora::api {

struct ClientMessage {
    enum class Kind {
        kInvalidJson,     // not JSON or not a JSON object: warning invalid_json
        kInvalidMessage,  // no string "type": warning invalid_message
        kPing,
        kPong,
        kSubscribe,
        kUnsubscribe,
        kUnknownType,  // any other "type": warning unknown_type
    };
    Kind kind = Kind::kInvalidJson;
    // The "type" as sent (every kind from kPing on).
    std::string type;
    // kSubscribe, kUnsubscribe: the string debate_id, else loop_id (the first of the two
    // that is present and not null); "" when neither is, or when that one is not a string.
    // Not validated (DebateStreamHandler answers invalid_debate_id).
    std::string debate_id;
    // kSubscribe: ParseReplayFrom of "replay_from_seq"; nullopt when invalid.
    std::optional<std::int64_t> replay_from_seq;
};

// Decodes one client text message. Never throws on any input.
ClientMessage DecodeClientMessage(std::string_view text);

// A sequence number written as 1..18 decimal digits (the URL's replay_from_seq);
// nullopt for anything else.
std::optional<std::int64_t> ParseSeqText(std::string_view s);

// replay_from_seq of a subscribe message: absent (nullptr) or null = 0; a non-negative
// integer (or integral float up to 9e15, or a ParseSeqText string); nullopt otherwise.
std::optional<std::int64_t> ParseReplayFrom(const boost::json::value* v);

}  // namespace aragora::api
