// The HTTP edge of `aragora serve` under attack (issue 18, section 2), against the real
// binary: the request-smuggling bytes of the issue, and a slowloris run (many slow
// connections from one client, then from many) while a normal client is measured.
// Attackers connect from other loopback addresses (127.0.0.2...; Linux routes all of
// 127/8 to lo), so the server sees them as other clients than the test's 127.0.0.1.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A TCP connection to 127.0.0.1:port from `source`, non-blocking once connected; -1 when it
// could not connect within `deadline`.
int ConnectFrom(const std::string& source, std::uint16_t port, milliseconds deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        ::close(fd);
        return -1;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
        errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof error;
    if (::poll(&p, 1, static_cast<int>(deadline.count())) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool SendAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 5000) != 1) return false;
            continue;
        }
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads until the server closes the connection (EOF or reset); nullopt when it has not
// within `deadline`.
std::optional<std::string> ReadUntilClosed(int fd, milliseconds deadline) {
    std::string out;
    const auto end = Clock::now() + deadline;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now()).count();
        if (left <= 0) return std::nullopt;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) != 1) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        return out;  // 0: EOF; < 0: reset
    }
}

std::size_t CountResponses(const std::string& raw) {
    std::size_t n = 0;
    for (auto at = raw.find("HTTP/1."); at != std::string::npos; at = raw.find("HTTP/1.", at + 1)) {
        ++n;
    }
    return n;
}

// The value of an unlabelled metric in a Prometheus text page (-1 when absent).
double MetricValue(const std::string& page, const std::string& name) {
    const std::string key = "\n" + name + " ";
    const auto at = page.find(key);
    if (at == std::string::npos) return -1;
    return std::stod(page.substr(at + key.size()));
}

// The reproduction, with `framing` in place of its Transfer-Encoding and
// Content-Length: a proxy that reads the body as chunked sees one request, a server
// that uses the Content-Length sees a second one (the smuggled GET).
std::string SmugglingBytes(const std::string& framing) {
    return "POST /api/v1/receipts/verify HTTP/1.1\r\nHost: x\r\n" + framing +
           "\r\n2a\r\nGET /api/v1/nonexistent-smuggled HTTP/1.1\r\nHost: x\r\n"
           "Connection: close\r\n\r\n";
}

