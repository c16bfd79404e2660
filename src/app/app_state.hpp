#pragma once

// The objects `aragora serve` owns (the composition root's state), shared by the files of
// app/: server_app.cpp (start-up steps, signals, drain), system_info.cpp (the system
// routes' documents) and server_metrics.cpp. Internal to app/: nothing outside includes it.
//
// Thread-safety: members are built by RunServe before the I/O threads start, or by the
// startup sequence before `ready` is set; afterwards they are read from any thread. The
// atomics and the mutex-guarded reason are written while serving.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agents/factory.hpp"
#include "api/api.hpp"
#include "api/security.hpp"
#include "api/ws_handler.hpp"
#include "app/backup_jobs.hpp"
#include "app/backup_scheduler.hpp"
#include "app/distributed.hpp"
#include "app/key_rotation.hpp"
#include "app/receipt_retention.hpp"
#include "auth/service.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "config/settings.hpp"
#include "debate/receipt_keys.hpp"
#include "events/hub.hpp"
#include "keys/cipher.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/registry.hpp"
#include "net/http_client.hpp"
#include "net/server.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_metrics.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/redis_limiter.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/health.hpp"
#include "sentry/reporter.hpp"
#include "service/local_debate_service.hpp"
#include "service/receipt_retention.hpp"
#include "storage/open_stores.hpp"
#include "trace/tracing.hpp"

namespace aragora::app {

class SecretsSource;  // app/secrets_source.hpp

// Answers kUnavailable until the real service exists (the startup sequence builds it
// after the listeners are up, so that /readyz can say "startup in progress").
class GatedDebateService final : public service::DebateService {
public:
    void Set(service::LocalDebateService* s) { inner_.store(s); }
    service::LocalDebateService* Get() const { return inner_.load(); }

    boost::asio::awaitable<common::Result<storage::DebateRecord>> Create(
        service::CreateDebateRequest r) override;
    boost::asio::awaitable<common::Result<storage::DebateRecord>> Cancel(
        const std::string& id) override;
    boost::asio::awaitable<common::Result<storage::DebateRecord>> Get(
        const std::string& id) override;
    boost::asio::awaitable<common::Result<storage::DebatePage>> List(
        storage::DebateFilter f) override;
    boost::asio::awaitable<common::Result<service::EventsPage>> Events(const std::string& id,
                                                                       std::int64_t since,
                                                                       int limit) override;
    boost::asio::awaitable<common::Result<storage::ReceiptRecord>> Receipt(
        const std::string& id) override;
    boost::asio::awaitable<common::Result<storage::ReceiptPage>> Receipts(
        const std::string& debate_id, int limit, int offset) override;
    service::ServiceStats Stats() const override;

private:
    std::atomic<service::LocalDebateService*> inner_{nullptr};
};

// Everything the server owns, in construction order.
struct App {
    // `secrets`: variables from AWS Secrets Manager (null when not used); the provider
    // agents read their keys through it, so a SIGHUP refresh reaches them.
    explicit App(config::Settings s, std::shared_ptr<SecretsSource> secrets = nullptr);

    int Threads() const;

    config::Settings settings;
    std::shared_ptr<SecretsSource> secrets;
    common::SystemClock clock;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    boost::asio::io_context ioc;
    common::BlockingPool pool;
    metrics::Registry registry;
    // SENTRY_DSN (error_reporting.hpp): null when unset. Declared early: it outlives
    // everything that reports to it.
    std::unique_ptr<sentry::Reporter> sentry;
    events::EventHub hub;
    metrics::Family<metrics::Counter>& health_transitions;
    resilience::HealthRegistry health;
    metrics::ProcessMetrics process;
    resilience::CircuitBreakerRegistry breakers;
    // Bound on provider calls in flight (ARAGORA_PROVIDER_CONNECTIONS), shared by `http`
    // and the debate service's admission.
    std::shared_ptr<net::ConnectionBudget> provider_budget;
    net::HttpClient http;  // provider calls; destroyed before ioc
    // OpenTelemetry traces (OTEL_EXPORTER_OTLP_ENDPOINT); null = off. Destroyed before ioc.
    std::unique_ptr<trace::Tracing> tracing;
    agents::AgentMetrics agent_metrics;
    agents::AgentFactory agents;
    GatedDebateService debates;
    // Receipt retention (legal holds, cleanups, deletion log): its store is attached and its
    // scheduler started by the startup sequence.
    service::ReceiptRetention retention;
    std::unique_ptr<ReceiptRetentionScheduler> retention_scheduler;

