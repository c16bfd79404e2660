#pragma once

// Tracing settings from the standard OpenTelemetry environment variables (the names an
// operator already knows; the runbook sets OTEL_EXPORTER_OTLP_ENDPOINT):
//   OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)  unset: tracing off
//   OTEL_EXPORTER_OTLP_PROTOCOL  grpc (default) | http/protobuf
//   OTEL_SERVICE_NAME            default "aragora"
//   OTEL_TRACES_SAMPLER          always_on | always_off | traceidratio |
//                                parentbased_always_on (default) | parentbased_always_off |
//                                parentbased_traceidratio
//   OTEL_TRACES_SAMPLER_ARG      the ratio, 0..1 (default 1)
//   OTEL_SDK_DISABLED            true: tracing off
//   OTEL_BSP_MAX_QUEUE_SIZE (2048), OTEL_BSP_MAX_EXPORT_BATCH_SIZE (512),
//   OTEL_BSP_SCHEDULE_DELAY (ms, 5000), OTEL_BSP_EXPORT_TIMEOUT (ms, 10000)

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::trace {

enum class Protocol { kGrpc, kHttpProtobuf };

enum class SamplerKind { kAlwaysOn, kAlwaysOff, kTraceIdRatio };

struct SamplerSettings {
    SamplerKind root = SamplerKind::kAlwaysOn;  // for a trace that starts here
    bool parent_based = true;                   // follow a valid parent's sampled flag
    double ratio = 1.0;                         // kTraceIdRatio only
};

struct TraceSettings {
    bool enabled = false;
    // As configured, e.g. "http://otel-collector:4317". For http/protobuf the request
    // goes to <endpoint>/v1/traces unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT gave the
    // full URL (`traces_url`).
    std::string endpoint;
    std::string traces_url;
    Protocol protocol = Protocol::kGrpc;
    std::string service_name = "aragora";
    SamplerSettings sampler;
    std::size_t max_queue = 2048;
    std::size_t max_batch = 512;
    std::chrono::milliseconds schedule_delay{5000};
    std::chrono::milliseconds export_timeout{10000};
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// Reads the variables above; a bad value is kValidation naming the variable and what is
// accepted (the binary exits 2, as for its other settings).
common::Result<TraceSettings> LoadTraceSettings(const EnvLookup& env);

std::string_view ToString(Protocol p);

}  // namespace aragora::trace
