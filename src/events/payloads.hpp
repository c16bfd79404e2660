#pragma once

// The `data` of each debate event (DEBATE.md "Events" payload table), one struct per
// type. Each struct lists its members once (`Fields`), in wire order; the one encoder
// (EncodeData) and the one decoder (DecodeData / As) are generic over that list, so a
// member cannot be written under one name and read under another.
//
// Encoding: `data` is the members in order, then `debate_id` (unless the struct has its
// own `debate_id` member, which then sits where the struct puts it). Decoding is
// tolerant like every reader of stored events: a missing or mistyped member keeps its
// default; only text that is not a JSON object is an error.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"
#include "events/status.hpp"

namespace aragora::events {

struct DebateStart {
    static constexpr std::string_view kType = "debate_start";
    std::string task;
    std::vector<std::string> agents;
    int total_rounds = 0;
    std::string consensus_method;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("task", s.task);
        v("agents", s.agents);
        v("total_rounds", s.total_rounds);
        v("consensus_method", s.consensus_method);
    }
};

// round_start and round_end share their members.
struct RoundBounds {
    int round_number = 0;
    int total_rounds = 0;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("round_number", s.round_number);
        v("total_rounds", s.total_rounds);
    }
};
struct RoundStart : RoundBounds {
    static constexpr std::string_view kType = "round_start";
};
struct RoundEnd : RoundBounds {
    static constexpr std::string_view kType = "round_end";
};

struct AgentMessage {
    static constexpr std::string_view kType = "agent_message";
    int round_number = 0;
    std::string agent;
    std::string role;  // proposer, reviser
    std::string content;
    double confidence = 0;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("round_number", s.round_number);
        v("agent", s.agent);
        v("role", s.role);
        v("content", s.content);
        v("confidence", s.confidence);
    }
};

struct Critique {
    static constexpr std::string_view kType = "critique";
    int round_number = 0;
    std::string agent;
    std::string critic;  // = agent
    std::string target;
    std::string target_agent;  // = target
    std::vector<std::string> issues;
    std::vector<std::string> suggestions;
    double severity = 0;  // 0..10
    double score = 0;     // severity / 10
    std::string content;
    bool parsed = false;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("round_number", s.round_number);
        v("agent", s.agent);
        v("critic", s.critic);
        v("target", s.target);
        v("target_agent", s.target_agent);
        v("issues", s.issues);
        v("suggestions", s.suggestions);
        v("severity", s.severity);
        v("score", s.score);
        v("content", s.content);
        v("parsed", s.parsed);
    }
};

struct Vote {
    static constexpr std::string_view kType = "vote";
    std::string agent;
    std::string choice;
    double confidence = 0;
    std::string reasoning;
    int round_number = 0;
    bool parsed = false;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("agent", s.agent);
        v("choice", s.choice);
        v("confidence", s.confidence);
        v("reasoning", s.reasoning);
        v("round_number", s.round_number);
        v("parsed", s.parsed);
    }
};

struct Consensus {
    static constexpr std::string_view kType = "consensus";
    bool reached = false;
    std::string method;
    double confidence = 0;
    std::string result;  // the final answer
    std::string winner;
    std::vector<std::string> supporting_agents;
    std::vector<std::string> dissenting_agents;
    std::string verdict;
    bool judge_fallback = false;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("reached", s.reached);
        v("method", s.method);
        v("confidence", s.confidence);
        v("result", s.result);
        v("winner", s.winner);
        v("supporting_agents", s.supporting_agents);
        v("dissenting_agents", s.dissenting_agents);
        v("verdict", s.verdict);
        v("judge_fallback", s.judge_fallback);
    }
};

struct Convergence {
    static constexpr std::string_view kType = "convergence";
    int round_number = 0;
    std::string status;  // converged, refining, diverging
    double similarity = 0;
    double mean_similarity = 0;
    std::map<std::string, double> per_agent;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("round_number", s.round_number);
        v("status", s.status);
        v("similarity", s.similarity);
        v("mean_similarity", s.mean_similarity);
        v("per_agent", s.per_agent);
    }
};

// hollow_consensus and trickster_intervention share their members.
struct HollowSignal {
    int round_number = 0;
    double evidence_quality = 0;
    double agreement = 0;
    std::string challenge;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("round_number", s.round_number);
        v("evidence_quality", s.evidence_quality);
        v("agreement", s.agreement);
        v("challenge", s.challenge);
    }
};
struct HollowConsensus : HollowSignal {
    static constexpr std::string_view kType = "hollow_consensus";
};
struct TricksterIntervention : HollowSignal {
    static constexpr std::string_view kType = "trickster_intervention";
};

