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
// separate reads (corpus/http_request_fuzz/regress_beast_last_chunk_split.http). The
// server decodes chunked bodies itself now, so this stays parsed in every split; Beast's
// parser still reads chunked responses in http_client.cpp, where the Debug handler
// (common/boost_assert.cpp) lets that one assertion pass.
TEST(RequestParseTest, LastChunkSplitAcrossReadsParses) {
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

// The outcome at once and in reads of every size from 1 to 16 bytes; they must agree.
RequestParseOutcome OutcomeInEverySplit(const std::string& bytes, const ServerLimits& limits,
                                        std::string* error = nullptr,
                                        std::size_t* consumed = nullptr) {
    const ParsedHttpRequest whole = ParseHttpRequestBytes(bytes, limits);
    for (std::size_t chunk = 1; chunk <= 16; ++chunk) {
        const ParsedHttpRequest split = ParseHttpRequestBytes(bytes, limits, chunk);
        EXPECT_EQ(split.outcome, whole.outcome) << "reads of " << chunk << ": " << split.error;
        EXPECT_EQ(split.consumed, whole.consumed) << "reads of " << chunk;
        EXPECT_EQ(split.error, whole.error) << "reads of " << chunk;
    }
    if (error) *error = whole.error;
    if (consumed) *consumed = whole.consumed;
    return whole.outcome;
}

// The http_request_fuzz finding of issue 18 (corpus/http_request_fuzz/
// regress_chunk_ext_split.http): a quoted chunk extension holding CR LF. Beast's chunk
// parser answered kIncomplete at once and kBodyTooLarge in reads of one byte.
TEST(RequestParseTest, ChunkExtensionFindingIsRefusedWhateverTheSplit) {
    const std::string bytes =
        "POST /api/v1/keceipts/verify444 HTTP/1.1\r\nHost: a\r\n"
        "Transfer-Encoding: chunked\r\nContent-TyApe: application/json\r\n\r\n"
        "7;ext=\"\r\n{H\n1\rost: }\rHost: \n0tion/jTransferson\r\n\r\nt\r\n\r\n";
    ServerLimits small;
    small.max_header_bytes = 512;
    small.max_body_bytes = 64;
    small.max_header_count = 8;
    for (const ServerLimits& limits : {ServerLimits{}, small}) {
        std::string error;
        EXPECT_EQ(OutcomeInEverySplit(bytes, limits, &error), RequestParseOutcome::kMalformed);
        EXPECT_EQ(error, "chunk extensions are not accepted");
    }
}

TEST(RequestParseTest, ChunkedBodyWithTrailersIsDecoded) {
    const std::string request =
        "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
    const std::string next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    std::size_t consumed = 0;
    EXPECT_EQ(OutcomeInEverySplit(request + next, {}, nullptr, &consumed),
              RequestParseOutcome::kComplete);
    EXPECT_EQ(consumed, request.size());
    const ParsedHttpRequest parsed = ParseHttpRequestBytes(request + next, {}, 3);
    EXPECT_EQ(parsed.request.body, "abcde");
    EXPECT_TRUE(parsed.keep_alive);
    // Transfer-Encoding stays among the headers handlers see; the body is decoded.
    EXPECT_EQ(parsed.request.Header("transfer-encoding"), "chunked");
}

// RFC 9112 §6.1: only `Transfer-Encoding: chunked` frames a request; any other coding, or
// one with Content-Length, is refused after the header, consuming none of the body, so
// the bytes after it (a smuggled request) are never parsed.
TEST(RequestParseTest, TransferEncodingOtherThanChunkedIsRefused) {
    const std::string smuggled =
        "2a\r\nGET /api/v1/nonexistent-smuggled HTTP/1.1\r\nHost: x\r\n"
        "Connection: close\r\n\r\n";
    for (const std::string framing : {
             "Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n",
             "Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n",
             "Transfer-Encoding: identity\r\nContent-Length: 4\r\n",
             "Transfer-Encoding: xchunked\r\n",
             "Transfer-Encoding: identity\r\n",
             "Transfer-Encoding: gzip, chunked\r\n",
             "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
             "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
             "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
             "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
             "Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n",
         }) {
        const std::string header =
            "POST /api/v1/receipts/verify HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n";
        std::size_t consumed = 0;
        EXPECT_EQ(OutcomeInEverySplit(header + smuggled, {}, nullptr, &consumed),
                  RequestParseOutcome::kMalformed)
            << framing;
        EXPECT_LE(consumed, header.size()) << framing;
    }
    // In HTTP/1.0 Transfer-Encoding is faulty framing (RFC 9112 §6.1).
    std::string error;
    EXPECT_EQ(OutcomeInEverySplit("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "0\r\n\r\n",
                                  {}, &error),
              RequestParseOutcome::kMalformed);
    EXPECT_NE(error.find("Transfer-Encoding"), std::string::npos) << error;
    // Exactly `chunked` (any case, surrounding spaces) is accepted.
    EXPECT_EQ(OutcomeInEverySplit("POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n"
                                  "0\r\n\r\n",
                                  {}),
              RequestParseOutcome::kComplete);
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
