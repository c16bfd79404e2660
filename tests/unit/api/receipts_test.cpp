// Receipt routes, field by field against reference/API.md "Receipts".

#include <gtest/gtest.h>

#include "api/handlers.hpp"
#include "api_test_support.hpp"
#include "common/crypto.hpp"
#include "common/jcs.hpp"

namespace aragora::api::testing {
namespace {

const std::set<std::string> kVerifyKeys = {"receipt_id",        "valid",     "integrity_valid",
                                           "signature_valid",   "hash",      "stored_checksum",
                                           "computed_checksum", "algorithm", "key_id",
                                           "verified_at",       "reason",    "signature",
                                           "integrity"};

class ReceiptsTest : public ApiFixture {
protected:
    ReceiptsTest() {
        AddCompletedDebate(service_, keys_, "d_one", "2027-01-01T00:00:00.000Z");
        AddCompletedDebate(service_, keys_, "d_two", "2027-01-02T00:00:00.000Z");
    }
    const std::string& StoredJson(size_t i) { return service_.receipts.at(i).json; }

    // Replaces the first occurrence of `from` in `text`.
    static std::string Replace(std::string text, const std::string& from, const std::string& to) {
        const size_t pos = text.find(from);
        EXPECT_NE(pos, std::string::npos) << from;
        if (pos != std::string::npos) text.replace(pos, from.size(), to);
        return text;
    }

