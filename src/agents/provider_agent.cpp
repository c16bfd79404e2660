#include "agents/provider_agent.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>

#include "common/logging.hpp"
#include "common/strings.hpp"

namespace aragora::agents {
namespace {

namespace asio = boost::asio;
using common::Error;
using common::ErrorCode;
using common::MakeError;
using common::Result;

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.agents");
    return logger;
}

// Retry-After as delay-seconds (HTTP dates are not worth parsing for providers).
std::optional<std::chrono::seconds> RetryAfter(const net::ClientResponse& r) {
    const std::string v(common::Trim(r.Header("retry-after")));
    if (v.empty() || v.size() > 9) return std::nullopt;
    if (!std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::chrono::seconds(std::atoi(v.c_str()));
}

// A streamed body is not bounded by the HTTP client: this bounds what a reply may hold.
constexpr std::size_t kMaxStreamedReplyBytes = 4 * 1024 * 1024;

std::string_view OutcomeLabel(wire::Fault fault) {
    if (fault == wire::Fault::kNone) return "ok";
    switch (wire::DispositionOf(fault)) {
        case wire::Disposition::kRetry:
            return "retryable_error";
        case wire::Disposition::kRetryOrFallback:
        case wire::Disposition::kFallbackOrFail:
            return "rejected";
        case wire::Disposition::kFail:
            return "error";
        case wire::Disposition::kCancelled:
            return "cancelled";
    }
    return "error";
}

// The error code a call that ended on `fault` answers with.
ErrorCode CodeOf(wire::Fault fault) {
    switch (fault) {
        case wire::Fault::kConnection:
            return ErrorCode::kUnavailable;
        case wire::Fault::kTimeout:
            return ErrorCode::kTimeout;
        case wire::Fault::kRateLimited:
            return ErrorCode::kRateLimited;
        case wire::Fault::kAuth:
            return ErrorCode::kAuthRequired;
        case wire::Fault::kCancelled:
            return ErrorCode::kCancelled;
        default:
            return ErrorCode::kProviderError;
    }
}

// The fault of an exchange the HTTP client ended with an error.
wire::Fault FaultOfClientError(const Error& e) {
    switch (e.code) {
        case ErrorCode::kCancelled:
            return wire::Fault::kCancelled;
        case ErrorCode::kTimeout:
            return wire::Fault::kTimeout;
        case ErrorCode::kUnavailable:
            return wire::Fault::kConnection;
        case ErrorCode::kProviderError:
            // The connection closed before the body ended (a stream cut after a good
            // start, a half-sent body), or a garbled HTTP answer from a gateway.
            return wire::Fault::kStreamCut;
        default:
            return wire::Fault::kBadRequest;  // our request could not be sent (bad URL)
    }
}

// Completes when the other lane of a hedged call won (`winner`; its claim cancels
// `lost`), or when the awaiting operator cancels it (this lane's attempt ended first).
asio::awaitable<void> WaitLost(asio::steady_timer& lost, const int& winner, int lane) {
    if (winner >= 0 && winner != lane) co_return;
    co_await lost.async_wait(asio::as_tuple(asio::use_awaitable));
}

// An agent call that failed for good (retries spent, or an error retrying cannot heal).
void ReportFailure(const ProviderContext& context, const std::string& agent,
                   const std::string& provider, const std::string& model, int retries,
                   const AgentRequest& request, const Result<AgentReply>& reply) {
    if (context.errors == nullptr || reply) return;
    common::ErrorReport r;
    r.type = "agent_call_failed";
    r.message = "agent " + agent + " (" + provider + ":" + model + ") failed after " +
                std::to_string(retries + 1) + " attempt(s): " + reply.error().message;
    r.tags = {{"agent", agent},
              {"provider", provider},
              {"model", model},
              {"error_code", std::string(common::ToString(reply.error().code))},
              {"debate_id", request.debate_id}};
    context.errors->Report(std::move(r));
}

}  // namespace

AgentMetrics::AgentMetrics(metrics::Registry& r)
    : attempts(r.AddCounter("aragora_agent_attempts_total",
                            "Provider HTTP attempts by provider and outcome (ok, retryable_error, "
                            "rejected, error, cancelled)",
                            {"provider", "outcome"})),
      retries(r.AddCounter("aragora_agent_retries_total", "Provider attempts retried after backoff",
                           {"provider"})),
      fallbacks(r.AddCounter("aragora_agent_fallbacks_total",
                             "Calls of a direct provider answered through the OpenRouter fallback",
                             {"provider"})),
      tokens(r.AddCounter("aragora_agent_tokens_total", "LLM tokens by provider and direction",
                          {"provider", "direction"})),
      hedges(r.AddCounter("aragora_agent_hedges_total",
                          "Hedged provider attempts started, by the attempt that answered first "
                          "(hedge_won, primary_won, none_answered)",
                          {"provider", "outcome"})) {}

std::string BaseUrlOf(const config::EnvLookup& env, wire::Provider provider) {
    const auto& info = wire::Info(provider);
    if (env) {
        if (auto v = env(info.base_url_env); v && !common::Trim(*v).empty()) {
            return std::string(common::Trim(*v));
        }
    }
    return std::string(info.default_base);
}

std::string KeyOf(const config::EnvLookup& env, wire::Provider provider) {
    const auto& info = wire::Info(provider);
    if (info.key_env.empty() || !env) return "";
    auto v = env(info.key_env);
    return v ? std::string(common::Trim(*v)) : "";
}

struct ProviderAgent::Attempt {
    wire::Fault fault = wire::Fault::kNone;  // kNone: `reply` holds the answer
    Result<AgentReply> reply;
    std::optional<std::chrono::seconds> retry_after;
    // Text pieces this attempt gave to on_token (void when the call goes on).
    std::int64_t emitted = 0;
};

// The two attempts of a hedged call, on the awaiting coroutine's executor (a strand:
// no lock). The first attempt to answer claims the race; the other is woken through
// its `lost` timer and cancelled.
struct ProviderAgent::Race {
    explicit Race(const asio::any_io_executor& ex)
        : hedge_timer(ex), lost{asio::steady_timer(ex), asio::steady_timer(ex)} {
        for (auto& t : lost) t.expires_at(asio::steady_timer::time_point::max());
    }
    int winner = -1;
    bool primary_done = false;
    bool hedged = false;
    asio::steady_timer hedge_timer;
    std::array<asio::steady_timer, 2> lost;

