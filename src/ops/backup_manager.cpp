#include "ops/backup_manager.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>
#include <set>
#include <system_error>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "ops/backup_codec.hpp"
#include "ops/backup_manager_impl.hpp"
#include "ops/file_stream.hpp"

namespace aragora::ops {

namespace fs = std::filesystem;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;

namespace {

// "20270115_020000": the original's file-name timestamp (UTC).
std::string FileTimestamp(TimePoint tp) {
    const std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d_%H%M%S", &tm);
    return buf;
}

std::vector<ReceiptKeyInfo> DescribeKeys(const std::optional<debate::ReceiptKeys>& keys) {
    std::vector<ReceiptKeyInfo> out;
    if (!keys) return out;
    if (!keys->hmac_current.empty())
        out.push_back({debate::KeyId(keys->hmac_current), "hmac-sha256", ""});
    if (!keys->hmac_previous.empty())
        out.push_back({debate::KeyId(keys->hmac_previous), "hmac-sha256", ""});
    if (keys->ed25519) {
        out.push_back({debate::KeyId(keys->ed25519->public_key), "ed25519",
                       common::Base64Encode(keys->ed25519->public_key)});
    }
    return out;
}

bool IsOk(BackupStatus s) { return s == BackupStatus::kVerified || s == BackupStatus::kCompleted; }

}  // namespace

common::Result<std::unique_ptr<BackupManager>> BackupManager::Open(
    BackupManagerOptions options, std::shared_ptr<BackupEngine> engine,
    const common::Clock& clock) {
    if (!engine) return MakeError(ErrorCode::kInternal, "backup manager needs an engine");
    if (options.backup_dir.empty()) {
        return MakeError(ErrorCode::kValidation, "backup directory is not set", "BACKUP_DIR");
    }
    options.backup_dir = fs::absolute(options.backup_dir).lexically_normal();
    if (options.restore_dir.empty()) options.restore_dir = options.backup_dir / "restore";
    options.restore_dir = fs::absolute(options.restore_dir).lexically_normal();
    for (const auto& dir : {options.backup_dir, options.restore_dir}) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) {
            return MakeError(ErrorCode::kStorage,
                             "cannot create directory " + dir.string() + ": " + ec.message());
        }
    }
    std::optional<BackupKey> key;
    if (!options.encryption_key_hex.empty()) {
        auto parsed = ParseBackupKey(options.encryption_key_hex);
        if (!parsed) return parsed.error();
        key = std::move(*parsed);
    }
    std::unique_ptr<BackupManager> manager(
        new BackupManager(std::move(options), std::move(engine), clock));
    manager->impl_->key = std::move(key);
    return manager;
}

BackupManager::BackupManager(BackupManagerOptions options, std::shared_ptr<BackupEngine> engine,
                             const common::Clock& clock)
    : impl_(std::make_unique<Impl>(options.backup_dir)),
      options_(std::move(options)),
      engine_(std::move(engine)),
      clock_(clock) {}

BackupManager::~BackupManager() = default;

