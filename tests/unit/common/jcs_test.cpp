#include "common/jcs.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <cstdint>
#include <string>

namespace aragora::common {
namespace {

std::string Canon(std::string_view json) {
    auto r = CanonicalizeJson(json);
    EXPECT_TRUE(r.ok()) << json << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : std::string("<error>");
}

// Canonical form of the double with the given IEEE 754 bits (RFC 8785 Appendix B).
std::string CanonDoubleBits(std::uint64_t bits) {
    double d = std::bit_cast<double>(bits);
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, d);  // shortest round trip
    std::string json = "[" + std::string(buf, res.ptr) + "]";
    std::string out = Canon(json);
    return out.size() >= 2 ? out.substr(1, out.size() - 2) : out;
}

TEST(JcsTest, Rfc8785MainExample) {
    const char* input = R"({
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
})";
    EXPECT_EQ(Canon(input),
              "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,"
              "1e-27],\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(JcsTest, Rfc8785SortsKeysByUtf16CodeUnits) {
    const char* input = R"({
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
})";
    // The emoji (surrogates D83D DE00) sorts before U+FB33, unlike code point order.
    EXPECT_EQ(Canon(input),
              "{\"\\r\":\"Carriage Return\","
              "\"1\":\"One\","
              "\"\xC2\x80\":\"Control\","
              "\"\xC3\xB6\":\"Latin Small Letter O With Diaeresis\","
              "\"\xE2\x82\xAC\":\"Euro Sign\","
              "\"\xF0\x9F\x98\x80\":\"Emoji: Grinning Face\","
              "\"\xEF\xAC\xB3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

TEST(JcsTest, Rfc8785AppendixBNumbers) {
    EXPECT_EQ(CanonDoubleBits(0x0000000000000000), "0");
    EXPECT_EQ(CanonDoubleBits(0x8000000000000000), "0");
    EXPECT_EQ(CanonDoubleBits(0x0000000000000001), "5e-324");
    EXPECT_EQ(CanonDoubleBits(0x8000000000000001), "-5e-324");
    EXPECT_EQ(CanonDoubleBits(0x7fefffffffffffff), "1.7976931348623157e+308");
    EXPECT_EQ(CanonDoubleBits(0xffefffffffffffff), "-1.7976931348623157e+308");
    EXPECT_EQ(CanonDoubleBits(0x4340000000000000), "9007199254740992");
    EXPECT_EQ(CanonDoubleBits(0xc340000000000000), "-9007199254740992");
    EXPECT_EQ(CanonDoubleBits(0x4430000000000000), "295147905179352830000");
    EXPECT_EQ(CanonDoubleBits(0x44b52d02c7e14af5), "9.999999999999997e+22");
    EXPECT_EQ(CanonDoubleBits(0x44b52d02c7e14af6), "1e+23");
    EXPECT_EQ(CanonDoubleBits(0x44b52d02c7e14af7), "1.0000000000000001e+23");
    EXPECT_EQ(CanonDoubleBits(0x444b1ae4d6e2ef4e), "999999999999999700000");
    EXPECT_EQ(CanonDoubleBits(0x444b1ae4d6e2ef4f), "999999999999999900000");
    EXPECT_EQ(CanonDoubleBits(0x444b1ae4d6e2ef50), "1e+21");
    EXPECT_EQ(CanonDoubleBits(0x3eb0c6f7a0b5ed8c), "9.999999999999997e-7");
    EXPECT_EQ(CanonDoubleBits(0x3eb0c6f7a0b5ed8d), "0.000001");
    EXPECT_EQ(CanonDoubleBits(0x41b3de4355555553), "333333333.3333332");
    EXPECT_EQ(CanonDoubleBits(0x41b3de4355555554), "333333333.33333325");
    EXPECT_EQ(CanonDoubleBits(0x41b3de4355555555), "333333333.3333333");
    EXPECT_EQ(CanonDoubleBits(0x41b3de4355555556), "333333333.3333334");
    EXPECT_EQ(CanonDoubleBits(0x41b3de4355555557), "333333333.33333343");
    EXPECT_EQ(CanonDoubleBits(0xbecbf647612f3696), "-0.0000033333333333333333");
    EXPECT_EQ(CanonDoubleBits(0x43143ff3c1cb0959), "1424953923781206.2");
}

TEST(JcsTest, NumbersFromTextFollowEcmaScript) {
    EXPECT_EQ(Canon("[1e30,4.50,2e-3,0.000001,1e-7,1e21,1e20,-0,-0.0,0.0]"),
              "[1e+30,4.5,0.002,0.000001,1e-7,1e+21,100000000000000000000,0,0,0]");
    EXPECT_EQ(Canon("[333333333.33333329]"), "[333333333.3333333]");
    EXPECT_EQ(Canon("[1,1.0,100,-42,1E2,12.5e-1]"), "[1,1,100,-42,100,1.25]");
    // Integers are IEEE doubles too: beyond 2^53 they round.
    EXPECT_EQ(Canon("[9007199254740992,9007199254740993,-9007199254740993]"),
              "[9007199254740992,9007199254740992,-9007199254740992]");
    EXPECT_EQ(Canon("[18446744073709551615,123456789012345678901234567890]"),
              "[18446744073709552000,1.2345678901234568e+29]");
    EXPECT_EQ(Canon("[0.1,0.7,0.30000000000000004,0.6666666666666666]"),
              "[0.1,0.7,0.30000000000000004,0.6666666666666666]");
    EXPECT_EQ(Canon("[1e-400,-1e-400]"), "[0,0]");  // underflow reads as zero, as in ES
}

TEST(JcsTest, NonFiniteNumbersAreErrors) {
    EXPECT_FALSE(CanonicalizeJson("[1e400]").ok());
    EXPECT_FALSE(CanonicalizeJson("[-1e309]").ok());
    EXPECT_FALSE(CanonicalizeJson("[NaN]").ok());
    EXPECT_FALSE(CanonicalizeJson("[Infinity]").ok());
}

TEST(JcsTest, StringEscaping) {
    EXPECT_EQ(Canon(R"(["\b\t\n\f\r", "\u0000\u0001\u001f", "\"\\", "\/", "\u007f"])"),
              "[\"\\b\\t\\n\\f\\r\",\"\\u0000\\u0001\\u001f\",\"\\\"\\\\\",\"/\",\"\x7f\"]");
    // Non-ASCII stays raw UTF-8 whether it came escaped or not.
    EXPECT_EQ(Canon(R"(["\u00e9", "é", "\ud83d\ude00", "<script>"])"),
              "[\"\xC3\xA9\",\"\xC3\xA9\",\"\xF0\x9F\x98\x80\",\"<script>\"]");
}

