// Many live WebSocket viewers against a running `aragora serve`, for bench/runtime_bench.py.
//
//   aragora_ws_viewers --port=P --ids=FILE --per-debate=N [--host=127.0.0.1]
//                      [--connecting=256] [--timeout=600]   (the whole run's deadline, seconds)
//                      [--per-seq=FILE]   (each live seq: its timestamp, viewers, p50/p99/max)
//
// FILE holds one debate id per line. For each id, N clients connect to
// ws://HOST:PORT/ws?debate_id=<id> (at most --connecting handshakes in flight at once, so
// the server's accept backlog is not what is measured), get the replay of what happened
// before they subscribed, then the live events, and read until debate_end. All clients run
// as coroutines on this one thread.
//
// The client must cost little next to the server on the same cores: after the upgrade
// (written and checked by hand) each client reads its plain socket into one buffer (64
// KiB, grown for a larger frame) and walks the WebSocket frames in place (no per-message
// Beast read, no timer per read: one deadline, --timeout, for the whole run closes every
// socket still open); an event frame's type, seq and timestamp are picked out of the
// envelope, whose member order the server fixes (`{"type",..,"timestamp",..,"seq",..}`),
// with from_chars, and a frame of any other shape is parsed as JSON. Pings are answered,
// a close frame ends the stream. Latency is taken when the read that brought the frame
// returned, before any of that read's frames is looked at.
//
// Output (stdout), one line each:
//   connected <ok> <failed> <seconds>   once every handshake has finished (the caller
//                                       samples the server's memory then)
//   result {json}                       at the end: clients, ok, failed, gap (streams with
//                                       a seq gap or not ending in debate_end), events,
//                                       live events, delivery latency p50/p99/max in ms
//                                       (receive time - the event's "timestamp", both this
//                                       machine's system clock; live events but
//                                       debate_end), the same p99 over the events made
//                                       after the last handshake finished
//                                       (subscribed_p99_ms: every viewer subscribed, the
//                                       connection storm over), this process's CPU seconds and peak
//                                       RSS, wall seconds, the first error.
// A stream is checked gap-free: seq 1, 2, ... with no hole, ending with debate_end.

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.hpp"

namespace {

using aragora::bench::CpuSeconds;
using aragora::bench::NowEpochSeconds;
using aragora::bench::Percentile;

namespace asio = boost::asio;
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
    std::string per_seq_file;
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
    // The events made after the last handshake finished (every viewer subscribed): the
    // delivery once the connection storm is over.
    double all_connected_at = 0;  // epoch seconds; 0 until then
    std::vector<float> subscribed_latencies_ms;
    // With --per-seq: each live event's timestamp and latencies, by seq (one debate's
    // seqs share a burst; across debates they are merged).
    std::map<long, std::pair<double, std::vector<float>>> by_seq;
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
        : ioc_(ioc), o_(std::move(o)), slot_(ioc), deadline_(ioc), start_(Clock::now()) {}

    Totals& totals() { return t_; }

