#pragma once

#include <chrono>
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
    // ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED: retired HMAC keys, a comma list or the path of
    // a file with one key per line (debate/receipt_keys.hpp reads it); verification only.
    std::string signing_keys_retired;
    std::string ed25519_key_file;     // ARAGORA_RECEIPT_ED25519_KEY_FILE (PEM), optional
    int retention_days = 2555;        // ARAGORA_RECEIPT_RETENTION_DAYS
    int cleanup_interval_hours = 24;  // ARAGORA_RECEIPT_CLEANUP_INTERVAL_HOURS
    // ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS: the first cleanup after `serve` starts
    // (the original's 60 s; tests set 0).
    int cleanup_first_delay_seconds = 60;
};

// Backups (`aragora backup`, the scheduler in `serve`, /api/v2/backups; docs/operations.md).
struct BackupSettings {
    bool enabled = false;  // BACKUP_ENABLED: scheduled backups in `serve`
    // BACKUP_DIR; default <data_dir>/backups.
    std::string dir;
    // BACKUP_DAILY_TIME (UTC "HH:MM"): the daily slot when BACKUP_INTERVAL is unset.
    int daily_minute_of_day = 2 * 60;
    // BACKUP_INTERVAL (seconds, 60..31622400): slots every N seconds from the epoch
    // instead of once a day; 0 = unset (daily at BACKUP_DAILY_TIME).
    int interval_seconds = 0;
    // Calendar retention (UTC): the newest backup of each of the last keep_daily days
    // (BACKUP_RETENTION_DAYS, alias ARAGORA_BACKUP_KEEP_DAILY), keep_weekly ISO weeks
    // (ARAGORA_BACKUP_KEEP_WEEKLY), keep_monthly months (ARAGORA_BACKUP_KEEP_MONTHLY);
    // never fewer than min_backups (ARAGORA_BACKUP_MIN_BACKUPS).
    int keep_daily = 7;
    int keep_weekly = 4;
    int keep_monthly = 3;
    int min_backups = 1;
    bool dr_drill_enabled = true;     // BACKUP_DR_DRILL_ENABLED
    int dr_drill_interval_days = 30;  // BACKUP_DR_DRILL_INTERVAL_DAYS
    // ARAGORA_BACKUP_ENCRYPTION_KEY: 64 hex chars (32 bytes, AES-256-GCM); empty = backups
    // are not encrypted (and carry no secret).
    std::string encryption_key_hex;
    // ARAGORA_RESTORE_DIR: where restore tests may write; default <tmp>/aragora_restore.
    std::string restore_dir;
    // Offsite copies to S3-compatible storage: ARAGORA_BACKUP_S3_BUCKET (empty = off),
    // ARAGORA_BACKUP_S3_ENDPOINT (default https://s3.<region>.amazonaws.com),
    // ARAGORA_BACKUP_S3_REGION (else AWS_REGION, AWS_DEFAULT_REGION, us-east-1),
    // ARAGORA_BACKUP_S3_PREFIX (default "aragora/backups/"). Credentials: AWS_ACCESS_KEY_ID,
    // AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, read when used.
    std::string s3_bucket;
    std::string s3_endpoint;
    std::string s3_region = "us-east-1";
    std::string s3_prefix = "aragora/backups/";
};

struct DebateSettings {
    double consensus_threshold = 0.6;     // ARAGORA_CONSENSUS_THRESHOLD
    double agent_timeout_seconds = 60;    // ARAGORA_AGENT_TIMEOUT_SECONDS (per provider attempt)
    int debate_timeout_seconds = 900;     // ARAGORA_DEBATE_TIMEOUT_SECONDS
    int demo_latency_ms = 0;              // ARAGORA_DEMO_LATENCY_MS (CLI default 0)
    double convergence_threshold = 0.85;  // ARAGORA_CONVERGENCE_THRESHOLD
    int max_parallel_calls = 8;           // ARAGORA_MAX_PARALLEL_AGENT_CALLS (per debate)
    // A failed agent call tried again later in its phase (docs/engine.md).
    int phase_retries = 3;               // ARAGORA_PHASE_RETRIES
    int phase_retry_base_ms = 3000;      // ARAGORA_PHASE_RETRY_BASE_MS
    int phase_retry_cap_ms = 30000;      // ARAGORA_PHASE_RETRY_CAP_MS
    int phase_retry_budget_ms = 120000;  // ARAGORA_PHASE_RETRY_BUDGET_MS
    int running_too_long_seconds = 600;  // ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS (alert)
};

