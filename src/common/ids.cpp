#include "common/ids.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

namespace aragora::common {

std::string NewId(std::string_view prefix) {
    std::array<unsigned char, 12> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(prefix);
    for (unsigned char b : bytes) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

std::string NewProcessId(std::string_view prefix) {
    char host[256] = {};
    const bool named = gethostname(host, sizeof host - 1) == 0 && host[0] != '\0';
    const std::string name = named ? std::string(host) : std::string("host");
    return NewId(prefix) + "@" + name + ":" + std::to_string(getpid());
}

bool IsValidId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace aragora::common
