#pragma once

// Internal to `aragora backup`: offsite copies (ops/offsite, ARAGORA_BACKUP_S3_*) for
// `create --offsite`, `list --remote` and `restore --from-offsite`.

#include <string>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "ops/backup_manager.hpp"
#include "ops/offsite.hpp"

namespace aragora::cli {

common::Result<ops::Offsite> OpenOffsite(const config::Settings& settings);

// Uploads the backup file and its manifest entry, then records the s3:// URL as the
// entry's metadata.offsite; returns the URL. The receipt keys sidecar of an encrypted
// backup stays local (the operator keeps the receipt keys for an offsite restore).
common::Result<std::string> UploadToOffsite(ops::Offsite& offsite, ops::BackupManager& manager,
                                            const ops::BackupMetadata& backup);

// The remote backup whose manifest id (or file name) is `id_or_prefix` (a unique id
// prefix), downloaded into the backup dir and adopted into the local manifest.
// kNotFound / kConflict (ambiguous) as for local ids.
common::Result<ops::BackupMetadata> FetchFromOffsite(ops::Offsite& offsite,
                                                     ops::BackupManager& manager,
                                                     const std::string& id_or_prefix);

}  // namespace aragora::cli
