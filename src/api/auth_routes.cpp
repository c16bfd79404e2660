// Accounts (API.md "Auth"): login, refresh, logout, me, API keys; the admin's user management and
// audit log; usage; the rate-limit, error and cache admin routes.

#include <boost/json.hpp>
#include <chrono>
#include <map>

#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "auth/roles.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

net::HttpResponse Json(int status, const json::object& o, const RequestContext& ctx) {
    return JsonResponse(status, common::SerializeJson(o), ctx.correlation_id);
}

net::HttpResponse NoAuth(const RequestContext& ctx) {
    return ErrorResponse(ErrorCode::kUnavailable, "accounts are not configured on this server",
                         ctx.correlation_id);
}

auth::RequestOrigin OriginOf(const RequestContext& ctx) {
    return auth::RequestOrigin{ctx.client_ip, ctx.correlation_id};
}

json::object UserJson(const storage::UserRecord& u) {
    return json::object{{"id", u.id},
                        {"email", u.email},
                        {"name", u.name},
                        {"role", u.role},
                        {"org_id", u.org_id},
                        {"created_at", u.created_at},
                        {"updated_at", u.updated_at},
                        {"disabled", u.disabled}};
}

// {"user": {...}} plus the user's fields at the top level (API.md).
json::object UserEnvelope(const storage::UserRecord& u) {
    json::object o = UserJson(u);
    o["user"] = UserJson(u);
    return o;
}

json::object TokensJson(const auth::TokenPair& t) {
    return json::object{{"access_token", t.access_token},
                        {"refresh_token", t.refresh_token},
                        {"token_type", "Bearer"},
                        {"expires_in", t.expires_in},
                        {"expires_at", t.expires_at}};
}

json::object LoginJson(const auth::LoginResult& r) {
    json::object tokens = TokensJson(r.tokens);
    json::object o;
    o["user"] = UserJson(r.user);
    for (const auto& [k, v] : tokens) o[k] = v;
    o["tokens"] = std::move(tokens);
    return o;
}

json::object KeyJson(const storage::ApiKeyRecord& k) {
    json::value last = k.last_used_at.empty() ? json::value(nullptr) : json::value(k.last_used_at);
    json::value exp = k.expires_at.empty() ? json::value(nullptr) : json::value(k.expires_at);
    return json::object{{"id", k.id},          {"prefix", k.id},
                        {"name", k.name},      {"created_at", k.created_at},
                        {"expires_at", exp},   {"last_used", last},
                        {"last_used_at", last}};
}

// --- login / refresh / me ------------------------------------------------------------

asio::awaitable<net::HttpResponse> Login(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    auto email = common::RequiredStringField(*body, "email", 254);
    if (!email) co_return ErrorResponse(email.error(), ctx.correlation_id);
    auto password = common::RequiredStringField(*body, "password", 1024);
    if (!password) co_return ErrorResponse(password.error(), ctx.correlation_id);
    auth::RequestOrigin origin = OriginOf(ctx);
    auto r = co_await deps.auth->Login(std::move(*email), std::move(*password), origin);
    if (!r) {
        net::HttpResponse res = ServiceErrorResponse(r.error(), ctx.correlation_id);
        if (res.status == 401) res.AddHeader("WWW-Authenticate", "Bearer realm=\"aragora\"");
        co_return res;
    }
    co_return Json(200, LoginJson(*r), ctx);
}

asio::awaitable<net::HttpResponse> Refresh(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    auto token = common::RequiredStringField(*body, "refresh_token", 256);
    if (!token) co_return ErrorResponse(token.error(), ctx.correlation_id);
    auth::RequestOrigin origin = OriginOf(ctx);
    auto r = co_await deps.auth->Refresh(std::move(*token), origin);
    if (!r) {
        net::HttpResponse res = ServiceErrorResponse(r.error(), ctx.correlation_id);
        if (res.status == 401) res.AddHeader("WWW-Authenticate", "Bearer realm=\"aragora\"");
        co_return res;
    }
    co_return Json(200, LoginJson(*r), ctx);
}

asio::awaitable<net::HttpResponse> Me(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    auto u = co_await deps.auth->Me(ctx.principal);
    if (!u) co_return ServiceErrorResponse(u.error(), ctx.correlation_id);
    json::object o = UserEnvelope(*u);
    o["auth_method"] = ctx.principal.KindName();
    json::array perms;
    for (auth::Permission p : auth::AllPermissions()) {
        if (ctx.principal.Allows(p)) perms.emplace_back(auth::PermissionName(p));
    }
    o["permissions"] = std::move(perms);
    co_return Json(200, o, ctx);
}

