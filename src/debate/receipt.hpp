#pragma once

// Decision receipts (DEBATE.md "Decision receipts"; docs/receipts.md):
// signed bytes = RFC 8785 JCS of the receipt without `content_hash` and `signatures`
// (and without the served-only members of API.md); content_hash = hex SHA-256 of them;
// signatures = HMAC-SHA256 (and optionally Ed25519) over the same bytes.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.hpp"
#include "common/result.hpp"
#include "debate/types.hpp"

namespace aragora::debate {

// The receipt keyring: every key a receipt of this installation may be signed with,
// looked up by the receipt's key_id (KeyId of the key: stable, derived from the key).
struct ReceiptKeys {
    std::string hmac_current;   // key material (the env string's bytes)
    std::string hmac_previous;  // accepted for verification only; may be empty
    // Retired HMAC keys (ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED and the keys the store
    // kept sealed): accepted for verification only.
    std::vector<std::string> hmac_retired;
    // Signs when private_seed is set; for verification only public_key is needed (the
    // Ed25519 key this installation trusts).
    std::optional<common::Ed25519KeyPair> ed25519;
    // Public keys (32 raw bytes) of retired Ed25519 keys this installation still trusts
    // for verification (kept in the store when the signing key changed).
    std::vector<std::string> ed25519_retired;

    // The HMAC key whose KeyId is `key_id` (current, previous, then retired); nullptr
    // when none is.
    const std::string* FindHmac(std::string_view key_id) const;
    // Whether `public_key` (32 raw bytes) is a trusted Ed25519 key (current or retired).
    bool TrustsEd25519(std::string_view public_key) const;
};

// First 16 lowercase hex chars of SHA-256 of the key bytes (public key for Ed25519).
std::string KeyId(std::string_view key_bytes);

struct SignedReceipt {
    std::string receipt_id;
    std::string content_hash;
    std::string json;  // the whole receipt object (with content_hash and signatures)
};

// Builds and signs the receipt of a finished debate. `previous_hash` is the
// content_hash of this installation's previous receipt (nullopt for the first).
// Signs with HMAC-SHA256 when keys.hmac_current is set and with Ed25519 when
// keys.ed25519 is set; kValidation when neither is (or the Ed25519 key has no private
// part), kInternal for a non-finite confidence. `json` is the canonical (JCS) text of
// the whole receipt; `now` is both `timestamp` and each `signed_at`.
common::Result<SignedReceipt> BuildSignedReceipt(const DebateSpec& spec, const DebateResult& result,
                                                 const std::string& receipt_id,
                                                 const std::optional<std::string>& previous_hash,
                                                 std::chrono::system_clock::time_point now,
                                                 const ReceiptKeys& keys);

// What VerifyReceipt checks. kFull: the content hash and a signature by a key this
// installation trusts (an unsigned receipt is invalid). kIntegrityOnly: the content hash
// alone, which anyone can recompute after editing a receipt: it shows the receipt is
// self-consistent, never who made it; asked for explicitly (`--integrity-only`,
// "integrity_only": true) and labelled as such in every output.
enum class ReceiptCheck { kFull, kIntegrityOnly };

// The reason of a receipt with no signature at all (kFull).
inline constexpr std::string_view kUnsignedReason = "unsigned";

struct ReceiptVerification {
    std::string receipt_id;
    ReceiptCheck check = ReceiptCheck::kFull;
    bool valid = false;
    bool integrity_valid = false;
    // Whether the receipt carries at least one signature (checked or not).
    bool has_signatures = false;
    // nullopt when unsigned, and always with kIntegrityOnly (nothing was checked).
    std::optional<bool> signature_valid;
    std::string computed_hash;
    std::string stored_hash;
    std::string algorithm;
    std::string key_id;
    std::string signed_at;
    // Empty when valid; else one of "malformed receipt: <detail>", "content hash
    // mismatch", "unsigned" (kUnsignedReason), "bad signature[ (<detail>)]", "unknown
    // signing key (key_id <id>)", "unsupported signature algorithm <name>".
    std::string reason;
    std::optional<std::string> previous_hash;
};

// Verifies a receipt (own JSON or as served: the served-only members are ignored).
// integrity_valid: SHA-256 of the signed bytes equals the stored content_hash.
// Each signature is checked over the signed bytes: HMAC with the keyring's key matched
// by key_id (current, previous or retired: ReceiptKeys::FindHmac; a key_id matching
// none is "unknown signing key (key_id <id>)"); Ed25519 with the embedded public_key,
// whose KeyId must equal key_id, and which counts only when the keyring trusts it
// (ReceiptKeys::TrustsEd25519: anyone can sign with a key of their own), else
// "unknown signing key". signature_valid: false when any signature fails, else true
// when at least one verified, else false (unknown keys only); nullopt when the receipt
// has no signatures (none, null or an empty array). valid = integrity_valid and
// signature_valid == true: an unsigned receipt is invalid with reason "unsigned" (anyone
// can edit a receipt, recompute its hash and drop the signatures). algorithm/key_id/
// signed_at describe the deciding signature (the failing one, else the first verified).
// With ReceiptCheck::kIntegrityOnly no signature is checked: valid = integrity_valid,
// signature_valid nullopt. "content hash mismatch" wins over any other reason. Never
// throws on bad input.
ReceiptVerification VerifyReceipt(std::string_view receipt_json, const ReceiptKeys& keys,
                                  ReceiptCheck check = ReceiptCheck::kFull);

// The served-only members API.md adds (gauntlet_id, checksum, is_signed, ...).
const std::vector<std::string>& ServedOnlyReceiptFields();
// The receipt as served by the API: own JSON plus the served-only members (canonical
// text; the own members are copied exactly so the result verifies). risk_score =
// 1 - confidence clamped to [0, 1] and rounded to 4 decimals; risk_level "low" up to
// 0.3, "medium" up to 0.6, else "high". input_summary = first 200 code points of the
// question. kBadRequest on malformed JSON or a non-object.
common::Result<std::string> ToServedReceiptJson(std::string_view receipt_json);

enum class ReceiptFormat { kJson, kMarkdown, kHtml };
std::optional<ReceiptFormat> ParseReceiptFormat(std::string_view s);  // json, md, markdown, html
// Renders a receipt (own JSON or served). kJson: the own JSON, canonical, without the
// served-only members. kMarkdown: a document with HTML metacharacters of every value
// turned into entities. kHtml: a standalone page; every value is HTML-escaped.
// kBadRequest on malformed JSON or a non-object.
common::Result<std::string> RenderReceipt(std::string_view receipt_json, ReceiptFormat format);

}  // namespace aragora::debate
