#pragma once

// Re-verifies a receipt chain as stored (docs/receipts.md): every receipt's content hash
// and signature (VerifyReceipt), the stored columns against the receipt's own JSON, and
// every link (previous_hash = the content_hash of the entry before it in chain order).
// A tombstone (a receipt deleted by retention) carries no JSON: its hashes keep the
// links of the receipts around it checkable. Fed one entry at a time, so a chain of any
// length is checked in bounded memory (failures are capped, counts are not).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "debate/receipt.hpp"

namespace aragora::debate {

struct ChainLink {
    std::int64_t chain_seq = 0;
    std::string receipt_id;
    std::string content_hash;                  // the stored column
    std::optional<std::string> previous_hash;  // the stored column
    std::string json;                          // the receipt; "" for a tombstone
    bool tombstone = false;
};

struct ChainFailure {
    std::int64_t chain_seq = 0;
    std::string receipt_id;
    // "content hash mismatch", "bad signature (...)", "unknown signing key (...)",
    // "unsigned", "malformed receipt: ...", "stored content_hash differs from the
    // receipt's", "stored previous_hash differs from the receipt's", "chain broken:
    // previous_hash <x> but the entry before it has content_hash <y>", "first receipt
    // has a previous_hash", "receipt_id differs from the receipt's".
    std::string reason;
};

struct ChainReport {
    std::int64_t receipts = 0;           // entries with JSON
    std::int64_t tombstones = 0;         // deleted receipts whose link was checked
    std::int64_t verified = 0;           // receipts that passed every check
    std::int64_t failed = 0;             // receipts or links that failed (≥ failures.size())
    std::vector<ChainFailure> failures;  // the first kMaxFailures
    bool ok() const { return failed == 0; }
    static constexpr std::size_t kMaxFailures = 1000;
};

class ReceiptChainVerifier {
public:
    // `check` as for VerifyReceipt (kFull: a trusted signature is required).
    explicit ReceiptChainVerifier(ReceiptKeys keys, ReceiptCheck check = ReceiptCheck::kFull);

    // Entries must come in ascending chain_seq. The first entry fed may have a previous
    // hash only when `starts_mid_chain` was set (a partial chain whose head was deleted
    // without a tombstone is a failure).
    void Add(const ChainLink& link);
    void StartsMidChain() { mid_chain_ = true; }

    const ChainReport& report() const { return report_; }

private:
    void Fail(const ChainLink& link, std::string reason);

    ReceiptKeys keys_;
    ReceiptCheck check_;
    ChainReport report_;
    bool first_ = true;
    bool mid_chain_ = false;
    std::string last_hash_;
};

}  // namespace aragora::debate
