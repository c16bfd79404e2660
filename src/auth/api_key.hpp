#pragma once

// API keys ("ara_" + 43 base62 characters) and the SHA-256 digests under which keys and
// refresh tokens are stored. Only the digest is kept; the key is shown once at creation.

#include <cstddef>
#include <string>
#include <string_view>

namespace aragora::auth {

inline constexpr std::string_view kApiKeyPrefix = "ara_";
inline constexpr std::size_t kApiKeyRandomBytes = 32;
inline constexpr std::size_t kApiKeyBodySize = 43;  // Base62Encode of 32 bytes
inline constexpr std::size_t kApiKeySize = 47;      // prefix + body
inline constexpr std::size_t kApiKeyIdSize = 12;    // "ara_" + 8: public id / display prefix

// Big-endian base62 (alphabet 0-9A-Za-z) of `raw` as one number, left-padded with '0' to
// the width that the largest value of that many bytes needs: 32 bytes always give 43 chars.
std::string Base62Encode(std::string_view raw);
// Base62Encode(common::RandomBytes(bytes)).
std::string RandomBase62(std::size_t bytes);

struct NewApiKey {
    std::string key;  // "ara_" + Base62Encode(32 random bytes)  (47 chars)
    std::string
        prefix;        // first 12 chars of key ("ara_" + 8): the key's public id and display prefix
    std::string hash;  // HashToken(key)
};

NewApiKey GenerateApiKey();
// Lowercase hex SHA-256 (for API keys and refresh tokens).
std::string HashToken(std::string_view token);
// "ara_" + exactly 43 base62 chars.
bool LooksLikeApiKey(std::string_view token);
// First 12 chars (the whole input when shorter).
std::string ApiKeyPrefixOf(std::string_view key);

}  // namespace aragora::auth
