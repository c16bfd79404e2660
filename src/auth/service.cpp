#include "auth/service.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>

#include "auth/api_key.hpp"
#include "common/crypto.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"

namespace aragora::auth {
namespace {

namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;
using common::Result;

std::shared_ptr<spdlog::logger> Log() {
    static auto log = common::GetLogger("aragora.auth");
    return log;
}

common::Error AuthError(std::string message) {
    return MakeError(ErrorCode::kAuthRequired, std::move(message));
}

bool ValidEmail(const std::string& email) {
    if (email.size() < 3 || email.size() > 254) return false;
    auto at = email.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= email.size()) return false;
    if (email.find('@', at + 1) != std::string::npos) return false;
    for (char c : email) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
    }
    return true;
}

storage::UserRecord BuiltInUser(std::string_view id, const std::string& now) {
    storage::UserRecord u;
    u.id = std::string(id);
    const bool service = id == kServiceUserId;
    u.email = service ? "service@aragora.local" : "local@aragora.local";
    u.name = service ? "Service token" : "Local development";
    u.role = "owner";
    u.org_id = "default";
    u.created_at = now;
    u.updated_at = now;
    return u;
}

// The user row a principal acts as: the built-in users for service and anonymous.
std::string OwnerIdOf(const Principal& p) {
    switch (p.kind) {
        case Principal::Kind::kService:
            return std::string(kServiceUserId);
        case Principal::Kind::kAnonymous:
            return std::string(kLocalUserId);
        default:
            return p.user_id;
    }
}

// Creates a built-in user row on first use (a race with another creator is fine).
common::Status EnsureOwner(storage::AuthStore& store, const std::string& owner,
                           const std::string& now) {
    if (!IsBuiltInUser(owner)) return {};
    auto existing = store.GetUser(owner);
    if (existing) return {};
    if (existing.error().code != ErrorCode::kNotFound) return existing.error();
    auto created = store.CreateUser(BuiltInUser(owner, now));
    if (!created && created.error().code != ErrorCode::kConflict) return created.error();
    return {};
}

}  // namespace

bool IsBuiltInUser(std::string_view user_id) {
    return user_id == kServiceUserId || user_id == kLocalUserId;
}

AuthService::AuthService(AuthConfig config, const common::Clock& clock, common::BlockingPool& pool)
    : config_(std::move(config)), clock_(clock), pool_(pool) {
    open_.store(config_.open);
}

void AuthService::AttachStore(storage::AuthStore* store) { store_.store(store); }

std::string AuthService::NowIso() const { return common::FormatIso8601(clock_.SystemNow()); }

common::Status AuthService::CheckStore() const {
    if (store_.load() == nullptr) {
        return MakeError(ErrorCode::kUnavailable, "the server is still starting (accounts)");
    }
    return {};
}

std::optional<std::string_view> AuthService::BearerToken(std::string_view authorization) {
    constexpr std::string_view kBearer = "bearer ";
    while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
    if (authorization.size() <= kBearer.size()) return std::nullopt;
    for (std::size_t i = 0; i < kBearer.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(authorization[i])) != kBearer[i]) {
            return std::nullopt;
        }
    }
    std::string_view token = authorization.substr(kBearer.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return std::nullopt;
    return token;
}

boost::asio::awaitable<Result<Principal>> AuthService::Authenticate(std::string token) {
    if (token.empty()) co_return AuthError("missing credentials");
    if (!config_.api_token.empty() && common::ConstantTimeEqual(token, config_.api_token)) {
        Principal p;
        p.kind = Principal::Kind::kService;
        p.role = Role::kOwner;
        p.org_id = "default";
        co_return p;
    }
    if (LooksLikeApiKey(token)) {
        auto r = co_await AuthenticateApiKey(std::move(token));
        co_return r;
    }
    if (LooksLikeJwt(token)) {
        if (config_.jwt.secret.empty()) {
            co_return AuthError("JWTs are not accepted: the server has no ARAGORA_JWT_SECRET");
        }
        auto claims = VerifyJwt(token, config_.jwt, clock_.SystemNow());
        if (!claims) co_return claims.error();
        // "typ" or the original's "type"; none = access, as the original reads it. The
        // original's "tv" (token version) is not compared: our users keep no token version
        // (docs/auth.md).
        if (!IsAccessToken(*claims)) co_return AuthError("not an access token");
        auto role = ParseRole(claims->role);
        if (!role) co_return AuthError("token carries an unknown role");
        Principal p;
        p.kind = Principal::Kind::kUser;
        p.role = *role;
        p.user_id = claims->sub;
        p.email = claims->email;
        p.org_id = claims->org_id;
        co_return p;
    }
    co_return AuthError("invalid credentials");
}

