#include "debate/receipt_keyring.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "common/crypto.hpp"
#include "common/json_text.hpp"

namespace aragora::debate {

namespace json = boost::json;

namespace {

int StateRank(ReceiptKeyState s) { return static_cast<int>(s); }

ReceiptKeyInfo* Find(std::vector<ReceiptKeyInfo>& entries, const std::string& key_id) {
    for (auto& e : entries) {
        if (e.key_id == key_id) return &e;
    }
    return nullptr;
}

// Adds (or upgrades) the entry of a configured key.
void AddConfigured(ReceiptKeyring& ring, const std::string& key_id, std::string_view algorithm,
                   ReceiptKeyState state, std::string public_key_b64) {
    if (ReceiptKeyInfo* e = Find(ring.entries, key_id)) {
        if (StateRank(state) < StateRank(e->state)) e->state = state;
        return;
    }
    ReceiptKeyInfo e;
    e.key_id = key_id;
    e.algorithm = std::string(algorithm);
    e.state = state;
    e.public_key = std::move(public_key_b64);
    e.verifiable = true;
    e.configured = true;
    ring.entries.push_back(std::move(e));
}

void SortEntries(std::vector<ReceiptKeyInfo>& entries) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const ReceiptKeyInfo& a, const ReceiptKeyInfo& b) {
                         return StateRank(a.state) < StateRank(b.state);
                     });
}

json::value OrNull(const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
}

}  // namespace

std::string_view ReceiptKeyStateName(ReceiptKeyState state) {
    switch (state) {
        case ReceiptKeyState::kCurrent:
            return "current";
        case ReceiptKeyState::kPrevious:
            return "previous";
        case ReceiptKeyState::kRetired:
            return "retired";
    }
    return "retired";
}

ReceiptKeyring DescribeConfiguredKeys(const ReceiptKeys& configured) {
    ReceiptKeyring ring;
    ring.keys = configured;
    if (!configured.hmac_current.empty()) {
        AddConfigured(ring, KeyId(configured.hmac_current), kHmacKeyAlgorithm,
                      ReceiptKeyState::kCurrent, "");
    }
    if (configured.ed25519) {
        AddConfigured(ring, KeyId(configured.ed25519->public_key), kEd25519KeyAlgorithm,
                      ReceiptKeyState::kCurrent,
                      common::Base64Encode(configured.ed25519->public_key));
    }
    if (!configured.hmac_previous.empty()) {
        AddConfigured(ring, KeyId(configured.hmac_previous), kHmacKeyAlgorithm,
                      ReceiptKeyState::kPrevious, "");
    }
    for (const std::string& key : configured.hmac_retired) {
        if (!key.empty())
            AddConfigured(ring, KeyId(key), kHmacKeyAlgorithm, ReceiptKeyState::kRetired, "");
    }
    for (const std::string& pub : configured.ed25519_retired) {
        if (pub.size() == 32) {
            AddConfigured(ring, KeyId(pub), kEd25519KeyAlgorithm, ReceiptKeyState::kRetired,
                          common::Base64Encode(pub));
        }
    }
    SortEntries(ring.entries);
    return ring;
}

