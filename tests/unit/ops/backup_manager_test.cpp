#include "ops/backup_manager.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <regex>
#include <set>

#include "../../support/test_field_cipher.hpp"
#include "backup_test_support.hpp"
#include "common/crypto.hpp"
#include "common/json_text.hpp"
#include "ops/backup_codec.hpp"
#include "ops/backup_crypto.hpp"
#include "ops/backup_manifest.hpp"
#include "ops/file_stream.hpp"
#include "ops/sqlite_backup.hpp"
#include "storage/content_cipher.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

class BackupManagerTest : public ::testing::Test {
protected:
    void SetUp() override {
        db_ = dir_.path() / "data" / "aragora.sqlite3";
        test_support::PopulateStore(db_, 5, test_support::TestKeys());
        manager_ = OpenManager(test_support::TestKeys());
    }

    std::unique_ptr<BackupManager> OpenManager(
        std::optional<debate::ReceiptKeys> keys, bool compression = true,
        const std::string& backup_key_hex = "", bool key_from_file = false,
        std::shared_ptr<const ::aragora::keys::FieldCipher> content_cipher = nullptr) {
        BackupManagerOptions o;
        o.content_cipher = std::move(content_cipher);
        o.compression = compression;
        o.encryption_key_hex = backup_key_hex;
        o.receipt_key_from_file = key_from_file;
        o.backup_dir = dir_.path() / "backups";
        o.restore_dir = dir_.path() / "restore";
        o.receipt_keys = std::move(keys);
        o.app_version = "test";
        auto m = BackupManager::Open(o, MakeSqliteBackupEngine(SqliteBackupOptions{db_.string()}),
                                     clock_);
        EXPECT_TRUE(m) << m.error().message;
        return m ? std::move(*m) : nullptr;
    }

    BackupMetadata CreateOk() {
        auto m = manager_->Create(CreateOptions{});
        EXPECT_TRUE(m) << m.error().message;
        return m ? *m : BackupMetadata{};
    }

    // Sets a manifest entry's checksum (what an attacker who can write the backup dir does).
    void SetChecksum(const std::string& id, const std::string& sum) {
        ASSERT_TRUE(
            BackupManifest(dir_.path() / "backups").Update(clock_.SystemNow(), [&](auto& e) {
                e.at(id).checksum = sum;
                return common::Status();
            }));
    }

    TempDir dir_;
    fs::path db_;
    common::ManualClock clock_;  // 2027-01-15T08:00:00Z
    std::unique_ptr<BackupManager> manager_;
};

TEST_F(BackupManagerTest, CreateWritesAVerifiedBackupWithTheOriginalsNameAndManifestFields) {
    const BackupMetadata m = CreateOk();
    EXPECT_TRUE(
        std::regex_match(m.file_name, std::regex("aragora_20270115_080000_[0-9a-f]{8}\\.db\\.gz")))
        << m.file_name;
    EXPECT_EQ(m.status, BackupStatus::kVerified);
    EXPECT_TRUE(m.verified);
    EXPECT_TRUE(m.restore_tested);
    EXPECT_EQ(m.kind, "sqlite");
    EXPECT_EQ(m.row_counts.at("debates"), 5);
    EXPECT_EQ(m.row_counts.at("receipts"), 5);
    EXPECT_EQ(m.row_counts.at("debate_events"), 15);
    EXPECT_EQ(m.schema_version, storage::SqliteMigrations().back().version);
    EXPECT_FALSE(m.schema_hash.empty());
    EXPECT_FALSE(m.table_checksums.at("receipts").empty());
    auto sum = Sha256File(m.backup_path);
    ASSERT_TRUE(sum);
    EXPECT_EQ(m.checksum, *sum);
    ASSERT_EQ(m.receipt_keys.size(), 1u);
    EXPECT_EQ(m.receipt_keys[0].key_id, debate::KeyId(test_support::TestKeys().hmac_current));
    EXPECT_EQ(m.keys_file, "");  // not encrypted: no secret written
    // The HMAC secret is nowhere in the backup dir.
    for (const auto& e : fs::recursive_directory_iterator(dir_.path() / "backups")) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string all((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(all.find(test_support::TestKeys().hmac_current), std::string::npos) << e.path();
    }
    // No temporary snapshot or scratch database is left behind.
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir_.path() / "backups"))
        if (e.path().filename().string()[0] != '.') ++files;
    EXPECT_EQ(files, 2);  // the backup and manifest.json
    EXPECT_TRUE(fs::is_empty(dir_.path() / "restore"));
}

