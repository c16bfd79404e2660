#pragma once

// The documents of the system routes (API.md "Health and status"; the runbooks' samples)
// built from plain snapshots: GET /api/v1/health, GET /health (deep), GET /api/v1/status
// and the memory dump. No server, no I/O, no clock: system_info.cpp gathers the snapshot
// (probing the database and Redis where the route asks for it) and these functions only
// decide and encode, so every rule below is unit-tested on a hand-made snapshot.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace aragora::app {

// A dependency's state as the documents show it: "ok", "error", "not_configured",
// "starting" (the store is not open yet).
enum class CheckState { kOk, kError, kNotConfigured, kStarting };
std::string_view ToString(CheckState state);

struct DatabaseCheck {
    CheckState state = CheckState::kStarting;
    std::optional<double> latency_ms;  // of the probe that decided `state`, when one ran
    std::string backend;               // "sqlite" | "postgresql" (empty while starting)
    std::string error;                 // why, when kError
};

struct RedisCheck {
    CheckState state = CheckState::kNotConfigured;  // kNotConfigured without ARAGORA_REDIS_URL
    std::optional<double> latency_ms;               // of the probe, when one ran
    std::string url;                                // password redacted
    bool connected = false;
    bool multi_instance = false;
    std::optional<bool> subscriptions_ready;  // multi-instance only
    std::string error;                        // why, when kError
};

// What the server knows at one moment.
struct SystemSnapshot {
    std::string version;
    std::string timestamp;  // ISO 8601 UTC
    std::int64_t uptime_seconds = 0;
    std::optional<std::string> not_ready_reason;  // nullopt: /readyz answers 200
    bool draining = false;

    DatabaseCheck database;
    // False while storage writes fail (e.g. SQLite on a full disk) although the database
    // may still answer reads and pings. Fed by the storage write-health signal.
    bool storage_writable = true;
    RedisCheck redis;

    struct WebSocket {
        std::uint64_t connections = 0;
        int max_connections = 0;
        std::uint16_t port = 0;
    } websocket;
    struct Breakers {
        std::size_t open = 0;
        std::size_t half_open = 0;
        std::size_t closed = 0;
    } breakers;
    double memory_mb = 0;  // resident set, one decimal
    struct Debates {
        std::size_t running = 0;
        std::size_t queued = 0;
        std::size_t max_running = 0;
    } debates;

    bool auth_open = false;    // the open development mode
    std::string auth_warning;  // its warning (shown only when auth_open)
};

// The deep check's extra knowledge (GET /health).
struct DeepHealthFacts {
    std::vector<std::string> provider_keys;  // names of the provider key variables set
    struct Component {
        std::string name;
        bool healthy = true;
        int consecutive_failures = 0;
        std::string last_error;
    };
    std::vector<Component> components;  // the health registry (passive checkers)
};

// The database as the documents show it: kError also while storage writes fail (the
// database may still answer pings), with that reason as its error.
DatabaseCheck EffectiveDatabase(const SystemSnapshot& s);

// The status of /api/v1/health (API.md; unhealthy is 503):
//   "unhealthy" the store is open and the database is unreachable or writes fail;
//   "degraded"  otherwise while starting, draining, or Redis (when configured) is down;
//   "healthy"   otherwise.
std::string HealthStatusOf(const SystemSnapshot& s);

// GET /api/v1/health: {"status", "version", "uptime_seconds", "timestamp", "ready",
// "checks": {"database": {"status", "latency_ms", "backend", "writable", "error"?},
// "redis": {"status", "latency_ms", ...}, "websocket", "circuit_breakers", "memory_mb",
// "active_debates", "queued_debates"}, "auth": {"mode", "warning"?}, "warning"?}.
std::string HealthDocument(const SystemSnapshot& s);

// GET /health: {"overall": "ok" | "degraded" | "error", "checks": {"api_keys",
// "database", "redis", "knowledge_mound", "health_registry"}, "timestamp", "version"}.
// "error" when the database is in error (unreachable or writes failing); "degraded" with
// no provider key or Redis down. knowledge_mound is "not_configured": this build has no
// knowledge store, so it neither passes nor degrades anything.
std::string DeepHealthDocument(const SystemSnapshot& s, const DeepHealthFacts& facts);

// GET /api/v1/status: {"data": {"status", "message", "uptime_seconds", "timestamp",
// "version", "components_summary": {"database", "redis", "websocket", "storage_writes",
// "debates": {"running", "queued", "max_running"}}}}.
//   "down"        the database is unreachable or storage writes fail (no debate can be
//                 stored);
//   "degraded"    otherwise when not ready (startup, draining) or Redis is down;
//   "operational" otherwise.
// `message` is "all systems operational" or every reason found, joined by "; ".
// components_summary: database "ok" | "error" | "starting"; redis "ok" | "error" |
// "not_configured"; storage_writes "ok" | "failing".
std::string StatusDocument(const SystemSnapshot& s);

// What POST /api/debug/memory-dump reports.
struct MemorySnapshot {
    std::string timestamp;
    std::int64_t pid = 0;
    std::optional<std::uint64_t> rss_bytes;
    struct Allocator {  // mallinfo2
        std::uint64_t arena_bytes = 0, mmap_bytes = 0, in_use_bytes = 0, free_bytes = 0,
                      releasable_bytes = 0, mmap_regions = 0;
    } allocator;
    struct Subsystem {
        std::string name;
        std::uint64_t count = 0;
        std::uint64_t bytes_per_item = 0;  // an estimate: the subsystems count items
    };
    std::vector<Subsystem> subsystems;
};

// {"timestamp", "pid", "rss_bytes", "allocator", "top_allocations": [{"subsystem",
// "count", "bytes", "bytes_per_item_estimate"}] (largest first), "path"}.
std::string MemoryDumpDocument(const MemorySnapshot& m, std::string_view path);

}  // namespace aragora::app