boost::asio::awaitable<Result<Principal>> AuthService::AuthenticateApiKey(std::string token) {
    const std::string hash = HashToken(token);
    const auto now = clock_.SteadyNow();
    std::optional<CachedKey> cached;
    {
        std::lock_guard lock(cache_mu_);
        auto it = key_cache_.find(hash);
        if (it != key_cache_.end() && now - it->second.fetched < kKeyCacheTtl) {
            cached = it->second;
        }
    }
    if (!cached) {
        if (auto s = CheckStore(); !s) co_return s.error();
        storage::AuthStore* store = store_.load();
        std::uint64_t generation = 0;
        {
            std::lock_guard lock(cache_mu_);
            generation = cache_generation_;
        }
        auto fetched = co_await pool_.Run(
            [store, &hash]() -> Result<std::pair<storage::ApiKeyRecord, storage::UserRecord>> {
                auto key = store->GetApiKeyByHash(hash);
                if (!key) return key.error();
                auto user = store->GetUser(key->user_id);
                if (!user) return user.error();
                return std::make_pair(std::move(*key), std::move(*user));
            });
        if (!fetched) {
            if (fetched.error().code == ErrorCode::kNotFound)
                co_return AuthError("unknown API key");
            co_return fetched.error();
        }
        CachedKey entry;
        entry.key = std::move(fetched->first);
        entry.user = std::move(fetched->second);
        entry.fetched = now;
        {
            std::lock_guard lock(cache_mu_);
            // A change was recorded while we read: what we read may predate it. Use it for
            // this request (it was read after the request arrived) but do not keep it.
            if (generation == cache_generation_) {
                if (key_cache_.size() >= kKeyCacheMax) key_cache_.clear();
                key_cache_.insert_or_assign(hash, entry);
            }
            cached = std::move(entry);
        }
    }
    const std::string now_iso = NowIso();
    if (!cached->key.revoked_at.empty()) co_return AuthError("API key revoked");
    if (!cached->key.expires_at.empty() && cached->key.expires_at <= now_iso) {
        co_return AuthError("API key expired");
    }
    if (cached->user.disabled) co_return AuthError("account disabled");
    if (cached->user.id == kLocalUserId && !open()) {
        co_return AuthError("API key of the local development user (valid only in open mode)");
    }
    auto role = ParseRole(cached->user.role);
    if (!role) co_return AuthError("API key owner has an unknown role");
    // last_used_at: written at most once a minute per key.
    if (!cached->touched || now - *cached->touched >= std::chrono::seconds(60)) {
        {
            std::lock_guard lock(cache_mu_);
            auto it = key_cache_.find(hash);
            if (it != key_cache_.end()) it->second.touched = now;
        }
        storage::AuthStore* store = store_.load();
        const std::string id = cached->key.id;
        auto touched = co_await pool_.Run(
            [store, &id, &now_iso]() -> common::Status { return store->TouchApiKey(id, now_iso); });
        if (!touched) Log()->warn("api key last_used_at not written: {}", touched.error().message);
    }
    Principal p;
    p.kind = Principal::Kind::kApiKey;
    p.role = *role;
    p.user_id = cached->user.id;
    p.email = cached->user.email;
    p.org_id = cached->user.org_id;
    p.key_id = cached->key.id;
    co_return p;
}

TokenPair AuthService::IssueAccessToken(const storage::UserRecord& user) const {
    const auto now = clock_.SystemNow();
    const std::int64_t iat =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    JwtClaims c;
    c.sub = user.id;
    c.email = user.email;
    c.role = user.role;
    c.org_id = user.org_id;
    c.typ = "access";
    c.jti = RandomBase62(12);
    c.iss = config_.jwt.issuer;
    c.aud = config_.jwt.audience;
    c.iat = iat;
    c.exp = iat + config_.access_ttl.count();
    TokenPair t;
    t.access_token = SignJwt(c, config_.jwt.secret);
    t.expires_in = config_.access_ttl.count();
    t.expires_at = common::FormatIso8601(now + config_.access_ttl);
    return t;
}

