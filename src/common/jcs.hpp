#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace aragora::common {

// RFC 8785 JSON Canonicalization Scheme: parses `json` and re-serializes it with
// object members sorted by UTF-16 code units, minimal string escaping and
// ECMAScript number formatting. Errors (kBadRequest) on malformed JSON, duplicate
// object keys (RFC 8785 requires I-JSON), non-finite numbers and nesting deeper than 32.
// Numbers are read from their text with correct rounding, so canonical output is exact.
Result<std::string> CanonicalizeJson(std::string_view json);

// Appends a finite double in ECMAScript Number::toString form (1.5, 0.001, 1e+21), the
// form RFC 8785 prescribes; callers handle NaN and infinities.
void AppendJsonNumber(double v, std::string& out);
// Appends a JSON string literal with RFC 8785's minimal escaping (UTF-8 passed through).
void AppendJsonString(std::string_view s, std::string& out);

// Same as CanonicalizeJson for a JSON object, leaving out the top-level members whose
// names are in `omit` (nested members of the same name are kept). Errors when `json`
// is not an object.
Result<std::string> CanonicalizeJsonObjectWithout(std::string_view json,
                                                  const std::vector<std::string>& omit);

}  // namespace aragora::common
