#include "api/ws_handler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "events/hub.hpp"
#include "net/server.hpp"

namespace aragora::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kDeadline = 10s;

// ---- fakes ---------------------------------------------------------------------------

struct SentFrame {
    std::string text;
    SteadyClock::time_point at;
    std::shared_ptr<const std::string> object;  // the frame object the handler wrote
};

// Records frames written by the handler's writer, on a strand of its own as net's
// connections are. Each Write completes one io_context turn later (a real socket
// write is asynchronous); a stalled connection's writes complete only when it closes
// (a reader that stopped reading).
class FakeWsConnection : public net::WsConnection,
                         public std::enable_shared_from_this<FakeWsConnection> {
public:
    FakeWsConnection(std::uint64_t id, const std::string& target, asio::io_context& ioc)
        : id_(id), strand_(asio::make_strand(ioc)), gate_(strand_), read_wake_(strand_) {
        request_.method = "GET";
        request_.target = target;
        const auto q = target.find('?');
        request_.path = target.substr(0, q);
        request_.query = q == std::string::npos ? "" : target.substr(q + 1);
        request_.remote_address = "127.0.0.1";
        gate_.expires_at(SteadyClock::time_point::max());
        read_wake_.expires_at(SteadyClock::time_point::max());
    }

    std::uint64_t id() const override { return id_; }
    asio::any_io_executor executor() const override { return strand_; }

    asio::awaitable<bool> Write(std::shared_ptr<const std::string> text) override {
        co_return co_await WriteMany(std::span<const std::shared_ptr<const std::string>>(&text, 1));
    }

    // Every frame of one call, in order, as one write (recorded in batch_sizes()).
    asio::awaitable<bool> WriteMany(
        std::span<const std::shared_ptr<const std::string>> texts) override {
        auto self = shared_from_this();
        bool stalled = false;
        {
            std::lock_guard lock(mu_);
            if (writing_) overlapping_writes_ = true;
            if (!open_ || fail_sends_ || writing_) co_return false;
            writing_ = true;
            stalled = stalled_;
        }
        if (stalled) {
            co_await gate_.async_wait(asio::as_tuple(asio::use_awaitable));
        } else {
            co_await asio::post(strand_, asio::use_awaitable);
        }
        std::lock_guard lock(mu_);
        writing_ = false;
        if (!open_) co_return false;
        const auto now = SteadyClock::now();
        for (const auto& text : texts) frames_.push_back({*text, now, text});
        batch_sizes_.push_back(texts.size());
        co_return true;
    }

    // As a socket with room: the frames are recorded at once (one batch), unless a write
    // is in progress, the connection is stalled (a full socket) or closed, or the test
    // refuses it (RefuseDirect).
    bool TryWriteNow(std::span<const std::shared_ptr<const std::string>> texts) override {
        std::lock_guard lock(mu_);
        if (!open_ || fail_sends_ || writing_ || stalled_ || refuse_direct_) return false;
        const auto now = SteadyClock::now();
        for (const auto& text : texts) frames_.push_back({*text, now, text});
        batch_sizes_.push_back(texts.size());
        ++direct_batches_;
        return true;
    }

    void Close(std::uint16_t code, std::string reason) override {
        {
            std::lock_guard lock(mu_);
            if (!open_) return;
            open_ = false;
            close_code_ = code;
            close_reason_ = std::move(reason);
        }
        asio::post(strand_, [self = shared_from_this()] { self->gate_.cancel(); });
    }

    bool is_open() const override {
        std::lock_guard lock(mu_);
        return open_;
    }

    const net::HttpRequest& upgrade_request() const override { return request_; }

    // The client's messages, as net's Read hands them to the handler's reader.
    asio::awaitable<std::optional<std::string>> Read() override {
        auto self = shared_from_this();
        for (;;) {
            std::optional<std::string> text;
            {
                std::lock_guard lock(mu_);
                if (!inbox_.empty()) {
                    text = std::move(inbox_.front());
                    inbox_.erase(inbox_.begin());
                } else if (reads_ended_) {
                    break;
                }
            }
            if (text) co_return text;
            co_await read_wake_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        co_return std::nullopt;
    }
    // A client message (any thread).
    void Receive(std::string text) {
        {
            std::lock_guard lock(mu_);
            inbox_.push_back(std::move(text));
        }
        asio::post(strand_, [self = shared_from_this()] { self->read_wake_.cancel(); });
    }
    // The connection ended (what net reports by ending Read): the reader's Read returns
    // nullopt once the messages before it are read.
    void EndReads() {
        {
            std::lock_guard lock(mu_);
            reads_ended_ = true;
        }
        asio::post(strand_, [self = shared_from_this()] {
            self->read_wake_.cancel();
            self->gate_.cancel();
        });
    }

    std::vector<SentFrame> frames() const {
        std::lock_guard lock(mu_);
        return frames_;
    }
    std::size_t frame_count() const {
        std::lock_guard lock(mu_);
        return frames_.size();
    }
    // Frames per write, in order.
    std::vector<std::size_t> batch_sizes() const {
        std::lock_guard lock(mu_);
        return batch_sizes_;
    }
    std::uint16_t close_code() const {
        std::lock_guard lock(mu_);
        return close_code_;
    }
    bool overlapping_writes() const {
        std::lock_guard lock(mu_);
        return overlapping_writes_;
    }
    // Simulates a connection that net already closed: Write fails, is_open is false.
    void BreakConnection() {
        std::lock_guard lock(mu_);
        open_ = false;
        fail_sends_ = true;
    }
    // Writes recorded by TryWriteNow.
    std::size_t direct_batches() const {
        std::lock_guard lock(mu_);
        return direct_batches_;
    }
    // From now on TryWriteNow refuses (as net does while a write is in flight).
    void RefuseDirect() {
        std::lock_guard lock(mu_);
        refuse_direct_ = true;
    }
    // From now on no write completes until the connection is closed.
    void Stall() {
        std::lock_guard lock(mu_);
        stalled_ = true;
    }

private:
    const std::uint64_t id_;
    net::HttpRequest request_;
    asio::strand<asio::io_context::executor_type> strand_;
    asio::steady_timer gate_;       // strand-only
    asio::steady_timer read_wake_;  // strand-only: a message or the end arrived
    mutable std::mutex mu_;
    std::vector<std::string> inbox_;
    bool reads_ended_ = false;
    bool open_ = true;
    bool fail_sends_ = false;
    bool stalled_ = false;
    bool writing_ = false;
    bool overlapping_writes_ = false;
    bool refuse_direct_ = false;
    std::size_t direct_batches_ = 0;
    std::uint16_t close_code_ = 0;
    std::string close_reason_;
    std::vector<SentFrame> frames_;
    std::vector<std::size_t> batch_sizes_;
};

// The persisted events: answers like the lead's ReplaySource (kNotFound for unknown
// debates, since < seq < until, at most page_size per answer). Modes: synchronous,
// deferred (the test releases answers), or on a thread pool (like the blocking pool).
class FakeStore {
public:
    enum class Mode { kSync, kDeferred, kPool };

    explicit FakeStore(Mode mode = Mode::kSync, std::size_t page_size = 1000)
        : mode_(mode), page_size_(page_size) {}
    ~FakeStore() { pool_.join(); }

    void Create(const std::string& id) {
        std::lock_guard lock(mu_);
        debates_[id];
    }
    void Append(const events::Event& e) {
        std::lock_guard lock(mu_);
        debates_[e.debate_id].push_back(e);
    }
    void FailNext(common::ErrorCode code) {
        std::lock_guard lock(mu_);
        fail_next_ = code;
    }

    ReplaySource Source() {
        return [this](std::string id, std::int64_t since, std::int64_t until, ReplayDone done) {
            calls_.fetch_add(1);
            if (mode_ == Mode::kSync) {
                done(Query(id, since, until));
            } else if (mode_ == Mode::kDeferred) {
                std::lock_guard lock(mu_);
                deferred_.push_back(
                    [this, id, since, until, done] { done(Query(id, since, until)); });
            } else {
                asio::post(pool_,
                           [this, id, since, until, done] { done(Query(id, since, until)); });
            }
        };
    }

    // Answers the deferred calls made so far; returns how many.
    std::size_t ReleaseDeferred() {
        std::vector<std::function<void()>> calls;
        {
            std::lock_guard lock(mu_);
            calls.swap(deferred_);
        }
        for (auto& c : calls) c();
        return calls.size();
    }
    std::size_t deferred_count() const {
        std::lock_guard lock(mu_);
        return deferred_.size();
    }
    int calls() const { return calls_.load(); }

private:
    common::Result<std::vector<events::Event>> Query(const std::string& id, std::int64_t since,
                                                     std::int64_t until) {
        std::lock_guard lock(mu_);
        if (fail_next_) {
            const auto code = *fail_next_;
            fail_next_.reset();
            return common::MakeError(code, "injected failure");
        }
        auto it = debates_.find(id);
        if (it == debates_.end()) {
            return common::MakeError(common::ErrorCode::kNotFound, "debate not found");
        }
        std::vector<events::Event> out;
        for (const auto& e : it->second) {
            if (e.seq > since && e.seq < until && out.size() < page_size_) out.push_back(e);
        }
        return out;
    }

    const Mode mode_;
    const std::size_t page_size_;
    mutable std::mutex mu_;
    std::map<std::string, std::vector<events::Event>> debates_;
    std::vector<std::function<void()>> deferred_;
    std::optional<common::ErrorCode> fail_next_;
    std::atomic<int> calls_{0};
    asio::thread_pool pool_{1};
};

// ---- helpers -------------------------------------------------------------------------

events::Event MakeEvent(const std::string& id, std::int64_t seq, const std::string& type = "") {
    events::Event e;
    e.debate_id = id;
    e.seq = seq;
    e.type = type.empty() ? "agent_message" : type;
    e.timestamp = 1'800'000'000.0 + static_cast<double>(seq);
    e.round = static_cast<int>(seq % 3);
    e.agent = seq % 2 == 0 ? "demo:analyst" : "";
    e.data_json = R"({"debate_id":")" + id + R"(","n":)" + std::to_string(seq) + "}";
    return e;
}

json::object Parse(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    EXPECT_FALSE(ec) << "not JSON: " << text.substr(0, 200);
    EXPECT_TRUE(v.is_object()) << "not one JSON object: " << text.substr(0, 200);
    return v.is_object() ? v.as_object() : json::object{};
}

std::string TypeOf(const json::object& o) {
    const json::value* t = o.if_contains("type");
    return t != nullptr && t->is_string() ? std::string(t->as_string()) : std::string();
}

const std::set<std::string> kControlTypes = {
    "connection_info", "replay_start", "replay_end", "heartbeat", "pong", "warning", "error"};

// Checks the shape rules of API.md on every frame: one JSON object, {type, data (object),
// timestamp (number)}; control frames without seq; events with the whole envelope.
void CheckShapes(const std::vector<SentFrame>& frames) {
    for (const auto& f : frames) {
        json::object o = Parse(f.text);
        const std::string type = TypeOf(o);
        ASSERT_FALSE(type.empty()) << f.text;
        ASSERT_TRUE(o.contains("data") && o.at("data").is_object()) << f.text;
        ASSERT_TRUE(o.contains("timestamp") && o.at("timestamp").is_number()) << f.text;
        if (kControlTypes.count(type) != 0) {
            EXPECT_FALSE(o.contains("seq")) << "control frame with seq: " << f.text;
        } else {
            for (const char* k : {"debate_id", "loop_id", "seq", "round", "agent"}) {
                EXPECT_TRUE(o.contains(k)) << "event without " << k << ": " << f.text;
            }
            EXPECT_TRUE(o.at("seq").is_int64()) << f.text;
            EXPECT_EQ(o.at("debate_id"), o.at("loop_id")) << f.text;
            EXPECT_TRUE(o.at("round").is_int64()) << f.text;
            EXPECT_TRUE(o.at("agent").is_string()) << f.text;
        }
    }
}

std::vector<json::object> Objects(const std::vector<SentFrame>& frames) {
    std::vector<json::object> out;
    for (const auto& f : frames) out.push_back(Parse(f.text));
    return out;
}

std::vector<std::string> Types(const std::vector<SentFrame>& frames) {
    std::vector<std::string> out;
    for (const auto& o : Objects(frames)) out.push_back(TypeOf(o));
    return out;
}

// The seqs of event frames of `debate_id`, in arrival order.
std::vector<std::int64_t> EventSeqs(const std::vector<SentFrame>& frames,
                                    const std::string& debate_id) {
    std::vector<std::int64_t> out;
    for (const auto& o : Objects(frames)) {
        if (kControlTypes.count(TypeOf(o)) != 0) continue;
        if (o.at("debate_id").as_string() != debate_id) continue;
        out.push_back(o.at("seq").as_int64());
    }
    return out;
}

std::vector<std::int64_t> Range(std::int64_t first, std::int64_t last) {
    std::vector<std::int64_t> out;
    for (std::int64_t s = first; s <= last; ++s) out.push_back(s);
    return out;
}

// First frame of `type` (and debate, when given); empty object when none.
json::object FindFrame(const std::vector<SentFrame>& frames, const std::string& type,
                       const std::string& debate_id = "") {
    for (const auto& o : Objects(frames)) {
        if (TypeOf(o) != type) continue;
        if (!debate_id.empty() &&
            (!o.contains("debate_id") || o.at("debate_id").as_string() != debate_id)) {
            continue;
        }
        return o;
    }
    return {};
}

std::size_t CountType(const std::vector<SentFrame>& frames, const std::string& type) {
    const auto types = Types(frames);
    return static_cast<std::size_t>(std::count(types.begin(), types.end(), type));
}

class DebateStreamHandlerTest : public ::testing::Test {
protected:
    DebateStreamOptions DefaultOptions() {
        DebateStreamOptions o;
        o.heartbeat_interval = 0ms;
        return o;
    }

    void Start(DebateStreamOptions options, FakeStore::Mode mode = FakeStore::Mode::kSync,
               std::size_t page_size = 1000, std::size_t buffer = 1000) {
        hub_ = std::make_unique<events::EventHub>(buffer, 16);
        store_ = std::make_unique<FakeStore>(mode, page_size);
        handler_ =
            std::make_unique<DebateStreamHandler>(*hub_, store_->Source(), std::move(options));
    }
    void Start() { Start(DefaultOptions()); }

    void TearDown() override {
        handler_.reset();
        store_.reset();  // joins its pool before the io_context goes
    }

    // Persists then publishes, as the server does.
    void Publish(const events::Event& e) {
        store_->Append(e);
        hub_->Publish(e);
    }
    void PublishRange(const std::string& id, std::int64_t first, std::int64_t last) {
        for (std::int64_t s = first; s <= last; ++s) Publish(MakeEvent(id, s));
    }

    // Runs the connection's coroutine as net does (on the connection's strand), and
    // everything ready now.
    void Serve(const std::shared_ptr<FakeWsConnection>& c) {
        asio::co_spawn(c->executor(), handler_->Serve(c), asio::detached);
        Poll();
    }
    std::shared_ptr<FakeWsConnection> Open(const std::string& target = "/ws") {
        auto c = std::make_shared<FakeWsConnection>(next_id_++, target, ioc_);
        Serve(c);
        return c;
    }

    void SendText(const std::shared_ptr<FakeWsConnection>& c, const std::string& text) {
        c->Receive(text);
        Poll();
    }
    // net ends the connection's reads (the socket closed): the handler's reader ends.
    void EndConnection(const std::shared_ptr<FakeWsConnection>& c) {
        c->EndReads();
        Poll();
    }
    void Poll() {
        ioc_.restart();
        ioc_.poll();
    }

    // Runs the io_context in slices until `done` holds (false after kDeadline).
    bool RunUntil(const std::function<bool()>& done) {
        const auto deadline = SteadyClock::now() + kDeadline;
        while (!done()) {
            if (SteadyClock::now() > deadline) return false;
            ioc_.restart();
            if (ioc_.run_for(1ms) == 0) std::this_thread::sleep_for(100us);
        }
        return true;
    }
    // Runs everything that is ready now plus `d` of timers.
    void RunFor(std::chrono::milliseconds d) {
        ioc_.restart();
        ioc_.run_for(d);
    }

    bool HasReplayEnd(const std::shared_ptr<FakeWsConnection>& c, const std::string& id) {
        return !FindFrame(c->frames(), "replay_end", id).empty();
    }

    asio::io_context ioc_;
    std::unique_ptr<events::EventHub> hub_;
    std::unique_ptr<FakeStore> store_;
    std::unique_ptr<DebateStreamHandler> handler_;
    std::uint64_t next_id_ = 1;
};

// ---- tests ---------------------------------------------------------------------------

TEST_F(DebateStreamHandlerTest, ConnectionInfoComesFirst) {
    Start();
    auto c = Open();
    RunFor(5ms);
    auto frames = c->frames();
    ASSERT_EQ(frames.size(), 1u);
    json::object o = Parse(frames[0].text);
    EXPECT_EQ(TypeOf(o), "connection_info");
    EXPECT_TRUE(o.at("data").at("client_id").is_string());
    EXPECT_FALSE(o.at("data").at("client_id").as_string().empty());
    EXPECT_EQ(o.at("data").at("authenticated"), json::value(true));
    EXPECT_FALSE(o.contains("debate_id"));
    CheckShapes(frames);
}

TEST_F(DebateStreamHandlerTest, UrlDebateIdIsASubscriptionWithoutAnyMessage) {
    Start();
    PublishRange("d1", 1, 3);
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    EXPECT_EQ(Types(c->frames()),
              (std::vector<std::string>{"connection_info", "replay_start", "agent_message",
                                        "agent_message", "agent_message", "replay_end"}));
    json::object start = FindFrame(c->frames(), "replay_start");
    EXPECT_EQ(start.at("debate_id").as_string(), "d1");
    EXPECT_EQ(start.at("data").at("debate_id").as_string(), "d1");
    EXPECT_EQ(start.at("data").at("from_seq").as_int64(), 0);
    EXPECT_EQ(start.at("data").at("event_count").as_int64(), 3);
    json::object end = FindFrame(c->frames(), "replay_end");
    EXPECT_EQ(end.at("data").at("replayed_count").as_int64(), 3);
    EXPECT_EQ(end.at("data").at("latest_seq").as_int64(), 3);

    Publish(MakeEvent("d1", 4));
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 4; }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 4));
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, UrlLoopIdAndReplayFromSeqWork) {
    Start();
    PublishRange("d1", 1, 5);
    auto c = Open("/ws?loop_id=d1&replay_from_seq=3");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(4, 5));
    EXPECT_EQ(FindFrame(c->frames(), "replay_start").at("data").at("from_seq").as_int64(), 3);
}