// Runs on the pool: a new session (refresh token stored hashed) plus an access token.
Result<LoginResult> AuthService::IssueTokens(const storage::UserRecord& user) {
    storage::AuthStore* store = store_.load();
    LoginResult out;
    out.user = user;
    out.tokens = IssueAccessToken(user);
    const std::string refresh = RandomBase62(32);
    storage::RefreshTokenRecord rec;
    rec.token_hash = HashToken(refresh);
    rec.user_id = user.id;
    const auto now = clock_.SystemNow();
    rec.created_at = common::FormatIso8601(now);
    rec.expires_at = common::FormatIso8601(now + config_.refresh_ttl);
    rec.family_id = common::NewId("rtf");
    if (auto s = store->CreateRefreshToken(rec); !s) return s.error();
    out.tokens.refresh_token = refresh;
    return out;
}

boost::asio::awaitable<Result<LoginResult>> AuthService::Login(std::string email,
                                                               std::string password,
                                                               RequestOrigin origin) {
    if (auto s = CheckStore(); !s) co_return s.error();
    if (config_.jwt.secret.empty()) {
        co_return MakeError(ErrorCode::kUnavailable,
                            "login is off: the server has no ARAGORA_JWT_SECRET");
    }
    storage::AuthStore* store = store_.load();
    auto user = co_await pool_.Run([store, &email, &password]() -> Result<storage::UserRecord> {
        auto u = store->GetUserByEmail(email);
        // Hash anyway when the user is unknown, so timing does not tell which emails exist.
        static const std::string kDummy = [] {
            auto h = HashPassword("not a real password", MinimumHashOptions());
            return h ? *h : std::string();
        }();
        if (!u) {
            (void)VerifyPassword(password, kDummy);
            if (u.error().code == ErrorCode::kNotFound)
                return AuthError("invalid email or password");
            return u.error();
        }
        if (u->password_hash.empty() || !VerifyPassword(password, u->password_hash)) {
            return AuthError("invalid email or password");
        }
        if (u->disabled) return AuthError("account disabled");
        return u;
    });
    Principal actor;
    actor.kind = Principal::Kind::kUser;
    if (!user) {
        if (user.error().code == ErrorCode::kAuthRequired) {
            json::object details{{"email", email}, {"reason", user.error().message}};
            {
                std::string audit_action = "login_failed";
                std::string audit_target = email;
                std::string audit_details = json::serialize(details);
                co_await Audit(actor, std::move(audit_action), std::move(audit_target),
                               std::move(audit_details), origin);
            }
        }
        co_return user.error();
    }
    auto issued =
        co_await pool_.Run([this, &user]() -> Result<LoginResult> { return IssueTokens(*user); });
    if (!issued) co_return issued.error();
    actor.user_id = user->id;
    {
        std::string audit_action = "login";
        std::string audit_target = user->id;
        std::string audit_details = "{}";
        co_await Audit(actor, std::move(audit_action), std::move(audit_target),
                       std::move(audit_details), origin);
    }
    co_return issued;
}

