// Auth, roles, rate limits, CORS and the startup refusals of `aragora serve`, black-box
// (reference/API.md "General rules" and "Auth"): the whole route table (read from
// /api/openapi.json) against missing, expired, retired, forged and revoked credentials
// and against too low a role; JWT secret rotation; the login / refresh / me / API key
// flow and its audit trail; debate ownership; per-IP limits with whitelists and proxy
// headers; CORS preflights; the refusals at start; WebSocket authentication.
//
// Users are added with `aragora users add` before the server starts (it counts users at
// start). JWTs are minted with auth::SignJwt and the server's secret, or built by hand
// (alg none / HS512) so that the header is the token's only defect.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include "auth/jwt.hpp"
#include "common/crypto.hpp"
#include "common/time.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

constexpr char kApiToken[] = "integration-service-token-7f3a9c";
constexpr char kJwtSecret[] = "integration-jwt-secret-0123456789abcdef";          // 39 bytes
constexpr char kOldSecret[] = "integration-old-jwt-secret-0123456789abcd";        // the previous
constexpr char kUnknownSecret[] = "integration-unknown-secret-0123456789abcdef";  // never set
constexpr char kPassword[] = "Correct-Horse-Battery-9";
constexpr char kAllowedOrigin[] = "https://app.example.com";

struct User {
    std::string id, email, role;
};

