#pragma once

// A Store that hands every call to another Store: the base of decorators that change a
// few calls (the content cipher; tests that count, hold or fail writes) so that each
// names only what it changes and a new Store call is forwarded in one place.
//
// Except the group commits (AppendEventBatches, WriteDebateBatches): they keep Store's
// own bodies, which write through this store's single-debate calls, so that a decorator
// changing writes (sealing, failing) is never bypassed by a batch. A decorator that wants
// the inner store's shared transaction overrides them itself.

#include "storage/store.hpp"

namespace aragora::storage {

class ForwardingStore : public Store {
public:
    // `inner` must outlive this store.
    explicit ForwardingStore(Store& inner) : inner_(&inner) {}

    common::Status CreateDebate(const DebateRecord& debate) override;
    common::Result<DebateRecord> GetDebate(const std::string& id) override;
    common::Result<DebatePage> ListDebates(const DebateFilter& filter) override;
    common::Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                                      const std::string& started_at) override;
    common::Result<std::optional<ReceiptRecord>> FinishDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt) override;
    common::Result<int> MarkInterrupted(const std::string& now) override;

    common::Result<std::optional<DebateRecord>> ClaimQueuedDebate(
        const std::string& worker_id, const std::string& now,
        const std::string& lease_until) override;
    common::Status RenewLease(const std::string& id, const std::string& worker_id,
                              const std::string& lease_until) override;
    common::Result<std::vector<LostLease>> RenewLeases(const std::string& owner,
                                                       const std::vector<std::string>& ids,
                                                       const std::string& lease_until) override;
    common::Status ReleaseLease(const std::string& id, const std::string& worker_id) override;
    common::Result<std::vector<std::string>> ReapExpiredLeases(
        const std::string& now, const DebateEndDataBuilder& end_data) override;
    common::Result<DebateRecord> CancelQueuedDebate(const std::string& id, const std::string& now,
                                                    const DebateEndDataBuilder& end_data) override;
    common::Status StartLeasedDebate(const std::string& id, const std::string& owner,
                                     const std::string& started_at) override;
    common::Status AppendLeasedEvents(const std::vector<events::Event>& events,
                                      const std::string& worker_id) override;
    common::Result<std::optional<ReceiptRecord>> FinishLeasedDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt, const std::string& worker_id) override;

    common::Status AppendEvents(const std::vector<events::Event>& events) override;
    common::Result<std::vector<events::Event>> ListEvents(const std::string& debate_id,
                                                          std::int64_t since_seq,
                                                          int limit) override;

    common::Result<ReceiptRecord> GetReceipt(const std::string& id) override;
    common::Result<ReceiptPage> ListReceipts(const std::string& debate_id, int limit,
                                             int offset) override;
    common::Result<std::optional<std::string>> LastReceiptHash() override;
    common::Result<std::vector<ReceiptChainEntry>> ListReceiptChain(std::int64_t after_seq,
                                                                    int limit) override;
    common::Status RecordReceiptKey(const ReceiptKeyRow& row) override;
    common::Result<std::vector<ReceiptKeyRow>> ListReceiptKeys() override;
    common::Result<LegalHold> SetLegalHold(const std::string& id, const std::string& reason,
                                           const std::string& matter_id,
                                           const std::string& placed_by,
                                           const std::string& now) override;
    common::Result<LegalHold> ReleaseLegalHold(const std::string& id) override;
    common::Result<LegalHold> GetLegalHold(const std::string& id) override;
    common::Result<std::vector<ReceiptDeletion>> DeleteExpiredReceipts(
        const ExpiredReceiptsDeletion& request) override;
    common::Result<ExpiredReceipts> FindExpiredReceipts(const std::string& cutoff,
                                                        int limit) override;
    common::Result<ReceiptDeletionPage> ListReceiptDeletions(int limit, int offset,
                                                             const std::string& reason) override;
    common::Result<ReceiptRetentionCounts> CountReceiptsForRetention(
        const std::vector<std::string>& bounds) override;

    common::Result<bool> ClaimScheduledRun(const std::string& job, const std::string& slot,
                                           const std::string& instance,
                                           const std::string& now) override;
    common::Status FinishScheduledRun(const std::string& job, const std::string& slot,
                                      const std::string& instance, const std::string& status,
                                      const std::string& detail, const std::string& now) override;
    common::Status Ping() override;
    common::Status ProbeWrite() override;

protected:
    Store& inner() const { return *inner_; }

private:
    Store* inner_;
};

}  // namespace aragora::storage
