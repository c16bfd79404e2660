#pragma once

// The PostgreSQL BackupEngine (backup_engine.hpp) over ops/postgres_backup: snapshots are
// `pg_dump -Fc` files ("<dbname>_<UTC YYYYmmdd_HHMMSS>_<id>.dump" before compression and
// encryption), inspected in the very snapshot dumped; scratch restores go into a new
// database `aragora_verify_<hex>` on the same server, dropped when the scratch object is
// destroyed; a restore into a target database restores into `aragora_restoring_<hex>`
// first and renames it into place, so a failure leaves the target untouched.

#include <chrono>
#include <memory>
#include <string>

#include "ops/backup_engine.hpp"
#include "ops/postgres_backup.hpp"

namespace aragora::ops {

struct PostgresBackupOptions {
    // The configured database, as storage::BuildPgDsn returns it (password merged in).
    std::string dsn;
    PgTools tools;
    // The longest one snapshot, scratch restore, inspection or restore may take; the
    // client tools are stopped and connections cut then.
    std::chrono::seconds timeout{6 * 3600};
};

std::shared_ptr<BackupEngine> MakePostgresBackupEngine(PostgresBackupOptions options);

}  // namespace aragora::ops
