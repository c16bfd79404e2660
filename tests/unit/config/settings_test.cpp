// Settings read from the environment: defaults per run mode, every server variable,
// validation messages that name the variable and the bad value, production secrets.

#include "config/settings.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace aragora::config {
namespace {

using Env = std::map<std::string, std::string, std::less<>>;

EnvLookup Lookup(const Env& env) {
    return [env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    };
}

// Production server settings that pass the secrets check.
Env ProdServer() {
    return {{"ARAGORA_RECEIPT_SIGNING_KEY", "receipt-key"},
            {"ARAGORA_JWT_SECRET", "jwt-secret-of-at-least-32-bytes!!"}};
}

common::Result<Settings> Load(const Env& env, RunMode mode = RunMode::kServer) {
    return LoadSettings(Lookup(env), mode);
}

std::string ErrorOf(const Env& env, RunMode mode = RunMode::kServer) {
    auto s = Load(env, mode);
    EXPECT_FALSE(s.ok());
    return s.ok() ? std::string() : s.error().message;
}

TEST(SettingsTest, LocalCliDefaultsToDevelopmentTextAndNoDemoLatency) {
    auto s = Load({}, RunMode::kLocalCli);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->env, "development");
    EXPECT_FALSE(s->production);
    EXPECT_EQ(s->log.format, common::LogFormat::kText);
    EXPECT_EQ(s->log.level, "INFO");
    EXPECT_EQ(s->debate.demo_latency_ms, 0);
    EXPECT_EQ(s->storage.sqlite_path, "./data/aragora.sqlite3");
}

TEST(SettingsTest, ServerDefaultsToProductionJsonAndTheRunbookPorts) {
    auto s = Load(ProdServer());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->env, "production");
    EXPECT_TRUE(s->production);
    EXPECT_EQ(s->log.format, common::LogFormat::kJson);
    EXPECT_EQ(s->debate.demo_latency_ms, 200);
    const ServerSettings& sv = s->server;
    EXPECT_EQ(sv.host, "127.0.0.1");
    EXPECT_EQ(sv.api_port, 8080);
    EXPECT_EQ(sv.ws_port, 8765);
    EXPECT_EQ(sv.metrics_port, 9090);
    EXPECT_TRUE(sv.metrics_enabled);
    EXPECT_EQ(sv.io_threads, 0);
    EXPECT_EQ(sv.max_concurrent_debates, 10);
    EXPECT_EQ(sv.max_queued_debates, 100);
    EXPECT_EQ(sv.event_replay_buffer_size, 1000);
    EXPECT_EQ(sv.ws_max_connections, 1000);
    EXPECT_EQ(sv.ws_send_queue_max, 256);
    EXPECT_EQ(sv.ws_heartbeat_seconds, 15);
    EXPECT_EQ(sv.shutdown_grace_seconds, 30);
    EXPECT_EQ(sv.max_body_bytes, 1 << 20);
    EXPECT_EQ(sv.max_header_bytes, 16 << 10);
    EXPECT_EQ(sv.max_header_count, 100);
    EXPECT_EQ(sv.max_connections, 1024);
    EXPECT_EQ(sv.keep_alive_seconds, 60);
    EXPECT_EQ(sv.read_timeout_seconds, 30);
    EXPECT_EQ(sv.write_timeout_seconds, 30);
    EXPECT_EQ(sv.log_dir, "");
    EXPECT_EQ(s->log.log_dir, "");
    EXPECT_EQ(sv.api_token, "");
    EXPECT_EQ(sv.jwt_secret, "jwt-secret-of-at-least-32-bytes!!");
}

TEST(SettingsTest, ServerInDevelopmentNeedsNoSecrets) {
    auto s = Load({{"ARAGORA_ENV", "development"}});
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_FALSE(s->production);
    EXPECT_EQ(s->server.jwt_secret, "");
}

