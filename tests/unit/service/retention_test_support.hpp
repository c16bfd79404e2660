#pragma once

// Receipts for the retention tests (service and app): completed debates whose receipts are
// signed and chained by the real builder (service::MakeReceiptBuilder), created at the time
// of the clock given, so that a chain verification over them means something.

#include <gtest/gtest.h>

#include <string>

#include "common/clock.hpp"
#include "common/time.hpp"
#include "debate/receipt_keys.hpp"
#include "debate/types.hpp"
#include "service/records.hpp"
#include "storage/store.hpp"

namespace aragora::service::test_support {

// Debate `id` with receipt "rcpt_<id>", signed with `keys`, created at `at`'s time.
inline void AddSignedReceipt(storage::Store& store, const std::string& id, const common::Clock& at,
                             const debate::ReceiptKeys& keys) {
    debate::DebateSpec spec;
    spec.id = id;
    spec.task = "Question " + id;
    spec.agents = {"a", "b"};
    spec.rounds = 1;
    debate::DebateResult result;
    result.status = debate::DebateStatus::kCompleted;
    result.verdict = "approved";
    result.confidence = 0.5;
    storage::DebateRecord d;
    d.id = id;
    d.task = spec.task;
    d.status = events::DebateStatus::kRunning;
    d.agents = spec.agents;
    d.rounds = 1;
    d.created_at = common::FormatIso8601(at.SystemNow());
    ASSERT_TRUE(store.CreateDebate(d).ok());
    d.status = events::DebateStatus::kCompleted;
    d.verdict = "approved";
    const std::string receipt_id = "rcpt_" + id;
    storage::ReceiptBuilder builder = MakeReceiptBuilder(spec, result, receipt_id, at, keys);
    auto r = store.FinishDebate(d, {}, &builder);
    ASSERT_TRUE(r.ok()) << r.error().message;
}

}  // namespace aragora::service::test_support
