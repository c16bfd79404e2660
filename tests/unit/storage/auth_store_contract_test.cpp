// The AuthStore contract (auth_store.hpp), run against every backend: SQLite and
// PostgreSQL must behave the same. Backend-specific tests live in
// sqlite_auth_store_test.cpp / pg_store_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.hpp"
#include "store_backends.hpp"

namespace aragora::storage {
namespace {

using common::ErrorCode;
using test_support::BackendKind;
using test_support::MakeBackend;
using test_support::TestBackend;

constexpr const char* kNow = "2026-03-01T12:00:00.000Z";
constexpr const char* kEarlier = "2026-03-01T11:00:00.000Z";
constexpr const char* kLater = "2026-03-02T12:00:00.000Z";

UserRecord MakeUser(const std::string& id, const std::string& email,
                    const std::string& created_at = "2026-01-01T00:00:00.000Z") {
    UserRecord u;
    u.id = id;
    u.email = email;
    u.name = "Name of " + id;
    u.role = "member";
    u.org_id = "org_1";
    u.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$salt$hash-" + id;
    u.created_at = created_at;
    u.updated_at = created_at;
    return u;
}

ApiKeyRecord MakeKey(const std::string& id, const std::string& user_id,
                     const std::string& created_at = "2026-01-01T00:00:00.000Z") {
    ApiKeyRecord k;
    k.id = id;
    k.user_id = user_id;
    k.name = "key " + id;
    k.key_hash = "hash-" + id;
    k.created_at = created_at;
    return k;
}

RefreshTokenRecord MakeToken(const std::string& hash, const std::string& user_id,
                             const std::string& family_id, const std::string& expires_at = kLater) {
    RefreshTokenRecord t;
    t.token_hash = hash;
    t.user_id = user_id;
    t.family_id = family_id;
    t.created_at = kEarlier;
    t.expires_at = expires_at;
    return t;
}

// Only the new token's hash (and expiry): the store fills user and family.
RefreshTokenRecord Replacement(const std::string& hash) {
    RefreshTokenRecord t;
    t.token_hash = hash;
    t.expires_at = kLater;
    return t;
}

AuditEntry MakeAudit(const std::string& at, const std::string& action,
                     const std::string& actor = "usr_alice") {
    AuditEntry e;
    e.at = at;
    e.actor = actor;
    e.action = action;
    e.target = "usr_bob";
    e.ip = "203.0.113.7";
    e.correlation_id = "req_" + action;
    e.details_json = R"({"role":"admin"})";
    return e;
}

DebateRecord MakeDebate(const std::string& id, const std::string& status,
                        const std::string& created_at, const std::string& created_by) {
    DebateRecord d;
    d.id = id;
    d.task = "task of " + id;
    d.status = events::ParseDebateStatus(status).value();
    d.agents = {"claude", "gpt"};
    d.rounds = 2;
    d.created_at = created_at;
    d.created_by = created_by;
    d.org_id = created_by.empty() ? "" : "org_1";
    d.spec_json = R"({"task":"task of )" + id + R"("})";
    d.result_json = R"({"usage":{"tokens":)" + std::to_string(id.size()) + "}}";
    return d;
}

class AuthStoreContractTest : public test_support::StoreSuite {
public:
    void AddUser(const UserRecord& u) {
        auto s = auth_->CreateUser(u);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }
    void AddKey(const ApiKeyRecord& k) {
        auto s = auth_->CreateApiKey(k);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }
    void AddToken(const RefreshTokenRecord& t) {
        auto s = auth_->CreateRefreshToken(t);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }

    // "hash|revoked_at|replaced_by" of every token of the family, by hash.
    std::vector<std::string> Family(const std::string& family_id) {
        return backend_->Column(
            ("SELECT token_hash || '|' || COALESCE(revoked_at, '') || '|' || "
             "COALESCE(replaced_by, '') FROM refresh_tokens WHERE family_id = '" +
             family_id + "' ORDER BY token_hash")
                .c_str());
    }
};

void ExpectSameUser(const UserRecord& a, const UserRecord& b) {
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.email, b.email);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.role, b.role);
    EXPECT_EQ(a.org_id, b.org_id);
    EXPECT_EQ(a.password_hash, b.password_hash);
    EXPECT_EQ(a.created_at, b.created_at);
    EXPECT_EQ(a.updated_at, b.updated_at);
    EXPECT_EQ(a.disabled, b.disabled);
}

// ---------------------------------------------------------------- users

