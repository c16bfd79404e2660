// Encryption of debate content at rest (storage/content_cipher.hpp) on SQLite and
// PostgreSQL, through the path serve and the CLI use (OpenConfiguredStores): what is
// stored sealed, what reads back, mixed rows, re-encryption targets, tampering.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../support/test_field_cipher.hpp"
#include "config/settings.hpp"
#include "storage/content_cipher.hpp"
#include "storage/open_stores.hpp"
#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using ::aragora::test_support::TestFieldCipher;
using common::ErrorCode;
using test_support::BackendKind;
using test_support::PgTestDatabase;
using test_support::RawDb;
using test_support::TempDir;

constexpr const char* kTask = "Should the secret merger with Initech be announced on Friday?";
constexpr const char* kAnswer = "Announce on Monday after the board vote";
constexpr const char* kMessage = "I think the merger terms are unfair to minority holders";

class ContentEncryptionTest : public ::testing::TestWithParam<BackendKind> {
public:
    void SetUp() override {
        cipher_ = std::make_shared<TestFieldCipher>();
        failures_ = std::make_shared<DecryptFailureCounts>();
        if (GetParam() == BackendKind::kSqlite) {
            settings_.backend = config::DbBackend::kSqlite;
            settings_.sqlite_path = (dir_.path() / "aragora.sqlite3").string();
        } else {
            pg_ = std::make_unique<PgTestDatabase>();
            ASSERT_EQ(pg_->error(), "");
            settings_.backend = config::DbBackend::kPostgres;
            settings_.postgres_dsn = pg_->url();
            settings_.pool_size = 2;
            settings_.pool_overflow = 2;
        }
    }

