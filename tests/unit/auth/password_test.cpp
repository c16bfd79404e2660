// Argon2id password hashes (with libsodium's minimum limits, to keep tests fast) and the
// password length policy.

#include "auth/password.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aragora::auth {
namespace {

std::string HashOrDie(std::string_view password) {
    auto hash = HashPassword(password, MinimumHashOptions());
    EXPECT_TRUE(hash.ok()) << (hash.ok() ? "" : hash.error().message);
    return hash.ok() ? hash.value() : std::string();
}

TEST(PasswordTest, HashAndVerify) {
    std::string hash = HashOrDie("correct horse battery staple");
    EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
    EXPECT_TRUE(VerifyPassword("correct horse battery staple", hash));
    EXPECT_FALSE(VerifyPassword("correct horse battery stapler", hash));
    EXPECT_FALSE(VerifyPassword("", hash));
}

TEST(PasswordTest, SaltedEachTime) {
    std::string a = HashOrDie("same password");
    std::string b = HashOrDie("same password");
    EXPECT_NE(a, b);
    EXPECT_TRUE(VerifyPassword("same password", a));
    EXPECT_TRUE(VerifyPassword("same password", b));
}

TEST(PasswordTest, BinaryPasswordsAreNotTruncatedAtNul) {
    std::string with_nul("abcd\0efgh", 9);
    std::string hash = HashOrDie(with_nul);
    EXPECT_TRUE(VerifyPassword(with_nul, hash));
    EXPECT_FALSE(VerifyPassword("abcd", hash));
}

TEST(PasswordTest, MalformedStoredHashIsFalse) {
    std::string good = HashOrDie("password123");
    EXPECT_FALSE(VerifyPassword("password123", ""));
    EXPECT_FALSE(VerifyPassword("password123", "password123"));
    EXPECT_FALSE(VerifyPassword("password123", "$argon2id$"));
    EXPECT_FALSE(VerifyPassword("password123", "$argon2id$v=19$m=garbage"));
    EXPECT_FALSE(VerifyPassword("password123", good.substr(0, good.size() - 5)));
    EXPECT_FALSE(VerifyPassword("password123", std::string(4096, '$')));
    EXPECT_FALSE(VerifyPassword("password123", good + std::string(1, '\0') + "x"));
    // A bcrypt hash is not ours.
    EXPECT_FALSE(VerifyPassword("password123",
                                "$2b$12$KIXQJ7Zq1V0H5m7h5m7h5u6s5m7h5m7h5m7h5m7h5m7h5m7h5m7h5"));
    // Tampered digest.
    std::string tampered = good;
    char& c = tampered[tampered.size() - 10];
    c = c == 'A' ? 'B' : 'A';
    EXPECT_FALSE(VerifyPassword("password123", tampered));
}

TEST(PasswordTest, NeedsRehash) {
    std::string hash = HashOrDie("password123");
    EXPECT_FALSE(PasswordNeedsRehash(hash, MinimumHashOptions()));
    EXPECT_TRUE(PasswordNeedsRehash(hash, InteractiveHashOptions()));
    EXPECT_TRUE(PasswordNeedsRehash("garbage", MinimumHashOptions()));
}

TEST(PasswordTest, BadLimitsAreInternalError) {
    auto hash = HashPassword("password123", PasswordHashOptions{0, 0});
    ASSERT_FALSE(hash.ok());
    EXPECT_EQ(hash.error().code, common::ErrorCode::kInternal);
}

TEST(PasswordTest, InteractiveOptionsAreStronger) {
    EXPECT_GT(InteractiveHashOptions().memlimit, MinimumHashOptions().memlimit);
    EXPECT_GE(InteractiveHashOptions().opslimit, MinimumHashOptions().opslimit);
}

TEST(PasswordTest, PolicyLengths) {
    EXPECT_FALSE(ValidatePassword("").ok());
    EXPECT_FALSE(ValidatePassword("1234567").ok());
    EXPECT_TRUE(ValidatePassword("12345678").ok());
    EXPECT_TRUE(ValidatePassword(std::string(1024, 'x')).ok());
    auto too_long = ValidatePassword(std::string(1025, 'x'));
    ASSERT_FALSE(too_long.ok());
    EXPECT_EQ(too_long.error().code, common::ErrorCode::kValidation);
    EXPECT_EQ(too_long.error().message, "password must be 8 to 1024 characters");
    EXPECT_EQ(too_long.error().field, "password");
    auto too_short = ValidatePassword("short");
    ASSERT_FALSE(too_short.ok());
    EXPECT_EQ(too_short.error().code, common::ErrorCode::kValidation);
    EXPECT_EQ(too_short.error().message, "password must be 8 to 1024 characters");
}

}  // namespace
}  // namespace aragora::auth
