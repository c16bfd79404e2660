#pragma once

// Internal to the backup manager: what a restored scratch database is checked for, and
// against what (the manifest entry written when the backup was made).

#include <optional>

#include "debate/receipt.hpp"
#include "ops/backup_engine.hpp"
#include "ops/backup_manager.hpp"

namespace aragora::ops {

// Checks `scratch` against `meta` and fills the restore part of `out` (tables_valid,
// row_counts_valid, schema_valid, integrity_valid, table_checksums_valid,
// receipts_valid, receipt_chain, rows_verified, failures and errors) and, when given,
// the comprehensive details. Every receipt in the chain is re-verified with `keys`
// (signature by a trusted key, stored columns, links); nullopt keys is itself a failure
// ("keys") since no signature can then be trusted. Never throws; store errors become
// failures.
// Sealed debate content is opened with `content_cipher` (may be null) before verifying.
void CheckRestoredDatabase(
    ScratchDatabase& scratch, const BackupMetadata& meta,
    const std::optional<debate::ReceiptKeys>& keys, VerificationResult& out,
    ComprehensiveVerificationResult* details,
    std::shared_ptr<const ::aragora::keys::FieldCipher> content_cipher = nullptr);

// Adds a failure (and its line in `errors`).
void AddFailure(VerificationResult& out, VerificationFailure failure);

}  // namespace aragora::ops
