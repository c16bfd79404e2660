// The system documents from hand-made snapshots: /api/v1/status says what the health
// checker knows (database from the DB watcher, Redis from the client), /api/v1/health
// and /health agree with it, knowledge_mound is not_configured, and the memory dump
// lists the largest subsystem first.

#include "app/system_docs.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace aragora::app {
namespace {

namespace json = boost::json;

// Ready, SQLite reachable and writable, no Redis configured.
SystemSnapshot Healthy() {
    SystemSnapshot s;
    s.version = "1.2.3";
    s.timestamp = "2026-12-01T09:00:00.000Z";
    s.uptime_seconds = 42;
    s.database.state = CheckState::kOk;
    s.database.backend = "sqlite";
    s.database.latency_ms = 0.5;
    s.websocket = {3, 1000, 8765};
    s.breakers = {0, 1, 4};
    s.memory_mb = 12.5;
    s.debates = {2, 1, 10};
    return s;
}

RedisCheck Redis(CheckState state) {
    RedisCheck r;
    r.state = state;
    r.url = "redis://:***@127.0.0.1:6379/0";
    r.connected = state == CheckState::kOk;
    if (state == CheckState::kError) r.error = "connection refused";
    return r;
}

json::object Parse(const std::string& text) { return json::parse(text).as_object(); }

json::object StatusData(const SystemSnapshot& s) {
    return Parse(StatusDocument(s)).at("data").as_object();
}

std::string Summary(const SystemSnapshot& s, const char* key) {
    return std::string(StatusData(s).at("components_summary").as_object().at(key).as_string());
}

TEST(StatusDocument, OperationalWhenEverythingConfiguredIsOk) {
    auto d = StatusData(Healthy());
    EXPECT_EQ(d.at("status"), "operational");
    EXPECT_EQ(d.at("message"), "all systems operational");
    EXPECT_EQ(d.at("uptime_seconds"), 42);
    EXPECT_EQ(d.at("timestamp"), "2026-12-01T09:00:00.000Z");
    EXPECT_EQ(d.at("version"), "1.2.3");
    const auto& c = d.at("components_summary").as_object();
    EXPECT_EQ(c.at("database"), "ok");
    EXPECT_EQ(c.at("redis"), "not_configured");
    EXPECT_EQ(c.at("websocket"), "ok");
    EXPECT_EQ(c.at("storage_writes"), "ok");
    EXPECT_EQ(c.at("debates").as_object().at("running"), 2);
    EXPECT_EQ(c.at("debates").as_object().at("queued"), 1);
    EXPECT_EQ(c.at("debates").as_object().at("max_running"), 10);
}

TEST(StatusDocument, RedisIsReportedAsTheClientSeesIt) {
    auto s = Healthy();
    s.redis = Redis(CheckState::kOk);
    EXPECT_EQ(Summary(s, "redis"), "ok");
    EXPECT_EQ(StatusData(s).at("status"), "operational");

    s.redis = Redis(CheckState::kError);
    EXPECT_EQ(Summary(s, "redis"), "error");
    auto d = StatusData(s);
    EXPECT_EQ(d.at("status"), "degraded");
    EXPECT_EQ(d.at("message"), "redis unavailable");
}

TEST(StatusDocument, AnUnreachableDatabaseIsDownNotOk) {
    auto s = Healthy();
    s.database.state = CheckState::kError;
    s.database.error = "connection refused";
    s.not_ready_reason = "database unavailable";
    auto d = StatusData(s);
    EXPECT_EQ(d.at("status"), "down");
    EXPECT_EQ(d.at("message"), "database unavailable");  // once, not also as "not ready"
    EXPECT_EQ(Summary(s, "database"), "error");

    s.redis = Redis(CheckState::kError);
    d = StatusData(s);
    EXPECT_EQ(d.at("status"), "down");
    EXPECT_EQ(d.at("message"), "database unavailable; redis unavailable");
    EXPECT_EQ(Summary(s, "redis"), "error");
}

TEST(StatusDocument, FailingStorageWritesAreDown) {
    auto s = Healthy();
    s.storage_writable = false;
    auto d = StatusData(s);
    EXPECT_EQ(d.at("status"), "down");
    EXPECT_EQ(d.at("message"), "storage writes failing");
    EXPECT_EQ(Summary(s, "storage_writes"), "failing");
}

TEST(StatusDocument, NotReadyIsDegradedWithItsReasonAndTheBranchesDiffer) {
    auto s = Healthy();
    s.database = {};  // starting: no store yet
    s.not_ready_reason = "startup in progress";
    auto d = StatusData(s);
    EXPECT_EQ(d.at("status"), "degraded");
    EXPECT_EQ(d.at("message"), "not ready: startup in progress");
    EXPECT_EQ(Summary(s, "database"), "starting");

    s = Healthy();
    s.draining = true;
    s.not_ready_reason = "draining";
    EXPECT_EQ(StatusData(s).at("status"), "degraded");
    EXPECT_EQ(StatusData(s).at("message"), "not ready: draining");
    // Ready and fine is not degraded (both branches of the old choice said degraded).
    EXPECT_EQ(StatusData(Healthy()).at("status"), "operational");
}

TEST(HealthDocument, ShapeOfTheRunbookSample) {
    auto s = Healthy();
    s.redis = Redis(CheckState::kOk);
    s.redis.latency_ms = 0.25;
    auto o = Parse(HealthDocument(s));
    EXPECT_EQ(o.at("status"), "healthy");
    EXPECT_EQ(o.at("version"), "1.2.3");
    EXPECT_EQ(o.at("uptime_seconds"), 42);
    EXPECT_EQ(o.at("ready"), true);
    const auto& c = o.at("checks").as_object();
    EXPECT_EQ(c.at("database").as_object().at("status"), "ok");
    EXPECT_EQ(c.at("database").as_object().at("latency_ms"), 0.5);
    EXPECT_EQ(c.at("database").as_object().at("writable"), true);
    EXPECT_EQ(c.at("redis").as_object().at("status"), "ok");
    EXPECT_EQ(c.at("redis").as_object().at("latency_ms"), 0.25);
    EXPECT_EQ(c.at("websocket").as_object().at("connections"), 3);
    EXPECT_EQ(c.at("circuit_breakers").as_object().at("half_open"), 1);
    EXPECT_EQ(c.at("memory_mb"), 12.5);
    EXPECT_EQ(c.at("active_debates"), 2);
    EXPECT_EQ(o.at("auth").as_object().at("mode"), "credentials");
    EXPECT_FALSE(o.contains("warning"));
}

TEST(HealthDocument, StatusFollowsTheDependencies) {
    auto s = Healthy();
    EXPECT_EQ(HealthStatusOf(s), "healthy");

    s.redis = Redis(CheckState::kError);
    EXPECT_EQ(HealthStatusOf(s), "degraded");
    auto redis = Parse(HealthDocument(s)).at("checks").as_object().at("redis").as_object();
    EXPECT_EQ(redis.at("status"), "error");
    EXPECT_EQ(redis.at("error"), "connection refused");
    EXPECT_TRUE(redis.at("latency_ms").is_null());

    s = Healthy();
    s.database.state = CheckState::kError;
    s.database.error = "no connection to the server";
    EXPECT_EQ(HealthStatusOf(s), "unhealthy");
    // Draining does not hide a failed database (it used to turn unhealthy into degraded).
    s.draining = true;
    EXPECT_EQ(HealthStatusOf(s), "unhealthy");

    s = Healthy();
    s.draining = true;
    EXPECT_EQ(HealthStatusOf(s), "degraded");

    s = Healthy();
    s.database = {};
    EXPECT_EQ(HealthStatusOf(s), "degraded");
    auto db = Parse(HealthDocument(s)).at("checks").as_object().at("database").as_object();
    EXPECT_EQ(db.at("status"), "starting");
}

TEST(HealthDocument, FailingWritesMakeTheDatabaseCheckAnError) {
    auto s = Healthy();
    s.storage_writable = false;
    EXPECT_EQ(HealthStatusOf(s), "unhealthy");
    auto db = Parse(HealthDocument(s)).at("checks").as_object().at("database").as_object();
    EXPECT_EQ(db.at("status"), "error");  // the runbook's script checks exactly this
    EXPECT_EQ(db.at("writable"), false);
    EXPECT_NE(std::string(db.at("error").as_string()).find("writes"), std::string::npos);
}

TEST(HealthDocument, OpenModeCarriesItsWarning) {
    auto s = Healthy();
    s.auth_open = true;
    s.auth_warning = "open development mode";
    auto o = Parse(HealthDocument(s));
    EXPECT_EQ(o.at("auth").as_object().at("mode"), "open");
    EXPECT_EQ(o.at("auth").as_object().at("warning"), "open development mode");
    EXPECT_EQ(o.at("warning"), "open development mode");
}

TEST(DeepHealthDocument, KnowledgeMoundIsNotConfiguredAndDegradesNothing) {
    DeepHealthFacts facts;
    facts.provider_keys = {"ANTHROPIC_API_KEY"};
    facts.components = {{"database", true, 0, ""}};
    auto o = Parse(DeepHealthDocument(Healthy(), facts));
    EXPECT_EQ(o.at("overall"), "ok");
    const auto& c = o.at("checks").as_object();
    EXPECT_EQ(c.at("knowledge_mound").as_object().at("status"), "not_configured");
    EXPECT_EQ(c.at("api_keys").as_object().at("status"), "ok");
    EXPECT_EQ(c.at("health_registry").as_object().at("components").as_array().size(), 1u);
}

TEST(DeepHealthDocument, OverallFollowsKeysRedisAndTheDatabase) {
    DeepHealthFacts facts;
    auto s = Healthy();
    EXPECT_EQ(Parse(DeepHealthDocument(s, facts)).at("overall"), "degraded");  // no key
    facts.provider_keys = {"OPENAI_API_KEY"};
    s.redis = Redis(CheckState::kError);
    EXPECT_EQ(Parse(DeepHealthDocument(s, facts)).at("overall"), "degraded");
    s.database.state = CheckState::kError;
    EXPECT_EQ(Parse(DeepHealthDocument(s, facts)).at("overall"), "error");
    s = Healthy();
    s.storage_writable = false;
    EXPECT_EQ(Parse(DeepHealthDocument(s, facts)).at("overall"), "error");
}

TEST(MemoryDumpDocument, LargestSubsystemFirstWithThePath) {
    MemorySnapshot m;
    m.timestamp = "2026-12-01T09:00:00.000Z";
    m.pid = 77;
    m.rss_bytes = 1 << 20;
    m.subsystems = {{"small", 1, 256}, {"big", 10, 1024}, {"none", 0, 64 * 1024}};
    auto o = Parse(MemoryDumpDocument(m, "/tmp/x.json"));
    EXPECT_EQ(o.at("pid"), 77);
    EXPECT_EQ(o.at("path"), "/tmp/x.json");
    EXPECT_EQ(o.at("rss_bytes"), 1 << 20);
    const auto& top = o.at("top_allocations").as_array();
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].as_object().at("subsystem"), "big");
    EXPECT_EQ(top[0].as_object().at("bytes"), 10 * 1024);
    EXPECT_EQ(top[1].as_object().at("subsystem"), "small");
    EXPECT_TRUE(o.at("allocator").is_object());
}

}  // namespace
}  // namespace aragora::app