TEST(SettingsTest, EveryServerVariableIsRead) {
    Env env = ProdServer();
    env.insert({{"ARAGORA_HOST", "0.0.0.0"},
                {"ARAGORA_API_PORT", "0"},
                {"ARAGORA_WS_PORT", "8766"},
                {"ARAGORA_METRICS_PORT", "65535"},
                {"ARAGORA_METRICS_ENABLED", "false"},
                {"ARAGORA_IO_THREADS", "3"},
                {"ARAGORA_MAX_CONCURRENT_DEBATES", "5"},
                {"ARAGORA_MAX_QUEUED_DEBATES", "7"},
                {"ARAGORA_EVENT_REPLAY_BUFFER_SIZE", "50"},
                {"ARAGORA_WS_MAX_CONNECTIONS", "20"},
                {"ARAGORA_WS_SEND_QUEUE_MAX", "64"},
                {"ARAGORA_WS_HEARTBEAT_SECONDS", "5"},
                {"ARAGORA_SHUTDOWN_GRACE_SECONDS", "2"},
                {"ARAGORA_MAX_BODY_BYTES", "4096"},
                {"ARAGORA_MAX_HEADER_BYTES", "8192"},
                {"ARAGORA_MAX_HEADER_COUNT", "40"},
                {"ARAGORA_MAX_CONNECTIONS", "300"},
                {"ARAGORA_KEEP_ALIVE_SECONDS", "9"},
                {"ARAGORA_READ_TIMEOUT_SECONDS", "11"},
                {"ARAGORA_WRITE_TIMEOUT_SECONDS", "12"},
                {"ARAGORA_LOG_DIR", "/var/log/aragora"},
                {"ARAGORA_API_TOKEN", "tok"}});
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    const ServerSettings& sv = s->server;
    EXPECT_EQ(sv.host, "0.0.0.0");
    EXPECT_EQ(sv.api_port, 0);
    EXPECT_EQ(sv.ws_port, 8766);
    EXPECT_EQ(sv.metrics_port, 65535);
    EXPECT_FALSE(sv.metrics_enabled);
    EXPECT_EQ(sv.io_threads, 3);
    EXPECT_EQ(sv.max_concurrent_debates, 5);
    EXPECT_EQ(sv.max_queued_debates, 7);
    EXPECT_EQ(sv.event_replay_buffer_size, 50);
    EXPECT_EQ(sv.ws_max_connections, 20);
    EXPECT_EQ(sv.ws_send_queue_max, 64);
    EXPECT_EQ(sv.ws_heartbeat_seconds, 5);
    EXPECT_EQ(sv.shutdown_grace_seconds, 2);
    EXPECT_EQ(sv.max_body_bytes, 4096);
    EXPECT_EQ(sv.max_header_bytes, 8192);
    EXPECT_EQ(sv.max_header_count, 40);
    EXPECT_EQ(sv.max_connections, 300);
    EXPECT_EQ(sv.keep_alive_seconds, 9);
    EXPECT_EQ(sv.read_timeout_seconds, 11);
    EXPECT_EQ(sv.write_timeout_seconds, 12);
    EXPECT_EQ(sv.log_dir, "/var/log/aragora");
    EXPECT_EQ(s->log.log_dir, "/var/log/aragora");
    EXPECT_EQ(sv.api_token, "tok");
    EXPECT_EQ(sv.jwt_secret, "jwt-secret-of-at-least-32-bytes!!");
}

TEST(SettingsTest, LocalCliKeepsLoggingOnStderrEvenWithALogDir) {
    auto s = Load({{"ARAGORA_LOG_DIR", "/var/log/aragora"}}, RunMode::kLocalCli);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->server.log_dir, "/var/log/aragora");
    EXPECT_EQ(s->log.log_dir, "");
}

TEST(SettingsTest, EmptyHostKeepsTheDefault) {
    Env env = ProdServer();
    env["ARAGORA_HOST"] = "";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->server.host, "127.0.0.1");
}

TEST(SettingsTest, BadNumbersNameTheVariableAndTheValue) {
    struct Case {
        const char* name;
        const char* value;
    };
    for (auto [name, value] : {
             Case{"ARAGORA_API_PORT", "65536"},
             Case{"ARAGORA_WS_PORT", "-1"},
             Case{"ARAGORA_METRICS_PORT", "http"},
             Case{"ARAGORA_IO_THREADS", "100000"},
             Case{"ARAGORA_MAX_CONCURRENT_DEBATES", "0"},
             Case{"ARAGORA_MAX_QUEUED_DEBATES", "0"},
             Case{"ARAGORA_EVENT_REPLAY_BUFFER_SIZE", "0"},
             Case{"ARAGORA_WS_MAX_CONNECTIONS", "1e3"},
             Case{"ARAGORA_WS_SEND_QUEUE_MAX", "0"},
             Case{"ARAGORA_WS_HEARTBEAT_SECONDS", "0"},
             Case{"ARAGORA_SHUTDOWN_GRACE_SECONDS", "-5"},
             Case{"ARAGORA_MAX_BODY_BYTES", "99999999999"},
             Case{"ARAGORA_MAX_HEADER_BYTES", "10"},
             Case{"ARAGORA_MAX_HEADER_COUNT", "12 "},
             Case{"ARAGORA_MAX_CONNECTIONS", "0"},
             Case{"ARAGORA_KEEP_ALIVE_SECONDS", "0"},
             Case{"ARAGORA_READ_TIMEOUT_SECONDS", "1.5"},
             Case{"ARAGORA_WRITE_TIMEOUT_SECONDS", "0"},
         }) {
        Env env = ProdServer();
        env[name] = value;
        auto s = Load(env);
        ASSERT_FALSE(s.ok()) << name << "=" << value;
        EXPECT_EQ(s.error().code, common::ErrorCode::kValidation);
        EXPECT_EQ(s.error().field, name);
        EXPECT_NE(s.error().message.find(name), std::string::npos) << s.error().message;
        EXPECT_NE(s.error().message.find(std::string("'") + value + "'"), std::string::npos)
            << s.error().message;
    }
}

TEST(SettingsTest, BoundaryValuesAreAccepted) {
    Env env = ProdServer();
    env.insert({{"ARAGORA_API_PORT", "65535"},
                {"ARAGORA_MAX_CONCURRENT_DEBATES", "1"},
                {"ARAGORA_SHUTDOWN_GRACE_SECONDS", "0"},
                {"ARAGORA_IO_THREADS", "0"}});
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->server.api_port, 65535);
    EXPECT_EQ(s->server.max_concurrent_debates, 1);
    EXPECT_EQ(s->server.shutdown_grace_seconds, 0);
}

