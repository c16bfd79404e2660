#pragma once

// Mapping between engine results and stored rows, shared by the CLI and the server.

#include <string>

#include "common/clock.hpp"
#include "debate/receipt.hpp"
#include "debate/types.hpp"
#include "storage/store.hpp"

namespace aragora::service {

// The finished debate's row (pure). `receipt_id` is set only for completed debates.
storage::DebateRecord ToRecord(const debate::DebateSpec& spec, const debate::DebateResult& result,
                               const std::string& created_at, const std::string& receipt_id);
// The spec as stored in `spec_json`.
std::string SpecToJson(const debate::DebateSpec& spec);
// The API's debate object for a stored row (API.md "Get").
std::string DebateToJson(const storage::DebateRecord& record);
// The builder that signs the receipt of a completed debate inside the store's write
// transaction (so the hash chain stays linear). Holds references: everything passed must
// outlive the FinishDebate call that uses it.
storage::ReceiptBuilder MakeReceiptBuilder(const debate::DebateSpec& spec,
                                           const debate::DebateResult& result,
                                           const std::string& receipt_id,
                                           const common::Clock& clock,
                                           const debate::ReceiptKeys& keys);
// `data` of the `debate_end` event (API.md) for a finished row.
std::string DebateEndData(const storage::DebateRecord& record, double duration_seconds);

}  // namespace aragora::service
