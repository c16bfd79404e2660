#include "debate/receipt.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "common/jcs.hpp"
#include "common/time.hpp"
#include "debate/receipt_keys.hpp"

namespace aragora::debate {
namespace {

namespace json = boost::json;

DebateSpec SampleSpec(std::string task = "Should we adopt a four-day work week?") {
    DebateSpec spec;
    spec.id = "deb_123";
    spec.task = std::move(task);
    spec.agents = {"claude", "gpt", "gemini"};
    spec.rounds = 2;
    return spec;
}

DebateResult SampleResult() {
    DebateResult r;
    r.status = DebateStatus::kCompleted;
    r.rounds_used = 2;
    r.verdict = "approved_with_conditions";
    r.confidence = 2.0 / 3.0;
    r.consensus.reached = true;
    r.consensus.method = ConsensusMethod::kMajority;
    r.consensus.confidence = 2.0 / 3.0;
    r.consensus.winner = "claude";
    r.consensus.final_answer = "Yes, with a pilot first.";
    r.consensus.supporting_agents = {"claude", "gpt"};
    r.consensus.dissenting_agents = {"gemini"};
    r.consensus.dissents = {{"gemini", {"coverage gaps", "costs"}, "Pilot only in one team."}};
    r.trickster_interventions = 1;
    r.failures = {{"gpt", "critique", 1, "timeout", "no reply in 240 s"}};
    r.provenance = {{1,
                     {{"claude", "propose", "", std::string(64, 'a')},
                      {"gpt", "propose", "", std::string(64, 'b')}}},
                    {2, {{"gemini", "vote", "claude", std::string(64, 'c')}}}};
    return r;
}

const std::chrono::system_clock::time_point kNow =
    *common::ParseIso8601("2026-11-23T18:00:00.123Z");

SignedReceipt Build(const ReceiptKeys& keys, const std::optional<std::string>& previous = {},
                    const DebateSpec& spec = SampleSpec()) {
    auto r = BuildSignedReceipt(spec, SampleResult(), "rcpt_1", previous, kNow, keys);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : SignedReceipt{};
}

ReceiptKeys HmacKeys(std::string current, std::string previous = {}) {
    ReceiptKeys k;
    k.hmac_current = std::move(current);
    k.hmac_previous = std::move(previous);
    return k;
}

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Replace(std::string s, std::string_view from, std::string_view to) {
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) s.replace(pos, from.size(), to);
    return s;
}

TEST(ReceiptTest, BuildsAndVerifiesWithCurrentKey) {
    SignedReceipt receipt = Build(HmacKeys("current-key"));
    EXPECT_EQ(receipt.receipt_id, "rcpt_1");
    EXPECT_EQ(receipt.content_hash.size(), 64u);

    ReceiptVerification v = VerifyReceipt(receipt.json, HmacKeys("current-key"));
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_TRUE(v.integrity_valid);
    EXPECT_EQ(v.signature_valid, true);
    EXPECT_EQ(v.reason, "");
    EXPECT_EQ(v.receipt_id, "rcpt_1");
    EXPECT_EQ(v.computed_hash, receipt.content_hash);
    EXPECT_EQ(v.stored_hash, receipt.content_hash);
    EXPECT_EQ(v.algorithm, "HMAC-SHA256");
    EXPECT_EQ(v.key_id, KeyId("current-key"));
    EXPECT_EQ(v.signed_at, "2026-11-23T18:00:00.123Z");
    EXPECT_EQ(v.previous_hash, std::nullopt);
}

// The receipt's members are merged from two canonical texts (the signed bytes and the
// seal): strings holding quotes, commas, braces and escapes must not confuse the merge.
TEST(ReceiptTest, ReceiptIsCanonicalWhateverItsStringsHold) {
    const std::string task =
        "quote \" backslash \\ comma, {brace} [bracket] \"key\":1, ctl \x01 caf\xc3\xa9 "
        "\xf0\x9f\x98\x80";
    for (const auto& previous : {std::optional<std::string>{}, std::optional<std::string>("p,}")}) {
        SignedReceipt receipt = Build(HmacKeys("k"), previous, SampleSpec(task));
        ASSERT_FALSE(receipt.json.empty());
        EXPECT_EQ(*common::CanonicalizeJson(receipt.json), receipt.json);
        json::object r = json::parse(receipt.json).as_object();
        EXPECT_EQ(Str(r.at("question")), task);
        EXPECT_EQ(Str(r.at("content_hash")), receipt.content_hash);
        EXPECT_EQ(r.at("signatures").as_array().size(), 1u);
        EXPECT_TRUE(VerifyReceipt(receipt.json, HmacKeys("k")).valid);
    }
}

TEST(ReceiptTest, HasTheDocumentedFields) {
    SignedReceipt receipt = Build(HmacKeys("k"));
    json::object r = json::parse(receipt.json).as_object();
    EXPECT_EQ(r.at("receipt_id"), "rcpt_1");
    EXPECT_EQ(r.at("debate_id"), "deb_123");
    EXPECT_EQ(r.at("question"), "Should we adopt a four-day work week?");
    EXPECT_EQ(Str(r.at("input_hash")), common::Sha256Hex("Should we adopt a four-day work week?"));
    EXPECT_EQ(r.at("verdict"), "approved_with_conditions");
    EXPECT_EQ(r.at("final_answer"), "Yes, with a pilot first.");
    EXPECT_EQ(r.at("rounds_used"), 2);
    EXPECT_EQ(r.at("timestamp"), "2026-11-23T18:00:00.123Z");
    EXPECT_TRUE(r.at("previous_hash").is_null());
    EXPECT_EQ(r.at("status"), "completed");
    EXPECT_EQ(r.at("schema_version"), 1);
    EXPECT_EQ(r.at("agents").as_array().size(), 3u);
    const json::object& c = r.at("consensus").as_object();
    EXPECT_EQ(c.at("reached"), true);
    EXPECT_EQ(c.at("method"), "majority");
    EXPECT_EQ(c.at("dissenting_agents").as_array()[0], "gemini");
    EXPECT_EQ(c.at("dissents").as_array()[0].at("alternative_view"), "Pilot only in one team.");
    EXPECT_EQ(r.at("provenance").as_array()[1].at("entries").as_array()[0].at("target"), "claude");
    EXPECT_EQ(r.at("agent_failures").as_array()[0].at("code"), "timeout");
    const json::object& sig = r.at("signatures").as_array()[0].as_object();
    EXPECT_EQ(sig.at("algorithm"), "HMAC-SHA256");
    EXPECT_EQ(Str(sig.at("key_id")), KeyId("k"));
    // No member may collide with a served-only name (they are stripped before hashing).
    for (const std::string& name : ServedOnlyReceiptFields())
        EXPECT_FALSE(r.contains(name)) << name;
}

TEST(ReceiptTest, AuditorCanRecomputeHashAndHmacFromCanonicalBytes) {
    SignedReceipt receipt = Build(HmacKeys("example-key"));
    EXPECT_EQ(*common::CanonicalizeJson(receipt.json), receipt.json);  // stored canonical
    auto signed_bytes =
        common::CanonicalizeJsonObjectWithout(receipt.json, {"content_hash", "signatures"});
    ASSERT_TRUE(signed_bytes.ok());
    EXPECT_EQ(common::Sha256Hex(*signed_bytes), receipt.content_hash);
    json::object r = json::parse(receipt.json).as_object();
    EXPECT_EQ(Str(r.at("signatures").as_array()[0].at("value")),
              common::Base64Encode(common::HmacSha256Raw("example-key", *signed_bytes)));
    // The confidence survives exactly (2/3 has 16 significant digits).
    EXPECT_NE(signed_bytes->find("\"confidence\":0.6666666666666666"), std::string::npos);
}

DebateResult ResultWithFailuresAndSubstitutions() {
    DebateResult r = SampleResult();
    AgentFailure judge;
    judge.agent = "claude";
    judge.phase = "judge";
    judge.round = 2;
    judge.code = "provider_error";
    judge.message = "HTTP 529 overloaded";
    judge.attempts = 4;
    judge.outcome = FailureOutcome::kSubstituted;
    AgentFailure critique;
    critique.agent = "gpt";
    critique.phase = "critique";
    critique.round = 1;
    critique.target = "gemini";
    critique.code = "provider_error";
    critique.message = "HTTP 500";
    critique.attempts = 2;
    critique.outcome = FailureOutcome::kRecovered;
    r.failures = {critique, judge};
    r.substitutions = {{"claude", "gpt", "judge", 2, SubstitutionReason::kSubstituteJudge}};
    return r;
}

TEST(ReceiptTest, FailuresAndSubstitutionsAreRecordedInsideTheSignedBytes) {
    auto built = BuildSignedReceipt(SampleSpec(), ResultWithFailuresAndSubstitutions(), "rcpt_2",
                                    std::nullopt, kNow, HmacKeys("k"));
    ASSERT_TRUE(built.ok()) << built.error().message;
    EXPECT_TRUE(VerifyReceipt(built->json, HmacKeys("k")).valid);
    json::object r = json::parse(built->json).as_object();
    const json::array& failures = r.at("agent_failures").as_array();
    ASSERT_EQ(failures.size(), 2u);
    EXPECT_EQ(failures[0].at("target"), "gemini");
    EXPECT_EQ(failures[0].at("attempts"), 2);
    EXPECT_EQ(failures[0].at("outcome"), "recovered");
    EXPECT_EQ(failures[1].at("outcome"), "substituted");
    const json::array& subs = r.at("substitutions").as_array();
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0].as_object(), (json::object{{"agent", "claude"},
                                                 {"replaced_by", "gpt"},
                                                 {"phase", "judge"},
                                                 {"round", 2},
                                                 {"reason", "substitute_judge"}}));
    // Tamper-evident: rewriting who judged, hiding a failure's retries or dropping the
    // substitutions breaks the content hash.
    const std::string forged_judge =
        Replace(built->json, R"("replaced_by":"gpt")", R"("replaced_by":"claude")");
    EXPECT_EQ(VerifyReceipt(forged_judge, HmacKeys("k")).reason, "content hash mismatch");
    const std::string fewer_attempts = Replace(built->json, R"("attempts":4)", R"("attempts":1)");
    EXPECT_EQ(VerifyReceipt(fewer_attempts, HmacKeys("k")).reason, "content hash mismatch");
    json::object dropped = r;
    dropped.erase("substitutions");
    EXPECT_EQ(VerifyReceipt(json::serialize(dropped), HmacKeys("k")).reason,
              "content hash mismatch");
    // A debate without any: empty arrays, always present.
    auto clean = BuildSignedReceipt(SampleSpec(), DebateResult{}, "rcpt_3", std::nullopt, kNow,
                                    HmacKeys("k"));
    ASSERT_TRUE(clean.ok());
    EXPECT_TRUE(json::parse(clean->json).at("substitutions").as_array().empty());
}

