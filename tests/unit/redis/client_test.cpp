// RedisClient against a real redis-server started by the test: commands and reply types,
// pipelining, the bounded queue, per-command deadlines (CLIENT PAUSE stalls the server),
// fail-fast while the server is down and reconnection after it restarts, AUTH, SELECT,
// TLS with verification, Stop.

#include "redis/client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <set>

#include "redis_test_server.hpp"

namespace aragora::redis {
namespace {

namespace asio = boost::asio;
using common::ErrorCode;
using common::Result;
using std::chrono::milliseconds;
using testing::IoThreads;
using testing::RedisServerOptions;
using testing::RedisTestServer;
using testing::WaitFor;

ClientOptions Options(const std::string& url, const std::string& fallback_password = {}) {
    auto parsed = RedisUrl::Parse(url, fallback_password);
    EXPECT_TRUE(parsed.ok()) << parsed.error().message;
    ClientOptions o;
    if (parsed) o.connection.url = *parsed;
    o.connection.connect_timeout = milliseconds(2000);
    o.connection.reconnect_min = milliseconds(20);
    o.connection.reconnect_max = milliseconds(200);
    o.command_timeout = milliseconds(3000);
    return o;
}

asio::awaitable<Result<Reply>> Cmd(RedisClient& client, std::vector<std::string> args) {
    co_return co_await client.Command(std::move(args));
}

class RedisClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string err = server_.Start();
        ASSERT_TRUE(err.empty()) << err;
    }

    Result<Reply> Run(RedisClient& client, std::vector<std::string> args) {
        return io_.Await(Cmd(client, std::move(args)));
    }
    common::Status Connect(RedisClient& client) {
        client.Start();
        return io_.Await(client.WaitConnected(milliseconds(5000)));
    }

    RedisTestServer server_;
    IoThreads io_;
};

TEST_F(RedisClientTest, CommandsAndReplyTypes) {
    RedisClient client(io_.executor(), Options(server_.Url()));
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    EXPECT_TRUE(client.connected());

    auto set = Run(client, {"SET", "k", "v"});
    ASSERT_TRUE(set.ok()) << set.error().message;
    EXPECT_EQ(set->type, Reply::Type::kStatus);
    EXPECT_EQ(set->str, "OK");

    auto get = Run(client, {"GET", "k"});
    ASSERT_TRUE(get.ok());
    EXPECT_EQ(get->type, Reply::Type::kString);
    EXPECT_EQ(get->str, "v");

    auto missing = Run(client, {"GET", "nope"});
    ASSERT_TRUE(missing.ok());
    EXPECT_TRUE(missing->IsNil());

    auto incr = Run(client, {"INCRBY", "n", "41"});
    ASSERT_TRUE(incr.ok());
    EXPECT_EQ(incr->type, Reply::Type::kInteger);
    EXPECT_EQ(incr->integer, 41);

    // A server error is a Reply, not a failed Result.
    auto wrong = Run(client, {"INCR", "k"});
    ASSERT_TRUE(wrong.ok());
    EXPECT_TRUE(wrong->IsError());
    EXPECT_NE(wrong->str.find("not an integer"), std::string::npos) << wrong->str;

    ASSERT_TRUE(Run(client, {"RPUSH", "l", "a", "b", "c"}).ok());
    auto range = Run(client, {"LRANGE", "l", "0", "-1"});
    ASSERT_TRUE(range.ok());
    ASSERT_TRUE(range->IsArray());
    ASSERT_EQ(range->elements.size(), 3u);
    EXPECT_EQ(range->elements[2].str, "c");
    EXPECT_EQ(Describe(*range), "[\"a\", \"b\", \"c\"]");

    // Binary-safe arguments.
    const std::string binary("a\0b\r\n*3\r\n", 10);
    ASSERT_TRUE(Run(client, {"SET", "bin", binary}).ok());
    auto back = Run(client, {"GET", "bin"});
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->str, binary);

    auto empty = Run(client, {});
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().code, ErrorCode::kBadRequest);

    auto latency = io_.Await(client.Ping(milliseconds(1000)));
    ASSERT_TRUE(latency.ok()) << latency.error().message;
    EXPECT_GT(latency->count(), 0);
}

TEST_F(RedisClientTest, PipelinesManyConcurrentCommands) {
    auto options = Options(server_.Url());
    options.max_pending = 4096;
    RedisClient client(io_.executor(), options);
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();

    constexpr int kCommands = 3000;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::future<Result<Reply>>> futures;
    futures.reserve(kCommands);
    for (int i = 0; i < kCommands; ++i) {
        std::vector<std::string> incr{"INCR", "counter"};
        futures.push_back(asio::co_spawn(io_.io(), Cmd(client, std::move(incr)), asio::use_future));
    }
    std::set<std::int64_t> seen;
    for (auto& f : futures) {
        ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
        auto r = f.get();
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->IsInteger()) << Describe(*r);
        seen.insert(r->integer);
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // Every INCR ran exactly once and got its own reply.
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kCommands));
    EXPECT_EQ(*seen.begin(), 1);
    EXPECT_EQ(*seen.rbegin(), kCommands);
    auto total = Run(client, {"GET", "counter"});
    ASSERT_TRUE(total.ok());
    EXPECT_EQ(total->str, std::to_string(kCommands));
    EXPECT_EQ(client.Stats().connects, 1u);
    std::printf("[ figure ] %d pipelined INCR in %.1f ms (%.0f commands/s)\n", kCommands,
                std::chrono::duration<double, std::milli>(elapsed).count(),
                kCommands / std::chrono::duration<double>(elapsed).count());
}

