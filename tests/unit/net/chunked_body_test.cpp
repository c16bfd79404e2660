#include "net/detail/chunked_body.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aragora::net::detail {
namespace {

using State = ChunkedBodyDecoder::State;

struct Decoded {
    State state = State::kNeedMore;
    std::size_t consumed = 0;
    std::string body;
    std::string error;
    bool operator==(const Decoded&) const = default;
};

// Feeds `bytes` in pieces whose sizes repeat `pieces`, each call given everything received
// and not consumed yet (as the server hands over its buffer).
Decoded Decode(std::string_view bytes, const std::vector<std::size_t>& pieces,
               std::size_t max_body = 1024, std::size_t max_trailer = 64) {
    ChunkedBodyDecoder decoder(max_body, max_trailer);
    Decoded out;
    std::size_t received = 0;
    for (std::size_t i = 0; decoder.state() == State::kNeedMore && received < bytes.size(); ++i) {
        received = std::min(bytes.size(), received + pieces[i % pieces.size()]);
        out.consumed += decoder.Feed(bytes.substr(out.consumed, received - out.consumed), out.body);
    }
    out.state = decoder.state();
    out.error = std::string(decoder.error());
    return out;
}

Decoded DecodeAtOnce(std::string_view bytes, std::size_t max_body = 1024,
                     std::size_t max_trailer = 64) {
    return Decode(bytes, {bytes.size() + 1}, max_body, max_trailer);
}

// The outcome, the bytes consumed and the body are the same for every way of splitting.
void ExpectSplitIndependent(std::string_view bytes, std::size_t max_body = 1024,
                            std::size_t max_trailer = 64) {
    const Decoded whole = DecodeAtOnce(bytes, max_body, max_trailer);
    for (std::size_t piece = 1; piece <= bytes.size(); ++piece) {
        EXPECT_EQ(Decode(bytes, {piece}, max_body, max_trailer), whole) << "pieces of " << piece;
    }
    EXPECT_EQ(Decode(bytes, {1, 3, 2, 7}, max_body, max_trailer), whole);
    EXPECT_EQ(Decode(bytes, {5, 1}, max_body, max_trailer), whole);
}

TEST(ChunkedBodyTest, DecodesChunksAndLeavesTheNextRequest) {
    const std::string body = "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
    const std::string next = "GET / HTTP/1.1\r\n\r\n";
    const Decoded d = DecodeAtOnce(body + next);
    EXPECT_EQ(d.state, State::kDone);
    EXPECT_EQ(d.body, "abc0123456789");
    EXPECT_EQ(d.consumed, body.size());
    ExpectSplitIndependent(body + next);
}

TEST(ChunkedBodyTest, TrailerFieldsAreReadAndDropped) {
    const std::string body = "2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Other:\t v \r\n\r\n";
    const Decoded d = DecodeAtOnce(body + "rest");
    EXPECT_EQ(d.state, State::kDone);
    EXPECT_EQ(d.body, "hi");
    EXPECT_EQ(d.consumed, body.size());
    ExpectSplitIndependent(body + "rest");
}

TEST(ChunkedBodyTest, UpperAndLowerHexAndLeadingZeros) {
    const Decoded d = DecodeAtOnce("0000b\r\nhello world\r\n00\r\n\r\n");
    EXPECT_EQ(d.state, State::kDone);
    EXPECT_EQ(d.body, "hello world");
    EXPECT_EQ(DecodeAtOnce("B\r\nhello world\r\n0\r\n\r\n").body, "hello world");
}

TEST(ChunkedBodyTest, ChunkExtensionsAreRefused) {
    for (const char* bytes : {"5;ext=1\r\nhello\r\n0\r\n\r\n", "5;\r\nhello\r\n0\r\n\r\n",
                              "0;ext=\"x\"\r\n\r\n", "5 ;ext\r\nhello\r\n0\r\n\r\n"}) {
        const Decoded d = DecodeAtOnce(bytes);
        EXPECT_EQ(d.state, State::kMalformed) << bytes;
        ExpectSplitIndependent(bytes);
    }
    EXPECT_EQ(DecodeAtOnce("5;ext=1\r\nhello\r\n0\r\n\r\n").error,
              "chunk extensions are not accepted");
}

// issue 18: a quoted chunk extension holding CR LF, where Beast's parser gave different
// outcomes at once and in reads of one byte.
TEST(ChunkedBodyTest, QuotedExtensionWithCrLfIsRefusedWhateverTheSplit) {
    const std::string bytes =
        "7;ext=\"\r\n{H\n1\rost: }\rHost: \n0tion/jTransferson\r\n\r\nt\r\n\r\n";
    const Decoded d = DecodeAtOnce(bytes);
    EXPECT_EQ(d.state, State::kMalformed);
    EXPECT_EQ(d.error, "chunk extensions are not accepted");
    EXPECT_EQ(d.consumed, 1u);  // "7"; the ';' is the error
    ExpectSplitIndependent(bytes);
}

TEST(ChunkedBodyTest, MalformedFramingIsRefused) {
    for (const char* bytes : {
             "\r\n",                        // no size
             "x\r\n",                       // not hex
             "-1\r\n",                      // sign
             "3\nabc\r\n0\r\n\r\n",         // bare LF after the size
             "3\r\rabc",                    // CR CR
             "3\r\nabcd\r\n0\r\n\r\n",      // more data than the size
             "3\r\nabc\n0\r\n\r\n",         // bare LF after the data
             "0\r\n\n",                     // bare LF ending the body
             "0\r\n\r\r",                   // CR CR ending the body
             "0\r\n X: folded\r\n\r\n",     // obs-fold
             "0\r\nX\r\n\r\n",              // trailer without ':'
             "0\r\nX: a\rb\r\n\r\n",        // CR inside a trailer value
             "0\r\nX: a\nb\r\n\r\n",        // LF inside a trailer value
             "00000000000000001\r\nx\r\n",  // 17 digits
         }) {
        const Decoded d = DecodeAtOnce(bytes);
        EXPECT_EQ(d.state, State::kMalformed) << "'" << bytes << "'";
        ExpectSplitIndependent(bytes);
    }
    const std::string with_nul("0\r\nX: a\0b\r\n\r\n", 13);  // NUL in a trailer value
    EXPECT_EQ(DecodeAtOnce(with_nul).state, State::kMalformed);
    ExpectSplitIndependent(with_nul);
}

TEST(ChunkedBodyTest, BodyOverTheLimitIsRefusedAtTheSize) {
    // 0x11 = 17 > 16: refused at the second digit, before any data arrives.
    const Decoded d = DecodeAtOnce("11\r\n", /*max_body=*/16);
    EXPECT_EQ(d.state, State::kBodyTooLarge);
    EXPECT_EQ(d.consumed, 1u);
    // The sum of the chunks counts.
    const std::string two = "8\r\n01234567\r\n9\r\n012345678\r\n0\r\n\r\n";
    EXPECT_EQ(DecodeAtOnce(two, 16).state, State::kBodyTooLarge);
    EXPECT_EQ(DecodeAtOnce(two, 17).state, State::kDone);
    ExpectSplitIndependent(two, 16);
    // The largest size that fits in 16 digits is refused, not overflowed.
    EXPECT_EQ(DecodeAtOnce("ffffffffffffffff\r\n").state, State::kBodyTooLarge);
}

TEST(ChunkedBodyTest, TrailerSectionOverTheLimitIsRefused) {
    const std::string bytes = "0\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
    EXPECT_EQ(DecodeAtOnce(bytes, 1024, /*max_trailer=*/64).state, State::kTrailerTooLarge);
    EXPECT_EQ(DecodeAtOnce(bytes, 1024, /*max_trailer=*/200).state, State::kDone);
    ExpectSplitIndependent(bytes, 1024, 64);
}

TEST(ChunkedBodyTest, IncompleteBodyNeedsMoreAndConsumesWhatItRead) {
    const Decoded d = DecodeAtOnce("5\r\nhel");
    EXPECT_EQ(d.state, State::kNeedMore);
    EXPECT_EQ(d.consumed, 6u);
    EXPECT_EQ(d.body, "hel");
}

TEST(ChunkedBodyTest, NothingIsConsumedAfterTheEnd) {
    ChunkedBodyDecoder decoder(1024, 64);
    std::string body;
    EXPECT_EQ(decoder.Feed("0\r\n\r\n", body), 5u);
    EXPECT_EQ(decoder.state(), State::kDone);
    EXPECT_EQ(decoder.Feed("1\r\na\r\n", body), 0u);
    EXPECT_EQ(body, "");
}

}  // namespace
}  // namespace aragora::net::detail
