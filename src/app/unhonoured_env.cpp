#include "app/unhonoured_env.hpp"

#include <spdlog/spdlog.h>

namespace aragora::app {

const std::vector<UnhonouredVariable>& KnownUnhonouredVariables() {
    static const std::vector<UnhonouredVariable> kTable = {
        {"ARAGORA_STORE_DIR",
         "there is no Knowledge Mound store in this build (/health reports knowledge_mound "
         "not_configured); debates run without historical context"},
    };
    return kTable;
}

std::vector<UnhonouredVariable> UnhonouredVariablesSet(const config::EnvLookup& env) {
    std::vector<UnhonouredVariable> out;
    for (const auto& v : KnownUnhonouredVariables()) {
        const auto value = env(v.name);
        if (value && !value->empty()) out.push_back(v);
    }
    return out;
}

void WarnUnhonouredVariables(const config::EnvLookup& env, spdlog::logger& logger) {
    for (const auto& v : UnhonouredVariablesSet(env)) {
        logger.warn("{} is set but not supported by this build: {}", v.name, v.consequence);
    }
}

}  // namespace aragora::app