    // Opens the configured stores as serve does, encryption on or off, with or without
    // the cipher.
    OpenedStores Open(bool encrypt, bool with_cipher = true) {
        auto s = settings_;
        s.encrypt_debate_content = encrypt;
        ContentEncryption e;
        if (with_cipher) e.cipher = cipher_;
        e.failures = failures_;
        auto opened = OpenConfiguredStores(s, /*migrate=*/true, e);
        EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().message);
        if (!opened.ok()) return {};
        return std::move(*opened);
    }

    std::vector<std::string> Column(const std::string& sql) {
        if (pg_) return pg_->Column(sql);
        return RawDb(settings_.sqlite_path).Column(sql.c_str());
    }
    void Exec(const std::string& sql) {
        if (pg_) return pg_->Exec(sql);
        RawDb(settings_.sqlite_path).Exec(sql.c_str());
    }
    std::string One(const std::string& sql) {
        auto c = Column(sql);
        return c.empty() ? "<none>" : c[0];
    }

    static DebateRecord Debate(const std::string& id) {
        DebateRecord d;
        d.id = id;
        d.task = std::string(kTask) + " (" + id + ")";
        d.agents = {"claude", "gpt"};
        d.rounds = 2;
        d.created_at = "2026-12-07T03:00:00.000000Z";
        d.spec_json = R"({"task":")" + d.task + R"(","context":"board minutes attached"})";
        return d;
    }

    static events::Event Message(const std::string& id, std::int64_t seq) {
        events::Event e;
        e.debate_id = id;
        e.seq = seq;
        e.type = "agent_message";
        e.round = 1;
        e.agent = "claude";
        e.timestamp = 1700000000.0 + static_cast<double>(seq);
        e.data_json =
            R"({"content":")" + std::string(kMessage) + R"(","n":)" + std::to_string(seq) + "}";
        return e;
    }

    // Creates, appends two events and finishes `id` with a receipt.
    void RunDebate(Store& store, const std::string& id) {
        auto d = Debate(id);
        ASSERT_TRUE(store.CreateDebate(d).ok());
        ASSERT_TRUE(store.AppendEvents({Message(id, 1), Message(id, 2)}).ok());
        d.status = events::DebateStatus::kCompleted;
        d.final_answer = kAnswer;
        d.verdict = "approved";
        d.consensus_reached = true;
        d.result_json = R"({"votes":{"claude":")" + std::string(kAnswer) + R"("}})";
        d.completed_at = "2026-12-07T03:01:00.000000Z";
        auto builder = test_support::TestReceiptBuilder("rcpt_" + id, d.completed_at);
        ReceiptBuilder with_content = [&](const std::optional<std::string>& previous) {
            auto r = builder(previous);
            if (r)
                r->json = R"({"question":")" + d.task + R"(","final_answer":")" + kAnswer + "\"}";
            return r;
        };
        auto finished = store.FinishDebate(d, {Message(id, 3)}, &with_content);
        ASSERT_TRUE(finished.ok()) << finished.error().message;
        ASSERT_TRUE(finished->has_value());
        EXPECT_NE((*finished)->json.find(kAnswer), std::string::npos) << "returned opened";
    }

    void ExpectReadsBack(Store& store, const std::string& id) {
        auto d = store.GetDebate(id);
        ASSERT_TRUE(d.ok()) << d.error().message;
        EXPECT_EQ(d->task, std::string(kTask) + " (" + id + ")");
        EXPECT_EQ(d->final_answer, kAnswer);
        EXPECT_NE(d->spec_json.find("board minutes"), std::string::npos);
        EXPECT_NE(d->result_json.find("votes"), std::string::npos);
        EXPECT_EQ(d->verdict, "approved");
        auto events = store.ListEvents(id, 0, 100);
        ASSERT_TRUE(events.ok()) << events.error().message;
        ASSERT_EQ(events->size(), 3u);
        for (const auto& e : *events) EXPECT_NE(e.data_json.find(kMessage), std::string::npos);
        auto receipt = store.GetReceipt("rcpt_" + id);
        ASSERT_TRUE(receipt.ok()) << receipt.error().message;
        EXPECT_NE(receipt->json.find(kAnswer), std::string::npos);
        auto page = store.ListDebates({});
        ASSERT_TRUE(page.ok()) << page.error().message;
        bool listed = false;
        for (const auto& item : page->items) listed = listed || item.id == id;
        EXPECT_TRUE(listed);
        for (const auto& item : page->items) {
            EXPECT_FALSE(cipher_->IsSealed(item.task)) << item.id;
        }
        auto chain = store.ListReceiptChain(0, 100);
        ASSERT_TRUE(chain.ok()) << chain.error().message;
        for (const auto& link : *chain) EXPECT_FALSE(cipher_->IsSealed(link.receipt.json));
    }

    std::string StoredTask(const std::string& id) {
        return One("SELECT task FROM debates WHERE id = '" + id + "'");
    }

    TempDir dir_;
    std::unique_ptr<PgTestDatabase> pg_;
    config::StorageSettings settings_;
    std::shared_ptr<TestFieldCipher> cipher_;
    std::shared_ptr<DecryptFailureCounts> failures_;
};

TEST_P(ContentEncryptionTest, ContentIsSealedAtRestAndReadsBackAsPlaintext) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    RunDebate(*opened.store, "d1");
    ExpectReadsBack(*opened.store, "d1");

    // Every sealed column holds a sealed value; none holds the plaintext.
    for (const char* column : {"task", "final_answer", "spec_json", "result_json"}) {
        const std::string v = One(std::string("SELECT ") + column + " FROM debates");
        EXPECT_TRUE(cipher_->IsSealed(v)) << column << ": " << v;
        EXPECT_EQ(v.find("merger"), std::string::npos) << column;
        EXPECT_EQ(v.find("Monday"), std::string::npos) << column;
    }
    for (const auto& data : Column("SELECT data FROM debate_events ORDER BY seq")) {
        EXPECT_TRUE(cipher_->IsSealed(data)) << data;
        EXPECT_EQ(data.find("merger"), std::string::npos);
    }
    const std::string json = One("SELECT json FROM receipts");
    EXPECT_TRUE(cipher_->IsSealed(json));
    EXPECT_EQ(json.find("Monday"), std::string::npos);
    // What stays clear: ids, status, verdict, hashes.
    EXPECT_EQ(One("SELECT verdict FROM debates"), "approved");
    EXPECT_EQ(One("SELECT status FROM debates"), "completed");
    EXPECT_EQ(One("SELECT content_hash FROM receipts"), "hash-rcpt_d1");
    EXPECT_EQ(failures_->Count(DecryptFailure::kTampered), 0u);
}