boost::asio::awaitable<Result<LoginResult>> AuthService::Refresh(std::string refresh_token,
                                                                 RequestOrigin origin) {
    if (auto s = CheckStore(); !s) co_return s.error();
    if (config_.jwt.secret.empty()) {
        co_return MakeError(ErrorCode::kUnavailable,
                            "token refresh is off: the server has no ARAGORA_JWT_SECRET");
    }
    if (refresh_token.empty() || refresh_token.size() > 256) {
        co_return AuthError("invalid refresh token");
    }
    storage::AuthStore* store = store_.load();
    const std::string old_hash = HashToken(refresh_token);
    auto issued = co_await pool_.Run([this, store, &old_hash]() -> Result<LoginResult> {
        // The store checks the old token (active, unexpired, user enabled) and fills the
        // replacement's user and family from it.
        const auto now = clock_.SystemNow();
        const std::string refresh = RandomBase62(32);
        storage::RefreshTokenRecord rec;
        rec.token_hash = HashToken(refresh);
        rec.created_at = common::FormatIso8601(now);
        rec.expires_at = common::FormatIso8601(now + config_.refresh_ttl);
        auto old = store->RotateRefreshToken(old_hash, rec, rec.created_at);
        if (!old) return old.error();
        auto user = store->GetUser(old->user_id);
        if (!user) return AuthError("invalid refresh token");
        LoginResult out;
        out.user = std::move(*user);
        out.tokens = IssueAccessToken(out.user);
        out.tokens.refresh_token = refresh;
        return out;
    });
    Principal actor;
    actor.kind = Principal::Kind::kUser;
    if (!issued) {
        if (issued.error().code == ErrorCode::kAuthRequired) {
            json::object details{{"reason", issued.error().message}};
            {
                std::string audit_action = "token_refresh_failed";
                std::string audit_target = "";
                std::string audit_details = json::serialize(details);
                co_await Audit(actor, std::move(audit_action), std::move(audit_target),
                               std::move(audit_details), origin);
            }
        }
        co_return issued.error();
    }
    actor.user_id = issued->user.id;
    {
        std::string audit_action = "token_refresh";
        std::string audit_target = issued->user.id;
        std::string audit_details = "{}";
        co_await Audit(actor, std::move(audit_action), std::move(audit_target),
                       std::move(audit_details), origin);
    }
    co_return issued;
}

boost::asio::awaitable<Result<storage::UserRecord>> AuthService::Me(Principal principal) {
    const std::string owner = OwnerIdOf(principal);
    if (IsBuiltInUser(owner)) {
        storage::UserRecord u = BuiltInUser(owner, "");
        storage::AuthStore* store = store_.load();
        if (store != nullptr) {
            auto stored = co_await pool_.Run(
                [store, &owner]() -> Result<storage::UserRecord> { return store->GetUser(owner); });
            if (stored) u = std::move(*stored);
        }
        if (u.created_at.empty()) u.created_at = NowIso();
        co_return u;
    }
    if (auto s = CheckStore(); !s) co_return s.error();
    storage::AuthStore* store = store_.load();
    auto u = co_await pool_.Run(
        [store, &owner]() -> Result<storage::UserRecord> { return store->GetUser(owner); });
    if (!u && u.error().code == ErrorCode::kNotFound) {
        co_return AuthError("the account of this token no longer exists");
    }
    co_return u;
}

boost::asio::awaitable<Result<storage::UserRecord>> AuthService::UpdateMe(Principal principal,
                                                                          ProfileUpdate update,
                                                                          RequestOrigin origin) {
    if (auto s = CheckStore(); !s) co_return s.error();
    const std::string owner = OwnerIdOf(principal);
    if (IsBuiltInUser(owner)) {
        co_return MakeError(ErrorCode::kBadRequest,
                            "the service token and the development mode have no editable profile");
    }
    if (update.email && !ValidEmail(*update.email)) {
        co_return MakeError(ErrorCode::kValidation, "email must look like name@example.com",
                            "email");
    }
    if (update.name && update.name->size() > 200) {
        co_return MakeError(ErrorCode::kValidation, "name must be at most 200 characters", "name");
    }
    if (update.password) {
        if (auto s = ValidatePassword(*update.password); !s) {
            co_return MakeError(ErrorCode::kValidation, s.error().message, "password");
        }
    }
    storage::AuthStore* store = store_.load();
    const auto options = config_.hash_options;
    const std::string now = NowIso();
    auto updated = co_await pool_.Run(
        [store, &owner, &update, &options, &now]() -> Result<storage::UserRecord> {
            auto u = store->GetUser(owner);
            if (!u) return u.error();
            if (update.name) u->name = *update.name;
            if (update.email) u->email = *update.email;
            if (update.password) {
                if (!update.current_password ||
                    !VerifyPassword(*update.current_password, u->password_hash)) {
                    return MakeError(ErrorCode::kValidation,
                                     "current_password is required and must match to set a new "
                                     "password",
                                     "current_password");
                }
                auto h = HashPassword(*update.password, options);
                if (!h) return h.error();
                u->password_hash = *h;
            }
            u->updated_at = now;
            if (auto s = store->UpdateUser(*u); !s) return s.error();
            if (update.password) (void)store->RevokeRefreshTokens(u->id, now);
            return u;
        });
    if (updated) {
        UserChanged(owner);
        json::object details;
        if (update.name) details["name"] = true;
        if (update.email) details["email"] = true;
        if (update.password) details["password"] = true;
        {
            std::string audit_action = "profile_updated";
            std::string audit_target = owner;
            std::string audit_details = json::serialize(details);
            co_await Audit(principal, std::move(audit_action), std::move(audit_target),
                           std::move(audit_details), origin);
        }
    }
    co_return updated;
}

