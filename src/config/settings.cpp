#include "config/settings.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.hpp"
#include "common/time.hpp"

namespace aragora::config {
namespace {

using common::ErrorCode;
using common::Result;

Result<double> ReadDouble(const EnvLookup& env, std::string_view name, double def, double lo,
                          double hi) {
    auto v = env(name);
    if (!v || v->empty()) return def;
    try {
        std::size_t used = 0;
        double d = std::stod(*v, &used);
        if (used != v->size() || d < lo || d > hi) throw std::invalid_argument("range");
        return d;
    } catch (const std::exception&) {
        return common::MakeError(ErrorCode::kValidation,
                                 std::string(name) + " must be a number in [" + std::to_string(lo) +
                                     ", " + std::to_string(hi) + "], got '" + *v + "'",
                                 std::string(name));
    }
}

// An SLO target as a fraction in (0, 1): "0.999" or the runbook's percentage "99.9" (a
// value in [1, 100) is read as a percentage; "1" itself, 100 % of anything, is refused).
Result<double> ReadSloFraction(const EnvLookup& env, std::string_view name, double def) {
    auto v = env(name);
    if (!v || v->empty()) return def;
    try {
        std::size_t used = 0;
        double d = std::stod(*v, &used);
        if (used != v->size() || !std::isfinite(d)) throw std::invalid_argument("number");
        if (d > 1 && d < 100) d /= 100;
        if (!(d > 0 && d < 1)) throw std::invalid_argument("range");
        return d;
    } catch (const std::exception&) {
        return common::MakeError(ErrorCode::kValidation,
                                 std::string(name) +
                                     " must be a fraction in (0, 1) or a percentage in (1, 100) "
                                     "(0.999 or 99.9), got '" +
                                     *v + "'",
                                 std::string(name));
    }
}

Result<int> ReadInt(const EnvLookup& env, std::string_view name, int def, int lo, int hi) {
    auto v = env(name);
    if (!v || v->empty()) return def;
    try {
        std::size_t used = 0;
        long long n = std::stoll(*v, &used);
        if (used != v->size() || n < lo || n > hi) throw std::invalid_argument("range");
        return static_cast<int>(n);
    } catch (const std::exception&) {
        return common::MakeError(ErrorCode::kValidation,
                                 std::string(name) + " must be an integer in [" +
                                     std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                                     *v + "'",
                                 std::string(name));
    }
}

std::string ReadString(const EnvLookup& env, std::string_view name, std::string def = {}) {
    auto v = env(name);
    return v ? *v : def;
}

// Unset or empty: nullopt (the caller picks the default or a fallback variable).
Result<std::optional<bool>> ReadBool(const EnvLookup& env, std::string_view name) {
    auto v = env(name);
    if (!v || v->empty()) return std::optional<bool>();
    std::string s = common::ToLower(*v);
    if (s == "true" || s == "1" || s == "yes") return std::optional<bool>(true);
    if (s == "false" || s == "0" || s == "no") return std::optional<bool>(false);
    return common::MakeError(ErrorCode::kValidation,
                             std::string(name) + " must be true/false/1/0/yes/no, got '" + *v + "'",
                             std::string(name));
}

// Integer variables read into their fields (a field keeps its value when unset).
struct IntField {
    const char* name;
    int* field;
    int lo;
    int hi;
};

common::Status ReadInts(const EnvLookup& env, std::initializer_list<IntField> fields) {
    for (const IntField& i : fields) {
        auto v = ReadInt(env, i.name, *i.field, i.lo, i.hi);
        if (!v) return v.error();
        *i.field = *v;
    }
    return {};
}

common::Status LoadAgentSettings(const EnvLookup& env, AgentSettings& a) {
    if (auto s = ReadInts(
            env,
            {
                {"ARAGORA_AGENT_MAX_RETRIES", &a.max_retries, 0, 10},
                {"ARAGORA_AGENT_RETRY_BASE_MS", &a.retry_base_ms, 0, 600000},
                {"ARAGORA_AGENT_RETRY_CAP_MS", &a.retry_cap_ms, 0, 600000},
                {"ARAGORA_CIRCUIT_BREAKER_THRESHOLD", &a.breaker_failure_threshold, 1, 1000},
                {"ARAGORA_AGENT_MAX_TOKENS", &a.max_tokens, 1, 1000000},
                {"ARAGORA_AGENT_HEDGE_AFTER_MS", &a.hedge_after_ms, 0, 600000},
                {"ARAGORA_AGENT_HEDGE_MIN_MS", &a.hedge_min_ms, 1, 600000},
                {"ARAGORA_PROVIDER_CONNECTIONS", &a.provider_connections, 0, 10000000},
                {"ARAGORA_PROVIDER_CALL_QUEUE_MAX", &a.provider_call_queue_max, 0, 100000000},
            });
        !s) {
        return s;
    }
    auto cooldown = ReadDouble(env, "ARAGORA_CIRCUIT_BREAKER_COOLDOWN_SECONDS",
                               a.breaker_cooldown_seconds, 0.01, 86400);
    if (!cooldown) return cooldown.error();
    a.breaker_cooldown_seconds = *cooldown;
    auto stream = ReadBool(env, "ARAGORA_AGENT_STREAMING");
    if (!stream) return stream.error();
    if (*stream) a.stream = **stream;
    auto hedge = ReadBool(env, "ARAGORA_AGENT_HEDGE_ENABLED");
    if (!hedge) return hedge.error();
    if (*hedge) a.hedge_enabled = **hedge;
    a.https_proxy = ReadString(env, "HTTPS_PROXY", ReadString(env, "https_proxy"));
    a.no_proxy = ReadString(env, "NO_PROXY", ReadString(env, "no_proxy"));
    a.ca_file = ReadString(env, "ARAGORA_CA_BUNDLE");
    return {};
}

struct IntSetting {
    const char* name;
    int ServerSettings::*field;
    int lo;
    int hi;
};

// Bounds: ports are ports; counts start at 1 and stop where a typo (an extra zero or
// three) would exhaust memory or file descriptors rather than tune anything.
constexpr IntSetting kServerInts[] = {
    {"ARAGORA_API_PORT", &ServerSettings::api_port, 0, 65535},
    {"ARAGORA_WS_PORT", &ServerSettings::ws_port, 0, 65535},
    {"ARAGORA_METRICS_PORT", &ServerSettings::metrics_port, 0, 65535},
    {"ARAGORA_IO_THREADS", &ServerSettings::io_threads, 0, 256},
    {"ARAGORA_MAX_CONCURRENT_DEBATES", &ServerSettings::max_concurrent_debates, 1, 10000},
    {"ARAGORA_MAX_QUEUED_DEBATES", &ServerSettings::max_queued_debates, 1, 1000000},
    {"ARAGORA_EVENT_REPLAY_BUFFER_SIZE", &ServerSettings::event_replay_buffer_size, 1, 1000000},
    {"ARAGORA_EVENT_REPLAY_BUFFER_UNWATCHED", &ServerSettings::event_replay_buffer_unwatched, 0,
     1000000},
    {"ARAGORA_WS_MAX_CONNECTIONS", &ServerSettings::ws_max_connections, 1, 1000000},
    {"ARAGORA_WS_SEND_QUEUE_MAX", &ServerSettings::ws_send_queue_max, 1, 1000000},
    {"ARAGORA_WS_HEARTBEAT_SECONDS", &ServerSettings::ws_heartbeat_seconds, 1, 3600},
    {"ARAGORA_SHUTDOWN_GRACE_SECONDS", &ServerSettings::shutdown_grace_seconds, 0, 3600},
    {"ARAGORA_MAX_BODY_BYTES", &ServerSettings::max_body_bytes, 1, 1 << 30},
    {"ARAGORA_MAX_HEADER_BYTES", &ServerSettings::max_header_bytes, 1024, 1 << 20},
    {"ARAGORA_MAX_HEADER_COUNT", &ServerSettings::max_header_count, 1, 10000},
    {"ARAGORA_MAX_CONNECTIONS", &ServerSettings::max_connections, 1, 1000000},
    {"ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP", &ServerSettings::max_pending_connections_per_ip, 0,
     1000000},
    {"ARAGORA_HEADER_TIMEOUT_SECONDS", &ServerSettings::header_timeout_seconds, 1, 3600},
    {"ARAGORA_KEEP_ALIVE_SECONDS", &ServerSettings::keep_alive_seconds, 1, 86400},
    {"ARAGORA_READ_TIMEOUT_SECONDS", &ServerSettings::read_timeout_seconds, 1, 3600},
    {"ARAGORA_WRITE_TIMEOUT_SECONDS", &ServerSettings::write_timeout_seconds, 1, 3600},
};

common::Status LoadServerSettings(const EnvLookup& env, ServerSettings& s) {
    if (auto host = ReadString(env, "ARAGORA_HOST"); !host.empty()) s.host = host;
    for (const auto& setting : kServerInts) {
        auto v = ReadInt(env, setting.name, s.*setting.field, setting.lo, setting.hi);
        if (!v) return v.error();
        s.*setting.field = *v;
    }
    // The runbook's name is METRICS_ENABLED; the prefixed one wins when both are set.
    for (const char* name : {"ARAGORA_METRICS_ENABLED", "METRICS_ENABLED"}) {
        auto enabled = ReadBool(env, name);
        if (!enabled) return enabled.error();
        if (*enabled) {
            s.metrics_enabled = **enabled;
            break;
        }
    }
    s.log_dir = ReadString(env, "ARAGORA_LOG_DIR");
    s.api_token = ReadString(env, "ARAGORA_API_TOKEN");
    s.jwt_secret = ReadString(env, "ARAGORA_JWT_SECRET");
    s.console_dir = ReadString(env, "ARAGORA_CONSOLE_DIR");
    s.console_base_path = ReadString(env, "ARAGORA_CONSOLE_BASE_PATH");
    return {};
}

// ARAGORA_JWT_SECRET_ROTATED_AT: ISO 8601 (ours) or decimal unix seconds (the original's).
Result<std::optional<std::chrono::system_clock::time_point>> ReadRotatedAt(const EnvLookup& env) {
    constexpr std::string_view kName = "ARAGORA_JWT_SECRET_ROTATED_AT";
    std::string v = ReadString(env, kName);
    const auto first = v.find_first_not_of(" \t");
    if (first == std::string::npos) return std::optional<std::chrono::system_clock::time_point>();
    v = v.substr(first, v.find_last_not_of(" \t") - first + 1);
    // At most 11 digits: up to the year 5138, and no overflow below.
    if (v.size() <= 11 &&
        std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
        return std::optional(
            std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(v))));
    }
    if (auto at = common::ParseIso8601(v)) return std::optional(*at);
    return common::MakeError(ErrorCode::kValidation,
                             std::string(kName) +
                                 " must be an ISO 8601 time (e.g. 2026-12-01T09:00:00Z) or unix "
                                 "seconds, got '" +
                                 v + "'",
                             std::string(kName));
}

