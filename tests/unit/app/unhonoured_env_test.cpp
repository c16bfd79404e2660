// The runbooks' variables this build cannot honour: each one set gets one warning naming
// it; unset or empty ones, and the variables the binary does read, get none.

#include "app/unhonoured_env.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <sstream>
#include <string>

namespace aragora::app {
namespace {

config::EnvLookup EnvOf(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view n) -> std::optional<std::string> {
        auto it = vars.find(std::string(n));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

std::string Warnings(const config::EnvLookup& env) {
    std::ostringstream out;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
    sink->set_pattern("%l %v");
    spdlog::logger logger("test", sink);
    WarnUnhonouredVariables(env, logger);
    return out.str();
}

TEST(UnhonouredVariables, EachOneSetGetsOneWarningNamingIt) {
    const std::string text = Warnings(EnvOf({{"SENTRY_DSN", "https://k@sentry.example/1"},
                                             {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"},
                                             {"ARAGORA_STORE_DIR", "/app/data/.aragora_beads"},
                                             {"SLO_AVAILABILITY_TARGET", ""},
                                             {"SLO_LATENCY_P99_TARGET_MS", "300"},
                                             {"ARAGORA_REDIS_URL", "redis://x"}}));
    EXPECT_NE(text.find("warning ARAGORA_STORE_DIR is set"), std::string::npos) << text;
    EXPECT_EQ(text.find("SENTRY_DSN"), std::string::npos) << "honoured (src/sentry)";
    EXPECT_EQ(text.find("OTEL_"), std::string::npos) << "honoured (trace/settings.hpp)";
    EXPECT_EQ(text.find("SLO_"), std::string::npos) << "empty means unset; SLO_* are honoured";
    EXPECT_EQ(text.find("ARAGORA_REDIS_URL"), std::string::npos) << "honoured";
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    // The DSN's value (a credential) is never echoed.
    EXPECT_EQ(text.find("sentry.example"), std::string::npos);
}

TEST(UnhonouredVariables, NothingSetNothingSaid) {
    EXPECT_EQ(Warnings(EnvOf({})), "");
    EXPECT_GE(KnownUnhonouredVariables().size(), 1u);
    for (const auto& v : KnownUnhonouredVariables()) {
        EXPECT_NE(v.name.rfind("SLO_", 0), 0u) << v.name << " is read (metrics/slo.hpp)";
        EXPECT_NE(v.name.rfind("OTEL_", 0), 0u) << v.name << " is read (trace/settings.hpp)";
    }
}

}  // namespace
}  // namespace aragora::app
