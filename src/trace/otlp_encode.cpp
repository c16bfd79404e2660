#include "trace/otlp_encode.hpp"

#include <cstring>
#include <type_traits>

namespace aragora::trace {
namespace {

constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;

// AnyValue: string_value 1, bool_value 2, int_value 3, double_value 4.
void WriteAnyValue(ProtoWriter& w, const AttributeValue& value) {
    std::visit(
        [&w](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                w.BytesField(1, v);
            } else if constexpr (std::is_same_v<T, bool>) {
                w.Tag(2, kVarint);
                w.Varint(v ? 1 : 0);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                w.Tag(3, kVarint);
                w.Varint(static_cast<std::uint64_t>(v));
            } else {
                w.DoubleField(4, v);
            }
        },
        value);
}

// KeyValue: key 1, value 2.
void WriteKeyValue(ProtoWriter& w, int field, std::string_view key, const AttributeValue& value) {
    w.Message(field, [&](ProtoWriter& kv) {
        kv.BytesField(1, key);
        kv.Message(2, [&](ProtoWriter& any) { WriteAnyValue(any, value); });
    });
}

// Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8,
// attributes 9, status 15 (message 2, code 3), flags 16.
void WriteSpan(ProtoWriter& w, const SpanData& s) {
    w.BytesField(1, std::string_view(reinterpret_cast<const char*>(s.trace_id.bytes.data()),
                                     s.trace_id.bytes.size()));
    w.BytesField(2, std::string_view(reinterpret_cast<const char*>(s.span_id.bytes.data()),
                                     s.span_id.bytes.size()));
    if (s.parent_span_id.Valid()) {
        w.BytesField(4,
                     std::string_view(reinterpret_cast<const char*>(s.parent_span_id.bytes.data()),
                                      s.parent_span_id.bytes.size()));
    }
    w.BytesField(5, s.name);
    w.VarintField(6, static_cast<std::uint64_t>(s.kind));
    w.Fixed64Field(7, s.start_unix_nano);
    w.Fixed64Field(8, s.end_unix_nano);
    for (const auto& a : s.attributes) WriteKeyValue(w, 9, a.key, a.value);
    if (s.status != StatusCode::kUnset) {
        w.Message(15, [&](ProtoWriter& st) {
            if (!s.status_message.empty()) st.BytesField(2, s.status_message);
            st.VarintField(3, static_cast<std::uint64_t>(s.status));
        });
    }
}

}  // namespace

void ProtoWriter::Varint(std::uint64_t value) {
    while (value >= 0x80) {
        out_.push_back(static_cast<char>((value & 0x7F) | 0x80));
        value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
}

void ProtoWriter::Tag(int field, int wire_type) {
    Varint(static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type));
}

void ProtoWriter::VarintField(int field, std::uint64_t value) {
    if (value == 0) return;
    Tag(field, kVarint);
    Varint(value);
}

void ProtoWriter::BytesField(int field, std::string_view bytes) {
    Tag(field, kLengthDelimited);
    Varint(bytes.size());
    out_.append(bytes);
}

void ProtoWriter::Fixed64Field(int field, std::uint64_t value) {
    Tag(field, kFixed64);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(value >> (8 * i)));
}

void ProtoWriter::DoubleField(int field, double value) {
    std::uint64_t bits = 0;
    static_assert(sizeof(bits) == sizeof(value));
    std::memcpy(&bits, &value, sizeof(bits));
    Fixed64Field(field, bits);
}

// ExportTraceServiceRequest: resource_spans 1. ResourceSpans: resource 1 (attributes 1),
// scope_spans 2. ScopeSpans: scope 1 (name 1, version 2), spans 2.
std::string EncodeExportRequest(const Resource& resource, const std::vector<SpanData>& spans) {
    ProtoWriter request;
    request.Message(1, [&](ProtoWriter& rs) {
        rs.Message(1, [&](ProtoWriter& res) {
            WriteKeyValue(res, 1, "service.name", AttributeValue(resource.service_name));
            if (!resource.service_version.empty())
                WriteKeyValue(res, 1, "service.version", AttributeValue(resource.service_version));
            if (!resource.instance_id.empty())
                WriteKeyValue(res, 1, "service.instance.id", AttributeValue(resource.instance_id));
            WriteKeyValue(res, 1, "telemetry.sdk.language", AttributeValue(std::string("cpp")));
        });
        rs.Message(2, [&](ProtoWriter& ss) {
            ss.Message(1, [&](ProtoWriter& scope) { scope.BytesField(1, kScopeName); });
            for (const auto& s : spans) {
                ss.Message(2, [&](ProtoWriter& w) { WriteSpan(w, s); });
            }
        });
    });
    return request.Take();
}

}  // namespace aragora::trace