TEST(SettingsTest, BooleansAcceptSixSpellingsInAnyCase) {
    for (auto [text, expected] :
         {std::pair{"true", true}, std::pair{"TRUE", true}, std::pair{"1", true},
          std::pair{"Yes", true}, std::pair{"false", false}, std::pair{"False", false},
          std::pair{"0", false}, std::pair{"NO", false}}) {
        Env env = ProdServer();
        env["ARAGORA_METRICS_ENABLED"] = text;
        auto s = Load(env);
        ASSERT_TRUE(s.ok()) << text << ": " << s.error().message;
        EXPECT_EQ(s->server.metrics_enabled, expected) << text;
    }
}

TEST(SettingsTest, BadBooleanNamesTheVariableAndTheValue) {
    for (const char* name : {"ARAGORA_METRICS_ENABLED", "METRICS_ENABLED"}) {
        Env env = ProdServer();
        env[name] = "maybe";
        auto s = Load(env);
        ASSERT_FALSE(s.ok()) << name;
        EXPECT_EQ(s.error().code, common::ErrorCode::kValidation);
        EXPECT_EQ(s.error().field, name);
        EXPECT_NE(s.error().message.find(std::string(name) + " must be"), std::string::npos)
            << s.error().message;
        EXPECT_NE(s.error().message.find("'maybe'"), std::string::npos) << s.error().message;
    }
}

TEST(SettingsTest, MetricsEnabledFallsBackToTheRunbookName) {
    Env env = ProdServer();
    env["METRICS_ENABLED"] = "false";
    auto only_runbook_name = Load(env);
    ASSERT_TRUE(only_runbook_name.ok()) << only_runbook_name.error().message;
    EXPECT_FALSE(only_runbook_name->server.metrics_enabled);

    env["ARAGORA_METRICS_ENABLED"] = "yes";
    auto both = Load(env);
    ASSERT_TRUE(both.ok()) << both.error().message;
    EXPECT_TRUE(both->server.metrics_enabled);

    env["ARAGORA_METRICS_ENABLED"] = "";
    auto empty_prefixed = Load(env);
    ASSERT_TRUE(empty_prefixed.ok()) << empty_prefixed.error().message;
    EXPECT_FALSE(empty_prefixed->server.metrics_enabled);
}

TEST(SettingsTest, ProductionServerNamesBothMissingSecretsInOneLine) {
    auto s = Load({});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, common::ErrorCode::kValidation);
    EXPECT_EQ(s.error().message,
              "ARAGORA_ENV=production requires ARAGORA_RECEIPT_SIGNING_KEY and ARAGORA_JWT_SECRET; "
              "set them, or run `make serve` / ARAGORA_ENV=development for a local trial");
    EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
}

TEST(SettingsTest, ProductionServerNamesOnlyWhatIsMissing) {
    EXPECT_EQ(ErrorOf({{"ARAGORA_RECEIPT_SIGNING_KEY", "k"}}),
              "ARAGORA_ENV=production requires ARAGORA_JWT_SECRET; set it, or run `make serve` / "
              "ARAGORA_ENV=development for a local trial");
    EXPECT_EQ(ErrorOf({{"ARAGORA_JWT_SECRET", "j"}, {"ARAGORA_ENV", "production"}}),
              "ARAGORA_ENV=production requires ARAGORA_RECEIPT_SIGNING_KEY; set it, or run `make "
              "serve` / ARAGORA_ENV=development for a local trial");
    auto empty = Load({{"ARAGORA_RECEIPT_SIGNING_KEY", "k"}, {"ARAGORA_JWT_SECRET", ""}});
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().field, "ARAGORA_JWT_SECRET");
}

TEST(SettingsTest, ProductionCliNeedsOnlyTheReceiptKey) {
    auto refused = Load({{"ARAGORA_ENV", "production"}}, RunMode::kLocalCli);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().field, "ARAGORA_RECEIPT_SIGNING_KEY");
    EXPECT_NE(refused.error().message.find("ARAGORA_ENV=production requires "
                                           "ARAGORA_RECEIPT_SIGNING_KEY"),
              std::string::npos)
        << refused.error().message;
    EXPECT_EQ(refused.error().message.find("ARAGORA_JWT_SECRET"), std::string::npos)
        << refused.error().message;

    auto ok = Load({{"ARAGORA_ENV", "production"}, {"ARAGORA_RECEIPT_SIGNING_KEY", "k"}},
                   RunMode::kLocalCli);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_TRUE(ok->production);
}

TEST(SettingsTest, BadValuesAreReportedBeforeMissingSecrets) {
    auto s = Load({{"ARAGORA_API_PORT", "80800"}});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().field, "ARAGORA_API_PORT");
}

TEST(SettingsTest, LogLevelIsValidated) {
    Env env = ProdServer();
    env["ARAGORA_LOG_LEVEL"] = "warning";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->log.level, "warning");

    env["ARAGORA_LOG_LEVEL"] = "verbose";
    auto bad = Load(env);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().field, "ARAGORA_LOG_LEVEL");
    EXPECT_NE(bad.error().message.find("'verbose'"), std::string::npos) << bad.error().message;
}

