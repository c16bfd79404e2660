// Many live WebSocket viewers against a running `aragora serve`, for bench/runtime_bench.py.
//
//   aragora_ws_viewers --port=P --ids=FILE --per-debate=N [--host=127.0.0.1]
//                      [--connecting=256] [--timeout=600]
//
// FILE holds one debate id per line. For each id, N clients connect to
// ws://HOST:PORT/ws?debate_id=<id> (at most --connecting handshakes in flight at once, so
// the server's accept backlog is not what is measured), get the replay of what happened
// before they subscribed, then the live events, and read until debate_end. All clients run
// as coroutines on this one thread.
//
// Output (stdout), one line each:
//   connected <ok> <failed> <seconds>   once every handshake has finished (the caller
//                                       samples the server's memory then)
//   result {json}                       at the end: clients, ok, failed, gap (streams with
//                                       a seq gap or not ending in debate_end), events,
//                                       live events, delivery latency p50/p99/max in ms
//                                       (receive time - the event's "timestamp", both this
//                                       machine's system clock; live events but
//                                       debate_end), this process's CPU seconds and peak
//                                       RSS, wall seconds, the first error.
// A stream is checked gap-free: seq 1, 2, ... with no hole, ending with debate_end.

// Beast's implementation is compiled once, in aragora_net (see bench/CMakeLists.txt).

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

using aragora::bench::CpuSeconds;
using aragora::bench::NowEpochSeconds;
using aragora::bench::Percentile;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string ids_file;
    int per_debate = 1;
    int connecting = 256;
    int timeout_seconds = 600;
};

struct Totals {
    long clients = 0;
    long ok = 0;
    long failed = 0;
    long gap = 0;
    long events = 0;
    long live = 0;
    long handshakes_done = 0;
    long handshakes_failed = 0;
    int connecting = 0;  // handshakes in flight
    std::vector<float> latencies_ms;
    std::string first_error;
};

long MaxRssKib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

class Viewers {
public:
    Viewers(asio::io_context& ioc, Options o)
        : ioc_(ioc), o_(std::move(o)), slot_(ioc), start_(Clock::now()) {}

    Totals& totals() { return t_; }

    asio::awaitable<void> Launch(std::vector<std::string> ids) {
        const long total = static_cast<long>(ids.size()) * o_.per_debate;
        t_.clients = total;
        for (int k = 0; k < o_.per_debate; ++k) {
            for (const auto& id : ids) {
                while (t_.connecting >= o_.connecting) {
                    slot_.expires_at(Clock::time_point::max());
                    boost::system::error_code ignored;
                    co_await slot_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
                }
                ++t_.connecting;
                asio::co_spawn(ioc_, Client(id), asio::detached);
            }
        }
    }

private:
    void HandshakeFinished(bool ok) {
        --t_.connecting;
        ++(ok ? t_.handshakes_done : t_.handshakes_failed);
        slot_.cancel();
        if (t_.handshakes_done + t_.handshakes_failed == t_.clients) {
            std::printf("connected %ld %ld %.3f\n", t_.handshakes_done, t_.handshakes_failed,
                        std::chrono::duration<double>(Clock::now() - start_).count());
            std::fflush(stdout);
        }
    }

    void Fail(const std::string& error) {
        ++t_.failed;
        if (t_.first_error.empty()) t_.first_error = error;
    }

