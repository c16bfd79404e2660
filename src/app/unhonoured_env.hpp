#pragma once

// Variables the runbooks name that this build cannot honour (an operator who sets them
// expects something to happen): `serve` and `worker` say so once at start, one WARNING
// line per variable set, never silence. Compose-level variables that the binary is not
// meant to read (WORKER_REPLICAS, REDIS_MAXMEMORY, GRAFANA_*, BACKUP_*, ARAGORA_IMAGE)
// are not listed: docker compose and the other containers consume them.

#include <spdlog/fwd.h>

#include <string_view>
#include <vector>

#include "config/settings.hpp"

namespace aragora::app {

struct UnhonouredVariable {
    std::string_view name;
    std::string_view consequence;  // what does not happen, and what to use instead
};

// Every known variable of the runbooks that this build ignores.
const std::vector<UnhonouredVariable>& KnownUnhonouredVariables();

// Those of them set (non-empty) in `env`, in the table's order.
std::vector<UnhonouredVariable> UnhonouredVariablesSet(const config::EnvLookup& env);

// One WARNING per variable set, on `logger`:
//   "ARAGORA_STORE_DIR is set but not supported by this build: <consequence>"
void WarnUnhonouredVariables(const config::EnvLookup& env, spdlog::logger& logger);

}  // namespace aragora::app
