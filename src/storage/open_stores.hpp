#pragma once

// The store the settings name (config::StorageSettings): SQLite at sqlite_path, or
// PostgreSQL at postgres_dsn (POSTGRES_PASSWORD inserted when the DSN has none) with the
// ARAGORA_DB_POOL_* settings. What `aragora serve`, `aragora worker` and the CLI commands
// open, so that they all agree. Blocking (run it off the I/O threads).

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "keys/cipher.hpp"
#include "storage/auth_store.hpp"
#include "storage/content_cipher.hpp"
#include "storage/key_store.hpp"
#include "storage/postgres/pg_pool.hpp"
#include "storage/store.hpp"

namespace aragora::storage {

struct OpenedStores {
    std::unique_ptr<Store> store;
    std::unique_ptr<AuthStore> auth;
    std::unique_ptr<KeyStore> keys;   // encryption data keys (issue 23)
    std::shared_ptr<PgPool> pg_pool;  // PostgreSQL only (pool statistics)
    std::string backend;              // "sqlite" | "postgresql"
    std::string location;             // the file, or the DSN with its password redacted
    // With a cipher: the tables holding sealed debate content, for the key rotation's
    // re-encryption ("debates", "debate_events", "receipts"); empty without one.
    std::vector<std::shared_ptr<keys::ReEncryptTarget>> content_targets;
    // The cipher the store opens sealed values with (ApplyContentEncryption); may be null.
    std::shared_ptr<const keys::FieldCipher> cipher;
};

// Encryption of debate content at rest (storage/content_cipher.hpp).
struct ContentEncryption {
    // The configured cipher (ARAGORA_ENCRYPTION_KEY); null when none is configured.
    std::shared_ptr<const keys::FieldCipher> cipher;
    // Where failed decryptions are counted (aragora_decrypt_failures_total); may be null.
    std::shared_ptr<DecryptFailureCounts> failures;
};

// With `migrate`, pending migrations are applied (PostgreSQL: under the advisory lock, so
// instances starting together apply each once). SQLite creates the file's directory.
// PostgreSQL unreachable ⇒ kUnavailable; a bad DSN ⇒ kValidation.
// With `encryption.cipher`, the Store seals debate content when
// settings.encrypt_debate_content is on and opens sealed values whether it is on or not
// (rows of both kinds read). encrypt_debate_content without a cipher ⇒ kValidation
// (kEncryptionKeyMissing), before anything is opened.
common::Result<OpenedStores> OpenConfiguredStores(const config::StorageSettings& settings,
                                                  bool migrate,
                                                  const ContentEncryption& encryption = {});

// The same stores without the content cipher's decorator, for a composition root that
// must read the key table (storage::KeyStore) to build the cipher first; then
// ApplyContentEncryption wraps `store` (always: with a null cipher the decorator only
// refuses to seal) and fills content_targets. Same errors as OpenConfiguredStores.
common::Result<OpenedStores> OpenPlainStores(const config::StorageSettings& settings, bool migrate);
common::Status ApplyContentEncryption(OpenedStores& out, const config::StorageSettings& settings,
                                      const ContentEncryption& encryption);

inline constexpr const char* kEncryptionKeyMissing =
    "ARAGORA_ENCRYPT_DEBATE_CONTENT=true needs an encryption key (ARAGORA_ENCRYPTION_KEY) and "
    "none is configured";

// `aragora db migrate --check|--upgrade` on the configured backend. `location` is set to
// what was examined (redacted).
common::Result<MigrationStatus> CheckConfiguredMigrations(const config::StorageSettings& settings,
                                                          std::string* location);
common::Result<MigrationStatus> ApplyConfiguredMigrations(const config::StorageSettings& settings,
                                                          std::string* location);

}  // namespace aragora::storage
