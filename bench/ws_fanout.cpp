// WebSocket fan-out against a running `aragora serve` (bench/server_bench.sh starts it).
//
// For each client count N (--clients=1,10,50,100): create ONE debate (--agents demo agents,
// --rounds rounds), then at once connect N clients to ws://HOST:PORT/ws?debate_id=<id>; each
// gets the replay of what happened before it subscribed, then the live events, and reads
// until debate_end. Reported per N:
//  - live: events delivered (frames with a seq), events/s across clients, per-client
//    events/s, and delivery latency p50/p99/max = client receive time - the event's
//    "timestamp" (both the system clock of this machine) over live (non-replayed) events
//    but debate_end, whose own latency is apart: the wire contract holds it >= 20 ms;
//  - replay: the same N clients then subscribe again to the now completed debate and read
//    its whole replay (no agent pacing: bound by the server and this client alone).
// Baseline, measured in the same run: N=1. The ratio is per-client events/s at N over N=1
// (1.0 = fan-out costs a subscriber nothing; the live figure is paced by the demo agents'
// latency, so it shows whether delivery keeps up, the replay figure shows raw capacity).
// Each client also checks its stream: seq gap-free from 1, ending with debate_end.
//
// Run: bench/server_bench.sh (or aragora_ws_fanout --port=P after starting a server).

// Beast's implementation is compiled once, in aragora_net (this target defines
// BOOST_BEAST_SEPARATE_COMPILATION too, see bench/CMakeLists.txt).

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

using aragora::bench::CpuSeconds;
using aragora::bench::NowEpochSeconds;
using aragora::bench::Percentile;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::vector<int> clients = {1, 10, 50, 100};
    int rounds = 12;
    int agents = 4;
    int threads = 1;
    int timeout_seconds = 120;
};

// What one client saw on one subscription.
struct ClientResult {
    bool ok = false;
    std::string error;
    long events = 0;  // frames with a seq
    long replayed = 0;
    long live = 0;
    long last_seq = 0;
    bool gap_free = true;
    bool ended = false;
    std::vector<double> latencies_ms;  // live events but debate_end
    std::optional<double> end_latency_ms;
    long total_rounds = 0;  // from debate_end
    std::chrono::steady_clock::time_point done;
};

struct RunStats {
    int clients = 0;
    long events = 0;
    long replayed = 0;
    long live = 0;
    long min_events = 0;
    long max_events = 0;
    int failed = 0;
    int incomplete = 0;
    double seconds = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    double client_cpu = 0;  // this process's CPU seconds / wall seconds (1.0 = one core)
    double end_p50_ms = 0;  // debate_end, held >= 20 ms by the wire contract
    long total_rounds = 0;
    std::string first_error;

    double EventsPerSecond() const { return seconds > 0 ? events / seconds : 0; }
    double PerClient() const { return clients > 0 ? EventsPerSecond() / clients : 0; }
};

// POST /api/v1/debates; returns the debate id or an error text.
std::optional<std::string> CreateDebate(const Options& o, std::string& error) {
    try {
        asio::io_context ioc;
        beast::tcp_stream stream(ioc);
        stream.expires_after(std::chrono::seconds(10));
        stream.connect(tcp::endpoint(asio::ip::make_address(o.host), o.port));
        json::array agents;
        for (int i = 0; i < o.agents; ++i) agents.emplace_back("demo");
        json::object body{{"task",
                           "Should a 40-person engineering team adopt trunk-based "
                           "development with continuous deployment?"},
                          {"agents", std::move(agents)},
                          {"rounds", o.rounds}};
        http::request<http::string_body> req{http::verb::post, "/api/v1/debates", 11};
        req.set(http::field::host, o.host + ":" + std::to_string(o.port));
        req.set(http::field::content_type, "application/json");
        req.body() = json::serialize(body);
        req.prepare_payload();
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        if (res.result_int() != 201) {
            error = "POST /api/v1/debates answered " + std::to_string(res.result_int()) + ": " +
                    res.body();
            return std::nullopt;
        }
        json::value v = json::parse(res.body());
        if (const json::value* id = v.as_object().if_contains("debate_id"); id && id->is_string())
            return std::string(id->as_string());
        error = "no debate_id in " + res.body();
    } catch (const std::exception& e) {
        error = std::string("create debate: ") + e.what();
    }
    return std::nullopt;
}

