#include "events/payloads.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

#include "common/jcs.hpp"
#include "common/json_access.hpp"

namespace aragora::events {
namespace {

namespace json = boost::json;

// --- writing one member ---
// Written straight into the event's text: the same bytes the JSON DOM would serialize
// to (common/json_text.hpp's number and string forms, members in `Fields` order), without
// building one (a DOM per event showed in the CPU profile of a streamed debate).

void Key(std::string& out, std::string_view k) {
    if (out.size() > 1) out.push_back(',');
    common::AppendJsonString(k, out);
    out.push_back(':');
}
void Number(std::string& out, double v) {
    if (std::isfinite(v)) {
        common::AppendJsonNumber(v, out);
    } else {
        out.append("null");
    }
}
void AppendInt(std::string& out, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void Put(std::string& out, std::string_view k, const std::string& v) {
    Key(out, k);
    common::AppendJsonString(v, out);
}
void Put(std::string& out, std::string_view k, int v) {
    Key(out, k);
    AppendInt(out, v);
}
void Put(std::string& out, std::string_view k, std::int64_t v) {
    Key(out, k);
    AppendInt(out, v);
}
void Put(std::string& out, std::string_view k, double v) {
    Key(out, k);
    Number(out, v);
}
void Put(std::string& out, std::string_view k, bool v) {
    Key(out, k);
    out.append(v ? "true" : "false");
}
void Put(std::string& out, std::string_view k, DebateStatus v) {
    Key(out, k);
    common::AppendJsonString(ToString(v), out);
}
void Put(std::string& out, std::string_view k, const std::vector<std::string>& v) {
    Key(out, k);
    out.push_back('[');
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out.push_back(',');
        common::AppendJsonString(v[i], out);
    }
    out.push_back(']');
}
void Put(std::string& out, std::string_view k, const std::map<std::string, double>& v) {
    Key(out, k);
    out.push_back('{');
    bool first = true;
    for (const auto& [name, x] : v) {
        if (!first) out.push_back(',');
        first = false;
        common::AppendJsonString(name, out);
        out.push_back(':');
        Number(out, x);
    }
    out.push_back('}');
}
// An optional string is null when absent (receipt_id).
void Put(std::string& out, std::string_view k, const std::optional<std::string>& v) {
    Key(out, k);
    if (v) {
        common::AppendJsonString(*v, out);
    } else {
        out.append("null");
    }
}
// An optional object is left out when absent (debate_end's error).
void Put(std::string& out, std::string_view k, const std::optional<EndError>& v) {
    if (!v) return;
    Key(out, k);
    out.append("{\"code\":");
    common::AppendJsonString(v->code, out);
    out.append(",\"message\":");
    common::AppendJsonString(v->message, out);
    out.push_back('}');
}

// Bytes of `data` beyond its strings' own (keys, numbers, punctuation), to reserve once.
constexpr std::size_t kDataOverhead = 160;

std::size_t StringBytes(const std::string& s) { return s.size(); }
std::size_t StringBytes(const std::optional<std::string>& s) { return s ? s->size() : 0; }
std::size_t StringBytes(const std::vector<std::string>& v) {
    std::size_t n = 0;
    for (const auto& s : v) n += s.size() + 3;
    return n;
}
std::size_t StringBytes(const std::optional<EndError>& e) {
    return e ? e->code.size() + e->message.size() + 24 : 0;
}
template <class T>
std::size_t StringBytes(const T&) {
    return 24;
}

// --- reading one member (tolerant: a missing or mistyped member keeps the default) ---

void Get(const json::object& o, std::string_view k, std::string& v) {
    if (auto s = common::StringField(o, k)) v = std::move(*s);
}
void Get(const json::object& o, std::string_view k, int& v) {
    if (auto n = common::Int64Field(o, k)) v = static_cast<int>(*n);
}
void Get(const json::object& o, std::string_view k, std::int64_t& v) {
    if (auto n = common::Int64Field(o, k)) v = *n;
}
void Get(const json::object& o, std::string_view k, double& v) {
    if (auto d = common::DoubleField(o, k)) v = *d;
}
void Get(const json::object& o, std::string_view k, bool& v) {
    if (const json::value* b = common::FindField(o, k); b && b->is_bool()) v = b->get_bool();
}
void Get(const json::object& o, std::string_view k, DebateStatus& v) {
    if (auto s = common::StringField(o, k)) {
        if (auto st = ParseDebateStatus(*s)) v = *st;
    }
}
void Get(const json::object& o, std::string_view k, std::vector<std::string>& v) {
    v.clear();
    for (const json::value& e : common::ArrayFieldOrEmpty(o, k)) {
        if (e.is_string()) v.emplace_back(e.get_string());
    }
}
void Get(const json::object& o, std::string_view k, std::map<std::string, double>& v) {
    v.clear();
    for (const auto& kv : common::ObjectFieldOrEmpty(o, k)) {
        if (auto d = common::AsDouble(kv.value())) v[std::string(kv.key())] = *d;
    }
}
void Get(const json::object& o, std::string_view k, std::optional<std::string>& v) {
    v = common::StringField(o, k);
}
void Get(const json::object& o, std::string_view k, std::optional<EndError>& v) {
    v.reset();
    const json::value* e = common::FindField(o, k);
    if (e == nullptr || !e->is_object()) return;
    v = EndError{common::StringFieldOr(e->as_object(), "code"),
                 common::StringFieldOr(e->as_object(), "message")};
}

template <class P>
constexpr bool kHasDebateId = requires(P p) {
    p.debate_id;
};

}  // namespace

template <class P>
std::string EncodeData(const P& payload, std::string_view debate_id) {
    std::size_t size = kDataOverhead + debate_id.size();
    P::Fields(payload, [&size](std::string_view key, const auto& member) {
        size += key.size() + 4 + StringBytes(member);
    });
    std::string out;
    out.reserve(size);
    out.push_back('{');
    P::Fields(payload, [&out](std::string_view key, const auto& member) { Put(out, key, member); });
    if constexpr (!kHasDebateId<P>) {
        Key(out, "debate_id");
        common::AppendJsonString(debate_id, out);
    }
    out.push_back('}');
    return out;
}

template <class P>
common::Result<P> DecodeData(std::string_view data_json) {
    boost::system::error_code ec;
    json::value v = json::parse(data_json, ec);
    if (ec || !v.is_object()) {
        return common::MakeError(common::ErrorCode::kValidation,
                                 std::string(P::kType) + " data is not a JSON object");
    }
    const json::object& o = v.as_object();
    P p;
    P::Fields(p, [&o](std::string_view key, auto& member) { Get(o, key, member); });
    return p;
}

#define ARAGORA_EVENT_PAYLOAD(P)                                    \
    template std::string EncodeData<P>(const P&, std::string_view); \
    template common::Result<P> DecodeData<P>(std::string_view);

ARAGORA_EVENT_PAYLOAD(DebateStart)
ARAGORA_EVENT_PAYLOAD(RoundStart)
ARAGORA_EVENT_PAYLOAD(RoundEnd)
ARAGORA_EVENT_PAYLOAD(AgentMessage)
ARAGORA_EVENT_PAYLOAD(Critique)
ARAGORA_EVENT_PAYLOAD(Vote)
ARAGORA_EVENT_PAYLOAD(Consensus)
ARAGORA_EVENT_PAYLOAD(Convergence)
ARAGORA_EVENT_PAYLOAD(HollowConsensus)
ARAGORA_EVENT_PAYLOAD(TricksterIntervention)
ARAGORA_EVENT_PAYLOAD(AgentError)
ARAGORA_EVENT_PAYLOAD(AgentPhaseRetry)
ARAGORA_EVENT_PAYLOAD(AgentSubstitution)
ARAGORA_EVENT_PAYLOAD(AgentRetry)
ARAGORA_EVENT_PAYLOAD(AgentFallback)
ARAGORA_EVENT_PAYLOAD(TokenStart)
ARAGORA_EVENT_PAYLOAD(TokenDelta)
ARAGORA_EVENT_PAYLOAD(TokenEnd)
ARAGORA_EVENT_PAYLOAD(DebateEnd)

#undef ARAGORA_EVENT_PAYLOAD

}  // namespace aragora::events
