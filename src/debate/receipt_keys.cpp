#include "debate/receipt_keys.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"

namespace aragora::debate {

using common::ErrorCode;
using common::MakeError;

namespace {

constexpr const char* kKeyFileName = "receipt_signing.key";
constexpr std::size_t kLocalKeyBytes = 32;
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

std::string Errno(int err) { return std::strerror(err); }

common::Status WriteAll(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return MakeError(ErrorCode::kStorage, "cannot write " + path + ": " + Errno(errno));
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd) != 0)
        return MakeError(ErrorCode::kStorage, "cannot sync " + path + ": " + Errno(errno));
    return {};
}

// Creates `path` with `content`, mode 0600 from the first instant (O_EXCL: never
// follows or reuses an existing file). Returns false when it already exists.
common::Result<bool> CreateExclusive(const std::string& path, std::string_view content) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return false;
        return MakeError(ErrorCode::kStorage, "cannot create " + path + ": " + Errno(errno));
    }
    common::Status written = WriteAll(fd, content, path);
    ::close(fd);
    if (!written.ok()) {
        ::unlink(path.c_str());
        return written.error();
    }
    return true;
}

common::Result<std::string> ReadKeyFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return MakeError(ErrorCode::kStorage, "cannot read " + path + ": " + Errno(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
        common::GetLogger("aragora.receipts")
            ->warn("receipt signing key file {} is accessible by other users; chmod 600 it", path);
    }
    std::string content;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            return MakeError(ErrorCode::kStorage, "cannot read " + path + ": " + Errno(err));
        }
        if (n == 0) break;
        content.append(buf, static_cast<std::size_t>(n));
        if (content.size() > kMaxKeyFileBytes) {
            ::close(fd);
            return MakeError(ErrorCode::kValidation, path + " is too large for a key file");
        }
    }
    ::close(fd);
    std::string key(common::Trim(content));
    if (key.empty()) return MakeError(ErrorCode::kValidation, path + " is empty");
    return key;
}

// The development key: read `<data_dir>/receipt_signing.key`, or create it. Creation
// writes a private temporary file and hard-links it into place, so a concurrent
// starter never sees a half-written key; where links are unsupported it falls back to
// creating the file in place.
common::Result<std::string> ReadOrCreateLocalKey(const std::string& data_dir) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        return MakeError(ErrorCode::kStorage,
                         "cannot create data directory " + data_dir + ": " + ec.message());
    }
    const std::string path = (std::filesystem::path(data_dir) / kKeyFileName).string();
    if (::access(path.c_str(), F_OK) == 0) return ReadKeyFile(path);

    const std::string content = common::Base64Encode(common::RandomBytes(kLocalKeyBytes)) + "\n";
    const std::string tmp = path + ".tmp-" + common::HexEncode(common::RandomBytes(6));
    auto created = CreateExclusive(tmp, content);
    if (!created) return created.error();
    if (!*created) return MakeError(ErrorCode::kStorage, "temporary file " + tmp + " exists");
    int rc = ::link(tmp.c_str(), path.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc != 0 && err != EEXIST) {
        auto direct = CreateExclusive(path, content);
        if (!direct) return direct.error();
    }
    return ReadKeyFile(path);
}

common::Result<common::Ed25519KeyPair> LoadEd25519(const std::string& path) {
    const std::string var = "ARAGORA_RECEIPT_ED25519_KEY_FILE";
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return MakeError(ErrorCode::kValidation,
                         var + ": cannot read " + path + ": " + Errno(errno), var);
    }
    std::ostringstream pem;
    pem << in.rdbuf();
    auto key = common::Ed25519FromPem(pem.str());
    if (!key) {
        return MakeError(ErrorCode::kValidation,
                         var + ": " + path + " is not an Ed25519 PKCS#8 PEM private key (" +
                             key.error().message + ")",
                         var);
    }
    return key;
}

// ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED: a value naming an existing file is read as one
// key per line (blank lines and lines starting with '#' skipped); otherwise a comma list.
// Messages never quote the value (it may be key material).
common::Result<std::vector<std::string>> ParseRetiredKeys(const std::string& value) {
    const std::string var = "ARAGORA_RECEIPT_SIGNING_KEYS_RETIRED";
    std::vector<std::string> keys;
    std::string_view text = value;
    std::string content;
    std::error_code ec;
    const bool is_file = value.find(',') == std::string::npos && !value.empty() &&
                         (value.front() == '/' || value.front() == '.') &&
                         std::filesystem::is_regular_file(value, ec);
    if (is_file) {
        auto read = ReadKeyFile(value);
        if (!read) return MakeError(read.error().code, var + ": " + read.error().message, var);
        content = std::move(*read);
        for (std::string_view rest = content; !rest.empty();) {
            const std::size_t nl = rest.find('\n');
            std::string_view line = common::Trim(rest.substr(0, nl));
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
            if (line.empty() || line.front() == '#') continue;
            keys.emplace_back(line);
        }
        return keys;
    }
    for (std::string_view rest = text; !rest.empty();) {
        const std::size_t comma = rest.find(',');
        std::string_view item = common::Trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (!item.empty()) keys.emplace_back(item);
    }
    return keys;
}

}  // namespace

common::Result<std::vector<std::string>> LoadRetiredReceiptKeys(const config::Settings& settings) {
    return ParseRetiredKeys(settings.receipts.signing_keys_retired);
}

common::Result<ReceiptKeys> LoadReceiptKeys(const config::Settings& settings) {
    ReceiptKeys keys;
    keys.hmac_previous = settings.receipts.signing_key_previous;
    auto retired = ParseRetiredKeys(settings.receipts.signing_keys_retired);
    if (!retired) return retired.error();
    keys.hmac_retired = std::move(*retired);
    if (!settings.receipts.signing_key.empty()) {
        keys.hmac_current = settings.receipts.signing_key;
    } else if (settings.production) {
        return MakeError(ErrorCode::kValidation,
                         "ARAGORA_RECEIPT_SIGNING_KEY must be set in production (receipts are "
                         "signed with it)",
                         "ARAGORA_RECEIPT_SIGNING_KEY");
    } else {
        auto local = ReadOrCreateLocalKey(settings.storage.data_dir);
        if (!local) return local.error();
        keys.hmac_current = std::move(*local);
        common::GetLogger("aragora.receipts")
            ->info("using local receipt signing key at {} (development only)",
                   (std::filesystem::path(settings.storage.data_dir) / kKeyFileName).string());
    }
    if (!settings.receipts.ed25519_key_file.empty()) {
        auto ed = LoadEd25519(settings.receipts.ed25519_key_file);
        if (!ed) return ed.error();
        keys.ed25519 = std::move(*ed);
    }
    return keys;
}

common::Result<std::optional<ReceiptKeys>> LoadExistingReceiptKeys(const config::Settings& settings,
                                                                   bool* from_file) {
    ReceiptKeys keys;
    keys.hmac_previous = settings.receipts.signing_key_previous;
    auto retired = ParseRetiredKeys(settings.receipts.signing_keys_retired);
    if (!retired) return retired.error();
    keys.hmac_retired = std::move(*retired);
    if (from_file) *from_file = false;
    if (!settings.receipts.signing_key.empty()) {
        keys.hmac_current = settings.receipts.signing_key;
    } else {
        const std::string path =
            (std::filesystem::path(settings.storage.data_dir) / kKeyFileName).string();
        if (::access(path.c_str(), F_OK) == 0) {
            auto key = ReadKeyFile(path);
            if (!key) return key.error();
            keys.hmac_current = std::move(*key);
            if (from_file) *from_file = true;
        }
    }
    if (!settings.receipts.ed25519_key_file.empty()) {
        auto ed = LoadEd25519(settings.receipts.ed25519_key_file);
        if (!ed) return ed.error();
        keys.ed25519 = std::move(*ed);
    }
    if (keys.hmac_current.empty() && keys.hmac_previous.empty() && keys.hmac_retired.empty() &&
        !keys.ed25519) {
        return std::optional<ReceiptKeys>();
    }
    return std::optional<ReceiptKeys>(std::move(keys));
}

}  // namespace aragora::debate
