// Admin security routes (issue 23; the original's handlers/admin/security.py and
// rotation_status.py shapes): encryption status, data keys, health, rotation status and a
// rotation on demand. Key material never appears here: only ids, versions, states, times.

#include "api/security_admin.hpp"

#include <boost/json.hpp>
#include <cmath>

#include "api/handlers.hpp"
#include "api/http_util.hpp"
#include "common/json_access.hpp"
#include "common/json_text.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;

constexpr double kRecommendDays = 60;  // the original's thresholds
constexpr double kRequireDays = 90;
constexpr std::size_t kMaxErrors = 10;

json::value OrNull(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

double Round1(double v) { return std::round(v * 10.0) / 10.0; }

net::HttpResponse Json(int status, const json::object& o, const RequestContext& ctx) {
    return JsonResponse(status, common::SerializeJson(o), ctx.correlation_id);
}

json::object KeyJson(const keys::DataKeyInfo& k) {
    return json::object{{"key_id", k.ref.key_id},
                        {"version", k.ref.version},
                        {"state", k.state},
                        {"is_active", k.state == "active"},
                        {"created_at", OrNull(k.created_at)},
                        {"activated_at", OrNull(k.activated_at)},
                        {"retired_at", OrNull(k.retired_at)},
                        {"expires_at", OrNull(k.expires_at)},
                        {"age_days", Round1(k.age_days)}};
}

json::object ConfigJson(const keys::RotationConfig& c) {
    return json::object{{"rotation_interval_days", c.rotation_interval_days},
                        {"check_interval_hours", c.check_interval_hours},
                        {"key_overlap_days", c.key_overlap_days},
                        {"re_encrypt_on_rotation", c.re_encrypt_on_rotation},
                        {"re_encrypt_batch_size", c.re_encrypt_batch_size},
                        {"re_encrypt_timeout", c.re_encrypt_timeout_seconds},
                        {"max_retries", c.max_retries},
                        {"notify_days_before", c.notify_days_before}};
}

json::object ResultJson(const keys::RotationResult& r) {
    json::array stores;
    for (const auto& s : r.stores_processed) stores.emplace_back(s);
    json::array errors;
    for (std::size_t i = 0; i < r.errors.size() && i < kMaxErrors; ++i) {
        errors.emplace_back(r.errors[i]);
    }
    return json::object{{"success", r.success},
                        {"dry_run", r.dry_run},
                        {"key_id", r.key_id},
                        {"old_key_version", r.old_version},
                        {"new_key_version", r.new_version},
                        {"started_at", OrNull(r.started_at)},
                        {"completed_at", OrNull(r.completed_at)},
                        {"stores_processed", std::move(stores)},
                        {"records_reencrypted", r.records_re_encrypted},
                        {"records_pending", r.records_pending},
                        {"failed_records", r.failed_records},
                        {"duration_seconds", r.duration_seconds},
                        {"errors", std::move(errors)},
                        {"error", OrNull(r.error)}};
}

SecurityAdminAccess* Access(ApiDeps& deps) { return deps.security_admin; }

net::HttpResponse Off(const SecurityAdminAccess* a, const RequestContext& ctx) {
    return ErrorResponse(
        ErrorCode::kUnavailable,
        a ? a->unavailable_reason : std::string("encryption at rest is not set up on this server"),
        ctx.correlation_id);
}

asio::awaitable<net::HttpResponse> SecurityStatus(ApiDeps& deps, RequestContext& ctx) {
    SecurityAdminAccess* a = Access(deps);
    keys::Keyring* keyring = a ? a->keyring.load() : nullptr;
    if (keyring == nullptr) {
        co_return Json(200,
                       json::object{{"encryption_enabled", false},
                                    {"encryption_required", a && a->encryption_required},
                                    {"reason", a ? a->unavailable_reason : std::string()},
                                    {"active_key_id", nullptr},
                                    {"key_version", nullptr},
                                    {"key_age_days", nullptr},
                                    {"rotation_recommended", false},
                                    {"rotation_required", false}},
                       ctx);
    }
    const keys::DataKeyInfo cur = keyring->CurrentInfo();
    const auto all = keyring->Keys();
    int retired = 0;
    for (const auto& k : all) retired += k.state == "retired" ? 1 : 0;
    co_return Json(200,
                   json::object{{"encryption_enabled", true},
                                {"encryption_required", a->encryption_required},
                                {"algorithm", "AES-256-GCM"},
                                {"active_key_id", cur.ref.key_id},
                                {"key_version", cur.ref.version},
                                {"key_created_at", OrNull(cur.activated_at)},
                                {"key_age_days", Round1(cur.age_days)},
                                {"rotation_recommended", cur.age_days > kRecommendDays},
                                {"rotation_required", cur.age_days > kRequireDays},
                                {"keys_total", all.size()},
                                {"keys_in_overlap", retired},
                                {"scheduler_enabled", a->scheduler_enabled}},
                   ctx);
}

asio::awaitable<net::HttpResponse> SecurityKeys(ApiDeps& deps, RequestContext& ctx) {
    SecurityAdminAccess* a = Access(deps);
    keys::Keyring* keyring = a ? a->keyring.load() : nullptr;
    if (keyring == nullptr) {
        co_return Json(200,
                       json::object{{"keys", json::array{}},
                                    {"active_key_id", nullptr},
                                    {"total", 0},
                                    {"encryption_enabled", false}},
                       ctx);
    }
    json::array list;
    for (const auto& k : keyring->Keys()) list.emplace_back(KeyJson(k));
    const auto total = list.size();
    const keys::KeyRef cur = keyring->Current();
    co_return Json(200,
                   json::object{{"keys", std::move(list)},
                                {"active_key_id", cur.key_id},
                                {"active_version", cur.version},
                                {"total", total},
                                {"encryption_enabled", true}},
                   ctx);
}

asio::awaitable<net::HttpResponse> SecurityHealth(ApiDeps& deps, RequestContext& ctx) {
    SecurityAdminAccess* a = Access(deps);
    json::array issues;
    json::array warnings;
    keys::Keyring* keyring = a ? a->keyring.load() : nullptr;
    if (keyring == nullptr) {
        std::string why = a ? a->unavailable_reason : std::string("not set up");
        (a && a->encryption_required ? issues : warnings).emplace_back(why);
        co_return Json(200,
                       json::object{{"status", issues.empty() ? "warning" : "critical"},
                                    {"encryption_enabled", false},
                                    {"issues", std::move(issues)},
                                    {"warnings", std::move(warnings)},
                                    {"checks", json::object{{"encryption_configured", false}}}},
                       ctx);
    }
    const keys::DataKeyInfo cur = keyring->CurrentInfo();
    // A seal/open round trip on the current key (in memory; no store access).
    bool round_trip = false;
    if (auto sealed = keyring->Seal("health-check", "health-check")) {
        auto opened = keyring->Open(*sealed, "health-check");
        round_trip = opened && *opened == "health-check";
    }
    if (!round_trip) issues.emplace_back("encryption round trip failed");
    if (cur.age_days > kRequireDays) {
        warnings.emplace_back("encryption key is " +
                              std::to_string(static_cast<int>(cur.age_days)) +
                              " days old (rotation required after 90)");
    } else if (cur.age_days > kRecommendDays) {
        warnings.emplace_back("encryption key is " +
                              std::to_string(static_cast<int>(cur.age_days)) +
                              " days old (rotation recommended after 60)");
    }
    const char* status = !issues.empty() ? "critical" : (warnings.empty() ? "healthy" : "warning");
    co_return Json(200,
                   json::object{{"status", status},
                                {"encryption_enabled", true},
                                {"key_age_days", Round1(cur.age_days)},
                                {"issues", std::move(issues)},
                                {"warnings", std::move(warnings)},
                                {"checks", json::object{{"encryption_configured", true},
                                                        {"keyring_loaded", cur.ref.version > 0},
                                                        {"round_trip", round_trip}}}},
                   ctx);
}

asio::awaitable<net::HttpResponse> RotationStatusRoute(ApiDeps& deps, RequestContext& ctx) {
    SecurityAdminAccess* a = Access(deps);
    if (a == nullptr || a->rotator.load() == nullptr) co_return Off(a, ctx);
    keys::Rotator* rotator = a->rotator.load();
    auto read = [rotator] { return rotator->Status(); };
    auto s = co_await a->pool->Run(read);
    if (!s) co_return ServiceErrorResponse(s.error(), ctx.correlation_id);
    json::array targets;
    std::int64_t pending = 0;
    for (const auto& t : s->targets) {
        if (t.pending > 0) pending += t.pending;
        targets.emplace_back(json::object{{"target", t.target},
                                          {"key_version", t.key.version},
                                          {"cursor", t.cursor},
                                          {"done", t.done},
                                          {"rewritten", t.rewritten},
                                          {"pending", t.pending},
                                          {"updated_at", OrNull(t.updated_at)}});
    }
    std::string last_rotation;
    for (const auto& k : s->keys) {
        if (k.ref.version > 1 && k.ref == s->current.ref) last_rotation = k.activated_at;
    }
    co_return Json(
        200,
        json::object{{"status", s->re_encryption_running ? "re_encrypting" : "idle"},
                     {"running", a->scheduler_enabled},
                     {"re_encryption_running", s->re_encryption_running},
                     {"key_id", s->current.ref.key_id},
                     {"key_version", s->current.ref.version},
                     {"key_age_days", Round1(s->current.age_days)},
                     {"rotation_due", s->rotation_due},
                     {"next_rotation", OrNull(s->next_rotation_at)},
                     {"last_rotation", OrNull(last_rotation)},
                     {"last_check", OrNull(s->last_check_at)},
                     {"rotation_count", s->rotation_count},
                     {"records_pending", pending},
                     {"targets", std::move(targets)},
                     {"last_result", s->last_result ? json::value(ResultJson(*s->last_result))
                                                    : json::value(nullptr)},
                     {"config", ConfigJson(s->config)}},
        ctx);
}

common::Result<keys::RotateRequest> ParseRotateBody(const std::string& body) {
    keys::RotateRequest req;
    if (body.empty()) return req;
    auto o = ParseJsonObjectBody(body);
    if (!o) return o.error();
    for (auto [name, field] : {std::pair<const char*, bool*>{"dry_run", &req.dry_run},
                               std::pair<const char*, bool*>{"force", &req.force}}) {
        if (const json::value* v = common::FindField(*o, name)) {
            if (!v->is_bool()) {
                return common::MakeError(ErrorCode::kValidation,
                                         std::string(name) + " must be a boolean", name);
            }
            *field = v->as_bool();
        }
    }
    if (const json::value* v = common::FindField(*o, "stores")) {
        if (!v->is_array()) {
            return common::MakeError(ErrorCode::kValidation, "stores must be an array of names",
                                     "stores");
        }
        for (const auto& s : v->as_array()) {
            if (!s.is_string() || s.as_string().empty() || s.as_string().size() > 64) {
                return common::MakeError(ErrorCode::kValidation, "stores must be an array of names",
                                         "stores");
            }
            req.stores.emplace_back(s.as_string());
        }
    }
    return req;
}

asio::awaitable<net::HttpResponse> RotateKey(ApiDeps& deps, RequestContext& ctx) {
    SecurityAdminAccess* a = Access(deps);
    auto parsed = ParseRotateBody(ctx.request.body);
    if (!parsed) co_return ErrorResponse(parsed.error(), ctx.correlation_id);
    if (a == nullptr || a->rotator.load() == nullptr) co_return Off(a, ctx);
    keys::RotateRequest req = std::move(*parsed);
    req.actor = ctx.principal.ActorId();
    if (req.actor.empty()) req.actor = "anonymous";
    req.trigger = "manual";
    keys::Rotator* rotator = a->rotator.load();
    const keys::RotateRequest* request = &req;  // trivially copyable capture (g++ 12 rule)
    auto rotate = [rotator, request] { return rotator->Rotate(*request); };
    auto result = co_await a->pool->Run(rotate);
    if (!result) {
        const ErrorCode code = result.error().code;
        if (code == ErrorCode::kValidation || code == ErrorCode::kConflict) {
            co_return ErrorResponse(result.error(), ctx.correlation_id);
        }
        co_return ServiceErrorResponse(result.error(), ctx.correlation_id);
    }
    keys::RotationResult r = std::move(*result);
    std::string re_encryption = "none";
    if (!r.dry_run && rotator != nullptr) {
        re_encryption = "complete";
        const auto deadline = a->clock->SteadyNow() + a->rotate_wait;
        while (true) {
            if (a->clock->SteadyNow() >= deadline) {
                re_encryption = "in_progress";
                break;
            }
            auto step = [rotator] { return rotator->Step(); };
            auto s = co_await a->pool->Run(step);
            if (!s) {
                r.errors.push_back(s.error().message);
                r.success = false;
                re_encryption = "in_progress";
                break;
            }
            if (s->busy) {
                re_encryption = "in_progress";
                break;
            }
            r.records_re_encrypted += s->rewritten;
            if (!s->more) break;
        }
        auto status = [rotator] { return rotator->Status(); };
        auto after = co_await a->pool->Run(status);
        if (after) {
            r.records_pending = 0;
            for (const auto& t : after->targets) {
                if (t.pending > 0) r.records_pending += t.pending;
            }
        }
    }
    json::object body = ResultJson(r);
    body["re_encryption"] = re_encryption;
    co_return Json(200, body, ctx);
}

template <auto Fn>
Handler Bind(ApiDeps& deps) {
    return [&deps](RequestContext& ctx) { return Fn(deps, ctx); };
}

}  // namespace

