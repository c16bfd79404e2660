#pragma once

// `aragora backup create|list|show|verify|restore|cleanup|drill` (docs/operations.md): the
// original's commands and flags (ORIGINAL-OPERATIONS.md §1.5) over ops::BackupManager,
// `--json` everywhere, ID prefixes, a progress line on a terminal. Exit 0 ok, 1 the
// operation failed (or verification found a problem), 2 bad input.

#include <CLI/CLI.hpp>

namespace aragora::cli {

// Adds the `backup` subcommand to `app`; its callbacks set `exit_code`.
void AddBackupCommand(CLI::App& app, int& exit_code);

}  // namespace aragora::cli
