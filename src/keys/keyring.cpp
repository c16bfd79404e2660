#include "keys/keyring.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <utility>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"
#include "keys/envelope.hpp"

namespace aragora::keys {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

std::string Name(const KeyRef& r) { return r.key_id + " v" + std::to_string(r.version); }

std::string WrapAad(const std::string& key_id, std::int64_t version) {
    return "aragora-data-key:" + key_id + ":v" + std::to_string(version);
}

const KeyRef kMasterRef{kMasterKeyId, 1};

}  // namespace

Keyring::Keyring(storage::KeyStore& store, std::string master_key, const common::Clock& clock,
                 KeyMetrics& metrics, std::string key_id)
    : store_(store),
      master_(std::move(master_key)),
      clock_(clock),
      metrics_(metrics),
      key_id_(std::move(key_id)) {}

Keyring::~Keyring() {
    Wipe(master_);
    for (auto& [v, k] : keys_) Wipe(k.material);
}

Result<std::unique_ptr<Keyring>> Keyring::Load(storage::KeyStore& store, std::string master_key,
                                               const common::Clock& clock, KeyMetrics& metrics,
                                               std::string key_id) {
    if (master_key.size() != kKeyBytes) {
        Wipe(master_key);
        return MakeError(ErrorCode::kValidation, "the master key must be 32 bytes");
    }
    std::unique_ptr<Keyring> ring(
        new Keyring(store, std::move(master_key), clock, metrics, std::move(key_id)));
    std::unique_lock lock(ring->mu_);
    if (auto s = ring->ReloadLocked(); !s) return s.error();
    if (ring->active_ != 0) return ring;

    // First start: data key v1.
    std::string material = common::RandomBytes(kKeyBytes);
    auto wrapped = SealWithKey(kMasterRef, ring->master_, material, WrapAad(ring->key_id_, 1));
    Wipe(material);
    if (!wrapped) return wrapped.error();
    const std::string now = common::FormatIso8601(clock.SystemNow());
    storage::DataKeyRecord r;
    r.key_id = ring->key_id_;
    r.version = 1;
    r.wrapped = *wrapped;
    r.state = storage::kDataKeyActive;
    r.created_at = now;
    r.activated_at = now;
    auto inserted = store.InsertDataKey(r);
    if (!inserted && inserted.error().code != ErrorCode::kConflict) return inserted.error();
    // kConflict: another instance created it first; read theirs.
    if (auto s = ring->ReloadLocked(); !s) return s.error();
    if (ring->active_ == 0) {
        return MakeError(ErrorCode::kStorage,
                         "no active data key " + ring->key_id_ + " after creating one");
    }
    common::GetLogger("aragora.keys")
        ->info("created data key {} v1 (wrapped under ARAGORA_ENCRYPTION_KEY)", ring->key_id_);
    return ring;
}

Status Keyring::ReloadLocked() {
    auto records = store_.ListDataKeys();
    if (!records) return records.error();
    std::map<std::uint32_t, Loaded> next;
    std::uint32_t active = 0;
    for (auto& r : *records) {
        if (r.key_id != key_id_) continue;
        const auto version = static_cast<std::uint32_t>(r.version);
        Loaded l;
        l.record = r;
        if (r.state != storage::kDataKeyExpired) {
            auto it = keys_.find(version);
            if (it != keys_.end() && !it->second.material.empty() &&
                it->second.record.wrapped == r.wrapped) {
                l.material = it->second.material;
            } else {
                auto env = FromSealedText(r.wrapped);
                if (!env) return env.error();
                auto material = AesGcmDecrypt(master_, env->nonce, env->ciphertext,
                                              WrapAad(r.key_id, r.version));
                if (!material || material->size() != kKeyBytes) {
                    for (auto& [v, k] : next) Wipe(k.material);
                    return MakeError(ErrorCode::kCrypto,
                                     "ARAGORA_ENCRYPTION_KEY does not open data key " + r.key_id +
                                         " v" + std::to_string(r.version) + " (wrong key?)",
                                     "ARAGORA_ENCRYPTION_KEY");
                }
                l.material = std::move(*material);
            }
        }
        if (r.state == storage::kDataKeyActive && version > active) active = version;
        next.emplace(version, std::move(l));
    }
    for (auto& [v, k] : keys_) Wipe(k.material);
    keys_ = std::move(next);
    active_ = active;
    if (active_ != 0) {
        metrics_.KeyAgeDays(key_id_).Set(InfoOf(keys_.at(active_).record).age_days);
    }
    return {};
}

Status Keyring::Reload() {
    std::unique_lock lock(mu_);
    return ReloadLocked();
}

common::Error Keyring::Count(const char* reason, common::Error e) const {
    metrics_.Errors(reason).Inc();
    return e;
}

