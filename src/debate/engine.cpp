#include "debate/engine.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <variant>

#include "common/crypto.hpp"
#include "config/settings.hpp"
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
// `request` lives in the caller's frame until this returns: the call holds no copy of it.
asio::awaitable<Result<AgentReply>> CallWithTimeout(const std::shared_ptr<Agent>& agent,
                                                    const AgentRequest& request,
                                                    SteadyDuration timeout) {
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

// One call of a phase: who is asked what. Its AgentRequest (prompt, peer texts) is built
// from the debate's state only when the call starts and freed when it ends, so a phase of
// twelve critiques under a call cap of one holds one request, not twelve.
struct PhaseCall {
    std::shared_ptr<Agent> agent;
    Phase phase = Phase::kPropose;
    int round = 1;
    std::string target;  // critique: the agent whose proposal is critiqued ("" otherwise)
};

// What RunCalls does around calls[i]: `start` builds its request when it starts; `done`
// (optional) sees its reply as soon as it ends.
struct CallHooks {
    std::function<AgentRequest(std::size_t i)> start;
    std::function<void(std::size_t i, const Result<AgentReply>& reply)> done;
};

// The members every token event of `call` shares.
events::TokenStream StreamOf(const PhaseCall& call) {
    return {call.agent->Name(), call.round, std::string(agents::ToString(call.phase))};
}

// The default EngineDeps::wait: a steady_timer, which the awaiting coroutine's
// cancellation ends early.
asio::awaitable<void> TimerWait(SteadyDuration delay) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
}

// Whether a later attempt in the phase may heal the failure. A missing key, refused
// credentials, an unsupported agent or a refused request fail the same way again; a
// cancelled call belongs to a cancelled debate.
bool RetryableInPhase(ErrorCode code) {
    switch (code) {
        case ErrorCode::kCancelled:
        case ErrorCode::kValidation:
        case ErrorCode::kAuthRequired:
        case ErrorCode::kForbidden:
        case ErrorCode::kNotImplemented:
        case ErrorCode::kBadRequest:
            return false;
        default:
            return true;
    }
}

// The fewest agents that make a debate (DEBATE.md: it fails when fewer can take part).
constexpr std::size_t kMinAgents = 2;

asio::awaitable<bool> IsCancelled() {
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() != asio::cancellation_type::none;
}

// One of the workers of RunCalls: takes the next call until none is left. The workers
// of a phase run on the debate's executor (a strand), so `next` needs no lock.
// Each call's request is built just before the call and destroyed once it answered.
asio::awaitable<void> CallWorker(const std::vector<PhaseCall>& calls, const CallHooks& hooks,
                                 std::size_t& next,
                                 std::vector<std::optional<Result<AgentReply>>>& out,
                                 SteadyDuration timeout) {
    co_await asio::this_coro::throw_if_cancelled(false);
    while (next < calls.size()) {
        const std::size_t i = next++;
        const bool cancelled = co_await IsCancelled();
        if (cancelled) {
            out[i] = common::MakeError(ErrorCode::kCancelled, "debate cancelled");
            continue;
        }
        const AgentRequest request = hooks.start(i);
        out[i] = co_await CallWithTimeout(calls[i].agent, request, timeout);
        if (hooks.done) hooks.done(i, *out[i]);
    }
}

