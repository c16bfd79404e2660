#include "trace/settings.hpp"

#include <charconv>

#include "common/strings.hpp"

namespace aragora::trace {
namespace {

using common::ErrorCode;
using common::MakeError;

std::string Get(const EnvLookup& env, std::string_view name) {
    auto v = env(name);
    return v ? std::string(common::Trim(*v)) : std::string();
}

common::Status ReadCount(const EnvLookup& env, std::string_view name, std::size_t& out) {
    const std::string v = Get(env, name);
    if (v.empty()) return {};
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n == 0 || n > 1'000'000) {
        return MakeError(
            ErrorCode::kValidation,
            std::string(name) + " must be a whole number from 1 to 1000000, got '" + v + "'");
    }
    out = n;
    return {};
}

common::Status ReadMillis(const EnvLookup& env, std::string_view name,
                          std::chrono::milliseconds& out) {
    std::size_t n = static_cast<std::size_t>(out.count());
    auto s = ReadCount(env, name, n);
    if (!s) return s;
    out = std::chrono::milliseconds(n);
    return {};
}

}  // namespace

std::string_view ToString(Protocol p) { return p == Protocol::kGrpc ? "grpc" : "http/protobuf"; }

common::Result<TraceSettings> LoadTraceSettings(const EnvLookup& env) {
    TraceSettings s;
    const std::string traces_endpoint = Get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    s.endpoint =
        traces_endpoint.empty() ? Get(env, "OTEL_EXPORTER_OTLP_ENDPOINT") : traces_endpoint;
    const std::string disabled = common::ToLower(Get(env, "OTEL_SDK_DISABLED"));
    s.enabled = !s.endpoint.empty() && disabled != "true";

    std::string protocol = common::ToLower(Get(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"));
    if (protocol.empty()) protocol = common::ToLower(Get(env, "OTEL_EXPORTER_OTLP_PROTOCOL"));
    if (protocol.empty() || protocol == "grpc") {
        s.protocol = Protocol::kGrpc;
    } else if (protocol == "http/protobuf") {
        s.protocol = Protocol::kHttpProtobuf;
    } else {
        return MakeError(ErrorCode::kValidation,
                         "OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf, got '" +
                             protocol + "' (http/json is not supported by this build)");
    }
    if (s.protocol == Protocol::kHttpProtobuf && !s.endpoint.empty()) {
        if (!traces_endpoint.empty()) {
            s.traces_url = traces_endpoint;
        } else {
            std::string base = s.endpoint;
            while (!base.empty() && base.back() == '/') base.pop_back();
            s.traces_url = base + "/v1/traces";
        }
    }
    if (s.enabled && s.endpoint.find("://") == std::string::npos) {
        return MakeError(ErrorCode::kValidation,
                         "OTEL_EXPORTER_OTLP_ENDPOINT must be a URL such as "
                         "http://otel-collector:4317, got '" +
                             s.endpoint + "'");
    }

    const std::string service = Get(env, "OTEL_SERVICE_NAME");
    if (!service.empty()) s.service_name = service;

    const std::string sampler = common::ToLower(Get(env, "OTEL_TRACES_SAMPLER"));
    if (sampler.empty() || sampler == "parentbased_always_on") {
        s.sampler = {SamplerKind::kAlwaysOn, true, 1.0};
    } else if (sampler == "always_on") {
        s.sampler = {SamplerKind::kAlwaysOn, false, 1.0};
    } else if (sampler == "always_off") {
        s.sampler = {SamplerKind::kAlwaysOff, false, 0.0};
    } else if (sampler == "parentbased_always_off") {
        s.sampler = {SamplerKind::kAlwaysOff, true, 0.0};
    } else if (sampler == "traceidratio") {
        s.sampler = {SamplerKind::kTraceIdRatio, false, 1.0};
    } else if (sampler == "parentbased_traceidratio") {
        s.sampler = {SamplerKind::kTraceIdRatio, true, 1.0};
    } else {
        return MakeError(ErrorCode::kValidation,
                         "OTEL_TRACES_SAMPLER must be always_on, always_off, traceidratio, "
                         "parentbased_always_on, parentbased_always_off or "
                         "parentbased_traceidratio, got '" +
                             sampler + "'");
    }
    const std::string arg = Get(env, "OTEL_TRACES_SAMPLER_ARG");
    if (s.sampler.root == SamplerKind::kTraceIdRatio && !arg.empty()) {
        double ratio = -1;
        auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), ratio);
        if (ec != std::errc() || p != arg.data() + arg.size() || !(ratio >= 0.0 && ratio <= 1.0)) {
            return MakeError(
                ErrorCode::kValidation,
                "OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got '" + arg + "'");
        }
        s.sampler.ratio = ratio;
    }

    if (auto st = ReadCount(env, "OTEL_BSP_MAX_QUEUE_SIZE", s.max_queue); !st) return st.error();
    if (auto st = ReadCount(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", s.max_batch); !st)
        return st.error();
    if (auto st = ReadMillis(env, "OTEL_BSP_SCHEDULE_DELAY", s.schedule_delay); !st)
        return st.error();
    if (auto st = ReadMillis(env, "OTEL_BSP_EXPORT_TIMEOUT", s.export_timeout); !st)
        return st.error();
    s.max_batch = std::min(s.max_batch, s.max_queue);
    return s;
}

}  // namespace aragora::trace
