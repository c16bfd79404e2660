#include "app/server_app.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "api/api.hpp"
#include "api/console.hpp"
#include "api/security.hpp"
#include "api/ws_handler.hpp"
#include "app/app_state.hpp"
#include "app/backup_wiring.hpp"
#include "app/content_encryption.hpp"
#include "app/distributed.hpp"
#include "app/error_reporting.hpp"
#include "app/event_replay.hpp"
#include "app/instance_lease.hpp"
#include "app/secrets_source.hpp"
#include "app/server_metrics.hpp"
#include "app/system_info.hpp"
#include "app/unhonoured_env.hpp"
#include "auth/api_key.hpp"
#include "auth/service.hpp"
#include "common/build_info.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/sd_notify.hpp"
#include "common/time.hpp"
#include "config/settings.hpp"
#include "debate/receipt_keyring.hpp"
#include "debate/receipt_keys.hpp"
#include "net/server.hpp"
#include "ratelimit/ip.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/redis_limiter.hpp"
#include "service/local_debate_service.hpp"
#include "storage/database_lock.hpp"
#include "storage/open_stores.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.app"); }
// websocket.log: what the server does to every WebSocket at once.
std::shared_ptr<spdlog::logger> WsLog() { return common::GetLogger("aragora.websocket"); }

