#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/logging.hpp"
#include "common/result.hpp"

namespace aragora::config {

// Reads one environment variable; injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup ProcessEnv();

// Which command runs: the server/worker default to production (the runbook's table),
// the local CLI commands to development.
enum class RunMode { kLocalCli, kServer };

struct ReceiptSettings {
    std::string signing_key;           // ARAGORA_RECEIPT_SIGNING_KEY (may be empty in dev)
    std::string signing_key_previous;  // ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS
    std::string ed25519_key_file;      // ARAGORA_RECEIPT_ED25519_KEY_FILE (PEM), optional
    int retention_days = 2555;         // ARAGORA_RECEIPT_RETENTION_DAYS
};

struct DebateSettings {
    double consensus_threshold = 0.6;     // ARAGORA_CONSENSUS_THRESHOLD
    int agent_timeout_seconds = 240;      // ARAGORA_AGENT_TIMEOUT_SECONDS
    int debate_timeout_seconds = 900;     // ARAGORA_DEBATE_TIMEOUT_SECONDS
    int demo_latency_ms = 0;              // ARAGORA_DEMO_LATENCY_MS (CLI default 0)
    double convergence_threshold = 0.85;  // ARAGORA_CONVERGENCE_THRESHOLD
};

struct StorageSettings {
    std::string data_dir = "./data";  // ARAGORA_DATA_DIR
    std::string sqlite_path;  // from DATABASE_URL=sqlite:///path, else <data_dir>/aragora.sqlite3
};

struct Settings {
    std::string env = "development";  // ARAGORA_ENV
    bool production = false;
    common::LogSettings log;
    StorageSettings storage;
    ReceiptSettings receipts;
    DebateSettings debate;
};

// Reads and validates every setting. A bad value is an error naming the variable.
common::Result<Settings> LoadSettings(const EnvLookup& env, RunMode mode);

}  // namespace aragora::config
