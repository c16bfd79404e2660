// A whole debate (demo agents, the real service and SQLite store) with debate content
// encrypted at rest (storage/content_cipher.hpp): the database file never holds the task,
// answers or messages, while the service, the events page and receipt verification see
// plaintext exactly as without encryption; a tampered row is a kCrypto error (500).

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "../../support/test_field_cipher.hpp"
#include "agents/registry.hpp"
#include "debate/receipt.hpp"
#include "service/local_debate_service.hpp"
#include "service_test_support.hpp"
#include "storage/content_cipher.hpp"

namespace aragora::service {
namespace {

constexpr const char* kTask = "Should Zorblax Industries acquire the Quuxcorp patents?";

void RawExec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
}

std::string FileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class EncryptedContentTest : public test_support::ServiceTestBase {
protected:
    void SetUp() override {
        cipher_ = std::make_shared<::aragora::test_support::TestFieldCipher>();
        failures_ = std::make_shared<storage::DecryptFailureCounts>();
        auto plain = OpenStoreAndStart("encrypted-content-key");
        ASSERT_NE(plain, nullptr);
        storage::ContentCipherOptions options;
        options.failures = failures_;
        store_ = storage::WrapWithContentCipher(std::move(plain), cipher_, options);
        service_ = std::make_unique<LocalDebateService>(
            ioc_.get_executor(), clock_, ServiceSettings{}, *store_, pool_, keys_, hub_, registry_);
    }
    void TearDown() override {
        Eventually([this] { return !service_ || service_->Stats().running == 0; });
        service_.reset();
        store_.reset();
        StopAndClean();
    }

    storage::DebateRecord RunDebate(const std::string& task) {
        CreateDebateRequest r;
        r.task = task;
        r.context = "confidential board memo";
        r.agents = agents::ParseAgentSpecs({"demo", "demo", "demo"}).value();
        r.rounds = 2;
        auto created = Await(service_->Create(r));
        EXPECT_TRUE(created.ok()) << created.error().message;
        if (!created.ok()) return {};
        storage::DebateRecord done;
        EXPECT_TRUE(Eventually([&] {
            auto d = store_->GetDebate(created->id);
            if (!d.ok() || !events::IsTerminal(d->status)) return false;
            done = *d;
            return true;
        }));
        return done;
    }

    common::SystemClock clock_;
    std::shared_ptr<::aragora::test_support::TestFieldCipher> cipher_;
    std::shared_ptr<storage::DecryptFailureCounts> failures_;
    std::unique_ptr<storage::Store> store_;
    metrics::Registry registry_;
    std::unique_ptr<LocalDebateService> service_;
};

TEST_F(EncryptedContentTest, TheDatabaseFileNeverHoldsTheTaskWhileEveryReadSeesIt) {
    auto done = RunDebate(kTask);
    ASSERT_EQ(done.status, events::DebateStatus::kCompleted) << done.error_message;
    ASSERT_FALSE(done.receipt_id.empty());

    auto got = Await(service_->Get(done.id));
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->task, kTask);
    EXPECT_NE(got->spec_json.find("confidential board memo"), std::string::npos);
    EXPECT_FALSE(got->final_answer.empty());

    auto page = Await(service_->Events(done.id, 0, 500));
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_FALSE(page->events.empty());
    EXPECT_EQ(page->events.back().type, "debate_end");
    for (const auto& e : page->events) EXPECT_FALSE(cipher_->IsSealed(e.data_json)) << e.type;

    // Receipts verify: verification reads the opened JSON.
    auto receipt = store_->GetReceipt(done.receipt_id);
    ASSERT_TRUE(receipt.ok()) << receipt.error().message;
    EXPECT_NE(receipt->json.find(kTask), std::string::npos);
    auto verified = debate::VerifyReceipt(receipt->json, keys_);
    EXPECT_TRUE(verified.valid) << verified.reason;

    // Neither the database file nor its WAL holds the task, context or answer. The run
    // publishes debate_end after its final write: drain (awaits its completion) before the
    // service and its hub sink go (TSan: heap-use-after-free in DebateRun::Publish).
    Await(service_->Drain(std::chrono::seconds(5)));
    service_.reset();
    store_.reset();
    const std::string bytes =
        FileBytes(dir_ + "/aragora.sqlite3") + FileBytes(dir_ + "/aragora.sqlite3-wal");
    ASSERT_GT(bytes.size(), 0u);
    EXPECT_EQ(bytes.find("Zorblax"), std::string::npos);
    EXPECT_EQ(bytes.find("confidential board memo"), std::string::npos);
    EXPECT_EQ(bytes.find(got->final_answer), std::string::npos);
    EXPECT_NE(bytes.find(done.id), std::string::npos) << "ids stay clear";
}

TEST_F(EncryptedContentTest, ATamperedRowIsACryptoErrorAndCounted) {
    auto a = RunDebate("first question");
    auto b = RunDebate("second question");
    ASSERT_EQ(b.status, events::DebateStatus::kCompleted);
    // Move a's sealed task onto b's row through a second connection to the file.
    RawExec(dir_ + "/aragora.sqlite3",
            "UPDATE debates SET task = (SELECT task FROM debates "
            "WHERE id = '" +
                a.id + "') WHERE id = '" + b.id + "'");
    auto got = Await(service_->Get(b.id));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, common::ErrorCode::kCrypto);  // 500 internal_error on the API
    EXPECT_NE(got.error().message.find("cannot be decrypted (tampered)"), std::string::npos);
    EXPECT_EQ(failures_->Count(storage::DecryptFailure::kTampered), 1u);
    EXPECT_TRUE(Await(service_->Get(a.id)).ok());
}

}  // namespace
}  // namespace aragora::service
