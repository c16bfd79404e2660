#include "debate/receipt.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include "common/jcs.hpp"
#include "common/json_access.hpp"
#include "common/time.hpp"

namespace aragora::debate {

namespace json = boost::json;
using common::DoubleField;
using common::ErrorCode;
using common::MakeError;
using common::StringField;
using common::StringFieldOr;

namespace {

constexpr int kSchemaVersion = 1;
constexpr std::string_view kHmacAlgorithm = "HMAC-SHA256";
constexpr std::string_view kEd25519Algorithm = "Ed25519";
constexpr std::size_t kInputSummaryChars = 200;

json::array StringArray(const std::vector<std::string>& items) {
    json::array out;
    out.reserve(items.size());
    for (const auto& s : items) out.emplace_back(s);
    return out;
}

json::object ConsensusJson(const ConsensusOutcome& c) {
    json::array dissents;
    for (const Dissent& d : c.dissents) {
        dissents.push_back(json::object{{"agent", d.agent},
                                        {"reasons", StringArray(d.reasons)},
                                        {"alternative_view", d.alternative_view}});
    }
    return json::object{{"reached", c.reached},
                        {"method", ToString(c.method)},
                        {"confidence", c.confidence},
                        {"winner", c.winner},
                        {"judge_fallback", c.judge_fallback},
                        {"supporting_agents", StringArray(c.supporting_agents)},
                        {"dissenting_agents", StringArray(c.dissenting_agents)},
                        {"dissents", std::move(dissents)}};
}

json::array ProvenanceJson(const std::vector<RoundProvenance>& rounds) {
    json::array out;
    for (const RoundProvenance& r : rounds) {
        json::array entries;
        for (const ProvenanceEntry& e : r.entries) {
            entries.push_back(json::object{{"agent", e.agent},
                                           {"phase", e.phase},
                                           {"target", e.target},
                                           {"sha256", e.sha256}});
        }
        out.push_back(json::object{{"round", r.round}, {"entries", std::move(entries)}});
    }
    return out;
}

json::array FailuresJson(const std::vector<AgentFailure>& failures) {
    json::array out;
    for (const AgentFailure& f : failures) {
        out.push_back(json::object{{"agent", f.agent},
                                   {"phase", f.phase},
                                   {"round", f.round},
                                   {"code", f.code},
                                   {"message", f.message},
                                   {"target", f.target},
                                   {"attempts", f.attempts},
                                   {"outcome", ToString(f.outcome)}});
    }
    return out;
}

json::array SubstitutionsJson(const std::vector<Substitution>& subs) {
    json::array out;
    for (const Substitution& s : subs) {
        out.push_back(json::object{{"agent", s.agent},
                                   {"replaced_by", s.replaced_by},
                                   {"phase", s.phase},
                                   {"round", s.round},
                                   {"reason", ToString(s.reason)}});
    }
    return out;
}

// Boost.JSON serializes doubles as shortest round-trip text, which the canonicalizer
// reads back exactly; the canonical bytes therefore carry the very doubles given here.
common::Result<std::string> Canonical(const json::value& v) {
    return common::CanonicalizeJson(json::serialize(v));
}

// The top-level members of a canonical JSON object ("key":value, in order), or nullopt
// when a key is not plain ASCII (escapes, non-ASCII: byte order might then differ from
// RFC 8785's UTF-16 order).
std::optional<std::vector<std::string_view>> CanonicalMembers(std::string_view object) {
    std::vector<std::string_view> members;
    if (object.size() < 2 || object.front() != '{' || object.back() != '}') return std::nullopt;
    std::size_t start = 1;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 1; i + 1 < object.size(); ++i) {
        const char c = object[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            --depth;
        } else if (c == ',' && depth == 0) {
            members.push_back(object.substr(start, i - start));
            start = i + 1;
        }
    }
    if (start + 1 < object.size())
        members.push_back(object.substr(start, object.size() - 1 - start));
    for (std::string_view m : members) {
        const std::size_t end = m.find('"', 1);
        if (m.empty() || m.front() != '"' || end == std::string_view::npos) return std::nullopt;
        for (char k : m.substr(1, end - 1)) {
            if (k == '\\' || static_cast<unsigned char>(k) >= 0x80) return std::nullopt;
        }
    }
    return members;
}

std::string_view MemberKey(std::string_view member) {
    return member.substr(1, member.find('"', 1) - 1);
}

// The canonical form of the union of two canonical objects with distinct plain-ASCII
// keys: their members merged in key order (bytes order = UTF-16 order for ASCII), without
// parsing either again. nullopt when a key is not plain ASCII.
std::optional<std::string> MergeCanonical(std::string_view a, std::string_view b) {
    auto ma = CanonicalMembers(a);
    auto mb = CanonicalMembers(b);
    if (!ma || !mb) return std::nullopt;
    std::string out;
    out.reserve(a.size() + b.size());
    out.push_back('{');
    std::size_t i = 0, j = 0;
    while (i < ma->size() || j < mb->size()) {
        std::string_view next;
        if (j == mb->size() || (i < ma->size() && MemberKey((*ma)[i]) < MemberKey((*mb)[j]))) {
            next = (*ma)[i++];
        } else {
            next = (*mb)[j++];
        }
        if (out.size() > 1) out.push_back(',');
        out.append(next);
    }
    out.push_back('}');
    return out;
}

// The first `n` code points of UTF-8 `s` (never cuts a multi-byte sequence).
std::string Utf8Prefix(std::string_view s, std::size_t n) {
    std::size_t i = 0;
    std::size_t count = 0;
    while (i < s.size() && count < n) {
        auto b = static_cast<unsigned char>(s[i]);
        std::size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
        i = std::min(s.size(), i + len);
        ++count;
    }
    return std::string(s.substr(0, i));
}

enum class SigOutcome { kVerified, kBad, kUnknown };

struct SigCheck {
    SigOutcome outcome = SigOutcome::kUnknown;
    std::string reason;
    std::string algorithm;
    std::string key_id;
    std::string signed_at;
};

// Checks one entry of `signatures` against the signed bytes. Malformed entries are
// reported through the Result.
common::Result<SigCheck> CheckSignature(const json::value& entry, std::string_view signed_bytes,
                                        const ReceiptKeys& keys) {
    if (!entry.is_object())
        return MakeError(ErrorCode::kBadRequest, "a signature is not an object");
    const json::object& sig = entry.get_object();
    const json::value* algorithm = sig.if_contains("algorithm");
    const json::value* key_id = sig.if_contains("key_id");
    const json::value* value = sig.if_contains("value");
    if (!algorithm || !algorithm->is_string() || !key_id || !key_id->is_string() || !value ||
        !value->is_string()) {
        return MakeError(ErrorCode::kBadRequest,
                         "a signature lacks a string algorithm, key_id or value");
    }
    SigCheck check;
    check.algorithm = std::string(algorithm->get_string());
    check.key_id = std::string(key_id->get_string());
    check.signed_at = StringFieldOr(sig, "signed_at");
    auto mac_or_sig = common::Base64Decode(value->get_string());

    if (check.algorithm == kHmacAlgorithm) {
        const std::string* key = keys.FindHmac(check.key_id);
        if (!key) {
            check.reason = "unknown signing key (key_id " + check.key_id + ")";
            return check;
        }
        bool good = mac_or_sig.ok() && common::ConstantTimeEqual(
                                           common::HmacSha256Raw(*key, signed_bytes), *mac_or_sig);
        check.outcome = good ? SigOutcome::kVerified : SigOutcome::kBad;
        if (!good) check.reason = "bad signature";
        return check;
    }

    if (check.algorithm == kEd25519Algorithm) {
        auto public_b64 = StringField(sig, "public_key");
        if (!public_b64)
            return MakeError(ErrorCode::kBadRequest, "an Ed25519 signature lacks public_key");
        auto public_key = common::Base64Decode(*public_b64);
        if (!public_key.ok() || public_key->size() != 32)
            return MakeError(ErrorCode::kBadRequest,
                             "an Ed25519 public_key is not base64 of 32 bytes");
        if (KeyId(*public_key) != check.key_id) {
            check.outcome = SigOutcome::kBad;
            check.reason = "bad signature (key_id does not match public_key)";
            return check;
        }
        if (!mac_or_sig.ok() || !common::Ed25519Verify(*public_key, signed_bytes, *mac_or_sig)) {
            check.outcome = SigOutcome::kBad;
            check.reason = "bad signature";
            return check;
        }
        // A valid signature only proves possession of the embedded key: anyone can make
        // one. It counts when that key is the one configured here.
        if (keys.TrustsEd25519(*public_key)) {
            check.outcome = SigOutcome::kVerified;
        } else {
            check.reason = "unknown signing key (key_id " + check.key_id + ")";
        }
        return check;
    }

    check.reason = "unsupported signature algorithm " + check.algorithm;
    return check;
}

}  // namespace