TEST(SettingsTest, ExistingDebateAndStorageVariablesStillWork) {
    Env env = ProdServer();
    env.insert({{"ARAGORA_CONSENSUS_THRESHOLD", "0.75"},
                {"ARAGORA_AGENT_TIMEOUT_SECONDS", "120"},
                {"ARAGORA_DEMO_LATENCY_MS", "0"},
                {"ARAGORA_DATA_DIR", "/srv/aragora"},
                {"ARAGORA_LOG_FORMAT", "text"}});
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_DOUBLE_EQ(s->debate.consensus_threshold, 0.75);
    EXPECT_EQ(s->debate.agent_timeout_seconds, 120);
    EXPECT_EQ(s->debate.demo_latency_ms, 0);
    EXPECT_EQ(s->storage.sqlite_path, "/srv/aragora/aragora.sqlite3");
    EXPECT_EQ(s->log.format, common::LogFormat::kText);

    env["ARAGORA_CONSENSUS_THRESHOLD"] = "1.5";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_CONSENSUS_THRESHOLD"), std::string::npos);
}

// The AragoraDebateRunningTooLong threshold: the runbook's 10 minutes unless set.
TEST(SettingsTest, DebateRunningTooLongThreshold) {
    auto d = Load(ProdServer());
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->debate.running_too_long_seconds, 600);
    Env env = ProdServer();
    env["ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS"] = "2";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->debate.running_too_long_seconds, 2);
    env["ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS"] = "0";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_DEBATE_RUNNING_TOO_LONG_SECONDS"), std::string::npos);
}

// SLO targets: the runbook's defaults, fractions or its percentages, bad values named.
TEST(SettingsTest, SloTargets) {
    auto d = Load(ProdServer());
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_DOUBLE_EQ(d->slo.availability_target, 0.999);
    EXPECT_DOUBLE_EQ(d->slo.latency_p99_target_ms, 500);
    EXPECT_DOUBLE_EQ(d->slo.debate_success_target, 0.95);
    Env env = ProdServer();
    env["SLO_AVAILABILITY_TARGET"] = "99.5";
    env["SLO_DEBATE_SUCCESS_TARGET"] = "0.9";
    env["SLO_LATENCY_P99_TARGET_MS"] = "250";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_DOUBLE_EQ(s->slo.availability_target, 0.995);
    EXPECT_DOUBLE_EQ(s->slo.debate_success_target, 0.9);
    EXPECT_DOUBLE_EQ(s->slo.latency_p99_target_ms, 250);
    for (const char* bad : {"0", "1", "100", "150", "-0.5", "abc", "0.9x", "nan"}) {
        Env e = ProdServer();
        e["SLO_AVAILABILITY_TARGET"] = bad;
        EXPECT_NE(ErrorOf(e).find("SLO_AVAILABILITY_TARGET"), std::string::npos) << bad;
        e = ProdServer();
        e["SLO_DEBATE_SUCCESS_TARGET"] = bad;
        EXPECT_NE(ErrorOf(e).find("SLO_DEBATE_SUCCESS_TARGET"), std::string::npos) << bad;
    }
    for (const char* bad : {"0", "-5", "fast"}) {
        Env e = ProdServer();
        e["SLO_LATENCY_P99_TARGET_MS"] = bad;
        EXPECT_NE(ErrorOf(e).find("SLO_LATENCY_P99_TARGET_MS"), std::string::npos) << bad;
    }
}

TEST(Settings, AgentResilienceDefaultsAndOverrides) {
    auto d = Load({}, RunMode::kLocalCli);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_DOUBLE_EQ(d->debate.agent_timeout_seconds, 60);
    EXPECT_EQ(d->agents.max_retries, 3);
    EXPECT_EQ(d->agents.breaker_failure_threshold, 5);
    EXPECT_DOUBLE_EQ(d->agents.breaker_cooldown_seconds, 60);
    EXPECT_TRUE(d->agents.stream);

    Env env{{"ARAGORA_AGENT_TIMEOUT_SECONDS", "0.5"},
            {"ARAGORA_AGENT_MAX_RETRIES", "1"},
            {"ARAGORA_AGENT_RETRY_BASE_MS", "10"},
            {"ARAGORA_CIRCUIT_BREAKER_THRESHOLD", "2"},
            {"ARAGORA_CIRCUIT_BREAKER_COOLDOWN_SECONDS", "1.5"},
            {"ARAGORA_AGENT_STREAMING", "false"},
            {"HTTPS_PROXY", "http://proxy.internal:3128"},
            {"no_proxy", ".corp"}};
    auto s = Load(env, RunMode::kLocalCli);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_DOUBLE_EQ(s->debate.agent_timeout_seconds, 0.5);
    EXPECT_EQ(s->agents.max_retries, 1);
    EXPECT_EQ(s->agents.retry_base_ms, 10);
    EXPECT_EQ(s->agents.breaker_failure_threshold, 2);
    EXPECT_DOUBLE_EQ(s->agents.breaker_cooldown_seconds, 1.5);
    EXPECT_FALSE(s->agents.stream);
    EXPECT_EQ(s->agents.https_proxy, "http://proxy.internal:3128");
    EXPECT_EQ(s->agents.no_proxy, ".corp");

    EXPECT_NE(ErrorOf({{"ARAGORA_AGENT_MAX_RETRIES", "many"}}, RunMode::kLocalCli)
                  .find("ARAGORA_AGENT_MAX_RETRIES"),
              std::string::npos);
    EXPECT_NE(ErrorOf({{"ARAGORA_CIRCUIT_BREAKER_THRESHOLD", "0"}}, RunMode::kLocalCli)
                  .find("ARAGORA_CIRCUIT_BREAKER_THRESHOLD"),
              std::string::npos);
}