// A receipt made before issue 25 (no `substitutions`, failures as {agent, phase, round,
// code, message}) keeps verifying: the signed bytes are whatever members it holds.
TEST(ReceiptTest, ReceiptsWithoutSubstitutionsStillVerify) {
    SignedReceipt receipt = Build(HmacKeys("old-key"));
    json::object old = json::parse(receipt.json).as_object();
    old.erase("substitutions");
    old.erase("content_hash");
    old.erase("signatures");
    old["agent_failures"] = json::array{json::object{{"agent", "gpt"},
                                                     {"phase", "critique"},
                                                     {"round", 1},
                                                     {"code", "timeout"},
                                                     {"message", "no reply in 240 s"}}};
    auto signed_bytes = common::CanonicalizeJson(json::serialize(old));
    ASSERT_TRUE(signed_bytes.ok());
    old["content_hash"] = common::Sha256Hex(*signed_bytes);
    old["signatures"] = json::array{json::object{
        {"algorithm", "HMAC-SHA256"},
        {"key_id", KeyId("old-key")},
        {"value", common::Base64Encode(common::HmacSha256Raw("old-key", *signed_bytes))},
        {"signed_at", "2026-11-23T18:00:00.123Z"}}};
    const std::string old_json = json::serialize(old);
    ReceiptVerification v = VerifyReceipt(old_json, HmacKeys("old-key"));
    EXPECT_TRUE(v.valid) << v.reason;
    auto served = ToServedReceiptJson(old_json);
    ASSERT_TRUE(served.ok());
    EXPECT_TRUE(VerifyReceipt(*served, HmacKeys("old-key")).valid);
}

