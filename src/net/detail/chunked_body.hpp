#pragma once

// Internal to src/net: the decoder of chunked request bodies that the HTTP session
// (http_session.cpp) and ParseHttpRequestBytes (request_parse.cpp) share. No Beast: the
// server never lets Beast parse a chunked request body.
//
// Why not Beast: Beast 1.81 parses a chunk extension (";name=value") past the end of its
// line when more bytes are at hand, so a quoted value holding CR LF gave one outcome when
// the request arrived in one read and another in small reads (issue 18, the
// http_request_fuzz differential check). A request whose acceptance depends on how TCP
// split it is the request-smuggling class. This decoder is a per-byte state machine, so
// its outcome and the bytes it consumes cannot depend on the reads.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aragora::net::detail {

// Decodes one chunked body (RFC 9112 §7.1), stricter than the RFC where no client of ours
// needs more:
//  - chunk-size is 1 to 16 hex digits followed directly by CR LF;
//  - chunk extensions are refused (";" after the size), as is whitespace before CR LF;
//  - trailer fields (name ":" value CR LF) are read and discarded; obs-fold, bare CR or
//    LF and NUL are refused.
// Not thread-safe; one decoder per body.
class ChunkedBodyDecoder {
public:
    enum class State {
        kNeedMore,         // the body has not ended yet: feed the next bytes
        kDone,             // the body ended (after the trailer section's empty line)
        kMalformed,        // error() says why; answer 400
        kBodyTooLarge,     // the chunk sizes add up to more than max_body_bytes; 413
        kTrailerTooLarge,  // the trailer section is over max_trailer_bytes; 431
    };

    ChunkedBodyDecoder(std::size_t max_body_bytes, std::size_t max_trailer_bytes)
        : max_body_bytes_(max_body_bytes), max_trailer_bytes_(max_trailer_bytes) {}

    // Consumes bytes from the front of `in` up to the end of the body or the first bad
    // byte, appending chunk data to `body`. Returns how many bytes it consumed; bytes
    // after the body are left for the next request. Once state() is no longer
    // kNeedMore, consumes nothing.
    std::size_t Feed(std::string_view in, std::string& body);

    State state() const { return state_; }
    // For kMalformed: what was wrong, e.g. "chunk extensions are not accepted".
    std::string_view error() const { return error_; }

private:
    enum class Phase {
        kSizeFirst,     // the first hex digit of a chunk size
        kSize,          // more hex digits, or CR
        kSizeLf,        // LF after the size line's CR
        kData,          // `remaining_` bytes of chunk data
        kDataCr,        // CR after the data
        kDataLf,        // LF after the data
        kTrailerStart,  // a trailer field's first byte, or CR of the final empty line
        kTrailerName,   // field name up to ':'
        kTrailerValue,  // field value up to CR
        kTrailerLf,     // LF ending a trailer field
        kFinalLf,       // LF ending the chunked body
    };

    bool Fail(State state, std::string_view error);
    // One byte of every phase but kData; false once the state is final.
    bool Step(char c);

    std::size_t max_body_bytes_;
    std::size_t max_trailer_bytes_;
    State state_ = State::kNeedMore;
    Phase phase_ = Phase::kSizeFirst;
    std::uint64_t size_ = 0;       // the chunk size being read
    int size_digits_ = 0;          // its digits so far
    std::uint64_t remaining_ = 0;  // chunk data still to come
    std::size_t body_bytes_ = 0;   // data bytes decoded so far
    std::size_t trailer_bytes_ = 0;
    std::string_view error_;
};

}  // namespace aragora::net::detail
