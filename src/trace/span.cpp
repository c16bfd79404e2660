#include "trace/span.hpp"

#include <algorithm>

namespace aragora::trace {
namespace {

constexpr char kHex[] = "0123456789abcdef";

template <std::size_t N>
std::string ToHex(const std::array<std::uint8_t, N>& bytes) {
    std::string out;
    out.reserve(2 * N);
    for (std::uint8_t b : bytes) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0xF]);
    }
    return out;
}

int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // uppercase is invalid in traceparent
}

template <std::size_t N>
bool FromHex(std::string_view text, std::array<std::uint8_t, N>& out) {
    if (text.size() != 2 * N) return false;
    for (std::size_t i = 0; i < N; ++i) {
        int hi = HexDigit(text[2 * i]);
        int lo = HexDigit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

template <std::size_t N>
bool AnyNonZero(const std::array<std::uint8_t, N>& bytes) {
    return std::any_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b != 0; });
}

}  // namespace

bool TraceId::Valid() const { return AnyNonZero(bytes); }
std::string TraceId::Hex() const { return ToHex(bytes); }
bool SpanId::Valid() const { return AnyNonZero(bytes); }
std::string SpanId::Hex() const { return ToHex(bytes); }

std::optional<SpanContext> ParseTraceparent(std::string_view header) {
    // Leading/trailing optional whitespace is allowed around a header value.
    while (!header.empty() && (header.front() == ' ' || header.front() == '\t'))
        header.remove_prefix(1);
    while (!header.empty() && (header.back() == ' ' || header.back() == '\t'))
        header.remove_suffix(1);
    if (header.size() < 55) return std::nullopt;
    std::array<std::uint8_t, 1> version{};
    if (!FromHex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
    if (version[0] == 0 && header.size() != 55) return std::nullopt;
    if (header.size() > 55 && header[55] != '-') return std::nullopt;
    if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
    SpanContext ctx;
    std::array<std::uint8_t, 1> flags{};
    if (!FromHex(header.substr(3, 32), ctx.trace_id.bytes) ||
        !FromHex(header.substr(36, 16), ctx.span_id.bytes) ||
        !FromHex(header.substr(53, 2), flags)) {
        return std::nullopt;
    }
    if (!ctx.Valid()) return std::nullopt;
    ctx.sampled = (flags[0] & 0x01) != 0;
    ctx.remote = true;
    return ctx;
}

std::string FormatTraceparent(const SpanContext& context) {
    return "00-" + context.trace_id.Hex() + "-" + context.span_id.Hex() +
           (context.sampled ? "-01" : "-00");
}

}  // namespace aragora::trace