asio::awaitable<net::HttpResponse> UpdateMe(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    auth::ProfileUpdate update;
    struct Field {
        std::string_view name;
        std::optional<std::string> auth::ProfileUpdate::*member;
        std::size_t max;
    };
    const Field fields[] = {{"name", &auth::ProfileUpdate::name, 200},
                            {"email", &auth::ProfileUpdate::email, 254},
                            {"password", &auth::ProfileUpdate::password, 1024},
                            {"current_password", &auth::ProfileUpdate::current_password, 1024}};
    for (const Field& f : fields) {
        auto v = common::OptionalStringField(*body, f.name, f.max);
        if (!v) co_return ErrorResponse(v.error(), ctx.correlation_id);
        update.*f.member = std::move(*v);
    }
    auth::RequestOrigin origin = OriginOf(ctx);
    auto u = co_await deps.auth->UpdateMe(ctx.principal, std::move(update), origin);
    if (!u) co_return ServiceErrorResponse(u.error(), ctx.correlation_id);
    co_return Json(200, UserEnvelope(*u), ctx);
}

// Signing out ends every session of the caller's user: all its refresh tokens are revoked
// (the store has no per-token revocation; access tokens still expire on their own). The
// service token, the open mode's anonymous caller and API keys of built-in users have no
// sessions: 200 with nothing revoked.
asio::awaitable<net::HttpResponse> Logout(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    const std::string user_id = ctx.principal.user_id;
    int revoked = 0;
    if (!user_id.empty() && !auth::IsBuiltInUser(user_id)) {
        storage::AuthStore* store = deps.auth->store();
        const std::string now = common::FormatIso8601(deps.auth->clock().SystemNow());
        auto n = co_await deps.auth->pool().Run(
            [store, &user_id, &now] { return store->RevokeRefreshTokens(user_id, now); });
        if (!n) co_return ServiceErrorResponse(n.error(), ctx.correlation_id);
        revoked = *n;
        auth::RequestOrigin origin = OriginOf(ctx);
        std::string action = "logout";
        std::string target = user_id;
        std::string details =
            common::SerializeJson(json::object{{"refresh_tokens_revoked", revoked}});
        co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                                  std::move(details), origin);
    }
    co_return Json(200,
                   json::object{{"success", true},
                                {"revoked", revoked},
                                {"message", "signed out: the user's refresh tokens are revoked"}},
                   ctx);
}

// --- API keys --------------------------------------------------------------------------

// expires_in (seconds) | expires_at (ISO) | expires_in_days → ISO, "" = never.
Result<std::string> KeyExpiry(const json::object& body, std::chrono::system_clock::time_point now) {
    auto seconds_member = [&](std::string_view name,
                              std::int64_t unit) -> Result<std::optional<std::int64_t>> {
        const json::value* v = body.if_contains(name);
        if (v == nullptr || v->is_null()) return std::optional<std::int64_t>();
        std::int64_t n = 0;
        if (v->is_int64()) {
            n = v->as_int64();
        } else if (v->is_uint64() && v->as_uint64() < (1ull << 40)) {
            n = static_cast<std::int64_t>(v->as_uint64());
        } else if (v->is_double() &&
                   v->as_double() ==
                       static_cast<double>(static_cast<std::int64_t>(v->as_double()))) {
            n = static_cast<std::int64_t>(v->as_double());
        } else {
            return MakeError(ErrorCode::kValidation, std::string(name) + " must be an integer",
                             std::string(name));
        }
        const std::int64_t max = std::int64_t{10} * 365 * 86400 / unit;
        if (n < 1 || n > max) {
            return MakeError(ErrorCode::kValidation,
                             std::string(name) + " must be 1.." + std::to_string(max),
                             std::string(name));
        }
        return std::optional<std::int64_t>(n * unit);
    };
    auto secs = seconds_member("expires_in", 1);
    if (!secs) return secs.error();
    auto days = seconds_member("expires_in_days", 86400);
    if (!days) return days.error();
    auto at = common::OptionalStringField(body, "expires_at", 64);
    if (!at) return at.error();
    if (*at) {
        auto tp = common::ParseIso8601(**at);
        if (!tp) {
            return MakeError(ErrorCode::kValidation, "expires_at must be an ISO 8601 time",
                             "expires_at");
        }
        if (*tp <= now) {
            return MakeError(ErrorCode::kValidation, "expires_at is in the past", "expires_at");
        }
        return common::FormatIso8601(*tp);
    }
    std::optional<std::int64_t> s = *secs ? *secs : *days;
    if (!s) return std::string();
    return common::FormatIso8601(now + std::chrono::seconds(*s));
}

