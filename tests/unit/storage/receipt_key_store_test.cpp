// The receipt keyring in the Store contract (store.hpp ReceiptKeyRow), on SQLite and
// PostgreSQL: insert, merge (earliest first_seen, latest last_seen, an empty secret or
// public key never erases the stored one, retired_at as given), ordering, validation,
// and the rows survive reopening (a restart).

#include <gtest/gtest.h>

#include <string>

#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;

class ReceiptKeyStoreTest : public test_support::StoreSuite {
public:
    static ReceiptKeyRow Row(const std::string& id, const std::string& algorithm,
                             const std::string& seen) {
        ReceiptKeyRow r;
        r.key_id = id;
        r.algorithm = algorithm;
        r.first_seen_at = seen;
        r.last_seen_at = seen;
        return r;
    }

protected:
};

TEST_P(ReceiptKeyStoreTest, RecordsAndMergesRows) {
    ReceiptKeyRow hmac = Row("aaaa000000000001", "hmac-sha256", "2026-01-02T00:00:00.000Z");
    hmac.sealed_secret = "sealed-v1";
    ASSERT_TRUE(store_->RecordReceiptKey(hmac).ok());
    ReceiptKeyRow ed = Row("bbbb000000000002", "ed25519", "2026-01-01T00:00:00.000Z");
    ed.public_key = "cHVibGlj";
    ASSERT_TRUE(store_->RecordReceiptKey(ed).ok());

    // Seen again later, without a secret (no master key now), then retired.
    ReceiptKeyRow again = Row("aaaa000000000001", "hmac-sha256", "2026-03-01T00:00:00.000Z");
    again.retired_at = "2026-03-01T00:00:00.000Z";
    ASSERT_TRUE(store_->RecordReceiptKey(again).ok());
    // An older sighting does not move the dates back.
    ReceiptKeyRow older = Row("aaaa000000000001", "hmac-sha256", "2025-12-01T00:00:00.000Z");
    older.last_seen_at = "2026-02-01T00:00:00.000Z";
    older.retired_at = "2026-03-01T00:00:00.000Z";
    ASSERT_TRUE(store_->RecordReceiptKey(older).ok());

    auto rows = store_->ListReceiptKeys();
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_EQ(rows->size(), 2u);
    // Ordered by first_seen_at.
    EXPECT_EQ((*rows)[0].key_id, "aaaa000000000001");
    EXPECT_EQ((*rows)[0].first_seen_at, "2025-12-01T00:00:00.000Z");
    EXPECT_EQ((*rows)[0].last_seen_at, "2026-03-01T00:00:00.000Z");
    EXPECT_EQ((*rows)[0].sealed_secret, "sealed-v1");  // never erased by an empty one
    EXPECT_EQ((*rows)[0].retired_at, "2026-03-01T00:00:00.000Z");
    EXPECT_EQ((*rows)[0].algorithm, "hmac-sha256");
    EXPECT_EQ((*rows)[1].key_id, "bbbb000000000002");
    EXPECT_EQ((*rows)[1].public_key, "cHVibGlj");
    EXPECT_EQ((*rows)[1].retired_at, "");

    // Configured again: retired_at cleared; a new sealed copy replaces the old one.
    ReceiptKeyRow back = Row("aaaa000000000001", "hmac-sha256", "2026-04-01T00:00:00.000Z");
    back.sealed_secret = "sealed-v2";
    ASSERT_TRUE(store_->RecordReceiptKey(back).ok());
    rows = store_->ListReceiptKeys();
    ASSERT_TRUE(rows.ok());
    EXPECT_EQ((*rows)[0].retired_at, "");
    EXPECT_EQ((*rows)[0].sealed_secret, "sealed-v2");
}

TEST_P(ReceiptKeyStoreTest, SurvivesReopening) {
    ReceiptKeyRow ed = Row("cccc000000000003", "ed25519", "2026-01-01T00:00:00.000Z");
    ed.public_key = "a2V5";
    ASSERT_TRUE(store_->RecordReceiptKey(ed).ok());
    store_.reset();
    auto reopened = backend_->Open(/*migrate=*/true);
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    auto rows = reopened->store->ListReceiptKeys();
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].public_key, "a2V5");
}

TEST_P(ReceiptKeyStoreTest, RejectsInvalidRows) {
    EXPECT_EQ(store_->RecordReceiptKey(Row("", "ed25519", "x")).error().code,
              ErrorCode::kValidation);
    EXPECT_EQ(store_->RecordReceiptKey(Row("dddd", "rsa", "x")).error().code,
              ErrorCode::kValidation);
    EXPECT_EQ(store_->RecordReceiptKey(Row("dddd", "ed25519", "")).error().code,
              ErrorCode::kValidation);
    EXPECT_TRUE(store_->ListReceiptKeys()->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, ReceiptKeyStoreTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