    asio::awaitable<void> Launch(std::vector<std::string> ids) {
        const long total = static_cast<long>(ids.size()) * o_.per_debate;
        t_.clients = total;
        // The run's one deadline: whatever is still open then is closed (its read fails).
        deadline_.expires_after(std::chrono::seconds(o_.timeout_seconds));
        deadline_.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            for (tcp::socket* s : open_) {
                boost::system::error_code ignored;
                s->close(ignored);
            }
        });
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
            t_.all_connected_at = NowEpochSeconds();
            std::printf("connected %ld %ld %.3f\n", t_.handshakes_done, t_.handshakes_failed,
                        std::chrono::duration<double>(Clock::now() - start_).count());
            std::fflush(stdout);
        }
    }

    // A client ended: the deadline goes once the last one did.
    void Finished() {
        if (++finished_ == t_.clients) deadline_.cancel();
    }

    void Fail(const std::string& error) {
        ++t_.failed;
        if (t_.first_error.empty()) t_.first_error = error;
    }

    // What a frame says: its type, and for an event its seq and timestamp.
    struct FrameFacts {
        std::string_view type;
        long seq = -1;  // -1: a control frame
        double timestamp = 0;
        bool has_timestamp = false;
        bool ok = false;
    };

    static FrameFacts ScanEnvelope(std::string_view text) {
        FrameFacts f;
        constexpr std::string_view kHead = "{\"type\":\"";
        if (text.substr(0, kHead.size()) != kHead) return ParseJson(text);
        const std::size_t type_end = text.find('"', kHead.size());
        if (type_end == std::string_view::npos) return f;
        f.type = text.substr(kHead.size(), type_end - kHead.size());
        f.ok = true;
        // The envelope's own members follow `data`, so the last match is theirs.
        const std::size_t seq_at = text.rfind(",\"seq\":");
        if (seq_at == std::string_view::npos) return f;
        const char* const end = text.data() + text.size();
        std::from_chars(text.data() + seq_at + 7, end, f.seq);
        const std::size_t ts_at = text.rfind(",\"timestamp\":");
        if (ts_at != std::string_view::npos) {
            f.has_timestamp =
                std::from_chars(text.data() + ts_at + 13, end, f.timestamp).ec == std::errc();
        }
        return f;
    }

    // Any other shape: a real JSON parse (types point into `text`'s copy kept by the caller).
    static FrameFacts ParseJson(std::string_view text) {
        FrameFacts f;
        boost::system::error_code ec;
        json::value v = json::parse(text, ec);
        if (ec || !v.is_object()) return f;
        const json::object& o = v.get_object();
        const json::value* type = o.if_contains("type");
        if (!type || !type->is_string()) return f;
        // Only the types the caller compares are returned (as static strings).
        const std::string_view t = type->get_string();
        static constexpr std::string_view kKnown[] = {"replay_end", "error", "debate_end"};
        f.type = "other";
        for (std::string_view k : kKnown) {
            if (t == k) f.type = k;
        }
        f.ok = true;
        const json::value* seq = o.if_contains("seq");
        if (seq && seq->is_number()) f.seq = static_cast<long>(seq->to_number<double>());
        const json::value* ts = o.if_contains("timestamp");
        if (ts && ts->is_number()) {
            f.timestamp = ts->to_number<double>();
            f.has_timestamp = true;
        }
        return f;
    }

    // A masked client control frame (RFC 6455: every client frame is masked).
    static std::string ControlFrame(unsigned char opcode, std::string_view payload) {
        const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
        std::string out;
        out.push_back(static_cast<char>(0x80 | opcode));
        out.push_back(static_cast<char>(0x80 | payload.size()));  // control: <= 125
        out.append(reinterpret_cast<const char*>(key), 4);
        for (std::size_t i = 0; i < payload.size(); ++i) {
            out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
        }
        return out;
    }

    asio::awaitable<void> Client(std::string debate_id) {
        bool handshaken = false;
        long last_seq = 0;
        bool gap_free = true;
        bool ended = false;
        tcp::socket stream(ioc_);
        open_.push_front(&stream);
        const auto registered = open_.begin();
        try {
            co_await stream.async_connect(
                tcp::endpoint(asio::ip::make_address(o_.host), static_cast<uint16_t>(o_.port)),
                asio::use_awaitable);
            const std::string upgrade = "GET /ws?debate_id=" + debate_id +
                                        " HTTP/1.1\r\nHost: " + o_.host + ":" +
                                        std::to_string(o_.port) +
                                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                        "Sec-WebSocket-Version: 13\r\n\r\n";
            co_await asio::async_write(stream, asio::buffer(upgrade), asio::use_awaitable);
            std::string buf;
            const std::size_t head_end = co_await asio::async_read_until(
                stream, asio::dynamic_buffer(buf), "\r\n\r\n", asio::use_awaitable);
            if (buf.compare(0, 12, "HTTP/1.1 101") != 0) {
                throw std::runtime_error("upgrade refused: " + buf.substr(0, buf.find('\r')));
            }
            // What follows the answer is frames already: the start of the read buffer.
            std::vector<char> rb(std::max<std::size_t>(64 * 1024, buf.size() - head_end));
            std::copy(buf.begin() + static_cast<long>(head_end), buf.end(), rb.begin());
            std::size_t end = buf.size() - head_end;
            std::string().swap(buf);
            handshaken = true;
            HandshakeFinished(true);

            bool live = false;
            std::size_t pos = 0;
            double received = 0;  // when the last read returned
            while (!ended) {
                // Every whole frame in the buffer.
                while (!ended) {
                    const std::size_t avail = end - pos;
                    if (avail < 2) break;
                    const auto* p = reinterpret_cast<const unsigned char*>(rb.data() + pos);
                    const bool fin = (p[0] & 0x80) != 0;
                    const unsigned opcode = p[0] & 0x0F;
                    if ((p[1] & 0x80) != 0) throw std::runtime_error("masked server frame");
                    std::size_t len = p[1] & 0x7F;
                    std::size_t head = 2;
                    if (len == 126) {
                        if (avail < 4) break;
                        len = (std::size_t{p[2]} << 8) | p[3];
                        head = 4;
                    } else if (len == 127) {
                        if (avail < 10) break;
                        len = 0;
                        for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
                        head = 10;
                    }
                    if (avail < head + len) break;
                    const std::string_view payload(rb.data() + pos + head, len);
                    pos += head + len;
                    if (opcode == 0x9) {  // ping: answer it
                        const std::string pong = ControlFrame(0xA, payload);
                        co_await asio::async_write(stream, asio::buffer(pong), asio::use_awaitable);
                        continue;
                    }
                    if (opcode == 0xA) continue;
                    if (opcode == 0x8) {
                        const unsigned code =
                            len >= 2 ? (unsigned{static_cast<unsigned char>(payload[0])} << 8) |
                                           static_cast<unsigned char>(payload[1])
                                     : 0;
                        throw std::runtime_error("the server closed the connection (" +
                                                 std::to_string(code) + ")");
                    }
                    if (opcode != 0x1 || !fin) {
                        throw std::runtime_error("unexpected frame: opcode " +
                                                 std::to_string(opcode) +
                                                 (fin ? "" : ", not final"));
                    }
                    const FrameFacts f = ScanEnvelope(payload);
                    if (!f.ok) continue;
                    if (f.type == "replay_end") {
                        live = true;
                        continue;
                    }
                    if (f.type == "error") {
                        throw std::runtime_error("error frame: " +
                                                 std::string(payload.substr(0, 300)));
                    }
                    if (f.seq < 0) continue;  // control frame
                    if (f.seq != last_seq + 1) gap_free = false;
                    last_seq = f.seq;
                    ++t_.events;
                    ended = f.type == "debate_end";
                    if (live) {
                        ++t_.live;
                        if (!ended && f.has_timestamp) {
                            t_.latencies_ms.push_back(
                                static_cast<float>((received - f.timestamp) * 1e3));
                            if (t_.all_connected_at > 0 && f.timestamp >= t_.all_connected_at)
                                t_.subscribed_latencies_ms.push_back(t_.latencies_ms.back());
                            if (!o_.per_seq_file.empty()) {
                                auto& [at, ms] = t_.by_seq[f.seq];
                                at = f.timestamp;
                                ms.push_back(t_.latencies_ms.back());
                            }
                        }
                    }
                }
                if (ended) break;
                // Keep the unread tail (a partial frame) at the front, grow for a frame
                // larger than the buffer, then one read of what the socket has.
                if (pos > 0) {
                    std::memmove(rb.data(), rb.data() + pos, end - pos);
                    end -= pos;
                    pos = 0;
                }
                if (end == rb.size()) rb.resize(2 * rb.size());
                const std::size_t n = co_await stream.async_read_some(
                    asio::buffer(rb.data() + end, rb.size() - end), asio::use_awaitable);
                received = NowEpochSeconds();
                end += n;
            }
            // Close frame 1000, then the socket (the server's answer is not awaited).
            const std::string close = ControlFrame(0x8, std::string_view("\x03\xe8", 2));
            boost::system::error_code ignored;
            // Into the socket buffer, or dropped: never waited for.
            stream.non_blocking(true, ignored);
            stream.write_some(asio::buffer(close), ignored);
            stream.shutdown(tcp::socket::shutdown_both, ignored);
            stream.close(ignored);
        } catch (const std::exception& e) {
            if (!handshaken) HandshakeFinished(false);
            if (!ended) Fail(e.what());
        }
        open_.erase(registered);
        Finished();
        if (!ended) co_return;
        if (gap_free && ended) {
            ++t_.ok;
        } else {
            ++t_.gap;
        }
    }

    asio::io_context& ioc_;
    Options o_;
    asio::steady_timer slot_;
    asio::steady_timer deadline_;
    std::list<tcp::socket*> open_;  // the clients' sockets, for the deadline
    long finished_ = 0;
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
        } else if (auto v = value("--per-seq")) {
            o.per_seq_file = *v;
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
    r["subscribed_samples"] = t.subscribed_latencies_ms.size();
    r["subscribed_p99_ms"] = Percentile(t.subscribed_latencies_ms, 99);
    r["cpu_seconds"] = CpuSeconds() - cpu_start;
    r["max_rss_kib"] = MaxRssKib();
    r["wall_seconds"] = wall;
    r["first_error"] = t.first_error;
    std::printf("result %s\n", json::serialize(r).c_str());
    if (!o.per_seq_file.empty()) {
        if (FILE* out = std::fopen(o.per_seq_file.c_str(), "w")) {
            std::fprintf(out, "# seq timestamp viewers p50_ms p99_ms max_ms\n");
            for (auto& [seq, entry] : t.by_seq) {
                auto& [at, ms] = entry;
                std::fprintf(out, "%ld %.3f %zu %.1f %.1f %.1f\n", seq, at, ms.size(),
                             Percentile(ms, 50), Percentile(ms, 99),
                             *std::max_element(ms.begin(), ms.end()));
            }
            std::fclose(out);
        }
    }
    return t.ok == t.clients ? 0 : 1;
}
