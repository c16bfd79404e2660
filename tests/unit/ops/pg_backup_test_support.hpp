#pragma once

// Shared by the PostgreSQL backup tests: a store filled the way `serve` fills it (finished
// debates with their events and signed, chained receipts; users; audit rows) and the
// checks a restored copy must pass (the receipt chain re-verified, receipts identical).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "../storage/store_backends.hpp"
#include "debate/receipt.hpp"
#include "debate/receipt_chain.hpp"
#include "debate/types.hpp"
#include "storage/auth_store.hpp"
#include "storage/postgres/pg_dsn.hpp"
#include "storage/store.hpp"

namespace aragora::ops::test_support {

inline constexpr int kEventsPerDebate = 4;

inline debate::ReceiptKeys TestReceiptKeys() {
    debate::ReceiptKeys keys;
    keys.hmac_current = "backup-test-signing-key";
    return keys;
}

// Finishes debate `id` (row, kEventsPerDebate events, a receipt signed with `keys` chained
// onto the store's last one) in one FinishDebate transaction.
inline common::Status FinishSignedDebate(storage::Store& store, const std::string& id,
                                         const debate::ReceiptKeys& keys) {
    storage::DebateRecord d;
    d.id = id;
    d.task = "Should we ship " + id + "?";
    d.status = events::DebateStatus::kCompleted;
    d.agents = {"alpha", "beta"};
    d.rounds = 1;
    d.rounds_used = 1;
    d.consensus_method = "majority";
    d.consensus_reached = true;
    d.confidence = 0.75;
    d.verdict = "approved";
    d.final_answer = "yes";
    d.created_at = "2026-03-01T10:00:00.000Z";
    d.started_at = "2026-03-01T10:00:01.000Z";
    d.completed_at = "2026-03-01T10:00:05.000Z";
    d.duration_seconds = 4.0;
    d.receipt_id = "rcpt_" + id;
    std::vector<events::Event> events;
    const char* types[kEventsPerDebate] = {"debate_start", "proposal", "vote", "debate_end"};
    for (int i = 0; i < kEventsPerDebate; ++i) {
        events.push_back(storage::test_support::TestEvent(id, i + 1, types[i]));
    }
    storage::ReceiptBuilder builder =
        [&](const std::optional<std::string>& previous) -> common::Result<storage::ReceiptRecord> {
        debate::DebateSpec spec;
        spec.id = id;
        spec.task = d.task;
        spec.agents = d.agents;
        spec.rounds = 1;
        debate::DebateResult result;
        result.status = debate::DebateStatus::kCompleted;
        result.verdict = "approved";
        result.confidence = 0.75;
        result.rounds_used = 1;
        const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1772359205));
        auto signed_receipt =
            debate::BuildSignedReceipt(spec, result, "rcpt_" + id, previous, now, keys);
        if (!signed_receipt) return signed_receipt.error();
        storage::ReceiptRecord r;
        r.receipt_id = signed_receipt->receipt_id;
        r.debate_id = id;
        r.content_hash = signed_receipt->content_hash;
        r.previous_hash = previous;
        r.created_at = d.completed_at;
        r.json = signed_receipt->json;
        return r;
    };
    auto stored = store.FinishDebate(d, events, &builder);
    if (!stored) return stored.error();
    return {};
}

// Users and audit rows (the auth tables a backup must carry).
inline void SeedAuth(storage::AuthStore& auth, int users) {
    for (int i = 0; i < users; ++i) {
        storage::UserRecord u;
        u.id = "usr_" + std::to_string(i);
        u.email = "user" + std::to_string(i) + "@example.com";
        u.name = "User " + std::to_string(i);
        u.role = i == 0 ? "owner" : "member";
        u.password_hash = "pbkdf2$hash" + std::to_string(i);
        u.created_at = "2026-03-01T09:00:00.000Z";
        u.updated_at = u.created_at;
        ASSERT_TRUE(auth.CreateUser(u).ok());
        storage::AuditEntry e;
        e.at = "2026-03-01T09:00:01.000Z";
        e.actor = u.id;
        e.action = "user_added";
        e.target = u.id;
        ASSERT_TRUE(auth.AppendAudit(e).ok());
    }
}

struct ChainCheck {
    debate::ChainReport report;
    std::vector<storage::ReceiptRecord> receipts;  // chain order
};

// The whole receipt chain of `store`, paged, re-verified (signatures and links).
inline ChainCheck VerifyChain(storage::Store& store, const debate::ReceiptKeys& keys) {
    ChainCheck out;
    debate::ReceiptChainVerifier verifier(keys);
    std::int64_t after = 0;
    while (true) {
        auto page = store.ListReceiptChain(after, 100);
        EXPECT_TRUE(page.ok()) << page.error().message;
        if (!page || page->empty()) break;
        for (const auto& e : *page) {
            verifier.Add({e.chain_seq, e.receipt.receipt_id, e.receipt.content_hash,
                          e.receipt.previous_hash, e.receipt.json, e.tombstone});
            out.receipts.push_back(e.receipt);
            after = e.chain_seq;
        }
    }
    out.report = verifier.report();
    return out;
}

// The first column of the first row `sql` answers on `dsn` ("" for none or NULL).
inline std::string QueryOne(const std::string& dsn, const std::string& sql) {
    pqxx::connection c(dsn);
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
}

// A fixture over the test server's own database as the backup source: migrated stores
// and the DSN the backup code is given. Call SetUpSource() first in SetUp.
class PgSourceTest : public ::testing::Test {
protected:
    void SetUpSource() {
        ASSERT_EQ(source_.error(), "");
        auto dsn = storage::BuildPgDsn(source_.db().url(), "");
        ASSERT_TRUE(dsn.ok());
        dsn_ = *dsn;
        auto stores = source_.Open(/*migrate=*/true);
        ASSERT_TRUE(stores.ok()) << stores.error().message;
        stores_ = std::move(*stores);
    }

    storage::test_support::PgBackend source_;
    std::string dsn_;
    storage::test_support::OpenedStores stores_;
};

}  // namespace aragora::ops::test_support
