#pragma once

// Shared by the backup tests: a temporary directory and a real SQLite store holding
// debates with events and signed, chained receipts.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/time.hpp"
#include "debate/receipt.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/store.hpp"

namespace aragora::ops::test_support {

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/aragora_backup_XXXXXX";
        if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline debate::ReceiptKeys TestKeys() {
    debate::ReceiptKeys keys;
    keys.hmac_current = "backup-test-signing-key-0123456789abcdef";
    return keys;
}

inline events::Event Event(const std::string& id, std::int64_t seq, const std::string& type) {
    events::Event e;
    e.debate_id = id;
    e.seq = seq;
    e.type = type;
    e.timestamp = 1.0 + static_cast<double>(seq);
    e.data_json = "{}";
    return e;
}

// Adds debate `id`, completed, with 3 events (the last debate_end) and a signed receipt
// chained onto the store's last one.
inline void AddCompletedDebate(storage::Store& store, const std::string& id,
                               const debate::ReceiptKeys& keys) {
    const std::string now = "2027-01-15T02:00:00.000Z";
    storage::DebateRecord d;
    d.id = id;
    d.task = "Should we back up " + id + "?";
    d.status = events::DebateStatus::kCompleted;
    d.agents = {"demo", "demo"};
    d.rounds = 1;
    d.rounds_used = 1;
    d.created_at = now;
    d.completed_at = now;
    storage::DebateRecord running = d;
    running.status = events::DebateStatus::kRunning;
    running.completed_at.clear();
    ASSERT_TRUE(store.CreateDebate(running));
    debate::DebateSpec spec;
    spec.id = id;
    spec.task = d.task;
    spec.agents = d.agents;
    debate::DebateResult result;
    result.verdict = "approved";
    result.confidence = 0.8;
    storage::ReceiptBuilder builder =
        [&](const std::optional<std::string>& prev) -> common::Result<storage::ReceiptRecord> {
        auto signed_receipt = debate::BuildSignedReceipt(
            spec, result, "rcpt-" + id, prev,
            std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)), keys);
        if (!signed_receipt) return signed_receipt.error();
        storage::ReceiptRecord r;
        r.receipt_id = signed_receipt->receipt_id;
        r.debate_id = id;
        r.content_hash = signed_receipt->content_hash;
        r.previous_hash = prev;
        r.created_at = now;
        r.json = signed_receipt->json;
        return r;
    };
    auto done = store.FinishDebate(
        d, {Event(id, 1, "debate_start"), Event(id, 2, "round_start"), Event(id, 3, "debate_end")},
        &builder);
    ASSERT_TRUE(done) << done.error().message;
}

inline std::unique_ptr<storage::Store> OpenStore(const std::filesystem::path& path) {
    auto store = storage::OpenSqliteStore(storage::SqliteOptions{path.string()}, true);
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(*store) : nullptr;
}

// A store at `path` with `n` completed debates (ids d0..d<n-1>).
inline void PopulateStore(const std::filesystem::path& path, int n,
                          const debate::ReceiptKeys& keys) {
    auto store = OpenStore(path);
    ASSERT_TRUE(store);
    for (int i = 0; i < n; ++i) AddCompletedDebate(*store, "d" + std::to_string(i), keys);
}

}  // namespace aragora::ops::test_support