TEST(ReceiptTest, PreviousKeyVerifiesAfterRotation) {
    SignedReceipt receipt = Build(HmacKeys("old-key"));
    ReceiptVerification v = VerifyReceipt(receipt.json, HmacKeys("new-key", "old-key"));
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_EQ(v.signature_valid, true);
    EXPECT_EQ(v.key_id, KeyId("old-key"));
}

TEST(ReceiptTest, UnknownKeyIsReported) {
    SignedReceipt receipt = Build(HmacKeys("old-key"));
    ReceiptVerification v = VerifyReceipt(receipt.json, HmacKeys("new-key"));
    EXPECT_FALSE(v.valid);
    EXPECT_TRUE(v.integrity_valid);
    EXPECT_EQ(v.signature_valid, false);
    EXPECT_EQ(v.reason, "unknown signing key (key_id " + KeyId("old-key") + ")");
    // No keys at all: same answer, never a crash.
    EXPECT_EQ(VerifyReceipt(receipt.json, ReceiptKeys{}).reason, v.reason);
}

TEST(ReceiptTest, TamperedFieldIsContentHashMismatch) {
    SignedReceipt receipt = Build(HmacKeys("k"));
    for (auto [from, to] :
         {std::pair{"\"verdict\":\"approved_with_conditions\"", "\"verdict\":\"approved\""},
          std::pair{"Yes, with a pilot first.", "Yes, at once."},
          std::pair{"\"confidence\":0.6666666666666666,\"consensus\"",
                    "\"confidence\":0.9,\"consensus\""}}) {
        std::string tampered = Replace(receipt.json, from, to);
        ReceiptVerification v = VerifyReceipt(tampered, HmacKeys("k"));
        EXPECT_FALSE(v.valid) << to;
        EXPECT_FALSE(v.integrity_valid) << to;
        EXPECT_EQ(v.signature_valid, false) << to;  // the MAC covers the bytes too
        EXPECT_EQ(v.reason, "content hash mismatch") << to;
        EXPECT_EQ(v.stored_hash, receipt.content_hash);
        EXPECT_NE(v.computed_hash, receipt.content_hash);
    }
}

