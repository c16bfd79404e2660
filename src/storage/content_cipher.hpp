#pragma once

// Encryption of debate content at rest (ARAGORA_ENCRYPT_DEBATE_CONTENT, issue 23), for
// every Store backend: a Store decorator that seals the free text of a debate before the
// backend writes it and opens it after the backend reads it, so everything above the
// Store (API, WebSocket replay, exports, receipts, CLI) sees plaintext exactly as before.
//
// Sealed (keys::FieldCipher, associated data = the value's row and column, so a value
// moved to another row or column fails to open):
//   debates.task, debates.final_answer, debates.spec_json (task, context, metadata of the
//   request), debates.result_json (votes, failures, usage)   AD "debate:<id>:<column>"
//   debate_events.data (every event payload: messages, critiques, votes, the end result)
//                                                             AD "event:<debate_id>:<seq>"
//   receipts.json (it quotes the question and the final answer)
//                                                             AD "receipt:<receipt_id>"
// Left clear: ids, status, agents, counts, times, verdict (a closed set, copied into
// receipt tombstones), error code/message (written by the stores' own SQL), hashes, the
// receipt chain links. The `debate_end` events the stores append themselves (lease
// reaper, cancelled queued debate) are written by the backend inside its transaction and
// stay clear; they carry no content (a debate that never finished has no result).
//
// Mixed rows: a value is opened only when cipher.IsSealed() says it is sealed, so rows
// written before encryption was turned on read as they are; with sealing off (setting
// false) and a cipher configured, sealed rows still open.
//
// A value that fails to open (moved, truncated, unknown or expired key) makes the read
// fail with kCrypto (a 500 on the API), the message naming the row, column and the
// cipher's reason, and is counted in DecryptFailureCounts by reason.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "keys/cipher.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

// The associated data of each sealed value.
std::string DebateFieldAd(std::string_view debate_id, std::string_view column);
std::string EventDataAd(std::string_view debate_id, std::int64_t seq);
std::string ReceiptJsonAd(std::string_view receipt_id);

// Why a sealed value did not open (the cipher's error code): kValidation ⇒ kMalformed
// (truncated, bad version), kCrypto ⇒ kTampered (failed tag: altered or moved), kNotFound
// ⇒ kUnknownKey (unknown or expired key id/version). Anything else counts as kMalformed.
enum class DecryptFailure { kMalformed = 0, kTampered = 1, kUnknownKey = 2 };
inline constexpr std::array<DecryptFailure, 3> kDecryptFailures = {
    DecryptFailure::kMalformed, DecryptFailure::kTampered, DecryptFailure::kUnknownKey};
// "malformed", "tampered", "unknown_key" (the `reason` label of
// aragora_decrypt_failures_total).
std::string_view ToString(DecryptFailure reason);
DecryptFailure DecryptFailureOf(common::ErrorCode cipher_code);

// Failed opens by reason. Thread-safe; shared by the decorator and the metrics callback.
class DecryptFailureCounts {
public:
    void Record(DecryptFailure reason) {
        counts_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t Count(DecryptFailure reason) const {
        return counts_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
    }

private:
    std::array<std::atomic<std::uint64_t>, 3> counts_{};
};

// Opens one stored value: plaintext (not IsSealed) is returned as is; a sealed one is
// opened with `ad`. On failure: kCrypto "<what> cannot be decrypted (<reason>): <cipher
// message>", counted in `failures` (may be null).
common::Result<std::string> OpenStoredValue(const keys::FieldCipher& cipher,
                                            std::string_view stored, std::string_view ad,
                                            std::string_view what, DecryptFailureCounts* failures);

// The re-encryption step of one stored value: nullopt when nothing is to do (plaintext,
// or already sealed under cipher.Current(): never sealed twice), else the value opened
// with `ad` and sealed again under the current key. Errors as OpenStoredValue (and the
// cipher's Seal/KeyOf errors as they are).
common::Result<std::optional<std::string>> ResealStoredValue(const keys::FieldCipher& cipher,
                                                             std::string_view stored,
                                                             std::string_view ad,
                                                             std::string_view what,
                                                             DecryptFailureCounts* failures);

// Whether `stored` is a sealed value under a key other than `current` (CountNotUnder). A
// sealed value whose key cannot be read counts as not under it.
bool SealedNotUnder(const keys::FieldCipher& cipher, std::string_view stored,
                    const keys::KeyRef& current);

struct ContentCipherOptions {
    // ARAGORA_ENCRYPT_DEBATE_CONTENT: seal what is written. False: only open what is read
    // (encryption turned off after sealed rows were written).
    bool seal_writes = true;
    std::shared_ptr<DecryptFailureCounts> failures;  // may be null
};

// `inner` with the debate content sealed on write and opened on read (see above). A null
// `cipher` returns `inner` unchanged. Thread-safe as `inner` is.
std::unique_ptr<Store> WrapWithContentCipher(std::unique_ptr<Store> inner,
                                             std::shared_ptr<const keys::FieldCipher> cipher,
                                             ContentCipherOptions options);
// The same over a store the caller keeps (it must outlive the result); `cipher` not null.
std::unique_ptr<Store> WrapBorrowedWithContentCipher(
    Store& inner, std::shared_ptr<const keys::FieldCipher> cipher, ContentCipherOptions options);

}  // namespace aragora::storage

// ---------------------------------------------------------------- re-encryption targets
// What the backends' keys::ReEncryptTarget implementations share (sqlite/postgres
// *_content_targets.cpp): one spec per table holding sealed values, and the step that
// decides what to rewrite in a batch of rows.
namespace aragora::storage::content {

struct KeyColumn {
    std::string name;
    bool integer = false;
};

struct SealedTableSpec {
    std::string target_name;  // ReEncryptTarget::Name(): "debates", "debate_events", "receipts"
    std::string table;
    std::vector<KeyColumn> key;        // the primary key, in order (the cursor)
    std::vector<std::string> columns;  // the sealed columns
    // The associated data of `column` in the row with primary key `key` (values in order).
    std::string (*ad)(const std::vector<std::string>& key, std::string_view column) = nullptr;
};

// debates, debate_events, receipts.
const std::vector<SealedTableSpec>& SealedTables();

// The cursor of a row (its primary key) and back. An empty cursor is "from the start".
std::string EncodeCursor(const std::vector<std::string>& key);
common::Result<std::vector<std::string>> DecodeCursor(const SealedTableSpec& spec,
                                                      std::string_view cursor);

struct SealedRow {
    std::vector<std::string> key;
    std::vector<std::string> values;  // spec.columns, in order
};

struct RowUpdate {
    std::vector<std::string> key;
    std::vector<std::pair<std::string, std::string>> set;  // column, new sealed value
};

struct BatchPlan {
    std::vector<RowUpdate> updates;
    int rewritten = 0;
    int skipped = 0;
};

// What to rewrite in `rows` under cipher.Current() (ResealStoredValue per value). The
// first value that does not open fails the batch (nothing is written).
common::Result<BatchPlan> PlanReEncrypt(const SealedTableSpec& spec,
                                        const keys::FieldCipher& cipher,
                                        const std::vector<SealedRow>& rows,
                                        DecryptFailureCounts* failures);

// How many of `rows`' values are sealed under a key other than `current`.
std::int64_t CountNotUnder(const keys::FieldCipher& cipher, const std::vector<SealedRow>& rows,
                           const keys::KeyRef& current);

}  // namespace aragora::storage::content
