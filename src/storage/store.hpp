#pragma once

// Repository interfaces (SQLite now, PostgreSQL later behind the same interface).
// Calls are blocking: callers on I/O threads go through common::BlockingPool.
// Implementations are thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"
#include "events/status.hpp"

namespace aragora::storage {

// A debate row. Times are ISO 8601 UTC strings ("" when unset).
struct DebateRecord {
    std::string id;
    std::string task;
    // Stored as its text (events::ToString); a row holding any other text reads as
    // kStorage (the mapping lives at each backend's SQL edge).
    events::DebateStatus status = events::DebateStatus::kPending;
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
    // Who created it: a user id, "" = anonymous (dev mode, CLI). Set at creation; a later
    // FinishDebate with "" keeps the stored value (same for org_id).
    std::string created_by{};
    std::string org_id{};
    // Worker queue (`aragora worker`). Set at creation: a queued debate is run by whichever
    // worker claims it, never by the API instance that created it. The lease fields of a
    // queued debate are written by the queue methods only: the worker that holds or last
    // held the lease, when the lease ends (ISO 8601 like the other times), and how many
    // claims it had.
    // A debate an API instance runs itself (not queued) may be created under that
    // instance's lease (lease_owner and lease_expires_at given to CreateDebate): on a
    // shared database the lease, not crash recovery, decides its end (see MarkInterrupted
    // and ReapExpiredLeases). FinishDebate ignores the lease fields and keeps the stored
    // values; CreateDebate ignores them for a queued debate and never writes attempts.
    bool queued_for_worker = false;
    std::string lease_owner{};
    std::string lease_expires_at{};
    int attempts = 0;
};

// ListDebates returns newest first (created_at DESC, id DESC); `total` counts every match.
// An unknown status, or a negative limit/offset, is kValidation.
struct DebateFilter {
    // Empty = all. A status, or "active" (pending|running), or "no_consensus"
    // (completed with consensus_reached false).
    std::string status;
    int limit = 20;
    int offset = 0;
    // Empty = every creator (anonymous debates included); else only this user's debates.
    std::string created_by{};
    // Empty = every task; else only debates whose task contains this text (case-insensitive
    // substring; '%', '_' and backslash match themselves). At most 200 code points
    // (rules::ValidateTaskQuery), else kValidation (field "q").
    std::string task_query{};
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

// One link of the receipt chain in chain order (receipts.chain_seq). A receipt deleted by
// retention leaves a tombstone that keeps its id, debate, hashes and chain_seq, so the
// chain of the receipts that remain verifies across the gap (`json` is then empty).
struct ReceiptChainEntry {
    std::int64_t chain_seq = 0;
    ReceiptRecord receipt;  // json "" for a tombstone
    bool tombstone = false;
};

// One key that signed (or may have signed) receipts: the receipt keyring the store keeps
// (table receipt_signing_keys) so that no key is forgotten across rotations and restarts.
// Never an HMAC key in clear: `sealed_secret` is the keys::FieldCipher envelope of the
// HMAC key (associated data ReceiptKeySealAad(key_id)), or empty when it is not kept.
struct ReceiptKeyRow {
    std::string key_id;         // debate::KeyId of the key
    std::string algorithm;      // "hmac-sha256" or "ed25519"
    std::string public_key;     // Ed25519: base64 of the 32-byte public key; HMAC: ""
    std::string sealed_secret;  // HMAC: sealed key or ""; Ed25519: ""
    std::string first_seen_at;  // ISO 8601: first seen configured by a server
    std::string last_seen_at;   // last seen configured (a server start, or when it left)
    std::string retired_at;     // when a server first saw it no longer configured; ""
};

inline std::string ReceiptKeySealAad(const std::string& key_id) {
    return "receipt_signing_keys:" + key_id;
}

struct ReceiptPage {
    std::vector<ReceiptRecord> items;
    std::int64_t total = 0;
};

// Receipt retention (docs/operations.md). The reasons a receipt may be deleted for (the
// original's VALID_REASONS); retention writes kRetentionExpired.
inline constexpr const char* kRetentionExpired = "retention_expired";

// A receipt's legal hold: while `active`, retention never deletes it.
struct LegalHold {
    std::string receipt_id;
    bool active = false;
    std::string reason;
    std::string matter_id;
    std::string placed_by;
    std::string placed_at;  // "" when none
};

// One row of the deletion log (receipt_deletions), which is also the chain's tombstone of
// the deleted receipt: its id, debate, chain position and both hashes stay.
struct ReceiptDeletion {
    std::string deletion_id;  // "del_" + 12 hex
    std::string receipt_id;
    std::int64_t chain_seq = 0;
    std::string debate_id;
    std::string content_hash;
    std::optional<std::string> previous_hash;
    std::string receipt_created_at;
    std::string verdict;  // the debate's verdict at deletion ("" when none)
    std::string deleted_at;
    std::string reason;         // kRetentionExpired, ...
    std::string operator_name;  // who or what deleted it ("system:receipt_retention_scheduler")
    std::string metadata_json = "{}";
};

struct ReceiptDeletionPage {
    std::vector<ReceiptDeletion> items;
    std::int64_t total = 0;
};

// DeleteExpiredReceipts' arguments: receipts with created_at < `cutoff` (ISO 8601, compared
// as text like every stored time) and no active legal hold, at most `limit` (1..1000) of
// them, oldest in chain order first.
struct ExpiredReceiptsDeletion {
    std::string cutoff;
    std::string now;            // deleted_at of every row of this batch
    std::string operator_name;  // non-empty
    std::string reason = kRetentionExpired;
    std::string metadata_json = "{}";  // e.g. {"retention_days": 2555}
    int limit = 500;
};

// What a cleanup with `cutoff` would delete (the dry run): the same condition as
// DeleteExpiredReceipts.
struct ExpiredReceipts {
    std::int64_t deletable = 0;            // created before the cutoff, not held
    std::int64_t held = 0;                 // created before the cutoff, kept by a legal hold
    std::vector<std::string> receipt_ids;  // the first `limit` deletable ones, chain order
};

// Counts for the retention status. `created_before[i]` counts receipts with created_at <
// bounds[i]; `held_created_before[i]` those of them under an active legal hold.
struct ReceiptRetentionCounts {
    std::int64_t total = 0;
    std::int64_t held = 0;
    std::int64_t tombstones = 0;    // rows of the deletion log
    std::string oldest_created_at;  // "" when there is no receipt
    std::string newest_created_at;
    std::vector<std::int64_t> created_before;
    std::vector<std::int64_t> held_created_before;
};

// Builds the signed receipt once the previous receipt's hash is known. Runs inside the
// store's write transaction, so the chain stays linear under concurrent finishes.
using ReceiptBuilder =
    std::function<common::Result<ReceiptRecord>(const std::optional<std::string>& previous_hash)>;

// `data` of the `debate_end` event the store appends itself (reaped or cancelled queued
// debates), from the row as it is after the change. Null: the store writes a minimal
// object (debate_id, status, receipt_id null, error).
using DebateEndDataBuilder = std::function<std::string(const DebateRecord& finished)>;

// One run's part of a group commit across debates (AppendEventBatches): events of one
// debate in seq order, and the lease they are written under ("" = none: AppendEvents'
// rules; else AppendLeasedEvents'). Both views stay valid for the call.
struct EventBatch {
    std::span<const events::Event> events;
    std::string_view lease_owner;
};

// One debate's part of a group commit that may also start or finish it
// (WriteDebateBatches). Every view stays valid for the call.
struct DebateBatch {
    std::string_view debate_id;
    // Its events, in seq order (may be empty when it starts or finishes the debate).
    std::span<const events::Event> events;
    std::string_view lease_owner;  // "" = none
    // Non-empty: the debate starts first (running, started_at) — UpdateDebateStatus's
    // rules, or with a lease owner StartLeasedDebate's (kConflict: nothing of this batch
    // is written).
    std::string_view started_at;
    // Non-null: the final write — FinishDebate (or, with a lease owner,
    // FinishLeasedDebate) of this row with `events` and `receipt`; the stored receipt
    // goes to `stored_receipt` (when given) once the batch succeeded.
    const DebateRecord* finish = nullptr;
    const ReceiptBuilder* receipt = nullptr;
    std::optional<ReceiptRecord>* stored_receipt = nullptr;
};

// A debate whose lease RenewLeases could not extend, with the error RenewLease would have
// answered for it alone (kConflict: not pending/running under that owner any more;
// kNotFound: no such debate).
struct LostLease {
    std::string id;
    common::Error error;
};

// RenewLeases takes the ids in chunks of at most this many, one statement (PostgreSQL) or
// one transaction (SQLite) each, so that one renewal holds neither the connection nor the
// rows' locks for long.
inline constexpr std::size_t kRenewLeasesChunk = 2000;

// The worker-queue failure code and message of a debate whose worker stopped renewing.
inline constexpr const char* kWorkerLostCode = "worker_lost";
inline constexpr const char* kWorkerLostMessage = "worker stopped while the debate was running";
// The same for a debate an API instance ran itself under its lease (shared database).
inline constexpr const char* kInstanceLostCode = "instance_lost";
inline constexpr const char* kInstanceLostMessage =
    "the server instance running the debate stopped while it was running";

class Store {
public:
    virtual ~Store() = default;

