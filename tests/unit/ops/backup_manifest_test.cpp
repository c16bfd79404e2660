#include "ops/backup_manifest.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "backup_test_support.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

TimePoint At(std::int64_t s) { return TimePoint(std::chrono::seconds(s)); }

BackupMetadata Sample(const std::string& id, std::int64_t created) {
    BackupMetadata m;
    m.id = id;
    m.created_at = At(created);
    m.status = BackupStatus::kVerified;
    m.source_path = "/data/aragora.sqlite3";
    m.backup_path = "/backups/aragora_x_" + id + ".db.gz";
    m.size_bytes = 4096;
    m.compressed_size_bytes = 1000;
    m.checksum = std::string(64, 'a');
    m.row_counts = {{"debates", 3}, {"receipts", 2}};
    m.tables = {"debates", "receipts"};
    m.duration_seconds = 1.5;
    m.verified = true;
    m.verified_at = At(created + 5);
    m.restore_tested = true;
    m.encryption_key_id = "0123456789abcdef";
    m.metadata["notes"] = "before upgrade";
    m.schema_hash = std::string(64, 'b');
    m.table_checksums = {{"debates", "c1"}, {"receipts", "c2"}};
    m.foreign_keys = {{"receipts", "debate_id", "debates", "id"}};
    m.indexes = {{"idx_receipts_debate", "receipts", "debate_id"}};
    m.kind = "sqlite";
    m.file_name = "aragora_x_" + id + ".db.gz";
    m.encrypted = true;
    m.schema_version = 3;
    m.app_version = "1.2.3";
    m.receipt_keys = {{"k1", "hmac-sha256", ""}, {"k2", "ed25519", "cHVi"}};
    m.keys_file = m.file_name + ".keys";
    return m;
}

std::string ReadAll(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(BackupMetadataJson, HasTheOriginalsFieldsAndRoundTrips) {
    const BackupMetadata m = Sample("abcd1234", 1'800'000'000);
    const auto o = m.ToJson();
    for (const char* key : {"id",
                            "created_at",
                            "backup_type",
                            "status",
                            "source_path",
                            "backup_path",
                            "size_bytes",
                            "compressed_size_bytes",
                            "checksum",
                            "row_counts",
                            "tables",
                            "duration_seconds",
                            "verified",
                            "verified_at",
                            "restore_tested",
                            "error",
                            "storage_backend",
                            "encryption_key_id",
                            "metadata",
                            "schema_hash",
                            "table_checksums",
                            "foreign_keys",
                            "indexes"}) {
        EXPECT_TRUE(o.contains(key)) << key;
    }
    EXPECT_EQ(o.at("status").as_string(), "verified");
    EXPECT_TRUE(o.at("error").is_null());
    EXPECT_EQ(o.at("foreign_keys").as_array().at(0).as_array().size(), 4u);
    auto back = BackupMetadata::FromJson(o);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->ToJson(), o);
}

TEST(BackupMetadataJson, MissingRequiredFieldsAreRefused) {
    auto o = Sample("abcd1234", 1'800'000'000).ToJson();
    o.erase("status");
    EXPECT_FALSE(BackupMetadata::FromJson(o));
}

TEST(BackupManifestTest, UpdateReplacesTheFileWholeAndLoadReadsIt) {
    TempDir dir;
    BackupManifest manifest(dir.path());
    auto empty = manifest.Load();
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
    ASSERT_TRUE(manifest.Update(At(1'800'000'100), [](ManifestEntries& e) {
        e["aaaa0001"] = Sample("aaaa0001", 1'800'000'000);
        e["bbbb0002"] = Sample("bbbb0002", 1'800'000'050);
        return common::Status();
    }));
    auto loaded = manifest.Load();
    ASSERT_TRUE(loaded) << loaded.error().message;
    ASSERT_EQ(loaded->size(), 2u);
    EXPECT_EQ(loaded->at("bbbb0002").ToJson(), Sample("bbbb0002", 1'800'000'050).ToJson());
    const auto root = boost::json::parse(ReadAll(manifest.path())).as_object();
    EXPECT_TRUE(root.at("backups").is_object());
    EXPECT_EQ(root.at("updated_at").as_string(), "2027-01-15T08:01:40.000Z");
    // No temporary file is left beside it.
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir.path())) {
        if (e.path().filename() != ".manifest.lock") ++files;
    }
    EXPECT_EQ(files, 1);
}

TEST(BackupManifestTest, AFailedChangeWritesNothing) {
    TempDir dir;
    BackupManifest manifest(dir.path());
    ASSERT_TRUE(manifest.Update(At(1), [](ManifestEntries& e) {
        e["aaaa0001"] = Sample("aaaa0001", 1'800'000'000);
        return common::Status();
    }));
    const std::string before = ReadAll(manifest.path());
    auto s = manifest.Update(At(2), [](ManifestEntries& e) {
        e.clear();
        return common::Status(common::MakeError(common::ErrorCode::kConflict, "no"));
    });
    EXPECT_FALSE(s);
    EXPECT_EQ(ReadAll(manifest.path()), before);
}

TEST(BackupManifestTest, AnUnreadableManifestIsAnErrorAndIsNotOverwritten) {
    TempDir dir;
    BackupManifest manifest(dir.path());
    std::ofstream(manifest.path()) << "{not json";
    EXPECT_FALSE(manifest.Load());
    EXPECT_FALSE(manifest.Update(At(1), [](ManifestEntries&) { return common::Status(); }));
    EXPECT_EQ(ReadAll(manifest.path()), "{not json");
}

// Two managers (the CLI and serve's scheduler) share a dir: every change survives.
TEST(BackupManifestTest, ConcurrentUpdatesFromSeveralWritersAreNotLost) {
    TempDir dir;
    constexpr int kThreads = 4, kEach = 25;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            BackupManifest manifest(dir.path());  // own object, as another process would have
            for (int i = 0; i < kEach; ++i) {
                const std::string id = std::to_string(t) + "-" + std::to_string(i);
                auto s = manifest.Update(At(i), [&](ManifestEntries& e) {
                    e[id] = Sample(id, 1'800'000'000 + i);
                    return common::Status();
                });
                EXPECT_TRUE(s) << s.error().message;
            }
        });
    }
    for (auto& th : threads) th.join();
    auto loaded = BackupManifest(dir.path()).Load();
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST(BackupManifestTest, DrillHistoryAppendsAndKeepsOrder) {
    TempDir dir;
    BackupManifest manifest(dir.path());
    for (int i = 0; i < 3; ++i) {
        RestoreDrillReport r;
        r.drill_id = "drill" + std::to_string(i);
        r.backup_id = "b";
        r.started_at = At(1'800'000'000 + i);
        r.status = "passed";
        r.rpo_seconds = 60;
        ASSERT_TRUE(manifest.AppendDrill(r));
    }
    auto drills = manifest.LoadDrills();
    ASSERT_TRUE(drills);
    ASSERT_EQ(drills->size(), 3u);
    EXPECT_EQ(drills->back().drill_id, "drill2");
    EXPECT_EQ(drills->back().rpo_seconds, 60);
}

}  // namespace
}  // namespace aragora::ops
