#include "debate/engine.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <map>
#include <sstream>
#include <variant>

#include "common/crypto.hpp"
#include "debate/consensus.hpp"
#include "debate/convergence.hpp"
#include "debate/parse.hpp"

namespace aragora::debate {
namespace {

namespace asio = boost::asio;
using agents::Agent;
using agents::AgentReply;
using agents::AgentRequest;
using agents::Phase;
using common::ErrorCode;
using common::Result;
using SteadyDuration = std::chrono::steady_clock::duration;

// One agent call bounded by `timeout`. A cancelled call answers kCancelled, a call that
// outlives the timer answers kTimeout; exceptions become kInternal.
asio::awaitable<Result<AgentReply>> CallWithTimeout(std::shared_ptr<Agent> agent,
                                                    AgentRequest request, SteadyDuration timeout) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, timeout);
    auto [order, ep, reply, timer_ec] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, agent->Call(request), asio::deferred),
            timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    if (order[0] == 0) {
        if (ep) {
            try {
                std::rethrow_exception(ep);
            } catch (const boost::system::system_error& e) {
                if (e.code() == asio::error::operation_aborted)
                    co_return common::MakeError(ErrorCode::kCancelled, "agent call cancelled");
                co_return common::MakeError(ErrorCode::kInternal, e.what());
            } catch (const std::exception& e) {
                co_return common::MakeError(ErrorCode::kInternal, e.what());
            }
        }
        co_return std::move(reply);
    }
    if (timer_ec == asio::error::operation_aborted)
        co_return common::MakeError(ErrorCode::kCancelled, "agent call cancelled");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    co_return common::MakeError(ErrorCode::kTimeout,
                                "agent call timed out after " + std::to_string(ms) + " ms");
}

struct PhaseCall {
    std::shared_ptr<Agent> agent;
    AgentRequest request;
};

// The members every token event of `call` shares.
events::TokenStream StreamOf(const PhaseCall& call) {
    return {call.agent->Name(), call.request.round,
            std::string(agents::ToString(call.request.phase))};
}

asio::awaitable<bool> IsCancelled() {
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() != asio::cancellation_type::none;
}

// One of the workers of RunCalls: takes the next call until none is left. The workers
// of a phase run on the debate's executor (a strand), so `next` needs no lock.
asio::awaitable<void> CallWorker(const std::vector<PhaseCall>& calls, std::size_t& next,
                                 std::vector<Result<AgentReply>>& out, SteadyDuration timeout) {
    co_await asio::this_coro::throw_if_cancelled(false);
    while (next < calls.size()) {
        const std::size_t i = next++;
        const bool cancelled = co_await IsCancelled();
        if (cancelled) {
            out[i] = common::MakeError(ErrorCode::kCancelled, "debate cancelled");
            continue;
        }
        out[i] = co_await CallWithTimeout(calls[i].agent, calls[i].request, timeout);
    }
}

// Runs `calls` concurrently, at most `max_parallel` at a time (a sliding window: a call
// starts as soon as any earlier one ends); results in call order.
asio::awaitable<std::vector<Result<AgentReply>>> RunCalls(const std::vector<PhaseCall>& calls,
                                                          std::size_t max_parallel,
                                                          SteadyDuration timeout) {
    auto ex = co_await asio::this_coro::executor;
    std::vector<Result<AgentReply>> out(
        calls.size(), common::MakeError(ErrorCode::kCancelled, "agent call aborted"));
    if (calls.empty()) co_return out;
    const std::size_t workers = std::min(calls.size(), std::max<std::size_t>(1, max_parallel));
    std::size_t next = 0;
    using Op = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<Op> ops;
    ops.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) {
        ops.push_back(asio::co_spawn(ex, CallWorker(calls, next, out, timeout), asio::deferred));
    }
    auto [order, eps] = co_await asio::experimental::make_parallel_group(std::move(ops))
                            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    co_return out;
}

const char* kSystemPrompt =
    "You are a participant in a structured, adversarial debate between AI agents. Argue "
    "from evidence: cite sources, give specific numbers and concrete examples, state your "
    "assumptions, and change your mind when a critique is right.";

std::string RenderTaskHeader(const DebateSpec& spec, int round) {
    std::ostringstream os;
    os << "Question: " << spec.task << "\n";
    if (!spec.context.empty()) os << "Context: " << spec.context << "\n";
    os << "Round " << round << " of " << spec.rounds << ".\n\n";
    return os.str();
}

