// ServerCore's admission bookkeeping (net/detail/server_core.hpp) without sockets: the
// per-client count of pending connections and the order in which waiting sessions are
// evicted when the connection table is full.

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <memory>
#include <vector>

#include "net/detail/server_core.hpp"

namespace aragora::net::detail {
namespace {

namespace asio = boost::asio;

class FakeSession final : public Interruptible {
public:
    void InterruptIfIdle() override {}
    void Evict(uint64_t ticket) override { evicted.push_back(ticket); }
    std::vector<uint64_t> evicted;
};

std::shared_ptr<ServerCore> MakeCore(size_t max_pending_per_ip) {
    ServerLimits limits;
    limits.max_pending_connections_per_ip = max_pending_per_ip;
    return std::make_shared<ServerCore>(
        limits, [](HttpRequest) -> asio::awaitable<HttpResponse> { co_return HttpResponse{}; },
        nullptr, WsPathPredicate{});
}

TEST(AdmissionTest, PendingConnectionsAreCappedPerClient) {
    auto core = MakeCore(2);
    EXPECT_TRUE(core->TryAddPending("10.0.0.1"));
    EXPECT_TRUE(core->TryAddPending("10.0.0.1"));
    EXPECT_FALSE(core->TryAddPending("10.0.0.1"));
    EXPECT_TRUE(core->TryAddPending("10.0.0.2"));  // another client is not affected
    core->RemovePending("10.0.0.1");
    EXPECT_TRUE(core->TryAddPending("10.0.0.1"));
    EXPECT_FALSE(core->TryAddPending("10.0.0.1"));
    core->RemovePending("unknown");  // tolerated
}

TEST(AdmissionTest, ZeroMeansNoPerClientLimit) {
    auto core = MakeCore(0);
    for (int i = 0; i < 1000; ++i) EXPECT_TRUE(core->TryAddPending("10.0.0.1"));
}

TEST(AdmissionTest, ClientKeyIsTheIpv4AddressOrTheIpv6Slash64) {
    EXPECT_EQ(ClientAddressKey(asio::ip::make_address("192.0.2.7")), "192.0.2.7");
    EXPECT_EQ(ClientAddressKey(asio::ip::make_address("::ffff:192.0.2.7")), "192.0.2.7");
    EXPECT_EQ(ClientAddressKey(asio::ip::make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
              "2001:db8:1:2::/64");
    EXPECT_EQ(ClientAddressKey(asio::ip::make_address("2001:db8:1:2::1")),
              ClientAddressKey(asio::ip::make_address("2001:db8:1:2:ffff::9")));
    EXPECT_NE(ClientAddressKey(asio::ip::make_address("2001:db8:1:2::1")),
              ClientAddressKey(asio::ip::make_address("2001:db8:1:3::1")));
}

TEST(AdmissionTest, TheSessionWaitingLongestIsEvictedFirst) {
    auto core = MakeCore(64);
    auto a = std::make_shared<FakeSession>();
    auto b = std::make_shared<FakeSession>();
    auto c = std::make_shared<FakeSession>();
    const uint64_t ta = core->BeginWait(a, "10.0.0.1");
    const uint64_t tb = core->BeginWait(b, "10.0.0.1");
    const uint64_t tc = core->BeginWait(c, "10.0.0.1");
    EXPECT_NE(ta, 0u);
    EXPECT_EQ(core->stats.connections_waiting.load(), 3u);

    core->EndWait(ta);  // a read its header: no longer waiting
    ASSERT_TRUE(core->EvictWaiting());
    EXPECT_TRUE(a->evicted.empty());
    EXPECT_EQ(b->evicted, std::vector<uint64_t>{tb});

    // b waits again (its next request): now behind c.
    const uint64_t tb2 = core->BeginWait(b, "10.0.0.1");
    ASSERT_TRUE(core->EvictWaiting());
    EXPECT_EQ(c->evicted, std::vector<uint64_t>{tc});
    ASSERT_TRUE(core->EvictWaiting());
    EXPECT_EQ(b->evicted, (std::vector<uint64_t>{tb, tb2}));
    EXPECT_FALSE(core->EvictWaiting());
    EXPECT_EQ(core->stats.connections_waiting.load(), 0u);
}

// A client holding many waiting connections pays before one that holds a single
// connection, even one that has waited longer.
TEST(AdmissionTest, TheClientWithTheMostWaitingSessionsIsEvictedFirst) {
    auto core = MakeCore(64);
    auto normal = std::make_shared<FakeSession>();
    std::vector<std::shared_ptr<FakeSession>> slow;
    const uint64_t t_normal = core->BeginWait(normal, "192.0.2.1");
    std::vector<uint64_t> t_slow;
    for (int i = 0; i < 3; ++i) {
        slow.push_back(std::make_shared<FakeSession>());
        t_slow.push_back(core->BeginWait(slow.back(), "198.51.100.7"));
    }
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(core->EvictWaiting());
    EXPECT_EQ(slow[0]->evicted, std::vector<uint64_t>{t_slow[0]});
    EXPECT_EQ(slow[1]->evicted, std::vector<uint64_t>{t_slow[1]});
    EXPECT_TRUE(normal->evicted.empty());
    // One each now: the longest waiting goes first.
    ASSERT_TRUE(core->EvictWaiting());
    EXPECT_EQ(normal->evicted, std::vector<uint64_t>{t_normal});
    ASSERT_TRUE(core->EvictWaiting());
    EXPECT_EQ(slow[2]->evicted, std::vector<uint64_t>{t_slow[2]});
    EXPECT_FALSE(core->EvictWaiting());
}

TEST(AdmissionTest, EndedSessionsAreSkipped) {
    auto core = MakeCore(64);
    auto gone = std::make_shared<FakeSession>();
    auto alive = std::make_shared<FakeSession>();
    core->BeginWait(gone, "10.0.0.1");
    const uint64_t t = core->BeginWait(alive, "10.0.0.1");
    gone.reset();
    ASSERT_TRUE(core->EvictWaiting());
    EXPECT_EQ(alive->evicted, std::vector<uint64_t>{t});
    EXPECT_FALSE(core->EvictWaiting());
    EXPECT_EQ(core->stats.connections_waiting.load(), 0u);
}

}  // namespace
}  // namespace aragora::net::detail