void AddSecurityAdminRoutes(Router& r, ApiDeps& d) {
    using enum AuthLevel;
    using enum RateClass;
    // One row a route, fields named and packed as in routes.cpp.
    // clang-format off
    r.Add({.method = "GET", .path = "/api/v1/admin/security/status", .auth = kAdmin,
           .rate = kRead, .handler = Bind<SecurityStatus>(d),
           .summary = "Encryption at rest: active data key, its age, rotation advice",
           .tag = "security"});
    r.Add({.method = "GET", .path = "/api/v1/admin/security/keys", .auth = kAdmin,
           .rate = kRead, .handler = Bind<SecurityKeys>(d),
           .summary = "Data keys (id, version, state, times; never key material)",
           .tag = "security"});
    r.Add({.method = "GET", .path = "/api/v1/admin/security/health", .auth = kAdmin,
           .rate = kRead, .handler = Bind<SecurityHealth>(d),
           .summary = "Encryption health: round trip, key age warnings", .tag = "security"});
    r.Add({.method = "GET", .path = "/api/v1/admin/security/rotation-status", .auth = kAdmin,
           .rate = kRead, .handler = Bind<RotationStatusRoute>(d),
           .summary = "Key rotation scheduler, re-encryption progress per store",
           .tag = "security"});
    r.Add({.method = "POST", .path = "/api/v1/admin/security/rotate-key", .auth = kAdmin,
           .rate = kWrite, .handler = Bind<RotateKey>(d),
           .summary = "Rotate the data key ({dry_run, force, stores}); a key younger than 30 days needs force",
           .tag = "security"});
    // clang-format on
}

}  // namespace aragora::api
