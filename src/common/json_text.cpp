#include "common/json_text.hpp"

#include <boost/json.hpp>
#include <cmath>

#include "common/jcs.hpp"

namespace aragora::common {
namespace {

void Append(const boost::json::value& v, std::string& out);

void AppendObject(const boost::json::object& o, std::string& out) {
    out.push_back('{');
    bool first = true;
    for (const auto& kv : o) {
        if (!first) out.push_back(',');
        first = false;
        AppendJsonString(kv.key(), out);
        out.push_back(':');
        Append(kv.value(), out);
    }
    out.push_back('}');
}

void AppendArray(const boost::json::array& a, std::string& out) {
    out.push_back('[');
    bool first = true;
    for (const auto& v : a) {
        if (!first) out.push_back(',');
        first = false;
        Append(v, out);
    }
    out.push_back(']');
}

void Append(const boost::json::value& v, std::string& out) {
    switch (v.kind()) {
        case boost::json::kind::null:
            out.append("null");
            break;
        case boost::json::kind::bool_:
            out.append(v.get_bool() ? "true" : "false");
            break;
        case boost::json::kind::int64:
            out.append(std::to_string(v.get_int64()));
            break;
        case boost::json::kind::uint64:
            out.append(std::to_string(v.get_uint64()));
            break;
        case boost::json::kind::double_: {
            double d = v.get_double();
            if (std::isfinite(d)) {
                AppendJsonNumber(d, out);
            } else {
                out.append("null");
            }
            break;
        }
        case boost::json::kind::string:
            AppendJsonString(v.get_string(), out);
            break;
        case boost::json::kind::array:
            AppendArray(v.get_array(), out);
            break;
        case boost::json::kind::object:
            AppendObject(v.get_object(), out);
            break;
    }
}

}  // namespace

std::string SerializeJson(const boost::json::value& v) {
    std::string out;
    Append(v, out);
    return out;
}

std::string SerializeJson(const boost::json::object& o) {
    std::string out;
    AppendObject(o, out);
    return out;
}

std::string SerializeJson(const boost::json::array& a) {
    std::string out;
    AppendArray(a, out);
    return out;
}

}  // namespace aragora::common
