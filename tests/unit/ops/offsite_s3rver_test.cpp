// Offsite copies against a real S3 stand-in that checks SigV4 signatures (s3rver, started
// per test on 127.0.0.1 by s3rver_fixture): upload (single PUT and multipart), list with
// the manifest sidecars, download byte-identical, a SQLite backup downloaded on a "fresh
// machine" and opened, wrong credentials refused, a stopped server reported in time.
// It runs in `make test` (label unit, like the storage tests' real PostgreSQL): it tests
// this library's API, not the binary. No skip: a missing node or node_modules fails with
// the reason (scripts/install-deps.sh installs them).

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "common/crypto.hpp"
#include "ops/offsite.hpp"
#include "ops/s3_client.hpp"
#include "s3rver_fixture.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using test_support::S3rverProcess;

constexpr const char* kBucket = "aragora-backups";

bool Contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class OffsiteS3rverTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string error;
        server_ = S3rverProcess::Start(kBucket, &error);
        ASSERT_NE(server_, nullptr) << error;
        dir_ = fs::temp_directory_path() /
               ("aragora_offsite_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "local");
        fs::create_directories(dir_ / "restore");
        env_ = {{"AWS_ACCESS_KEY_ID", S3rverProcess::kAccessKey},
                {"AWS_SECRET_ACCESS_KEY", S3rverProcess::kSecret}};
    }
    void TearDown() override {
        if (server_) server_->Stop();
        fs::remove_all(dir_);
    }

    config::BackupSettings Settings() const {
        config::BackupSettings s;
        s.s3_bucket = kBucket;
        s.s3_endpoint = server_->endpoint();
        s.s3_region = "us-east-1";
        s.s3_prefix = "aragora/backups/";
        return s;
    }

    // A lookup over env_ as it is at each call (tests change it between calls).
    config::EnvLookup Env() {
        return [this](std::string_view name) -> std::optional<std::string> {
            auto it = env_.find(std::string(name));
            if (it == env_.end()) return std::nullopt;
            return it->second;
        };
    }

    Offsite MakeOffsite(OffsiteOptions options = {}) {
        auto offsite = Offsite::Create(Settings(), Env(), options);
        EXPECT_TRUE(offsite.ok()) << offsite.error().message;
        return std::move(offsite.value());
    }

    S3Config ClientConfig() const {
        S3Config c;
        c.endpoint = server_->endpoint();
        c.bucket = kBucket;
        c.credentials = {.access_key_id = S3rverProcess::kAccessKey,
                         .secret_access_key = S3rverProcess::kSecret,
                         .session_token = ""};
        return c;
    }

    std::string WriteLocal(const std::string& name, const std::string& content) const {
        const std::string path = (dir_ / "local" / name).string();
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }

    static boost::json::object Entry(const std::string& id, const std::string& content) {
        return boost::json::object{{"id", id},
                                   {"checksum", common::Sha256Hex(content)},
                                   {"compressed_size_bytes", content.size()},
                                   {"status", "verified"}};
    }

    std::unique_ptr<S3rverProcess> server_;
    fs::path dir_;
    std::map<std::string, std::string> env_;
};

