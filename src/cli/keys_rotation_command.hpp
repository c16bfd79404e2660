#pragma once

// `aragora keys status [--json]` and `aragora keys rotate [--dry-run] [--force] [--json]`:
// encryption at rest over the configured database (ARAGORA_ENCRYPTION_KEY). A rotation
// re-encrypts the targets this binary knows in batches, with one progress line per batch on
// stderr; whatever it does not finish (or targets only `serve` has) the server's scheduler
// resumes from the persisted progress.

#include <CLI/CLI.hpp>

namespace aragora::cli {

// Adds `status` and `rotate` to the `keys` subcommand; callbacks set `exit_code`.
void AddKeysRotationCommands(CLI::App& keys_cmd, int& exit_code);

}  // namespace aragora::cli
