#pragma once

// Builds a BackupManager from the settings (config::BackupSettings, the configured
// database and receipt keys): what `aragora backup`, `serve`'s scheduler and the HTTP
// routes open, so that they all agree.

#include <memory>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "config/settings.hpp"
#include "debate/receipt.hpp"
#include "ops/backup_manager.hpp"

namespace aragora::ops {

struct BackupReceiptKeys {
    std::optional<debate::ReceiptKeys> keys;  // nullopt: none configured
    bool from_file = false;  // the HMAC secret is the data dir's receipt_signing.key
};

// The receipt keys as LoadReceiptKeys() would use them, but NEVER creating a key file:
// ARAGORA_RECEIPT_SIGNING_KEY[_PREVIOUS], else an existing <data_dir>/receipt_signing.key,
// plus ARAGORA_RECEIPT_ED25519_KEY_FILE. No key at all is not an error (nullopt).
common::Result<BackupReceiptKeys> LoadReceiptKeysForBackup(const config::Settings& settings);

// Options from the settings: BACKUP_DIR (default <data_dir>/backups), ARAGORA_RESTORE_DIR
// (default <tmp>/aragora_restore), retention, ARAGORA_BACKUP_ENCRYPTION_KEY and the
// receipt keys (LoadReceiptKeysForBackup).
common::Result<BackupManagerOptions> BackupOptionsFromSettings(const config::Settings& settings);

// The engine of the configured database: SQLite at settings.storage.sqlite_path, or
// `sqlite_path_override` when not empty (`aragora backup create -d FILE`). PostgreSQL
// (storage.backend kPostgres): the database of DATABASE_URL / ARAGORA_POSTGRES_DSN with
// POSTGRES_PASSWORD (ops/postgres_engine.hpp); a bad DSN is kValidation.
common::Result<std::shared_ptr<BackupEngine>> MakeConfiguredBackupEngine(
    const config::Settings& settings, const std::string& sqlite_path_override = {});

}  // namespace aragora::ops