TEST_F(RedisClientTest, FullQueueRefusesWithOverloaded) {
    auto options = Options(server_.Url());
    options.max_pending = 4;
    RedisClient client(io_.executor(), options);
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    // The server holds every reply for 1 s, so the queue cannot drain meanwhile.
    ASSERT_EQ(server_.Exec({"CLIENT", "PAUSE", "1000"}), "+OK");

    std::vector<std::future<Result<Reply>>> futures;
    for (int i = 0; i < 10; ++i) {
        std::vector<std::string> ping{"PING"};
        futures.push_back(asio::co_spawn(io_.io(), Cmd(client, std::move(ping)), asio::use_future));
    }
    int ok = 0;
    int overloaded = 0;
    for (auto& f : futures) {
        ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
        auto r = f.get();
        if (r.ok()) {
            ++ok;
        } else {
            EXPECT_EQ(r.error().code, ErrorCode::kOverloaded) << r.error().message;
            ++overloaded;
        }
    }
    EXPECT_EQ(ok, 4);
    EXPECT_EQ(overloaded, 6);
    EXPECT_EQ(client.Stats().overloaded, 6u);
}

TEST_F(RedisClientTest, TimeoutResetsTheConnectionThenRecovers) {
    RedisClient client(io_.executor(), Options(server_.Url()));
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    ASSERT_TRUE(Run(client, {"SET", "k", "before"}).ok());
    ASSERT_EQ(server_.Exec({"CLIENT", "PAUSE", "1500"}), "+OK");

    std::vector<std::string> get{"GET", "k"};
    auto slow = io_.Await(client.Command(std::move(get), milliseconds(200)));
    ASSERT_FALSE(slow.ok());
    EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);
    EXPECT_NE(slow.error().message.find("timed out after 200 ms"), std::string::npos)
        << slow.error().message;
    EXPECT_EQ(client.Stats().timeouts, 1u);

    // Once the pause is over the client works again on a new connection (the old one may
    // still carry the late reply, which must not be handed to a later command).
    ASSERT_TRUE(WaitFor([&] {
        std::vector<std::string> get_again{"GET", "k"};
        auto r = io_.Await(client.Command(std::move(get_again), milliseconds(300)));
        return r.ok() && r->str == "before";
    }));
    EXPECT_GE(client.Stats().connects, 2u);
    auto set = Run(client, {"SET", "k", "after"});
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->str, "OK");
    auto get_after = Run(client, {"GET", "k"});
    ASSERT_TRUE(get_after.ok());
    EXPECT_EQ(get_after->str, "after");
}

TEST_F(RedisClientTest, ServerDownFailsFastThenReconnects) {
    RedisClient client(io_.executor(), Options(server_.Url()));
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    ASSERT_TRUE(Run(client, {"SET", "k", "v"}).ok());

    server_.Kill();
    ASSERT_TRUE(WaitFor([&] { return !client.connected(); }));
    const auto start = std::chrono::steady_clock::now();
    auto down = Run(client, {"GET", "k"});
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(down.error().message.rfind("redis unavailable: ", 0), 0u) << down.error().message;
    // Fails fast: nothing waited for the 3 s command deadline.
    EXPECT_LT(took, milliseconds(1000));
    EXPECT_FALSE(client.LastError().empty());

    const std::string err = server_.Start();  // same port
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_TRUE(io_.Await(client.WaitConnected(milliseconds(10000))).ok()) << client.LastError();
    auto back = Run(client, {"SET", "k", "again"});
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->str, "OK");
    EXPECT_GE(client.Stats().connects, 2u);
    EXPECT_GE(client.Stats().connect_failures, 1u);
}

TEST_F(RedisClientTest, InFlightCommandsFailWhenTheServerDies) {
    RedisClient client(io_.executor(), Options(server_.Url()));
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    ASSERT_EQ(server_.Exec({"CLIENT", "PAUSE", "5000"}), "+OK");
    std::vector<std::string> get{"GET", "k"};
    auto future = asio::co_spawn(io_.io(), Cmd(client, std::move(get)), asio::use_future);
    ASSERT_TRUE(WaitFor([&] { return client.Stats().commands >= 1; }));
    server_.Kill();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto r = future.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
}