std::string KeyId(std::string_view key_bytes) { return common::Sha256Hex(key_bytes).substr(0, 16); }

const std::string* ReceiptKeys::FindHmac(std::string_view key_id) const {
    if (key_id.empty()) return nullptr;
    if (!hmac_current.empty() && KeyId(hmac_current) == key_id) return &hmac_current;
    if (!hmac_previous.empty() && KeyId(hmac_previous) == key_id) return &hmac_previous;
    for (const std::string& key : hmac_retired) {
        if (!key.empty() && KeyId(key) == key_id) return &key;
    }
    return nullptr;
}

bool ReceiptKeys::TrustsEd25519(std::string_view public_key) const {
    if (public_key.size() != 32) return false;
    if (ed25519 && ed25519->public_key == public_key) return true;
    for (const std::string& key : ed25519_retired) {
        if (key == public_key) return true;
    }
    return false;
}

const std::vector<std::string>& ServedOnlyReceiptFields() {
    static const std::vector<std::string> kFields = {
        "gauntlet_id",        "checksum",         "is_signed",
        "signature_metadata", "agents_involved",  "participating_agents",
        "dissenting_agents",  "rounds_completed", "consensus_reached",
        "risk_level",         "risk_score",       "input_summary",
        "created_at",
    };
    return kFields;
}

