#include "app/system_docs.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "common/json_text.hpp"

namespace aragora::app {
namespace {

namespace json = boost::json;

json::value OptionalNumber(const std::optional<double>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

json::object DatabaseObject(const DatabaseCheck& db, bool writable) {
    json::object o;
    o["status"] = ToString(db.state);
    o["latency_ms"] = OptionalNumber(db.latency_ms);
    if (db.state == CheckState::kStarting) return o;
    o["backend"] = db.backend;
    o["writable"] = writable;
    if (db.state == CheckState::kError) o["error"] = db.error;
    return o;
}

json::object RedisObject(const RedisCheck& r) {
    if (r.state == CheckState::kNotConfigured) {
        return json::object{{"status", "not_configured"}, {"latency_ms", nullptr}};
    }
    json::object o;
    o["url"] = r.url;
    o["multi_instance"] = r.multi_instance;
    o["connected"] = r.connected;
    o["status"] = ToString(r.state);
    o["latency_ms"] = OptionalNumber(r.latency_ms);
    if (r.state == CheckState::kError) o["error"] = r.error;
    if (r.subscriptions_ready) o["subscriptions_ready"] = *r.subscriptions_ready;
    return o;
}

}  // namespace

std::string_view ToString(CheckState state) {
    switch (state) {
        case CheckState::kOk:
            return "ok";
        case CheckState::kError:
            return "error";
        case CheckState::kNotConfigured:
            return "not_configured";
        case CheckState::kStarting:
            return "starting";
    }
    return "error";
}

DatabaseCheck EffectiveDatabase(const SystemSnapshot& s) {
    DatabaseCheck db = s.database;
    if (db.state == CheckState::kOk && !s.storage_writable) {
        db.state = CheckState::kError;
        db.error = "storage writes are failing (the database answers reads)";
    }
    return db;
}

std::string HealthStatusOf(const SystemSnapshot& s) {
    const DatabaseCheck db = EffectiveDatabase(s);
    if (db.state == CheckState::kError) return "unhealthy";
    if (db.state == CheckState::kStarting || s.draining || s.redis.state == CheckState::kError)
        return "degraded";
    return "healthy";
}

std::string HealthDocument(const SystemSnapshot& s) {
    json::object checks;
    checks["database"] = DatabaseObject(EffectiveDatabase(s), s.storage_writable);
    checks["redis"] = RedisObject(s.redis);
    checks["websocket"] = json::object{{"status", "ok"},
                                       {"connections", s.websocket.connections},
                                       {"max_connections", s.websocket.max_connections},
                                       {"port", s.websocket.port}};
    checks["circuit_breakers"] = json::object{{"open", s.breakers.open},
                                              {"half_open", s.breakers.half_open},
                                              {"closed", s.breakers.closed}};
    checks["memory_mb"] = s.memory_mb;
    checks["active_debates"] = s.debates.running;
    checks["queued_debates"] = s.debates.queued;
    json::object o;
    o["status"] = HealthStatusOf(s);
    o["version"] = s.version;
    o["uptime_seconds"] = s.uptime_seconds;
    o["timestamp"] = s.timestamp;
    o["ready"] = !s.not_ready_reason.has_value();
    o["checks"] = std::move(checks);
    json::object auth{{"mode", s.auth_open ? "open" : "credentials"}};
    if (s.auth_open) auth["warning"] = s.auth_warning;
    o["auth"] = std::move(auth);
    if (s.auth_open) o["warning"] = s.auth_warning;
    return common::SerializeJson(o);
}

std::string DeepHealthDocument(const SystemSnapshot& s, const DeepHealthFacts& facts) {
    json::object checks;
    json::object keys;
    json::array names;
    for (const auto& c : facts.provider_keys) names.emplace_back(c);
    keys["configured"] = std::move(names);
    if (facts.provider_keys.empty()) {
        keys["status"] = "warning";
        keys["message"] = "no LLM provider key is set: only the built-in demo agents can debate";
    } else {
        keys["status"] = "ok";
    }
    checks["api_keys"] = std::move(keys);
    const DatabaseCheck db = EffectiveDatabase(s);
    checks["database"] = DatabaseObject(db, s.storage_writable);
    checks["redis"] = RedisObject(s.redis);
    checks["knowledge_mound"] = json::object{
        {"status", "not_configured"},
        {"message", "this build has no knowledge store: debates run without historical context"}};

    json::array components;
    for (const auto& c : facts.components) {
        components.push_back(json::object{{"name", c.name},
                                          {"healthy", c.healthy},
                                          {"consecutive_failures", c.consecutive_failures},
                                          {"last_error", c.last_error}});
    }
    checks["health_registry"] =
        json::object{{"status", "ok"}, {"components", std::move(components)}};

    std::string overall = "ok";
    if (facts.provider_keys.empty() || s.redis.state == CheckState::kError) overall = "degraded";
    if (db.state != CheckState::kOk) overall = "error";
    json::object o{{"overall", overall},
                   {"checks", std::move(checks)},
                   {"timestamp", s.timestamp},
                   {"version", s.version}};
    return common::SerializeJson(o);
}

std::string StatusDocument(const SystemSnapshot& s) {
    std::vector<std::string> down, degraded;
    if (s.database.state == CheckState::kError) down.push_back("database unavailable");
    if (s.database.state != CheckState::kStarting && !s.storage_writable)
        down.push_back("storage writes failing");
    if (s.not_ready_reason && *s.not_ready_reason != "database unavailable")
        degraded.push_back("not ready: " + *s.not_ready_reason);
    if (s.redis.state == CheckState::kError) degraded.push_back("redis unavailable");
    std::string status = "operational";
    if (!degraded.empty()) status = "degraded";
    if (!down.empty()) status = "down";
    std::string message;
    for (const auto* list : {&down, &degraded}) {
        for (const auto& reason : *list) message += (message.empty() ? "" : "; ") + reason;
    }
    if (message.empty()) message = "all systems operational";
    json::object summary{{"database", ToString(s.database.state)},
                         {"websocket", "ok"},
                         {"redis", ToString(s.redis.state)},
                         {"storage_writes", s.storage_writable ? "ok" : "failing"},
                         {"debates", json::object{{"running", s.debates.running},
                                                  {"queued", s.debates.queued},
                                                  {"max_running", s.debates.max_running}}}};
    json::object data{{"status", status},
                      {"message", message},
                      {"uptime_seconds", s.uptime_seconds},
                      {"timestamp", s.timestamp},
                      {"version", s.version},
                      {"components_summary", std::move(summary)}};
    return common::SerializeJson(json::object{{"data", std::move(data)}});
}

std::string MemoryDumpDocument(const MemorySnapshot& m, std::string_view path) {
    std::vector<json::object> top;
    for (const auto& sub : m.subsystems) {
        top.push_back(json::object{{"subsystem", sub.name},
                                   {"count", sub.count},
                                   {"bytes", sub.count * sub.bytes_per_item},
                                   {"bytes_per_item_estimate", sub.bytes_per_item}});
    }
    std::stable_sort(top.begin(), top.end(), [](const json::object& a, const json::object& b) {
        return a.at("bytes").to_number<std::uint64_t>() > b.at("bytes").to_number<std::uint64_t>();
    });
    json::array top_json;
    for (auto& t : top) top_json.push_back(std::move(t));
    const auto& a = m.allocator;
    json::object allocator{
        {"arena_bytes", a.arena_bytes},           {"mmap_bytes", a.mmap_bytes},
        {"in_use_bytes", a.in_use_bytes},         {"free_bytes", a.free_bytes},
        {"releasable_bytes", a.releasable_bytes}, {"mmap_regions", a.mmap_regions}};
    json::object o{{"timestamp", m.timestamp},
                   {"pid", m.pid},
                   {"rss_bytes", m.rss_bytes ? json::value(*m.rss_bytes) : json::value(nullptr)},
                   {"allocator", std::move(allocator)},
                   {"top_allocations", std::move(top_json)},
                   {"path", path}};
    return common::SerializeJson(o);
}

}  // namespace aragora::app
