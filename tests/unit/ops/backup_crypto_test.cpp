#include "ops/backup_crypto.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "common/crypto.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;

constexpr std::uint32_t kChunk = 64;  // small chunks keep the exhaustive tests fast
constexpr std::size_t kRecord = kChunk + kBackupTagSize;

std::string Pattern(std::size_t n, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

// Byte offset where chunk `k` (1-based) starts.
std::size_t ChunkStart(std::size_t k) { return kBackupHeaderSize + (k - 1) * kRecord; }

class BackupCryptoTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/aragora_backup_crypto_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        key_ = GenerateBackupKey();
        options_.chunk_size = kChunk;
    }
    void TearDown() override { fs::remove_all(dir_); }

    static void Write(const fs::path& p, const std::string& data) {
        std::ofstream f(p, std::ios::binary | std::ios::trunc);
        f.write(data.data(), static_cast<std::streamsize>(data.size()));
    }
    static std::string Read(const fs::path& p) {
        std::ifstream f(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    // The files in the test directory, to show no temporary file is left behind.
    std::vector<std::string> Listing() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir_))
            names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }

    std::string Encrypt(const std::string& plain) {
        Write(dir_ / "plain", plain);
        auto s = EncryptFile(dir_ / "plain", dir_ / "enc", key_, options_);
        EXPECT_TRUE(s) << s.error().message;
        return Read(dir_ / "enc");
    }

    // Decrypts `sealed` (as a file) and expects failure with `message`; the output must not
    // appear and no temporary file may be left.
    void ExpectDecryptFails(const std::string& sealed, const std::string& message,
                            const std::string& context) {
        Write(dir_ / "bad", sealed);
        const auto before = Listing();
        auto s = DecryptFile(dir_ / "bad", dir_ / "out", key_);
        ASSERT_FALSE(s) << context;
        EXPECT_EQ(s.error().code, ErrorCode::kCrypto) << context;
        EXPECT_EQ(s.error().message, message) << context;
        EXPECT_FALSE(fs::exists(dir_ / "out")) << context;
        EXPECT_EQ(Listing(), before) << context;
        auto b = DecryptBytes(sealed, key_);
        ASSERT_FALSE(b) << context;
        EXPECT_EQ(b.error().message, message) << context;
    }

    fs::path dir_;
    BackupKey key_;
    BackupCryptoOptions options_;
};

TEST(BackupKeyTest, ParsesHexInEitherCaseAndDerivesTheKeyIdFromSha256) {
    const std::string hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    auto key = ParseBackupKey("  " + hex + "\n");
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(key->bytes[0], 0x00);
    EXPECT_EQ(key->bytes[10], 0xaa);
    EXPECT_EQ(key->bytes[31], 0xff);
    const std::string raw(reinterpret_cast<const char*>(key->bytes.data()), 32);
    EXPECT_EQ(key->key_id, common::Sha256Hex(raw).substr(0, 16));
    auto lower = ParseBackupKey(common::HexEncode(raw));
    ASSERT_TRUE(lower);
    EXPECT_EQ(lower->bytes, key->bytes);
    EXPECT_EQ(lower->key_id, key->key_id);
}

TEST(BackupKeyTest, BadValuesAreRefusedWithoutEchoingThem) {
    const std::string secretish = "deadbeefcafebabe";
    for (const std::string& bad : {secretish, secretish + secretish + secretish + secretish + "00",
                                   secretish + secretish + secretish + "deadbeefcafebabZ",
                                   std::string(64, '0'), std::string()}) {
        auto key = ParseBackupKey(bad);
        ASSERT_FALSE(key) << bad;
        EXPECT_EQ(key.error().code, ErrorCode::kValidation);
        EXPECT_EQ(key.error().field, "ARAGORA_BACKUP_ENCRYPTION_KEY");
        EXPECT_EQ(key.error().message.find("deadbeef"), std::string::npos) << key.error().message;
        EXPECT_EQ(key.error().message.find('\n'), std::string::npos);
    }
}

