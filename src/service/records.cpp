#include "service/records.hpp"

#include <boost/json.hpp>

#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"
#include "storage/store_rules.hpp"

namespace aragora::service {
namespace {

namespace json = boost::json;
using common::Int64Field;
using common::StringFieldOr;

json::array ToArray(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

std::string ResultDetailsJson(const debate::DebateResult& r) {
    json::object o;
    json::array votes;
    for (const auto& v : r.votes) {
        votes.push_back(json::object{{"agent", v.voter},
                                     {"choice", v.choice},
                                     {"confidence", v.confidence},
                                     {"reasoning", v.reasoning}});
    }
    o["votes"] = std::move(votes);
    json::array failures;
    for (const auto& f : r.failures) {
        failures.push_back(json::object{{"agent", f.agent},
                                        {"phase", f.phase},
                                        {"round", f.round},
                                        {"code", f.code},
                                        {"message", f.message},
                                        {"target", f.target},
                                        {"attempts", f.attempts},
                                        {"outcome", debate::ToString(f.outcome)}});
    }
    o["agent_failures"] = std::move(failures);
    json::array substitutions;
    for (const auto& x : r.substitutions) {
        substitutions.push_back(json::object{{"agent", x.agent},
                                             {"replaced_by", x.replaced_by},
                                             {"phase", x.phase},
                                             {"round", x.round},
                                             {"reason", debate::ToString(x.reason)}});
    }
    o["substitutions"] = std::move(substitutions);
    json::object usage;
    for (const auto& [agent, u] : r.usage) {
        usage[agent] = json::object{{"calls", u.calls},
                                    {"failures", u.failures},
                                    {"input_tokens", u.input_tokens},
                                    {"output_tokens", u.output_tokens}};
    }
    o["usage"] = std::move(usage);
    json::array dissents;
    for (const auto& d : r.consensus.dissents) {
        dissents.push_back(json::object{{"agent", d.agent},
                                        {"reasons", ToArray(d.reasons)},
                                        {"alternative_view", d.alternative_view}});
    }
    o["consensus"] = json::object{{"reached", r.consensus.reached},
                                  {"method", debate::ToString(r.consensus.method)},
                                  {"confidence", r.consensus.confidence},
                                  {"winner", r.consensus.winner},
                                  {"supporting_agents", ToArray(r.consensus.supporting_agents)},
                                  {"dissenting_agents", ToArray(r.consensus.dissenting_agents)},
                                  {"dissents", std::move(dissents)},
                                  {"judge_fallback", r.consensus.judge_fallback}};
    o["trickster_interventions"] = r.trickster_interventions;
    return common::SerializeJson(o);
}

}  // namespace

std::string SpecToJson(const debate::DebateSpec& spec) {
    json::object o;
    o["task"] = spec.task;
    o["context"] = spec.context;
    o["agents"] = ToArray(spec.agents);
    o["rounds"] = spec.rounds;
    o["consensus"] = debate::ToString(spec.consensus);
    o["consensus_threshold"] = spec.consensus_threshold;
    o["judge"] = spec.judge;
    if (!spec.providers.empty()) o["providers"] = ToArray(spec.providers);
    if (!spec.created_by.empty()) o["created_by"] = spec.created_by;
    boost::system::error_code ec;
    auto meta = json::parse(spec.metadata_json, ec);
    o["metadata"] = ec ? json::value(json::object{}) : meta;
    return common::SerializeJson(o);
}

std::string SpecToJson(const debate::DebateSpec& spec,
                       const std::vector<agents::AgentSpec>& agent_specs) {
    boost::system::error_code ec;
    json::value base = json::parse(SpecToJson(spec), ec);
    json::object o = !ec && base.is_object() ? base.as_object() : json::object{};
    json::array specs;
    for (const auto& a : agent_specs) {
        specs.push_back(json::object{{"provider", a.provider},
                                     {"model", a.model},
                                     {"persona", a.persona},
                                     {"name", a.name}});
    }
    o["agent_specs"] = std::move(specs);
    if (!spec.org_id.empty()) o["org_id"] = spec.org_id;
    return common::SerializeJson(o);
}

common::Result<StoredSpec> SpecFromRecord(const storage::DebateRecord& record) {
    auto bad = [&](const std::string& why) {
        return common::MakeError(common::ErrorCode::kValidation,
                                 "debate " + record.id + ": stored spec " + why, "spec_json");
    };
    boost::system::error_code ec;
    json::value v = json::parse(record.spec_json, ec);
    if (ec || !v.is_object()) return bad("is not a JSON object");
    const json::object& o = v.as_object();
    StoredSpec out;
    debate::DebateSpec& spec = out.spec;
    spec.id = record.id;
    spec.task = StringFieldOr(o, "task");
    if (spec.task.empty()) return bad("has no task");
    spec.context = StringFieldOr(o, "context");
    const json::value* rounds = o.if_contains("rounds");
    if (rounds == nullptr || !rounds->is_int64()) return bad("has no rounds");
    spec.rounds = static_cast<int>(rounds->as_int64());
    if (spec.rounds < debate::kMinRounds || spec.rounds > debate::kMaxRounds)
        return bad("has rounds out of range");
    auto method = debate::ParseConsensusMethod(StringFieldOr(o, "consensus"));
    if (!method) return bad("has an unknown consensus method");
    spec.consensus = *method;
    if (const json::value* t = o.if_contains("consensus_threshold"); t && t->is_number())
        spec.consensus_threshold = t->to_number<double>();
    spec.judge = StringFieldOr(o, "judge");
    if (const json::value* m = o.if_contains("metadata"); m && m->is_object())
        spec.metadata_json = common::SerializeJson(*m);
    spec.created_by = record.created_by;
    spec.org_id = record.org_id;
    const json::value* specs = o.if_contains("agent_specs");
    if (specs == nullptr || !specs->is_array()) return bad("has no agent_specs");
    for (const auto& item : specs->as_array()) {
        if (!item.is_object()) return bad("has a malformed agent spec");
        const json::object& a = item.as_object();
        agents::AgentSpec as{StringFieldOr(a, "provider"), StringFieldOr(a, "model"),
                             StringFieldOr(a, "persona"), StringFieldOr(a, "name")};
        if (as.provider.empty() || as.name.empty()) return bad("has an agent without provider");
        spec.agents.push_back(as.name);
        spec.providers.push_back(as.provider);
        out.agents.push_back(std::move(as));
    }
    if (out.agents.size() < 2) return bad("has fewer than 2 agents");
    return out;
}

storage::DebateRecord ToRecord(const debate::DebateSpec& spec, const debate::DebateResult& r,
                               const std::string& created_at, const std::string& receipt_id) {
    storage::DebateRecord rec;
    rec.id = spec.id;
    rec.task = spec.task;
    rec.status = r.status;
    rec.agents = spec.agents;
    rec.rounds = spec.rounds;
    rec.rounds_used = r.rounds_used;
    rec.consensus_method = std::string(debate::ToString(spec.consensus));
    rec.created_at = created_at;
    rec.started_at = common::FormatIso8601(r.started_at);
    rec.completed_at = common::FormatIso8601(r.finished_at);
    rec.duration_seconds = r.duration_seconds;
    if (r.status == debate::DebateStatus::kCompleted) {
        rec.consensus_reached = r.consensus.reached;
        rec.confidence = r.confidence;
        rec.verdict = r.verdict;
        rec.final_answer = r.consensus.final_answer;
        rec.dissenting_agents = r.consensus.dissenting_agents;
        rec.receipt_id = receipt_id;
    }
    rec.error_code = r.error_code;
    rec.error_message = r.error_message;
    rec.spec_json = SpecToJson(spec);
    rec.result_json = ResultDetailsJson(r);
    rec.created_by = spec.created_by;
    rec.org_id = spec.org_id;
    return rec;
}

std::string DebateToJson(const storage::DebateRecord& r) {
    json::object o;
    o["debate_id"] = r.id;
    o["id"] = r.id;
    o["task"] = r.task;
    o["status"] = events::ToString(r.status);
    o["agents"] = ToArray(r.agents);
    o["rounds"] = r.rounds;
    o["rounds_used"] = r.rounds_used;
    o["consensus_method"] = r.consensus_method;
    o["consensus_reached"] =
        r.consensus_reached ? json::value(*r.consensus_reached) : json::value(nullptr);
    o["confidence"] = r.confidence ? json::value(*r.confidence) : json::value(nullptr);
    o["verdict"] = r.verdict.empty() ? json::value(nullptr) : json::value(r.verdict);
    o["final_answer"] = r.final_answer.empty() ? json::value(nullptr) : json::value(r.final_answer);
    o["dissenting_agents"] = ToArray(r.dissenting_agents);
    auto opt = [](const std::string& s) {
        return s.empty() ? json::value(nullptr) : json::value(s);
    };
    o["created_at"] = opt(r.created_at);
    o["started_at"] = opt(r.started_at);
    o["completed_at"] = opt(r.completed_at);
    o["duration_seconds"] =
        r.duration_seconds ? json::value(*r.duration_seconds) : json::value(nullptr);
    o["receipt_id"] = opt(r.receipt_id);
    // Token usage per agent and in total (null until the debate finished).
    {
        boost::system::error_code ec;
        json::value details = json::parse(r.result_json, ec);
        const json::value* usage =
            !ec && details.is_object() ? details.as_object().if_contains("usage") : nullptr;
        if (usage != nullptr && usage->is_object()) {
            std::int64_t in = 0, out = 0, calls = 0;
            for (const auto& member : usage->as_object()) {
                // Not a structured binding: clang 14 (the fuzz tree) cannot capture one.
                const json::value& u = member.value();
                if (!u.is_object()) continue;
                in += Int64Field(u.as_object(), "input_tokens").value_or(0);
                out += Int64Field(u.as_object(), "output_tokens").value_or(0);
                calls += Int64Field(u.as_object(), "calls").value_or(0);
            }
            o["usage"] = json::object{
                {"agents", *usage},
                {"total",
                 json::object{{"calls", calls}, {"input_tokens", in}, {"output_tokens", out}}}};
        } else {
            o["usage"] = nullptr;
        }
    }
    if (r.error_code.empty()) {
        o["error"] = nullptr;
    } else {
        o["error"] = json::object{{"code", r.error_code}, {"message", r.error_message}};
    }
    return common::SerializeJson(o);
}

storage::ReceiptBuilder MakeReceiptBuilder(const debate::DebateSpec& spec,
                                           const debate::DebateResult& result,
                                           const std::string& receipt_id,
                                           const common::Clock& clock,
                                           const debate::ReceiptKeys& keys) {
    return
        [&spec, &result, &receipt_id, &clock, &keys](
            const std::optional<std::string>& previous) -> common::Result<storage::ReceiptRecord> {
            auto now = clock.SystemNow();
            auto signed_receipt =
                debate::BuildSignedReceipt(spec, result, receipt_id, previous, now, keys);
            if (!signed_receipt) return signed_receipt.error();
            storage::ReceiptRecord rr;
            rr.receipt_id = receipt_id;
            rr.debate_id = spec.id;
            rr.content_hash = signed_receipt->content_hash;
            rr.previous_hash = previous;
            rr.created_at = common::FormatIso8601(now);
            rr.json = std::move(signed_receipt->json);
            return rr;
        };
}

events::DebateEnd DebateEndOf(const storage::DebateRecord& record, double duration_seconds) {
    return storage::rules::DebateEndOf(record, duration_seconds);
}

std::string DebateEndData(const storage::DebateRecord& record, double duration_seconds) {
    return events::EncodeData(DebateEndOf(record, duration_seconds), record.id);
}

}  // namespace aragora::service
