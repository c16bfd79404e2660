#include "agents/factory.hpp"

#include <gtest/gtest.h>

namespace aragora::agents {
namespace {

// A phase's provider calls end together; the pool must keep them for the next phase
// instead of closing all but a few and connecting again (bench/README.md, issue 20).
TEST(AgentClientOptions, KeepEnoughIdleConnectionsPerProviderForConcurrentDebates) {
    const config::AgentSettings settings;
    const net::HttpClientOptions o = ClientOptionsFrom(settings);
    EXPECT_GE(o.max_idle_per_host, 256u);
    EXPECT_GT(o.max_idle_per_host, net::HttpClientOptions{}.max_idle_per_host);
}

}  // namespace
}  // namespace aragora::agents