std::int64_t EpochNow() {
    return std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

std::string IsoAgo(hours ago) { return common::FormatIso8601(system_clock::now() - ago); }

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// An HS256 access token for `user` under `secret`, expiring `ttl` from now (negative:
// already expired).
std::string MintJwt(const User& user, std::string_view secret, seconds ttl = seconds(3600),
                    const std::string& typ = "access") {
    auth::JwtClaims c;
    c.sub = user.id;
    c.email = user.email;
    c.role = user.role;
    c.org_id = "default";
    c.typ = typ;
    c.jti = "it" + std::to_string(EpochNow());
    c.iat = EpochNow() + std::min<std::int64_t>(0, ttl.count() - 60);
    c.exp = EpochNow() + ttl.count();
    return auth::SignJwt(c, secret);
}

// `valid`'s payload under another header. With a secret, signed with it as HS256 would
// be (so that only the header is wrong); without, an empty signature (the classic
// "alg": "none" token).
std::string WithHeader(const std::string& valid, const std::string& header_json,
                       std::optional<std::string_view> secret) {
    const std::size_t dot1 = valid.find('.');
    const std::size_t dot2 = valid.find('.', dot1 + 1);
    const std::string input =
        auth::Base64UrlEncode(header_json) + "." + valid.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string signature =
        secret ? auth::Base64UrlEncode(common::HmacSha256Raw(*secret, input)) : std::string();
    return input + "." + signature;
}

// `aragora users add` against the server's data directory (before the server starts).
User AddUser(const std::string& data_dir, const std::string& email, const std::string& role) {
    ProcessResult r =
        RunProcess({ARAGORA_BINARY, "users", "add", email, "--role", role, "--password", kPassword},
                   {{"ARAGORA_DATA_DIR", data_dir}, {"ARAGORA_LOG_LEVEL", "WARNING"}}, 30);
    EXPECT_EQ(r.exit_code, 0) << "users add " << email << ": " << r.out << r.err;
    static const std::regex kAdded(R"(added (\S+) )");
    std::smatch m;
    if (!std::regex_search(r.out, m, kAdded)) {
        ADD_FAILURE() << "no user id in `users add` output: " << r.out;
        return {};
    }
    return User{m[1], email, role};
}

std::string ErrorOf(const HttpResponse& r) { return StringOf(r.Object(), "error"); }

// "" when `r` is the flat error of API.md with `status` and `code` (plus WWW-Authenticate
// for a 401) and its message contains `message_part`; else what is wrong.
std::string FlatErrorProblem(const HttpResponse& r, int status, const std::string& code,
                             const std::string& message_part = "") {
    std::ostringstream out;
    if (r.status != status) out << "status " << r.status << " (want " << status << "); ";
    if (r.Header("Content-Type").value_or("").find("application/json") == std::string::npos) {
        out << "not application/json; ";
    }
    json::object o = r.Object();
    const json::value* error = o.if_contains("error");
    if (error == nullptr || !error->is_string() || error->as_string().empty()) {
        out << "`error` is not a non-empty string; ";
    } else if (!message_part.empty() &&
               std::string(error->as_string()).find(message_part) == std::string::npos) {
        out << "error does not mention '" << message_part << "'; ";
    }
    if (StringOf(o, "code") != code) out << "code '" << StringOf(o, "code") << "'; ";
    const std::string correlation = StringOf(o, "correlation_id");
    if (correlation.empty()) out << "no correlation_id; ";
    if (StringOf(o, "trace_id") != correlation) out << "trace_id != correlation_id; ";
    if (status == 401 && r.Header("WWW-Authenticate").value_or("").rfind("Bearer", 0) != 0) {
        out << "no WWW-Authenticate: Bearer; ";
    }
    std::string problem = out.str();
    if (!problem.empty()) problem += "body=" + r.body.substr(0, 300);
    return problem;
}

void ExpectFlatError(const HttpResponse& r, int status, const std::string& code,
                     const std::string& what, const std::string& message_part = "") {
    const std::string problem = FlatErrorProblem(r, status, code, message_part);
    EXPECT_TRUE(problem.empty()) << what << ": " << problem;
}

// Collects mismatches of a table walk and reports them in one failure (a systematic bug
// would otherwise print hundreds).
class Problems {
public:
    void Add(const std::string& what) { list_.push_back(what); }
    void Check(const std::string& op, const std::string& problem) {
        if (!problem.empty()) Add(op + ": " + problem);
    }
    void Report(const std::string& title) const {
        if (list_.empty()) return;
        std::ostringstream out;
        out << title << ": " << list_.size() << " problem(s)";
        for (std::size_t i = 0; i < list_.size() && i < 40; ++i) out << "\n  " << list_[i];
        ADD_FAILURE() << out.str();
    }

private:
    std::vector<std::string> list_;
};

// --- the route table ---------------------------------------------------------------------

struct Operation {
    std::string method;  // upper case
    std::string path;    // with the parameters filled in
    std::string level;   // x-auth-level: public, user, member, admin
    std::string Name() const { return method + " " + path + " [" + level + "]"; }
};

// "{format}" → "json", any other "{x}" → "d_test" (a valid-looking id).
std::string FillParameters(const std::string& tmpl) {
    std::string out;
    for (std::size_t i = 0; i < tmpl.size();) {
        if (tmpl[i] != '{') {
            out += tmpl[i++];
            continue;
        }
        const std::size_t close = tmpl.find('}', i);
        if (close == std::string::npos) return out + tmpl.substr(i);
        std::string name = tmpl.substr(i + 1, close - i - 1);
        if (name.size() > 3 && name.compare(name.size() - 3, 3, "...") == 0)
            name.resize(name.size() - 3);
        out += name == "format" ? "json" : "d_test";
        i = close + 1;
    }
    return out;
}

// Every path and method of GET /api/openapi.json (asked without credentials: it is public).
std::vector<Operation> RouteTable(const HttpClient& http) {
    std::vector<Operation> ops;
    HttpResponse r = http.Get("/api/openapi.json");
    EXPECT_EQ(r.status, 200) << r.Describe();
    json::object doc = r.Object();
    const json::value* paths = doc.if_contains("paths");
    if (paths == nullptr || !paths->is_object()) {
        ADD_FAILURE() << "no paths in the OpenAPI document";
        return ops;
    }
    static const std::set<std::string> kMethods = {"get", "post", "put", "patch", "delete"};
    for (const auto& [path, item] : paths->as_object()) {
        if (!item.is_object()) continue;
        for (const auto& [method, op] : item.as_object()) {
            if (kMethods.count(std::string(method)) == 0 || !op.is_object()) continue;
            std::string upper(method);
            for (char& c : upper)
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            ops.push_back({upper, FillParameters(std::string(path)),
                           StringOf(op.as_object(), "x-auth-level")});
        }
    }
    return ops;
}

// "/api/v1/x" → "/api/x" (API.md: every /api/v1/ route is also served under /api/).
std::string Unversioned(const std::string& path) {
    return path.rfind("/api/v1/", 0) == 0 ? "/api/" + path.substr(8) : path;
}

// API.md "General rules": public without credentials (unversioned; /health/build is also
// served as /api/v1/health/build).
const std::set<std::string> kDocumentedPublic = {
    "GET /healthz", "GET /readyz", "GET /health/build", "GET /api/health/build",
    "GET /health/threads", "GET /api/health", "GET /api/status", "GET /api/ws/stats",
    "GET /api/rate-limits/status", "GET /api/rate-limits/config", "GET /metrics",
    "GET /metrics/websocket", "GET /api/openapi.json", "POST /api/auth/login",
    "POST /api/auth/refresh",
    // Ours (issue 23): the receipts' Ed25519
    // public keys, for auditors with no account.
    "GET /.well-known/aragora/receipt-keys.json"};

HttpResponse Call(const HttpClient& http, const Operation& op, const Headers& headers) {
    const bool has_body = op.method == "POST" || op.method == "PUT" || op.method == "PATCH";
    return http.Request(op.method, op.path, has_body ? "{}" : "", headers);
}

// --- fixture ---------------------------------------------------------------------------

class AuthTest : public ::testing::Test {
protected:
    void TearDown() override {
        if (!server_) return;
        const int code = server_->Terminate();
        EXPECT_EQ(code, 0) << "exit code after SIGTERM; server output:\n" << server_->Logs();
    }

    std::string DataDir() const { return dir_.path() + "/data"; }

    // admin, member, member2 and viewer via the CLI (before the server starts).
    void AddUsers() {
        std::filesystem::create_directories(DataDir());
        admin_ = AddUser(DataDir(), "ada.admin@example.com", "admin");
        member_ = AddUser(DataDir(), "max.member@example.com", "member");
        member2_ = AddUser(DataDir(), "mia.member@example.com", "member");
        viewer_ = AddUser(DataDir(), "vic.viewer@example.com", "viewer");
        ASSERT_FALSE(admin_.id.empty() || member_.id.empty() || member2_.id.empty() ||
                     viewer_.id.empty());
    }

    void StartServer(std::map<std::string, std::string> env) {
        server_ = std::make_unique<ServerProcess>(DataDir(), std::move(env));
        ASSERT_TRUE(server_->StartReady()) << server_->error();
    }

    // The service token, a JWT secret (whose predecessor retired 25 h ago) and the users.
    void StartSecuredServer(std::map<std::string, std::string> extra = {}) {
        ASSERT_NO_FATAL_FAILURE(AddUsers());
        std::map<std::string, std::string> env{
            {"ARAGORA_API_TOKEN", kApiToken},
            {"ARAGORA_JWT_SECRET", kJwtSecret},
            {"ARAGORA_JWT_SECRET_PREVIOUS", kOldSecret},
            {"ARAGORA_JWT_SECRET_ROTATED_AT", IsoAgo(hours(25))}};
        for (auto& [k, v] : extra) env[k] = v;
        ASSERT_NO_FATAL_FAILURE(StartServer(std::move(env)));
        EXPECT_NE(server_->Logs().find("users=4"), std::string::npos)
            << "the server should count the CLI's users at start:\n"
            << server_->Logs();
    }

    HttpClient Http() const { return server_->Http(); }
    std::string Jwt(const User& u) const { return MintJwt(u, kJwtSecret); }

    // POST /api/v1/auth/api-keys as `owner_token`; the key, or "" with a failure.
    std::string CreateKey(const std::string& owner_token, const std::string& body) {
        HttpResponse r = Http().Post("/api/v1/auth/api-keys", body, Bearer(owner_token));
        EXPECT_EQ(r.status, 201) << r.Describe();
        return StringOf(r.Object(), "api_key");
    }

    TempDir dir_;
    User admin_, member_, member2_, viewer_;
    std::unique_ptr<ServerProcess> server_;
};

// --- 1. the whole route table -------------------------------------------------------------

TEST_F(AuthTest, EveryRouteOfTheTableChecksCredentialsAndRoles) {
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer());
    const auto http = Http();
    const std::vector<Operation> ops = RouteTable(http);
    std::map<std::string, int> per_level;
    for (const auto& op : ops) ++per_level[op.level];
    ASSERT_GT(ops.size(), 60u) << "the route table looks truncated";
    for (const char* level : {"public", "user", "member", "admin", "owner"}) {
        EXPECT_GT(per_level[level], 0) << "no " << level << " route in the table";
    }
    EXPECT_EQ(per_level.size(), 5u) << "an unknown x-auth-level";

    // The table's levels are themselves pinned: public only what API.md lists as public
    // (each /api/v1/x also as /api/x), admin every admin/debug/system/audit route; and each
    // documented public route is in the table.
    Problems problems;
    std::set<std::string> public_seen;
    for (const Operation& op : ops) {
        const std::string path = Unversioned(op.path);
        const bool documented_public = kDocumentedPublic.count(op.method + " " + path) > 0;
        if (documented_public) public_seen.insert(op.method + " " + path);
        if ((op.level == "public") != documented_public) {
            problems.Add(op.Name() + ": API.md says " +
                         (documented_public ? "public" : "not public"));
        }
        for (const char* admin_part : {"/admin/", "/debug/", "/system/", "/audit"}) {
            if (path.find(admin_part) != std::string::npos && op.level != "admin" &&
                op.level != "owner") {
                problems.Add(op.Name() + ": should be admin");
            }
        }
    }
    for (const std::string& p : kDocumentedPublic) {
        if (public_seen.count(p) == 0) problems.Add(p + ": documented public, not in the table");
    }

    // The API keys: one that expires in 3 s (created first, so that it has expired by the
    // time it is used below), one revoked, one live; each shown to work before.
    const std::string member_jwt = Jwt(member_);
    const std::string expiring = CreateKey(member_jwt, R"({"name": "expiring", "expires_in": 3})");
    ASSERT_FALSE(expiring.empty());
    const std::string revoked = CreateKey(member_jwt, R"({"name": "revoked"})");
    const std::string live = CreateKey(member_jwt, R"({"name": "live"})");
    ASSERT_FALSE(revoked.empty() || live.empty());
    for (const std::string* key : {&expiring, &revoked, &live}) {
        HttpResponse me = http.Get("/api/v1/auth/me", Bearer(*key));
        EXPECT_EQ(me.status, 200) << "a fresh key must work: " << me.Describe();
    }
    HttpResponse del = http.Request("DELETE", "/api/v1/auth/api-keys/" + revoked.substr(0, 12), "",
                                    Bearer(member_jwt));
    ASSERT_EQ(del.status, 200) << del.Describe();

    // The minted tokens are right when nothing is wrong with them: each bad variant below
    // differs from a working one in one respect only.
    const std::string admin_jwt = Jwt(admin_);
    ASSERT_EQ(http.Get("/api/v1/auth/me", Bearer(admin_jwt)).status, 200);
    const std::string hs256_header = R"({"alg":"HS256","typ":"JWT"})";
    ASSERT_EQ(
        http.Get("/api/v1/auth/me", Bearer(WithHeader(admin_jwt, hs256_header, kJwtSecret))).status,
        200)
        << "the hand-built token must be right apart from its header";

    struct Bad {
        std::string name;
        std::string token;  // "" = no Authorization header
        std::string message_part;
    };
    const std::vector<Bad> bad = {
        {"no credentials", "", "missing credentials"},
        {"expired JWT", MintJwt(admin_, kJwtSecret, seconds(-3600)), "expired"},
        {"JWT under the retired secret", MintJwt(admin_, kOldSecret), "retired"},
        {"JWT under an unknown secret", MintJwt(admin_, kUnknownSecret), "signature"},
        {"alg none, no signature", WithHeader(admin_jwt, R"({"alg":"none","typ":"JWT"})", {}), ""},
        {"alg none, signed", WithHeader(admin_jwt, R"({"alg":"none","typ":"JWT"})", kJwtSecret),
         "unsupported token algorithm"},
        {"alg HS512", WithHeader(admin_jwt, R"({"alg":"HS512","typ":"JWT"})", kJwtSecret),
         "unsupported token algorithm: HS512"},
        {"refresh-typed JWT", MintJwt(admin_, kJwtSecret, seconds(3600), "refresh"),
         "not an access token"},
        {"unknown API key", "ara_" + std::string(43, 'A'), "unknown API key"},
        {"revoked API key", revoked, "revoked"},
    };

    int non_public = 0;
    for (const Operation& op : ops) {
        if (op.level == "public") {
            HttpResponse r = Call(http, op, {});
            if (r.status == 0 || r.status == 401 || r.status == 403) {
                problems.Add(op.Name() + " without credentials: " + r.Describe());
            }
            continue;
        }
        ++non_public;
        for (const Bad& b : bad) {
            HttpResponse r = Call(http, op, b.token.empty() ? Headers{} : Bearer(b.token));
            problems.Check(op.Name() + " with " + b.name,
                           FlatErrorProblem(r, 401, "auth_required", b.message_part));
        }
    }

    // Roles: owner routes refuse admins and below, admin routes refuse members and viewers
    // (JWT or API key), member routes refuse viewers; and the role that suffices is let
    // through (not 401/403; the service token acts as the owner).
    const std::string viewer_jwt = Jwt(viewer_);
    for (const Operation& op : ops) {
        if (op.level == "public") continue;
        std::vector<std::pair<std::string, std::string>> refused;
        if (op.level == "owner") {
            refused = {{"admin JWT", admin_jwt},
                       {"member JWT", member_jwt},
                       {"viewer JWT", viewer_jwt},
                       {"member key", live}};
        } else if (op.level == "admin") {
            refused = {
                {"member JWT", member_jwt}, {"viewer JWT", viewer_jwt}, {"member key", live}};
        } else if (op.level == "member") {
            refused = {{"viewer JWT", viewer_jwt}};
        }
        for (const auto& [name, token] : refused) {
            problems.Check(op.Name() + " with a " + name,
                           FlatErrorProblem(Call(http, op, Bearer(token)), 403, "forbidden"));
        }
        const std::string& enough = op.level == "owner"    ? std::string(kApiToken)
                                    : op.level == "admin"  ? admin_jwt
                                    : op.level == "member" ? member_jwt
                                                           : viewer_jwt;
        for (const auto& [name, token] :
             {std::pair<std::string, std::string>{"enough role", enough},
              {"the service token", kApiToken}}) {
            HttpResponse r = Call(http, op, Bearer(token));
            if (r.status == 0 || r.status == 401 || r.status == 403) {
                problems.Add(op.Name() + " with " + name + ": " + r.Describe());
            }
        }
    }

    // Last: the expiring key (3 s) turns 401 "expired" on every route. Bounded wait.
    const Operation me{"GET", "/api/v1/auth/me", "user"};
    const bool expired = PollUntil([&] { return Call(http, me, Bearer(expiring)).status == 401; },
                                   seconds(6), milliseconds(50));
    EXPECT_TRUE(expired) << "an API key with expires_in=3 still works after 6 s";
    if (expired) {
        for (const Operation& op : ops) {
            if (op.level == "public") continue;
            problems.Check(op.Name() + " with an expired API key",
                           FlatErrorProblem(Call(http, op, Bearer(expiring)), 401, "auth_required",
                                            "expired"));
        }
    }
    problems.Report("route table walk over " + std::to_string(ops.size()) + " operations");
    EXPECT_GT(non_public, 40);
}

