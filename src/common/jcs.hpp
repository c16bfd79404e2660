#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::common {

// RFC 8785 JSON Canonicalization Scheme: parses `json` and re-serializes it with
// object members sorted by UTF-16 code units, minimal string escaping and
// ECMAScript number formatting. Errors on malformed JSON or non-finite numbers.
Result<std::string> CanonicalizeJson(std::string_view json);

}  // namespace aragora::common
