#include "net/request_parse.hpp"

#include <gtest/gtest.h>

#include <boost/assert.hpp>
#include <string>

#include "common/boost_assert.hpp"

namespace aragora::net {
namespace {

constexpr const char* kChunkedEmpty =
    "POST /api/v1/receipts/verify HTTP/1.1\r\n"
    "Host: x\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "0\r\n"
    "\r\n";

TEST(RequestParseTest, ParsesARequestAtOnce) {
    const ParsedHttpRequest parsed =
        ParseHttpRequestBytes("GET /api/v1/debates?limit=2 HTTP/1.1\r\nHost: x\r\n\r\n", {});
    ASSERT_EQ(parsed.outcome, RequestParseOutcome::kComplete) << parsed.error;
    EXPECT_EQ(parsed.request.path, "/api/v1/debates");
    EXPECT_TRUE(parsed.keep_alive);
}

// Boost 1.81 Beast asserts `n >= 5` when the last chunk and the next byte arrive in
// separate reads; the Debug handler (common/boost_assert.cpp) lets that one pass, so a
// Debug server is not aborted by such a client. Without it this test aborts.
TEST(RequestParseTest, LastChunkSplitAcrossReadsParsesInDebugBuilds) {
    for (std::size_t chunk = 1; chunk <= 8; ++chunk) {
        const ParsedHttpRequest parsed = ParseHttpRequestBytes(kChunkedEmpty, {}, chunk);
        ASSERT_EQ(parsed.outcome, RequestParseOutcome::kComplete)
            << "reads of " << chunk << ": " << parsed.error;
        EXPECT_EQ(parsed.request.body, "");
        EXPECT_EQ(parsed.consumed, std::string(kChunkedEmpty).size());
    }
}

TEST(RequestParseTest, HeaderSectionOverTheLimitIs431) {
    ServerLimits limits;
    limits.max_header_bytes = 64;
    const std::string request =
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(200, 'a') + "\r\n\r\n";
    EXPECT_EQ(ParseHttpRequestBytes(request, limits).outcome, RequestParseOutcome::kHeaderTooLarge);
}

TEST(BoostAssertTest, OnlyTheKnownBeastAssertionIsTolerated) {
    EXPECT_TRUE(common::IsKnownFalseBoostAssertion(
        "n >= 5", "/usr/include/boost/beast/http/impl/basic_parser.ipp"));
    EXPECT_FALSE(common::IsKnownFalseBoostAssertion(
        "n >= 4", "/usr/include/boost/beast/http/impl/basic_parser.ipp"));
    EXPECT_FALSE(common::IsKnownFalseBoostAssertion(
        "n >= 5", "/usr/include/boost/beast/http/impl/serializer.hpp"));
    EXPECT_FALSE(common::IsKnownFalseBoostAssertion(nullptr, nullptr));
}

#ifndef NDEBUG  // the handler is only installed in Debug builds
TEST(BoostAssertDeathTest, AnyOtherFailedAssertionAborts) {
    EXPECT_DEATH(boost::assertion_failed("x > 0", "f", "some/file.hpp", 1), "Assertion `x > 0'");
}
#endif

}  // namespace
}  // namespace aragora::net