// ARAGORA_JWT_SECRET_GRACE_HOURS (ours) or ARAGORA_JWT_ROTATION_GRACE_HOURS (the original's).
Result<int> ReadGraceHours(const EnvLookup& env, int def) {
    constexpr int kMax = 24 * 365;
    auto ours = ReadInt(env, "ARAGORA_JWT_SECRET_GRACE_HOURS", def, 0, kMax);
    if (!ours) return ours.error();
    auto theirs = ReadInt(env, "ARAGORA_JWT_ROTATION_GRACE_HOURS", def, 0, kMax);
    if (!theirs) return theirs.error();
    const bool ours_set = !ReadString(env, "ARAGORA_JWT_SECRET_GRACE_HOURS").empty();
    const bool theirs_set = !ReadString(env, "ARAGORA_JWT_ROTATION_GRACE_HOURS").empty();
    if (ours_set && theirs_set && *ours != *theirs) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_JWT_SECRET_GRACE_HOURS (" + std::to_string(*ours) +
                                     ") and its alias ARAGORA_JWT_ROTATION_GRACE_HOURS (" +
                                     std::to_string(*theirs) + ") disagree: set one",
                                 "ARAGORA_JWT_SECRET_GRACE_HOURS");
    }
    return ours_set ? *ours : *theirs;
}

