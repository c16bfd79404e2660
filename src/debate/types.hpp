#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/status.hpp"
#include "trace/tracer.hpp"

namespace aragora::debate {

enum class ConsensusMethod { kMajority, kSupermajority, kUnanimous, kWeighted, kJudge };
std::string_view ToString(ConsensusMethod m);
std::optional<ConsensusMethod> ParseConsensusMethod(std::string_view s);
// "majority, supermajority, unanimous, weighted, judge" (for error messages)
std::string_view ConsensusMethodList();

// The one status type (events/status.hpp), shared with storage and the service.
using events::DebateStatus;
using events::ParseDebateStatus;
using events::ToString;

inline constexpr int kMinRounds = 1;
inline constexpr int kMaxRounds = 12;
inline constexpr int kDefaultRounds = 3;
inline constexpr std::size_t kMaxTaskChars = 10000;
// Critiques grow as N·(N−1) per round: a bound keeps one debate's memory and cost sane.
inline constexpr std::size_t kMaxAgents = 12;

// What to debate and how. Validated before it reaches the engine.
struct DebateSpec {
    std::string id;
    std::string task;
    std::string context;
    std::vector<std::string> agents;  // agent names, in order
    int rounds = kDefaultRounds;
    ConsensusMethod consensus = ConsensusMethod::kMajority;
    double consensus_threshold = 0.6;  // weighted (and supermajority floor)
    std::string judge;                 // agent name for `judge`; empty = first agent
    std::string metadata_json = "{}";
    // Not read by the engine: who asked (auth::Principal::ActorId(), "" in open mode), the
    // caller's organisation, and the provider of each agent (same order as `agents`).
    std::string created_by;
    std::string org_id;
    std::vector<std::string> providers;
    // The span the debate's spans hang under (the service's debate span; no-op when
    // tracing is off): rounds, phases and agent calls are its descendants.
    trace::Context trace;
};

// Engine tuning, documented in docs/engine.md.
struct EngineSettings {
    std::chrono::milliseconds agent_timeout{240'000};
    std::chrono::milliseconds debate_timeout{900'000};
    double convergence_threshold = 0.85;  // min per-agent similarity ⇒ converged
    double divergence_threshold = 0.40;   // below ⇒ diverging
    bool early_stop = true;
    int max_parallel_calls = 8;  // per-debate cap on concurrent agent calls
    // Streamed text: one token_delta per call at most this often (or once this much text
    // waits); the rest follows when the phase's calls end.
    std::chrono::milliseconds token_flush_interval{50};
    std::size_t token_flush_bytes = 2048;
    double hollow_agreement_threshold = 0.70;
    double hollow_evidence_threshold = 0.40;
    int trickster_cooldown_rounds = 1;
    int trickster_max_interventions = 5;
    // A call that still fails once the agent's own retries are spent is tried again later
    // in the same phase, after the phase's other calls ended (docs/engine.md "When an
    // agent's call fails"): at most `phase_retries` more passes, each after a half-jittered
    // backoff doubling from `phase_retry_base` up to `phase_retry_cap`, and only while the
    // wait ends within `phase_retry_budget` of the phase's start and before the debate
    // deadline. 0 retries: a failed call is counted out at once.
    int phase_retries = 3;
    std::chrono::milliseconds phase_retry_base{3'000};
    std::chrono::milliseconds phase_retry_cap{30'000};
    std::chrono::milliseconds phase_retry_budget{120'000};
};

struct Proposal {
    std::string agent;
    std::string content;
    double confidence = 0.5;
    int round = 1;
};

struct Critique {
    std::string critic;
    std::string target;
    std::vector<std::string> issues;
    std::vector<std::string> suggestions;
    double severity = 5;  // 0..10
    std::string reasoning;
    std::string content;  // raw reply
    bool parsed = true;   // false when the fallback parser was used
};

struct Vote {
    std::string voter;
    std::string choice;  // agent whose proposal it backs
    double confidence = 0.5;
    std::string reasoning;
};

struct Dissent {
    std::string agent;
    std::vector<std::string> reasons;
    std::string alternative_view;
};

struct ConsensusOutcome {
    bool reached = false;
    ConsensusMethod method = ConsensusMethod::kMajority;
    double confidence = 0;  // leading share (or judge confidence)
    std::string winner;     // leading choice; with no votes the first proposal ("" if none)
    std::string final_answer;
    std::vector<std::string> supporting_agents;
    std::vector<std::string> dissenting_agents;
    std::vector<Dissent> dissents;
    bool judge_fallback = false;  // judge failed, majority used
};

// What became of a call that failed at least once (docs/engine.md "When an agent's call
// fails"): a later attempt of the phase answered; the agent was counted out of the phase;
// another agent took its role (the judge); its previous proposal stood for its revision.
enum class FailureOutcome { kRecovered, kCountedOut, kSubstituted, kCarriedOver };
std::string_view ToString(FailureOutcome o);

// One agent call of a phase that failed at least once (one entry per call, however many
// attempts it took); code and message are those of its last failed attempt.
struct AgentFailure {
    std::string agent;
    std::string phase;
    int round = 0;
    std::string code;
    std::string message;
    std::string target;  // the critique's target ("" for other phases)
    int attempts = 1;    // engine-level attempts made (each after the agent's own retries)
    FailureOutcome outcome = FailureOutcome::kCountedOut;
};

// Why a substitution happened (closed set; the failure itself is in `failures`).
enum class SubstitutionReason { kSubstituteJudge, kPreviousProposalCarriedOver };
std::string_view ToString(SubstitutionReason r);

// Someone or something stood in for an agent that could not answer its turn.
struct Substitution {
    std::string agent;        // whose turn it was
    std::string replaced_by;  // who answered instead (the agent itself for a carry-over)
    std::string phase;
    int round = 0;
    SubstitutionReason reason = SubstitutionReason::kSubstituteJudge;
};

struct ProvenanceEntry {
    std::string agent;
    std::string phase;   // propose, critique, revise, vote, judge
    std::string target;  // critique target, vote choice
    std::string sha256;  // of the text the agent produced
};

struct RoundProvenance {
    int round = 0;
    std::vector<ProvenanceEntry> entries;
};

struct AgentUsage {
    std::int64_t calls = 0;
    std::int64_t failures = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
};

struct DebateResult {
    DebateStatus status = DebateStatus::kCompleted;
    std::string error_code;  // timeout, agents_unavailable, cancelled, ...
    std::string error_message;
    int rounds_used = 0;
    std::vector<Proposal> final_proposals;
    std::vector<Vote> votes;
    ConsensusOutcome consensus;
    std::string verdict;    // approved, approved_with_conditions, needs_review, rejected
    double confidence = 0;  // reported (after trickster penalties)
    int trickster_interventions = 0;
    std::vector<AgentFailure> failures;
    std::vector<Substitution> substitutions;
    std::vector<RoundProvenance> provenance;
    std::map<std::string, AgentUsage> usage;
    std::chrono::system_clock::time_point started_at;
    std::chrono::system_clock::time_point finished_at;
    double duration_seconds = 0;
};

}  // namespace aragora::debate
