#include "ops/backup_crypto.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "common/crypto.hpp"
#include "common/strings.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;
using common::MakeError;

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kNoncePrefixSize = 8;
constexpr std::size_t kKeyIdSize = 16;
constexpr std::size_t kVersionOffset = 8;
constexpr std::size_t kChunkSizeOffset = 9;
constexpr std::size_t kKeyIdOffset = 13;
constexpr std::size_t kNoncePrefixOffset = 29;
constexpr std::uint64_t kMaxChunks = std::uint64_t{1} << 32;
constexpr std::string_view kKeyVariable = "ARAGORA_BACKUP_ENCRYPTION_KEY";

static_assert(kBackupMagic.size() == 8);
static_assert(kNoncePrefixOffset + kNoncePrefixSize == kBackupHeaderSize);

common::Error CryptoError(std::string message) {
    return MakeError(ErrorCode::kCrypto, std::move(message));
}

common::Error IoError(const std::string& what, const fs::path& path, int err) {
    return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal,
                     what + " " + path.string() + ": " + std::strerror(err));
}

// OpenSSL fails here only on a broken library or out-of-memory, never on input.
common::Error OpenSslError(const char* what) {
    const unsigned long err = ERR_get_error();
    ERR_clear_error();
    char buf[256] = {0};
    if (err != 0) ERR_error_string_n(err, buf, sizeof buf);
    return CryptoError(std::string("OpenSSL ") + what + " failed" + (err != 0 ? ": " : "") + buf);
}

void PutBe32(unsigned char* p, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) {
        p[i] = static_cast<unsigned char>(v & 0xff);
        v >>= 8;
    }
}

void PutBe64(unsigned char* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<unsigned char>(v & 0xff);
        v >>= 8;
    }
}