TEST_F(BackupManagerTest, AnUncompressedBackupIsThePlainSnapshotAndVerifies) {
    auto plain = OpenManager(test_support::TestKeys(), false);
    auto m = plain->Create(CreateOptions{});
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_TRUE(std::regex_match(m->file_name, std::regex("aragora_.*_[0-9a-f]{8}\\.db")));
    EXPECT_EQ(m->status, BackupStatus::kVerified);
    EXPECT_EQ(m->checksum, *Sha256File(m->backup_path));
    auto inspection = InspectSqliteFile(m->backup_path, true);
    ASSERT_TRUE(inspection);
    EXPECT_EQ(inspection->schema_hash, m->schema_hash);
}

TEST_F(BackupManagerTest, VerifyReVerifiesEveryReceipt) {
    const BackupMetadata m = CreateOk();
    auto v = manager_->Verify(m.id);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_TRUE(v->verified) << (v->errors.empty() ? "" : v->errors.front());
    EXPECT_TRUE(v->checksum_valid && v->tables_valid && v->row_counts_valid && v->schema_valid &&
                v->integrity_valid && v->table_checksums_valid && v->receipts_valid);
    EXPECT_EQ(v->receipt_chain.receipts, 5);
    EXPECT_EQ(v->receipt_chain.verified, 5);
    EXPECT_TRUE(v->failures.empty());
}

TEST_F(BackupManagerTest, ReceiptsSealedAtRestVerifyThroughTheContentCipher) {
    // A debate written with ARAGORA_ENCRYPT_DEBATE_CONTENT on: its receipt JSON is sealed.
    auto cipher = std::make_shared<::aragora::test_support::TestFieldCipher>();
    {
        auto store = storage::WrapWithContentCipher(test_support::OpenStore(db_), cipher, {});
        test_support::AddCompletedDebate(*store, "sealed", test_support::TestKeys());
    }
    const BackupMetadata m = CreateOk();
    // Without the cipher the sealed receipt reads as malformed...
    auto without = manager_->Verify(m.id);
    ASSERT_TRUE(without) << without.error().message;
    EXPECT_FALSE(without->receipts_valid);
    // ...with it, verification opens it first and all six verify.
    auto with = OpenManager(test_support::TestKeys(), true, "", false, cipher);
    ASSERT_TRUE(with);
    auto v = with->Verify(m.id);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_TRUE(v->receipts_valid) << (v->errors.empty() ? "" : v->errors.front());
    EXPECT_EQ(v->receipt_chain.verified, 6);
}

TEST_F(BackupManagerTest, AFlippedByteFailsOnTheChecksum) {
    const BackupMetadata m = CreateOk();
    {
        std::fstream f(m.backup_path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(m.compressed_size_bytes / 2));
        char c = 0;
        f.read(&c, 1);
        f.seekp(static_cast<std::streamoff>(m.compressed_size_bytes / 2));
        c = static_cast<char>(c ^ 0x01);
        f.write(&c, 1);
    }
    auto v = manager_->Verify(m.id);
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->verified);
    EXPECT_FALSE(v->checksum_valid);
    ASSERT_FALSE(v->failures.empty());
    EXPECT_EQ(v->failures[0].check, "checksum");
    auto after = manager_->Get(m.id);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, BackupStatus::kCompleted);  // no longer "verified"
    EXPECT_FALSE(after->verified);
}

