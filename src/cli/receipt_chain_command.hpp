#pragma once

// `aragora receipt verify-chain [--json]`: re-verifies the stored receipt chain of the
// configured database (service::VerifyStoredChain): every receipt's content hash and
// signature by a configured key, its stored columns, every link — across the tombstones
// retention leaves. Exit 0 when everything verifies, 1 on any failure, 2 on bad settings.

#include <CLI/CLI.hpp>

namespace aragora::cli {

// Adds `verify-chain` under the `receipt` subcommand; its callback sets `exit_code`.
void AddVerifyChainCommand(CLI::App& receipt_cmd, int& exit_code);

}  // namespace aragora::cli