    void ExpectValidVerification(const net::HttpResponse& res, const std::string& receipt_id) {
        ASSERT_EQ(res.status, 200) << res.body;
        auto v = Parse(res);
        EXPECT_EQ(Keys(v), kVerifyKeys);
        EXPECT_EQ(S(v.at("receipt_id")), receipt_id);
        EXPECT_EQ(v.at("valid"), true);
        EXPECT_EQ(v.at("integrity_valid"), true);
        EXPECT_EQ(v.at("signature_valid"), true);
        EXPECT_EQ(v.at("hash"), v.at("computed_checksum"));
        EXPECT_EQ(v.at("stored_checksum"), v.at("computed_checksum"));
        EXPECT_EQ(v.at("algorithm"), "HMAC-SHA256");
        EXPECT_EQ(S(v.at("key_id")), debate::KeyId(keys_.hmac_current));
        EXPECT_TRUE(common::ParseIso8601(std::string(v.at("verified_at").as_string())));
        EXPECT_TRUE(v.at("reason").is_null());
        const auto& sig = v.at("signature");
        EXPECT_EQ(Keys(sig),
                  (std::set<std::string>{"signature_valid", "algorithm", "key_id", "signed_at",
                                         "verification_timestamp", "error"}));
        EXPECT_EQ(sig.at("signature_valid"), true);
        EXPECT_EQ(sig.at("algorithm"), "HMAC-SHA256");
        EXPECT_FALSE(sig.at("signed_at").is_null());
        EXPECT_TRUE(sig.at("error").is_null());
        const auto& integrity = v.at("integrity");
        EXPECT_EQ(Keys(integrity),
                  (std::set<std::string>{"integrity_valid", "stored_checksum", "computed_checksum",
                                         "verified_at", "error"}));
        EXPECT_EQ(integrity.at("integrity_valid"), true);
        EXPECT_EQ(integrity.at("stored_checksum"), v.at("stored_checksum"));
        EXPECT_TRUE(integrity.at("error").is_null());
    }
};

TEST_F(ReceiptsTest, ListIsNewestFirstWithPagination) {
    for (std::string path : {"/api/v2/receipts", "/api/v1/receipts", "/api/receipts",
                             "/api/gauntlet/receipts", "/api/v1/gauntlet/receipts"}) {
        auto res = Call("GET", path);
        ASSERT_EQ(res.status, 200) << path;
        auto v = Parse(res);
        EXPECT_TRUE(Keys(v).count("receipts") && Keys(v).count("pagination")) << path;
        const auto& receipts = v.at("receipts").as_array();
        ASSERT_EQ(receipts.size(), 2u);
        EXPECT_EQ(receipts[0].at("receipt_id"), "rcpt_d_two");
        EXPECT_EQ(receipts[1].at("receipt_id"), "rcpt_d_one");
        EXPECT_EQ(receipts[0].at("gauntlet_id"), "debate-d_two");  // served members added
        EXPECT_EQ(Keys(v.at("pagination")),
                  (std::set<std::string>{"limit", "offset", "total", "has_more"}));
        EXPECT_EQ(v.at("pagination").at("total"), 2);
        EXPECT_EQ(v.at("pagination").at("limit"), 20);
        EXPECT_EQ(v.at("pagination").at("has_more"), false);
    }
    auto v = Parse(Call("GET", "/api/v2/receipts?limit=1"));
    EXPECT_EQ(v.at("receipts").as_array().size(), 1u);
    EXPECT_EQ(v.at("pagination").at("has_more"), true);
    v = Parse(Call("GET", "/api/v2/receipts?debate_id=d_one"));
    ASSERT_EQ(v.at("receipts").as_array().size(), 1u);
    EXPECT_EQ(v.at("receipts").at(0).at("debate_id"), "d_one");
    EXPECT_EQ(Call("GET", "/api/v2/receipts?limit=0").status, 400);
    EXPECT_EQ(Call("GET", "/api/v2/receipts?offset=-1").status, 400);
    EXPECT_EQ(Call("GET", "/api/v2/receipts?debate_id=a.b").status, 400);
}

TEST_F(ReceiptsTest, ServedReceiptsVerifyAsServed) {
    auto res = Call("GET", "/api/v2/receipts?limit=1");
    auto list = Parse(res);
    const std::string served = json::serialize(list.at("receipts").at(0));
    // Boost re-serializes the listed object here only to feed VerifyReceipt in the test; the
    // server itself never does.
    EXPECT_TRUE(debate::VerifyReceipt(served, keys_).valid);
}

TEST_F(ReceiptsTest, GetOneByEveryIdForm) {
    for (std::string target :
         {"/api/v2/receipts/rcpt_d_one", "/api/v1/receipts/rcpt_d_one",
          "/api/receipts/debate-d_one", "/api/v2/receipts/d_one",
          "/api/gauntlet/receipts/rcpt_d_one", "/api/v1/gauntlet/receipts/d_one"}) {
        auto res = Call("GET", target);
        ASSERT_EQ(res.status, 200) << target << " " << res.body;
        auto v = Parse(res);
        EXPECT_EQ(v.at("receipt_id"), "rcpt_d_one") << target;
        for (const char* field :
             {"gauntlet_id", "checksum", "is_signed", "signature_metadata", "agents_involved",
              "participating_agents", "dissenting_agents", "rounds_completed", "consensus_reached",
              "risk_level", "risk_score", "input_summary", "created_at"}) {
            EXPECT_TRUE(v.as_object().contains(field)) << field;
        }
        EXPECT_EQ(v.at("checksum"), v.at("content_hash"));
        EXPECT_EQ(res.body, *debate::ToServedReceiptJson(StoredJson(0)));
    }
    EXPECT_EQ(Call("GET", "/api/v2/receipts/rcpt_missing").status, 404);
    EXPECT_EQ(Parse(Call("GET", "/api/v2/receipts/rcpt_missing")).at("code"), "not_found");
    EXPECT_EQ(Call("GET", "/api/v2/receipts/bad$id").status, 400);
}

TEST_F(ReceiptsTest, Export) {
    auto json_res = Call("GET", "/api/v2/receipts/rcpt_d_one/export?format=json");
    ASSERT_EQ(json_res.status, 200);
    EXPECT_EQ(json_res.body, *debate::RenderReceipt(StoredJson(0), debate::ReceiptFormat::kJson));
    EXPECT_EQ(Call("GET", "/api/v2/receipts/rcpt_d_one/export").body, json_res.body);

    auto md = Call("GET", "/api/v2/receipts/rcpt_d_one/export?format=md");
    EXPECT_EQ(md.content_type, "text/markdown; charset=utf-8");
    EXPECT_EQ(HeaderOf(md, "Content-Disposition"), "attachment; filename=\"rcpt_d_one.md\"");
    auto html = Call("GET", "/api/gauntlet/receipts/rcpt_d_one/export?format=html", "",
                     {{"Accept", "text/html"}});
    EXPECT_EQ(html.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(HeaderOf(html, "Content-Disposition"), "attachment; filename=\"rcpt_d_one.html\"");

    auto wrapped = Call("GET", "/api/v1/gauntlet/receipts/rcpt_d_one/export?format=markdown", "",
                        {{"Accept", "application/json"}});
    auto v = Parse(wrapped);
    EXPECT_EQ(v.at("format"), "md");
    EXPECT_EQ(S(v.at("content")), md.body);
    EXPECT_EQ(v.at("filename"), "rcpt_d_one.md");
    EXPECT_EQ(v.at("receipt_id"), "rcpt_d_one");
    EXPECT_EQ(v.at("debate_id"), "d_one");
    EXPECT_EQ(v.at("size_bytes"), static_cast<std::int64_t>(md.body.size()));

    EXPECT_EQ(Call("GET", "/api/v2/receipts/rcpt_d_one/export?format=pdf").status, 400);
    EXPECT_EQ(Call("GET", "/api/v2/receipts/rcpt_nope/export?format=md").status, 404);
}

TEST_F(ReceiptsTest, VerifyStoredOnEveryRoute) {
    const std::vector<std::pair<std::string, std::string>> routes = {
        {"POST", "/api/v2/receipts/rcpt_d_one/verify"},
        {"GET", "/api/v2/receipts/rcpt_d_one/verify"},
        {"POST", "/api/v2/receipts/rcpt_d_one/verify-signature"},
        {"POST", "/api/v1/receipts/rcpt_d_one/verify"},
        {"POST", "/api/receipts/debate-d_one/verify"},
        {"GET", "/api/gauntlet/receipts/rcpt_d_one/verify"},
        {"POST", "/api/gauntlet/receipts/d_one/verify"},
        {"GET", "/api/v1/gauntlet/receipts/rcpt_d_one/verify"},
    };
    for (const auto& [method, target] : routes) {
        SCOPED_TRACE(method + " " + target);
        ExpectValidVerification(Call(method, target, "", {{"Content-Type", "application/json"}}),
                                "rcpt_d_one");
    }
    EXPECT_EQ(Call("POST", "/api/v2/receipts/rcpt_unknown/verify").status, 404);
    EXPECT_EQ(Call("POST", "/api/v1/receipts/rcpt_unknown/verify").status, 404);
    EXPECT_EQ(Call("POST", "/api/v2/receipts/r.x/verify").status, 400);
}

TEST_F(ReceiptsTest, VerifyTamperedStoredReceipt) {
    service_.receipts[0].json = Replace(StoredJson(0), "Ship behind a flag.", "Ship it now.");
    auto res = Call("POST", "/api/v2/receipts/rcpt_d_one/verify");
    ASSERT_EQ(res.status, 200);
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), kVerifyKeys);
    EXPECT_EQ(v.at("valid"), false);
    EXPECT_EQ(v.at("integrity_valid"), false);
    EXPECT_EQ(v.at("reason"), "content hash mismatch");
    EXPECT_NE(v.at("stored_checksum"), v.at("computed_checksum"));
    EXPECT_EQ(v.at("integrity").at("error"), "content hash mismatch");
    EXPECT_EQ(v.at("signature").at("signature_valid"), false);
    EXPECT_FALSE(v.at("signature").at("error").is_null());
}

TEST_F(ReceiptsTest, VerifyPostedReceiptBareOrWrapped) {
    ExpectValidVerification(Call("POST", "/api/v1/receipts/verify", StoredJson(0)), "rcpt_d_one");
    ExpectValidVerification(
        Call("POST", "/api/receipts/verify",
             "{\"receipt\": " + StoredJson(1) + ", \"note\": [1, {\"a\": \"}\"}]}"),
        "rcpt_d_two");
    // A served receipt (with its served-only members) verifies too.
    ExpectValidVerification(
        Call("POST", "/api/v1/receipts/verify",
             "{\"receipt\":" + *debate::ToServedReceiptJson(StoredJson(0)) + "}"),
        "rcpt_d_one");
}

TEST_F(ReceiptsTest, VerifyPostedReceiptKeepsNumbersExact) {
    // 0.8125 written as 0.81250: the same number to a JSON parser, but the receipt must be
    // verified from the text as sent. JCS canonicalizes numbers, so it still verifies; a
    // changed digit does not.
    const std::string same = Replace(StoredJson(0), "0.8125", "0.81250");
    EXPECT_EQ(
        Parse(Call("POST", "/api/v1/receipts/verify", "{\"receipt\":" + same + "}")).at("valid"),
        true);
    const std::string changed = Replace(StoredJson(0), "0.8125", "0.8126");
    auto v = Parse(Call("POST", "/api/v1/receipts/verify", "{\"receipt\":" + changed + "}"));
    EXPECT_EQ(v.at("valid"), false);
    EXPECT_EQ(v.at("reason"), "content hash mismatch");
}

TEST_F(ReceiptsTest, VerifyPostedForgedSignature) {
    debate::ReceiptKeys other;
    other.hmac_current = "someone-else";
    FakeDebateService forger;
    AddCompletedDebate(forger, other, "d_forged", "2027-01-05T00:00:00.000Z");
    auto v = Parse(Call("POST", "/api/v1/receipts/verify", forger.receipts[0].json));
    EXPECT_EQ(v.at("valid"), false);
    EXPECT_EQ(v.at("integrity_valid"), true);
    EXPECT_EQ(v.at("signature_valid"), false);
    const std::string reason(v.at("reason").as_string());
    EXPECT_NE(reason.find("unknown signing key"), std::string::npos) << reason;
    EXPECT_EQ(v.at("signature").at("error"), v.at("reason"));
    EXPECT_TRUE(v.at("integrity").at("error").is_null());
}

// A stored receipt with its verdict edited, content_hash recomputed and the signatures
// dropped: the forgery anyone can make.
std::string ForgeUnsigned(const std::string& receipt_json) {
    const std::string from = "\"verdict\":\"approved_with_conditions\"";
    std::string edited = receipt_json;
    const size_t pos = edited.find(from);
    EXPECT_NE(pos, std::string::npos);
    if (pos != std::string::npos) edited.replace(pos, from.size(), "\"verdict\":\"approved\"");
    auto signed_bytes =
        common::CanonicalizeJsonObjectWithout(edited, {"content_hash", "signatures"});
    EXPECT_TRUE(signed_bytes.ok());
    if (!signed_bytes.ok()) return {};
    std::string forged = *signed_bytes;
    forged.pop_back();
    forged += ",\"content_hash\":\"" + common::Sha256Hex(*signed_bytes) + "\"}";
    return forged;
}

void ExpectUnsignedInvalid(const net::HttpResponse& res) {
    ASSERT_EQ(res.status, 200) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), kVerifyKeys) << "the shape of API.md";
    EXPECT_EQ(v.at("valid"), false);
    EXPECT_EQ(v.at("integrity_valid"), true);
    EXPECT_TRUE(v.at("signature_valid").is_null());
    EXPECT_EQ(v.at("reason"), "unsigned");
    EXPECT_EQ(v.at("signature").at("error"), "unsigned");
    EXPECT_TRUE(v.at("integrity").at("error").is_null());
}