TEST(ReceiptTest, TamperedContentHashOrSignatureIsDetected) {
    SignedReceipt receipt = Build(HmacKeys("k"));
    std::string forged_hash = common::Sha256Hex("something else");
    ReceiptVerification v =
        VerifyReceipt(Replace(receipt.json, receipt.content_hash, forged_hash), HmacKeys("k"));
    EXPECT_FALSE(v.valid);
    EXPECT_FALSE(v.integrity_valid);
    EXPECT_EQ(v.reason, "content hash mismatch");

    json::object r = json::parse(receipt.json).as_object();
    std::string mac(r.at("signatures").as_array()[0].at("value").as_string());
    std::string other_mac = common::Base64Encode(common::HmacSha256Raw("k", "other bytes"));
    v = VerifyReceipt(Replace(receipt.json, mac, other_mac), HmacKeys("k"));
    EXPECT_FALSE(v.valid);
    EXPECT_TRUE(v.integrity_valid);
    EXPECT_EQ(v.signature_valid, false);
    EXPECT_EQ(v.reason, "bad signature");

    v = VerifyReceipt(Replace(receipt.json, mac, "not base64!"), HmacKeys("k"));
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.reason, "bad signature");
}

TEST(ReceiptTest, PreviousHashIsInsideTheSignedBytes) {
    const std::string prev = common::Sha256Hex("receipt 0");
    SignedReceipt chained = Build(HmacKeys("k"), prev);
    SignedReceipt first = Build(HmacKeys("k"));
    EXPECT_NE(chained.content_hash, first.content_hash);

    ReceiptVerification v = VerifyReceipt(chained.json, HmacKeys("k"));
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_EQ(v.previous_hash, prev);

    std::string relinked = Replace(chained.json, prev, common::Sha256Hex("receipt X"));
    v = VerifyReceipt(relinked, HmacKeys("k"));
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.reason, "content hash mismatch");
}

TEST(ReceiptTest, KeyIdIsStableSha256Prefix) {
    EXPECT_EQ(KeyId("example-key"), common::Sha256Hex("example-key").substr(0, 16));
    EXPECT_EQ(KeyId("example-key"), KeyId(std::string("example-key")));
    EXPECT_EQ(KeyId("example-key").size(), 16u);
    EXPECT_NE(KeyId("example-key"), KeyId("example-key2"));
}

TEST(ReceiptTest, Ed25519OnlyReceiptVerifiesWithPublicKeyAlone) {
    common::Ed25519KeyPair pair = common::Ed25519Generate();
    ReceiptKeys signer;
    signer.ed25519 = pair;
    SignedReceipt receipt = Build(signer);
    json::object r = json::parse(receipt.json).as_object();
    ASSERT_EQ(r.at("signatures").as_array().size(), 1u);
    const json::object& sig = r.at("signatures").as_array()[0].as_object();
    EXPECT_EQ(sig.at("algorithm"), "Ed25519");
    EXPECT_EQ(Str(sig.at("public_key")), common::Base64Encode(pair.public_key));
    EXPECT_EQ(Str(sig.at("key_id")), KeyId(pair.public_key));

    ReceiptKeys verifier;  // no HMAC key, no private key
    verifier.ed25519 = common::Ed25519KeyPair{"", pair.public_key};
    ReceiptVerification v = VerifyReceipt(receipt.json, verifier);
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_EQ(v.algorithm, "Ed25519");
    EXPECT_EQ(v.key_id, KeyId(pair.public_key));
}

