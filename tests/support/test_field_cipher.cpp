#include "test_field_cipher.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <memory>

#include "common/crypto.hpp"

namespace aragora::test_support {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;

constexpr std::string_view kMarker = "tfc1:";
constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;

struct CtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* U(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

TestFieldCipher::TestFieldCipher() { AddKey({"k1", 1}, true); }

void TestFieldCipher::AddKey(const keys::KeyRef& ref, bool make_current) {
    std::lock_guard lock(mu_);
    keys_[{ref.key_id, ref.version}] = common::RandomBytes(32);
    if (make_current) current_ = ref;
}

void TestFieldCipher::RemoveKey(const keys::KeyRef& ref) {
    std::lock_guard lock(mu_);
    keys_.erase({ref.key_id, ref.version});
}

void TestFieldCipher::SetCurrent(const keys::KeyRef& ref) {
    std::lock_guard lock(mu_);
    current_ = ref;
}

std::uint64_t TestFieldCipher::seals() const {
    std::lock_guard lock(mu_);
    return seals_;
}

std::uint64_t TestFieldCipher::opens() const {
    std::lock_guard lock(mu_);
    return opens_;
}

keys::KeyRef TestFieldCipher::Current() const {
    std::lock_guard lock(mu_);
    return current_;
}

bool TestFieldCipher::IsSealed(std::string_view value) const {
    return value.substr(0, kMarker.size()) == kMarker;
}

Result<TestFieldCipher::Parsed> TestFieldCipher::Parse(std::string_view sealed) {
    auto bad = [] { return MakeError(ErrorCode::kValidation, "sealed value is malformed"); };
    if (sealed.substr(0, kMarker.size()) != kMarker) return bad();
    std::string_view rest = sealed.substr(kMarker.size());
    const auto c1 = rest.find(':');
    if (c1 == std::string_view::npos || c1 == 0) return bad();
    const auto c2 = rest.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return bad();
    Parsed p;
    p.key.key_id = std::string(rest.substr(0, c1));
    const std::string_view version = rest.substr(c1 + 1, c2 - c1 - 1);
    auto [ptr, ec] =
        std::from_chars(version.data(), version.data() + version.size(), p.key.version);
    if (ec != std::errc() || ptr != version.data() + version.size()) return bad();
    auto blob = common::Base64Decode(rest.substr(c2 + 1));
    if (!blob || blob->size() < kNonce + kTag) return bad();
    p.blob = std::move(*blob);
    return p;
}

Result<std::string> TestFieldCipher::KeyFor(const keys::KeyRef& ref) const {
    std::lock_guard lock(mu_);
    auto it = keys_.find({ref.key_id, ref.version});
    if (it == keys_.end()) {
        return MakeError(ErrorCode::kNotFound, "unknown encryption key " + ref.key_id + " v" +
                                                   std::to_string(ref.version));
    }
    return it->second;
}

Result<keys::KeyRef> TestFieldCipher::KeyOf(std::string_view sealed) const {
    auto p = Parse(sealed);
    if (!p) return p.error();
    return p->key;
}

Result<std::string> TestFieldCipher::Seal(std::string_view plaintext,
                                          std::string_view associated_data) const {
    const keys::KeyRef ref = Current();
    auto key = KeyFor(ref);
    if (!key) return key.error();
    {
        std::lock_guard lock(mu_);
        ++seals_;
    }
    const std::string nonce = common::RandomBytes(kNonce);
    Ctx ctx(EVP_CIPHER_CTX_new());
    std::string out(plaintext.size() + kTag, '\0');
    int len = 0, total = 0;
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(*key), U(nonce)) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(associated_data),
                          static_cast<int>(associated_data.size())) != 1 ||
        EVP_EncryptUpdate(ctx.get(), o, &len, U(plaintext), static_cast<int>(plaintext.size())) !=
            1) {
        return MakeError(ErrorCode::kCrypto, "seal failed");
    }
    total = len;
    if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1) {
        return MakeError(ErrorCode::kCrypto, "seal failed");
    }
    total += len;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, o + total) != 1) {
        return MakeError(ErrorCode::kCrypto, "seal failed");
    }
    out.resize(static_cast<std::size_t>(total) + kTag);
    return std::string(kMarker) + ref.key_id + ":" + std::to_string(ref.version) + ":" +
           common::Base64Encode(nonce + out);
}

Result<std::string> TestFieldCipher::Open(std::string_view sealed,
                                          std::string_view associated_data) const {
    auto p = Parse(sealed);
    if (!p) return p.error();
    auto key = KeyFor(p->key);
    if (!key) return key.error();
    {
        std::lock_guard lock(mu_);
        ++opens_;
    }
    const std::string_view blob = p->blob;
    const std::string_view nonce = blob.substr(0, kNonce);
    const std::string_view body = blob.substr(kNonce, blob.size() - kNonce - kTag);
    std::string tag(blob.substr(blob.size() - kTag));
    Ctx ctx(EVP_CIPHER_CTX_new());
    std::string out(body.size() + 16, '\0');
    int len = 0, total = 0;
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    auto tampered = [&] {
        return MakeError(ErrorCode::kCrypto, "sealed value under " + p->key.key_id + " v" +
                                                 std::to_string(p->key.version) +
                                                 " failed authentication");
    };
    if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(*key), U(nonce)) != 1 ||
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(associated_data),
                          static_cast<int>(associated_data.size())) != 1 ||
        EVP_DecryptUpdate(ctx.get(), o, &len, U(body), static_cast<int>(body.size())) != 1) {
        return tampered();
    }
    total = len;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1) {
        return tampered();
    }
    total += len;
    out.resize(static_cast<std::size_t>(total));
    return out;
}

}  // namespace aragora::test_support
