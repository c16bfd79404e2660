#include "api/ws_messages.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>

namespace aragora::api {
namespace {

namespace json = boost::json;

// debate_id or loop_id of a message, nullopt when absent.
std::optional<std::string> DebateIdOf(const json::object& o) {
    for (const char* name : {"debate_id", "loop_id"}) {
        if (const json::value* v = o.if_contains(name); v && !v->is_null()) {
            if (!v->is_string()) return std::string();  // present but invalid
            return std::string(v->as_string());
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> ParseSeqText(std::string_view s) {
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t n = 0;
    for (char ch : s) {
        if (ch < '0' || ch > '9') return std::nullopt;
        n = n * 10 + (ch - '0');
    }
    return n;
}

std::optional<std::int64_t> ParseReplayFrom(const json::value* v) {
    if (v == nullptr || v->is_null()) return 0;
    if (v->is_int64()) {
        if (v->as_int64() < 0) return std::nullopt;
        return v->as_int64();
    }
    if (v->is_uint64()) {
        if (v->as_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return std::nullopt;
        return static_cast<std::int64_t>(v->as_uint64());
    }
    if (v->is_double()) {
        const double d = v->as_double();
        if (!(d >= 0) || d > 9e15 || std::floor(d) != d) return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    if (v->is_string()) return ParseSeqText(v->as_string());
    return std::nullopt;
}

ClientMessage DecodeClientMessage(std::string_view text) {
    ClientMessage m;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        m.kind = ClientMessage::Kind::kInvalidJson;
        return m;
    }
    const json::object& o = v.as_object();
    const json::value* type = o.if_contains("type");
    if (type == nullptr || !type->is_string()) {
        m.kind = ClientMessage::Kind::kInvalidMessage;
        return m;
    }
    m.type = std::string(type->as_string());
    if (m.type == "ping") {
        m.kind = ClientMessage::Kind::kPing;
    } else if (m.type == "pong") {
        m.kind = ClientMessage::Kind::kPong;
    } else if (m.type == "subscribe") {
        m.kind = ClientMessage::Kind::kSubscribe;
        m.debate_id = DebateIdOf(o).value_or(std::string());
        m.replay_from_seq = ParseReplayFrom(o.if_contains("replay_from_seq"));
    } else if (m.type == "unsubscribe") {
        m.kind = ClientMessage::Kind::kUnsubscribe;
        m.debate_id = DebateIdOf(o).value_or(std::string());
    } else {
        m.kind = ClientMessage::Kind::kUnknownType;
    }
    return m;
}

}  // namespace aragora::api
