#pragma once

// `aragora users add|list|set-role|remove`: user accounts in the configured database.

#include <CLI/CLI.hpp>

namespace aragora::cli {

// Adds the `users` subcommand to `app`; its callbacks set `exit_code`.
void AddUsersCommand(CLI::App& app, int& exit_code);

}  // namespace aragora::cli
