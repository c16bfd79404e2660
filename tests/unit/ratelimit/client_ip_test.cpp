// Which address a request is attributed to: proxy headers count only from trusted peers,
// and the rightmost untrusted X-Forwarded-For entry wins (a client cannot spoof past it).

#include "ratelimit/client_ip.hpp"

#include <gtest/gtest.h>

namespace aragora::ratelimit {
namespace {

class ClientIpTest : public ::testing::Test {
protected:
    CidrList trusted_ = CidrList::Parse(kDefaultTrustedProxies).value();
};

TEST_F(ClientIpTest, UntrustedPeerIgnoresSpoofedHeaders) {
    EXPECT_EQ(ClientIp("8.8.8.8", "1.2.3.4", "5.6.7.8", trusted_), "8.8.8.8");
    EXPECT_EQ(ClientIp("8.8.8.8", "10.0.0.1", "", trusted_), "8.8.8.8");
    EXPECT_EQ(ClientIp("2001:db8::1", "1.2.3.4", "", trusted_), "2001:db8::1");
}

TEST_F(ClientIpTest, TrustedPeerUsesForwardedFor) {
    EXPECT_EQ(ClientIp("10.0.0.1", "1.2.3.4", "", trusted_), "1.2.3.4");
    EXPECT_EQ(ClientIp("127.0.0.1", "  1.2.3.4  ", "", trusted_), "1.2.3.4");
}

TEST_F(ClientIpTest, RightmostUntrustedEntryWins) {
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.5", "", trusted_), "1.2.3.4");
    // Several header values joined by ','.
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6,1.2.3.4,10.0.0.5,192.168.0.9", "", trusted_),
              "1.2.3.4");
    // Empty entries (a client's trailing comma) are skipped.
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6,, 1.2.3.4,", "", trusted_), "1.2.3.4");
}

TEST_F(ClientIpTest, AllTrustedMeansLeftmost) {
    EXPECT_EQ(ClientIp("10.0.0.1", "10.0.0.7, 192.168.1.6,10.0.0.5", "9.9.9.9", trusted_),
              "10.0.0.7");
}

TEST_F(ClientIpTest, GarbageStopsTheWalk) {
    // The last trusted address walked before the garbage.
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6, garbage, 10.0.0.5", "", trusted_), "10.0.0.5");
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6, 1.2.3.4:80, 10.0.0.5", "", trusted_), "10.0.0.5");
    // Garbage first: nothing walked, so the peer (X-Real-IP is only for a missing XFF).
    EXPECT_EQ(ClientIp("10.0.0.1", "1.2.3.4, unknown", "5.6.7.8", trusted_), "10.0.0.1");
    EXPECT_EQ(ClientIp("10.0.0.1", "fe80::1%eth0", "", trusted_), "10.0.0.1");
}

TEST_F(ClientIpTest, RealIpWhenNoForwardedFor) {
    EXPECT_EQ(ClientIp("10.0.0.1", "", "5.6.7.8", trusted_), "5.6.7.8");
    EXPECT_EQ(ClientIp("10.0.0.1", " , ", " 5.6.7.8 ", trusted_), "5.6.7.8");
    EXPECT_EQ(ClientIp("10.0.0.1", "", "2001:DB8::9", trusted_), "2001:db8::9");
    EXPECT_EQ(ClientIp("10.0.0.1", "", "not-an-ip", trusted_), "10.0.0.1");
    EXPECT_EQ(ClientIp("10.0.0.1", "", "", trusted_), "10.0.0.1");
    // An untrusted peer's X-Real-IP is as spoofable as its X-Forwarded-For.
    EXPECT_EQ(ClientIp("8.8.8.8", "", "5.6.7.8", trusted_), "8.8.8.8");
}

TEST_F(ClientIpTest, Ipv6AndMappedPeers) {
    EXPECT_EQ(ClientIp("::1", "2001:db8::5", "", trusted_), "2001:db8::5");
    EXPECT_EQ(ClientIp("[::1]", "", "", trusted_), "::1");
    EXPECT_EQ(ClientIp("[::1]", "1.2.3.4", "", trusted_), "1.2.3.4");
    EXPECT_EQ(ClientIp("::ffff:127.0.0.1", "1.2.3.4", "", trusted_), "1.2.3.4");
    EXPECT_EQ(ClientIp("::ffff:127.0.0.1", "", "", trusted_), "127.0.0.1");
    EXPECT_EQ(ClientIp("::ffff:8.8.8.8", "1.2.3.4", "", trusted_), "8.8.8.8");
    // Entries are canonicalised.
    EXPECT_EQ(ClientIp("::1", "::ffff:1.2.3.4", "", trusted_), "1.2.3.4");
    EXPECT_EQ(ClientIp("::1", "[2001:DB8:0::7]", "", trusted_), "2001:db8::7");
}

TEST_F(ClientIpTest, UnparsablePeerIsReturnedAsGiven) {
    EXPECT_EQ(ClientIp("unix:/run/aragora.sock", "1.2.3.4", "5.6.7.8", trusted_),
              "unix:/run/aragora.sock");
    EXPECT_EQ(ClientIp("", "1.2.3.4", "", trusted_), "");
}

TEST_F(ClientIpTest, EmptyTrustedListTrustsNoOne) {
    const CidrList none;
    EXPECT_EQ(ClientIp("127.0.0.1", "1.2.3.4", "5.6.7.8", none), "127.0.0.1");
}

}  // namespace
}  // namespace aragora::ratelimit
