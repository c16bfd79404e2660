#pragma once

// `aragora worker [--concurrency N]`: runs debates queued in the database (API instances
// with ARAGORA_DEBATE_EXECUTION=worker only enqueue them). Claims at most N at a time,
// each under a lease it renews; reaps the expired leases of workers that died (their
// debates end failed, code worker_lost); on SIGTERM/SIGINT stops claiming, lets running
// debates finish within ARAGORA_SHUTDOWN_GRACE_SECONDS, then cancels them. SIGHUP reopens
// the log files and fetches the AWS Secrets Manager secret again (docs/secrets.md).

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "config/settings.hpp"

namespace aragora::app {
class SecretsSource;
}

namespace aragora::cli {

struct WorkerOptions {
    int concurrency = 3;                           // --concurrency, WORKER_CONCURRENCY
    std::chrono::milliseconds lease{30'000};       // ARAGORA_WORKER_LEASE_SECONDS
    std::chrono::milliseconds poll_interval{500};  // when idle, ±25 % jitter
    std::chrono::milliseconds reap_interval{0};    // zero: lease / 2
    std::chrono::seconds shutdown_grace{30};       // ARAGORA_SHUTDOWN_GRACE_SECONDS
};

// The worker's options from the settings (the lease is
// config::DistributedSettings::lease_seconds). `concurrency` (from --concurrency)
// overrides WORKER_CONCURRENCY; it must be 1..256 (kValidation naming it otherwise).
common::Result<WorkerOptions> WorkerOptionsFrom(const config::Settings& settings,
                                                std::optional<int> concurrency);

// Adds the `worker` subcommand to `app`; its callback sets `exit_code` (0 after a graceful
// stop, 2 for bad configuration, 1 when it cannot start). `secrets` (read when the command
// runs; null without ARAGORA_USE_SECRETS_MANAGER): logged by name, laid under the provider
// agents and fetched again on SIGHUP, which also reopens the log files.
void AddWorkerCommand(CLI::App& app, int& exit_code,
                      const std::shared_ptr<app::SecretsSource>& secrets);

}  // namespace aragora::cli