common::Result<SignedReceipt> BuildSignedReceipt(const DebateSpec& spec, const DebateResult& result,
                                                 const std::string& receipt_id,
                                                 const std::optional<std::string>& previous_hash,
                                                 std::chrono::system_clock::time_point now,
                                                 const ReceiptKeys& keys) {
    const bool sign_ed25519 = keys.ed25519.has_value();
    if (keys.hmac_current.empty() && !sign_ed25519)
        return MakeError(ErrorCode::kValidation, "no receipt signing key configured");
    if (sign_ed25519 && keys.ed25519->private_seed.size() != 32)
        return MakeError(ErrorCode::kValidation, "the Ed25519 receipt key has no private key");
    if (!std::isfinite(result.confidence) || !std::isfinite(result.consensus.confidence))
        return MakeError(ErrorCode::kInternal, "debate confidence is not a finite number");

    const std::string timestamp = common::FormatIso8601(now);
    json::value error = nullptr;
    if (!result.error_code.empty() || !result.error_message.empty())
        error = json::object{{"code", result.error_code}, {"message", result.error_message}};

    json::object receipt{
        {"schema_version", kSchemaVersion},
        {"receipt_id", receipt_id},
        {"debate_id", spec.id},
        {"question", spec.task},
        {"input_hash", common::Sha256Hex(spec.task)},
        {"status", ToString(result.status)},
        {"error", std::move(error)},
        {"verdict", result.verdict},
        {"confidence", result.confidence},
        {"consensus", ConsensusJson(result.consensus)},
        {"agents", StringArray(spec.agents)},
        {"rounds_used", result.rounds_used},
        {"final_answer", result.consensus.final_answer},
        {"provenance", ProvenanceJson(result.provenance)},
        {"trickster_interventions", result.trickster_interventions},
        {"agent_failures", FailuresJson(result.failures)},
        {"substitutions", SubstitutionsJson(result.substitutions)},
        {"timestamp", timestamp},
        {"previous_hash", previous_hash ? json::value(*previous_hash) : json::value(nullptr)},
    };

    auto signed_bytes = Canonical(receipt);
    if (!signed_bytes) return signed_bytes.error();
    const std::string content_hash = common::Sha256Hex(*signed_bytes);

    json::array signatures;
    if (!keys.hmac_current.empty()) {
        signatures.push_back(json::object{{"algorithm", kHmacAlgorithm},
                                          {"key_id", KeyId(keys.hmac_current)},
                                          {"value", common::Base64Encode(common::HmacSha256Raw(
                                                        keys.hmac_current, *signed_bytes))},
                                          {"signed_at", timestamp}});
    }
    if (sign_ed25519) {
        signatures.push_back(json::object{
            {"algorithm", kEd25519Algorithm},
            {"key_id", KeyId(keys.ed25519->public_key)},
            {"value", common::Base64Encode(common::Ed25519Sign(*keys.ed25519, *signed_bytes))},
            {"signed_at", timestamp},
            {"public_key", common::Base64Encode(keys.ed25519->public_key)}});
    }
    // The signed bytes are already canonical: only the two new members are canonicalized,
    // then merged in (the same bytes as canonicalizing the whole receipt again).
    json::object seal{{"content_hash", content_hash}, {"signatures", std::move(signatures)}};
    auto seal_bytes = Canonical(seal);
    if (!seal_bytes) return seal_bytes.error();
    if (auto merged = MergeCanonical(*signed_bytes, *seal_bytes)) {
        return SignedReceipt{receipt_id, content_hash, std::move(*merged)};
    }
    receipt["content_hash"] = content_hash;
    receipt["signatures"] = std::move(seal["signatures"]);
    auto full = Canonical(receipt);
    if (!full) return full.error();
    return SignedReceipt{receipt_id, content_hash, std::move(*full)};
}

