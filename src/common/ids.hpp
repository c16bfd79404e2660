#pragma once

#include <string>
#include <string_view>

namespace aragora::common {

// Random id "<prefix><24 lowercase hex>" from the OS CSPRNG (e.g. "d_", "rcpt_").
std::string NewId(std::string_view prefix);
// True when `id` matches [A-Za-z0-9_-]{1,128} (API.md id rule).
bool IsValidId(std::string_view id);

}  // namespace aragora::common