// Provider agents (resilience rules of DEBATE.md, Agents). Keys and base URLs are not
// here: they are read from the environment at each call (zero-downtime key rotation).
struct AgentSettings {
    int max_retries = 3;                   // ARAGORA_AGENT_MAX_RETRIES
    int retry_base_ms = 1000;              // ARAGORA_AGENT_RETRY_BASE_MS (backoff base)
    int retry_cap_ms = 30000;              // ARAGORA_AGENT_RETRY_CAP_MS (backoff ceiling)
    int breaker_failure_threshold = 5;     // ARAGORA_CIRCUIT_BREAKER_THRESHOLD
    double breaker_cooldown_seconds = 60;  // ARAGORA_CIRCUIT_BREAKER_COOLDOWN_SECONDS
    bool stream = true;                    // ARAGORA_AGENT_STREAMING
    int max_tokens = 2048;                 // ARAGORA_AGENT_MAX_TOKENS
    bool hedge_enabled = false;            // ARAGORA_AGENT_HEDGE_ENABLED (docs/agents.md)
    int hedge_after_ms = 0;                // ARAGORA_AGENT_HEDGE_AFTER_MS (0: observed p95)
    int hedge_min_ms = 1000;               // ARAGORA_AGENT_HEDGE_MIN_MS (floor of the p95)
    // Process-wide bound on provider calls in flight (net::ConnectionBudget, docs/agents.md):
    // 0 = 3/4 of the soft RLIMIT_NOFILE (raised to the hard limit at start).
    int provider_connections = 0;  // ARAGORA_PROVIDER_CONNECTIONS
    // Calls waiting for one of them at most; 0 = 4 x provider_connections. When full,
    // creating a debate answers 503.
    int provider_call_queue_max = 0;  // ARAGORA_PROVIDER_CALL_QUEUE_MAX
    std::string https_proxy;          // HTTPS_PROXY / https_proxy
    std::string no_proxy;             // NO_PROXY / no_proxy
    std::string ca_file;              // ARAGORA_CA_BUNDLE (extra trust anchors, PEM)
};

enum class DbBackend { kSqlite, kPostgres };

struct StorageSettings {
    std::string data_dir = "./data";  // ARAGORA_DATA_DIR
    std::string sqlite_path;  // from DATABASE_URL=sqlite:///path, else <data_dir>/aragora.sqlite3
    DbBackend backend = DbBackend::kSqlite;
    // PostgreSQL: DATABASE_URL=postgresql://... (or postgres://), else ARAGORA_POSTGRES_DSN.
    std::string postgres_dsn;
    std::string postgres_password;     // POSTGRES_PASSWORD (used when the DSN has none)
    bool require_postgres = false;     // ARAGORA_DB_BACKEND=postgresql: no SQLite fallback
    int pool_size = 20;                // ARAGORA_DB_POOL_SIZE
    int pool_overflow = 15;            // ARAGORA_DB_POOL_OVERFLOW (alias ARAGORA_DB_MAX_OVERFLOW)
    int command_timeout_seconds = 60;  // ARAGORA_DB_COMMAND_TIMEOUT (statement_timeout)
    int pool_recycle_seconds = 1800;   // ARAGORA_DB_POOL_RECYCLE
    // SUPABASE_URL/SUPABASE_KEY set without a PostgreSQL DSN: Supabase is reached as the
    // PostgreSQL it is, through DATABASE_URL; the server says so at start.
    bool supabase_without_dsn = false;
    // ARAGORA_ENCRYPT_DEBATE_CONTENT: debate content (task, final answer, spec, result,
    // event payloads, receipt JSON) is written sealed (storage/content_cipher.hpp). Needs an
    // encryption key; start fails in one line without one.
    bool encrypt_debate_content = false;
};

// Several instances on shared PostgreSQL and Redis (the runbooks' multi-instance profile).
struct DistributedSettings {
    std::string redis_url;             // ARAGORA_REDIS_URL (redis:// or rediss://)
    std::string redis_password;        // REDIS_PASSWORD (used when the URL has none)
    bool redis_rate_limit = false;     // ARAGORA_ENABLE_REDIS_RATE_LIMIT
    bool multi_instance = false;       // ARAGORA_MULTI_INSTANCE (events through Redis)
    bool require_distributed = false;  // ARAGORA_REQUIRE_DISTRIBUTED
    int worker_concurrency = 3;        // WORKER_CONCURRENCY (`aragora worker`)
    // ARAGORA_WORKER_LEASE_SECONDS (1..3600): the lease of a worker's debates, and of the
    // debates `serve` runs itself on PostgreSQL (renewed every third of it).
    int lease_seconds = 30;
    // ARAGORA_DEBATE_EXECUTION: "local" (serve runs debates) or "worker" (serve only
    // enqueues them; `aragora worker` processes run them).
    bool enqueue_only = false;
};