TEST(HttpEdgeIntegrationTest, SmugglingAttemptsGetExactlyOne400AndAClose) {
    TempDir dir;
    ServerProcess server(dir.path() + "/data");
    ASSERT_TRUE(server.StartReady()) << server.error();
    struct Attempt {
        std::string framing;
        std::string message;  // in the 400's body
    };
    const std::string kRule = "Transfer-Encoding other than chunked";
    for (const auto& [framing, message] : {
             // printf 'POST ... Transfer-Encoding: xchunked\r\nContent-Length: 4 ...' of the
             // issue, byte for byte
             Attempt{"Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n", kRule},
             Attempt{"Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n", kRule},
             Attempt{"Transfer-Encoding: identity\r\nContent-Length: 4\r\n", kRule},
             // Beast refuses this one itself, as it reads the header
             Attempt{"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "bad Content-Length"},
         }) {
        const int fd = ConnectFrom("127.0.0.1", server.api_port(), seconds(5));
        ASSERT_GE(fd, 0);
        ASSERT_TRUE(SendAll(fd, SmugglingBytes(framing)));
        const auto raw = ReadUntilClosed(fd, seconds(15));
        ::close(fd);
        ASSERT_TRUE(raw) << framing << ": the connection was not closed";
        EXPECT_EQ(raw->rfind("HTTP/1.1 400 ", 0), 0u) << framing << *raw;
        EXPECT_EQ(CountResponses(*raw), 1u) << framing << *raw;
        EXPECT_NE(raw->find(message), std::string::npos) << framing << *raw;
    }
    // A chunk extension: the same.
    const int fd = ConnectFrom("127.0.0.1", server.api_port(), seconds(5));
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd,
                        "POST /api/v1/receipts/verify HTTP/1.1\r\nHost: x\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n2;ext=\"x\"\r\n{}\r\n0\r\n\r\n"
                        "GET /api/v1/nonexistent-smuggled HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto raw = ReadUntilClosed(fd, seconds(15));
    ::close(fd);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->rfind("HTTP/1.1 400 ", 0), 0u) << *raw;
    EXPECT_EQ(CountResponses(*raw), 1u) << *raw;

    // The smuggled GET never reached the router (it would have been logged as a 404).
    EXPECT_EQ(server.Logs().find("nonexistent-smuggled"), std::string::npos) << server.Logs();
    EXPECT_EQ(server.Http().Get("/healthz").status, 200);
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

// Slowloris: from each source address, keeps `per_source` connections open that send a
// request line and then one header byte every `trickle` and never finish; reconnects as
// the server closes them (at most `connects_per_tick` new ones per source per 100 ms).
class SlowAttacker {
public:
    struct Stats {
        int opened = 0;          // connections established
        int connect_failed = 0;  // refused or not established within a second
        int closed_by_server = 0;
        int answered = 0;  // of those, with bytes (e.g. a 503) before the close
        int closed_at_stop = 0;
        std::int64_t max_lifetime_ms = 0;  // longest any connection stayed open
    };

    SlowAttacker(std::uint16_t port, std::vector<std::string> sources, int per_source,
                 milliseconds trickle = milliseconds(400), int connects_per_tick = 8)
        : port_(port),
          sources_(std::move(sources)),
          per_source_(per_source),
          trickle_(trickle),
          connects_per_tick_(connects_per_tick) {
        thread_ = std::thread([this] { Run(); });
    }
    ~SlowAttacker() { Stop(); }

    Stats Stop() {
        stop_.store(true);
        if (thread_.joinable()) thread_.join();
        return stats_;
    }

private:
    static constexpr milliseconds kTick{100};  // new connections are opened once a tick

    struct Conn {
        int fd;
        std::size_t source;
        Clock::time_point opened;
        Clock::time_point next_byte;
    };

    void Run() {
        std::vector<Conn> conns;
        std::vector<int> open_per_source(sources_.size(), 0);
        auto next_round = Clock::now();
        while (!stop_.load()) {
            const auto now = Clock::now();
            for (std::size_t s = 0; now >= next_round && s < sources_.size(); ++s) {
                for (int n = 0; n < connects_per_tick_ && open_per_source[s] < per_source_; ++n) {
                    const int fd = ConnectFrom(sources_[s], port_, seconds(1));
                    if (fd < 0) {
                        ++stats_.connect_failed;
                        break;
                    }
                    ++stats_.opened;
                    ++open_per_source[s];
                    SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
                    conns.push_back({fd, s, Clock::now(), Clock::now() + trickle_});
                }
            }
            if (now >= next_round) next_round = now + kTick;
            // One more header byte on each connection whose turn it is; never CR LF CR LF.
            for (auto& c : conns) {
                if (now < c.next_byte) continue;
                ::send(c.fd, "a", 1, MSG_NOSIGNAL);
                c.next_byte = now + trickle_;
            }
            std::vector<pollfd> fds;
            fds.reserve(conns.size());
            for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
            ::poll(fds.data(), fds.size(), static_cast<int>(kTick.count()));
            std::vector<Conn> still;
            still.reserve(conns.size());
            for (std::size_t i = 0; i < conns.size(); ++i) {
                if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                    still.push_back(conns[i]);
                    continue;
                }
                char buf[1024];
                ssize_t n = ::recv(conns[i].fd, buf, sizeof buf, 0);
                bool answered = false;
                while (n > 0) {
                    answered = true;
                    n = ::recv(conns[i].fd, buf, sizeof buf, 0);
                }
                if (n < 0 && errno == EAGAIN) {  // data but no close yet
                    still.push_back(conns[i]);
                    continue;
                }
                Closed(conns[i], answered);
                --open_per_source[conns[i].source];
            }
            conns.swap(still);
        }
        for (const auto& c : conns) {
            Lifetime(c);
            ::close(c.fd);
            ++stats_.closed_at_stop;
        }
    }

    void Closed(const Conn& c, bool answered) {
        Lifetime(c);
        ::close(c.fd);
        ++stats_.closed_by_server;
        if (answered) ++stats_.answered;
    }

    void Lifetime(const Conn& c) {
        const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - c.opened).count();
        stats_.max_lifetime_ms = std::max<std::int64_t>(stats_.max_lifetime_ms, ms);
    }

    std::uint16_t port_;
    std::vector<std::string> sources_;
    int per_source_;
    milliseconds trickle_;
    int connects_per_tick_;
    std::atomic<bool> stop_{false};
    Stats stats_;  // written by the thread only; read after join
    std::thread thread_;
};

constexpr int kHeaderTimeoutSeconds = 3;

std::map<std::string, std::string> SlowlorisEnv() {
    return {{"ARAGORA_MAX_CONNECTIONS", "40"},
            {"ARAGORA_MAX_PENDING_CONNECTIONS_PER_IP", "8"},
            {"ARAGORA_HEADER_TIMEOUT_SECONDS", std::to_string(kHeaderTimeoutSeconds)}};
}

struct ClientRun {
    int requests = 0;
    int ok = 0;
    std::vector<std::string> failures;
    std::int64_t slowest_ms = 0;
};

// A normal client: GET /healthz on a new connection every 20 ms (or as soon as the last
// answer came, when slower), until `duration` has passed.
ClientRun MeasureNormalClient(std::uint16_t port, milliseconds duration) {
    ClientRun run;
    const HttpClient http(port, seconds(10));
    const auto end = Clock::now() + duration;
    while (Clock::now() < end) {
        const auto start = Clock::now();
        HttpResponse r = http.Get("/healthz");
        const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
        run.slowest_ms = std::max<std::int64_t>(run.slowest_ms, ms);
        ++run.requests;
        if (r.status == 200) {
            ++run.ok;
        } else if (run.failures.size() < 5) {
            run.failures.push_back(r.Describe() + " " + r.transport_error);
        }
        std::this_thread::sleep_until(start + milliseconds(20));  // pace, not a wait
    }
    return run;
}

