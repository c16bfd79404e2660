#pragma once

// The auth service: turns a bearer token into a Principal, and runs the account flows
// (login, refresh, profile, API keys, users) and the audit log over storage::AuthStore.
// Used by the API middleware and handlers, the WebSocket upgrade, and the CLI (`aragora
// users`, through the synchronous functions at the end).
//
// Credentials, in the order tried: the service token (ARAGORA_API_TOKEN, constant-time
// compare), an API key (`ara_` + 43 base62 chars: looked up by SHA-256 hash with its
// owner's row, cached for kKeyCacheTtl), a JWT access token (HS256, verified without
// storage: the role in the token holds until it expires).
//
// The key cache never outlives a change that affects auth: a role change, a removed or
// disabled user, a revoked key, a profile change — UserChanged() drops the user's entries
// here at once and, through the peer notifier (the instances' Redis bus, wired by the
// app), on every other instance as soon as the message arrives. A lookup that raced with
// a change does not put the old row back (a generation counter).
//
// Store calls run on the BlockingPool; every coroutine here is safe on an I/O thread.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "auth/principal.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "storage/auth_store.hpp"

namespace aragora::auth {

// Built-in owners of API keys created by the service token and in the open development
// mode (API keys belong to a user row). They cannot log in (no password), are not counted
// as configured users, and keys of the local user work only in the open mode.
inline constexpr std::string_view kServiceUserId = "usr_service";
inline constexpr std::string_view kLocalUserId = "usr_local";
bool IsBuiltInUser(std::string_view user_id);

struct AuthConfig {
    std::string api_token;              // ARAGORA_API_TOKEN ("" = none)
    JwtVerifyConfig jwt;                // jwt.secret "" = no JWTs (login answers 503)
    bool jwt_secret_ephemeral = false;  // development: a random per-process secret
    std::chrono::seconds access_ttl{3600};
    std::chrono::seconds refresh_ttl{std::chrono::hours(24 * 30)};
    PasswordHashOptions hash_options = InteractiveHashOptions();
    // The open development mode: nothing configured; every route answers without
    // credentials. Turned off for good when the first user is added through the service.
    bool open = false;
};

struct TokenPair {
    std::string access_token;
    std::string refresh_token;
    std::int64_t expires_in = 0;  // seconds
    std::string expires_at;       // ISO 8601 of the access token's expiry
};

struct LoginResult {
    storage::UserRecord user;
    TokenPair tokens;
};

struct CreatedKey {
    std::string key;  // shown once
    storage::ApiKeyRecord record;
};

// Where a request came from, for the audit log.
struct RequestOrigin {
    std::string ip;
    std::string correlation_id;
};

struct ProfileUpdate {
    std::optional<std::string> name;
    std::optional<std::string> email;
    std::optional<std::string> password;          // new password
    std::optional<std::string> current_password;  // required with password
};

class AuthService {
public:
    static constexpr std::chrono::seconds kKeyCacheTtl{30};
    static constexpr std::size_t kKeyCacheMax = 10000;

    AuthService(AuthConfig config, const common::Clock& clock, common::BlockingPool& pool);

    // Startup: the store opens after the server listens. Until then flows that need it
    // answer kUnavailable.
    void AttachStore(storage::AuthStore* store);
    storage::AuthStore* store() const { return store_.load(); }

    bool open() const { return open_.load(); }
    // The open mode ends when the first user is added through the service.
    void CloseOpenMode() { open_.store(false); }
    common::BlockingPool& pool() const { return pool_; }
    const common::Clock& clock() const { return clock_; }
    const AuthConfig& config() const { return config_; }

    // "Bearer <token>" (scheme case-insensitive) → the token; nullopt otherwise.
    static std::optional<std::string_view> BearerToken(std::string_view authorization);

    // kAuthRequired (bad or missing credentials, with the reason), kUnavailable (store
    // not open yet, for API keys).
    boost::asio::awaitable<common::Result<Principal>> Authenticate(std::string token);

