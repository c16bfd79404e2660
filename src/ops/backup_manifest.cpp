#include "ops/backup_manifest.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/atomic_file.hpp"
#include "common/json_text.hpp"
#include "common/time.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using common::ErrorCode;
using common::MakeError;

// Held for one read-modify-replace. flock(2) waits without a deadline: the holders keep
// it for the few milliseconds of reading and replacing two small files, never longer.
class DirLock {
public:
    static common::Result<DirLock> Take(const fs::path& path) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            return MakeError(ErrorCode::kStorage,
                             "cannot open " + path.string() + ": " + std::strerror(errno));
        }
        int rc;
        do {
            rc = ::flock(fd, LOCK_EX);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            const int err = errno;
            ::close(fd);
            return MakeError(ErrorCode::kStorage,
                             "cannot lock " + path.string() + ": " + std::strerror(err));
        }
        return DirLock(fd);
    }
    DirLock(DirLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    DirLock& operator=(DirLock&&) = delete;
    ~DirLock() {
        if (fd_ >= 0) ::close(fd_);
    }

private:
    explicit DirLock(int fd) : fd_(fd) {}
    int fd_;
};

// nullopt when the file does not exist.
common::Result<std::optional<json::value>> ReadJson(const fs::path& path) {
    std::error_code exists_ec;
    if (!fs::exists(path, exists_ec)) return std::optional<json::value>();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return MakeError(ErrorCode::kStorage,
                         "cannot read " + path.string() + ": " + std::strerror(errno));
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    json::value v = json::parse(ss.str(), ec);
    if (ec) {
        return MakeError(ErrorCode::kStorage, path.string() + " is not valid JSON (" +
                                                  ec.message() + "); fix or move it away");
    }
    return std::optional<json::value>(std::move(v));
}

}  // namespace

BackupManifest::BackupManifest(fs::path backup_dir)
    : dir_(std::move(backup_dir)),
      manifest_path_(dir_ / "manifest.json"),
      drills_path_(dir_ / "drill_history.json"),
      lock_path_(dir_ / ".manifest.lock") {}

common::Result<ManifestEntries> BackupManifest::Load() const {
    auto doc = ReadJson(manifest_path_);
    if (!doc) return doc.error();
    ManifestEntries out;
    if (!*doc) return out;
    const auto* root = (*doc)->if_object();
    const json::value* backups = root ? root->if_contains("backups") : nullptr;
    if (!backups || !backups->is_object()) {
        return MakeError(
            ErrorCode::kStorage,
            manifest_path_.string() + " has no \"backups\" object; fix or move it away");
    }
    for (const auto& [id, entry] : backups->as_object()) {
        if (!entry.is_object()) {
            return MakeError(ErrorCode::kStorage, manifest_path_.string() + ": entry " +
                                                      std::string(id) + " is not an object");
        }
        auto meta = BackupMetadata::FromJson(entry.as_object());
        if (!meta) {
            return MakeError(ErrorCode::kStorage,
                             manifest_path_.string() + ": " + meta.error().message);
        }
        out.emplace(meta->id, std::move(*meta));
    }
    return out;
}

common::Status BackupManifest::Update(
    TimePoint now, const std::function<common::Status(ManifestEntries&)>& change) {
    auto lock = DirLock::Take(lock_path_);
    if (!lock) return lock.error();
    auto entries = Load();
    if (!entries) return entries.error();
    if (auto s = change(*entries); !s) return s;
    // Oldest first, as the original's insertion order reads.
    std::vector<const BackupMetadata*> ordered;
    for (const auto& [id, m] : *entries) ordered.push_back(&m);
    std::sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) {
        return std::tie(a->created_at, a->id) < std::tie(b->created_at, b->id);
    });
    json::object backups;
    for (const auto* m : ordered) backups[m->id] = m->ToJson();
    json::object root{{"backups", std::move(backups)},
                      {"updated_at", common::FormatIso8601(now)},
                      {"version", 1}};
    return common::WriteFileAtomically(manifest_path_.string(), common::SerializeJson(root) + "\n",
                                       0640);
}

common::Result<std::vector<RestoreDrillReport>> BackupManifest::LoadDrills() const {
    auto doc = ReadJson(drills_path_);
    if (!doc) return doc.error();
    std::vector<RestoreDrillReport> out;
    if (!*doc) return out;
    if (!(*doc)->is_array()) {
        return MakeError(ErrorCode::kStorage,
                         drills_path_.string() + " is not a JSON list; fix or move it away");
    }
    for (const auto& v : (*doc)->as_array()) {
        if (!v.is_object()) continue;
        auto r = RestoreDrillReport::FromJson(v.as_object());
        if (r) out.push_back(std::move(*r));
    }
    return out;
}

common::Status BackupManifest::AppendDrill(const RestoreDrillReport& report) {
    auto lock = DirLock::Take(lock_path_);
    if (!lock) return lock.error();
    auto drills = LoadDrills();
    if (!drills) return drills.error();
    drills->push_back(report);
    const std::size_t skip = drills->size() > kMaxDrills ? drills->size() - kMaxDrills : 0;
    json::array a;
    for (std::size_t i = skip; i < drills->size(); ++i) a.emplace_back((*drills)[i].ToJson());
    return common::WriteFileAtomically(drills_path_.string(), common::SerializeJson(a) + "\n",
                                       0640);
}

}  // namespace aragora::ops