ReceiptVerification VerifyReceipt(std::string_view receipt_json, const ReceiptKeys& keys,
                                  ReceiptCheck check) {
    ReceiptVerification v;
    v.check = check;
    auto malformed = [&v](std::string detail) {
        v.valid = false;
        v.integrity_valid = false;
        v.reason = "malformed receipt: " + detail;
        return v;
    };

    // The exact canonicalizer validates first (duplicate keys, numbers); Boost.JSON then
    // only reads strings and structure out of its output.
    auto canonical = common::CanonicalizeJson(receipt_json);
    if (!canonical) return malformed(canonical.error().message);
    json::error_code ec;
    json::value parsed = json::parse(*canonical, ec);
    if (ec) return malformed(ec.message());
    if (!parsed.is_object()) return malformed("not a JSON object");
    const json::object& receipt = parsed.get_object();

    v.receipt_id = StringFieldOr(receipt, "receipt_id");
    v.previous_hash = StringField(receipt, "previous_hash");
    auto stored = StringField(receipt, "content_hash");
    if (!stored) return malformed("content_hash is missing or not a string");
    v.stored_hash = *stored;

    std::vector<std::string> omit = ServedOnlyReceiptFields();
    omit.push_back("content_hash");
    omit.push_back("signatures");
    auto signed_bytes = common::CanonicalizeJsonObjectWithout(*canonical, omit);
    if (!signed_bytes) return malformed(signed_bytes.error().message);
    v.computed_hash = common::Sha256Hex(*signed_bytes);
    v.integrity_valid = v.computed_hash == v.stored_hash;

    const json::value* sigs = receipt.if_contains("signatures");
    std::vector<SigCheck> checks;
    if (sigs && !sigs->is_null()) {
        if (!sigs->is_array()) return malformed("signatures is not an array");
        v.has_signatures = !sigs->get_array().empty();
    }
    if (check == ReceiptCheck::kIntegrityOnly) {
        v.valid = v.integrity_valid;
        if (!v.integrity_valid) v.reason = "content hash mismatch";
        return v;
    }
    if (v.has_signatures) {
        for (const json::value& entry : sigs->get_array()) {
            auto sig = CheckSignature(entry, *signed_bytes, keys);
            if (!sig) {
                v.valid = false;
                v.signature_valid = false;
                v.reason = "malformed receipt: " + sig.error().message;
                return v;
            }
            checks.push_back(std::move(*sig));
        }
    }

    std::string signature_reason;
    if (!checks.empty()) {
        auto first_with = [&checks](SigOutcome o) {
            return std::find_if(checks.begin(), checks.end(),
                                [o](const SigCheck& c) { return c.outcome == o; });
        };
        auto decisive = first_with(SigOutcome::kBad);
        if (decisive == checks.end()) decisive = first_with(SigOutcome::kVerified);
        if (decisive == checks.end()) decisive = checks.begin();
        v.signature_valid = decisive->outcome == SigOutcome::kVerified;
        v.algorithm = decisive->algorithm;
        v.key_id = decisive->key_id;
        v.signed_at = decisive->signed_at;
        signature_reason = decisive->reason;
    }

    v.valid = v.integrity_valid && v.signature_valid == true;
    if (!v.integrity_valid) {
        v.reason = "content hash mismatch";
    } else if (!v.signature_valid.has_value()) {
        v.reason = std::string(kUnsignedReason);
    } else if (v.signature_valid == false) {
        v.reason = signature_reason;
    }
    return v;
}

