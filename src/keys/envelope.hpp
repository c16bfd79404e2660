#pragma once

// The encryption-at-rest envelope (the original Aragora's binary layout) and AES-256-GCM
// over OpenSSL EVP. Pure functions; thread-safe.
//
// Binary envelope (big-endian), as the original's EncryptedData.to_bytes():
//   0x01 (format version) | key_id_len u8 | key_id (utf-8) | key_version u32 |
//   nonce_len u8 (= 12) | nonce | ciphertext || 16-byte GCM tag
//
// Stored text form: "enc:v1:" + standard base64 of the envelope. The original told sealed
// values from plaintext by a leading "A" (a guess that any plaintext starting with "A"
// defeats). Here a value is sealed iff it has the prefix AND its base64 decodes to a
// well-formed envelope (version 1, lengths consistent, room for a full tag). Every value
// this code writes passes; a plaintext passes only if it was built to look exactly like
// an envelope (prefix, valid base64, consistent header), and opening it would then fail
// its tag (kCrypto) rather than return it.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "keys/cipher.hpp"

namespace aragora::keys {

inline constexpr std::string_view kSealedPrefix = "enc:v1:";
inline constexpr std::uint8_t kEnvelopeVersion = 0x01;
inline constexpr std::size_t kNonceBytes = 12;
inline constexpr std::size_t kTagBytes = 16;
inline constexpr std::size_t kKeyBytes = 32;

struct Envelope {
    KeyRef key;
    std::string nonce;       // 12 bytes
    std::string ciphertext;  // ciphertext || tag
};

// The binary layout above. key_id longer than 255 bytes is a programming error (asserted
// in debug; truncated never: EncodeEnvelope is only called with ids this module chose).
std::string EncodeEnvelope(const Envelope& envelope);
// kValidation naming what is wrong: empty/truncated, format version != 1, nonce length
// != 12, no room for the tag.
common::Result<Envelope> DecodeEnvelope(std::string_view bytes);

std::string ToSealedText(const Envelope& envelope);
// kValidation when the prefix is missing, the base64 is bad or DecodeEnvelope fails.
common::Result<Envelope> FromSealedText(std::string_view sealed);
bool IsSealedText(std::string_view value);

// AES-256-GCM: returns ciphertext || tag. `key` must be 32 bytes, `nonce` 12 (kValidation).
common::Result<std::string> AesGcmEncrypt(std::string_view key, std::string_view nonce,
                                          std::string_view plaintext, std::string_view aad);
// kCrypto when the tag does not verify (wrong key, tampered bytes or a different aad).
common::Result<std::string> AesGcmDecrypt(std::string_view key, std::string_view nonce,
                                          std::string_view ciphertext_and_tag,
                                          std::string_view aad);

// Seals `plaintext` under `key_bytes` (identified as `ref`) with a fresh random nonce:
// the text form.
common::Result<std::string> SealWithKey(const KeyRef& ref, std::string_view key_bytes,
                                        std::string_view plaintext, std::string_view aad);

// ARAGORA_ENCRYPTION_KEY: exactly 64 hex digits (32 bytes). kValidation naming the
// variable and the length found, never the value.
common::Result<std::string> ParseMasterKeyHex(std::string_view hex);

// Overwrites the bytes of `secret` (OPENSSL_cleanse) and clears it.
void Wipe(std::string& secret);

}  // namespace aragora::keys