TEST_P(ContentEncryptionTest, GroupCommittedBatchesAreSealedToo) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    ASSERT_TRUE(opened.store->CreateDebate(Debate("g1")).ok());
    ASSERT_TRUE(opened.store->CreateDebate(Debate("g2")).ok());
    std::vector<events::Event> a{Message("g1", 1), Message("g1", 2)};
    std::vector<events::Event> b{Message("g2", 1)};
    std::vector<EventBatch> batches{{a, ""}, {b, ""}};
    auto statuses = opened.store->AppendEventBatches(batches);
    ASSERT_EQ(statuses.size(), 2u);
    EXPECT_TRUE(statuses[0].ok() && statuses[1].ok());
    const auto stored = Column("SELECT data FROM debate_events ORDER BY debate_id, seq");
    ASSERT_EQ(stored.size(), 3u);
    for (const auto& data : stored) {
        EXPECT_TRUE(cipher_->IsSealed(data)) << data;
        EXPECT_EQ(data.find("merger"), std::string::npos);
    }
    auto events = opened.store->ListEvents("g1", 0, 10);
    ASSERT_TRUE(events.ok()) << events.error().message;
    ASSERT_EQ(events->size(), 2u);
    EXPECT_NE((*events)[1].data_json.find(kMessage), std::string::npos);
}

// A final write that shares the group commit (WriteDebateBatches) is sealed like
// FinishDebate's: the wrapped store writes it through its own FinishDebate.
TEST_P(ContentEncryptionTest, GroupCommittedFinalWritesAreSealedToo) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    auto d = Debate("f1");
    ASSERT_TRUE(opened.store->CreateDebate(d).ok());
    d.status = events::DebateStatus::kCompleted;
    d.final_answer = kAnswer;
    d.completed_at = "2026-12-07T03:01:00.000000Z";
    const std::vector<events::Event> evs{Message("f1", 1)};
    const ReceiptBuilder builder = test_support::TestReceiptBuilder("rcpt_f1", d.completed_at);
    std::optional<ReceiptRecord> receipt;
    DebateBatch finish;
    finish.debate_id = "f1";
    finish.events = evs;
    finish.finish = &d;
    finish.receipt = &builder;
    finish.stored_receipt = &receipt;
    const std::vector<DebateBatch> batches{finish};
    auto statuses = opened.store->WriteDebateBatches(batches);
    ASSERT_EQ(statuses.size(), 1u);
    ASSERT_TRUE(statuses[0].ok()) << statuses[0].error().message;
    ASSERT_TRUE(receipt.has_value());
    EXPECT_TRUE(cipher_->IsSealed(One("SELECT task FROM debates")));
    EXPECT_TRUE(cipher_->IsSealed(One("SELECT final_answer FROM debates")));
    for (const auto& data : Column("SELECT data FROM debate_events"))
        EXPECT_TRUE(cipher_->IsSealed(data)) << data;
    auto back = opened.store->GetDebate("f1");
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->final_answer, kAnswer);
    EXPECT_EQ(back->task, d.task);
}

TEST_P(ContentEncryptionTest, ContentStaysClearWithoutTheSetting) {
    auto opened = Open(/*encrypt=*/false, /*with_cipher=*/false);
    ASSERT_TRUE(opened.store);
    RunDebate(*opened.store, "d1");
    EXPECT_EQ(StoredTask("d1"), std::string(kTask) + " (d1)");
    EXPECT_TRUE(opened.content_targets.empty());
}

TEST_P(ContentEncryptionTest, TheSettingWithoutACipherFailsInOneLine) {
    auto s = settings_;
    s.encrypt_debate_content = true;
    auto opened = OpenConfiguredStores(s, /*migrate=*/true, ContentEncryption{});
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, ErrorCode::kValidation);
    EXPECT_EQ(opened.error().message, kEncryptionKeyMissing);
    EXPECT_EQ(opened.error().message.find('\n'), std::string::npos);
}