void ExpectIntegrityOnlyValid(const net::HttpResponse& res) {
    ASSERT_EQ(res.status, 200) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(v.at("valid"), true);
    EXPECT_EQ(v.at("integrity_valid"), true);
    EXPECT_TRUE(v.at("signature_valid").is_null());
    EXPECT_TRUE(v.at("reason").is_null());
    EXPECT_EQ(v.at("integrity_only"), true);
    const std::string warning(v.at("warning").as_string());
    EXPECT_NE(warning.find("integrity-only"), std::string::npos) << warning;
    EXPECT_NE(warning.find("UNSIGNED"), std::string::npos) << warning;
    EXPECT_NE(std::string(v.at("signature").at("error").as_string()).find("not checked"),
              std::string::npos);
}

TEST_F(ReceiptsTest, ForgedUnsignedReceiptIsNeverValid) {
    const std::string forged = ForgeUnsigned(StoredJson(0));
    ExpectUnsignedInvalid(Call("POST", "/api/v1/receipts/verify", forged));
    ExpectUnsignedInvalid(Call("POST", "/api/v1/receipts/verify", "{\"receipt\": " + forged + "}"));
    ExpectUnsignedInvalid(Call("POST", "/api/v1/receipts/verify",
                               "{\"receipt\": " + forged + ", \"integrity_only\": false}"));
    // The same forgery stored (e.g. written into the database): every verify route says so.
    service_.receipts[0].json = forged;
    ExpectUnsignedInvalid(Call("GET", "/api/v2/receipts/rcpt_d_one/verify"));
    ExpectUnsignedInvalid(Call("POST", "/api/v1/receipts/rcpt_d_one/verify"));
    ExpectUnsignedInvalid(Call("POST", "/api/v2/receipts/rcpt_d_one/verify-signature"));
    ExpectUnsignedInvalid(Call("GET", "/api/gauntlet/receipts/rcpt_d_one/verify"));
}

