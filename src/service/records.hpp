#pragma once

// Mapping between engine results and stored rows, shared by the CLI and the server.

#include <string>
#include <vector>

#include "agents/registry.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "debate/receipt.hpp"
#include "debate/types.hpp"
#include "events/payloads.hpp"
#include "storage/store.hpp"

namespace aragora::service {

// The finished debate's row (pure). `receipt_id` is set only for completed debates.
storage::DebateRecord ToRecord(const debate::DebateSpec& spec, const debate::DebateResult& result,
                               const std::string& created_at, const std::string& receipt_id);
// The spec as stored in `spec_json`.
std::string SpecToJson(const debate::DebateSpec& spec);
// The same plus `agent_specs` ([{provider, model, persona, name}], the parsed agents the
// debate was created with) and `org_id`: enough for a worker to run the stored debate.
std::string SpecToJson(const debate::DebateSpec& spec,
                       const std::vector<agents::AgentSpec>& agent_specs);

// A stored debate rebuilt from its row: the spec (id, created_by, org_id from the row)
// and its agents' specs.
struct StoredSpec {
    debate::DebateSpec spec;
    std::vector<agents::AgentSpec> agents;
};
// The inverse of SpecToJson(spec, agent_specs). kValidation when spec_json is not an
// object with task, rounds, consensus and agent_specs (>= 2, in `agents` order).
common::Result<StoredSpec> SpecFromRecord(const storage::DebateRecord& record);
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
// The `debate_end` payload (API.md) for a finished row.
events::DebateEnd DebateEndOf(const storage::DebateRecord& record, double duration_seconds);
// The same, encoded: the event's `data_json`.
std::string DebateEndData(const storage::DebateRecord& record, double duration_seconds);

}  // namespace aragora::service