TEST(Settings, AgentHedgingIsOffByDefaultAndReadFromTheEnvironment) {
    auto d = Load({}, RunMode::kLocalCli);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_FALSE(d->agents.hedge_enabled);
    EXPECT_EQ(d->agents.hedge_after_ms, 0);
    EXPECT_EQ(d->agents.hedge_min_ms, 1000);
    auto s = Load({{"ARAGORA_AGENT_HEDGE_ENABLED", "true"},
                   {"ARAGORA_AGENT_HEDGE_AFTER_MS", "750"},
                   {"ARAGORA_AGENT_HEDGE_MIN_MS", "200"}},
                  RunMode::kLocalCli);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_TRUE(s->agents.hedge_enabled);
    EXPECT_EQ(s->agents.hedge_after_ms, 750);
    EXPECT_EQ(s->agents.hedge_min_ms, 200);
    EXPECT_NE(ErrorOf({{"ARAGORA_AGENT_HEDGE_ENABLED", "maybe"}}, RunMode::kLocalCli)
                  .find("ARAGORA_AGENT_HEDGE_ENABLED"),
              std::string::npos);
}

}  // namespace
}  // namespace aragora::config

namespace aragora::config {
namespace {

TEST(SecuritySettingsTest, ProductionNeedsALongJwtSecret) {
    std::map<std::string, std::string> vars = {{"ARAGORA_RECEIPT_SIGNING_KEY", "k"},
                                               {"ARAGORA_JWT_SECRET", "short"}};
    auto env = [&](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    auto s = LoadSettings(env, RunMode::kServer);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("at least 32 bytes"), std::string::npos);
    vars["ARAGORA_JWT_SECRET"] = std::string(32, 'x');
    EXPECT_TRUE(LoadSettings(env, RunMode::kServer).ok());
}

TEST(SecuritySettingsTest, SecretsManagerFlagIsCheckedHereAndLoadedByTheCli) {
    // The secret's variables are fetched before LoadSettings (app::SecretsSource); here only
    // the flag's spelling is checked.
    std::map<std::string, std::string> vars = {{"ARAGORA_ENV", "development"},
                                               {"ARAGORA_USE_SECRETS_MANAGER", "maybe"}};
    auto env = [&](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    auto s = LoadSettings(env, RunMode::kServer);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().field, "ARAGORA_USE_SECRETS_MANAGER");
    vars["ARAGORA_USE_SECRETS_MANAGER"] = "true";
    EXPECT_TRUE(LoadSettings(env, RunMode::kServer).ok());
}

TEST(SecuritySettingsTest, RateLimitAndJwtVariablesAreRead) {
    std::map<std::string, std::string> vars = {{"ARAGORA_ENV", "development"},
                                               {"ARAGORA_RATE_LIMIT", "7"},
                                               {"ARAGORA_RATE_LIMIT_DEBATE_RPM", "20"},
                                               {"ARAGORA_RATE_LIMIT_DISABLED", "1"},
                                               {"ARAGORA_RATE_LIMIT_WHITELIST", "10.0.0.0/8"},
                                               {"ARAGORA_TRUSTED_PROXIES", "192.168.0.0/16"},
                                               {"ARAGORA_ALLOWED_ORIGINS", "https://a.example"},
                                               {"ARAGORA_JWT_SECRET_PREVIOUS", "old"},
                                               {"ARAGORA_JWT_SECRET_GRACE_HOURS", "48"},
                                               {"ARAGORA_MEMORY_PROFILING", "1"},
                                               {"ARAGORA_ALLOW_UNAUTHENTICATED", "true"}};
    auto env = [&](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    auto s = LoadSettings(env, RunMode::kServer);
    ASSERT_TRUE(s.ok()) << s.error().message;
    const auto& sec = s->security;
    EXPECT_EQ(sec.rate_limit, 7);
    EXPECT_EQ(sec.rate_limit_debate_rpm, 20);
    EXPECT_TRUE(sec.rate_limit_disabled);
    EXPECT_EQ(sec.rate_limit_whitelist, "10.0.0.0/8");
    EXPECT_EQ(sec.trusted_proxies, "192.168.0.0/16");
    EXPECT_EQ(sec.allowed_origins, "https://a.example");
    EXPECT_EQ(sec.jwt_secret_previous, "old");
    EXPECT_EQ(sec.jwt_grace_hours, 48);
    EXPECT_TRUE(sec.memory_profiling);
    EXPECT_TRUE(sec.allow_unauthenticated);
    vars["ARAGORA_RATE_LIMIT"] = "0";
    EXPECT_FALSE(LoadSettings(env, RunMode::kServer).ok());
}

TEST(StorageSettingsTest, EncryptDebateContentIsOffUnlessSetAndMustBeABoolean) {
    Env env = ProdServer();
    auto off = Load(env);
    ASSERT_TRUE(off.ok()) << off.error().message;
    EXPECT_FALSE(off->storage.encrypt_debate_content);
    env["ARAGORA_ENCRYPT_DEBATE_CONTENT"] = "true";
    auto on = Load(env);
    ASSERT_TRUE(on.ok()) << on.error().message;
    EXPECT_TRUE(on->storage.encrypt_debate_content);
    env["ARAGORA_ENCRYPT_DEBATE_CONTENT"] = "sometimes";
    auto bad = Load(env);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().field, "ARAGORA_ENCRYPT_DEBATE_CONTENT");
}

TEST(StorageSettingsTest, PostgresFromDatabaseUrlOrDsnWithPoolVariables) {
    Env env = ProdServer();
    env["DATABASE_URL"] = "postgresql://aragora@db:5432/aragora";
    env["POSTGRES_PASSWORD"] = "pw";
    env["ARAGORA_DB_POOL_SIZE"] = "5";
    env["ARAGORA_DB_MAX_OVERFLOW"] = "7";
    env["ARAGORA_DB_COMMAND_TIMEOUT"] = "9";
    env["ARAGORA_DB_POOL_RECYCLE"] = "60";
    env["ARAGORA_DB_BACKEND"] = "postgresql";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->storage.backend, DbBackend::kPostgres);
    EXPECT_EQ(s->storage.postgres_dsn, "postgresql://aragora@db:5432/aragora");
    EXPECT_EQ(s->storage.postgres_password, "pw");
    EXPECT_TRUE(s->storage.require_postgres);
    EXPECT_EQ(s->storage.pool_size, 5);
    EXPECT_EQ(s->storage.pool_overflow, 7);  // the second runbook's alias
    EXPECT_EQ(s->storage.command_timeout_seconds, 9);
    EXPECT_EQ(s->storage.pool_recycle_seconds, 60);