common::Result<BackupMetadata> BackupManager::Create(const CreateOptions& co) {
    static const std::set<std::string> kTypes = {"full", "incremental", "differential"};
    if (!kTypes.count(co.backup_type)) {
        return MakeError(ErrorCode::kValidation,
                         "backup_type must be full, incremental or differential", "backup_type");
    }
    const auto started = clock_.SteadyNow();
    BackupMetadata m;
    m.id = common::HexEncode(common::RandomBytes(4));
    m.created_at = clock_.SystemNow();
    m.backup_type = co.backup_type;
    m.status = BackupStatus::kInProgress;
    m.source_path = engine_->SourceLocation();
    m.kind = engine_->Kind();
    m.compressed = options_.compression;
    m.encrypted = impl_->key.has_value();
    if (m.encrypted) m.encryption_key_id = impl_->key->key_id;
    m.file_name = engine_->FileStem() + "_" + FileTimestamp(m.created_at) + "_" + m.id +
                  engine_->SnapshotSuffix() + (m.compressed ? ".gz" : "") +
                  (m.encrypted ? ".enc" : "");
    m.backup_path = (options_.backup_dir / m.file_name).string();
    m.metadata = co.metadata;
    if (!co.notes.empty()) m.metadata["notes"] = co.notes;
    m.receipt_keys = DescribeKeys(options_.receipt_keys);
    m.app_version = options_.app_version;
    // Recorded before the work, so that a listing (or an operator after a crash) sees it.
    if (auto s = impl_->Put(clock_.SystemNow(), m); !s) return s.error();

    auto fail = [&](const common::Error& e) -> common::Error {
        m.status = BackupStatus::kFailed;
        m.error = e.message;
        m.duration_seconds = Seconds(clock_.SteadyNow() - started);
        if (auto s = impl_->Put(clock_.SystemNow(), m); !s) {
            common::GetLogger("aragora.backup")
                ->error("backup {} failed and its manifest entry could not be updated: {}", m.id,
                        s.error().message);
        }
        common::GetLogger("aragora.backup")->error("backup {} failed: {}", m.id, e.message);
        return e;
    };

    const fs::path final_path = m.backup_path;
    RemoveOnExit raw{UniqueSibling(final_path, "snapshot")};
    auto snap = engine_->Snapshot(raw.path, co.progress);
    if (!snap) return fail(snap.error());
    const CodecOptions codec{m.compressed, m.encrypted ? &*impl_->key : nullptr};
    auto checksum = EncodeBackupFile(raw.path, final_path, codec, co.progress);
    if (!checksum) return fail(checksum.error());
    if (auto s = WriteKeysSidecar(m); !s) return fail(s.error());
    std::error_code ec;
    m.checksum = *checksum;
    m.size_bytes = snap->source_size_bytes;
    m.compressed_size_bytes = fs::file_size(final_path, ec);
    m.schema_version = snap->schema_version;
    const DbInspection& inspection = snap->inspection;
    for (const auto& t : inspection.tables) {
        m.tables.push_back(t.name);
        m.row_counts[t.name] = t.rows;
        m.table_checksums[t.name] = t.checksum;
    }
    m.schema_hash = inspection.schema_hash;
    m.foreign_keys = inspection.foreign_keys;
    m.indexes = inspection.indexes;
    m.status = BackupStatus::kCompleted;
    m.duration_seconds = Seconds(clock_.SteadyNow() - started);
    if (auto s = impl_->Put(clock_.SystemNow(), m); !s) return fail(s.error());
    common::GetLogger("aragora.backup")
        ->info("backup {} created: {} ({} bytes, {:.2f} s)", m.id, m.backup_path,
               m.compressed_size_bytes, m.duration_seconds);

    if (co.verify.value_or(options_.verify_after_backup)) {
        auto v = Verify(m.id, true, co.progress);
        if (!v) return v.error();
    }
    return Get(m.id);
}

common::Result<BackupPage> BackupManager::List(const ListFilter& filter) const {
    if (filter.limit < 1 || filter.limit > 1000)
        return MakeError(ErrorCode::kValidation, "limit must be 1..1000", "limit");
    if (filter.offset < 0)
        return MakeError(ErrorCode::kValidation, "offset must be >= 0", "offset");
    auto entries = impl_->manifest.Load();
    if (!entries) return entries.error();
    std::vector<BackupMetadata> all;
    for (auto& [id, m] : *entries) {
        if (filter.status && m.status != *filter.status) continue;
        if (filter.since && m.created_at < *filter.since) continue;
        if (!filter.source.empty() && m.source_path != filter.source) continue;
        all.push_back(std::move(m));
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
    });
    BackupPage page;
    page.total = static_cast<std::int64_t>(all.size());
    page.limit = filter.limit;
    page.offset = filter.offset;
    for (std::size_t i = static_cast<std::size_t>(filter.offset);
         i < all.size() && page.items.size() < static_cast<std::size_t>(filter.limit); ++i) {
        page.items.push_back(std::move(all[i]));
    }
    page.has_more = filter.offset + static_cast<std::int64_t>(page.items.size()) < page.total;
    return page;
}

common::Result<BackupMetadata> BackupManager::Get(std::string_view id_or_prefix) const {
    if (id_or_prefix.empty()) return MakeError(ErrorCode::kValidation, "backup id is empty", "id");
    auto entries = impl_->manifest.Load();
    if (!entries) return entries.error();
    if (auto it = entries->find(std::string(id_or_prefix)); it != entries->end()) return it->second;
    std::vector<const BackupMetadata*> matches;
    for (const auto& [id, m] : *entries) {
        if (id.rfind(id_or_prefix, 0) == 0) matches.push_back(&m);
    }
    if (matches.empty()) {
        return MakeError(ErrorCode::kNotFound,
                         "no backup with id or id prefix '" + std::string(id_or_prefix) + "'");
    }
    if (matches.size() > 1) {
        std::string ids;
        for (const auto* m : matches) ids += (ids.empty() ? "" : ", ") + m->id;
        return MakeError(ErrorCode::kConflict, "id prefix '" + std::string(id_or_prefix) +
                                                   "' matches " + std::to_string(matches.size()) +
                                                   " backups (" + ids + "); give more of the id");
    }
    return *matches.front();
}

