#pragma once

// The loopback OTLP collector of the trace tests: tests/tools/otlp_collector.js (node,
// @grpc/grpc-js + @opentelemetry/otlp-transformer's generated decoders, installed by
// scripts/install-deps.sh with `npm ci`) listening for OTLP/gRPC and OTLP/HTTP on ports
// the OS picks. It dies with the test process (PR_SET_PDEATHSIG, and it exits when its
// stdin closes); Stop() (also run by the destructor) kills and reaps it.

#include <boost/json/value.hpp>
#include <memory>
#include <string>

#include "../../support/node_tool.hpp"

namespace aragora::trace::test_support {

class OtlpCollector {
public:
    // nullptr with `*error` naming what is missing (node, tests/tools/node_modules).
    static std::unique_ptr<OtlpCollector> Start(std::string* error);

    ~OtlpCollector();
    OtlpCollector(const OtlpCollector&) = delete;
    OtlpCollector& operator=(const OtlpCollector&) = delete;

    int grpc_port() const { return grpc_port_; }
    int http_port() const { return http_port_; }
    std::string grpc_endpoint() const { return "http://127.0.0.1:" + std::to_string(grpc_port_); }
    std::string http_endpoint() const { return "http://127.0.0.1:" + std::to_string(http_port_); }

    // GET /spans: {"requests": N, "spans": [{trace_id, span_id, parent_span_id, name,
    // kind, attributes{}, status{code, message}, service_name, transport}, ...]}; a null
    // value when the collector does not answer within 5 s.
    boost::json::value Received() const;

    // Kill and reap (the ports are closed when it returns). Idempotent.
    void Stop();

private:
    OtlpCollector() = default;

    std::unique_ptr<aragora::test_support::NodeTool> node_;
    int grpc_port_ = 0;
    int http_port_ = 0;
};

}  // namespace aragora::trace::test_support