    // Debates
    // An empty id or created_at is kValidation. Creating an existing id is kConflict.
    virtual common::Status CreateDebate(const DebateRecord& debate) = 0;
    virtual common::Result<DebateRecord> GetDebate(const std::string& id) = 0;
    virtual common::Result<DebatePage> ListDebates(const DebateFilter& filter) = 0;
    // Sets status (and started_at when given). Not found ⇒ kNotFound.
    virtual common::Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                                              const std::string& started_at) = 0;
    // Writes a finished debate (any terminal status), its remaining events, and — when
    // `receipt` is given — its receipt, all in one transaction. The receipt id is stored
    // on the debate row. Nothing is written when any part fails.
    // The row is written whole (inserted if it does not exist yet), except that an empty
    // created_by/org_id keeps the stored one (records rebuilt from the engine result do not
    // carry them). Events already stored (same debate_id and seq) are skipped. `receipt`
    // may be null (or empty): no receipt.
    // The builder is called once, inside the transaction, with the content_hash of the
    // newest link of the chain (LastReceiptHash: insertion order, not created_at, and the
    // tombstone of a deleted receipt counts as a link); it must return a receipt
    // with that previous_hash, a receipt_id, content_hash and created_at, for this debate
    // (debate_id may be left empty). Its error (or exception) is returned as is (or as
    // kInternal). A non-terminal status or an event of another debate is kValidation; a
    // second receipt for the same debate is kConflict. Returns the stored receipt.
    virtual common::Result<std::optional<ReceiptRecord>> FinishDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt) = 0;
    // Marks debates left pending/running (by a crash) failed with code `interrupted`,
    // error_message "server stopped while the debate was running", completed_at = `now`.
    // Debates queued for workers, and debates created under an instance's lease, are not
    // touched, expired lease or not: their leases decide (ReapExpiredLeases), so a start
    // never fails a debate another live instance runs. Returns how many were marked.
    virtual common::Result<int> MarkInterrupted(const std::string& now) = 0;

