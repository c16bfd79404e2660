#include "app/content_encryption.hpp"

#include "common/clock.hpp"
#include "keys/envelope.hpp"
#include "keys/key_metrics.hpp"
#include "keys/keyring.hpp"

namespace aragora::app {
namespace {

// What a cipher outside `serve` keeps alive: the key table the keyring reads, its clock
// and its metrics (a command's own, not exported).
struct CommandKeyring {
    common::SystemClock clock;
    keys::KeyMetrics metrics;
    std::unique_ptr<storage::KeyStore> store;
    std::unique_ptr<keys::Keyring> ring;
};

}  // namespace

common::Result<std::shared_ptr<const keys::FieldCipher>> LoadFieldCipher(
    const config::Settings& settings, std::unique_ptr<storage::KeyStore> key_store) {
    if (settings.encryption.master_key_hex.empty() || !key_store) {
        return std::shared_ptr<const keys::FieldCipher>();
    }
    auto master = keys::ParseMasterKeyHex(settings.encryption.master_key_hex);
    if (!master) return master.error();
    auto held = std::make_shared<CommandKeyring>();
    held->store = std::move(key_store);
    auto ring = keys::Keyring::Load(*held->store, std::move(*master), held->clock, held->metrics);
    if (!ring) return ring.error();
    held->ring = std::move(*ring);
    const keys::FieldCipher* cipher = held->ring.get();
    return std::shared_ptr<const keys::FieldCipher>(held, cipher);
}

common::Result<std::shared_ptr<const keys::FieldCipher>> ConfiguredFieldCipher(
    const config::Settings& settings) {
    if (settings.encryption.master_key_hex.empty()) {
        return std::shared_ptr<const keys::FieldCipher>();
    }
    auto opened = storage::OpenPlainStores(settings.storage, /*migrate=*/false);
    if (!opened) return opened.error();
    return LoadFieldCipher(settings, std::move(opened->keys));
}

common::Result<storage::OpenedStores> OpenStores(
    const config::Settings& settings, bool migrate,
    std::shared_ptr<storage::DecryptFailureCounts> failures) {
    if (settings.storage.encrypt_debate_content && settings.encryption.master_key_hex.empty()) {
        return common::MakeError(common::ErrorCode::kValidation, storage::kEncryptionKeyMissing,
                                 "ARAGORA_ENCRYPT_DEBATE_CONTENT");
    }
    auto opened = storage::OpenPlainStores(settings.storage, migrate);
    if (!opened) return opened.error();
    auto cipher = LoadFieldCipher(settings, std::move(opened->keys));
    if (!cipher) return cipher.error();
    storage::ContentEncryption encryption;
    encryption.cipher = std::move(*cipher);
    encryption.failures = std::move(failures);
    if (auto applied = storage::ApplyContentEncryption(*opened, settings.storage, encryption);
        !applied) {
        return applied.error();
    }
    return opened;
}

}  // namespace aragora::app
