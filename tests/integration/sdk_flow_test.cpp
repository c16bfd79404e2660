// The official clients' flows against `aragora serve`, done the way the SDKs do them:
// create with `task`, poll GET until a terminal status, page the list with items/total,
// and stream ws://host:port/ws?debate_id=... without ever sending `subscribe`. Then the
// WebSocket protocol beyond the happy path: reconnect with replay_from_seq (exactly the
// missed events, in order, once), explicit subscribe/unsubscribe, ping/pong, unknown
// debates, client complaints, and a slow reader closed 1008 while a fast one completes.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <functional>
#include <memory>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "ws_client.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::set<std::string> kControlTypes = {
    "connection_info", "replay_start", "replay_end", "heartbeat", "pong", "warning", "error"};
constexpr std::size_t kMaxFrameBytes = 1024 * 1024;

struct Frame {
    json::object o;
    std::string type;

    bool IsControl() const { return kControlTypes.count(type) != 0; }
    std::int64_t Seq() const {
        const json::value* s = o.if_contains("seq");
        return s != nullptr && IsInteger(*s) ? static_cast<std::int64_t>(NumberOf(*s)) : -1;
    }
    json::object Data() const {
        const json::value* d = o.if_contains("data");
        return d != nullptr && d->is_object() ? d->as_object() : json::object{};
    }
};

// Reads frames until `stop` holds for one (included) or the deadline; checks on the way
// that every frame is one JSON object in one text frame of at most 1 MiB, with `type`,
// `data` and `timestamp`, and that control frames carry no `seq`.
std::vector<Frame> ReadUntil(WsClient& ws, const std::function<bool(const Frame&)>& stop,
                             milliseconds deadline = seconds(60)) {
    std::vector<Frame> frames;
    const auto until = Clock::now() + deadline;
    while (true) {
        auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
        if (left.count() <= 0) {
            ADD_FAILURE() << "deadline passed after " << frames.size() << " frames; last type "
                          << (frames.empty() ? "-" : frames.back().type);
            return frames;
        }
        auto text = ws.Read(left);
        if (!text) {
            ADD_FAILURE() << "WebSocket read failed after " << frames.size()
                          << " frames: " << ws.error();
            return frames;
        }
        EXPECT_TRUE(ws.last_was_text()) << "binary frame";
        EXPECT_LE(text->size(), kMaxFrameBytes);
        boost::system::error_code ec;
        json::value v = json::parse(*text, ec);
        if (ec || !v.is_object()) {
            ADD_FAILURE() << "a frame is not one JSON object: " << text->substr(0, 200);
            continue;
        }
        Frame f{v.as_object(), StringOf(v.as_object(), "type")};
        EXPECT_FALSE(f.type.empty()) << *text;
        EXPECT_TRUE(f.o.contains("data") && f.o.at("data").is_object()) << *text;
        EXPECT_TRUE(f.o.contains("timestamp")) << *text;
        if (f.IsControl()) {
            EXPECT_FALSE(f.o.contains("seq")) << "control frames have no seq: " << *text;
        } else {
            EXPECT_GE(f.Seq(), 1) << "events carry a seq: " << *text;
            EXPECT_EQ(f.o.if_contains("loop_id") ? *f.o.if_contains("loop_id") : json::value(),
                      f.o.if_contains("debate_id") ? *f.o.if_contains("debate_id") : json::value())
                << "loop_id repeats debate_id: " << *text;
            EXPECT_TRUE(f.o.contains("round") && IsInteger(f.o.at("round"))) << *text;
            EXPECT_TRUE(f.o.contains("agent") && f.o.at("agent").is_string()) << *text;
        }
        frames.push_back(std::move(f));
        if (stop(frames.back())) return frames;
    }
}

bool IsType(const Frame& f, const char* type) { return f.type == type; }

std::vector<Frame> EventsOf(const std::vector<Frame>& frames) {
    std::vector<Frame> out;
    for (const auto& f : frames) {
        if (!f.IsControl()) out.push_back(f);
    }
    return out;
}

// Seqs from `first`, gap-free, no duplicates.
void ExpectConsecutive(const std::vector<Frame>& events, std::int64_t first, const char* what) {
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].Seq(), first + static_cast<std::int64_t>(i))
            << what << ": event " << i << " (" << events[i].type << ")";
    }
}