TEST(JcsTest, NestedStructuresAndWhitespace) {
    EXPECT_EQ(Canon(" {\n\t\"b\" : [ 1 , { \"z\" : null , \"a\" : [ ] } ] ,\r\n \"a\" : { } } \n"),
              "{\"a\":{},\"b\":[1,{\"a\":[],\"z\":null}]}");
    EXPECT_EQ(Canon("\"top\""), "\"top\"");
    EXPECT_EQ(Canon("true"), "true");
    EXPECT_EQ(Canon("[[[]]]"), "[[[]]]");
    // Keys compare as whole code unit sequences: a prefix sorts first.
    EXPECT_EQ(Canon(R"({"ab":1,"a":2,"B":3,"":4})"), R"({"":4,"B":3,"a":2,"ab":1})");
}

TEST(JcsTest, IsIdempotent) {
    std::string once = Canon(R"({"z":[1.50,"x\u0001"],"a":{"y":1e21,"b":true}})");
    EXPECT_EQ(Canon(once), once);
}

TEST(JcsTest, MalformedInputIsAnError) {
    for (const char* bad :
         {"", "   ", "{", "[1,]", "{\"a\":1,}", "01", "1 2", "{} x", "[1]]", "{'a':1}", "{\"a\" 1}",
          "tru", "\"unterminated", "\"\xff\"", "\"\\ud800\"", "// c\n1", "\"\\x41\""}) {
        auto r = CanonicalizeJson(bad);
        EXPECT_FALSE(r.ok()) << "accepted: " << bad;
        if (!r.ok()) {
            EXPECT_EQ(r.error().code, ErrorCode::kBadRequest);
        }
    }
}

TEST(JcsTest, DuplicateKeysAreRejected) {
    auto r = CanonicalizeJson(R"({"a":1,"b":2,"a":3})");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("duplicate key \"a\""), std::string::npos)
        << r.error().message;
    // The same name in different objects is fine.
    EXPECT_EQ(Canon(R"({"a":{"a":1},"b":{"a":2}})"), R"({"a":{"a":1},"b":{"a":2}})");
}

TEST(JcsTest, DeepNestingIsRejected) {
    std::string deep(100, '[');
    deep += std::string(100, ']');
    EXPECT_FALSE(CanonicalizeJson(deep).ok());
}

TEST(JcsTest, ObjectWithoutOmitsOnlyTopLevelMembers) {
    auto r = CanonicalizeJsonObjectWithout(R"({"sig":"x","b":{"sig":"kept"},"a":1,"checksum":"c"})",
                                           {"sig", "checksum"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, R"({"a":1,"b":{"sig":"kept"}})");
    EXPECT_FALSE(CanonicalizeJsonObjectWithout("[1]", {"a"}).ok());
    EXPECT_FALSE(CanonicalizeJsonObjectWithout("{", {"a"}).ok());
    EXPECT_EQ(*CanonicalizeJsonObjectWithout(R"({"a":1})", {"a"}), "{}");
}

}  // namespace
}  // namespace aragora::common
