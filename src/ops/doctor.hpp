#pragma once

// `aragora doctor`: can `aragora serve` start here, and if it hangs, why? (the production
// runbook's "Startup hangs" step; docs/doctor.md). One named check per subsystem, run
// concurrently by RunChecks, each bounded (the whole run answers within ~6 s even when
// PostgreSQL or Redis accept connections and never reply):
//
//   settings      LoadSettings(env, kServer) as `serve` reads them; each bad variable
//                 named (the checks that depend on it are skipped, the rest use the others)
//   secrets       the secrets the mode requires (production: ARAGORA_RECEIPT_SIGNING_KEY,
//                 ARAGORA_JWT_SECRET of 32+ bytes)
//   data dir, log dir, backup dir
//                 exist (or can be created: the nearest existing parent is writable), are
//                 writable (a probe file created and removed), free space (statvfs)
//   database      reachable, schema_migrations read and compared (never migrates, never
//                 creates: SQLite read-only; PostgreSQL one connection with connect_timeout
//                 3 s and statement_timeout 3 s)
//   redis         PING through the real client when ARAGORA_REDIS_URL is set
//   api port, ws port, metrics port
//                 free on ARAGORA_HOST, or held by an aragora (GET /healthz or /metrics
//                 answered like aragora); anything else fails naming the variable
//   receipt keys  the key ids (debate::KeyId) of ARAGORA_RECEIPT_SIGNING_KEY, _PREVIOUS and
//                 the Ed25519 key file; in development the existing
//                 <data>/receipt_signing.key (never created here)
//   backups       age of the newest completed/verified backup in <BACKUP_DIR>/manifest.json
//   clock         UTC clock after the build time; skew against PostgreSQL's clock
//
// Nothing here writes anything but the probe files, which it removes.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "ops/backup_status.hpp"
#include "ops/check_runner.hpp"

namespace aragora::ops {

struct DoctorOptions {
    config::EnvLookup env;   // the process environment in the CLI
    std::string build_time;  // ISO 8601 UTC ("2026-12-01T09:00:00Z"); the clock must be later
    // Deadline of each check. The clock check waits for the database's clock at most this
    // long plus 0.5 s, and has 1 s more.
    std::chrono::milliseconds check_deadline{5000};
    // Connecting and each exchange inside a check (PostgreSQL connect_timeout, Redis connect
    // and PING, the HTTP probe of a port in use): shorter than check_deadline so that a
    // server that hangs is reported by its own check, not as "no answer".
    std::chrono::milliseconds io_timeout{3000};
};

struct DoctorReport {
    std::vector<CheckResult> checks;  // in the order of the list above
    bool ok = true;                   // no check failed (warnings allowed)
    bool any_warning = false;
    int abandoned = 0;  // checks that did not answer and may still be running
    std::int64_t duration_ms = 0;
};

// Blocking; returns within check_deadline + 1 s (+ scheduling).
DoctorReport RunDoctor(const DoctorOptions& options);

// ---- pure parts (unit-tested) ----

// The settings as `serve` would read them, however broken. Each failing variable is
// recorded and then treated as unset, and LoadSettings tried again, so that one bad
// value does not hide the others nor stop the unrelated checks. A missing or weak
// production secret goes to `secrets_error` (the settings are then read as in
// development, with `env`/`production` kept as configured).
struct SettingsProbe {
    config::Settings settings;
    std::vector<common::Error> errors;  // in the order found; field = the variable
    std::optional<common::Error> secrets_error;
    // An error without a variable name: `settings` are the defaults, every dependent
    // check is skipped.
    bool defaults_only = false;
};
SettingsProbe ProbeSettings(const config::EnvLookup& env);

// When `probe` failed on one of `variables` (a name, or a prefix ending in '*'), the
// variable that failed; else nullopt. defaults_only blocks everything ("settings").
std::optional<std::string> FailedSetting(const SettingsProbe& probe,
                                         const std::vector<std::string_view>& variables);

// Free space of a file system: kFail below 100 MiB or below 1 % of its size, kWarn below
// 10 %, else kOk; detail "75.2 GiB free (30 %)". total 0 (a pseudo file system): kOk,
// "free space not reported".
CheckOutcome ClassifyFreeSpace(std::uint64_t available_bytes, std::uint64_t total_bytes);

// "512 B", "3.4 KiB", "75.2 GiB".
std::string FormatBytes(std::uint64_t bytes);

// A backup of manifest.json, the original's shape: {"backups": {id: {created_at, status,
// error, ...}}, "updated_at": ...}; created_at ISO 8601 with Z, an offset of +00:00 or none
// (read as UTC).
struct BackupEntry {
    std::string id;
    std::chrono::system_clock::time_point created_at;
    BackupStatus status = BackupStatus::kPending;
    std::string error;
};
struct BackupManifestSummary {
    int total = 0;
    int usable = 0;                            // completed or verified
    std::optional<BackupEntry> newest_usable;  // the newest completed or verified
    std::optional<BackupEntry> newest;         // the newest of any status
};
// kValidation when the text is not JSON or has no "backups" object; entries without a
// readable created_at or a known status are counted in total only.
common::Result<BackupManifestSummary> SummarizeBackupManifest(std::string_view manifest_json);
std::optional<std::chrono::system_clock::time_point> ParseBackupTime(std::string_view text);

// The "backups" line for a manifest: kWarn when the newest usable backup is older than twice
// the schedule interval (BACKUP_INTERVAL, else one day), when there is none while
// BACKUP_ENABLED, or when the newest attempt failed; else kOk with its age.
CheckOutcome BackupAgeOutcome(const BackupManifestSummary& summary,
                              std::chrono::system_clock::time_point now,
                              const config::BackupSettings& backup);

// "45 s", "12 min", "3.5 h", "2.0 days".
std::string FormatAge(std::chrono::seconds age);

}  // namespace aragora::ops