common::Result<ReceiptKeyring> SyncReceiptKeyring(storage::Store& store, ReceiptKeys configured,
                                                  const KeyringSyncOptions& options) {
    ReceiptKeyring ring = DescribeConfiguredKeys(configured);
    auto stored = store.ListReceiptKeys();
    if (!stored) return stored.error();
    std::map<std::string, const storage::ReceiptKeyRow*> by_id;
    for (const auto& row : *stored) by_id[row.key_id] = &row;

    // The secret of each configured HMAC key, by key id (to seal it).
    std::map<std::string, const std::string*> hmac_secret;
    if (!configured.hmac_current.empty())
        hmac_secret[KeyId(configured.hmac_current)] = &configured.hmac_current;
    if (!configured.hmac_previous.empty())
        hmac_secret[KeyId(configured.hmac_previous)] = &configured.hmac_previous;
    for (const std::string& key : configured.hmac_retired) {
        if (!key.empty()) hmac_secret.emplace(KeyId(key), &key);
    }

    bool any_hmac = false;
    for (ReceiptKeyInfo& e : ring.entries) {
        auto it = by_id.find(e.key_id);
        const storage::ReceiptKeyRow* row = it == by_id.end() ? nullptr : it->second;
        storage::ReceiptKeyRow record;
        record.key_id = e.key_id;
        record.algorithm = e.algorithm;
        record.public_key = e.public_key;
        record.first_seen_at = options.now;
        // A key that signs now was seen now; a previous/retired one when it last signed.
        record.last_seen_at =
            e.state == ReceiptKeyState::kCurrent || !row ? options.now : row->last_seen_at;
        record.retired_at = e.state == ReceiptKeyState::kCurrent
                                ? std::string()
                                : (row && !row->retired_at.empty() ? row->retired_at : options.now);
        if (e.algorithm == kHmacKeyAlgorithm) {
            any_hmac = true;
            if (options.cipher) {
                auto sealed = options.cipher->Seal(*hmac_secret.at(e.key_id),
                                                   storage::ReceiptKeySealAad(e.key_id));
                if (sealed) {
                    record.sealed_secret = std::move(*sealed);
                } else {
                    ring.warnings.push_back("receipt key " + e.key_id +
                                            ": cannot seal it for the store (" +
                                            sealed.error().message + ")");
                }
            }
        }
        e.stored = row != nullptr || options.write;
        e.secret_kept = (row && !row->sealed_secret.empty()) || !record.sealed_secret.empty();
        if (row) {
            e.first_seen_at = std::min(row->first_seen_at, record.first_seen_at);
            e.last_seen_at = std::max(row->last_seen_at, record.last_seen_at);
        } else if (options.write) {
            e.first_seen_at = record.first_seen_at;
            e.last_seen_at = record.last_seen_at;
        }
        if (options.write || row) e.retired_at = record.retired_at;
        if (options.write) {
            if (auto s = store.RecordReceiptKey(record); !s) return s.error();
        }
    }

    // Stored keys no longer configured: retired; usable again from the store.
    for (const auto& row : *stored) {
        if (Find(ring.entries, row.key_id)) continue;
        ReceiptKeyInfo e;
        e.key_id = row.key_id;
        e.algorithm = row.algorithm;
        e.state = ReceiptKeyState::kRetired;
        e.public_key = row.public_key;
        e.stored = true;
        e.secret_kept = !row.sealed_secret.empty();
        e.first_seen_at = row.first_seen_at;
        e.last_seen_at = row.last_seen_at;
        e.retired_at = row.retired_at;
        if (row.retired_at.empty()) {
            e.retired_at = options.now;
            e.last_seen_at = std::max(row.last_seen_at, options.now);
            if (options.write) {
                storage::ReceiptKeyRow retire = row;
                retire.sealed_secret.clear();  // keep the stored one
                retire.public_key.clear();
                retire.retired_at = e.retired_at;
                retire.last_seen_at = e.last_seen_at;
                if (auto s = store.RecordReceiptKey(retire); !s) return s.error();
            }
        }
        if (row.algorithm == kEd25519KeyAlgorithm) {
            auto pub = common::Base64Decode(row.public_key);
            if (pub.ok() && pub->size() == 32 && KeyId(*pub) == row.key_id) {
                ring.keys.ed25519_retired.push_back(std::move(*pub));
                e.verifiable = true;
            } else {
                ring.warnings.push_back("receipt key " + row.key_id +
                                        ": the stored Ed25519 public key does not match its id");
            }
        } else if (!row.sealed_secret.empty() && options.cipher) {
            auto opened =
                options.cipher->Open(row.sealed_secret, storage::ReceiptKeySealAad(row.key_id));
            if (opened && KeyId(*opened) == row.key_id) {
                ring.keys.hmac_retired.push_back(std::move(*opened));
                e.verifiable = true;
            } else {
                ring.warnings.push_back(
                    "receipt key " + row.key_id + ": its sealed copy in the store does not open (" +
                    (opened ? std::string("key id mismatch") : opened.error().message) +
                    "); list it in ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED");
            }
        } else if (!row.sealed_secret.empty()) {
            ring.warnings.push_back("receipt key " + row.key_id +
                                    ": its sealed copy needs ARAGORA_ENCRYPTION_KEY; list it in "
                                    "ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED meanwhile");
        } else {
            ring.warnings.push_back(
                "receipt key " + row.key_id +
                ": retired HMAC key not kept (no ARAGORA_ENCRYPTION_KEY when it was in use); "
                "receipts signed with it verify only when it is listed in "
                "ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED");
        }
        ring.entries.push_back(std::move(e));
    }
    if (any_hmac && !options.cipher && options.write) {
        ring.warnings.insert(ring.warnings.begin(),
                             "no master key (ARAGORA_ENCRYPTION_KEY): receipt HMAC keys are not "
                             "kept in the database; keep every retired HMAC key in "
                             "ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED");
    }
    SortEntries(ring.entries);
    return ring;
}