    bool Claim(int lane) {
        if (winner < 0) {
            winner = lane;
            lost[1 - lane].cancel();
            hedge_timer.cancel();
        }
        return winner == lane;
    }
    // The hedge is not needed (any more): the primary answered or ended.
    bool Settled() const { return winner >= 0 || primary_done; }
};

ProviderAgent::ProviderAgent(std::string name, wire::Provider provider, std::string model,
                             const ProviderContext& context)
    : name_(std::move(name)),
      provider_(provider),
      provider_name_(wire::Info(provider).name),
      model_(std::move(model)),
      breaker_key_(provider_name_ + ":" + model_),
      context_(context) {}

asio::awaitable<ProviderAgent::Attempt> ProviderAgent::Once(wire::Provider provider,
                                                            const std::string& model,
                                                            const std::string& key,
                                                            const AgentRequest& request,
                                                            CallTrace& tc, Race* race, int lane) {
    const auto& info = wire::Info(provider);
    const auto& s = context_.settings;
    wire::ChatRequest chat;
    chat.base_url = BaseUrlOf(context_.env, provider);
    chat.model = model;
    chat.api_key = key;
    chat.system = request.system_prompt;
    chat.prompt = request.Prompt();
    chat.stream = s.stream && static_cast<bool>(request.on_token);
    chat.max_tokens = s.max_tokens;
    chat.temperature = s.temperature;
    net::ClientRequest http = wire::BuildRequest(provider, chat);
    http.timeout = s.attempt_timeout;
    // The body holds the prompt now: a held call (seconds, thousands at once) keeps no
    // second copy of it (a later attempt renders it again, or copies the request's).
    std::string().swap(chat.system);
    std::string().swap(chat.prompt);
    // One client span per HTTP attempt; the provider gets its traceparent. (No URL: a
    // provider key may travel in its query.)
    trace::Span span = trace::StartSpan(tc.context, std::string("chat ") + std::string(info.name),
                                        trace::SpanKind::kClient);
    ++tc.attempts;
    if (span.context().Valid())
        http.headers.emplace_back("traceparent", trace::FormatTraceparent(span.context()));
    span.SetAttribute("gen_ai.system", info.name);
    span.SetAttribute("gen_ai.request.model", model);
    span.SetAttribute("http.request.method", http.method);
    if (race != nullptr) span.SetAttribute("aragora.agent.hedge", lane == 1);

    const auto started = std::chrono::steady_clock::now();
    // The attempt's first answer (a stream's first valid event, a plain reply): the
    // latency sample of the hedge delay, and — racing — the claim on the race.
    bool answered = false;
    auto answer = [&]() -> bool {
        if (answered) return true;
        answered = true;
        if (context_.latencies != nullptr) {
            context_.latencies->Record(info.name,
                                       std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started));
        }
        return race == nullptr || race->Claim(lane);
    };