asio::awaitable<net::HttpResponse> CreateKey(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    json::object body;
    if (ctx.request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
        auto parsed = ParseJsonObjectBody(ctx.request.body);
        if (!parsed) co_return ErrorResponse(parsed.error(), ctx.correlation_id);
        body = std::move(*parsed);
    }
    auto name = common::OptionalStringField(body, "name", 100);
    if (!name) co_return ErrorResponse(name.error(), ctx.correlation_id);
    auto expiry = KeyExpiry(body, std::chrono::system_clock::now());
    if (!expiry) co_return ErrorResponse(expiry.error(), ctx.correlation_id);
    auth::RequestOrigin origin = OriginOf(ctx);
    std::string key_name = name->value_or("default");
    auto created = co_await deps.auth->CreateApiKey(ctx.principal, std::move(key_name),
                                                    std::move(*expiry), origin);
    if (!created) co_return ServiceErrorResponse(created.error(), ctx.correlation_id);
    json::object o = KeyJson(created->record);
    o["api_key"] = created->key;
    o["key"] = created->key;
    o["message"] = "store this key now: it is shown only once (the server keeps only its hash)";
    co_return Json(201, o, ctx);
}

asio::awaitable<net::HttpResponse> ListKeys(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    auto keys = co_await deps.auth->ListApiKeys(ctx.principal);
    if (!keys) co_return ServiceErrorResponse(keys.error(), ctx.correlation_id);
    json::array arr;
    for (const auto& k : *keys) arr.push_back(KeyJson(k));
    const std::size_t count = arr.size();
    co_return Json(200, json::object{{"keys", std::move(arr)}, {"count", count}}, ctx);
}

asio::awaitable<net::HttpResponse> RevokeKey(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr) co_return NoAuth(ctx);
    std::string id;
    if (auto it = ctx.params.find("id"); it != ctx.params.end()) {
        id = it->second;
    } else if (auto q = ctx.request.QueryParam("id")) {
        id = *q;
    }
    if (!id.empty()) {
        if (auto ok = ValidateId(id, "API key id"); !ok) {
            co_return ErrorResponse(ok.error(), ctx.correlation_id);
        }
    }
    auth::RequestOrigin origin = OriginOf(ctx);
    std::string key_id = id;
    auto n = co_await deps.auth->RevokeApiKey(ctx.principal, std::move(key_id), origin);
    if (!n) co_return ServiceErrorResponse(n.error(), ctx.correlation_id);
    json::object o{{"success", true}, {"revoked", *n}};
    if (!id.empty()) o["id"] = id;
    o["message"] =
        id.empty() ? std::to_string(*n) + " API key(s) revoked" : "API key " + id + " revoked";
    co_return Json(200, o, ctx);
}

// --- users (admin) -----------------------------------------------------------------------

asio::awaitable<net::HttpResponse> ListUsers(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    storage::AuthStore* store = deps.auth->store();
    auto users = co_await deps.auth->pool().Run([store] { return store->ListUsers(); });
    if (!users) co_return ServiceErrorResponse(users.error(), ctx.correlation_id);
    json::array arr;
    for (const auto& u : *users) arr.push_back(UserJson(u));
    const std::size_t count = arr.size();
    co_return Json(200, json::object{{"users", std::move(arr)}, {"count", count}}, ctx);
}

