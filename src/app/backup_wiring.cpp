#include "app/backup_wiring.hpp"

#include <spdlog/spdlog.h>

#include "app/content_encryption.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "ops/backup_setup.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using common::Result;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.app"); }

struct Opened {
    std::unique_ptr<ops::BackupManager> manager;
    std::optional<ops::DrStatus> status;
};

Result<Opened> OpenManager(const App& app) {
    auto options = ops::BackupOptionsFromSettings(app.settings);
    if (!options) return options.error();
    options->content_cipher = app.field_cipher;
    auto engine = ops::MakeConfiguredBackupEngine(app.settings);
    if (!engine) return engine.error();
    auto manager = ops::BackupManager::Open(std::move(*options), std::move(*engine), app.clock);
    if (!manager) return manager.error();
    Opened out{std::move(*manager), std::nullopt};
    // The manifest's newest success seeds the age metric (a restart is not "no backup").
    if (auto st = out.manager->Status(); st) out.status = std::move(*st);
    return out;
}

}  // namespace

api::BackupAccess::Options BackupAccessOptions(App& app) {
    api::BackupAccess::Options o;
    o.pool = &app.pool;
    o.long_pool = &app.backup_pool;
    o.metrics = &app.backup_metrics;
    o.clock = &app.clock;
    o.settings = app.settings.backup;
    o.data_dir = app.settings.storage.data_dir;
    if (app.settings.storage.backend != config::DbBackend::kPostgres) {
        o.database_path = app.settings.storage.sqlite_path;
    }
    return o;
}

asio::awaitable<void> StartBackups(App& app) {
    const config::BackupSettings& s = app.settings.backup;
    auto open = [&app] { return OpenManager(app); };
    auto opened = co_await app.backup_pool.Run(open);
    if (!opened) {
        const std::string reason = opened.error().message;
        if (app.backup_access) app.backup_access->SetUnavailable(reason);
        if (s.enabled) {
            app.backup_metrics.Failure(ops::BackupStage::kCreate);
            Log()->error(
                "BACKUP_ENABLED=true but backups are unavailable: {}; no scheduled backup "
                "will run",
                reason);
        } else {
            Log()->warn("backups unavailable ({}): /api/v2/backups answers 503", reason);
        }
        co_return;
    }
    app.backup_manager = std::move(opened->manager);
    if (opened->status && opened->status->last_successful_backup) {
        app.backup_metrics.SeedLastSuccess(opened->status->last_successful_backup->created_at);
    }
    if (opened->status && opened->status->last_drill &&
        opened->status->last_drill->status == "passed") {
        app.backup_metrics.DrillRto(opened->status->last_drill->rto_seconds);
    }
    if (app.backup_access) app.backup_access->SetManager(app.backup_manager.get());
    Log()->info("backups dir={} restore_dir={}", app.backup_manager->options().backup_dir.string(),
                app.backup_manager->options().restore_dir.string());
    if (!s.enabled || app.draining) co_return;

    app.backup_job_ops = MakeManagerJobOps(*app.backup_manager);
    app.backup_job_ops.upload = MakeOffsiteUpload(app.settings);
    SchedulerOptions options;
    options.instance_id = common::NewProcessId("s_");
    app.backup_scheduler = std::make_unique<BackupScheduler>(
        app.ioc.get_executor(), app.clock, *app.store, app.pool, app.backup_pool,
        MakeBackupJobs(s, app.backup_job_ops, app.backup_metrics), std::move(options),
        app.backup_metrics);
    app.backup_scheduler->Start();
}

void StopBackups(App& app) {
    if (app.backup_scheduler) app.backup_scheduler->Stop();
}

}  // namespace aragora::app