TEST_P(ContentEncryptionTest, RowsFromBeforeAndAfterReadTogetherAndAfterTurningItOff) {
    {
        auto before = Open(/*encrypt=*/false, /*with_cipher=*/false);
        ASSERT_TRUE(before.store);
        RunDebate(*before.store, "old");
    }
    {
        auto on = Open(/*encrypt=*/true);
        ASSERT_TRUE(on.store);
        RunDebate(*on.store, "new");
        ExpectReadsBack(*on.store, "old");
        ExpectReadsBack(*on.store, "new");
    }
    EXPECT_FALSE(cipher_->IsSealed(StoredTask("old")));
    EXPECT_TRUE(cipher_->IsSealed(StoredTask("new")));
    // Turned off again, the cipher still configured: new rows are clear, sealed ones open.
    auto off = Open(/*encrypt=*/false);
    ASSERT_TRUE(off.store);
    RunDebate(*off.store, "later");
    EXPECT_FALSE(cipher_->IsSealed(StoredTask("later")));
    ExpectReadsBack(*off.store, "old");
    ExpectReadsBack(*off.store, "new");
    ExpectReadsBack(*off.store, "later");
}

TEST_P(ContentEncryptionTest, QueueAndReaperPathsSeeOpenedRows) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    auto d = Debate("q1");
    d.queued_for_worker = true;
    ASSERT_TRUE(opened.store->CreateDebate(d).ok());
    auto claimed = opened.store->ClaimQueuedDebate("w1", "2026-12-07T03:00:01.000000Z",
                                                   "2026-12-07T03:00:31.000000Z");
    ASSERT_TRUE(claimed.ok()) << claimed.error().message;
    ASSERT_TRUE(claimed->has_value());
    EXPECT_EQ((*claimed)->task, d.task);
    EXPECT_NE((*claimed)->spec_json.find("board minutes"), std::string::npos);
    std::string seen_task;
    DebateEndDataBuilder end = [&](const DebateRecord& row) {
        seen_task = row.task;
        return std::string(R"({"debate_id":")") + row.id + R"(","status":"failed"})";
    };
    auto reaped = opened.store->ReapExpiredLeases("2026-12-07T03:05:00.000000Z", end);
    ASSERT_TRUE(reaped.ok()) << reaped.error().message;
    ASSERT_EQ(reaped->size(), 1u);
    EXPECT_EQ(seen_task, d.task);
    auto events = opened.store->ListEvents("q1", 0, 10);
    ASSERT_TRUE(events.ok()) << events.error().message;
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ((*events)[0].type, "debate_end");

    auto c = Debate("q2");
    c.queued_for_worker = true;
    c.final_answer = "a partial answer";  // sealed: the end payload quotes it as `result`
    ASSERT_TRUE(opened.store->CreateDebate(c).ok());
    auto cancelled = opened.store->CancelQueuedDebate("q2", "2026-12-07T03:06:00.000000Z", nullptr);
    ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
    EXPECT_EQ(cancelled->task, c.task);
    auto end_events = opened.store->ListEvents("q2", 0, 10);
    ASSERT_TRUE(end_events.ok());
    ASSERT_EQ(end_events->size(), 1u);
    // The default end payload was built from the opened row, not from sealed text.
    EXPECT_EQ((*end_events)[0].data_json.find("tfc1:"), std::string::npos);
    EXPECT_NE((*end_events)[0].data_json.find("a partial answer"), std::string::npos)
        << (*end_events)[0].data_json;
}

// ---------------------------------------------------------------- tampering

