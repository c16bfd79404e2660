#pragma once

// Input rules and record encodings shared by the Store / AuthStore backends (SQLite,
// PostgreSQL), so that both refuse the same inputs with the same errors.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"
#include "storage/auth_store.hpp"
#include "storage/store.hpp"

namespace aragora::storage::rules {

inline constexpr int kMaxAuditLimit = 1000;

bool IsKnownStatus(std::string_view status);
bool IsTerminalStatus(std::string_view status);

// kValidation (field "status") for anything but the five statuses.
common::Status ValidateStatus(std::string_view status);
// Non-empty id and created_at, known status.
common::Status ValidateDebate(const DebateRecord& d);
// The checks FinishDebate() makes before touching the database: ValidateDebate(), a
// terminal status, every event valid and of this debate.
common::Status ValidateFinish(const DebateRecord& d, const std::vector<events::Event>& events);
// debate_id, seq >= 1, type.
common::Status ValidateEvent(const events::Event& e);
common::Status ValidatePage(int limit, int offset);
// The status filter of ListDebates(): "", "active", "no_consensus" or a status.
common::Status ValidateStatusFilter(const std::string& status);

// JSON array of strings <-> vector. `backend` prefixes the corruption error ("sqlite").
std::string ToJsonArray(const std::vector<std::string>& items);
common::Result<std::vector<std::string>> FromJsonArray(const std::string& text,
                                                       std::string_view column,
                                                       const std::string& debate_id,
                                                       std::string_view backend);

// Calls the caller's builder; an exception becomes kInternal.
common::Result<ReceiptRecord> CallBuilder(const ReceiptBuilder& builder,
                                          const std::optional<std::string>& previous_hash);
// A built receipt must have ids, hash and time, be of this debate (debate_id filled when
// empty) and chain to `previous_hash`; kInternal otherwise.
common::Status CheckBuiltReceipt(ReceiptRecord& r, const std::string& debate_id,
                                 const std::optional<std::string>& previous_hash);

// kValidation naming `field` when `value` is empty.
common::Status Required(const std::string& value, std::string_view what, std::string_view field);
common::Status ValidateUser(const UserRecord& u);
common::Status ValidateToken(const RefreshTokenRecord& t);

}  // namespace aragora::storage::rules
