// Memory per WebSocket subscriber on the API side of the fan-out (issue 20): the
// api::DebateStreamHandler's connection state, its subscription and the hub registration,
// with N in-process connections (net's socket and Beast buffers are not included: see
// bench/ws_fanout.cpp against a running server for those).
//
// For N subscribers of one debate (--subscribers=10000) and D debates (--debates=1; the
// subscribers are spread over them): resident memory before opening them, after every
// replay ended (idle), and after E live events each (--events=100) were written to every
// subscriber; printed as bytes per subscriber. Also checks the fan-out shares frames: the
// number of distinct frame objects written equals the number of events, not N x events.
//
// Built as aragora_ws_subscriber_memory (bench/CMakeLists.txt):
//   cmake --build build-release --target aragora_ws_subscriber_memory
//   build-release/bench/aragora_ws_subscriber_memory --subscribers=10000 --debates=1
// Exit status 0 when every frame was shared and every subscriber got every live event.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/ws_handler.hpp"
#include "events/hub.hpp"
#include "net/server.hpp"

namespace {

namespace asio = boost::asio;
using namespace aragora;

long ResidentBytes() {
    std::ifstream in("/proc/self/statm");
    long pages = 0, resident = 0;
    in >> pages >> resident;
    return resident * 4096;
}

// A connection that writes into nothing, counting frames and the distinct frame objects.
class NullConnection : public net::WsConnection {
public:
    NullConnection(std::uint64_t id, std::string target, asio::io_context& ioc,
                   std::set<const std::string*>& objects)
        : id_(id), strand_(asio::make_strand(ioc)), read_wait_(strand_), objects_(objects) {
        read_wait_.expires_at(std::chrono::steady_clock::time_point::max());
        request_.method = "GET";
        request_.target = target;
        const auto q = target.find('?');
        request_.path = target.substr(0, q);
        request_.query = target.substr(q + 1);
        request_.remote_address = "127.0.0.1";
    }
    std::uint64_t id() const override { return id_; }
    asio::any_io_executor executor() const override { return strand_; }
    asio::awaitable<bool> Write(std::shared_ptr<const std::string> text) override {
        ++frames;
        if (text->find("\"seq\"") != std::string::npos) objects_.insert(text.get());
        co_return true;
    }
    void Close(std::uint16_t, std::string) override { open_ = false; }
    bool is_open() const override { return open_; }
    const net::HttpRequest& upgrade_request() const override { return request_; }
    // A client that never sends anything.
    asio::awaitable<std::optional<std::string>> Read() override {
        co_await read_wait_.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return std::nullopt;
    }

    std::size_t frames = 0;

private:
    const std::uint64_t id_;
    net::HttpRequest request_;
    asio::strand<asio::io_context::executor_type> strand_;
    asio::steady_timer read_wait_;
    std::set<const std::string*>& objects_;
    bool open_ = true;
};

long Flag(int argc, char** argv, const std::string& name, long fallback) {
    const std::string prefix = "--" + name + "=";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind(prefix, 0) == 0) return std::atol(a.c_str() + prefix.size());
    }
    return fallback;
}

events::Event MakeEvent(const std::string& id, std::int64_t seq) {
    events::Event e;
    e.debate_id = id;
    e.seq = seq;
    e.type = "token_delta";
    e.timestamp = 1.8e9 + static_cast<double>(seq);
    e.agent = "fake:a";
    e.data_json = R"({"debate_id":")" + id + R"(","agent":"fake:a","delta":"some tokens here"})";
    return e;
}

}  // namespace

int main(int argc, char** argv) {
    const long subscribers = Flag(argc, argv, "subscribers", 10000);
    const long debates = std::max(1L, Flag(argc, argv, "debates", 1));
    const long event_count = Flag(argc, argv, "events", 100);
    // --open=0: only the fake connections, not handed to the handler (their own cost, to
    // subtract from the figure with --open=1).
    const bool open = Flag(argc, argv, "open", 1) != 0;

    asio::io_context ioc;
    events::EventHub hub(1000, 256);
    api::DebateStreamOptions options;
    options.heartbeat_interval = std::chrono::milliseconds(0);
    api::DebateStreamHandler handler(hub, {}, options);
    for (long d = 0; d < debates; ++d) hub.Publish(MakeEvent("d" + std::to_string(d), 1));
    std::set<const std::string*> objects;

    const long before = ResidentBytes();
    std::vector<std::shared_ptr<NullConnection>> conns;
    conns.reserve(static_cast<std::size_t>(subscribers));
    for (long i = 0; i < subscribers; ++i) {
        const std::string id = "d" + std::to_string(i % debates);
        conns.push_back(std::make_shared<NullConnection>(
            static_cast<std::uint64_t>(i + 1), "/ws?debate_id=" + id + "&replay_from_seq=1", ioc,
            objects));
        if (open)
            asio::co_spawn(conns.back()->executor(), handler.Serve(conns.back()), asio::detached);
    }
    ioc.run_for(std::chrono::seconds(5));
    ioc.restart();
    const long idle = ResidentBytes();

    for (long s = 2; s <= event_count + 1; ++s) {
        for (long d = 0; d < debates; ++d) hub.Publish(MakeEvent("d" + std::to_string(d), s));
        ioc.poll();
        ioc.restart();
    }
    ioc.run_for(std::chrono::seconds(5));
    ioc.restart();
    const long after = ResidentBytes();

    std::size_t frames = 0;
    for (const auto& c : conns) frames += c->frames;
    const api::DebateStreamStats st = handler.Stats();
    std::printf("subscribers=%ld debates=%ld events_per_debate=%ld\n", subscribers, debates,
                event_count);
    std::printf("rss_before=%ld rss_idle=%ld rss_after_events=%ld (bytes)\n", before, idle, after);
    std::printf("bytes_per_subscriber idle=%.0f after_events=%.0f\n",
                static_cast<double>(idle - before) / static_cast<double>(subscribers),
                static_cast<double>(after - before) / static_cast<double>(subscribers));
    std::printf(
        "frames_written=%zu live_events_sent=%llu distinct_event_frame_objects=%zu "
        "(events published=%ld)\n",
        frames, static_cast<unsigned long long>(st.live_events_sent), objects.size(),
        event_count * debates);
    if (!open) return 0;
    const bool shared = objects.size() == static_cast<std::size_t>(event_count * debates);
    std::printf("frames shared across subscribers: %s\n", shared ? "yes" : "NO");
    return shared &&
                   st.live_events_sent == static_cast<unsigned long long>(subscribers * event_count)
               ? 0
               : 1;
}