TEST_F(OffsiteS3rverTest, UploadListDownloadByteIdentical) {
    // One file under the 16 MiB single-PUT limit, one above it (multipart, 8 MiB parts).
    const std::string small = common::RandomBytes(100 * 1024);
    const std::string large = common::RandomBytes(18 * 1024 * 1024 + 123);
    const std::string small_name = "aragora_20260101_020000_aaaa1111.db.gz";
    const std::string large_name = "aragora_20260102_020000_bbbb2222.db.gz";
    Offsite offsite = MakeOffsite();
    ASSERT_TRUE(offsite.UploadBackup(WriteLocal(small_name, small), Entry("aaaa1111", small)).ok());
    auto up = offsite.UploadBackup(WriteLocal(large_name, large), Entry("bbbb2222", large));
    ASSERT_TRUE(up.ok()) << up.error().message;

    auto listed = offsite.ListRemoteBackups();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 2u);
    EXPECT_EQ((*listed)[0].file_name, small_name);
    EXPECT_EQ((*listed)[0].key, "aragora/backups/" + small_name);
    EXPECT_EQ((*listed)[0].size_bytes, small.size());
    ASSERT_TRUE((*listed)[0].manifest_entry.has_value()) << (*listed)[0].manifest_error;
    EXPECT_EQ(*(*listed)[0].manifest_entry, Entry("aaaa1111", small));
    EXPECT_EQ((*listed)[1].file_name, large_name);
    EXPECT_EQ((*listed)[1].size_bytes, large.size());
    ASSERT_TRUE((*listed)[1].manifest_entry.has_value());
    EXPECT_EQ(*(*listed)[1].manifest_entry, Entry("bbbb2222", large));

    for (const auto& [name, content] :
         {std::pair{small_name, small}, std::pair{large_name, large}}) {
        auto path = offsite.DownloadBackup(name, (dir_ / "restore").string());
        ASSERT_TRUE(path.ok()) << path.error().message;
        EXPECT_EQ(*path, (dir_ / "restore" / name).string());
        EXPECT_TRUE(ReadFile(*path) == content) << name << " differs after the round trip";
    }
}

TEST_F(OffsiteS3rverTest, MultipartUploadIsAssembledByTheServer) {
    const std::string content = common::RandomBytes(17 * 1024 * 1024);
    const std::string path = WriteLocal("big.bin", content);
    S3Config config = ClientConfig();
    config.download_chunk_size = 5 * 1024 * 1024;  // the download in 4 ranges
    S3Client client(config);
    auto put = client.PutObjectFromFile("direct/big.bin", path);
    ASSERT_TRUE(put.ok()) << put.error().message;
    EXPECT_EQ(put->parts, 3);  // 8 + 8 + 1 MiB
    auto head = client.HeadObject("direct/big.bin");
    ASSERT_TRUE(head.ok()) << head.error().message;
    EXPECT_EQ(head->size, content.size());
    const std::string dest = (dir_ / "restore" / "big.bin").string();
    auto got = client.GetObjectToFile("direct/big.bin", dest);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, content.size());
    EXPECT_TRUE(ReadFile(dest) == content);
    auto missing = client.HeadObject("direct/none.bin");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(OffsiteS3rverTest, ASqliteBackupIsRestoredOnAFreshMachine) {
    const std::string name = "aragora_20260103_020000_cccc3333.db";
    const std::string source = (dir_ / "local" / name).string();
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(source.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "CREATE TABLE receipts(id TEXT PRIMARY KEY, body TEXT);"
                               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
                               "WHERE i < 500) INSERT INTO receipts SELECT 'r' || i, "
                               "hex(randomblob(64)) FROM n;",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    const std::string original = ReadFile(source);
    ASSERT_TRUE(MakeOffsite().UploadBackup(source, Entry("cccc3333", original)).ok());
    fs::remove_all(dir_ / "local");

    // A fresh machine: nothing local, the manifest entry comes from the bucket.
    Offsite fresh = MakeOffsite();
    auto listed = fresh.ListRemoteBackups();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 1u);
    ASSERT_TRUE((*listed)[0].manifest_entry.has_value());
    const boost::json::object& entry = *(*listed)[0].manifest_entry;
    EXPECT_EQ(entry.at("id").as_string(), "cccc3333");
    auto path = fresh.DownloadBackup((*listed)[0].file_name, (dir_ / "restore").string());
    ASSERT_TRUE(path.ok()) << path.error().message;
    EXPECT_EQ(common::Sha256Hex(ReadFile(*path)), entry.at("checksum").as_string());

    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path->c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    auto scalar = [db](const char* sql) {
        sqlite3_stmt* stmt = nullptr;
        std::string out;
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
            out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        }
        sqlite3_finalize(stmt);
        return out;
    };
    EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(scalar("SELECT count(*) FROM receipts"), "500");
    sqlite3_close(db);
}

