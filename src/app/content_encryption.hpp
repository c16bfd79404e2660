#pragma once

// How the composition roots (serve, worker, CLI commands) open the configured stores with
// encryption of debate content at rest (ARAGORA_ENCRYPT_DEBATE_CONTENT,
// storage/content_cipher.hpp). Blocking (run it off the I/O threads).

#include <memory>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "keys/cipher.hpp"
#include "storage/content_cipher.hpp"
#include "storage/open_stores.hpp"

namespace aragora::app {

// The keys::FieldCipher of encryption at rest (ARAGORA_ENCRYPTION_KEY) over the opened
// key table: keys::Keyring::Load (it creates data key v1 when there is none). The cipher
// owns `key_store` (the keyring reads it). Null when no master key is configured; a
// malformed master key or one that does not open the stored data keys is an error.
// `serve` builds its cipher in EncryptionKeys instead (with the rotation).
common::Result<std::shared_ptr<const keys::FieldCipher>> LoadFieldCipher(
    const config::Settings& settings, std::unique_ptr<storage::KeyStore> key_store);

// LoadFieldCipher over the configured database's key table (opened for it, not migrated),
// for a command that needs the cipher apart from the stores (backup verification opens
// sealed receipts of a restored copy). Null when no master key is configured.
common::Result<std::shared_ptr<const keys::FieldCipher>> ConfiguredFieldCipher(
    const config::Settings& settings);

// OpenPlainStores, LoadFieldCipher over its key table, ApplyContentEncryption; failed decryptions
// counted in `failures` (may be null). ARAGORA_ENCRYPT_DEBATE_CONTENT=true without a cipher is
// kValidation with the one line storage::kEncryptionKeyMissing.
common::Result<storage::OpenedStores> OpenStores(
    const config::Settings& settings, bool migrate,
    std::shared_ptr<storage::DecryptFailureCounts> failures = nullptr);

}  // namespace aragora::app