TEST_F(AuthTest, RoutingComesBeforeAuth) {
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer());
    const auto http = Http();
    ExpectFlatError(http.Get("/api/v1/no-such-route"), 404, "not_found", "unknown GET");
    ExpectFlatError(http.Post("/api/v1/no-such-route", "{}"), 404, "not_found", "unknown POST");
    ExpectFlatError(http.Get("/api/v1/no-such-route", Bearer("garbage")), 404, "not_found",
                    "unknown path with a bad token");
    HttpResponse wrong_method = http.Request("DELETE", "/api/v1/debates");
    ExpectFlatError(wrong_method, 405, "method_not_allowed", "DELETE /api/v1/debates");
    EXPECT_TRUE(wrong_method.Header("Allow").has_value()) << wrong_method.Describe();
    // The control: the route itself needs credentials.
    ExpectFlatError(http.Get("/api/v1/debates"), 401, "auth_required", "GET /api/v1/debates");
    EXPECT_EQ(http.Get("/api/v1/debates", Bearer(kApiToken)).status, 200);
}

// --- 2. JWT secret rotation ----------------------------------------------------------------

class JwtRotationTest : public AuthTest {
protected:
    // A server with the new secret and the old one as previous (rotated at `rotated_at`,
    // "" = not set); no users: a JWT is verified without storage.
    void StartRotated(const std::string& rotated_at) {
        std::filesystem::create_directories(DataDir());
        std::map<std::string, std::string> env{{"ARAGORA_JWT_SECRET", kJwtSecret},
                                               {"ARAGORA_JWT_SECRET_PREVIOUS", kOldSecret}};
        if (!rotated_at.empty()) env["ARAGORA_JWT_SECRET_ROTATED_AT"] = rotated_at;
        ASSERT_NO_FATAL_FAILURE(StartServer(std::move(env)));
    }
    HttpResponse ListWith(std::string_view secret) {
        return Http().Get("/api/v1/debates", Bearer(MintJwt(user_, secret)));
    }
    const User user_{"usr_rotation", "rot@example.com", "viewer"};
};

TEST_F(JwtRotationTest, OldSecretAcceptedInsideTheGraceWindow) {
    ASSERT_NO_FATAL_FAILURE(StartRotated(IsoAgo(hours(1))));
    EXPECT_EQ(ListWith(kOldSecret).status, 200) << ListWith(kOldSecret).Describe();
    EXPECT_EQ(ListWith(kJwtSecret).status, 200);
    ExpectFlatError(ListWith(kUnknownSecret), 401, "auth_required", "unknown secret", "signature");
}

TEST_F(JwtRotationTest, OldSecretRefusedAfterTheGraceWindow) {
    ASSERT_NO_FATAL_FAILURE(StartRotated(IsoAgo(hours(25))));
    ExpectFlatError(ListWith(kOldSecret), 401, "auth_required", "old secret after 25 h", "retired");
    EXPECT_EQ(ListWith(kJwtSecret).status, 200) << ListWith(kJwtSecret).Describe();
}

TEST_F(JwtRotationTest, OldSecretAcceptedWithoutRotationTime) {
    ASSERT_NO_FATAL_FAILURE(StartRotated(""));
    EXPECT_EQ(ListWith(kOldSecret).status, 200) << ListWith(kOldSecret).Describe();
    EXPECT_EQ(ListWith(kJwtSecret).status, 200);
    EXPECT_NE(server_->Logs().find("ARAGORA_JWT_SECRET_ROTATED_AT"), std::string::npos)
        << "a previous secret with no end deserves a warning:\n"
        << server_->Logs();
}

// --- 3. login, refresh, me, API keys, audit --------------------------------------------

void ExpectTokenFields(const json::object& o, const std::string& what) {
    SCOPED_TRACE(what);
    const json::value* nested = o.if_contains("tokens");
    ASSERT_TRUE(nested != nullptr && nested->is_object()) << json::serialize(o);
    const json::object& tokens = nested->as_object();
    for (const char* k :
         {"access_token", "refresh_token", "token_type", "expires_in", "expires_at"}) {
        ASSERT_TRUE(tokens.contains(k)) << k << " missing under tokens";
        ASSERT_TRUE(o.contains(k)) << k << " missing at the top level";
        EXPECT_EQ(o.at(k), tokens.at(k)) << k << ": top level and nested differ";
    }
    EXPECT_TRUE(auth::LooksLikeJwt(StringOf(tokens, "access_token")));
    EXPECT_GE(StringOf(tokens, "refresh_token").size(), 20u);
    EXPECT_EQ(tokens.at("token_type"), "Bearer");
    EXPECT_TRUE(IsInteger(tokens.at("expires_in")) && NumberOf(tokens.at("expires_in")) > 0);
    EXPECT_TRUE(IsIsoUtc(tokens.at("expires_at"))) << tokens.at("expires_at");
}