asio::awaitable<net::HttpResponse> AddUserRoute(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    auto email = common::RequiredStringField(*body, "email", 254);
    if (!email) co_return ErrorResponse(email.error(), ctx.correlation_id);
    auto password = common::RequiredStringField(*body, "password", 1024);
    if (!password) co_return ErrorResponse(password.error(), ctx.correlation_id);
    auto role = common::OptionalStringField(*body, "role", 16);
    if (!role) co_return ErrorResponse(role.error(), ctx.correlation_id);
    auto name = common::OptionalStringField(*body, "name", 200);
    if (!name) co_return ErrorResponse(name.error(), ctx.correlation_id);
    auto org = common::OptionalStringField(*body, "org_id", 128);
    if (!org) co_return ErrorResponse(org.error(), ctx.correlation_id);
    const std::string role_name = role->value_or("member");
    auto parsed_role = auth::ParseRole(role_name);
    if (!parsed_role) {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "role must be owner, admin, member or viewer", ctx.correlation_id,
                                "role");
    }
    if (!auth::CanAssignRole(ctx.principal.role, *parsed_role, auth::Role::kViewer)) {
        co_return ErrorResponse(ErrorCode::kForbidden,
                                "role " + std::string(auth::RoleName(ctx.principal.role)) +
                                    " may not create a user with role " + role_name,
                                ctx.correlation_id);
    }
    storage::AuthStore* store = deps.auth->store();
    const std::string now = common::FormatIso8601(deps.auth->clock().SystemNow());
    const std::string user_name = name->value_or("");
    const std::string org_id = org->value_or(ctx.principal.org_id);
    const auto options = deps.auth->config().hash_options;
    auto added = co_await deps.auth->pool().Run([store, &email, &user_name, &role_name, &password,
                                                 &org_id, &now, &options] {
        return auth::AddUser(*store, *email, user_name, role_name, *password, org_id, now, options);
    });
    if (!added) co_return ServiceErrorResponse(added.error(), ctx.correlation_id);
    deps.auth->CloseOpenMode();
    auth::RequestOrigin origin = OriginOf(ctx);
    std::string action = "user_added";
    std::string target = added->id;
    std::string details =
        common::SerializeJson(json::object{{"email", added->email}, {"role", added->role}});
    co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                              std::move(details), origin);
    co_return Json(201, UserEnvelope(*added), ctx);
}

asio::awaitable<net::HttpResponse> UpdateUserRoute(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    const std::string id = ctx.params["id"];
    if (auto ok = ValidateId(id, "user id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    auto body = ParseJsonObjectBody(ctx.request.body);
    if (!body) co_return ErrorResponse(body.error(), ctx.correlation_id);
    auto role = common::RequiredStringField(*body, "role", 16);
    if (!role) co_return ErrorResponse(role.error(), ctx.correlation_id);
    auto new_role = auth::ParseRole(*role);
    if (!new_role) {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "role must be owner, admin, member or viewer", ctx.correlation_id,
                                "role");
    }
    storage::AuthStore* store = deps.auth->store();
    const std::string now = common::FormatIso8601(deps.auth->clock().SystemNow());
    const auth::Role actor = ctx.principal.role;
    const std::string& role_name = *role;
    auto updated = co_await deps.auth->pool().Run([store, &id, &role_name, &now, actor,
                                                   &new_role]() -> Result<storage::UserRecord> {
        auto current = auth::FindUser(*store, id);
        if (!current) return current.error();
        auto current_role = auth::ParseRole(current->role).value_or(auth::Role::kViewer);
        if (!auth::CanAssignRole(actor, *new_role, current_role)) {
            return MakeError(ErrorCode::kForbidden, "role " + std::string(auth::RoleName(actor)) +
                                                        " may not change " + current->role +
                                                        " to " + role_name);
        }
        return auth::SetUserRole(*store, id, role_name, now);
    });
    if (!updated) co_return ServiceErrorResponse(updated.error(), ctx.correlation_id);
    deps.auth->UserChanged(updated->id);  // the user's API keys carry the new role at once
    auth::RequestOrigin origin = OriginOf(ctx);
    std::string action = "role_changed";
    std::string target = updated->id;
    std::string details = common::SerializeJson(json::object{{"role", updated->role}});
    co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                              std::move(details), origin);
    co_return Json(200, UserEnvelope(*updated), ctx);
}

