#include "ops/backup_setup.hpp"

#include <filesystem>
#include <utility>

#include "common/build_info.hpp"
#include "debate/receipt_keys.hpp"
#include "ops/postgres_engine.hpp"
#include "ops/sqlite_backup.hpp"
#include "storage/postgres/pg_dsn.hpp"

namespace aragora::ops {

namespace fs = std::filesystem;

common::Result<BackupReceiptKeys> LoadReceiptKeysForBackup(const config::Settings& settings) {
    BackupReceiptKeys out;
    auto keys = debate::LoadExistingReceiptKeys(settings, &out.from_file);
    if (!keys) return keys.error();
    out.keys = std::move(*keys);
    return out;
}

common::Result<BackupManagerOptions> BackupOptionsFromSettings(const config::Settings& settings) {
    const auto& b = settings.backup;
    BackupManagerOptions o;
    o.backup_dir =
        b.dir.empty() ? fs::path(settings.storage.data_dir) / "backups" : fs::path(b.dir);
    std::error_code ec;
    o.restore_dir = b.restore_dir.empty() ? fs::temp_directory_path(ec) / "aragora_restore"
                                          : fs::path(b.restore_dir);
    o.keep_daily = b.keep_daily;
    o.keep_weekly = b.keep_weekly;
    o.keep_monthly = b.keep_monthly;
    o.min_backups = b.min_backups;
    o.encryption_key_hex = b.encryption_key_hex;
    auto keys = LoadReceiptKeysForBackup(settings);
    if (!keys) return keys.error();
    o.receipt_keys = std::move(keys->keys);
    o.receipt_key_from_file = keys->from_file;
    o.app_version = build::kVersion;
    return o;
}

common::Result<std::shared_ptr<BackupEngine>> MakeConfiguredBackupEngine(
    const config::Settings& settings, const std::string& sqlite_path_override) {
    if (!sqlite_path_override.empty()) {
        return MakeSqliteBackupEngine(SqliteBackupOptions{sqlite_path_override});
    }
    if (settings.storage.backend == config::DbBackend::kPostgres) {
        auto dsn =
            storage::BuildPgDsn(settings.storage.postgres_dsn, settings.storage.postgres_password);
        if (!dsn) return dsn.error();
        PostgresBackupOptions options;
        options.dsn = *dsn;
        return MakePostgresBackupEngine(std::move(options));
    }
    return MakeSqliteBackupEngine(SqliteBackupOptions{settings.storage.sqlite_path});
}

}  // namespace aragora::ops
