#include "api/console.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <boost/asio/awaitable.hpp>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include "api/api.hpp"
#include "api/http_util.hpp"
#include "api/security.hpp"
#include "common/crypto.hpp"
#include "ops/confine_path.hpp"

#ifndef ARAGORA_BUILD_CONSOLE_DIR
#define ARAGORA_BUILD_CONSOLE_DIR ""
#endif

namespace aragora::api {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

bool EndsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool IsTextType(std::string_view content_type) {
    return content_type.rfind("text/", 0) == 0 ||
           content_type.find("json") != std::string_view::npos ||
           content_type.find("svg") != std::string_view::npos;
}

// gzip (RFC 1952) of `data` at level 9; "" on a zlib failure.
std::string Gzip(std::string_view data) {
    z_stream zs{};
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return {};
    std::string out;
    out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    const auto written = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) return {};
    out.resize(written);
    return out;
}

common::Result<std::string> ReadWholeFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kValidation, "cannot read " + path.string());
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) return MakeError(ErrorCode::kValidation, "cannot read " + path.string());
    return buf.str();
}

// One header value (comma-separated list) names `token` (case-insensitive, q ignored
// except q=0).
bool AcceptsGzip(const net::HttpRequest& request) {
    const std::string value = Lower(request.Header("accept-encoding"));
    std::size_t pos = 0;
    while (pos < value.size()) {
        std::size_t comma = value.find(',', pos);
        if (comma == std::string::npos) comma = value.size();
        std::string item = value.substr(pos, comma - pos);
        pos = comma + 1;
        item.erase(0, item.find_first_not_of(" \t"));
        const std::size_t semi = item.find(';');
        std::string name = item.substr(0, semi);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
        if (name != "gzip") continue;
        if (semi != std::string::npos) {
            std::string params = item.substr(semi + 1);
            params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
            if (params == "q=0" || params == "q=0.0" || params == "q=0.00" || params == "q=0.000")
                return false;
        }
        return true;
    }
    return false;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
    if (if_none_match.empty()) return false;
    std::size_t pos = 0;
    while (pos < if_none_match.size()) {
        std::size_t comma = if_none_match.find(',', pos);
        if (comma == std::string_view::npos) comma = if_none_match.size();
        std::string_view item = if_none_match.substr(pos, comma - pos);
        pos = comma + 1;
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item.rfind("W/", 0) == 0) item.remove_prefix(2);
        if (item == "*" || item == etag) return true;
    }
    return false;
}

// Host header usable in the CSP's WebSocket sources: host[:port] of [A-Za-z0-9.-] or a
// bracketed IPv6 literal; "" otherwise (the policy then relies on 'self').
std::string CspHost(std::string_view host) {
    if (host.empty() || host.size() > 255) return {};
    for (char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return {};
    }
    return std::string(host);
}

ConsoleFile MakeFile(const std::string& relative, std::string body) {
    ConsoleFile file;
    file.content_type = ConsoleContentType(relative);
    file.immutable = relative.rfind("assets/", 0) == 0;
    file.etag = "\"" + common::Sha256Hex(body).substr(0, 16) + "\"";
    if (IsTextType(file.content_type) && body.size() > 256) {
        std::string gz = Gzip(body);
        if (!gz.empty() && gz.size() < body.size()) file.gzip = std::move(gz);
    }
    file.body = std::move(body);
    return file;
}

net::HttpResponse NoConsole(const RequestContext& ctx) {
    auto r = ErrorResponse(ErrorCode::kNotFound,
                           "the web console is not installed (build it with `make`, or set "
                           "ARAGORA_CONSOLE_DIR to a built console)",
                           ctx.correlation_id);
    return r;
}

net::HttpResponse BadPath(const RequestContext& ctx) {
    net::HttpResponse r = ErrorResponse(ErrorCode::kBadRequest, "invalid path", ctx.correlation_id);
    r.AddHeader("X-Content-Type-Options", "nosniff");
    return r;
}

}  // namespace

std::string ConsoleContentType(std::string_view path) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes = {{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".txt", "text/plain; charset=utf-8"},
        {".wasm", "application/wasm"},
    }};
    const std::string lower = Lower(path);
    for (const auto& [ext, type] : kTypes) {
        if (EndsWith(lower, ext)) return std::string(type);
    }
    return "application/octet-stream";
}

