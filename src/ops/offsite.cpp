#include "ops/offsite.hpp"

#include <sys/stat.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <map>

#include "common/aws_sigv4.hpp"
#include "common/json_text.hpp"

namespace aragora::ops {

using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

namespace {

constexpr std::string_view kSidecarSuffix = ".json";
constexpr std::size_t kMaxSidecarBytes = 1024 * 1024;

std::string NormalisePrefix(std::string prefix) {
    while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
    if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
    return prefix;
}

}  // namespace

bool OffsiteEnabled(const config::BackupSettings& settings) { return !settings.s3_bucket.empty(); }

Status ValidateBackupFileName(std::string_view file_name) {
    auto bad = [&](std::string_view why) {
        return MakeError(ErrorCode::kValidation, "backup file name " + std::string(why),
                         "file_name");
    };
    if (file_name.empty() || file_name.size() > 255) return bad("must be 1..255 bytes");
    if (file_name == "." || file_name == "..") return bad("must not be . or ..");
    for (char c : file_name) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '/' || u < 0x20 || u == 0x7f) {
            return bad("must be a plain name (no '/' or control character)");
        }
    }
    if (file_name.ends_with(kSidecarSuffix)) return bad("must not end in .json (sidecars do)");
    return {};
}

Result<Offsite> Offsite::Create(const config::BackupSettings& settings, config::EnvLookup env,
                                OffsiteOptions options) {
    if (!OffsiteEnabled(settings)) {
        return MakeError(ErrorCode::kValidation,
                         "offsite copies are off: set ARAGORA_BACKUP_S3_BUCKET",
                         "ARAGORA_BACKUP_S3_BUCKET");
    }
    S3Config base;
    base.endpoint = settings.s3_endpoint.empty()
                        ? "https://s3." + settings.s3_region + ".amazonaws.com"
                        : settings.s3_endpoint;
    base.region = settings.s3_region.empty() ? "us-east-1" : settings.s3_region;
    base.bucket = settings.s3_bucket;
    base.request_timeout = options.request_timeout;
    base.max_attempts = options.max_attempts;
    base.retry_delay = options.retry_delay;
    base.single_put_limit = options.single_put_limit;
    base.part_size = options.part_size;
    base.download_chunk_size = options.download_chunk_size;
    base.ca_file = options.ca_file;
    base.https_proxy = options.https_proxy;
    base.no_proxy = options.no_proxy;
    if (auto address = ResolveS3Address(base); !address) return address.error();
    if (!env) env = config::ProcessEnv();
    return Offsite(std::move(base), NormalisePrefix(settings.s3_prefix), std::move(env));
}

Result<S3Client> Offsite::Client() const {
    auto credentials = common::AwsCredentialsFromEnv(env_);
    if (!credentials) {
        return MakeError(credentials.error().code,
                         "offsite copy to s3://" + base_.bucket +
                             " needs credentials: " + credentials.error().message,
                         credentials.error().field);
    }
    S3Config config = base_;
    config.credentials = std::move(*credentials);
    return S3Client(std::move(config));
}

std::string Offsite::RemoteUrl(const std::string& file_name) const {
    return "s3://" + base_.bucket + "/" + prefix_ + file_name;
}

Status Offsite::UploadBackup(const std::string& local_file,
                             const boost::json::object& manifest_entry) {
    const std::string file_name = std::filesystem::path(local_file).filename().string();
    if (Status s = ValidateBackupFileName(file_name); !s) return s;
    auto client = Client();
    if (!client) return client.error();
    const std::string key = prefix_ + file_name;
    if (auto put = client->PutObjectFromFile(key, local_file); !put) return put.error();
    return client->PutObject(key + std::string(kSidecarSuffix),
                             common::SerializeJson(manifest_entry), "application/json");
}

Result<std::vector<RemoteBackup>> Offsite::ListRemoteBackups() {
    auto client = Client();
    if (!client) return client.error();
    auto objects = client->ListObjects(prefix_);
    if (!objects) return objects.error();

    std::map<std::string, const S3Object*> sidecars;  // by backup file name
    std::vector<RemoteBackup> backups;
    for (const S3Object& object : *objects) {
        const std::string_view name = std::string_view(object.key).substr(prefix_.size());
        if (name.empty() || name.find('/') != std::string_view::npos) continue;
        if (name.ends_with(kSidecarSuffix)) {
            sidecars[std::string(name.substr(0, name.size() - kSidecarSuffix.size()))] = &object;
            continue;
        }
        RemoteBackup backup;
        backup.file_name = std::string(name);
        backup.key = object.key;
        backup.size_bytes = object.size;
        backup.last_modified = object.last_modified;
        backups.push_back(std::move(backup));
    }
    for (RemoteBackup& backup : backups) {
        auto it = sidecars.find(backup.file_name);
        if (it == sidecars.end()) continue;
        auto text = client->GetObject(it->second->key, kMaxSidecarBytes);
        if (!text) {
            // A sidecar deleted between the listing and the read counts as absent.
            if (text.error().code != ErrorCode::kNotFound) {
                backup.manifest_error = text.error().message;
            }
            continue;
        }
        boost::system::error_code ec;
        boost::json::value parsed = boost::json::parse(*text, ec);
        if (ec || !parsed.is_object()) {
            backup.manifest_error = "sidecar " + it->second->key + " is not a JSON object";
            continue;
        }
        backup.manifest_entry = std::move(parsed.as_object());
    }
    return backups;
}

Result<std::string> Offsite::DownloadBackup(const std::string& file_name,
                                            const std::string& dest_dir) {
    if (Status s = ValidateBackupFileName(file_name); !s) return s.error();
    struct stat st {};
    if (::stat(dest_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return MakeError(ErrorCode::kValidation,
                         "download directory " + dest_dir + " does not exist", "dest_dir");
    }
    auto client = Client();
    if (!client) return client.error();
    const std::string dest = (std::filesystem::path(dest_dir) / file_name).string();
    auto written = client->GetObjectToFile(prefix_ + file_name, dest);
    if (!written) {
        if (written.error().code == ErrorCode::kNotFound) {
            return MakeError(ErrorCode::kNotFound, "no offsite backup " + RemoteUrl(file_name) +
                                                       ": " + written.error().message);
        }
        return written.error();
    }
    return dest;
}

Status Offsite::DeleteRemoteBackup(const std::string& file_name) {
    if (Status s = ValidateBackupFileName(file_name); !s) return s;
    auto client = Client();
    if (!client) return client.error();
    const std::string key = prefix_ + file_name;
    if (Status s = client->DeleteObject(key + std::string(kSidecarSuffix)); !s) return s;
    return client->DeleteObject(key);
}

}  // namespace aragora::ops
