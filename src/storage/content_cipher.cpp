#include "storage/content_cipher.hpp"

#include <utility>
#include <vector>

#include "storage/store_rules.hpp"

namespace aragora::storage {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

std::string DebateFieldAd(std::string_view debate_id, std::string_view column) {
    std::string ad = "debate:";
    ad.append(debate_id).append(":").append(column);
    return ad;
}

std::string EventDataAd(std::string_view debate_id, std::int64_t seq) {
    std::string ad = "event:";
    ad.append(debate_id).append(":").append(std::to_string(seq));
    return ad;
}

std::string ReceiptJsonAd(std::string_view receipt_id) {
    std::string ad = "receipt:";
    ad.append(receipt_id);
    return ad;
}

std::string_view ToString(DecryptFailure reason) {
    switch (reason) {
        case DecryptFailure::kMalformed:
            return "malformed";
        case DecryptFailure::kTampered:
            return "tampered";
        case DecryptFailure::kUnknownKey:
            return "unknown_key";
    }
    return "malformed";
}

DecryptFailure DecryptFailureOf(ErrorCode cipher_code) {
    if (cipher_code == ErrorCode::kCrypto) return DecryptFailure::kTampered;
    if (cipher_code == ErrorCode::kNotFound) return DecryptFailure::kUnknownKey;
    return DecryptFailure::kMalformed;
}

Result<std::string> OpenStoredValue(const keys::FieldCipher& cipher, std::string_view stored,
                                    std::string_view ad, std::string_view what,
                                    DecryptFailureCounts* failures) {
    if (!cipher.IsSealed(stored)) return std::string(stored);
    auto opened = cipher.Open(stored, ad);
    if (opened) return opened;
    const DecryptFailure reason = DecryptFailureOf(opened.error().code);
    if (failures != nullptr) failures->Record(reason);
    // kCrypto whatever the cipher said: a stored value that does not open is a server-side
    // failure (500), never "not found" or "bad request" for the caller.
    return MakeError(ErrorCode::kCrypto, std::string(what) + " cannot be decrypted (" +
                                             std::string(ToString(reason)) +
                                             "): " + opened.error().message);
}

Result<std::optional<std::string>> ResealStoredValue(const keys::FieldCipher& cipher,
                                                     std::string_view stored, std::string_view ad,
                                                     std::string_view what,
                                                     DecryptFailureCounts* failures) {
    if (!cipher.IsSealed(stored)) return std::optional<std::string>();
    auto key = cipher.KeyOf(stored);
    if (key && *key == cipher.Current()) return std::optional<std::string>();
    auto opened = OpenStoredValue(cipher, stored, ad, what, failures);
    if (!opened) return opened.error();
    auto sealed = cipher.Seal(*opened, ad);
    if (!sealed) return sealed.error();
    return std::optional<std::string>(std::move(*sealed));
}

bool SealedNotUnder(const keys::FieldCipher& cipher, std::string_view stored,
                    const keys::KeyRef& current) {
    if (!cipher.IsSealed(stored)) return false;
    auto key = cipher.KeyOf(stored);
    return !key || !(*key == current);
}

namespace {

// The sealed columns of a debate row, with their names (the associated data).
template <class Fn>
Status ForEachSealedField(DebateRecord& d, Fn&& fn) {
    if (auto s = fn("task", d.task); !s) return s;
    if (auto s = fn("final_answer", d.final_answer); !s) return s;
    if (auto s = fn("spec_json", d.spec_json); !s) return s;
    return fn("result_json", d.result_json);
}

class ContentCipherStore final : public Store {
public:
    // `owned` may be null when the caller keeps `inner` alive.
    ContentCipherStore(std::unique_ptr<Store> owned, Store* inner,
                       std::shared_ptr<const keys::FieldCipher> cipher,
                       ContentCipherOptions options)
        : owned_(std::move(owned)),
          inner_(inner),
          cipher_(std::move(cipher)),
          options_(std::move(options)) {}

    // ---------------------------------------------------------------- debates

    Status CreateDebate(const DebateRecord& debate) override {
        auto sealed = SealDebate(debate);
        if (!sealed) return sealed.error();
        return inner_->CreateDebate(*sealed);
    }

    Result<DebateRecord> GetDebate(const std::string& id) override {
        return OpenDebate(inner_->GetDebate(id));
    }