common::Status LoadSecuritySettings(const EnvLookup& env, SecuritySettings& s) {
    s.jwt_secret_previous = ReadString(env, "ARAGORA_JWT_SECRET_PREVIOUS");
    auto rotated_at = ReadRotatedAt(env);
    if (!rotated_at) return rotated_at.error();
    s.jwt_rotated_at = *rotated_at;
    auto grace = ReadGraceHours(env, s.jwt_grace_hours);
    if (!grace) return grace.error();
    s.jwt_grace_hours = *grace;
    s.jwt_issuer = ReadString(env, "ARAGORA_JWT_ISSUER");
    s.jwt_audience = ReadString(env, "ARAGORA_JWT_AUDIENCE");
    s.rate_limit_whitelist = ReadString(env, "ARAGORA_RATE_LIMIT_WHITELIST");
    if (auto v = ReadString(env, "ARAGORA_TRUSTED_PROXIES"); !v.empty()) s.trusted_proxies = v;
    s.allowed_origins = ReadString(env, "ARAGORA_ALLOWED_ORIGINS");
    struct Int {
        const char* name;
        int SecuritySettings::*field;
        int lo, hi;
    };
    constexpr Int kInts[] = {
        {"ARAGORA_ACCESS_TOKEN_TTL_SECONDS", &SecuritySettings::access_token_ttl_seconds, 60,
         86400 * 30},
        {"ARAGORA_REFRESH_TOKEN_TTL_DAYS", &SecuritySettings::refresh_token_ttl_days, 1, 3650},
        {"ARAGORA_RATE_LIMIT", &SecuritySettings::rate_limit, 1, 10000000},
        {"ARAGORA_RATE_LIMIT_DEBATE_RPM", &SecuritySettings::rate_limit_debate_rpm, 1, 10000000},
        {"ARAGORA_RATE_LIMIT_AUTH_RPM", &SecuritySettings::rate_limit_auth_rpm, 1, 10000000},
        {"ARAGORA_RATE_LIMIT_USER_RPM", &SecuritySettings::rate_limit_user_rpm, 0, 10000000},
        {"ARAGORA_WS_CONNECTIONS_PER_MINUTE", &SecuritySettings::ws_connections_per_minute, 1,
         10000000},
        {"ARAGORA_WS_MESSAGES_PER_SECOND", &SecuritySettings::ws_messages_per_second, 1, 1000000},
    };
    for (const auto& setting : kInts) {
        auto v = ReadInt(env, setting.name, s.*setting.field, setting.lo, setting.hi);
        if (!v) return v.error();
        s.*setting.field = *v;
    }
    struct Bool {
        const char* name;
        bool SecuritySettings::*field;
    };
    constexpr Bool kBools[] = {
        {"ARAGORA_ALLOW_UNAUTHENTICATED", &SecuritySettings::allow_unauthenticated},
        {"ARAGORA_RATE_LIMIT_DISABLED", &SecuritySettings::rate_limit_disabled},
        {"ARAGORA_MEMORY_PROFILING", &SecuritySettings::memory_profiling},
    };
    for (const auto& setting : kBools) {
        auto v = ReadBool(env, setting.name);
        if (!v) return v.error();
        if (*v) s.*setting.field = **v;
    }
    s.memory_dump_path = ReadString(env, "ARAGORA_MEMORY_DUMP_PATH", s.memory_dump_path);
    if (s.memory_dump_path.empty()) s.memory_dump_path = "/tmp/aragora_memory_dump.json";
    return {};
}

