#include "app/key_rotation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <utility>

#include "common/logging.hpp"
#include "keys/envelope.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.keys"); }

constexpr std::chrono::seconds kReloadEvery{60};

}  // namespace

common::Status CheckEncryptionSettings(const config::EncryptionSettings& s) {
    if (s.master_key_hex.empty()) {
        if (!s.required) return {};
        return common::MakeError(
            ErrorCode::kValidation,
            "ARAGORA_ENCRYPTION_KEY is required (ARAGORA_ENCRYPTION_REQUIRED or a "
            "production/staging ARAGORA_ENV): set it to 64 hex characters (`openssl rand -hex "
            "32`)",
            "ARAGORA_ENCRYPTION_KEY");
    }
    auto key = keys::ParseMasterKeyHex(s.master_key_hex);
    if (!key) return key.error();
    keys::Wipe(*key);
    return {};
}

EncryptionKeys::EncryptionKeys(const config::EncryptionSettings& settings,
                               metrics::Registry& registry, common::BlockingPool& pool,
                               const common::Clock& clock)
    : settings_(settings), pool_(pool), clock_(clock), metrics_(&registry) {
    access_.pool = &pool;
    access_.clock = &clock;
    access_.encryption_required = settings.required;
    access_.scheduler_enabled = settings.rotation_enabled && !settings.master_key_hex.empty();
    if (!settings.master_key_hex.empty()) {
        access_.unavailable_reason = "encryption keys are loading (startup in progress)";
    }
}

EncryptionKeys::~EncryptionKeys() { keys::Wipe(settings_.master_key_hex); }

common::Status EncryptionKeys::Load(std::unique_ptr<storage::KeyStore> store,
                                    storage::AuthStore* audit) {
    if (auto s = CheckEncryptionSettings(settings_); !s) return s;
    if (settings_.master_key_hex.empty()) {
        Log()->warn(
            "encryption at rest is off: ARAGORA_ENCRYPTION_KEY is not set (required in "
            "production)");
        return {};
    }
    if (!store) return common::MakeError(ErrorCode::kInternal, "no key store");
    store_ = std::move(store);
    auto master = keys::ParseMasterKeyHex(settings_.master_key_hex);
    if (!master) return master.error();
    auto ring = keys::Keyring::Load(*store_, std::move(*master), clock_, metrics_);
    if (!ring) return ring.error();
    keyring_ = std::shared_ptr<keys::Keyring>(std::move(*ring));
    rotator_ = std::make_unique<keys::Rotator>(*keyring_, *store_, audit, clock_, metrics_,
                                               keys::RotationConfig::FromSettings(settings_));
    access_.keyring = keyring_.get();
    access_.rotator = rotator_.get();
    const auto cur = keyring_->CurrentInfo();
    Log()->info("encryption at rest on: data key {} v{} ({:.1f} days old), rotation {}",
                cur.ref.key_id, cur.ref.version, cur.age_days,
                settings_.rotation_enabled ? "scheduled" : "manual only");
    return {};
}

void EncryptionKeys::AddTarget(keys::ReEncryptTarget& target) {
    if (rotator_) rotator_->AddTarget(target);
}

void EncryptionKeys::Start(asio::any_io_executor executor) {
    if (!rotator_ || !settings_.rotation_enabled) return;
    Log()->info(
        "key rotation scheduler: every {} days, checked every {} h, overlap {} days, "
        "re-encrypt {} (batches of {})",
        settings_.rotation_interval_days, settings_.check_interval_hours, settings_.overlap_days,
        settings_.re_encrypt ? "on" : "off", settings_.batch_size);
    asio::co_spawn(executor, Run(executor), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            Log()->critical("key rotation scheduler crashed: {}", e.what());
        }
    });
}

asio::awaitable<void> EncryptionKeys::Run(asio::any_io_executor executor) {
    keys::Rotator* rotator = rotator_.get();
    keys::Keyring* keyring = keyring_.get();
    const auto check_every = std::chrono::hours(settings_.check_interval_hours);
    auto next_check = clock_.SteadyNow();
    while (!stopped_) {
        if (clock_.SteadyNow() >= next_check) {
            auto check = [rotator] { return rotator->Check(); };
            auto checked = co_await pool_.Run(check);
            if (!checked) Log()->error("key rotation check failed: {}", checked.error().message);
            next_check = clock_.SteadyNow() + check_every;
        } else {
            auto reload = [keyring]() -> common::Result<bool> {
                if (auto s = keyring->Reload(); !s) return s.error();
                return true;
            };
            auto reloaded = co_await pool_.Run(reload);
            if (!reloaded) Log()->warn("keyring reload failed: {}", reloaded.error().message);
        }
        // Pending re-encryption: one pool job per batch, until done, stopped or failed.
        while (!stopped_) {
            auto step = [rotator] { return rotator->Step(); };
            auto s = co_await pool_.Run(step);
            if (!s) {
                Log()->error("re-encryption batch failed: {}", s.error().message);
                break;
            }
            if (!s->more) break;
        }
        const auto wait = std::min<std::chrono::steady_clock::duration>(
            kReloadEvery, std::max<std::chrono::steady_clock::duration>(
                              next_check - clock_.SteadyNow(), std::chrono::seconds(1)));
        asio::steady_timer timer(executor, wait);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

}  // namespace aragora::app