TEST_P(AuthStoreContractTest, UsersRoundTripAndLookUpEmailCaseInsensitively) {
    UserRecord alice = MakeUser("usr_alice", "Alice@Example.com", "2026-01-02T00:00:00.000Z");
    alice.role = "owner";
    alice.disabled = true;
    AddUser(alice);
    AddUser(MakeUser("usr_bob", "bob@example.com", "2026-01-01T00:00:00.000Z"));
    AddUser(MakeUser("usr_aaron", "aaron@example.com", "2026-01-02T00:00:00.000Z"));

    auto got = auth_->GetUser("usr_alice");
    ASSERT_TRUE(got.ok()) << got.error().message;
    ExpectSameUser(*got, alice);  // email stored as given

    for (const char* email : {"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"}) {
        auto by_email = auth_->GetUserByEmail(email);
        ASSERT_TRUE(by_email.ok()) << email << ": " << by_email.error().message;
        EXPECT_EQ(by_email->id, "usr_alice") << email;
    }

    auto list = auth_->ListUsers();
    ASSERT_TRUE(list.ok()) << list.error().message;
    std::vector<std::string> ids;
    for (const auto& u : *list) ids.push_back(u.id);
    EXPECT_EQ(ids, (std::vector<std::string>{"usr_bob", "usr_aaron", "usr_alice"}));
    EXPECT_EQ(*auth_->CountUsers(), 3);
}

TEST_P(AuthStoreContractTest, UserErrors) {
    EXPECT_EQ(*auth_->CountUsers(), 0);
    AddUser(MakeUser("usr_alice", "alice@example.com"));

    auto dup_email = auth_->CreateUser(MakeUser("usr_other", "ALICE@example.COM"));
    ASSERT_FALSE(dup_email.ok());
    EXPECT_EQ(dup_email.error().code, ErrorCode::kConflict) << dup_email.error().message;
    auto dup_id = auth_->CreateUser(MakeUser("usr_alice", "new@example.com"));
    ASSERT_FALSE(dup_id.ok());
    EXPECT_EQ(dup_id.error().code, ErrorCode::kConflict) << dup_id.error().message;

    UserRecord no_role = MakeUser("usr_x", "x@example.com");
    no_role.role.clear();
    for (const UserRecord& bad : {MakeUser("", "y@example.com"), MakeUser("usr_y", ""), no_role}) {
        auto s = auth_->CreateUser(bad);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error().code, ErrorCode::kValidation) << s.error().message;
        EXPECT_FALSE(s.error().field.empty());
    }
    EXPECT_EQ(*auth_->CountUsers(), 1);

    EXPECT_EQ(auth_->GetUser("usr_nope").error().code, ErrorCode::kNotFound);
    EXPECT_EQ(auth_->GetUserByEmail("nope@example.com").error().code, ErrorCode::kNotFound);
    EXPECT_EQ(auth_->UpdateUser(MakeUser("usr_nope", "n@example.com")).error().code,
              ErrorCode::kNotFound);
    EXPECT_EQ(auth_->DeleteUser("usr_nope").error().code, ErrorCode::kNotFound);
}

TEST_P(AuthStoreContractTest, UpdateUserWritesEveryFieldButCreatedAt) {
    const UserRecord alice = MakeUser("usr_alice", "alice@example.com");
    AddUser(alice);
    AddUser(MakeUser("usr_bob", "bob@example.com"));

    UserRecord changed = alice;
    changed.email = "Alice.New@example.com";
    changed.name = "Alice N.";
    changed.role = "admin";
    changed.org_id = "org_2";
    changed.password_hash = "new-hash";
    changed.disabled = true;
    changed.updated_at = kNow;
    changed.created_at = "2030-01-01T00:00:00.000Z";  // not written
    ASSERT_TRUE(auth_->UpdateUser(changed).ok());

    UserRecord expected = changed;
    expected.created_at = alice.created_at;
    ExpectSameUser(*auth_->GetUser("usr_alice"), expected);
    EXPECT_EQ(auth_->GetUserByEmail("alice.new@example.com")->id, "usr_alice");
    EXPECT_EQ(auth_->GetUserByEmail("alice@example.com").error().code, ErrorCode::kNotFound);

    // Taking another user's email (in another case) is a conflict and changes nothing.
    UserRecord steal = *auth_->GetUser("usr_alice");
    steal.email = "BOB@example.com";
    auto s = auth_->UpdateUser(steal);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kConflict);
    ExpectSameUser(*auth_->GetUser("usr_alice"), expected);

    UserRecord no_email = expected;
    no_email.email.clear();
    EXPECT_EQ(auth_->UpdateUser(no_email).error().code, ErrorCode::kValidation);
}

