#pragma once

// `aragora serve`: the composition root. Builds every component in order, listens at
// once (readiness 503 until the startup sequence is done), runs until SIGTERM/SIGINT,
// then drains (readiness 503, stop accepting, WebSockets 1001, grace period for running
// debates, cancel and persist the rest) and exits 0.
// SIGHUP reopens log files, reloads the log level and fetches the AWS Secrets Manager
// secret again (app/secrets_source.hpp says which variables take effect at once); SIGUSR1 closes
// every WebSocket with 1012 (clients reconnect and replay) and leaves HTTP untouched.
//
// The files of app/: server_app.cpp (RunServe's named steps, the startup sequence, the DB
// watcher, signals, drain), app_state (the App the steps fill), system_info + system_docs
// (the system routes' documents from a SystemSnapshot), server_metrics, event_replay (the
// WebSocket replay's store paging), storage/database_lock (one process per SQLite database),
// unhonoured_env (warnings), distributed + redis_bus (Redis), instance_lease
// (serve's own debates under its lease on PostgreSQL).

#include <memory>
#include <optional>
#include <string>

namespace aragora::app {

class SecretsSource;

struct ServeOptions {
    std::optional<std::string> host;
    std::optional<int> api_port;
    std::optional<int> ws_port;
    std::optional<int> metrics_port;
    // Variables loaded from AWS Secrets Manager at start (null when not used): logged by
    // name, laid under the provider agents, fetched again on SIGHUP.
    std::shared_ptr<SecretsSource> secrets;
};

// Runs the server to the end. Returns the process exit code (0 after a graceful stop,
// 2 for bad configuration, 1 when it cannot start, e.g. another process holds its SQLite
// database).
int RunServe(const ServeOptions& options);

}  // namespace aragora::app
