#include "ops/backup_verify.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <set>
#include <string>

#include "debate/receipt_chain.hpp"
#include "storage/content_cipher.hpp"

namespace aragora::ops {
namespace {

namespace json = boost::json;

constexpr int kChainPage = 500;
constexpr std::size_t kMaxKeyIds = 64;

// "<table>: ..." → table ("database" and anything without a prefix → "").
std::string ProblemTable(const std::string& problem) {
    const auto colon = problem.find(": ");
    if (colon == std::string::npos) return {};
    std::string table = problem.substr(0, colon);
    return table == "database" ? std::string() : table;
}

// The leading count of "<table>: N row(s) violate a foreign key ...".
std::int64_t LeadingCount(const std::string& problem) {
    const auto colon = problem.find(": ");
    if (colon == std::string::npos) return 1;
    try {
        return std::stoll(problem.substr(colon + 2));
    } catch (const std::exception&) {
        return 1;
    }
}

void CollectKeyIds(const std::string& receipt_json, std::set<std::string>& ids) {
    if (ids.size() >= kMaxKeyIds) return;
    boost::system::error_code ec;
    json::value v = json::parse(receipt_json, ec);
    if (ec || !v.is_object()) return;
    const auto* sigs = v.as_object().if_contains("signatures");
    if (!sigs || !sigs->is_array()) return;
    for (const auto& s : sigs->as_array()) {
        if (!s.is_object()) continue;
        const auto* id = s.as_object().if_contains("key_id");
        if (id && id->is_string()) ids.insert(std::string(id->as_string()));
    }
}

// The inspected table named `name` (a plain function: lambdas may not capture structured
// bindings before C++20's relaxation, which clang 14 of the fuzz tree lacks).
std::vector<TableInspection>::const_iterator FindTable(const DbInspection& got,
                                                       const std::string& name) {
    return std::find_if(got.tables.begin(), got.tables.end(),
                        [&name](const TableInspection& t) { return t.name == name; });
}

void CheckSchema(const DbInspection& got, const BackupMetadata& meta, VerificationResult& out,
                 ComprehensiveVerificationResult* details) {
    std::set<std::string> expected(meta.tables.begin(), meta.tables.end());
    std::set<std::string> actual;
    for (const auto& t : got.tables) actual.insert(t.name);
    std::vector<std::string> missing, extra;
    std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                        std::back_inserter(missing));
    std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                        std::back_inserter(extra));
    out.tables_valid = missing.empty() && extra.empty();
    for (const auto& t : missing)
        AddFailure(out, {"tables", t, "", 0, "table " + t + " is missing from the backup"});
    for (const auto& t : extra)
        AddFailure(
            out, {"tables", t, "", 0, "table " + t + " is in the backup but not in the manifest"});

    out.row_counts_valid = true;
    for (const auto& t : got.tables) out.rows_verified += t.rows;
    for (const auto& [table, expected_rows] : meta.row_counts) {
        auto it = FindTable(got, table);
        const std::int64_t rows = it == got.tables.end() ? 0 : it->rows;
        if (rows != expected_rows) {
            out.row_counts_valid = false;
            AddFailure(out, {"row_counts", table, "", 0,
                             "table " + table + ": " + std::to_string(rows) +
                                 " rows, manifest says " + std::to_string(expected_rows)});
        }
    }
    out.schema_valid = meta.schema_hash.empty() || meta.schema_hash == got.schema_hash;
    if (!out.schema_valid) {
        AddFailure(out, {"schema_hash", "", "", 0,
                         "schema hash " + got.schema_hash + " differs from the manifest's " +
                             meta.schema_hash});
    }
    out.table_checksums_valid = true;
    for (const auto& [table, sum] : meta.table_checksums) {
        if (sum.empty()) continue;
        auto it = FindTable(got, table);
        if (it == got.tables.end() || it->checksum != sum) {
            out.table_checksums_valid = false;
            AddFailure(out, {"table_checksum", table, "", 0,
                             "table " + table +
                                 ": checksum mismatch (its rows differ from the "
                                 "snapshot's)"});
        }
    }
    if (details) {
        details->schema_checked = true;
        details->tables_match = out.tables_valid;
        details->columns_match = out.schema_valid;
        details->missing_tables = missing;
        details->extra_tables = extra;
    }
}

