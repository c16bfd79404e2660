// aragora_fake_llm: the fake LLM provider as a process, for benchmarks and manual runs.
//   aragora_fake_llm [--host 127.0.0.1] [--port 0] [--latency-ms 0] [--token-delay-ms 0]
//                    [--keep-requests 100000] [--listeners 1] [--seed 0]
// Prints "fake-llm listening on <host>:<port>" once serving and runs until SIGTERM or
// SIGINT. Scripted through its control API (see fake_llm.hpp).
// --listeners N: N independent servers in this process, each on its own port (the first
// on --port), each printed as "fake-llm also listening on <host>:<port>" after the first
// line: one client can then hold more than the ~28k ephemeral ports that one loopback
// address and port allow (e.g. one port per provider). Each has its own rules and records;
// the flags apply to all.
// --keep-requests N: requests kept for GET /_fake/requests (0: only counted); benchmarks
// with millions of calls pass 0.
// --seed N: seeds the generator of random faults (rules with a probability, `flaky`);
// listener i gets seed N + i.
// The soft RLIMIT_NOFILE is raised to the hard limit at start. On exit the process's CPU
// time and peaks are printed to stderr as one line "fake-llm stats: key=value ...".

#include <pthread.h>
#include <sys/resource.h>

#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fake_llm/fake_llm.hpp"

namespace {

void Usage() {
    std::fprintf(stderr,
                 "usage: aragora_fake_llm [--host H] [--port P] [--latency-ms N] "
                 "[--token-delay-ms N] [--keep-requests N] [--listeners N] [--seed N]\n");
}

bool ParseNumber(const char* text, long min, long max, long& out) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max) return false;
    out = v;
    return true;
}

// Returns the soft limit now in force.
rlim_t RaiseNoFile() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
    }
    return lim.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    long port = 0;
    long latency_ms = 0;
    long token_delay_ms = 0;
    long keep_requests = 100000;
    long listeners = 1;
    long seed = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            Usage();
            return 0;
        }
        if (i + 1 >= argc) {
            Usage();
            return 2;
        }
        const char* value = argv[++i];
        bool ok = true;
        if (arg == "--host") {
            host = value;
        } else if (arg == "--port") {
            ok = ParseNumber(value, 0, 65535, port);
        } else if (arg == "--latency-ms") {
            ok = ParseNumber(value, 0, 3'600'000, latency_ms);
        } else if (arg == "--token-delay-ms") {
            ok = ParseNumber(value, 0, 3'600'000, token_delay_ms);
        } else if (arg == "--keep-requests") {
            ok = ParseNumber(value, 0, 100'000'000, keep_requests);
        } else if (arg == "--seed") {
            ok = ParseNumber(value, 0, LONG_MAX - 64, seed);
        } else if (arg == "--listeners") {
            ok = ParseNumber(value, 1, 64, listeners);
        } else {
            ok = false;
        }
        if (!ok) {
            std::fprintf(stderr, "aragora_fake_llm: bad argument %s %s\n", argv[i - 1], value);
            Usage();
            return 2;
        }
    }

    // Blocked before the server's threads start, so they inherit the mask and the signals
    // are only ever taken by sigwait below.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const rlim_t nofile = RaiseNoFile();
    try {
        std::vector<std::unique_ptr<aragora::testing::FakeLlmServer>> servers;
        for (long i = 0; i < listeners; ++i) {
            auto server = std::make_unique<aragora::testing::FakeLlmServer>(
                host, i == 0 ? static_cast<uint16_t>(port) : 0);
            server->SetDefaultLatency(std::chrono::milliseconds(latency_ms));
            server->SetTokenDelay(std::chrono::milliseconds(token_delay_ms));
            server->SetKeptRequests(static_cast<std::size_t>(keep_requests));
            server->SetSeed(static_cast<uint64_t>(seed + i));
            const std::string url = server->base_url();
            std::printf("fake-llm %s on %s\n", i == 0 ? "listening" : "also listening",
                        url.substr(std::string_view("http://").size()).c_str());
            servers.push_back(std::move(server));
        }
        std::fflush(stdout);
        int received = 0;
        sigwait(&signals, &received);
        aragora::testing::FakeStats total;
        for (const auto& server : servers) {
            const auto st = server->Stats();
            total.cpu_user_seconds = st.cpu_user_seconds;
            total.cpu_system_seconds = st.cpu_system_seconds;
            total.max_rss_kib = st.max_rss_kib;
            total.connections_peak += st.connections_peak;
            total.connections_total += st.connections_total;
            total.in_flight_peak += st.in_flight_peak;
            total.requests += st.requests;
        }
        std::fprintf(stderr,
                     "fake-llm stats: cpu_user_seconds=%.3f cpu_system_seconds=%.3f "
                     "max_rss_kib=%ld requests=%zu connections_total=%zu "
                     "connections_peak=%zu in_flight_peak=%zu nofile=%llu\n",
                     total.cpu_user_seconds, total.cpu_system_seconds, total.max_rss_kib,
                     total.requests, total.connections_total, total.connections_peak,
                     total.in_flight_peak, static_cast<unsigned long long>(nofile));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aragora_fake_llm: %s\n", e.what());
        return 1;
    }
    return 0;
}