// `aragora serve` (names as in the runbooks; CLI flags override host and ports).
struct ServerSettings {
    std::string host = "127.0.0.1";       // ARAGORA_HOST
    int api_port = 8080;                  // ARAGORA_API_PORT (0 = pick a free port)
    int ws_port = 8765;                   // ARAGORA_WS_PORT
    int metrics_port = 9090;              // ARAGORA_METRICS_PORT
    bool metrics_enabled = true;          // ARAGORA_METRICS_ENABLED, else METRICS_ENABLED
    int io_threads = 0;                   // ARAGORA_IO_THREADS (0 = number of cores)
    int max_concurrent_debates = 10;      // ARAGORA_MAX_CONCURRENT_DEBATES
    int max_queued_debates = 100;         // ARAGORA_MAX_QUEUED_DEBATES
    int event_replay_buffer_size = 1000;  // ARAGORA_EVENT_REPLAY_BUFFER_SIZE
    // ... of a debate nobody subscribes to (events::EventHub): the rest is in the store.
    int event_replay_buffer_unwatched = 4;  // ARAGORA_EVENT_REPLAY_BUFFER_UNWATCHED
    int ws_max_connections = 1000;          // ARAGORA_WS_MAX_CONNECTIONS
    int ws_send_queue_max = 256;            // ARAGORA_WS_SEND_QUEUE_MAX (frames)
    int ws_heartbeat_seconds = 15;          // ARAGORA_WS_HEARTBEAT_SECONDS
    int shutdown_grace_seconds = 30;        // ARAGORA_SHUTDOWN_GRACE_SECONDS
    int max_body_bytes = 1 << 20;           // ARAGORA_MAX_BODY_BYTES
    int max_header_bytes = 16 << 10;        // ARAGORA_MAX_HEADER_BYTES
    int max_header_count = 100;             // ARAGORA_MAX_HEADER_COUNT
    int max_connections = 1024;             // ARAGORA_MAX_CONNECTIONS
    int keep_alive_seconds = 60;            // ARAGORA_KEEP_ALIVE_SECONDS
    int read_timeout_seconds = 30;          // ARAGORA_READ_TIMEOUT_SECONDS
    int write_timeout_seconds = 30;         // ARAGORA_WRITE_TIMEOUT_SECONDS
    std::string log_dir;                    // ARAGORA_LOG_DIR (empty = stderr)
    std::string api_token;                  // ARAGORA_API_TOKEN
    std::string jwt_secret;                 // ARAGORA_JWT_SECRET
    // Slow clients: ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP (connections per client address
    // without a complete first request; 0 = no limit) and ARAGORA_HEADER_TIMEOUT_SECONDS.
    int max_pending_connections_per_ip = 64;
    int header_timeout_seconds = 10;
    // The web console: ARAGORA_CONSOLE_DIR (the built console; empty = the install's
    // share/aragora/web, else the build tree's web/) and ARAGORA_CONSOLE_BASE_PATH (the
    // path prefix a proxy mounts it under, e.g. /console; written into <base href>).
    std::string console_dir;
    std::string console_base_path;
};

// Auth, rate limiting, CORS (issue 10; names as in the runbooks where they name them).
struct SecuritySettings {
    std::string jwt_secret_previous;  // ARAGORA_JWT_SECRET_PREVIOUS
    // ARAGORA_JWT_SECRET_ROTATED_AT: ISO 8601 (2026-12-01T09:00:00Z) or unix seconds (the
    // original Aragora's form); nullopt when unset.
    std::optional<std::chrono::system_clock::time_point> jwt_rotated_at;
    // ARAGORA_JWT_SECRET_GRACE_HOURS, or the original's ARAGORA_JWT_ROTATION_GRACE_HOURS
    // (both set to different values: an error naming both).
    int jwt_grace_hours = 24;
    std::string jwt_issuer;               // ARAGORA_JWT_ISSUER (checked when set)
    std::string jwt_audience;             // ARAGORA_JWT_AUDIENCE (checked when set)
    int access_token_ttl_seconds = 3600;  // ARAGORA_ACCESS_TOKEN_TTL_SECONDS
    int refresh_token_ttl_days = 30;      // ARAGORA_REFRESH_TOKEN_TTL_DAYS
    bool allow_unauthenticated = false;   // ARAGORA_ALLOW_UNAUTHENTICATED
    int rate_limit = 100;                 // ARAGORA_RATE_LIMIT (requests/minute per IP)
    int rate_limit_debate_rpm = 10;       // ARAGORA_RATE_LIMIT_DEBATE_RPM (per IP)
    int rate_limit_auth_rpm = 20;         // ARAGORA_RATE_LIMIT_AUTH_RPM (login/refresh per IP)
    int rate_limit_user_rpm = 0;          // ARAGORA_RATE_LIMIT_USER_RPM (per key/user; 0 = off)
    bool rate_limit_disabled = false;     // ARAGORA_RATE_LIMIT_DISABLED
    std::string rate_limit_whitelist;     // ARAGORA_RATE_LIMIT_WHITELIST (CIDRs)
    std::string trusted_proxies =         // ARAGORA_TRUSTED_PROXIES (CIDRs)
        "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,::1/128";
    std::string allowed_origins;         // ARAGORA_ALLOWED_ORIGINS (exact origins, comma-separated)
    int ws_connections_per_minute = 60;  // ARAGORA_WS_CONNECTIONS_PER_MINUTE (per IP)
    int ws_messages_per_second = 20;     // ARAGORA_WS_MESSAGES_PER_SECOND (per connection)
    bool memory_profiling = false;       // ARAGORA_MEMORY_PROFILING
    std::string memory_dump_path =       // ARAGORA_MEMORY_DUMP_PATH (POST /api/debug/memory-dump)
        "/tmp/aragora_memory_dump.json";
};