common::Result<std::string> NormalizeConsoleBasePath(std::string_view value) {
    std::string out;
    std::size_t pos = 0;
    while (pos < value.size() && value[pos] == '/') ++pos;
    while (pos < value.size()) {
        std::size_t slash = value.find('/', pos);
        if (slash == std::string_view::npos) slash = value.size();
        std::string_view seg = value.substr(pos, slash - pos);
        pos = slash + 1;
        if (seg.empty()) {
            if (slash == value.size() || pos >= value.size()) break;  // trailing '/'
            return MakeError(
                ErrorCode::kValidation,
                "ARAGORA_CONSOLE_BASE_PATH: empty segment in '" + std::string(value) + "'");
        }
        if (seg == "." || seg == "..") {
            return MakeError(ErrorCode::kValidation,
                             "ARAGORA_CONSOLE_BASE_PATH: '.' or '..' segment");
        }
        for (char c : seg) {
            const auto u = static_cast<unsigned char>(c);
            if (!(std::isalnum(u) || c == '.' || c == '_' || c == '~' || c == '-')) {
                return MakeError(ErrorCode::kValidation,
                                 "ARAGORA_CONSOLE_BASE_PATH: only [A-Za-z0-9._~-] segments "
                                 "separated by '/'");
            }
        }
        out += '/';
        out += seg;
    }
    return out;
}

std::string RewriteBaseHref(std::string html, std::string_view base_path) {
    const std::string href = std::string(base_path) + "/";
    const std::string lower = Lower(html);
    const std::size_t base = lower.find("<base");
    if (base != std::string::npos) {
        const std::size_t end = lower.find('>', base);
        const std::size_t attr = lower.find("href=", base);
        if (end != std::string::npos && attr != std::string::npos && attr < end) {
            const std::size_t q = attr + 5;
            const char quote = html[q];
            if (quote == '"' || quote == '\'') {
                const std::size_t close = html.find(quote, q + 1);
                if (close != std::string::npos && close < end) {
                    html.replace(q + 1, close - q - 1, href);
                    return html;
                }
            }
        }
    }
    const std::size_t head = lower.find("<head>");
    if (head != std::string::npos) html.insert(head + 6, "<base href=\"" + href + "\" />");
    return html;
}

std::optional<std::string> ParseForwardedPrefix(std::string_view value) {
    // Exactly one leading '/': "//host/x" is a network-path reference, "x" is relative.
    if (value.empty() || value.size() > kMaxForwardedPrefix || value.front() != '/') {
        return std::nullopt;
    }
    if (value.size() > 1 && value[1] == '/') return std::nullopt;
    auto normalized = NormalizeConsoleBasePath(value);
    if (!normalized) return std::nullopt;
    return std::move(*normalized);
}

std::string ConsoleBasePathFor(const net::HttpRequest& request, bool trusted_peer,
                               std::string_view configured) {
    if (!trusted_peer) return std::string(configured);
    const std::string* value = nullptr;
    for (const auto& [name, field] : request.headers) {
        if (name.size() != 18 || Lower(name) != "x-forwarded-prefix") continue;
        if (value != nullptr) return std::string(configured);  // two fields: ambiguous
        value = &field;
    }
    if (value == nullptr) return std::string(configured);
    std::string_view v = *value;
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    auto prefix = ParseForwardedPrefix(v);
    return prefix ? std::move(*prefix) : std::string(configured);
}

bool IsSafeConsolePath(const net::HttpRequest& request) {
    // The raw target: encoded separators and dots have no business in a console URL.
    std::string_view raw = request.target;
    if (const auto q = raw.find('?'); q != std::string_view::npos) raw = raw.substr(0, q);
    const std::string raw_lower = Lower(raw);
    for (std::string_view bad : {"%2f", "%5c", "%2e", "%00", "%25"}) {
        if (raw_lower.find(bad) != std::string::npos) return false;
    }
    const std::string& path = request.path;
    if (path.empty() || path.front() != '/') return false;
    for (char c : path) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\\' || u < 0x20 || u == 0x7f) return false;
    }
    std::size_t pos = 1;
    while (pos <= path.size()) {
        std::size_t slash = path.find('/', pos);
        if (slash == std::string::npos) slash = path.size();
        std::string_view seg(path.data() + pos, slash - pos);
        if (seg == "." || seg == "..") return false;
        if (seg.empty() && slash != path.size()) return false;  // "//" inside
        pos = slash + 1;
    }
    return true;
}

std::string ConsoleContentSecurityPolicy(std::string_view host) {
    std::string connect = "connect-src 'self'";
    if (const std::string h = CspHost(host); !h.empty()) connect += " ws://" + h + " wss://" + h;
    return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "font-src 'self'; " +
           connect +
           "; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
           "manifest-src 'self'; worker-src 'self'";
}