    Result<DebatePage> ListDebates(const DebateFilter& filter) override {
        auto page = inner_->ListDebates(filter);
        if (!page) return page;
        for (auto& d : page->items) {
            if (auto s = OpenDebateInPlace(d); !s) return s.error();
        }
        return page;
    }

    Status UpdateDebateStatus(const std::string& id, events::DebateStatus status,
                              const std::string& started_at) override {
        return inner_->UpdateDebateStatus(id, status, started_at);
    }

    Result<std::optional<ReceiptRecord>> FinishDebate(const DebateRecord& debate,
                                                      const std::vector<events::Event>& events,
                                                      const ReceiptBuilder* receipt) override {
        return Finish(debate, events, receipt, nullptr);
    }

    Result<int> MarkInterrupted(const std::string& now) override {
        return inner_->MarkInterrupted(now);
    }

    // ---------------------------------------------------------------- worker queue

    Result<std::optional<DebateRecord>> ClaimQueuedDebate(const std::string& worker_id,
                                                          const std::string& now,
                                                          const std::string& lease_until) override {
        auto claimed = inner_->ClaimQueuedDebate(worker_id, now, lease_until);
        if (!claimed || !*claimed) return claimed;
        if (auto s = OpenDebateInPlace(**claimed); !s) return s.error();
        return claimed;
    }

    Status RenewLease(const std::string& id, const std::string& worker_id,
                      const std::string& lease_until) override {
        return inner_->RenewLease(id, worker_id, lease_until);
    }

    Result<std::vector<LostLease>> RenewLeases(const std::string& owner,
                                               const std::vector<std::string>& ids,
                                               const std::string& lease_until) override {
        return inner_->RenewLeases(owner, ids, lease_until);
    }

    Status ReleaseLease(const std::string& id, const std::string& worker_id) override {
        return inner_->ReleaseLease(id, worker_id);
    }

    Result<std::vector<std::string>> ReapExpiredLeases(
        const std::string& now, const DebateEndDataBuilder& end_data) override {
        return inner_->ReapExpiredLeases(now, OpeningEndData(end_data));
    }

    Result<DebateRecord> CancelQueuedDebate(const std::string& id, const std::string& now,
                                            const DebateEndDataBuilder& end_data) override {
        return OpenDebate(inner_->CancelQueuedDebate(id, now, OpeningEndData(end_data)));
    }

    Status StartLeasedDebate(const std::string& id, const std::string& owner,
                             const std::string& started_at) override {
        return inner_->StartLeasedDebate(id, owner, started_at);
    }

    Status AppendLeasedEvents(const std::vector<events::Event>& events,
                              const std::string& worker_id) override {
        auto sealed = SealEvents(events);
        if (!sealed) return sealed.error();
        return inner_->AppendLeasedEvents(*sealed, worker_id);
    }

    Result<std::optional<ReceiptRecord>> FinishLeasedDebate(
        const DebateRecord& debate, const std::vector<events::Event>& events,
        const ReceiptBuilder* receipt, const std::string& worker_id) override {
        return Finish(debate, events, receipt, &worker_id);
    }

    // ---------------------------------------------------------------- events

    Status AppendEvents(const std::vector<events::Event>& events) override {
        auto sealed = SealEvents(events);
        if (!sealed) return sealed.error();
        return inner_->AppendEvents(*sealed);
    }

    std::vector<Status> AppendEventBatches(std::span<const EventBatch> batches) override {
        std::vector<Status> out(batches.size());
        std::vector<std::vector<events::Event>> sealed;
        std::vector<EventBatch> forward;
        std::vector<std::size_t> index;  // forward[k] is batches[index[k]]
        sealed.reserve(batches.size());
        for (std::size_t i = 0; i < batches.size(); ++i) {
            auto s = SealEvents(
                std::vector<events::Event>(batches[i].events.begin(), batches[i].events.end()));
            if (!s) {
                out[i] = s.error();
                continue;
            }
            sealed.push_back(std::move(*s));
            index.push_back(i);
        }
        forward.reserve(sealed.size());
        for (std::size_t k = 0; k < sealed.size(); ++k)
            forward.push_back(EventBatch{sealed[k], batches[index[k]].lease_owner});
        auto written = inner_->AppendEventBatches(forward);
        for (std::size_t k = 0; k < written.size() && k < index.size(); ++k)
            out[index[k]] = std::move(written[k]);
        return out;
    }

