#pragma once

// Offsite copies of backups in S3-compatible storage (the runbook's "S3/GCS"), what the
// BackupManager and `aragora backup` call. Layout in the bucket, under the prefix
// (ARAGORA_BACKUP_S3_PREFIX, default "aragora/backups/"):
//
//   <prefix><file name>        the backup file, byte for byte
//   <prefix><file name>.json   its manifest entry (JSON object), written after the file,
//                              so a fresh machine can rebuild its manifest from the bucket
//
// Settings come from config::BackupSettings (s3_bucket, s3_endpoint, s3_region,
// s3_prefix); credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
// are read through the EnvLookup at every call, never stored, logged or put into an
// error. Every call blocks (see ops/s3_client.hpp): run it on the CLI's main thread or
// the blocking pool. Errors are those of S3Client, plus kValidation for a bad file name
// and for missing credentials (naming the variables).

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/settings.hpp"
#include "ops/s3_client.hpp"

namespace aragora::ops {

// What the settings do not hold: HTTP client settings (pass config::AgentSettings'
// https_proxy, no_proxy and ca_file: HTTPS_PROXY, NO_PROXY, ARAGORA_CA_BUNDLE), and the
// S3Client limits (defaults: 300 s per exchange, 3 attempts, single PUT up to 16 MiB,
// 8 MiB parts above, downloads in 64 MiB ranges).
struct OffsiteOptions {
    std::string https_proxy;
    std::string no_proxy;
    std::string ca_file;
    std::chrono::milliseconds request_timeout{300'000};
    int max_attempts = 3;
    std::chrono::milliseconds retry_delay{500};
    std::uint64_t single_put_limit = 16 * 1024 * 1024;
    std::uint64_t part_size = 8 * 1024 * 1024;
    std::uint64_t download_chunk_size = 64 * 1024 * 1024;
};

struct RemoteBackup {
    std::string file_name;  // "aragora_20260101_020000_ab12cd34.db.gz"
    std::string key;        // "<prefix><file name>"
    std::uint64_t size_bytes = 0;
    std::string last_modified;  // as the listing gives it (ISO 8601)
    // The sidecar's manifest entry; nullopt when there is no sidecar (an upload cut
    // before it was written) or it could not be read (then manifest_error says why).
    std::optional<boost::json::object> manifest_entry;
    std::string manifest_error;
};

// True when offsite copies are configured (ARAGORA_BACKUP_S3_BUCKET set).
bool OffsiteEnabled(const config::BackupSettings& settings);

// A plain backup file name: 1..255 bytes, no '/', no control character, not "." or "..",
// not ending in ".json" (that suffix marks sidecars). kValidation otherwise.
common::Status ValidateBackupFileName(std::string_view file_name);

class Offsite {
public:
    // kValidation naming ARAGORA_BACKUP_S3_BUCKET when offsite copies are off, or naming
    // ARAGORA_BACKUP_S3_ENDPOINT when the endpoint is not an http(s) URL. `env` is kept
    // and read at every call for the credentials.
    static common::Result<Offsite> Create(const config::BackupSettings& settings,
                                          config::EnvLookup env = config::ProcessEnv(),
                                          OffsiteOptions options = {});

    // Uploads `local_file` as <prefix><its file name> (multipart above 16 MiB), then the
    // sidecar <prefix><file name>.json holding `manifest_entry`. A failure in either step
    // is the error (the file may then be there without its sidecar; a later upload of the
    // same name replaces both).
    common::Status UploadBackup(const std::string& local_file,
                                const boost::json::object& manifest_entry);

    // The backups under the prefix (not in sub-"folders"), by file name, each with its
    // sidecar's manifest entry when present. Objects ending in ".json" are sidecars,
    // never listed as backups.
    common::Result<std::vector<RemoteBackup>> ListRemoteBackups();

    // Downloads <prefix><file_name> into `dest_dir` (which must exist) as
    // dest_dir/file_name (temp file, fsync, rename; size checked) and returns that path.
    // kNotFound when the bucket has no such backup. Integrity beyond the size (the
    // checksum in the manifest entry) is the caller's check.
    common::Result<std::string> DownloadBackup(const std::string& file_name,
                                               const std::string& dest_dir);

    // Deletes the sidecar, then the file (a failure between the two leaves the file
    // listed without a manifest; calling again finishes). Deleting what is not there
    // succeeds.
    common::Status DeleteRemoteBackup(const std::string& file_name);

    // "s3://<bucket>/<prefix><file name>", for messages.
    std::string RemoteUrl(const std::string& file_name) const;
    const std::string& prefix() const { return prefix_; }

private:
    Offsite(S3Config base, std::string prefix, config::EnvLookup env)
        : base_(std::move(base)), prefix_(std::move(prefix)), env_(std::move(env)) {}
    // An S3Client with the credentials read now.
    common::Result<S3Client> Client() const;

    S3Config base_;  // everything but the credentials
    std::string prefix_;
    config::EnvLookup env_;
};

}  // namespace aragora::ops
