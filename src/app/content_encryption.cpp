#include "app/content_encryption.hpp"

namespace aragora::app {

common::Result<std::shared_ptr<const keys::FieldCipher>> ConfiguredFieldCipher(
    const config::Settings& settings) {
    (void)settings;
    return std::shared_ptr<const keys::FieldCipher>();
}

common::Result<storage::OpenedStores> OpenStores(
    const config::Settings& settings, bool migrate,
    std::shared_ptr<storage::DecryptFailureCounts> failures) {
    auto cipher = ConfiguredFieldCipher(settings);
    if (!cipher) return cipher.error();
    storage::ContentEncryption encryption;
    encryption.cipher = std::move(*cipher);
    encryption.failures = std::move(failures);
    return storage::OpenConfiguredStores(settings.storage, migrate, encryption);
}

}  // namespace aragora::app