bool IsPostgresUrl(const std::string& url) {
    return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

common::Status LoadStorageSettings(const EnvLookup& env, StorageSettings& s) {
    s.data_dir = ReadString(env, "ARAGORA_DATA_DIR", "./data");
    if (s.data_dir.empty()) s.data_dir = "./data";
    s.sqlite_path = s.data_dir + "/aragora.sqlite3";
    const std::string db_url = ReadString(env, "DATABASE_URL");
    const std::string pg_dsn = ReadString(env, "ARAGORA_POSTGRES_DSN");
    if (db_url.rfind("sqlite:///", 0) == 0) {
        // sqlite:////abs/path and sqlite:///rel/path (SQLAlchemy's convention)
        s.sqlite_path = db_url.substr(std::string("sqlite:///").size());
        if (s.sqlite_path.empty())
            return common::MakeError(ErrorCode::kValidation, "DATABASE_URL sqlite path is empty",
                                     "DATABASE_URL");
    } else if (IsPostgresUrl(db_url)) {
        s.backend = DbBackend::kPostgres;
        s.postgres_dsn = db_url;
    } else if (!db_url.empty()) {
        return common::MakeError(ErrorCode::kValidation,
                                 "DATABASE_URL must start with postgresql://, postgres:// or "
                                 "sqlite:/// (got '" +
                                     db_url.substr(0, db_url.find(':')) + ":...')",
                                 "DATABASE_URL");
    }
    if (s.backend == DbBackend::kSqlite && !pg_dsn.empty() && db_url.empty()) {
        if (!IsPostgresUrl(pg_dsn) && pg_dsn.find('=') == std::string::npos) {
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_POSTGRES_DSN must be a postgresql:// URL or a "
                                     "libpq key=value string",
                                     "ARAGORA_POSTGRES_DSN");
        }
        s.backend = DbBackend::kPostgres;
        s.postgres_dsn = pg_dsn;
    }
    s.postgres_password = ReadString(env, "POSTGRES_PASSWORD");
    const std::string backend = common::ToLower(ReadString(env, "ARAGORA_DB_BACKEND"));
    if (backend == "postgresql" || backend == "postgres") {
        s.require_postgres = true;
        if (s.backend != DbBackend::kPostgres) {
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_DB_BACKEND=postgresql needs DATABASE_URL="
                                     "postgresql://... or ARAGORA_POSTGRES_DSN (no SQLite "
                                     "fallback)",
                                     "ARAGORA_DB_BACKEND");
        }
    } else if (backend == "sqlite") {
        if (s.backend != DbBackend::kSqlite) {
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_DB_BACKEND=sqlite contradicts a PostgreSQL "
                                     "DATABASE_URL/ARAGORA_POSTGRES_DSN",
                                     "ARAGORA_DB_BACKEND");
        }
    } else if (!backend.empty()) {
        return common::MakeError(
            ErrorCode::kValidation,
            "ARAGORA_DB_BACKEND must be postgresql or sqlite, got '" + backend + "'",
            "ARAGORA_DB_BACKEND");
    }
    struct Int {
        const char* name;
        int StorageSettings::*field;
        int lo, hi;
    };
    constexpr Int kInts[] = {
        {"ARAGORA_DB_POOL_SIZE", &StorageSettings::pool_size, 1, 1000},
        {"ARAGORA_DB_MAX_OVERFLOW", &StorageSettings::pool_overflow, 0, 1000},
        // the first runbook's name; ARAGORA_DB_POOL_OVERFLOW wins when both are set
        {"ARAGORA_DB_POOL_OVERFLOW", &StorageSettings::pool_overflow, 0, 1000},
        {"ARAGORA_DB_COMMAND_TIMEOUT", &StorageSettings::command_timeout_seconds, 1, 86400},
        {"ARAGORA_DB_POOL_RECYCLE", &StorageSettings::pool_recycle_seconds, 1, 86400 * 7},
    };
    for (const auto& setting : kInts) {
        auto v = ReadInt(env, setting.name, s.*setting.field, setting.lo, setting.hi);
        if (!v) return v.error();
        s.*setting.field = *v;
    }
    s.supabase_without_dsn =
        s.backend == DbBackend::kSqlite &&
        (!ReadString(env, "SUPABASE_URL").empty() || !ReadString(env, "SUPABASE_KEY").empty());
    auto encrypt = ReadBool(env, "ARAGORA_ENCRYPT_DEBATE_CONTENT");
    if (!encrypt) return encrypt.error();
    s.encrypt_debate_content = encrypt->value_or(false);
    return {};
}