void AddConsoleSecurityHeaders(net::HttpResponse& response, const net::HttpRequest& request) {
    response.AddHeader("Content-Security-Policy",
                       ConsoleContentSecurityPolicy(request.Header("host")));
    response.AddHeader("X-Content-Type-Options", "nosniff");
    response.AddHeader("Referrer-Policy", "same-origin");
    response.AddHeader("X-Frame-Options", "DENY");
    response.AddHeader("Cross-Origin-Opener-Policy", "same-origin");
    response.AddHeader("Cross-Origin-Resource-Policy", "same-origin");
    response.AddHeader("Permissions-Policy",
                       "camera=(), microphone=(), geolocation=(), payment=()");
}

net::HttpResponse ConsoleFileResponse(const ConsoleFile& file, const net::HttpRequest& request) {
    net::HttpResponse r;
    r.content_type = file.content_type;
    r.AddHeader("Cache-Control",
                file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    r.AddHeader("ETag", file.etag);
    if (!file.immutable) {
        // The page's <base href> follows X-Forwarded-Prefix (ConsoleBasePathFor).
        r.AddHeader("Vary", file.gzip.empty() ? "X-Forwarded-Prefix"
                                              : "Accept-Encoding, X-Forwarded-Prefix");
    } else if (!file.gzip.empty()) {
        r.AddHeader("Vary", "Accept-Encoding");
    }
    AddConsoleSecurityHeaders(r, request);
    if (EtagMatches(request.Header("if-none-match"), file.etag)) {
        r.status = 304;
        r.content_type.clear();
        return r;
    }
    r.status = 200;
    if (!file.gzip.empty() && AcceptsGzip(request)) {
        r.AddHeader("Content-Encoding", "gzip");
        r.body = file.gzip;
    } else {
        r.body = file.body;
    }
    return r;
}

common::Result<std::shared_ptr<const ConsoleAssets>> ConsoleAssets::Load(const fs::path& root,
                                                                         std::string base_path) {
    std::error_code ec;
    const fs::path canonical_root = fs::canonical(root, ec);
    if (ec || !fs::is_directory(canonical_root, ec)) {
        return MakeError(ErrorCode::kNotFound, "console directory " + root.string() + " not found");
    }
    auto assets = std::make_shared<ConsoleAssets>();
    assets->root_ = canonical_root;
    assets->base_path_ = std::move(base_path);

    fs::recursive_directory_iterator it(canonical_root, fs::directory_options::none, ec);
    if (ec)
        return MakeError(ErrorCode::kValidation,
                         "cannot list " + root.string() + ": " + ec.message());
    for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
        if (ec)
            return MakeError(ErrorCode::kValidation,
                             "cannot list " + root.string() + ": " + ec.message());
        const fs::directory_entry& entry = *it;
        const std::string relative =
            entry.path().lexically_relative(canonical_root).generic_string();
        fs::path source = entry.path();
        if (entry.is_symlink(ec)) {
            // Followed only when it stays inside the root (a directory symlink is never
            // descended into: recursive_directory_iterator does not follow them).
            auto confined = ops::ConfinePath(entry.path().string(), {canonical_root});
            if (!confined) {
                assets->skipped_.push_back(relative + " (symlink outside the console directory)");
                continue;
            }
            source = *confined;
        }
        if (!fs::is_regular_file(source, ec)) continue;
        if (assets->files_.size() >= kMaxFiles) {
            return MakeError(ErrorCode::kValidation, "console directory holds more than " +
                                                         std::to_string(kMaxFiles) + " files");
        }
        auto body = ReadWholeFile(source);
        if (!body) return body.error();
        assets->total_bytes_ += body->size();
        if (assets->total_bytes_ > kMaxTotalBytes) {
            return MakeError(ErrorCode::kValidation, "console directory holds more than " +
                                                         std::to_string(kMaxTotalBytes >> 20) +
                                                         " MiB");
        }
        if (relative == "index.html") *body = RewriteBaseHref(std::move(*body), assets->base_path_);
        assets->files_.emplace(relative, MakeFile(relative, std::move(*body)));
    }
    auto index = assets->files_.find(std::string_view("index.html"));
    if (index == assets->files_.end()) {
        return MakeError(ErrorCode::kNotFound,
                         "no index.html in console directory " + root.string());
    }
    assets->index_ = &index->second;
    return std::shared_ptr<const ConsoleAssets>(std::move(assets));
}