TEST_F(AuthTest, LoginRefreshMeApiKeysAndTheAuditLog) {
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer());
    const auto http = Http();
    const std::string credentials =
        json::serialize(json::object{{"email", member_.email}, {"password", kPassword}});

    // Wrong password and unknown email: the same 401 (no account enumeration).
    HttpResponse wrong = http.Post(
        "/api/v1/auth/login",
        json::serialize(json::object{{"email", member_.email}, {"password", "Wrong-Password-1"}}));
    ExpectFlatError(wrong, 401, "auth_required", "wrong password");
    HttpResponse unknown = http.Post(
        "/api/v1/auth/login",
        json::serialize(json::object{{"email", "nobody@example.com"}, {"password", kPassword}}));
    ExpectFlatError(unknown, 401, "auth_required", "unknown email");
    EXPECT_EQ(ErrorOf(wrong), ErrorOf(unknown));

    HttpResponse login = http.Post("/api/v1/auth/login", credentials);
    ASSERT_EQ(login.status, 200) << login.Describe();
    EXPECT_EQ(login.body.find("argon2"), std::string::npos) << "a password hash leaked";
    EXPECT_EQ(login.body.find("password"), std::string::npos) << login.body;
    json::object lo = login.Object();
    ASSERT_NO_FATAL_FAILURE(ExpectTokenFields(lo, "login"));
    ASSERT_TRUE(lo["user"].is_object()) << login.body;
    EXPECT_EQ(lo["user"].as_object()["id"], member_.id.c_str());
    EXPECT_EQ(lo["user"].as_object()["email"], member_.email.c_str());
    EXPECT_EQ(lo["user"].as_object()["role"], "member");
    const std::string access = StringOf(lo, "access_token");
    const std::string refresh = StringOf(lo, "refresh_token");

    // Refresh rotates: new tokens, the old refresh token is refused afterwards (and
    // presenting it again ends the session, the new one included).
    HttpResponse refreshed = http.Post("/api/v1/auth/refresh",
                                       json::serialize(json::object{{"refresh_token", refresh}}));
    ASSERT_EQ(refreshed.status, 200) << refreshed.Describe();
    json::object ro = refreshed.Object();
    ASSERT_NO_FATAL_FAILURE(ExpectTokenFields(ro, "refresh"));
    const std::string refresh2 = StringOf(ro, "refresh_token");
    EXPECT_NE(refresh2, refresh);
    EXPECT_EQ(http.Get("/api/v1/auth/me", Bearer(StringOf(ro, "access_token"))).status, 200);
    HttpResponse reused = http.Post("/api/v1/auth/refresh",
                                    json::serialize(json::object{{"refresh_token", refresh}}));
    ExpectFlatError(reused, 401, "auth_required", "old refresh token after rotation");
    HttpResponse after_reuse = http.Post(
        "/api/v1/auth/refresh", json::serialize(json::object{{"refresh_token", refresh2}}));
    ExpectFlatError(after_reuse, 401, "auth_required", "new refresh token after a reuse");

    // me: the user's fields at the top level and under `user`.
    HttpResponse me = http.Get("/api/v1/auth/me", Bearer(access));
    ASSERT_EQ(me.status, 200) << me.Describe();
    json::object mo = me.Object();
    ASSERT_TRUE(mo["user"].is_object()) << me.body;
    for (const char* k : {"id", "email", "name", "role", "org_id", "created_at"}) {
        ASSERT_TRUE(mo.contains(k)) << k << " missing at the top level: " << me.body;
        EXPECT_EQ(mo.at(k), mo["user"].as_object()[k]) << k;
    }
    EXPECT_EQ(mo["id"], member_.id.c_str());
    EXPECT_EQ(mo["role"], "member");
    EXPECT_EQ(mo["auth_method"], "jwt");
    EXPECT_TRUE(IsIsoUtc(mo["created_at"]));

    HttpResponse patched =
        http.Request("PATCH", "/api/v1/auth/me", R"({"name": "Max Renamed"})", Bearer(access));
    ASSERT_EQ(patched.status, 200) << patched.Describe();
    EXPECT_EQ(patched.Object()["name"], "Max Renamed");
    EXPECT_EQ(http.Get("/api/v1/auth/me", Bearer(access)).Object()["user"].as_object()["name"],
              "Max Renamed");

    // An API key: shown once, works as a bearer token, listed by prefix, revoked.
    HttpResponse created = http.Post("/api/v1/auth/api-keys", R"({"name": "ci"})", Bearer(access));
    ASSERT_EQ(created.status, 201) << created.Describe();
    json::object co = created.Object();
    const std::string key = StringOf(co, "api_key");
    ASSERT_EQ(key.rfind("ara_", 0), 0u) << created.body;
    EXPECT_EQ(StringOf(co, "key"), key);
    const std::string prefix = StringOf(co, "prefix");
    EXPECT_EQ(prefix, key.substr(0, 12));
    EXPECT_EQ(StringOf(co, "id"), prefix);
    EXPECT_TRUE(co.contains("expires_at") && co["expires_at"].is_null()) << created.body;
    EXPECT_FALSE(StringOf(co, "message").empty());

    HttpResponse as_key = http.Get("/api/v1/auth/me", Bearer(key));
    ASSERT_EQ(as_key.status, 200) << as_key.Describe();
    EXPECT_EQ(as_key.Object()["id"], member_.id.c_str());
    EXPECT_EQ(as_key.Object()["auth_method"], "api_key");

    HttpResponse list = http.Get("/api/v1/auth/api-keys", Bearer(access));
    ASSERT_EQ(list.status, 200) << list.Describe();
    EXPECT_EQ(list.body.find(key), std::string::npos) << "the full key is listed";
    EXPECT_EQ(list.body.find(key.substr(12)), std::string::npos) << "the key's secret part";
    json::object listed = list.Object();
    ASSERT_TRUE(listed["keys"].is_array()) << list.body;
    EXPECT_EQ(listed["count"], listed["keys"].as_array().size());
    const json::object* entry = nullptr;
    for (const auto& k : listed["keys"].as_array()) {
        if (k.is_object() && StringOf(k.as_object(), "prefix") == prefix) entry = &k.as_object();
    }
    ASSERT_NE(entry, nullptr) << "the new key is not listed: " << list.body;
    EXPECT_EQ(StringOf(*entry, "id"), prefix);
    EXPECT_EQ(StringOf(*entry, "name"), "ci");
    EXPECT_TRUE(IsIsoUtc(entry->at("last_used"))) << "last_used after a use: " << list.body;
    EXPECT_EQ(entry->at("last_used"), entry->at("last_used_at"));

    HttpResponse revoke =
        http.Request("DELETE", "/api/v1/auth/api-keys/" + prefix, "", Bearer(access));
    ASSERT_EQ(revoke.status, 200) << revoke.Describe();
    EXPECT_EQ(revoke.Object()["success"], true);
    ExpectFlatError(http.Get("/api/v1/auth/me", Bearer(key)), 401, "auth_required", "revoked key",
                    "revoked");

    // The audit log (admin): every step, and an intact hash chain.
    ExpectFlatError(http.Get("/api/v1/audit", Bearer(access)), 403, "forbidden",
                    "audit as a member");
    HttpResponse audit = http.Get("/api/v1/audit?limit=200", Bearer(Jwt(admin_)));
    ASSERT_EQ(audit.status, 200) << audit.Describe();
    json::object ao = audit.Object();
    ASSERT_TRUE(ao["entries"].is_array()) << audit.body;
    std::multiset<std::string> actions;
    std::map<std::string, std::string> target_of;
    for (const auto& e : ao["entries"].as_array()) {
        if (!e.is_object()) continue;
        const std::string action = StringOf(e.as_object(), "action");
        actions.insert(action);
        target_of[action] = StringOf(e.as_object(), "target");
    }
    for (const char* a : {"login", "login_failed", "token_refresh", "token_refresh_failed",
                          "profile_updated", "api_key_created", "api_key_revoked"}) {
        EXPECT_GT(actions.count(a), 0u)
            << a << " not in the audit log: " << audit.body.substr(0, 2000);
    }
    EXPECT_EQ(target_of["login"], member_.id);
    EXPECT_EQ(target_of["api_key_revoked"], prefix);
    ASSERT_TRUE(ao["chain"].is_object()) << audit.body;
    EXPECT_EQ(ao["chain"].as_object()["ok"], true) << audit.body.substr(0, 500);
}

// The console's "Sign out": POST /api/v1/auth/logout revokes every refresh token of the
// caller's user (two sessions here), so neither can be refreshed; the entry is audited.
TEST_F(AuthTest, LogoutRevokesTheUsersRefreshTokens) {
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer());
    const auto http = Http();
    const std::string credentials =
        json::serialize(json::object{{"email", member_.email}, {"password", kPassword}});
    HttpResponse first = http.Post("/api/v1/auth/login", credentials);
    ASSERT_EQ(first.status, 200) << first.Describe();
    HttpResponse second = http.Post("/api/v1/auth/login", credentials);
    ASSERT_EQ(second.status, 200) << second.Describe();
    const std::string access = StringOf(first.Object(), "access_token");

    ExpectFlatError(http.Post("/api/v1/auth/logout", ""), 401, "auth_required",
                    "logout without credentials");
    HttpResponse out = http.Post("/api/v1/auth/logout", "", Bearer(access));
    ASSERT_EQ(out.status, 200) << out.Describe();
    EXPECT_EQ(out.Object()["success"], true);
    EXPECT_EQ(out.Object()["revoked"], 2) << out.body;
    for (const HttpResponse* login : {&first, &second}) {
        const std::string refresh = StringOf(login->Object(), "refresh_token");
        ExpectFlatError(http.Post("/api/v1/auth/refresh",
                                  json::serialize(json::object{{"refresh_token", refresh}})),
                        401, "auth_required", "refresh after logout");
    }
    // The service token has no session: nothing to revoke.
    HttpResponse service = http.Post("/api/auth/logout", "", Bearer(kApiToken));
    ASSERT_EQ(service.status, 200) << service.Describe();
    EXPECT_EQ(service.Object()["revoked"], 0);

    HttpResponse audit = http.Get("/api/v1/audit?limit=20", Bearer(Jwt(admin_)));
    ASSERT_EQ(audit.status, 200) << audit.Describe();
    bool logged = false;
    const json::object ao = audit.Object();  // kept: the loop below refers into it
    ASSERT_TRUE(ao.contains("entries") && ao.at("entries").is_array()) << audit.body;
    for (const auto& e : ao.at("entries").as_array()) {
        logged |= StringOf(e.as_object(), "action") == "logout" &&
                  StringOf(e.as_object(), "target") == member_.id;
    }
    EXPECT_TRUE(logged) << audit.body.substr(0, 2000);
}

// --- 4. debate ownership and usage --------------------------------------------------------