TEST(ReceiptTest, Ed25519AlongsideHmacVerifiesWithoutTheHmacSecret) {
    ReceiptKeys signer = HmacKeys("secret");
    signer.ed25519 = common::Ed25519Generate();
    SignedReceipt receipt = Build(signer);
    EXPECT_TRUE(VerifyReceipt(receipt.json, signer).valid);

    ReceiptKeys public_only;
    public_only.ed25519 = common::Ed25519KeyPair{"", signer.ed25519->public_key};
    ReceiptVerification v = VerifyReceipt(receipt.json, public_only);
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_EQ(v.algorithm, "Ed25519");

    std::string tampered = Replace(receipt.json, "Yes, with a pilot first.", "No.");
    v = VerifyReceipt(tampered, public_only);
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.signature_valid, false);
}

TEST(ReceiptTest, Ed25519SignatureByAnUntrustedKeyDoesNotCount) {
    // A forger rewrites the answer, recomputes the hash and signs with their own key.
    ReceiptKeys forger;
    forger.ed25519 = common::Ed25519Generate();
    SignedReceipt forged = Build(forger);
    ReceiptKeys trusted;
    trusted.ed25519 = common::Ed25519Generate();
    ReceiptVerification v = VerifyReceipt(forged.json, trusted);
    EXPECT_TRUE(v.integrity_valid);
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.reason, "unknown signing key (key_id " + KeyId(forger.ed25519->public_key) + ")");

    // key_id must name the embedded key.
    std::string wrong_id =
        Replace(forged.json, KeyId(forger.ed25519->public_key), KeyId("something"));
    v = VerifyReceipt(wrong_id, forger);
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.signature_valid, false);
}

// What anyone can do to a receipt: edit a member, recompute content_hash over the new
// signed bytes, and drop the signatures (which would no longer match).
std::string ForgeUnsigned(const std::string& receipt_json, std::string_view from,
                          std::string_view to) {
    const std::string edited = Replace(receipt_json, from, to);
    auto signed_bytes =
        common::CanonicalizeJsonObjectWithout(edited, {"content_hash", "signatures"});
    EXPECT_TRUE(signed_bytes.ok());
    if (!signed_bytes.ok()) return {};
    std::string forged = *signed_bytes;
    forged.pop_back();  // '}'
    forged += ",\"content_hash\":\"" + common::Sha256Hex(*signed_bytes) + "\"}";
    return forged;
}

TEST(ReceiptTest, ForgedUnsignedReceiptIsNotValid) {
    SignedReceipt receipt = Build(HmacKeys("k"));
    const std::string forged = ForgeUnsigned(
        receipt.json, "\"verdict\":\"approved_with_conditions\"", "\"verdict\":\"rejected\"");
    ReceiptVerification v = VerifyReceipt(forged, HmacKeys("k"));
    EXPECT_TRUE(v.integrity_valid) << "the forger recomputed the hash";
    EXPECT_FALSE(v.valid);
    EXPECT_EQ(v.signature_valid, std::nullopt);
    EXPECT_FALSE(v.has_signatures);
    EXPECT_EQ(v.reason, "unsigned");
    EXPECT_EQ(v.check, ReceiptCheck::kFull);

    // An empty or null signatures member is unsigned too.
    for (const char* sigs : {",\"signatures\":[]}", ",\"signatures\":null}"}) {
        std::string with = forged;
        with.pop_back();
        with += sigs;
        ReceiptVerification w = VerifyReceipt(with, HmacKeys("k"));
        EXPECT_FALSE(w.valid) << sigs;
        EXPECT_EQ(w.reason, "unsigned") << sigs;
    }
    // An edit after the hash: the mismatch is the reason, before "unsigned".
    std::string tampered = Replace(forged, "Yes, with a pilot first.", "No.");
    EXPECT_EQ(VerifyReceipt(tampered, HmacKeys("k")).reason, "content hash mismatch");
}

TEST(ReceiptTest, IntegrityOnlyCheckComparesTheHashAlone) {
    SignedReceipt receipt = Build(HmacKeys("k"));
    const std::string forged = ForgeUnsigned(
        receipt.json, "\"verdict\":\"approved_with_conditions\"", "\"verdict\":\"rejected\"");
    ReceiptVerification v = VerifyReceipt(forged, HmacKeys("k"), ReceiptCheck::kIntegrityOnly);
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_TRUE(v.integrity_valid);
    EXPECT_EQ(v.check, ReceiptCheck::kIntegrityOnly);
    EXPECT_EQ(v.signature_valid, std::nullopt);
    EXPECT_FALSE(v.has_signatures);
    EXPECT_EQ(v.reason, "");

    // Signatures are not checked at all: one by an unknown key does not matter...
    ReceiptVerification other =
        VerifyReceipt(receipt.json, HmacKeys("another-key"), ReceiptCheck::kIntegrityOnly);
    EXPECT_TRUE(other.valid);
    EXPECT_TRUE(other.has_signatures);
    EXPECT_EQ(other.signature_valid, std::nullopt);
    EXPECT_TRUE(other.algorithm.empty());
    // ...but the hash still does.
    std::string tampered = Replace(forged, "Yes, with a pilot first.", "No.");
    ReceiptVerification bad = VerifyReceipt(tampered, HmacKeys("k"), ReceiptCheck::kIntegrityOnly);
    EXPECT_FALSE(bad.valid);
    EXPECT_EQ(bad.reason, "content hash mismatch");
}

