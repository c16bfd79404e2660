#pragma once

// IP addresses and CIDR ranges: parsing, canonical formatting and membership. Pure
// values, no sockets and no Asio. All functions are thread-safe (no shared state) and
// never throw on bad input (they return nullopt or a kValidation error instead).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace aragora::ratelimit {

struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 stored as IPv4-mapped (::ffff:a.b.c.d)
    bool v4 = false;

    // Accepts "1.2.3.4", "::1", "2001:db8::1", "::ffff:1.2.3.4" (normalised to v4) and
    // "[::1]". Surrounding spaces and tabs are trimmed. IPv6 zones ("fe80::1%eth0"),
    // ports, non-canonical IPv4 forms ("01.2.3.4", "1.2.3") and anything else: nullopt.
    static std::optional<IpAddress> Parse(std::string_view text);

    // Canonical text: dotted quad for v4, RFC 5952 form for v6 ("2001:db8::1").
    std::string ToString() const;

    bool operator==(const IpAddress&) const = default;
};

struct Cidr {
    IpAddress network;   // host bits masked off
    int prefix_len = 0;  // 0..32 for v4, 0..128 for v6

    // "10.0.0.0/8", "::1/128", or a bare address (= /32 or /128). Host bits set in the
    // address are masked off (accepted). An IPv4-mapped address ("::ffff:10.0.0.0/8")
    // is an IPv4 network, so its prefix counts IPv4 bits (0..32). Bad input:
    // kValidation error whose message quotes the text.
    static common::Result<Cidr> Parse(std::string_view text);

    // A v4 network matches only v4 addresses (including IPv4-mapped ones, which parse as
    // v4); a v6 network matches only v6 addresses, so "::/0" does not match 1.2.3.4.
    bool Contains(const IpAddress& address) const;

    std::string ToString() const;  // "10.0.0.0/8", "2001:db8::/32"

    bool operator==(const Cidr&) const = default;
};

// An immutable list of networks (linear membership test: lists are short config values).
class CidrList {
public:
    CidrList() = default;

    // Comma-separated (spaces allowed, empty entries skipped); the first bad entry is a
    // kValidation error naming it. An empty or blank text is an empty list.
    static common::Result<CidrList> Parse(std::string_view comma_separated);

    bool Contains(const IpAddress& address) const;
    bool Contains(std::string_view address) const;  // false when it does not parse
    bool empty() const { return entries_.empty(); }
    std::string ToString() const;  // comma-joined canonical, no spaces
    const std::vector<Cidr>& entries() const { return entries_; }

private:
    explicit CidrList(std::vector<Cidr> entries) : entries_(std::move(entries)) {}

    std::vector<Cidr> entries_;
};

// Private networks and loopback: the usual places a reverse proxy runs.
inline constexpr std::string_view kDefaultTrustedProxies =
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,::1/128";

}  // namespace aragora::ratelimit
