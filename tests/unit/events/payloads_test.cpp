#include "events/payloads.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "common/json_text.hpp"
#include "events/status.hpp"

namespace aragora::events {
namespace {

namespace json = boost::json;

// The envelope as the code before typed events produced it: the engine built `data` as a
// Boost.JSON object, the emitter parsed it and appended `debate_id`, and the envelope
// parsed `data` again into the envelope object. New encodings must match it byte for byte.
std::string OldEnvelope(const std::string& type, json::object data, const std::string& debate_id,
                        std::int64_t seq, double timestamp, int round, const std::string& agent) {
    if (!data.contains("debate_id")) data["debate_id"] = debate_id;
    const std::string data_json = common::SerializeJson(data);
    json::object o;
    o["type"] = type;
    o["data"] = json::parse(data_json);
    o["timestamp"] = timestamp;
    o["round"] = round;
    o["agent"] = agent;
    o["seq"] = seq;
    o["debate_id"] = debate_id;
    o["loop_id"] = debate_id;
    return common::SerializeJson(o);
}

template <class P>
std::string NewEnvelope(const P& payload, const std::string& debate_id, std::int64_t seq,
                        double timestamp, int round, const std::string& agent) {
    Event e;
    e.debate_id = debate_id;
    e.seq = seq;
    e.type = std::string(P::kType);
    e.timestamp = timestamp;
    e.round = round;
    e.agent = agent;
    e.data_json = EncodeData(payload, debate_id);
    Seal(e);
    return *e.envelope;
}

json::array Strings(std::initializer_list<const char*> v) {
    json::array a;
    for (const char* s : v) a.emplace_back(s);
    return a;
}

// Encodes, frames and decodes `payload`; the frame must equal `old` and the decoded
// payload must encode to the same data again.
template <class P>
void ExpectSameWire(const P& payload, const std::string& old, int round, const std::string& agent,
                    P* decoded_out = nullptr) {
    const std::string now = NewEnvelope(payload, "d_1", 4, 1765000000.25, round, agent);
    EXPECT_EQ(now, old) << P::kType;
    auto back = DecodeData<P>(EncodeData(payload, "d_1"));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(EncodeData(*back, "d_1"), EncodeData(payload, "d_1")) << P::kType;
    if (decoded_out) *decoded_out = std::move(*back);
}

TEST(EventPayloads, DebateStartMatchesTheOldEnvelopeAndRoundTrips) {
    DebateStart p;
    p.task = "Pick a \"cache\" policy";
    p.agents = {"claude", "gpt"};
    p.total_rounds = 3;
    p.consensus_method = "majority";
    json::object d;
    d["task"] = p.task;
    d["agents"] = Strings({"claude", "gpt"});
    d["total_rounds"] = 3;
    d["consensus_method"] = "majority";
    DebateStart back;
    ExpectSameWire(p, OldEnvelope("debate_start", d, "d_1", 4, 1765000000.25, 0, ""), 0, "", &back);
    EXPECT_EQ(back.task, p.task);
    EXPECT_EQ(back.agents, p.agents);
    EXPECT_EQ(back.total_rounds, 3);
    EXPECT_EQ(back.consensus_method, "majority");
}

TEST(EventPayloads, TheLiteralEnvelopeIsApiShaped) {
    RoundStart p;
    p.round_number = 2;
    p.total_rounds = 3;
    EXPECT_EQ(NewEnvelope(p, "d_1", 5, 1765000000.5, 2, ""),
              R"({"type":"round_start","data":{"round_number":2,"total_rounds":3,)"
              R"("debate_id":"d_1"},"timestamp":1765000000.5,"round":2,"agent":"",)"
              R"("seq":5,"debate_id":"d_1","loop_id":"d_1"})");
}

TEST(EventPayloads, RoundsMatchTheOldEnvelope) {
    json::object d{{"round_number", 2}, {"total_rounds", 3}};
    RoundStart s;
    s.round_number = 2;
    s.total_rounds = 3;
    ExpectSameWire(s, OldEnvelope("round_start", d, "d_1", 4, 1765000000.25, 2, ""), 2, "");
    RoundEnd e;
    e.round_number = 2;
    e.total_rounds = 3;
    RoundEnd back;
    ExpectSameWire(e, OldEnvelope("round_end", d, "d_1", 4, 1765000000.25, 2, ""), 2, "", &back);
    EXPECT_EQ(back.round_number, 2);
    EXPECT_EQ(back.total_rounds, 3);
}

TEST(EventPayloads, AgentMessageCritiqueVoteMatchTheOldEnvelope) {
    AgentMessage m;
    m.round_number = 1;
    m.agent = "claude";
    m.role = "proposer";
    m.content = "LRU, 10 min TTL\nline two";
    m.confidence = 0.8;
    json::object md{{"round_number", 1},
                    {"agent", "claude"},
                    {"role", "proposer"},
                    {"content", m.content},
                    {"confidence", 0.8}};
    AgentMessage mb;
    ExpectSameWire(m, OldEnvelope("agent_message", md, "d_1", 4, 1765000000.25, 1, "claude"), 1,
                   "claude", &mb);
    EXPECT_EQ(mb.content, m.content);
    EXPECT_DOUBLE_EQ(mb.confidence, 0.8);
    EXPECT_EQ(mb.role, "proposer");

    Critique c;
    c.round_number = 1;
    c.agent = c.critic = "gpt";
    c.target = c.target_agent = "claude";
    c.issues = {"no eviction metric"};
    c.suggestions = {"add hit-rate", "bound memory"};
    c.severity = 6.5;
    c.score = 0.65;
    c.content = "ok-ish";
    c.parsed = true;
    json::object cd;
    cd["round_number"] = 1;
    cd["agent"] = "gpt";
    cd["critic"] = "gpt";
    cd["target"] = "claude";
    cd["target_agent"] = "claude";
    cd["issues"] = Strings({"no eviction metric"});
    cd["suggestions"] = Strings({"add hit-rate", "bound memory"});
    cd["severity"] = 6.5;
    cd["score"] = 6.5 / 10.0;
    cd["content"] = "ok-ish";
    cd["parsed"] = true;
    Critique cb;
    ExpectSameWire(c, OldEnvelope("critique", cd, "d_1", 4, 1765000000.25, 1, "gpt"), 1, "gpt",
                   &cb);
    EXPECT_EQ(cb.suggestions, c.suggestions);
    EXPECT_DOUBLE_EQ(cb.severity, 6.5);
    EXPECT_TRUE(cb.parsed);

    Vote v;
    v.agent = "gpt";
    v.choice = "claude";
    v.confidence = 0.75;
    v.reasoning = "clearer";
    v.round_number = 3;
    v.parsed = false;
    json::object vd{{"agent", "gpt"},         {"choice", "claude"}, {"confidence", 0.75},
                    {"reasoning", "clearer"}, {"round_number", 3},  {"parsed", false}};
    Vote vb;
    ExpectSameWire(v, OldEnvelope("vote", vd, "d_1", 4, 1765000000.25, 3, "gpt"), 3, "gpt", &vb);
    EXPECT_EQ(vb.choice, "claude");
    EXPECT_EQ(vb.round_number, 3);
}

TEST(EventPayloads, ConsensusConvergenceHollowMatchTheOldEnvelope) {
    Consensus c;
    c.reached = true;
    c.method = "judge";
    c.confidence = 0.9;
    c.result = "LRU";
    c.winner = "claude";
    c.supporting_agents = {"claude", "gpt"};
    c.dissenting_agents = {};
    c.verdict = "approved";
    c.judge_fallback = false;
    json::object cd;
    cd["reached"] = true;
    cd["method"] = "judge";
    cd["confidence"] = 0.9;
    cd["result"] = "LRU";
    cd["winner"] = "claude";
    cd["supporting_agents"] = Strings({"claude", "gpt"});
    cd["dissenting_agents"] = json::array{};
    cd["verdict"] = "approved";
    cd["judge_fallback"] = false;
    Consensus cb;
    ExpectSameWire(c, OldEnvelope("consensus", cd, "d_1", 4, 1765000000.25, 3, ""), 3, "", &cb);
    EXPECT_EQ(cb.supporting_agents, c.supporting_agents);
    EXPECT_EQ(cb.result, "LRU");

    Convergence v;
    v.round_number = 2;
    v.status = "refining";
    v.similarity = 0.5;
    v.mean_similarity = 0.625;
    v.per_agent = {{"gpt", 0.5}, {"claude", 0.75}};
    json::object vd;
    vd["round_number"] = 2;
    vd["status"] = "refining";
    vd["similarity"] = 0.5;
    vd["mean_similarity"] = 0.625;
    vd["per_agent"] = json::object{{"claude", 0.75}, {"gpt", 0.5}};
    Convergence vb;
    ExpectSameWire(v, OldEnvelope("convergence", vd, "d_1", 4, 1765000000.25, 2, ""), 2, "", &vb);
    EXPECT_EQ(vb.per_agent, v.per_agent);

    HollowConsensus h;
    h.round_number = 2;
    h.evidence_quality = 0.1;
    h.agreement = 0.95;
    h.challenge = "cite evidence";
    json::object hd{{"round_number", 2},
                    {"evidence_quality", 0.1},
                    {"agreement", 0.95},
                    {"challenge", "cite evidence"}};
    ExpectSameWire(h, OldEnvelope("hollow_consensus", hd, "d_1", 4, 1765000000.25, 2, ""), 2, "");
    TricksterIntervention t;
    static_cast<HollowSignal&>(t) = h;
    TricksterIntervention tb;
    ExpectSameWire(t, OldEnvelope("trickster_intervention", hd, "d_1", 4, 1765000000.25, 2, ""), 2,
                   "", &tb);
    EXPECT_EQ(tb.challenge, "cite evidence");
}

TEST(EventPayloads, AgentNoticesAndTokensMatchTheOldEnvelope) {
    AgentError e;
    e.agent = "gpt";
    e.phase = "critique";
    e.code = "timeout";
    e.message = "agent call timed out after 5 ms";
    e.round_number = 1;
    json::object ed{{"agent", "gpt"},
                    {"phase", "critique"},
                    {"code", "timeout"},
                    {"message", e.message},
                    {"round_number", 1}};
    ExpectSameWire(e, OldEnvelope("agent_error", ed, "d_1", 4, 1765000000.25, 1, "gpt"), 1, "gpt");

    AgentRetry r;
    r.agent = "gpt";
    r.provider = "openai";
    r.model = "gpt-x";
    r.retry = 2;
    r.delay_ms = 1500;
    r.reason = "429";
    r.round_number = 1;
    r.fault = "stream_cut";
    r.phase = "propose";
    r.restart = true;
    r.discarded_tokens = 12;
    json::object rd{{"agent", "gpt"},    {"provider", "openai"},  {"model", "gpt-x"},
                    {"retry", 2},        {"delay_ms", 1500},      {"reason", "429"},
                    {"round_number", 1}, {"fault", "stream_cut"}, {"phase", "propose"},
                    {"restart", true},   {"discarded_tokens", 12}};
    AgentRetry rb;
    ExpectSameWire(r, OldEnvelope("agent_retry", rd, "d_1", 4, 1765000000.25, 1, "gpt"), 1, "gpt",
                   &rb);
    EXPECT_EQ(rb.delay_ms, 1500);
    EXPECT_EQ(rb.retry, 2);
    EXPECT_TRUE(rb.restart);
    EXPECT_EQ(rb.discarded_tokens, 12);

    AgentFallback f;
    f.agent = "claude";
    f.from_provider = "anthropic";
    f.to_provider = "openrouter";
    f.model = "anthropic/claude";
    f.reason = "quota";
    f.round_number = 2;
    json::object fd{{"agent", "claude"},
                    {"from_provider", "anthropic"},
                    {"to_provider", "openrouter"},
                    {"model", "anthropic/claude"},
                    {"reason", "quota"},
                    {"round_number", 2},
                    {"fault", ""},
                    {"phase", ""},
                    {"restart", false},
                    {"discarded_tokens", 0}};
    ExpectSameWire(f, OldEnvelope("agent_fallback", fd, "d_1", 4, 1765000000.25, 2, "claude"), 2,
                   "claude");

    TokenStart ts;
    ts.agent = "claude";
    ts.round_number = 1;
    ts.phase = "propose";
    json::object tsd{{"agent", "claude"}, {"round_number", 1}, {"phase", "propose"}};
    ExpectSameWire(ts, OldEnvelope("token_start", tsd, "d_1", 4, 1765000000.25, 1, "claude"), 1,
                   "claude");
    TokenDelta td;
    td.agent = "claude";
    td.round_number = 1;
    td.phase = "propose";
    td.delta = "Hel\u00e9lo \"x\"";
    json::object tdd{
        {"agent", "claude"}, {"round_number", 1}, {"phase", "propose"}, {"delta", td.delta}};
    TokenDelta tdb;
    ExpectSameWire(td, OldEnvelope("token_delta", tdd, "d_1", 4, 1765000000.25, 1, "claude"), 1,
                   "claude", &tdb);
    EXPECT_EQ(tdb.delta, td.delta);
    TokenEnd te;
    te.agent = "claude";
    te.round_number = 1;
    te.phase = "propose";
    te.ok = true;
    json::object ted{{"agent", "claude"}, {"round_number", 1}, {"phase", "propose"}, {"ok", true}};
    TokenEnd teb;
    ExpectSameWire(te, OldEnvelope("token_end", ted, "d_1", 4, 1765000000.25, 1, "claude"), 1,
                   "claude", &teb);
    EXPECT_TRUE(teb.ok);
}

TEST(EventPayloads, DebateEndMatchesTheOldEnvelopeWithAndWithoutReceipt) {
    DebateEnd ok;
    ok.debate_id = "d_1";
    ok.status = DebateStatus::kCompleted;
    ok.consensus_reached = true;
    ok.receipt_id = "rcpt_1";
    ok.duration_seconds = 12.5;
    ok.total_rounds = 3;
    ok.result = "LRU";
    json::object od;
    od["debate_id"] = "d_1";
    od["status"] = "completed";
    od["consensus_reached"] = true;
    od["receipt_id"] = "rcpt_1";
    od["duration_seconds"] = 12.5;
    od["total_rounds"] = 3;
    od["result"] = "LRU";
    DebateEnd okb;
    ExpectSameWire(ok, OldEnvelope("debate_end", od, "d_1", 4, 1765000000.25, 3, ""), 3, "", &okb);
    EXPECT_EQ(okb.status, DebateStatus::kCompleted);
    EXPECT_EQ(okb.receipt_id, std::optional<std::string>("rcpt_1"));
    EXPECT_FALSE(okb.error.has_value());

    DebateEnd failed;
    failed.debate_id = "d_1";
    failed.status = DebateStatus::kFailed;
    failed.duration_seconds = 0;
    failed.error = EndError{"timeout", "too slow"};
    json::object fd;
    fd["debate_id"] = "d_1";
    fd["status"] = "failed";
    fd["consensus_reached"] = false;
    fd["receipt_id"] = nullptr;
    fd["duration_seconds"] = 0.0;
    fd["total_rounds"] = 0;
    fd["result"] = "";
    fd["error"] = json::object{{"code", "timeout"}, {"message", "too slow"}};
    DebateEnd fb;
    ExpectSameWire(failed, OldEnvelope("debate_end", fd, "d_1", 4, 1765000000.25, 0, ""), 0, "",
                   &fb);
    EXPECT_EQ(fb.status, DebateStatus::kFailed);
    EXPECT_FALSE(fb.receipt_id.has_value());
    ASSERT_TRUE(fb.error.has_value());
    EXPECT_EQ(fb.error->code, "timeout");
    EXPECT_EQ(fb.error->message, "too slow");
}

TEST(EventPayloads, AsReadsOnlyItsOwnTypeAndToleratesBadData) {
    Event e;
    e.debate_id = "d_1";
    e.type = "vote";
    e.data_json = R"({"agent":"gpt","choice":7,"debate_id":"d_1"})";
    EXPECT_FALSE(As<AgentMessage>(e).has_value());
    auto v = As<Vote>(e);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->agent, "gpt");
    EXPECT_EQ(v->choice, "");  // mistyped member keeps its default
    e.data_json = "[1,2]";
    EXPECT_FALSE(As<Vote>(e).has_value());
    EXPECT_FALSE(DecodeData<Vote>("not json").ok());
}

TEST(EventPayloads, SetPayloadReplacesDataAndReseals) {
    Event e;
    e.debate_id = "d_1";
    e.seq = 9;
    DebateEnd end;
    end.debate_id = "d_1";
    end.status = DebateStatus::kCompleted;
    SetPayload(e, end);
    const std::string first = *e.envelope;
    end.status = DebateStatus::kFailed;
    SetPayload(e, end);
    EXPECT_NE(*e.envelope, first);
    EXPECT_NE(e.envelope->find(R"("status":"failed")"), std::string::npos);
    EXPECT_EQ(As<DebateEnd>(e)->status, DebateStatus::kFailed);
}

TEST(EventEnvelope, StoredEventsFrameWithoutParsingAndMatchTheOldEnvelope) {
    // An event read back from the store carries only data_json; its envelope embeds it.
    Event e;
    e.debate_id = "d_\"q";
    e.seq = 12;
    e.type = "vote";
    e.timestamp = 1765000000.125;
    e.round = 2;
    e.agent = "gpt";
    e.data_json = R"({"agent":"gpt","choice":"claude","confidence":0.5,"debate_id":"d_\"q"})";
    EXPECT_EQ(ToEnvelopeJson(e), OldEnvelope("vote", json::parse(e.data_json).as_object(),
                                             e.debate_id, 12, 1765000000.125, 2, "gpt"));
    // Text that cannot be an object is replaced by {"debate_id"}, as before.
    e.data_json = "oops";
    EXPECT_EQ(ToEnvelopeJson(e),
              OldEnvelope("vote", json::object{}, e.debate_id, 12, 1765000000.125, 2, "gpt"));
}

TEST(DebateStatusText, MapsExactlyTheApiStatusesAndRefusesOthers) {
    for (auto s : {DebateStatus::kPending, DebateStatus::kRunning, DebateStatus::kCompleted,
                   DebateStatus::kFailed, DebateStatus::kCancelled}) {
        auto back = DebateStatusFromText(ToString(s));
        ASSERT_TRUE(back.ok());
        EXPECT_EQ(*back, s);
    }
    EXPECT_EQ(ToString(DebateStatus::kCancelled), "cancelled");
    for (const char* bad : {"", "error", "Completed", "active", "no_consensus", "initializing"}) {
        auto r = DebateStatusFromText(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, common::ErrorCode::kStorage);
        EXPECT_FALSE(ParseDebateStatus(bad).has_value());
    }
    EXPECT_TRUE(IsTerminal(DebateStatus::kCancelled));
    EXPECT_FALSE(IsTerminal(DebateStatus::kRunning));
}

}  // namespace
}  // namespace aragora::events