    env["ARAGORA_DB_POOL_OVERFLOW"] = "3";  // the first runbook's name wins
    EXPECT_EQ(Load(env)->storage.pool_overflow, 3);

    Env dsn = ProdServer();
    dsn["ARAGORA_POSTGRES_DSN"] = "postgres://u:p@127.0.0.1/x";
    auto d = Load(dsn);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->storage.backend, DbBackend::kPostgres);
    EXPECT_EQ(d->storage.postgres_dsn, "postgres://u:p@127.0.0.1/x");
    EXPECT_EQ(d->storage.pool_size, 20);
    EXPECT_EQ(d->storage.pool_overflow, 15);
    EXPECT_EQ(d->storage.command_timeout_seconds, 60);
    EXPECT_EQ(d->storage.pool_recycle_seconds, 1800);
}

TEST(StorageSettingsTest, PostgresBackendWithoutADsnIsRefused) {
    Env env = ProdServer();
    env["ARAGORA_DB_BACKEND"] = "postgresql";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_DB_BACKEND=postgresql needs DATABASE_URL"),
              std::string::npos);
    env["ARAGORA_DB_BACKEND"] = "mysql";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_DB_BACKEND must be postgresql or sqlite"),
              std::string::npos);
    Env bad = ProdServer();
    bad["DATABASE_URL"] = "mysql://secret@host/db";
    const std::string message = ErrorOf(bad);
    EXPECT_NE(message.find("DATABASE_URL must start with postgresql://"), std::string::npos);
    EXPECT_EQ(message.find("secret"), std::string::npos) << "no credentials in the message";
}

TEST(StorageSettingsTest, SupabaseAloneIsNoticedAndSqliteStays) {
    Env env = ProdServer();
    env["SUPABASE_URL"] = "https://x.supabase.co";
    env["SUPABASE_KEY"] = "k";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->storage.backend, DbBackend::kSqlite);
    EXPECT_TRUE(s->storage.supabase_without_dsn);
    env["DATABASE_URL"] = "postgresql://db.x.supabase.co/postgres";
    EXPECT_FALSE(Load(env)->storage.supabase_without_dsn);
}

