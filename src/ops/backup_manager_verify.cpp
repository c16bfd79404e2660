// BackupManager: verification, and the receipt keys an encrypted backup carries
// (backup_manager.cpp has the rest).

#include <spdlog/spdlog.h>

#include <fstream>
#include <iterator>
#include <system_error>

#include "common/atomic_file.hpp"
#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "ops/backup_codec.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_manager_impl.hpp"
#include "ops/backup_verify.hpp"
#include "ops/file_stream.hpp"

namespace aragora::ops {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

std::optional<CarriedReceiptKeys> BackupManager::Impl::Carried(const BackupMetadata& meta) const {
    if (meta.keys_file.empty() || !key) return std::nullopt;
    const fs::path path = fs::path(meta.backup_path).parent_path() / meta.keys_file;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string sealed((std::istreambuf_iterator<char>(in)), {});
    auto opened = OpenReceiptKeys(sealed, *key);
    if (!opened) {
        common::GetLogger("aragora.backup")
            ->warn("receipt keys of backup {} not readable: {}", meta.id, opened.error().message);
        return std::nullopt;
    }
    return std::move(*opened);
}

common::Status BackupManager::WriteKeysSidecar(BackupMetadata& m) {
    const auto& keys = options_.receipt_keys;
    if (!m.encrypted || !keys || keys->hmac_current.empty()) return {};
    auto sealed = SealReceiptKeys(*keys, options_.receipt_key_from_file, *impl_->key);
    if (!sealed) return sealed.error();
    const std::string name = m.file_name + ".keys";
    if (auto s = common::WriteFileAtomically((options_.backup_dir / name).string(), *sealed, 0600);
        !s) {
        return s;
    }
    m.keys_file = name;
    return {};
}

std::optional<debate::ReceiptKeys> BackupManager::VerificationKeys(
    const BackupMetadata& meta) const {
    auto keys = options_.receipt_keys;
    auto carried = impl_->Carried(meta);
    if (!carried) return keys;
    if (!keys) keys = debate::ReceiptKeys{};
    auto known = [&](const std::string& secret) {
        return secret.empty() || keys->FindHmac(debate::KeyId(secret)) != nullptr;
    };
    std::vector<const std::string*> secrets = {&carried->hmac_current, &carried->hmac_previous};
    for (const std::string& k : carried->hmac_retired) secrets.push_back(&k);
    for (const std::string* secret : secrets) {
        if (known(*secret)) continue;
        if (keys->hmac_current.empty()) {
            keys->hmac_current = *secret;
        } else if (keys->hmac_previous.empty()) {
            keys->hmac_previous = *secret;
        } else {
            keys->hmac_retired.push_back(*secret);
        }
    }
    return keys;
}

common::Result<VerificationResult> BackupManager::VerifyEntry(
    const BackupMetadata& meta, bool test_restore, ComprehensiveVerificationResult* details,
    const ProgressFn& progress, double* restore_seconds) {
    const auto started = clock_.SteadyNow();
    VerificationResult out;
    out.backup_id = meta.id;
    out.verified_at = clock_.SystemNow();
    std::error_code ec;
    if (!fs::exists(meta.backup_path, ec)) {
        AddFailure(out, {"checksum", "", "", 0, "backup file not found: " + meta.backup_path});
    } else {
        auto sum = Sha256File(meta.backup_path);
        if (!sum) {
            AddFailure(out,
                       {"checksum", "", "", 0, "cannot read the backup: " + sum.error().message});
        } else if (*sum != meta.checksum) {
            AddFailure(out, {"checksum", "", "", 0,
                             "checksum mismatch: expected " + meta.checksum + ", got " + *sum});
        } else {
            out.checksum_valid = true;
        }
    }
    // Nothing after a checksum failure can be trusted: stop there.
    if (out.checksum_valid && test_restore) {
        if (meta.kind != engine_->Kind()) {
            AddFailure(out, {"restore", "", "", 0,
                             "backup " + meta.id + " is a " + meta.kind +
                                 " backup; this server's database is " + engine_->Kind()});
        } else {
            const auto restore_started = clock_.SteadyNow();
            RemoveOnExit raw{options_.restore_dir / (".verify-" + meta.id + "-" +
                                                     common::HexEncode(common::RandomBytes(6)) +
                                                     engine_->SnapshotSuffix())};
            auto codec = impl_->CodecFor(meta);
            common::Status decoded =
                codec ? DecodeBackupFile(meta.backup_path, raw.path, *codec, progress)
                      : common::Status(codec.error());
            if (!decoded) {
                const bool crypto = decoded.error().code == ErrorCode::kCrypto;
                AddFailure(out,
                           {crypto ? "decrypt" : "decompress", "", "", 0, decoded.error().message});
            } else {
                auto scratch = engine_->RestoreScratch(raw.path, options_.restore_dir, progress);
                if (!scratch) {
                    AddFailure(out, {"restore", "", "", 0,
                                     "cannot restore into a scratch database: " +
                                         scratch.error().message});
                } else {
                    if (restore_seconds) {
                        (*scratch)->store();
                        *restore_seconds = Seconds(clock_.SteadyNow() - restore_started);
                    }
                    CheckRestoredDatabase(**scratch, meta, VerificationKeys(meta), out, details,
                                          options_.content_cipher);
                }
            }
        }
    }
    out.verified =
        out.checksum_valid && out.failures.empty() && (!test_restore || out.restore_tested);
    out.duration_seconds = Seconds(clock_.SteadyNow() - started);

    auto s = impl_->manifest.Update(clock_.SystemNow(), [&](ManifestEntries& entries) {
        auto it = entries.find(meta.id);
        if (it == entries.end()) return common::Status();  // deleted meanwhile
        auto& m = it->second;
        m.verified = out.verified;
        m.verified_at = out.verified_at;
        m.restore_tested = out.restore_tested;
        if (out.verified) {
            if (m.status == BackupStatus::kCompleted) m.status = BackupStatus::kVerified;
        } else if (m.status == BackupStatus::kVerified) {
            m.status = BackupStatus::kCompleted;
        }
        if (!out.verified && !out.errors.empty())
            m.error = "verification failed: " + out.errors.front();
        return common::Status();
    });
    if (!s) return s.error();
    return out;
}

common::Result<VerificationResult> BackupManager::Verify(std::string_view id, bool test_restore,
                                                         const ProgressFn& progress) {
    auto meta = Get(id);
    if (!meta) return meta.error();
    return VerifyEntry(*meta, test_restore, nullptr, progress, nullptr);
}

common::Result<ComprehensiveVerificationResult> BackupManager::VerifyComprehensive(
    std::string_view id, const ProgressFn& progress) {
    auto meta = Get(id);
    if (!meta) return meta.error();
    ComprehensiveVerificationResult out;
    auto basic = VerifyEntry(*meta, true, &out, progress, nullptr);
    if (!basic) return basic.error();
    out.basic = std::move(*basic);
    return out;
}

}  // namespace aragora::ops
