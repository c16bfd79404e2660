#include "cli/worker_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agents/factory.hpp"
#include "app/content_encryption.hpp"
#include "app/distributed.hpp"
#include "app/secrets_source.hpp"
#include "app/unhonoured_env.hpp"
#include "cli/exit_codes.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/sd_notify.hpp"
#include "common/time.hpp"
#include "debate/receipt_keys.hpp"
#include "events/hub.hpp"
#include "metrics/registry.hpp"
#include "net/http_client.hpp"
#include "resilience/circuit_breaker.hpp"
#include "sentry/reporter.hpp"
#include "service/local_debate_service.hpp"
#include "storage/database_lock.hpp"
#include "storage/open_stores.hpp"

namespace aragora::cli {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;

std::shared_ptr<spdlog::logger> Log() {
    static auto logger = common::GetLogger("aragora.worker");
    return logger;
}

// The one place the worker opens its database (SQLite or PostgreSQL, as configured).
Result<std::unique_ptr<storage::Store>> OpenWorkerStore(const config::Settings& settings) {
    auto opened = app::OpenStores(settings, /*migrate=*/true);
    if (!opened) return opened.error();
    return std::move(opened->store);
}

std::string IsoIn(const common::Clock& clock, std::chrono::milliseconds d) {
    return common::FormatIso8601(
        clock.SystemNow() + std::chrono::duration_cast<std::chrono::system_clock::duration>(d));
}

class Worker {
public:
    Worker(const WorkerOptions& options, const common::Clock& clock, storage::Store& store,
           common::BlockingPool& pool, service::LocalDebateService& service, std::string id)
        : options_(options),
          clock_(clock),
          store_(store),
          pool_(pool),
          service_(service),
          id_(std::move(id)),
          rng_(std::random_device{}()) {}

