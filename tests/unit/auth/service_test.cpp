// auth::AuthService over an in-memory SQLite AuthStore: credentials in order, login,
// refresh rotation and reuse detection, API keys, profile updates, the audit chain.

#include "auth/service.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "auth/api_key.hpp"
#include "auth/jwt.hpp"
#include "common/crypto.hpp"
#include "common/time.hpp"
#include "storage/sqlite/sqlite_auth_store.hpp"

namespace aragora::auth {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;

constexpr const char* kSecret = "service-test-secret-of-32-bytes!!";

template <typename T>
T Await(asio::io_context& io, asio::awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(io, std::move(aw), [&out](std::exception_ptr ep, T r) {
        if (ep) std::rethrow_exception(ep);
        out = std::move(r);
    });
    io.restart();
    io.run();
    return std::move(*out);
}

class AuthServiceTest : public ::testing::Test {
protected:
    AuthServiceTest() : pool_(1, 64) {
        auto stores = storage::OpenSqliteStores({":memory:"}, /*migrate=*/true);
        EXPECT_TRUE(stores.ok()) << stores.error().message;
        stores_ = std::move(*stores);
        AuthConfig c;
        c.api_token = "svc";
        c.jwt.secret = kSecret;
        c.hash_options = MinimumHashOptions();
        auth_ = std::make_unique<AuthService>(c, clock_, pool_);
        auth_->AttachStore(stores_.auth.get());
        auto u = AddUser(*stores_.auth, "alice@example.com", "Alice", "member", "password-1",
                         "org1", Now(), MinimumHashOptions());
        EXPECT_TRUE(u.ok()) << u.error().message;
        alice_ = *u;
    }
    ~AuthServiceTest() override { pool_.Stop(); }

    std::string Now() { return common::FormatIso8601(clock_.SystemNow()); }
    common::Result<Principal> Authn(std::string token) {
        return Await(io_, auth_->Authenticate(std::move(token)));
    }
    common::Result<LoginResult> Login(std::string email, std::string password) {
        return Await(io_, auth_->Login(std::move(email), std::move(password), {"127.0.0.1", "c"}));
    }

    asio::io_context io_;
    common::ManualClock clock_;
    common::BlockingPool pool_;
    storage::SqliteStores stores_;
    std::unique_ptr<AuthService> auth_;
    storage::UserRecord alice_;
};

TEST_F(AuthServiceTest, ServiceTokenAndGarbage) {
    auto svc = Authn("svc");
    ASSERT_TRUE(svc.ok());
    EXPECT_EQ(svc->kind, Principal::Kind::kService);
    EXPECT_EQ(svc->role, Role::kOwner);
    EXPECT_EQ(Authn("svc2").error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Authn("").error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Authn("a.b.c").error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Authn("ara_" + std::string(43, 'x')).error().code, ErrorCode::kAuthRequired);
}

TEST_F(AuthServiceTest, LoginThenAccessTokenCarriesTheRole) {
    EXPECT_EQ(Login("alice@example.com", "wrong-password").error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Login("nobody@example.com", "password-1").error().code, ErrorCode::kAuthRequired);
    auto r = Login("ALICE@example.com", "password-1");  // emails compare case-insensitively
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->user.id, alice_.id);
    EXPECT_EQ(r->tokens.expires_in, 3600);
    auto p = Authn(r->tokens.access_token);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->kind, Principal::Kind::kUser);
    EXPECT_EQ(p->role, Role::kMember);
    EXPECT_EQ(p->user_id, alice_.id);
    EXPECT_EQ(p->org_id, "org1");
    // The access token expires (leeway 30 s).
    clock_.Advance(std::chrono::seconds(3600 + 31));
    EXPECT_EQ(Authn(r->tokens.access_token).error().code, ErrorCode::kAuthRequired);
}