asio::awaitable<void> RunClient(const Options& o, std::string debate_id, ClientResult& r) {
    try {
        auto executor = co_await asio::this_coro::executor;
        websocket::stream<beast::tcp_stream> ws(executor);
        beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
        co_await beast::get_lowest_layer(ws).async_connect(
            tcp::endpoint(asio::ip::make_address(o.host), o.port), asio::use_awaitable);
        beast::get_lowest_layer(ws).expires_never();
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
        timeouts.idle_timeout = std::chrono::seconds(o.timeout_seconds);
        ws.set_option(timeouts);
        co_await ws.async_handshake(o.host + ":" + std::to_string(o.port),
                                    "/ws?debate_id=" + debate_id, asio::use_awaitable);
        bool live = false;
        beast::flat_buffer buffer;
        while (!r.ended) {
            buffer.clear();
            co_await ws.async_read(buffer, asio::use_awaitable);
            // Stamped before parsing: the latency is the server's and the wire's.
            const double received = NowEpochSeconds();
            json::value v = json::parse(beast::buffers_to_string(buffer.data()));
            const json::object& f = v.as_object();
            const json::value* type_value = f.if_contains("type");
            if (!type_value || !type_value->is_string()) continue;
            const std::string_view type = type_value->as_string();
            if (type == "replay_end") {
                live = true;
                continue;
            }
            if (type == "error") {
                r.error = "error frame: " + json::serialize(f);
                break;
            }
            const json::value* seq = f.if_contains("seq");
            if (!seq || !seq->is_number()) continue;  // control frame
            const long s = static_cast<long>(seq->to_number<double>());
            if (s != r.last_seq + 1) r.gap_free = false;
            r.last_seq = s;
            ++r.events;
            const bool end = type == "debate_end";
            if (live) {
                ++r.live;
                if (const json::value* ts = f.if_contains("timestamp"); ts && ts->is_number()) {
                    const double ms = (received - ts->to_number<double>()) * 1e3;
                    if (end) {
                        r.end_latency_ms = ms;
                    } else {
                        r.latencies_ms.push_back(ms);
                    }
                }
            } else {
                ++r.replayed;
            }
            if (end) {
                r.ended = true;
                const json::value* data = f.if_contains("data");
                const json::value* rounds = data && data->is_object()
                                                ? data->as_object().if_contains("total_rounds")
                                                : nullptr;
                if (rounds && rounds->is_number())
                    r.total_rounds = static_cast<long>(rounds->to_number<double>());
            }
        }
        r.done = std::chrono::steady_clock::now();
        r.ok = r.ended && r.error.empty();
        beast::error_code ec;
        co_await ws.async_close(websocket::close_code::normal,
                                asio::redirect_error(asio::use_awaitable, ec));
    } catch (const std::exception& e) {
        r.done = std::chrono::steady_clock::now();
        if (r.error.empty()) r.error = e.what();
    }
}

// N clients subscribe to debate_id at once and read to debate_end.
RunStats Subscribe(const Options& o, const std::string& debate_id, int n) {
    std::vector<ClientResult> results(n);
    asio::io_context ioc(o.threads);
    const double cpu_start = CpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
        asio::co_spawn(ioc, RunClient(o, debate_id, results[i]), asio::detached);
    std::vector<std::thread> threads;
    for (int i = 1; i < o.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();

    RunStats s;
    s.clients = n;
    s.min_events = results.empty() ? 0 : results.front().events;
    std::vector<double> lat, end_lat;
    auto last = start;
    for (auto& r : results) {
        s.events += r.events;
        s.replayed += r.replayed;
        s.live += r.live;
        s.min_events = std::min(s.min_events, r.events);
        s.max_events = std::max(s.max_events, r.events);
        if (!r.ok) {
            ++s.failed;
            if (s.first_error.empty()) s.first_error = r.error;
        } else if (!r.gap_free || r.last_seq != r.events) {
            ++s.incomplete;
        }
        lat.insert(lat.end(), r.latencies_ms.begin(), r.latencies_ms.end());
        if (r.end_latency_ms) end_lat.push_back(*r.end_latency_ms);
        s.total_rounds = std::max(s.total_rounds, r.total_rounds);
        last = std::max(last, r.done);
    }
    s.seconds = std::chrono::duration<double>(last - start).count();
    if (s.seconds > 0) s.client_cpu = (CpuSeconds() - cpu_start) / s.seconds;
    s.p50_ms = Percentile(lat, 50);
    s.p99_ms = Percentile(lat, 99);
    s.max_ms = lat.empty() ? 0 : lat.back();
    s.end_p50_ms = Percentile(end_lat, 50);
    return s;
}

std::vector<int> ParseList(const std::string& text) {
    std::vector<int> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        int v = std::atoi(item.c_str());
        if (v <= 0) return {};
        out.push_back(v);
    }
    return out;
}