std::uint32_t GetBe32(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

bool IsLowerHex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

common::Status CheckChunkSize(std::uint32_t chunk_size) {
    if (chunk_size == 0 || chunk_size > kMaxBackupChunkSize) {
        return MakeError(ErrorCode::kValidation, "backup encryption chunk size must be 1.." +
                                                     std::to_string(kMaxBackupChunkSize) +
                                                     " bytes, got " + std::to_string(chunk_size));
    }
    return {};
}

struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// The header fields, parsed and checked, with the raw bytes every chunk's AAD starts with.
struct Header {
    std::array<unsigned char, kBackupHeaderSize> raw{};
    std::uint8_t version = 0;
    std::uint32_t chunk_size = 0;
    std::string key_id;
};

Header MakeHeader(const BackupKey& key, std::uint32_t chunk_size) {
    Header h;
    std::memcpy(h.raw.data(), kBackupMagic.data(), kBackupMagic.size());
    h.raw[kVersionOffset] = kBackupFormatVersion;
    PutBe32(h.raw.data() + kChunkSizeOffset, chunk_size);
    std::memcpy(h.raw.data() + kKeyIdOffset, key.key_id.data(), kKeyIdSize);
    const std::string prefix = common::RandomBytes(kNoncePrefixSize);
    std::memcpy(h.raw.data() + kNoncePrefixOffset, prefix.data(), kNoncePrefixSize);
    h.version = kBackupFormatVersion;
    h.chunk_size = chunk_size;
    h.key_id = key.key_id;
    return h;
}

// `got` bytes of a header read from the start of a file (fewer than the header size only
// when the file is that short).
common::Result<Header> ParseHeader(const unsigned char* data, std::size_t got) {
    const std::string_view magic(reinterpret_cast<const char*>(data),
                                 std::min(got, kBackupMagic.size()));
    if (got < kBackupMagic.size() || magic != kBackupMagic) {
        return CryptoError("not an encrypted Aragora backup (no ARAGBKUP header)");
    }
    if (got > kVersionOffset && data[kVersionOffset] != kBackupFormatVersion) {
        return CryptoError("unsupported encrypted backup format version " +
                           std::to_string(data[kVersionOffset]) + " (this build reads version " +
                           std::to_string(kBackupFormatVersion) + ")");
    }
    if (got < kBackupHeaderSize)
        return CryptoError("encrypted backup is cut short (in the header)");
    Header h;
    std::memcpy(h.raw.data(), data, kBackupHeaderSize);
    h.version = data[kVersionOffset];
    h.chunk_size = GetBe32(data + kChunkSizeOffset);
    if (h.chunk_size == 0 || h.chunk_size > kMaxBackupChunkSize) {
        return CryptoError("encrypted backup header is damaged (chunk size " +
                           std::to_string(h.chunk_size) + ")");
    }
    h.key_id.assign(reinterpret_cast<const char*>(data + kKeyIdOffset), kKeyIdSize);
    if (!IsLowerHex(h.key_id)) return CryptoError("encrypted backup header is damaged (key id)");
    return h;
}

// AES-256-GCM over one chunk with the format's nonce and AAD.
class ChunkCipher {
public:
    ChunkCipher(const BackupKey& key, const Header& header) {
        std::memcpy(key_.data(), key.bytes.data(), key_.size());
        std::memcpy(nonce_.data(), header.raw.data() + kNoncePrefixOffset, kNoncePrefixSize);
        std::memcpy(aad_.data(), header.raw.data(), kBackupHeaderSize);
    }
    ~ChunkCipher() { OPENSSL_cleanse(key_.data(), key_.size()); }
    ChunkCipher(const ChunkCipher&) = delete;
    ChunkCipher& operator=(const ChunkCipher&) = delete;

    // Appends ciphertext ‖ tag of `plain` as chunk `index` to `out`.
    common::Status Seal(std::string_view plain, std::uint64_t index, bool final, std::string& out) {
        if (auto s = Begin(index, final, /*encrypt=*/true); !s) return s;
        const std::size_t start = out.size();
        out.resize(start + plain.size() + kBackupTagSize);
        auto* dst = reinterpret_cast<unsigned char*>(out.data() + start);
        int len = 0;
        if (!plain.empty() &&
            (EVP_EncryptUpdate(ctx_.get(), dst, &len,
                               reinterpret_cast<const unsigned char*>(plain.data()),
                               static_cast<int>(plain.size())) != 1 ||
             static_cast<std::size_t>(len) != plain.size())) {
            return OpenSslError("encrypt");
        }
        int fin = 0;
        if (EVP_EncryptFinal_ex(ctx_.get(), dst + plain.size(), &fin) != 1 || fin != 0) {
            return OpenSslError("encrypt final");
        }
        if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, kBackupTagSize,
                                dst + plain.size()) != 1) {
            return OpenSslError("tag");
        }
        return {};
    }

    // Authenticates and decrypts one record (ciphertext ‖ tag) into `out` (replaced).
    // False when the tag does not match (the caller names the chunk).
    common::Result<bool> Open(std::string_view record, std::uint64_t index, bool final,
                              std::string& out) {
        if (auto s = Begin(index, final, /*encrypt=*/false); !s) return s.error();
        const std::size_t n = record.size() - kBackupTagSize;
        out.resize(n);
        auto* dst = reinterpret_cast<unsigned char*>(out.data());
        const auto* src = reinterpret_cast<const unsigned char*>(record.data());
        int len = 0;
        if (n > 0 && (EVP_DecryptUpdate(ctx_.get(), dst, &len, src, static_cast<int>(n)) != 1 ||
                      static_cast<std::size_t>(len) != n)) {
            return OpenSslError("decrypt");
        }
        unsigned char tag[kBackupTagSize];
        std::memcpy(tag, src + n, kBackupTagSize);
        if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, kBackupTagSize, tag) != 1) {
            return OpenSslError("tag");
        }
        int fin = 0;
        if (EVP_DecryptFinal_ex(ctx_.get(), dst + n, &fin) != 1) {
            ERR_clear_error();
            OPENSSL_cleanse(out.data(), out.size());
            out.clear();
            return false;
        }
        return true;
    }