class SdkFlowTest : public ::testing::Test {
protected:
    void StartServer(std::map<std::string, std::string> env) {
        env.emplace("ARAGORA_DEMO_LATENCY_MS", "20");
        env.emplace("ARAGORA_CONVERGENCE_THRESHOLD", "1.0");
        server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", env);
        ASSERT_TRUE(server_->StartReady()) << server_->error();
    }
    void TearDown() override {
        if (!server_) return;
        const int code = server_->Terminate();
        EXPECT_EQ(code, 0) << "exit code after SIGTERM; server output:\n" << server_->Logs();
    }
    HttpClient Http() const { return server_->Http(); }

    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(SdkFlowTest, PythonClientFlowCreatePollPageAndStream) {
    ASSERT_NO_FATAL_FAILURE(StartServer({}));
    const auto http = Http();
    const std::string id = CreateDebate(
        http,
        R"({"task": "Should we ship on Fridays?", "agents": ["demo", "demo", "demo"], "rounds": 3})",
        "/api/debates");
    ASSERT_FALSE(id.empty());

    WsClient ws;
    ASSERT_TRUE(ws.Connect(server_->api_port(), "/ws?debate_id=" + id)) << ws.error();
    std::vector<Frame> frames =
        ReadUntil(ws, [](const Frame& f) { return IsType(f, "debate_end"); });
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().type, "connection_info");
    EXPECT_TRUE(frames.front().Data().contains("client_id"));
    EXPECT_EQ(frames.front().Data()["authenticated"].is_bool(), true);
    ASSERT_EQ(frames.back().type, "debate_end");

    // replay_start and replay_end come before any event (nothing replayed or all of it).
    std::size_t start = frames.size(), end = frames.size();
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].type == "replay_start" && start == frames.size()) start = i;
        if (frames[i].type == "replay_end" && end == frames.size()) end = i;
    }
    ASSERT_LT(start, frames.size()) << "no replay_start for the URL subscription";
    ASSERT_LT(end, frames.size()) << "no replay_end for the URL subscription";
    EXPECT_LT(start, end);
    EXPECT_EQ(frames[start].Data()["debate_id"], id.c_str());
    EXPECT_EQ(frames[start].Data()["from_seq"], 0);
    for (std::size_t i = 0; i < start; ++i) EXPECT_TRUE(frames[i].IsControl());

    const std::vector<Frame> events = EventsOf(frames);
    ASSERT_FALSE(events.empty());
    ExpectConsecutive(events, 1, "URL subscription");
    EXPECT_EQ(events.front().type, "debate_start");
    for (const auto& e : events) EXPECT_EQ(e.o.at("debate_id"), id.c_str());

    // The poll loop of the clients: GET until a terminal status.
    auto debate = WaitForStatus(http, id, kTerminalStatuses);
    ASSERT_TRUE(debate);
    EXPECT_EQ((*debate)["status"], "completed");
    json::object end_data = frames.back().Data();
    EXPECT_EQ(end_data["status"], (*debate)["status"]);
    EXPECT_EQ(end_data["receipt_id"], (*debate)["receipt_id"]) << "debate_end and GET disagree";
    EXPECT_EQ(end_data["consensus_reached"], (*debate)["consensus_reached"]);
    EXPECT_EQ(end_data["total_rounds"], 3);
    ASSERT_TRUE((*debate)["receipt_id"].is_string());
    const std::string receipt_id((*debate)["receipt_id"].as_string());
    HttpResponse receipt = http.Get("/api/v2/receipts/" + receipt_id);
    EXPECT_EQ(receipt.status, 200)
        << "completed but its receipt is missing: " << receipt.Describe();

    // What the stream carried is exactly what polling gives.
    std::vector<json::object> polled = AllEvents(http, id);
    ASSERT_EQ(polled.size(), events.size());
    for (std::size_t i = 0; i < polled.size(); ++i) {
        EXPECT_EQ(polled[i]["seq"], events[i].o.at("seq"));
        EXPECT_EQ(polled[i]["type"], events[i].o.at("type"));
    }

    // The Python paginator: items/total, one at a time.
    ASSERT_FALSE(CreateDebate(http, DebateBody("Another one", 1, 2), "/api/debates").empty());
    std::vector<std::string> ids;
    std::int64_t total = -1;
    for (int offset = 0; offset < 10; ++offset) {
        HttpResponse p = http.Get("/api/debates?limit=1&offset=" + std::to_string(offset));
        ASSERT_EQ(p.status, 200) << p.Describe();
        json::object o = p.Object();
        total = o["total"].to_number<std::int64_t>();
        for (const auto& s : o["items"].as_array())
            ids.emplace_back(s.as_object().at("id").as_string());
        if (o["has_more"] != true) break;
    }
    EXPECT_EQ(total, 2);
    EXPECT_EQ(static_cast<std::int64_t>(ids.size()), total);
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end());
    ws.Close();
}