TEST_F(DebateStreamHandlerTest, SubscribeMidStreamGetsExactlyTheMissedEventsThenLive) {
    Start();
    PublishRange("d1", 1, 10);
    auto c = Open();
    SendText(c, R"({"type":"subscribe","debate_id":"d1","replay_from_seq":6})");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    json::object start = FindFrame(c->frames(), "replay_start");
    EXPECT_EQ(start.at("data").at("from_seq").as_int64(), 6);
    EXPECT_EQ(start.at("data").at("event_count").as_int64(), 4);
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(7, 10));

    PublishRange("d1", 11, 12);
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 6; }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(7, 12));
    EXPECT_EQ(Types(c->frames()).back(), "agent_message");
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, ReplayOlderThanTheBufferComesFromTheStoreThenTheBuffer) {
    Start(DefaultOptions(), FakeStore::Mode::kSync, /*page_size=*/4, /*buffer=*/5);
    PublishRange("d1", 1, 20);  // the hub keeps 16..20
    auto c = Open();
    SendText(c, R"({"type":"subscribe","loop_id":"d1","replay_from_seq":3})");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(4, 20));
    EXPECT_EQ(FindFrame(c->frames(), "replay_start").at("data").at("event_count").as_int64(), 17);
    json::object end = FindFrame(c->frames(), "replay_end");
    EXPECT_EQ(end.at("data").at("replayed_count").as_int64(), 17);
    EXPECT_EQ(end.at("data").at("latest_seq").as_int64(), 20);
    DebateStreamStats s = handler_->Stats();
    EXPECT_EQ(s.replay_events_from_store, 12u);  // 4..15, in pages of 4
    EXPECT_EQ(s.replay_events_from_buffer, 5u);  // 16..20
    EXPECT_EQ(s.replays_served, 1u);

    Publish(MakeEvent("d1", 21));
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 18; }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(4, 21));
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, LiveEventsDuringASlowStoreReplayAreQueuedAndFlushedInOrder) {
    Start(DefaultOptions(), FakeStore::Mode::kDeferred, /*page_size=*/1000, /*buffer=*/5);
    PublishRange("d1", 1, 20);
    auto c = Open("/ws?debate_id=d1");
    RunFor(5ms);
    ASSERT_EQ(store_->deferred_count(), 1u);  // the store part (1..15) is loading
    PublishRange("d1", 21, 25);               // live while the replay waits
    RunFor(5ms);
    EXPECT_TRUE(EventSeqs(c->frames(), "d1").empty());
    EXPECT_EQ(store_->ReleaseDeferred(), 1u);
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 25; }));

    const auto types = Types(c->frames());
    const auto end_at = std::find(types.begin(), types.end(), "replay_end") - types.begin();
    EXPECT_EQ(end_at, 1 + 1 + 20);  // connection_info, replay_start, 1..20
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 25));
    EXPECT_EQ(FindFrame(c->frames(), "replay_end").at("data").at("replayed_count").as_int64(), 20);
    EXPECT_EQ(handler_->Stats().live_events_sent, 5u);
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, DebateUnknownToTheHubIsProbedInTheStoreWithoutDoubles) {
    Start(DefaultOptions(), FakeStore::Mode::kDeferred);
    store_->Create("d1");  // created, not started: the hub has never seen it
    auto c = Open();
    SendText(c, R"({"type":"subscribe","debate_id":"d1"})");
    RunFor(5ms);
    ASSERT_EQ(store_->deferred_count(), 1u);
    // The debate starts while the store is being asked: 1..2 are persisted before the
    // store answers, 3 after.
    PublishRange("d1", 1, 2);
    ASSERT_EQ(store_->ReleaseDeferred(), 1u);  // answers 1..2
    Publish(MakeEvent("d1", 3));
    ASSERT_TRUE(RunUntil([&] {
        store_->ReleaseDeferred();  // the probe reads on until an empty page
        return EventSeqs(c->frames(), "d1").size() >= 3;
    }));
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    // 1..3 each once, whether they came from the store or from the live queue.
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 3));
    const auto replayed =
        FindFrame(c->frames(), "replay_end").at("data").at("replayed_count").as_int64();
    EXPECT_GE(replayed, 2);  // at least what the store had when it first answered
    EXPECT_EQ(FindFrame(c->frames(), "replay_start").at("data").at("event_count").as_int64(),
              replayed);
    Publish(MakeEvent("d1", 4));
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 4; }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 4));
    EXPECT_EQ(Types(c->frames()).back(), "agent_message");
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, CompletedDebateEvictedFromTheHubReplaysFromTheStore) {
    Start();
    for (std::int64_t s = 1; s <= 4; ++s) store_->Append(MakeEvent("old", s));
    store_->Append(MakeEvent("old", 5, "debate_end"));
    auto c = Open("/ws?debate_id=old&replay_from_seq=2");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "old"); }));
    EXPECT_EQ(EventSeqs(c->frames(), "old"), Range(3, 5));
    EXPECT_EQ(handler_->Stats().replay_events_from_store, 3u);
    EXPECT_TRUE(c->is_open());
}