// Someone who can write the backup dir edits a receipt inside the backup and fixes up
// the file checksum: verification names the receipt (and the table whose checksum moved).
TEST_F(BackupManagerTest, AReceiptAlteredInsideTheBackupIsNamed) {
    const BackupMetadata m = CreateOk();
    const fs::path raw = dir_.path() / "tampered.sqlite3";
    ASSERT_TRUE(DecodeBackupFile(m.backup_path, raw, CodecOptions{true}, {}));
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(raw.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "UPDATE receipts SET json = replace(json, '\"approved\"', "
                               "'\"rejected\"') WHERE receipt_id = 'rcpt-d2'",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        EXPECT_EQ(sqlite3_changes(db), 1);
        sqlite3_close(db);
    }
    ASSERT_TRUE(EncodeBackupFile(raw, m.backup_path, CodecOptions{true}, {}));
    SetChecksum(m.id, *Sha256File(m.backup_path));

    auto v = manager_->Verify(m.id);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->checksum_valid);
    EXPECT_FALSE(v->verified);
    EXPECT_FALSE(v->receipts_valid);
    bool receipt_named = false, table_named = false;
    for (const auto& f : v->failures) {
        if (f.check == "receipt" && f.receipt_id == "rcpt-d2") receipt_named = true;
        if (f.check == "table_checksum" && f.table == "receipts") table_named = true;
        EXPECT_NE(f.receipt_id, "rcpt-d1");
    }
    EXPECT_TRUE(receipt_named);
    EXPECT_TRUE(table_named);
    const auto json = v->ToJson();
    EXPECT_NE(common::SerializeJson(json).find("rcpt-d2"), std::string::npos);
}

TEST_F(BackupManagerTest, WithoutReceiptKeysVerificationCannotPass) {
    const BackupMetadata m = CreateOk();
    auto keyless = OpenManager(std::nullopt);
    auto v = keyless->Verify(m.id);
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->verified);
    EXPECT_EQ(v->failures.front().check, "keys");
}

TEST_F(BackupManagerTest, ASkippedRestoreTestChecksOnlyTheChecksum) {
    const BackupMetadata m = CreateOk();
    auto v = manager_->Verify(m.id, false);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->verified);
    EXPECT_FALSE(v->restore_tested);
    EXPECT_FALSE(v->receipt_chain.checked);
}

TEST_F(BackupManagerTest, GetAcceptsAUniquePrefixAndListFiltersAndPages) {
    const BackupMetadata a = CreateOk();
    clock_.Advance(std::chrono::hours(1));
    const BackupMetadata b = CreateOk();
    auto got = manager_->Get(b.id.substr(0, 8));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->id, b.id);
    EXPECT_EQ(manager_->Get("zz").error().code, common::ErrorCode::kNotFound);
    // Two ids sharing a prefix: ambiguous.
    ASSERT_TRUE(BackupManifest(dir_.path() / "backups").Update(clock_.SystemNow(), [&](auto& e) {
        BackupMetadata x = a, y = a;
        x.id = "ab000001";
        y.id = "ab000002";
        e[x.id] = x;
        e[y.id] = y;
        return common::Status();
    }));
    auto ambiguous = manager_->Get("ab");
    ASSERT_FALSE(ambiguous);
    EXPECT_EQ(ambiguous.error().code, common::ErrorCode::kConflict);
    EXPECT_NE(ambiguous.error().message.find("ab000001"), std::string::npos);

    auto page = manager_->List(ListFilter{.limit = 1});
    ASSERT_TRUE(page);
    EXPECT_EQ(page->total, 4);
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_EQ(page->items[0].id, b.id);  // newest first
    EXPECT_TRUE(page->has_more);
    auto since = manager_->List(ListFilter{.since = b.created_at});
    ASSERT_TRUE(since);
    EXPECT_EQ(since->total, 1);
    EXPECT_FALSE(manager_->List(ListFilter{.limit = 0}));
}