    Result<std::vector<events::Event>> ListEvents(const std::string& debate_id,
                                                  std::int64_t since_seq, int limit) override {
        auto listed = inner_->ListEvents(debate_id, since_seq, limit);
        if (!listed) return listed;
        for (auto& e : *listed) {
            auto data =
                OpenStoredValue(*cipher_, e.data_json, EventDataAd(e.debate_id, e.seq),
                                "event " + e.debate_id + "#" + std::to_string(e.seq), failures());
            if (!data) return data.error();
            e.data_json = std::move(*data);
        }
        return listed;
    }

    // ---------------------------------------------------------------- receipts

    Result<ReceiptRecord> GetReceipt(const std::string& id) override {
        auto r = inner_->GetReceipt(id);
        if (!r) return r;
        if (auto s = OpenReceiptInPlace(*r); !s) return s.error();
        return r;
    }

    Result<ReceiptPage> ListReceipts(const std::string& debate_id, int limit, int offset) override {
        auto page = inner_->ListReceipts(debate_id, limit, offset);
        if (!page) return page;
        for (auto& r : page->items) {
            if (auto s = OpenReceiptInPlace(r); !s) return s.error();
        }
        return page;
    }

    Result<std::optional<std::string>> LastReceiptHash() override {
        return inner_->LastReceiptHash();
    }

    Result<std::vector<ReceiptChainEntry>> ListReceiptChain(std::int64_t after_seq,
                                                            int limit) override {
        auto chain = inner_->ListReceiptChain(after_seq, limit);
        if (!chain) return chain;
        for (auto& e : *chain) {
            if (e.tombstone) continue;
            if (auto s = OpenReceiptInPlace(e.receipt); !s) return s.error();
        }
        return chain;
    }

    Result<LegalHold> SetLegalHold(const std::string& id, const std::string& reason,
                                   const std::string& matter_id, const std::string& placed_by,
                                   const std::string& now) override {
        return inner_->SetLegalHold(id, reason, matter_id, placed_by, now);
    }
    Result<LegalHold> ReleaseLegalHold(const std::string& id) override {
        return inner_->ReleaseLegalHold(id);
    }
    Result<LegalHold> GetLegalHold(const std::string& id) override {
        return inner_->GetLegalHold(id);
    }
    Result<std::vector<ReceiptDeletion>> DeleteExpiredReceipts(
        const ExpiredReceiptsDeletion& request) override {
        return inner_->DeleteExpiredReceipts(request);
    }
    Result<ExpiredReceipts> FindExpiredReceipts(const std::string& cutoff, int limit) override {
        return inner_->FindExpiredReceipts(cutoff, limit);
    }
    Result<ReceiptDeletionPage> ListReceiptDeletions(int limit, int offset,
                                                     const std::string& reason) override {
        return inner_->ListReceiptDeletions(limit, offset, reason);
    }
    Result<ReceiptRetentionCounts> CountReceiptsForRetention(
        const std::vector<std::string>& bounds) override {
        return inner_->CountReceiptsForRetention(bounds);
    }

    // ---------------------------------------------------------------- jobs, health

    Result<bool> ClaimScheduledRun(const std::string& job, const std::string& slot,
                                   const std::string& instance, const std::string& now) override {
        return inner_->ClaimScheduledRun(job, slot, instance, now);
    }
    Status FinishScheduledRun(const std::string& job, const std::string& slot,
                              const std::string& instance, const std::string& status,
                              const std::string& detail, const std::string& now) override {
        return inner_->FinishScheduledRun(job, slot, instance, status, detail, now);
    }
    // The receipt keyring's rows hold no debate content (HMAC keys arrive already sealed
    // under their own associated data): forwarded as they are.
    Status RecordReceiptKey(const ReceiptKeyRow& row) override {
        return inner_->RecordReceiptKey(row);
    }
    Result<std::vector<ReceiptKeyRow>> ListReceiptKeys() override {
        return inner_->ListReceiptKeys();
    }
    Status Ping() override { return inner_->Ping(); }
    Status ProbeWrite() override { return inner_->ProbeWrite(); }

private:
    DecryptFailureCounts* failures() const { return options_.failures.get(); }

