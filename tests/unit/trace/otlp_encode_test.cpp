#include "trace/otlp_encode.hpp"

#include <gtest/gtest.h>

namespace aragora::trace {
namespace {

std::string Hex(const std::string& bytes) {
    static const char* k = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(k[c >> 4]);
        out.push_back(k[c & 15]);
    }
    return out;
}

TEST(ProtoWriter, VarintsAndTags) {
    ProtoWriter w;
    w.Varint(1);
    w.Varint(300);
    w.Varint(~0ULL);
    EXPECT_EQ(Hex(w.bytes()), "01ac02ffffffffffffffffff01");
    ProtoWriter f;
    f.VarintField(6, 2);   // kind = SERVER
    f.VarintField(3, 0);   // proto3 default: omitted
    f.Fixed64Field(7, 1);  // start_time_unix_nano
    f.BytesField(5, "hi");
    EXPECT_EQ(Hex(f.bytes()),
              "3002"
              "390100000000000000"
              "2a026869");
}

TEST(ProtoWriter, NestedMessagesAreLengthDelimited) {
    ProtoWriter w;
    w.Message(15, [](ProtoWriter& st) { st.VarintField(3, 2); });
    EXPECT_EQ(Hex(w.bytes()), "7a021802");  // field 15 wire 2 = 0x7a, len 2, code=ERROR
    ProtoWriter d;
    d.DoubleField(4, 1.0);
    EXPECT_EQ(Hex(d.bytes()), "21000000000000f03f");
}

TEST(EncodeExportRequest, StartsWithResourceSpansAndHoldsEveryIdVerbatim) {
    SpanData s;
    s.trace_id.bytes.fill(0x11);
    s.span_id.bytes.fill(0x22);
    s.name = "debate";
    s.kind = SpanKind::kInternal;
    s.start_unix_nano = 1;
    s.end_unix_nano = 2;
    s.attributes.push_back({"debate.id", std::string("d1")});
    const std::string bytes = EncodeExportRequest({"aragora", "", ""}, {s});
    ASSERT_FALSE(bytes.empty());
    EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x0a);  // field 1, length-delimited
    const std::string hex = Hex(bytes);
    EXPECT_NE(hex.find("0a10" + std::string(32, '1') + "1208" + std::string(16, '2')),
              std::string::npos);
    EXPECT_NE(bytes.find("service.name"), std::string::npos);
    EXPECT_NE(bytes.find("debate.id"), std::string::npos);
    // A root span has no parent_span_id field (4, wire 2 = 0x22 right after the span id).
    EXPECT_EQ(hex.find("1208" + std::string(16, '2') + "22"), std::string::npos);
}

}  // namespace
}  // namespace aragora::trace