TEST(ReceiptTest, MalformedReceiptsAreReported) {
    for (const char* bad :
         {"not json", "[]", "{\"receipt_id\":\"x\"}", "{\"content_hash\":\"ab\",\"signatures\":{}}",
          "{\"content_hash\":\"ab\",\"signatures\":[{\"algorithm\":1}]}",
          "{\"content_hash\":\"ab\",\"content_hash\":\"cd\"}"}) {
        ReceiptVerification v = VerifyReceipt(bad, HmacKeys("k"));
        EXPECT_FALSE(v.valid) << bad;
        EXPECT_EQ(v.reason.rfind("malformed receipt: ", 0), 0u) << bad << " -> " << v.reason;
    }
}

TEST(ReceiptTest, BuildWithoutAnyKeyIsAnError) {
    auto r = BuildSignedReceipt(SampleSpec(), SampleResult(), "rcpt_1", std::nullopt, kNow,
                                ReceiptKeys{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, common::ErrorCode::kValidation);
}

TEST(ReceiptTest, ServedReceiptHasApiFieldsAndStillVerifies) {
    SignedReceipt receipt = Build(HmacKeys("k"), common::Sha256Hex("prev"),
                                  SampleSpec(std::string(150, 'x') + std::string(100, 'y')));
    auto served = ToServedReceiptJson(receipt.json);
    ASSERT_TRUE(served.ok()) << served.error().message;
    json::object s = json::parse(*served).as_object();
    EXPECT_EQ(s.at("gauntlet_id"), "debate-deb_123");
    EXPECT_EQ(Str(s.at("checksum")), receipt.content_hash);
    EXPECT_EQ(s.at("is_signed"), true);
    EXPECT_EQ(s.at("signature_metadata").at("algorithm"), "HMAC-SHA256");
    EXPECT_EQ(Str(s.at("signature_metadata").at("key_id")), KeyId("k"));
    EXPECT_EQ(s.at("signature_metadata").at("signed_at"), "2026-11-23T18:00:00.123Z");
    EXPECT_EQ(s.at("agents_involved"), s.at("agents"));
    EXPECT_EQ(s.at("participating_agents"), s.at("agents"));
    EXPECT_EQ(s.at("dissenting_agents").as_array().size(), 1u);
    EXPECT_EQ(s.at("rounds_completed"), 2);
    EXPECT_EQ(s.at("consensus_reached"), true);
    EXPECT_NEAR(s.at("risk_score").to_number<double>(), 1.0 / 3.0, 1e-4);
    EXPECT_EQ(s.at("risk_level"), "medium");
    EXPECT_EQ(Str(s.at("input_summary")), std::string(150, 'x') + std::string(50, 'y'));
    EXPECT_EQ(s.at("created_at"), "2026-11-23T18:00:00.123Z");

    ReceiptVerification v = VerifyReceipt(*served, HmacKeys("k"));
    EXPECT_TRUE(v.valid) << v.reason;
    EXPECT_EQ(v.computed_hash, receipt.content_hash);
    // Serving twice changes nothing; format=json gives back the own JSON.
    EXPECT_EQ(*ToServedReceiptJson(*served), *served);
    EXPECT_EQ(*RenderReceipt(*served, ReceiptFormat::kJson), receipt.json);
}

TEST(ReceiptTest, HtmlEscapesEveryValue) {
    SignedReceipt receipt =
        Build(HmacKeys("k"), std::nullopt, SampleSpec("<script>alert('x')</script> & \"q\""));
    auto html = RenderReceipt(receipt.json, ReceiptFormat::kHtml);
    ASSERT_TRUE(html.ok());
    EXPECT_EQ(html->rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_EQ(html->find("<script>"), std::string::npos);
    EXPECT_NE(html->find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"),
              std::string::npos);
    EXPECT_NE(html->find("approved_with_conditions"), std::string::npos);
    EXPECT_NE(html->find(receipt.content_hash), std::string::npos);
}

TEST(ReceiptTest, MarkdownShowsVerdictQuestionAndProvenance) {
    SignedReceipt receipt = Build(HmacKeys("k"), std::nullopt, SampleSpec("Ship <b>it</b> | now?"));
    auto md = RenderReceipt(receipt.json, ReceiptFormat::kMarkdown);
    ASSERT_TRUE(md.ok());
    EXPECT_NE(md->find("# Decision receipt rcpt_1"), std::string::npos);
    EXPECT_NE(md->find("| Verdict | **approved_with_conditions** |"), std::string::npos);
    EXPECT_NE(md->find("0.67 (67%)"), std::string::npos);
    EXPECT_NE(md->find("> Ship &lt;b&gt;it&lt;/b&gt; | now?"), std::string::npos);
    EXPECT_NE(md->find("| 2 | gemini | vote | claude |"), std::string::npos);
    EXPECT_NE(md->find("**gemini**: coverage gaps; costs"), std::string::npos);
    EXPECT_NE(md->find(receipt.content_hash), std::string::npos);
    EXPECT_NE(md->find(KeyId("k")), std::string::npos);
}

TEST(ReceiptTest, RendersFailuresAndSubstitutions) {
    auto built = BuildSignedReceipt(SampleSpec(), ResultWithFailuresAndSubstitutions(), "rcpt_2",
                                    std::nullopt, kNow, HmacKeys("k"));
    ASSERT_TRUE(built.ok());
    auto md = RenderReceipt(built->json, ReceiptFormat::kMarkdown);
    ASSERT_TRUE(md.ok());
    EXPECT_NE(
        md->find("| 1 | gpt | critique | gemini | provider_error: HTTP 500 | 2 | recovered |"),
        std::string::npos)
        << *md;
    EXPECT_NE(md->find("| 2 | claude | judge | gpt | substitute_judge |"), std::string::npos);
    auto html = RenderReceipt(built->json, ReceiptFormat::kHtml);
    ASSERT_TRUE(html.ok());
    EXPECT_NE(html->find("<td>substitute_judge</td>"), std::string::npos);
    EXPECT_NE(html->find("<td>substituted</td>"), std::string::npos);
    // Without any: "None." under both headings.
    auto clean = BuildSignedReceipt(SampleSpec(), DebateResult{}, "rcpt_3", std::nullopt, kNow,
                                    HmacKeys("k"));
    ASSERT_TRUE(clean.ok());
    auto clean_md = RenderReceipt(clean->json, ReceiptFormat::kMarkdown);
    ASSERT_TRUE(clean_md.ok());
    EXPECT_NE(clean_md->find("## Substitutions\n\nNone."), std::string::npos);
}

TEST(ReceiptTest, RenderRejectsMalformedJson) {
    EXPECT_FALSE(RenderReceipt("{", ReceiptFormat::kHtml).ok());
    EXPECT_FALSE(RenderReceipt("[1]", ReceiptFormat::kMarkdown).ok());
    EXPECT_FALSE(ToServedReceiptJson("nope").ok());
}

TEST(ReceiptTest, ParsesFormats) {
    EXPECT_EQ(ParseReceiptFormat("json"), ReceiptFormat::kJson);
    EXPECT_EQ(ParseReceiptFormat("md"), ReceiptFormat::kMarkdown);
    EXPECT_EQ(ParseReceiptFormat("markdown"), ReceiptFormat::kMarkdown);
    EXPECT_EQ(ParseReceiptFormat("HTML"), ReceiptFormat::kHtml);
    EXPECT_EQ(ParseReceiptFormat("pdf"), std::nullopt);
    EXPECT_EQ(ParseReceiptFormat(""), std::nullopt);
}

// --- LoadReceiptKeys ----------------------------------------------------------------

class ReceiptKeysTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "receipt_keys_XXXXXX").string();
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    config::Settings DevSettings() const {
        config::Settings s;
        s.env = "development";
        s.production = false;
        s.storage.data_dir = (dir_ / "data").string();
        return s;
    }

    std::filesystem::path dir_;
};

