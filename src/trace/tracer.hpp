#pragma once

// Starting and ending spans. A `Context` (tracer + current span) is the value passed down
// a call chain: the middleware puts the request's in the handler's RequestContext, the
// debate spec carries its creator's, the engine hands each agent call its phase's. A
// default Context (no tracer) makes every span a no-op, so code with tracing off pays a
// null check.
//
// Threads: Tracer is thread-safe (ids come from a per-thread generator; ended spans go to
// the SpanSink, which must be thread-safe). A Span is a value owned by one coroutine.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "trace/settings.hpp"
#include "trace/span.hpp"

namespace aragora::trace {

// Receives every ended span that was sampled. Must not block (see BatchExporter).
class SpanSink {
public:
    virtual ~SpanSink() = default;
    virtual void OnEnd(SpanData span) = 0;
};

// The sampling decision for a new span (pure). With `parent_based`, a valid parent's
// sampled flag decides; otherwise (and for a root) the root rule: always on, always off,
// or the trace id ratio (the trace id's last 8 bytes as a big-endian number below
// ratio × 2^64, so every service with the same ratio agrees on the same trace).
class Sampler {
public:
    explicit Sampler(SamplerSettings settings) : settings_(settings) {}
    bool ShouldSample(const SpanContext& parent, const TraceId& trace_id) const;

private:
    SamplerSettings settings_;
};

class Tracer;

struct Context {
    Tracer* tracer = nullptr;
    SpanContext span;  // the parent of spans started from this context (may be invalid)

    bool Active() const { return tracer != nullptr; }
};

// One operation. Ends when End() is called or when destroyed. Not recording (every call
// a no-op) when there is no tracer or the trace is not sampled; its context still carries
// the ids so a traceparent sent on is consistent.
class Span {
public:
    Span() = default;
    ~Span() { End(); }
    Span(Span&& other) noexcept;
    Span& operator=(Span&& other) noexcept;
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;

    bool Recording() const { return data_ != nullptr; }
    void SetAttribute(std::string_view key, std::string_view value);
    void SetAttribute(std::string_view key, const char* value) {
        SetAttribute(key, std::string_view(value));
    }
    void SetAttribute(std::string_view key, std::int64_t value);
    void SetAttribute(std::string_view key, int value) {
        SetAttribute(key, static_cast<std::int64_t>(value));
    }
    void SetAttribute(std::string_view key, double value);
    void SetAttribute(std::string_view key, bool value);
    void SetName(std::string_view name);
    void SetStatus(StatusCode code, std::string_view message = {});
    void End();

    const SpanContext& context() const { return context_; }
    // The context for children of this span (a no-op context when there is no tracer).
    Context ChildContext() const { return Context{tracer_, context_}; }
    // The trace id in hex, "" without a tracer: for log lines.
    std::string TraceIdHex() const;

private:
    friend class Tracer;
    void Put(std::string_view key, AttributeValue value);

    Tracer* tracer_ = nullptr;
    SpanContext context_;
    std::unique_ptr<SpanData> data_;
};

class Tracer {
public:
    // `clock` gives start and end times; `sink` receives ended sampled spans. Both must
    // outlive the tracer and every span it started.
    Tracer(SamplerSettings sampler, const common::Clock& clock, SpanSink& sink);

    // A new span under `parent` (a root when `parent` is invalid: new trace id).
    Span Start(std::string_view name, SpanKind kind, const SpanContext& parent);

private:
    friend class Span;
    void Finish(std::unique_ptr<SpanData> data);

    Sampler sampler_;
    const common::Clock& clock_;
    SpanSink& sink_;
};

// Starts a span under `parent`; a no-op span when `parent` has no tracer.
Span StartSpan(const Context& parent, std::string_view name, SpanKind kind = SpanKind::kInternal);

}  // namespace aragora::trace
