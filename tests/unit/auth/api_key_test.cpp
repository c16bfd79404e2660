// API keys: format, randomness, public prefix, stored digest, base62 encoding.

#include "auth/api_key.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/crypto.hpp"

namespace aragora::auth {
namespace {

TEST(Base62Test, ThirtyTwoZeroBytesAreFortyThreeZeros) {
    EXPECT_EQ(Base62Encode(std::string(32, '\0')), std::string(43, '0'));
}

TEST(Base62Test, KnownVectors) {
    // Independently computed (Python int.from_bytes(b, "big") in base 62).
    EXPECT_EQ(Base62Encode(""), "");
    EXPECT_EQ(Base62Encode(std::string("\x01", 1)), "01");
    EXPECT_EQ(Base62Encode("\xff"), "47");
    EXPECT_EQ(Base62Encode(std::string("\x00\x3e", 2)), "010");
    EXPECT_EQ(Base62Encode("hello"), "7tQLFHz");
    EXPECT_EQ(Base62Encode(std::string(32, '\xff')), "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
    std::string counting;
    for (int i = 0; i < 32; ++i) counting.push_back(static_cast<char>(i));
    EXPECT_EQ(Base62Encode(counting), "003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf");
}

TEST(Base62Test, FixedWidthForThirtyTwoBytes) {
    for (int i = 0; i < 200; ++i) EXPECT_EQ(RandomBase62(32).size(), 43u);
}

TEST(ApiKeyTest, Format) {
    NewApiKey k = GenerateApiKey();
    EXPECT_EQ(k.key.size(), 47u);
    EXPECT_EQ(k.key.substr(0, 4), "ara_");
    EXPECT_TRUE(LooksLikeApiKey(k.key));
    EXPECT_EQ(k.prefix.size(), 12u);
    EXPECT_EQ(k.prefix, k.key.substr(0, 12));
    EXPECT_EQ(ApiKeyPrefixOf(k.key), k.prefix);
    EXPECT_EQ(k.hash, HashToken(k.key));
    EXPECT_EQ(k.hash.size(), 64u);
}

TEST(ApiKeyTest, UniqueOverAThousandKeys) {
    std::set<std::string> keys, prefixes;
    for (int i = 0; i < 1000; ++i) {
        NewApiKey k = GenerateApiKey();
        ASSERT_TRUE(LooksLikeApiKey(k.key)) << k.key;
        keys.insert(k.key);
        prefixes.insert(k.prefix);
    }
    EXPECT_EQ(keys.size(), 1000u);
    // 8 base62 characters of id: a collision among 1000 is ~2e-9 likely.
    EXPECT_EQ(prefixes.size(), 1000u);
}

TEST(ApiKeyTest, HashTokenIsSha256Hex) {
    EXPECT_EQ(HashToken("ara_abc"), common::Sha256Hex("ara_abc"));
    EXPECT_EQ(HashToken(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ApiKeyTest, LooksLikeApiKeyCases) {
    const std::string body(43, 'a');
    EXPECT_TRUE(LooksLikeApiKey("ara_" + body));
    EXPECT_TRUE(LooksLikeApiKey("ara_" + std::string(43, '0')));
    EXPECT_TRUE(LooksLikeApiKey("ara_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"));
    EXPECT_FALSE(LooksLikeApiKey(""));
    EXPECT_FALSE(LooksLikeApiKey("ara_"));
    EXPECT_FALSE(LooksLikeApiKey("ara_" + std::string(42, 'a')));
    EXPECT_FALSE(LooksLikeApiKey("ara_" + std::string(44, 'a')));
    EXPECT_FALSE(LooksLikeApiKey("ARA_" + body));
    EXPECT_FALSE(LooksLikeApiKey("arb_" + body));
    EXPECT_FALSE(LooksLikeApiKey("ara_" + std::string(42, 'a') + "-"));
    EXPECT_FALSE(LooksLikeApiKey("ara_" + std::string(42, 'a') + "_"));
    EXPECT_FALSE(LooksLikeApiKey("ara_" + std::string(42, 'a') + "="));
    EXPECT_FALSE(LooksLikeApiKey("ara_" + std::string(42, 'a') + std::string(1, '\0')));
    EXPECT_FALSE(LooksLikeApiKey("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
}

TEST(ApiKeyTest, PrefixOfShortInput) {
    EXPECT_EQ(ApiKeyPrefixOf("ara_abc"), "ara_abc");
    EXPECT_EQ(ApiKeyPrefixOf(""), "");
    EXPECT_EQ(ApiKeyPrefixOf("ara_12345678rest"), "ara_12345678");
}

}  // namespace
}  // namespace aragora::auth