common::Status LoadDistributedSettings(const EnvLookup& env, DistributedSettings& d) {
    d.redis_url = ReadString(env, "ARAGORA_REDIS_URL");
    if (!d.redis_url.empty() && d.redis_url.rfind("redis://", 0) != 0 &&
        d.redis_url.rfind("rediss://", 0) != 0) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_REDIS_URL must start with redis:// or rediss://",
                                 "ARAGORA_REDIS_URL");
    }
    d.redis_password = ReadString(env, "REDIS_PASSWORD");
    struct Bool {
        const char* name;
        bool DistributedSettings::*field;
    };
    constexpr Bool kBools[] = {
        {"ARAGORA_ENABLE_REDIS_RATE_LIMIT", &DistributedSettings::redis_rate_limit},
        {"ARAGORA_MULTI_INSTANCE", &DistributedSettings::multi_instance},
        {"ARAGORA_REQUIRE_DISTRIBUTED", &DistributedSettings::require_distributed},
    };
    for (const auto& setting : kBools) {
        auto v = ReadBool(env, setting.name);
        if (!v) return v.error();
        if (*v) d.*setting.field = **v;
    }
    auto workers = ReadInt(env, "WORKER_CONCURRENCY", d.worker_concurrency, 1, 1000);
    if (!workers) return workers.error();
    d.worker_concurrency = *workers;
    auto lease = ReadInt(env, "ARAGORA_WORKER_LEASE_SECONDS", d.lease_seconds, 1, 3600);
    if (!lease) return lease.error();
    d.lease_seconds = *lease;
    const std::string execution =
        common::ToLower(ReadString(env, "ARAGORA_DEBATE_EXECUTION", "local"));
    if (execution == "worker") {
        d.enqueue_only = true;
    } else if (execution != "local" && !execution.empty()) {
        return common::MakeError(
            ErrorCode::kValidation,
            "ARAGORA_DEBATE_EXECUTION must be local or worker, got '" + execution + "'",
            "ARAGORA_DEBATE_EXECUTION");
    }
    if (d.redis_url.empty()) {
        for (const auto& [on, name] :
             {std::pair{d.redis_rate_limit, "ARAGORA_ENABLE_REDIS_RATE_LIMIT"},
              std::pair{d.multi_instance, "ARAGORA_MULTI_INSTANCE"}}) {
            if (on) {
                return common::MakeError(ErrorCode::kValidation,
                                         std::string(name) + " needs ARAGORA_REDIS_URL",
                                         std::string(name));
            }
        }
    }
    return {};
}

// "HH:MM" (24 h) ⇒ minute of the day.
std::optional<int> ParseHourMinute(std::string_view v) {
    if (v.size() != 5 || v[2] != ':') return std::nullopt;
    for (std::size_t i : {0u, 1u, 3u, 4u}) {
        if (v[i] < '0' || v[i] > '9') return std::nullopt;
    }
    const int h = (v[0] - '0') * 10 + (v[1] - '0');
    const int m = (v[3] - '0') * 10 + (v[4] - '0');
    if (h > 23 || m > 59) return std::nullopt;
    return h * 60 + m;
}

