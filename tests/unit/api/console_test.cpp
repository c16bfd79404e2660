#include "api/console.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "api/api.hpp"
#include "api/security.hpp"
#include "api_test_support.hpp"
#include "common/clock.hpp"

namespace aragora::api {
namespace {

namespace fs = std::filesystem;

net::HttpRequest Get(std::string target) {
    net::HttpRequest r;
    r.method = "GET";
    r.target = target;
    const auto q = target.find('?');
    const std::string raw_path = target.substr(0, q);
    r.path = net::PercentDecode(raw_path, false).value_or("");
    if (q != std::string::npos) r.query = target.substr(q + 1);
    r.headers.emplace_back("host", "console.example:8080");
    return r;
}

std::string HeaderOf(const net::HttpResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) return v;
    }
    return {};
}

void Write(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
}

std::string Gunzip(const std::string& in) {
    z_stream zs{};
    inflateInit2(&zs, 15 + 16);
    std::string out(1 << 20, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    inflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    inflateEnd(&zs);
    return out;
}

class ConsoleDirTest : public ::testing::Test {
protected:
    void SetUp() override {
        base_ = fs::temp_directory_path() /
                ("aragora_console_test_" + std::to_string(::getpid()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(base_);
        root_ = base_ / "web";
        Write(root_ / "index.html",
              "<!doctype html><html><head><base href=\"/\" /><title>A</title>"
              "<script type=\"module\" src=\"assets/main-AB12CD34.js\"></script></head></html>");
        Write(root_ / "assets" / "main-AB12CD34.js", std::string(4000, 'x') + "console.log(1);");
        Write(root_ / "assets" / "styles-EF56.css", "body{color:red}");
        Write(base_ / "secret.txt", "top secret");
    }
    void TearDown() override { fs::remove_all(base_); }
    fs::path base_, root_;
};

TEST(ConsoleTest, ContentTypesByExtension) {
    EXPECT_EQ(ConsoleContentType("index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(ConsoleContentType("assets/main-X.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(ConsoleContentType("assets/styles-X.CSS"), "text/css; charset=utf-8");
    EXPECT_EQ(ConsoleContentType("assets/favicon-X.svg"), "image/svg+xml");
    EXPECT_EQ(ConsoleContentType("assets/font.woff2"), "font/woff2");
    EXPECT_EQ(ConsoleContentType("x.json"), "application/json");
    EXPECT_EQ(ConsoleContentType("assets/blob"), "application/octet-stream");
}

TEST(ConsoleTest, BasePathIsNormalisedOrRefused) {
    EXPECT_EQ(NormalizeConsoleBasePath("").value(), "");
    EXPECT_EQ(NormalizeConsoleBasePath("/").value(), "");
    EXPECT_EQ(NormalizeConsoleBasePath("console").value(), "/console");
    EXPECT_EQ(NormalizeConsoleBasePath("/a/b-c_d.e~/").value(), "/a/b-c_d.e~");
    for (const char* bad : {"/a/../b", "/./a", "/a//b", "/a b", "/a\"><script>", "/a?x", "/%2e"}) {
        EXPECT_FALSE(NormalizeConsoleBasePath(bad).ok()) << bad;
    }
}

TEST(ConsoleTest, ForwardedPrefixIsAPathOrRefused) {
    EXPECT_EQ(ParseForwardedPrefix("/aragora"), std::optional<std::string>("/aragora"));
    EXPECT_EQ(ParseForwardedPrefix("/a/b-c_d.e~f/"), std::optional<std::string>("/a/b-c_d.e~f"));
    EXPECT_EQ(ParseForwardedPrefix("/"), std::optional<std::string>(""));
    for (const std::string& bad : {std::string(),
                                   std::string("aragora"),
                                   std::string("//evil.example/x"),
                                   std::string("http://evil.example/x"),
                                   std::string("https:/x"),
                                   std::string("/a/../b"),
                                   std::string("/.."),
                                   std::string("/a/./b"),
                                   std::string("/a//b"),
                                   std::string("/a\"b"),
                                   std::string("/a'b"),
                                   std::string("/\"><script>alert(1)</script>"),
                                   std::string("/a<b"),
                                   std::string("/a b"),
                                   std::string("/a%2fb"),
                                   std::string("/a,/b"),
                                   std::string("/a\\b"),
                                   std::string("/a\r\nX-Injected: 1"),
                                   std::string("/a\0b", 4),
                                   std::string("/a?b"),
                                   std::string("/a#b"),
                                   std::string("/a:b"),
                                   std::string("/a@b"),
                                   std::string("/\xc3\xa9"),
                                   "/" + std::string(kMaxForwardedPrefix, 'a')}) {
        EXPECT_EQ(ParseForwardedPrefix(bad), std::nullopt) << bad;
    }
    EXPECT_TRUE(ParseForwardedPrefix("/" + std::string(kMaxForwardedPrefix - 1, 'a')));
}

TEST(ConsoleTest, BasePathFollowsTheForwardedPrefixOnlyFromATrustedPeer) {
    net::HttpRequest r = Get("/login");
    EXPECT_EQ(ConsoleBasePathFor(r, true, "/console"), "/console");  // no header
    r.headers.emplace_back("x-forwarded-prefix", " /aragora/ ");
    EXPECT_EQ(ConsoleBasePathFor(r, true, "/console"), "/aragora");
    EXPECT_EQ(ConsoleBasePathFor(r, true, ""), "/aragora");
    EXPECT_EQ(ConsoleBasePathFor(r, false, "/console"), "/console");  // untrusted: ignored
    EXPECT_EQ(ConsoleBasePathFor(r, false, ""), "");
    r.headers.emplace_back("X-Forwarded-Prefix", "/other");  // two fields: ambiguous
    EXPECT_EQ(ConsoleBasePathFor(r, true, "/console"), "/console");
    net::HttpRequest bad = Get("/login");
    bad.headers.emplace_back("x-forwarded-prefix", "//evil.example");
    EXPECT_EQ(ConsoleBasePathFor(bad, true, ""), "");
}

TEST(ConsoleTest, BaseHrefIsRewrittenOrAdded) {
    EXPECT_EQ(RewriteBaseHref("<head><base href=\"/\" /></head>", "/console"),
              "<head><base href=\"/console/\" /></head>");
    EXPECT_EQ(RewriteBaseHref("<head><base href='/x/'></head>", ""),
              "<head><base href='/'></head>");
    EXPECT_EQ(RewriteBaseHref("<html><head><title>t</title></head>", "/p"),
              "<html><head><base href=\"/p/\" /><title>t</title></head>");
}

TEST(ConsoleTest, TraversalAndSmuggledSeparatorsAreUnsafe) {
    for (const char* ok : {"/", "/admin", "/admin/", "/debates/d_1/live", "/assets/main-AB12.js",
                           "/receipts?x=%2e"}) {
        EXPECT_TRUE(IsSafeConsolePath(Get(ok))) << ok;
    }
    for (const char* bad : {"/assets/../index.html", "/assets/./x.js", "/assets/%2e%2e/index.html",
                            "/assets/%2E%2E%2Fsecret", "/assets/..%2f..%2fetc%2fpasswd",
                            "/assets/..%5c..%5cetc", "/assets/a\\..\\b", "/assets//etc/passwd",
                            "/debates/..%2fx", "/assets/%252e%252e/x", "/assets/a%09b"}) {
        EXPECT_FALSE(IsSafeConsolePath(Get(bad))) << bad;
    }
}

TEST(ConsoleTest, ContentSecurityPolicyIsStrict) {
    const std::string csp = ConsoleContentSecurityPolicy("console.example:8080");
    for (const char* part :
         {"default-src 'self'", "script-src 'self';", "style-src 'self';", "object-src 'none'",
          "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'",
          "connect-src 'self' ws://console.example:8080 wss://console.example:8080;"}) {
        EXPECT_NE(csp.find(part), std::string::npos) << part << " in " << csp;
    }
    EXPECT_EQ(csp.find("unsafe"), std::string::npos);
    // A Host that could inject a directive is not echoed.
    const std::string evil = ConsoleContentSecurityPolicy("a; script-src *");
    EXPECT_NE(evil.find("connect-src 'self';"), std::string::npos) << evil;
    EXPECT_EQ(evil.find("script-src *"), std::string::npos);
}

TEST_F(ConsoleDirTest, LoadsFilesRewritesBaseAndServesWithHeaders) {
    auto loaded = ConsoleAssets::Load(root_, "/console");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    const ConsoleAssets& assets = **loaded;
    EXPECT_EQ(assets.file_count(), 3u);
    EXPECT_NE(assets.Index().body.find("<base href=\"/console/\" />"), std::string::npos);
    EXPECT_FALSE(assets.Index().immutable);
    const ConsoleFile* js = assets.Find("assets/main-AB12CD34.js");
    ASSERT_NE(js, nullptr);
    EXPECT_TRUE(js->immutable);
    EXPECT_FALSE(js->gzip.empty());
    EXPECT_EQ(assets.Find("../secret.txt"), nullptr);

    net::HttpRequest req = Get("/assets/main-AB12CD34.js");
    net::HttpResponse plain = ConsoleFileResponse(*js, req);
    EXPECT_EQ(plain.status, 200);
    EXPECT_EQ(plain.body, js->body);
    EXPECT_EQ(plain.content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(HeaderOf(plain, "Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(HeaderOf(plain, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(HeaderOf(plain, "X-Frame-Options"), "DENY");
    EXPECT_EQ(HeaderOf(plain, "Referrer-Policy"), "same-origin");
    EXPECT_NE(HeaderOf(plain, "Content-Security-Policy").find("script-src 'self'"),
              std::string::npos);
    EXPECT_EQ(HeaderOf(plain, "Content-Encoding"), "");

    req.headers.emplace_back("accept-encoding", "br, gzip;q=0.8");
    net::HttpResponse gz = ConsoleFileResponse(*js, req);
    EXPECT_EQ(HeaderOf(gz, "Content-Encoding"), "gzip");
    EXPECT_EQ(HeaderOf(gz, "Vary"), "Accept-Encoding");
    EXPECT_EQ(Gunzip(gz.body), js->body);

    net::HttpRequest no_gzip = Get("/assets/main-AB12CD34.js");
    no_gzip.headers.emplace_back("accept-encoding", "gzip;q=0");
    EXPECT_EQ(HeaderOf(ConsoleFileResponse(*js, no_gzip), "Content-Encoding"), "");

    net::HttpRequest cond = Get("/");
    cond.headers.emplace_back("if-none-match", "\"other\", " + assets.Index().etag);
    net::HttpResponse not_modified = ConsoleFileResponse(assets.Index(), cond);
    EXPECT_EQ(not_modified.status, 304);
    EXPECT_TRUE(not_modified.body.empty());
    EXPECT_EQ(HeaderOf(not_modified, "Cache-Control"), "no-cache");
}

TEST_F(ConsoleDirTest, SymlinkOutsideTheRootIsNotLoaded) {
    fs::create_symlink(base_ / "secret.txt", root_ / "assets" / "leak.js");
    fs::create_symlink(base_, root_ / "assets" / "up");  // a directory symlink out
    fs::create_symlink(root_ / "assets" / "styles-EF56.css", root_ / "assets" / "alias.css");
    auto loaded = ConsoleAssets::Load(root_, "");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ((*loaded)->Find("assets/leak.js"), nullptr);
    EXPECT_EQ((*loaded)->Find("assets/up/secret.txt"), nullptr);
    ASSERT_NE((*loaded)->Find("assets/alias.css"), nullptr);  // inside: followed
    EXPECT_EQ((*loaded)->Find("assets/alias.css")->body, "body{color:red}");
    ASSERT_EQ((*loaded)->skipped().size(), 2u);
    for (const auto& s : (*loaded)->skipped()) {
        EXPECT_NE(s.find("outside"), std::string::npos) << s;
    }
}

TEST_F(ConsoleDirTest, MissingIndexOrDirectoryIsAnError) {
    fs::remove(root_ / "index.html");
    auto no_index = ConsoleAssets::Load(root_, "");
    ASSERT_FALSE(no_index.ok());
    EXPECT_EQ(no_index.error().code, common::ErrorCode::kNotFound);
    EXPECT_FALSE(ConsoleAssets::Load(base_ / "nope", "").ok());
}

TEST_F(ConsoleDirTest, ConsoleDirResolution) {
    EXPECT_EQ(ResolveConsoleDir("/explicit", {root_}), fs::path("/explicit"));
    EXPECT_EQ(ResolveConsoleDir("", {base_ / "nope", root_}), root_);
    EXPECT_EQ(ResolveConsoleDir("", {base_ / "nope"}), fs::path());
    const auto defaults = DefaultConsoleDirs("/opt/aragora/releases/v1/bin/aragora");
    ASSERT_FALSE(defaults.empty());
    EXPECT_EQ(defaults.front(), fs::path("/opt/aragora/releases/v1/share/aragora/web"));
}

// Through the real route table and middleware (ApiFixture: open mode).
class ConsoleRoutesTest : public testing::ApiFixture {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("aragora_console_routes_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        Write(dir_ / "index.html",
              "<html><head><base href=\"/\" /></head><body>console</body></html>");
        Write(dir_ / "assets" / "main-AB12.js", "export{};");
        Write(dir_ / "build-manifest.json", "{\"entry\":1}");
        auto loaded = ConsoleAssets::Load(dir_, "");
        ASSERT_TRUE(loaded.ok()) << loaded.error().message;
        assets_ = *loaded;
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
    std::shared_ptr<const ConsoleAssets> assets_;
};

TEST_F(ConsoleRoutesTest, WithoutAConsoleItsPagesAre404NamingTheSetting) {
    for (const char* p : {"/", "/admin"}) {
        net::HttpResponse r = Call("GET", p);
        EXPECT_EQ(r.status, 404) << p;
        EXPECT_EQ(r.content_type, "application/json") << p;
        EXPECT_NE(r.body.find("\"code\":\"not_found\""), std::string::npos) << r.body;
        EXPECT_NE(r.body.find("ARAGORA_CONSOLE_DIR"), std::string::npos) << r.body;
    }
    EXPECT_EQ(Call("POST", "/").status, 405);  // the path exists (GET)
}

TEST_F(ConsoleRoutesTest, PagesAnswerIndexAssetsAreServedTraversalRefused) {
    deps_.console = assets_.get();
    for (const char* p : {"/", "/login", "/debates", "/debates/d_1/live", "/receipts/r_1", "/admin",
                          "/admin/users", "/developer", "/developer/keys", "/index.html"}) {
        net::HttpResponse r = Call("GET", p);
        EXPECT_EQ(r.status, 200) << p;
        EXPECT_EQ(r.body, assets_->Index().body) << p;
        EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << p;
        EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache") << p;
        EXPECT_NE(HeaderOf(r, "Content-Security-Policy"), "") << p;
    }
    net::HttpResponse js = Call("GET", "/assets/main-AB12.js");
    EXPECT_EQ(js.status, 200);
    EXPECT_EQ(js.body, "export{};");
    EXPECT_EQ(HeaderOf(js, "Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(Call("GET", "/assets/nope.js").status, 404);
    for (const char* bad : {"/assets/../index.html", "/assets/%2e%2e/build-manifest.json",
                            "/assets/..%2fbuild-manifest.json", "/admin/..%5c..%5cetc",
                            "/debates/%2e%2e/%2e%2e/etc/passwd"}) {
        net::HttpResponse r = Call("GET", bad);
        EXPECT_EQ(r.status, 400) << bad;
        EXPECT_EQ(r.body.find("entry"), std::string::npos) << bad;
    }
    EXPECT_EQ(Call("GET", "/build-manifest.json").status, 404);  // only assets/ and pages
    EXPECT_EQ(Call("GET", "/totally/unknown").status, 404);
    EXPECT_EQ(Call("POST", "/admin").status, 405);
    // The API is untouched, and the console is not part of the OpenAPI document.
    EXPECT_EQ(Call("GET", "/healthz").body, R"({"status":"ok"})");
    const std::string openapi = Call("GET", "/api/openapi.json").body;
    EXPECT_EQ(openapi.find("\"/assets/{rest}\""), std::string::npos);
    EXPECT_EQ(openapi.find("\"/admin\""), std::string::npos);
    EXPECT_NE(openapi.find("\"/healthz\""), std::string::npos);
}

// ARAGORA_TRUSTED_PROXIES holding `cidrs`, as the server sets deps.limits.
class ConsoleForwardedPrefixTest : public ConsoleRoutesTest {
protected:
    void Trust(std::string_view cidrs) {
        RateLimitConfig config;
        config.disabled = true;
        auto trusted = ratelimit::CidrList::Parse(cidrs);
        ASSERT_TRUE(trusted.ok());
        config.trusted_proxies = std::move(*trusted);
        limits_ = std::make_unique<RequestLimits>(std::move(config), clock_);
        deps_.limits = limits_.get();
        deps_.console = assets_.get();
    }
    net::HttpResponse Page(const std::string& path, const std::string& prefix) {
        return Call("GET", path, {}, {{"X-Forwarded-Prefix", prefix}});
    }
    common::ManualClock clock_;
    std::unique_ptr<RequestLimits> limits_;
};

TEST_F(ConsoleForwardedPrefixTest, TrustedProxyPrefixIsThePagesBase) {
    ASSERT_NO_FATAL_FAILURE(Trust("127.0.0.1/32"));  // the test requests come from 127.0.0.1
    const net::HttpResponse plain = Call("GET", "/login");
    EXPECT_EQ(plain.body, assets_->Index().body);
    EXPECT_NE(HeaderOf(plain, "Vary").find("X-Forwarded-Prefix"), std::string::npos);
    for (const char* path : {"/", "/login", "/admin/users", "/developer"}) {
        const net::HttpResponse r = Page(path, "/aragora");
        EXPECT_EQ(r.status, 200) << path;
        EXPECT_NE(r.body.find("<base href=\"/aragora/\" />"), std::string::npos) << r.body;
        EXPECT_EQ(r.body.find("<base href=\"/\""), std::string::npos) << r.body;
        EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache") << path;
        EXPECT_NE(HeaderOf(r, "Vary").find("X-Forwarded-Prefix"), std::string::npos) << path;
        // Another page than the plain one: another validator.
        EXPECT_NE(HeaderOf(r, "ETag"), HeaderOf(plain, "ETag")) << path;
        EXPECT_NE(HeaderOf(r, "Content-Security-Policy"), "") << path;
    }
    const net::HttpResponse nested = Page("/login", "/a/b/");
    EXPECT_NE(nested.body.find("<base href=\"/a/b/\" />"), std::string::npos) << nested.body;
    // The plain page's validator does not revalidate the prefixed page (and back).
    const net::HttpResponse prefixed = Page("/login", "/aragora");
    net::HttpResponse cond =
        Call("GET", "/login", {},
             {{"X-Forwarded-Prefix", "/aragora"}, {"If-None-Match", HeaderOf(plain, "ETag")}});
    EXPECT_EQ(cond.status, 200);
    cond =
        Call("GET", "/login", {},
             {{"X-Forwarded-Prefix", "/aragora"}, {"If-None-Match", HeaderOf(prefixed, "ETag")}});
    EXPECT_EQ(cond.status, 304);
    cond = Call("GET", "/login", {}, {{"If-None-Match", HeaderOf(prefixed, "ETag")}});
    EXPECT_EQ(cond.status, 200);
    EXPECT_EQ(cond.body, assets_->Index().body);
    // gzip of the prefixed page is that page.
    const net::HttpResponse gz = Call(
        "GET", "/login", {}, {{"X-Forwarded-Prefix", "/aragora"}, {"Accept-Encoding", "gzip"}});
    if (HeaderOf(gz, "Content-Encoding") == "gzip")
        EXPECT_EQ(Gunzip(gz.body), prefixed.body);
    else
        EXPECT_EQ(gz.body, prefixed.body);
    // Assets are the same files whatever the prefix.
    const net::HttpResponse js =
        Call("GET", "/assets/main-AB12.js", {}, {{"X-Forwarded-Prefix", "/aragora"}});
    EXPECT_EQ(js.body, "export{};");
}

TEST_F(ConsoleForwardedPrefixTest, MalformedPrefixIsIgnoredNeverReflected) {
    ASSERT_NO_FATAL_FAILURE(Trust("127.0.0.1/32"));
    for (const std::string& bad :
         {std::string("//evil.example"), std::string("https://evil.example/x"),
          std::string("/x\"><script src=//evil.example/a.js></script>"), std::string("/a/../../b"),
          std::string("/a b"), std::string("/%2e%2e"), std::string("relative"),
          "/" + std::string(kMaxForwardedPrefix + 10, 'p')}) {
        const net::HttpResponse r = Page("/login", bad);
        EXPECT_EQ(r.status, 200) << bad;
        EXPECT_EQ(r.body, assets_->Index().body) << bad;
        EXPECT_EQ(r.body.find("evil"), std::string::npos) << bad;
        EXPECT_EQ(r.body.find("ppppp"), std::string::npos) << bad;
    }
}

TEST_F(ConsoleForwardedPrefixTest, UntrustedPeerPrefixIsIgnored) {
    ASSERT_NO_FATAL_FAILURE(Trust("10.0.0.0/8"));  // the requests come from 127.0.0.1
    const net::HttpResponse r = Page("/login", "/aragora");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, assets_->Index().body);
    EXPECT_EQ(r.body.find("/aragora"), std::string::npos);
    // No trusted-proxy setting at all (no limits wired): ignored as well.
    deps_.limits = nullptr;
    EXPECT_EQ(Page("/login", "/aragora").body, assets_->Index().body);
}

TEST_F(ConsoleDirTest, IndexVariantsAreBuiltOncePerPrefixAndBounded) {
    auto loaded = ConsoleAssets::Load(root_, "");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    const ConsoleAssets& assets = **loaded;
    EXPECT_EQ(assets.IndexFor("").get(), &assets.Index());
    const auto a = assets.IndexFor("/aragora");
    EXPECT_EQ(assets.IndexFor("/aragora").get(), a.get());
    EXPECT_NE(a->body.find("<base href=\"/aragora/\" />"), std::string::npos);
    EXPECT_FALSE(a->immutable);
    EXPECT_EQ(a->content_type, "text/html; charset=utf-8");
    for (std::size_t i = 0; i < ConsoleAssets::kMaxIndexVariants + 4; ++i) {
        const std::string p = "/p" + std::to_string(i);
        const auto v = assets.IndexFor(p);
        EXPECT_NE(v->body.find("<base href=\"" + p + "/\" />"), std::string::npos) << p;
    }
    EXPECT_EQ(assets.IndexFor("/aragora").get(), a.get());  // still kept
}

}  // namespace
}  // namespace aragora::api
