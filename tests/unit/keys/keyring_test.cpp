#include "keys/keyring.hpp"

#include <gtest/gtest.h>

#include "keys/envelope.hpp"
#include "keys_test_support.hpp"

namespace aragora::keys {
namespace {

using common::ErrorCode;
using test::MasterKey;

class KeyringTest : public ::testing::Test {
protected:
    void SetUp() override {
        stores_ = test::MemoryStores();
        auto ring = Keyring::Load(*stores_.keys, MasterKey(), clock_, metrics_);
        ASSERT_TRUE(ring) << ring.error().message;
        ring_ = std::move(*ring);
    }
    double Errors(const char* reason) { return metrics_.Errors(reason).Value(); }

    common::ManualClock clock_;
    KeyMetrics metrics_;
    storage::SqliteStores stores_;
    std::unique_ptr<Keyring> ring_;
};

TEST_F(KeyringTest, FirstLoadCreatesAWrappedVersionOne) {
    EXPECT_EQ(ring_->Current(), (KeyRef{"primary", 1}));
    auto rows = stores_.keys->ListDataKeys();
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 1u);
    const auto& row = (*rows)[0];
    EXPECT_EQ(row.state, "active");
    // Wrapped under the master key in the same envelope; the material is not stored.
    auto env = FromSealedText(row.wrapped);
    ASSERT_TRUE(env);
    EXPECT_EQ(env->key, (KeyRef{"master", 1}));
    EXPECT_EQ(env->ciphertext.size(), 32u + 16u);
}

TEST_F(KeyringTest, SealOpenRoundTripWithRecordIdAsAad) {
    auto sealed = ring_->Seal("task text", "debate-1");
    ASSERT_TRUE(sealed) << sealed.error().message;
    EXPECT_TRUE(ring_->IsSealed(*sealed));
    EXPECT_FALSE(ring_->IsSealed("task text"));
    EXPECT_EQ(*ring_->KeyOf(*sealed), (KeyRef{"primary", 1}));
    auto opened = ring_->Open(*sealed, "debate-1");
    ASSERT_TRUE(opened);
    EXPECT_EQ(*opened, "task text");
}

TEST_F(KeyringTest, AValueMovedToAnotherRowFailsAndIsCounted) {
    auto sealed = ring_->Seal("secret", "debate-1");
    ASSERT_TRUE(sealed);
    auto moved = ring_->Open(*sealed, "debate-2");
    ASSERT_FALSE(moved);
    EXPECT_EQ(moved.error().code, ErrorCode::kCrypto);
    EXPECT_NE(moved.error().message.find("primary v1"), std::string::npos);
    EXPECT_NE(moved.error().message.find("moved from another record"), std::string::npos);
    EXPECT_EQ(Errors("tampered"), 1);
}

TEST_F(KeyringTest, TruncatedOrFlippedFailsAndIsCounted) {
    auto sealed = ring_->Seal("secret value", "id");
    ASSERT_TRUE(sealed);
    auto truncated = ring_->Open(sealed->substr(0, 20), "id");
    ASSERT_FALSE(truncated);
    EXPECT_EQ(truncated.error().code, ErrorCode::kValidation);
    EXPECT_EQ(Errors("malformed"), 1);

    auto env = FromSealedText(*sealed);
    ASSERT_TRUE(env);
    env->ciphertext.pop_back();  // one tag byte short
    auto short_tag = ring_->Open(ToSealedText(*env), "id");
    ASSERT_FALSE(short_tag);
    EXPECT_EQ(short_tag.error().code, ErrorCode::kCrypto);
    env->ciphertext.push_back('\x00');
    env->ciphertext[0] ^= 1;
    EXPECT_EQ(ring_->Open(ToSealedText(*env), "id").error().code, ErrorCode::kCrypto);
    EXPECT_EQ(Errors("tampered"), 2);
}

TEST_F(KeyringTest, UnknownKeyIdOrVersionFailsAndIsCounted) {
    auto sealed = ring_->Seal("x", "id");
    ASSERT_TRUE(sealed);
    auto env = FromSealedText(*sealed);
    env->key = KeyRef{"primary", 9};
    auto unknown_version = ring_->Open(ToSealedText(*env), "id");
    ASSERT_FALSE(unknown_version);
    EXPECT_EQ(unknown_version.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(unknown_version.error().message, "unknown encryption key primary v9");
    env->key = KeyRef{"other", 1};
    EXPECT_EQ(ring_->Open(ToSealedText(*env), "id").error().message,
              "unknown encryption key other v1");
    EXPECT_EQ(Errors("unknown_key"), 2);
}

TEST_F(KeyringTest, ARestartKeepsEveryVersion) {
    auto v1 = ring_->Seal("under v1", "a");
    ASSERT_TRUE(ring_->Rotate(std::chrono::hours(24 * 7)));
    auto v2 = ring_->Seal("under v2", "b");
    ASSERT_TRUE(v1 && v2);
    EXPECT_EQ(ring_->KeyOf(*v2)->version, 2u);
    ring_.reset();

    auto again = Keyring::Load(*stores_.keys, MasterKey(), clock_, metrics_);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ((*again)->Current(), (KeyRef{"primary", 2}));
    EXPECT_EQ(*(*again)->Open(*v1, "a"), "under v1");
    EXPECT_EQ(*(*again)->Open(*v2, "b"), "under v2");
}

TEST_F(KeyringTest, AWrongMasterKeyRefusesToLoad) {
    ring_.reset();
    auto wrong = Keyring::Load(*stores_.keys, MasterKey('w'), clock_, metrics_);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code, ErrorCode::kCrypto);
    EXPECT_NE(wrong.error().message.find("does not open data key primary v1"), std::string::npos);
    EXPECT_EQ(wrong.error().message.find(MasterKey('w')), std::string::npos);
}

TEST_F(KeyringTest, AnExpiredKeyNoLongerOpens) {
    auto old = ring_->Seal("old", "id");
    ASSERT_TRUE(ring_->Rotate(std::chrono::hours(1)));
    EXPECT_EQ(ring_->Expire(KeyRef{"primary", 2}).error().code, ErrorCode::kValidation);
    ASSERT_TRUE(ring_->Expire(KeyRef{"primary", 1}));
    auto refused = ring_->Open(*old, "id");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(refused.error().message, "encryption key primary v1 has expired");
    EXPECT_EQ(Errors("expired_key"), 1);
}

TEST_F(KeyringTest, AnotherInstancesRotationIsSeenAfterReload) {
    auto other = Keyring::Load(*stores_.keys, MasterKey(), clock_, metrics_);
    ASSERT_TRUE(other);
    ASSERT_TRUE((*other)->Rotate(std::chrono::hours(24)));
    auto sealed = (*other)->Seal("from the other instance", "id");
    ASSERT_TRUE(sealed);
    EXPECT_FALSE(ring_->Open(*sealed, "id"));
    ASSERT_TRUE(ring_->Reload());
    EXPECT_EQ(*ring_->Open(*sealed, "id"), "from the other instance");
    EXPECT_EQ(ring_->Current().version, 2u);
    // Rotating from a stale view conflicts instead of forking the versions.
    auto stale = Keyring::Load(*stores_.keys, MasterKey(), clock_, metrics_);
    ASSERT_TRUE(stale);
    ASSERT_TRUE((*other)->Rotate(std::chrono::hours(24)));
    auto r = (*stale)->Rotate(std::chrono::hours(24));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
    EXPECT_EQ((*stale)->Current().version, 3u);
}

}  // namespace
}  // namespace aragora::keys
