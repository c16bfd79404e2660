#include "common/json_access.hpp"

#include <cmath>
#include <limits>

namespace aragora::common {

namespace json = boost::json;

std::optional<std::int64_t> AsInt64(const json::value& v) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64()) {
        const std::uint64_t u = v.get_uint64();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(u);
    }
    if (v.is_double()) {
        const double d = v.get_double();
        // -2^63 and 2^63 are exact doubles; the range check keeps the cast defined.
        if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

std::optional<double> AsDouble(const json::value& v) {
    if (v.is_double()) return v.get_double();
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    return std::nullopt;
}

const json::value* FindField(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
}

std::optional<std::string> StringField(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->get_string());
}

std::string StringFieldOr(const json::object& o, std::string_view key, std::string fallback) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return fallback;
    return std::string(v->get_string());
}

std::optional<std::int64_t> Int64Field(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v == nullptr ? std::nullopt : AsInt64(*v);
}

std::optional<double> DoubleField(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v == nullptr ? std::nullopt : AsDouble(*v);
}

const json::object& ObjectFieldOrEmpty(const json::object& o, std::string_view key) {
    static const json::object kEmpty;
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? v->get_object() : kEmpty;
}

const json::array& ArrayFieldOrEmpty(const json::object& o, std::string_view key) {
    static const json::array kEmpty;
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_array() ? v->get_array() : kEmpty;
}

Result<std::optional<std::string>> OptionalStringField(const json::object& o, std::string_view key,
                                                       std::size_t max_bytes) {
    const json::value* v = FindField(o, key);
    if (v == nullptr) return std::optional<std::string>();
    const std::string name(key);
    if (!v->is_string()) return MakeError(ErrorCode::kValidation, name + " must be a string", name);
    if (v->get_string().size() > max_bytes) {
        return MakeError(ErrorCode::kValidation,
                         name + " must be at most " + std::to_string(max_bytes) + " characters",
                         name);
    }
    return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::string> RequiredStringField(const json::object& o, std::string_view key,
                                        std::size_t max_bytes) {
    auto v = OptionalStringField(o, key, max_bytes);
    if (!v) return v.error();
    if (!*v || (*v)->empty()) {
        return MakeError(ErrorCode::kValidation, std::string(key) + " is required",
                         std::string(key));
    }
    return std::move(**v);
}

}  // namespace aragora::common
