#include "ratelimit/client_ip.hpp"

#include <optional>

namespace aragora::ratelimit {

std::string ClientIp(std::string_view peer, std::string_view x_forwarded_for,
                     std::string_view x_real_ip, const CidrList& trusted) {
    const auto peer_address = IpAddress::Parse(peer);
    if (!peer_address) return std::string(peer);
    if (!trusted.Contains(*peer_address)) return peer_address->ToString();

    bool saw_entry = false;
    std::optional<IpAddress> last_trusted;
    std::string_view rest = x_forwarded_for;
    while (!rest.empty()) {
        const std::size_t comma = rest.rfind(',');
        const std::string_view entry =
            comma == std::string_view::npos ? rest : rest.substr(comma + 1);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
        if (entry.find_first_not_of(" \t") == std::string_view::npos) continue;
        saw_entry = true;
        const auto address = IpAddress::Parse(entry);
        // Whatever lies left of garbage was written by someone we cannot vouch for.
        if (!address) break;
        if (!trusted.Contains(*address)) return address->ToString();
        last_trusted = address;
    }
    if (last_trusted) return last_trusted->ToString();
    if (!saw_entry) {
        if (const auto real_ip = IpAddress::Parse(x_real_ip)) return real_ip->ToString();
    }
    return peer_address->ToString();
}

}  // namespace aragora::ratelimit