TEST_F(BackupCryptoTest, RoundTripsEverySizeAroundTheChunkBoundaries) {
    for (std::size_t n :
         {std::size_t{0}, std::size_t{1}, std::size_t{kChunk - 1}, std::size_t{kChunk},
          std::size_t{kChunk + 1}, std::size_t{kChunk * 5}, std::size_t{kChunk * 5 + 17}}) {
        const std::string plain = Pattern(n, static_cast<unsigned>(n));
        const std::string sealed = Encrypt(plain);
        // Header, every full chunk, and a final chunk that is always shorter than a full one.
        EXPECT_EQ(sealed.size(), kBackupHeaderSize + n + kBackupTagSize * (n / kChunk + 1)) << n;
        auto s = DecryptFile(dir_ / "enc", dir_ / "out", key_);
        ASSERT_TRUE(s) << n << ": " << s.error().message;
        EXPECT_EQ(Read(dir_ / "out"), plain) << n;
        auto b = DecryptBytes(sealed, key_);
        ASSERT_TRUE(b) << b.error().message;
        EXPECT_EQ(*b, plain);
        EXPECT_EQ(fs::status(dir_ / "out").permissions() & fs::perms::all,
                  fs::perms::owner_read | fs::perms::owner_write);
    }
    EXPECT_EQ(Listing(), (std::vector<std::string>{"enc", "out", "plain"}));
}

TEST_F(BackupCryptoTest, RoundTripsSeveralMegabytesWithTheDefaultChunkSize) {
    options_ = {};
    const std::string plain = Pattern(2 * kDefaultBackupChunkSize + 12345, 7);
    const std::string sealed = Encrypt(plain);
    EXPECT_EQ(sealed.size(), kBackupHeaderSize + plain.size() + 3 * kBackupTagSize);
    ASSERT_TRUE(DecryptFile(dir_ / "enc", dir_ / "out", key_));
    EXPECT_EQ(Read(dir_ / "out"), plain);
}

TEST_F(BackupCryptoTest, HeaderCarriesMagicVersionChunkSizeAndKeyId) {
    const std::string sealed = Encrypt("hello");
    EXPECT_EQ(sealed.substr(0, 8), "ARAGBKUP");
    EXPECT_EQ(sealed[8], '\x01');
    EXPECT_EQ(sealed.substr(9, 4), std::string("\0\0\0\x40", 4));
    EXPECT_EQ(sealed.substr(13, 16), key_.key_id);
    EXPECT_TRUE(IsEncryptedBackup(dir_ / "enc"));
    EXPECT_FALSE(IsEncryptedBackup(dir_ / "plain"));
    EXPECT_FALSE(IsEncryptedBackup(dir_ / "missing"));
    auto id = EncryptedBackupKeyId(dir_ / "enc");
    ASSERT_TRUE(id) << id.error().message;
    EXPECT_EQ(*id, key_.key_id);
    auto info = ReadEncryptedBackupInfo(dir_ / "enc");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->version, 1);
    EXPECT_EQ(info->chunk_size, kChunk);
    auto not_ours = EncryptedBackupKeyId(dir_ / "plain");
    ASSERT_FALSE(not_ours);
    EXPECT_EQ(not_ours.error().message, "not an encrypted Aragora backup (no ARAGBKUP header)");
}

TEST_F(BackupCryptoTest, SamePlaintextEncryptsDifferentlyEachTime) {
    const std::string plain = Pattern(300);
    const std::string a = Encrypt(plain);
    const std::string b = Encrypt(plain);
    EXPECT_NE(a.substr(kBackupHeaderSize - 8), b.substr(kBackupHeaderSize - 8));
}

TEST_F(BackupCryptoTest, PlaintextNeverAppearsInTheCiphertext) {
    std::string plain;
    for (int i = 0; i < 40; ++i)
        plain += "debate task: MERGER-PLAN-CONFIDENTIAL-" + std::to_string(i) + ";";
    const std::string sealed = Encrypt(plain);
    EXPECT_EQ(sealed.find("MERGER"), std::string::npos);
    EXPECT_EQ(sealed.find("CONFIDENTIAL"), std::string::npos);
    EXPECT_EQ(sealed.find("debate task"), std::string::npos);
    auto blob = EncryptBytes(plain, key_, options_);
    ASSERT_TRUE(blob);
    EXPECT_EQ(blob->find("CONFIDENTIAL"), std::string::npos);
}