std::shared_ptr<const ConsoleFile> ConsoleAssets::IndexFor(std::string_view base_path) const {
    if (base_path == base_path_)
        return std::shared_ptr<const ConsoleFile>(std::shared_ptr<void>(), index_);
    {
        std::lock_guard lock(variants_mutex_);
        if (auto it = variants_.find(base_path); it != variants_.end()) return it->second;
    }
    // Built outside the lock (a few hundred bytes); two builders of one prefix make the
    // same file, the first one stored wins.
    auto file = std::make_shared<const ConsoleFile>(
        MakeFile("index.html", RewriteBaseHref(index_->body, base_path)));
    std::lock_guard lock(variants_mutex_);
    if (auto it = variants_.find(base_path); it != variants_.end()) return it->second;
    if (variants_.size() < kMaxIndexVariants) variants_.emplace(std::string(base_path), file);
    return file;
}

const ConsoleFile* ConsoleAssets::Find(std::string_view relative) const {
    auto it = files_.find(relative);
    return it == files_.end() ? nullptr : &it->second;
}

fs::path ResolveConsoleDir(const std::string& setting, const std::vector<fs::path>& candidates) {
    if (!setting.empty()) return fs::path(setting);
    std::error_code ec;
    for (const fs::path& c : candidates) {
        if (!c.empty() && fs::is_regular_file(c / "index.html", ec)) return c;
    }
    return {};
}

std::vector<fs::path> DefaultConsoleDirs(const fs::path& executable) {
    std::vector<fs::path> out;
    const fs::path dir = executable.parent_path();
    if (!dir.empty()) out.push_back((dir / ".." / "share" / "aragora" / "web").lexically_normal());
    if (std::string_view(ARAGORA_BUILD_CONSOLE_DIR).size() > 0)
        out.emplace_back(ARAGORA_BUILD_CONSOLE_DIR);
    if (!dir.empty()) out.push_back(dir / "web");
    return out;
}

namespace {

boost::asio::awaitable<net::HttpResponse> ServeIndex(const ApiDeps& deps, RequestContext& ctx) {
    if (deps.console == nullptr) co_return NoConsole(ctx);
    if (!IsSafeConsolePath(ctx.request)) co_return BadPath(ctx);
    const bool trusted_peer =
        deps.limits != nullptr &&
        deps.limits->config().trusted_proxies.Contains(ctx.request.remote_address);
    const std::string base =
        ConsoleBasePathFor(ctx.request, trusted_peer, deps.console->base_path());
    const std::shared_ptr<const ConsoleFile> index = deps.console->IndexFor(base);
    co_return ConsoleFileResponse(*index, ctx.request);
}

boost::asio::awaitable<net::HttpResponse> ServeAsset(const ApiDeps& deps, RequestContext& ctx) {
    if (deps.console == nullptr) co_return NoConsole(ctx);
    if (!IsSafeConsolePath(ctx.request)) co_return BadPath(ctx);
    const std::string relative = "assets/" + ctx.Param("rest");
    const ConsoleFile* file = deps.console->Find(relative);
    if (file == nullptr) {
        net::HttpResponse r =
            ErrorResponse(ErrorCode::kNotFound, "no such asset", ctx.correlation_id);
        r.AddHeader("Cache-Control", "no-cache");
        r.AddHeader("X-Content-Type-Options", "nosniff");
        co_return r;
    }
    co_return ConsoleFileResponse(*file, ctx.request);
}

}  // namespace

void AddConsoleRoutes(Router& r, ApiDeps& d) {
    using enum AuthLevel;
    using enum RateClass;
    const Handler index = [&d](RequestContext& ctx) { return ServeIndex(d, ctx); };
    const Handler asset = [&d](RequestContext& ctx) { return ServeAsset(d, ctx); };
    // The single-page app's paths (web/src/pages): each answers index.html, whose router
    // renders the page (or its own "not found"). Public: the page asks the API, which
    // checks the credentials.
    for (const char* path :
         {"/", "/login", "/debates", "/debates/{rest...}", "/receipts", "/receipts/{rest...}",
          "/admin", "/admin/{rest...}", "/developer", "/developer/{rest...}", "/index.html"}) {
        r.Add({.method = "GET",
               .path = path,
               .auth = kPublic,
               .rate = kNone,
               .handler = index,
               .summary = "The web console (index.html)",
               .tag = "console"});
    }
    r.Add({.method = "GET",
           .path = "/assets/{rest...}",
           .auth = kPublic,
           .rate = kNone,
           .handler = asset,
           .summary = "The web console's content-hashed files",
           .tag = "console"});
}

}  // namespace aragora::api
