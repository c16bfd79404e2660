// BackupManager: restore, drill and retention (backup_manager.cpp has the rest).

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "ops/backup_codec.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_manager_impl.hpp"
#include "ops/retention.hpp"

namespace aragora::ops {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

namespace {

std::set<std::string> ConfiguredKeyIds(const std::optional<debate::ReceiptKeys>& keys) {
    std::set<std::string> ids;
    if (!keys) return ids;
    if (!keys->hmac_current.empty()) ids.insert(debate::KeyId(keys->hmac_current));
    if (!keys->hmac_previous.empty()) ids.insert(debate::KeyId(keys->hmac_previous));
    if (keys->ed25519) ids.insert(debate::KeyId(keys->ed25519->public_key));
    return ids;
}

// Creates `path` (0600, O_EXCL) holding `secret`; false when it already exists.
common::Result<bool> WriteKeyFileIfAbsent(const fs::path& path, const std::string& secret) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return false;
        return MakeError(ErrorCode::kStorage,
                         "cannot create " + path.string() + ": " + std::strerror(errno));
    }
    const std::string content = secret + "\n";
    const bool ok =
        ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        return MakeError(ErrorCode::kStorage, "cannot write " + path.string());
    }
    return true;
}

}  // namespace

common::Result<RestoreResult> BackupManager::Restore(std::string_view id,
                                                     const RestoreOptions& ro) {
    const auto started = clock_.SteadyNow();
    auto meta = Get(id);
    if (!meta) return meta.error();
    if (meta->kind != engine_->Kind()) {
        return MakeError(ErrorCode::kValidation, "backup " + meta->id + " is a " + meta->kind +
                                                     " backup; this database is " +
                                                     engine_->Kind());
    }
    if (ro.target.empty()) {
        return MakeError(ErrorCode::kValidation, "restore needs a target", "target_path");
    }
    RestoreResult out;
    out.backup_id = meta->id;
    out.dry_run = ro.dry_run;
    out.target_path = ro.target;
    if (engine_->Kind() == "sqlite" && fs::path(ro.target).is_relative()) {
        out.target_path = (options_.restore_dir / ro.target).string();
    }

    auto verification = VerifyEntry(*meta, !ro.skip_verify, nullptr, ro.progress, nullptr);
    if (!verification) return verification.error();
    out.verified = verification->verified;
    out.verification = std::move(*verification);
    // The key ids the restored receipts are signed with that a server started on it would
    // lack: neither configured nor a local key file the backup carries.
    std::set<std::string> available = ConfiguredKeyIds(options_.receipt_keys);
    const auto carried = impl_->Carried(*meta);
    if (carried && carried->from_file) available.insert(debate::KeyId(carried->hmac_current));
    for (const auto& k : out.verification->receipt_chain.key_ids_seen) {
        if (!available.count(k)) out.missing_key_ids.push_back(k);
    }
    if (!out.verified) {
        out.message = "backup " + meta->id + " failed verification; nothing restored: " +
                      (out.verification->errors.empty() ? std::string("unknown reason")
                                                        : out.verification->errors.front());
        out.duration_seconds = Seconds(clock_.SteadyNow() - started);
        return out;
    }
    if (ro.dry_run) {
        out.message =
            "dry run: backup " + meta->id + " verified; would restore to " + out.target_path;
        out.duration_seconds = Seconds(clock_.SteadyNow() - started);
        return out;
    }

    RemoveOnExit raw{options_.restore_dir /
                     (".restore-" + meta->id + "-" + common::HexEncode(common::RandomBytes(6)) +
                      engine_->SnapshotSuffix())};
    auto codec = impl_->CodecFor(*meta);
    if (!codec) return codec.error();
    if (auto s = DecodeBackupFile(meta->backup_path, raw.path, *codec, ro.progress); !s) {
        return s.error();
    }
    RestoreTarget target{out.target_path, ro.force, clock_.SystemNow()};
    auto restored = engine_->RestoreInto(raw.path, target, ro.progress);
    if (!restored) return restored.error();
    out.restored = true;
    out.target_path = restored->target;
    out.kept_previous = restored->kept_previous;

    // A local key file the backup carries goes back beside the restored database (never
    // over an existing one).
    if (carried && carried->from_file && engine_->Kind() == "sqlite") {
        const fs::path key_file = fs::path(out.target_path).parent_path() / "receipt_signing.key";
        if (auto written = WriteKeyFileIfAbsent(key_file, carried->hmac_current); !written) {
            common::GetLogger("aragora.backup")
                ->warn("receipt key file not restored: {}", written.error().message);
        } else if (*written) {
            out.receipt_key_file = key_file.string();
        }
    }
    out.duration_seconds = Seconds(clock_.SteadyNow() - started);
    out.message = "restored backup " + meta->id + " to " + out.target_path;
    if (!out.kept_previous.empty()) out.message += " (previous kept as " + out.kept_previous + ")";
    common::GetLogger("aragora.backup")->info("{}", out.message);
    return out;
}