// An access token as the original Aragora mints it (billing/auth/tokens.py) under the same
// secret: {"sub","email","org_id","role","iat","exp","type","tv"}, Python's json.dumps.
std::string OriginalToken(const storage::UserRecord& user, std::int64_t now,
                          const std::string& type_member, const std::string& org_id_json) {
    const std::string payload = R"({"sub": ")" + user.id + R"(", "email": ")" + user.email +
                                R"(", "org_id": )" + org_id_json + R"(, "role": ")" + user.role +
                                R"(", "iat": )" + std::to_string(now) + R"(, "exp": )" +
                                std::to_string(now + 3600) + type_member + R"(, "tv": 1})";
    const std::string input =
        Base64UrlEncode(R"({"alg": "HS256", "typ": "JWT"})") + "." + Base64UrlEncode(payload);
    return input + "." + Base64UrlEncode(common::HmacSha256Raw(kSecret, input));
}

TEST_F(AuthServiceTest, OriginalAragoraTokensAuthenticate) {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.SystemNow().time_since_epoch())
            .count();
    auto p = Authn(OriginalToken(alice_, now, R"(, "type": "access")", "\"org1\""));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->kind, Principal::Kind::kUser);
    EXPECT_EQ(p->user_id, alice_.id);
    EXPECT_EQ(p->email, "alice@example.com");
    EXPECT_EQ(p->role, Role::kMember);
    EXPECT_EQ(p->org_id, "org1");
    // No type claim at all: access, as the original reads it; org_id null.
    auto untyped = Authn(OriginalToken(alice_, now, "", "null"));
    ASSERT_TRUE(untyped.ok()) << untyped.error().message;
    EXPECT_EQ(untyped->org_id, "");
    // Its refresh tokens (and anything else) are not access tokens.
    for (const char* kind : {"refresh", "mfa_pending"}) {
        auto refused =
            Authn(OriginalToken(alice_, now, std::string(R"(, "type": ")") + kind + "\"", "null"));
        ASSERT_FALSE(refused.ok()) << kind;
        EXPECT_EQ(refused.error().code, ErrorCode::kAuthRequired);
        EXPECT_EQ(refused.error().message, "not an access token") << kind;
    }
}

TEST_F(AuthServiceTest, RefreshRotatesAndReuseEndsTheSession) {
    auto first = Login("alice@example.com", "password-1");
    ASSERT_TRUE(first.ok());
    auto second = Await(io_, auth_->Refresh(first->tokens.refresh_token, {}));
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_NE(second->tokens.refresh_token, first->tokens.refresh_token);
    // The old one again: refused, and the whole family (the new one too) is revoked.
    auto reuse = Await(io_, auth_->Refresh(first->tokens.refresh_token, {}));
    EXPECT_EQ(reuse.error().code, ErrorCode::kAuthRequired);
    auto after = Await(io_, auth_->Refresh(second->tokens.refresh_token, {}));
    EXPECT_EQ(after.error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Await(io_, auth_->Refresh("not-a-token", {})).error().code, ErrorCode::kAuthRequired);
}

TEST_F(AuthServiceTest, ApiKeyLifecycle) {
    auto login = Login("alice@example.com", "password-1");
    ASSERT_TRUE(login.ok());
    auto me = Authn(login->tokens.access_token);
    ASSERT_TRUE(me.ok());
    auto created = Await(io_, auth_->CreateApiKey(*me, "ci", "", {}));
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_TRUE(LooksLikeApiKey(created->key));
    EXPECT_EQ(created->record.id, ApiKeyPrefixOf(created->key));
    auto p = Authn(created->key);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->kind, Principal::Kind::kApiKey);
    EXPECT_EQ(p->user_id, alice_.id);
    auto keys = Await(io_, auth_->ListApiKeys(*me));
    ASSERT_TRUE(keys.ok());
    ASSERT_EQ(keys->size(), 1u);
    EXPECT_FALSE((*keys)[0].last_used_at.empty());
    // Another member cannot revoke it.
    Principal bob = *me;
    bob.user_id = "usr_bob";
    EXPECT_EQ(Await(io_, auth_->RevokeApiKey(bob, created->record.id, {})).error().code,
              ErrorCode::kNotFound);
    auto revoked = Await(io_, auth_->RevokeApiKey(*me, created->record.id, {}));
    ASSERT_TRUE(revoked.ok());
    EXPECT_EQ(*revoked, 1);
    auto refused = Authn(created->key);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message.find("revoked"), std::string::npos);
}

