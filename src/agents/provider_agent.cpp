#include "agents/provider_agent.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
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

enum class Kind {
    kOk,
    kRetryable,  // connection error, timeout, cut stream, 5xx, 529
    kFallback,   // 429, quota (402), auth (401/403): OpenRouter may answer instead
    kFatal,      // malformed reply, other 4xx, bad configuration
    kCancelled,
};

std::string_view OutcomeLabel(Kind k) {
    switch (k) {
        case Kind::kOk:
            return "ok";
        case Kind::kRetryable:
            return "retryable_error";
        case Kind::kFallback:
            return "rejected";
        case Kind::kFatal:
            return "error";
        case Kind::kCancelled:
            return "cancelled";
    }
    return "error";
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
                          {"provider", "direction"})) {}

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
    Kind kind = Kind::kOk;
    Result<AgentReply> reply;
    std::optional<std::chrono::seconds> retry_after;
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
                                                            CallTrace& tc) {
    const auto& info = wire::Info(provider);
    const auto& s = context_.settings;
    wire::ChatRequest chat;
    chat.base_url = BaseUrlOf(context_.env, provider);
    chat.model = model;
    chat.api_key = key;
    chat.system = request.system_prompt;
    chat.prompt = request.prompt;
    chat.stream = s.stream && static_cast<bool>(request.on_token);
    chat.max_tokens = s.max_tokens;
    chat.temperature = s.temperature;
    net::ClientRequest http = wire::BuildRequest(provider, chat);
    http.timeout = s.attempt_timeout;
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

    wire::StreamDecoder decoder(info.format);
    std::optional<Error> stream_error;
    net::BodySink sink;
    if (chat.stream) {
        sink = [&](std::string_view piece) {
            auto deltas = decoder.Feed(piece);
            if (!deltas) {
                stream_error = deltas.error();
                return false;
            }
            if (decoder.held() > kMaxStreamedReplyBytes) {
                stream_error = MakeError(ErrorCode::kProviderError,
                                         "the streamed reply exceeded " +
                                             std::to_string(kMaxStreamedReplyBytes) + " bytes");
                return false;
            }
            std::string joined;
            for (const auto& d : *deltas) joined += d;
            if (!joined.empty()) request.on_token(joined);
            return !decoder.done();
        };
    }

    Attempt out;
    auto r = co_await context_.client->Send(std::move(http), std::move(sink));
    if (r) span.SetAttribute("http.response.status_code", r->status);
    if (!r || r->status >= 400)
        span.SetStatus(trace::StatusCode::kError,
                       r ? "HTTP " + std::to_string(r->status) : r.error().message);
    const std::string who = std::string(info.name) + " (" + model + ")";
    if (!r) {
        const auto& e = r.error();
        switch (e.code) {
            case ErrorCode::kCancelled:
                out.kind = Kind::kCancelled;
                break;
            case ErrorCode::kTimeout:
            case ErrorCode::kUnavailable:
                out.kind = Kind::kRetryable;
                break;
            case ErrorCode::kProviderError:
                // A stream the provider cut after a good start counts as a connection error.
                out.kind = Kind::kRetryable;
                break;
            default:
                out.kind = Kind::kFatal;
        }
        // Data already decoded from a cut stream is not a reply: the call is retried.
        out.reply =
            MakeError(e.code == ErrorCode::kProviderError ? ErrorCode::kProviderError : e.code,
                      who + ": " + e.message);
        co_return out;
    }
    const net::ClientResponse& resp = *r;
    const int status = resp.status;
    if (status >= 200 && status < 300) {
        Result<wire::Reply> parsed = MakeError(ErrorCode::kProviderError, "no reply");
        if (chat.stream) {
            if (stream_error) {
                parsed = MakeError(ErrorCode::kProviderError, stream_error->message);
            } else if (!decoder.saw_event()) {
                parsed = MakeError(ErrorCode::kProviderError,
                                   "the reply was not an event stream (Content-Type: " +
                                       resp.Header("content-type") + ")");
            } else if (decoder.text().empty()) {
                parsed = MakeError(ErrorCode::kProviderError, "the streamed reply was empty");
            } else {
                parsed = wire::Reply{decoder.text(), decoder.usage()};
            }
        } else {
            parsed = wire::ParseReply(info.format, resp.body);
        }
        if (!parsed) {
            out.kind = Kind::kFatal;
            out.reply = MakeError(ErrorCode::kProviderError,
                                  who + " sent a malformed reply: " + parsed.error().message);
            co_return out;
        }
        AgentReply reply;
        reply.text = std::move(parsed->text);
        reply.usage.input_tokens = parsed->usage.input_tokens;
        reply.usage.output_tokens = parsed->usage.output_tokens;
        out.reply = std::move(reply);
        co_return out;
    }
    out.retry_after = RetryAfter(resp);
    std::string message = wire::ErrorMessage(resp.body);
    std::string text =
        who + " answered HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
    if (status == 429) {
        out.kind = Kind::kFallback;
        out.reply = MakeError(ErrorCode::kRateLimited, std::move(text));
    } else if (status == 401 || status == 403) {
        out.kind = Kind::kFallback;
        out.reply = MakeError(ErrorCode::kAuthRequired, std::move(text));
    } else if (status == 402) {
        out.kind = Kind::kFallback;
        out.reply = MakeError(ErrorCode::kProviderError, std::move(text));
    } else if (status >= 500 || status == 408) {
        out.kind = Kind::kRetryable;
        out.reply = MakeError(ErrorCode::kProviderError, std::move(text));
    } else {
        out.kind = Kind::kFatal;
        out.reply = MakeError(ErrorCode::kProviderError, std::move(text));
    }
    co_return out;
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
    while (true) {
        const std::string key = KeyOf(context_.env, provider);
        const bool fallback_possible = allow_fallback && !is_openrouter &&
                                       !KeyOf(context_.env, wire::Provider::kOpenRouter).empty();
        if (!info.key_env.empty() && key.empty()) {
            if (fallback_possible) {
                co_return co_await FallBack(provider, model, request,
                                            std::string(info.key_env) + " is not set", tc);
            }
            co_return MakeError(
                ErrorCode::kValidation,
                std::string(info.key_env) + " is not set (needed by agent '" + name_ + "')");
        }
        if (breaker != nullptr) {
            auto admission = breaker->AllowRequest();
            if (!admission) {
                auto secs = std::chrono::duration_cast<std::chrono::seconds>(admission.retry_after);
                if (context_.metrics)
                    context_.metrics->attempts.WithLabels({provider_name, "circuit_open"}).Inc();
                co_return MakeError(ErrorCode::kUnavailable,
                                    "circuit breaker open for " + key_name + " (next probe in " +
                                        std::to_string(secs.count()) + " s)");
            }
        }
        Attempt a = co_await Once(provider, model, key, request, tc);
        if (context_.metrics)
            context_.metrics->attempts
                .WithLabels({provider_name, std::string(OutcomeLabel(a.kind))})
                .Inc();
        if (breaker != nullptr) {
            if (a.kind == Kind::kOk) {
                breaker->RecordSuccess();
            } else if (a.kind == Kind::kCancelled) {
                breaker->RecordCancelled();
            } else {
                breaker->RecordFailure();
            }
        }
        if (a.kind == Kind::kOk) {
            if (context_.metrics) {
                context_.metrics->tokens.WithLabels({provider_name, "input"})
                    .Inc(static_cast<double>(a.reply->usage.input_tokens));
                context_.metrics->tokens.WithLabels({provider_name, "output"})
                    .Inc(static_cast<double>(a.reply->usage.output_tokens));
            }
            co_return std::move(a.reply);
        }
        if (a.kind == Kind::kCancelled || a.kind == Kind::kFatal) co_return std::move(a.reply);
        Log()->warn("agent call failed agent={} provider={} model={} attempt={} error={}", name_,
                    provider_name, model, retries_done + 1, a.reply.error().message);
        if (a.kind == Kind::kFallback && fallback_possible) {
            co_return co_await FallBack(provider, model, request, a.reply.error().message, tc);
        }
        // 429 without a fallback is retried like a 5xx, after its Retry-After; auth and
        // quota errors are not (they will not heal by waiting).
        const bool retryable =
            a.kind == Kind::kRetryable ||
            (a.kind == Kind::kFallback && a.reply.error().code == ErrorCode::kRateLimited);
        if (!retryable || !context_.backoff.ShouldRetry(retries_done)) {
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
            request.on_event(AgentNotice(std::move(notice)));
        }
        asio::steady_timer timer(co_await asio::this_coro::executor, delay);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return MakeError(ErrorCode::kCancelled, "agent call cancelled");
    }
}

asio::awaitable<Result<AgentReply>> ProviderAgent::FallBack(wire::Provider from,
                                                            const std::string& model,
                                                            const AgentRequest& request,
                                                            const std::string& reason,
                                                            CallTrace& tc) {
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
