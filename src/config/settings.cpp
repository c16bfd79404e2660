#include "config/settings.hpp"

#include <cstdlib>
#include <string>

namespace aragora::config {
namespace {

using common::ErrorCode;
using common::Result;

Result<double> ReadDouble(const EnvLookup& env, std::string_view name, double def, double lo,
                          double hi) {
    auto v = env(name);
    if (!v || v->empty()) return def;
    try {
        std::size_t used = 0;
        double d = std::stod(*v, &used);
        if (used != v->size() || d < lo || d > hi) throw std::invalid_argument("range");
        return d;
    } catch (const std::exception&) {
        return common::MakeError(ErrorCode::kValidation,
                                 std::string(name) + " must be a number in [" + std::to_string(lo) +
                                     ", " + std::to_string(hi) + "], got '" + *v + "'",
                                 std::string(name));
    }
}

Result<int> ReadInt(const EnvLookup& env, std::string_view name, int def, int lo, int hi) {
    auto v = env(name);
    if (!v || v->empty()) return def;
    try {
        std::size_t used = 0;
        long long n = std::stoll(*v, &used);
        if (used != v->size() || n < lo || n > hi) throw std::invalid_argument("range");
        return static_cast<int>(n);
    } catch (const std::exception&) {
        return common::MakeError(ErrorCode::kValidation,
                                 std::string(name) + " must be an integer in [" +
                                     std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                                     *v + "'",
                                 std::string(name));
    }
}

std::string ReadString(const EnvLookup& env, std::string_view name, std::string def = {}) {
    auto v = env(name);
    return v ? *v : def;
}

}  // namespace

EnvLookup ProcessEnv() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

Result<Settings> LoadSettings(const EnvLookup& env, RunMode mode) {
    Settings s;
    s.env = ReadString(env, "ARAGORA_ENV", mode == RunMode::kServer ? "production" : "development");
    s.production = s.env == "production" || s.env == "prod";

    s.log.level = ReadString(env, "ARAGORA_LOG_LEVEL", "INFO");
    std::string fmt =
        ReadString(env, "ARAGORA_LOG_FORMAT", mode == RunMode::kServer ? "json" : "text");
    if (fmt == "json") {
        s.log.format = common::LogFormat::kJson;
    } else if (fmt == "text") {
        s.log.format = common::LogFormat::kText;
    } else {
        return common::MakeError(ErrorCode::kValidation,
                                 "ARAGORA_LOG_FORMAT must be 'json' or 'text', got '" + fmt + "'",
                                 "ARAGORA_LOG_FORMAT");
    }

    s.storage.data_dir = ReadString(env, "ARAGORA_DATA_DIR", "./data");
    if (s.storage.data_dir.empty()) s.storage.data_dir = "./data";
    std::string db_url = ReadString(env, "DATABASE_URL");
    if (db_url.rfind("sqlite:///", 0) == 0) {
        s.storage.sqlite_path = db_url.substr(std::string("sqlite:///").size());
        // sqlite:////abs/path and sqlite:///rel/path (SQLAlchemy's convention)
        if (s.storage.sqlite_path.empty())
            return common::MakeError(ErrorCode::kValidation, "DATABASE_URL sqlite path is empty",
                                     "DATABASE_URL");
    } else if (db_url.empty()) {
        s.storage.sqlite_path = s.storage.data_dir + "/aragora.sqlite3";
    } else if (db_url.rfind("postgres", 0) == 0) {
        return common::MakeError(ErrorCode::kNotImplemented,
                                 "DATABASE_URL: PostgreSQL is not implemented yet; use "
                                 "sqlite:///path or leave it unset",
                                 "DATABASE_URL");
    } else {
        return common::MakeError(ErrorCode::kValidation,
                                 "DATABASE_URL must start with sqlite:/// (got '" + db_url + "')",
                                 "DATABASE_URL");
    }

    s.receipts.signing_key = ReadString(env, "ARAGORA_RECEIPT_SIGNING_KEY");
    s.receipts.signing_key_previous = ReadString(env, "ARAGORA_RECEIPT_SIGNING_KEY_PREVIOUS");
    s.receipts.ed25519_key_file = ReadString(env, "ARAGORA_RECEIPT_ED25519_KEY_FILE");
    auto retention = ReadInt(env, "ARAGORA_RECEIPT_RETENTION_DAYS", 2555, 1, 100000);
    if (!retention) return retention.error();
    s.receipts.retention_days = *retention;

    auto threshold = ReadDouble(env, "ARAGORA_CONSENSUS_THRESHOLD", 0.6, 0.0, 1.0);
    if (!threshold) return threshold.error();
    s.debate.consensus_threshold = *threshold;
    auto conv = ReadDouble(env, "ARAGORA_CONVERGENCE_THRESHOLD", 0.85, 0.0, 1.0);
    if (!conv) return conv.error();
    s.debate.convergence_threshold = *conv;
    auto agent_timeout = ReadInt(env, "ARAGORA_AGENT_TIMEOUT_SECONDS", 240, 1, 3600);
    if (!agent_timeout) return agent_timeout.error();
    s.debate.agent_timeout_seconds = *agent_timeout;
    auto debate_timeout = ReadInt(env, "ARAGORA_DEBATE_TIMEOUT_SECONDS", 900, 1, 86400);
    if (!debate_timeout) return debate_timeout.error();
    s.debate.debate_timeout_seconds = *debate_timeout;
    auto latency =
        ReadInt(env, "ARAGORA_DEMO_LATENCY_MS", mode == RunMode::kServer ? 200 : 0, 0, 60000);
    if (!latency) return latency.error();
    s.debate.demo_latency_ms = *latency;

    if (s.production && s.receipts.signing_key.empty()) {
        return common::MakeError(
            ErrorCode::kValidation,
            "ARAGORA_ENV=production requires ARAGORA_RECEIPT_SIGNING_KEY (set it, or run with "
            "ARAGORA_ENV=development for a local trial)",
            "ARAGORA_RECEIPT_SIGNING_KEY");
    }
    return s;
}

}  // namespace aragora::config