    boost::asio::awaitable<common::Result<LoginResult>> Login(std::string email,
                                                              std::string password,
                                                              RequestOrigin origin);
    boost::asio::awaitable<common::Result<LoginResult>> Refresh(std::string refresh_token,
                                                                RequestOrigin origin);
    // The principal's user row (a synthetic one for the service and anonymous principals).
    boost::asio::awaitable<common::Result<storage::UserRecord>> Me(Principal principal);
    boost::asio::awaitable<common::Result<storage::UserRecord>> UpdateMe(Principal principal,
                                                                         ProfileUpdate update,
                                                                         RequestOrigin origin);

    // `expires_at` "" = never. Keys of the service and anonymous principals belong to the
    // built-in users.
    boost::asio::awaitable<common::Result<CreatedKey>> CreateApiKey(Principal principal,
                                                                    std::string name,
                                                                    std::string expires_at,
                                                                    RequestOrigin origin);
    boost::asio::awaitable<common::Result<std::vector<storage::ApiKeyRecord>>> ListApiKeys(
        Principal principal);
    // id "" = every key of the principal's user. Returns how many were revoked.
    boost::asio::awaitable<common::Result<int>> RevokeApiKey(Principal principal, std::string id,
                                                             RequestOrigin origin);

    // Appends to the audit log; a failure is logged (never fails the caller's action).
    boost::asio::awaitable<void> Audit(Principal principal, std::string action, std::string target,
                                       std::string details_json, RequestOrigin origin);

    // The cached API key lookups (cleanup-caches): returns how many entries were dropped.
    std::size_t ClearCaches();
    std::size_t CacheSize() const;

    // Something about `user_id` that auth depends on changed (role, removed, disabled,
    // keys revoked, profile): drops its cached keys here and tells the other instances.
    // "" = every user (e.g. a key revoked by id). Call after the change is stored.
    void UserChanged(const std::string& user_id);
    // Drops the cached keys of `user_id` ("" = all) on this instance only: what a
    // message from another instance does. Returns how many entries were dropped.
    std::size_t DropCachedUser(const std::string& user_id);
    // Tells the other instances (UserChanged's second half); called with the user id.
    // Unset: single instance. Set before serving requests; must not block.
    using PeerNotifier = std::function<void(const std::string& user_id)>;
    void SetPeerNotifier(PeerNotifier notifier) { peer_notifier_ = std::move(notifier); }

    // Issues an access token for a user (tests, tools).
    TokenPair IssueAccessToken(const storage::UserRecord& user) const;

private:
    struct CachedKey {
        storage::ApiKeyRecord key;
        storage::UserRecord user;
        std::chrono::steady_clock::time_point fetched;
        std::optional<std::chrono::steady_clock::time_point> touched;  // last_used_at written
    };

    boost::asio::awaitable<common::Result<Principal>> AuthenticateApiKey(std::string token);
    common::Result<LoginResult> IssueTokens(const storage::UserRecord& user);
    common::Status CheckStore() const;
    std::string NowIso() const;

    AuthConfig config_;
    const common::Clock& clock_;
    common::BlockingPool& pool_;
    std::atomic<storage::AuthStore*> store_{nullptr};
    std::atomic<bool> open_{false};
    mutable std::mutex cache_mu_;
    std::unordered_map<std::string, CachedKey> key_cache_;  // by key hash
    // Bumped (under cache_mu_) by every drop: a lookup started before a drop does not
    // insert what it read.
    std::uint64_t cache_generation_ = 0;
    PeerNotifier peer_notifier_;
};

// --- synchronous user management (CLI `aragora users`, and the admin routes on the pool)

// Adds a user: email syntax (something@something), role, password policy; the id is
// generated. kConflict for a taken email.
common::Result<storage::UserRecord> AddUser(storage::AuthStore& store, const std::string& email,
                                            const std::string& name, const std::string& role,
                                            const std::string& password, const std::string& org_id,
                                            const std::string& now,
                                            const PasswordHashOptions& options);
// `who` is an id or an email.
common::Result<storage::UserRecord> FindUser(storage::AuthStore& store, const std::string& who);
common::Result<storage::UserRecord> SetUserRole(storage::AuthStore& store, const std::string& who,
                                                const std::string& role, const std::string& now);
common::Result<storage::UserRecord> RemoveUser(storage::AuthStore& store, const std::string& who);
// Human users only (the built-in key owners are left out).
common::Result<std::int64_t> CountHumanUsers(storage::AuthStore& store);

}  // namespace aragora::auth
