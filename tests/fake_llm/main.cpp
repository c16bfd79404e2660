// aragora_fake_llm: the fake LLM provider as a process, for benchmarks and manual runs.
//   aragora_fake_llm [--host 127.0.0.1] [--port 0] [--latency-ms 0] [--token-delay-ms 0]
// Prints "fake-llm listening on <host>:<port>" once serving and runs until SIGTERM or
// SIGINT. Scripted through its control API (see fake_llm.hpp).

#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "fake_llm/fake_llm.hpp"

namespace {

void Usage() {
    std::fprintf(stderr,
                 "usage: aragora_fake_llm [--host H] [--port P] [--latency-ms N] "
                 "[--token-delay-ms N]\n");
}

bool ParseNumber(const char* text, long min, long max, long& out) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max) return false;
    out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    long port = 0;
    long latency_ms = 0;
    long token_delay_ms = 0;
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

    try {
        aragora::testing::FakeLlmServer server(host, static_cast<uint16_t>(port));
        server.SetDefaultLatency(std::chrono::milliseconds(latency_ms));
        server.SetTokenDelay(std::chrono::milliseconds(token_delay_ms));
        const std::string url = server.base_url();
        std::printf("fake-llm listening on %s\n",
                    url.substr(std::string_view("http://").size()).c_str());
        std::fflush(stdout);
        int received = 0;
        sigwait(&signals, &received);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aragora_fake_llm: %s\n", e.what());
        return 1;
    }
    return 0;
}
