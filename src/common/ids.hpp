#pragma once

#include <string>
#include <string_view>

namespace aragora::common {

// Random id "<prefix><24 lowercase hex>" from the OS CSPRNG (e.g. "d_", "rcpt_").
std::string NewId(std::string_view prefix);
// "<NewId(prefix)>@<host name>:<pid>": unique per process and readable in logs, for the
// lease owner of a worker or an API instance (debates.lease_owner).
std::string NewProcessId(std::string_view prefix);
// True when `id` matches [A-Za-z0-9_-]{1,128} (API.md id rule).
bool IsValidId(std::string_view id);

}  // namespace aragora::common