    Attempt out;
    wire::StreamDecoder decoder(info.format);
    bool too_large = false;
    bool lost = false;
    net::BodySink sink;
    std::string joined;  // the text one body piece completed (its buffer reused)
    if (chat.stream) {
        sink = [&](std::string_view piece) {
            joined.clear();
            if (!decoder.FeedInto(piece, joined)) return false;
            if (decoder.held() > kMaxStreamedReplyBytes) {
                too_large = true;
                return false;
            }
            if (!decoder.saw_event()) return true;
            if (!answer()) {
                lost = true;
                return false;
            }
            if (!joined.empty()) {
                request.on_token(joined);
                ++out.emitted;
            }
            return !decoder.done();
        };
    }

    auto r = co_await context_.client->Send(std::move(http), std::move(sink));
    if (r) span.SetAttribute("http.response.status_code", r->status);
    const std::string who = std::string(info.name) + " (" + model + ")";
    auto fail = [&](wire::Fault fault, ErrorCode code, const std::string& message) {
        out.fault = fault;
        out.reply = MakeError(code, who + ": " + message);
        span.SetAttribute("aragora.agent.fault", wire::ToString(fault));
        span.SetStatus(trace::StatusCode::kError, message);
    };
    if (lost) {
        fail(wire::Fault::kCancelled, ErrorCode::kCancelled, "another attempt answered first");
        co_return out;
    }
    if (!r) {
        const wire::Fault fault = FaultOfClientError(r.error());
        const bool cut = fault == wire::Fault::kStreamCut;
        fail(fault,
             r.error().code == ErrorCode::kProviderError ? ErrorCode::kProviderError
                                                         : r.error().code,
             cut ? "the reply was cut short (" + r.error().message + ")" : r.error().message);
        co_return out;
    }
    const net::ClientResponse& resp = *r;
    const int status = resp.status;
    if (status >= 200 && status < 300) {
        wire::Checked<wire::Reply> checked;
        if (too_large) {
            checked.fault = wire::Fault::kTooLarge;
            checked.message =
                "the streamed reply exceeded " + std::to_string(kMaxStreamedReplyBytes) + " bytes";
        } else if (chat.stream) {
            checked = decoder.Finish(true, resp.Header("content-type"));
        } else {
            checked = wire::CheckReply(info.format, resp.Header("content-type"), resp.body);
            if (checked.ok() && !answer()) {
                fail(wire::Fault::kCancelled, ErrorCode::kCancelled,
                     "another attempt answered first");
                co_return out;
            }
        }
        if (!checked.ok()) {
            fail(checked.fault, CodeOf(checked.fault),
                 (checked.fault == wire::Fault::kRefusal ? "" : "sent a malformed reply: ") +
                     checked.message);
            co_return out;
        }
        AgentReply reply;
        reply.text = std::move(checked->text);
        reply.usage.input_tokens = checked->usage.input_tokens;
        reply.usage.output_tokens = checked->usage.output_tokens;
        out.reply = std::move(reply);
        co_return out;
    }
    out.retry_after = RetryAfter(resp);
    std::string message = wire::ErrorMessage(resp.body);
    const wire::Fault fault = wire::FaultOfStatus(status);
    fail(fault, CodeOf(fault),
         "answered HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message));
    co_return out;
}

asio::awaitable<ProviderAgent::Attempt> ProviderAgent::Contend(
    wire::Provider provider, const std::string& model, const std::string& key,
    const AgentRequest& request, CallTrace& tc, Race& race, int lane) {
    using namespace asio::experimental::awaitable_operators;
    Attempt none;
    none.fault = wire::Fault::kCancelled;
    none.reply = MakeError(ErrorCode::kCancelled, "hedge not needed");
    if (lane == 1) {
        if (!race.Settled()) {
            auto [ec] = co_await race.hedge_timer.async_wait(asio::as_tuple(asio::use_awaitable));
            // Woken early: the primary answered or ended, or the call was cancelled.
            if (ec) co_return none;
        }
        if (race.Settled()) co_return none;
        race.hedged = true;
    }
    auto attempt = Once(provider, model, key, request, tc, &race, lane);
    auto lose = WaitLost(race.lost[static_cast<std::size_t>(lane)], race.winner, lane);
    auto result = co_await (std::move(attempt) || std::move(lose));
    if (lane == 0) {
        race.primary_done = true;
        race.hedge_timer.cancel();
    }
    if (result.index() == 0) co_return std::get<0>(std::move(result));
    none.reply = MakeError(ErrorCode::kCancelled, "another attempt answered first");
    co_return none;
}

asio::awaitable<ProviderAgent::Attempt> ProviderAgent::Attempted(wire::Provider provider,
                                                                 const std::string& model,
                                                                 const std::string& key,
                                                                 const AgentRequest& request,
                                                                 CallTrace& tc) {
    const auto& info = wire::Info(provider);
    const auto delay = HedgeDelay(context_.settings.hedge, context_.latencies, info.name);
    if (!delay) co_return co_await Once(provider, model, key, request, tc, nullptr, 0);

    using namespace asio::experimental::awaitable_operators;
    Race race(co_await asio::this_coro::executor);
    race.hedge_timer.expires_after(*delay);
    auto primary = Contend(provider, model, key, request, tc, race, 0);
    auto hedge = Contend(provider, model, key, request, tc, race, 1);
    auto [first, second] = co_await (std::move(primary) && std::move(hedge));
    if (race.hedged && context_.metrics != nullptr) {
        const char* outcome = race.winner == 1   ? "hedge_won"
                              : race.winner == 0 ? "primary_won"
                                                 : "none_answered";
        context_.metrics->hedges.WithLabels({std::string(info.name), outcome}).Inc();
    }
    if (race.winner == 1) co_return std::move(second);
    if (race.winner == 0 || !race.hedged) co_return std::move(first);
    // Neither answered: the primary's fault stands, unless it was only cancelled.
    if (first.fault == wire::Fault::kCancelled) co_return std::move(second);
    co_return std::move(first);
}

asio::awaitable<Result<AgentReply>> ProviderAgent::CallTarget(wire::Provider provider,
                                                              const std::string& model,
                                                              const AgentRequest& request,
                                                              bool allow_fallback, CallTrace& tc) {
    const auto& info = wire::Info(provider);
    const std::string provider_name(info.name);
    const std::string key_name = provider_name + ":" + model;
    resilience::CircuitBreaker* breaker = nullptr;
    if (context_.breakers != nullptr) {
        auto b = context_.breakers->GetOrCreate(key_name);
        if (b.ok()) breaker = *b;
    }
    const bool is_openrouter = provider == wire::Provider::kOpenRouter;
    int retries_done = 0;
    // The breaker sees the call, not its attempts: admitted once, one outcome when it
    // ends (answered; failed for good or handed to the fallback; cancelled). Counting
    // attempts would open it on a streak of transient faults that the retries heal (at
    // a 30 % fault share, 5 in a row come every few hundred attempts).
    bool admitted = false;
    auto settle = [&](wire::Fault fault) {
        if (breaker == nullptr || !admitted) return;
        admitted = false;
        if (fault == wire::Fault::kNone) {
            breaker->RecordSuccess();
        } else if (fault == wire::Fault::kCancelled) {
            breaker->RecordCancelled();
        } else {
            breaker->RecordFailure();
        }
    };
    while (true) {
        const std::string key = KeyOf(context_.env, provider);
        const bool fallback_possible = allow_fallback && !is_openrouter &&
                                       !KeyOf(context_.env, wire::Provider::kOpenRouter).empty();
        if (!info.key_env.empty() && key.empty()) {
            settle(wire::Fault::kCancelled);  // the key went away: says nothing of the provider
            if (fallback_possible) {
                const Attempt none;  // named: no aggregate temporary in a co_await (g++ 12)
                co_return co_await FallBack(provider, model, request,
                                            std::string(info.key_env) + " is not set", none, tc);
            }
            co_return MakeError(
                ErrorCode::kValidation,
                std::string(info.key_env) + " is not set (needed by agent '" + name_ + "')");
        }
        if (breaker != nullptr && !admitted) {
            auto admission = breaker->AllowRequest();
            if (!admission) {
                auto secs = std::chrono::duration_cast<std::chrono::seconds>(admission.retry_after);
                if (context_.metrics)
                    context_.metrics->attempts.WithLabels({provider_name, "circuit_open"}).Inc();
                co_return MakeError(ErrorCode::kUnavailable,
                                    "circuit breaker open for " + key_name + " (next probe in " +
                                        std::to_string(secs.count()) + " s)");
            }
            admitted = true;
        }
        Attempt a = co_await Attempted(provider, model, key, request, tc);
        if (context_.metrics)
            context_.metrics->attempts
                .WithLabels({provider_name, std::string(OutcomeLabel(a.fault))})
                .Inc();
        if (a.fault == wire::Fault::kNone) {
            settle(a.fault);
            if (context_.metrics) {
                context_.metrics->tokens.WithLabels({provider_name, "input"})
                    .Inc(static_cast<double>(a.reply->usage.input_tokens));
                context_.metrics->tokens.WithLabels({provider_name, "output"})
                    .Inc(static_cast<double>(a.reply->usage.output_tokens));
            }
            co_return std::move(a.reply);
        }
        const wire::Disposition disposition = wire::DispositionOf(a.fault);
        if (disposition == wire::Disposition::kCancelled) {
            settle(a.fault);
            co_return std::move(a.reply);
        }
        Log()->warn("agent call failed agent={} provider={} model={} attempt={} fault={} error={}",
                    name_, provider_name, model, retries_done + 1, wire::ToString(a.fault),
                    a.reply.error().message);
        if (disposition == wire::Disposition::kFail) {
            settle(a.fault);
            co_return std::move(a.reply);
        }
        if (fallback_possible && (disposition == wire::Disposition::kRetryOrFallback ||
                                  disposition == wire::Disposition::kFallbackOrFail)) {
            settle(a.fault);
            co_return co_await FallBack(provider, model, request, a.reply.error().message, a, tc);
        }
        // 429 without a fallback is retried like a 5xx, after its Retry-After; auth and
        // quota errors are not (they will not heal by waiting).
        if (disposition == wire::Disposition::kFallbackOrFail ||
            !context_.backoff.ShouldRetry(retries_done)) {
            settle(a.fault);
            ReportFailure(context_, name_, provider_name, model, retries_done, request, a.reply);
            co_return std::move(a.reply);
        }
        auto delay = context_.backoff.Delay(retries_done);
        if (a.retry_after) {
            delay = std::max<std::chrono::nanoseconds>(
                delay,
                std::min<std::chrono::nanoseconds>(*a.retry_after, context_.settings.retry.cap));
        }
        ++retries_done;
        ++tc.retries;
        if (context_.metrics) context_.metrics->retries.WithLabels({provider_name}).Inc();
        const auto delay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(delay);
        if (request.on_event) {
            events::AgentRetry notice;
            notice.agent = name_;
            notice.provider = provider_name;
            notice.model = model;
            notice.retry = retries_done;
            notice.delay_ms = delay_ms.count();
            notice.reason = a.reply.error().message;
            notice.round_number = request.round;
            notice.fault = std::string(wire::ToString(a.fault));
            notice.phase = std::string(agents::ToString(request.phase));
            notice.restart = a.emitted > 0;
            notice.discarded_tokens = a.emitted;
            request.on_event(AgentNotice(std::move(notice)));
        }
        asio::steady_timer timer(co_await asio::this_coro::executor, delay);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) {
            settle(wire::Fault::kCancelled);
            co_return MakeError(ErrorCode::kCancelled, "agent call cancelled");
        }
    }
}