TEST_F(BackupCryptoTest, WrongKeyNamesBothKeyIds) {
    const std::string sealed = Encrypt(Pattern(200));
    const BackupKey other = GenerateBackupKey();
    auto s = DecryptFile(dir_ / "enc", dir_ / "out", other);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kCrypto);
    EXPECT_EQ(s.error().message, "backup is encrypted under key " + key_.key_id +
                                     "; ARAGORA_BACKUP_ENCRYPTION_KEY is key " + other.key_id);
    EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(BackupCryptoTest, EveryFlippedBitIsAnError) {
    const std::string plain = Pattern(kChunk * 3 + 10);
    const std::string sealed = Encrypt(plain);
    ASSERT_EQ(sealed.size(), ChunkStart(5) - kRecord + 10 + kBackupTagSize);
    for (std::size_t pos = 0; pos < sealed.size(); ++pos) {
        for (int bit : {0, 7}) {
            std::string bad = sealed;
            bad[pos] = static_cast<char>(bad[pos] ^ (1 << bit));
            const std::string context =
                "byte " + std::to_string(pos) + " bit " + std::to_string(bit);
            auto s = DecryptBytes(bad, key_);
            ASSERT_FALSE(s) << context;
            EXPECT_EQ(s.error().code, ErrorCode::kCrypto) << context;
            const std::string& m = s.error().message;
            if (pos >= kBackupHeaderSize) {
                const std::size_t chunk = (pos - kBackupHeaderSize) / kRecord + 1;
                EXPECT_EQ(m, "encrypted backup is damaged (authentication failed in chunk " +
                                 std::to_string(chunk) + ")")
                    << context;
            } else if (pos < 8) {
                EXPECT_EQ(m, "not an encrypted Aragora backup (no ARAGBKUP header)") << context;
            } else if (pos == 8) {
                EXPECT_EQ(m, "unsupported encrypted backup format version " +
                                 std::to_string(static_cast<unsigned char>(bad[8])) +
                                 " (this build reads version 1)")
                    << context;
            } else if (pos < 13) {
                EXPECT_TRUE(m == "encrypted backup is damaged (authentication failed in chunk 1)" ||
                            m.rfind("encrypted backup header is damaged (chunk size ", 0) == 0)
                    << context << ": " << m;
            } else if (pos < 29) {
                EXPECT_TRUE(m.rfind("backup is encrypted under key ", 0) == 0 ||
                            m == "encrypted backup header is damaged (key id)")
                    << context << ": " << m;
            } else {
                EXPECT_EQ(m, "encrypted backup is damaged (authentication failed in chunk 1)")
                    << context;
            }
        }
    }
    // Through the file API too: a flip in the last chunk's tag leaves no output behind.
    std::string bad = sealed;
    bad.back() = static_cast<char>(bad.back() ^ 0x01);
    ExpectDecryptFails(bad, "encrypted backup is damaged (authentication failed in chunk 4)",
                       "tag");
}

