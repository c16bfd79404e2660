// JSON shapes of backup_manager.hpp (the original's to_dict names; see the header).

#include <boost/json.hpp>

#include "common/json_access.hpp"
#include "common/time.hpp"
#include "ops/backup_manager.hpp"

namespace aragora::ops {
namespace {

namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;

json::value Iso(const std::optional<TimePoint>& tp) {
    if (!tp) return nullptr;
    return json::string(common::FormatIso8601(*tp));
}

json::value OptString(const std::optional<std::string>& s) {
    if (!s) return nullptr;
    return json::string(*s);
}

json::array Strings(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

json::array Rows(const std::vector<std::vector<std::string>>& v) {
    json::array a;
    for (const auto& row : v) a.emplace_back(Strings(row));
    return a;
}

template <typename Map>
json::object MapObject(const Map& m) {
    json::object o;
    for (const auto& [k, v] : m) o[k] = v;
    return o;
}

bool BoolField(const json::object& o, std::string_view key, bool fallback = false) {
    const auto* v = common::FindField(o, key);
    return v && v->is_bool() ? v->as_bool() : fallback;
}

std::optional<TimePoint> TimeField(const json::object& o, std::string_view key) {
    auto s = common::StringField(o, key);
    if (!s) return std::nullopt;
    return common::ParseIso8601(*s);
}

std::vector<std::string> StringList(const json::array& a) {
    std::vector<std::string> out;
    for (const auto& v : a)
        if (v.is_string()) out.emplace_back(v.as_string());
    return out;
}

std::vector<std::vector<std::string>> RowList(const json::array& a) {
    std::vector<std::vector<std::string>> out;
    for (const auto& v : a)
        if (v.is_array()) out.push_back(StringList(v.as_array()));
    return out;
}

}  // namespace

json::object BackupMetadata::ToJson() const {
    json::object o;
    o["id"] = id;
    o["created_at"] = common::FormatIso8601(created_at);
    o["backup_type"] = backup_type;
    o["status"] = std::string(ToString(status));
    o["source_path"] = source_path;
    o["backup_path"] = backup_path;
    o["size_bytes"] = size_bytes;
    o["compressed_size_bytes"] = compressed_size_bytes;
    o["checksum"] = checksum;
    o["row_counts"] = MapObject(row_counts);
    o["tables"] = Strings(tables);
    o["duration_seconds"] = duration_seconds;
    o["verified"] = verified;
    o["verified_at"] = Iso(verified_at);
    o["restore_tested"] = restore_tested;
    o["error"] = OptString(error);
    o["storage_backend"] = storage_backend;
    o["encryption_key_id"] = OptString(encryption_key_id);
    o["metadata"] = metadata;
    o["schema_hash"] = schema_hash;
    o["table_checksums"] = MapObject(table_checksums);
    o["foreign_keys"] = Rows(foreign_keys);
    o["indexes"] = Rows(indexes);
    o["kind"] = kind;
    o["file_name"] = file_name;
    o["compressed"] = compressed;
    o["encrypted"] = encrypted;
    o["schema_version"] = schema_version;
    o["app_version"] = app_version;
    json::array keys;
    for (const auto& k : receipt_keys) {
        json::object ko{{"key_id", k.key_id}, {"algorithm", k.algorithm}};
        if (!k.public_key.empty()) ko["public_key"] = k.public_key;
        keys.emplace_back(std::move(ko));
    }
    o["receipt_keys"] = std::move(keys);
    o["keys_file"] = keys_file.empty() ? json::value(nullptr) : json::value(keys_file);
    return o;
}

common::Result<BackupMetadata> BackupMetadata::FromJson(const json::object& o) {
    BackupMetadata m;
    m.id = common::StringFieldOr(o, "id");
    auto created = TimeField(o, "created_at");
    auto status = ParseBackupStatus(common::StringFieldOr(o, "status"));
    m.backup_path = common::StringFieldOr(o, "backup_path");
    if (m.id.empty() || !created || !status || m.backup_path.empty()) {
        return MakeError(
            ErrorCode::kValidation,
            "manifest entry '" + m.id + "' lacks a valid id, created_at, status or backup_path");
    }
    m.created_at = *created;
    m.status = *status;
    m.backup_type = common::StringFieldOr(o, "backup_type", "full");
    m.source_path = common::StringFieldOr(o, "source_path");
    m.size_bytes = static_cast<std::uint64_t>(common::Int64Field(o, "size_bytes").value_or(0));
    m.compressed_size_bytes =
        static_cast<std::uint64_t>(common::Int64Field(o, "compressed_size_bytes").value_or(0));
    m.checksum = common::StringFieldOr(o, "checksum");
    for (const auto& [k, v] : common::ObjectFieldOrEmpty(o, "row_counts")) {
        if (auto n = common::AsInt64(v)) m.row_counts[std::string(k)] = *n;
    }
    m.tables = StringList(common::ArrayFieldOrEmpty(o, "tables"));
    m.duration_seconds = common::DoubleField(o, "duration_seconds").value_or(0);
    m.verified = BoolField(o, "verified");
    m.verified_at = TimeField(o, "verified_at");
    m.restore_tested = BoolField(o, "restore_tested");
    m.error = common::StringField(o, "error");
    m.storage_backend = common::StringFieldOr(o, "storage_backend", "local");
    m.encryption_key_id = common::StringField(o, "encryption_key_id");
    m.metadata = common::ObjectFieldOrEmpty(o, "metadata");
    m.schema_hash = common::StringFieldOr(o, "schema_hash");
    for (const auto& [k, v] : common::ObjectFieldOrEmpty(o, "table_checksums")) {
        if (v.is_string()) m.table_checksums[std::string(k)] = std::string(v.as_string());
    }
    m.foreign_keys = RowList(common::ArrayFieldOrEmpty(o, "foreign_keys"));
    m.indexes = RowList(common::ArrayFieldOrEmpty(o, "indexes"));
    m.kind = common::StringFieldOr(o, "kind", "sqlite");
    m.file_name = common::StringFieldOr(o, "file_name");
    m.compressed = BoolField(o, "compressed", true);
    m.encrypted = BoolField(o, "encrypted");
    m.schema_version = static_cast<int>(common::Int64Field(o, "schema_version").value_or(0));
    m.app_version = common::StringFieldOr(o, "app_version");
    for (const auto& v : common::ArrayFieldOrEmpty(o, "receipt_keys")) {
        if (!v.is_object()) continue;
        const auto& ko = v.as_object();
        m.receipt_keys.push_back(ReceiptKeyInfo{common::StringFieldOr(ko, "key_id"),
                                                common::StringFieldOr(ko, "algorithm"),
                                                common::StringFieldOr(ko, "public_key")});
    }
    m.keys_file = common::StringFieldOr(o, "keys_file");
    return m;
}

json::object VerificationFailure::ToJson() const {
    json::object o{{"check", check}, {"message", message}};
    o["table"] = table.empty() ? json::value(nullptr) : json::value(table);
    o["receipt_id"] = receipt_id.empty() ? json::value(nullptr) : json::value(receipt_id);
    if (chain_seq > 0) o["chain_seq"] = chain_seq;
    return o;
}

json::object ReceiptChainSummary::ToJson() const {
    return json::object{{"checked", checked},       {"receipts", receipts},
                        {"tombstones", tombstones}, {"verified", verified},
                        {"failed", failed},         {"key_ids_seen", Strings(key_ids_seen)}};
}

json::object VerificationResult::ToJson() const {
    json::object o;
    o["backup_id"] = backup_id;
    o["verified"] = verified;
    o["checksum_valid"] = checksum_valid;
    o["restore_tested"] = restore_tested;
    o["tables_valid"] = tables_valid;
    o["row_counts_valid"] = row_counts_valid;
    o["errors"] = Strings(errors);
    o["warnings"] = Strings(warnings);
    o["verified_at"] = common::FormatIso8601(verified_at);
    o["duration_seconds"] = duration_seconds;
    o["schema_valid"] = schema_valid;
    o["integrity_valid"] = integrity_valid;
    o["table_checksums_valid"] = table_checksums_valid;
    o["receipts_valid"] = receipts_valid;
    o["receipt_chain"] = receipt_chain.ToJson();
    json::array f;
    for (const auto& x : failures) f.emplace_back(x.ToJson());
    o["failures"] = std::move(f);
    o["rows_verified"] = rows_verified;
    return o;
}

json::object ComprehensiveVerificationResult::ToJson() const {
    json::object o;
    o["backup_id"] = basic.backup_id;
    o["verified"] = basic.verified;
    o["basic_verification"] = json::object{{"checksum_valid", basic.checksum_valid},
                                           {"restore_tested", basic.restore_tested},
                                           {"tables_valid", basic.tables_valid},
                                           {"row_counts_valid", basic.row_counts_valid}};
    if (schema_checked) {
        o["schema_validation"] = json::object{
            {"valid", tables_match && columns_match},  {"tables_match", tables_match},
            {"columns_match", columns_match},          {"types_match", columns_match},
            {"schema_hash_match", basic.schema_valid}, {"missing_tables", Strings(missing_tables)},
            {"extra_tables", Strings(extra_tables)},
        };
    } else {
        o["schema_validation"] = nullptr;
    }
    if (integrity_checked) {
        o["integrity_check"] = json::object{
            {"valid", basic.integrity_valid},
            {"foreign_keys_valid", foreign_keys_valid},
            {"orphaned_records", MapObject(orphaned_records)},
            {"integrity_errors", Strings(integrity_errors)},
            {"null_constraint_violations", Strings(null_constraint_violations)},
        };
    } else {
        o["integrity_check"] = nullptr;
    }
    o["table_checksums_valid"] = basic.table_checksums_valid;
    o["all_errors"] = Strings(basic.errors);
    o["all_warnings"] = Strings(basic.warnings);
    o["verified_at"] = common::FormatIso8601(basic.verified_at);
    o["duration_seconds"] = basic.duration_seconds;
    o["receipts_valid"] = basic.receipts_valid;
    o["receipt_chain"] = basic.receipt_chain.ToJson();
    json::array f;
    for (const auto& x : basic.failures) f.emplace_back(x.ToJson());
    o["failures"] = std::move(f);
    return o;
}

json::object RestoreDrillReport::ToJson() const {
    json::object o;
    o["drill_id"] = drill_id;
    o["backup_id"] = backup_id;
    o["started_at"] = common::FormatIso8601(started_at);
    o["completed_at"] = Iso(completed_at);
    o["duration_seconds"] = duration_seconds;
    o["status"] = status;
    o["tables_verified"] = tables_verified;
    o["rows_verified"] = rows_verified;
    o["checksum_valid"] = checksum_valid;
    o["schema_valid"] = schema_valid;
    o["integrity_valid"] = integrity_valid;
    o["errors"] = Strings(errors);
    o["metadata"] = metadata;
    o["rpo_seconds"] = rpo_seconds;
    o["rto_seconds"] = rto_seconds;
    o["receipts_verified"] = receipts_verified;
    o["receipts_valid"] = receipts_valid;
    return o;
}

common::Result<RestoreDrillReport> RestoreDrillReport::FromJson(const json::object& o) {
    RestoreDrillReport r;
    r.drill_id = common::StringFieldOr(o, "drill_id");
    auto started = TimeField(o, "started_at");
    if (r.drill_id.empty() || !started) {
        return MakeError(ErrorCode::kValidation, "drill report lacks drill_id or started_at");
    }
    r.started_at = *started;
    r.backup_id = common::StringFieldOr(o, "backup_id");
    r.completed_at = TimeField(o, "completed_at");
    r.duration_seconds = common::DoubleField(o, "duration_seconds").value_or(0);
    r.status = common::StringFieldOr(o, "status", "pending");
    r.tables_verified = common::Int64Field(o, "tables_verified").value_or(0);
    r.rows_verified = common::Int64Field(o, "rows_verified").value_or(0);
    r.checksum_valid = BoolField(o, "checksum_valid");
    r.schema_valid = BoolField(o, "schema_valid");
    r.integrity_valid = BoolField(o, "integrity_valid");
    r.errors = StringList(common::ArrayFieldOrEmpty(o, "errors"));
    r.metadata = common::ObjectFieldOrEmpty(o, "metadata");
    r.rpo_seconds = common::DoubleField(o, "rpo_seconds").value_or(0);
    r.rto_seconds = common::DoubleField(o, "rto_seconds").value_or(0);
    r.receipts_verified = common::Int64Field(o, "receipts_verified").value_or(0);
    r.receipts_valid = BoolField(o, "receipts_valid");
    return r;
}

json::object RetentionSummary::ToJson() const {
    return json::object{{"keep_daily", keep_daily},
                        {"keep_weekly", keep_weekly},
                        {"keep_monthly", keep_monthly},
                        {"min_backups", min_backups}};
}

json::object DrStatus::ToJson() const {
    json::object o;
    o["total_backups"] = total_backups;
    o["verified_backups"] = verified_backups;
    o["failed_backups"] = failed_backups;
    o["total_size_bytes"] = total_size_bytes;
    o["last_successful_backup"] =
        last_successful_backup ? json::value(last_successful_backup->ToJson()) : nullptr;
    o["last_drill"] = last_drill ? json::value(last_drill->ToJson()) : nullptr;
    o["retention_policy"] = retention_policy.ToJson();
    o["last_success_age_seconds"] =
        last_success_age_seconds ? json::value(*last_success_age_seconds) : nullptr;
    o["backup_dir"] = backup_dir;
    return o;
}

json::object DrStatus::StatsJson() const {
    json::object o;
    o["total_backups"] = total_backups;
    o["verified_backups"] = verified_backups;
    o["failed_backups"] = failed_backups;
    o["total_size_bytes"] = total_size_bytes;
    o["total_size_mb"] =
        static_cast<double>(static_cast<std::int64_t>(total_size_bytes / 1048576.0 * 100 + 0.5)) /
        100.0;
    o["latest_backup"] = latest_backup ? json::value(latest_backup->ToJson()) : nullptr;
    o["retention_policy"] = retention_policy.ToJson();
    return o;
}

json::object BackupPage::ToJson() const {
    json::array a;
    for (const auto& b : items) a.emplace_back(b.ToJson());
    return json::object{
        {"backups", std::move(a)},
        {"pagination",
         json::object{
             {"limit", limit}, {"offset", offset}, {"total", total}, {"has_more", has_more}}}};
}

json::object RestoreResult::ToJson() const {
    json::object o;
    o["backup_id"] = backup_id;
    o["target_path"] = target_path;
    o["dry_run"] = dry_run;
    o["restored"] = restored;
    o["kept_previous"] = kept_previous.empty() ? json::value(nullptr) : json::value(kept_previous);
    o["verified"] = verified;
    o["verification"] = verification ? json::value(verification->ToJson()) : nullptr;
    o["receipt_key_file"] =
        receipt_key_file.empty() ? json::value(nullptr) : json::value(receipt_key_file);
    o["missing_key_ids"] = Strings(missing_key_ids);
    o["duration_seconds"] = duration_seconds;
    o["message"] = message;
    return o;
}

json::object CleanupResult::ToJson() const {
    const std::size_t n = backup_ids.size();
    std::string message = dry_run ? "Would delete " + std::to_string(n) + " backup(s)"
                                  : "Deleted " + std::to_string(n) + " backup(s)";
    return json::object{
        {"dry_run", dry_run},        {"backup_ids", Strings(backup_ids)}, {"count", n},
        {"kept", Strings(kept_ids)}, {"errors", Strings(errors)},         {"message", message}};
}

}  // namespace aragora::ops
