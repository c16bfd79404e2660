#pragma once

// Mapping between engine results and stored rows, shared by the CLI and the server.

#include <string>

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
// `data` of the `debate_end` event (API.md) for a finished row.
std::string DebateEndData(const storage::DebateRecord& record, double duration_seconds);

}  // namespace aragora::service