TEST_P(ContentEncryptionTest, AValueMovedToAnotherRowFailsAndIsCounted) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    RunDebate(*opened.store, "d1");
    RunDebate(*opened.store, "d2");
    Exec("UPDATE debates SET task = (SELECT task FROM debates WHERE id = 'd1') WHERE id = 'd2'");
    auto d2 = opened.store->GetDebate("d2");
    ASSERT_FALSE(d2.ok());
    EXPECT_EQ(d2.error().code, ErrorCode::kCrypto);  // a 500 on the API
    EXPECT_NE(d2.error().message.find("debate d2 task cannot be decrypted (tampered)"),
              std::string::npos)
        << d2.error().message;
    EXPECT_EQ(failures_->Count(DecryptFailure::kTampered), 1u);
    EXPECT_TRUE(opened.store->GetDebate("d1").ok());
    // The list fails as a whole rather than serving a row it cannot read.
    EXPECT_EQ(opened.store->ListDebates({}).error().code, ErrorCode::kCrypto);

    // Another column of the same row is another place too.
    Exec(
        "UPDATE debates SET final_answer = (SELECT task FROM debates WHERE id = 'd1') "
        "WHERE id = 'd1'");
    EXPECT_EQ(opened.store->GetDebate("d1").error().code, ErrorCode::kCrypto);

    // An event payload moved to another seq.
    Exec(
        "UPDATE debate_events SET data = (SELECT data FROM debate_events WHERE debate_id = 'd1' "
        "AND seq = 1) WHERE debate_id = 'd1' AND seq = 2");
    auto events = opened.store->ListEvents("d1", 0, 10);
    ASSERT_FALSE(events.ok());
    EXPECT_EQ(events.error().code, ErrorCode::kCrypto);
    EXPECT_NE(events.error().message.find("event d1#2"), std::string::npos);

    // A receipt's JSON moved to another receipt.
    Exec(
        "UPDATE receipts SET json = (SELECT json FROM receipts WHERE receipt_id = 'rcpt_d1') "
        "WHERE receipt_id = 'rcpt_d2'");
    EXPECT_EQ(opened.store->GetReceipt("rcpt_d2").error().code, ErrorCode::kCrypto);
    EXPECT_TRUE(opened.store->GetReceipt("rcpt_d1").ok());
    EXPECT_EQ(failures_->Count(DecryptFailure::kTampered), 5u);
}

TEST_P(ContentEncryptionTest, ATruncatedValueFailsAsMalformed) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    RunDebate(*opened.store, "d1");
    const std::string sealed = StoredTask("d1");
    Exec("UPDATE debates SET task = '" + sealed.substr(0, 20) + "' WHERE id = 'd1'");
    auto d = opened.store->GetDebate("d1");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kCrypto);
    EXPECT_NE(d.error().message.find("(malformed)"), std::string::npos) << d.error().message;
    EXPECT_EQ(failures_->Count(DecryptFailure::kMalformed), 1u);
}

TEST_P(ContentEncryptionTest, AValueUnderAnUnknownKeyFailsAsUnknownKey) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    RunDebate(*opened.store, "d1");
    cipher_->AddKey({"k2", 1}, /*make_current=*/true);
    cipher_->RemoveKey({"k1", 1});
    auto d = opened.store->GetDebate("d1");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kCrypto);
    EXPECT_NE(d.error().message.find("(unknown_key)"), std::string::npos) << d.error().message;
    EXPECT_NE(d.error().message.find("k1"), std::string::npos);  // names the key id
    EXPECT_EQ(failures_->Count(DecryptFailure::kUnknownKey), 1u);
}

// ---------------------------------------------------------------- re-encryption

int RunAll(keys::ReEncryptTarget& t, const keys::FieldCipher& c, int limit, int* batches,
           int* skipped = nullptr) {
    std::string cursor;
    int rewritten = 0;
    while (true) {
        auto b = t.ReEncrypt(c, cursor, limit);
        EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message);
        if (!b.ok()) return -1;
        rewritten += b->rewritten;
        if (skipped) *skipped += b->skipped;
        ++*batches;
        cursor = b->next_cursor;
        if (b->done) return rewritten;
    }
}

