#include "ratelimit/ip.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "common/strings.hpp"

namespace aragora::ratelimit {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Bits of `bytes` that take part in the comparison: a v4 network lives in the low 32
// bits of the mapped form.
int EffectivePrefix(const IpAddress& network, int prefix_len) {
    return network.v4 ? 96 + prefix_len : prefix_len;
}

void MaskInPlace(std::array<std::uint8_t, 16>& bytes, int bits) {
    for (int i = 0; i < 16; ++i) {
        const int keep = std::clamp(bits - i * 8, 0, 8);
        bytes[i] &= static_cast<std::uint8_t>(0xff00 >> keep);
    }
}

common::Error CidrError(std::string_view text, std::string_view reason) {
    std::string message = "invalid CIDR \"";
    message.append(text);
    message.append("\": ");
    message.append(reason);
    return common::MakeError(common::ErrorCode::kValidation, std::move(message));
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
    text = common::TrimOws(text);
    bool bracketed = false;
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
        bracketed = true;
    }
    // inet_pton needs a NUL-terminated copy; an embedded NUL would truncate it silently.
    char buffer[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof(buffer) ||
        text.find_first_of(std::string_view("%\0", 2)) != std::string_view::npos) {
        return std::nullopt;
    }
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';

    IpAddress address;
    if (text.find(':') != std::string_view::npos) {
        in6_addr v6{};
        if (inet_pton(AF_INET6, buffer, &v6) != 1) return std::nullopt;
        std::memcpy(address.bytes.data(), &v6, 16);
        address.v4 = std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
        return address;
    }
    if (bracketed) return std::nullopt;  // brackets are for IPv6 literals only
    in_addr v4{};
    if (inet_pton(AF_INET, buffer, &v4) != 1) return std::nullopt;
    std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
    std::memcpy(address.bytes.data() + 12, &v4, 4);
    address.v4 = true;
    return address;
}

std::string IpAddress::ToString() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    const char* out = v4 ? inet_ntop(AF_INET, bytes.data() + 12, buffer, sizeof(buffer))
                         : inet_ntop(AF_INET6, bytes.data(), buffer, sizeof(buffer));
    return out != nullptr ? std::string(out) : std::string();
}

common::Result<Cidr> Cidr::Parse(std::string_view text) {
    const std::string_view trimmed = common::TrimOws(text);
    const std::size_t slash = trimmed.find('/');
    const std::string_view address_text = trimmed.substr(0, slash);
    auto address = IpAddress::Parse(address_text);
    if (!address) return CidrError(text, "not an IP address");

    const int max_prefix = address->v4 ? 32 : 128;
    int prefix_len = max_prefix;
    if (slash != std::string_view::npos) {
        const std::string_view prefix_text = common::TrimOws(trimmed.substr(slash + 1));
        if (prefix_text.empty() || prefix_text.size() > 3 ||
            !std::all_of(prefix_text.begin(), prefix_text.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
            return CidrError(text, "prefix length is not a number");
        }
        prefix_len = 0;
        for (char c : prefix_text) prefix_len = prefix_len * 10 + (c - '0');
        if (prefix_len > max_prefix) {
            return CidrError(
                text, address->v4 ? "prefix length must be 0..32" : "prefix length must be 0..128");
        }
    }
    Cidr cidr;
    cidr.network = *address;
    cidr.prefix_len = prefix_len;
    MaskInPlace(cidr.network.bytes, EffectivePrefix(cidr.network, prefix_len));
    return cidr;
}

bool Cidr::Contains(const IpAddress& address) const {
    if (address.v4 != network.v4) return false;
    const int bits = EffectivePrefix(network, prefix_len);
    const int full_bytes = bits / 8;
    if (!std::equal(network.bytes.begin(), network.bytes.begin() + full_bytes,
                    address.bytes.begin())) {
        return false;
    }
    const int rest = bits % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff00 >> rest);
    return (address.bytes[full_bytes] & mask) == network.bytes[full_bytes];
}

std::string Cidr::ToString() const { return network.ToString() + "/" + std::to_string(prefix_len); }

common::Result<CidrList> CidrList::Parse(std::string_view comma_separated) {
    std::vector<Cidr> entries;
    for (const std::string_view piece : common::Split(comma_separated, ',')) {
        const std::string_view entry = common::TrimOws(piece);
        if (entry.empty()) continue;
        auto cidr = Cidr::Parse(entry);
        if (!cidr) return cidr.error();
        entries.push_back(*cidr);
    }
    return CidrList(std::move(entries));
}

bool CidrList::Contains(const IpAddress& address) const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const Cidr& cidr) { return cidr.Contains(address); });
}

bool CidrList::Contains(std::string_view address) const {
    auto parsed = IpAddress::Parse(address);
    return parsed && Contains(*parsed);
}

std::string CidrList::ToString() const {
    std::string out;
    for (const Cidr& cidr : entries_) {
        if (!out.empty()) out.push_back(',');
        out += cidr.ToString();
    }
    return out;
}

}  // namespace aragora::ratelimit
