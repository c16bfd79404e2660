#include "config/env_overlay.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/strings.hpp"

namespace aragora::config {

using common::ErrorCode;

std::optional<std::string> EnvOverlay::Lookup(std::string_view name) const {
    std::lock_guard lock(mu_);
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::vector<std::string> EnvOverlay::Replace(Values values) {
    std::vector<std::string> changed;
    std::lock_guard lock(mu_);
    for (const auto& [name, value] : values) {
        auto it = values_.find(name);
        if (it == values_.end() || it->second != value) changed.push_back(name);
    }
    for (const auto& entry : values_) {
        if (!values.count(entry.first)) changed.push_back(entry.first);
    }
    std::sort(changed.begin(), changed.end());
    values_ = std::move(values);
    return changed;
}

std::vector<std::string> EnvOverlay::Names() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& entry : values_) out.push_back(entry.first);
    return out;
}

EnvLookup OverlaidEnv(std::shared_ptr<const EnvOverlay> overlay, EnvLookup base) {
    return [overlay = std::move(overlay),
            base = std::move(base)](std::string_view name) -> std::optional<std::string> {
        if (overlay) {
            if (auto v = overlay->Lookup(name)) return v;
        }
        return base(name);
    };
}

common::Result<SecretsManagerSettings> LoadSecretsManagerSettings(const EnvLookup& env) {
    SecretsManagerSettings s;
    auto text = [&](std::string_view name) {
        auto v = env(name);
        return v ? std::string(common::Trim(*v)) : std::string();
    };
    const std::string use = common::ToLower(text("ARAGORA_USE_SECRETS_MANAGER"));
    if (use == "true" || use == "1" || use == "yes") {
        s.enabled = true;
    } else if (!use.empty() && use != "false" && use != "0" && use != "no") {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_USE_SECRETS_MANAGER must be true/false/1/0/yes/no",
                                 "ARAGORA_USE_SECRETS_MANAGER");
    }
    if (auto name = text("ARAGORA_SECRETS_NAME"); !name.empty()) s.secret_name = name;
    s.region = text("AWS_REGION");
    if (s.region.empty()) s.region = text("AWS_DEFAULT_REGION");
    s.endpoint = text("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    if (s.endpoint.empty()) s.endpoint = text("AWS_ENDPOINT_URL");
    if (auto t = text("ARAGORA_SECRETS_TIMEOUT_SECONDS"); !t.empty()) {
        int v = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec != std::errc() || p != t.data() + t.size() || v < 1 || v > 300) {
            return common::MakeError(ErrorCode::kValidation,
                                     "ARAGORA_SECRETS_TIMEOUT_SECONDS must be an integer in "
                                     "1..300, got '" +
                                         t + "'",
                                     "ARAGORA_SECRETS_TIMEOUT_SECONDS");
        }
        s.timeout_seconds = v;
    }
    if (!s.enabled) return s;
    if (s.region.empty()) {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_USE_SECRETS_MANAGER=true needs AWS_REGION (or "
                                 "AWS_DEFAULT_REGION): the region of the secret " +
                                     s.secret_name,
                                 "AWS_REGION");
    }
    if (s.endpoint.empty()) s.endpoint = "https://secretsmanager." + s.region + ".amazonaws.com";
    return s;
}

}  // namespace aragora::config