boost::asio::awaitable<Result<CreatedKey>> AuthService::CreateApiKey(Principal principal,
                                                                     std::string name,
                                                                     std::string expires_at,
                                                                     RequestOrigin origin) {
    if (auto s = CheckStore(); !s) co_return s.error();
    storage::AuthStore* store = store_.load();
    const std::string owner = OwnerIdOf(principal);
    const std::string now = NowIso();
    auto created =
        co_await pool_.Run([store, &owner, &name, &expires_at, &now]() -> Result<CreatedKey> {
            if (auto s = EnsureOwner(*store, owner, now); !s) return s.error();
            for (int attempt = 0; attempt < 3; ++attempt) {
                NewApiKey k = GenerateApiKey();
                storage::ApiKeyRecord rec;
                rec.id = k.prefix;
                rec.user_id = owner;
                rec.name = name;
                rec.key_hash = k.hash;
                rec.created_at = now;
                rec.expires_at = expires_at;
                auto s = store->CreateApiKey(rec);
                if (s) return CreatedKey{k.key, rec};
                if (s.error().code != ErrorCode::kConflict) return s.error();
            }
            return MakeError(ErrorCode::kInternal, "could not generate a unique API key");
        });
    if (created) {
        json::object details{{"name", name}, {"expires_at", expires_at}};
        {
            std::string audit_action = "api_key_created";
            std::string audit_target = created->record.id;
            std::string audit_details = json::serialize(details);
            co_await Audit(principal, std::move(audit_action), std::move(audit_target),
                           std::move(audit_details), origin);
        }
    }
    co_return created;
}

boost::asio::awaitable<Result<std::vector<storage::ApiKeyRecord>>> AuthService::ListApiKeys(
    Principal principal) {
    if (auto s = CheckStore(); !s) co_return s.error();
    storage::AuthStore* store = store_.load();
    const std::string owner = OwnerIdOf(principal);
    auto keys = co_await pool_.Run([store, &owner]() { return store->ListApiKeys(owner); });
    co_return keys;
}

boost::asio::awaitable<Result<int>> AuthService::RevokeApiKey(Principal principal, std::string id,
                                                              RequestOrigin origin) {
    if (auto s = CheckStore(); !s) co_return s.error();
    storage::AuthStore* store = store_.load();
    const std::string owner = OwnerIdOf(principal);
    const std::string now = NowIso();
    // Admins may revoke anyone's key by id; others only their own.
    const std::string scope =
        principal.Allows(Permission::kManageUsers) && !id.empty() ? "" : owner;
    auto revoked = co_await pool_.Run([store, &scope, &owner, &id, &now]() -> Result<int> {
        if (id.empty()) return store->RevokeUserApiKeys(owner, now);
        auto s = store->RevokeApiKey(scope, id, now);
        if (!s) return s.error();
        return 1;
    });
    if (revoked) {
        // At once here and on the other instances; an admin's revocation by id does not
        // say whose key it was.
        UserChanged(scope.empty() ? std::string() : owner);
        json::object details{{"count", *revoked}};
        {
            std::string audit_action = "api_key_revoked";
            std::string audit_target = id.empty() ? owner : id;
            std::string audit_details = json::serialize(details);
            co_await Audit(principal, std::move(audit_action), std::move(audit_target),
                           std::move(audit_details), origin);
        }
    }
    co_return revoked;
}

boost::asio::awaitable<void> AuthService::Audit(Principal principal, std::string action,
                                                std::string target, std::string details_json,
                                                RequestOrigin origin) {
    storage::AuthStore* store = store_.load();
    if (store == nullptr) {
        Log()->warn("audit entry not written (store not open) action={} target={}", action, target);
        co_return;
    }
    storage::AuditEntry e;
    e.at = NowIso();
    e.actor = principal.ActorId();
    e.action = action;
    e.target = target;
    e.ip = origin.ip;
    e.correlation_id = origin.correlation_id;
    e.details_json = details_json.empty() ? "{}" : details_json;
    auto r = co_await pool_.Run(
        [store, &e]() -> Result<storage::AuditEntry> { return store->AppendAudit(e); });
    if (!r) {
        Log()->error("audit entry not written action={} target={} error={}", action, target,
                     r.error().message);
    }
}