    // Claims and runs debates until Stop(); reaps expired leases on the way.
    asio::awaitable<void> Run() {
        auto reap_every =
            options_.reap_interval.count() > 0 ? options_.reap_interval : options_.lease / 2;
        auto next_reap = clock_.SteadyNow();
        timer_.emplace(co_await asio::this_coro::executor);
        while (!stopping_) {
            if (clock_.SteadyNow() >= next_reap) {
                next_reap = clock_.SteadyNow() + reap_every;
                auto reaped = co_await service_.ReapExpiredLeases();
                if (!reaped)
                    Log()->warn("reaping expired leases failed: {}", reaped.error().message);
            }
            while (!stopping_ &&
                   service_.Running() < static_cast<std::size_t>(options_.concurrency)) {
                const std::string now = common::FormatIso8601(clock_.SystemNow());
                const std::string until = IsoIn(clock_, options_.lease);
                auto claimed = co_await pool_.Run(
                    [this, &now, &until] { return store_.ClaimQueuedDebate(id_, now, until); });
                if (!claimed) {
                    Log()->warn("claiming a queued debate failed: {}", claimed.error().message);
                    break;
                }
                if (!claimed->has_value()) break;
                storage::DebateRecord debate = std::move(**claimed);
                Log()->info("claimed debate_id={} worker={} attempt={} lease_until={}", debate.id,
                            id_, debate.attempts, until);
                const std::string debate_id = debate.id;
                auto started = co_await service_.RunClaimed(std::move(debate));
                if (!started) {
                    Log()->warn("could not run claimed debate_id={}: {}", debate_id,
                                started.error().message);
                    break;
                }
            }
            if (stopping_) break;
            // Idle (or full): poll again after the interval, ±25 % so that workers started
            // together do not claim in lockstep.
            std::uniform_real_distribution<double> jitter(0.75, 1.25);
            auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(
                static_cast<double>(options_.poll_interval.count()) * jitter(rng_)));
            timer_->expires_after(wait);
            boost::system::error_code ec;
            co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // Any thread: stops claiming (the running debates are the service's to drain).
    void Stop(asio::any_io_executor ex) {
        stopping_ = true;
        asio::post(ex, [this] {
            if (timer_) timer_->cancel();
        });
    }

private:
    const WorkerOptions& options_;
    const common::Clock& clock_;
    storage::Store& store_;
    common::BlockingPool& pool_;
    service::LocalDebateService& service_;
    const std::string id_;
    std::mt19937_64 rng_;
    std::atomic<bool> stopping_{false};
    std::optional<asio::steady_timer> timer_;  // the Run coroutine's executor
};

int RunWorker(std::optional<int> concurrency, const std::shared_ptr<app::SecretsSource>& secrets) {
    auto loaded = config::LoadSettings(config::ProcessEnv(), config::RunMode::kServer);
    if (!loaded) {
        std::cerr << "aragora: " << loaded.error().message << "\n";
        return kExitUsage;
    }
    config::Settings settings = std::move(*loaded);
    // One worker per SQLite database, and none beside a serve on it (storage/database_lock).
    auto lock = storage::LockConfiguredDatabase(settings.storage);
    if (!lock) {
        std::cerr << "aragora: cannot start: " << lock.error().message << "\n";
        return kExitFailed;
    }
    settings.log.log_dir = settings.server.log_dir;
    if (auto s = common::SetupLogging(settings.log); !s) {
        std::cerr << "aragora: " << s.error().message << "\n";
        return kExitUsage;
    }
    app::WarnUnhonouredVariables(config::ProcessEnv(), *Log());
    if (secrets) Log()->info("secrets: {}", secrets->Describe());
    auto options = WorkerOptionsFrom(settings, concurrency);
    if (!options) {
        std::cerr << "aragora: " << options.error().message << "\n";
        return kExitUsage;
    }
    auto keys = debate::LoadReceiptKeys(settings);
    if (!keys) {
        std::cerr << "aragora: " << keys.error().message << "\n";
        return kExitUsage;
    }
    auto store = OpenWorkerStore(settings);
    if (!store) {
        std::cerr << "aragora: cannot start: database unavailable: " << store.error().message
                  << "\n";
        return kExitFailed;
    }

    asio::io_context ioc;
    common::SystemClock clock;
    common::BlockingPool pool(2, 256);
    metrics::Registry registry;
    events::EventHub hub;
    resilience::CircuitBreakerRegistry breakers(
        clock, {.breaker = agents::BreakerConfigFrom(settings.agents)});
    net::HttpClientOptions http_options = agents::ClientOptionsFrom(settings.agents);
    http_options.budget = agents::ProviderBudgetFrom(settings.agents, clock);
    net::HttpClient http(ioc, http_options);
    agents::AgentFactory factory(agents::FactorySettingsFrom(settings),
                                 secrets ? secrets->Env() : config::ProcessEnv(), &http, &breakers,
                                 nullptr);
    auto error_reporter = sentry::ReporterFromSettings(
        settings, agents::ClientOptionsFrom(settings.agents), clock, registry);
    if (!error_reporter) {
        std::cerr << "aragora: " << error_reporter.error().message << "\n";
        return kExitUsage;
    }
    factory.SetErrorReporter(error_reporter->get());

    const std::string worker_id = common::NewProcessId("w_");
    service::ServiceSettings ss;
    ss.max_running = static_cast<std::size_t>(options->concurrency);
    ss.max_queued = 0;  // a worker claims only what it can start at once
    ss.engine.agent_timeout = factory.TurnBudget();
    ss.agent_factory = &factory;
    ss.engine.debate_timeout = std::chrono::seconds(settings.debate.debate_timeout_seconds);
    ss.engine.convergence_threshold = settings.debate.convergence_threshold;
    ss.engine.max_parallel_calls = settings.debate.max_parallel_calls;
    debate::ApplyPhaseRetrySettings(settings.debate, ss.engine);
    ss.consensus_threshold = settings.debate.consensus_threshold;
    ss.demo_latency = std::chrono::milliseconds(settings.debate.demo_latency_ms);
    ss.lease.worker_id = worker_id;
    ss.lease.duration = options->lease;
    // Redis (ARAGORA_REDIS_URL): with ARAGORA_MULTI_INSTANCE the debates this worker runs
    // stream to WebSocket clients of every API instance, and cancels reach it from any.
    auto distributed =
        app::Distributed::Create(settings.distributed, ioc.get_executor(), hub, pool, registry);
    if (!distributed) {
        std::cerr << "aragora: " << distributed.error().message << "\n";
        return kExitUsage;
    }
    if (settings.distributed.require_distributed &&
        (settings.storage.backend != config::DbBackend::kPostgres || !*distributed)) {
        std::cerr << "aragora: cannot start: ARAGORA_REQUIRE_DISTRIBUTED=true needs a PostgreSQL "
                     "DATABASE_URL and ARAGORA_REDIS_URL\n";
        return kExitFailed;
    }
    if (*distributed) (*distributed)->AttachStore(store->get());
    service::LocalDebateService service(ioc.get_executor(), clock, ss, **store, pool, *keys, hub,
                                        registry);
    service.SetErrorReporter(error_reporter->get());
    if (*distributed) app::ConnectCancel(**distributed, service, ioc.get_executor());
    service.StartWatchdog();
    Worker worker(*options, clock, **store, pool, service, worker_id);

    std::atomic<int> signals_seen{0};
    std::atomic<int> exit_code{kExitOk};
    asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
    auto drain = [&]() -> asio::awaitable<void> {
        co_await service.Drain(
            std::chrono::duration_cast<std::chrono::milliseconds>(options->shutdown_grace));
        Log()->info("worker stopped worker={}", worker_id);
        if (*distributed) (*distributed)->Stop();
        ioc.stop();
    };
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {  // systemctl reload: log files, and the secret again
                auto reopened = common::ReopenLogFiles();
                Log()->info("SIGHUP: log files reopened{}",
                            reopened.ok() ? "" : " (failed: " + reopened.error().message + ")");
                if (secrets) {
                    asio::co_spawn(ioc, app::RefreshAndLog(*secrets, http, Log()), asio::detached);
                }
                signals.async_wait(on_signal);
                return;
            }
            if (signals_seen.fetch_add(1) > 0) {
                Log()->warn("second signal: forcing exit");
                spdlog::shutdown();
                std::_Exit(1);
            }
            Log()->info(
                "signal {} received: no more claims; waiting up to {} s for {} running debate(s)",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", options->shutdown_grace.count(),
                service.Running());
            (void)common::sd::Notify("STOPPING=1\nSTATUS=draining");
            worker.Stop(ioc.get_executor());
            asio::co_spawn(ioc, drain(), asio::detached);
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);