    Result<DebateRecord> SealDebate(const DebateRecord& debate) const {
        DebateRecord d = debate;
        if (!options_.seal_writes) return d;
        auto s = ForEachSealedField(d, [&](std::string_view column, std::string& value) -> Status {
            auto sealed = cipher_->Seal(value, DebateFieldAd(d.id, column));
            if (!sealed) return sealed.error();
            value = std::move(*sealed);
            return {};
        });
        if (!s) return s.error();
        return d;
    }

    Status OpenDebateInPlace(DebateRecord& d) const {
        return ForEachSealedField(d, [&](std::string_view column, std::string& value) -> Status {
            auto opened = OpenStoredValue(*cipher_, value, DebateFieldAd(d.id, column),
                                          "debate " + d.id + " " + std::string(column), failures());
            if (!opened) return opened.error();
            value = std::move(*opened);
            return {};
        });
    }

    Result<DebateRecord> OpenDebate(Result<DebateRecord> d) const {
        if (!d) return d;
        if (auto s = OpenDebateInPlace(*d); !s) return s.error();
        return d;
    }

    Status OpenReceiptInPlace(ReceiptRecord& r) const {
        if (r.json.empty()) return {};
        auto opened = OpenStoredValue(*cipher_, r.json, ReceiptJsonAd(r.receipt_id),
                                      "receipt " + r.receipt_id, failures());
        if (!opened) return opened.error();
        r.json = std::move(*opened);
        return {};
    }

    Result<std::vector<events::Event>> SealEvents(const std::vector<events::Event>& events) const {
        std::vector<events::Event> out = events;
        if (!options_.seal_writes) return out;
        for (auto& e : out) {
            auto sealed = cipher_->Seal(e.data_json, EventDataAd(e.debate_id, e.seq));
            if (!sealed) return sealed.error();
            e.data_json = std::move(*sealed);
        }
        return out;
    }

    // The backend builds `debate_end` from the row as stored (sealed): the caller's builder
    // (or the default one) gets it opened. A field that does not open is left out (and
    // counted): the end event of a reaped or cancelled debate carries no content anyway.
    DebateEndDataBuilder OpeningEndData(const DebateEndDataBuilder& end_data) const {
        return [this, end_data](const DebateRecord& stored) {
            DebateRecord row = stored;
            (void)ForEachSealedField(row, [&](std::string_view column, std::string& value) {
                auto opened =
                    OpenStoredValue(*cipher_, value, DebateFieldAd(row.id, column),
                                    "debate " + row.id + " " + std::string(column), failures());
                value = opened ? std::move(*opened) : std::string();
                return Status{};
            });
            return rules::DebateEndDataOf(row, end_data);
        };
    }

    Result<std::optional<ReceiptRecord>> Finish(const DebateRecord& debate,
                                                const std::vector<events::Event>& events,
                                                const ReceiptBuilder* receipt,
                                                const std::string* worker_id) {
        auto row = SealDebate(debate);
        if (!row) return row.error();
        auto sealed_events = SealEvents(events);
        if (!sealed_events) return sealed_events.error();
        ReceiptBuilder sealing;
        const ReceiptBuilder* builder = receipt;
        if (receipt != nullptr && *receipt && options_.seal_writes) {
            sealing = [this, receipt](
                          const std::optional<std::string>& previous) -> Result<ReceiptRecord> {
                auto built = (*receipt)(previous);
                if (!built) return built;
                auto sealed = cipher_->Seal(built->json, ReceiptJsonAd(built->receipt_id));
                if (!sealed) return sealed.error();
                built->json = std::move(*sealed);
                return built;
            };
            builder = &sealing;
        }
        auto stored = worker_id == nullptr
                          ? inner_->FinishDebate(*row, *sealed_events, builder)
                          : inner_->FinishLeasedDebate(*row, *sealed_events, builder, *worker_id);
        if (!stored || !*stored) return stored;
        if (auto s = OpenReceiptInPlace(**stored); !s) return s.error();
        return stored;
    }