TEST_F(ReceiptKeysTest, CreatesPrivateLocalKeyOnceAndReusesIt) {
    auto first = LoadReceiptKeys(DevSettings());
    ASSERT_TRUE(first.ok()) << first.error().message;
    const std::filesystem::path file = dir_ / "data" / "receipt_signing.key";
    ASSERT_TRUE(std::filesystem::exists(file));
    struct stat st {};
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto raw = common::Base64Decode(first->hmac_current);
    ASSERT_TRUE(raw.ok()) << first->hmac_current;
    EXPECT_EQ(raw->size(), 32u);
    EXPECT_FALSE(first->ed25519.has_value());

    auto second = LoadReceiptKeys(DevSettings());
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->hmac_current, first->hmac_current);
    // Only the key file is left behind (no temporary files).
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_ / "data"))
        ++entries;
    EXPECT_EQ(entries, 1u);
}

TEST_F(ReceiptKeysTest, ReadsExistingKeyFileTrimmed) {
    std::filesystem::create_directories(dir_ / "data");
    std::ofstream(dir_ / "data" / "receipt_signing.key") << "  my-dev-key\n\n";
    auto keys = LoadReceiptKeys(DevSettings());
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    EXPECT_EQ(keys->hmac_current, "my-dev-key");
}

TEST_F(ReceiptKeysTest, ConfiguredKeysWinAndNoFileIsCreated) {
    config::Settings s = DevSettings();
    s.receipts.signing_key = "env-key";
    s.receipts.signing_key_previous = "old-env-key";
    auto keys = LoadReceiptKeys(s);
    ASSERT_TRUE(keys.ok());
    EXPECT_EQ(keys->hmac_current, "env-key");
    EXPECT_EQ(keys->hmac_previous, "old-env-key");
    EXPECT_FALSE(std::filesystem::exists(dir_ / "data" / "receipt_signing.key"));
}