TEST_P(AuthStoreContractTest, DeleteUserCascadesToKeysAndTokensButDebatesKeepTheCreator) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddUser(MakeUser("usr_bob", "bob@example.com"));
    AddKey(MakeKey("ara_alice001", "usr_alice"));
    AddKey(MakeKey("ara_bob00001", "usr_bob"));
    AddToken(MakeToken("rt_alice", "usr_alice", "fam_a"));
    AddToken(MakeToken("rt_bob", "usr_bob", "fam_b"));
    ASSERT_TRUE(
        store_->CreateDebate(MakeDebate("d1", "running", "2026-01-01T00:00:00.000Z", "usr_alice"))
            .ok());

    ASSERT_TRUE(auth_->DeleteUser("usr_alice").ok());
    EXPECT_EQ(auth_->GetUser("usr_alice").error().code, ErrorCode::kNotFound);
    EXPECT_EQ(auth_->GetApiKeyByHash("hash-ara_alice001").error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(auth_->ListApiKeys("usr_alice")->empty());
    EXPECT_TRUE(Family("fam_a").empty());
    EXPECT_EQ(auth_->RotateRefreshToken("rt_alice", Replacement("rt_alice2"), kNow).error().code,
              ErrorCode::kAuthRequired);

    // Bob's are untouched; the debate keeps its creator.
    EXPECT_TRUE(auth_->GetApiKeyByHash("hash-ara_bob00001").ok());
    EXPECT_EQ(Family("fam_b").size(), 1u);
    EXPECT_EQ(store_->GetDebate("d1")->created_by, "usr_alice");
    EXPECT_EQ(*auth_->CountUsers(), 1);
}

// ---------------------------------------------------------------- API keys

TEST_P(AuthStoreContractTest, ApiKeysCreateGetListNewestFirst) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddUser(MakeUser("usr_bob", "bob@example.com"));
    ApiKeyRecord full = MakeKey("ara_k1", "usr_alice", "2026-01-01T00:00:00.000Z");
    full.expires_at = "2027-01-01T00:00:00.000Z";
    AddKey(full);
    AddKey(MakeKey("ara_k3", "usr_alice", "2026-01-03T00:00:00.000Z"));
    AddKey(MakeKey("ara_k2", "usr_alice", "2026-01-02T00:00:00.000Z"));
    AddKey(MakeKey("ara_b1", "usr_bob", "2026-01-05T00:00:00.000Z"));

    auto got = auth_->GetApiKeyByHash("hash-ara_k1");
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->id, "ara_k1");
    EXPECT_EQ(got->user_id, "usr_alice");
    EXPECT_EQ(got->name, "key ara_k1");
    EXPECT_EQ(got->key_hash, "hash-ara_k1");
    EXPECT_EQ(got->created_at, "2026-01-01T00:00:00.000Z");
    EXPECT_EQ(got->expires_at, "2027-01-01T00:00:00.000Z");
    EXPECT_EQ(got->last_used_at, "");
    EXPECT_EQ(got->revoked_at, "");
    EXPECT_EQ(auth_->GetApiKeyByHash("hash-nope").error().code, ErrorCode::kNotFound);

    auto list = auth_->ListApiKeys("usr_alice");
    ASSERT_TRUE(list.ok()) << list.error().message;
    std::vector<std::string> ids;
    for (const auto& k : *list) ids.push_back(k.id);
    EXPECT_EQ(ids, (std::vector<std::string>{"ara_k3", "ara_k2", "ara_k1"}));
    EXPECT_TRUE(auth_->ListApiKeys("usr_nobody")->empty());

    ASSERT_TRUE(auth_->TouchApiKey("ara_k1", kNow).ok());
    EXPECT_EQ(auth_->GetApiKeyByHash("hash-ara_k1")->last_used_at, kNow);
    EXPECT_EQ(auth_->TouchApiKey("ara_nope", kNow).error().code, ErrorCode::kNotFound);
}