// A demoted user's API key used to keep its old role for up to 30 s (the key cache, while
// revocation and removal acted at once). Now the role change acts on the next request,
// both ways; reads stay allowed.
TEST_F(AuthTest, ADemotedUsersApiKeyLosesTheRoleOnTheNextRequest) {
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer());
    const std::string key = CreateKey(Jwt(member_), R"({"name": "ci"})");
    ASSERT_FALSE(key.empty());
    const Headers as_key = Bearer(key);
    const Headers as_admin = Bearer(Jwt(admin_));
    // A member may create debates (an empty body is then a 400); the key is cached now.
    ASSERT_EQ(Http().Post("/api/v1/debates", "{}", as_key).status, 400);
    HttpResponse demoted = Http().Request("PATCH", "/api/v1/admin/users/" + member_.id,
                                          R"({"role": "viewer"})", as_admin);
    ASSERT_EQ(demoted.status, 200) << demoted.Describe();
    ExpectFlatError(Http().Post("/api/v1/debates", "{}", as_key), 403, "forbidden",
                    "the demoted user's key, next request");
    EXPECT_EQ(Http().Get("/api/v1/debates", as_key).status, 200);
    HttpResponse promoted = Http().Request("PATCH", "/api/v1/admin/users/" + member_.id,
                                           R"({"role": "member"})", as_admin);
    ASSERT_EQ(promoted.status, 200) << promoted.Describe();
    EXPECT_EQ(Http().Post("/api/v1/debates", "{}", as_key).status, 400);
}

TEST_F(AuthTest, MembersCancelOnlyTheirOwnDebatesAdminsAny) {
    // Long debates (200 ms per call, no early stop): still running when cancelled.
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer(
        {{"ARAGORA_DEMO_LATENCY_MS", "200"}, {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"}}));
    const auto http = Http();
    const Headers member = Bearer(Jwt(member_));
    const Headers member2 = Bearer(Jwt(member2_));
    const Headers admin = Bearer(Jwt(admin_));
    const Headers viewer = Bearer(Jwt(viewer_));
    auto create = [&](const Headers& who, const std::string& task) {
        HttpResponse r = http.Post("/api/v1/debates", DebateBody(task, 12, 8), who);
        EXPECT_EQ(r.status, 201) << r.Describe();
        return StringOf(r.Object(), "debate_id");
    };
    auto cancel = [&](const std::string& id, const Headers& who) {
        return http.Post("/api/v1/debates/" + id + "/cancel", "", who);
    };
    const std::string own = create(member, "Should we adopt a four-day week?");
    const std::string others = create(member2, "Should we move to a monorepo?");
    const std::string third = create(member, "Should we rewrite the billing service?");
    ASSERT_FALSE(own.empty() || others.empty() || third.empty());
    ExpectFlatError(http.Post("/api/v1/debates", DebateBody("Viewer?"), viewer), 403, "forbidden",
                    "viewer creates a debate");

    // GET .../{id} tells each caller what its cancel would do (created_by, can_cancel).
    auto can_cancel = [&](const std::string& id, const Headers& who) {
        HttpResponse r = http.Get("/api/v1/debates/" + id, who);
        EXPECT_EQ(r.status, 200) << r.Describe();
        json::object o = r.Object();
        return o["can_cancel"].is_bool() && o["can_cancel"].as_bool();
    };
    EXPECT_EQ(StringOf(http.Get("/api/v1/debates/" + own, viewer).Object(), "created_by"),
              member_.id);
    EXPECT_TRUE(can_cancel(own, member));
    EXPECT_FALSE(can_cancel(others, member));
    EXPECT_FALSE(can_cancel(own, viewer));
    EXPECT_TRUE(can_cancel(others, admin));
    EXPECT_TRUE(can_cancel(others, Bearer(kApiToken)));

    HttpResponse mine = cancel(own, member);
    ASSERT_EQ(mine.status, 200) << "a member cancels its own debate: " << mine.Describe();
    EXPECT_FALSE(can_cancel(own, member)) << "cancelled: nothing left to cancel";
    EXPECT_EQ(mine.Object()["status"], "cancelled");

    ExpectFlatError(cancel(others, member), 403, "forbidden", "member cancels another's debate");
    ExpectFlatError(cancel(others, viewer), 403, "forbidden", "viewer cancels");
    HttpResponse still = http.Get("/api/v1/debates/" + others, member2);
    EXPECT_NE(StringOf(still.Object(), "status"), "cancelled") << still.Describe();
    HttpResponse by_admin = cancel(others, admin);
    EXPECT_EQ(by_admin.status, 200) << "an admin cancels anyone's: " << by_admin.Describe();
    ExpectFlatError(cancel(third, member2), 403, "forbidden", "member2 cancels member's debate");
    EXPECT_EQ(cancel(third, Bearer(kApiToken)).status, 200) << "the service token cancels any";

    // Usage: the member's own debates; none for the viewer; everyone's for the admin.
    HttpResponse usage = http.Get("/api/billing/usage", member);
    ASSERT_EQ(usage.status, 200) << usage.Describe();
    json::object uo = usage.Object();
    EXPECT_EQ(uo["scope"], "user");
    EXPECT_TRUE(IsInteger(uo["debates"]) && NumberOf(uo["debates"]) >= 1) << usage.body;
    HttpResponse none = http.Get("/api/billing/usage", viewer);
    ASSERT_EQ(none.status, 200) << none.Describe();
    EXPECT_EQ(none.Object()["debates"], 0) << none.body;
    HttpResponse all = http.Get("/api/billing/usage", admin);
    ASSERT_EQ(all.status, 200) << all.Describe();
    json::object ao = all.Object();
    EXPECT_EQ(ao["scope"], "all");
    EXPECT_TRUE(NumberOf(ao["debates"]) >= 3) << all.body;
    ASSERT_TRUE(ao["by_user"].is_object()) << all.body;
    const json::value* by_member = ao["by_user"].as_object().if_contains(member_.id);
    ASSERT_NE(by_member, nullptr) << all.body;
    EXPECT_EQ(by_member->as_object().at("debates"), 2) << all.body;
}

// --- 5. rate limits ---------------------------------------------------------------------

struct Burst {
    int ok = 0;                        // 200s before the first other status
    std::optional<HttpResponse> last;  // the first non-200 (or the last 200)
    bool window_rolled = false;        // the limiter's fixed window changed meanwhile
    std::vector<std::string> problems;
};

// GET /api/v1/debates until a non-200 or `max` requests, checking the X-RateLimit headers
// on each 200 (Remaining counts down from the limit).
Burst SendBurst(const HttpClient& http, const Headers& headers, int max, int limit = 100) {
    Burst b;
    std::optional<std::int64_t> first_reset;
    for (int i = 1; i <= max; ++i) {
        HttpResponse r = http.Get("/api/v1/debates", headers);
        const std::int64_t reset = std::atoll(r.Header("X-RateLimit-Reset").value_or("0").c_str());
        if (!first_reset) first_reset = reset;
        if (reset - *first_reset >= 30) b.window_rolled = true;
        if (r.status != 200) {
            b.last = std::move(r);
            return b;
        }
        ++b.ok;
        if (r.Header("X-RateLimit-Limit") != std::to_string(limit)) {
            b.problems.push_back("request " + std::to_string(i) + ": X-RateLimit-Limit " +
                                 r.Header("X-RateLimit-Limit").value_or("-"));
        }
        const int remaining = std::atoi(r.Header("X-RateLimit-Remaining").value_or("-1").c_str());
        if (!b.window_rolled && remaining != limit - i) {
            b.problems.push_back("request " + std::to_string(i) + ": X-RateLimit-Remaining " +
                                 std::to_string(remaining));
        }
        b.last = std::move(r);
    }
    return b;
}

// The burst got exactly `limit` 200s, then a 429 (a window change in the middle of the
// burst may let one or two more through: the previous window's weight decays).
void ExpectLimitedAfter(const Burst& b, int limit, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_TRUE(b.problems.empty()) << b.problems.front();
    if (b.window_rolled) {
        EXPECT_GE(b.ok, limit);
        EXPECT_LE(b.ok, limit + 2);
    } else {
        EXPECT_EQ(b.ok, limit) << "requests allowed before the first refusal";
    }
    ASSERT_TRUE(b.last.has_value());
    EXPECT_EQ(b.last->status, 429) << b.last->Describe();
}

class RateLimitTest : public AuthTest {
protected:
    void StartLimited(std::map<std::string, std::string> extra = {}) {
        std::filesystem::create_directories(DataDir());
        std::map<std::string, std::string> env{{"ARAGORA_RATE_LIMIT_DISABLED", "0"},
                                               {"ARAGORA_RATE_LIMIT", "100"},
                                               {"ARAGORA_API_TOKEN", kApiToken}};
        for (auto& [k, v] : extra) env[k] = v;
        ASSERT_NO_FATAL_FAILURE(StartServer(std::move(env)));
    }
    static Headers As(const std::string& xff = "") {
        Headers h = Bearer(kApiToken);
        if (!xff.empty()) h.emplace_back("X-Forwarded-For", xff);
        return h;
    }
    json::object Status(const std::string& xff = "") {
        HttpResponse r = Http().Get("/api/rate-limits/status", As(xff));
        EXPECT_EQ(r.status, 200) << r.Describe();
        return r.Object();
    }
    static json::value IpBucket(json::object status, const char* field) {
        if (!status["buckets"].is_object()) return nullptr;
        json::object& buckets = status["buckets"].as_object();
        if (!buckets["ip"].is_object()) return nullptr;
        return buckets["ip"].as_object()[field];
    }
};

TEST_F(RateLimitTest, The101stRequestOfAMinuteGets429WithRetryAfter) {
    ASSERT_NO_FATAL_FAILURE(StartLimited());
    const auto http = Http();
    Burst b = SendBurst(http, As(), 110);
    ASSERT_NO_FATAL_FAILURE(ExpectLimitedAfter(b, 100, "127.0.0.1"));
    const HttpResponse& r = *b.last;
    ExpectFlatError(r, 429, "rate_limit_exceeded", "the 101st request");
    const std::string retry_after = r.Header("Retry-After").value_or("");
    EXPECT_TRUE(std::regex_match(retry_after, std::regex("[1-9][0-9]*"))) << retry_after;
    // Sliding window counter: the rest of this window plus the time the previous one's
    // weight needs to decay by one request (60 s / 100), so at most 61 s.
    EXPECT_LE(std::atoi(retry_after.c_str()), 61);
    EXPECT_EQ(r.Header("X-RateLimit-Limit").value_or(""), "100");
    EXPECT_EQ(r.Header("X-RateLimit-Remaining").value_or(""), "0");
    const std::string reset = r.Header("X-RateLimit-Reset").value_or("");
    EXPECT_TRUE(std::regex_match(reset, std::regex("[0-9]+"))) << reset;
    EXPECT_GE(std::atoll(reset.c_str()), EpochNow() - 1);
    EXPECT_LE(std::atoll(reset.c_str()), EpochNow() + 61);
    json::object body = r.Object();
    ASSERT_TRUE(IsInteger(body["retry_after"])) << r.body;
    EXPECT_EQ(std::to_string(static_cast<std::int64_t>(NumberOf(body["retry_after"]))),
              retry_after);

    // The limit is per IP and comes before auth: no credentials now also gets 429.
    EXPECT_EQ(http.Get("/api/v1/debates").status, 429);

    // Seen in the metrics, the log and the status route (which is never limited).
    HttpResponse metrics = http.Get("/metrics");
    ASSERT_EQ(metrics.status, 200);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        metrics.body, m,
        std::regex(R"(\naragora_rate_limit_hits_total\{bucket="ip"\} ([0-9.e+]+))")))
        << metrics.body.substr(0, 3000);
    EXPECT_GE(std::stod(m[1]), 2.0);
    EXPECT_TRUE(PollUntil(
        [&] {
            return std::regex_search(
                server_->Logs(), std::regex("rate_limit exceeded[^\n]*client_ip=127\\.0\\.0\\.1"));
        },
        seconds(3)))
        << "no rate_limit line in the log:\n"
        << server_->Logs().substr(0, 4000);
    json::object status = Status();
    EXPECT_EQ(status["enabled"], true);
    EXPECT_EQ(status["client_ip"], "127.0.0.1");
    EXPECT_EQ(status["whitelisted"], false);
    EXPECT_EQ(IpBucket(status, "limit"), 100);
    EXPECT_EQ(IpBucket(status, "remaining"), 0) << json::serialize(status);
}

TEST_F(RateLimitTest, WhitelistedClientIsNeverLimited) {
    ASSERT_NO_FATAL_FAILURE(StartLimited({{"ARAGORA_RATE_LIMIT_WHITELIST", "10.1.0.0/16"}}));
    const auto http = Http();
    int ok = 0;
    for (int i = 0; i < 150; ++i) {
        HttpResponse r = http.Get("/api/v1/debates", As("10.1.2.3"));
        if (r.status == 200) {
            ++ok;
        } else {
            ADD_FAILURE() << "whitelisted request " << i + 1 << ": " << r.Describe();
            break;
        }
    }
    EXPECT_EQ(ok, 150);
    json::object status = Status("10.1.2.3");
    EXPECT_EQ(status["client_ip"], "10.1.2.3");
    EXPECT_EQ(status["whitelisted"], true);
    // The control: an address outside the whitelist is limited on the same server.
    ExpectLimitedAfter(SendBurst(http, As("10.2.0.1"), 110), 100, "10.2.0.1");
}

TEST_F(RateLimitTest, ForwardedForFromAnUntrustedPeerIsIgnored) {
    // 127.0.0.1 is not a trusted proxy here: every X-Forwarded-For is the peer's own.
    ASSERT_NO_FATAL_FAILURE(StartLimited({{"ARAGORA_TRUSTED_PROXIES", "10.99.0.0/16"}}));
    const auto http = Http();
    int ok = 0;
    std::optional<HttpResponse> refused;
    for (int i = 1; i <= 110 && !refused; ++i) {
        HttpResponse r = http.Get("/api/v1/debates", As("203.0.113." + std::to_string(i)));
        if (r.status == 200) {
            ++ok;
        } else {
            refused = std::move(r);
        }
    }
    ASSERT_TRUE(refused.has_value()) << "110 spoofed addresses were all allowed";
    EXPECT_EQ(refused->status, 429) << refused->Describe();
    EXPECT_GE(ok, 100);
    EXPECT_LE(ok, 102);
    json::object status = Status("198.51.100.1");
    EXPECT_EQ(status["client_ip"], "127.0.0.1") << json::serialize(status);
    EXPECT_EQ(IpBucket(status, "remaining"), 0);
}

TEST_F(RateLimitTest, ForwardedForFromATrustedProxyGivesEachClientItsBucket) {
    // The default trusted proxies include 127.0.0.0/8.
    ASSERT_NO_FATAL_FAILURE(StartLimited());
    const auto http = Http();
    ExpectLimitedAfter(SendBurst(http, As("203.0.113.7"), 110), 100, "203.0.113.7");
    EXPECT_EQ(http.Get("/api/v1/debates", As("203.0.113.8")).status, 200) << "another client";
    EXPECT_EQ(http.Get("/api/v1/debates", As()).status, 200) << "the proxy itself";
    json::object limited = Status("203.0.113.7");
    EXPECT_EQ(limited["client_ip"], "203.0.113.7");
    EXPECT_EQ(IpBucket(limited, "remaining"), 0);
    json::object other = Status("203.0.113.8");
    EXPECT_EQ(other["client_ip"], "203.0.113.8");
    EXPECT_EQ(IpBucket(other, "remaining"), 99) << json::serialize(other);
}

// --- 6. CORS -----------------------------------------------------------------------------

TEST_F(AuthTest, CorsAllowsOnlyTheConfiguredOrigin) {
    std::filesystem::create_directories(DataDir());
    ASSERT_NO_FATAL_FAILURE(StartServer(
        {{"ARAGORA_ALLOWED_ORIGINS", kAllowedOrigin}, {"ARAGORA_API_TOKEN", kApiToken}}));
    const auto http = Http();
    auto preflight = [&](const std::string& origin) {
        return http.Request("OPTIONS", "/api/v1/debates", "",
                            {{"Origin", origin},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "Authorization, Content-Type"}});
    };
    HttpResponse ok = preflight(kAllowedOrigin);
    EXPECT_EQ(ok.status, 204) << ok.Describe();
    EXPECT_EQ(ok.Header("Access-Control-Allow-Origin").value_or(""), kAllowedOrigin);
    EXPECT_NE(ok.Header("Access-Control-Allow-Methods").value_or("").find("POST"),
              std::string::npos);
    EXPECT_NE(ok.Header("Access-Control-Allow-Headers").value_or("").find("Authorization"),
              std::string::npos);

    HttpResponse foreign = preflight("https://evil.example.net");
    ExpectFlatError(foreign, 403, "forbidden", "preflight from a foreign origin");
    EXPECT_FALSE(foreign.Header("Access-Control-Allow-Origin").has_value()) << foreign.Describe();

    Headers get = Bearer(kApiToken);
    get.emplace_back("Origin", "https://evil.example.net");
    HttpResponse foreign_get = http.Get("/api/v1/debates", get);
    EXPECT_EQ(foreign_get.status, 200) << foreign_get.Describe();
    EXPECT_FALSE(foreign_get.Header("Access-Control-Allow-Origin").has_value());
    get.back().second = kAllowedOrigin;
    HttpResponse allowed_get = http.Get("/api/v1/debates", get);
    EXPECT_EQ(allowed_get.Header("Access-Control-Allow-Origin").value_or(""), kAllowedOrigin);
}