// Verification elsewhere (backups) must never mint a key: no key is "none", not a new one.
TEST_F(ReceiptKeysTest, LoadExistingNeverCreatesAKeyFile) {
    bool from_file = true;
    auto none = LoadExistingReceiptKeys(DevSettings(), &from_file);
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_FALSE(none->has_value());
    EXPECT_FALSE(from_file);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "data" / "receipt_signing.key"));

    std::filesystem::create_directories(dir_ / "data");
    std::ofstream(dir_ / "data" / "receipt_signing.key") << "local-key\n";
    auto local = LoadExistingReceiptKeys(DevSettings(), &from_file);
    ASSERT_TRUE(local.ok());
    ASSERT_TRUE(local->has_value());
    EXPECT_EQ((*local)->hmac_current, "local-key");
    EXPECT_TRUE(from_file);

    config::Settings s = DevSettings();
    s.receipts.signing_key = "env-key";
    auto env = LoadExistingReceiptKeys(s, &from_file);
    ASSERT_TRUE(env.ok());
    EXPECT_EQ((*env)->hmac_current, "env-key");
    EXPECT_FALSE(from_file);
}

TEST_F(ReceiptKeysTest, ProductionWithoutKeyIsAnError) {
    config::Settings s = DevSettings();
    s.env = "production";
    s.production = true;
    auto keys = LoadReceiptKeys(s);
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.error().code, common::ErrorCode::kValidation);
    EXPECT_NE(keys.error().message.find("ARAGORA_RECEIPT_SIGNING_KEY"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir_ / "data" / "receipt_signing.key"));
}

TEST_F(ReceiptKeysTest, LoadsEd25519KeyFile) {
    common::Ed25519KeyPair pair = common::Ed25519Generate();
    const auto pem_path = dir_ / "ed25519.pem";
    std::ofstream(pem_path) << common::Ed25519ToPem(pair);
    config::Settings s = DevSettings();
    s.receipts.signing_key = "k";
    s.receipts.ed25519_key_file = pem_path.string();
    auto keys = LoadReceiptKeys(s);
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    ASSERT_TRUE(keys->ed25519.has_value());
    EXPECT_EQ(keys->ed25519->public_key, pair.public_key);

    SignedReceipt receipt = Build(*keys);
    EXPECT_TRUE(VerifyReceipt(receipt.json, *keys).valid);
}

TEST_F(ReceiptKeysTest, BadOrMissingEd25519KeyFileIsAnErrorNamingIt) {
    config::Settings s = DevSettings();
    s.receipts.signing_key = "k";
    s.receipts.ed25519_key_file = (dir_ / "missing.pem").string();
    auto keys = LoadReceiptKeys(s);
    ASSERT_FALSE(keys.ok());
    EXPECT_NE(keys.error().message.find("ARAGORA_RECEIPT_ED25519_KEY_FILE"), std::string::npos);
    EXPECT_NE(keys.error().message.find("missing.pem"), std::string::npos);

    std::ofstream(dir_ / "bad.pem") << "-----BEGIN PRIVATE KEY-----\nnope\n";
    s.receipts.ed25519_key_file = (dir_ / "bad.pem").string();
    keys = LoadReceiptKeys(s);
    ASSERT_FALSE(keys.ok());
    EXPECT_NE(keys.error().message.find("ARAGORA_RECEIPT_ED25519_KEY_FILE"), std::string::npos);
    EXPECT_NE(keys.error().message.find("bad.pem"), std::string::npos);
}

}  // namespace
}  // namespace aragora::debate