common::Status LoadBackupSettings(const EnvLookup& env, const StorageSettings& storage,
                                  BackupSettings& b) {
    auto enabled = ReadBool(env, "BACKUP_ENABLED");
    if (!enabled) return enabled.error();
    b.enabled = enabled->value_or(false);
    b.dir = ReadString(env, "BACKUP_DIR");
    if (b.dir.empty()) b.dir = storage.data_dir + "/backups";
    if (auto t = ReadString(env, "BACKUP_DAILY_TIME"); !t.empty()) {
        auto minute = ParseHourMinute(t);
        if (!minute) {
            return common::MakeError(
                ErrorCode::kValidation,
                "BACKUP_DAILY_TIME must be HH:MM (UTC, 00:00..23:59), got '" + t + "'",
                "BACKUP_DAILY_TIME");
        }
        b.daily_minute_of_day = *minute;
    }
    auto interval = ReadInt(env, "BACKUP_INTERVAL", 0, 60, 366 * 86400);
    if (!interval) return interval.error();
    b.interval_seconds = *interval;
    const auto retention_days = env("BACKUP_RETENTION_DAYS").value_or("");
    const auto keep_daily = env("ARAGORA_BACKUP_KEEP_DAILY").value_or("");
    if (!retention_days.empty() && !keep_daily.empty() && retention_days != keep_daily) {
        return common::MakeError(ErrorCode::kValidation,
                                 "BACKUP_RETENTION_DAYS and ARAGORA_BACKUP_KEEP_DAILY are both set "
                                 "and differ; set one",
                                 "BACKUP_RETENTION_DAYS");
    }
    if (auto s = ReadInts(env,
                          {
                              {"BACKUP_RETENTION_DAYS", &b.keep_daily, 0, 3660},
                              {"ARAGORA_BACKUP_KEEP_DAILY", &b.keep_daily, 0, 3660},
                              {"ARAGORA_BACKUP_KEEP_WEEKLY", &b.keep_weekly, 0, 520},
                              {"ARAGORA_BACKUP_KEEP_MONTHLY", &b.keep_monthly, 0, 1200},
                              {"ARAGORA_BACKUP_MIN_BACKUPS", &b.min_backups, 1, 10000},
                              {"BACKUP_DR_DRILL_INTERVAL_DAYS", &b.dr_drill_interval_days, 1, 3660},
                          });
        !s) {
        return s;
    }
    auto drill = ReadBool(env, "BACKUP_DR_DRILL_ENABLED");
    if (!drill) return drill.error();
    b.dr_drill_enabled = drill->value_or(true);
    b.encryption_key_hex = ReadString(env, "ARAGORA_BACKUP_ENCRYPTION_KEY");
    if (!b.encryption_key_hex.empty()) {
        const bool hex = b.encryption_key_hex.size() == 64 &&
                         std::all_of(b.encryption_key_hex.begin(), b.encryption_key_hex.end(),
                                     [](unsigned char c) { return std::isxdigit(c) != 0; });
        if (!hex) {
            // The value itself is a secret: never echoed.
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_BACKUP_ENCRYPTION_KEY must be 64 hex characters (32 "
                                     "bytes); generate one with `openssl rand -hex 32`",
                                     "ARAGORA_BACKUP_ENCRYPTION_KEY");
        }
    }
    b.restore_dir = ReadString(env, "ARAGORA_RESTORE_DIR");
    if (b.restore_dir.empty()) {
        const char* tmp = std::getenv("TMPDIR");
        b.restore_dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/aragora_restore";
    }
    b.s3_bucket = ReadString(env, "ARAGORA_BACKUP_S3_BUCKET");
    b.s3_region = ReadString(env, "ARAGORA_BACKUP_S3_REGION");
    if (b.s3_region.empty()) b.s3_region = ReadString(env, "AWS_REGION");
    if (b.s3_region.empty()) b.s3_region = ReadString(env, "AWS_DEFAULT_REGION");
    if (b.s3_region.empty()) b.s3_region = "us-east-1";
    b.s3_endpoint = ReadString(env, "ARAGORA_BACKUP_S3_ENDPOINT");
    if (b.s3_endpoint.empty()) b.s3_endpoint = "https://s3." + b.s3_region + ".amazonaws.com";
    b.s3_prefix = ReadString(env, "ARAGORA_BACKUP_S3_PREFIX", "aragora/backups/");
    return {};
}