common::Result<keys::ReEncryptBatch> ReceiptKeyReEncryptTarget::ReEncrypt(
    const keys::FieldCipher& cipher, std::string_view after_cursor, int limit) {
    auto rows = store_.ListReceiptKeys();
    if (!rows) return rows.error();
    std::vector<storage::ReceiptKeyRow> sealed;
    for (auto& row : *rows) {
        if (!row.sealed_secret.empty() && row.key_id > after_cursor) sealed.push_back(row);
    }
    std::sort(sealed.begin(), sealed.end(),
              [](const auto& a, const auto& b) { return a.key_id < b.key_id; });
    keys::ReEncryptBatch batch;
    const keys::KeyRef current = cipher.Current();
    std::size_t i = 0;
    for (; i < sealed.size() && static_cast<int>(i) < std::max(limit, 1); ++i) {
        storage::ReceiptKeyRow& row = sealed[i];
        batch.next_cursor = row.key_id;
        auto under = cipher.KeyOf(row.sealed_secret);
        if (under && *under == current) {
            ++batch.skipped;
            continue;
        }
        const std::string aad = storage::ReceiptKeySealAad(row.key_id);
        auto plain = cipher.Open(row.sealed_secret, aad);
        if (!plain) return plain.error();
        auto resealed = cipher.Seal(*plain, aad);
        if (!resealed) return resealed.error();
        row.sealed_secret = std::move(*resealed);
        row.public_key.clear();
        if (auto s = store_.RecordReceiptKey(row); !s) return s.error();
        ++batch.rewritten;
    }
    batch.done = i >= sealed.size();
    return batch;
}

common::Result<std::int64_t> ReceiptKeyReEncryptTarget::CountNotUnder(const keys::KeyRef& current) {
    auto rows = store_.ListReceiptKeys();
    if (!rows) return rows.error();
    std::int64_t n = 0;
    for (const auto& row : *rows) {
        if (row.sealed_secret.empty()) continue;
        // Unknown (no cipher, or not an envelope it reads): counted as still old.
        auto under = cipher_ ? cipher_->KeyOf(row.sealed_secret)
                             : common::Result<keys::KeyRef>(
                                   common::MakeError(common::ErrorCode::kNotFound, "no cipher"));
        if (!under || !(*under == current)) ++n;
    }
    return n;
}

std::string Ed25519PublicKeyPem(std::string_view public_key32) {
    // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING key }.
    static const std::string kPrefix("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);
    const std::string b64 = common::Base64Encode(kPrefix + std::string(public_key32));
    std::string pem = "-----BEGIN PUBLIC KEY-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
    pem += "-----END PUBLIC KEY-----\n";
    return pem;
}

std::string PublishedReceiptKeysJson(const ReceiptKeyring& keyring) {
    json::array keys;
    for (const ReceiptKeyInfo& e : keyring.entries) {
        if (e.algorithm != kEd25519KeyAlgorithm || !e.verifiable) continue;
        auto pub = common::Base64Decode(e.public_key);
        if (!pub.ok()) continue;
        keys.push_back(json::object{{"key_id", e.key_id},
                                    {"algorithm", "Ed25519"},
                                    {"state", ReceiptKeyStateName(e.state)},
                                    {"public_key", e.public_key},
                                    {"public_key_pem", Ed25519PublicKeyPem(*pub)},
                                    {"first_seen_at", OrNull(e.first_seen_at)},
                                    {"last_seen_at", OrNull(e.last_seen_at)},
                                    {"retired_at", OrNull(e.retired_at)}});
    }
    json::object doc{
        {"keys", std::move(keys)},
        {"key_id", "first 16 hex characters of SHA-256 of the 32-byte public key"},
        {"signed_bytes",
         "RFC 8785 JCS of the receipt without content_hash, signatures and the served-only "
         "members (docs/receipts.md)"}};
    return common::SerializeJson(doc);
}

std::string KeyringListJson(const ReceiptKeyring& keyring) {
    json::array keys;
    for (const ReceiptKeyInfo& e : keyring.entries) {
        keys.push_back(json::object{{"key_id", e.key_id},
                                    {"algorithm", e.algorithm},
                                    {"state", ReceiptKeyStateName(e.state)},
                                    {"verifiable", e.verifiable},
                                    {"configured", e.configured},
                                    {"stored", e.stored},
                                    {"secret_kept", e.secret_kept},
                                    {"public_key", OrNull(e.public_key)},
                                    {"first_seen_at", OrNull(e.first_seen_at)},
                                    {"last_seen_at", OrNull(e.last_seen_at)},
                                    {"retired_at", OrNull(e.retired_at)}});
    }
    json::array warnings;
    for (const auto& w : keyring.warnings) warnings.push_back(json::value(w));
    return common::SerializeJson(
        json::object{{"keys", std::move(keys)}, {"warnings", std::move(warnings)}});
}

}  // namespace aragora::debate