TEST_F(BackupManagerTest, RestoreWritesAStoreWhoseReceiptsAreByteIdentical) {
    const BackupMetadata m = CreateOk();
    const fs::path target = dir_.path() / "new" / "aragora.sqlite3";
    auto dry = manager_->Restore(m.id, RestoreOptions{.target = target.string(), .dry_run = true});
    ASSERT_TRUE(dry) << dry.error().message;
    EXPECT_TRUE(dry->verified);
    EXPECT_FALSE(dry->restored);
    EXPECT_FALSE(fs::exists(target));

    auto r = manager_->Restore(m.id, RestoreOptions{.target = target.string()});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->restored);
    EXPECT_TRUE(r->missing_key_ids.empty());
    auto source = test_support::OpenStore(db_);
    auto restored = test_support::OpenStore(target);
    auto a = source->ListReceiptChain(0, 100);
    auto b = restored->ListReceiptChain(0, 100);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->size(), 5u);
    ASSERT_EQ(b->size(), a->size());
    for (std::size_t i = 0; i < a->size(); ++i)
        EXPECT_EQ((*a)[i].receipt.json, (*b)[i].receipt.json);

    auto again = manager_->Restore(m.id, RestoreOptions{.target = target.string()});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, common::ErrorCode::kConflict);
    auto forced = manager_->Restore(m.id, RestoreOptions{.target = target.string(), .force = true});
    ASSERT_TRUE(forced) << forced.error().message;
    EXPECT_NE(forced->kept_previous.find(".pre-restore-"), std::string::npos);
}

TEST_F(BackupManagerTest, ACorruptBackupIsNotRestored) {
    const BackupMetadata m = CreateOk();
    std::ofstream(m.backup_path, std::ios::app) << "x";
    const fs::path target = dir_.path() / "new" / "aragora.sqlite3";
    auto r = manager_->Restore(m.id, RestoreOptions{.target = target.string()});
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->restored);
    EXPECT_FALSE(r->verified);
    EXPECT_FALSE(fs::exists(target));
}

TEST_F(BackupManagerTest, DrillMeasuresRpoAndAppendsToTheHistory) {
    const BackupMetadata m = CreateOk();
    clock_.Advance(std::chrono::minutes(90));
    auto d = manager_->Drill();
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->backup_id, m.id);
    EXPECT_EQ(d->status, "passed");
    EXPECT_DOUBLE_EQ(d->rpo_seconds, 5400);
    EXPECT_EQ(d->receipts_verified, 5);
    EXPECT_TRUE(d->checksum_valid && d->schema_valid && d->integrity_valid);
    EXPECT_EQ(d->drill_id.size(), 12u);
    auto history = manager_->DrillHistory();
    ASSERT_TRUE(history);
    ASSERT_EQ(history->size(), 1u);
    EXPECT_EQ(history->front().drill_id, d->drill_id);
    auto st = manager_->Status();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->total_backups, 1);
    EXPECT_EQ(st->verified_backups, 1);
    ASSERT_TRUE(st->last_drill);
    EXPECT_EQ(st->last_drill->drill_id, d->drill_id);
    EXPECT_DOUBLE_EQ(*st->last_success_age_seconds, 5400);
}

TEST_F(BackupManagerTest, DrillWithoutAVerifiedBackupIsNotFound) {
    auto d = manager_->Drill();
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, common::ErrorCode::kNotFound);
}

TEST_F(BackupManagerTest, DeleteRemovesTheFileAndTheEntry) {
    const BackupMetadata m = CreateOk();
    ASSERT_TRUE(manager_->Delete(m.id.substr(0, 4)));
    EXPECT_FALSE(fs::exists(m.backup_path));
    EXPECT_EQ(manager_->Get(m.id).error().code, common::ErrorCode::kNotFound);
}

