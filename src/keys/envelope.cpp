#include "keys/envelope.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cassert>
#include <memory>

#include "common/crypto.hpp"

namespace aragora::keys {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;

struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

common::Error Malformed(std::string why) {
    return common::Error{ErrorCode::kValidation, "malformed encrypted value: " + why, {}};
}

Result<Ctx> NewCtx(bool encrypt, std::string_view key, std::string_view nonce) {
    if (key.size() != kKeyBytes || nonce.size() != kNonceBytes) {
        return MakeError(ErrorCode::kValidation, "AES-256-GCM needs a 32-byte key, 12-byte nonce");
    }
    Ctx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return MakeError(ErrorCode::kCrypto, "EVP_CIPHER_CTX_new failed");
    auto init = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
    if (init(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes),
                            nullptr) != 1 ||
        init(ctx.get(), nullptr, nullptr, U(key), U(nonce)) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM initialisation failed");
    }
    return ctx;
}

}  // namespace

std::string EncodeEnvelope(const Envelope& e) {
    assert(e.key.key_id.size() <= 255);
    std::string out;
    out.reserve(1 + 1 + e.key.key_id.size() + 4 + 1 + e.nonce.size() + e.ciphertext.size());
    out.push_back(static_cast<char>(kEnvelopeVersion));
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(e.key.key_id.size())));
    out += e.key.key_id;
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((e.key.version >> shift) & 0xff));
    }
    out.push_back(static_cast<char>(static_cast<std::uint8_t>(e.nonce.size())));
    out += e.nonce;
    out += e.ciphertext;
    return out;
}

Result<Envelope> DecodeEnvelope(std::string_view b) {
    if (b.size() < 2) return Malformed("truncated (no header)");
    if (static_cast<std::uint8_t>(b[0]) != kEnvelopeVersion) {
        return Malformed("unsupported format version " +
                         std::to_string(static_cast<std::uint8_t>(b[0])));
    }
    const std::size_t id_len = static_cast<std::uint8_t>(b[1]);
    std::size_t pos = 2;
    if (b.size() < pos + id_len + 4 + 1) return Malformed("truncated (key id / version)");
    Envelope e;
    e.key.key_id = std::string(b.substr(pos, id_len));
    pos += id_len;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(b[pos + i]);
    e.key.version = v;
    pos += 4;
    const std::size_t nonce_len = static_cast<std::uint8_t>(b[pos]);
    pos += 1;
    if (nonce_len != kNonceBytes) {
        return Malformed("nonce length " + std::to_string(nonce_len) + " (expected 12)");
    }
    if (b.size() < pos + nonce_len + kTagBytes) return Malformed("truncated (nonce / tag)");
    e.nonce = std::string(b.substr(pos, nonce_len));
    pos += nonce_len;
    e.ciphertext = std::string(b.substr(pos));
    return e;
}

std::string ToSealedText(const Envelope& envelope) {
    return std::string(kSealedPrefix) + common::Base64Encode(EncodeEnvelope(envelope));
}

Result<Envelope> FromSealedText(std::string_view sealed) {
    if (sealed.substr(0, kSealedPrefix.size()) != kSealedPrefix) {
        return Malformed("missing the enc:v1: prefix");
    }
    auto raw = common::Base64Decode(sealed.substr(kSealedPrefix.size()));
    if (!raw) return Malformed("bad base64");
    return DecodeEnvelope(*raw);
}

bool IsSealedText(std::string_view value) { return static_cast<bool>(FromSealedText(value)); }

Result<std::string> AesGcmEncrypt(std::string_view key, std::string_view nonce,
                                  std::string_view plaintext, std::string_view aad) {
    auto ctx = NewCtx(true, key, nonce);
    if (!ctx) return ctx.error();
    int len = 0;
    if (!aad.empty() &&
        EVP_EncryptUpdate(ctx->get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM aad failed");
    }
    std::string out(plaintext.size() + kTagBytes, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    int written = 0;
    if (!plaintext.empty() && EVP_EncryptUpdate(ctx->get(), o, &len, U(plaintext),
                                                static_cast<int>(plaintext.size())) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM encryption failed");
    }
    written = plaintext.empty() ? 0 : len;
    if (EVP_EncryptFinal_ex(ctx->get(), o + written, &len) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM encryption failed");
    }
    written += len;
    if (EVP_CIPHER_CTX_ctrl(ctx->get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                            o + written) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM tag failed");
    }
    out.resize(static_cast<std::size_t>(written) + kTagBytes);
    return out;
}

Result<std::string> AesGcmDecrypt(std::string_view key, std::string_view nonce, std::string_view ct,
                                  std::string_view aad) {
    if (ct.size() < kTagBytes) return Malformed("truncated (no tag)");
    auto ctx = NewCtx(false, key, nonce);
    if (!ctx) return ctx.error();
    const std::string_view body = ct.substr(0, ct.size() - kTagBytes);
    std::string tag(ct.substr(ct.size() - kTagBytes));
    int len = 0;
    if (!aad.empty() &&
        EVP_DecryptUpdate(ctx->get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM aad failed");
    }
    std::string out(body.size(), '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    int written = 0;
    if (!body.empty() &&
        EVP_DecryptUpdate(ctx->get(), o, &len, U(body), static_cast<int>(body.size())) != 1) {
        return MakeError(ErrorCode::kCrypto, "AES-256-GCM decryption failed");
    }
    written = body.empty() ? 0 : len;
    if (EVP_CIPHER_CTX_ctrl(ctx->get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                            tag.data()) != 1 ||
        EVP_DecryptFinal_ex(ctx->get(), o + written, &len) != 1) {
        Wipe(out);
        return MakeError(ErrorCode::kCrypto, "authentication tag mismatch");
    }
    out.resize(static_cast<std::size_t>(written + len));
    return out;
}

Result<std::string> SealWithKey(const KeyRef& ref, std::string_view key_bytes,
                                std::string_view plaintext, std::string_view aad) {
    Envelope e;
    e.key = ref;
    e.nonce = common::RandomBytes(kNonceBytes);
    auto ct = AesGcmEncrypt(key_bytes, e.nonce, plaintext, aad);
    if (!ct) return ct.error();
    e.ciphertext = std::move(*ct);
    return ToSealedText(e);
}

Result<std::string> ParseMasterKeyHex(std::string_view hex) {
    auto bad = [&](std::string why) {
        return MakeError(ErrorCode::kValidation,
                         "ARAGORA_ENCRYPTION_KEY must be 64 hex characters (32 bytes; generate "
                         "one with `openssl rand -hex 32`): " +
                             why,
                         "ARAGORA_ENCRYPTION_KEY");
    };
    if (hex.size() != 2 * kKeyBytes)
        return bad("got " + std::to_string(hex.size()) + " characters");
    std::string out(kKeyBytes, '\0');
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < kKeyBytes; ++i) {
        const int hi = nibble(hex[2 * i]);
        const int lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            Wipe(out);
            return bad("a character is not a hex digit");
        }
        out[i] = static_cast<char>(hi * 16 + lo);
    }
    return out;
}

void Wipe(std::string& secret) {
    if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
}

}  // namespace aragora::keys
