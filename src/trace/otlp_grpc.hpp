#pragma once

// OTLP/gRPC transport: the unary call
// /opentelemetry.proto.collector.trace.v1.TraceService/Export through gRPC's generic
// stub with the hand-encoded request as a raw byte buffer (no generated code). gRPC's
// headers are included by otlp_grpc.cpp only. The call's deadline is the export timeout;
// its completion (on a gRPC thread) resumes the awaiting coroutine on its own executor.

#include <memory>
#include <string>

#include "common/result.hpp"
#include "trace/exporter.hpp"

namespace aragora::trace {

// `endpoint` as configured: "http://host:port" (plaintext) or "https://host:port" (TLS
// with the system roots); a bare "host:port" is plaintext. kValidation for anything else.
common::Result<std::unique_ptr<Transport>> MakeGrpcTransport(const std::string& endpoint);

}  // namespace aragora::trace
