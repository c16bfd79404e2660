#include "events/payloads.hpp"

#include <boost/json.hpp>

#include "common/json_access.hpp"
#include "common/json_text.hpp"

namespace aragora::events {
namespace {

namespace json = boost::json;

// --- writing one member ---

void Put(json::object& o, std::string_view k, const std::string& v) { o[k] = v; }
void Put(json::object& o, std::string_view k, int v) { o[k] = v; }
void Put(json::object& o, std::string_view k, std::int64_t v) { o[k] = v; }
void Put(json::object& o, std::string_view k, double v) { o[k] = v; }
void Put(json::object& o, std::string_view k, bool v) { o[k] = v; }
void Put(json::object& o, std::string_view k, DebateStatus v) { o[k] = ToString(v); }
void Put(json::object& o, std::string_view k, const std::vector<std::string>& v) {
    json::array a;
    a.reserve(v.size());
    for (const auto& s : v) a.emplace_back(s);
    o[k] = std::move(a);
}
void Put(json::object& o, std::string_view k, const std::map<std::string, double>& v) {
    json::object m;
    for (const auto& [name, x] : v) m[name] = x;
    o[k] = std::move(m);
}
// An optional string is null when absent (receipt_id).
void Put(json::object& o, std::string_view k, const std::optional<std::string>& v) {
    o[k] = v ? json::value(*v) : json::value(nullptr);
}
// An optional object is left out when absent (debate_end's error).
void Put(json::object& o, std::string_view k, const std::optional<EndError>& v) {
    if (v) o[k] = json::object{{"code", v->code}, {"message", v->message}};
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
    json::object o;
    P::Fields(payload, [&o](std::string_view key, const auto& member) { Put(o, key, member); });
    if constexpr (!kHasDebateId<P>) o["debate_id"] = debate_id;
    return common::SerializeJson(o);
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
