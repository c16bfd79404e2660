#include "debate/receipt_chain.hpp"

#include <boost/json.hpp>
#include <utility>

namespace aragora::debate {

ReceiptChainVerifier::ReceiptChainVerifier(ReceiptKeys keys, ReceiptCheck check)
    : keys_(std::move(keys)), check_(check) {}

void ReceiptChainVerifier::Fail(const ChainLink& link, std::string reason) {
    ++report_.failed;
    if (report_.failures.size() < ChainReport::kMaxFailures) {
        report_.failures.push_back({link.chain_seq, link.receipt_id, std::move(reason)});
    }
}

void ReceiptChainVerifier::Add(const ChainLink& link) {
    bool good = true;
    auto fail = [&](std::string reason) {
        good = false;
        Fail(link, std::move(reason));
    };
    if (link.tombstone) {
        ++report_.tombstones;
    } else {
        ++report_.receipts;
        const ReceiptVerification v = VerifyReceipt(link.json, keys_, check_);
        if (!v.valid) fail(v.reason.empty() ? "invalid receipt" : v.reason);
        // The columns the chain is read from must say what the signed receipt says.
        if (v.integrity_valid && v.stored_hash != link.content_hash) {
            fail("stored content_hash differs from the receipt's");
        }
        if (v.integrity_valid && v.previous_hash != link.previous_hash) {
            fail("stored previous_hash differs from the receipt's");
        }
        if (v.integrity_valid && !v.receipt_id.empty() && v.receipt_id != link.receipt_id) {
            fail("receipt_id differs from the receipt's");
        }
    }
    if (first_) {
        if (link.previous_hash && !mid_chain_) fail("first receipt has a previous_hash");
    } else if (link.previous_hash.value_or("") != last_hash_) {
        fail("chain broken: previous_hash " + link.previous_hash.value_or("null") +
             " but the entry before it has content_hash " + last_hash_);
    }
    first_ = false;
    last_hash_ = link.content_hash;
    if (good && !link.tombstone) ++report_.verified;
}

}  // namespace aragora::debate