TEST_F(DebateStreamHandlerTest, UnknownDebateGetsNotFoundErrorAndTheConnectionStaysOpen) {
    Start();
    auto c = Open("/ws?debate_id=nope");
    ASSERT_TRUE(RunUntil([&] { return !FindFrame(c->frames(), "error").empty(); }));
    json::object err = FindFrame(c->frames(), "error");
    EXPECT_EQ(err.at("debate_id").as_string(), "nope");
    EXPECT_EQ(err.at("data").at("code").as_string(), "not_found");
    EXPECT_TRUE(err.at("data").at("error").is_string());
    EXPECT_TRUE(err.at("data").at("message").is_string());
    EXPECT_TRUE(FindFrame(c->frames(), "replay_start").empty());
    EXPECT_TRUE(c->is_open());
    EXPECT_EQ(c->close_code(), 0);
    EXPECT_EQ(handler_->Stats().subscriptions, 0u);
    EXPECT_EQ(hub_->Stats().subscriptions, 0u);

    // Still usable: a later subscription to a real debate works.
    PublishRange("d1", 1, 1);
    SendText(c, R"({"type":"subscribe","debate_id":"d1"})");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 1));
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, PingGetsPong) {
    Start();
    auto c = Open();
    SendText(c, R"({"type":"ping"})");
    ASSERT_TRUE(RunUntil([&] { return c->frame_count() == 2; }));
    json::object pong = Parse(c->frames()[1].text);
    EXPECT_EQ(TypeOf(pong), "pong");
    EXPECT_TRUE(pong.at("data").at("server_ts").is_double());
    EXPECT_EQ(handler_->Stats().pong_frames, 1u);
    EXPECT_EQ(handler_->Stats().messages_received, 1u);
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, BadClientMessagesGetWarningsAndTheConnectionStaysOpen) {
    Start();
    PublishRange("d1", 1, 1);
    auto c = Open();
    ASSERT_TRUE(RunUntil([&] { return c->frame_count() == 1; }));  // connection_info
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{not json", "invalid_json"},
        {"[1,2]", "invalid_json"},
        {R"({"debate_id":"d1"})", "invalid_message"},
        {R"({"type":42})", "invalid_message"},
        {R"({"type":"dance"})", "unknown_type"},
        {R"({"type":"subscribe"})", "invalid_debate_id"},
        {R"({"type":"subscribe","debate_id":"bad id!"})", "invalid_debate_id"},
        {R"({"type":"subscribe","debate_id":"d1","replay_from_seq":-1})",
         "invalid_replay_from_seq"},
        {R"({"type":"subscribe","debate_id":"d1","replay_from_seq":"abc"})",
         "invalid_replay_from_seq"},
        {R"({"type":"unsubscribe","debate_id":"d1"})", "not_subscribed"},
    };
    for (const auto& [text, code] : cases) {
        const std::size_t before = c->frame_count();
        SendText(c, text);
        ASSERT_TRUE(RunUntil([&] { return c->frame_count() == before + 1; })) << text;
        json::object w = Parse(c->frames().back().text);
        EXPECT_EQ(TypeOf(w), "warning") << text;
        EXPECT_EQ(w.at("data").at("code").as_string(), code) << text;
        EXPECT_TRUE(w.at("data").at("message").is_string()) << text;
    }
    EXPECT_TRUE(c->is_open());
    EXPECT_EQ(CountType(c->frames(), "error"), 0u);
    EXPECT_EQ(handler_->Stats().subscriptions, 0u);
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, UnsubscribeStopsDelivery) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    PublishRange("d1", 1, 1);
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 1; }));
    SendText(c, R"({"type":"unsubscribe","debate_id":"d1"})");
    RunFor(5ms);
    PublishRange("d1", 2, 3);
    RunFor(30ms);
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 1));
    EXPECT_EQ(hub_->Stats().subscriptions, 0u);
    EXPECT_EQ(handler_->Stats().subscriptions, 0u);
    EXPECT_TRUE(c->is_open());
}

