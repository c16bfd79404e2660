// BackupManager: restore, drill and retention (backup_manager.cpp has the rest).

#include <spdlog/spdlog.h>

#include <set>
#include <system_error>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "ops/backup_codec.hpp"
#include "ops/backup_manager.hpp"
#include "ops/backup_manager_impl.hpp"

namespace aragora::ops {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

namespace {

double Seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

std::set<std::string> ConfiguredKeyIds(const std::optional<debate::ReceiptKeys>& keys) {
    std::set<std::string> ids;
    if (!keys) return ids;
    if (!keys->hmac_current.empty()) ids.insert(debate::KeyId(keys->hmac_current));
    if (!keys->hmac_previous.empty()) ids.insert(debate::KeyId(keys->hmac_previous));
    if (keys->ed25519) ids.insert(debate::KeyId(keys->ed25519->public_key));
    return ids;
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
    for (const auto& k : verification->receipt_chain.key_ids_seen) {
        if (!ConfiguredKeyIds(options_.receipt_keys).count(k)) out.missing_key_ids.push_back(k);
    }
    out.verification = std::move(*verification);
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
    if (auto s = DecodeBackupFile(meta->backup_path, raw.path, CodecOptions{meta->compressed},
                                  ro.progress);
        !s) {
        return s.error();
    }
    RestoreTarget target{out.target_path, ro.force, clock_.SystemNow()};
    auto restored = engine_->RestoreInto(raw.path, target, ro.progress);
    if (!restored) return restored.error();
    out.restored = true;
    out.target_path = restored->target;
    out.kept_previous = restored->kept_previous;
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
    (void)dry_run;
    return MakeError(ErrorCode::kNotImplemented,
                     "backup cleanup waits for the calendar retention rule (ops/retention)");
}

}  // namespace aragora::ops