TEST_F(OffsiteS3rverTest, AWrongSecretIsRefusedByTheServer) {
    const std::string name = "aragora_20260104_020000_dddd4444.db.gz";
    const std::string path = WriteLocal(name, "backup bytes");
    env_["AWS_SECRET_ACCESS_KEY"] = "not-the-secret";
    Offsite offsite = MakeOffsite();
    auto up = offsite.UploadBackup(path, Entry("dddd4444", "backup bytes"));
    ASSERT_FALSE(up.ok());
    EXPECT_EQ(up.error().code, ErrorCode::kProviderError);
    EXPECT_EQ(up.error().message,
              "S3 refused the request: SignatureDoesNotMatch (403): check AWS_SECRET_ACCESS_KEY "
              "[PUT s3://aragora-backups/aragora/backups/" +
                  name + "]");
    EXPECT_FALSE(Contains(up.error().message, "not-the-secret"));
    auto listed = offsite.ListRemoteBackups();
    ASSERT_FALSE(listed.ok());
    EXPECT_TRUE(Contains(listed.error().message, "SignatureDoesNotMatch (403)"));

    // With the right secret: nothing was stored.
    env_["AWS_SECRET_ACCESS_KEY"] = S3rverProcess::kSecret;
    listed = offsite.ListRemoteBackups();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    EXPECT_TRUE(listed->empty());
}

TEST_F(OffsiteS3rverTest, AnUnknownAccessKeyIsRefused) {
    env_["AWS_ACCESS_KEY_ID"] = "AKIDUNKNOWN";
    auto listed = MakeOffsite().ListRemoteBackups();
    ASSERT_FALSE(listed.ok());
    EXPECT_TRUE(
        Contains(listed.error().message,
                 "S3 refused the request: InvalidAccessKeyId (403): check AWS_ACCESS_KEY_ID"))
        << listed.error().message;
}

TEST_F(OffsiteS3rverTest, ASessionTokenIsSignedWithTheRequest) {
    env_["AWS_SESSION_TOKEN"] = "FwoGZXIvYXdzEXAMPLETOKEN";
    const std::string path = WriteLocal("aragora_20260105_020000_eeee5555.db.gz", "abc");
    Offsite offsite = MakeOffsite();
    auto up = offsite.UploadBackup(path, Entry("eeee5555", "abc"));
    ASSERT_TRUE(up.ok()) << up.error().message;
    auto listed = offsite.ListRemoteBackups();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    EXPECT_EQ(listed->size(), 1u);
}

TEST_F(OffsiteS3rverTest, KeysNeedingEncodingAreSignedOnce) {
    // A space and a '+' in the key: encoded once in the path and in the signature.
    const std::string name = "backup 2026+01 (manual).db.gz";
    const std::string content = common::RandomBytes(4096);
    Offsite offsite = MakeOffsite();
    auto up = offsite.UploadBackup(WriteLocal(name, content), Entry("ffff6666", content));
    ASSERT_TRUE(up.ok()) << up.error().message;
    auto listed = offsite.ListRemoteBackups();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].file_name, name);
    auto path = offsite.DownloadBackup(name, (dir_ / "restore").string());
    ASSERT_TRUE(path.ok()) << path.error().message;
    EXPECT_TRUE(ReadFile(*path) == content);
}

TEST_F(OffsiteS3rverTest, ListingPagesAndSkipsSidecarsAndSubfolders) {
    S3Config config = ClientConfig();
    config.list_page_size = 2;  // five backups: three pages
    S3Client client(config);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(client.PutObject("aragora/backups/b" + std::to_string(i) + ".db.gz", "x").ok());
    }
    ASSERT_TRUE(client.PutObject("aragora/backups/orphan.db.gz.json", "{}").ok());
    ASSERT_TRUE(client.PutObject("aragora/backups/sub/other.db.gz", "x").ok());
    ASSERT_TRUE(client.PutObject("elsewhere/b9.db.gz", "x").ok());
    ASSERT_TRUE(client.PutObject("aragora/backups/b1.db.gz.json", "not json").ok());

    auto objects = client.ListObjects("aragora/backups/");
    ASSERT_TRUE(objects.ok()) << objects.error().message;
    EXPECT_EQ(objects->size(), 8u);

    auto listed = MakeOffsite().ListRemoteBackups();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ((*listed)[i].file_name, "b" + std::to_string(i) + ".db.gz");
        EXPECT_FALSE((*listed)[i].manifest_entry.has_value());
    }
    EXPECT_TRUE(Contains((*listed)[1].manifest_error, "not a JSON object"));
    EXPECT_EQ((*listed)[0].manifest_error, "");  // no sidecar at all
}