asio::awaitable<void> SleepFor(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Readiness follows the database: a ping every 2 s; while it fails /readyz answers 503
// ("database unreachable: ...") and it recovers by itself once the database answers.
asio::awaitable<void> WatchDatabase(App& app) {
    while (!app.draining) {
        co_await SleepFor(std::chrono::seconds(2));
        if (app.draining || !app.store) co_return;
        auto ping = [&app] { return common::ToUnit(app.store->Ping()); };
        const auto start = std::chrono::steady_clock::now();
        auto r = co_await app.pool.Run(ping);
        if (app.draining) co_return;
        // What /api/v1/status and the health registry report comes from here too.
        auto& checker = app.health.GetOrCreate("database");
        const auto latency = std::chrono::steady_clock::now() - start;
        if (r) {
            checker.RecordSuccess(latency);
        } else {
            checker.RecordFailure(r.error().message, latency);
        }
        if (!r && !app.db_unreachable) {
            app.db_unreachable = true;
            app.SetNotReady("database unavailable");  // API.md reason; the log says why
            Log()->error("readiness: database unreachable ({}): /readyz answers 503",
                         r.error().message);
        } else if (r && app.db_unreachable) {
            app.db_unreachable = false;
            app.ready = true;
            Log()->info("readiness: database reachable again: /readyz answers 200");
        }
    }
}

// ARAGORA_RECEIPT_RETENTION_DAYS enforced: the scheduled cleanup (app/receipt_retention).
void StartReceiptRetention(App& app) {
    app.retention_scheduler = std::make_unique<ReceiptRetentionScheduler>(
        app.ioc.get_executor(), app.clock, app.retention,
        RetentionScheduleFrom(app.settings.receipts, common::NewProcessId("s_")));
    app.retention_scheduler->Start();
}

// The startup sequence: data dir, store + migrations, crash recovery, keys, service.
asio::awaitable<void> Startup(App& app) {
    auto started = std::chrono::steady_clock::now();
    const auto& s = app.settings;
    if (s.storage.supabase_without_dsn) {
        Log()->warn(
            "SUPABASE_URL/SUPABASE_KEY are set but no DATABASE_URL: Supabase is used as the "
            "PostgreSQL it is, so set DATABASE_URL=postgresql://... (its connection string); "
            "using SQLite at {} meanwhile",
            s.storage.sqlite_path);
    }
    if (s.distributed.require_distributed) {
        if (s.storage.backend != config::DbBackend::kPostgres || !app.distributed) {
            app.FailStartup(
                "ARAGORA_REQUIRE_DISTRIBUTED=true needs shared state: a PostgreSQL DATABASE_URL "
                "and ARAGORA_REDIS_URL");
            co_return;
        }
    }
    if (app.distributed) {
        auto redis_up = co_await app.distributed->Start(std::chrono::seconds(5));
        if (!redis_up && s.distributed.require_distributed) {
            app.FailStartup("ARAGORA_REQUIRE_DISTRIBUTED=true and Redis is not reachable at " +
                            app.distributed->RedactedUrl() + ": " + redis_up.error().message);
            co_return;
        }
    }
    auto opened = co_await app.pool.Run([&app]() -> Result<storage::OpenedStores> {
        std::error_code ec;
        std::filesystem::create_directories(app.settings.storage.data_dir, ec);
        return storage::OpenPlainStores(app.settings.storage, /*migrate=*/true);
    });
    if (!opened) {
        const bool encryption = opened.error().field == "ARAGORA_ENCRYPT_DEBATE_CONTENT";
        app.FailStartup(encryption ? opened.error().message
                                   : "database unavailable: " + opened.error().message);
        co_return;
    }
    {
        // The data keys first (the key table), then the stores seal with them.
        EncryptionKeys* encryption = app.encryption.get();
        std::unique_ptr<storage::KeyStore>* key_store = &opened->keys;
        storage::AuthStore* audit = opened->auth.get();
        auto load = [encryption, key_store, audit]() -> Result<bool> {
            if (auto s = encryption->Load(std::move(*key_store), audit); !s) return s.error();
            return true;
        };
        auto loaded_keys = co_await app.pool.Run(load);
        if (!loaded_keys) {
            app.FailStartup("encryption keys unavailable: " + loaded_keys.error().message);
            co_return;
        }
        app.field_cipher = app.encryption->SharedCipher();
        storage::ContentEncryption content;
        content.cipher = app.field_cipher;
        content.failures = app.decrypt_failures;
        if (auto applied = storage::ApplyContentEncryption(*opened, app.settings.storage, content);
            !applied) {
            app.FailStartup(applied.error().message);
            co_return;
        }
    }
    app.content_targets = std::move(opened->content_targets);
    app.db_backend = opened->backend;
    app.db_location = opened->location;
    app.pg_pool = opened->pg_pool;
    app.pool_stats = app.pg_pool.get();
    app.store = std::move(opened->store);
    app.auth_store = std::move(opened->auth);
    app.retention.AttachStore(app.store.get());
    if (app.distributed) app.distributed->AttachStore(app.store.get());
    app.auth->AttachStore(app.auth_store.get());
    auto keys = co_await app.pool.Run([&app] { return debate::LoadReceiptKeys(app.settings); });
    if (!keys) {
        app.FailStartup("receipt keys unavailable: " + keys.error().message);
        co_return;
    }
    // The persisted keyring: records the configured keys, brings back retired ones.
    debate::KeyringSyncOptions sync;
    sync.cipher = app.field_cipher;
    sync.now = common::FormatIso8601(std::chrono::system_clock::now());
    auto ring = co_await app.pool.Run([&app, &keys, &sync] {
        return debate::SyncReceiptKeyring(*app.store, std::move(*keys), sync);
    });
    if (!ring) {
        app.FailStartup("receipt keyring unavailable: " + ring.error().message);
        co_return;
    }
    for (const std::string& warning : ring->warnings) Log()->warn("{}", warning);
    Log()->info("receipt keyring: {} key(s), signing with {}", ring->entries.size(),
                ring->keys.hmac_current.empty() ? std::string("ed25519")
                                                : debate::KeyId(ring->keys.hmac_current));
    app.keys = std::move(ring->keys);
    app.receipt_keys_document.Set(debate::PublishedReceiptKeysJson(*ring));
    // Everything sealed with the data keys, re-encrypted by the rotation: debate content
    // and the retired receipt HMAC keys.
    for (const auto& target : app.content_targets) app.encryption->AddTarget(*target);
    if (app.field_cipher) {
        app.receipt_key_target =
            std::make_unique<debate::ReceiptKeyReEncryptTarget>(*app.store, app.field_cipher);
        app.encryption->AddTarget(*app.receipt_key_target);
    }

    service::ServiceSettings ss;
    ss.max_running = static_cast<std::size_t>(s.server.max_concurrent_debates);
    ss.max_queued = static_cast<std::size_t>(s.server.max_queued_debates);
    // The agent enforces ARAGORA_AGENT_TIMEOUT_SECONDS per attempt; the engine bounds the
    // whole turn (every retry and the fallback).
    ss.engine.agent_timeout = app.agents.TurnBudget();
    ss.agent_factory = &app.agents;
    ss.provider_budget = app.provider_budget.get();
    ss.engine.debate_timeout = std::chrono::seconds(s.debate.debate_timeout_seconds);
    ss.running_too_long = std::chrono::seconds(s.debate.running_too_long_seconds);
    ss.engine.convergence_threshold = s.debate.convergence_threshold;
    ss.engine.max_parallel_calls = s.debate.max_parallel_calls;
    debate::ApplyPhaseRetrySettings(s.debate, ss.engine);
    ss.consensus_threshold = s.debate.consensus_threshold;
    ss.demo_latency = std::chrono::milliseconds(s.debate.demo_latency_ms);
    if (s.distributed.enqueue_only) ss.execution = service::ExecutionMode::kWorker;
    // Group commit across debates: SQLite has one writer; PostgreSQL writes on two pooled
    // connections at once (the store's pool threads).
    if (app.db_backend == "postgresql") ss.event_commit_transactions = 2;
    const bool leased = ConfigureInstanceLease(s.distributed, app.db_backend, ss);
    app.service = std::make_unique<service::LocalDebateService>(app.ioc.get_executor(), app.clock,
                                                                ss, *app.store, app.pool, app.keys,
                                                                app.hub, app.registry);
    if (app.distributed) ConnectCancel(*app.distributed, *app.service, app.ioc.get_executor());
    app.service->SetErrorReporter(app.sentry.get());
    auto recovered = co_await app.service->RecoverInterrupted();
    if (!recovered) {
        Log()->error("crash recovery failed: {}", recovered.error().message);
    }
    app.service->StartWatchdog();
    if (leased) app.service->StartLeaseReaper();
    StartReceiptRetention(app);
    app.encryption->Start(app.ioc.get_executor());
    app.debates.Set(app.service.get());
    co_await StartBackups(app);
    if (app.draining) co_return;
    app.ready = true;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    Log()->info("ready duration_ms={} database={} {} data_dir={}", ms, app.db_backend,
                app.db_location, s.storage.data_dir);
    if (!app.banner.empty()) std::cout << app.banner << std::flush;
    (void)common::sd::Notify("READY=1\nSTATUS=ready: api port " + std::to_string(app.api_port));
    asio::co_spawn(app.ioc, WatchDatabase(app), asio::detached);
}

asio::awaitable<void> Drain(App& app) {
    auto grace = std::chrono::seconds(app.settings.server.shutdown_grace_seconds);
    Log()->info("shutdown: draining (grace {} s)", grace.count());
    (void)common::sd::Notify("STOPPING=1\nSTATUS=draining (grace " + std::to_string(grace.count()) +
                             " s)");
    app.draining = true;
    app.SetNotReady("draining");
    if (app.retention_scheduler) app.retention_scheduler->Stop();
    if (app.encryption) app.encryption->Stop();
    app.api_server->StopAccepting();
    if (app.metrics_server) app.metrics_server->StopAccepting();
    WsLog()->info("ws close_all code=1001 reason=draining connections={}",
                  app.api_server->stats().ws_connections_active.load());
    app.api_server->CloseAllWebSockets(1001, "server shutting down");
    StopBackups(app);
    if (app.service) co_await app.service->Drain(grace);
    app.api_server->Shutdown();
    if (app.metrics_server) app.metrics_server->Shutdown();
    if (app.tracing) co_await app.tracing->Shutdown();  // the last spans, each call deadlined
    // Let the last responses and close frames go out, then stop.
    co_await SleepFor(std::chrono::milliseconds(100));
    if (app.distributed) app.distributed->Stop();
    Log()->info("shutdown: complete");
    app.ioc.stop();
}

asio::awaitable<void> HandleSignals(App& app) {
    asio::signal_set signals(app.ioc, SIGINT, SIGTERM, SIGHUP);
    signals.add(SIGUSR1);
    while (true) {
        boost::system::error_code ec;
        int sig = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        if (sig == SIGHUP) {
            auto reopened = common::ReopenLogFiles();
            if (const char* level = std::getenv("ARAGORA_LOG_LEVEL")) common::SetLogLevel(level);
            Log()->info("SIGHUP: log files reopened{}",
                        reopened.ok() ? "" : " (failed: " + reopened.error().message + ")");
            // Its own coroutine: a slow AWS endpoint must not hold back SIGTERM.
            if (app.secrets) {
                asio::co_spawn(app.ioc, RefreshAndLog(*app.secrets, app.http, Log()),
                               asio::detached);
            }
            continue;
        }
        if (sig == SIGUSR1) {
            WsLog()->info(
                "SIGUSR1: ws close_all code=1012 reason=recycle connections={} (clients "
                "reconnect and replay); HTTP untouched",
                app.api_server->stats().ws_connections_active.load());
            app.api_server->CloseAllWebSockets(1012, "service restart");
            continue;
        }
        if (app.signals_seen.fetch_add(1) > 0) {
            Log()->warn("second signal: forcing exit");
            spdlog::shutdown();
            std::_Exit(1);
        }
        Log()->info("signal {} received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        asio::co_spawn(app.ioc, Drain(app), asio::detached);
    }
}

// The WebSocket's credential: ?token=, Authorization: Bearer, or the browser's
// Sec-WebSocket-Protocol "access_token.<token>".
std::string WsToken(const net::HttpRequest& req) {
    if (auto token = req.QueryParam("token"); token && !token->empty()) return *token;
    const std::string authorization = req.Header("authorization");
    if (auto bearer = auth::AuthService::BearerToken(authorization)) {
        return std::string(*bearer);
    }
    std::string protocols = req.Header("sec-websocket-protocol");
    std::size_t pos = 0;
    while (pos < protocols.size()) {
        std::size_t end = protocols.find(',', pos);
        if (end == std::string::npos) end = protocols.size();
        std::string p = protocols.substr(pos, end - pos);
        p.erase(0, p.find_first_not_of(' '));
        p.erase(p.find_last_not_of(' ') + 1);
        if (p.rfind("access_token.", 0) == 0) return p.substr(13);
        pos = end + 1;
    }
    return {};
}

asio::awaitable<void> AuthenticateWs(auth::AuthService& auth, std::string token,
                                     std::function<void(bool)> done) {
    auto principal = co_await auth.Authenticate(std::move(token));
    done(principal.ok() && principal->Allows(auth::Permission::kRead));
}

bool IsLoopbackHost(const std::string& host) {
    if (host == "localhost" || host == "::1" || host == "[::1]") return true;
    auto ip = ratelimit::IpAddress::Parse(host);
    if (!ip) return false;
    auto loopback = ratelimit::CidrList::Parse("127.0.0.0/8,::1/128");
    return loopback && loopback->Contains(*ip);
}

// Human users in the database (0 when it does not exist yet or predates the users table):
// read once before listening, to decide the open development mode. Blocking, on the main
// thread before the I/O threads start.
std::int64_t CountConfiguredUsers(const config::Settings& settings) {
    if (settings.storage.backend == config::DbBackend::kPostgres) {
        // Users only: no debate content is read, so no cipher is needed here.
        config::StorageSettings users_only = settings.storage;
        users_only.encrypt_debate_content = false;
        auto stores = storage::OpenConfiguredStores(users_only, /*migrate=*/false);
        if (!stores) return 0;
        auto n = auth::CountHumanUsers(*stores->auth);
        return n ? *n : 0;
    }
    const std::string& path = settings.storage.sqlite_path;
    std::error_code ec;
    if (path == ":memory:" || path.rfind("file:", 0) == 0) return 0;
    if (!std::filesystem::exists(path, ec)) return 0;
    auto store = storage::OpenSqliteAuthStore({path}, /*migrate=*/false);
    if (!store) return 0;
    auto n = auth::CountHumanUsers(**store);
    return n ? *n : 0;
}

// Auth, rate limits and CORS from the settings; an error is the one line to print.
common::Status SetUpSecurity(App& app) {
    const config::Settings& s = app.settings;
    const auto& sec = s.security;
    auto whitelist = ratelimit::CidrList::Parse(sec.rate_limit_whitelist);
    if (!whitelist) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_RATE_LIMIT_WHITELIST: " + whitelist.error().message);
    }
    auto trusted = ratelimit::CidrList::Parse(sec.trusted_proxies);
    if (!trusted) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_TRUSTED_PROXIES: " + trusted.error().message);
    }
    if (auto cors = api::CorsPolicy::Parse(sec.allowed_origins); !cors) return cors.error();

    auth::AuthConfig ac;
    ac.api_token = s.server.api_token;
    ac.jwt.secret = s.server.jwt_secret;
    ac.jwt.issuer = sec.jwt_issuer;
    ac.jwt.audience = sec.jwt_audience;
    ac.access_ttl = std::chrono::seconds(sec.access_token_ttl_seconds);
    ac.refresh_ttl = std::chrono::hours(24 * sec.refresh_token_ttl_days);
    if (!sec.jwt_secret_previous.empty()) {
        ac.jwt.previous_secret = sec.jwt_secret_previous;
        if (sec.jwt_rotated_at) {
            ac.jwt.previous_valid_until =
                *sec.jwt_rotated_at + std::chrono::hours(sec.jwt_grace_hours);
            Log()->info("jwt: tokens under ARAGORA_JWT_SECRET_PREVIOUS accepted until {}",
                        common::FormatIso8601(*ac.jwt.previous_valid_until));
        } else {
            Log()->warn(
                "jwt: ARAGORA_JWT_SECRET_PREVIOUS is accepted with no end: set "
                "ARAGORA_JWT_SECRET_ROTATED_AT (the grace is ARAGORA_JWT_SECRET_GRACE_HOURS={} h) "
                "or remove it after the overlap",
                sec.jwt_grace_hours);
        }
    }
    const std::int64_t users = CountConfiguredUsers(s);
    const bool configured = !ac.api_token.empty() || !ac.jwt.secret.empty() || users > 0;
    if (ac.jwt.secret.empty() && !s.production) {
        ac.jwt.secret = auth::RandomBase62(32);
        ac.jwt_secret_ephemeral = true;
        if (users > 0) {
            Log()->warn(
                "jwt: no ARAGORA_JWT_SECRET: logins use a per-process secret (tokens end "
                "at restart)");
        }
    }
    ac.open = !configured;
    if (ac.open) {
        app.auth_warning =
            "open development mode: no credential is configured (ARAGORA_API_TOKEN, "
            "ARAGORA_JWT_SECRET or a user), every route answers without one";
        if (!IsLoopbackHost(s.server.host)) {
            if (!sec.allow_unauthenticated) {
                return common::MakeError(
                    ErrorCode::kValidation,
                    "refusing to listen on " + s.server.host +
                        " with no credentials configured: set ARAGORA_API_TOKEN (or "
                        "ARAGORA_JWT_SECRET and add users with `aragora users add`), listen on "
                        "127.0.0.1, or set ARAGORA_ALLOW_UNAUTHENTICATED=1");
            }
            app.auth_warning += " — on a non-loopback address (ARAGORA_ALLOW_UNAUTHENTICATED=1)";
        }
        Log()->warn("auth: {}", app.auth_warning);
    } else {
        Log()->info("auth: service_token={} jwt={} users={}", !ac.api_token.empty(),
                    ac.jwt_secret_ephemeral ? "ephemeral" : (ac.jwt.secret.empty() ? "off" : "on"),
                    users);
    }
    app.auth = std::make_unique<auth::AuthService>(std::move(ac), app.clock, app.pool);

    api::RateLimitConfig rc;
    rc.disabled = sec.rate_limit_disabled;
    rc.per_ip = sec.rate_limit;
    rc.debate_create = sec.rate_limit_debate_rpm;
    rc.auth = sec.rate_limit_auth_rpm;
    rc.per_principal = sec.rate_limit_user_rpm;
    rc.whitelist = std::move(*whitelist);
    rc.trusted_proxies = std::move(*trusted);
    if (rc.disabled) {
        Log()->warn("rate_limit: ARAGORA_RATE_LIMIT_DISABLED=1: no request is rate limited");
    } else {
        Log()->info(
            "rate_limit: sliding window, {} req/min per IP, debate creation {}/min, "
            "login {}/min, whitelist [{}], trusted proxies [{}]",
            rc.per_ip, rc.debate_create, rc.auth, rc.whitelist.ToString(),
            rc.trusted_proxies.ToString());
    }
    app.limits = std::make_unique<api::RequestLimits>(std::move(rc), app.clock);
    ratelimit::RateLimiter::Options wo;
    wo.limit_per_minute = sec.ws_connections_per_minute;
    app.ws_admission = std::make_unique<ratelimit::RateLimiter>(wo, app.clock);
    return {};
}

