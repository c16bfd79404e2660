#include "storage/forwarding_store.hpp"

namespace aragora::storage {

common::Status ForwardingStore::CreateDebate(const DebateRecord& debate) {
    return inner_->CreateDebate(debate);
}

common::Result<DebateRecord> ForwardingStore::GetDebate(const std::string& id) {
    return inner_->GetDebate(id);
}

common::Result<DebatePage> ForwardingStore::ListDebates(const DebateFilter& filter) {
    return inner_->ListDebates(filter);
}

common::Status ForwardingStore::UpdateDebateStatus(const std::string& id,
                                                   events::DebateStatus status,
                                                   const std::string& started_at) {
    return inner_->UpdateDebateStatus(id, status, started_at);
}

common::Result<std::optional<ReceiptRecord>> ForwardingStore::FinishDebate(
    const DebateRecord& debate, const std::vector<events::Event>& events,
    const ReceiptBuilder* receipt) {
    return inner_->FinishDebate(debate, events, receipt);
}

common::Result<int> ForwardingStore::MarkInterrupted(const std::string& now) {
    return inner_->MarkInterrupted(now);
}

common::Result<std::optional<DebateRecord>> ForwardingStore::ClaimQueuedDebate(
    const std::string& worker_id, const std::string& now, const std::string& lease_until) {
    return inner_->ClaimQueuedDebate(worker_id, now, lease_until);
}

common::Status ForwardingStore::RenewLease(const std::string& id, const std::string& worker_id,
                                           const std::string& lease_until) {
    return inner_->RenewLease(id, worker_id, lease_until);
}

common::Result<std::vector<LostLease>> ForwardingStore::RenewLeases(
    const std::string& owner, const std::vector<std::string>& ids, const std::string& lease_until) {
    return inner_->RenewLeases(owner, ids, lease_until);
}

common::Status ForwardingStore::ReleaseLease(const std::string& id, const std::string& worker_id) {
    return inner_->ReleaseLease(id, worker_id);
}

common::Result<std::vector<std::string>> ForwardingStore::ReapExpiredLeases(
    const std::string& now, const DebateEndDataBuilder& end_data) {
    return inner_->ReapExpiredLeases(now, end_data);
}

common::Result<DebateRecord> ForwardingStore::CancelQueuedDebate(
    const std::string& id, const std::string& now, const DebateEndDataBuilder& end_data) {
    return inner_->CancelQueuedDebate(id, now, end_data);
}

common::Status ForwardingStore::StartLeasedDebate(const std::string& id, const std::string& owner,
                                                  const std::string& started_at) {
    return inner_->StartLeasedDebate(id, owner, started_at);
}

common::Status ForwardingStore::AppendLeasedEvents(const std::vector<events::Event>& events,
                                                   const std::string& worker_id) {
    return inner_->AppendLeasedEvents(events, worker_id);
}

common::Result<std::optional<ReceiptRecord>> ForwardingStore::FinishLeasedDebate(
    const DebateRecord& debate, const std::vector<events::Event>& events,
    const ReceiptBuilder* receipt, const std::string& worker_id) {
    return inner_->FinishLeasedDebate(debate, events, receipt, worker_id);
}

common::Status ForwardingStore::AppendEvents(const std::vector<events::Event>& events) {
    return inner_->AppendEvents(events);
}

common::Result<std::vector<events::Event>> ForwardingStore::ListEvents(const std::string& debate_id,
                                                                       std::int64_t since_seq,
                                                                       int limit) {
    return inner_->ListEvents(debate_id, since_seq, limit);
}

common::Result<ReceiptRecord> ForwardingStore::GetReceipt(const std::string& id) {
    return inner_->GetReceipt(id);
}

common::Result<ReceiptPage> ForwardingStore::ListReceipts(const std::string& debate_id, int limit,
                                                          int offset) {
    return inner_->ListReceipts(debate_id, limit, offset);
}

common::Result<std::optional<std::string>> ForwardingStore::LastReceiptHash() {
    return inner_->LastReceiptHash();
}

common::Result<std::vector<ReceiptChainEntry>> ForwardingStore::ListReceiptChain(
    std::int64_t after_seq, int limit) {
    return inner_->ListReceiptChain(after_seq, limit);
}

common::Status ForwardingStore::RecordReceiptKey(const ReceiptKeyRow& row) {
    return inner_->RecordReceiptKey(row);
}

common::Result<std::vector<ReceiptKeyRow>> ForwardingStore::ListReceiptKeys() {
    return inner_->ListReceiptKeys();
}

common::Result<LegalHold> ForwardingStore::SetLegalHold(const std::string& id,
                                                        const std::string& reason,
                                                        const std::string& matter_id,
                                                        const std::string& placed_by,
                                                        const std::string& now) {
    return inner_->SetLegalHold(id, reason, matter_id, placed_by, now);
}

common::Result<LegalHold> ForwardingStore::ReleaseLegalHold(const std::string& id) {
    return inner_->ReleaseLegalHold(id);
}

common::Result<LegalHold> ForwardingStore::GetLegalHold(const std::string& id) {
    return inner_->GetLegalHold(id);
}

common::Result<std::vector<ReceiptDeletion>> ForwardingStore::DeleteExpiredReceipts(
    const ExpiredReceiptsDeletion& request) {
    return inner_->DeleteExpiredReceipts(request);
}

common::Result<ExpiredReceipts> ForwardingStore::FindExpiredReceipts(const std::string& cutoff,
                                                                     int limit) {
    return inner_->FindExpiredReceipts(cutoff, limit);
}

common::Result<ReceiptDeletionPage> ForwardingStore::ListReceiptDeletions(
    int limit, int offset, const std::string& reason) {
    return inner_->ListReceiptDeletions(limit, offset, reason);
}

common::Result<ReceiptRetentionCounts> ForwardingStore::CountReceiptsForRetention(
    const std::vector<std::string>& bounds) {
    return inner_->CountReceiptsForRetention(bounds);
}

common::Result<bool> ForwardingStore::ClaimScheduledRun(const std::string& job,
                                                        const std::string& slot,
                                                        const std::string& instance,
                                                        const std::string& now) {
    return inner_->ClaimScheduledRun(job, slot, instance, now);
}

common::Status ForwardingStore::FinishScheduledRun(const std::string& job, const std::string& slot,
                                                   const std::string& instance,
                                                   const std::string& status,
                                                   const std::string& detail,
                                                   const std::string& now) {
    return inner_->FinishScheduledRun(job, slot, instance, status, detail, now);
}

common::Status ForwardingStore::Ping() { return inner_->Ping(); }

common::Status ForwardingStore::ProbeWrite() { return inner_->ProbeWrite(); }

}  // namespace aragora::storage