    // Auth and rate limiting (built by RunServe before listening).
    std::unique_ptr<auth::AuthService> auth;
    std::unique_ptr<api::RequestLimits> limits;
    std::unique_ptr<ratelimit::RateLimiter> ws_admission;  // WebSocket connections per IP
    api::ErrorLog errors;
    std::string auth_warning;  // the open-mode warning of /api/v1/health

    // Redis (ARAGORA_REDIS_URL): health, shared limits, the multi-instance bus.
    std::unique_ptr<Distributed> distributed;
    // ARAGORA_ENABLE_REDIS_RATE_LIMIT: limits counted in Redis for every instance.
    std::unique_ptr<ratelimit::SharedLimitBackend> shared_limits;

    // Built by the startup sequence.
    std::unique_ptr<storage::Store> store;
    std::unique_ptr<storage::AuthStore> auth_store;
    // Encryption of debate content at rest: failed decryptions by reason (/metrics), and
    // the tables the key rotation re-encrypts (empty without a cipher).
    std::shared_ptr<storage::DecryptFailureCounts> decrypt_failures =
        std::make_shared<storage::DecryptFailureCounts>();
    std::vector<std::shared_ptr<keys::ReEncryptTarget>> content_targets;
    std::shared_ptr<storage::PgPool> pg_pool;           // PostgreSQL: owned for pool_stats
    std::atomic<storage::PgPool*> pool_stats{nullptr};  // read by /metrics (any thread)
    std::atomic<bool> db_unreachable{false};            // WatchDatabase's last verdict
    std::string db_backend = "sqlite";
    std::string db_location;  // file, or DSN with the password redacted
    debate::ReceiptKeys keys;
    // Seals the receipt keyring's HMAC keys in the store; null = no master key (only key
    // ids and Ed25519 public keys are stored). Set from src/keys/ (ARAGORA_ENCRYPTION_KEY).
    std::shared_ptr<const keys::FieldCipher> field_cipher;
    // The retired receipt HMAC keys' re-encryption target (with a cipher only).
    std::unique_ptr<keys::ReEncryptTarget> receipt_key_target;
    api::PublishedText receipt_keys_document;  // GET /.well-known/aragora/receipt-keys.json
    std::unique_ptr<service::LocalDebateService> service;

    std::unique_ptr<api::DebateStreamHandler> ws;
    std::unique_ptr<net::HttpServer> api_server;
    std::unique_ptr<net::HttpServer> metrics_server;
    uint16_t api_port = 0;
    uint16_t ws_port = 0;
    uint16_t metrics_port = 0;

    std::atomic<bool> ready{false};
    std::atomic<bool> draining{false};
    std::mutex reason_mutex;
    std::string not_ready_reason = "startup in progress";
    std::atomic<int> signals_seen{0};
    std::atomic<int> exit_code{0};
    std::string banner;  // printed once ready (development mode)

    // Backups (app/backup_wiring.hpp): the metrics from the start; the API's access (its
    // manager set by the startup sequence); with BACKUP_ENABLED the scheduler. Declared
    // last so that they go first: the scheduler before the store it claims slots in.
    ops::BackupMetrics backup_metrics{registry, clock};
    std::unique_ptr<api::BackupAccess> backup_access;
    std::unique_ptr<ops::BackupManager> backup_manager;
    BackupJobOps backup_job_ops;
    std::unique_ptr<BackupScheduler> backup_scheduler;
    // Long backup work (create, verify, restore tests, drills; scheduled or requested):
    // one thread of its own, so that a backup never holds the store's pool threads.
    common::BlockingPool backup_pool{1, 16};
    // Encryption at rest: keyring, rotation schedule, the admin security routes' access
    // (app/key_rotation.hpp). Built with the API deps, loaded by the startup sequence.
    std::unique_ptr<EncryptionKeys> encryption;

    // The startup sequence failed: say why in one line and stop with exit code 1.
    void FailStartup(const std::string& reason);
    void SetNotReady(std::string reason);
    std::string NotReadyReason();
    // False while storage writes fail (disk full, database refusing writes): the debate
    // service's write health (service::StorageWriteHealth), which recovers by itself.
    // Readiness, health, status and aragora_ready follow it. Any thread.
    bool StorageWritable() const;
    double Uptime() const;
};

}  // namespace aragora::app