// --- the start-up steps of RunServe --------------------------------------------------------

// A step that refuses to go on: the exit code (2 bad configuration, 1 cannot start) and
// the one line to print.
struct Refusal {
    int exit_code = 2;
    std::string message;
    bool log = false;  // also a CRITICAL log line (logging is set up by then)
};
using StepResult = std::optional<Refusal>;

int Refuse(const Refusal& r) {
    if (r.log) Log()->critical("{}", r.message);
    std::cerr << "aragora: " << r.message << "\n";
    return r.exit_code;
}

// The environment's settings with the command line's host and ports over them.
Result<config::Settings> LoadServeSettings(const ServeOptions& options) {
    auto loaded = config::LoadSettings(config::ProcessEnv(), config::RunMode::kServer);
    if (!loaded) return loaded.error();
    config::Settings settings = std::move(*loaded);
    if (options.host) settings.server.host = *options.host;
    auto port_ok = [](int p) { return p >= 0 && p <= 65535; };
    for (auto [opt, field, name] :
         {std::tuple{options.api_port, &settings.server.api_port, "--api-port"},
          std::tuple{options.ws_port, &settings.server.ws_port, "--ws-port"},
          std::tuple{options.metrics_port, &settings.server.metrics_port, "--metrics-port"}}) {
        if (!opt) continue;
        if (!port_ok(*opt)) {
            return common::MakeError(
                ErrorCode::kValidation,
                std::string(name) + " must be 0..65535, got " + std::to_string(*opt));
        }
        *field = *opt;
    }
    settings.log.log_dir = settings.server.log_dir;
    return settings;
}

