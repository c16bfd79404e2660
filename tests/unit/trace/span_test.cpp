#include "trace/span.hpp"

#include <gtest/gtest.h>

namespace aragora::trace {
namespace {

constexpr const char* kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesTheSpecExample) {
    auto ctx = ParseTraceparent(kExample);
    ASSERT_TRUE(ctx.has_value());
    EXPECT_EQ(ctx->trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(ctx->span_id.Hex(), "00f067aa0ba902b7");
    EXPECT_TRUE(ctx->sampled);
    EXPECT_TRUE(ctx->remote);
    EXPECT_EQ(FormatTraceparent(*ctx), kExample);
}

TEST(Traceparent, NotSampledFlagRoundTrips) {
    auto ctx = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    ASSERT_TRUE(ctx.has_value());
    EXPECT_FALSE(ctx->sampled);
    EXPECT_EQ(FormatTraceparent(*ctx), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST(Traceparent, OtherFlagBitsAreIgnoredButBitZeroCounts) {
    auto ctx = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
    ASSERT_TRUE(ctx.has_value());
    EXPECT_TRUE(ctx->sampled);
}

TEST(Traceparent, AFutureVersionMayCarryMoreFields) {
    auto ctx =
        ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future");
    ASSERT_TRUE(ctx.has_value());
    EXPECT_EQ(ctx->span_id.Hex(), "00f067aa0ba902b7");
}

TEST(Traceparent, RefusesMalformedHeaders) {
    for (const char* bad : {
             "",
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 + extra
             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
             "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
             "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
             "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
             "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   // v>00, no '-'
         }) {
        EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
    }
}

TEST(Traceparent, SurroundingWhitespaceIsAllowed) {
    EXPECT_TRUE(ParseTraceparent(std::string(" ") + kExample + "\t").has_value());
}

TEST(Ids, ValidityAndHex) {
    TraceId t;
    EXPECT_FALSE(t.Valid());
    t.bytes[15] = 0xab;
    EXPECT_TRUE(t.Valid());
    EXPECT_EQ(t.Hex(), "000000000000000000000000000000ab");
    SpanId s;
    EXPECT_FALSE(s.Valid());
    s.bytes[0] = 0x10;
    EXPECT_EQ(s.Hex(), "1000000000000000");
}

}  // namespace
}  // namespace aragora::trace