asio::awaitable<Result<AgentReply>> ProviderAgent::FallBack(wire::Provider from,
                                                            const std::string& model,
                                                            const AgentRequest& request,
                                                            const std::string& reason,
                                                            const Attempt& failed, CallTrace& tc) {
    tc.fallback = true;
    const std::string from_name(wire::Info(from).name);
    const std::string mapped = wire::OpenRouterModel(from, model);
    Log()->warn("agent fallback agent={} from={} to=openrouter model={} reason={}", name_,
                from_name, mapped, reason);
    if (context_.metrics) context_.metrics->fallbacks.WithLabels({from_name}).Inc();
    if (request.on_event) {
        events::AgentFallback notice;
        notice.agent = name_;
        notice.from_provider = from_name;
        notice.to_provider = "openrouter";
        notice.model = mapped;
        notice.reason = reason;
        notice.round_number = request.round;
        if (failed.fault != wire::Fault::kNone)
            notice.fault = std::string(wire::ToString(failed.fault));
        notice.phase = std::string(agents::ToString(request.phase));
        notice.restart = failed.emitted > 0;
        notice.discarded_tokens = failed.emitted;
        request.on_event(AgentNotice(std::move(notice)));
    }
    co_return co_await CallTarget(wire::Provider::kOpenRouter, mapped, request, false, tc);
}