StepResult SetUpLogging(const config::Settings& settings) {
    if (auto s = common::SetupLogging(settings.log); !s) return Refusal{2, s.error().message};
    return std::nullopt;
}

// What the settings ask for and this build or setup cannot give: one warning each.
void WarnAboutSettings(const config::Settings& settings) {
    WarnUnhonouredVariables(config::ProcessEnv(), *Log());
    if (settings.distributed.enqueue_only && storage::DatabaseLock::PathFor(settings.storage)) {
        Log()->warn(
            "ARAGORA_DEBATE_EXECUTION=worker on SQLite: `aragora worker` cannot open {} while "
            "this server holds it (one process per SQLite database), so queued debates wait "
            "for a worker that cannot start; workers need PostgreSQL (DATABASE_URL)",
            settings.storage.sqlite_path);
    }
}

// OpenTelemetry traces: with OTEL_EXPORTER_OTLP_ENDPOINT, the exporter starts and every
// request, debate, phase, agent call and store call of a debate gets a span.
StepResult SetUpTracing(App& app, const trace::TraceSettings& settings) {
    if (!settings.enabled) return std::nullopt;
    trace::Resource resource{settings.service_name, std::string(build::kVersion),
                             common::NewProcessId("s_")};
    auto tracing =
        trace::Tracing::Start(settings, app.ioc, app.clock, std::move(resource), app.registry);
    if (!tracing) return Refusal{2, tracing.error().message};
    app.tracing = std::move(*tracing);
    Log()->info(
        "tracing on: OTLP {} to {} service={} sampler_ratio={} parent_based={} queue={} "
        "batch={} delay_ms={}",
        trace::ToString(settings.protocol),
        settings.protocol == trace::Protocol::kGrpc ? settings.endpoint : settings.traces_url,
        settings.service_name,
        settings.sampler.root == trace::SamplerKind::kAlwaysOff ? 0.0 : settings.sampler.ratio,
        settings.sampler.parent_based, settings.max_queue, settings.max_batch,
        settings.schedule_delay.count());
    return std::nullopt;
}