private:
    common::Status Begin(std::uint64_t index, bool final, bool encrypt) {
        if (index >= kMaxChunks) return CryptoError("encrypted backup has too many chunks");
        if (!ctx_) {
            ctx_.reset(EVP_CIPHER_CTX_new());
            if (!ctx_) return OpenSslError("cipher context");
        }
        PutBe32(nonce_.data() + kNoncePrefixSize, static_cast<std::uint32_t>(index));
        PutBe64(aad_.data() + kBackupHeaderSize, index);
        aad_[kBackupHeaderSize + 8] = final ? 1 : 0;
        const int ok = encrypt ? EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr,
                                                    key_.data(), nonce_.data())
                               : EVP_DecryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr,
                                                    key_.data(), nonce_.data());
        if (ok != 1) return OpenSslError("cipher init");
        int len = 0;
        const int aad_ok = encrypt ? EVP_EncryptUpdate(ctx_.get(), nullptr, &len, aad_.data(),
                                                       static_cast<int>(aad_.size()))
                                   : EVP_DecryptUpdate(ctx_.get(), nullptr, &len, aad_.data(),
                                                       static_cast<int>(aad_.size()));
        if (aad_ok != 1) return OpenSslError("aad");
        return {};
    }

    std::array<unsigned char, 32> key_{};
    std::array<unsigned char, kNonceSize> nonce_{};
    std::array<unsigned char, kBackupHeaderSize + 9> aad_{};
    CipherCtxPtr ctx_;
};
static_assert(kNonceSize == kNoncePrefixSize + 4);

// Where bytes come from: Read fills `n` bytes unless the input ends first.
class Source {
public:
    virtual ~Source() = default;
    virtual common::Result<std::size_t> Read(unsigned char* buf, std::size_t n) = 0;
};

class StringSource final : public Source {
public:
    explicit StringSource(std::string_view data) : data_(data) {}
    common::Result<std::size_t> Read(unsigned char* buf, std::size_t n) override {
        const std::size_t k = std::min(n, data_.size());
        std::memcpy(buf, data_.data(), k);
        data_.remove_prefix(k);
        return k;
    }

private:
    std::string_view data_;
};

class FdSource final : public Source {
public:
    FdSource(int fd, fs::path path) : fd_(fd), path_(std::move(path)) {}
    common::Result<std::size_t> Read(unsigned char* buf, std::size_t n) override {
        std::size_t got = 0;
        while (got < n) {
            const ssize_t r = ::read(fd_, buf + got, n - got);
            if (r < 0) {
                if (errno == EINTR) continue;
                return IoError("cannot read", path_, errno);
            }
            if (r == 0) break;
            got += static_cast<std::size_t>(r);
        }
        return got;
    }

private:
    int fd_;
    fs::path path_;
};

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { Reset(); }
    UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o) {
            Reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    int get() const { return fd_; }
    int Release() { return std::exchange(fd_, -1); }
    void Reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

common::Result<UniqueFd> OpenForReading(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open", path, errno);
    return UniqueFd(fd);
}

// A fresh temporary file beside `target` that replaces it on Commit() and is removed
// otherwise (the common/atomic_file pattern, for streamed content).
class TempFile {
public:
    static common::Result<TempFile> Create(const fs::path& target, mode_t mode) {
        fs::path dir = target.parent_path();
        if (dir.empty()) dir = ".";
        std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
        const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
        if (fd < 0) return IoError("cannot create a temporary file for", target, errno);
        TempFile f;
        f.fd_ = UniqueFd(fd);
        f.tmp_ = tmp;
        f.target_ = target;
        f.dir_ = dir;
        if (::fchmod(fd, mode) != 0) return IoError("cannot set the mode of", target, errno);
        return f;
    }
    TempFile() = default;
    TempFile(TempFile&& o) noexcept
        : fd_(std::move(o.fd_)),
          tmp_(std::exchange(o.tmp_, {})),
          target_(std::move(o.target_)),
          dir_(std::move(o.dir_)) {}
    TempFile& operator=(TempFile&&) = delete;
    ~TempFile() { Discard(); }

    common::Status Write(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::write(fd_.get(), data.data(), data.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                return IoError("cannot write", target_, errno);
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return {};
    }

    common::Status Commit() {
        if (::fsync(fd_.get()) != 0) return IoError("cannot sync", target_, errno);
        if (::close(fd_.Release()) != 0) return IoError("cannot write", target_, errno);
        if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
            return IoError("cannot replace", target_, errno);
        }
        tmp_.clear();
        // The rename itself must survive a crash: sync the directory entry too.
        const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            const int rc = ::fsync(dfd);
            const int err = errno;
            ::close(dfd);
            if (rc != 0) return IoError("cannot sync the directory of", target_, err);
        }
        return {};
    }

    void Discard() {
        fd_.Reset();
        if (!tmp_.empty()) ::unlink(tmp_.c_str());
        tmp_.clear();
    }

private:
    UniqueFd fd_;
    std::string tmp_;
    fs::path target_;
    fs::path dir_;
};