TEST_F(DebateStreamHandlerTest, SeveralSubscriptionsPerConnectionAndABound) {
    DebateStreamOptions o = DefaultOptions();
    o.max_subscriptions = 2;
    Start(o);
    PublishRange("a", 1, 2);
    PublishRange("b", 1, 3);
    PublishRange("c", 1, 1);
    auto c = Open("/ws?debate_id=a");
    SendText(c, R"({"type":"subscribe","debate_id":"b","replay_from_seq":1})");
    SendText(c, R"({"type":"subscribe","debate_id":"c"})");
    SendText(c, R"({"type":"subscribe","debate_id":"a"})");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "a") && HasReplayEnd(c, "b"); }));
    RunFor(5ms);
    EXPECT_EQ(EventSeqs(c->frames(), "a"), Range(1, 2));
    EXPECT_EQ(EventSeqs(c->frames(), "b"), Range(2, 3));
    EXPECT_TRUE(EventSeqs(c->frames(), "c").empty());
    EXPECT_EQ(FindFrame(c->frames(), "warning", "c").at("data").at("code").as_string(),
              "too_many_subscriptions");
    EXPECT_EQ(FindFrame(c->frames(), "warning", "a").at("data").at("code").as_string(),
              "already_subscribed");
    EXPECT_EQ(CountType(c->frames(), "replay_start"), 2u);

    PublishRange("b", 4, 4);
    PublishRange("a", 3, 3);
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "a").size() == 3; }));
    EXPECT_EQ(EventSeqs(c->frames(), "b"), Range(2, 4));
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, DebateEndIsWrittenAtLeast20msAfterThePreviousFrame) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    Publish(MakeEvent("d1", 1));
    Publish(MakeEvent("d1", 2, "debate_end"));
    SendText(c, R"({"type":"ping"})");  // must wait behind debate_end
    ASSERT_TRUE(RunUntil([&] { return CountType(c->frames(), "pong") == 1; }));
    const auto frames = c->frames();
    const auto types = Types(frames);
    const auto end_at = static_cast<std::size_t>(
        std::find(types.begin(), types.end(), "debate_end") - types.begin());
    ASSERT_LT(end_at, types.size());
    ASSERT_GE(end_at, 1u);
    EXPECT_EQ(types[end_at - 1], "agent_message");
    EXPECT_EQ(types.back(), "pong");
    EXPECT_GE(frames[end_at].at - frames[end_at - 1].at, 20ms);
    EXPECT_TRUE(c->is_open());  // the subscription ended; the connection did not
    EXPECT_EQ(handler_->Stats().debate_end_frames, 1u);
    EXPECT_GE(handler_->Stats().debate_end_delays, 1u);
    CheckShapes(frames);
}