std::string RenderProposePrompt(const DebateSpec& spec, int round, const std::string& challenge) {
    std::ostringstream os;
    os << RenderTaskHeader(spec, round)
       << "Propose your answer. Be specific and support it with evidence. End with a line "
          "'Confidence: <0..1>'.\n";
    if (!challenge.empty()) os << "\nChallenge to address: " << challenge << "\n";
    return os.str();
}

std::string RenderRevisePrompt(const DebateSpec& spec, int round, const std::string& own,
                               const std::vector<agents::ReceivedCritique>& critiques,
                               const std::string& challenge) {
    std::ostringstream os;
    os << RenderTaskHeader(spec, round) << "Your previous proposal:\n" << own << "\n\n";
    os << "Critiques you received:\n";
    for (const auto& c : critiques) {
        os << "- from " << c.critic << " (severity " << c.severity << "/10):";
        for (const auto& i : c.issues) os << " issue: " << i << ";";
        for (const auto& s : c.suggestions) os << " suggestion: " << s << ";";
        os << "\n";
    }
    if (!challenge.empty()) os << "\nChallenge to address: " << challenge << "\n";
    os << "\nRevise your proposal: keep what holds, fix what the critiques got right. End with "
          "a line 'Confidence: <0..1>'.\n";
    return os.str();
}

std::string RenderCritiquePrompt(const DebateSpec& spec, int round,
                                 const agents::PeerText& target) {
    std::ostringstream os;
    os << RenderTaskHeader(spec, round) << "Critique the proposal of " << target.agent << ":\n"
       << target.text << "\n\n"
       << "Answer with a JSON object: {\"issues\": [...], \"suggestions\": [...], "
          "\"severity\": <0-10>, \"reasoning\": \"...\"}.\n";
    return os.str();
}

std::string RenderVotePrompt(const DebateSpec& spec,
                             const std::vector<agents::PeerText>& proposals) {
    std::ostringstream os;
    os << "Question: " << spec.task << "\n\nFinal proposals:\n";
    for (const auto& p : proposals) os << "### " << p.agent << "\n" << p.text << "\n\n";
    os << "Vote for the proposal you find best supported (you may choose your own). Answer with "
          "a JSON object: {\"choice\": \"<agent name>\", \"confidence\": <0..1>, "
          "\"reasoning\": \"...\"}.\n";
    return os.str();
}

std::string RenderJudgePrompt(const DebateSpec& spec,
                              const std::vector<agents::PeerText>& proposals,
                              const std::vector<Critique>& critiques) {
    std::ostringstream os;
    os << "Question: " << spec.task << "\n\nYou are the judge. Proposals:\n";
    for (const auto& p : proposals) os << "### " << p.agent << "\n" << p.text << "\n\n";
    os << "Critiques:\n";
    for (const auto& c : critiques) {
        os << "- " << c.critic << " on " << c.target << " (severity " << c.severity << "):";
        for (const auto& i : c.issues) os << " " << i << ";";
        os << "\n";
    }
    os << "\nSynthesize the best final answer, resolving the disagreements explicitly.\n";
    return os.str();
}

// The mutable state of one running debate.
class Run {
public:
    Run(const common::Clock& clock, const EngineSettings& settings, const DebateSpec& spec,
        std::vector<std::shared_ptr<Agent>> agents, EventEmitter& emitter)
        : clock_(clock),
          settings_(settings),
          spec_(spec),
          agents_(std::move(agents)),
          emitter_(emitter) {}

    asio::awaitable<DebateResult> Execute();

private:
    // Why the debate must stop now, if it must.
    asio::awaitable<bool> ShouldStop();
    SteadyDuration CallTimeout() const;
    // RunCalls with the streaming observers attached: token_start / token_delta while an
    // agent streams, token_end once the phase's calls are done; agent notices (retries,
    // fallbacks) become events of their own type.
    asio::awaitable<std::vector<Result<AgentReply>>> Calls(std::vector<PhaseCall>& calls,
                                                           std::size_t max_parallel);
    void RecordCall(const std::string& agent, const Result<AgentReply>& r, Phase phase, int round);
    void Fail(DebateStatus status, std::string code, std::string message);
    void EmitAgentError(const std::string& agent, Phase phase, int round, const common::Error& e);
    asio::awaitable<bool> ProposalPhase(int round);
    asio::awaitable<bool> CritiquePhase(int round);
    asio::awaitable<bool> VotePhase();
    asio::awaitable<void> DecideAndEmitConsensus();
    std::vector<agents::PeerText> CurrentPeerTexts() const;
    std::vector<Proposal> CurrentProposals() const;
    RoundProvenance& ProvenanceFor(int round);
    bool EnoughAnswered(std::size_t ok, Phase phase, int round);

