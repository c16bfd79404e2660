// The receipt keyring (debate/receipt_keyring.hpp, ReceiptKeys::FindHmac): lookup by
// key_id across current/previous/retired keys, ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED, and
// the store-backed keyring across three rotations (with and without a master key).

#include "debate/receipt_keyring.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/crypto.hpp"
#include "common/time.hpp"
#include "debate/receipt_keys.hpp"
#include "storage/sqlite/sqlite_store.hpp"

namespace aragora::debate {
namespace {

const std::chrono::system_clock::time_point kNow =
    *common::ParseIso8601("2026-11-23T18:00:00.123Z");

DebateSpec Spec(const std::string& id) {
    DebateSpec spec;
    spec.id = id;
    spec.task = "Rotate the keys?";
    spec.agents = {"a", "b"};
    spec.rounds = 1;
    return spec;
}

DebateResult Result() {
    DebateResult r;
    r.status = DebateStatus::kCompleted;
    r.rounds_used = 1;
    r.verdict = "approved";
    r.confidence = 0.75;
    r.consensus.reached = true;
    r.consensus.confidence = 0.75;
    r.consensus.final_answer = "Yes.";
    return r;
}

std::string Sign(const ReceiptKeys& keys, const std::string& id) {
    auto r =
        BuildSignedReceipt(Spec("deb_" + id), Result(), "rcpt_" + id, std::nullopt, kNow, keys);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->json : std::string();
}

ReceiptKeys Hmac(std::string current, std::string previous = {},
                 std::vector<std::string> retired = {}) {
    ReceiptKeys k;
    k.hmac_current = std::move(current);
    k.hmac_previous = std::move(previous);
    k.hmac_retired = std::move(retired);
    return k;
}

// A stand-in for keys::FieldCipher (the real one is src/keys/): reversible, binds the
// associated data, and never holds the plaintext in clear.
class TestCipher final : public keys::FieldCipher {
public:
    explicit TestCipher(std::uint32_t version = 1) : version_(version) {}
    common::Result<std::string> Seal(std::string_view plaintext,
                                     std::string_view aad) const override {
        std::string x(plaintext);
        for (char& c : x) c = static_cast<char>(c ^ 0x5a);
        return "tc" + std::to_string(version_) + ":" + common::Base64Encode(aad) + ":" +
               common::Base64Encode(x);
    }
    common::Result<std::string> Open(std::string_view sealed, std::string_view aad) const override {
        // Opens what any version sealed (the keyring of a rotation overlap).
        const std::size_t colon = sealed.find(':');
        if (sealed.substr(0, 2) != "tc" || colon == std::string_view::npos)
            return common::MakeError(common::ErrorCode::kValidation, "bad envelope");
        const std::string prefix =
            std::string(sealed.substr(0, colon)) + ":" + common::Base64Encode(aad) + ":";
        if (sealed.substr(0, prefix.size()) != prefix)
            return common::MakeError(common::ErrorCode::kCrypto, "tag mismatch");
        auto x = common::Base64Decode(sealed.substr(prefix.size()));
        if (!x.ok()) return common::MakeError(common::ErrorCode::kValidation, "bad envelope");
        std::string out = *x;
        for (char& c : out) c = static_cast<char>(c ^ 0x5a);
        return out;
    }
    bool IsSealed(std::string_view v) const override { return v.substr(0, 2) == "tc"; }
    common::Result<keys::KeyRef> KeyOf(std::string_view v) const override {
        const std::size_t colon = v.find(':');
        if (v.substr(0, 2) != "tc" || colon == std::string_view::npos)
            return common::MakeError(common::ErrorCode::kValidation, "bad envelope");
        return keys::KeyRef{
            "test", static_cast<std::uint32_t>(std::stoul(std::string(v.substr(2, colon - 2))))};
    }
    keys::KeyRef Current() const override { return {"test", version_}; }

private:
    std::uint32_t version_;
};

TEST(ReceiptKeyringLookup, FindsHmacKeysByKeyIdInEveryState) {
    const ReceiptKeys keys = Hmac("k-current", "k-previous", {"k-retired-1", "k-retired-2"});
    ASSERT_NE(keys.FindHmac(KeyId("k-current")), nullptr);
    EXPECT_EQ(*keys.FindHmac(KeyId("k-current")), "k-current");
    EXPECT_EQ(*keys.FindHmac(KeyId("k-previous")), "k-previous");
    EXPECT_EQ(*keys.FindHmac(KeyId("k-retired-1")), "k-retired-1");
    EXPECT_EQ(*keys.FindHmac(KeyId("k-retired-2")), "k-retired-2");
    EXPECT_EQ(keys.FindHmac(KeyId("k-other")), nullptr);
    EXPECT_EQ(keys.FindHmac(""), nullptr);
    // Stable ids: derived from the key, the same in every process.
    EXPECT_EQ(KeyId("k-current"), common::Sha256Hex("k-current").substr(0, 16));
}

TEST(ReceiptKeyringLookup, ReceiptOfARetiredKeyVerifiesAndAnUnknownOneSaysSo) {
    const std::string r1 = Sign(Hmac("key-one"), "1");
    // Two rotations later, key-one only in the retired list.
    EXPECT_TRUE(VerifyReceipt(r1, Hmac("key-three", "key-two", {"key-one"})).valid);
    // Forgotten: exactly "unknown signing key".
    const ReceiptVerification v = VerifyReceipt(r1, Hmac("key-three", "key-two"));
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.reason, "unknown signing key (key_id " + KeyId("key-one") + ")");
}

TEST(ReceiptKeyringLookup, RetiredEd25519PublicKeysAreTrusted) {
    ReceiptKeys old_keys;
    old_keys.ed25519 = common::Ed25519Generate();
    const std::string r = Sign(old_keys, "ed");
    ReceiptKeys now;
    now.ed25519 = common::Ed25519Generate();
    EXPECT_EQ(VerifyReceipt(r, now).reason,
              "unknown signing key (key_id " + KeyId(old_keys.ed25519->public_key) + ")");
    now.ed25519_retired.push_back(old_keys.ed25519->public_key);
    EXPECT_TRUE(VerifyReceipt(r, now).valid);
}

class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "aragora-keyring-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

TEST(ReceiptKeysRetiredSetting, CommaListAndFile) {
    config::Settings s;
    s.receipts.signing_keys_retired = " alpha, beta ,,gamma ";
    auto list = LoadRetiredReceiptKeys(s);
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(*list, (std::vector<std::string>{"alpha", "beta", "gamma"}));

    TempDir dir;
    const auto file = dir.path() / "retired.keys";
    std::ofstream(file) << "# old receipt keys\nalpha\n\n  beta  \n";
    s.receipts.signing_keys_retired = file.string();
    list = LoadRetiredReceiptKeys(s);
    ASSERT_TRUE(list.ok()) << list.error().message;
    EXPECT_EQ(*list, (std::vector<std::string>{"alpha", "beta"}));

    s.receipts.signing_key = "current";
    auto keys = LoadReceiptKeys(s);
    ASSERT_TRUE(keys.ok());
    EXPECT_EQ(keys->hmac_retired, (std::vector<std::string>{"alpha", "beta"}));
}

class StoreKeyringTest : public ::testing::Test {
public:
    void SetUp() override { Reopen(); }
    void Reopen() {
        store_.reset();
        auto s = storage::OpenSqliteStore({(dir_.path() / "a.sqlite3").string()}, true);
        ASSERT_TRUE(s.ok()) << s.error().message;
        store_ = std::move(*s);
    }
    // One server start with `configured` on day `day`: the keyring it would serve.
    ReceiptKeyring Start(ReceiptKeys configured, int day,
                         std::shared_ptr<const keys::FieldCipher> cipher) {
        Reopen();
        KeyringSyncOptions o;
        o.cipher = std::move(cipher);
        o.now =
            "2026-01-" + std::string(day < 10 ? "0" : "") + std::to_string(day) + "T00:00:00.000Z";
        auto ring = SyncReceiptKeyring(*store_, std::move(configured), o);
        EXPECT_TRUE(ring.ok()) << (ring.ok() ? "" : ring.error().message);
        return ring.ok() ? std::move(*ring) : ReceiptKeyring{};
    }
    const ReceiptKeyInfo* Entry(const ReceiptKeyring& ring, const std::string& id) {
        for (const auto& e : ring.entries) {
            if (e.key_id == id) return &e;
        }
        return nullptr;
    }

protected:
    TempDir dir_;
    std::unique_ptr<storage::Store> store_;
};

TEST_F(StoreKeyringTest, ThreeRotationsWithAMasterKeyKeepEveryKey) {
    auto cipher = std::make_shared<TestCipher>();
    const std::string k1 = "first-key-0123456789", k2 = "second-key-0123456789",
                      k3 = "third-key-0123456789", k4 = "fourth-key-0123456789";
    std::vector<std::string> receipts;
    receipts.push_back(Sign(Start(Hmac(k1), 1, cipher).keys, "1"));
    receipts.push_back(Sign(Start(Hmac(k2, k1), 2, cipher).keys, "2"));
    // k1 leaves the environment: the store brings it back.
    receipts.push_back(Sign(Start(Hmac(k3, k2), 3, cipher).keys, "3"));
    ReceiptKeyring ring = Start(Hmac(k4, k3), 4, cipher);
    receipts.push_back(Sign(ring.keys, "4"));
    for (const auto& r : receipts) {
        const ReceiptVerification v = VerifyReceipt(r, ring.keys);
        EXPECT_TRUE(v.valid) << v.reason;
    }
    ASSERT_EQ(ring.entries.size(), 4u);
    EXPECT_EQ(Entry(ring, KeyId(k4))->state, ReceiptKeyState::kCurrent);
    EXPECT_EQ(Entry(ring, KeyId(k3))->state, ReceiptKeyState::kPrevious);
    EXPECT_EQ(Entry(ring, KeyId(k1))->state, ReceiptKeyState::kRetired);
    EXPECT_TRUE(Entry(ring, KeyId(k1))->verifiable);
    EXPECT_EQ(Entry(ring, KeyId(k1))->first_seen_at, "2026-01-01T00:00:00.000Z");
    EXPECT_EQ(Entry(ring, KeyId(k1))->retired_at, "2026-01-02T00:00:00.000Z");
    EXPECT_TRUE(ring.warnings.empty()) << ring.warnings.front();

    // Never in clear in the store; the listing carries no secret either.
    auto rows = store_->ListReceiptKeys();
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), 4u);
    for (const auto& row : *rows) {
        EXPECT_FALSE(row.sealed_secret.empty()) << row.key_id;
        for (const std::string& k : {k1, k2, k3, k4}) {
            EXPECT_EQ(row.sealed_secret.find(k), std::string::npos);
            EXPECT_EQ(row.sealed_secret.find(common::Base64Encode(k)), std::string::npos);
        }
    }
    const std::string listed = KeyringListJson(ring) + PublishedReceiptKeysJson(ring);
    for (const std::string& k : {k1, k2, k3, k4}) {
        EXPECT_EQ(listed.find(k), std::string::npos);
        EXPECT_EQ(listed.find(common::Base64Encode(k)), std::string::npos);
    }

    // A read-only load (the CLI) sees the same keyring and writes nothing.
    KeyringSyncOptions ro;
    ro.cipher = cipher;
    ro.now = "2026-02-01T00:00:00.000Z";
    ro.write = false;
    auto cli = SyncReceiptKeyring(*store_, Hmac(k4), ro);
    ASSERT_TRUE(cli.ok());
    EXPECT_TRUE(VerifyReceipt(receipts[0], cli->keys).valid);
    EXPECT_TRUE(VerifyReceipt(receipts[2], cli->keys).valid);
    EXPECT_EQ(store_->ListReceiptKeys()->at(2).retired_at, "2026-01-04T00:00:00.000Z");
}

