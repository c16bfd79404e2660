// storage::KeyStore (encryption data keys and re-encryption progress) on SQLite and
// PostgreSQL: what a restart must find again, the rotation transaction, the rotation lock.

#include <gtest/gtest.h>

#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;

DataKeyRecord Key(std::int64_t version, const std::string& state) {
    DataKeyRecord k;
    k.key_id = "primary";
    k.version = version;
    k.wrapped = "enc:v1:wrapped-" + std::to_string(version);
    k.state = state;
    k.created_at = "2026-01-0" + std::to_string(version) + "T00:00:00.000Z";
    k.activated_at = k.created_at;
    return k;
}

class KeyStoreContractTest : public ::testing::TestWithParam<BackendKind> {
protected:
    void SetUp() override {
        backend_ = test_support::MakeBackend(GetParam());
        ASSERT_EQ(backend_->error(), "");
        auto opened = backend_->Open(true);
        ASSERT_TRUE(opened) << opened.error().message;
        stores_ = std::move(*opened);
        ASSERT_NE(stores_.keys, nullptr);
    }
    KeyStore& keys() { return *stores_.keys; }

    std::unique_ptr<test_support::TestBackend> backend_;
    test_support::OpenedStores stores_;
};

TEST_P(KeyStoreContractTest, DataKeysSurviveAReopen) {
    ASSERT_TRUE(keys().InsertDataKey(Key(1, kDataKeyActive)));
    auto dup = keys().InsertDataKey(Key(1, kDataKeyActive));
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
    EXPECT_EQ(keys().InsertDataKey(DataKeyRecord{}).error().code, ErrorCode::kValidation);

    stores_ = {};
    auto again = backend_->Open(false);
    ASSERT_TRUE(again) << again.error().message;
    auto list = again->keys->ListDataKeys();
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].key_id, "primary");
    EXPECT_EQ((*list)[0].version, 1);
    EXPECT_EQ((*list)[0].wrapped, "enc:v1:wrapped-1");
    EXPECT_EQ((*list)[0].state, kDataKeyActive);
    EXPECT_EQ((*list)[0].created_at, "2026-01-01T00:00:00.000Z");
}

TEST_P(KeyStoreContractTest, RotateRetiresTheActiveKeyInOneTransaction) {
    ASSERT_TRUE(keys().InsertDataKey(Key(1, kDataKeyActive)));
    ASSERT_TRUE(keys().RotateDataKey(Key(2, kDataKeyActive), "2026-04-01T00:00:00.000Z",
                                     "2026-04-08T00:00:00.000Z"));
    auto list = keys().ListDataKeys();
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].state, kDataKeyRetired);
    EXPECT_EQ((*list)[0].retired_at, "2026-04-01T00:00:00.000Z");
    EXPECT_EQ((*list)[0].expires_at, "2026-04-08T00:00:00.000Z");
    EXPECT_EQ((*list)[1].state, kDataKeyActive);

    // A second instance rotating to the same version loses: nothing changes.
    auto lost = keys().RotateDataKey(Key(2, kDataKeyActive), "2026-04-02T00:00:00.000Z",
                                     "2026-04-09T00:00:00.000Z");
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code, ErrorCode::kConflict);
    list = keys().ListDataKeys();
    EXPECT_EQ((*list)[1].state, kDataKeyActive);
    EXPECT_EQ((*list)[0].retired_at, "2026-04-01T00:00:00.000Z");

    ASSERT_TRUE(keys().SetDataKeyState("primary", 1, kDataKeyExpired));
    EXPECT_EQ(keys().ListDataKeys()->at(0).state, kDataKeyExpired);
    EXPECT_EQ(keys().SetDataKeyState("primary", 9, kDataKeyExpired).error().code,
              ErrorCode::kNotFound);
}

TEST_P(KeyStoreContractTest, ProgressIsUpsertedByTarget) {
    ReEncryptProgressRecord p;
    p.target = "debates";
    p.key_id = "primary";
    p.key_version = 2;
    p.cursor = "d-100";
    p.rewritten = 100;
    p.updated_at = "2026-04-01T00:00:00.000Z";
    ASSERT_TRUE(keys().SaveReEncryptProgress(p));
    p.cursor = "d-200";
    p.rewritten = 200;
    p.done = true;
    ASSERT_TRUE(keys().SaveReEncryptProgress(p));
    ReEncryptProgressRecord events = p;
    events.target = "events";
    events.done = false;
    events.cursor = "";
    ASSERT_TRUE(keys().SaveReEncryptProgress(events));

    stores_ = {};
    auto again = backend_->Open(false);
    ASSERT_TRUE(again);
    auto rows = again->keys->ListReEncryptProgress();
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0].target, "debates");
    EXPECT_EQ((*rows)[0].cursor, "d-200");
    EXPECT_EQ((*rows)[0].rewritten, 200);
    EXPECT_TRUE((*rows)[0].done);
    EXPECT_EQ((*rows)[0].key_version, 2);
    EXPECT_EQ((*rows)[1].target, "events");
    EXPECT_FALSE((*rows)[1].done);
}

TEST_P(KeyStoreContractTest, OneRotationLockHolderAtATime) {
    auto first = keys().TryLockRotation();
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_NE(*first, nullptr);
    auto second = keys().TryLockRotation();
    ASSERT_TRUE(second);
    EXPECT_EQ(*second, nullptr);
    if (GetParam() == BackendKind::kPostgres) {
        // Another instance (its own pool) is kept out too.
        auto other = backend_->Open(false);
        ASSERT_TRUE(other);
        auto theirs = other->keys->TryLockRotation();
        ASSERT_TRUE(theirs);
        EXPECT_EQ(*theirs, nullptr);
        first->reset();
        auto now_theirs = other->keys->TryLockRotation();
        ASSERT_TRUE(now_theirs);
        EXPECT_NE(*now_theirs, nullptr);
        return;
    }
    first->reset();
    auto again = keys().TryLockRotation();
    ASSERT_TRUE(again);
    EXPECT_NE(*again, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, KeyStoreContractTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