    const common::Clock& clock_;
    const EngineSettings& settings_;
    const DebateSpec& spec_;
    std::vector<std::shared_ptr<Agent>> agents_;
    EventEmitter& emitter_;

    DebateResult result_;
    std::chrono::steady_clock::time_point deadline_;
    bool stopped_ = false;
    // Current proposal per agent name (agents that never proposed are absent).
    std::map<std::string, Proposal> proposals_;
    std::map<std::string, Proposal> previous_;
    // Critiques received per target in the latest round.
    std::map<std::string, std::vector<Critique>> received_;
    std::vector<Critique> round_critiques_;
    std::string pending_challenge_;
    TricksterState trickster_;
    // Spans (trace/): the current round's, and the current phase's, which the phase's
    // agent calls are children of.
    trace::Context round_trace_;
    trace::Context phase_trace_;
    trace::Span StartPhaseSpan(std::string_view name, const trace::Context& parent, int round);
};

trace::Span Run::StartPhaseSpan(std::string_view name, const trace::Context& parent, int round) {
    trace::Span span = trace::StartSpan(parent, name);
    span.SetAttribute("debate.id", spec_.id);
    span.SetAttribute("debate.round", round);
    phase_trace_ = span.ChildContext();
    return span;
}

SteadyDuration Run::CallTimeout() const {
    auto remaining = deadline_ - clock_.SteadyNow();
    SteadyDuration t = std::min<SteadyDuration>(settings_.agent_timeout, remaining);
    return std::max<SteadyDuration>(t, std::chrono::milliseconds(1));
}

asio::awaitable<std::vector<Result<AgentReply>>> Run::Calls(std::vector<PhaseCall>& calls,
                                                            std::size_t max_parallel) {
    // Streamed text reaches the event stream coalesced: a token_delta at most every
    // token_flush_interval per call (or once token_flush_bytes are waiting), the rest
    // when the phase's calls are done. Every token is one event otherwise, and each event
    // is stored and fanned out.
    struct Stream {
        bool started = false;
        std::string pending;
        std::chrono::steady_clock::time_point last_flush{};
    };
    std::vector<std::shared_ptr<Stream>> streams;
    auto emit_delta = [this](const PhaseCall& call, Stream& st) {
        if (st.pending.empty()) return;
        const events::TokenDelta d{StreamOf(call), st.pending};
        emitter_.Emit(call.request.round, call.agent->Name(), d);
        st.pending.clear();
        st.last_flush = clock_.SteadyNow();
    };
    for (auto& call : calls) {
        auto stream = std::make_shared<Stream>();
        streams.push_back(stream);
        const PhaseCall* self = &call;
        call.request.on_token = [this, stream, self, emit_delta](std::string_view delta) {
            if (delta.empty()) return;
            if (!stream->started) {
                stream->started = true;
                const events::TokenStart d{StreamOf(*self)};
                emitter_.Emit(self->request.round, self->agent->Name(), d);
                stream->pending.append(delta);
                emit_delta(*self, *stream);
                return;
            }
            stream->pending.append(delta);
            if (clock_.SteadyNow() - stream->last_flush >= settings_.token_flush_interval ||
                stream->pending.size() >= settings_.token_flush_bytes) {
                emit_delta(*self, *stream);
            }
        };
        call.request.trace = phase_trace_;
        const std::string name = call.agent->Name();
        const int round = call.request.round;
        EventEmitter& emitter = emitter_;
        call.request.on_event = [name, round, &emitter, stream](const agents::AgentNotice& notice) {
            // A restarted call's streamed text is void: its unsent part is dropped, and the
            // next attempt's text opens a new token_start after this notice.
            if (agents::RestartsStream(notice)) *stream = Stream{};
            std::visit([&](const auto& payload) { emitter.Emit(round, name, payload); }, notice);
        };
    }
    auto replies = co_await RunCalls(calls, max_parallel, CallTimeout());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        if (!streams[i]->started) continue;
        emit_delta(calls[i], *streams[i]);
        const events::TokenEnd d{StreamOf(calls[i]), replies[i].ok()};
        emitter_.Emit(calls[i].request.round, calls[i].agent->Name(), d);
    }
    co_return replies;
}

