#pragma once

// Repository interfaces (SQLite now, PostgreSQL later behind the same interface).
// Calls are blocking: callers on I/O threads go through common::BlockingPool.
// Implementations are thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"

namespace aragora::storage {

// A debate row. Times are ISO 8601 UTC strings ("" when unset).
struct DebateRecord {
    std::string id;
    std::string task;
    std::string status;  // pending, running, completed, failed, cancelled
    std::vector<std::string> agents;
    int rounds = 0;
    int rounds_used = 0;
    std::string consensus_method;
    std::optional<bool> consensus_reached;
    std::optional<double> confidence;
    std::string verdict;
    std::string final_answer;
    std::vector<std::string> dissenting_agents;
    std::string created_at;
    std::string started_at;
    std::string completed_at;
    std::optional<double> duration_seconds;
    std::string receipt_id;
    std::string error_code;
    std::string error_message;
    std::string spec_json = "{}";    // the validated request (for re-running, audit)
    std::string result_json = "{}";  // engine result details (votes, failures, usage)
};

struct DebateFilter {
    // Empty = all. A status, or "active" (pending|running), or "no_consensus".
    std::string status;
    int limit = 20;
    int offset = 0;
};

struct DebatePage {
    std::vector<DebateRecord> items;
    std::int64_t total = 0;
};

struct ReceiptRecord {
    std::string receipt_id;
    std::string debate_id;
    std::string content_hash;
    std::optional<std::string> previous_hash;
    std::string created_at;
    std::string json;  // the receipt's own JSON
};

struct ReceiptPage {
    std::vector<ReceiptRecord> items;
    std::int64_t total = 0;
};

// Builds the signed receipt once the previous receipt's hash is known. Runs inside the
// store's write transaction, so the chain stays linear under concurrent finishes.
using ReceiptBuilder =
    std::function<common::Result<ReceiptRecord>(const std::optional<std::string>& previous_hash)>;

class Store {
   public:
    virtual ~Store() = default;

    // Debates
    virtual common::Status CreateDebate(const DebateRecord& debate) = 0;
    virtual common::Result<DebateRecord> GetDebate(const std::string& id) = 0;
    virtual common::Result<DebatePage> ListDebates(const DebateFilter& filter) = 0;
    // Sets status (and started_at when given). Not found ⇒ kNotFound.
    virtual common::Status UpdateDebateStatus(const std::string& id, const std::string& status,
                                              const std::string& started_at) = 0;
    // Writes a finished debate (any terminal status), its remaining events, and — when
    // `receipt` is given — its receipt, all in one transaction. The receipt id is stored
    // on the debate row. Nothing is written when any part fails.
    virtual common::Result<std::optional<ReceiptRecord>> FinishDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt) = 0;
    // Marks debates left pending/running (by a crash) failed with code `interrupted`.
    // Returns how many were marked.
    virtual common::Result<int> MarkInterrupted(const std::string& now) = 0;

    // Events
    virtual common::Status AppendEvents(const std::vector<events::Event>& events) = 0;
    virtual common::Result<std::vector<events::Event>> ListEvents(const std::string& debate_id,
                                                                  std::int64_t since_seq,
                                                                  int limit) = 0;

    // Receipts
    // `id` may be a receipt id, "debate-<debate_id>" or a bare debate id.
    virtual common::Result<ReceiptRecord> GetReceipt(const std::string& id) = 0;
    virtual common::Result<ReceiptPage> ListReceipts(const std::string& debate_id, int limit,
                                                     int offset) = 0;
    virtual common::Result<std::optional<std::string>> LastReceiptHash() = 0;

    // Health: a cheap round trip (SELECT 1).
    virtual common::Status Ping() = 0;
};

struct Migration {
    int version = 0;
    std::string name;
    std::string sql;
};

struct MigrationStatus {
    int current_version = 0;
    int latest_version = 0;
    std::vector<Migration> pending;
};

}  // namespace aragora::storage
