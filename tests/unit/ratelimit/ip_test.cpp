// IP address and CIDR parsing, canonical text and membership; the trusted-proxy list.

#include "ratelimit/ip.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aragora::ratelimit {
namespace {

std::string Canonical(std::string_view text) {
    auto ip = IpAddress::Parse(text);
    return ip ? ip->ToString() : "<invalid>";
}

IpAddress Ip(std::string_view text) {
    auto ip = IpAddress::Parse(text);
    EXPECT_TRUE(ip.has_value()) << text;
    return ip.value_or(IpAddress{});
}

Cidr Net(std::string_view text) {
    auto cidr = Cidr::Parse(text);
    EXPECT_TRUE(cidr.ok()) << text << ": " << (cidr.ok() ? "" : cidr.error().message);
    return cidr.ok() ? *cidr : Cidr{};
}

TEST(IpAddressTest, ParsesIpv4AsMapped) {
    auto ip = IpAddress::Parse("1.2.3.4");
    ASSERT_TRUE(ip);
    EXPECT_TRUE(ip->v4);
    const std::array<std::uint8_t, 16> expected = {0, 0, 0,    0,    0, 0, 0, 0,
                                                   0, 0, 0xff, 0xff, 1, 2, 3, 4};
    EXPECT_EQ(ip->bytes, expected);
    EXPECT_EQ(ip->ToString(), "1.2.3.4");
    EXPECT_EQ(Canonical("0.0.0.0"), "0.0.0.0");
    EXPECT_EQ(Canonical("255.255.255.255"), "255.255.255.255");
}

TEST(IpAddressTest, TrimsSurroundingSpaces) {
    EXPECT_EQ(Canonical("  1.2.3.4 "), "1.2.3.4");
    EXPECT_EQ(Canonical("\t::1\t"), "::1");
}

TEST(IpAddressTest, ParsesIpv6ToCanonicalForm) {
    auto ip = IpAddress::Parse("::1");
    ASSERT_TRUE(ip);
    EXPECT_FALSE(ip->v4);
    EXPECT_EQ(ip->bytes[15], 1);
    EXPECT_EQ(ip->ToString(), "::1");
    EXPECT_EQ(Canonical("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    EXPECT_EQ(Canonical("2001:0db8::0001"), "2001:db8::1");
    EXPECT_EQ(Canonical("::"), "::");
    // RFC 5952: the first longest run of zeros is compressed, a single zero field is not.
    EXPECT_EQ(Canonical("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    EXPECT_EQ(Canonical("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
}

TEST(IpAddressTest, MappedIpv6IsNormalisedToIpv4) {
    auto mapped = IpAddress::Parse("::ffff:1.2.3.4");
    ASSERT_TRUE(mapped);
    EXPECT_TRUE(mapped->v4);
    EXPECT_EQ(*mapped, Ip("1.2.3.4"));
    EXPECT_EQ(mapped->ToString(), "1.2.3.4");
    EXPECT_EQ(Canonical("::FFFF:7f00:1"), "127.0.0.1");
    EXPECT_EQ(Canonical("[::ffff:127.0.0.1]"), "127.0.0.1");
}

TEST(IpAddressTest, AcceptsBracketedIpv6Only) {
    EXPECT_EQ(Canonical("[::1]"), "::1");
    EXPECT_EQ(Canonical(" [2001:db8::1] "), "2001:db8::1");
    EXPECT_FALSE(IpAddress::Parse("[1.2.3.4]"));
    EXPECT_FALSE(IpAddress::Parse("[::1"));
    EXPECT_FALSE(IpAddress::Parse("::1]"));
    EXPECT_FALSE(IpAddress::Parse("[]"));
}

TEST(IpAddressTest, RefusesBadInput) {
    for (std::string_view bad :
         {"", " ", "abc", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "01.2.3.4", "1.2.3.4:80",
          "[::1]:80", "fe80::1%eth0", "[fe80::1%25eth0]", "::g", "2001:db8::1::2",
          "1:2:3:4:5:6:7:8:9", "1.2.3.4/32", "1.2.3.4 5"}) {
        EXPECT_FALSE(IpAddress::Parse(bad)) << bad;
    }
    EXPECT_FALSE(IpAddress::Parse(std::string_view("1.2.3.4\0junk", 12)));
    EXPECT_FALSE(IpAddress::Parse(std::string(200, '1')));
}

TEST(CidrTest, ParsesAndMasksHostBits) {
    const Cidr cidr = Net("10.1.2.3/8");
    EXPECT_TRUE(cidr.network.v4);
    EXPECT_EQ(cidr.prefix_len, 8);
    EXPECT_EQ(cidr.network, Ip("10.0.0.0"));
    EXPECT_EQ(cidr.ToString(), "10.0.0.0/8");
    EXPECT_EQ(Net("2001:db8:ffff::1/32").ToString(), "2001:db8::/32");
    EXPECT_EQ(Net(" 172.16.0.0 / 12 ").ToString(), "172.16.0.0/12");
}

TEST(CidrTest, BareAddressIsAHostRoute) {
    EXPECT_EQ(Net("1.2.3.4").ToString(), "1.2.3.4/32");
    EXPECT_EQ(Net("::1").ToString(), "::1/128");
    EXPECT_EQ(Net("[::1]").ToString(), "::1/128");
    EXPECT_EQ(Net("::ffff:10.0.0.0/8").ToString(), "10.0.0.0/8");
}

TEST(CidrTest, ContainsRespectsPrefix) {
    const Cidr ten = Net("10.0.0.0/8");
    EXPECT_TRUE(ten.Contains(Ip("10.0.0.0")));
    EXPECT_TRUE(ten.Contains(Ip("10.255.1.2")));
    EXPECT_TRUE(ten.Contains(Ip("::ffff:10.9.9.9")));
    EXPECT_FALSE(ten.Contains(Ip("11.0.0.1")));
    EXPECT_FALSE(ten.Contains(Ip("9.255.255.255")));

    // A prefix that ends inside a byte.
    const Cidr twelve = Net("172.16.0.0/12");
    EXPECT_TRUE(twelve.Contains(Ip("172.31.255.255")));
    EXPECT_FALSE(twelve.Contains(Ip("172.32.0.0")));
    EXPECT_FALSE(twelve.Contains(Ip("172.15.255.255")));

    const Cidr host = Net("1.2.3.4/32");
    EXPECT_TRUE(host.Contains(Ip("1.2.3.4")));
    EXPECT_FALSE(host.Contains(Ip("1.2.3.5")));

    const Cidr v6 = Net("2001:db8::/32");
    EXPECT_TRUE(v6.Contains(Ip("2001:db8:ffff::1")));
    EXPECT_FALSE(v6.Contains(Ip("2001:db9::1")));

    const Cidr loopback = Net("::1/128");
    EXPECT_TRUE(loopback.Contains(Ip("::1")));
    EXPECT_FALSE(loopback.Contains(Ip("::2")));

    const Cidr v6_net = Net("fe80::/10");
    EXPECT_TRUE(v6_net.Contains(Ip("febf::1")));
    EXPECT_FALSE(v6_net.Contains(Ip("fec0::1")));
}

TEST(CidrTest, ZeroPrefixMatchesItsFamilyOnly) {
    const Cidr all_v4 = Net("0.0.0.0/0");
    EXPECT_TRUE(all_v4.Contains(Ip("1.2.3.4")));
    EXPECT_TRUE(all_v4.Contains(Ip("255.255.255.255")));
    EXPECT_FALSE(all_v4.Contains(Ip("::1")));
    EXPECT_FALSE(all_v4.Contains(Ip("2001:db8::1")));

    const Cidr all_v6 = Net("::/0");
    EXPECT_TRUE(all_v6.Contains(Ip("::1")));
    EXPECT_TRUE(all_v6.Contains(Ip("2001:db8::1")));
    EXPECT_FALSE(all_v6.Contains(Ip("1.2.3.4")));
    EXPECT_FALSE(all_v6.Contains(Ip("::ffff:1.2.3.4")));

    // ::/80 covers the bytes of every IPv4-mapped address, but a v6 network never
    // matches a v4 address.
    const Cidr mapped_bytes = Net("::/80");
    EXPECT_FALSE(mapped_bytes.Contains(Ip("::ffff:0:1")));
    EXPECT_TRUE(mapped_bytes.Contains(Ip("::1")));
}

TEST(CidrTest, RefusesBadInputWithTheText) {
    for (std::string_view bad :
         {"10.0.0.0/33", "x/8", "10.0.0.0/-1", "", "   ", "10.0.0.0/", "/8", "10.0.0.0/8/8",
          "10.0.0.0/+8", "10.0.0.0/0x8", "10.0.0.0/1000", "::/129", "10.0.0.0/8 junk",
          "fe80::1%1/64", "::ffff:10.0.0.0/104"}) {
        auto cidr = Cidr::Parse(bad);
        ASSERT_FALSE(cidr.ok()) << bad;
        EXPECT_EQ(cidr.error().code, common::ErrorCode::kValidation) << bad;
        EXPECT_NE(cidr.error().message.find(std::string(bad)), std::string::npos)
            << cidr.error().message;
    }
}

TEST(CidrListTest, SkipsSpacesAndEmptyEntries) {
    auto list = CidrList::Parse(" 10.0.0.0/8 , ,192.168.1.7/16,, ::1 ");
    ASSERT_TRUE(list.ok()) << list.error().message;
    ASSERT_EQ(list->entries().size(), 3u);
    EXPECT_EQ(list->ToString(), "10.0.0.0/8,192.168.0.0/16,::1/128");
    EXPECT_FALSE(list->empty());
    EXPECT_TRUE(list->Contains("10.2.3.4"));
    EXPECT_TRUE(list->Contains("192.168.200.1"));
    EXPECT_TRUE(list->Contains("[::1]"));
    EXPECT_FALSE(list->Contains("8.8.8.8"));
    EXPECT_FALSE(list->Contains("not an ip"));
    EXPECT_FALSE(list->Contains(""));
}

TEST(CidrListTest, EmptyTextIsAnEmptyList) {
    for (std::string_view text : {"", "  ", ",", " , ,"}) {
        auto list = CidrList::Parse(text);
        ASSERT_TRUE(list.ok()) << text;
        EXPECT_TRUE(list->empty());
        EXPECT_EQ(list->ToString(), "");
        EXPECT_FALSE(list->Contains("127.0.0.1"));
    }
    EXPECT_TRUE(CidrList().empty());
}

TEST(CidrListTest, FirstBadEntryIsNamed) {
    auto list = CidrList::Parse("10.0.0.0/8, bogus, 1.2.3.4/40");
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.error().code, common::ErrorCode::kValidation);
    EXPECT_NE(list.error().message.find("bogus"), std::string::npos) << list.error().message;
    EXPECT_EQ(list.error().message.find("1.2.3.4/40"), std::string::npos);
}

TEST(CidrListTest, DefaultTrustedProxiesArePrivateAndLoopback) {
    auto list = CidrList::Parse(kDefaultTrustedProxies);
    ASSERT_TRUE(list.ok()) << list.error().message;
    EXPECT_EQ(list->entries().size(), 5u);
    EXPECT_EQ(list->ToString(), kDefaultTrustedProxies);
    for (std::string_view inside :
         {"10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1", "127.0.0.1", "127.255.0.9",
          "::1", "[::1]", "::ffff:127.0.0.1", "::ffff:10.0.0.1"}) {
        EXPECT_TRUE(list->Contains(inside)) << inside;
    }
    for (std::string_view outside : {"8.8.8.8", "172.32.0.1", "192.169.0.1", "11.0.0.1",
                                     "2001:db8::1", "::2", "fe80::1", "0.0.0.0"}) {
        EXPECT_FALSE(list->Contains(outside)) << outside;
    }
}

}  // namespace
}  // namespace aragora::ratelimit
