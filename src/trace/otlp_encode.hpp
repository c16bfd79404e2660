#pragma once

// OTLP's ExportTraceServiceRequest in the protobuf wire format, written by hand (a few
// messages; no generated code, no .proto copied in). Field numbers follow
// opentelemetry/proto/{collector/trace/v1/trace_service,trace/v1/trace,common/v1/common,
// resource/v1/resource}.proto. The same bytes go over OTLP/gRPC and OTLP/HTTP
// (application/x-protobuf).

#include <string>
#include <string_view>
#include <vector>

#include "trace/span.hpp"

namespace aragora::trace {

// Facts about the process, sent once per request as the resource's attributes.
struct Resource {
    std::string service_name;     // service.name
    std::string service_version;  // service.version ("" omits it)
    std::string instance_id;      // service.instance.id ("" omits it)
};

inline constexpr std::string_view kScopeName = "aragora";

// One ResourceSpans with one ScopeSpans ("aragora") holding `spans`.
std::string EncodeExportRequest(const Resource& resource, const std::vector<SpanData>& spans);

// The low-level writer, exposed for its tests.
class ProtoWriter {
public:
    void Varint(std::uint64_t value);
    void Tag(int field, int wire_type);
    void VarintField(int field, std::uint64_t value);  // omitted when 0 (proto3 default)
    void BytesField(int field, std::string_view bytes);
    void Fixed64Field(int field, std::uint64_t value);
    void DoubleField(int field, double value);
    // Writes a length-delimited field whose content `fill` writes into a nested writer.
    template <class Fill>
    void Message(int field, Fill&& fill) {
        ProtoWriter inner;
        fill(inner);
        BytesField(field, inner.out_);
    }
    const std::string& bytes() const { return out_; }
    std::string Take() { return std::move(out_); }

private:
    std::string out_;
};

}  // namespace aragora::trace
