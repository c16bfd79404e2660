#include "net/http_types.hpp"

#include <cstdio>

#include "common/ids.hpp"
#include "common/strings.hpp"

namespace aragora::net {
namespace {

using common::IEquals;

bool IsUsableId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

}  // namespace

std::string HttpRequest::Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (IEquals(key, name)) return value;
    }
    return {};
}

bool HttpRequest::HasHeader(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (IEquals(key, name)) return true;
    }
    return false;
}

std::optional<std::string> HttpRequest::QueryParam(std::string_view name) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue;
        size_t eq = pair.find('=');
        std::string_view raw_key = pair.substr(0, eq);
        std::string_view raw_value =
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        auto key = PercentDecode(raw_key, true);
        if (!key || *key != name) continue;
        auto value = PercentDecode(raw_value, true);
        // A malformed escape in the value is kept verbatim rather than hiding the key.
        return value ? std::move(*value) : std::string(raw_value);
    }
    return std::nullopt;
}

std::optional<std::string> PercentDecode(std::string_view in, bool plus_as_space) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return std::nullopt;
            int hi = common::HexDigitValue(in[i + 1]);
            int lo = common::HexDigitValue(in[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            char decoded = static_cast<char>(hi * 16 + lo);
            if (decoded == '\0') return std::nullopt;
            out.push_back(decoded);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string CorrelationIdOf(const HttpRequest& request) {
    for (std::string_view name : {"x-correlation-id", "x-request-id"}) {
        for (const auto& [key, value] : request.headers) {
            if (IEquals(key, name) && IsUsableId(value)) return value;
        }
    }
    return common::NewId("req_");
}

std::string JsonQuote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
    return out;
}

HttpResponse MakeErrorResponse(int status, std::string_view code, std::string_view message,
                               std::string_view correlation_id,
                               std::optional<int> retry_after_seconds) {
    HttpResponse res;
    res.status = status;
    std::string id = JsonQuote(correlation_id);
    res.body = "{\"error\":" + JsonQuote(message) + ",\"code\":" + JsonQuote(code) +
               ",\"correlation_id\":" + id + ",\"trace_id\":" + id;
    if (retry_after_seconds) {
        res.body += ",\"retry_after\":" + std::to_string(*retry_after_seconds);
        res.AddHeader("Retry-After", std::to_string(*retry_after_seconds));
    }
    res.body += "}";
    res.AddHeader("X-Correlation-ID", std::string(correlation_id));
    return res;
}

}  // namespace aragora::net
