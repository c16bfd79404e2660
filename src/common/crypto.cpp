#include "common/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace aragora::common {

namespace {

// OpenSSL failures on these paths mean a broken library or out-of-memory, never bad
// input: they are fatal for the caller rather than a Result.
[[noreturn]] void ThrowOpenSsl(const char* what) {
    char buf[256] = {0};
    unsigned long err = ERR_get_error();
    if (err != 0) ERR_error_string_n(err, buf, sizeof buf);
    ERR_clear_error();
    throw std::runtime_error(std::string("OpenSSL: ") + what + (err != 0 ? ": " : "") + buf);
}

// The last OpenSSL error as text (for Result errors), clearing the queue.
std::string LastOpenSslError() {
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    if (err == 0) return "unknown OpenSSL error";
    char buf[256] = {0};
    ERR_error_string_n(err, buf, sizeof buf);
    return buf;
}

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioDeleter {
    void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

const unsigned char* Bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kEd25519SignatureSize = 64;

bool IsBase64Char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

Result<Ed25519KeyPair> KeyPairFromPkey(EVP_PKEY* pkey) {
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
        return MakeError(ErrorCode::kCrypto, "not an Ed25519 key");
    Ed25519KeyPair out;
    out.private_seed.resize(kEd25519KeySize);
    out.public_key.resize(kEd25519KeySize);
    std::size_t priv_len = out.private_seed.size();
    std::size_t pub_len = out.public_key.size();
    if (EVP_PKEY_get_raw_private_key(
            pkey, reinterpret_cast<unsigned char*>(out.private_seed.data()), &priv_len) != 1 ||
        EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(out.public_key.data()),
                                    &pub_len) != 1 ||
        priv_len != kEd25519KeySize || pub_len != kEd25519KeySize) {
        return MakeError(ErrorCode::kCrypto, "cannot extract Ed25519 key: " + LastOpenSslError());
    }
    return out;
}

PkeyPtr PrivatePkey(const Ed25519KeyPair& key) {
    if (key.private_seed.size() != kEd25519KeySize)
        throw std::invalid_argument("Ed25519 private seed must be 32 bytes");
    PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(key.private_seed),
                                              key.private_seed.size()));
    if (!pkey) ThrowOpenSsl("EVP_PKEY_new_raw_private_key");
    return pkey;
}

}  // namespace

std::string Sha256Raw(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
        ThrowOpenSsl("EVP_Digest");
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256Raw(data)); }

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) ThrowOpenSsl("EVP_MD_CTX_new");
    if (EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1)
        ThrowOpenSsl("EVP_DigestInit_ex");
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::string_view data) {
    if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1)
        ThrowOpenSsl("EVP_DigestUpdate");
}

std::string Sha256Stream::FinalHex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len) != 1)
        ThrowOpenSsl("EVP_DigestFinal_ex");
    return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string HmacSha256Raw(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    // HMAC() treats a null key pointer as "no key given"; an empty key must still be
    // a (zero-length) key.
    static const unsigned char kEmpty = 0;
    const unsigned char* key_ptr = key.empty() ? &kEmpty : Bytes(key);
    if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), Bytes(data), data.size(), md,
             &len) == nullptr)
        ThrowOpenSsl("HMAC");
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string Base64Encode(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), Bytes(raw),
                            static_cast<int>(raw.size()));
    if (n < 0) ThrowOpenSsl("EVP_EncodeBlock");
    out.resize(static_cast<std::size_t>(n));
    return out;
}

Result<std::string> Base64Decode(std::string_view b64) {
    // EVP_DecodeBlock skips surrounding whitespace, accepts some malformed padding and
    // returns padding as zero bytes, so the shape is checked here first.
    if (b64.size() % 4 != 0)
        return MakeError(ErrorCode::kBadRequest, "invalid base64: length is not a multiple of 4");
    std::size_t padding = 0;
    if (!b64.empty() && b64.back() == '=') {
        ++padding;
        if (b64[b64.size() - 2] == '=') ++padding;
    }
    for (std::size_t i = 0; i < b64.size() - padding; ++i) {
        if (!IsBase64Char(b64[i]))
            return MakeError(ErrorCode::kBadRequest, "invalid base64: unexpected character");
    }
    if (b64.empty()) return std::string();
    std::string out(b64.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), Bytes(b64),
                            static_cast<int>(b64.size()));
    if (n < 0 || static_cast<std::size_t>(n) != out.size())
        return MakeError(ErrorCode::kBadRequest, "invalid base64");
    out.resize(out.size() - padding);
    return out;
}

std::string HexEncode(std::string_view raw) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char b : raw) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomBytes(std::size_t n) {
    std::string out(n, '\0');
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        ThrowOpenSsl("RAND_bytes");
    return out;
}

Ed25519KeyPair Ed25519Generate() {
    auto pair = Ed25519FromSeed(RandomBytes(kEd25519KeySize));
    if (!pair) throw std::runtime_error("Ed25519 key generation failed: " + pair.error().message);
    return std::move(pair).value();
}

Result<Ed25519KeyPair> Ed25519FromSeed(std::string_view seed32) {
    if (seed32.size() != kEd25519KeySize)
        return MakeError(ErrorCode::kCrypto, "an Ed25519 seed is 32 bytes");
    PkeyPtr pkey(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(seed32), seed32.size()));
    if (!pkey) return MakeError(ErrorCode::kCrypto, "invalid Ed25519 seed: " + LastOpenSslError());
    return KeyPairFromPkey(pkey.get());
}

Result<Ed25519KeyPair> Ed25519FromPem(std::string_view pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) ThrowOpenSsl("BIO_new_mem_buf");
    PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!pkey) return MakeError(ErrorCode::kCrypto, "not a PEM private key: " + LastOpenSslError());
    return KeyPairFromPkey(pkey.get());
}

std::string Ed25519ToPem(const Ed25519KeyPair& key) {
    PkeyPtr pkey = PrivatePkey(key);
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio) ThrowOpenSsl("BIO_new");
    if (PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        ThrowOpenSsl("PEM_write_bio_PrivateKey");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string Ed25519Sign(const Ed25519KeyPair& key, std::string_view message) {
    PkeyPtr pkey = PrivatePkey(key);
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) ThrowOpenSsl("EVP_MD_CTX_new");
    // Ed25519 hashes internally: no digest is given (PureEdDSA, RFC 8032).
    if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1)
        ThrowOpenSsl("EVP_DigestSignInit");
    std::string sig(kEd25519SignatureSize, '\0');
    std::size_t sig_len = sig.size();
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                       Bytes(message), message.size()) != 1)
        ThrowOpenSsl("EVP_DigestSign");
    sig.resize(sig_len);
    return sig;
}

bool Ed25519Verify(std::string_view public_key32, std::string_view message,
                   std::string_view signature64) {
    if (public_key32.size() != kEd25519KeySize || signature64.size() != kEd25519SignatureSize)
        return false;
    PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(public_key32),
                                             public_key32.size()));
    if (!pkey) {
        ERR_clear_error();
        return false;
    }
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) ThrowOpenSsl("EVP_MD_CTX_new");
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1)
        ThrowOpenSsl("EVP_DigestVerifyInit");
    int rc = EVP_DigestVerify(ctx.get(), Bytes(signature64), signature64.size(), Bytes(message),
                              message.size());
    ERR_clear_error();
    return rc == 1;
}

}  // namespace aragora::common