void Run::Fail(DebateStatus status, std::string code, std::string message) {
    if (stopped_) return;
    stopped_ = true;
    result_.status = status;
    result_.error_code = std::move(code);
    result_.error_message = std::move(message);
}

asio::awaitable<bool> Run::ShouldStop() {
    if (stopped_) co_return true;
    if (co_await IsCancelled()) {
        Fail(DebateStatus::kCancelled, "cancelled", "debate cancelled");
        co_return true;
    }
    if (clock_.SteadyNow() >= deadline_) {
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings_.debate_timeout);
        Fail(DebateStatus::kFailed, "timeout",
             "debate exceeded its deadline of " + std::to_string(secs.count()) + " s");
        co_return true;
    }
    co_return false;
}

void Run::EmitAgentError(const std::string& agent, Phase phase, int round, const common::Error& e) {
    std::string code(common::ToString(e.code));
    result_.failures.push_back(
        {agent, std::string(agents::ToString(phase)), round, code, e.message});
    events::AgentError d;
    d.agent = agent;
    d.phase = agents::ToString(phase);
    d.code = code;
    d.message = e.message;
    d.round_number = round;
    emitter_.Emit(round, agent, d);
}

void Run::RecordCall(const std::string& agent, const Result<AgentReply>& r, Phase phase,
                     int round) {
    auto& u = result_.usage[agent];
    ++u.calls;
    if (r.ok()) {
        u.input_tokens += r->usage.input_tokens;
        u.output_tokens += r->usage.output_tokens;
    } else {
        ++u.failures;
        // A cancelled call is not the agent's failure when the whole debate is cancelled;
        // it is still recorded so the trail shows what was in flight.
        EmitAgentError(agent, phase, round, r.error());
    }
}

RoundProvenance& Run::ProvenanceFor(int round) {
    if (result_.provenance.empty() || result_.provenance.back().round != round) {
        result_.provenance.push_back(RoundProvenance{round, {}});
    }
    return result_.provenance.back();
}

std::vector<agents::PeerText> Run::CurrentPeerTexts() const {
    std::vector<agents::PeerText> out;
    for (const auto& a : agents_) {
        auto it = proposals_.find(a->Name());
        if (it != proposals_.end()) out.push_back({a->Name(), it->second.content});
    }
    return out;
}

std::vector<Proposal> Run::CurrentProposals() const {
    std::vector<Proposal> out;
    for (const auto& a : agents_) {
        auto it = proposals_.find(a->Name());
        if (it != proposals_.end()) out.push_back(it->second);
    }
    return out;
}

bool Run::EnoughAnswered(std::size_t ok, Phase phase, int round) {
    if (ok >= 2) return true;
    Fail(DebateStatus::kFailed, "agents_unavailable",
         "only " + std::to_string(ok) + " of " + std::to_string(agents_.size()) +
             " agents answered the " + std::string(agents::ToString(phase)) + " phase of round " +
             std::to_string(round) + "; a debate needs at least 2");
    return false;
}

