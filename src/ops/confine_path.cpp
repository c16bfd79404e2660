#include "ops/confine_path.hpp"

#include <string>
#include <system_error>

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;

bool IsWithin(const fs::path& path, const fs::path& root) {
    auto p = path.begin();
    for (auto r = root.begin(); r != root.end(); ++r, ++p) {
        if (r->empty()) continue;  // a trailing separator
        if (p == path.end() || *p != *r) return false;
    }
    return true;
}

}  // namespace

common::Result<fs::path> ConfinePath(std::string_view requested,
                                     const std::vector<fs::path>& roots) {
    using common::ErrorCode;
    if (requested.empty()) return common::MakeError(ErrorCode::kValidation, "empty path");
    if (requested.find('\0') != std::string_view::npos) {
        return common::MakeError(ErrorCode::kValidation, "path contains a NUL byte");
    }
    if (roots.empty()) return common::MakeError(ErrorCode::kForbidden, "no directory is allowed");
    std::vector<fs::path> real_roots;
    std::string names;
    for (const auto& root : roots) {
        std::error_code ec;
        auto real = fs::canonical(root, ec);
        if (ec) {
            return common::MakeError(ErrorCode::kNotFound,
                                     "directory " + root.string() + " does not exist");
        }
        names += (names.empty() ? "" : ", ") + real.string();
        real_roots.push_back(std::move(real));
    }
    fs::path path{std::string(requested)};
    if (path.is_relative()) path = real_roots.front() / path;
    // weakly_canonical follows the symlinks of the existing prefix and folds `..`, so a
    // link inside a root that points outside it resolves outside it.
    std::error_code ec;
    auto real = fs::weakly_canonical(path, ec);
    if (ec) {
        return common::MakeError(ErrorCode::kValidation,
                                 "cannot resolve " + path.string() + ": " + ec.message());
    }
    // Outside every root is refused before anything else is said about the path (whether
    // a directory out there exists is none of the caller's business).
    bool within = false;
    for (const auto& root : real_roots) within = within || IsWithin(real, root);
    if (!within) {
        return common::MakeError(ErrorCode::kForbidden,
                                 "path " + std::string(requested) +
                                     " is outside the allowed directories (" + names + ")");
    }
    if (!fs::exists(real.parent_path(), ec)) {
        return common::MakeError(ErrorCode::kNotFound,
                                 "directory " + real.parent_path().string() + " does not exist");
    }
    return real;
}

}  // namespace aragora::ops