// Runs `calls` concurrently, at most `max_parallel` at a time (a sliding window: a call
// starts as soon as any earlier one ends); results in call order.
asio::awaitable<std::vector<Result<AgentReply>>> RunCalls(const std::vector<PhaseCall>& calls,
                                                          const CallHooks& hooks,
                                                          std::size_t max_parallel,
                                                          SteadyDuration timeout) {
    auto ex = co_await asio::this_coro::executor;
    std::vector<Result<AgentReply>> replies;
    if (calls.empty()) co_return replies;
    // Filled as the calls end; one a worker never reached (it threw) answers "aborted".
    std::vector<std::optional<Result<AgentReply>>> out(calls.size());
    const std::size_t workers = std::min(calls.size(), std::max<std::size_t>(1, max_parallel));
    std::size_t next = 0;
    using Op = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<Op> ops;
    ops.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) {
        ops.push_back(
            asio::co_spawn(ex, CallWorker(calls, hooks, next, out, timeout), asio::deferred));
    }
    auto [order, eps] = co_await asio::experimental::make_parallel_group(std::move(ops))
                            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    replies.reserve(out.size());
    for (auto& r : out) {
        replies.push_back(r ? std::move(*r)
                            : common::MakeError(ErrorCode::kCancelled, "agent call aborted"));
    }
    co_return replies;
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
    Run(const common::Clock& clock, const EngineSettings& settings, const EngineDeps& deps,
        const DebateSpec& spec, std::vector<std::shared_ptr<Agent>> agents, EventEmitter& emitter)
        : clock_(clock),
          settings_(settings),
          deps_(deps),
          phase_backoff_(resilience::RetryPolicy{settings.phase_retry_base,
                                                 settings.phase_retry_cap, settings.phase_retries},
                         deps.random),
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
    asio::awaitable<std::vector<Result<AgentReply>>> Calls(const std::vector<PhaseCall>& calls,
                                                           std::size_t max_parallel);
    // The request of `call` from the debate's current state (which no phase changes while
    // its calls run), without observers: rendered prompt and structured parts, or for an
    // agent that ReadsPromptOnly() neither, but render_prompt (which renders the same
    // prompt from the same state each time a call asks).
    AgentRequest RequestFor(const PhaseCall& call) const;
    // The structured parts of `call`'s request and its prompt, into `req`.
    void RenderParts(const PhaseCall& call, AgentRequest& req) const;
    // The replies of a phase's calls under the failure policy, and for each call that
    // failed at least once its entry in result_.failures.
    struct PhaseReplies {
        std::vector<Result<AgentReply>> replies;
        std::vector<std::optional<std::size_t>> failure;
    };
    // Calls, then the calls that failed with an error a wait may heal again, after a
    // backoff, at most settings_.phase_retries more passes, while the wait ends within
    // phase_retry_budget of phase_started_ and before the deadline. Records usage, an
    // agent_error per failed attempt (final = no further attempt), an agent_phase_retry
    // per call tried again, and one result_.failures entry per call that failed.
    asio::awaitable<PhaseReplies> PhaseCalls(const std::vector<PhaseCall>& calls,
                                             std::size_t max_parallel);
    void RecordUsage(const std::string& agent, const Result<AgentReply>& r);
    void Fail(DebateStatus status, std::string code, std::string message);
    void EmitAgentError(const PhaseCall& call, const common::Error& e, int attempt, bool final);
    void Substitute(const std::string& agent, const std::string& replaced_by, Phase phase,
                    int round, SubstitutionReason reason, const std::optional<std::size_t>& failure,
                    FailureOutcome outcome);
    asio::awaitable<bool> ProposalPhase(int round);
    asio::awaitable<bool> CritiquePhase(int round);
    asio::awaitable<bool> VotePhase();
    asio::awaitable<void> DecideAndEmitConsensus();
    std::vector<agents::PeerText> CurrentPeerTexts() const;
    // In agent order; without the agents in `except` when given.
    std::vector<Proposal> CurrentProposals(const std::set<std::string>* except = nullptr) const;
    // The provenance trail (result_.provenance once the debate ends). ProvenanceFor opens
    // `round`'s group unless it is the last one opened (a group may stay empty, as in the
    // result); Provenance adds an entry to the last group opened.
    void ProvenanceFor(int round);
    void Provenance(const std::string& agent, Phase phase, const std::string& target,
                    std::string_view text);
    std::uint16_t NameIndex(const std::string& name);
    std::vector<RoundProvenance> ProvenanceResult() const;
    bool EnoughAnswered(std::size_t ok, Phase phase, int round);

    const common::Clock& clock_;
    const EngineSettings& settings_;
    const EngineDeps& deps_;
    resilience::Backoff phase_backoff_;
    const DebateSpec& spec_;
    std::vector<std::shared_ptr<Agent>> agents_;
    EventEmitter& emitter_;

    DebateResult result_;
    std::chrono::steady_clock::time_point deadline_;
    bool stopped_ = false;
    // Current proposal per agent name (agents that never proposed are absent).
    std::map<std::string, Proposal> proposals_;
    std::map<std::string, Proposal> previous_;
    // The latest round's critiques, in call order, each kept once and only until the next
    // revisions (or the judge) read them: critic, target, issues, suggestions, severity.
    // The raw reply went into the critique event and is not kept.
    std::vector<Critique> round_critiques_;
    std::string pending_challenge_;
    // When the current phase began (its retry budget runs from there).
    std::chrono::steady_clock::time_point phase_started_{};
    // Agents whose previous proposal stands for this round's revision (carried over).
    std::set<std::string> carried_;
    // Agents whose vote was counted (candidates for a substitute judge).
    std::set<std::string> voted_;
    TricksterState trickster_;
    // The provenance trail while the debate runs, ~44 bytes an entry instead of four
    // strings (~290 bytes): names by index in names_, the digest raw.
    struct TrailEntry {
        std::uint16_t agent = 0;
        std::uint16_t target = 0;  // kNoName: ""
        Phase phase = Phase::kPropose;
        std::array<unsigned char, 32> sha256{};
    };
    static constexpr std::uint16_t kNoName = 0xffff;
    std::vector<std::string> names_;
    std::vector<TrailEntry> trail_;
    std::vector<std::pair<int, std::size_t>> trail_rounds_;  // round, its first entry
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
    phase_started_ = clock_.SteadyNow();
    return span;
}

