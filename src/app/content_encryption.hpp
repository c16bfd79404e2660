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

// The keys::FieldCipher of encryption at rest the settings configure
// (ARAGORA_ENCRYPTION_KEY), or null when none is configured.
//
// Integration point of issue 23: the key module (src/keys/: envelope, keyring, persisted
// data keys) builds the cipher; this function is where the composition roots get it.
// The key module is not on this branch, so no cipher can be configured yet and this
// answers null: ARAGORA_ENCRYPT_DEBATE_CONTENT=true then fails start with
// storage::kEncryptionKeyMissing. Errors of the key module (bad key, unreadable keyring)
// are returned as they are.
common::Result<std::shared_ptr<const keys::FieldCipher>> ConfiguredFieldCipher(
    const config::Settings& settings);

// OpenConfiguredStores with the configured cipher; failed decryptions counted in
// `failures` (may be null). ARAGORA_ENCRYPT_DEBATE_CONTENT=true without a cipher is
// kValidation with the one line storage::kEncryptionKeyMissing.
common::Result<storage::OpenedStores> OpenStores(
    const config::Settings& settings, bool migrate,
    std::shared_ptr<storage::DecryptFailureCounts> failures = nullptr);

}  // namespace aragora::app