Result<std::string> Keyring::Seal(std::string_view plaintext,
                                  std::string_view associated_data) const {
    std::shared_lock lock(mu_);
    auto it = keys_.find(active_);
    if (it == keys_.end() || it->second.material.empty()) {
        return MakeError(ErrorCode::kUnavailable, "no active data key " + key_id_);
    }
    return SealWithKey(KeyRef{key_id_, active_}, it->second.material, plaintext, associated_data);
}

Result<std::string> Keyring::Open(std::string_view sealed, std::string_view associated_data) const {
    auto env = FromSealedText(sealed);
    if (!env) return Count("malformed", env.error());
    std::shared_lock lock(mu_);
    auto it = env->key.key_id == key_id_ ? keys_.find(env->key.version) : keys_.end();
    if (it == keys_.end()) {
        return Count(
            "unknown_key",
            common::Error{ErrorCode::kNotFound, "unknown encryption key " + Name(env->key), {}});
    }
    if (it->second.material.empty()) {
        return Count(
            "expired_key",
            common::Error{
                ErrorCode::kNotFound, "encryption key " + Name(env->key) + " has expired", {}});
    }
    auto plain = AesGcmDecrypt(it->second.material, env->nonce, env->ciphertext, associated_data);
    if (!plain) {
        return Count(
            "tampered",
            common::Error{ErrorCode::kCrypto,
                          "encrypted value failed authentication under key " + Name(env->key) +
                              " (tampered, truncated or moved from another record)",
                          {}});
    }
    return plain;
}

bool Keyring::IsSealed(std::string_view value) const { return IsSealedText(value); }

Result<KeyRef> Keyring::KeyOf(std::string_view sealed) const {
    auto env = FromSealedText(sealed);
    if (!env) return env.error();
    return env->key;
}

KeyRef Keyring::Current() const {
    std::shared_lock lock(mu_);
    return KeyRef{key_id_, active_};
}

Result<KeyRef> Keyring::Rotate(std::chrono::seconds overlap) {
    std::unique_lock lock(mu_);
    const std::uint32_t next_version = (keys_.empty() ? 0 : keys_.rbegin()->first) + 1;
    std::string material = common::RandomBytes(kKeyBytes);
    auto wrapped = SealWithKey(kMasterRef, master_, material, WrapAad(key_id_, next_version));
    Wipe(material);
    if (!wrapped) return wrapped.error();
    const auto now_tp = clock_.SystemNow();
    const std::string now = common::FormatIso8601(now_tp);
    storage::DataKeyRecord r;
    r.key_id = key_id_;
    r.version = next_version;
    r.wrapped = *wrapped;
    r.state = storage::kDataKeyActive;
    r.created_at = now;
    r.activated_at = now;
    auto s = store_.RotateDataKey(r, now, common::FormatIso8601(now_tp + overlap));
    auto reloaded = ReloadLocked();
    if (!s) return s.error();
    if (!reloaded) return reloaded.error();
    return KeyRef{key_id_, next_version};
}

Status Keyring::Expire(const KeyRef& ref) {
    std::unique_lock lock(mu_);
    if (ref.key_id != key_id_ || ref.version == active_) {
        return MakeError(ErrorCode::kValidation, "cannot expire the active key " + Name(ref));
    }
    if (auto s = store_.SetDataKeyState(ref.key_id, ref.version, storage::kDataKeyExpired); !s) {
        return s;
    }
    return ReloadLocked();
}

DataKeyInfo Keyring::InfoOf(const storage::DataKeyRecord& r) const {
    DataKeyInfo i;
    i.ref = KeyRef{r.key_id, static_cast<std::uint32_t>(r.version)};
    i.state = r.state;
    i.created_at = r.created_at;
    i.activated_at = r.activated_at;
    i.retired_at = r.retired_at;
    i.expires_at = r.expires_at;
    auto since = common::ParseIso8601(r.activated_at.empty() ? r.created_at : r.activated_at);
    if (since) {
        i.age_days = std::chrono::duration<double>(clock_.SystemNow() - *since).count() / 86400.0;
        if (i.age_days < 0) i.age_days = 0;
    }
    return i;
}

std::vector<DataKeyInfo> Keyring::Keys() const {
    std::shared_lock lock(mu_);
    std::vector<DataKeyInfo> out;
    for (const auto& [v, k] : keys_) out.push_back(InfoOf(k.record));
    return out;
}

DataKeyInfo Keyring::CurrentInfo() const {
    std::shared_lock lock(mu_);
    auto it = keys_.find(active_);
    if (it == keys_.end()) return DataKeyInfo{};
    return InfoOf(it->second.record);
}

}  // namespace aragora::keys
