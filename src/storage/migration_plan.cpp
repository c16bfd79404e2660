#include "storage/migration_plan.hpp"

#include <algorithm>
#include <set>
#include <string>

namespace aragora::storage {

common::Result<MigrationStatus> EvaluateMigrations(const std::vector<Migration>& known,
                                                   const std::vector<AppliedMigration>& applied) {
    MigrationStatus status;
    status.latest_version = known.empty() ? 0 : known.back().version;

    std::set<int> known_versions;
    for (const auto& m : known) known_versions.insert(m.version);

    std::set<int> applied_versions;
    int incompatible = 0;
    for (const auto& a : applied) {
        applied_versions.insert(a.version);
        status.current_version = std::max(status.current_version, a.version);
        if (known_versions.count(a.version) != 0) continue;
        if (a.additive) {
            status.unknown_versions.push_back(a.version);
        } else {
            incompatible = std::max(incompatible, a.version);
        }
    }
    if (incompatible != 0) {
        return common::MakeError(common::ErrorCode::kStorage,
                                 "database schema version " + std::to_string(incompatible) +
                                     " is newer than this binary supports (" +
                                     std::to_string(status.latest_version) +
                                     ") and not backward compatible; upgrade aragora");
    }
    for (const auto& m : known) {
        if (applied_versions.count(m.version) == 0) status.pending.push_back(m);
    }
    return status;
}

}  // namespace aragora::storage
