#pragma once

// Variables from AWS Secrets Manager (ARAGORA_USE_SECRETS_MANAGER=true; docs/configuration.md
// "Secrets from AWS Secrets Manager"). The CLI's one entry point (cli::RunCli) loads them
// before any command reads its settings, so `serve`, `worker` and every command see the
// same values; `serve` fetches again on SIGHUP.
//
// Override rules: the secret is a JSON object of variable names to values; each value
// replaces the environment's value of that name. Names that choose where the secret or its
// credentials come from (ARAGORA_USE_SECRETS_MANAGER, ARAGORA_SECRETS_*, AWS_*) are refused
// in the secret: they would change how the secret itself is read.
//
// What changes at run time (SIGHUP): the provider API keys and base URLs, which the agents
// read at every call (agents::wire::Providers()). Every other variable is read once at
// start; a change to one is logged by name as needing a restart. A name removed from the
// secret reads as empty for the live names until a restart.
//
// Values are secrets: they are never logged, printed or put in an error; log lines name
// the variables and count them.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/env_overlay.hpp"
#include "config/settings.hpp"

namespace aragora::net {
class HttpClient;
}
namespace spdlog {
class logger;
}

namespace aragora::app {

// True when the variable is read at each use (a SIGHUP refresh takes effect at once).
bool ReadAtEachUse(std::string_view name);

// kValidation naming the first name the secret may not set (see the override rules).
common::Status CheckSecretNames(const config::EnvOverlay::Values& values,
                                std::string_view secret_name);

struct SecretsRefresh {
    std::vector<std::string> names;            // every name the secret holds now
    std::vector<std::string> changed_live;     // changed, in effect now
    std::vector<std::string> changed_restart;  // changed, in effect after a restart
};

class SecretsSource {
public:
    // Null when ARAGORA_USE_SECRETS_MANAGER is not true. Otherwise fetches the secret
    // (blocking, on a private io_context, every exchange deadlined by
    // ARAGORA_SECRETS_TIMEOUT_SECONDS) and sets each variable in the process environment
    // (setenv: call it before any thread starts). Any failure is an error whose message is
    // one line, without a value.
    static common::Result<std::shared_ptr<SecretsSource>> LoadAtStart(const config::EnvLookup& env);

    // The fetched values, laid over the process environment for the readers that read at
    // each use (the provider agents).
    std::shared_ptr<const config::EnvOverlay> overlay() const { return overlay_; }
    config::EnvLookup Env() const;
    const config::SecretsManagerSettings& settings() const { return settings_; }
    std::vector<std::string> Names() const { return overlay_->Names(); }
    // "N variables from AWS Secrets Manager secret 'x' (region r): A, B, C".
    std::string Describe() const;

    // Fetches again through `http` (async; every exchange deadlined). On success the
    // overlay holds the new values; on failure nothing changes.
    boost::asio::awaitable<common::Result<SecretsRefresh>> Refresh(net::HttpClient& http);

private:
    SecretsSource(config::SecretsManagerSettings settings, config::EnvLookup base_env);

    config::SecretsManagerSettings settings_;
    // The environment as it was before the secret's values were set (credentials for a
    // refresh come from here).
    config::EnvLookup base_env_;
    std::shared_ptr<config::EnvOverlay> overlay_ = std::make_shared<config::EnvOverlay>();
};

// SIGHUP in `serve` and `worker`: Refresh through `http`, then log (names only) what changed
// and whether it is in effect now or after a restart; a failed refresh is logged as an
// error and changes nothing. `source` and `http` must outlive the coroutine.
boost::asio::awaitable<void> RefreshAndLog(SecretsSource& source, net::HttpClient& http,
                                           std::shared_ptr<spdlog::logger> log);

}  // namespace aragora::app