// Redis (ARAGORA_REDIS_URL) and the ARAGORA_REQUIRE_DISTRIBUTED check.
StepResult CreateDistributed(App& app) {
    const config::Settings& s = app.settings;
    auto distributed =
        Distributed::Create(s.distributed, app.ioc.get_executor(), app.hub, app.pool, app.registry);
    if (!distributed) return Refusal{2, distributed.error().message};
    app.distributed = std::move(*distributed);
    if (s.distributed.require_distributed &&
        (s.storage.backend != config::DbBackend::kPostgres || !app.distributed)) {
        return Refusal{2,
                       "cannot start: ARAGORA_REQUIRE_DISTRIBUTED=true needs shared state: a "
                       "PostgreSQL DATABASE_URL and ARAGORA_REDIS_URL"};
    }
    return std::nullopt;
}

// ARAGORA_ENCRYPT_DEBATE_CONTENT needs a cipher (ARAGORA_ENCRYPTION_KEY): refused before
// listening, in one line (the store opening checks it again).
StepResult CheckContentEncryption(App& app) {
    if (app.settings.storage.encrypt_debate_content &&
        app.settings.encryption.master_key_hex.empty()) {
        return Refusal{2, std::string("cannot start: ") + storage::kEncryptionKeyMissing};
    }
    return std::nullopt;
}