TEST_F(BackupManagerTest, AFailedCreateIsRecordedAsFailed) {
    fs::remove(db_);
    auto r = manager_->Create(CreateOptions{});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, common::ErrorCode::kNotFound);
    auto page = manager_->List(ListFilter{});
    ASSERT_TRUE(page);
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_EQ(page->items[0].status, BackupStatus::kFailed);
    EXPECT_NE(page->items[0].error->find("does not exist"), std::string::npos);
}

std::string KeyHex(const BackupKey& key) {
    return common::HexEncode(
        std::string_view(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()));
}

std::string FileText(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST_F(BackupManagerTest, AnEncryptedBackupHoldsNoPlaintextAndCarriesTheReceiptKeysSealed) {
    const BackupKey key = GenerateBackupKey();
    auto enc = OpenManager(test_support::TestKeys(), true, KeyHex(key));
    auto m = enc->Create(CreateOptions{});
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_TRUE(m->encrypted);
    EXPECT_EQ(m->encryption_key_id, key.key_id);
    EXPECT_TRUE(std::regex_match(m->file_name, std::regex(".*\\.db\\.gz\\.enc"))) << m->file_name;
    EXPECT_EQ(m->keys_file, m->file_name + ".keys");
    EXPECT_EQ(m->status, BackupStatus::kVerified);
    // An uncompressed encrypted backup too: no task text, no secret anywhere.
    auto raw = OpenManager(test_support::TestKeys(), false, KeyHex(key));
    auto plain = raw->Create(CreateOptions{});
    ASSERT_TRUE(plain) << plain.error().message;
    for (const auto& e : fs::directory_iterator(dir_.path() / "backups")) {
        const std::string all = FileText(e.path());
        EXPECT_EQ(all.find("Should we back up"), std::string::npos) << e.path();
        EXPECT_EQ(all.find(test_support::TestKeys().hmac_current), std::string::npos) << e.path();
    }
    // The keys it carries are enough to verify its receipts without any configured.
    auto keyless = OpenManager(std::nullopt, true, KeyHex(key));
    auto v = keyless->Verify(m->id);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->verified) << (v->errors.empty() ? "" : v->errors.front());
}

TEST_F(BackupManagerTest, AWrongOrMissingKeyOrADamagedFileIsOneClearError) {
    auto enc = OpenManager(test_support::TestKeys(), true, KeyHex(GenerateBackupKey()));
    auto m = enc->Create(CreateOptions{});
    ASSERT_TRUE(m) << m.error().message;

    auto wrong = OpenManager(test_support::TestKeys(), true, KeyHex(GenerateBackupKey()));
    auto v = wrong->Verify(m->id);
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->verified);
    ASSERT_EQ(v->failures.size(), 1u);
    EXPECT_EQ(v->failures[0].check, "decrypt");
    EXPECT_NE(v->failures[0].message.find("encrypted under key " + *m->encryption_key_id),
              std::string::npos)
        << v->failures[0].message;

    auto none = OpenManager(test_support::TestKeys());
    v = none->Verify(m->id);
    ASSERT_TRUE(v);
    ASSERT_EQ(v->failures.size(), 1u);
    EXPECT_NE(v->failures[0].message.find("ARAGORA_BACKUP_ENCRYPTION_KEY"), std::string::npos);

    fs::resize_file(m->backup_path, m->compressed_size_bytes - 100);
    SetChecksum(m->id, *Sha256File(m->backup_path));  // so that decryption is reached
    v = enc->Verify(m->id);
    ASSERT_TRUE(v);
    ASSERT_EQ(v->failures.size(), 1u);
    EXPECT_EQ(v->failures[0].check, "decrypt");
    // A file cut inside its only chunk cannot be told from a damaged one: either way one
    // line from the decryption, never garbage.
    EXPECT_EQ(v->failures[0].message.rfind("encrypted backup is ", 0), 0u)
        << v->failures[0].message;
}