TEST_F(BackupCryptoTest, TruncationIsNeverSuccess) {
    const std::string sealed = Encrypt(Pattern(kChunk * 3 + 10));
    for (std::size_t len = 0; len < sealed.size(); ++len) {
        const std::string cut = sealed.substr(0, len);
        const std::string context = "cut to " + std::to_string(len);
        auto s = DecryptBytes(cut, key_);
        ASSERT_FALSE(s) << context;
        const std::string& m = s.error().message;
        if (len < 8) {
            EXPECT_EQ(m, "not an encrypted Aragora backup (no ARAGBKUP header)") << context;
        } else if (len < kBackupHeaderSize) {
            EXPECT_EQ(m, "encrypted backup is cut short (in the header)") << context;
        } else if (len == kBackupHeaderSize) {
            EXPECT_EQ(m, "encrypted backup is cut short (after the header)") << context;
        } else if ((len - kBackupHeaderSize) % kRecord == 0) {
            EXPECT_EQ(m, "encrypted backup is cut short (after chunk " +
                             std::to_string((len - kBackupHeaderSize) / kRecord) + ")")
                << context;
        } else {
            const std::size_t chunk = (len - kBackupHeaderSize) / kRecord + 1;
            const bool tagless = (len - kBackupHeaderSize) % kRecord < kBackupTagSize;
            EXPECT_EQ(m, tagless ? "encrypted backup is cut short (in chunk " +
                                       std::to_string(chunk) + ")"
                                 : "encrypted backup is damaged (authentication failed in chunk " +
                                       std::to_string(chunk) + ")")
                << context;
        }
    }
    ExpectDecryptFails(sealed.substr(0, ChunkStart(3)),
                       "encrypted backup is cut short (after chunk 2)", "file cut at chunk 3");
}

TEST_F(BackupCryptoTest, ExactMultipleOfTheChunkSizeCutBeforeItsEmptyFinalChunkIsCutShort) {
    const std::string sealed = Encrypt(Pattern(kChunk * 2));
    ASSERT_EQ(sealed.size(), ChunkStart(3) + kBackupTagSize);
    ExpectDecryptFails(sealed.substr(0, ChunkStart(3)),
                       "encrypted backup is cut short (after chunk 2)", "empty final dropped");
}

TEST_F(BackupCryptoTest, AppendedReorderedOrDroppedChunksAreErrors) {
    const std::string sealed = Encrypt(Pattern(kChunk * 3 + 10));
    const std::string damaged_4 = "encrypted backup is damaged (authentication failed in chunk 4)";
    ExpectDecryptFails(sealed + "x", damaged_4, "one byte appended");
    ExpectDecryptFails(sealed + std::string(kBackupTagSize, '\0'), damaged_4, "16 bytes appended");
    ExpectDecryptFails(sealed + sealed.substr(ChunkStart(1), kRecord), damaged_4,
                       "a whole record appended");
    ExpectDecryptFails(sealed + Encrypt(Pattern(5)).substr(kBackupHeaderSize), damaged_4,
                       "another file's final record appended");

    const std::string c1 = sealed.substr(ChunkStart(1), kRecord);
    const std::string c2 = sealed.substr(ChunkStart(2), kRecord);
    const std::string head = sealed.substr(0, kBackupHeaderSize);
    const std::string rest = sealed.substr(ChunkStart(3));
    ExpectDecryptFails(head + c2 + c1 + rest,
                       "encrypted backup is damaged (authentication failed in chunk 1)",
                       "chunks 1 and 2 swapped");
    ExpectDecryptFails(head + c1 + rest,
                       "encrypted backup is damaged (authentication failed in chunk 2)",
                       "chunk 2 dropped");
    ExpectDecryptFails(head + c1 + c1 + c2 + rest,
                       "encrypted backup is damaged (authentication failed in chunk 2)",
                       "chunk 1 repeated");
    // A chunk spliced in from another file under the same key.
    const std::string other = Encrypt(Pattern(kChunk * 3 + 10, 99));
    ExpectDecryptFails(head + other.substr(ChunkStart(1), kRecord) + c2 + rest,
                       "encrypted backup is damaged (authentication failed in chunk 1)",
                       "chunk from another file");
}

TEST_F(BackupCryptoTest, AFailedDecryptLeavesAnExistingOutputUntouched) {
    const std::string sealed = Encrypt(Pattern(500));
    Write(dir_ / "out", "previous content");
    std::string bad = sealed;
    bad[ChunkStart(5) + 3] ^= 0x10;
    Write(dir_ / "bad", bad);
    auto s = DecryptFile(dir_ / "bad", dir_ / "out", key_);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "encrypted backup is damaged (authentication failed in chunk 5)");
    EXPECT_EQ(Read(dir_ / "out"), "previous content");
    EXPECT_EQ(Listing(), (std::vector<std::string>{"bad", "enc", "out", "plain"}));
}

