#pragma once

// The web console (web/, built by web/build.mjs) served by the binary: the asset set is
// read into memory once at start (no file I/O on the I/O threads, and nothing under the
// asset root can be named by a request but the files loaded), answered through the route
// table with the console's caching and security headers. Console routes answer
// index.html (the single-page app's fallback); /assets/* answer the hashed files.

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/router.hpp"
#include "common/result.hpp"
#include "net/http_types.hpp"

namespace aragora::api {

struct ApiDeps;

struct ConsoleFile {
    std::string body;
    std::string gzip;  // gzip of body when that is smaller (text types), else ""
    std::string content_type;
    std::string etag;        // "\"<16 hex of SHA-256>\""
    bool immutable = false;  // under assets/ (content-hashed names)
};

class ConsoleAssets {
public:
    // Limits of what Load reads: the console is a handful of small files.
    static constexpr std::size_t kMaxFiles = 2000;
    static constexpr std::size_t kMaxTotalBytes = 64u << 20;

    // Reads every regular file under `root` (which must hold index.html). A symlink is
    // followed only when its target lies inside `root` (ops::ConfinePath); one that
    // escapes is skipped and named in `skipped`. `base_path` ("" or "/prefix", see
    // NormalizeConsoleBasePath) is written into index.html's <base href>.
    // kNotFound: no index.html; kValidation: over the limits or unreadable.
    static common::Result<std::shared_ptr<const ConsoleAssets>> Load(
        const std::filesystem::path& root, std::string base_path);

    // The file at `relative` ("index.html", "assets/main-AB12.js"); null when none.
    const ConsoleFile* Find(std::string_view relative) const;
    const ConsoleFile& Index() const { return *index_; }
    // index.html with its <base href> set to `base_path` + "/" (a validated prefix, see
    // ParseForwardedPrefix): Index() itself for the configured base path, else a copy
    // with its own ETag and gzip, built once per prefix (at most kMaxIndexVariants kept;
    // beyond that each call builds one).
    static constexpr std::size_t kMaxIndexVariants = 16;
    std::shared_ptr<const ConsoleFile> IndexFor(std::string_view base_path) const;
    const std::filesystem::path& root() const { return root_; }
    const std::string& base_path() const { return base_path_; }
    std::size_t file_count() const { return files_.size(); }
    std::size_t total_bytes() const { return total_bytes_; }
    const std::vector<std::string>& skipped() const { return skipped_; }

private:
    std::filesystem::path root_;
    std::string base_path_;
    std::map<std::string, ConsoleFile, std::less<>> files_;
    const ConsoleFile* index_ = nullptr;
    std::size_t total_bytes_ = 0;
    std::vector<std::string> skipped_;
    mutable std::mutex variants_mutex_;
    mutable std::map<std::string, std::shared_ptr<const ConsoleFile>, std::less<>> variants_;
};

// Content-Type by extension (text types with charset=utf-8); application/octet-stream
// for an unknown one.
std::string ConsoleContentType(std::string_view path);

// ARAGORA_CONSOLE_BASE_PATH → "" (root) or "/a/b" (leading '/', no trailing '/');
// kValidation for anything but [A-Za-z0-9._~-] segments ("..", "." and empty segments
// refused).
common::Result<std::string> NormalizeConsoleBasePath(std::string_view value);

// X-Forwarded-Prefix (a reverse proxy that strips a path prefix names it): "" (root) or
// "/a/b" when `value` is a path of [A-Za-z0-9._~-] segments starting with one '/' (a
// trailing '/' is dropped), at most kMaxForwardedPrefix bytes; nullopt for anything else
// (a scheme or host, "//", '.' or '..' segments, quotes, angle brackets, '%', ',',
// spaces, control bytes): such a value is ignored, never reflected.
inline constexpr std::size_t kMaxForwardedPrefix = 256;
std::optional<std::string> ParseForwardedPrefix(std::string_view value);

// The base path index.html is answered with: the request's X-Forwarded-Prefix when
// `trusted_peer` (the socket peer is in ARAGORA_TRUSTED_PROXIES) and the request carries
// exactly one well-formed X-Forwarded-Prefix field; else `configured`
// (ARAGORA_CONSOLE_BASE_PATH).
std::string ConsoleBasePathFor(const net::HttpRequest& request, bool trusted_peer,
                               std::string_view configured);

// index.html with its first <base href="..."> set to base_path + "/"; a <base> is added
// after <head> when there is none.
std::string RewriteBaseHref(std::string html, std::string_view base_path);

// False for a request path that tries to leave the asset root or to smuggle separators:
// a "." or ".." segment, a backslash, a NUL or control byte, an empty inner segment, or
// an encoded '/', '\', '.' or NUL in the raw request-target (%2f %5c %2e %00).
bool IsSafeConsolePath(const net::HttpRequest& request);

// The console's response headers: Content-Security-Policy (no inline script; connect to
// this origin over HTTP and WebSocket), X-Content-Type-Options, Referrer-Policy,
// X-Frame-Options, Cross-Origin-Opener-Policy, Permissions-Policy.
void AddConsoleSecurityHeaders(net::HttpResponse& response, const net::HttpRequest& request);
std::string ConsoleContentSecurityPolicy(std::string_view host);

// The answer for `file`: 304 when If-None-Match names its ETag, gzip when accepted,
// Cache-Control immutable (assets) or no-cache (HTML), the security headers. index.html
// (not immutable) also varies on X-Forwarded-Prefix: a cache must not answer one
// prefix's page for another.
net::HttpResponse ConsoleFileResponse(const ConsoleFile& file, const net::HttpRequest& request);

// The console directory to serve: `setting` (ARAGORA_CONSOLE_DIR) when set, else the
// first of `candidates` holding an index.html; "" when none does.
std::filesystem::path ResolveConsoleDir(const std::string& setting,
                                        const std::vector<std::filesystem::path>& candidates);
// The default candidates: <exe dir>/../share/aragora/web (the install's layout), then
// the build tree's web/ (compiled in), then <exe dir>/web.
std::vector<std::filesystem::path> DefaultConsoleDirs(const std::filesystem::path& executable);

// The console routes (tag "console", not in the OpenAPI document): GET /assets/{rest...}
// and the single-page app's paths (/, /login, /debates..., /receipts..., /admin...,
// /developer...) answering index.html. Without a console (deps.console null) they
// answer 404 naming ARAGORA_CONSOLE_DIR.
void AddConsoleRoutes(Router& router, ApiDeps& deps);

}  // namespace aragora::api
