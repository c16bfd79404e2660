#pragma once

// `aragora keys list [--json]` and `aragora keys verify-all [--json]`: the receipt keyring
// (debate/receipt_keyring.hpp). `list` shows every key id (algorithm, state current /
// previous / retired, first/last seen, Ed25519 public key), never an HMAC key.
// `verify-all` re-verifies every stored receipt against the keyring and reports counts
// per key id; exit 1 on any failure, progress on stderr. `status` and `rotate` are added
// to the same subcommand by AddKeysRotationCommands (keys_rotation_command.hpp).

#include <CLI/CLI.hpp>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "debate/receipt_keyring.hpp"
#include "storage/open_stores.hpp"
#include "storage/store.hpp"

namespace aragora::cli {

// Adds the `keys` subcommand with `list` and `verify-all`; returns it so that other
// commands can be added under it. Callbacks set `exit_code`.
CLI::App* AddKeysCommand(CLI::App& app, int& exit_code);

// The keyring a CLI command verifies with: the configured keys merged (read only) with
// the store's keyring when `store` is given (retired HMAC keys opened with `cipher`, the
// store's own); else the configured keys alone.
common::Result<debate::ReceiptKeyring> LoadCliKeyring(
    const config::Settings& settings, storage::Store* store,
    std::shared_ptr<const keys::FieldCipher> cipher = nullptr);

// The store holding the keyring, when there is one to read: PostgreSQL, or an existing
// SQLite file (never created for a read). A null `store` when there is none.
common::Result<storage::OpenedStores> OpenKeyringStore(const config::Settings& settings);

}  // namespace aragora::cli
