#pragma once

// Typed reads of Boost.JSON object members, written once.
//
// Two kinds:
// - Tolerant getters (stored documents, events, replies we produced): a member that is
//   missing, null or of another type is "absent" (nullopt, empty, or the fallback).
// - Checked getters (request bodies): absent is allowed where it says so, another type
//   is a kValidation error whose `field` is the member name, for API.md's 400 shape.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::common {

// --- values ---

// A JSON number with an integral value that fits int64: 3, 3.0 and 2^63-1 as uint64;
// nullopt for 3.5, 1e300, strings and everything else.
std::optional<std::int64_t> AsInt64(const boost::json::value& v);
// Any JSON number as a double (int64 and uint64 converted); nullopt otherwise.
std::optional<double> AsDouble(const boost::json::value& v);

// --- tolerant member getters ---

// The member `key` unless it is missing or null.
const boost::json::value* FindField(const boost::json::object& o, std::string_view key);
std::optional<std::string> StringField(const boost::json::object& o, std::string_view key);
// StringField or `fallback` (default "").
std::string StringFieldOr(const boost::json::object& o, std::string_view key,
                          std::string fallback = {});
std::optional<std::int64_t> Int64Field(const boost::json::object& o, std::string_view key);
std::optional<double> DoubleField(const boost::json::object& o, std::string_view key);
// The member if it is an object / array, else a reference to a static empty one.
const boost::json::object& ObjectFieldOrEmpty(const boost::json::object& o, std::string_view key);
const boost::json::array& ArrayFieldOrEmpty(const boost::json::object& o, std::string_view key);

// --- checked member getters (kValidation naming the member) ---

// Missing or null → nullopt; a string longer than `max_bytes` or another type → error
// ("<key> must be a string", "<key> must be at most N characters").
Result<std::optional<std::string>> OptionalStringField(const boost::json::object& o,
                                                       std::string_view key, std::size_t max_bytes);
// OptionalStringField, and missing/null/"" → "<key> is required".
Result<std::string> RequiredStringField(const boost::json::object& o, std::string_view key,
                                        std::size_t max_bytes);

}  // namespace aragora::common