SteadyDuration Run::CallTimeout() const {
    auto remaining = deadline_ - clock_.SteadyNow();
    SteadyDuration t = std::min<SteadyDuration>(settings_.agent_timeout, remaining);
    return std::max<SteadyDuration>(t, std::chrono::milliseconds(1));
}

asio::awaitable<std::vector<Result<AgentReply>>> Run::Calls(const std::vector<PhaseCall>& calls,
                                                            std::size_t max_parallel) {
    // Streamed text reaches the event stream coalesced: a token_delta at most every
    // token_flush_interval per call (or once token_flush_bytes are waiting), the rest
    // when the phase's calls are done. Every token is one event otherwise, and each event
    // is stored and fanned out.
    struct Stream {
        bool started = false;
        std::string pending;
        std::chrono::steady_clock::time_point last_flush{};
        // Once the call answered: the unsent text is the reply's last `tail` bytes, and
        // `pending` is freed (it waits for the phase's end without a second copy).
        std::size_t tail = 0;
    };
    // One per call, never resized: a call's observers point at their element.
    std::vector<Stream> streams(calls.size());
    auto emit_delta = [this](const PhaseCall& call, Stream& st) {
        if (st.pending.empty()) return;
        const events::TokenDelta d{StreamOf(call), st.pending};
        emitter_.Emit(call.round, call.agent->Name(), d);
        st.pending.clear();
        st.last_flush = clock_.SteadyNow();
    };
    CallHooks hooks;
    hooks.start = [this, &calls, &streams, emit_delta](std::size_t i) {
        AgentRequest request = RequestFor(calls[i]);
        const PhaseCall* self = &calls[i];
        Stream* stream = &streams[i];
        request.on_token = [this, stream, self, emit_delta](std::string_view delta) {
            if (delta.empty()) return;
            if (!stream->started) {
                stream->started = true;
                const events::TokenStart d{StreamOf(*self)};
                emitter_.Emit(self->round, self->agent->Name(), d);
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
        request.trace = phase_trace_;
        request.on_event = [this, self, stream](const agents::AgentNotice& notice) {
            // A restarted call's streamed text is void: its unsent part is dropped, and the
            // next attempt's text opens a new token_start after this notice.
            if (agents::RestartsStream(notice)) *stream = Stream{};
            std::visit(
                [&](const auto& payload) {
                    emitter_.Emit(self->round, self->agent->Name(), payload);
                },
                notice);
        };
        return request;
    };
    hooks.done = [&streams](std::size_t i, const Result<AgentReply>& reply) {
        Stream& st = streams[i];
        if (reply.ok() && !st.pending.empty()) {
            const std::string& text = reply->text;
            const std::size_t n = st.pending.size();
            if (text.size() >= n && text.compare(text.size() - n, n, st.pending) == 0) {
                st.tail = n;
                std::string().swap(st.pending);
                return;
            }
        }
        st.pending.shrink_to_fit();  // what is left waits without the stream's slack
    };
    auto replies = co_await RunCalls(calls, hooks, max_parallel, CallTimeout());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        if (!streams[i].started) continue;
        if (streams[i].tail > 0) {
            const std::string& text = replies[i]->text;
            streams[i].pending.assign(text, text.size() - streams[i].tail, streams[i].tail);
        }
        emit_delta(calls[i], streams[i]);
        const events::TokenEnd d{StreamOf(calls[i]), replies[i].ok()};
        emitter_.Emit(calls[i].round, calls[i].agent->Name(), d);
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

void Run::EmitAgentError(const PhaseCall& call, const common::Error& e, int attempt, bool final) {
    events::AgentError d;
    d.agent = call.agent->Name();
    d.phase = agents::ToString(call.phase);
    d.code = common::ToString(e.code);
    d.message = e.message;
    d.round_number = call.round;
    d.target = call.target;
    d.attempt = attempt;
    d.final = final;
    emitter_.Emit(call.round, d.agent, d);
}

void Run::RecordUsage(const std::string& agent, const Result<AgentReply>& r) {
    auto& u = result_.usage[agent];
    ++u.calls;
    if (r.ok()) {
        u.input_tokens += r->usage.input_tokens;
        u.output_tokens += r->usage.output_tokens;
    } else {
        ++u.failures;
    }
}

void Run::Substitute(const std::string& agent, const std::string& replaced_by, Phase phase,
                     int round, SubstitutionReason reason,
                     const std::optional<std::size_t>& failure, FailureOutcome outcome) {
    if (failure) result_.failures[*failure].outcome = outcome;
    result_.substitutions.push_back(
        {agent, replaced_by, std::string(agents::ToString(phase)), round, reason});
    events::AgentSubstitution d;
    d.agent = agent;
    d.replaced_by = replaced_by;
    d.phase = agents::ToString(phase);
    d.round_number = round;
    d.reason = ToString(reason);
    emitter_.Emit(round, agent, d);
}

asio::awaitable<Run::PhaseReplies> Run::PhaseCalls(const std::vector<PhaseCall>& calls,
                                                   std::size_t max_parallel) {
    PhaseReplies out;
    out.failure.assign(calls.size(), std::nullopt);
    out.replies = co_await Calls(calls, max_parallel);
    std::vector<int> attempts(calls.size(), 1);
    std::vector<std::size_t> pending(calls.size());
    std::iota(pending.begin(), pending.end(), std::size_t{0});
    for (int pass = 0;; ++pass) {
        // Whether another pass may start: a debate still running, retries left, and a wait
        // that ends inside the phase's budget and before the deadline.
        const SteadyDuration ceiling = phase_backoff_.Ceiling(pass);
        const SteadyDuration delay = ceiling / 2 + phase_backoff_.Delay(pass) / 2;
        const auto resume_at = clock_.SteadyNow() + delay;
        const bool cancelled = co_await IsCancelled();
        const bool may_retry = !stopped_ && !cancelled && phase_backoff_.ShouldRetry(pass) &&
                               resume_at < deadline_ &&
                               resume_at - phase_started_ <= settings_.phase_retry_budget;
        std::vector<std::size_t> again;
        for (std::size_t i : pending) {
            const PhaseCall& call = calls[i];
            const Result<AgentReply>& r = out.replies[i];
            RecordUsage(call.agent->Name(), r);
            if (r.ok()) {
                if (out.failure[i]) {
                    AgentFailure& f = result_.failures[*out.failure[i]];
                    f.attempts = attempts[i];
                    f.outcome = FailureOutcome::kRecovered;
                }
                continue;
            }
            const bool retry = may_retry && RetryableInPhase(r.error().code);
            if (!out.failure[i]) {
                out.failure[i] = result_.failures.size();
                AgentFailure f;
                f.agent = call.agent->Name();
                f.phase = agents::ToString(call.phase);
                f.round = call.round;
                f.target = call.target;
                result_.failures.push_back(std::move(f));
            }
            AgentFailure& f = result_.failures[*out.failure[i]];
            f.code = common::ToString(r.error().code);
            f.message = r.error().message;
            f.attempts = attempts[i];
            f.outcome = FailureOutcome::kCountedOut;
            // A cancelled call is not the agent's failure when the whole debate is
            // cancelled; it is still recorded so the trail shows what was in flight.
            EmitAgentError(call, r.error(), attempts[i], !retry);
            if (retry) again.push_back(i);
        }
        if (again.empty()) break;

        const auto delay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(delay);
        std::vector<PhaseCall> retry_calls;
        retry_calls.reserve(again.size());
        for (std::size_t i : again) {
            events::AgentPhaseRetry d;
            d.agent = calls[i].agent->Name();
            d.phase = agents::ToString(calls[i].phase);
            d.round_number = calls[i].round;
            d.target = calls[i].target;
            d.attempt = attempts[i] + 1;
            d.delay_ms = delay_ms.count();
            d.reason = out.replies[i].error().message;
            emitter_.Emit(d.round_number, d.agent, d);
            retry_calls.push_back(calls[i]);
        }
        // Later in the phase: a provider's burst of overload usually passes in seconds.
        co_await deps_.wait(delay);
        if (co_await ShouldStop()) break;
        auto replies = co_await Calls(retry_calls, max_parallel);
        for (std::size_t k = 0; k < again.size(); ++k) {
            out.replies[again[k]] = std::move(replies[k]);
            ++attempts[again[k]];
        }
        pending = std::move(again);
    }
    co_return out;
}

AgentRequest Run::RequestFor(const PhaseCall& call) const {
    AgentRequest req;
    req.phase = call.phase;
    req.debate_id = spec_.id;
    req.task = spec_.task;
    req.context = spec_.context;
    req.round = call.round;
    req.total_rounds = spec_.rounds;
    req.system_prompt = kSystemPrompt;
    if (call.agent->ReadsPromptOnly()) {
        req.render_prompt = [this, &call] {
            AgentRequest parts;
            RenderParts(call, parts);
            return std::move(parts.prompt);
        };
    } else {
        RenderParts(call, req);
    }
    return req;
}

void Run::RenderParts(const PhaseCall& call, AgentRequest& req) const {
    const std::string& name = call.agent->Name();
    const auto own = proposals_.find(name);
    switch (call.phase) {
        case Phase::kPropose:
            req.challenge = pending_challenge_;
            req.prompt = RenderProposePrompt(spec_, call.round, pending_challenge_);
            break;
        case Phase::kRevise:
            req.challenge = pending_challenge_;
            if (own != proposals_.end()) req.own_proposal = own->second.content;
            for (const auto& c : round_critiques_) {
                if (c.target == name)
                    req.critiques.push_back({c.critic, c.issues, c.suggestions, c.severity});
            }
            req.prompt = RenderRevisePrompt(spec_, call.round, req.own_proposal, req.critiques,
                                            pending_challenge_);
            break;
        case Phase::kCritique: {
            if (own != proposals_.end()) req.own_proposal = own->second.content;
            req.target.agent = call.target;
            const auto target = proposals_.find(call.target);
            if (target != proposals_.end()) req.target.text = target->second.content;
            req.prompt = RenderCritiquePrompt(spec_, call.round, req.target);
            break;
        }
        case Phase::kVote:
            if (own != proposals_.end()) req.own_proposal = own->second.content;
            req.proposals = CurrentPeerTexts();
            req.prompt = RenderVotePrompt(spec_, req.proposals);
            break;
        case Phase::kJudge:
            req.proposals = CurrentPeerTexts();
            req.prompt = RenderJudgePrompt(spec_, req.proposals, round_critiques_);
            break;
    }
}

void Run::ProvenanceFor(int round) {
    if (trail_rounds_.empty() || trail_rounds_.back().first != round)
        trail_rounds_.emplace_back(round, trail_.size());
}

std::uint16_t Run::NameIndex(const std::string& name) {
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (names_[i] == name) return static_cast<std::uint16_t>(i);
    }
    names_.push_back(name);
    return static_cast<std::uint16_t>(names_.size() - 1);
}

void Run::Provenance(const std::string& agent, Phase phase, const std::string& target,
                     std::string_view text) {
    TrailEntry e;
    e.agent = NameIndex(agent);
    e.target = target.empty() ? kNoName : NameIndex(target);
    e.phase = phase;
    const std::string digest = common::Sha256Raw(text);
    std::copy_n(digest.begin(), std::min(digest.size(), e.sha256.size()), e.sha256.begin());
    trail_.push_back(e);
}

std::vector<RoundProvenance> Run::ProvenanceResult() const {
    std::vector<RoundProvenance> out;
    out.reserve(trail_rounds_.size());
    for (std::size_t k = 0; k < trail_rounds_.size(); ++k) {
        const std::size_t end =
            k + 1 < trail_rounds_.size() ? trail_rounds_[k + 1].second : trail_.size();
        RoundProvenance r{trail_rounds_[k].first, {}};
        r.entries.reserve(end - trail_rounds_[k].second);
        for (std::size_t i = trail_rounds_[k].second; i < end; ++i) {
            const TrailEntry& e = trail_[i];
            const std::string_view raw(reinterpret_cast<const char*>(e.sha256.data()),
                                       e.sha256.size());
            r.entries.push_back({names_[e.agent], std::string(agents::ToString(e.phase)),
                                 e.target == kNoName ? std::string() : names_[e.target],
                                 common::HexEncode(raw)});
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<agents::PeerText> Run::CurrentPeerTexts() const {
    std::vector<agents::PeerText> out;
    for (const auto& a : agents_) {
        auto it = proposals_.find(a->Name());
        if (it != proposals_.end()) out.push_back({a->Name(), it->second.content});
    }
    return out;
}

std::vector<Proposal> Run::CurrentProposals(const std::set<std::string>* except) const {
    std::vector<Proposal> out;
    for (const auto& a : agents_) {
        if (except && except->count(a->Name())) continue;
        auto it = proposals_.find(a->Name());
        if (it != proposals_.end()) out.push_back(it->second);
    }
    return out;
}

bool Run::EnoughAnswered(std::size_t ok, Phase phase, int round) {
    if (ok >= kMinAgents) return true;
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
    calls.reserve(agents_.size());
    for (const auto& agent : agents_) {
        // An agent with no proposal yet proposes anew.
        const bool revise = phase == Phase::kRevise && proposals_.count(agent->Name()) > 0;
        calls.push_back({agent, revise ? Phase::kRevise : Phase::kPropose, round, {}});
    }
    auto answered = co_await PhaseCalls(calls, settings_.max_parallel_calls);
    auto& replies = answered.replies;
    // The last round's critiques were for these revisions only (the judge reads the last
    // round's): not held through the rest of the round.
    std::vector<Critique>().swap(round_critiques_);
    if (co_await ShouldStop()) co_return false;

    previous_ = proposals_;
    carried_.clear();
    std::size_t ok = 0;
    ProvenanceFor(round);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string& name = calls[i].agent->Name();
        if (!replies[i].ok()) {
            // The agent's own previous proposal stands for a revision it could not make:
            // still its position, never another agent's text; marked, and kept out of the
            // convergence check (it did not move because it did not speak).
            if (calls[i].phase == Phase::kRevise && proposals_.count(name)) {
                carried_.insert(name);
                Substitute(name, name, Phase::kRevise, round,
                           SubstitutionReason::kPreviousProposalCarriedOver, answered.failure[i],
                           FailureOutcome::kCarriedOver);
                ++ok;
            }
            continue;
        }
        ++ok;
        Proposal p = ParseProposal(name, round, replies[i]->text);
        proposals_[name] = p;
        Provenance(name, calls[i].phase, "", p.content);
        events::AgentMessage d;
        d.round_number = round;
        d.agent = name;
        d.role = calls[i].phase == Phase::kRevise ? "reviser" : "proposer";
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
    for (const auto& critic : agents_) {
        if (!proposals_.count(critic->Name())) continue;
        for (const auto& target : agents_) {
            if (target->Name() == critic->Name() || !proposals_.count(target->Name())) continue;
            calls.push_back({critic, Phase::kCritique, round, target->Name()});
        }
    }
    auto answered = co_await PhaseCalls(calls, settings_.max_parallel_calls);
    auto& replies = answered.replies;
    if (co_await ShouldStop()) co_return false;

    round_critiques_.clear();
    round_critiques_.reserve(calls.size());
    std::map<std::string, bool> critic_ok;
    ProvenanceFor(round);
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string& critic = calls[i].agent->Name();
        const std::string& target = calls[i].target;
        if (!replies[i].ok()) continue;
        critic_ok[critic] = true;
        Critique c = ParseCritique(critic, target, replies[i]->text);
        Provenance(critic, Phase::kCritique, target, replies[i]->text);
        std::string().swap(replies[i]->text);
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
        d.content = std::move(c.content);
        d.parsed = c.parsed;
        emitter_.Emit(round, critic, d);
        c.content.clear();
        std::string().swap(c.reasoning);
        round_critiques_.push_back(std::move(c));
    }
    co_return EnoughAnswered(critic_ok.size(), Phase::kCritique, round);
}

asio::awaitable<bool> Run::VotePhase() {
    trace::Span span = StartPhaseSpan("debate.vote", spec_.trace, result_.rounds_used);
    std::vector<std::string> candidates;
    for (const auto& a : agents_) {
        if (proposals_.count(a->Name())) candidates.push_back(a->Name());
    }
    std::vector<PhaseCall> calls;
    calls.reserve(agents_.size());
    for (const auto& agent : agents_) {
        calls.push_back({agent, Phase::kVote, result_.rounds_used, {}});
    }
    auto answered = co_await PhaseCalls(calls, settings_.max_parallel_calls);
    auto& replies = answered.replies;
    if (co_await ShouldStop()) co_return false;

    ProvenanceFor(result_.rounds_used);
    std::size_t ok = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
        const std::string& voter = calls[i].agent->Name();
        if (!replies[i].ok()) continue;
        ++ok;
        voted_.insert(voter);
        std::string fallback = proposals_.count(voter) ? voter : candidates.front();
        ParsedVote pv = ParseVote(voter, replies[i]->text, candidates, fallback);
        Provenance(voter, Phase::kVote, pv.vote.choice, replies[i]->text);
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
        std::vector<PhaseCall> calls{{judge, Phase::kJudge, result_.rounds_used, {}}};
        auto answered = co_await PhaseCalls(calls, 1);
        if (co_await ShouldStop()) co_return;
        std::string judged_by = judge->Name();
        std::optional<std::string> judgement;
        if (answered.replies[0].ok() && !answered.replies[0]->text.empty())
            judgement = std::move(answered.replies[0]->text);
        // The judge is a role, not a voice: when the chosen judge cannot answer, the first
        // other agent whose vote counted judges in its place (marked), before majority.
        std::shared_ptr<Agent> substitute;
        for (const auto& a : agents_) {
            if (!judgement && !substitute && a != judge && voted_.count(a->Name())) substitute = a;
        }
        if (substitute) {
            std::vector<PhaseCall> sub_calls{{substitute, Phase::kJudge, result_.rounds_used, {}}};
            auto sub = co_await PhaseCalls(sub_calls, 1);
            if (co_await ShouldStop()) co_return;
            if (sub.replies[0].ok() && !sub.replies[0]->text.empty()) {
                judgement = std::move(sub.replies[0]->text);
                judged_by = substitute->Name();
                Substitute(judge->Name(), judged_by, Phase::kJudge, result_.rounds_used,
                           SubstitutionReason::kSubstituteJudge, answered.failure[0],
                           FailureOutcome::kSubstituted);
            }
        }
        if (judgement) {
            outcome.method = ConsensusMethod::kJudge;
            outcome.reached = true;
            outcome.final_answer = *judgement;
            ProvenanceFor(result_.rounds_used);
            Provenance(judged_by, Phase::kJudge, "", *judgement);
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
        // How this round's proposals moved from the last round's: computed now (the
        // critiques change neither), emitted after the critiques as the protocol says; the
        // last round's proposals are not held through the critique phase.
        std::optional<ConvergenceReport> conv;
        if (round >= 2) {
            std::vector<Proposal> previous;
            for (const auto& a : agents_) {
                auto it = previous_.find(a->Name());
                if (it != previous_.end()) previous.push_back(std::move(it->second));
            }
            previous_.clear();
            conv =
                CheckConvergence(previous, CurrentProposals(&carried_),
                                 settings_.convergence_threshold, settings_.divergence_threshold);
        }
        if (co_await ShouldStop()) break;
        if (!co_await CritiquePhase(round)) break;
        result_.rounds_used = round;

        const bool have_conv = conv.has_value();
        if (have_conv) {
            events::Convergence d;
            d.round_number = round;
            d.status = ToString(conv->status);
            d.similarity = conv->min_similarity;
            d.mean_similarity = conv->mean_similarity;
            d.per_agent = conv->per_agent;
            emitter_.Emit(round, "", d);
        }

        HollowDecision hollow = CheckHollowConsensus(
            round, CurrentProposals(), have_conv ? &*conv : nullptr, settings_, trickster_);
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

        if (settings_.early_stop && have_conv && conv->status == ConvergenceStatus::kConverged &&
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
    result_.provenance = ProvenanceResult();
    result_.finished_at = clock_.SystemNow();
    result_.duration_seconds =
        std::chrono::duration<double>(clock_.SteadyNow() - steady_start).count();
    co_return std::move(result_);
}

}  // namespace

void ApplyPhaseRetrySettings(const config::DebateSettings& from, EngineSettings& to) {
    to.phase_retries = from.phase_retries;
    to.phase_retry_base = std::chrono::milliseconds(from.phase_retry_base_ms);
    to.phase_retry_cap = std::chrono::milliseconds(from.phase_retry_cap_ms);
    to.phase_retry_budget = std::chrono::milliseconds(from.phase_retry_budget_ms);
}

Engine::Engine(const common::Clock& clock, EngineSettings settings, EngineDeps deps)
    : clock_(clock), settings_(settings), deps_(std::move(deps)) {
    if (!deps_.wait) deps_.wait = &TimerWait;
    if (!deps_.random) deps_.random = resilience::MakeDefaultRandomSource();
}

asio::awaitable<DebateResult> Engine::Run(const DebateSpec& spec,
                                          std::vector<std::shared_ptr<agents::Agent>> agents,
                                          EventEmitter& emitter) const {
    co_await asio::this_coro::throw_if_cancelled(false);
    class Run run(clock_, settings_, deps_, spec, std::move(agents), emitter);
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