TEST_F(SdkFlowTest, TypeScriptClientFlowLegacyCreateAndWsPort) {
    ASSERT_NO_FATAL_FAILURE(StartServer({}));
    const auto http = Http();
    const std::string id = CreateDebate(
        http, R"({"task": "Is GraphQL worth it for us?", "rounds": 2})", "/api/debate");
    ASSERT_FALSE(id.empty());
    ASSERT_NE(server_->ws_port(), 0);
    // The WS port serves the protocol at any path.
    WsClient ws;
    ASSERT_TRUE(ws.Connect(server_->ws_port(), "/any/path?debate_id=" + id)) << ws.error();
    std::vector<Frame> frames =
        ReadUntil(ws, [](const Frame& f) { return IsType(f, "debate_end"); });
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().type, "connection_info");
    const auto events = EventsOf(frames);
    ExpectConsecutive(events, 1, "WS port");
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().type, "debate_end");
    auto debate = WaitForStatus(http, id, kTerminalStatuses);
    ASSERT_TRUE(debate);
    EXPECT_EQ(events.back().Data()["receipt_id"], (*debate)["receipt_id"]);

    WsClient root;
    ASSERT_TRUE(root.Connect(server_->ws_port(), "/")) << root.error();
    auto first = ReadUntil(
        root, [](const Frame&) { return true; }, seconds(10));
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].type, "connection_info");
}

TEST_F(SdkFlowTest, ReconnectReplaysExactlyTheMissedEvents) {
    ASSERT_NO_FATAL_FAILURE(StartServer({}));
    const auto http = Http();
    const std::string id = CreateDebate(http, DebateBody("Reconnect mid-debate", 12, 8));
    ASSERT_FALSE(id.empty());

    std::vector<Frame> before;
    {
        WsClient ws;
        ASSERT_TRUE(ws.Connect(server_->api_port(), "/ws?debate_id=" + id)) << ws.error();
        int seen = 0;
        before = ReadUntil(ws, [&](const Frame& f) { return !f.IsControl() && ++seen >= 20; });
        ws.Abort();  // vanish mid-debate
    }
    std::vector<Frame> first = EventsOf(before);
    ASSERT_EQ(first.size(), 20u);
    ExpectConsecutive(first, 1, "first connection");
    const std::int64_t last_seen = first.back().Seq();
    // Let the debate move on while we are away.
    ASSERT_TRUE(WaitForEvents(http, id, last_seen + 30));

    WsClient again;
    ASSERT_TRUE(again.Connect(server_->api_port(), "/ws?debate_id=" + id + "&replay_from_seq=" +
                                                       std::to_string(last_seen)))
        << again.error();
    std::vector<Frame> frames =
        ReadUntil(again, [](const Frame& f) { return IsType(f, "debate_end"); });
    ASSERT_FALSE(frames.empty());
    ASSERT_EQ(frames.back().type, "debate_end");
    std::size_t start = frames.size(), end = frames.size();
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].type == "replay_start" && start == frames.size()) start = i;
        if (frames[i].type == "replay_end" && end == frames.size()) end = i;
    }
    ASSERT_LT(start, end) << "replay_start/replay_end missing or out of order";
    ASSERT_LT(end, frames.size());
    json::object rs = frames[start].Data();
    EXPECT_EQ(rs["debate_id"], id.c_str());
    EXPECT_EQ(rs["from_seq"], last_seen);
    EXPECT_TRUE(IsInteger(rs["event_count"]));
    std::vector<Frame> replayed(frames.begin() + static_cast<std::ptrdiff_t>(start) + 1,
                                frames.begin() + static_cast<std::ptrdiff_t>(end));
    replayed = EventsOf(replayed);
    ASSERT_GE(replayed.size(), 30u) << "the missed events were not replayed";
    json::object re = frames[end].Data();
    EXPECT_EQ(re["debate_id"], id.c_str());
    EXPECT_EQ(re["replayed_count"], static_cast<std::int64_t>(replayed.size()));
    EXPECT_EQ(re["latest_seq"], replayed.back().Seq());

    // Exactly the missed events, then live ones, gap-free and without duplicates.
    std::vector<Frame> second = EventsOf(frames);
    ExpectConsecutive(second, last_seen + 1, "after reconnect");
    std::vector<json::object> polled = AllEvents(http, id);
    ASSERT_EQ(polled.size(), first.size() + second.size())
        << "first + second connection must cover every event exactly once";
    for (std::size_t i = 0; i < second.size(); ++i) {
        EXPECT_EQ(polled[first.size() + i]["type"], second[i].o.at("type"));
    }
    again.Close();
}