TEST_F(OffsiteS3rverTest, DeleteRemovesTheFileAndItsSidecar) {
    const std::string name = "aragora_20260106_020000_abab7777.db.gz";
    Offsite offsite = MakeOffsite();
    ASSERT_TRUE(offsite.UploadBackup(WriteLocal(name, "data"), Entry("abab7777", "data")).ok());
    ASSERT_TRUE(offsite.DeleteRemoteBackup(name).ok());
    S3Client client(ClientConfig());
    auto objects = client.ListObjects("");
    ASSERT_TRUE(objects.ok()) << objects.error().message;
    EXPECT_TRUE(objects->empty());
    auto download = offsite.DownloadBackup(name, (dir_ / "restore").string());
    ASSERT_FALSE(download.ok());
    EXPECT_EQ(download.error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(Contains(download.error().message,
                         "no offsite backup s3://aragora-backups/aragora/backups/" + name))
        << download.error().message;
    EXPECT_TRUE(fs::is_empty(dir_ / "restore"));
    EXPECT_TRUE(offsite.DeleteRemoteBackup(name).ok());  // deleting again succeeds
}

TEST_F(OffsiteS3rverTest, AStoppedServerIsAClearErrorWithinTheDeadline) {
    OffsiteOptions options;
    options.request_timeout = std::chrono::seconds(5);
    options.retry_delay = std::chrono::milliseconds(50);
    Offsite offsite = MakeOffsite(options);
    ASSERT_TRUE(offsite.ListRemoteBackups().ok());
    const std::string endpoint = server_->endpoint();
    server_->Stop();
    const auto start = std::chrono::steady_clock::now();
    auto listed = offsite.ListRemoteBackups();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().code, ErrorCode::kUnavailable);
    EXPECT_TRUE(Contains(listed.error().message, "S3 endpoint " + endpoint + " unreachable"))
        << listed.error().message;
    // Three attempts, each bounded by the 5 s deadline (refused at once here).
    EXPECT_LT(elapsed, std::chrono::seconds(16));
}

TEST(OffsiteTest, OffWithoutABucketAndCredentialsNamed) {
    config::BackupSettings settings;
    auto off = Offsite::Create(settings);
    ASSERT_FALSE(off.ok());
    EXPECT_EQ(off.error().code, ErrorCode::kValidation);
    EXPECT_EQ(off.error().field, "ARAGORA_BACKUP_S3_BUCKET");
    EXPECT_TRUE(Contains(off.error().message, "ARAGORA_BACKUP_S3_BUCKET"));
    EXPECT_FALSE(OffsiteEnabled(settings));

    settings.s3_bucket = "b";
    settings.s3_endpoint = "http://127.0.0.1:1";
    settings.s3_prefix = "/prod";
    auto offsite = Offsite::Create(
        settings, [](std::string_view) -> std::optional<std::string> { return std::nullopt; });
    ASSERT_TRUE(offsite.ok()) << offsite.error().message;
    EXPECT_EQ(offsite->prefix(), "prod/");
    EXPECT_EQ(offsite->RemoteUrl("x.db.gz"), "s3://b/prod/x.db.gz");
    auto listed = offsite->ListRemoteBackups();
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().code, ErrorCode::kValidation);
    EXPECT_TRUE(Contains(listed.error().message, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
        << listed.error().message;

    for (const char* bad : {"", ".", "..", "a/b", "x.db.gz.json", "tab\there"}) {
        EXPECT_FALSE(ValidateBackupFileName(bad).ok()) << bad;
        EXPECT_FALSE(offsite->DeleteRemoteBackup(bad).ok()) << bad;
    }
    EXPECT_TRUE(ValidateBackupFileName("aragora_20260101_020000_ab12cd34.db.gz").ok());
}

}  // namespace
}  // namespace aragora::ops
