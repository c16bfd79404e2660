// libFuzzer target: the WebSocket client-message decoder (api/ws_messages.hpp) that turns
// each client text frame into subscribe / unsubscribe / ping / pong or a warning, and the
// replay_from_seq readers of messages and of the upgrade URL.

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/ws_messages.hpp"
#include "fuzz_check.hpp"

namespace {

using aragora::api::ClientMessage;
using aragora::fuzz::Check;

void CheckMessage(const ClientMessage& m) {
    using Kind = ClientMessage::Kind;
    switch (m.kind) {
        case Kind::kInvalidJson:
        case Kind::kInvalidMessage:
            Check(m.type.empty() && m.debate_id.empty(), "invalid message carries nothing");
            break;
        case Kind::kPing:
            Check(m.type == "ping", "ping has type ping");
            break;
        case Kind::kPong:
            Check(m.type == "pong", "pong has type pong");
            break;
        case Kind::kSubscribe:
            Check(m.type == "subscribe", "subscribe has type subscribe");
            Check(!m.replay_from_seq || *m.replay_from_seq >= 0, "replay_from_seq >= 0");
            break;
        case Kind::kUnsubscribe:
            Check(m.type == "unsubscribe", "unsubscribe has type unsubscribe");
            break;
        case Kind::kUnknownType:
            Check(m.type != "ping" && m.type != "pong" && m.type != "subscribe" &&
                      m.type != "unsubscribe",
                  "unknown type is none of the known ones");
            break;
    }
    if (m.kind != Kind::kSubscribe) {
        Check(!m.replay_from_seq, "replay_from_seq only on subscribe");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    CheckMessage(aragora::api::DecodeClientMessage(text));

    // The URL form (?replay_from_seq=...): digits only, and the value they spell.
    if (auto seq = aragora::api::ParseSeqText(text)) {
        std::int64_t expected = -1;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), expected);
        Check(ec == std::errc() && end == text.data() + text.size() && text.front() != '-',
              "ParseSeqText accepts only decimal digits");
        Check(*seq == expected, "ParseSeqText value");
    }

    // Any JSON value as a replay_from_seq member.
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(text, ec);
    if (!ec) {
        if (auto seq = aragora::api::ParseReplayFrom(&v)) {
            Check(*seq >= 0, "ParseReplayFrom is non-negative");
        }
    }
    return 0;
}