asio::awaitable<bool> Run::ProposalPhase(int round) {
    Phase phase = round == 1 ? Phase::kPropose : Phase::kRevise;
    trace::Span span =
        StartPhaseSpan(round == 1 ? "debate.proposal" : "debate.revision", round_trace_, round);
    std::vector<PhaseCall> calls;
    for (const auto& agent : agents_) {
        AgentRequest req;
        req.phase = phase;
        req.debate_id = spec_.id;
        req.task = spec_.task;
        req.context = spec_.context;
        req.round = round;
        req.total_rounds = spec_.rounds;
        req.system_prompt = kSystemPrompt;
        req.challenge = pending_challenge_;
        auto own = proposals_.find(agent->Name());
        if (phase == Phase::kRevise && own != proposals_.end()) {
            req.own_proposal = own->second.content;
            for (const auto& c : received_[agent->Name()]) {
                req.critiques.push_back({c.critic, c.issues, c.suggestions, c.severity});
            }
            req.prompt = RenderRevisePrompt(spec_, round, req.own_proposal, req.critiques,
                                            pending_challenge_);
        } else {
            req.phase = Phase::kPropose;
            req.prompt = RenderProposePrompt(spec_, round, pending_challenge_);
        }
        calls.push_back({agent, std::move(req)});
    }
    auto replies = co_await Calls(calls, settings_.max_parallel_calls);
    if (co_await ShouldStop()) co_return false;

    previous_ = proposals_;
    std::size_t ok = 0;
    auto& prov = ProvenanceFor(round);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string& name = calls[i].agent->Name();
        RecordCall(name, replies[i], calls[i].request.phase, round);
        if (!replies[i].ok()) continue;
        ++ok;
        Proposal p = ParseProposal(name, round, replies[i]->text);
        proposals_[name] = p;
        prov.entries.push_back({name, std::string(agents::ToString(calls[i].request.phase)), "",
                                common::Sha256Hex(p.content)});
        events::AgentMessage d;
        d.round_number = round;
        d.agent = name;
        d.role = calls[i].request.phase == Phase::kRevise ? "reviser" : "proposer";
        d.content = p.content;
        d.confidence = p.confidence;
        emitter_.Emit(round, name, d);
    }
    pending_challenge_.clear();
    co_return EnoughAnswered(ok, phase, round);
}

asio::awaitable<bool> Run::CritiquePhase(int round) {
    trace::Span span = StartPhaseSpan("debate.critique", round_trace_, round);
    std::vector<PhaseCall> calls;
    auto peers = CurrentPeerTexts();
    for (const auto& critic : agents_) {
        if (!proposals_.count(critic->Name())) continue;
        for (const auto& target : peers) {
            if (target.agent == critic->Name()) continue;
            AgentRequest req;
            req.phase = Phase::kCritique;
            req.debate_id = spec_.id;
            req.task = spec_.task;
            req.context = spec_.context;
            req.round = round;
            req.total_rounds = spec_.rounds;
            req.system_prompt = kSystemPrompt;
            req.own_proposal = proposals_[critic->Name()].content;
            req.target = target;
            req.prompt = RenderCritiquePrompt(spec_, round, target);
            calls.push_back({critic, std::move(req)});
        }
    }
    auto replies = co_await Calls(calls, settings_.max_parallel_calls);
    if (co_await ShouldStop()) co_return false;

    received_.clear();
    round_critiques_.clear();
    std::map<std::string, bool> critic_ok;
    auto& prov = ProvenanceFor(round);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string& critic = calls[i].agent->Name();
        const std::string& target = calls[i].request.target.agent;
        RecordCall(critic, replies[i], Phase::kCritique, round);
        if (!replies[i].ok()) continue;
        critic_ok[critic] = true;
        Critique c = ParseCritique(critic, target, replies[i]->text);
        prov.entries.push_back({critic, "critique", target, common::Sha256Hex(replies[i]->text)});
        events::Critique d;
        d.round_number = round;
        d.agent = critic;
        d.critic = critic;
        d.target = target;
        d.target_agent = target;
        d.issues = c.issues;
        d.suggestions = c.suggestions;
        d.severity = c.severity;
        d.score = c.severity / 10.0;
        d.content = c.content;
        d.parsed = c.parsed;
        emitter_.Emit(round, critic, d);
        received_[target].push_back(c);
        round_critiques_.push_back(std::move(c));
    }
    co_return EnoughAnswered(critic_ok.size(), Phase::kCritique, round);
}