// SetUpSecurity, and with ARAGORA_ENABLE_REDIS_RATE_LIMIT the limits shared through Redis.
StepResult SetUpSecurityAndLimits(App& app) {
    if (auto sec = SetUpSecurity(app); !sec) {
        // One line on stderr; the log file (ARAGORA_LOG_DIR) gets it too.
        return Refusal{2, sec.error().message, !app.settings.server.log_dir.empty()};
    }
    if (app.distributed && app.settings.distributed.redis_rate_limit) {
        app.shared_limits = std::make_unique<ratelimit::SharedLimitBackend>(
            ratelimit::SharedLimiterOptions{}, app.distributed->client(), app.clock, app.registry);
        app.limits->SetSharedBackend(app.shared_limits.get());
        Log()->info("rate limits shared through Redis at {}", app.distributed->RedactedUrl());
    }
    if (app.distributed) ConnectAuthInvalidation(*app.distributed, *app.auth);
    return std::nullopt;
}

api::ApiDeps MakeApiDeps(App& app, AppSystemInfo& system) {
    api::ApiDeps deps{app.debates, app.keys, system, app.registry};
    deps.agents = &app.agents;
    deps.auth = app.auth.get();
    deps.limits = app.limits.get();
    deps.errors = &app.errors;
    deps.tracer = app.tracing ? &app.tracing->tracer() : nullptr;
    deps.retention = &app.retention;
    deps.receipt_keys_document = &app.receipt_keys_document;
    app.backup_access = std::make_unique<api::BackupAccess>(BackupAccessOptions(app));
    deps.backups = app.backup_access.get();
    app.encryption = std::make_unique<EncryptionKeys>(app.settings.encryption, app.registry,
                                                      app.pool, app.clock);
    deps.security_admin = &app.encryption->access();
    deps.debate_content_sealed = app.settings.storage.encrypt_debate_content;
    if (auto cors = api::CorsPolicy::Parse(app.settings.security.allowed_origins); cors) {
        deps.cors = std::move(*cors);
    }
    // ARAGORA_ALLOW_UNAUTHENTICATED=1 on another address: the operator exposed it on purpose.
    deps.open_mode.loopback_hosts_only = IsLoopbackHost(app.settings.server.host);
    return deps;
}

// The web console (api/console.hpp): ARAGORA_CONSOLE_DIR, else the install's or the build
// tree's console, read into memory now (the I/O threads never touch its files). No console
// found: its routes answer 404 (the API is unaffected). An ARAGORA_CONSOLE_DIR that cannot
// be loaded, or an invalid ARAGORA_CONSOLE_BASE_PATH, refuses the start.
StepResult LoadConsole(const App& app, std::shared_ptr<const api::ConsoleAssets>& out) {
    const auto& ss = app.settings.server;
    auto base = api::NormalizeConsoleBasePath(ss.console_base_path);
    if (!base) return Refusal{2, base.error().message};
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    const std::filesystem::path dir =
        api::ResolveConsoleDir(ss.console_dir, api::DefaultConsoleDirs(exe));
    if (dir.empty()) {
        Log()->info("console: none found (set ARAGORA_CONSOLE_DIR); its pages answer 404");
        return std::nullopt;
    }
    auto assets = api::ConsoleAssets::Load(dir, *base);
    if (!assets) {
        return Refusal{2, "ARAGORA_CONSOLE_DIR: " + assets.error().message};
    }
    for (const std::string& skipped : (*assets)->skipped()) {
        Log()->warn("console: skipped {}", skipped);
    }
    Log()->info("console: {} files, {} bytes from {} at {}/", (*assets)->file_count(),
                (*assets)->total_bytes(), (*assets)->root().string(), *base);
    out = std::move(*assets);
    return std::nullopt;
}