// Reads, checks and decrypts a whole stream, handing each authenticated chunk to `sink`.
common::Status DecryptStream(Source& src, const BackupKey& key,
                             const std::function<common::Status(std::string_view)>& sink) {
    std::array<unsigned char, kBackupHeaderSize> head{};
    auto got = src.Read(head.data(), head.size());
    if (!got) return got.error();
    auto header = ParseHeader(head.data(), *got);
    if (!header) return header.error();
    if (header->key_id != key.key_id) {
        return CryptoError("backup is encrypted under key " + header->key_id + "; " +
                           std::string(kKeyVariable) + " is key " + key.key_id);
    }
    ChunkCipher cipher(key, *header);
    const std::size_t record_size = std::size_t{header->chunk_size} + kBackupTagSize;
    std::string record(record_size, '\0');
    std::string plain;
    plain.reserve(header->chunk_size);
    for (std::uint64_t index = 0;; ++index) {
        auto n = src.Read(reinterpret_cast<unsigned char*>(record.data()), record_size);
        if (!n) return n.error();
        if (*n == 0) {
            return CryptoError(index == 0 ? std::string("encrypted backup is cut short (after "
                                                        "the header)")
                                          : "encrypted backup is cut short (after chunk " +
                                                std::to_string(index) + ")");
        }
        if (*n < kBackupTagSize) {
            return CryptoError("encrypted backup is cut short (in chunk " +
                               std::to_string(index + 1) + ")");
        }
        const bool final = *n < record_size;
        auto opened = cipher.Open(std::string_view(record.data(), *n), index, final, plain);
        if (!opened) return opened.error();
        if (!*opened) {
            return CryptoError("encrypted backup is damaged (authentication failed in chunk " +
                               std::to_string(index + 1) + ")");
        }
        if (auto s = sink(plain); !s) return s;
        if (final) break;
    }
    OPENSSL_cleanse(plain.data(), plain.size());
    return {};
}

// Buffers plaintext into chunks and hands sealed records to `out`.
class StreamEncryptor {
public:
    StreamEncryptor(const BackupKey& key, std::uint32_t chunk_size)
        : header_(MakeHeader(key, chunk_size)), cipher_(key, header_) {
        pending_.reserve(chunk_size);
    }
    ~StreamEncryptor() { OPENSSL_cleanse(pending_.data(), pending_.size()); }

    std::string_view header() const {
        return {reinterpret_cast<const char*>(header_.raw.data()), header_.raw.size()};
    }

    // Seals every full chunk; the final chunk is always shorter than a full one, so a
    // full chunk can go out as non-final at once.
    template <typename Emit>
    common::Status Write(std::string_view data, Emit&& emit) {
        while (!data.empty()) {
            const std::size_t take = std::min<std::size_t>(
                data.size(), std::size_t{header_.chunk_size} - pending_.size());
            pending_.append(data.data(), take);
            data.remove_prefix(take);
            if (pending_.size() == header_.chunk_size) {
                if (auto s = SealPending(false, emit); !s) return s;
            }
        }
        return {};
    }

    template <typename Emit>
    common::Status Finish(Emit&& emit) {
        return SealPending(true, emit);
    }

private:
    template <typename Emit>
    common::Status SealPending(bool final, Emit& emit) {
        record_.clear();
        if (auto s = cipher_.Seal(pending_, index_, final, record_); !s) return s;
        ++index_;
        OPENSSL_cleanse(pending_.data(), pending_.size());
        pending_.clear();
        return emit(std::string_view(record_));
    }

    Header header_;
    ChunkCipher cipher_;
    std::string pending_;
    std::string record_;
    std::uint64_t index_ = 0;
};

}  // namespace

