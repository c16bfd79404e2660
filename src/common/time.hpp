#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace aragora::common {

// "2026-11-23T18:00:00.123Z" (UTC, milliseconds).
std::string FormatIso8601(std::chrono::system_clock::time_point tp);
// Parses the format above (milliseconds optional). nullopt on malformed input.
std::optional<std::chrono::system_clock::time_point> ParseIso8601(std::string_view s);
// Seconds since the epoch as a double (event envelopes).
double EpochSeconds(std::chrono::system_clock::time_point tp);

}  // namespace aragora::common
