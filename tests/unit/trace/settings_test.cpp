#include "trace/settings.hpp"

#include <gtest/gtest.h>

#include <map>

namespace aragora::trace {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
    return [vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(TraceSettings, OffWithoutAnEndpoint) {
    auto s = LoadTraceSettings(Env({{"OTEL_SERVICE_NAME", "x"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->enabled);
    EXPECT_EQ(s->service_name, "x");
}

TEST(TraceSettings, RunbookEndpointIsGrpcWithDefaults) {
    auto s =
        LoadTraceSettings(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->enabled);
    EXPECT_EQ(s->protocol, Protocol::kGrpc);
    EXPECT_EQ(s->endpoint, "http://otel-collector:4317");
    EXPECT_EQ(s->service_name, "aragora");
    EXPECT_EQ(s->sampler.root, SamplerKind::kAlwaysOn);
    EXPECT_TRUE(s->sampler.parent_based);
    EXPECT_EQ(s->max_queue, 2048u);
    EXPECT_EQ(s->max_batch, 512u);
}

TEST(TraceSettings, HttpProtobufAppendsTheTracesPath) {
    auto s = LoadTraceSettings(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"},
                                    {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->protocol, Protocol::kHttpProtobuf);
    EXPECT_EQ(s->traces_url, "http://c:4318/v1/traces");
    auto full = LoadTraceSettings(Env({{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:9/custom"},
                                       {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"}}));
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->traces_url, "http://c:9/custom");
}

TEST(TraceSettings, SamplerNamesAndRatio) {
    auto s = LoadTraceSettings(Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"},
                                    {"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"},
                                    {"OTEL_TRACES_SAMPLER_ARG", "0.1"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->sampler.root, SamplerKind::kTraceIdRatio);
    EXPECT_TRUE(s->sampler.parent_based);
    EXPECT_DOUBLE_EQ(s->sampler.ratio, 0.1);
    auto off = LoadTraceSettings(Env({{"OTEL_TRACES_SAMPLER", "always_off"}}));
    ASSERT_TRUE(off.ok());
    EXPECT_EQ(off->sampler.root, SamplerKind::kAlwaysOff);
    EXPECT_FALSE(off->sampler.parent_based);
}

TEST(TraceSettings, SdkDisabledWins) {
    auto s = LoadTraceSettings(
        Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"}, {"OTEL_SDK_DISABLED", "true"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->enabled);
}

TEST(TraceSettings, BadValuesNameTheVariable) {
    const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
        {{{"OTEL_TRACES_SAMPLER", "sometimes"}}, "OTEL_TRACES_SAMPLER"},
        {{{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "1.5"}},
         "OTEL_TRACES_SAMPLER_ARG"},
        {{{"OTEL_TRACES_SAMPLER", "traceidratio"}, {"OTEL_TRACES_SAMPLER_ARG", "x"}},
         "OTEL_TRACES_SAMPLER_ARG"},
        {{{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
        {{{"OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4317"}}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
        {{{"OTEL_BSP_MAX_QUEUE_SIZE", "0"}}, "OTEL_BSP_MAX_QUEUE_SIZE"},
        {{{"OTEL_BSP_SCHEDULE_DELAY", "soon"}}, "OTEL_BSP_SCHEDULE_DELAY"},
    };
    for (const auto& [vars, name] : cases) {
        auto s = LoadTraceSettings(Env(vars));
        ASSERT_FALSE(s.ok()) << name;
        EXPECT_EQ(s.error().code, common::ErrorCode::kValidation);
        EXPECT_NE(s.error().message.find(name), std::string::npos) << s.error().message;
    }
}

}  // namespace
}  // namespace aragora::trace