// --- 7. startup refusals -----------------------------------------------------------------

class StartupTest : public AuthTest {
protected:
    // Starts the server and expects it to exit non-zero before listening, within 10 s; a
    // server that does listen is killed at once. Its stderr.
    std::string ExpectRefusal(std::map<std::string, std::string> env, const std::string& host) {
        std::filesystem::create_directories(DataDir());
        ServerProcess p(DataDir(), std::move(env));
        p.set_host(host);
        const auto start = Clock::now();
        const bool listening = p.Start(seconds(10));
        if (listening) {
            p.Kill();
            ADD_FAILURE() << "the server started on " << host << ":\n" << p.Logs();
            return p.Stderr();
        }
        const auto code = p.WaitExit(seconds(5));
        EXPECT_TRUE(code.has_value() && *code != 0)
            << "exit code " << (code ? std::to_string(*code) : "none") << ": " << p.error();
        EXPECT_LT(Clock::now() - start, seconds(5)) << "the refusal should be quick";
        return p.Stderr();
    }
};

std::vector<std::string> LinesWith(const std::string& text, const std::string& needle) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) out.push_back(line);
    }
    return out;
}

TEST_F(StartupTest, NoCredentialsOnANonLoopbackAddressIsRefused) {
    const std::string err = ExpectRefusal({}, "0.0.0.0");
    // Exactly one line for the operator ("aragora: refusing ...").
    const auto lines = LinesWith(err, "ARAGORA_ALLOW_UNAUTHENTICATED");
    int plain = 0;
    for (const std::string& line : lines) {
        if (line.rfind("aragora: refusing to listen on 0.0.0.0", 0) == 0) ++plain;
    }
    EXPECT_EQ(plain, 1) << err;
    EXPECT_EQ(lines.size(), 1u) << err;
}