struct AgentError {
    static constexpr std::string_view kType = "agent_error";
    std::string agent;
    std::string phase;
    std::string code;
    std::string message;
    int round_number = 0;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("agent", s.agent);
        v("phase", s.phase);
        v("code", s.code);
        v("message", s.message);
        v("round_number", s.round_number);
    }
};

// A provider call retried after a transient failure (agents/provider_agent).
struct AgentRetry {
    static constexpr std::string_view kType = "agent_retry";
    std::string agent;
    std::string provider;
    std::string model;
    int retry = 0;
    std::int64_t delay_ms = 0;
    std::string reason;
    int round_number = 0;
    // Why (agents::wire::Fault's name: "stream_cut", "server_error", ...) and where.
    std::string fault;
    std::string phase;
    // The failed attempt had streamed text: it is void, and the next attempt streams
    // from a new token_start (clients drop the partial text of this agent's stream).
    bool restart = false;
    std::int64_t discarded_tokens = 0;  // streamed text pieces made void
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("agent", s.agent);
        v("provider", s.provider);
        v("model", s.model);
        v("retry", s.retry);
        v("delay_ms", s.delay_ms);
        v("reason", s.reason);
        v("round_number", s.round_number);
        v("fault", s.fault);
        v("phase", s.phase);
        v("restart", s.restart);
        v("discarded_tokens", s.discarded_tokens);
    }
};

// A provider call moved to OpenRouter (agents/provider_agent).
struct AgentFallback {
    static constexpr std::string_view kType = "agent_fallback";
    std::string agent;
    std::string from_provider;
    std::string to_provider;
    std::string model;
    std::string reason;
    int round_number = 0;
    // As AgentRetry's: the failed direct attempt had streamed text, now void.
    std::string fault;
    std::string phase;
    bool restart = false;
    std::int64_t discarded_tokens = 0;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("agent", s.agent);
        v("from_provider", s.from_provider);
        v("to_provider", s.to_provider);
        v("model", s.model);
        v("reason", s.reason);
        v("round_number", s.round_number);
        v("fault", s.fault);
        v("phase", s.phase);
        v("restart", s.restart);
        v("discarded_tokens", s.discarded_tokens);
    }
};

// token_start, token_delta (with `delta`) and token_end (with `ok`) share their first
// members.
struct TokenStream {
    std::string agent;
    int round_number = 0;
    std::string phase;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("agent", s.agent);
        v("round_number", s.round_number);
        v("phase", s.phase);
    }
};
struct TokenStart : TokenStream {
    static constexpr std::string_view kType = "token_start";
};
struct TokenDelta : TokenStream {
    static constexpr std::string_view kType = "token_delta";
    std::string delta;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        TokenStream::Fields(s, v);
        v("delta", s.delta);
    }
};
struct TokenEnd : TokenStream {
    static constexpr std::string_view kType = "token_end";
    bool ok = false;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        TokenStream::Fields(s, v);
        v("ok", s.ok);
    }
};

// Why a debate did not complete (`debate_end`'s optional `error`).
struct EndError {
    std::string code;
    std::string message;
};

// The last event of every debate (API.md): `debate_id` first; `receipt_id` is null
// without a receipt; `error` only when the debate has an error code.
struct DebateEnd {
    static constexpr std::string_view kType = "debate_end";
    std::string debate_id;
    DebateStatus status = DebateStatus::kFailed;
    bool consensus_reached = false;
    std::optional<std::string> receipt_id;
    double duration_seconds = 0;
    int total_rounds = 0;
    std::string result;
    std::optional<EndError> error;
    template <class S, class V>
    static void Fields(S& s, V&& v) {
        v("debate_id", s.debate_id);
        v("status", s.status);
        v("consensus_reached", s.consensus_reached);
        v("receipt_id", s.receipt_id);
        v("duration_seconds", s.duration_seconds);
        v("total_rounds", s.total_rounds);
        v("result", s.result);
        v("error", s.error);
    }
};

// The `data` text of `payload` for debate `debate_id` (see the header comment).
template <class P>
std::string EncodeData(const P& payload, std::string_view debate_id);

// The payload in `data_json`; kValidation when it is not a JSON object.
template <class P>
common::Result<P> DecodeData(std::string_view data_json);

// The payload of `e` when it is an event of type P (nullopt for another type or a
// `data` that is not an object).
template <class P>
std::optional<P> As(const Event& e) {
    if (e.type != P::kType) return std::nullopt;
    auto p = DecodeData<P>(e.data_json);
    if (!p) return std::nullopt;
    return std::move(*p);
}

// Replaces `e`'s payload (type and data) and seals its envelope anew.
template <class P>
void SetPayload(Event& e, const P& payload) {
    e.type = std::string(P::kType);
    e.data_json = EncodeData(payload, e.debate_id);
    e.envelope.reset();
    Seal(e);
}

}  // namespace aragora::events