// A demoted user's API key: the cache holds the role it read, and the change (on this
// instance: UserChanged; from another: DropCachedUser) makes the next request use the new
// one at once, well inside the cache's TTL.
TEST_F(AuthServiceTest, RoleChangeReachesCachedApiKeysAtOnce) {
    std::vector<std::string> told_peers;
    auth_->SetPeerNotifier([&told_peers](const std::string& id) { told_peers.push_back(id); });
    Principal svc = *Authn("svc");
    Principal alice = svc;
    alice.kind = Principal::Kind::kUser;
    alice.user_id = alice_.id;
    auto created = Await(io_, auth_->CreateApiKey(alice, "ci", "", {}));
    ASSERT_TRUE(created.ok()) << created.error().message;
    auto other = Await(io_, auth_->CreateApiKey(svc, "svc key", "", {}));
    ASSERT_TRUE(other.ok()) << other.error().message;
    ASSERT_EQ(Authn(created->key)->role, Role::kMember);  // cached now
    ASSERT_TRUE(Authn(other->key).ok());
    EXPECT_EQ(auth_->CacheSize(), 2u);

    // The store changes behind the cache (another process, or a route that forgot to
    // say so): the cached role holds until the TTL. This is what UserChanged is for.
    ASSERT_TRUE(SetUserRole(*stores_.auth, alice_.id, "viewer", Now()).ok());
    EXPECT_EQ(Authn(created->key)->role, Role::kMember);

    // The change said on this instance: only that user's entries go, at once, and the
    // other instances are told.
    auth_->UserChanged(alice_.id);
    EXPECT_EQ(auth_->CacheSize(), 1u);
    EXPECT_EQ(Authn(created->key)->role, Role::kViewer);
    EXPECT_EQ(told_peers, std::vector<std::string>{alice_.id});

    // From another instance: dropped here without telling anyone again.
    ASSERT_TRUE(SetUserRole(*stores_.auth, alice_.id, "admin", Now()).ok());
    EXPECT_EQ(auth_->DropCachedUser(alice_.id), 1u);
    EXPECT_EQ(Authn(created->key)->role, Role::kAdmin);
    EXPECT_EQ(told_peers.size(), 1u);

    // A removed user's key: refused at once.
    ASSERT_TRUE(RemoveUser(*stores_.auth, alice_.id).ok());
    auth_->UserChanged(alice_.id);
    EXPECT_EQ(Authn(created->key).error().code, ErrorCode::kAuthRequired);
    EXPECT_TRUE(Authn(other->key).ok());
}

// Revoking (and profile changes) go through UserChanged too, so the other instances drop
// the key as well; an admin's revocation by id does not say whose key it was: all go.
TEST_F(AuthServiceTest, RevocationsAreToldToTheOtherInstances) {
    std::vector<std::string> told_peers;
    auth_->SetPeerNotifier([&told_peers](const std::string& id) { told_peers.push_back(id); });
    Principal alice;
    alice.kind = Principal::Kind::kUser;
    alice.role = Role::kMember;
    alice.user_id = alice_.id;
    auto created = Await(io_, auth_->CreateApiKey(alice, "ci", "", {}));
    ASSERT_TRUE(created.ok());
    ASSERT_TRUE(Authn(created->key).ok());
    ASSERT_TRUE(Await(io_, auth_->RevokeApiKey(alice, created->record.id, {})).ok());
    EXPECT_EQ(told_peers, std::vector<std::string>{alice_.id});
    Principal admin = *Authn("svc");
    auto second = Await(io_, auth_->CreateApiKey(alice, "ci2", "", {}));
    ASSERT_TRUE(second.ok());
    ASSERT_TRUE(Await(io_, auth_->RevokeApiKey(admin, second->record.id, {})).ok());
    ASSERT_EQ(told_peers.size(), 2u);
    EXPECT_EQ(told_peers[1], "");
    ProfileUpdate update;
    update.name = "Alice A.";
    ASSERT_TRUE(Await(io_, auth_->UpdateMe(alice, update, {})).ok());
    ASSERT_EQ(told_peers.size(), 3u);
    EXPECT_EQ(told_peers[2], alice_.id);
}