    // Worker queue and instance leases. The debates table is the queue: CreateDebate of a
    // record with queued_for_worker = true (status pending) enqueues it. A lease is held
    // by `owner` (a worker id, or the id of the API instance that created a local debate
    // under its lease) while the debate is pending or running with lease_owner = owner;
    // a queued pending debate has no owner. Times are ISO 8601 strings of the common
    // format (they compare as text). The defaults answer kNotImplemented so that a backend
    // without a queue still compiles.
    //
    // Atomically takes the oldest (created_at, id) pending queued debate: status running,
    // started_at = now, lease_owner = worker_id, lease_expires_at = lease_until,
    // attempts + 1; returns the row as updated. nullopt when none waits. Two concurrent
    // claims (threads or processes) never get the same debate (PostgreSQL: SELECT ... FOR
    // UPDATE SKIP LOCKED). An empty worker_id is kValidation.
    virtual common::Result<std::optional<DebateRecord>> ClaimQueuedDebate(
        const std::string& worker_id, const std::string& now, const std::string& lease_until) {
        (void)worker_id, (void)now, (void)lease_until;
        return NotImplemented("ClaimQueuedDebate");
    }
    // Extends this worker's (or instance's) lease. kConflict when the debate is no longer
    // pending/running under this owner's lease (reaped, released, finished): the owner
    // must then stop the debate and write nothing. kNotFound for an unknown id.
    virtual common::Status RenewLease(const std::string& id, const std::string& worker_id,
                                      const std::string& lease_until) {
        (void)id, (void)worker_id, (void)lease_until;
        return NotImplemented("RenewLease");
    }
    // RenewLease for every debate `owner` runs, at once (one instance renews all its
    // leases each heartbeat): extends the lease to lease_until on each of `ids` still
    // pending/running under `owner`'s lease, in chunks of kRenewLeasesChunk ids (each
    // chunk atomic: one statement or transaction). Returns the ids it did not renew, each
    // with RenewLease's error for it, in no particular order (`ids` must be distinct).
    // An error (the storage failed) leaves unknown which chunks were renewed: renew again.
    // The default renews them one by one with RenewLease.
    virtual common::Result<std::vector<LostLease>> RenewLeases(const std::string& owner,
                                                               const std::vector<std::string>& ids,
                                                               const std::string& lease_until) {
        std::vector<LostLease> lost;
        for (const auto& id : ids) {
            auto renewed = RenewLease(id, owner, lease_until);
            if (renewed.ok()) continue;
            const common::ErrorCode code = renewed.error().code;
            if (code != common::ErrorCode::kConflict && code != common::ErrorCode::kNotFound)
                return renewed.error();
            lost.push_back(LostLease{id, renewed.error()});
        }
        return lost;
    }
    // Puts a queued debate this worker holds back in the queue (pending, lease and
    // started_at cleared; attempts kept) — only while none of its events is stored, since
    // clients may have seen stored events and a re-run numbers them from 1 again.
    // kConflict when the lease is not this worker's, events are stored (then finish it
    // instead) or the debate is not queued for workers (an instance's own debate).
    virtual common::Status ReleaseLease(const std::string& id, const std::string& worker_id) {
        (void)id, (void)worker_id;
        return NotImplemented("ReleaseLease");
    }
    // Every leased debate (pending or running with an owner) whose lease_expires_at < now:
    // failed, error_code kWorkerLostCode / error_message kWorkerLostMessage for a queued
    // debate, kInstanceLostCode / kInstanceLostMessage for an instance's own one,
    // completed_at = now, duration_seconds from started_at (none when it never started),
    // no receipt, and a `debate_end` event (seq = last stored seq + 1, timestamp = now) —
    // one transaction per debate. Returns their ids. Safe to run from any number of
    // processes at once (each debate is reaped once).
    virtual common::Result<std::vector<std::string>> ReapExpiredLeases(
        const std::string& now, const DebateEndDataBuilder& end_data) {
        (void)now, (void)end_data;
        return NotImplemented("ReapExpiredLeases");
    }
    // Cancels a queued debate no worker has claimed yet: cancelled, error_code
    // `cancelled`, error_message "debate cancelled before it started", completed_at =
    // now, and a `debate_end` event, in one transaction; returns the row. kNotFound;
    // kConflict (nothing changed) when it is not pending-and-queued any more (claimed by
    // a worker, or terminal) — read it to tell which.
    virtual common::Result<DebateRecord> CancelQueuedDebate(const std::string& id,
                                                            const std::string& now,
                                                            const DebateEndDataBuilder& end_data) {
        (void)id, (void)now, (void)end_data;
        return NotImplemented("CancelQueuedDebate");
    }
    // An instance's own debate starts: pending → running with started_at, only while
    // `owner` holds its lease; kConflict (nothing changed) otherwise — a debate reaped
    // while it waited for a slot never comes back to life. kNotFound for an unknown id.
    virtual common::Status StartLeasedDebate(const std::string& id, const std::string& owner,
                                             const std::string& started_at) {
        (void)id, (void)owner, (void)started_at;
        return NotImplemented("StartLeasedDebate");
    }
    // AppendEvents for a leased debate: only while it is pending/running under
    // `worker_id`'s lease,
    // kConflict (nothing written) otherwise — a zombie worker never adds events after the
    // reaper's debate_end.
    virtual common::Status AppendLeasedEvents(const std::vector<events::Event>& events,
                                              const std::string& worker_id) {
        (void)events, (void)worker_id;
        return NotImplemented("AppendLeasedEvents");
    }
    // FinishDebate for a leased debate: the same transaction, but only while the row is
    // pending/running under `worker_id`'s lease; kConflict (nothing written) otherwise, so
    // a debate reaped after its owner went silent never gets a result or receipt later.
    virtual common::Result<std::optional<ReceiptRecord>> FinishLeasedDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt, const std::string& worker_id) {
        (void)debate, (void)events, (void)receipt, (void)worker_id;
        return NotImplemented("FinishLeasedDebate");
    }

    // Events
    // One transaction; an event already stored (same debate_id and seq) is skipped. Events
    // need a debate_id of an existing debate, seq >= 1 and a type.
    virtual common::Status AppendEvents(const std::vector<events::Event>& events) = 0;
    // Group commit across debates: writes every batch as AppendEvents (or, with a lease
    // owner, AppendLeasedEvents) would, and returns one status per batch, in order. Each
    // batch is stored whole or not at all; the batches that succeed share as few
    // transactions as the backend allows (SQLite and PostgreSQL: one, unless a batch's
    // insert fails: then each batch gets a transaction of its own, so that the failure
    // goes to that batch only). A failed commit, or a storage outage / timeout in the
    // shared transaction, fails every batch that had no error of its own. Batches of one
    // debate are written in the order given. The default writes each batch on its own.
    virtual std::vector<common::Status> AppendEventBatches(std::span<const EventBatch> batches) {
        std::vector<common::Status> out;
        out.reserve(batches.size());
        for (const auto& b : batches) {
            std::vector<events::Event> events(b.events.begin(), b.events.end());
            out.push_back(b.lease_owner.empty()
                              ? AppendEvents(events)
                              : AppendLeasedEvents(events, std::string(b.lease_owner)));
        }
        return out;
    }
    // Group commit of starts, events and final writes across debates: each batch as
    // AppendEventBatches, StartLeasedDebate/UpdateDebateStatus or FinishDebate/
    // FinishLeasedDebate would write it, with their errors, one status per batch, in
    // order; each batch whole or not at all. SQLite shares one transaction among them
    // (the same failure rules as AppendEventBatches); the default (PostgreSQL, wrapped
    // stores) shares AppendEventBatches' transaction among the batches that only carry
    // events and writes each start or final write on its own.
    virtual std::vector<common::Status> WriteDebateBatches(std::span<const DebateBatch> batches);
    // Events with seq > since_seq, ascending, at most `limit`.
    virtual common::Result<std::vector<events::Event>> ListEvents(const std::string& debate_id,
                                                                  std::int64_t since_seq,
                                                                  int limit) = 0;

    // Receipts
    // `id` may be a receipt id, "debate-<debate_id>" or a bare debate id (tried in that
    // order). Not found ⇒ kNotFound; for a receipt deleted by retention the message says
    // so: "receipt <id> was deleted (retention_expired) on <deleted_at>; its tombstone keeps
    // content_hash <hash> (deletion <deletion_id>)".
    virtual common::Result<ReceiptRecord> GetReceipt(const std::string& id) = 0;
    // Newest first (insertion order); empty `debate_id` = all receipts.
    virtual common::Result<ReceiptPage> ListReceipts(const std::string& debate_id, int limit,
                                                     int offset) = 0;
    // The content_hash of the newest link of the chain (highest chain_seq), a receipt or the
    // tombstone of a deleted one; nullopt for an empty chain. FinishDebate chains the next
    // receipt onto it (previous_hash) at chain_seq = the highest of both + 1, so the chain
    // stays linear when its newest receipts were deleted.
    virtual common::Result<std::optional<std::string>> LastReceiptHash() = 0;
    // The chain in ascending chain_seq, entries with chain_seq > after_seq, at most
    // `limit` (1..1000, else kValidation): receipts and the tombstones of deleted ones.
    // Page through it with the last chain_seq seen (bounded memory for any chain).
    virtual common::Result<std::vector<ReceiptChainEntry>> ListReceiptChain(std::int64_t after_seq,
                                                                            int limit) {
        (void)after_seq, (void)limit;
        return NotImplemented("ListReceiptChain");
    }

    // The receipt keyring (ReceiptKeyRow). RecordReceiptKey inserts the row or merges it
    // into the stored one: first_seen_at keeps the earliest, last_seen_at the latest, a
    // non-empty public_key/sealed_secret replaces the stored one (an empty one never
    // erases it), retired_at is set as given (empty: configured again). Empty key_id or
    // algorithm, or an algorithm other than the two, is kValidation.
    virtual common::Status RecordReceiptKey(const ReceiptKeyRow& row) {
        (void)row;
        return NotImplemented("RecordReceiptKey");
    }
    // Every stored key, ordered by first_seen_at then key_id.
    virtual common::Result<std::vector<ReceiptKeyRow>> ListReceiptKeys() {
        return NotImplemented("ListReceiptKeys");
    }

    // Receipt retention: legal holds, expiry, the deletion log.
    // Places (or replaces) the legal hold of a receipt (`id` as for GetReceipt): active, with
    // this reason (non-empty, else kValidation), matter id, who and when. Returns the hold.
    // kNotFound for an unknown or deleted receipt (GetReceipt's message).
    virtual common::Result<LegalHold> SetLegalHold(const std::string& id, const std::string& reason,
                                                   const std::string& matter_id,
                                                   const std::string& placed_by,
                                                   const std::string& now) {
        (void)id, (void)reason, (void)matter_id, (void)placed_by, (void)now;
        return NotImplemented("SetLegalHold");
    }
    // Ends the legal hold of a receipt (its hold fields are cleared); returns the hold as it
    // was before (active false: there was none, nothing changed). kNotFound as above.
    virtual common::Result<LegalHold> ReleaseLegalHold(const std::string& id) {
        (void)id;
        return NotImplemented("ReleaseLegalHold");
    }
    // The legal hold of a receipt (active false when none). kNotFound as above.
    virtual common::Result<LegalHold> GetLegalHold(const std::string& id) {
        (void)id;
        return NotImplemented("GetLegalHold");
    }
    // Deletes one batch of expired receipts (ExpiredReceiptsDeletion) in one transaction:
    // each leaves its receipt_deletions row (tombstone) with a new deletion_id, and the
    // chain through the remaining receipts still verifies. Returns what it deleted, in
    // chain order; fewer than `limit` means nothing more is due. Call again for the next
    // batch. kValidation for a bad limit, empty cutoff/now/operator/reason or metadata that
    // is not a JSON object.
    virtual common::Result<std::vector<ReceiptDeletion>> DeleteExpiredReceipts(
        const ExpiredReceiptsDeletion& request) {
        (void)request;
        return NotImplemented("DeleteExpiredReceipts");
    }
    // The dry run of DeleteExpiredReceipts with this cutoff: counts, and the ids of the first
    // `limit` (0..1000) deletable receipts. Changes nothing.
    virtual common::Result<ExpiredReceipts> FindExpiredReceipts(const std::string& cutoff,
                                                                int limit) {
        (void)cutoff, (void)limit;
        return NotImplemented("FindExpiredReceipts");
    }
    // The deletion log, newest first (deleted_at, then chain_seq, descending); `reason` ""
    // = every reason. kValidation for a negative limit/offset.
    virtual common::Result<ReceiptDeletionPage> ListReceiptDeletions(int limit, int offset,
                                                                     const std::string& reason) {
        (void)limit, (void)offset, (void)reason;
        return NotImplemented("ListReceiptDeletions");
    }
    // Totals, holds, oldest/newest and, for each of `bounds` (ISO 8601, at most 16), how
    // many receipts (and how many held ones) were created before it. One snapshot.
    virtual common::Result<ReceiptRetentionCounts> CountReceiptsForRetention(
        const std::vector<std::string>& bounds) {
        (void)bounds;
        return NotImplemented("CountReceiptsForRetention");
    }

    // Scheduled jobs (backups, drills, receipt cleanup) on a database several instances
    // share: the first caller to claim (job, slot) gets true and runs it; every other
    // claim of that pair gets false, for ever (the primary key of scheduled_runs, so a
    // late instance cannot take a slot the winner already finished). `slot` names the
    // slot's start (ISO 8601); `now` likewise. Empty job/slot/instance is kValidation.
    virtual common::Result<bool> ClaimScheduledRun(const std::string& job, const std::string& slot,
                                                   const std::string& instance,
                                                   const std::string& now) {
        (void)job, (void)slot, (void)instance, (void)now;
        return NotImplemented("ClaimScheduledRun");
    }
    // Records how a claimed run ended (status "succeeded" or "failed", detail one line).
    // kNotFound when (job, slot) was never claimed; kConflict when `instance` is not the
    // one that claimed it.
    virtual common::Status FinishScheduledRun(const std::string& job, const std::string& slot,
                                              const std::string& instance,
                                              const std::string& status, const std::string& detail,
                                              const std::string& now) {
        (void)job, (void)slot, (void)instance, (void)status, (void)detail, (void)now;
        return NotImplemented("FinishScheduledRun");
    }

    // Health: a cheap round trip (SELECT 1).
    virtual common::Status Ping() = 0;
    // Health of writes: commits a transaction that needs fresh space (a 16 KiB row written
    // and removed again, so nothing stays), which fails like any write while the disk is
    // full or failing (kUnavailable) or the database is read-only. The debate service runs
    // it while writes fail, to notice that they work again when nothing else writes.
    virtual common::Status ProbeWrite() { return NotImplemented("ProbeWrite"); }

protected:
    static common::Error NotImplemented(const char* what) {
        return common::Error{
            common::ErrorCode::kNotImplemented,
            std::string("storage: ") + what + " is not implemented by this backend",
            {}};
    }
};

struct Migration {
    int version = 0;
    std::string name;
    std::string sql;
    // Recorded in schema_migrations.additive. Additive = the previous release still works
    // on the migrated schema (new tables/columns/indexes only), so an older binary may
    // open a database carrying this version.
    bool additive = true;
};

struct MigrationStatus {
    int current_version = 0;  // highest applied version (0 for a missing/empty database)
    int latest_version = 0;   // highest version this binary knows
    std::vector<Migration> pending;
    // Applied versions this binary does not know (newer releases); all additive, since
    // a non-additive one is an error.
    std::vector<int> unknown_versions;
};

}  // namespace aragora::storage
