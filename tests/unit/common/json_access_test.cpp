#include "common/json_access.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cstdint>
#include <limits>

namespace aragora::common {
namespace {

namespace json = boost::json;

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

TEST(JsonAccessTest, AsInt64AcceptsIntegralNumbersInRange) {
    EXPECT_EQ(AsInt64(json::value(3)), 3);
    EXPECT_EQ(AsInt64(json::value(-3.0)), -3);
    EXPECT_EQ(AsInt64(json::parse("9223372036854775807")),
              std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(AsInt64(json::parse("-9223372036854775808")),
              std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(AsInt64(json::value(-9223372036854775808.0)),
              std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(AsInt64(json::parse("9223372036854775808")), std::nullopt);  // uint64
    EXPECT_EQ(AsInt64(json::value(9223372036854775808.0)), std::nullopt);
    EXPECT_EQ(AsInt64(json::value(3.5)), std::nullopt);
    EXPECT_EQ(AsInt64(json::parse("1e300")), std::nullopt);
    EXPECT_EQ(AsInt64(json::value("3")), std::nullopt);
    EXPECT_EQ(AsInt64(json::value(true)), std::nullopt);
    EXPECT_EQ(AsInt64(json::value(nullptr)), std::nullopt);
}

TEST(JsonAccessTest, AsDoubleAcceptsEveryNumber) {
    EXPECT_EQ(AsDouble(json::value(2)), 2.0);
    EXPECT_EQ(AsDouble(json::parse("18446744073709551615")), 18446744073709551615.0);
    EXPECT_EQ(AsDouble(json::value(0.25)), 0.25);
    EXPECT_EQ(AsDouble(json::value("0.25")), std::nullopt);
}

TEST(JsonAccessTest, TolerantGettersTreatWrongTypesAsAbsent) {
    const json::object o =
        Obj(R"({"s": "text", "n": 7, "d": 1.5, "z": null, "o": {"k": 1}, "a": [1, 2], "b": true})");
    EXPECT_EQ(FindField(o, "z"), nullptr);
    EXPECT_EQ(FindField(o, "missing"), nullptr);
    ASSERT_NE(FindField(o, "n"), nullptr);
    EXPECT_TRUE(FindField(o, "n")->is_int64());

    EXPECT_EQ(StringField(o, "s"), "text");
    EXPECT_EQ(StringField(o, "n"), std::nullopt);
    EXPECT_EQ(StringField(o, "z"), std::nullopt);
    EXPECT_EQ(StringFieldOr(o, "s"), "text");
    EXPECT_EQ(StringFieldOr(o, "b"), "");
    EXPECT_EQ(StringFieldOr(o, "missing", "fallback"), "fallback");

    EXPECT_EQ(Int64Field(o, "n"), 7);
    EXPECT_EQ(Int64Field(o, "d"), std::nullopt);
    EXPECT_EQ(Int64Field(o, "s"), std::nullopt);
    EXPECT_EQ(DoubleField(o, "d"), 1.5);
    EXPECT_EQ(DoubleField(o, "n"), 7.0);
    EXPECT_EQ(DoubleField(o, "z"), std::nullopt);

    EXPECT_EQ(ObjectFieldOrEmpty(o, "o").size(), 1u);
    EXPECT_TRUE(ObjectFieldOrEmpty(o, "a").empty());
    EXPECT_EQ(ArrayFieldOrEmpty(o, "a").size(), 2u);
    EXPECT_TRUE(ArrayFieldOrEmpty(o, "o").empty());
    EXPECT_TRUE(ArrayFieldOrEmpty(o, "missing").empty());
}

TEST(JsonAccessTest, OptionalStringFieldValidates) {
    const json::object o = Obj(R"({"name": "ab", "role": 3, "org": null})");
    auto name = OptionalStringField(o, "name", 2);
    ASSERT_TRUE(name.ok());
    EXPECT_EQ(*name, "ab");

    auto absent = OptionalStringField(o, "missing", 2);
    ASSERT_TRUE(absent.ok());
    EXPECT_EQ(*absent, std::nullopt);
    auto null = OptionalStringField(o, "org", 2);
    ASSERT_TRUE(null.ok());
    EXPECT_EQ(*null, std::nullopt);

    auto too_long = OptionalStringField(o, "name", 1);
    ASSERT_FALSE(too_long.ok());
    EXPECT_EQ(too_long.error().code, ErrorCode::kValidation);
    EXPECT_EQ(too_long.error().field, "name");
    EXPECT_EQ(too_long.error().message, "name must be at most 1 characters");

    auto wrong = OptionalStringField(o, "role", 10);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().message, "role must be a string");
    EXPECT_EQ(wrong.error().field, "role");
}

TEST(JsonAccessTest, RequiredStringFieldRefusesAbsentAndEmpty) {
    const json::object o = Obj(R"({"email": "a@b", "empty": "", "n": 1})");
    auto email = RequiredStringField(o, "email", 254);
    ASSERT_TRUE(email.ok());
    EXPECT_EQ(*email, "a@b");
    for (const char* key : {"empty", "missing"}) {
        auto r = RequiredStringField(o, key, 254);
        ASSERT_FALSE(r.ok()) << key;
        EXPECT_EQ(r.error().message, std::string(key) + " is required");
        EXPECT_EQ(r.error().field, key);
    }
    auto n = RequiredStringField(o, "n", 254);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.error().message, "n must be a string");
}

}  // namespace
}  // namespace aragora::common