asio::awaitable<Result<AgentReply>> ProviderAgent::Call(const AgentRequest& request) {
    trace::Span span = trace::StartSpan(request.trace, "agent.call " + name_);
    span.SetAttribute("aragora.agent", name_);
    span.SetAttribute("gen_ai.system", provider_name_);
    span.SetAttribute("gen_ai.request.model", model_);
    span.SetAttribute("aragora.phase", agents::ToString(request.phase));
    span.SetAttribute("debate.id", request.debate_id);
    span.SetAttribute("debate.round", request.round);
    CallTrace tc{span.ChildContext()};
    Result<AgentReply> reply = co_await CallTarget(provider_, model_, request, true, tc);
    span.SetAttribute("aragora.agent.attempts", tc.attempts);
    span.SetAttribute("aragora.agent.retries", tc.retries);
    span.SetAttribute("aragora.agent.fallback", tc.fallback);
    if (reply) {
        span.SetAttribute("aragora.agent.outcome", "ok");
        span.SetAttribute("gen_ai.usage.input_tokens", reply->usage.input_tokens);
        span.SetAttribute("gen_ai.usage.output_tokens", reply->usage.output_tokens);
    } else {
        span.SetAttribute("aragora.agent.outcome", common::ToString(reply.error().code));
        span.SetStatus(trace::StatusCode::kError, reply.error().message);
    }
    co_return std::move(reply);
}

}  // namespace aragora::agents