TEST_F(BackupManagerTest, RestorePutsTheLocalReceiptKeyBackBesideTheDatabase) {
    const BackupKey key = GenerateBackupKey();
    auto enc = OpenManager(test_support::TestKeys(), true, KeyHex(key), /*key_from_file=*/true);
    auto m = enc->Create(CreateOptions{});
    ASSERT_TRUE(m) << m.error().message;
    const fs::path target = dir_.path() / "fresh" / "aragora.sqlite3";
    auto r = enc->Restore(m->id, RestoreOptions{.target = target.string()});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->restored);
    EXPECT_EQ(r->receipt_key_file, (target.parent_path() / "receipt_signing.key").string());
    EXPECT_EQ(FileText(r->receipt_key_file), test_support::TestKeys().hmac_current + "\n");
    EXPECT_EQ(fs::status(r->receipt_key_file).permissions() & fs::perms::group_all,
              fs::perms::none);
    EXPECT_TRUE(r->missing_key_ids.empty());
}

TEST_F(BackupManagerTest, RestoreNamesTheKeyIdsTheConfigurationLacks) {
    const BackupMetadata m = CreateOk();
    debate::ReceiptKeys other;
    other.hmac_current = "another-key";
    auto elsewhere = OpenManager(other);
    const fs::path target = dir_.path() / "fresh" / "aragora.sqlite3";
    auto r =
        elsewhere->Restore(m.id, RestoreOptions{.target = target.string(), .skip_verify = true});
    ASSERT_TRUE(r) << r.error().message;
    // With --skip-verify the receipts were not read: nothing to name.
    EXPECT_TRUE(r->missing_key_ids.empty());
    auto checked =
        elsewhere->Restore(m.id, RestoreOptions{.target = target.string(), .dry_run = true});
    ASSERT_TRUE(checked);
    EXPECT_FALSE(checked->verified);
    ASSERT_EQ(checked->missing_key_ids.size(), 1u);
    EXPECT_EQ(checked->missing_key_ids[0], debate::KeyId(test_support::TestKeys().hmac_current));
}

// Ten daily backups: the preview names exactly what the deletion then removes.
TEST_F(BackupManagerTest, CleanupPreviewEqualsTheDeletion) {
    auto keep_two = [&] {
        BackupManagerOptions o;
        o.backup_dir = dir_.path() / "backups";
        o.restore_dir = dir_.path() / "restore";
        o.keep_daily = 2;
        o.keep_weekly = 1;
        o.keep_monthly = 1;
        auto m = BackupManager::Open(o, MakeSqliteBackupEngine(SqliteBackupOptions{db_.string()}),
                                     clock_);
        return m ? std::move(*m) : nullptr;
    }();
    ASSERT_TRUE(keep_two);
    std::vector<BackupMetadata> made;
    for (int day = 0; day < 10; ++day) {
        auto m = keep_two->Create(CreateOptions{.verify = false});
        ASSERT_TRUE(m) << m.error().message;
        made.push_back(*m);
        clock_.Advance(std::chrono::hours(24));
    }
    auto preview = keep_two->Cleanup(true);
    ASSERT_TRUE(preview);
    EXPECT_FALSE(preview->backup_ids.empty());
    EXPECT_EQ(manager_->List(ListFilter{}).value().total, 10);  // a preview deletes nothing
    auto done = keep_two->Cleanup(false);
    ASSERT_TRUE(done);
    std::set<std::string> a(preview->backup_ids.begin(), preview->backup_ids.end());
    std::set<std::string> b(done->backup_ids.begin(), done->backup_ids.end());
    EXPECT_EQ(a, b);
    for (const auto& m : made) EXPECT_EQ(fs::exists(m.backup_path), !a.count(m.id)) << m.id;
    EXPECT_EQ(manager_->List(ListFilter{}).value().total, 10 - static_cast<int>(a.size()));
}

}  // namespace
}  // namespace aragora::ops