asio::awaitable<net::HttpResponse> RemoveUserRoute(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    const std::string id = ctx.params["id"];
    if (auto ok = ValidateId(id, "user id"); !ok) {
        co_return ErrorResponse(ok.error(), ctx.correlation_id);
    }
    storage::AuthStore* store = deps.auth->store();
    const auth::Role actor = ctx.principal.role;
    auto removed = co_await deps.auth->pool().Run([store, &id,
                                                   actor]() -> Result<storage::UserRecord> {
        auto current = auth::FindUser(*store, id);
        if (!current) return current.error();
        auto current_role = auth::ParseRole(current->role).value_or(auth::Role::kViewer);
        if (!auth::CanAssignRole(actor, current_role, current_role)) {
            return MakeError(ErrorCode::kForbidden, "role " + std::string(auth::RoleName(actor)) +
                                                        " may not remove a " + current->role);
        }
        return auth::RemoveUser(*store, id);
    });
    if (!removed) co_return ServiceErrorResponse(removed.error(), ctx.correlation_id);
    deps.auth->UserChanged(removed->id);
    auth::RequestOrigin origin = OriginOf(ctx);
    std::string action = "user_removed";
    std::string target = removed->id;
    std::string details = common::SerializeJson(json::object{{"email", removed->email}});
    co_await deps.auth->Audit(ctx.principal, std::move(action), std::move(target),
                              std::move(details), origin);
    co_return Json(200, json::object{{"success", true}, {"id", removed->id}}, ctx);
}

// --- audit (admin) -----------------------------------------------------------------------

asio::awaitable<net::HttpResponse> AuditRoute(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    auto limit = IntQueryParam(ctx.request, "limit", 100, 1, 1000);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    std::string since;
    if (auto q = ctx.request.QueryParam("since"); q && !q->empty()) {
        auto tp = common::ParseIso8601(*q);
        if (!tp) {
            co_return ErrorResponse(ErrorCode::kValidation, "since must be an ISO 8601 time",
                                    ctx.correlation_id, "since");
        }
        since = common::FormatIso8601(*tp);
    }
    storage::AuthStore* store = deps.auth->store();
    const int n = static_cast<int>(*limit);
    auto entries = co_await deps.auth->pool().Run(
        [store, n, &since]()
            -> Result<std::pair<std::vector<storage::AuditEntry>, storage::AuditChainStatus>> {
            auto list = store->ListAudit(n, since);
            if (!list) return list.error();
            auto chain = store->VerifyAuditChain();
            if (!chain) return chain.error();
            return std::make_pair(std::move(*list), *chain);
        });
    if (!entries) co_return ServiceErrorResponse(entries.error(), ctx.correlation_id);
    json::array arr;
    for (const auto& e : entries->first) {
        boost::system::error_code ec;
        json::value details = json::parse(e.details_json, ec);
        if (ec) details = json::object{};
        arr.push_back(json::object{{"seq", e.seq},
                                   {"timestamp", e.at},
                                   {"actor", e.actor},
                                   {"action", e.action},
                                   {"target", e.target},
                                   {"ip", e.ip},
                                   {"correlation_id", e.correlation_id},
                                   {"details", details},
                                   {"prev_hash", e.prev_hash},
                                   {"hash", e.hash}});
    }
    const std::size_t count = arr.size();
    const auto& chain = entries->second;
    co_return Json(200,
                   json::object{{"entries", std::move(arr)},
                                {"count", count},
                                {"chain", json::object{{"ok", chain.ok},
                                                       {"rows", chain.rows},
                                                       {"first_bad_seq", chain.first_bad_seq}}}},
                   ctx);
}

// --- usage -------------------------------------------------------------------------------

struct Tally {
    std::int64_t debates = 0;
    std::int64_t agent_calls = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::map<std::string, std::array<std::int64_t, 3>> by_provider;  // calls, in, out

    json::object ToJson() const {
        json::object providers;
        for (const auto& [p, v] : by_provider) {
            providers[p] = json::object{{"calls", v[0]},
                                        {"input_tokens", v[1]},
                                        {"output_tokens", v[2]},
                                        {"total_tokens", v[1] + v[2]}};
        }
        return json::object{{"debates", debates},
                            {"agent_calls", agent_calls},
                            {"input_tokens", input_tokens},
                            {"output_tokens", output_tokens},
                            {"total_tokens", input_tokens + output_tokens},
                            {"tokens_by_provider", std::move(providers)}};
    }
};

