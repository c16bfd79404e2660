#include "auth/api_key.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/crypto.hpp"

namespace aragora::auth {

namespace {

constexpr char kBase62Alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool IsBase62(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// Digits needed for any n-byte value: ceil(8n / log2(62)). 62^w never equals 256^n (31 is
// a factor of one and not the other), so the quotient is never an integer that rounding
// could push across.
std::size_t Base62Width(std::size_t bytes) {
    return static_cast<std::size_t>(std::ceil(static_cast<double>(bytes) * 8.0 / std::log2(62.0)));
}

}  // namespace

std::string Base62Encode(std::string_view raw) {
    // Schoolbook division of the big-endian number by 62, one digit per pass.
    std::vector<unsigned char> number(raw.begin(), raw.end());
    std::string digits;
    std::size_t start = 0;
    while (start < number.size() && number[start] == 0) ++start;
    while (start < number.size()) {
        unsigned remainder = 0;
        for (std::size_t i = start; i < number.size(); ++i) {
            unsigned acc = (remainder << 8) | number[i];
            number[i] = static_cast<unsigned char>(acc / 62);
            remainder = acc % 62;
        }
        digits.push_back(kBase62Alphabet[remainder]);
        while (start < number.size() && number[start] == 0) ++start;
    }
    std::size_t width = Base62Width(raw.size());
    if (digits.size() < width) digits.append(width - digits.size(), '0');
    std::reverse(digits.begin(), digits.end());
    return digits;
}

std::string RandomBase62(std::size_t bytes) { return Base62Encode(common::RandomBytes(bytes)); }

NewApiKey GenerateApiKey() {
    NewApiKey out;
    out.key = std::string(kApiKeyPrefix) + RandomBase62(kApiKeyRandomBytes);
    out.prefix = ApiKeyPrefixOf(out.key);
    out.hash = HashToken(out.key);
    return out;
}

std::string HashToken(std::string_view token) { return common::Sha256Hex(token); }

bool LooksLikeApiKey(std::string_view token) {
    if (token.size() != kApiKeySize || token.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix)
        return false;
    std::string_view body = token.substr(kApiKeyPrefix.size());
    return std::all_of(body.begin(), body.end(), IsBase62);
}

std::string ApiKeyPrefixOf(std::string_view key) {
    return std::string(key.substr(0, kApiKeyIdSize));
}

}  // namespace aragora::auth