double Metric(const ServerProcess& server, const std::string& name) {
    return MetricValue(HttpClient(server.metrics_port()).Get("/metrics").body, name);
}

// One client holds as many slow connections as it can: past 8 the server closes them at
// once, the 8 it keeps are closed by the header deadline (trickling bytes does not extend
// it), and a normal client is served throughout. Before the fix this client took all 40
// slots and the normal client got 503s.
TEST(HttpEdgeIntegrationTest, SlowlorisFromOneClientLeavesOthersServed) {
    TempDir dir;
    ServerProcess server(dir.path() + "/data", SlowlorisEnv());
    ASSERT_TRUE(server.StartReady()) << server.error();
    ASSERT_NE(server.metrics_port(), 0);

    SlowAttacker attacker(server.api_port(), {"127.0.0.2"}, /*per_source=*/60);
    // Long enough for the attacker to fill what it can and for the header deadline to
    // close its connections at least twice.
    const ClientRun client =
        MeasureNormalClient(server.api_port(), seconds(3 * kHeaderTimeoutSeconds));
    const SlowAttacker::Stats attack = attacker.Stop();

    std::cerr << "one attacker: opened " << attack.opened << ", longest-lived "
              << attack.max_lifetime_ms << " ms; normal client " << client.ok << "/"
              << client.requests << " ok, slowest " << client.slowest_ms << " ms\n";
    EXPECT_GT(client.requests, 5);
    EXPECT_EQ(client.ok, client.requests)
        << "normal client failures: " << (client.failures.empty() ? "" : client.failures[0]);
    EXPECT_GT(attack.opened, 60) << "the attack did not run";
    // No attacker connection outlived the header deadline by much (slack for a loaded
    // machine), although each kept sending header bytes.
    EXPECT_LE(attack.max_lifetime_ms, kHeaderTimeoutSeconds * 1000 + 4000);
    EXPECT_EQ(attack.answered, 0) << "refused and timed-out connections get no answer";

    // The server's side: every attacker connection was refused at once or closed by the
    // header deadline (or was still open when the attacker stopped).
    double refused = 0;
    double timeouts = 0;
    ASSERT_TRUE(PollUntil(
        [&] {
            refused = Metric(server, "aragora_http_connections_refused_per_ip_total");
            timeouts = Metric(server, "aragora_http_header_timeouts_total");
            return refused + timeouts >= attack.opened - attack.closed_at_stop;
        },
        seconds(15)))
        << "refused " << refused << " timeouts " << timeouts << " opened " << attack.opened;
    EXPECT_GT(refused, 0);
    EXPECT_GT(timeouts, 0);
    EXPECT_LE(refused + timeouts, attack.opened);
    EXPECT_EQ(Metric(server, "aragora_http_connections_rejected_total"), 0);
    EXPECT_NE(server.Logs().find("refused a connection from 127.0.0.2"), std::string::npos)
        << server.Logs();
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

// Many clients (12 addresses x 8 slow connections, over the 40-connection table): the
// connections that waited longest for a request make room for new ones, so the normal
// client is still served. Before the fix the table stayed full and it got 503s.
TEST(HttpEdgeIntegrationTest, SlowlorisFromManyClientsLeavesOthersServed) {
    TempDir dir;
    ServerProcess server(dir.path() + "/data", SlowlorisEnv());
    ASSERT_TRUE(server.StartReady()) << server.error();
    ASSERT_NE(server.metrics_port(), 0);

    std::vector<std::string> sources;
    for (int i = 2; i < 14; ++i) sources.push_back("127.0.0." + std::to_string(i));
    SlowAttacker attacker(server.api_port(), sources, /*per_source=*/8);
    ASSERT_TRUE(
        PollUntil([&] { return Metric(server, "aragora_http_connections") >= 40; }, seconds(15)))
        << "the attack did not fill the table";
    const ClientRun client =
        MeasureNormalClient(server.api_port(), seconds(3 * kHeaderTimeoutSeconds));
    const SlowAttacker::Stats attack = attacker.Stop();

    std::cerr << "12 attackers: opened " << attack.opened << ", longest-lived "
              << attack.max_lifetime_ms << " ms; normal client " << client.ok << "/"
              << client.requests << " ok, slowest " << client.slowest_ms << " ms\n";
    EXPECT_GT(client.requests, 5);
    EXPECT_EQ(client.ok, client.requests)
        << "normal client failures: " << (client.failures.empty() ? "" : client.failures[0]);
    EXPECT_GT(Metric(server, "aragora_http_connections_evicted_total"), 0);
    EXPECT_LE(attack.max_lifetime_ms, kHeaderTimeoutSeconds * 1000 + 4000);
    EXPECT_NE(server.Logs().find("connection table full (40)"), std::string::npos) << server.Logs();
    EXPECT_EQ(server.Terminate(), 0) << server.Logs();
}

}  // namespace
}  // namespace aragora::testing
