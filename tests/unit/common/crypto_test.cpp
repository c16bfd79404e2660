#include "common/crypto.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aragora::common {
namespace {

std::string FromHex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

TEST(CryptoTest, Sha256KnownVectors) {
    EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(Sha256Raw("abc").size(), 32u);
    EXPECT_EQ(HexEncode(Sha256Raw("abc")), Sha256Hex("abc"));
}

TEST(CryptoTest, HmacSha256Rfc4231) {
    // Test case 1.
    EXPECT_EQ(HexEncode(HmacSha256Raw(std::string(20, '\x0b'), "Hi There")),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    // Test case 2.
    EXPECT_EQ(HexEncode(HmacSha256Raw("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Test case 6: a key longer than the block size is hashed first.
    EXPECT_EQ(HexEncode(HmacSha256Raw(std::string(131, '\xaa'),
                                      "Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(CryptoTest, HmacWithEmptyKeyIsDeterministicAndDiffersFromOtherKeys) {
    // RFC 2104 with an empty key (matches `openssl dgst -sha256 -hmac ''`).
    EXPECT_EQ(HexEncode(HmacSha256Raw("", "")),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    EXPECT_NE(HmacSha256Raw("", "x"), HmacSha256Raw("k", "x"));
}

TEST(CryptoTest, Base64Rfc4648Vectors) {
    const std::pair<std::string, std::string> cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [raw, b64] : cases) {
        EXPECT_EQ(Base64Encode(raw), b64);
        auto decoded = Base64Decode(b64);
        ASSERT_TRUE(decoded.ok()) << b64;
        EXPECT_EQ(*decoded, raw) << b64;
    }
}

TEST(CryptoTest, Base64RoundTripsBinary) {
    for (std::size_t n = 0; n < 70; ++n) {
        std::string raw = RandomBytes(n);
        auto decoded = Base64Decode(Base64Encode(raw));
        ASSERT_TRUE(decoded.ok());
        EXPECT_EQ(*decoded, raw);
    }
    std::string zeros(5, '\0');
    EXPECT_EQ(*Base64Decode(Base64Encode(zeros)), zeros);
}

TEST(CryptoTest, Base64RejectsMalformedInput) {
    for (const char* bad :
         {"Zg=", "Zg", "Z===", "====", "Zm9v!A==", "Zg==Zg==", "Z=g=", "Zm9v\n", " Zm9v", "Zm-_"}) {
        EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
    }
}

TEST(CryptoTest, ConstantTimeEqual) {
    EXPECT_TRUE(ConstantTimeEqual("", ""));
    EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
    EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
    EXPECT_FALSE(ConstantTimeEqual("abc", "abcd"));
}

TEST(CryptoTest, RandomBytesHaveRequestedLengthAndVary) {
    EXPECT_EQ(RandomBytes(0).size(), 0u);
    EXPECT_EQ(RandomBytes(32).size(), 32u);
    EXPECT_NE(RandomBytes(32), RandomBytes(32));
}

TEST(CryptoTest, Ed25519Rfc8032TestVector1) {
    auto key = Ed25519FromSeed(
        FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(HexEncode(key->public_key),
              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    std::string sig = Ed25519Sign(*key, "");
    EXPECT_EQ(HexEncode(sig),
              "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
              "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    EXPECT_TRUE(Ed25519Verify(key->public_key, "", sig));
}

TEST(CryptoTest, Ed25519SignVerifyAndTamper) {
    Ed25519KeyPair key = Ed25519Generate();
    ASSERT_EQ(key.private_seed.size(), 32u);
    ASSERT_EQ(key.public_key.size(), 32u);
    std::string sig = Ed25519Sign(key, "receipt bytes");
    ASSERT_EQ(sig.size(), 64u);
    EXPECT_TRUE(Ed25519Verify(key.public_key, "receipt bytes", sig));
    EXPECT_FALSE(Ed25519Verify(key.public_key, "receipt byteS", sig));
    std::string bad_sig = sig;
    bad_sig[10] ^= 1;
    EXPECT_FALSE(Ed25519Verify(key.public_key, "receipt bytes", bad_sig));
    EXPECT_FALSE(Ed25519Verify(Ed25519Generate().public_key, "receipt bytes", sig));
    EXPECT_FALSE(Ed25519Verify(key.public_key, "receipt bytes", sig.substr(0, 63)));
    EXPECT_FALSE(Ed25519Verify("short", "receipt bytes", sig));
}

TEST(CryptoTest, Ed25519PemRoundTrip) {
    Ed25519KeyPair key = Ed25519Generate();
    std::string pem = Ed25519ToPem(key);
    EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    auto back = Ed25519FromPem(pem);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->private_seed, key.private_seed);
    EXPECT_EQ(back->public_key, key.public_key);
}

TEST(CryptoTest, Ed25519FromPemReadsOpensslGenpkeyOutput) {
    // PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it, of RFC 8032 key 1.
    const char* pem =
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
        "-----END PRIVATE KEY-----\n";
    auto key = Ed25519FromPem(pem);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(HexEncode(key->public_key),
              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
}

TEST(CryptoTest, Ed25519RejectsBadKeys) {
    EXPECT_FALSE(Ed25519FromPem("not a pem").ok());
    EXPECT_FALSE(Ed25519FromPem("").ok());
    EXPECT_FALSE(Ed25519FromSeed("too short").ok());
}

TEST(CryptoTest, Sha256StreamEqualsTheOneShotDigestWhateverThePieces) {
    const std::string data = RandomBytes(100'000);
    Sha256Stream whole;
    whole.Update(data);
    Sha256Stream pieces;
    for (std::size_t i = 0; i < data.size(); i += 777) pieces.Update(data.substr(i, 777));
    const std::string expected = Sha256Hex(data);
    EXPECT_EQ(whole.FinalHex(), expected);
    EXPECT_EQ(pieces.FinalHex(), expected);
    Sha256Stream empty;
    EXPECT_EQ(empty.FinalHex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace aragora::common