common::Status LoadEncryptionSettings(const EnvLookup& env, const std::string& environment,
                                      EncryptionSettings& e) {
    e.master_key_hex = ReadString(env, "ARAGORA_ENCRYPTION_KEY");
    const bool production_like = environment == "production" || environment == "prod" ||
                                 environment == "staging" || environment == "stage";
    auto required = ReadBool(env, "ARAGORA_ENCRYPTION_REQUIRED");
    if (!required) return required.error();
    e.required = required->value_or(false) || production_like;
    auto enabled = ReadBool(env, "ARAGORA_KEY_ROTATION_ENABLED");
    if (!enabled) return enabled.error();
    e.rotation_enabled = enabled->value_or(production_like);
    auto re_encrypt = ReadBool(env, "ARAGORA_KEY_ROTATION_RE_ENCRYPT");
    if (!re_encrypt) return re_encrypt.error();
    e.re_encrypt = re_encrypt->value_or(true);
    return ReadInts(env,
                    {{"ARAGORA_KEY_ROTATION_INTERVAL_DAYS", &e.rotation_interval_days, 1, 3650},
                     {"ARAGORA_KEY_ROTATION_OVERLAP_DAYS", &e.overlap_days, 0, 365},
                     {"ARAGORA_KEY_ROTATION_ALERT_DAYS", &e.alert_days, 0, 365},
                     {"ARAGORA_KEY_ROTATION_CHECK_INTERVAL_HOURS", &e.check_interval_hours, 1, 720},
                     {"ARAGORA_KEY_ROTATION_BATCH_SIZE", &e.batch_size, 1, 10000},
                     {"ARAGORA_KEY_ROTATION_TIMEOUT_SECONDS", &e.timeout_seconds, 1, 86400},
                     {"ARAGORA_KEY_ROTATION_MAX_RETRIES", &e.max_retries, 0, 100}});
}

}  // namespace

EnvLookup ProcessEnv() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