TEST_P(AuthStoreContractTest, ApiKeyErrors) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddKey(MakeKey("ara_k1", "usr_alice"));

    ApiKeyRecord dup_id = MakeKey("ara_k1", "usr_alice");
    dup_id.key_hash = "other-hash";
    EXPECT_EQ(auth_->CreateApiKey(dup_id).error().code, ErrorCode::kConflict);
    ApiKeyRecord dup_hash = MakeKey("ara_k2", "usr_alice");
    dup_hash.key_hash = "hash-ara_k1";
    EXPECT_EQ(auth_->CreateApiKey(dup_hash).error().code, ErrorCode::kConflict);
    EXPECT_EQ(auth_->CreateApiKey(MakeKey("ara_k3", "usr_nobody")).error().code,
              ErrorCode::kNotFound);
    EXPECT_EQ(auth_->CreateApiKey(MakeKey("ara_k4", "")).error().code, ErrorCode::kValidation);
    ApiKeyRecord no_hash = MakeKey("ara_k5", "usr_alice");
    no_hash.key_hash.clear();
    EXPECT_EQ(auth_->CreateApiKey(no_hash).error().code, ErrorCode::kValidation);
    EXPECT_EQ(auth_->ListApiKeys("usr_alice")->size(), 1u);
}

TEST_P(AuthStoreContractTest, RevokeApiKeyOnlyByItsOwnerOrAnyone) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddUser(MakeUser("usr_bob", "bob@example.com"));
    AddKey(MakeKey("ara_k1", "usr_alice", "2026-01-01T00:00:00.000Z"));
    AddKey(MakeKey("ara_k2", "usr_alice", "2026-01-02T00:00:00.000Z"));

    // Bob cannot revoke Alice's key, and cannot tell it from a missing one.
    auto by_bob = auth_->RevokeApiKey("usr_bob", "ara_k1", kNow);
    ASSERT_FALSE(by_bob.ok());
    EXPECT_EQ(by_bob.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(auth_->GetApiKeyByHash("hash-ara_k1")->revoked_at, "");

    ASSERT_TRUE(auth_->RevokeApiKey("usr_alice", "ara_k1", kNow).ok());
    auto revoked = auth_->GetApiKeyByHash("hash-ara_k1");  // still found: the caller checks
    ASSERT_TRUE(revoked.ok());
    EXPECT_EQ(revoked->revoked_at, kNow);
    ASSERT_EQ(auth_->ListApiKeys("usr_alice")->size(), 1u);
    EXPECT_EQ(auth_->ListApiKeys("usr_alice")->front().id, "ara_k2");
    // Revoking again: no such active key.
    EXPECT_EQ(auth_->RevokeApiKey("usr_alice", "ara_k1", kLater).error().code,
              ErrorCode::kNotFound);
    EXPECT_EQ(auth_->GetApiKeyByHash("hash-ara_k1")->revoked_at, kNow);
    EXPECT_EQ(auth_->RevokeApiKey("usr_alice", "ara_nope", kNow).error().code,
              ErrorCode::kNotFound);

    // An admin (empty user id) revokes any user's key.
    ASSERT_TRUE(auth_->RevokeApiKey("", "ara_k2", kNow).ok());
    EXPECT_TRUE(auth_->ListApiKeys("usr_alice")->empty());
}

TEST_P(AuthStoreContractTest, RevokeUserApiKeysCountsOnlyActiveKeysOfThatUser) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddUser(MakeUser("usr_bob", "bob@example.com"));
    for (const char* id : {"ara_a1", "ara_a2", "ara_a3"}) AddKey(MakeKey(id, "usr_alice"));
    AddKey(MakeKey("ara_b1", "usr_bob"));
    ASSERT_TRUE(auth_->RevokeApiKey("usr_alice", "ara_a1", kEarlier).ok());

    auto n = auth_->RevokeUserApiKeys("usr_alice", kNow);
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, 2);
    EXPECT_TRUE(auth_->ListApiKeys("usr_alice")->empty());
    EXPECT_EQ(auth_->GetApiKeyByHash("hash-ara_a1")->revoked_at, kEarlier);  // not re-stamped
    EXPECT_EQ(auth_->ListApiKeys("usr_bob")->size(), 1u);
    EXPECT_EQ(*auth_->RevokeUserApiKeys("usr_alice", kNow), 0);
}

// ---------------------------------------------------------------- refresh tokens

