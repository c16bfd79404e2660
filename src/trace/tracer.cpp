#include "trace/tracer.hpp"

#include <algorithm>
#include <chrono>
#include <random>

namespace aragora::trace {
namespace {

std::uint64_t UnixNanos(std::chrono::system_clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::mt19937_64& Generator() {
    thread_local std::mt19937_64 gen([] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd()};
        return std::mt19937_64(seq);
    }());
    return gen;
}

template <std::size_t N>
void FillRandom(std::array<std::uint8_t, N>& bytes) {
    do {
        for (std::size_t i = 0; i < N; i += 8) {
            std::uint64_t r = Generator()();
            for (std::size_t j = 0; j < 8 && i + j < N; ++j) {
                bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
            }
        }
    } while (std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; }));
}

std::string Cut(std::string_view value) {
    return std::string(value.substr(0, kMaxAttributeValueBytes));
}

}  // namespace

bool Sampler::ShouldSample(const SpanContext& parent, const TraceId& trace_id) const {
    if (settings_.parent_based && parent.Valid()) return parent.sampled;
    switch (settings_.root) {
        case SamplerKind::kAlwaysOn:
            return true;
        case SamplerKind::kAlwaysOff:
            return false;
        case SamplerKind::kTraceIdRatio: {
            if (settings_.ratio >= 1.0) return true;
            if (settings_.ratio <= 0.0) return false;
            std::uint64_t low = 0;
            for (std::size_t i = 8; i < 16; ++i) low = (low << 8) | trace_id.bytes[i];
            const auto bound = static_cast<std::uint64_t>(settings_.ratio * 18446744073709551615.0);
            return low < bound;
        }
    }
    return false;
}

Span::Span(Span&& other) noexcept
    : tracer_(other.tracer_), context_(other.context_), data_(std::move(other.data_)) {
    other.tracer_ = nullptr;
}

Span& Span::operator=(Span&& other) noexcept {
    if (this != &other) {
        End();
        tracer_ = other.tracer_;
        context_ = other.context_;
        data_ = std::move(other.data_);
        other.tracer_ = nullptr;
    }
    return *this;
}

void Span::Put(std::string_view key, AttributeValue value) {
    if (!data_) return;
    for (auto& a : data_->attributes) {
        if (a.key == key) {
            a.value = std::move(value);
            return;
        }
    }
    if (data_->attributes.size() >= kMaxAttributesPerSpan) return;
    data_->attributes.push_back(Attribute{std::string(key), std::move(value)});
}

void Span::SetAttribute(std::string_view key, std::string_view value) {
    if (data_) Put(key, Cut(value));
}
void Span::SetAttribute(std::string_view key, std::int64_t value) { Put(key, value); }
void Span::SetAttribute(std::string_view key, double value) { Put(key, value); }
void Span::SetAttribute(std::string_view key, bool value) { Put(key, value); }

void Span::SetName(std::string_view name) {
    if (data_) data_->name = Cut(name);
}

void Span::SetStatus(StatusCode code, std::string_view message) {
    if (!data_) return;
    data_->status = code;
    data_->status_message = code == StatusCode::kError ? Cut(message) : std::string();
}

void Span::End() {
    if (data_ && tracer_ != nullptr) tracer_->Finish(std::move(data_));
    data_.reset();
}

std::string Span::TraceIdHex() const {
    return tracer_ != nullptr && context_.trace_id.Valid() ? context_.trace_id.Hex()
                                                           : std::string();
}

Tracer::Tracer(SamplerSettings sampler, const common::Clock& clock, SpanSink& sink)
    : sampler_(sampler), clock_(clock), sink_(sink) {}

Span Tracer::Start(std::string_view name, SpanKind kind, const SpanContext& parent) {
    Span span;
    span.tracer_ = this;
    if (parent.Valid()) {
        span.context_.trace_id = parent.trace_id;
    } else {
        FillRandom(span.context_.trace_id.bytes);
    }
    FillRandom(span.context_.span_id.bytes);
    span.context_.sampled = sampler_.ShouldSample(parent, span.context_.trace_id);
    if (!span.context_.sampled) return span;
    auto data = std::make_unique<SpanData>();
    data->trace_id = span.context_.trace_id;
    data->span_id = span.context_.span_id;
    if (parent.Valid()) data->parent_span_id = parent.span_id;
    data->name = Cut(name);
    data->kind = kind;
    data->start_unix_nano = UnixNanos(clock_.SystemNow());
    span.data_ = std::move(data);
    return span;
}

void Tracer::Finish(std::unique_ptr<SpanData> data) {
    data->end_unix_nano = std::max(data->start_unix_nano, UnixNanos(clock_.SystemNow()));
    sink_.OnEnd(std::move(*data));
}

Span StartSpan(const Context& parent, std::string_view name, SpanKind kind) {
    if (parent.tracer == nullptr) return Span();
    return parent.tracer->Start(name, kind, parent.span);
}

}  // namespace aragora::trace