std::size_t AuthService::ClearCaches() { return DropCachedUser({}); }

std::size_t AuthService::DropCachedUser(const std::string& user_id) {
    std::lock_guard lock(cache_mu_);
    ++cache_generation_;
    if (user_id.empty()) {
        const std::size_t n = key_cache_.size();
        key_cache_.clear();
        return n;
    }
    return std::erase_if(key_cache_,
                         [&user_id](const auto& entry) { return entry.second.user.id == user_id; });
}

void AuthService::UserChanged(const std::string& user_id) {
    DropCachedUser(user_id);
    if (peer_notifier_) peer_notifier_(user_id);
}

std::size_t AuthService::CacheSize() const {
    std::lock_guard lock(cache_mu_);
    return key_cache_.size();
}

// --- synchronous user management --------------------------------------------------------

Result<storage::UserRecord> AddUser(storage::AuthStore& store, const std::string& email,
                                    const std::string& name, const std::string& role,
                                    const std::string& password, const std::string& org_id,
                                    const std::string& now, const PasswordHashOptions& options) {
    if (!ValidEmail(email)) {
        return MakeError(ErrorCode::kValidation, "email must look like name@example.com", "email");
    }
    if (!ParseRole(role)) {
        return MakeError(ErrorCode::kValidation,
                         "role must be owner, admin, member or viewer (got '" + role + "')",
                         "role");
    }
    if (auto s = ValidatePassword(password); !s) {
        return MakeError(ErrorCode::kValidation, s.error().message, "password");
    }
    auto hash = HashPassword(password, options);
    if (!hash) return hash.error();
    storage::UserRecord u;
    u.id = common::NewId("usr");
    u.email = email;
    u.name = name.empty() ? email.substr(0, email.find('@')) : name;
    u.role = role;
    u.org_id = org_id.empty() ? "default" : org_id;
    u.password_hash = *hash;
    u.created_at = now;
    u.updated_at = now;
    if (auto s = store.CreateUser(u); !s) {
        if (s.error().code == ErrorCode::kConflict) {
            return MakeError(ErrorCode::kConflict, "a user with email " + email + " exists");
        }
        return s.error();
    }
    return u;
}

Result<storage::UserRecord> FindUser(storage::AuthStore& store, const std::string& who) {
    auto u = who.find('@') != std::string::npos ? store.GetUserByEmail(who) : store.GetUser(who);
    if (!u && u.error().code == ErrorCode::kNotFound) {
        return MakeError(ErrorCode::kNotFound, "no user " + who);
    }
    return u;
}

Result<storage::UserRecord> SetUserRole(storage::AuthStore& store, const std::string& who,
                                        const std::string& role, const std::string& now) {
    if (!ParseRole(role)) {
        return MakeError(ErrorCode::kValidation,
                         "role must be owner, admin, member or viewer (got '" + role + "')",
                         "role");
    }
    auto u = FindUser(store, who);
    if (!u) return u.error();
    if (IsBuiltInUser(u->id)) {
        return MakeError(ErrorCode::kBadRequest, "built-in user " + u->id + " keeps its role");
    }
    u->role = role;
    u->updated_at = now;
    if (auto s = store.UpdateUser(*u); !s) return s.error();
    // Outstanding sessions carry the old role: end them.
    (void)store.RevokeRefreshTokens(u->id, now);
    return u;
}

Result<storage::UserRecord> RemoveUser(storage::AuthStore& store, const std::string& who) {
    auto u = FindUser(store, who);
    if (!u) return u.error();
    if (auto s = store.DeleteUser(u->id); !s) return s.error();
    return u;
}

Result<std::int64_t> CountHumanUsers(storage::AuthStore& store) {
    auto users = store.ListUsers();
    if (!users) return users.error();
    std::int64_t n = 0;
    for (const auto& u : *users) {
        if (!IsBuiltInUser(u.id)) ++n;
    }
    return n;
}

}  // namespace aragora::auth