TEST_F(StoreKeyringTest, WithoutAMasterKeyOnlyIdsAndPublicKeysAreKept) {
    ReceiptKeys first = Hmac("alpha-key-000000000");
    first.ed25519 = common::Ed25519Generate();
    ReceiptKeyring ring = Start(first, 1, nullptr);
    ASSERT_FALSE(ring.warnings.empty());
    EXPECT_NE(ring.warnings[0].find("ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED"), std::string::npos);
    const std::string r1 = Sign(ring.keys, "1");
    const std::string r1_hmac_only = Sign(Hmac(ring.keys.hmac_current), "1h");

    ReceiptKeys second = Hmac("beta-key-000000000");
    second.ed25519 = common::Ed25519Generate();
    ring = Start(second, 2, nullptr);
    // The Ed25519 signature of r1 verifies from the stored public key; an HMAC signature
    // alone cannot: the secret was never stored.
    EXPECT_TRUE(VerifyReceipt(r1, ring.keys).valid) << VerifyReceipt(r1, ring.keys).reason;
    EXPECT_EQ(VerifyReceipt(r1_hmac_only, ring.keys).reason,
              "unknown signing key (key_id " + KeyId("alpha-key-000000000") + ")");
    const ReceiptKeyInfo* gone = Entry(ring, KeyId("alpha-key-000000000"));
    ASSERT_NE(gone, nullptr);
    EXPECT_FALSE(gone->verifiable);
    EXPECT_EQ(gone->state, ReceiptKeyState::kRetired);
    const ReceiptKeyInfo* old_ed = Entry(ring, KeyId(first.ed25519->public_key));
    ASSERT_NE(old_ed, nullptr);
    EXPECT_TRUE(old_ed->verifiable);
    EXPECT_EQ(ring.keys.ed25519_retired.size(), 1u);
    const auto stored = store_->ListReceiptKeys();
    ASSERT_TRUE(stored.ok());
    for (const auto& row : *stored) EXPECT_EQ(row.sealed_secret, "");

    // Listed in ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED: verifies again.
    ReceiptKeys third = second;
    third.hmac_retired = {"alpha-key-000000000"};
    ring = Start(third, 3, nullptr);
    EXPECT_TRUE(VerifyReceipt(r1_hmac_only, ring.keys).valid);

    // The published document: both Ed25519 keys, no HMAC key.
    const std::string doc = PublishedReceiptKeysJson(ring);
    EXPECT_NE(doc.find(common::Base64Encode(first.ed25519->public_key)), std::string::npos);
    EXPECT_NE(doc.find(common::Base64Encode(second.ed25519->public_key)), std::string::npos);
    EXPECT_EQ(doc.find(KeyId("alpha-key-000000000")), std::string::npos);
    EXPECT_NE(doc.find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST_F(StoreKeyringTest, ASealedKeyThatDoesNotOpenIsSkippedWithAWarning) {
    auto cipher = std::make_shared<TestCipher>();
    Start(Hmac("gamma-key-000000000"), 1, cipher);
    // Another master key now (the test cipher binds the associated data: a row moved to
    // another key id fails the same way).
    storage::ReceiptKeyRow moved;
    moved.key_id = "0000000000000000";
    moved.algorithm = "hmac-sha256";
    moved.sealed_secret = store_->ListReceiptKeys()->at(0).sealed_secret;
    moved.first_seen_at = moved.last_seen_at = "2026-01-01T00:00:00.000Z";
    ASSERT_TRUE(store_->RecordReceiptKey(moved).ok());
    ReceiptKeyring ring = Start(Hmac("delta-key-000000000"), 2, cipher);
    EXPECT_TRUE(ring.keys.FindHmac(KeyId("gamma-key-000000000")) != nullptr);
    bool warned = false;
    for (const auto& w : ring.warnings) {
        if (w.find("0000000000000000") != std::string::npos) warned = true;
        EXPECT_EQ(w.find("gamma-key"), std::string::npos);
    }
    EXPECT_TRUE(warned);
}

TEST_F(StoreKeyringTest, ReEncryptTargetResealsRetiredKeysUnderTheCurrentDataKey) {
    auto v1 = std::make_shared<TestCipher>(1);
    const std::string k1 = "epsilon-key-000000000", k2 = "zeta-key-000000000";
    const std::string r1 = Sign(Start(Hmac(k1), 1, v1).keys, "1");
    Start(Hmac(k2), 2, v1);  // k1 retired, sealed under version 1 only
    auto v2 = std::make_shared<TestCipher>(2);
    ReceiptKeyReEncryptTarget target(*store_, v2);
    EXPECT_EQ(target.Name(), "receipt_signing_keys");
    EXPECT_EQ(*target.CountNotUnder(v2->Current()), 2);
    auto first = target.ReEncrypt(*v2, "", 1);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->rewritten, 1);
    EXPECT_FALSE(first->done);
    auto rest = target.ReEncrypt(*v2, first->next_cursor, 10);
    ASSERT_TRUE(rest.ok());
    EXPECT_EQ(rest->rewritten, 1);
    EXPECT_TRUE(rest->done);
    EXPECT_EQ(*target.CountNotUnder(v2->Current()), 0);
    // A rerun rewrites nothing (never sealed twice).
    auto again = target.ReEncrypt(*v2, "", 10);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->rewritten, 0);
    EXPECT_EQ(again->skipped, 2);
    // Dates and retirement survive; the retired key still verifies under the new data key.
    const auto resealed = store_->ListReceiptKeys();
    ASSERT_TRUE(resealed.ok());
    for (const auto& row : *resealed) {
        EXPECT_EQ(row.sealed_secret.substr(0, 4), "tc2:") << row.key_id;
        EXPECT_FALSE(row.first_seen_at.empty());
    }
    EXPECT_EQ(store_->ListReceiptKeys()->at(0).retired_at, "2026-01-02T00:00:00.000Z");
    KeyringSyncOptions ro;
    ro.cipher = v2;
    ro.now = "2026-01-03T00:00:00.000Z";
    ro.write = false;
    auto ring = SyncReceiptKeyring(*store_, Hmac(k2), ro);
    ASSERT_TRUE(ring.ok());
    EXPECT_TRUE(VerifyReceipt(r1, ring->keys).valid);
}

}  // namespace
}  // namespace aragora::debate
