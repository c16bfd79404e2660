#pragma once

// A keys::FieldCipher test double (not the key module's envelope): AES-256-GCM under named
// keys held in memory, a random 96-bit nonce per value, the associated data bound by the
// tag. Sealed text: "tfc1:<key id>:<version>:<base64(nonce | ciphertext | tag)>".
// IsSealed is the "tfc1:" marker alone, so a damaged value is still recognised as sealed
// and fails to open instead of reading as plaintext. Errors as cipher.hpp says:
// kValidation for a value that is not well formed (truncated), kCrypto for a failed tag
// (altered, other associated data), kNotFound for a key id/version it does not hold.
// Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "keys/cipher.hpp"

namespace aragora::test_support {

class TestFieldCipher final : public keys::FieldCipher {
public:
    // A cipher holding one key ("k1", version 1), current.
    TestFieldCipher();

    // Adds (or replaces) a random key; it becomes current when `make_current`.
    void AddKey(const keys::KeyRef& ref, bool make_current);
    // Forgets a key (its values then fail with kNotFound).
    void RemoveKey(const keys::KeyRef& ref);
    void SetCurrent(const keys::KeyRef& ref);
    // How many Seal/Open calls were made (tests that count work).
    std::uint64_t seals() const;
    std::uint64_t opens() const;

    common::Result<std::string> Seal(std::string_view plaintext,
                                     std::string_view associated_data) const override;
    common::Result<std::string> Open(std::string_view sealed,
                                     std::string_view associated_data) const override;
    bool IsSealed(std::string_view value) const override;
    common::Result<keys::KeyRef> KeyOf(std::string_view sealed) const override;
    keys::KeyRef Current() const override;

private:
    struct Parsed {
        keys::KeyRef key;
        std::string blob;  // nonce | ciphertext | tag
    };
    static common::Result<Parsed> Parse(std::string_view sealed);
    common::Result<std::string> KeyFor(const keys::KeyRef& ref) const;

    mutable std::mutex mu_;
    std::map<std::pair<std::string, std::uint32_t>, std::string> keys_;
    keys::KeyRef current_;
    mutable std::uint64_t seals_ = 0;
    mutable std::uint64_t opens_ = 0;
};

}  // namespace aragora::test_support