TEST_P(ContentEncryptionTest, ReEncryptionRewritesOnlyWhatIsUnderAnOldKey) {
    // One clear debate from before, then three sealed under k1.
    {
        auto before = Open(/*encrypt=*/false, /*with_cipher=*/false);
        RunDebate(*before.store, "old");
    }
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    for (const char* id : {"d1", "d2", "d3"}) RunDebate(*opened.store, id);
    ASSERT_EQ(opened.content_targets.size(), 3u);
    std::vector<std::string> names;
    for (const auto& t : opened.content_targets) names.push_back(t->Name());
    EXPECT_EQ(names, (std::vector<std::string>{"debates", "debate_events", "receipts"}));

    const keys::KeyRef k1{"k1", 1}, k2{"k2", 1};
    cipher_->AddKey(k2, /*make_current=*/true);
    // Sealed values per target: debates 3 rows x 4 columns, events 3 x 3, receipts 3.
    const std::vector<std::int64_t> expected = {12, 9, 3};
    for (std::size_t i = 0; i < 3; ++i) {
        auto n = opened.content_targets[i]->CountNotUnder(k2);
        ASSERT_TRUE(n.ok()) << n.error().message;
        EXPECT_EQ(*n, expected[i]) << names[i];
    }
    // A debate written while the rotation runs is sealed under k2 already.
    RunDebate(*opened.store, "d4");

    for (std::size_t i = 0; i < 3; ++i) {
        int batches = 0, skipped = 0;
        EXPECT_EQ(RunAll(*opened.content_targets[i], *cipher_, 2, &batches, &skipped), expected[i])
            << names[i];
        EXPECT_GT(batches, 1) << "batches of 2 rows";
        EXPECT_EQ(skipped, expected[i] / 3) << names[i] << ": d4's values, already under k2";
        auto n = opened.content_targets[i]->CountNotUnder(k2);
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(*n, 0) << names[i];
    }
    // A rerun (a crash after the last batch, resumed from an old cursor) rewrites nothing.
    for (auto& t : opened.content_targets) {
        int batches = 0;
        EXPECT_EQ(RunAll(*t, *cipher_, 100, &batches), 0) << t->Name();
    }
    EXPECT_FALSE(cipher_->IsSealed(StoredTask("old")));  // clear rows are not touched
    // k1 can go: everything opens under k2.
    cipher_->RemoveKey(k1);
    for (const char* id : {"old", "d1", "d2", "d3", "d4"}) ExpectReadsBack(*opened.store, id);
    for (const auto& task : Column("SELECT task FROM debates WHERE id <> 'old'")) {
        auto key = cipher_->KeyOf(task);
        ASSERT_TRUE(key.ok());
        EXPECT_EQ(*key, k2);
    }
}

TEST_P(ContentEncryptionTest, ReEncryptionResumesFromTheCursorAndRefusesABadOne) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    for (const char* id : {"d1", "d2", "d3"}) RunDebate(*opened.store, id);
    cipher_->AddKey({"k2", 1}, /*make_current=*/true);
    auto& events = *opened.content_targets[1];
    auto first = events.ReEncrypt(*cipher_, "", 4);
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->rewritten, 4);
    EXPECT_FALSE(first->done);
    // "Restart": a new target object over the same database, from the persisted cursor.
    auto reopened = Open(/*encrypt=*/true);
    auto rest = reopened.content_targets[1]->ReEncrypt(*cipher_, first->next_cursor, 100);
    ASSERT_TRUE(rest.ok()) << rest.error().message;
    EXPECT_EQ(rest->rewritten, 5);
    EXPECT_EQ(rest->skipped, 0);
    EXPECT_TRUE(rest->done);
    auto bad = events.ReEncrypt(*cipher_, "d1\nnot-a-number", 10);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kValidation);
}

TEST_P(ContentEncryptionTest, ABatchWithATamperedValueWritesNothing) {
    auto opened = Open(/*encrypt=*/true);
    ASSERT_TRUE(opened.store);
    for (const char* id : {"d1", "d2"}) RunDebate(*opened.store, id);
    Exec("UPDATE debates SET task = (SELECT task FROM debates WHERE id = 'd1') WHERE id = 'd2'");
    const std::string d1_before = StoredTask("d1");
    cipher_->AddKey({"k2", 1}, /*make_current=*/true);
    auto b = opened.content_targets[0]->ReEncrypt(*cipher_, "", 10);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code, ErrorCode::kCrypto);
    EXPECT_EQ(StoredTask("d1"), d1_before);  // the batch rolled back
    EXPECT_EQ(failures_->Count(DecryptFailure::kTampered), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ContentEncryptionTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