TEST_F(AuthServiceTest, ExpiredApiKeyIsRefused) {
    Principal svc = *Authn("svc");
    const std::string expires = common::FormatIso8601(clock_.SystemNow() + std::chrono::hours(1));
    auto created = Await(io_, auth_->CreateApiKey(svc, "short", expires, {}));
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_EQ(created->record.user_id, std::string(kServiceUserId));
    EXPECT_TRUE(Authn(created->key).ok());
    clock_.Advance(std::chrono::hours(2));
    auto refused = Authn(created->key);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message.find("expired"), std::string::npos);
}

TEST_F(AuthServiceTest, LocalUserKeysWorkOnlyInOpenMode) {
    AuthConfig c;
    c.open = true;
    c.hash_options = MinimumHashOptions();
    AuthService open(c, clock_, pool_);
    open.AttachStore(stores_.auth.get());
    Principal anon;  // anonymous owner
    auto created = Await(io_, open.CreateApiKey(anon, "dev", "", {}));
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_TRUE(Await(io_, open.Authenticate(created->key)).ok());
    open.CloseOpenMode();
    open.ClearCaches();
    EXPECT_EQ(Await(io_, open.Authenticate(created->key)).error().code, ErrorCode::kAuthRequired);
}

TEST_F(AuthServiceTest, PasswordChangeNeedsTheCurrentOneAndEndsSessions) {
    auto login = Login("alice@example.com", "password-1");
    ASSERT_TRUE(login.ok());
    Principal me = *Authn(login->tokens.access_token);
    ProfileUpdate bad;
    bad.password = "password-2";
    bad.current_password = "nope";
    EXPECT_EQ(Await(io_, auth_->UpdateMe(me, bad, {})).error().field, "current_password");
    ProfileUpdate good;
    good.password = "password-2";
    good.current_password = "password-1";
    good.name = "Alice B";
    auto u = Await(io_, auth_->UpdateMe(me, good, {}));
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->name, "Alice B");
    EXPECT_EQ(Await(io_, auth_->Refresh(login->tokens.refresh_token, {})).error().code,
              ErrorCode::kAuthRequired);
    EXPECT_FALSE(Login("alice@example.com", "password-1").ok());
    EXPECT_TRUE(Login("alice@example.com", "password-2").ok());
}

TEST_F(AuthServiceTest, EveryFlowIsAuditedOnAnIntactChain) {
    (void)Login("alice@example.com", "wrong-password");
    auto login = Login("alice@example.com", "password-1");
    ASSERT_TRUE(login.ok());
    (void)Await(io_, auth_->Refresh(login->tokens.refresh_token, {}));
    auto entries = stores_.auth->ListAudit(100, "");
    ASSERT_TRUE(entries.ok());
    std::vector<std::string> actions;
    for (const auto& e : *entries) actions.push_back(e.action);
    EXPECT_EQ(actions, (std::vector<std::string>{"token_refresh", "login", "login_failed"}));
    auto chain = stores_.auth->VerifyAuditChain();
    ASSERT_TRUE(chain.ok());
    EXPECT_TRUE(chain->ok);
}

TEST(UserManagementTest, AddSetRoleRemove) {
    auto stores = storage::OpenSqliteStores({":memory:"}, true);
    ASSERT_TRUE(stores.ok());
    auto& store = *stores->auth;
    const auto opts = MinimumHashOptions();
    EXPECT_EQ(AddUser(store, "bad-email", "", "member", "password-1", "", "t", opts).error().field,
              "email");
    EXPECT_EQ(AddUser(store, "a@b.c", "", "boss", "password-1", "", "t", opts).error().field,
              "role");
    EXPECT_EQ(AddUser(store, "a@b.c", "", "member", "short", "", "t", opts).error().field,
              "password");
    auto u = AddUser(store, "a@b.c", "", "member", "password-1", "", "t", opts);
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->name, "a");
    EXPECT_EQ(u->org_id, "default");
    EXPECT_EQ(AddUser(store, "A@B.C", "", "member", "password-1", "", "t", opts).error().code,
              ErrorCode::kConflict);
    auto promoted = SetUserRole(store, "a@b.c", "admin", "t2");
    ASSERT_TRUE(promoted.ok());
    EXPECT_EQ(promoted->role, "admin");
    EXPECT_EQ(*CountHumanUsers(store), 1);
    ASSERT_TRUE(RemoveUser(store, u->id).ok());
    EXPECT_EQ(FindUser(store, u->id).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace aragora::auth