std::string BackupKeyId(const std::array<unsigned char, 32>& bytes) {
    return common::Sha256Hex(
               std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
        .substr(0, kKeyIdSize);
}

BackupKey BackupKeyFromBytes(const std::array<unsigned char, 32>& bytes) {
    return BackupKey{bytes, BackupKeyId(bytes)};
}

BackupKey GenerateBackupKey() {
    std::string raw = common::RandomBytes(32);
    std::array<unsigned char, 32> bytes{};
    std::memcpy(bytes.data(), raw.data(), bytes.size());
    OPENSSL_cleanse(raw.data(), raw.size());
    return BackupKeyFromBytes(bytes);
}

common::Result<BackupKey> ParseBackupKey(std::string_view hex64) {
    const std::string field(kKeyVariable);
    const std::string_view hex = common::Trim(hex64);
    if (hex.size() != 64) {
        return MakeError(ErrorCode::kValidation,
                         field +
                             " must be 64 hex digits (32 bytes, e.g. from `openssl rand -hex "
                             "32`); it has " +
                             std::to_string(hex.size()) + " characters",
                         field);
    }
    BackupKey key;
    bool all_zero = true;
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = common::HexDigitValue(hex[2 * i]);
        const int lo = common::HexDigitValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
            return MakeError(ErrorCode::kValidation,
                             field + " must be 64 hex digits (0-9, a-f); it holds other characters",
                             field);
        }
        key.bytes[i] = static_cast<unsigned char>(hi * 16 + lo);
        all_zero = all_zero && key.bytes[i] == 0;
    }
    if (all_zero) {
        return MakeError(ErrorCode::kValidation, field + " is all zeros; use a random key", field);
    }
    key.key_id = BackupKeyId(key.bytes);
    return key;
}

struct EncryptedFileWriter::Impl {
    Impl(TempFile f, const BackupKey& key, std::uint32_t chunk_size)
        : file(std::move(f)), encryptor(key, chunk_size) {}
    TempFile file;
    StreamEncryptor encryptor;
    std::uint64_t written = 0;
    common::Status failed;  // sticky: the first error
    bool committed = false;

    common::Status Emit(std::string_view bytes) {
        if (auto s = file.Write(bytes); !s) return s;
        written += bytes.size();
        return {};
    }
    common::Status Fail(common::Status s) {
        if (!s) {
            failed = s;
            file.Discard();
        }
        return s;
    }
};

EncryptedFileWriter::EncryptedFileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EncryptedFileWriter::~EncryptedFileWriter() = default;

common::Result<std::unique_ptr<EncryptedFileWriter>> EncryptedFileWriter::Create(
    const fs::path& out, const BackupKey& key, const BackupCryptoOptions& options) {
    if (auto s = CheckChunkSize(options.chunk_size); !s) return s.error();
    if (key.key_id.size() != kKeyIdSize || !IsLowerHex(key.key_id)) {
        return MakeError(ErrorCode::kValidation, "backup key has no valid key id");
    }
    auto file = TempFile::Create(out, options.mode);
    if (!file) return file.error();
    auto impl = std::make_unique<Impl>(std::move(*file), key, options.chunk_size);
    if (auto s = impl->Emit(impl->encryptor.header()); !s) return s.error();
    return std::unique_ptr<EncryptedFileWriter>(new EncryptedFileWriter(std::move(impl)));
}

common::Status EncryptedFileWriter::Write(std::string_view data) {
    if (!impl_->failed) return impl_->failed;
    if (impl_->committed)
        return MakeError(ErrorCode::kInternal, "encrypted file already committed");
    return impl_->Fail(
        impl_->encryptor.Write(data, [this](std::string_view b) { return impl_->Emit(b); }));
}

common::Status EncryptedFileWriter::Commit() {
    if (!impl_->failed) return impl_->failed;
    if (impl_->committed)
        return MakeError(ErrorCode::kInternal, "encrypted file already committed");
    if (auto s = impl_->Fail(
            impl_->encryptor.Finish([this](std::string_view b) { return impl_->Emit(b); }));
        !s) {
        return s;
    }
    if (auto s = impl_->Fail(impl_->file.Commit()); !s) return s;
    impl_->committed = true;
    return {};
}

std::uint64_t EncryptedFileWriter::bytes_written() const { return impl_->written; }

