#include "events/event.hpp"

#include <charconv>
#include <cmath>

#include "common/jcs.hpp"

namespace aragora::events {
namespace {

// Written straight into the envelope (the forms of common/json_text.hpp, no JSON value
// per member): every event is framed once, a streamed debate has ~200.
void AppendString(std::string& out, std::string_view s) { common::AppendJsonString(s, out); }

void AppendInt(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// `data_json` is written by the payload encoders (or read back from the store, which
// holds what they wrote), so it is embedded as it is: an event is never parsed to be
// framed. Text that cannot be an object is replaced, so a frame stays one object.
bool LooksLikeObject(std::string_view s) {
    return s.size() >= 2 && s.front() == '{' && s.back() == '}';
}

}  // namespace

std::string ToEnvelopeJson(const Event& e) {
    if (e.envelope) return *e.envelope;
    std::string out;
    out.reserve(e.data_json.size() + e.debate_id.size() * 2 + e.type.size() + e.agent.size() + 128);
    out += "{\"type\":";
    AppendString(out, e.type);
    out += ",\"data\":";
    if (LooksLikeObject(e.data_json)) {
        out += e.data_json;
    } else {
        out += "{\"debate_id\":";
        AppendString(out, e.debate_id);
        out += '}';
    }
    out += ",\"timestamp\":";
    if (std::isfinite(e.timestamp)) {
        common::AppendJsonNumber(e.timestamp, out);
    } else {
        out += "null";
    }
    out += ",\"round\":";
    AppendInt(out, e.round);
    out += ",\"agent\":";
    AppendString(out, e.agent);
    out += ",\"seq\":";
    AppendInt(out, e.seq);
    out += ",\"debate_id\":";
    AppendString(out, e.debate_id);
    out += ",\"loop_id\":";
    AppendString(out, e.debate_id);
    out += '}';
    return out;
}

void Seal(Event& e) {
    if (!e.envelope) e.envelope = std::make_shared<const std::string>(ToEnvelopeJson(e));
}

std::shared_ptr<const std::string> SharedEnvelope(const Event& e) {
    if (e.envelope) return e.envelope;
    return std::make_shared<const std::string>(ToEnvelopeJson(e));
}

}  // namespace aragora::events