api::DebateStreamOptions WebSocketOptions(App& app, const api::CorsPolicy& cors) {
    const config::Settings& settings = app.settings;
    api::DebateStreamOptions ws_options;
    ws_options.heartbeat_interval = std::chrono::seconds(settings.server.ws_heartbeat_seconds);
    ws_options.active_debates = [&app] { return app.debates.Stats().running; };
    ws_options.authenticate_async = [&app](const net::HttpRequest& req,
                                           std::function<void(bool)> done) {
        if (app.auth->open()) {
            done(true);
            return;
        }
        std::string token = WsToken(req);
        if (token.empty()) {
            done(false);
            return;
        }
        asio::co_spawn(app.ioc, AuthenticateWs(*app.auth, std::move(token), std::move(done)),
                       asio::detached);
    };
    if (!cors.allowed.empty()) {
        ws_options.origin_allowed = [cors](std::string_view origin) { return cors.Allows(origin); };
    }
    if (!settings.security.rate_limit_disabled) {
        ws_options.admit = [&app](const net::HttpRequest& req) {
            const std::string ip = app.limits->ClientIp(req);
            if (app.limits->config().whitelist.Contains(ip)) return true;
            if (app.ws_admission->Check(ip).allowed) return true;
            Log()->warn("rate_limit exceeded bucket=ws_connect client_ip={} limit={}", ip,
                        app.ws_admission->options().limit_per_minute);
            return false;
        };
        ws_options.messages_per_second = settings.security.ws_messages_per_second;
    }
    ws_options.max_frame_bytes = 1024 * 1024;
    // ARAGORA_WS_SEND_QUEUE_MAX bounds what one connection may have waiting, in its one
    // queue (net keeps none), with the same headroom as before: max(1024, 4×) frames, and
    // as many live events held back behind a replay (events arrive in stored batches: one
    // round of a large debate is ~150 at once).
    const auto send_queue = static_cast<std::size_t>(settings.server.ws_send_queue_max);
    ws_options.max_pending_live_events = std::max<std::size_t>(1024, 4 * send_queue);
    ws_options.max_queued_frames = std::max<std::size_t>(1024, 4 * send_queue);
    return ws_options;
}

net::ServerLimits ServerLimitsOf(const config::ServerSettings& ss) {
    net::ServerLimits limits;
    limits.max_body_bytes = static_cast<std::size_t>(ss.max_body_bytes);
    limits.max_header_bytes = static_cast<std::size_t>(ss.max_header_bytes);
    limits.max_header_count = static_cast<std::size_t>(ss.max_header_count);
    limits.max_connections = static_cast<std::size_t>(ss.max_connections);
    limits.max_pending_connections_per_ip =
        static_cast<std::size_t>(ss.max_pending_connections_per_ip);
    limits.header_timeout = std::chrono::seconds(ss.header_timeout_seconds);
    limits.keep_alive_idle = std::chrono::seconds(ss.keep_alive_seconds);
    limits.read_timeout = std::chrono::seconds(ss.read_timeout_seconds);
    limits.write_timeout = std::chrono::seconds(ss.write_timeout_seconds);
    limits.ws_max_connections = static_cast<std::size_t>(ss.ws_max_connections);
    limits.ws_ping_interval = std::chrono::seconds(ss.ws_heartbeat_seconds);
    return limits;
}

// The API port and the WebSocket port (one server object: the WS port takes upgrades on
// any path, the API port on /ws).
StepResult Listen(App& app, const api::ApiDeps& deps, net::HttpHandler handler) {
    const auto& ss = app.settings.server;
    auto* app_ptr = &app;
    app.api_server = std::make_unique<net::HttpServer>(
        app.ioc, ServerLimitsOf(ss), std::move(handler), app.ws.get(),
        [app_ptr, guard = deps.open_mode, cors = deps.cors](const net::HttpRequest& req) {
            // Refused in the open mode: not upgraded; the middleware answers it 403.
            if (app_ptr->auth->open() && guard.Refusal(req, cors)) return false;
            return req.path == "/ws" || req.path == "/ws/" ||
                   (app_ptr->ws_port != 0 && req.local_port == app_ptr->ws_port &&
                    app_ptr->ws_port != app_ptr->api_port);
        });
    auto api_port = app.api_server->Listen(ss.host, static_cast<uint16_t>(ss.api_port));
    if (!api_port) {
        return Refusal{1,
                       "cannot listen on " + ss.host + ":" + std::to_string(ss.api_port) + ": " +
                           api_port.error().message,
                       true};
    }
    app.api_port = *api_port;
    auto ws_port = app.api_server->Listen(ss.host, static_cast<uint16_t>(ss.ws_port));
    if (!ws_port) {
        return Refusal{1,
                       "cannot listen on " + ss.host + ":" + std::to_string(ss.ws_port) +
                           " (WebSocket port): " + ws_port.error().message,
                       true};
    }
    app.ws_port = *ws_port;
    return std::nullopt;
}

// GET /metrics on its own port (ARAGORA_METRICS_PORT); when that port is taken, /metrics
// stays on the API port only.
void ListenMetrics(App& app, AppSystemInfo& system) {
    const auto& ss = app.settings.server;
    if (!ss.metrics_enabled) return;
    net::ServerLimits mlimits;
    mlimits.max_connections = 64;
    app.metrics_server = std::make_unique<net::HttpServer>(
        app.ioc, mlimits, [&system](net::HttpRequest req) -> asio::awaitable<net::HttpResponse> {
            net::HttpResponse r;
            std::string id = net::CorrelationIdOf(req);
            if (req.path == "/metrics" && req.method == "GET") {
                r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                r.body = system.PrometheusText();
                co_return r;
            }
            co_return net::MakeErrorResponse(404, "not_found",
                                             "the metrics port serves only GET /metrics", id);
        });
    auto mport = app.metrics_server->Listen(ss.host, static_cast<uint16_t>(ss.metrics_port));
    if (mport) {
        app.metrics_port = *mport;
    } else {
        Log()->warn("metrics port {}:{} unavailable ({}); /metrics stays on the API port", ss.host,
                    ss.metrics_port, mport.error().message);
        app.metrics_server.reset();
    }
}

