#include "app/instance_lease.hpp"

#include <spdlog/spdlog.h>

#include "common/ids.hpp"
#include "common/logging.hpp"

namespace aragora::app {

bool ConfigureInstanceLease(const config::DistributedSettings& settings, std::string_view backend,
                            service::ServiceSettings& ss) {
    if (backend != "postgresql") return false;
    ss.lease.worker_id = common::NewProcessId("s_");
    ss.lease.duration = std::chrono::seconds(settings.lease_seconds);
    ss.lease_local = true;
    common::GetLogger("aragora.app")
        ->info(
            "instance lease owner={} lease_ms={}: debates run here are leased (a shared "
            "database); expired leases of any instance are reaped every {} ms",
            ss.lease.worker_id, ss.lease.duration.count(), ss.lease.duration.count() / 2);
    return true;
}

}  // namespace aragora::app