// Frames queued while a write is in flight go out together in the next write (one socket
// write in net): in order, at most 32 per write, and a debate_end alone in its own write.
TEST_F(DebateStreamHandlerTest, QueuedFramesShareOneWriteAndDebateEndGoesAlone) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    const std::size_t writes_before = c->batch_sizes().size();
    // Published while the io_context does not run: all 70 wait in the connection's queue.
    PublishRange("d1", 1, 70);
    Publish(MakeEvent("d1", 71, "debate_end"));
    ASSERT_TRUE(RunUntil([&] { return handler_->Stats().debate_end_frames == 1; }));
    const auto frames = c->frames();
    EXPECT_EQ(EventSeqs(frames, "d1"), Range(1, 71));
    const auto sizes = c->batch_sizes();
    EXPECT_EQ(std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(writes_before),
                                       sizes.end()),
              (std::vector<std::size_t>{32, 32, 6, 1}));
    EXPECT_EQ(Types(frames).back(), "debate_end");
    EXPECT_EQ(handler_->Stats().frames_sent, frames.size());
    EXPECT_EQ(handler_->Stats().live_events_sent, 71u);
    EXPECT_FALSE(c->overlapping_writes());
    CheckShapes(frames);
}

TEST_F(DebateStreamHandlerTest, APublishedBatchIsOneWakeUpAndOneWrite) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    // Events published one at a time, the connection's strand running between them: one
    // write each.
    std::size_t writes = c->batch_sizes().size();
    for (std::int64_t s = 1; s <= 2; ++s) {
        Publish(MakeEvent("d1", s));
        ASSERT_TRUE(RunUntil(
            [&] { return EventSeqs(c->frames(), "d1").size() == static_cast<std::size_t>(s); }));
    }
    auto sizes = c->batch_sizes();
    EXPECT_EQ(
        std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(writes), sizes.end()),
        (std::vector<std::size_t>{1, 1}));
    // A group commit's batch: delivered as one unit, written with one WriteMany, even
    // though the strand may run while it is delivered.
    writes = sizes.size();
    std::vector<events::Event> batch;
    for (std::int64_t s = 3; s <= 7; ++s) {
        batch.push_back(MakeEvent("d1", s));
        store_->Append(batch.back());
    }
    std::thread io([&] { RunFor(50ms); });  // the strand runs during the delivery
    hub_->PublishBatch(batch);
    io.join();
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 7; }));
    sizes = c->batch_sizes();
    EXPECT_EQ(
        std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(writes), sizes.end()),
        (std::vector<std::size_t>{5}));
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 7));
    EXPECT_EQ(handler_->Stats().live_events_sent, 7u);
    EXPECT_FALSE(c->overlapping_writes());
    CheckShapes(c->frames());
}

// A live batch that finds the writer asleep goes out where it is delivered, with one
// TryWriteNow (no wake-up of the writer); a debate_end still waits for its gap in the
// writer, and a connection that cannot take a write at once gets its frames from the
// writer, in one write.
TEST_F(DebateStreamHandlerTest, LiveBatchToAnIdleWriterIsWrittenWhereItIsDelivered) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    auto busy = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1") && HasReplayEnd(busy, "d1"); }));
    Poll();  // both writers asleep
    busy->RefuseDirect();
    const std::size_t writes = c->batch_sizes().size();
    const std::size_t busy_writes = busy->batch_sizes().size();
    std::vector<events::Event> batch;
    for (std::int64_t s = 1; s <= 3; ++s) {
        batch.push_back(MakeEvent("d1", s));
        store_->Append(batch.back());
    }
    hub_->PublishBatch(batch);
    Poll();  // the delivery's one handler run per connection
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 3));
    EXPECT_EQ(c->direct_batches(), 1u);
    auto sizes = c->batch_sizes();
    EXPECT_EQ(
        std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(writes), sizes.end()),
        (std::vector<std::size_t>{3}));
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(busy->frames(), "d1").size() == 3; }));
    EXPECT_EQ(EventSeqs(busy->frames(), "d1"), Range(1, 3));
    EXPECT_EQ(busy->direct_batches(), 0u);
    sizes = busy->batch_sizes();
    EXPECT_EQ(std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(busy_writes),
                                       sizes.end()),
              (std::vector<std::size_t>{3}));
    EXPECT_EQ(handler_->Stats().direct_writes, 1u);
    EXPECT_EQ(handler_->Stats().live_events_sent, 6u);

    const auto before_end = c->frames().back().at;
    Publish(MakeEvent("d1", 4, "debate_end"));
    ASSERT_TRUE(RunUntil([&] { return handler_->Stats().debate_end_frames == 2; }));
    EXPECT_EQ(c->direct_batches(), 1u);
    EXPECT_GE(c->frames().back().at - before_end, 20ms);
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 4));
    EXPECT_FALSE(c->overlapping_writes());
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, ReplayedDebateEndIsSpacedToo) {
    Start();
    PublishRange("d1", 1, 2);
    Publish(MakeEvent("d1", 3, "debate_end"));
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    const auto frames = c->frames();
    const auto types = Types(frames);
    EXPECT_EQ(types, (std::vector<std::string>{"connection_info", "replay_start", "agent_message",
                                               "agent_message", "debate_end", "replay_end"}));
    EXPECT_GE(frames[4].at - frames[3].at, 20ms);
    EXPECT_TRUE(c->is_open());
}

