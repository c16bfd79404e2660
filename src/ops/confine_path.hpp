#pragma once

// Paths an operator or an API caller names must stay inside the directories configured
// for them (backup dir, restore dir, data dir): no `..` out, no symlink escape.

#include <filesystem>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace aragora::ops {

// Resolves `requested` (absolute, or relative to roots[0]) and returns it when it lies
// inside one of `roots` once every existing symlink on the way is followed (the last
// component may not exist yet; its parent must). kValidation for an empty path or a NUL
// byte, kForbidden (naming the allowed roots) for a path outside every root, kNotFound
// when a root does not exist. Roots are resolved the same way.
common::Result<std::filesystem::path> ConfinePath(std::string_view requested,
                                                  const std::vector<std::filesystem::path>& roots);

}  // namespace aragora::ops
