#include "app/secrets_source.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <exception>
#include <optional>
#include <utility>

#include "agents/wire.hpp"
#include "aws/credentials.hpp"
#include "aws/secrets_manager.hpp"
#include "common/strings.hpp"
#include "net/http_client.hpp"

namespace aragora::app {

namespace asio = boost::asio;
using common::ErrorCode;
using common::MakeError;
using common::Result;

namespace {

std::string Join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

// GetSecretValue with credentials from `env`; the message of any error says which secret.
asio::awaitable<Result<config::EnvOverlay::Values>> Fetch(net::HttpClient& http,
                                                          const config::SecretsManagerSettings& s,
                                                          const config::EnvLookup& env) {
    const std::chrono::milliseconds timeout = std::chrono::seconds(s.timeout_seconds);
    const std::string what =
        "AWS Secrets Manager secret '" + s.secret_name + "' (region " + s.region + ")";
    aws::EnvFn credential_env = env;
    auto creds = co_await aws::ResolveCredentials(http, std::move(credential_env), timeout);
    if (!creds) {
        co_return MakeError(creds.error().code,
                            "cannot read " + what + ": " + creds.error().message);
    }
    aws::SecretsManagerTarget target;
    target.endpoint = s.endpoint;
    target.region = s.region;
    target.secret_id = s.secret_name;
    auto values = co_await aws::GetSecretValues(http, std::move(target),
                                                std::move(creds->credentials), timeout);
    if (!values) {
        // The aws/ message names the secret already; ours says it once, with the region.
        std::string message = values.error().message;
        const std::string named = "Secrets Manager secret '" + s.secret_name + "'";
        if (message.rfind(named, 0) == 0) {
            message.erase(0, named.size());
            if (message.rfind(": ", 0) == 0) message.erase(0, 2);
            if (message.rfind(' ', 0) == 0) message.erase(0, 1);
        }
        if (values.error().code == ErrorCode::kForbidden) {
            message += " (credentials from " + creds->source + ")";
        }
        co_return MakeError(values.error().code, "cannot read " + what + ": " + message);
    }
    config::EnvOverlay::Values out(values->begin(), values->end());
    if (auto names = CheckSecretNames(out, s.secret_name); !names) co_return names.error();
    co_return out;
}

net::HttpClientOptions ClientOptionsFrom(const config::EnvLookup& env) {
    auto text = [&](std::string_view name) {
        auto v = env(name);
        return v ? *v : std::string();
    };
    net::HttpClientOptions o;
    o.https_proxy = text("HTTPS_PROXY");
    if (o.https_proxy.empty()) o.https_proxy = text("https_proxy");
    o.no_proxy = text("NO_PROXY");
    if (o.no_proxy.empty()) o.no_proxy = text("no_proxy");
    o.ca_file = text("ARAGORA_CA_BUNDLE");
    o.max_idle_per_host = 1;
    o.max_response_bytes = 1 << 20;  // a secret is at most 64 KiB
    return o;
}

}  // namespace

bool ReadAtEachUse(std::string_view name) {
    for (const auto& p : agents::wire::Providers()) {
        if (!p.key_env.empty() && name == p.key_env) return true;
        if (!p.base_url_env.empty() && name == p.base_url_env) return true;
    }
    return false;
}

common::Status CheckSecretNames(const config::EnvOverlay::Values& values,
                                std::string_view secret_name) {
    for (const auto& entry : values) {
        const std::string& name = entry.first;
        const bool refused = name.rfind("AWS_", 0) == 0 || name.rfind("ARAGORA_SECRETS_", 0) == 0 ||
                             name == "ARAGORA_USE_SECRETS_MANAGER";
        if (refused) {
            return MakeError(ErrorCode::kValidation,
                             "AWS Secrets Manager secret '" + std::string(secret_name) + "' sets " +
                                 name +
                                 ", which chooses how the secret itself is read; set it in the "
                                 "environment instead and remove it from the secret",
                             name);
        }
    }
    return {};
}

SecretsSource::SecretsSource(config::SecretsManagerSettings settings, config::EnvLookup base_env)
    : settings_(std::move(settings)), base_env_(std::move(base_env)) {}

Result<std::shared_ptr<SecretsSource>> SecretsSource::LoadAtStart(const config::EnvLookup& env) {
    auto settings = config::LoadSecretsManagerSettings(env);
    if (!settings) return settings.error();
    if (!settings->enabled) return std::shared_ptr<SecretsSource>();

    std::shared_ptr<SecretsSource> source(new SecretsSource(std::move(*settings), env));
    std::optional<Result<config::EnvOverlay::Values>> out;
    {
        asio::io_context ioc;
        net::HttpClient http(ioc, ClientOptionsFrom(env));
        asio::co_spawn(ioc, Fetch(http, source->settings_, source->base_env_),
                       [&out](std::exception_ptr e, Result<config::EnvOverlay::Values> r) {
                           if (e) {
                               out = MakeError(ErrorCode::kInternal,
                                               "AWS Secrets Manager request failed");
                           } else {
                               out = std::move(r);
                           }
                       });
        ioc.run();
    }
    if (!out) return MakeError(ErrorCode::kInternal, "AWS Secrets Manager request did not end");
    if (!*out) return out->error();
    for (const auto& [name, value] : **out) {
        if (::setenv(name.c_str(), value.c_str(), 1) != 0) {
            return MakeError(ErrorCode::kInternal,
                             "cannot set " + name + " from " + "AWS Secrets Manager");
        }
    }
    (void)source->overlay_->Replace(std::move(**out));
    return source;
}

config::EnvLookup SecretsSource::Env() const { return config::OverlaidEnv(overlay_, base_env_); }

std::string SecretsSource::Describe() const {
    const auto names = Names();
    return std::to_string(names.size()) + " variable" + (names.size() == 1 ? "" : "s") +
           " from AWS Secrets Manager secret '" + settings_.secret_name + "' (region " +
           settings_.region + ")" + (names.empty() ? "" : ": " + Join(names));
}

asio::awaitable<Result<SecretsRefresh>> SecretsSource::Refresh(net::HttpClient& http) {
    auto fetched = co_await Fetch(http, settings_, base_env_);
    if (!fetched) co_return fetched.error();
    SecretsRefresh report;
    for (const auto& entry : *fetched) report.names.push_back(entry.first);
    // A live name that left the secret reads as empty (the environment still holds the
    // start value, which cannot be unset safely once threads run).
    config::EnvOverlay::Values next = std::move(*fetched);
    for (const auto& name : overlay_->Names()) {
        if (!next.count(name) && ReadAtEachUse(name)) next[name] = "";
    }
    for (auto& name : overlay_->Replace(std::move(next))) {
        (ReadAtEachUse(name) ? report.changed_live : report.changed_restart)
            .push_back(std::move(name));
    }
    co_return report;
}

asio::awaitable<void> RefreshAndLog(SecretsSource& source, net::HttpClient& http,
                                    std::shared_ptr<spdlog::logger> log) {
    auto refreshed = co_await source.Refresh(http);
    if (!refreshed) {
        log->error("SIGHUP: secrets not refreshed, the loaded values stay in use: {}",
                   refreshed.error().message);
        co_return;
    }
    log->info("SIGHUP: secrets refreshed: {}", source.Describe());
    if (!refreshed->changed_live.empty()) {
        log->info("SIGHUP: secrets changed, in effect for the next provider call: {}",
                  Join(refreshed->changed_live));
    }
    if (!refreshed->changed_restart.empty()) {
        log->warn("SIGHUP: secrets changed that are read only at start; restart to apply them: {}",
                  Join(refreshed->changed_restart));
    }
    if (refreshed->changed_live.empty() && refreshed->changed_restart.empty()) {
        log->info("SIGHUP: secrets unchanged");
    }
}

}  // namespace aragora::app