TEST_P(AuthStoreContractTest, RotationRevokesTheOldTokenAndInsertsTheNewOne) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddToken(MakeToken("rt_1", "usr_alice", "fam_1"));

    auto old = auth_->RotateRefreshToken("rt_1", Replacement("rt_2"), kNow);
    ASSERT_TRUE(old.ok()) << old.error().message;
    EXPECT_EQ(old->token_hash, "rt_1");
    EXPECT_EQ(old->user_id, "usr_alice");
    EXPECT_EQ(old->family_id, "fam_1");
    EXPECT_EQ(old->created_at, kEarlier);
    EXPECT_EQ(old->revoked_at, kNow);
    EXPECT_EQ(old->replaced_by, "rt_2");
    EXPECT_EQ(Family("fam_1"),
              (std::vector<std::string>{std::string("rt_1|") + kNow + "|rt_2", "rt_2||"}));

    // The new one rotates in turn.
    auto second = auth_->RotateRefreshToken("rt_2", Replacement("rt_3"), kNow);
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(second->family_id, "fam_1");
    EXPECT_EQ(backend_->Column("SELECT user_id || '|' || created_at || '|' || expires_at FROM "
                               "refresh_tokens WHERE token_hash = 'rt_3'"),
              std::vector<std::string>{std::string("usr_alice|") + kNow + "|" + kLater});
}

TEST_P(AuthStoreContractTest, ReusingARotatedTokenRevokesTheWholeFamily) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddToken(MakeToken("rt_1", "usr_alice", "fam_1"));
    AddToken(MakeToken("rt_other", "usr_alice", "fam_2"));  // another login
    ASSERT_TRUE(auth_->RotateRefreshToken("rt_1", Replacement("rt_2"), kEarlier).ok());

    // The thief (or the victim) presents rt_1 again.
    auto reuse = auth_->RotateRefreshToken("rt_1", Replacement("rt_x"), kNow);
    ASSERT_FALSE(reuse.ok());
    EXPECT_EQ(reuse.error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(reuse.error().message, "refresh token reused; session revoked");
    EXPECT_EQ(Family("fam_1"), (std::vector<std::string>{std::string("rt_1|") + kEarlier + "|rt_2",
                                                         std::string("rt_2|") + kNow + "|"}));
    // The latest token of the family is dead too; the other login is not.
    auto next = auth_->RotateRefreshToken("rt_2", Replacement("rt_y"), kNow);
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(next.error().code, ErrorCode::kAuthRequired);
    EXPECT_TRUE(auth_->RotateRefreshToken("rt_other", Replacement("rt_other2"), kNow).ok());
}

TEST_P(AuthStoreContractTest, RotationRefusesUnknownExpiredAndDisabledAndChangesNothing) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    UserRecord bob = MakeUser("usr_bob", "bob@example.com");
    AddUser(bob);
    AddToken(MakeToken("rt_exp", "usr_alice", "fam_e", /*expires_at=*/kNow));
    AddToken(MakeToken("rt_bob", "usr_bob", "fam_b"));
    bob.disabled = true;
    ASSERT_TRUE(auth_->UpdateUser(bob).ok());

    auto unknown = auth_->RotateRefreshToken("rt_nope", Replacement("rt_n2"), kNow);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, ErrorCode::kAuthRequired);

    auto expired = auth_->RotateRefreshToken("rt_exp", Replacement("rt_e2"), kNow);  // at expiry
    ASSERT_FALSE(expired.ok());
    EXPECT_EQ(expired.error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Family("fam_e"), std::vector<std::string>{"rt_exp||"});
    // Still valid a moment before it expires.
    EXPECT_TRUE(
        auth_->RotateRefreshToken("rt_exp", Replacement("rt_e2"), "2026-03-01T11:59:59.999Z").ok());

    auto disabled = auth_->RotateRefreshToken("rt_bob", Replacement("rt_b2"), kNow);
    ASSERT_FALSE(disabled.ok());
    EXPECT_EQ(disabled.error().code, ErrorCode::kAuthRequired);
    EXPECT_EQ(Family("fam_b"), std::vector<std::string>{"rt_bob||"});

    // A replacement for another family or user is a caller bug.
    AddToken(MakeToken("rt_a", "usr_alice", "fam_a"));
    RefreshTokenRecord wrong = Replacement("rt_a2");
    wrong.family_id = "fam_other";
    EXPECT_EQ(auth_->RotateRefreshToken("rt_a", wrong, kNow).error().code, ErrorCode::kValidation);
    wrong = Replacement("rt_a2");
    wrong.user_id = "usr_bob";
    EXPECT_EQ(auth_->RotateRefreshToken("rt_a", wrong, kNow).error().code, ErrorCode::kValidation);
    // Colliding with an existing hash rolls the rotation back.
    EXPECT_EQ(auth_->RotateRefreshToken("rt_a", Replacement("rt_bob"), kNow).error().code,
              ErrorCode::kConflict);
    EXPECT_EQ(Family("fam_a"), std::vector<std::string>{"rt_a||"});
}

