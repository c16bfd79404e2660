#pragma once

#include <optional>
#include <string_view>

#include "common/result.hpp"

namespace aragora::events {

// A debate's status (API.md "Debates"): pending → running → completed | failed |
// cancelled. Defined here, at level 1, so storage, debate, service and api share the one
// type; the text form exists only at the edges (SQL, JSON, CLI).
enum class DebateStatus { kPending, kRunning, kCompleted, kFailed, kCancelled };

// "pending", "running", "completed", "failed", "cancelled".
std::string_view ToString(DebateStatus s);
// The inverse of ToString; nullopt for any other text.
std::optional<DebateStatus> ParseDebateStatus(std::string_view s);
// ParseDebateStatus, with kStorage naming the text when it is not a status (for the SQL
// edge: a stored row that holds something else is corrupt, not bad input).
common::Result<DebateStatus> DebateStatusFromText(std::string_view s);
// completed, failed or cancelled.
bool IsTerminal(DebateStatus s);

}  // namespace aragora::events