TEST_F(DebateStreamHandlerTest, HeartbeatCarriesServerTimeAndActiveDebates) {
    DebateStreamOptions o = DefaultOptions();
    o.heartbeat_interval = 20ms;
    o.active_debates = [] { return std::size_t{7}; };
    Start(o);
    auto c = Open();
    ASSERT_TRUE(RunUntil([&] { return CountType(c->frames(), "heartbeat") >= 2; }));
    json::object hb = FindFrame(c->frames(), "heartbeat");
    EXPECT_TRUE(hb.at("data").at("server_time").is_double());
    EXPECT_EQ(hb.at("data").at("active_debates").to_number<std::int64_t>(), 7);
    CheckShapes(c->frames());
}

// Replay events enter the queue only as it drains: a replay far longer than the queue
// bound goes through without a slow-consumer close.
TEST_F(DebateStreamHandlerTest, LongReplayFlowsThroughASmallQueue) {
    DebateStreamOptions o = DefaultOptions();
    o.max_queued_frames = 8;
    Start(o, FakeStore::Mode::kSync, /*page_size=*/100, /*buffer=*/300);
    PublishRange("d1", 1, 1000);  // 1..700 from the store in pages, 701..1000 buffered
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1") || !c->is_open(); }));
    EXPECT_TRUE(c->is_open());
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(1, 1000));
    EXPECT_EQ(handler_->Stats().slow_closes, 0u);
    EXPECT_FALSE(c->overlapping_writes());
}

// Fan-out shares the frame: every subscriber's writer writes the one sealed envelope the
// hub holds, not a copy.
TEST_F(DebateStreamHandlerTest, SubscribersWriteTheSameFrameObject) {
    Start();
    store_->Create("d1");
    std::vector<std::shared_ptr<FakeWsConnection>> conns;
    for (int i = 0; i < 5; ++i) conns.push_back(Open("/ws?debate_id=d1"));
    ASSERT_TRUE(RunUntil([&] {
        return std::all_of(conns.begin(), conns.end(),
                           [&](const auto& c) { return HasReplayEnd(c, "d1"); });
    }));
    PublishRange("d1", 1, 3);
    ASSERT_TRUE(RunUntil([&] {
        return std::all_of(conns.begin(), conns.end(),
                           [&](const auto& c) { return EventSeqs(c->frames(), "d1").size() == 3; });
    }));
    const auto buffered = hub_->Buffered("d1", 0, 10);
    ASSERT_EQ(buffered.size(), 3u);
    for (const auto& c : conns) {
        std::vector<const std::string*> objects;
        for (const auto& f : c->frames()) {
            if (TypeOf(Parse(f.text)) == "agent_message") objects.push_back(f.object.get());
        }
        ASSERT_EQ(objects.size(), 3u);
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(objects[i], buffered[i].envelope.get()) << "event " << i + 1;
        }
    }
    // A replayed subscriber shares the hub's buffered frames too.
    auto late = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(late, "d1"); }));
    std::vector<const std::string*> replayed;
    for (const auto& f : late->frames()) {
        if (TypeOf(Parse(f.text)) == "agent_message") replayed.push_back(f.object.get());
    }
    ASSERT_EQ(replayed.size(), 3u);
    EXPECT_EQ(replayed[0], buffered[0].envelope.get());
}

// A reader that stops reading fills its connection's one queue and is closed 1008; the
// other subscribers of the same debate get every event.
TEST_F(DebateStreamHandlerTest, SlowReaderIsClosed1008WhileOthersContinue) {
    DebateStreamOptions o = DefaultOptions();
    o.max_queued_frames = 16;
    Start(o);
    store_->Create("d1");
    auto slow = Open("/ws?debate_id=d1");
    auto fast = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(slow, "d1") && HasReplayEnd(fast, "d1"); }));
    slow->Stall();
    for (std::int64_t s = 1; s <= 100; ++s) {
        Publish(MakeEvent("d1", s));
        RunFor(1ms);
    }
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(fast->frames(), "d1").size() == 100; }));
    EXPECT_EQ(EventSeqs(fast->frames(), "d1"), Range(1, 100));
    EXPECT_TRUE(fast->is_open());
    EXPECT_EQ(slow->close_code(), 1008);
    EXPECT_FALSE(slow->is_open());
    EXPECT_TRUE(EventSeqs(slow->frames(), "d1").empty());
    EXPECT_EQ(handler_->Stats().slow_closes, 1u);
    // The slow connection's subscription stays until net reports the close.
    EndConnection(slow);
    EXPECT_EQ(hub_->Stats().subscriptions, 1u);
}

// The control for the test above: the same stream to a reader that keeps up, through the
// same small queue, is never closed.
TEST_F(DebateStreamHandlerTest, ReaderThatKeepsUpIsNotClosedBySmallQueue) {
    DebateStreamOptions o = DefaultOptions();
    o.max_queued_frames = 16;
    Start(o);
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    for (std::int64_t s = 1; s <= 100; ++s) {
        Publish(MakeEvent("d1", s));
        RunFor(1ms);
    }
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 100; }));
    EXPECT_TRUE(c->is_open());
    EXPECT_EQ(handler_->Stats().slow_closes, 0u);
}