TEST_P(AuthStoreContractTest, CreateAndRevokeRefreshTokens) {
    AddUser(MakeUser("usr_alice", "alice@example.com"));
    AddUser(MakeUser("usr_bob", "bob@example.com"));
    AddToken(MakeToken("rt_1", "usr_alice", "fam_1"));
    AddToken(MakeToken("rt_2", "usr_alice", "fam_2"));
    AddToken(MakeToken("rt_b", "usr_bob", "fam_b"));

    EXPECT_EQ(auth_->CreateRefreshToken(MakeToken("rt_1", "usr_alice", "fam_9")).error().code,
              ErrorCode::kConflict);
    EXPECT_EQ(auth_->CreateRefreshToken(MakeToken("rt_9", "usr_nobody", "fam_9")).error().code,
              ErrorCode::kNotFound);
    EXPECT_EQ(auth_->CreateRefreshToken(MakeToken("rt_9", "usr_alice", "")).error().code,
              ErrorCode::kValidation);
    EXPECT_EQ(auth_->CreateRefreshToken(MakeToken("rt_9", "usr_alice", "fam_9", "")).error().code,
              ErrorCode::kValidation);

    auto n = auth_->RevokeRefreshTokens("usr_alice", kNow);
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, 2);
    EXPECT_EQ(*auth_->RevokeRefreshTokens("usr_alice", kLater), 0);
    EXPECT_EQ(Family("fam_1"), std::vector<std::string>{std::string("rt_1|") + kNow + "|"});
    EXPECT_EQ(Family("fam_b"), std::vector<std::string>{"rt_b||"});
}

// ---------------------------------------------------------------- audit

TEST_P(AuthStoreContractTest, AuditAppendChainsHashes) {
    AuditEntry first = MakeAudit("2026-03-01T10:00:00.000Z", "role_changed");
    first.seq = 77;             // ignored
    first.prev_hash = "bogus";  // ignored
    auto a1 = auth_->AppendAudit(first);
    ASSERT_TRUE(a1.ok()) << a1.error().message;
    EXPECT_EQ(a1->seq, 1);
    EXPECT_EQ(a1->prev_hash, "");
    // Computed independently of the store's code.
    EXPECT_EQ(a1->hash, common::Sha256Hex("\n1\n2026-03-01T10:00:00.000Z\nusr_alice\nrole_changed\n"
                                          "usr_bob\n203.0.113.7\nreq_role_changed\n"
                                          "{\"role\":\"admin\"}"));
    EXPECT_EQ(a1->hash.size(), 64u);
    EXPECT_EQ(a1->action, "role_changed");

    auto a2 = auth_->AppendAudit(MakeAudit("2026-03-01T10:00:01.000Z", "login", ""));
    ASSERT_TRUE(a2.ok()) << a2.error().message;
    EXPECT_EQ(a2->seq, 2);
    EXPECT_EQ(a2->prev_hash, a1->hash);
    EXPECT_EQ(a2->hash, AuditEntryHash(*a2));
    EXPECT_NE(a2->hash, a1->hash);

    auto listed = auth_->ListAudit(10, "");
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 2u);
    const AuditEntry& stored = (*listed)[1];
    EXPECT_EQ(stored.seq, 1);
    EXPECT_EQ(stored.at, first.at);
    EXPECT_EQ(stored.actor, first.actor);
    EXPECT_EQ(stored.action, first.action);
    EXPECT_EQ(stored.target, first.target);
    EXPECT_EQ(stored.ip, first.ip);
    EXPECT_EQ(stored.correlation_id, first.correlation_id);
    EXPECT_EQ(stored.details_json, first.details_json);
    EXPECT_EQ(stored.prev_hash, "");
    EXPECT_EQ(stored.hash, a1->hash);
    EXPECT_EQ((*listed)[0].actor, "");

    auto verified = auth_->VerifyAuditChain();
    ASSERT_TRUE(verified.ok()) << verified.error().message;
    EXPECT_TRUE(verified->ok);
    EXPECT_EQ(verified->rows, 2);
    EXPECT_EQ(verified->first_bad_seq, 0);

    EXPECT_EQ(auth_->AppendAudit(MakeAudit("", "login")).error().code, ErrorCode::kValidation);
    EXPECT_EQ(auth_->AppendAudit(MakeAudit(kNow, "")).error().code, ErrorCode::kValidation);
}