bool ParseArgs(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* name) -> std::optional<std::string> {
            std::string prefix = std::string(name) + "=";
            if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
            return std::nullopt;
        };
        if (auto v = value("--host")) {
            o.host = *v;
        } else if (auto v = value("--port")) {
            o.port = std::atoi(v->c_str());
        } else if (auto v = value("--clients")) {
            o.clients = ParseList(*v);
            if (o.clients.empty()) return false;
        } else if (auto v = value("--rounds")) {
            o.rounds = std::atoi(v->c_str());
        } else if (auto v = value("--agents")) {
            o.agents = std::atoi(v->c_str());
        } else if (auto v = value("--threads")) {
            o.threads = std::atoi(v->c_str());
        } else if (auto v = value("--timeout")) {
            o.timeout_seconds = std::atoi(v->c_str());
        } else {
            return false;
        }
    }
    return o.port > 0 && o.port < 65536 && o.rounds >= 1 && o.agents >= 2 && o.threads >= 1 &&
           o.timeout_seconds >= 1;
}

void PrintHeader() {
    std::printf("  %-6s %4s %7s %5s %8s %8s %6s %6s %6s %6s %6s %6s %6s %6s  %s\n", "mode", "N",
                "events", "/cl", "ev/s", "ev/s/cl", "vs N=1", "secs", "cl cpu", "live", "p50 ms",
                "p99 ms", "max ms", "end ms", "check");
}

void PrintRow(const char* mode, const RunStats& s, const RunStats& base, bool latency) {
    std::printf("  %-6s %4d %7ld %5ld %8.0f %8.1f %6.2f %6.2f %5.0f%%", mode, s.clients, s.events,
                s.max_events, s.EventsPerSecond(), s.PerClient(),
                base.PerClient() > 0 ? s.PerClient() / base.PerClient() : 0.0, s.seconds,
                s.client_cpu * 100);
    if (latency) {
        std::printf(" %6ld %6.2f %6.2f %6.2f %6.2f", s.live, s.p50_ms, s.p99_ms, s.max_ms,
                    s.end_p50_ms);
    } else {
        std::printf(" %6s %6s %6s %6s %6s", "-", "-", "-", "-", "-");
    }
    if (s.failed > 0) {
        std::printf("  FAILED %d: %s\n", s.failed, s.first_error.c_str());
    } else if (s.incomplete > 0) {
        std::printf("  %d stream(s) with seq gaps\n", s.incomplete);
    } else if (s.min_events != s.max_events) {
        std::printf("  uneven: %ld..%ld events\n", s.min_events, s.max_events);
    } else {
        std::printf("  ok (%ld rounds)\n", s.total_rounds);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!ParseArgs(argc, argv, o)) {
        std::cerr << "usage: aragora_ws_fanout --port=PORT [--host=127.0.0.1] "
                     "[--clients=1,10,50,100] [--rounds=12] [--agents=4] [--threads=1] "
                     "[--timeout=120]\n";
        return 2;
    }
    // The baseline is always measured first, in this run.
    std::vector<int> counts = o.clients;
    counts.erase(std::remove(counts.begin(), counts.end(), 1), counts.end());
    counts.insert(counts.begin(), 1);

    std::printf(
        "WebSocket fan-out, baseline N=1: per N one debate (%d demo agents, %d rounds) and N\n"
        "clients on ws://%s:%d/ws?debate_id=<id>, read by %d client thread(s)\n",
        o.agents, o.rounds, o.host.c_str(), o.port, o.threads);
    std::printf(
        "  live: N clients subscribe right after the create (replay, then live events);\n"
        "  replay: the same N again on the completed debate (no agent pacing).\n"
        "  /cl = events per client; ev/s/cl = events/s per client; vs N=1 = ev/s/cl over the\n"
        "  N=1 baseline of this run; secs = first connect to last debate_end; cl cpu = this\n"
        "  client's CPU over secs (100%% = one core). Latency = client receive time - event\n"
        "  timestamp over live events but debate_end; end ms = p50 of debate_end's (the wire\n"
        "  contract holds it >= 20 ms after the previous frame). check: each client got seq\n"
        "  1..last gap-free, ending with debate_end.\n");
    PrintHeader();
    std::optional<RunStats> live_base, replay_base;
    int failures = 0;
    for (int n : counts) {
        std::string error;
        auto id = CreateDebate(o, error);
        if (!id) {
            std::fprintf(stderr, "ws_fanout: %s\n", error.c_str());
            return 1;
        }
        RunStats live = Subscribe(o, *id, n);
        if (!live_base) live_base = live;
        RunStats replay = Subscribe(o, *id, n);
        if (!replay_base) replay_base = replay;
        PrintRow("live", live, *live_base, true);
        PrintRow("replay", replay, *replay_base, false);
        std::fflush(stdout);
        failures += live.failed + live.incomplete + replay.failed + replay.incomplete;
    }
    return failures == 0 ? 0 : 1;
}