common::Result<RestoreDrillReport> BackupManager::Drill(std::string_view id,
                                                        const ProgressFn& progress) {
    BackupMetadata meta;
    if (!id.empty()) {
        auto m = Get(id);
        if (!m) return m.error();
        meta = std::move(*m);
    } else {
        auto verified = List(ListFilter{1, 0, BackupStatus::kVerified, std::nullopt, {}});
        if (!verified) return verified.error();
        if (verified->items.empty()) {
            return MakeError(ErrorCode::kNotFound, "no verified backup to drill; create one first");
        }
        meta = std::move(verified->items.front());
    }
    const auto started = clock_.SteadyNow();
    RestoreDrillReport r;
    r.drill_id = common::HexEncode(common::RandomBytes(6));
    r.backup_id = meta.id;
    r.started_at = clock_.SystemNow();
    r.status = "running";
    r.rpo_seconds = std::chrono::duration<double>(r.started_at - meta.created_at).count();
    double rto = 0;
    auto v = VerifyEntry(meta, true, nullptr, progress, &rto);
    if (!v) return v.error();
    r.rto_seconds = rto;
    r.checksum_valid = v->checksum_valid;
    r.schema_valid = v->tables_valid && v->schema_valid;
    r.integrity_valid = v->integrity_valid && v->table_checksums_valid && v->row_counts_valid;
    r.receipts_valid = v->receipts_valid;
    r.receipts_verified = v->receipt_chain.verified;
    r.rows_verified = v->rows_verified;
    r.tables_verified = v->restore_tested ? static_cast<std::int64_t>(meta.tables.size()) : 0;
    r.errors = v->errors;
    r.status = v->verified ? "passed" : "failed";
    r.completed_at = clock_.SystemNow();
    r.duration_seconds = Seconds(clock_.SteadyNow() - started);
    r.metadata["kind"] = meta.kind;
    r.metadata["backup_path"] = meta.backup_path;
    r.metadata["backup_created_at"] =
        boost::json::value(boost::json::string(meta.ToJson().at("created_at").as_string()));
    r.metadata["receipts_checked"] = v->receipt_chain.receipts;
    if (auto s = impl_->manifest.AppendDrill(r); !s) return s.error();
    common::GetLogger("aragora.backup")
        ->info("DR drill {} of backup {}: {} (RPO {:.0f} s, RTO {:.2f} s)", r.drill_id, r.backup_id,
               r.status, r.rpo_seconds, r.rto_seconds);
    return r;
}

common::Result<CleanupResult> BackupManager::Cleanup(bool dry_run) {
    const RetentionPolicy policy{options_.keep_daily, options_.keep_weekly, options_.keep_monthly,
                                 options_.min_backups};
    CleanupResult out;
    out.dry_run = dry_run;
    // One rule (ops/retention) on the manifest as it is, for the preview and the deletion.
    auto plan = [&](const ManifestEntries& entries) {
        std::vector<RetentionEntry> in;
        for (const auto& [id, m] : entries) in.push_back({id, m.created_at, m.status});
        RetentionPlan p = PlanRetention(in, policy, clock_.SystemNow());
        for (const auto& d : p.keep) out.kept_ids.push_back(d.id);
        return p;
    };
    if (dry_run) {
        auto entries = impl_->manifest.Load();
        if (!entries) return entries.error();
        for (const auto& d : plan(*entries).remove) out.backup_ids.push_back(d.id);
        return out;
    }
    auto s = impl_->manifest.Update(clock_.SystemNow(), [&](ManifestEntries& entries) {
        for (const auto& d : plan(entries).remove) {
            const BackupMetadata& m = entries.at(d.id);
            std::error_code ec;
            bool removed = true;
            for (const std::string& f : {m.backup_path, m.backup_path + ".keys"}) {
                fs::remove(f, ec);
                if (ec) {
                    out.errors.push_back("cannot delete " + f + ": " + ec.message());
                    removed = false;
                }
            }
            if (!removed) continue;  // kept in the manifest: the next cleanup retries
            out.backup_ids.push_back(d.id);
            common::GetLogger("aragora.backup")
                ->info("retention: deleted backup {} ({})", d.id, ReasonsText(d));
            entries.erase(d.id);
        }
        return common::Status();
    });
    if (!s) return s.error();
    return out;
}

}  // namespace aragora::ops
