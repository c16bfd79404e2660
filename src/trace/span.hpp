#pragma once

// The span model of OpenTelemetry traces (W3C Trace Context ids, OTLP span fields), pure
// values: no I/O, no clock, no locks.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aragora::trace {

// 16 bytes; all zero is invalid.
struct TraceId {
    std::array<std::uint8_t, 16> bytes{};
    bool Valid() const;
    std::string Hex() const;  // 32 lowercase hex digits
    bool operator==(const TraceId&) const = default;
};

// 8 bytes; all zero is invalid (a root span's parent).
struct SpanId {
    std::array<std::uint8_t, 8> bytes{};
    bool Valid() const;
    std::string Hex() const;  // 16 lowercase hex digits
    bool operator==(const SpanId&) const = default;
};

// What crosses a process boundary (the `traceparent` header) or a call inside it.
struct SpanContext {
    TraceId trace_id;
    SpanId span_id;
    bool sampled = false;  // trace-flags bit 0
    bool remote = false;   // parsed from a traceparent header

    bool Valid() const { return trace_id.Valid() && span_id.Valid(); }
};

// W3C Trace Context `traceparent`: "00-<32 hex>-<16 hex>-<2 hex>". Version 00 must be
// exactly 55 characters; a higher version may carry more after a '-' (read as 00).
// Version ff, uppercase hex, all-zero ids or any other shape: nullopt (the request then
// starts a new trace, as the spec asks).
std::optional<SpanContext> ParseTraceparent(std::string_view header);
// "00-<trace>-<span>-01" (or -00 when not sampled). `context` must be valid.
std::string FormatTraceparent(const SpanContext& context);

enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3 };
enum class StatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

struct Attribute {
    std::string key;
    AttributeValue value;
};

// One finished span, as exported.
struct SpanData {
    TraceId trace_id;
    SpanId span_id;
    SpanId parent_span_id;  // invalid for a root span
    std::string name;
    SpanKind kind = SpanKind::kInternal;
    std::uint64_t start_unix_nano = 0;
    std::uint64_t end_unix_nano = 0;
    std::vector<Attribute> attributes;
    StatusCode status = StatusCode::kUnset;
    std::string status_message;
};

// Bounds per span: more attributes are dropped, longer string values are cut (the
// exported size of one span stays small whatever a caller passes).
inline constexpr std::size_t kMaxAttributesPerSpan = 32;
inline constexpr std::size_t kMaxAttributeValueBytes = 1024;

}  // namespace aragora::trace
