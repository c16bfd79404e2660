#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::common {

// All hashing/MAC/signature primitives go through OpenSSL 3 here, nowhere else.

std::string Sha256Hex(std::string_view data);  // lowercase hex
std::string Sha256Raw(std::string_view data);  // 32 raw bytes
std::string HmacSha256Raw(std::string_view key, std::string_view data);

// SHA-256 over data given in pieces (files of any size in bounded memory). Not
// thread-safe; one hasher per stream.
class Sha256Stream {
public:
    Sha256Stream();
    ~Sha256Stream();
    Sha256Stream(const Sha256Stream&) = delete;
    Sha256Stream& operator=(const Sha256Stream&) = delete;
    void Update(std::string_view data);
    // The lowercase hex digest of everything given; the hasher is then spent.
    std::string FinalHex();

private:
    void* ctx_;  // EVP_MD_CTX
};
std::string Base64Encode(std::string_view raw);
Result<std::string> Base64Decode(std::string_view b64);
std::string HexEncode(std::string_view raw);
// Constant-time comparison of two byte strings (false when lengths differ).
bool ConstantTimeEqual(std::string_view a, std::string_view b);
// `n` bytes from the OS CSPRNG.
std::string RandomBytes(std::size_t n);

// Ed25519 key pair held as raw bytes (32-byte seed / 32-byte public key).
struct Ed25519KeyPair {
    std::string private_seed;  // 32 raw bytes
    std::string public_key;    // 32 raw bytes
};

Ed25519KeyPair Ed25519Generate();
// Reads a PKCS#8 PEM private key (as written by `openssl genpkey -algorithm ed25519`).
Result<Ed25519KeyPair> Ed25519FromPem(std::string_view pem);
Result<Ed25519KeyPair> Ed25519FromSeed(std::string_view seed32);
std::string Ed25519ToPem(const Ed25519KeyPair& key);
std::string Ed25519Sign(const Ed25519KeyPair& key, std::string_view message);  // 64 raw bytes
bool Ed25519Verify(std::string_view public_key32, std::string_view message,
                   std::string_view signature64);

}  // namespace aragora::common
