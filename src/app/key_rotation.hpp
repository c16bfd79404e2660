#pragma once

// Encryption at rest in `serve` (issue 23): the keyring of data keys (keys::Keyring) over
// the store's key table, the rotation driver (keys::Rotator) and its schedule, and what the
// admin security routes reach (api::SecurityAdminAccess). Internal to app/.
//
// Fail closed (the original's rule): with ARAGORA_ENCRYPTION_REQUIRED or ARAGORA_ENV
// production/prod/staging/stage, a missing or malformed ARAGORA_ENCRYPTION_KEY stops the
// start with one line; a master key that does not open the stored data keys stops it too.
// Without the key otherwise, encryption at rest is off (FieldCipher() is null) and the
// routes say so; nothing is ever kept in the clear that was sealed before.
//
// Schedule (ARAGORA_KEY_ROTATION_ENABLED): a Check() right after start (it resumes an
// interrupted re-encryption), then every ARAGORA_KEY_ROTATION_CHECK_INTERVAL_HOURS; every
// minute in between the keyring is reloaded (another instance's rotation) and pending
// batches run. Every store/target call is one job on the blocking pool.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "api/security_admin.hpp"
#include "common/blocking_pool.hpp"
#include "common/clock.hpp"
#include "config/settings.hpp"
#include "keys/key_metrics.hpp"
#include "keys/keyring.hpp"
#include "keys/rotation.hpp"
#include "metrics/registry.hpp"
#include "storage/auth_store.hpp"
#include "storage/key_store.hpp"

namespace aragora::app {

// The fail-closed rule above, on the settings alone. kValidation naming the variable.
common::Status CheckEncryptionSettings(const config::EncryptionSettings& settings);

class EncryptionKeys {
public:
    // Declares the key metrics on `registry`. Everything must outlive this object.
    EncryptionKeys(const config::EncryptionSettings& settings, metrics::Registry& registry,
                   common::BlockingPool& pool, const common::Clock& clock);
    ~EncryptionKeys();

    // Blocking (run on the pool): loads the keyring over `store` and builds the rotator.
    // Without a master key: nothing (encryption off) unless required (error).
    common::Status Load(std::unique_ptr<storage::KeyStore> store, storage::AuthStore* audit);

    // The cipher stores seal with; null when encryption at rest is off.
    keys::FieldCipher* FieldCipher() const { return keyring_.get(); }
    // The same cipher, shared with the stores that seal with it (null when off).
    std::shared_ptr<const keys::FieldCipher> SharedCipher() const { return keyring_; }
    // Registers a store's sealed values for re-encryption (after Load, before Start).
    void AddTarget(keys::ReEncryptTarget& target);

    // Spawns the schedule on `executor` when rotation is enabled and the keyring loaded.
    void Start(boost::asio::any_io_executor executor);
    void Stop() { stopped_ = true; }

    api::SecurityAdminAccess& access() { return access_; }

private:
    boost::asio::awaitable<void> Run(boost::asio::any_io_executor executor);

    config::EncryptionSettings settings_;
    common::BlockingPool& pool_;
    const common::Clock& clock_;
    keys::KeyMetrics metrics_;
    std::unique_ptr<storage::KeyStore> store_;
    std::shared_ptr<keys::Keyring> keyring_;
    std::unique_ptr<keys::Rotator> rotator_;
    api::SecurityAdminAccess access_;
    std::atomic<bool> stopped_{false};
};

}  // namespace aragora::app