TEST_F(StartupTest, AllowUnauthenticatedStartsOnANonLoopbackAddress) {
    std::filesystem::create_directories(DataDir());
    server_ = std::make_unique<ServerProcess>(
        DataDir(), std::map<std::string, std::string>{{"ARAGORA_ALLOW_UNAUTHENTICATED", "1"}});
    server_->set_host("0.0.0.0");
    const bool ready = server_->StartReady(seconds(10));
    ASSERT_TRUE(ready) << server_->error();
    EXPECT_NE(server_->Logs().find("open development mode"), std::string::npos) << server_->Logs();
    // Exposed on purpose: other Host names are served; cross-site writes still are not.
    const auto http = Http();
    EXPECT_EQ(http.Get("/api/v1/debates", {{"Host", "10.1.2.3:8080"}}).status, 200);
    ExpectFlatError(http.Post("/api/v1/debates", R"({"task": "x"})",
                              {{"Host", "10.1.2.3:8080"}, {"Origin", "https://attacker.example"}}),
                    403, "forbidden", "cross-site POST to an exposed open mode");
    EXPECT_EQ(server_->Terminate(), 0) << server_->Logs();  // stopped at once
    server_.reset();
}

// The secret cannot be read without its region: no start on the bare environment
// (secrets_manager_test.cpp covers the secret itself).
TEST_F(StartupTest, SecretsManagerWithoutARegionIsRefused) {
    const std::string err = ExpectRefusal(
        {{"ARAGORA_USE_SECRETS_MANAGER", "true"}, {"ARAGORA_API_TOKEN", kApiToken}}, "127.0.0.1");
    EXPECT_FALSE(LinesWith(err, "ARAGORA_USE_SECRETS_MANAGER=true needs AWS_REGION").empty())
        << err;
}

TEST_F(StartupTest, ProductionRefusesAShortJwtSecret) {
    const std::string err = ExpectRefusal({{"ARAGORA_ENV", "production"},
                                           {"ARAGORA_JWT_SECRET", "only-20-bytes-long!!"},
                                           {"ARAGORA_API_TOKEN", kApiToken}},
                                          "127.0.0.1");
    EXPECT_FALSE(LinesWith(err, "ARAGORA_JWT_SECRET must be at least 32 bytes").empty()) << err;
}

TEST_F(StartupTest, RequireDistributedWithoutSharedStateIsRefused) {
    const std::string err = ExpectRefusal(
        {{"ARAGORA_REQUIRE_DISTRIBUTED", "true"}, {"ARAGORA_API_TOKEN", kApiToken}}, "127.0.0.1");
    EXPECT_EQ(LinesWith(err, "ARAGORA_REQUIRE_DISTRIBUTED=true needs shared state").size(), 1u)
        << err;
}

TEST_F(StartupTest, EncryptedDebateContentWithoutAKeyExitsWithOneLine) {
    const std::string err = ExpectRefusal(
        {{"ARAGORA_ENCRYPT_DEBATE_CONTENT", "true"}, {"ARAGORA_API_TOKEN", kApiToken}},
        "127.0.0.1");
    EXPECT_EQ(LinesWith(err, "ARAGORA_ENCRYPT_DEBATE_CONTENT=true needs an encryption key").size(),
              1u)
        << err;
}

TEST_F(StartupTest, RequireDistributedWithUnreachableServersExitsWithOneLine) {
    // Ports nothing listens on (bound and released here).
    const auto closed_port = [] {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        ::close(fd);
        return std::to_string(ntohs(a.sin_port));
    };
    std::filesystem::create_directories(DataDir());
    ServerProcess p(DataDir(),
                    {{"ARAGORA_REQUIRE_DISTRIBUTED", "true"},
                     {"ARAGORA_API_TOKEN", kApiToken},
                     {"DATABASE_URL", "postgresql://postgres@127.0.0.1:" + closed_port() + "/x"},
                     {"ARAGORA_REDIS_URL", "redis://127.0.0.1:" + closed_port() + "/0"}});
    p.Start(seconds(10));
    const auto code = p.WaitExit(seconds(20));
    ASSERT_TRUE(code.has_value()) << "still running:\n" << p.Logs();
    EXPECT_NE(*code, 0);
    const auto lines = LinesWith(p.Stderr(), "aragora: cannot start: ");
    ASSERT_EQ(lines.size(), 1u) << p.Stderr();
    EXPECT_NE(lines[0].find("Redis is not reachable"), std::string::npos) << lines[0];
}

// --- 8. WebSocket --------------------------------------------------------------------------

// The first frame of a fresh connection to /ws with `query`.
json::object FirstFrame(std::uint16_t port, const std::string& query, WsClient& ws) {
    if (!ws.Connect(port, "/ws" + query)) {
        ADD_FAILURE() << "connect " << query << ": " << ws.error();
        return {};
    }
    auto text = ws.Read(seconds(5));
    if (!text) {
        ADD_FAILURE() << "no frame on " << query << ": " << ws.error();
        return {};
    }
    json::value v = json::parse(*text);
    return v.is_object() ? v.as_object() : json::object{};
}

bool Authenticated(const json::object& frame) {
    const json::value* data = frame.if_contains("data");
    if (data == nullptr || !data->is_object()) return false;
    const json::value* a = data->as_object().if_contains("authenticated");
    return a != nullptr && a->is_bool() && a->as_bool();
}

TEST_F(AuthTest, WebSocketAuthenticatesByTokenQuery) {
    std::filesystem::create_directories(DataDir());
    ASSERT_NO_FATAL_FAILURE(StartServer({{"ARAGORA_API_TOKEN", kApiToken}}));
    const std::string key = CreateKey(kApiToken, R"({"name": "ws"})");
    ASSERT_FALSE(key.empty());
    {
        WsClient ws;
        json::object f = FirstFrame(server_->api_port(), "?token=" + key, ws);
        EXPECT_EQ(StringOf(f, "type"), "connection_info") << json::serialize(f);
        EXPECT_TRUE(Authenticated(f)) << json::serialize(f);
        ws.Close();
    }
    {
        WsClient ws;
        json::object f = FirstFrame(server_->api_port(), "", ws);
        EXPECT_EQ(StringOf(f, "type"), "connection_info") << json::serialize(f);
        ASSERT_TRUE(f["data"].is_object());
        EXPECT_EQ(f["data"].as_object()["authenticated"], false) << json::serialize(f);
        ws.Close();
    }
    {
        WsClient ws;
        json::object f = FirstFrame(server_->api_port(), "?token=ara_" + std::string(43, 'B'), ws);
        EXPECT_FALSE(Authenticated(f)) << "an unknown key: " << json::serialize(f);
        ws.Close();
    }
    {
        // Unauthenticated: accepted, but the URL's subscription gets error auth_required.
        WsClient ws;
        json::object f = FirstFrame(server_->api_port(), "?debate_id=d_test", ws);
        EXPECT_FALSE(Authenticated(f));
        std::string code;
        for (int i = 0; i < 5 && code.empty(); ++i) {
            auto text = ws.Read(seconds(5));
            if (!text) break;
            json::value v = json::parse(*text);
            if (v.is_object() && StringOf(v.as_object(), "type") == "error" &&
                v.as_object()["data"].is_object()) {
                code = StringOf(v.as_object()["data"].as_object(), "code");
            }
        }
        EXPECT_EQ(code, "auth_required");
        ws.Close();
    }
}

// --- 9. the open development mode against web pages ---------------------------------------

class OpenModeTest : public AuthTest {
protected:
    void SetUp() override {
        std::filesystem::create_directories(DataDir());
        ASSERT_NO_FATAL_FAILURE(StartServer({}));  // no credential: the open mode
        ASSERT_NE(server_->Logs().find("open development mode"), std::string::npos)
            << server_->Logs();
    }
    std::int64_t DebateTotal() {
        HttpResponse list = Http().Get("/api/v1/debates");
        EXPECT_EQ(list.status, 200) << list.Describe();
        const json::value* total = list.Object().if_contains("total");
        return total != nullptr && total->is_int64() ? total->as_int64() : -1;
    }
    // A raw WebSocket upgrade to `port` with `extra` header lines (and Host 127.0.0.1:port
    // unless `host` is given); the first answer.
    HttpResponse Upgrade(std::uint16_t port, const std::string& target, const std::string& extra,
                         std::string host = "") {
        if (host.empty()) host = "127.0.0.1:" + std::to_string(port);
        HttpClient raw(port);
        return raw.Raw("GET " + target + " HTTP/1.1\r\nHost: " + host +
                           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n" +
                           extra + "\r\n",
                       milliseconds(0));
    }
};