common::Status EncryptFile(const fs::path& in, const fs::path& out, const BackupKey& key,
                           const BackupCryptoOptions& options) {
    auto fd = OpenForReading(in);
    if (!fd) return fd.error();
    auto writer = EncryptedFileWriter::Create(out, key, options);
    if (!writer) return writer.error();
    FdSource src(fd->get(), in);
    std::string buf(std::min<std::size_t>(options.chunk_size, kDefaultBackupChunkSize), '\0');
    for (;;) {
        auto n = src.Read(reinterpret_cast<unsigned char*>(buf.data()), buf.size());
        if (!n) return n.error();
        if (*n == 0) break;
        if (auto s = (*writer)->Write(std::string_view(buf.data(), *n)); !s) return s;
        if (*n < buf.size()) break;
    }
    OPENSSL_cleanse(buf.data(), buf.size());
    return (*writer)->Commit();
}

common::Status DecryptFileTo(const fs::path& in, const BackupKey& key,
                             const std::function<common::Status(std::string_view)>& sink) {
    auto fd = OpenForReading(in);
    if (!fd) return fd.error();
    FdSource src(fd->get(), in);
    return DecryptStream(src, key, sink);
}

common::Status DecryptFile(const fs::path& in, const fs::path& out, const BackupKey& key,
                           mode_t mode) {
    auto fd = OpenForReading(in);
    if (!fd) return fd.error();
    FdSource src(fd->get(), in);
    // Made at the first authenticated chunk (the final one is always delivered, even when
    // empty), so a foreign file or a wrong key never creates anything beside `out`.
    std::optional<TempFile> file;
    auto s = DecryptStream(src, key, [&](std::string_view plain) -> common::Status {
        if (!file) {
            auto made = TempFile::Create(out, mode);
            if (!made) return made.error();
            file.emplace(std::move(*made));
        }
        return file->Write(plain);
    });
    if (!s) return s;  // ~TempFile removes the partial output
    if (!file) return MakeError(ErrorCode::kInternal, "decryption delivered no final chunk");
    fd->Reset();
    return file->Commit();
}

common::Result<std::string> EncryptBytes(std::string_view plaintext, const BackupKey& key,
                                         const BackupCryptoOptions& options) {
    if (auto s = CheckChunkSize(options.chunk_size); !s) return s.error();
    StreamEncryptor enc(key, options.chunk_size);
    std::string out(enc.header());
    auto emit = [&out](std::string_view b) -> common::Status {
        out.append(b);
        return {};
    };
    if (auto s = enc.Write(plaintext, emit); !s) return s.error();
    if (auto s = enc.Finish(emit); !s) return s.error();
    return out;
}

common::Result<std::string> DecryptBytes(std::string_view sealed, const BackupKey& key) {
    StringSource src(sealed);
    std::string out;
    auto s = DecryptStream(src, key, [&out](std::string_view p) -> common::Status {
        out.append(p);
        return {};
    });
    if (!s) {
        OPENSSL_cleanse(out.data(), out.size());
        return s.error();
    }
    return out;
}

bool IsEncryptedBackup(const fs::path& path) {
    auto fd = OpenForReading(path);
    if (!fd) return false;
    std::array<unsigned char, 8> magic{};
    FdSource src(fd->get(), path);
    auto n = src.Read(magic.data(), magic.size());
    return n && *n == magic.size() &&
           std::memcmp(magic.data(), kBackupMagic.data(), magic.size()) == 0;
}

common::Result<EncryptedBackupInfo> ReadEncryptedBackupInfo(const fs::path& path) {
    auto fd = OpenForReading(path);
    if (!fd) return fd.error();
    std::array<unsigned char, kBackupHeaderSize> head{};
    FdSource src(fd->get(), path);
    auto n = src.Read(head.data(), head.size());
    if (!n) return n.error();
    auto h = ParseHeader(head.data(), *n);
    if (!h) return h.error();
    return EncryptedBackupInfo{h->version, h->chunk_size, h->key_id};
}

common::Result<std::string> EncryptedBackupKeyId(const fs::path& path) {
    auto info = ReadEncryptedBackupInfo(path);
    if (!info) return info.error();
    return info->key_id;
}

}  // namespace aragora::ops
