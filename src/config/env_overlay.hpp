#pragma once

// Variables that come from somewhere other than the process environment (AWS Secrets
// Manager, app/secrets_source) and the settings that say where to fetch them. Pure: no
// I/O here; the fetch lives in aws/ and its wiring in app/.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/settings.hpp"

namespace aragora::config {

// A set of variable values laid over an EnvLookup. Thread-safe: Lookup may run on any
// thread (provider calls read their keys at every call) while Replace runs on another
// (SIGHUP). Values are secrets: nothing here logs or prints them.
class EnvOverlay {
public:
    using Values = std::map<std::string, std::string, std::less<>>;

    std::optional<std::string> Lookup(std::string_view name) const;
    // Replaces every value; answers the names whose value was added, changed or removed
    // (sorted), never the values.
    std::vector<std::string> Replace(Values values);
    // The names held now (sorted).
    std::vector<std::string> Names() const;

private:
    mutable std::mutex mu_;
    Values values_;
};

// `overlay` first, then `base`. The overlay must outlive the returned lookup's copies
// (it is held by shared_ptr).
EnvLookup OverlaidEnv(std::shared_ptr<const EnvOverlay> overlay, EnvLookup base);

// ARAGORA_USE_SECRETS_MANAGER and where the secret is (docs/configuration.md).
struct SecretsManagerSettings {
    bool enabled = false;                            // ARAGORA_USE_SECRETS_MANAGER
    std::string secret_name = "aragora/production";  // ARAGORA_SECRETS_NAME
    std::string region;                              // AWS_REGION, else AWS_DEFAULT_REGION
    // AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL, else
    // https://secretsmanager.<region>.amazonaws.com.
    std::string endpoint;
    // ARAGORA_SECRETS_TIMEOUT_SECONDS (1..300): the deadline of each HTTP exchange
    // (credential endpoints and GetSecretValue).
    int timeout_seconds = 10;
};

// kValidation for a bad boolean or timeout, or enabled without a region (names only).
common::Result<SecretsManagerSettings> LoadSecretsManagerSettings(const EnvLookup& env);

}  // namespace aragora::config
