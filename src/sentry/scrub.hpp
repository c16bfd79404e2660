#pragma once

// Secrets never leave the process in an error report. A Scrubber replaces, in any text:
//  - the exact values of the process's secrets (API keys, tokens, passwords, DSNs'
//    passwords: see SecretsFromEnvironment), wherever they appear;
//  - provider-style keys (sk-..., sk-ant-..., xai-..., AIza..., ghp_...), the credentials
//    after "Bearer " / "Basic ", a URL's user:password@, and the value of key=value,
//    key: value and "key": "value" pairs whose key names a secret (password, passwd, pwd,
//    secret, token, api_key, apikey, key, authorization, cookie, session, credential,
//    signature, dsn);
// with "[Filtered]". Headers whose name names a secret (Authorization, Cookie,
// Set-Cookie, X-Api-Key, Proxy-Authorization, any *token*, *secret*, *key*, *password*)
// keep their name and lose their value. Thread-safe (immutable after construction).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/settings.hpp"

namespace aragora::sentry {

inline constexpr std::string_view kFiltered = "[Filtered]";

class Scrubber {
public:
    // `known_secrets`: exact values to remove (values shorter than 6 characters are
    // ignored: they would match ordinary text).
    explicit Scrubber(std::vector<std::string> known_secrets = {});

    std::string Text(std::string_view text) const;
    // A query string (a=1&b=2): values of secret-named keys filtered, then Text().
    std::string Query(std::string_view query) const;
    std::vector<std::pair<std::string, std::string>> Headers(
        const std::vector<std::pair<std::string, std::string>>& headers) const;

    static bool IsSecretName(std::string_view name);

private:
    std::vector<std::string> known_;
};

// The values of the environment variables in `names` that look secret (IsSecretName of
// the variable name, or a URL carrying a password: DATABASE_URL, ARAGORA_REDIS_URL, ...):
// the whole value and, for URLs, the password part.
std::vector<std::string> SecretsFromEnvironment(const config::EnvLookup& env,
                                                const std::vector<std::string>& names);
// The names of the current process's environment variables.
std::vector<std::string> ProcessEnvironmentNames();

}  // namespace aragora::sentry