TEST_F(BackupCryptoTest, UnknownVersionAndForeignFilesAreNamed) {
    std::string sealed = Encrypt("x");
    sealed[8] = 2;
    ExpectDecryptFails(sealed,
                       "unsupported encrypted backup format version 2 (this build reads version 1)",
                       "version 2");
    ExpectDecryptFails("SQLite format 3\0 and more bytes than a header holds, surely",
                       "not an encrypted Aragora backup (no ARAGBKUP header)", "sqlite file");
    ExpectDecryptFails("", "not an encrypted Aragora backup (no ARAGBKUP header)", "empty");
    std::string huge = Encrypt("x");
    huge[9] = 0x7f;  // chunk size far beyond what a reader will buffer
    ExpectDecryptFails(huge, "encrypted backup header is damaged (chunk size 2130706496)",
                       "huge chunk size");
}

TEST_F(BackupCryptoTest, MissingInputAndBadOptionsAreClearErrors) {
    auto s = DecryptFile(dir_ / "nope", dir_ / "out", key_);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
    EXPECT_NE(s.error().message.find("nope"), std::string::npos);
    Write(dir_ / "plain", "abc");
    options_.chunk_size = 0;
    auto z = EncryptFile(dir_ / "plain", dir_ / "enc", key_, options_);
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error().code, ErrorCode::kValidation);
    options_.chunk_size = kMaxBackupChunkSize + 1;
    EXPECT_FALSE(EncryptFile(dir_ / "plain", dir_ / "enc", key_, options_));
    EXPECT_FALSE(fs::exists(dir_ / "enc"));
    auto no_dir = EncryptFile(dir_ / "plain", dir_ / "no" / "enc", key_, {});
    ASSERT_FALSE(no_dir);
    EXPECT_EQ(no_dir.error().code, ErrorCode::kNotFound);
}

TEST_F(BackupCryptoTest, WriterStreamsPiecesAndLeavesNothingWithoutCommit) {
    const std::string plain = Pattern(1000, 3);
    {
        auto w = EncryptedFileWriter::Create(dir_ / "enc", key_, options_);
        ASSERT_TRUE(w) << w.error().message;
        ASSERT_TRUE((*w)->Write(plain.substr(0, 100)));
        EXPECT_EQ(Listing().size(), 1u);  // only the temporary file
    }
    EXPECT_TRUE(Listing().empty());

    auto w = EncryptedFileWriter::Create(dir_ / "enc", key_, options_);
    ASSERT_TRUE(w);
    for (std::size_t pos = 0, step = 1; pos < plain.size(); pos += step, step = step * 3 % 97 + 1) {
        ASSERT_TRUE((*w)->Write(plain.substr(pos, step)));
    }
    ASSERT_TRUE((*w)->Commit());
    EXPECT_FALSE((*w)->Write("more"));
    EXPECT_EQ((*w)->bytes_written(), fs::file_size(dir_ / "enc"));
    auto back = DecryptBytes(Read(dir_ / "enc"), key_);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, plain);
}

TEST_F(BackupCryptoTest, BytesAndFilesShareTheFormatAndTheSinkSeesChunksInOrder) {
    const std::string plain = Pattern(kChunk * 4 + 3, 5);
    auto blob = EncryptBytes(plain, key_, options_);
    ASSERT_TRUE(blob);
    Write(dir_ / "blob", *blob);
    std::vector<std::size_t> sizes;
    std::string joined;
    auto s = DecryptFileTo(dir_ / "blob", key_, [&](std::string_view p) -> common::Status {
        sizes.push_back(p.size());
        joined.append(p);
        return {};
    });
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(joined, plain);
    EXPECT_EQ(sizes, (std::vector<std::size_t>{kChunk, kChunk, kChunk, kChunk, 3}));

    auto stop = DecryptFileTo(dir_ / "blob", key_, [](std::string_view) -> common::Status {
        return common::MakeError(ErrorCode::kStorage, "disk full");
    });
    ASSERT_FALSE(stop);
    EXPECT_EQ(stop.error().message, "disk full");
}

}  // namespace
}  // namespace aragora::ops
