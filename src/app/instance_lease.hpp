#pragma once

// `serve` on a database that other instances share (PostgreSQL): the debates this instance
// runs itself are run under its own lease (service::ServiceSettings::lease_local), like a
// worker's, so that another instance's start-up recovery leaves them alone and, should
// this instance die (kill -9, a lost machine), any instance's lease reaper ends them
// (failed, code instance_lost, one debate_end) once the lease has expired. SQLite keeps no
// lease: one process per data dir, and the crash recovery of the next start ends what a
// crash left (interrupted).

#include <string_view>

#include "config/settings.hpp"
#include "service/local_debate_service.hpp"

namespace aragora::app {

// With a shared database (`backend` "postgresql"): sets ss.lease (a new process id
// "s_…@host:pid", ARAGORA_WORKER_LEASE_SECONDS) and ss.lease_local, logs the owner id, and
// returns true: the caller then starts the service's lease reaper. Otherwise changes
// nothing and returns false.
bool ConfigureInstanceLease(const config::DistributedSettings& settings, std::string_view backend,
                            service::ServiceSettings& ss);

}  // namespace aragora::app