TEST_F(ReceiptsTest, IntegrityOnlyIsAskedForAndLabelled) {
    const std::string forged = ForgeUnsigned(StoredJson(0));
    ExpectIntegrityOnlyValid(Call("POST", "/api/v1/receipts/verify",
                                  "{\"receipt\": " + forged + ", \"integrity_only\": true}"));
    ExpectIntegrityOnlyValid(Call("POST", "/api/v1/receipts/verify?integrity_only=true", forged));
    service_.receipts[0].json = forged;
    ExpectIntegrityOnlyValid(Call("GET", "/api/v2/receipts/rcpt_d_one/verify?integrity_only=1"));
    ExpectIntegrityOnlyValid(
        Call("POST", "/api/v2/receipts/rcpt_d_one/verify", R"({"integrity_only": true})"));

    // A signed receipt checked for integrity only: labelled, its signatures not checked.
    auto signed_only = Parse(Call("GET", "/api/v2/receipts/rcpt_d_two/verify?integrity_only=true"));
    EXPECT_EQ(signed_only.at("valid"), true);
    EXPECT_EQ(signed_only.at("integrity_only"), true);
    EXPECT_TRUE(signed_only.at("signature_valid").is_null());
    EXPECT_NE(std::string(signed_only.at("warning").as_string()).find("NOT checked"),
              std::string::npos);
    // A full check does not carry the label.
    EXPECT_FALSE(Parse(Call("GET", "/api/v2/receipts/rcpt_d_two/verify"))
                     .as_object()
                     .contains("integrity_only"));

    // Bad flags: 400 validation_error naming integrity_only.
    for (auto [target, body] : std::vector<std::pair<std::string, std::string>>{
             {"/api/v1/receipts/verify?integrity_only=maybe", forged},
             {"/api/v1/receipts/verify",
              "{\"receipt\": " + forged + ", \"integrity_only\": \"yes\"}"},
             {"/api/v2/receipts/rcpt_d_one/verify", R"({"integrity_only": 1})"}}) {
        auto res = Call("POST", target, body);
        EXPECT_EQ(res.status, 400) << target << " " << res.body;
        EXPECT_EQ(Parse(res).at("code"), "validation_error") << res.body;
    }
}