    Log()->info("worker started worker={} concurrency={} lease_ms={} database={}", worker_id,
                options->concurrency, options->lease.count(),
                settings.storage.backend == config::DbBackend::kPostgres
                    ? std::string("postgresql")
                    : settings.storage.sqlite_path);
    const bool require_redis = settings.distributed.require_distributed;
    auto start_redis = [&]() -> asio::awaitable<void> {
        auto up = co_await (*distributed)->Start(std::chrono::seconds(5));
        if (!up && require_redis) {
            std::cerr << "aragora: cannot start: ARAGORA_REQUIRE_DISTRIBUTED=true and Redis is "
                         "not reachable: "
                      << up.error().message << "\n";
            exit_code = kExitFailed;
            ioc.stop();
        }
    };
    // Spawned first: Start() sets the hub's relay before the worker publishes anything.
    if (*distributed) asio::co_spawn(ioc, start_redis(), asio::detached);
    asio::co_spawn(ioc, worker.Run(), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->critical("worker loop crashed: {}", e.what());
        }
    });
    common::sd::StartWatchdog(ioc.get_executor());
    (void)common::sd::Notify("READY=1\nSTATUS=worker " + worker_id + " claiming");
    std::vector<std::thread> threads;
    for (int i = 1; i < 2; ++i) threads.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    if (*error_reporter) (*error_reporter)->Close(std::chrono::seconds(2));  // the drain's errors
    pool.Stop();
    spdlog::default_logger()->flush();
    for (const char* name : {"aragora.worker", "aragora.debate"}) common::GetLogger(name)->flush();
    return exit_code.load();
}

}  // namespace

Result<WorkerOptions> WorkerOptionsFrom(const config::Settings& settings,
                                        std::optional<int> concurrency) {
    WorkerOptions o;
    o.concurrency = concurrency.value_or(settings.distributed.worker_concurrency);
    if (o.concurrency < 1 || o.concurrency > 256) {
        return common::MakeError(
            ErrorCode::kValidation,
            (concurrency ? std::string("--concurrency") : std::string("WORKER_CONCURRENCY")) +
                " must be between 1 and 256, got " + std::to_string(o.concurrency),
            "concurrency");
    }
    o.lease = std::chrono::seconds(settings.distributed.lease_seconds);
    o.shutdown_grace = std::chrono::seconds(settings.server.shutdown_grace_seconds);
    return o;
}

void AddWorkerCommand(CLI::App& app, int& exit_code,
                      const std::shared_ptr<app::SecretsSource>& secrets) {
    auto concurrency = std::make_shared<std::optional<int>>();
    auto* cmd = app.add_subcommand(
        "worker", "Run debates queued in the database (ARAGORA_DEBATE_EXECUTION=worker)");
    cmd->add_option("--concurrency", *concurrency,
                    "Debates run at once (env WORKER_CONCURRENCY, default 3)");
    cmd->callback(
        [concurrency, &exit_code, &secrets] { exit_code = RunWorker(*concurrency, secrets); });
}

}  // namespace aragora::cli