asio::awaitable<bool> Run::VotePhase() {
    trace::Span span = StartPhaseSpan("debate.vote", spec_.trace, result_.rounds_used);
    auto peers = CurrentPeerTexts();
    std::vector<std::string> candidates;
    for (const auto& p : peers) candidates.push_back(p.agent);
    std::vector<PhaseCall> calls;
    for (const auto& agent : agents_) {
        AgentRequest req;
        req.phase = Phase::kVote;
        req.debate_id = spec_.id;
        req.task = spec_.task;
        req.context = spec_.context;
        req.round = result_.rounds_used;
        req.total_rounds = spec_.rounds;
        req.system_prompt = kSystemPrompt;
        auto own = proposals_.find(agent->Name());
        if (own != proposals_.end()) req.own_proposal = own->second.content;
        req.proposals = peers;
        req.prompt = RenderVotePrompt(spec_, peers);
        calls.push_back({agent, std::move(req)});
    }
    auto replies = co_await Calls(calls, settings_.max_parallel_calls);
    if (co_await ShouldStop()) co_return false;

    auto& prov = ProvenanceFor(result_.rounds_used);
    std::size_t ok = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string& voter = calls[i].agent->Name();
        RecordCall(voter, replies[i], Phase::kVote, result_.rounds_used);
        if (!replies[i].ok()) continue;
        ++ok;
        std::string fallback = proposals_.count(voter) ? voter : candidates.front();
        ParsedVote pv = ParseVote(voter, replies[i]->text, candidates, fallback);
        prov.entries.push_back(
            {voter, "vote", pv.vote.choice, common::Sha256Hex(replies[i]->text)});
        events::Vote d;
        d.agent = voter;
        d.choice = pv.vote.choice;
        d.confidence = pv.vote.confidence;
        d.reasoning = pv.vote.reasoning;
        d.round_number = result_.rounds_used;
        d.parsed = pv.parsed;
        emitter_.Emit(result_.rounds_used, voter, d);
        result_.votes.push_back(std::move(pv.vote));
    }
    co_return EnoughAnswered(ok, Phase::kVote, result_.rounds_used);
}

asio::awaitable<void> Run::DecideAndEmitConsensus() {
    trace::Span span = StartPhaseSpan("debate.consensus", spec_.trace, result_.rounds_used);
    auto proposals = CurrentProposals();
    ConsensusOutcome outcome;
    if (spec_.consensus == ConsensusMethod::kJudge) {
        outcome = DecideConsensus(ConsensusMethod::kMajority, spec_.consensus_threshold, proposals,
                                  result_.votes);
        std::shared_ptr<Agent> judge = agents_.front();
        for (const auto& a : agents_)
            if (!spec_.judge.empty() && a->Name() == spec_.judge) judge = a;
        AgentRequest req;
        req.phase = Phase::kJudge;
        req.debate_id = spec_.id;
        req.task = spec_.task;
        req.context = spec_.context;
        req.round = result_.rounds_used;
        req.total_rounds = spec_.rounds;
        req.system_prompt = kSystemPrompt;
        req.proposals = CurrentPeerTexts();
        req.prompt = RenderJudgePrompt(spec_, req.proposals, round_critiques_);
        std::vector<PhaseCall> calls{{judge, req}};
        auto replies = co_await Calls(calls, 1);
        if (co_await ShouldStop()) co_return;
        RecordCall(judge->Name(), replies[0], Phase::kJudge, result_.rounds_used);
        if (replies[0].ok() && !replies[0]->text.empty()) {
            outcome.method = ConsensusMethod::kJudge;
            outcome.reached = true;
            outcome.final_answer = replies[0]->text;
            ProvenanceFor(result_.rounds_used)
                .entries.push_back(
                    {judge->Name(), "judge", "", common::Sha256Hex(replies[0]->text)});
        } else {
            outcome.judge_fallback = true;  // majority decides (DEBATE.md)
        }
    } else {
        outcome =
            DecideConsensus(spec_.consensus, spec_.consensus_threshold, proposals, result_.votes);
    }
    result_.consensus = outcome;
    result_.confidence = PenalizedConfidence(outcome.confidence, result_.trickster_interventions);
    result_.verdict =
        MapVerdict(outcome.reached, !outcome.dissenting_agents.empty(), result_.confidence);

    events::Consensus d;
    d.reached = outcome.reached;
    d.method = ToString(outcome.method);
    d.confidence = result_.confidence;
    d.result = outcome.final_answer;
    d.winner = outcome.winner;
    d.supporting_agents = outcome.supporting_agents;
    d.dissenting_agents = outcome.dissenting_agents;
    d.verdict = result_.verdict;
    d.judge_fallback = outcome.judge_fallback;
    emitter_.Emit(result_.rounds_used, "", d);
    span.SetAttribute("debate.consensus.reached", outcome.reached);
    span.SetAttribute("debate.consensus.method", ToString(outcome.method));
    span.SetAttribute("debate.confidence", result_.confidence);
}

