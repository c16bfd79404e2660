#include "trace/tracer.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace aragora::trace {
namespace {

struct Recorder final : SpanSink {
    std::vector<SpanData> spans;
    void OnEnd(SpanData span) override { spans.push_back(std::move(span)); }
};

SamplerSettings AlwaysOn() { return {SamplerKind::kAlwaysOn, true, 1.0}; }

TEST(Tracer, ChildSpansShareTheTraceAndNameTheirParent) {
    common::ManualClock clock;
    Recorder sink;
    Tracer tracer(AlwaysOn(), clock, sink);
    Context root{&tracer, {}};
    {
        Span request = StartSpan(root, "POST /api/debates", SpanKind::kServer);
        clock.Advance(std::chrono::milliseconds(2));
        {
            Span debate = StartSpan(request.ChildContext(), "debate");
            debate.SetAttribute("debate.id", "d1");
            debate.SetAttribute("debate.rounds", 3);
            clock.Advance(std::chrono::milliseconds(5));
        }
        request.SetAttribute("http.response.status_code", 201);
    }
    ASSERT_EQ(sink.spans.size(), 2u);
    const SpanData& debate = sink.spans[0];
    const SpanData& request = sink.spans[1];
    EXPECT_EQ(request.name, "POST /api/debates");
    EXPECT_EQ(request.kind, SpanKind::kServer);
    EXPECT_FALSE(request.parent_span_id.Valid());
    EXPECT_TRUE(request.trace_id.Valid());
    EXPECT_EQ(debate.trace_id, request.trace_id);
    EXPECT_EQ(debate.parent_span_id, request.span_id);
    EXPECT_NE(debate.span_id, request.span_id);
    EXPECT_EQ(debate.end_unix_nano - debate.start_unix_nano, 5'000'000u);
    EXPECT_EQ(request.end_unix_nano - request.start_unix_nano, 7'000'000u);
    ASSERT_EQ(debate.attributes.size(), 2u);
    EXPECT_EQ(std::get<std::string>(debate.attributes[0].value), "d1");
    EXPECT_EQ(std::get<std::int64_t>(debate.attributes[1].value), 3);
}

TEST(Tracer, ARemoteParentContinuesItsTrace) {
    common::ManualClock clock;
    Recorder sink;
    Tracer tracer(AlwaysOn(), clock, sink);
    auto remote = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ASSERT_TRUE(remote);
    { Span s = StartSpan(Context{&tracer, *remote}, "GET /x", SpanKind::kServer); }
    ASSERT_EQ(sink.spans.size(), 1u);
    EXPECT_EQ(sink.spans[0].trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(sink.spans[0].parent_span_id.Hex(), "00f067aa0ba902b7");
}

TEST(Tracer, AnUnsampledParentIsFollowedAndStillPropagatesIds) {
    common::ManualClock clock;
    Recorder sink;
    Tracer tracer(AlwaysOn(), clock, sink);
    auto remote = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    Span s = StartSpan(Context{&tracer, *remote}, "GET /x", SpanKind::kServer);
    EXPECT_FALSE(s.Recording());
    EXPECT_EQ(s.context().trace_id.Hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_FALSE(s.context().sampled);
    Span child = StartSpan(s.ChildContext(), "child");
    EXPECT_FALSE(child.Recording());
    s.End();
    child.End();
    EXPECT_TRUE(sink.spans.empty());
}

TEST(Tracer, NoTracerMeansNoOpSpans) {
    Span s = StartSpan(Context{}, "x");
    EXPECT_FALSE(s.Recording());
    EXPECT_FALSE(s.context().Valid());
    EXPECT_EQ(s.TraceIdHex(), "");
    EXPECT_FALSE(s.ChildContext().Active());
    s.SetAttribute("k", "v");  // harmless
}

TEST(Tracer, AttributesAreBoundedAndErrorsKeepTheirMessage) {
    common::ManualClock clock;
    Recorder sink;
    Tracer tracer(AlwaysOn(), clock, sink);
    {
        Span s = StartSpan(Context{&tracer, {}}, "x");
        for (int i = 0; i < 100; ++i) s.SetAttribute("k" + std::to_string(i), i);
        s.SetAttribute("k0", std::string(5000, 'a'));  // overwrite, cut
        s.SetStatus(StatusCode::kError, "boom");
    }
    ASSERT_EQ(sink.spans.size(), 1u);
    EXPECT_EQ(sink.spans[0].attributes.size(), kMaxAttributesPerSpan);
    EXPECT_EQ(std::get<std::string>(sink.spans[0].attributes[0].value).size(),
              kMaxAttributeValueBytes);
    EXPECT_EQ(sink.spans[0].status, StatusCode::kError);
    EXPECT_EQ(sink.spans[0].status_message, "boom");
}

TEST(Tracer, MovedSpansEndOnce) {
    common::ManualClock clock;
    Recorder sink;
    Tracer tracer(AlwaysOn(), clock, sink);
    {
        Span a = StartSpan(Context{&tracer, {}}, "a");
        Span b = std::move(a);
        Span c;
        c = std::move(b);
    }
    EXPECT_EQ(sink.spans.size(), 1u);
}

TraceId IdWithLow(std::uint64_t low) {
    TraceId t;
    t.bytes[0] = 1;
    for (int i = 0; i < 8; ++i) t.bytes[15 - i] = static_cast<std::uint8_t>(low >> (8 * i));
    return t;
}

TEST(Sampler, RatioComparesTheTraceIdsLowBytes) {
    Sampler tenth({SamplerKind::kTraceIdRatio, false, 0.1});
    const SpanContext none;
    EXPECT_TRUE(tenth.ShouldSample(none, IdWithLow(0)));
    EXPECT_TRUE(tenth.ShouldSample(none, IdWithLow(0x1999999999999000ULL)));  // < 0.1 * 2^64
    EXPECT_FALSE(tenth.ShouldSample(none, IdWithLow(0x1A00000000000000ULL)));
    EXPECT_FALSE(tenth.ShouldSample(none, IdWithLow(~0ULL)));
    int sampled = 0;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        sampled += tenth.ShouldSample(none, IdWithLow(i * 18446744073709551ULL)) ? 1 : 0;
    }
    EXPECT_GE(sampled, 100);  // i = 0..100 fall below 0.1 × 2^64 with this step
    EXPECT_LE(sampled, 101);
}

TEST(Sampler, ParentBasedFollowsTheParentOnly) {
    Sampler off_root({SamplerKind::kAlwaysOff, true, 0});
    SpanContext parent;
    parent.trace_id = IdWithLow(1);
    parent.span_id.bytes[0] = 1;
    parent.sampled = true;
    EXPECT_TRUE(off_root.ShouldSample(parent, parent.trace_id));
    EXPECT_FALSE(off_root.ShouldSample(SpanContext{}, parent.trace_id));
    Sampler on_not_parent_based({SamplerKind::kAlwaysOn, false, 1});
    parent.sampled = false;
    EXPECT_TRUE(on_not_parent_based.ShouldSample(parent, parent.trace_id));
}

}  // namespace
}  // namespace aragora::trace