void AddRow(Tally& t, const storage::UsageRow& row) {
    ++t.debates;
    boost::system::error_code ec;
    json::value spec = json::parse(row.spec_json, ec);
    std::map<std::string, std::string> provider_of;
    if (!ec && spec.is_object()) {
        const json::value* agents = spec.as_object().if_contains("agents");
        const json::value* providers = spec.as_object().if_contains("providers");
        if (agents && providers && agents->is_array() && providers->is_array()) {
            const auto& a = agents->as_array();
            const auto& p = providers->as_array();
            for (std::size_t i = 0; i < a.size() && i < p.size(); ++i) {
                if (a[i].is_string() && p[i].is_string()) {
                    provider_of[std::string(a[i].as_string())] = std::string(p[i].as_string());
                }
            }
        }
    }
    json::value result = json::parse(row.result_json, ec);
    if (ec || !result.is_object()) return;
    const json::value* usage = result.as_object().if_contains("usage");
    if (usage == nullptr || !usage->is_object()) return;
    for (const auto& [agent, u] : usage->as_object()) {
        if (!u.is_object()) continue;
        const auto& uo = u.as_object();
        const std::int64_t calls = common::Int64Field(uo, "calls").value_or(0);
        const std::int64_t in = common::Int64Field(uo, "input_tokens").value_or(0);
        const std::int64_t out = common::Int64Field(uo, "output_tokens").value_or(0);
        t.agent_calls += calls;
        t.input_tokens += in;
        t.output_tokens += out;
        auto it = provider_of.find(std::string(agent));
        const std::string provider = it != provider_of.end() ? it->second : "unknown";
        auto& v = t.by_provider[provider];
        v[0] += calls;
        v[1] += in;
        v[2] += out;
    }
}

asio::awaitable<net::HttpResponse> UsageRoute(ApiDeps& deps, RequestContext& ctx) {
    if (deps.auth == nullptr || deps.auth->store() == nullptr) co_return NoAuth(ctx);
    std::string period = ctx.request.QueryParam("period").value_or("month");
    if (period.empty()) period = "month";
    const auto now = deps.auth->clock().SystemNow();
    std::chrono::hours span{0};
    if (period == "day") {
        span = std::chrono::hours(24);
    } else if (period == "week") {
        span = std::chrono::hours(24 * 7);
    } else if (period == "month") {
        span = std::chrono::hours(24 * 30);
    } else if (period == "year") {
        span = std::chrono::hours(24 * 365);
    } else if (period != "all") {
        co_return ErrorResponse(ErrorCode::kValidation,
                                "period must be day, week, month, year or all", ctx.correlation_id,
                                "period");
    }
    const std::string since = period == "all" ? std::string() : common::FormatIso8601(now - span);
    // Admins see everyone; others their own debates.
    const bool all = ctx.principal.Allows(auth::Permission::kAdmin);
    const std::string who = all ? std::string() : ctx.principal.ActorId();
    storage::AuthStore* store = deps.auth->store();
    constexpr int kMaxRows = 100000;
    auto rows = co_await deps.auth->pool().Run(
        [store, &since, &who] { return store->ListUsage(since, who, kMaxRows); });
    if (!rows) co_return ServiceErrorResponse(rows.error(), ctx.correlation_id);
    Tally total;
    std::map<std::string, Tally> by_user;
    std::map<std::string, Tally> by_org;
    for (const auto& row : *rows) {
        AddRow(total, row);
        AddRow(by_user[row.created_by.empty() ? "anonymous" : row.created_by], row);
        AddRow(by_org[row.org_id.empty() ? "default" : row.org_id], row);
    }
    json::object users;
    for (const auto& [u, t] : by_user) users[u] = t.ToJson();
    json::object orgs;
    for (const auto& [o, t] : by_org) orgs[o] = t.ToJson();
    json::object o = total.ToJson();
    o["period"] = period;
    o["since"] = since.empty() ? json::value(nullptr) : json::value(since);
    o["until"] = common::FormatIso8601(now);
    o["scope"] = all ? "all" : "user";
    o["usage"] = total.ToJson();
    o["by_user"] = std::move(users);
    o["by_org"] = std::move(orgs);
    o["truncated"] = rows->size() >= static_cast<std::size_t>(kMaxRows);
    co_return Json(200, o, ctx);
}

// --- rate limits, errors, caches ---------------------------------------------------------

asio::awaitable<net::HttpResponse> RateLimitStatus(ApiDeps& deps, RequestContext& ctx) {
    if (deps.limits == nullptr) {
        co_return Json(200, json::object{{"enabled", false}, {"buckets", json::object{}}}, ctx);
    }
    co_return Json(200, deps.limits->StatusJson(ctx.client_ip, ctx.principal.RateKey()), ctx);
}