TEST_F(SdkFlowTest, SubscribeMessagesPingUnknownDebatesAndComplaints) {
    ASSERT_NO_FATAL_FAILURE(StartServer({}));
    const auto http = Http();
    const std::string id = CreateDebate(http, DebateBody("Subscribe by message", 1, 3));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitForStatus(http, id, kTerminalStatuses));
    const auto n = static_cast<std::int64_t>(AllEvents(http, id).size());
    ASSERT_GE(n, 5);

    WsClient ws;
    ASSERT_TRUE(ws.Connect(server_->api_port(), "/ws")) << ws.error();
    auto hello = ReadUntil(
        ws, [](const Frame&) { return true; }, seconds(10));
    ASSERT_EQ(hello.size(), 1u);
    EXPECT_EQ(hello[0].type, "connection_info");

    ASSERT_TRUE(ws.Send(json::serialize(
        json::object{{"type", "subscribe"}, {"debate_id", id}, {"replay_from_seq", n - 3}})));
    auto frames = ReadUntil(
        ws, [](const Frame& f) { return IsType(f, "replay_end"); }, seconds(10));
    ASSERT_GE(frames.size(), 2u);
    EXPECT_EQ(frames.front().type, "replay_start");
    EXPECT_EQ(frames.front().Data()["from_seq"], n - 3);
    auto events = EventsOf(frames);
    ASSERT_EQ(events.size(), 3u);
    ExpectConsecutive(events, n - 2, "subscribe replay");
    EXPECT_EQ(events.back().type, "debate_end");
    EXPECT_EQ(frames.back().Data()["replayed_count"], 3);
    EXPECT_EQ(frames.back().Data()["latest_seq"], n);

    ASSERT_TRUE(ws.Send(R"({"type": "ping"})"));
    auto pong = ReadUntil(
        ws, [](const Frame& f) { return IsType(f, "pong"); }, seconds(10));
    ASSERT_FALSE(pong.empty());
    EXPECT_EQ(pong.size(), 1u) << "nothing but the pong was expected";
    EXPECT_TRUE(pong.back().Data().contains("server_ts"));

    // unsubscribe, then subscribe with `loop_id` (the original's name).
    ASSERT_TRUE(ws.Send(json::serialize(json::object{{"type", "unsubscribe"}, {"debate_id", id}})));
    ASSERT_TRUE(ws.Send(json::serialize(
        json::object{{"type", "subscribe"}, {"loop_id", id}, {"replay_from_seq", n - 1}})));
    frames = ReadUntil(
        ws, [](const Frame& f) { return IsType(f, "replay_end"); }, seconds(10));
    events = EventsOf(frames);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, "debate_end");
    EXPECT_EQ(events[0].Seq(), n);

    // An unknown debate: an error frame, and the connection stays open.
    ASSERT_TRUE(ws.Send(R"({"type": "subscribe", "debate_id": "d_doesnotexist"})"));
    frames = ReadUntil(
        ws, [](const Frame& f) { return IsType(f, "error"); }, seconds(10));
    ASSERT_FALSE(frames.empty());
    ASSERT_EQ(frames.back().type, "error");
    EXPECT_EQ(frames.back().o.at("debate_id"), "d_doesnotexist");
    json::object err = frames.back().Data();
    EXPECT_EQ(err["code"], "not_found");
    EXPECT_TRUE(err["error"].is_string());
    EXPECT_TRUE(err["message"].is_string());
    ASSERT_TRUE(ws.Send(R"({"type": "ping"})"));
    EXPECT_FALSE(ReadUntil(
                     ws, [](const Frame& f) { return IsType(f, "pong"); }, seconds(10))
                     .empty());

    // Complaints about client messages are warnings; still open.
    ASSERT_TRUE(ws.Send("this is not json"));
    frames = ReadUntil(
        ws, [](const Frame& f) { return IsType(f, "warning"); }, seconds(10));
    ASSERT_FALSE(frames.empty());
    EXPECT_TRUE(frames.back().Data()["message"].is_string());
    EXPECT_TRUE(frames.back().Data()["code"].is_string());
    ASSERT_TRUE(ws.Send(R"({"type": "ping"})"));
    EXPECT_FALSE(ReadUntil(
                     ws, [](const Frame& f) { return IsType(f, "pong"); }, seconds(10))
                     .empty());
    ws.Close();

    // A URL subscription to an unknown debate: error frame, connection open.
    WsClient unknown;
    ASSERT_TRUE(unknown.Connect(server_->api_port(), "/ws?debate_id=d_nosuchdebate"));
    frames = ReadUntil(
        unknown, [](const Frame& f) { return IsType(f, "error"); }, seconds(10));
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.back().Data()["code"], "not_found");
    ASSERT_TRUE(unknown.Send(R"({"type": "ping"})"));
    EXPECT_FALSE(ReadUntil(
                     unknown, [](const Frame& f) { return IsType(f, "pong"); }, seconds(10))
                     .empty());
    unknown.Close();
}

