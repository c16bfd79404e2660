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

struct ReceiptKeys {
    std::string hmac_current;   // key material (the env string's bytes)
    std::string hmac_previous;  // accepted for verification only; may be empty
    std::optional<common::Ed25519KeyPair> ed25519;
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
common::Result<SignedReceipt> BuildSignedReceipt(const DebateSpec& spec, const DebateResult& result,
                                                 const std::string& receipt_id,
                                                 const std::optional<std::string>& previous_hash,
                                                 std::chrono::system_clock::time_point now,
                                                 const ReceiptKeys& keys);

struct ReceiptVerification {
    std::string receipt_id;
    bool valid = false;
    bool integrity_valid = false;
    std::optional<bool> signature_valid;  // nullopt when unsigned
    std::string computed_hash;
    std::string stored_hash;
    std::string algorithm;
    std::string key_id;
    std::string signed_at;
    std::string reason;  // empty when valid; e.g. "content hash mismatch", "unknown key"
    std::optional<std::string> previous_hash;
};

// Verifies a receipt (own JSON or as served: the served-only members are ignored).
// An HMAC signature is checked with the current or previous key, matched by key_id;
// a key_id matching neither is "unknown signing key". Ed25519 verifies with the
// embedded public key.
ReceiptVerification VerifyReceipt(std::string_view receipt_json, const ReceiptKeys& keys);

// The served-only members API.md adds (gauntlet_id, checksum, is_signed, ...).
const std::vector<std::string>& ServedOnlyReceiptFields();
// The receipt as served by the API: own JSON plus the served-only members.
common::Result<std::string> ToServedReceiptJson(std::string_view receipt_json);

enum class ReceiptFormat { kJson, kMarkdown, kHtml };
std::optional<ReceiptFormat> ParseReceiptFormat(std::string_view s);  // json, md, markdown, html
// Renders a receipt; HTML escapes every value.
common::Result<std::string> RenderReceipt(std::string_view receipt_json, ReceiptFormat format);

}  // namespace aragora::debate