Result<Settings> LoadSettings(const EnvLookup& env, RunMode mode) {
    Settings s;
    s.env = ReadString(env, "ARAGORA_ENV", mode == RunMode::kServer ? "production" : "development");
    s.production = s.env == "production" || s.env == "prod";

    s.log.level = ReadString(env, "ARAGORA_LOG_LEVEL", "INFO");
    if (s.log.level.empty()) s.log.level = "INFO";
    if (!common::IsKnownLogLevel(s.log.level)) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or "
                                 "CRITICAL, got '" +
                                     s.log.level + "'",
                                 "ARAGORA_LOG_LEVEL");
    }
    std::string fmt =
        ReadString(env, "ARAGORA_LOG_FORMAT", mode == RunMode::kServer ? "json" : "text");
    if (fmt == "json") {
        s.log.format = common::LogFormat::kJson;
    } else if (fmt == "text") {
        s.log.format = common::LogFormat::kText;
    } else {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_LOG_FORMAT must be 'json' or 'text', got '" + fmt + "'",
                                 "ARAGORA_LOG_FORMAT");
    }

    if (auto storage = LoadStorageSettings(env, s.storage); !storage) return storage.error();
    if (auto dist = LoadDistributedSettings(env, s.distributed); !dist) return dist.error();

    s.receipts.signing_key = ReadString(env, "ARAGORA_RECEIPT_SIGNING_KEY");
    s.receipts.signing_key_previous = ReadString(env, "ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS");
    s.receipts.signing_keys_retired = ReadString(env, "ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED");
    s.receipts.ed25519_key_file = ReadString(env, "ARAGORA_RECEIPT_ED25519_KEY_FILE");
    auto retention = ReadInt(env, "ARAGORA_RECEIPT_RETENTION_DAYS", 2555, 1, 100000);
    if (!retention) return retention.error();
    s.receipts.retention_days = *retention;
    auto cleanup_hours = ReadInt(env, "ARAGORA_RECEIPT_CLEANUP_INTERVAL_HOURS", 24, 1, 8760);
    if (!cleanup_hours) return cleanup_hours.error();
    s.receipts.cleanup_interval_hours = *cleanup_hours;
    auto first_delay = ReadInt(env, "ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS", 60, 0, 86400);
    if (!first_delay) return first_delay.error();
    s.receipts.cleanup_first_delay_seconds = *first_delay;
    if (auto backup = LoadBackupSettings(env, s.storage, s.backup); !backup) return backup.error();

    auto threshold = ReadDouble(env, "ARAGORA_CONSENSUS_THRESHOLD", 0.6, 0.0, 1.0);
    if (!threshold) return threshold.error();
    s.debate.consensus_threshold = *threshold;
    auto conv = ReadDouble(env, "ARAGORA_CONVERGENCE_THRESHOLD", 0.85, 0.0, 1.0);
    if (!conv) return conv.error();
    s.debate.convergence_threshold = *conv;
    auto agent_timeout = ReadDouble(env, "ARAGORA_AGENT_TIMEOUT_SECONDS", 60, 0.05, 3600);
    if (!agent_timeout) return agent_timeout.error();
    s.debate.agent_timeout_seconds = *agent_timeout;
    auto parallel = ReadInt(env, "ARAGORA_MAX_PARALLEL_AGENT_CALLS", 8, 1, 256);
    if (!parallel) return parallel.error();
    s.debate.max_parallel_calls = *parallel;
    auto phase_retries = ReadInt(env, "ARAGORA_PHASE_RETRIES", 3, 0, 20);
    if (!phase_retries) return phase_retries.error();
    s.debate.phase_retries = *phase_retries;
    auto phase_base = ReadInt(env, "ARAGORA_PHASE_RETRY_BASE_MS", 3000, 0, 600000);
    if (!phase_base) return phase_base.error();
    s.debate.phase_retry_base_ms = *phase_base;
    auto phase_cap = ReadInt(env, "ARAGORA_PHASE_RETRY_CAP_MS", 30000, 0, 600000);
    if (!phase_cap) return phase_cap.error();
    s.debate.phase_retry_cap_ms = *phase_cap;
    auto phase_budget = ReadInt(env, "ARAGORA_PHASE_RETRY_BUDGET_MS", 120000, 0, 3600000);
    if (!phase_budget) return phase_budget.error();
    s.debate.phase_retry_budget_ms = *phase_budget;
    auto debate_timeout = ReadInt(env, "ARAGORA_DEBATE_TIMEOUT_SECONDS", 900, 1, 86400);
    if (!debate_timeout) return debate_timeout.error();
    s.debate.debate_timeout_seconds = *debate_timeout;
    auto too_long = ReadInt(env, "ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS", 600, 1, 86400);
    if (!too_long) return too_long.error();
    s.debate.running_too_long_seconds = *too_long;
    auto slo_availability = ReadSloFraction(env, "SLO_AVAILABILITY_TARGET", 0.999);
    if (!slo_availability) return slo_availability.error();
    s.slo.availability_target = *slo_availability;
    auto slo_success = ReadSloFraction(env, "SLO_DEBATE_SUCCESS_TARGET", 0.95);
    if (!slo_success) return slo_success.error();
    s.slo.debate_success_target = *slo_success;
    auto slo_latency = ReadDouble(env, "SLO_LATENCY_P99_TARGET_MS", 500, 0.001, 3600000);
    if (!slo_latency) return slo_latency.error();
    s.slo.latency_p99_target_ms = *slo_latency;
    s.sentry.dsn = ReadString(env, "SENTRY_DSN");
    auto latency =
        ReadInt(env, "ARAGORA_DEMO_LATENCY_MS", mode == RunMode::kServer ? 200 : 0, 0, 60000);
    if (!latency) return latency.error();
    s.debate.demo_latency_ms = *latency;

    if (auto agents = LoadAgentSettings(env, s.agents); !agents) return agents.error();
    if (auto server = LoadServerSettings(env, s.server); !server) return server.error();
    if (auto sec = LoadSecuritySettings(env, s.security); !sec) return sec.error();
    if (auto enc = LoadEncryptionSettings(env, s.env, s.encryption); !enc) return enc.error();
    // ARAGORA_USE_SECRETS_MANAGER=true: the secret's variables are already in the
    // environment (app::SecretsSource, loaded by the CLI before any command reads its
    // settings); only the spelling is checked here.
    auto secrets_manager = ReadBool(env, "ARAGORA_USE_SECRETS_MANAGER");
    if (!secrets_manager) return secrets_manager.error();
    // Only the server writes log files: a CLI command run by another user with the
    // service's environment must not fail on (or write into) /var/log/aragora.
    if (mode == RunMode::kServer) s.log.log_dir = s.server.log_dir;

    if (s.production && mode == RunMode::kServer) {
        std::vector<std::string> missing;
        if (s.receipts.signing_key.empty()) missing.emplace_back("ARAGORA_RECEIPT_SIGNING_KEY");
        if (s.server.jwt_secret.empty()) missing.emplace_back("ARAGORA_JWT_SECRET");
        if (missing.empty() && s.server.jwt_secret.size() < 32) {
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_JWT_SECRET must be at least 32 bytes in production "
                                     "(got " +
                                         std::to_string(s.server.jwt_secret.size()) +
                                         "); generate one with `openssl rand -base64 32`",
                                     "ARAGORA_JWT_SECRET");
        }
        if (!missing.empty()) {
            std::string names = missing[0];
            if (missing.size() == 2) names += " and " + missing[1];
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_ENV=" + s.env + " requires " + names + "; set " +
                                         (missing.size() == 1 ? "it" : "them") +
                                         ", or run `make serve` / ARAGORA_ENV=development for a "
                                         "local trial",
                                     missing[0]);
        }
    } else if (s.production && s.receipts.signing_key.empty()) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_ENV=" + s.env +
                                     " requires ARAGORA_RECEIPT_SIGNING_KEY (set it, or run with "
                                     "ARAGORA_ENV=development for a local trial)",
                                 "ARAGORA_RECEIPT_SIGNING_KEY");
    }
    return s;
}

}  // namespace aragora::config