// SLO targets (production runbook, "SLO Definitions"): exported as aragora_slo_target{slo}
// next to the in-process compliance (metrics/slo.hpp); the recording rules' burn rates
// divide by them. Fractions accept the runbook's percentages too (99.9 or 0.999).
struct SloSettings {
    double availability_target = 0.999;   // SLO_AVAILABILITY_TARGET, in (0, 1)
    double latency_p99_target_ms = 500;   // SLO_LATENCY_P99_TARGET_MS, > 0
    double debate_success_target = 0.95;  // SLO_DEBATE_SUCCESS_TARGET, in (0, 1)
};

// Error reporting (operational runbook, "Environment Variables"): SENTRY_DSN. The DSN is
// parsed and checked by the sentry module when serve starts (a bad one stops the start).
// Events carry ARAGORA_ENV as their environment and the build's version as release.
struct SentrySettings {
    std::string dsn;  // SENTRY_DSN; "" = off
};

// Encryption at rest and its key rotation (issue 23; docs: the production runbook's "Key
// Rotation"). Rotation env names are the original's KeyRotationConfig.from_env ones plus
// ARAGORA_KEY_ROTATION_* for the runbook's other parameters.
struct EncryptionSettings {
    std::string master_key_hex;  // ARAGORA_ENCRYPTION_KEY (64 hex); never logged
    // ARAGORA_ENCRYPTION_REQUIRED=true|1|yes, or ARAGORA_ENV production/prod/staging/stage:
    // `serve` refuses to start without a valid master key (fail closed).
    bool required = false;
    // ARAGORA_KEY_ROTATION_ENABLED (default: true in production/staging): the scheduler in
    // `serve` (needs the master key).
    bool rotation_enabled = false;
    int rotation_interval_days = 90;  // ARAGORA_KEY_ROTATION_INTERVAL_DAYS
    int overlap_days = 7;             // ARAGORA_KEY_ROTATION_OVERLAP_DAYS
    bool re_encrypt = true;           // ARAGORA_KEY_ROTATION_RE_ENCRYPT (runbook: true)
    int alert_days = 7;               // ARAGORA_KEY_ROTATION_ALERT_DAYS (notify_days_before)
    int check_interval_hours = 6;     // ARAGORA_KEY_ROTATION_CHECK_INTERVAL_HOURS
    int batch_size = 100;             // ARAGORA_KEY_ROTATION_BATCH_SIZE
    int timeout_seconds = 3600;       // ARAGORA_KEY_ROTATION_TIMEOUT_SECONDS
    int max_retries = 3;              // ARAGORA_KEY_ROTATION_MAX_RETRIES
};

struct Settings {
    std::string env = "development";  // ARAGORA_ENV
    bool production = false;
    common::LogSettings log;
    StorageSettings storage;
    ReceiptSettings receipts;
    BackupSettings backup;
    DebateSettings debate;
    AgentSettings agents;
    ServerSettings server;
    SecuritySettings security;
    DistributedSettings distributed;
    SloSettings slo;
    SentrySettings sentry;
    EncryptionSettings encryption;
};

// Reads and validates every setting. A bad value is an error naming the variable.
common::Result<Settings> LoadSettings(const EnvLookup& env, RunMode mode);

}  // namespace aragora::config