asio::awaitable<net::HttpResponse> RateLimitConfigRoute(ApiDeps& deps, RequestContext& ctx) {
    if (deps.limits == nullptr) co_return Json(200, json::object{{"enabled", false}}, ctx);
    co_return Json(200, deps.limits->ConfigJson(), ctx);
}

asio::awaitable<net::HttpResponse> SystemRateLimits(ApiDeps& deps, RequestContext& ctx) {
    if (deps.limits == nullptr) co_return Json(200, json::object{{"enabled", false}}, ctx);
    co_return Json(200, deps.limits->StatsJson(), ctx);
}

asio::awaitable<net::HttpResponse> SystemErrors(ApiDeps& deps, RequestContext& ctx) {
    auto limit = IntQueryParam(ctx.request, "limit", 50, 1, 1000);
    if (!limit) co_return ErrorResponse(limit.error(), ctx.correlation_id);
    if (deps.errors == nullptr) {
        co_return Json(200, json::object{{"errors", json::array{}}, {"count", 0}}, ctx);
    }
    co_return Json(200, deps.errors->RecentJson(static_cast<std::size_t>(*limit)), ctx);
}

asio::awaitable<net::HttpResponse> CleanupCaches(ApiDeps& deps, RequestContext& ctx) {
    std::string body = co_await deps.system.CleanupCachesJson();
    co_return JsonResponse(200, std::move(body), ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> MemoryDump(ApiDeps& deps, RequestContext& ctx) {
    auto body = co_await deps.system.MemoryDumpJson();
    if (!body) co_return ServiceErrorResponse(body.error(), ctx.correlation_id);
    co_return JsonResponse(200, std::move(*body), ctx.correlation_id);
}

template <auto Fn>
Handler Bind(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Fn(deps, ctx); };
}

}  // namespace