TEST_F(ReceiptsTest, VerifyPostedMalformedInput) {
    EXPECT_EQ(Call("POST", "/api/v1/receipts/verify", "").status, 400);
    EXPECT_EQ(Call("POST", "/api/v1/receipts/verify", "not json").status, 400);
    EXPECT_EQ(Call("POST", "/api/v1/receipts/verify", "[]").status, 400);
    auto bad_member = Call("POST", "/api/v1/receipts/verify", R"({"receipt": "x"})");
    EXPECT_EQ(bad_member.status, 400);
    EXPECT_EQ(Parse(bad_member).at("code"), "bad_request");
    // Not a receipt at all: 200 with valid false and a reason.
    auto v = Parse(Call("POST", "/api/v1/receipts/verify", R"({"hello": "world"})"));
    EXPECT_EQ(v.at("valid"), false);
    EXPECT_NE(std::string(v.at("reason").as_string()).find("malformed receipt"), std::string::npos);
}

TEST(ReceiptTextFromBodyTest, CutsTheMemberOutExactly) {
    const std::string receipt = R"({"b": 1.50, "s": "}{\"", "n": [ {"x": []} ]})";
    auto text = ReceiptTextFromBody("  {\"other\": {\"receipt\": 1}, \"receipt\"  :  " + receipt +
                                    " , \"tail\": null}");
    ASSERT_TRUE(text.ok()) << text.error().message;
    EXPECT_EQ(*text, receipt);
    auto escaped = ReceiptTextFromBody("{\"rec\\u0065ipt\": " + receipt + "}");
    ASSERT_TRUE(escaped.ok());
    EXPECT_EQ(*escaped, receipt);
    // A body that is itself a receipt (it has content_hash) is taken whole.
    const std::string whole = R"({"receipt": {"a": 1}, "content_hash": "x"})";
    EXPECT_EQ(*ReceiptTextFromBody(whole), whole);
    EXPECT_FALSE(ReceiptTextFromBody(R"({"receipt": [1]})").ok());
}

}  // namespace
}  // namespace aragora::api::testing
