#include "cli/backup_offsite.hpp"

#include <boost/json.hpp>
#include <vector>

namespace aragora::cli {

using common::ErrorCode;
using common::MakeError;

common::Result<ops::Offsite> OpenOffsite(const config::Settings& settings) {
    ops::OffsiteOptions options;
    options.https_proxy = settings.agents.https_proxy;
    options.no_proxy = settings.agents.no_proxy;
    options.ca_file = settings.agents.ca_file;
    return ops::Offsite::Create(settings.backup, config::ProcessEnv(), options);
}

common::Result<std::string> UploadToOffsite(ops::Offsite& offsite, ops::BackupManager& manager,
                                            const ops::BackupMetadata& backup) {
    if (auto s = offsite.UploadBackup(backup.backup_path, backup.ToJson()); !s) return s.error();
    const std::string url = offsite.RemoteUrl(backup.file_name);
    if (auto s = manager.SetMetadata(backup.id, "offsite", boost::json::value(url)); !s) {
        return s.error();
    }
    return url;
}

common::Result<ops::BackupMetadata> FetchFromOffsite(ops::Offsite& offsite,
                                                     ops::BackupManager& manager,
                                                     const std::string& id_or_prefix) {
    auto remote = offsite.ListRemoteBackups();
    if (!remote) return remote.error();
    std::vector<ops::BackupMetadata> matches;
    for (const auto& r : *remote) {
        if (!r.manifest_entry) continue;
        auto entry = ops::BackupMetadata::FromJson(*r.manifest_entry);
        if (!entry) continue;
        entry->file_name = r.file_name;
        if (entry->id == id_or_prefix || r.file_name == id_or_prefix) {
            matches = {*entry};
            break;
        }
        if (entry->id.rfind(id_or_prefix, 0) == 0) matches.push_back(std::move(*entry));
    }
    if (matches.empty()) {
        return MakeError(ErrorCode::kNotFound, "no offsite backup with id or id prefix '" +
                                                   id_or_prefix + "' in " + offsite.RemoteUrl(""));
    }
    if (matches.size() > 1) {
        std::string ids;
        for (const auto& m : matches) ids += (ids.empty() ? "" : ", ") + m.id;
        return MakeError(ErrorCode::kConflict, "id prefix '" + id_or_prefix + "' matches " +
                                                   std::to_string(matches.size()) +
                                                   " offsite backups (" + ids + ")");
    }
    auto local =
        offsite.DownloadBackup(matches[0].file_name, manager.options().backup_dir.string());
    if (!local) return local.error();
    return manager.Import(std::move(matches[0]));
}

}  // namespace aragora::cli