TEST_F(OpenModeTest, ForeignHostIsRefused) {
    const auto http = Http();
    const std::string port = std::to_string(server_->api_port());
    // DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends it as Host.
    for (const char* path : {"/api/v1/debates", "/api/v1/health", "/api/v1/no-such-route"}) {
        HttpResponse r = http.Get(path, {{"Host", "rebind.attacker.example:" + port}});
        ExpectFlatError(r, 403, "forbidden", std::string("foreign Host on ") + path, "Host");
    }
    ExpectFlatError(http.Post("/api/v1/debates", R"({"task": "rebound"})",
                              {{"Host", "rebind.attacker.example"}}),
                    403, "forbidden", "create under a foreign Host");
    EXPECT_EQ(DebateTotal(), 0);
    // Loopback names, with and without a port.
    for (const std::string& host : std::vector<std::string>{
             "127.0.0.1:" + port, "localhost:" + port, "localhost", "[::1]:" + port}) {
        EXPECT_EQ(http.Get("/api/v1/debates", {{"Host", host}}).status, 200) << host;
    }
}

TEST_F(OpenModeTest, CrossSiteTextPlainPostCreatesNoDebate) {
    const auto http = Http();
    // What a page on another site can send without a preflight: a "simple" POST.
    HttpResponse r = http.Post(
        "/api/v1/debates", R"({"task": "Cross-site debate", "rounds": 1})",
        {{"Origin", "https://attacker.example"}, {"Content-Type", "text/plain;charset=UTF-8"}});
    ExpectFlatError(r, 403, "forbidden", "cross-site text/plain POST", "attacker.example");
    ExpectFlatError(http.Request("DELETE", "/api/v1/auth/api-keys/ara_x", "", {{"Origin", "null"}}),
                    403, "forbidden", "DELETE from a sandboxed page");
    EXPECT_EQ(DebateTotal(), 0) << "the refused POST must not create a debate";

    // The SDKs and curl send no Origin: still served; so is a page on loopback.
    const std::string id = CreateDebate(http, DebateBody("Local debate", 1, 2));
    EXPECT_FALSE(id.empty());
    HttpResponse local_page =
        http.Post("/api/v1/debates", DebateBody("From a local page", 1, 2),
                  {{"Origin", "http://localhost:" + std::to_string(server_->api_port())},
                   {"Content-Type", "text/plain"}});
    EXPECT_EQ(local_page.status, 201) << local_page.Describe();
    EXPECT_EQ(DebateTotal(), 2);
    if (!id.empty()) {
        EXPECT_TRUE(WaitForStatus(http, id, kTerminalStatuses).has_value());
    }
}

TEST_F(OpenModeTest, WebSocketFromAForeignOriginIsRefused) {
    for (auto [port, target] : {std::pair<std::uint16_t, std::string>{server_->api_port(), "/ws"},
                                {server_->ws_port(), "/"}}) {
        SCOPED_TRACE("port " + std::to_string(port) + " " + target);
        HttpResponse foreign = Upgrade(port, target, "Origin: https://attacker.example\r\n");
        ExpectFlatError(foreign, 403, "forbidden", "WebSocket from a foreign Origin", "WebSocket");
        HttpResponse rebound = Upgrade(port, target, "Origin: http://rebind.attacker.example\r\n",
                                       "rebind.attacker.example");
        EXPECT_EQ(rebound.status, 403) << rebound.Describe();
        // A loopback page and the SDKs (no Origin) are upgraded.
        HttpResponse local = Upgrade(port, target, "Origin: http://localhost:3000\r\n");
        EXPECT_EQ(local.status, 101) << local.Describe();
        WsClient ws;
        json::object f = FirstFrame(port, "", ws);
        EXPECT_EQ(StringOf(f, "type"), "connection_info") << json::serialize(f);
        EXPECT_TRUE(Authenticated(f)) << "the open mode authenticates every connection";
        ws.Close();
    }
    EXPECT_NE(server_->Logs().find("open_mode refused"), std::string::npos) << server_->Logs();
}

// --- 10. the original Aragora's tokens ----------------------------------------------------

// An access token exactly as the original mints it (billing/auth/tokens.py): header and
// payload through Python's json.dumps (with its spaces), "type" rather than "typ", a token
// version, org_id null for a user without an organisation.
std::string OriginalAragoraToken(const User& user, std::string_view secret,
                                 const std::string& type = "access") {
    const std::int64_t now = EpochNow();
    const std::string payload = R"({"sub": ")" + user.id + R"(", "email": ")" + user.email +
                                R"(", "org_id": null, "role": ")" + user.role + R"(", "iat": )" +
                                std::to_string(now) + R"(, "exp": )" +
                                std::to_string(now + 24 * 3600) + R"(, "type": ")" + type +
                                R"(", "tv": 1})";
    const std::string input = auth::Base64UrlEncode(R"({"alg": "HS256", "typ": "JWT"})") + "." +
                              auth::Base64UrlEncode(payload);
    return input + "." + auth::Base64UrlEncode(common::HmacSha256Raw(secret, input));
}

TEST_F(AuthTest, TheOriginalsAccessTokensWork) {
    ASSERT_NO_FATAL_FAILURE(StartSecuredServer());
    const auto http = Http();
    const std::string member_token = OriginalAragoraToken(member_, kJwtSecret);
    HttpResponse list = http.Get("/api/v1/debates", Bearer(member_token));
    EXPECT_EQ(list.status, 200) << list.Describe();
    HttpResponse me = http.Get("/api/v1/auth/me", Bearer(member_token));
    ASSERT_EQ(me.status, 200) << me.Describe();
    EXPECT_EQ(StringOf(me.Object(), "email"), member_.email);
    // The role in the token counts: a member creates, a viewer may not.
    HttpResponse created = http.Post(
        "/api/v1/debates", DebateBody("Migrated from the original", 1, 2), Bearer(member_token));
    EXPECT_EQ(created.status, 201) << created.Describe();
    ExpectFlatError(http.Post("/api/v1/debates", DebateBody("viewer", 1, 2),
                              Bearer(OriginalAragoraToken(viewer_, kJwtSecret))),
                    403, "forbidden", "the original's viewer token");
    // Its refresh tokens are not access tokens; a foreign secret is still a foreign secret.
    ExpectFlatError(
        http.Get("/api/v1/debates", Bearer(OriginalAragoraToken(member_, kJwtSecret, "refresh"))),
        401, "auth_required", "the original's refresh token", "not an access token");
    ExpectFlatError(
        http.Get("/api/v1/debates", Bearer(OriginalAragoraToken(member_, kUnknownSecret))), 401,
        "auth_required", "the original's token under another secret", "signature");
    // The debate ends before the server stops (read with the same token).
    const std::string id = StringOf(created.Object(), "debate_id");
    EXPECT_TRUE(PollUntil(
        [&] {
            HttpResponse d = http.Get("/api/v1/debates/" + id, Bearer(member_token));
            return kTerminalStatuses.count(StringOf(d.Object(), "status")) > 0;
        },
        seconds(60)))
        << "debate " << id << " did not end";
}

TEST_F(JwtRotationTest, TheOriginalsRotationVariables) {
    // ARAGORA_JWT_SECRET_ROTATED_AT in unix seconds, 25 h ago, and the original's grace
    // name at 48 h: the old secret is still inside its window.
    std::filesystem::create_directories(DataDir());
    const std::string rotated = std::to_string(EpochNow() - 25 * 3600);
    ASSERT_NO_FATAL_FAILURE(StartServer({{"ARAGORA_JWT_SECRET", kJwtSecret},
                                         {"ARAGORA_JWT_SECRET_PREVIOUS", kOldSecret},
                                         {"ARAGORA_JWT_SECRET_ROTATED_AT", rotated},
                                         {"ARAGORA_JWT_ROTATION_GRACE_HOURS", "48"}}));
    EXPECT_EQ(ListWith(kOldSecret).status, 200) << ListWith(kOldSecret).Describe();
    EXPECT_EQ(Http().Get("/api/v1/debates", Bearer(OriginalAragoraToken(user_, kOldSecret))).status,
              200);
    ASSERT_EQ(server_->Terminate(), 0);
    // The same time with the default 24 h grace: retired.
    server_.reset();
    ASSERT_NO_FATAL_FAILURE(StartRotated(rotated));
    ExpectFlatError(ListWith(kOldSecret), 401, "auth_required", "old secret, unix seconds 25 h ago",
                    "retired");
}

}  // namespace
}  // namespace aragora::testing