common::Result<std::string> ToServedReceiptJson(std::string_view receipt_json) {
    // The receipt's own members are copied as canonical text, never through Boost's
    // number parser, so that the served receipt still verifies.
    auto own = common::CanonicalizeJsonObjectWithout(receipt_json, ServedOnlyReceiptFields());
    if (!own) return own.error();
    json::error_code ec;
    json::value parsed = json::parse(*own, ec);
    if (ec || !parsed.is_object())
        return MakeError(ErrorCode::kBadRequest, "invalid receipt: " + ec.message());
    const json::object& receipt = parsed.get_object();

    const json::value* sigs = receipt.if_contains("signatures");
    const bool is_signed = sigs && sigs->is_array() && !sigs->get_array().empty();
    json::value signature_metadata = nullptr;
    if (is_signed && sigs->get_array()[0].is_object()) {
        const json::object& first = sigs->get_array()[0].get_object();
        signature_metadata = json::object{{"algorithm", StringFieldOr(first, "algorithm")},
                                          {"key_id", StringFieldOr(first, "key_id")},
                                          {"signed_at", StringFieldOr(first, "signed_at")}};
    }

    const json::value* consensus_v = receipt.if_contains("consensus");
    const json::object empty;
    const json::object& consensus =
        consensus_v && consensus_v->is_object() ? consensus_v->get_object() : empty;
    const json::value* agents = receipt.if_contains("agents");
    const json::value* dissenting = consensus.if_contains("dissenting_agents");
    const json::value* reached = consensus.if_contains("reached");

    // risk_score = 1 - confidence (4 decimals); low up to 0.3, medium up to 0.6, else high.
    double confidence = DoubleField(receipt, "confidence").value_or(0.0);
    double risk = std::clamp(1.0 - confidence, 0.0, 1.0);
    risk = std::round(risk * 10000.0) / 10000.0;
    std::string_view risk_level = risk <= 0.3 ? "low" : risk <= 0.6 ? "medium" : "high";

    json::object served{
        {"gauntlet_id", "debate-" + StringFieldOr(receipt, "debate_id")},
        {"checksum", StringFieldOr(receipt, "content_hash")},
        {"is_signed", is_signed},
        {"signature_metadata", std::move(signature_metadata)},
        {"agents_involved", agents && agents->is_array() ? *agents : json::array{}},
        {"participating_agents", agents && agents->is_array() ? *agents : json::array{}},
        {"dissenting_agents",
         dissenting && dissenting->is_array() ? *dissenting : json::value(json::array{})},
        {"rounds_completed", DoubleField(receipt, "rounds_used").value_or(0.0)},
        {"consensus_reached", reached && reached->is_bool() ? reached->get_bool() : false},
        {"risk_level", risk_level},
        {"risk_score", risk},
        {"input_summary", Utf8Prefix(StringFieldOr(receipt, "question"), kInputSummaryChars)},
        {"created_at", StringFieldOr(receipt, "timestamp")},
    };
    std::string extra = json::serialize(served);
    std::string combined = *own;
    combined.pop_back();  // '}'
    if (combined.size() > 1) combined.push_back(',');
    combined.append(extra, 1);
    return common::CanonicalizeJson(combined);
}

}  // namespace aragora::debate