// The development mode's welcome, printed once ready ("" in production).
std::string Banner(const App& app) {
    const config::Settings& settings = app.settings;
    const auto& ss = settings.server;
    if (settings.production) return {};
    std::ostringstream banner;
    std::string base = "http://" + ss.host + ":" + std::to_string(app.api_port);
    banner << "\nAragora is running (development mode, demo agents, "
           << (settings.storage.backend == config::DbBackend::kPostgres
                   ? std::string("PostgreSQL")
                   : "SQLite at " + settings.storage.sqlite_path)
           << ")\n"
           << "  API        " << base << "/api/v1/debates\n"
           << "  Health     " << base << "/api/v1/health   readiness " << base << "/readyz\n"
           << "  WebSocket  ws://" << ss.host << ":" << app.api_port
           << "/ws?debate_id=<id>   (also ws://" << ss.host << ":" << app.ws_port << "/)\n"
           << "  Metrics    " << base << "/metrics\n"
           << "  OpenAPI    " << base << "/api/openapi.json\n\n"
           << "Start a debate:\n"
           << "  curl -s -X POST " << base
           << "/api/v1/debates -H 'Content-Type: application/json' \\\n"
           << "    -d '{\"task\": \"Should we adopt a four-day work week?\", \"agents\": "
              "[\"demo\", \"demo\", \"demo\", \"demo\"], \"rounds\": 3}'\n"
           << "Then: curl -s " << base << "/api/v1/debates | jq\n"
           << "Stop with Ctrl-C.\n"
           << "\n";
    return banner.str();
}

void AnnounceListening(App& app) {
    const auto& ss = app.settings.server;
    Log()->info("listening api=http://{}:{} ws=ws://{}:{}/ metrics={} env={} threads={}", ss.host,
                app.api_port, ss.host, app.ws_port,
                app.metrics_port
                    ? "http://" + ss.host + ":" + std::to_string(app.metrics_port) + "/metrics"
                    : std::string("api port only"),
                app.settings.env, app.Threads());
    app.banner = Banner(app);
}

// Signals, the startup sequence, the I/O threads; returns the exit code once the
// io_context stopped (after a drain, or a failed startup).
int RunUntilStopped(App& app) {
    asio::co_spawn(app.ioc, HandleSignals(app), asio::detached);
    common::sd::StartWatchdog(app.ioc.get_executor());  // WATCHDOG=1 while the loop runs
    asio::co_spawn(app.ioc, Startup(app), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->critical("startup crashed: {}", e.what());
        }
    });
    std::vector<std::thread> threads;
    int n = app.Threads();
    for (int i = 1; i < n; ++i) threads.emplace_back([&app] { app.ioc.run(); });
    app.ioc.run();
    for (auto& t : threads) t.join();
    app.pool.Stop();
    app.backup_pool.Stop();  // a backup in progress finishes (its files are written atomically)
    if (app.sentry) app.sentry->Close(std::chrono::seconds(2));  // the drain's last errors
    spdlog::default_logger()->flush();
    for (const char* name : {"aragora.app", "aragora.api", "aragora.debate"})
        common::GetLogger(name)->flush();
    return app.exit_code.load();
}

}  // namespace

int RunServe(const ServeOptions& options) {
    auto settings = LoadServeSettings(options);
    if (!settings) return Refuse({2, settings.error().message});
    // Before anything is logged or opened: a second server on this SQLite file says so
    // in one line and touches nothing. Held until RunServe returns (after the App).
    auto lock = storage::LockConfiguredDatabase(settings->storage);
    if (!lock) return Refuse({1, "cannot start: " + lock.error().message});
    if (auto refused = SetUpLogging(*settings)) return Refuse(*refused);
    WarnAboutSettings(*settings);
    if (options.secrets) Log()->info("secrets: {}", options.secrets->Describe());
    auto trace_settings = trace::LoadTraceSettings(config::ProcessEnv());
    if (!trace_settings) return Refuse({2, trace_settings.error().message});

    App app(std::move(*settings), options.secrets);
    AppSystemInfo system(app);
    RegisterServerMetrics(app);
    if (auto refused = SetUpTracing(app, *trace_settings)) return Refuse(*refused);
    if (auto refused = CreateDistributed(app)) return Refuse(*refused);
    if (auto refused = CheckContentEncryption(app)) return Refuse(*refused);
    if (auto refused = SetUpSecurityAndLimits(app)) return Refuse(*refused);
    if (auto sentry = SetUpErrorReporting(app); !sentry) return Refuse({2, sentry.error().message});

    std::shared_ptr<const api::ConsoleAssets> console;
    if (auto refused = LoadConsole(app, console)) return Refuse(*refused);

    api::ApiDeps deps = MakeApiDeps(app, system);
    deps.console = console.get();
    api::Router router;
    api::AddRoutes(router, deps);
    app.ws = std::make_unique<api::DebateStreamHandler>(app.hub, MakeReplaySource(app),
                                                        WebSocketOptions(app, deps.cors));
    if (auto refused = Listen(app, deps, api::MakeHttpHandler(router, deps)))
        return Refuse(*refused);
    ListenMetrics(app, system);
    AnnounceListening(app);
    return RunUntilStopped(app);
}

}  // namespace aragora::app