asio::awaitable<DebateResult> Run::Execute() {
    result_.started_at = clock_.SystemNow();
    auto steady_start = clock_.SteadyNow();
    deadline_ = steady_start + settings_.debate_timeout;

    {
        events::DebateStart d;
        d.task = spec_.task;
        for (const auto& a : agents_) d.agents.push_back(a->Name());
        d.total_rounds = spec_.rounds;
        d.consensus_method = ToString(spec_.consensus);
        emitter_.Emit(0, "", d);
    }

    if (agents_.size() < 2) {
        Fail(DebateStatus::kFailed, "agents_unavailable", "a debate needs at least 2 agents");
    }

    for (int round = 1; round <= spec_.rounds && !co_await ShouldStop(); ++round) {
        events::RoundStart rs;
        rs.round_number = round;
        rs.total_rounds = spec_.rounds;
        emitter_.Emit(round, "", rs);
        trace::Span round_span = StartPhaseSpan("debate.round", spec_.trace, round);
        round_trace_ = round_span.ChildContext();

        if (!co_await ProposalPhase(round)) break;
        if (co_await ShouldStop()) break;
        if (!co_await CritiquePhase(round)) break;
        result_.rounds_used = round;

        ConvergenceReport conv;
        bool have_conv = false;
        if (round >= 2) {
            conv = CheckConvergence(std::vector<Proposal>([&] {
                                        std::vector<Proposal> v;
                                        for (const auto& a : agents_) {
                                            auto it = previous_.find(a->Name());
                                            if (it != previous_.end()) v.push_back(it->second);
                                        }
                                        return v;
                                    }()),
                                    CurrentProposals(), settings_.convergence_threshold,
                                    settings_.divergence_threshold);
            have_conv = true;
            events::Convergence d;
            d.round_number = round;
            d.status = ToString(conv.status);
            d.similarity = conv.min_similarity;
            d.mean_similarity = conv.mean_similarity;
            d.per_agent = conv.per_agent;
            emitter_.Emit(round, "", d);
        }

        HollowDecision hollow = CheckHollowConsensus(
            round, CurrentProposals(), have_conv ? &conv : nullptr, settings_, trickster_);
        if (hollow.hollow) {
            events::HollowConsensus d;
            d.round_number = round;
            d.evidence_quality = hollow.evidence_quality;
            d.agreement = hollow.agreement;
            d.challenge = hollow.challenge;
            emitter_.Emit(round, "", d);
            if (hollow.intervene) {
                result_.trickster_interventions = trickster_.interventions;
                pending_challenge_ = hollow.challenge;
                events::TricksterIntervention t;
                static_cast<events::HollowSignal&>(t) = d;
                emitter_.Emit(round, "", t);
            }
        }

        events::RoundEnd re;
        re.round_number = round;
        re.total_rounds = spec_.rounds;
        emitter_.Emit(round, "", re);

        if (settings_.early_stop && have_conv && conv.status == ConvergenceStatus::kConverged &&
            !hollow.hollow && round < spec_.rounds) {
            break;
        }
    }

    if (!co_await ShouldStop()) {
        if (co_await VotePhase()) {
            co_await DecideAndEmitConsensus();
        }
    }
    if (!stopped_) result_.status = DebateStatus::kCompleted;

    result_.final_proposals = CurrentProposals();
    result_.finished_at = clock_.SystemNow();
    result_.duration_seconds =
        std::chrono::duration<double>(clock_.SteadyNow() - steady_start).count();
    co_return std::move(result_);
}

}  // namespace

asio::awaitable<DebateResult> Engine::Run(const DebateSpec& spec,
                                          std::vector<std::shared_ptr<agents::Agent>> agents,
                                          EventEmitter& emitter) const {
    co_await asio::this_coro::throw_if_cancelled(false);
    class Run run(clock_, settings_, spec, std::move(agents), emitter);
    try {
        co_return co_await run.Execute();
    } catch (const std::exception& e) {
        // Backstop: an unexpected exception fails this debate, never the process.
        DebateResult r;
        r.status = DebateStatus::kFailed;
        r.error_code = "internal_error";
        r.error_message = e.what();
        r.started_at = clock_.SystemNow();
        r.finished_at = r.started_at;
        co_return r;
    }
}

}  // namespace aragora::debate
