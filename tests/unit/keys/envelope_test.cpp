#include "keys/envelope.hpp"

#include <gtest/gtest.h>

#include "common/crypto.hpp"

namespace aragora::keys {
namespace {

using common::ErrorCode;

const std::string kKey(32, 'x');

TEST(EnvelopeTest, RoundTrip) {
    for (const std::string plain : {std::string(), std::string("hello"), std::string(5000, 'z'),
                                    std::string("d\xc3\xa9"
                                                "bat \0 nul",
                                                12)}) {
        auto sealed = SealWithKey(KeyRef{"primary", 7}, kKey, plain, "row-1");
        ASSERT_TRUE(sealed) << sealed.error().message;
        EXPECT_TRUE(IsSealedText(*sealed));
        auto env = FromSealedText(*sealed);
        ASSERT_TRUE(env);
        EXPECT_EQ(env->key, (KeyRef{"primary", 7}));
        EXPECT_EQ(env->nonce.size(), 12u);
        EXPECT_EQ(env->ciphertext.size(), plain.size() + 16);
        auto opened = AesGcmDecrypt(kKey, env->nonce, env->ciphertext, "row-1");
        ASSERT_TRUE(opened) << opened.error().message;
        EXPECT_EQ(*opened, plain);
    }
}

TEST(EnvelopeTest, FreshNonceEveryTime) {
    auto a = SealWithKey(KeyRef{"primary", 1}, kKey, "same", "id");
    auto b = SealWithKey(KeyRef{"primary", 1}, kKey, "same", "id");
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
}

// The original's EncryptedData.to_bytes(): 0x01 | len | id | u32 BE version | 12 | nonce |
// ciphertext||tag; with its env master key ("master", v1) the base64 starts AQZtYXN0ZXIAAAAB.
TEST(EnvelopeTest, OriginalBinaryLayout) {
    Envelope e;
    e.key = KeyRef{"master", 1};
    e.nonce = std::string(12, '\x07');
    e.ciphertext = std::string(20, '\x09');
    const std::string bytes = EncodeEnvelope(e);
    ASSERT_EQ(bytes.size(), 1u + 1 + 6 + 4 + 1 + 12 + 20);
    EXPECT_EQ(bytes[0], '\x01');
    EXPECT_EQ(bytes[1], '\x06');
    EXPECT_EQ(bytes.substr(2, 6), "master");
    EXPECT_EQ(bytes.substr(8, 4), std::string("\x00\x00\x00\x01", 4));
    EXPECT_EQ(bytes[12], '\x0c');
    EXPECT_EQ(bytes.substr(13, 12), e.nonce);
    EXPECT_EQ(common::Base64Encode(bytes).substr(0, 16), "AQZtYXN0ZXIAAAAB");
    EXPECT_EQ(ToSealedText(e).substr(0, 23), "enc:v1:AQZtYXN0ZXIAAAAB");

    e.key = KeyRef{"primary", 0x01020304};
    const std::string v = EncodeEnvelope(e);
    EXPECT_EQ(v.substr(9, 4), "\x01\x02\x03\x04");
    auto back = DecodeEnvelope(v);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->key, e.key);
    EXPECT_EQ(back->ciphertext, e.ciphertext);
}

// Known-answer test: AES-256-GCM, NIST SP 800-38D / McGrew-Viega test case 16 (256-bit key,
// 96-bit IV, with AAD).
TEST(EnvelopeTest, AesGcmKnownAnswer) {
    auto hex = [](std::string_view h) {
        std::string out;
        for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
            out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
        }
        return out;
    };
    const std::string key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const std::string iv = hex("cafebabefacedbaddecaf888");
    const std::string pt =
        hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
            "2449a6b525b16aedf5aa0de657ba637b39");
    const std::string aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    auto ct = AesGcmEncrypt(key, iv, pt, aad);
    ASSERT_TRUE(ct);
    EXPECT_EQ(common::HexEncode(*ct),
              "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3d"
              "a7b08b1056828838c5f61e6393ba7a0abcc9f662"
              "76fc6ece0f4e1768cddf8853bb2d551b");
}

TEST(EnvelopeTest, MalformedValuesAreRefused) {
    auto sealed = SealWithKey(KeyRef{"primary", 1}, kKey, "value", "id");
    ASSERT_TRUE(sealed);
    // Truncated text (base64 still valid at a 4-char boundary): the tag is gone.
    auto env = FromSealedText(*sealed);
    ASSERT_TRUE(env);
    auto raw = EncodeEnvelope(*env);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{5}, raw.size() - 4}) {
        auto d = DecodeEnvelope(std::string_view(raw).substr(0, cut));
        if (cut == raw.size() - 4) {
            // Structurally a valid envelope (tag shorter than the cut): the GCM tag fails.
            ASSERT_TRUE(d);
            EXPECT_EQ(AesGcmDecrypt(kKey, d->nonce, d->ciphertext, "id").error().code,
                      ErrorCode::kCrypto);
        } else {
            ASSERT_FALSE(d);
            EXPECT_EQ(d.error().code, ErrorCode::kValidation);
        }
    }
    std::string bad_version = raw;
    bad_version[0] = '\x02';
    EXPECT_NE(DecodeEnvelope(bad_version).error().message.find("format version 2"),
              std::string::npos);
    EXPECT_FALSE(IsSealedText("enc:v1:" + common::Base64Encode(bad_version)));
}

TEST(EnvelopeTest, IsSealedIsExact) {
    auto sealed = SealWithKey(KeyRef{"master", 1}, kKey, "v", "");
    ASSERT_TRUE(sealed);
    EXPECT_TRUE(IsSealedText(*sealed));
    // The original's guess ("starts with A") would take these for sealed values.
    EXPECT_FALSE(IsSealedText("AQZtYXN0ZXIAAAAB"));
    EXPECT_FALSE(IsSealedText("Alice"));
    EXPECT_FALSE(IsSealedText(sealed->substr(7)));  // the base64 without the prefix
    EXPECT_FALSE(IsSealedText("enc:v1:"));
    EXPECT_FALSE(IsSealedText("enc:v1:not base64!"));
    EXPECT_FALSE(IsSealedText("enc:v1:AQZtYXN0ZXIAAAAB"));  // too short for nonce and tag
    EXPECT_FALSE(IsSealedText(""));
}

TEST(EnvelopeTest, MasterKeyHex) {
    auto ok = ParseMasterKeyHex(std::string(64, 'a'));
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, std::string(32, '\xaa'));
    auto short_key = ParseMasterKeyHex("abcd");
    ASSERT_FALSE(short_key);
    EXPECT_NE(short_key.error().message.find("got 4 characters"), std::string::npos);
    auto not_hex = ParseMasterKeyHex(std::string(63, 'a') + "g");
    ASSERT_FALSE(not_hex);
    EXPECT_EQ(not_hex.error().message.find("aaaa"), std::string::npos);  // never the value
}

}  // namespace
}  // namespace aragora::keys
