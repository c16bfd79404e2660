#include "net/detail/chunked_body.hpp"

#include <algorithm>

#include "common/strings.hpp"

namespace aragora::net::detail {
namespace {

// 16 hex digits hold any 64-bit size; more are refused rather than checked for overflow.
constexpr int kMaxSizeDigits = 16;

// tchar of RFC 9110 §5.6.2.
bool IsTokenChar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

// field-content bytes: HTAB, SP, VCHAR, obs-text (no CTLs, so no CR, LF or NUL).
bool IsFieldValueChar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

}  // namespace

bool ChunkedBodyDecoder::Fail(State state, std::string_view error) {
    state_ = state;
    error_ = error;
    return false;
}

std::size_t ChunkedBodyDecoder::Feed(std::string_view in, std::string& body) {
    std::size_t used = 0;
    while (state_ == State::kNeedMore && used < in.size()) {
        if (phase_ == Phase::kData) {
            const std::size_t n =
                static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - used));
            body.append(in.data() + used, n);
            used += n;
            remaining_ -= n;
            if (remaining_ == 0) phase_ = Phase::kDataCr;
            continue;
        }
        // A bad byte is not consumed: it is where the error is.
        if (!Step(in[used])) break;
        ++used;
    }
    return used;
}

bool ChunkedBodyDecoder::Step(char c) {
    switch (phase_) {
        case Phase::kSizeFirst:
        case Phase::kSize: {
            const int digit = common::HexDigitValue(c);
            if (digit >= 0) {
                if (++size_digits_ > kMaxSizeDigits) {
                    return Fail(State::kMalformed, "chunk size is too long");
                }
                size_ = size_ * 16 + static_cast<std::uint64_t>(digit);
                // The size only grows with more digits: refuse as soon as it is too large.
                if (size_ > max_body_bytes_ - body_bytes_) {
                    return Fail(State::kBodyTooLarge, "request body too large");
                }
                phase_ = Phase::kSize;
                return true;
            }
            if (phase_ == Phase::kSizeFirst) return Fail(State::kMalformed, "bad chunk size");
            if (c == ';') return Fail(State::kMalformed, "chunk extensions are not accepted");
            if (c != '\r') return Fail(State::kMalformed, "bad chunk size");
            phase_ = Phase::kSizeLf;
            return true;
        }
        case Phase::kSizeLf:
            if (c != '\n') return Fail(State::kMalformed, "bad chunk line ending");
            if (size_ == 0) {
                phase_ = Phase::kTrailerStart;
            } else {
                remaining_ = size_;
                body_bytes_ += static_cast<std::size_t>(size_);
                phase_ = Phase::kData;
            }
            size_ = 0;
            size_digits_ = 0;
            return true;
        case Phase::kData:
            return false;  // Feed copies data itself
        case Phase::kDataCr:
            if (c != '\r') return Fail(State::kMalformed, "chunk data does not end with CRLF");
            phase_ = Phase::kDataLf;
            return true;
        case Phase::kDataLf:
            if (c != '\n') return Fail(State::kMalformed, "chunk data does not end with CRLF");
            phase_ = Phase::kSizeFirst;
            return true;
        case Phase::kTrailerStart:
        case Phase::kTrailerName:
        case Phase::kTrailerValue:
        case Phase::kTrailerLf:
            if (++trailer_bytes_ > max_trailer_bytes_) {
                return Fail(State::kTrailerTooLarge, "trailer section too large");
            }
            break;
        case Phase::kFinalLf:
            if (c != '\n') return Fail(State::kMalformed, "bad line ending after the last chunk");
            state_ = State::kDone;
            return true;
    }

    // The trailer section.
    switch (phase_) {
        case Phase::kTrailerStart:
            if (c == '\r') {
                phase_ = Phase::kFinalLf;
                return true;
            }
            if (!IsTokenChar(c)) return Fail(State::kMalformed, "bad trailer field");
            phase_ = Phase::kTrailerName;
            return true;
        case Phase::kTrailerName:
            if (c == ':') {
                phase_ = Phase::kTrailerValue;
                return true;
            }
            if (!IsTokenChar(c)) return Fail(State::kMalformed, "bad trailer field");
            return true;
        case Phase::kTrailerValue:
            if (c == '\r') {
                phase_ = Phase::kTrailerLf;
                return true;
            }
            if (!IsFieldValueChar(c)) return Fail(State::kMalformed, "bad trailer field");
            return true;
        case Phase::kTrailerLf:
            if (c != '\n') return Fail(State::kMalformed, "bad trailer field");
            phase_ = Phase::kTrailerStart;
            return true;
        default:
            return Fail(State::kMalformed, "internal decoder error");
    }
}

}  // namespace aragora::net::detail