void CheckIntegrity(const DbInspection& got, VerificationResult& out,
                    ComprehensiveVerificationResult* details) {
    out.integrity_valid = got.problems.empty();
    if (details) {
        details->integrity_checked = true;
        details->foreign_keys_valid = true;
    }
    for (const auto& p : got.problems) {
        const std::string table = ProblemTable(p);
        std::string check = "integrity";
        if (p.find("violate a foreign key") != std::string::npos) {
            check = "foreign_key";
            if (details) {
                details->foreign_keys_valid = false;
                details->orphaned_records[table] += LeadingCount(p);
            }
        } else if (p.find("NULL value") != std::string::npos) {
            check = "not_null";
            if (details) details->null_constraint_violations.push_back(p);
        } else if (details) {
            details->integrity_errors.push_back(p);
        }
        AddFailure(out, {check, table, "", 0, p});
    }
}

void CheckReceipts(storage::Store& store, const std::optional<debate::ReceiptKeys>& keys,
                   VerificationResult& out) {
    auto& summary = out.receipt_chain;
    if (!keys) {
        AddFailure(out, {"keys", "receipts", "", 0,
                         "no receipt verification key is configured (ARAGORA_RECEIPT_SIGNING_KEY "
                         "or the data dir's receipt_signing.key): receipt signatures cannot be "
                         "checked"});
    }
    debate::ReceiptChainVerifier verifier(keys.value_or(debate::ReceiptKeys{}));
    std::set<std::string> key_ids;
    std::int64_t after = 0;
    for (;;) {
        auto page = store.ListReceiptChain(after, kChainPage);
        if (!page) {
            AddFailure(out, {"receipt_chain", "receipts", "", 0,
                             "cannot read the receipt chain: " + page.error().message});
            return;
        }
        for (const auto& e : *page) {
            debate::ChainLink link;
            link.chain_seq = e.chain_seq;
            link.receipt_id = e.receipt.receipt_id;
            link.content_hash = e.receipt.content_hash;
            link.previous_hash = e.receipt.previous_hash;
            link.json = e.receipt.json;
            link.tombstone = e.tombstone;
            verifier.Add(link);
            if (!e.tombstone) CollectKeyIds(e.receipt.json, key_ids);
            after = e.chain_seq;
        }
        if (static_cast<int>(page->size()) < kChainPage) break;
    }
    const auto& report = verifier.report();
    summary.checked = true;
    summary.receipts = report.receipts;
    summary.tombstones = report.tombstones;
    summary.verified = report.verified;
    summary.failed = report.failed;
    summary.key_ids_seen.assign(key_ids.begin(), key_ids.end());
    for (const auto& f : report.failures) {
        const bool link =
            f.reason.rfind("chain broken", 0) == 0 || f.reason.rfind("first receipt", 0) == 0;
        AddFailure(out, {link ? "receipt_chain" : "receipt", "receipts", f.receipt_id, f.chain_seq,
                         "receipt " + f.receipt_id + " (chain_seq " + std::to_string(f.chain_seq) +
                             "): " + f.reason});
    }
    if (report.failed > static_cast<std::int64_t>(report.failures.size())) {
        out.errors.push_back(std::to_string(report.failed - report.failures.size()) +
                             " more receipt failures not listed");
    }
    out.receipts_valid = keys.has_value() && report.ok();
}

}  // namespace

void AddFailure(VerificationResult& out, VerificationFailure failure) {
    out.errors.push_back(failure.message);
    out.failures.push_back(std::move(failure));
}

void CheckRestoredDatabase(ScratchDatabase& scratch, const BackupMetadata& meta,
                           const std::optional<debate::ReceiptKeys>& keys, VerificationResult& out,
                           ComprehensiveVerificationResult* details,
                           std::shared_ptr<const ::aragora::keys::FieldCipher> content_cipher) {
    auto inspection = scratch.Inspect();
    if (!inspection) {
        AddFailure(out, {"restore", "", "", 0,
                         "cannot inspect the restored database: " + inspection.error().message});
        return;
    }
    out.restore_tested = true;
    CheckSchema(*inspection, meta, out, details);
    CheckIntegrity(*inspection, out, details);
    if (content_cipher) {
        auto opened =
            storage::WrapBorrowedWithContentCipher(scratch.store(), std::move(content_cipher), {});
        CheckReceipts(*opened, keys, out);
        return;
    }
    CheckReceipts(scratch.store(), keys, out);
}

}  // namespace aragora::ops