TEST(DistributedSettingsTest, RedisAndMultiInstanceVariables) {
    Env env = ProdServer();
    env["ARAGORA_REDIS_URL"] = "rediss://redis:6380/2";
    env["REDIS_PASSWORD"] = "rp";
    env["ARAGORA_ENABLE_REDIS_RATE_LIMIT"] = "1";
    env["ARAGORA_MULTI_INSTANCE"] = "true";
    env["ARAGORA_REQUIRE_DISTRIBUTED"] = "true";
    env["WORKER_CONCURRENCY"] = "5";
    auto s = Load(env);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->distributed.redis_url, "rediss://redis:6380/2");
    EXPECT_EQ(s->distributed.redis_password, "rp");
    EXPECT_TRUE(s->distributed.redis_rate_limit);
    EXPECT_TRUE(s->distributed.multi_instance);
    EXPECT_TRUE(s->distributed.require_distributed);
    EXPECT_EQ(s->distributed.worker_concurrency, 5);
    EXPECT_EQ(Load(ProdServer())->distributed.worker_concurrency, 3);
    EXPECT_EQ(s->distributed.lease_seconds, 30);
    env["ARAGORA_WORKER_LEASE_SECONDS"] = "4";
    EXPECT_EQ(Load(env)->distributed.lease_seconds, 4);
    env["ARAGORA_WORKER_LEASE_SECONDS"] = "0";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_WORKER_LEASE_SECONDS must be an integer in [1, 3600]"),
              std::string::npos);
    env.erase("ARAGORA_WORKER_LEASE_SECONDS");
    EXPECT_FALSE(s->distributed.enqueue_only);
    env["ARAGORA_DEBATE_EXECUTION"] = "worker";
    EXPECT_TRUE(Load(env)->distributed.enqueue_only);
    env["ARAGORA_DEBATE_EXECUTION"] = "remote";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_DEBATE_EXECUTION must be local or worker"),
              std::string::npos);
    env["ARAGORA_DEBATE_EXECUTION"] = "local";

    env["ARAGORA_REDIS_URL"] = "http://redis";
    EXPECT_NE(ErrorOf(env).find("ARAGORA_REDIS_URL must start with redis://"), std::string::npos);
    env.erase("ARAGORA_REDIS_URL");
    EXPECT_NE(ErrorOf(env).find("needs ARAGORA_REDIS_URL"), std::string::npos);
}

}  // namespace
}  // namespace aragora::config

namespace aragora::config {
namespace {

std::int64_t EpochOf(std::chrono::system_clock::time_point tp) {
    return std::chrono::duration_cast<std::chrono::seconds>(tp.time_since_epoch()).count();
}

TEST(SecuritySettingsTest, JwtRotatedAtTakesIso8601OrUnixSeconds) {
    Env env = ProdServer();
    auto unset = Load(env);
    ASSERT_TRUE(unset.ok()) << unset.error().message;
    EXPECT_EQ(unset->security.jwt_rotated_at, std::nullopt);

    env["ARAGORA_JWT_SECRET_ROTATED_AT"] = "2026-12-01T09:00:00Z";  // ours
    auto iso = Load(env);
    ASSERT_TRUE(iso.ok()) << iso.error().message;
    ASSERT_TRUE(iso->security.jwt_rotated_at.has_value());
    EXPECT_EQ(EpochOf(*iso->security.jwt_rotated_at), 1796115600);

    env["ARAGORA_JWT_SECRET_ROTATED_AT"] = "1796115600";  // the original's unix seconds
    auto unix_seconds = Load(env);
    ASSERT_TRUE(unix_seconds.ok()) << unix_seconds.error().message;
    EXPECT_EQ(unix_seconds->security.jwt_rotated_at, iso->security.jwt_rotated_at);
    env["ARAGORA_JWT_SECRET_ROTATED_AT"] = " 0 ";
    EXPECT_EQ(EpochOf(*Load(env)->security.jwt_rotated_at), 0);

    for (const char* bad : {"yesterday", "-5", "1796115600.5", "17961156001234", "2026-13-01"}) {
        env["ARAGORA_JWT_SECRET_ROTATED_AT"] = bad;
        auto s = Load(env);
        ASSERT_FALSE(s.ok()) << bad;
        EXPECT_EQ(s.error().field, "ARAGORA_JWT_SECRET_ROTATED_AT") << bad;
        EXPECT_NE(s.error().message.find(bad), std::string::npos) << s.error().message;
        EXPECT_NE(s.error().message.find("unix seconds"), std::string::npos) << s.error().message;
    }
}

TEST(SecuritySettingsTest, TheOriginalsGraceHoursNameIsAnAlias) {
    Env env = ProdServer();
    EXPECT_EQ(Load(env)->security.jwt_grace_hours, 24);
    env["ARAGORA_JWT_ROTATION_GRACE_HOURS"] = "6";  // the original's name
    auto alias = Load(env);
    ASSERT_TRUE(alias.ok()) << alias.error().message;
    EXPECT_EQ(alias->security.jwt_grace_hours, 6);
    env["ARAGORA_JWT_SECRET_GRACE_HOURS"] = "6";  // both, agreeing
    EXPECT_EQ(Load(env)->security.jwt_grace_hours, 6);
    env["ARAGORA_JWT_SECRET_GRACE_HOURS"] = "48";  // both, disagreeing: say so
    std::string message = ErrorOf(env);
    EXPECT_NE(message.find("ARAGORA_JWT_ROTATION_GRACE_HOURS"), std::string::npos) << message;
    EXPECT_NE(message.find("ARAGORA_JWT_SECRET_GRACE_HOURS"), std::string::npos) << message;
    env.erase("ARAGORA_JWT_SECRET_GRACE_HOURS");
    env["ARAGORA_JWT_ROTATION_GRACE_HOURS"] = "soon";
    message = ErrorOf(env);
    EXPECT_NE(message.find("ARAGORA_JWT_ROTATION_GRACE_HOURS"), std::string::npos) << message;
}

}  // namespace
}  // namespace aragora::config