// Live events that arrive while a subscription replays from the store wait behind
// replay_end; those the replay already carried are not sent twice.
TEST_F(DebateStreamHandlerTest, ReplayThenLiveHasNoGapAndNoDuplicate) {
    Start(DefaultOptions(), FakeStore::Mode::kDeferred, /*page_size=*/4, /*buffer=*/3);
    PublishRange("d1", 1, 10);  // the hub keeps 8..10; 1..7 come from the store
    auto c = Open("/ws?debate_id=d1&replay_from_seq=2");
    RunFor(2ms);
    for (std::int64_t s = 11; s <= 14; ++s) {
        Publish(MakeEvent("d1", s));  // live while the store pages load
        ASSERT_LE(store_->ReleaseDeferred(), 1u);
        RunFor(2ms);
    }
    ASSERT_TRUE(RunUntil([&] {
        store_->ReleaseDeferred();
        return EventSeqs(c->frames(), "d1").size() >= 12;
    }));
    Publish(MakeEvent("d1", 15, "debate_end"));
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() >= 13; }));
    RunFor(5ms);
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(3, 15));
    const auto types = Types(c->frames());
    const auto end_at = std::find(types.begin(), types.end(), "replay_end") - types.begin();
    EXPECT_EQ(end_at, 1 + 1 + 8);  // connection_info, replay_start, 3..10
    EXPECT_EQ(FindFrame(c->frames(), "replay_end").at("data").at("latest_seq").as_int64(), 10);
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, OversizedEventIsTruncatedToOneFrameUnderTheLimit) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    std::string content;
    while (content.size() < 2 * 1024 * 1024) content += "caf\xC3\xA9 ";  // multi-byte UTF-8
    events::Event e = MakeEvent("d1", 1);
    e.data_json = json::serialize(
        json::object{{"debate_id", "d1"}, {"agent", "demo:critic"}, {"content", content}});
    Publish(e);
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 1; }));
    const std::string text = c->frames().back().text;
    EXPECT_LE(text.size(), 1024u * 1024u);
    EXPECT_GT(text.size(), 1000u * 1024u);  // cut to fit, not emptied
    json::object o = Parse(text);           // valid JSON, hence valid UTF-8
    const json::object& data = o.at("data").as_object();
    EXPECT_EQ(data.at("truncated"), json::value(true));
    EXPECT_EQ(data.at("agent").as_string(), "demo:critic");
    const std::string cut(data.at("content").as_string());
    EXPECT_LT(cut.size(), content.size());
    EXPECT_EQ(content.compare(0, cut.size(), cut), 0);
    EXPECT_EQ(o.at("seq").as_int64(), 1);
    EXPECT_EQ(handler_->Stats().frames_truncated, 1u);
    CheckShapes(c->frames());
}

TEST_F(DebateStreamHandlerTest, UnauthenticatedConnectionGetsAuthRequiredPerSubscription) {
    DebateStreamOptions o = DefaultOptions();
    o.authenticate = [](const net::HttpRequest& req) {
        return req.QueryParam("token").value_or("") == "good";
    };
    Start(o);
    PublishRange("d1", 1, 1);
    auto bad = Open("/ws?debate_id=d1");
    auto good = Open("/ws?debate_id=d1&token=good");
    ASSERT_TRUE(RunUntil(
        [&] { return !FindFrame(bad->frames(), "error").empty() && HasReplayEnd(good, "d1"); }));
    EXPECT_EQ(FindFrame(bad->frames(), "connection_info").at("data").at("authenticated"),
              json::value(false));
    json::object err = FindFrame(bad->frames(), "error");
    EXPECT_EQ(err.at("data").at("code").as_string(), "auth_required");
    EXPECT_EQ(err.at("debate_id").as_string(), "d1");
    EXPECT_TRUE(EventSeqs(bad->frames(), "d1").empty());
    EXPECT_TRUE(bad->is_open());
    EXPECT_EQ(FindFrame(good->frames(), "connection_info").at("data").at("authenticated"),
              json::value(true));
}

TEST_F(DebateStreamHandlerTest, AsyncAuthHoldsMessagesUntilItAnswers) {
    DebateStreamOptions o = DefaultOptions();
    std::function<void(bool)> pending;
    o.authenticate_async = [&](const net::HttpRequest&, std::function<void(bool)> done) {
        pending = std::move(done);
    };
    Start(o);
    auto c = Open("/ws");
    SendText(c, R"({"type":"ping"})");
    RunFor(5ms);
    EXPECT_EQ(c->frame_count(), 0u);  // nothing before the authenticator answers
    ASSERT_TRUE(pending);
    pending(true);
    ASSERT_TRUE(RunUntil([&] { return !FindFrame(c->frames(), "pong").empty(); }));
    auto frames = c->frames();
    EXPECT_EQ(TypeOf(Parse(frames[0].text)), "connection_info");
    EXPECT_EQ(Parse(frames[0].text).at("data").at("authenticated"), json::value(true));
}

TEST_F(DebateStreamHandlerTest, ForeignOriginAndRefusedAdmissionAreClosed1008) {
    DebateStreamOptions o = DefaultOptions();
    o.origin_allowed = [](std::string_view origin) { return origin == "https://ok.example"; };
    int admitted = 0;
    o.admit = [&](const net::HttpRequest&) { return ++admitted <= 2; };
    Start(o);
    auto make = [&](const char* origin) {
        auto c = std::make_shared<FakeWsConnection>(next_id_++, "/ws", ioc_);
        if (origin) {
            auto& req = const_cast<net::HttpRequest&>(c->upgrade_request());
            req.headers.emplace_back("origin", origin);
        }
        Serve(c);
        return c;
    };
    auto foreign = make("https://evil.example");
    EXPECT_EQ(foreign->close_code(), 1008);
    auto ok = make("https://ok.example");
    auto no_origin = make(nullptr);
    auto third = make(nullptr);
    RunFor(5ms);
    EXPECT_TRUE(ok->is_open());
    EXPECT_TRUE(no_origin->is_open());
    EXPECT_EQ(third->close_code(), 1008);  // the admission limit
    EXPECT_EQ(handler_->Stats().refused_origin, 1u);
    EXPECT_EQ(handler_->Stats().refused_rate, 1u);
}

TEST_F(DebateStreamHandlerTest, MessageFloodGetsARateLimitedWarning) {
    DebateStreamOptions o = DefaultOptions();
    o.messages_per_second = 5;  // burst 10
    Start(o);
    auto c = Open("/ws");
    RunFor(2ms);
    for (int i = 0; i < 30; ++i) SendText(c, R"({"type":"ping"})");
    RunFor(5ms);
    std::size_t pongs = 0;
    bool warned = false;
    for (const auto& f : c->frames()) {
        json::object fo = Parse(f.text);
        if (TypeOf(fo) == "pong") ++pongs;
        if (TypeOf(fo) == "warning" && fo.at("data").at("code") == "rate_limited") warned = true;
    }
    EXPECT_LE(pongs, 11u);
    EXPECT_GE(pongs, 9u);
    EXPECT_TRUE(warned);
    EXPECT_TRUE(c->is_open());
    EXPECT_GE(handler_->Stats().messages_rate_limited, 19u);
}

TEST_F(DebateStreamHandlerTest, StoreFailureIsAWarningAndTheReplayGoesOn) {
    Start(DefaultOptions(), FakeStore::Mode::kSync, 1000, /*buffer=*/3);
    PublishRange("d1", 1, 6);  // the hub keeps 4..6
    store_->FailNext(common::ErrorCode::kUnavailable);
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    EXPECT_EQ(FindFrame(c->frames(), "warning", "d1").at("data").at("code").as_string(),
              "replay_incomplete");
    EXPECT_EQ(EventSeqs(c->frames(), "d1"), Range(4, 6));
    EXPECT_EQ(handler_->Stats().replay_failures, 1u);
    EXPECT_EQ(CountType(c->frames(), "error"), 0u);
    Publish(MakeEvent("d1", 7));
    ASSERT_TRUE(RunUntil([&] { return EventSeqs(c->frames(), "d1").size() == 4; }));
}