// A small send queue (16 frames): the reader that keeps up is never closed (the handler
// waits for the connection's queue to drain before sending more), the one that stops
// is closed 1008 once its bounded backlog is full. The server caps its socket send
// buffer, so the kernel does not absorb the stream for a reader that stops.
// The runbook's "restart WebSocket handler": SIGUSR1 closes every WebSocket with 1012 so
// clients reconnect and replay; HTTP keeps serving and the process keeps running.
TEST_F(SdkFlowTest, Sigusr1ClosesWebSocketsWith1012AndLeavesHttpAlone) {
    ASSERT_NO_FATAL_FAILURE(StartServer({}));
    const auto http = Http();
    WsClient ws;
    ASSERT_TRUE(ws.Connect(server_->api_port(), "/ws")) << ws.error();
    auto hello = ReadUntil(
        ws, [](const Frame&) { return true; }, seconds(10));
    ASSERT_EQ(hello.size(), 1u);
    server_->SendSignal(SIGUSR1);
    const auto until = Clock::now() + seconds(10);
    while (Clock::now() < until && !ws.closed()) {
        (void)ws.Read(std::chrono::duration_cast<milliseconds>(until - Clock::now()));
    }
    ASSERT_TRUE(ws.closed()) << "SIGUSR1 did not close the WebSocket";
    ASSERT_TRUE(ws.close_code().has_value());
    EXPECT_EQ(*ws.close_code(), 1012);
    EXPECT_EQ(http.Get("/healthz").status, 200);
    WsClient again;
    EXPECT_TRUE(again.Connect(server_->api_port(), "/ws")) << again.error();
}

TEST_F(SdkFlowTest, SlowReaderIsClosedWhileFastReaderCompletes) {
    ASSERT_NO_FATAL_FAILURE(
        StartServer({{"ARAGORA_WS_SEND_QUEUE_MAX", "16"}, {"ARAGORA_DEMO_LATENCY_MS", "1"}}));
    const auto http = Http();
    // 12 agents x 12 rounds: some 1,800 events (about 1.7 MB) per subscriber.
    const std::string id = CreateDebate(http, DebateBody("A debate with a slow listener", 12, 12));
    ASSERT_FALSE(id.empty());

    // A tiny receive buffer: the kernel cannot absorb the stream for a reader that stops.
    WsClient slow;
    ASSERT_TRUE(slow.Connect(server_->api_port(), "/ws?debate_id=" + id, seconds(10), 4096))
        << slow.error();
    WsClient fast;
    ASSERT_TRUE(fast.Connect(server_->api_port(), "/ws?debate_id=" + id)) << fast.error();
    std::vector<Frame> frames =
        ReadUntil(fast, [](const Frame& f) { return IsType(f, "debate_end"); });
    ASSERT_FALSE(frames.empty());
    ASSERT_EQ(frames.back().type, "debate_end") << "the fast reader must get the whole debate";
    ExpectConsecutive(EventsOf(frames), 1, "fast reader");
    EXPECT_FALSE(fast.closed());

    std::int64_t slow_closes = 0;
    EXPECT_TRUE(PollUntil(
        [&] {
            json::object o = http.Get("/api/ws/stats").Object();
            slow_closes =
                o.contains("slow_closes") ? o["slow_closes"].to_number<std::int64_t>() : 0;
            return slow_closes >= 1;
        },
        seconds(15), milliseconds(50)))
        << "the reader that stopped was never closed as a slow consumer";

    // The slow reader now finds its connection closed (1008 when the close frame made it).
    bool saw_end = false;
    const auto until = Clock::now() + seconds(30);
    while (Clock::now() < until) {
        auto text = slow.Read(std::chrono::duration_cast<milliseconds>(until - Clock::now()));
        if (!text) break;
        if (text->find("\"debate_end\"") != std::string::npos) saw_end = true;
    }
    EXPECT_TRUE(slow.closed()) << slow.error();
    if (slow.close_code()) {
        EXPECT_EQ(*slow.close_code(), 1008);
    }
    EXPECT_FALSE(saw_end) << "the slow reader got the whole stream: nothing was bounded";
    fast.Close();
}

}  // namespace
}  // namespace aragora::testing