namespace aragora::config {
namespace {

TEST(BackupSettingsTest, DefaultsFollowTheOriginal) {
    auto s = LoadSettings(
        [](std::string_view name) -> std::optional<std::string> {
            if (name == "ARAGORA_DATA_DIR") return std::string("/srv/aragora");
            return std::nullopt;
        },
        RunMode::kLocalCli);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_FALSE(s->backup.enabled);
    EXPECT_EQ(s->backup.dir, "/srv/aragora/backups");
    EXPECT_EQ(s->backup.daily_minute_of_day, 120);
    EXPECT_EQ(s->backup.interval_seconds, 0);
    EXPECT_EQ(s->backup.keep_daily, 7);
    EXPECT_EQ(s->backup.keep_weekly, 4);
    EXPECT_EQ(s->backup.keep_monthly, 3);
    EXPECT_EQ(s->backup.min_backups, 1);
    EXPECT_TRUE(s->backup.dr_drill_enabled);
    EXPECT_EQ(s->backup.dr_drill_interval_days, 30);
    EXPECT_EQ(s->backup.s3_region, "us-east-1");
    EXPECT_EQ(s->backup.s3_endpoint, "https://s3.us-east-1.amazonaws.com");
    EXPECT_EQ(s->receipts.cleanup_interval_hours, 24);
}

TEST(BackupSettingsTest, ReadFromTheEnvironmentAndBadValuesNameTheVariable) {
    std::map<std::string, std::string, std::less<>> env = {
        {"BACKUP_ENABLED", "true"},
        {"BACKUP_DIR", "/b"},
        {"BACKUP_DAILY_TIME", "23:05"},
        {"BACKUP_INTERVAL", "60"},
        {"BACKUP_RETENTION_DAYS", "10"},
        {"ARAGORA_BACKUP_KEEP_MONTHLY", "12"},
        {"AWS_REGION", "eu-west-1"},
        {"ARAGORA_BACKUP_S3_BUCKET", "bk"},
        {"ARAGORA_BACKUP_ENCRYPTION_KEY", std::string(64, 'a')},
    };
    auto lookup = [&env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    };
    auto s = LoadSettings(lookup, RunMode::kLocalCli);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE(s->backup.enabled);
    EXPECT_EQ(s->backup.dir, "/b");
    EXPECT_EQ(s->backup.daily_minute_of_day, 23 * 60 + 5);
    EXPECT_EQ(s->backup.interval_seconds, 60);
    EXPECT_EQ(s->backup.keep_daily, 10);
    EXPECT_EQ(s->backup.keep_monthly, 12);
    EXPECT_EQ(s->backup.s3_region, "eu-west-1");
    EXPECT_EQ(s->backup.s3_endpoint, "https://s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(s->backup.encryption_key_hex, std::string(64, 'a'));

    for (const auto& [name, bad] : std::vector<std::pair<std::string, std::string>>{
             {"BACKUP_DAILY_TIME", "24:00"},
             {"BACKUP_DAILY_TIME", "2:00"},
             {"BACKUP_INTERVAL", "5"},
             {"BACKUP_ENABLED", "maybe"},
             {"ARAGORA_BACKUP_ENCRYPTION_KEY", "tooshort"},
             {"ARAGORA_BACKUP_KEEP_DAILY", "3"}}) {
        auto copy = env;
        copy[name] = bad;
        auto r = LoadSettings(
            [&copy](std::string_view n) -> std::optional<std::string> {
                auto it = copy.find(n);
                if (it == copy.end()) return std::nullopt;
                return it->second;
            },
            RunMode::kLocalCli);
        ASSERT_FALSE(r) << name << "=" << bad;
        EXPECT_NE(r.error().message.find(
                      name == "ARAGORA_BACKUP_KEEP_DAILY" ? "BACKUP_RETENTION_DAYS" : name),
                  std::string::npos)
            << r.error().message;
        EXPECT_EQ(r.error().message.find("tooshort"), std::string::npos) << "a key is never echoed";
    }
}

}  // namespace
}  // namespace aragora::config

namespace aragora::config {
namespace {

TEST(ReceiptRetentionSettingsTest, FirstCleanupDelayDefaultsToTheOriginalsMinute) {
    std::map<std::string, std::string, std::less<>> env;
    auto lookup = [&env](std::string_view name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    };
    auto s = LoadSettings(lookup, RunMode::kLocalCli);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->receipts.cleanup_first_delay_seconds, 60);
    EXPECT_EQ(s->receipts.retention_days, 2555);
    env["ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS"] = "0";
    EXPECT_EQ(LoadSettings(lookup, RunMode::kLocalCli)->receipts.cleanup_first_delay_seconds, 0);
    env["ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS"] = "-1";
    auto bad = LoadSettings(lookup, RunMode::kLocalCli);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("ARAGORA_RECEIPT_CLEANUP_FIRST_DELAY_SECONDS"),
              std::string::npos);
}

}  // namespace
}  // namespace aragora::config