TEST_F(DebateStreamHandlerTest, CloseUnsubscribesEverythingAndStopsSending) {
    DebateStreamOptions o = DefaultOptions();
    o.heartbeat_interval = 10ms;
    Start(o);
    PublishRange("d1", 1, 1);
    PublishRange("d2", 1, 1);
    auto c = Open("/ws?debate_id=d1");
    SendText(c, R"({"type":"subscribe","debate_id":"d2"})");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1") && HasReplayEnd(c, "d2"); }));
    EXPECT_EQ(hub_->Stats().subscriptions, 2u);
    EXPECT_EQ(handler_->Stats().connections, 1u);
    c->Close(1000, "bye");  // net ends the reads once the socket is closed
    EndConnection(c);
    EXPECT_EQ(hub_->Stats().subscriptions, 0u);
    EXPECT_EQ(handler_->Stats().subscriptions, 0u);
    EXPECT_EQ(handler_->Stats().connections, 0u);
    const std::size_t before = c->frame_count();
    PublishRange("d1", 2, 2);
    RunFor(40ms);  // no heartbeat either
    EXPECT_EQ(c->frame_count(), before);
    EXPECT_EQ(c.use_count(), 1);  // the handler released its reference
}

TEST_F(DebateStreamHandlerTest, BrokenConnectionStopsTheWriterWithoutClosingAgain) {
    Start();
    store_->Create("d1");
    auto c = Open("/ws?debate_id=d1");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    c->BreakConnection();
    PublishRange("d1", 1, 3);
    RunFor(5ms);
    EXPECT_EQ(handler_->Stats().send_failures, 1u);  // then the writer stopped
    EndConnection(c);
    EXPECT_EQ(hub_->Stats().subscriptions, 0u);
}

TEST_F(DebateStreamHandlerTest, StatsJsonHasTheCounters) {
    Start();
    PublishRange("d1", 1, 2);
    auto c = Open("/ws?debate_id=d1");
    SendText(c, "nope");
    ASSERT_TRUE(RunUntil([&] { return HasReplayEnd(c, "d1"); }));
    json::object o = Parse(handler_->StatsJson());
    EXPECT_EQ(o.at("connections").to_number<int>(), 1);
    EXPECT_EQ(o.at("subscriptions").to_number<int>(), 1);
    EXPECT_EQ(o.at("messages_received").to_number<int>(), 1);
    EXPECT_EQ(o.at("warnings").to_number<int>(), 1);
    EXPECT_EQ(o.at("replays_served").to_number<int>(), 1);
    EXPECT_EQ(o.at("replay_events_from_buffer").to_number<int>(), 2);
    EXPECT_EQ(o.at("frames_by_type").at("event").to_number<int>(), 2);
    EXPECT_EQ(o.at("messages_sent").to_number<std::size_t>(), c->frame_count());
}

// Many connections subscribing at random points (random replay_from_seq) while a
// publisher thread streams a debate, the io_context on two threads and the store on a
// pool: every connection sees exactly from_seq + 1 .. last, in order.
TEST_F(DebateStreamHandlerTest, ConcurrentPublisherAndSubscribersSeeGapFreeStreams) {
    constexpr std::int64_t kEvents = 3000;
    DebateStreamOptions o = DefaultOptions();
    o.debate_end_gap = 1ms;
    Start(o, FakeStore::Mode::kPool, /*page_size=*/37, /*buffer=*/100);
    store_->Create("d1");

    auto guard = asio::make_work_guard(ioc_);
    std::vector<std::thread> io;
    for (int i = 0; i < 2; ++i) io.emplace_back([this] { ioc_.run(); });

    std::atomic<std::int64_t> published{0};
    std::thread publisher([&] {
        for (std::int64_t s = 1; s <= kEvents; ++s) {
            Publish(MakeEvent("d1", s, s == kEvents ? "debate_end" : "token_delta"));
            published.store(s);
            if (s % 16 == 0) std::this_thread::sleep_for(50us);
        }
    });

    struct Client {
        std::shared_ptr<FakeWsConnection> conn;
        std::int64_t from = 0;
    };
    std::vector<Client> clients;
    std::mt19937 rng(7);
    for (int i = 0; i < 40; ++i) {
        const std::int64_t point = std::uniform_int_distribution<std::int64_t>(0, kEvents)(rng);
        while (published.load() < point) std::this_thread::sleep_for(50us);
        Client cl;
        const std::int64_t now = published.load();
        cl.from = i % 4 == 0 ? 0 : std::uniform_int_distribution<std::int64_t>(0, now)(rng);
        const std::string target = "/ws?debate_id=d1&replay_from_seq=" + std::to_string(cl.from);
        cl.conn = std::make_shared<FakeWsConnection>(next_id_++, target, ioc_);
        asio::co_spawn(cl.conn->executor(), handler_->Serve(cl.conn), asio::detached);
        clients.push_back(std::move(cl));
    }
    publisher.join();

    // Generous: under ThreadSanitizer the 40 streams take ~25 s.
    const auto deadline = SteadyClock::now() + 90s;
    for (const auto& cl : clients) {
        while (SteadyClock::now() < deadline) {
            auto seqs = EventSeqs(cl.conn->frames(), "d1");
            if ((!seqs.empty() && seqs.back() == kEvents) || !cl.conn->is_open()) break;
            std::this_thread::sleep_for(5ms);
        }
    }
    guard.reset();
    for (const auto& cl : clients) {
        cl.conn->EndReads();
    }
    ioc_.stop();
    for (auto& t : io) t.join();

    // The interleavings the test is about did happen: store pages, buffer, live.
    const DebateStreamStats stats = handler_->Stats();
    EXPECT_GT(stats.replay_events_from_store, 0u);
    EXPECT_GT(stats.replay_events_from_buffer, 0u);
    EXPECT_GT(stats.live_events_sent, 0u);
    for (const auto& cl : clients) {
        EXPECT_TRUE(cl.conn->is_open());
        EXPECT_FALSE(cl.conn->overlapping_writes());
        const auto frames = cl.conn->frames();
        const auto seqs = EventSeqs(frames, "d1");
        std::size_t first_bad = 0;
        while (first_bad < seqs.size() && seqs[first_bad] == cl.from + 1 + std::int64_t(first_bad))
            ++first_bad;
        ASSERT_EQ(seqs, Range(cl.from + 1, kEvents))
            << "from " << cl.from << ": " << seqs.size() << " events, first wrong at index "
            << first_bad << " (" << (first_bad < seqs.size() ? seqs[first_bad] : -1) << ")"
            << ", open " << cl.conn->is_open() << ", close code " << cl.conn->close_code();
        EXPECT_EQ(CountType(frames, "replay_start"), 1u);
        EXPECT_EQ(CountType(frames, "replay_end"), 1u);
        CheckShapes(frames);
    }
}

}  // namespace
}  // namespace aragora::api
