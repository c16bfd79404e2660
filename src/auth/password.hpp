#pragma once

// Password hashes: libsodium's Argon2id (crypto_pwhash_str_alg, ALG_ARGON2ID13) in the
// self-describing "$argon2id$v=19$m=...,t=...,p=1$salt$hash" string form. Thread-safe;
// libsodium is initialised once on first use.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::auth {

struct PasswordHashOptions {
    unsigned long long opslimit;
    std::size_t memlimit;
};

// crypto_pwhash_OPSLIMIT_INTERACTIVE / crypto_pwhash_MEMLIMIT_INTERACTIVE (about 64 MiB).
PasswordHashOptions InteractiveHashOptions();
// crypto_pwhash_OPSLIMIT_MIN / crypto_pwhash_MEMLIMIT_MIN: fast and weak, for tests only.
PasswordHashOptions MinimumHashOptions();

inline constexpr std::size_t kMinPasswordSize = 8;
inline constexpr std::size_t kMaxPasswordSize = 1024;

// 8..1024 bytes, else kValidation "password must be 8 to 1024 characters" (field "password").
common::Status ValidatePassword(std::string_view password);

// Hashes with a fresh random salt. Does not apply ValidatePassword (the caller does).
// kInternal when libsodium fails (out of memory, or options outside libsodium's limits).
// Blocking and CPU/memory heavy with the interactive options: keep it off I/O threads.
common::Result<std::string> HashPassword(
    std::string_view password, const PasswordHashOptions& options = InteractiveHashOptions());

// Whether `password` matches `stored_hash`; false for a malformed or unsupported stored hash.
// Blocking like HashPassword.
bool VerifyPassword(std::string_view password, const std::string& stored_hash);

// Whether `stored_hash` was made with other parameters than `options` (or is not an Argon2id
// hash at all) and should be replaced after the next successful login.
bool PasswordNeedsRehash(const std::string& stored_hash,
                         const PasswordHashOptions& options = InteractiveHashOptions());

}  // namespace aragora::auth