    asio::awaitable<void> Client(std::string debate_id) {
        bool handshaken = false;
        long last_seq = 0;
        bool gap_free = true;
        bool ended = false;
        try {
            websocket::stream<beast::tcp_stream> ws(ioc_);
            beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
            co_await beast::get_lowest_layer(ws).async_connect(
                tcp::endpoint(asio::ip::make_address(o_.host), static_cast<uint16_t>(o_.port)),
                asio::use_awaitable);
            beast::get_lowest_layer(ws).expires_never();
            auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
            timeouts.idle_timeout = std::chrono::seconds(o_.timeout_seconds);
            timeouts.handshake_timeout = std::chrono::seconds(30);
            ws.set_option(timeouts);
            co_await ws.async_handshake(o_.host + ":" + std::to_string(o_.port),
                                        "/ws?debate_id=" + debate_id, asio::use_awaitable);
            handshaken = true;
            HandshakeFinished(true);
            bool live = false;
            beast::flat_buffer buffer;
            unsigned char scratch[8192];
            while (!ended) {
                buffer.clear();
                co_await ws.async_read(buffer, asio::use_awaitable);
                const double received = NowEpochSeconds();
                const auto data = buffer.cdata();
                json::monotonic_resource mr(scratch, sizeof scratch);
                boost::system::error_code ec;
                json::value v = json::parse(
                    std::string_view(static_cast<const char*>(data.data()), data.size()), ec, &mr);
                if (ec || !v.is_object()) continue;
                const json::object& f = v.get_object();
                const json::value* type_value = f.if_contains("type");
                if (!type_value || !type_value->is_string()) continue;
                const std::string_view type = type_value->get_string();
                if (type == "replay_end") {
                    live = true;
                    continue;
                }
                if (type == "error") {
                    throw std::runtime_error("error frame: " + json::serialize(f));
                }
                const json::value* seq = f.if_contains("seq");
                if (!seq || !seq->is_number()) continue;  // control frame
                const long s = static_cast<long>(seq->to_number<double>());
                if (s != last_seq + 1) gap_free = false;
                last_seq = s;
                ++t_.events;
                ended = type == "debate_end";
                if (live) {
                    ++t_.live;
                    const json::value* ts = f.if_contains("timestamp");
                    if (!ended && ts && ts->is_number()) {
                        t_.latencies_ms.push_back(
                            static_cast<float>((received - ts->to_number<double>()) * 1e3));
                    }
                }
            }
            boost::system::error_code ignored;
            co_await ws.async_close(websocket::close_code::normal,
                                    asio::redirect_error(asio::use_awaitable, ignored));
        } catch (const std::exception& e) {
            if (!handshaken) HandshakeFinished(false);
            if (!ended) {
                Fail(e.what());
                co_return;
            }
        }
        if (gap_free && ended) {
            ++t_.ok;
        } else {
            ++t_.gap;
        }
    }

    asio::io_context& ioc_;
    Options o_;
    asio::steady_timer slot_;
    Clock::time_point start_;
    Totals t_;
};

bool ParseArgs(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* name) -> std::optional<std::string> {
            const std::string prefix = std::string(name) + "=";
            if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
            return std::nullopt;
        };
        if (auto v = value("--host")) {
            o.host = *v;
        } else if (auto v = value("--port")) {
            o.port = std::atoi(v->c_str());
        } else if (auto v = value("--ids")) {
            o.ids_file = *v;
        } else if (auto v = value("--per-debate")) {
            o.per_debate = std::atoi(v->c_str());
        } else if (auto v = value("--connecting")) {
            o.connecting = std::atoi(v->c_str());
        } else if (auto v = value("--timeout")) {
            o.timeout_seconds = std::atoi(v->c_str());
        } else {
            return false;
        }
    }
    return o.port > 0 && o.port < 65536 && !o.ids_file.empty() && o.per_debate >= 1 &&
           o.connecting >= 1 && o.timeout_seconds >= 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!ParseArgs(argc, argv, o)) {
        std::cerr << "usage: aragora_ws_viewers --port=P --ids=FILE --per-debate=N "
                     "[--host=127.0.0.1] [--connecting=256] [--timeout=600]\n";
        return 2;
    }
    std::vector<std::string> ids;
    {
        std::ifstream in(o.ids_file);
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) ids.push_back(line);
        }
    }
    if (ids.empty()) {
        std::cerr << "aragora_ws_viewers: no debate ids in " << o.ids_file << "\n";
        return 2;
    }
    // One descriptor per client: raise the soft limit to the hard one.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }

    asio::io_context ioc(1);
    Viewers viewers(ioc, o);
    const double cpu_start = CpuSeconds();
    const auto start = Clock::now();
    asio::co_spawn(ioc, viewers.Launch(std::move(ids)), asio::detached);
    ioc.run();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();

    Totals& t = viewers.totals();
    json::object r;
    r["clients"] = t.clients;
    r["ok"] = t.ok;
    r["failed"] = t.failed;
    r["gap"] = t.gap;
    r["events"] = t.events;
    r["live"] = t.live;
    r["latency_samples"] = t.latencies_ms.size();
    r["p50_ms"] = Percentile(t.latencies_ms, 50);
    r["p99_ms"] = Percentile(t.latencies_ms, 99);
    r["max_ms"] = t.latencies_ms.empty()
                      ? 0.0
                      : *std::max_element(t.latencies_ms.begin(), t.latencies_ms.end());
    r["cpu_seconds"] = CpuSeconds() - cpu_start;
    r["max_rss_kib"] = MaxRssKib();
    r["wall_seconds"] = wall;
    r["first_error"] = t.first_error;
    std::printf("result %s\n", json::serialize(r).c_str());
    return t.ok == t.clients ? 0 : 1;
}