common::Result<std::vector<RestoreDrillReport>> BackupManager::DrillHistory() const {
    return impl_->manifest.LoadDrills();
}

common::Status BackupManager::Delete(std::string_view id) {
    auto meta = Get(id);
    if (!meta) return meta.error();
    return impl_->manifest.Update(clock_.SystemNow(), [&](ManifestEntries& entries) {
        std::error_code ec;
        for (const std::string& f : {meta->backup_path, meta->backup_path + ".keys"}) {
            fs::remove(f, ec);
            if (ec) {
                return common::Status(
                    MakeError(ErrorCode::kStorage, "cannot delete " + f + ": " + ec.message()));
            }
        }
        entries.erase(meta->id);
        return common::Status();
    });
}

common::Result<DrStatus> BackupManager::Status() const {
    auto entries = impl_->manifest.Load();
    if (!entries) return entries.error();
    DrStatus st;
    st.backup_dir = options_.backup_dir.string();
    st.retention_policy = RetentionSummary{options_.keep_daily, options_.keep_weekly,
                                           options_.keep_monthly, options_.min_backups};
    for (const auto& entry : *entries) {
        const BackupMetadata& m = entry.second;  // a reference, not a binding: lambdas use it
        ++st.total_backups;
        if (m.status == BackupStatus::kVerified) ++st.verified_backups;
        if (m.status == BackupStatus::kFailed) ++st.failed_backups;
        st.total_size_bytes += m.compressed_size_bytes;
        auto newer = [&](const std::optional<BackupMetadata>& cur) {
            return !cur || std::tie(m.created_at, m.id) > std::tie(cur->created_at, cur->id);
        };
        if (newer(st.latest_backup)) st.latest_backup = m;
        if (IsOk(m.status) && newer(st.last_successful_backup)) st.last_successful_backup = m;
    }
    if (st.last_successful_backup) {
        st.last_success_age_seconds =
            std::chrono::duration<double>(clock_.SystemNow() -
                                          st.last_successful_backup->created_at)
                .count();
    }
    auto drills = impl_->manifest.LoadDrills();
    if (!drills) return drills.error();
    if (!drills->empty()) st.last_drill = drills->back();
    return st;
}

common::Status BackupManager::SetMetadata(std::string_view id, const std::string& key,
                                          json::value value) {
    auto meta = Get(id);
    if (!meta) return meta.error();
    return impl_->manifest.Update(clock_.SystemNow(), [&](ManifestEntries& entries) {
        auto it = entries.find(meta->id);
        if (it == entries.end())
            return common::Status(
                MakeError(ErrorCode::kNotFound, "backup " + meta->id + " was deleted"));
        it->second.metadata[key] = value;
        return common::Status();
    });
}

common::Result<BackupMetadata> BackupManager::Import(BackupMetadata entry) {
    if (entry.file_name.empty() || entry.file_name.find('/') != std::string::npos ||
        entry.file_name == "." || entry.file_name == "..") {
        return MakeError(ErrorCode::kValidation, "bad backup file name '" + entry.file_name + "'");
    }
    const fs::path local = options_.backup_dir / entry.file_name;
    std::error_code ec;
    if (!fs::is_regular_file(local, ec)) {
        return MakeError(ErrorCode::kNotFound, "backup file " + local.string() + " is missing");
    }
    entry.backup_path = local.string();
    // What the other machine found (verified) says nothing about this copy.
    entry.verified = false;
    entry.verified_at.reset();
    if (entry.status == BackupStatus::kVerified) entry.status = BackupStatus::kCompleted;
    std::optional<BackupMetadata> existing;
    auto s = impl_->manifest.Update(clock_.SystemNow(), [&](ManifestEntries& entries) {
        auto it = entries.find(entry.id);
        if (it != entries.end()) {
            if (it->second.checksum != entry.checksum) {
                return common::Status(MakeError(
                    ErrorCode::kConflict,
                    "a different backup with id " + entry.id + " is already in the manifest"));
            }
            existing = it->second;
            return common::Status();
        }
        entries[entry.id] = entry;
        return common::Status();
    });
    if (!s) return s.error();
    return existing ? *existing : entry;
}

}  // namespace aragora::ops
