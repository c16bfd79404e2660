#pragma once

// The clock and the debates of the lease suites (instance_lease_test, renew_leases_test):
// debates an instance runs itself under its own lease.

#include <string>

#include "events/status.hpp"
#include "storage/store.hpp"

namespace aragora::storage::test_support::lease {

inline constexpr const char* kT0 = "2026-03-01T10:00:00.000Z";
inline constexpr const char* kT1 = "2026-03-01T10:00:10.000Z";
inline constexpr const char* kT2 = "2026-03-01T10:00:30.000Z";
inline constexpr const char* kT3 = "2026-03-01T10:00:40.000Z";
inline constexpr const char* kT4 = "2026-03-01T10:01:00.000Z";

// A debate instance `owner` runs itself, created under its lease until `until` ("" = none).
inline DebateRecord Local(const std::string& id, const std::string& status,
                          const std::string& owner, const std::string& until) {
    DebateRecord d;
    d.id = id;
    d.task = "task of " + id;
    d.status = events::ParseDebateStatus(status).value();
    d.agents = {"demo:analyst", "demo:critic"};
    d.rounds = 2;
    d.consensus_method = "majority";
    d.created_at = kT0;
    if (status == "running") d.started_at = kT0;
    d.lease_owner = owner;
    d.lease_expires_at = until;
    return d;
}

}  // namespace aragora::storage::test_support::lease