    std::unique_ptr<Store> owned_;
    Store* inner_;
    std::shared_ptr<const keys::FieldCipher> cipher_;
    ContentCipherOptions options_;
};

}  // namespace

std::unique_ptr<Store> WrapWithContentCipher(std::unique_ptr<Store> inner,
                                             std::shared_ptr<const keys::FieldCipher> cipher,
                                             ContentCipherOptions options) {
    if (!cipher || !inner) return inner;
    Store* raw = inner.get();
    return std::make_unique<ContentCipherStore>(std::move(inner), raw, std::move(cipher),
                                                std::move(options));
}

std::unique_ptr<Store> WrapBorrowedWithContentCipher(
    Store& inner, std::shared_ptr<const keys::FieldCipher> cipher, ContentCipherOptions options) {
    return std::make_unique<ContentCipherStore>(nullptr, &inner, std::move(cipher),
                                                std::move(options));
}

}  // namespace aragora::storage

namespace aragora::storage::content {
namespace {

std::string DebateAd(const std::vector<std::string>& key, std::string_view column) {
    return DebateFieldAd(key.at(0), column);
}

std::string EventAd(const std::vector<std::string>& key, std::string_view) {
    return EventDataAd(key.at(0), std::stoll(key.at(1)));
}

std::string ReceiptAd(const std::vector<std::string>& key, std::string_view) {
    return ReceiptJsonAd(key.at(0));
}

// Ids never hold a newline (common::IsValidId); the cursor joins the key values with one.
constexpr char kCursorSeparator = '\n';

}  // namespace

const std::vector<SealedTableSpec>& SealedTables() {
    static const std::vector<SealedTableSpec> kTables = {
        {"debates",
         "debates",
         {{"id", false}},
         {"task", "final_answer", "spec_json", "result_json"},
         &DebateAd},
        {"debate_events",
         "debate_events",
         {{"debate_id", false}, {"seq", true}},
         {"data"},
         &EventAd},
        {"receipts", "receipts", {{"receipt_id", false}}, {"json"}, &ReceiptAd},
    };
    return kTables;
}

std::string EncodeCursor(const std::vector<std::string>& key) {
    std::string out;
    for (std::size_t i = 0; i < key.size(); ++i) {
        if (i > 0) out += kCursorSeparator;
        out += key[i];
    }
    return out;
}

Result<std::vector<std::string>> DecodeCursor(const SealedTableSpec& spec,
                                              std::string_view cursor) {
    std::vector<std::string> key;
    if (cursor.empty()) return key;
    std::size_t start = 0;
    while (true) {
        const auto end = cursor.find(kCursorSeparator, start);
        key.emplace_back(cursor.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    bool ok = key.size() == spec.key.size();
    for (std::size_t i = 0; ok && i < key.size(); ++i) {
        if (!spec.key[i].integer) continue;
        ok = !key[i].empty() && key[i].find_first_not_of("0123456789") == std::string::npos &&
             key[i].size() < 19;
    }
    if (!ok) {
        return MakeError(ErrorCode::kValidation,
                         "re-encryption cursor of " + spec.target_name + " is malformed", "cursor");
    }
    return key;
}

Result<BatchPlan> PlanReEncrypt(const SealedTableSpec& spec, const keys::FieldCipher& cipher,
                                const std::vector<SealedRow>& rows,
                                DecryptFailureCounts* failures) {
    BatchPlan plan;
    for (const auto& row : rows) {
        RowUpdate update{row.key, {}};
        for (std::size_t c = 0; c < spec.columns.size(); ++c) {
            const std::string& value = row.values.at(c);
            if (!cipher.IsSealed(value)) continue;
            const std::string& column = spec.columns[c];
            auto resealed = ResealStoredValue(
                cipher, value, spec.ad(row.key, column),
                spec.table + " " + EncodeCursor(row.key) + " " + column, failures);
            if (!resealed) return resealed.error();
            if (!*resealed) {
                ++plan.skipped;
                continue;
            }
            ++plan.rewritten;
            update.set.emplace_back(column, std::move(**resealed));
        }
        if (!update.set.empty()) plan.updates.push_back(std::move(update));
    }
    return plan;
}

std::int64_t CountNotUnder(const keys::FieldCipher& cipher, const std::vector<SealedRow>& rows,
                           const keys::KeyRef& current) {
    std::int64_t n = 0;
    for (const auto& row : rows) {
        for (const auto& value : row.values) n += SealedNotUnder(cipher, value, current) ? 1 : 0;
    }
    return n;
}

}  // namespace aragora::storage::content