TEST_F(RedisClientTest, StopFailsEverythingAfterwards) {
    RedisClient client(io_.executor(), Options(server_.Url()));
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    client.Stop();
    ASSERT_TRUE(WaitFor([&] { return !client.connected(); }));
    auto r = Run(client, {"PING"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_FALSE(io_.Await(client.WaitConnected(milliseconds(100))).ok());
}

TEST_F(RedisClientTest, SelectsTheDatabaseOfTheUrl) {
    RedisClient client(io_.executor(), Options(server_.Url() + "/3"));
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    ASSERT_TRUE(Run(client, {"SET", "only-in-3", "x"}).ok());
    auto info = Run(client, {"CLIENT", "INFO"});
    ASSERT_TRUE(info.ok());
    EXPECT_NE(info->str.find(" db=3 "), std::string::npos) << info->str;
    EXPECT_EQ(server_.Exec({"EXISTS", "only-in-3"}), ":0");  // db 0
}

TEST_F(RedisClientTest, ConnectionRefusedIsReportedNotHung) {
    auto options = Options("redis://127.0.0.1:1");
    RedisClient client(io_.executor(), options);
    client.Start();
    auto st = io_.Await(client.WaitConnected(milliseconds(300)));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(st.error().message.find("127.0.0.1:1"), std::string::npos) << st.error().message;
}

class RedisAuthTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string err = server_.Start();
        ASSERT_TRUE(err.empty()) << err;
    }
    RedisTestServer server_{RedisServerOptions{.password = "s3cret-pw"}};
    IoThreads io_;
};

TEST_F(RedisAuthTest, AuthenticatesWithRedisPassword) {
    // REDIS_PASSWORD given as the fallback of a URL without a password.
    RedisClient client(io_.executor(), Options(server_.Url(), "s3cret-pw"));
    client.Start();
    ASSERT_TRUE(io_.Await(client.WaitConnected(milliseconds(5000))).ok()) << client.LastError();
    auto r = io_.Await(Cmd(client, {"SET", "k", "v"}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->str, "OK");
}

TEST_F(RedisAuthTest, WrongPasswordIsAClearErrorWithoutThePassword) {
    RedisClient client(io_.executor(), Options(server_.Url(), "wrong-pw"));
    client.Start();
    auto st = io_.Await(client.WaitConnected(milliseconds(1000)));
    ASSERT_FALSE(st.ok());
    EXPECT_NE(client.LastError().find("AUTH"), std::string::npos) << client.LastError();
    EXPECT_EQ(client.LastError().find("wrong-pw"), std::string::npos) << client.LastError();

    RedisClient no_password(io_.executor(), Options(server_.Url()));
    no_password.Start();
    ASSERT_TRUE(io_.Await(no_password.WaitConnected(milliseconds(5000))).ok());
    auto r = io_.Await(Cmd(no_password, {"GET", "k"}));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->IsError());
    EXPECT_NE(r->str.find("NOAUTH"), std::string::npos) << r->str;
}

class RedisTlsTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string err = server_.Start();
        ASSERT_TRUE(err.empty()) << err;
    }
    common::Status Connect(RedisClient& client, milliseconds timeout = milliseconds(5000)) {
        client.Start();
        return io_.Await(client.WaitConnected(timeout));
    }
    RedisTestServer server_{RedisServerOptions{.password = {}, .tls = true}};
    IoThreads io_;
};

TEST_F(RedisTlsTest, VerifiedAgainstTheCaFile) {
    auto options = Options(server_.Url());  // rediss://127.0.0.1:<port>: IP SAN checked
    options.connection.tls.ca_file = server_.ca_file();
    RedisClient client(io_.executor(), options);
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    auto r = io_.Await(Cmd(client, {"SET", "k", "tls"}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->str, "OK");
    auto latency = io_.Await(client.Ping(milliseconds(1000)));
    ASSERT_TRUE(latency.ok());
}

TEST_F(RedisTlsTest, HostNameVerifiedWithSni) {
    auto options = Options("rediss://localhost:" + std::to_string(server_.port()));
    options.connection.tls.ca_file = server_.ca_file();
    RedisClient client(io_.executor(), options);
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    EXPECT_TRUE(io_.Await(Cmd(client, {"PING"})).ok());
}

TEST_F(RedisTlsTest, UntrustedCertificateIsRefused) {
    RedisClient client(io_.executor(), Options(server_.Url()));  // system store only
    auto st = Connect(client, milliseconds(1000));
    ASSERT_FALSE(st.ok());
    EXPECT_NE(client.LastError().find("certificate verification failed"), std::string::npos)
        << client.LastError();
}

TEST_F(RedisTlsTest, SkipVerifyOnlyWhenAsked) {
    auto options = Options(server_.Url());
    options.connection.tls.insecure_skip_verify = true;
    RedisClient client(io_.executor(), options);
    ASSERT_TRUE(Connect(client).ok()) << client.LastError();
    EXPECT_TRUE(io_.Await(Cmd(client, {"PING"})).ok());
}

TEST(RedisOptionsTest, ValidateChecksFilesAndTimeouts) {
    ConnectionOptions o;
    o.url = *RedisUrl::Parse("rediss://cache");
    EXPECT_TRUE(Validate(o).ok());
    o.tls.ca_file = "/nonexistent/ca.pem";
    auto bad = Validate(o);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("/nonexistent/ca.pem"), std::string::npos);
    o.tls.ca_file.clear();
    o.reconnect_max = std::chrono::milliseconds(1);
    EXPECT_FALSE(Validate(o).ok());
}

}  // namespace
}  // namespace aragora::redis