void AddAuthRoutes(Router& r, ApiDeps& d) {
    using enum AuthLevel;
    using enum RateClass;
    // One row a route, fields named and packed as in routes.cpp.
    // clang-format off
    r.Add({.method = "POST", .path = "/api/v1/auth/login", .auth = kPublic, .rate = kAuth,
           .handler = Bind<Login>(d),
           .summary = "Log in with email and password: access and refresh tokens", .tag = "auth",
           .request_schema = "LoginRequest", .response_schema = "LoginResponse"});
    r.Add({.method = "POST", .path = "/api/v1/auth/refresh", .auth = kPublic, .rate = kAuth,
           .handler = Bind<Refresh>(d),
           .summary = "Exchange a refresh token for new tokens (the old one is revoked)",
           .tag = "auth", .request_schema = "RefreshRequest", .response_schema = "LoginResponse"});
    r.Add({.method = "POST", .path = "/api/v1/auth/logout", .auth = kUser, .rate = kWrite,
           .handler = Bind<Logout>(d),
           .summary = "Sign out: revoke every refresh token of the caller's user", .tag = "auth"});
    r.Add({.method = "GET", .path = "/api/v1/auth/me", .auth = kUser, .rate = kRead,
           .handler = Bind<Me>(d), .summary = "The caller's account", .tag = "auth",
           .response_schema = "UserResponse"});
    r.Add({.method = "PATCH", .path = "/api/v1/auth/me", .auth = kUser, .rate = kWrite,
           .handler = Bind<UpdateMe>(d), .summary = "Update the caller's name, email or password",
           .tag = "auth", .request_schema = "ProfileUpdate", .response_schema = "UserResponse"});
    r.Add({.method = "PUT", .path = "/api/v1/auth/me", .auth = kUser, .rate = kWrite,
           .handler = Bind<UpdateMe>(d), .summary = "Update the caller's name, email or password",
           .tag = "auth", .request_schema = "ProfileUpdate", .response_schema = "UserResponse"});
    r.Add({.method = "GET", .path = "/api/v1/auth/api-keys", .auth = kUser, .rate = kRead,
           .handler = Bind<ListKeys>(d), .summary = "The caller's active API keys (prefixes only)",
           .tag = "auth", .response_schema = "ApiKeyList"});
    r.Add({.method = "POST", .path = "/api/v1/auth/api-keys", .auth = kUser, .rate = kWrite,
           .handler = Bind<CreateKey>(d), .summary = "Create an API key (shown once)",
           .tag = "auth", .request_schema = "ApiKeyRequest", .response_schema = "ApiKeyCreated"});
    r.Add({.method = "DELETE", .path = "/api/v1/auth/api-keys/{id}", .auth = kUser, .rate = kWrite,
           .handler = Bind<RevokeKey>(d), .summary = "Revoke an API key by id (prefix)",
           .tag = "auth"});
    r.Add({.method = "POST", .path = "/api/auth/api-key", .auth = kUser, .rate = kWrite,
           .handler = Bind<CreateKey>(d), .summary = "Create an API key (alias)", .tag = "auth",
           .request_schema = "ApiKeyRequest", .response_schema = "ApiKeyCreated"});
    r.Add({.method = "DELETE", .path = "/api/auth/api-key", .auth = kUser, .rate = kWrite,
           .handler = Bind<RevokeKey>(d), .summary = "Revoke the caller's API keys (?id= for one)",
           .tag = "auth"});
    r.Add({.method = "GET", .path = "/api/v1/billing/usage", .auth = kUser, .rate = kRead,
           .handler = Bind<UsageRoute>(d),
           .summary = "Debates, agent calls and tokens by provider, per user and org (?period=)",
           .tag = "usage"});
    r.Add({.method = "GET", .path = "/api/v1/admin/users", .auth = kAdmin, .rate = kRead,
           .handler = Bind<ListUsers>(d), .summary = "Every user", .tag = "admin"});
    r.Add({.method = "POST", .path = "/api/v1/admin/users", .auth = kAdmin, .rate = kWrite,
           .handler = Bind<AddUserRoute>(d), .summary = "Add a user", .tag = "admin",
           .request_schema = "UserCreate", .response_schema = "UserResponse"});
    r.Add({.method = "PATCH", .path = "/api/v1/admin/users/{id}", .auth = kAdmin, .rate = kWrite,
           .handler = Bind<UpdateUserRoute>(d), .summary = "Change a user's role", .tag = "admin",
           .request_schema = "RoleUpdate", .response_schema = "UserResponse"});
    r.Add({.method = "DELETE", .path = "/api/v1/admin/users/{id}", .auth = kAdmin, .rate = kWrite,
           .handler = Bind<RemoveUserRoute>(d),
           .summary = "Remove a user (their keys and sessions end)", .tag = "admin"});
    r.Add({.method = "GET", .path = "/api/v1/audit", .auth = kAdmin, .rate = kRead,
           .handler = Bind<AuditRoute>(d),
           .summary = "The audit log, newest first (?limit=&since=), with its hash-chain check",
           .tag = "admin"});
    r.Add({.method = "GET", .path = "/api/v1/rate-limits/status", .auth = kPublic, .rate = kNone,
           .handler = Bind<RateLimitStatus>(d), .summary = "The caller's rate-limit buckets",
           .tag = "rate-limits"});
    r.Add({.method = "GET", .path = "/api/v1/rate-limits/config", .auth = kPublic, .rate = kNone,
           .handler = Bind<RateLimitConfigRoute>(d), .summary = "Rate-limit configuration",
           .tag = "rate-limits"});
    r.Add({.method = "GET", .path = "/api/v1/system/rate-limits", .auth = kAdmin, .rate = kRead,
           .handler = Bind<SystemRateLimits>(d), .summary = "Every rate limiter's size and counts",
           .tag = "admin"});
    r.Add({.method = "GET", .path = "/api/v1/system/errors", .auth = kAdmin, .rate = kRead,
           .handler = Bind<SystemErrors>(d), .summary = "Recent server errors (?limit=)",
           .tag = "admin"});
    r.Add({.method = "POST", .path = "/api/v1/admin/cleanup-caches", .auth = kAdmin, .rate = kWrite,
           .handler = Bind<CleanupCaches>(d),
           .summary = "Drop rebuildable caches and return memory to the OS", .tag = "admin"});
    r.Add({.method = "POST", .path = "/api/v1/debug/memory-dump", .auth = kAdmin, .rate = kWrite,
           .handler = Bind<MemoryDump>(d),
           .summary = "Memory by subsystem to /tmp/aragora_memory_dump.json "
                      "(ARAGORA_MEMORY_PROFILING=1)",
           .tag = "admin"});
    // clang-format on
}

}  // namespace aragora::api
