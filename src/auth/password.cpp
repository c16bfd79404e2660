#include "auth/password.hpp"

#include <sodium.h>

#include <cstring>
#include <mutex>

namespace aragora::auth {

namespace {

// sodium_init() is itself idempotent and thread-safe; call_once just keeps it to one call.
bool SodiumReady() {
    static std::once_flag once;
    static bool ready = false;
    std::call_once(once, [] { ready = sodium_init() >= 0; });
    return ready;
}

constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// libsodium reads the stored hash as a C string of at most crypto_pwhash_STRBYTES - 1 chars.
bool PlausibleStoredHash(const std::string& stored_hash) {
    return stored_hash.size() < crypto_pwhash_STRBYTES &&
           stored_hash.find('\0') == std::string::npos &&
           std::string_view(stored_hash).substr(0, kArgon2idPrefix.size()) == kArgon2idPrefix;
}

}  // namespace

PasswordHashOptions InteractiveHashOptions() {
    return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordHashOptions MinimumHashOptions() {
    return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

common::Status ValidatePassword(std::string_view password) {
    if (password.size() < kMinPasswordSize || password.size() > kMaxPasswordSize) {
        return common::MakeError(common::ErrorCode::kValidation,
                                 "password must be 8 to 1024 characters", "password");
    }
    return {};
}

common::Result<std::string> HashPassword(std::string_view password,
                                         const PasswordHashOptions& options) {
    if (!SodiumReady())
        return common::MakeError(common::ErrorCode::kInternal, "libsodium failed to initialise");
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), options.opslimit,
                              options.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return common::MakeError(common::ErrorCode::kInternal,
                                 "password hashing failed (out of memory or bad limits)");
    }
    return std::string(out);
}

bool VerifyPassword(std::string_view password, const std::string& stored_hash) {
    if (!SodiumReady() || !PlausibleStoredHash(stored_hash)) return false;
    return crypto_pwhash_str_verify(stored_hash.c_str(), password.data(), password.size()) == 0;
}

bool PasswordNeedsRehash(const std::string& stored_hash, const PasswordHashOptions& options) {
    if (!SodiumReady() || !PlausibleStoredHash(stored_hash)) return true;
    // 0 = same parameters, 1 = different, -1 = not a valid hash for this algorithm.
    return crypto_pwhash_str_needs_rehash(stored_hash.c_str(), options.opslimit,
                                          options.memlimit) != 0;
}

}  // namespace aragora::auth