TEST_P(AuthStoreContractTest, AuditLogRefusesUpdateAndDelete) {
    ASSERT_TRUE(auth_->AppendAudit(MakeAudit(kNow, "login")).ok());
    EXPECT_EQ(backend_->ExecError("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"),
              "audit_log is append-only");
    EXPECT_EQ(backend_->ExecError("DELETE FROM audit_log"), "audit_log is append-only");
    EXPECT_EQ(backend_->Column("SELECT actor FROM audit_log"),
              std::vector<std::string>{"usr_alice"});
    EXPECT_TRUE(auth_->VerifyAuditChain()->ok);
}

TEST_P(AuthStoreContractTest, VerifyAuditChainFindsTheFirstTamperedRow) {
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(auth_->AppendAudit(MakeAudit(kNow, "login_" + std::to_string(i))).ok());
    }
    ASSERT_TRUE(auth_->VerifyAuditChain()->ok);
    backend_->DropAuditTriggers();
    backend_->Exec("UPDATE audit_log SET details_json = '{\"role\":\"owner\"}' WHERE seq = 3");
    auto edited = auth_->VerifyAuditChain();
    ASSERT_TRUE(edited.ok()) << edited.error().message;
    EXPECT_FALSE(edited->ok);
    EXPECT_EQ(edited->rows, 5);
    EXPECT_EQ(edited->first_bad_seq, 3);

    // Recomputing the edited row's hash does not help: the next row chains to the old one.
    {
        const auto rows = auth_->ListAudit(5, "");
        ASSERT_TRUE(rows.ok());
        AuditEntry third = (*rows)[2];
        ASSERT_EQ(third.seq, 3);
        const std::string sql =
            "UPDATE audit_log SET hash = '" + AuditEntryHash(third) + "' WHERE seq = 3";
        backend_->Exec(sql);
    }
    edited = auth_->VerifyAuditChain();
    ASSERT_TRUE(edited.ok());
    EXPECT_FALSE(edited->ok);
    EXPECT_EQ(edited->first_bad_seq, 4);

    // A deleted row breaks the chain at its successor.
    auto other = MakeBackend(GetParam());
    ASSERT_EQ(other->error(), "");
    auto fresh = other->Open(/*migrate=*/true);
    ASSERT_TRUE(fresh.ok()) << fresh.error().message;
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(fresh->auth->AppendAudit(MakeAudit(kNow, "login")).ok());
    other->DropAuditTriggers();
    other->Exec("DELETE FROM audit_log WHERE seq = 2");
    auto deleted = fresh->auth->VerifyAuditChain();
    ASSERT_TRUE(deleted.ok());
    EXPECT_FALSE(deleted->ok);
    EXPECT_EQ(deleted->rows, 2);
    EXPECT_EQ(deleted->first_bad_seq, 3);
}

TEST_P(AuthStoreContractTest, ListAuditSinceAndLimit) {
    for (int minute = 0; minute < 6; ++minute) {
        const std::string at = "2026-03-01T10:0" + std::to_string(minute) + ":00.000Z";
        ASSERT_TRUE(auth_->AppendAudit(MakeAudit(at, "a" + std::to_string(minute))).ok());
    }
    auto actions = [&](int limit, const std::string& since) {
        std::vector<std::string> out;
        auto rows = auth_->ListAudit(limit, since);
        EXPECT_TRUE(rows.ok()) << rows.error().message;
        if (rows.ok()) {
            for (const auto& e : *rows) out.push_back(e.action);
        }
        return out;
    };
    EXPECT_EQ(actions(100, ""), (std::vector<std::string>{"a5", "a4", "a3", "a2", "a1", "a0"}));
    EXPECT_EQ(actions(2, ""), (std::vector<std::string>{"a5", "a4"}));
    EXPECT_EQ(actions(100, "2026-03-01T10:03:00.000Z"),
              (std::vector<std::string>{"a5", "a4", "a3"}));
    EXPECT_EQ(actions(1, "2026-03-01T10:03:00.000Z"), std::vector<std::string>{"a5"});
    EXPECT_EQ(actions(100, "2026-03-02T00:00:00.000Z"), std::vector<std::string>{});
    EXPECT_EQ(actions(1000, "").size(), 6u);
    for (int bad : {0, -1, 1001}) {
        auto rows = auth_->ListAudit(bad, "");
        ASSERT_FALSE(rows.ok()) << bad;
        EXPECT_EQ(rows.error().code, ErrorCode::kValidation);
    }
}

// Two openings of one database append concurrently: the database lock (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: an advisory lock) keeps one linear chain.
TEST_P(AuthStoreContractTest, ConcurrentAppendsFromTwoConnectionsKeepTheChainLinear) {
    auto second = backend_->Open(/*migrate=*/false);
    ASSERT_TRUE(second.ok()) << second.error().message;
    std::vector<AuthStore*> stores = {auth_.get(), second->auth.get()};
    std::mutex failures_mu;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    constexpr int kThreads = 4;
    constexpr int kPerThread = 20;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            AuthStore& store = *stores[static_cast<std::size_t>(t) % stores.size()];
            for (int i = 0; i < kPerThread; ++i) {
                auto r = store.AppendAudit(MakeAudit(kNow, "t" + std::to_string(t)));
                if (!r.ok()) {
                    std::lock_guard lock(failures_mu);
                    failures.push_back(r.error().message);
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE(failures.empty()) << failures.front();
    auto verified = auth_->VerifyAuditChain();
    ASSERT_TRUE(verified.ok()) << verified.error().message;
    EXPECT_TRUE(verified->ok) << verified->first_bad_seq;
    EXPECT_EQ(verified->rows, kThreads * kPerThread);
}

// ---------------------------------------------------------------- usage

TEST_P(AuthStoreContractTest, ListUsageFiltersBySinceAndCreator) {
    auto create = [&](const DebateRecord& d) {
        auto s = store_->CreateDebate(d);
        ASSERT_TRUE(s.ok()) << s.error().message;
    };
    create(MakeDebate("d1", "completed", "2026-01-01T00:00:00.000Z", "usr_a"));
    create(MakeDebate("d2", "failed", "2026-01-02T00:00:00.000Z", "usr_b"));
    create(MakeDebate("d3", "running", "2026-01-03T00:00:00.000Z", "usr_a"));
    create(MakeDebate("d4", "pending", "2026-01-04T00:00:00.000Z", "usr_a"));  // no usage yet
    create(MakeDebate("d5", "cancelled", "2026-01-05T00:00:00.000Z", ""));
    create(MakeDebate("d6", "completed", "2026-01-06T00:00:00.000Z", "usr_a"));

    auto ids = [&](const std::string& since, const std::string& created_by, int limit) {
        std::vector<std::string> out;
        auto rows = auth_->ListUsage(since, created_by, limit);
        EXPECT_TRUE(rows.ok()) << rows.error().message;
        if (rows.ok()) {
            for (const auto& r : *rows) out.push_back(r.debate_id);
        }
        return out;
    };
    EXPECT_EQ(ids("", "", 100), (std::vector<std::string>{"d6", "d5", "d3", "d2", "d1"}));
    EXPECT_EQ(ids("", "usr_a", 100), (std::vector<std::string>{"d6", "d3", "d1"}));
    EXPECT_EQ(ids("2026-01-02T00:00:00.000Z", "usr_a", 100),
              (std::vector<std::string>{"d6", "d3"}));
    EXPECT_EQ(ids("2026-01-02T00:00:00.000Z", "", 2), (std::vector<std::string>{"d6", "d5"}));
    EXPECT_EQ(ids("", "usr_b", 100), std::vector<std::string>{"d2"});
    EXPECT_EQ(ids("", "usr_nobody", 100), std::vector<std::string>{});
    EXPECT_EQ(ids("2027-01-01T00:00:00.000Z", "", 100), std::vector<std::string>{});
    EXPECT_EQ(ids("", "", 0), std::vector<std::string>{});
    EXPECT_EQ(auth_->ListUsage("", "", -1).error().code, ErrorCode::kValidation);

    auto rows = auth_->ListUsage("", "usr_b", 10);
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), 1u);
    const UsageRow& r = rows->front();
    EXPECT_EQ(r.created_by, "usr_b");
    EXPECT_EQ(r.org_id, "org_1");
    EXPECT_EQ(r.status, "failed");
    EXPECT_EQ(r.created_at, "2026-01-02T00:00:00.000Z");
    EXPECT_EQ(r.spec_json, R"({"task":"task of d2"})");
    EXPECT_EQ(r.result_json, R"({"usage":{"tokens":2}})");
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthStoreContractTest, ARAGORA_STORAGE_BACKENDS);

}  // namespace
}  // namespace aragora::storage
