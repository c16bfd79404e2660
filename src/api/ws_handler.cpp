#include "api/ws_handler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "api/ws_messages.hpp"
#include "common/ids.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"
#include "common/time.hpp"

namespace aragora::api {
namespace {

constexpr std::size_t kMaxEarlyMessages = 16;
// Frames and bytes handed to one WsConnection::WriteMany (one socket write): 32 frames are
// 64 buffers, what one sendmsg of Asio takes.
constexpr std::size_t kMaxBatchFrames = 32;
constexpr std::size_t kMaxBatchBytes = 256 * 1024;
constexpr std::uint64_t kMaxDroppedMessages = 500;

namespace asio = boost::asio;
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::int64_t kNoUpperBound = std::numeric_limits<std::int64_t>::max();
// Client text quoted back in warnings is cut to this many bytes.
constexpr std::size_t kMaxEchoBytes = 64;

enum class FrameType {
    kConnectionInfo,
    kReplayStart,
    kReplayEnd,
    kEvent,
    kDebateEnd,
    kHeartbeat,
    kPong,
    kWarning,
    kError,  // the last (Count sizes its tally by it)
};

using FrameText = std::shared_ptr<const std::string>;

// One frame in a connection's queue. An event frame's text is the event's sealed
// envelope, the same object in every subscriber's queue.
struct OutFrame {
    FrameText text;
    FrameType type = FrameType::kEvent;
    std::uint64_t sub = 0;  // serial of the subscription it belongs to (0: none)
    bool live = false;      // an event sent live (not replayed)
    bool delay_counted = false;
};

// One event waiting in a subscription (replay backlog or held back behind the replay).
struct Item {
    std::int64_t seq = 0;
    FrameText envelope;
    bool debate_end = false;
    bool from_store = false;
};

Item ItemOf(const events::Event& e, bool from_store) {
    return Item{e.seq, events::SharedEnvelope(e), e.type == "debate_end", from_store};
}

// A FIFO on a vector: nothing allocated while empty (std::deque allocates a block on
// construction, which would count per subscription), the buffer kept for the next burst.
template <typename T>
class Fifo {
public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    T& front() { return items_[head_]; }
    T& operator[](std::size_t i) { return items_[head_ + i]; }
    void push_back(T v) { items_.push_back(std::move(v)); }
    T pop_front() {
        T v = std::move(items_[head_++]);
        if (empty()) {
            clear();
        } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
        return v;
    }
    void clear() {
        items_.clear();
        head_ = 0;
        if (items_.capacity() > 256) items_.shrink_to_fit();
    }
    template <typename Pred>
    void erase_if(Pred pred) {
        auto first = items_.begin() + static_cast<std::ptrdiff_t>(head_);
        items_.erase(std::remove_if(first, items_.end(), pred), items_.end());
        if (empty()) clear();
    }

private:
    std::vector<T> items_;
    std::size_t head_ = 0;
};

double NowEpoch() { return common::EpochSeconds(std::chrono::system_clock::now()); }

// websocket.log (the runbook's WebSocket log): connects, subscriptions, closes and their
// codes, one line each, as key=value facts.
spdlog::logger& WsLog() {
    static const auto logger = common::GetLogger("aragora.websocket");
    return *logger;
}

// Largest prefix length <= max that does not split a UTF-8 sequence.
std::size_t Utf8Prefix(std::string_view s, std::size_t max) {
    if (s.size() <= max) return s.size();
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return n;
}

std::string Echo(std::string_view s) {
    std::string out(s.substr(0, Utf8Prefix(s, kMaxEchoBytes)));
    if (out.size() < s.size()) out += "...";
    return out;
}

FrameText Text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

FrameText ControlFrame(std::string_view type, json::object data, std::string_view debate_id) {
    json::object o;
    o["type"] = type;
    o["data"] = std::move(data);
    o["timestamp"] = NowEpoch();
    if (!debate_id.empty()) o["debate_id"] = debate_id;
    return Text(common::SerializeJson(o));
}

OutFrame WarningFrame(std::string_view code, std::string_view message, std::string_view debate_id) {
    return {ControlFrame("warning", json::object{{"message", message}, {"code", code}}, debate_id),
            FrameType::kWarning};
}

OutFrame ErrorFrame(std::string_view code, std::string_view message, std::string_view debate_id) {
    return {ControlFrame("error",
                         json::object{{"code", code}, {"error", message}, {"message", message}},
                         debate_id),
            FrameType::kError};
}

void CollectStrings(json::value& v, std::vector<json::string*>& out) {
    if (v.is_string()) {
        out.push_back(&v.as_string());
    } else if (v.is_object()) {
        for (auto& kv : v.as_object()) CollectStrings(kv.value(), out);
    } else if (v.is_array()) {
        for (auto& item : v.as_array()) CollectStrings(item, out);
    }
}

// The envelope with `data` reduced to {debate_id, truncated}.
std::string MinimalEnvelope(const json::object& env, std::int64_t seq, std::string_view debate_id) {
    auto member = [&](const char* key, json::value fallback) {
        const json::value* v = env.if_contains(key);
        return v != nullptr ? *v : fallback;
    };
    json::object o{{"type", member("type", "")},
                   {"data", json::object{{"debate_id", debate_id}, {"truncated", true}}},
                   {"timestamp", member("timestamp", 0.0)},
                   {"round", member("round", 0)},
                   {"agent", ""},
                   {"seq", seq},
                   {"debate_id", debate_id},
                   {"loop_id", debate_id}};
    return common::SerializeJson(o);
}

// An envelope longer than max_bytes, cut to fit: the string members of `data` are cut to
// the longest common length that fits (found by bisection; rare, so the repeated
// serialization is acceptable) and `data.truncated` is set; when even empty strings do
// not fit, `data` becomes {debate_id, truncated}.
std::string FitEnvelope(const std::string& envelope, std::int64_t seq, std::string_view debate_id,
                        std::size_t max_bytes) {
    boost::system::error_code ec;
    json::value env = json::parse(envelope, ec);
    if (ec || !env.is_object()) return MinimalEnvelope(json::object{}, seq, debate_id);
    json::object& o = env.as_object();
    json::value& data = o["data"];
    std::string text;
    if (data.is_object()) {
        data.as_object()["truncated"] = true;
        std::vector<json::string*> strings;
        CollectStrings(data, strings);
        std::vector<std::string> originals;
        std::size_t longest = 0;
        for (auto* s : strings) {
            originals.emplace_back(s->data(), s->size());
            longest = std::max(longest, s->size());
        }
        auto fits = [&](std::size_t cap) {
            for (std::size_t i = 0; i < strings.size(); ++i) {
                const std::string& orig = originals[i];
                *strings[i] = std::string_view(orig).substr(0, Utf8Prefix(orig, cap));
            }
            text = common::SerializeJson(env);
            return text.size() <= max_bytes;
        };
        if (fits(0)) {
            std::size_t lo = 0, hi = longest;  // fits(lo), !fits(hi)
            while (hi - lo > 1) {
                const std::size_t mid = lo + (hi - lo) / 2;
                (fits(mid) ? lo : hi) = mid;
            }
            fits(lo);
            return text;
        }
    }
    return MinimalEnvelope(o, seq, debate_id);
}

}  // namespace

struct DebateStreamHandler::Core : std::enable_shared_from_this<DebateStreamHandler::Core> {
    enum class Phase { kReplaying, kLive, kGone };

    struct Conn;

    // One subscription of one connection, registered in the hub. Deliver runs on any
    // thread and touches only the connection's inbox; everything else is strand-only.
    struct Sub final : events::Subscriber, std::enable_shared_from_this<Sub> {
        Sub(std::weak_ptr<Conn> cn, std::string id, std::int64_t from, std::uint64_t n)
            : conn(std::move(cn)),
              debate_id(std::move(id)),
              from_seq(from),
              serial(n),
              last_sent_seq(from),
              store_next_since(from) {}

        void Deliver(const events::Event& event) override;
        // A published batch: one append run under the inbox's lock and one wake-up, so the
        // writer sends it with one WriteMany.
        void DeliverBatch(std::span<const events::Event* const> events) override;

        const std::weak_ptr<Conn> conn;
        const std::string debate_id;
        const std::int64_t from_seq;
        const std::uint64_t serial;  // unique within its connection

        std::uint64_t hub_id = 0;
        bool registered = false;
        Phase phase = Phase::kReplaying;
        // replay_start is queued: the backlog may go out. False while the handler still
        // learns from the store whether an unknown debate exists (and how many events).
        bool replay_started = false;
        bool probing = false;
        bool fetch_in_flight = false;
        bool store_done = true;
        std::int64_t last_sent_seq;
        std::int64_t store_next_since;  // last seq received from the store
        std::int64_t store_until = 0;   // exclusive
        std::int64_t latest_seq = 0;    // for replay_end
        std::int64_t replayed_count = 0;
        Fifo<Item> backlog;  // replay events ready to go, ascending
        // The hub's buffered events at the subscription, after the store part: a view of
        // the hub's storage (no copy per subscriber), read one event at a time.
        events::EventRange hub_tail;
        events::EventRange::Iterator hub_next;
        void DropHubTail() {
            hub_tail = {};
            hub_next = {};
        }
        Fifo<Item> live_pending;  // live events held back behind the replay
    };

    struct Inbound {
        std::shared_ptr<Sub> sub;
        Item item;
    };

    // One WebSocket connection. Everything but the inbox is strand-only.
    struct Conn {
        Conn(std::shared_ptr<net::WsConnection> w, std::weak_ptr<Core> c, std::size_t inbox_max)
            : core(std::move(c)),
              strand(w->executor()),
              id(w->id()),
              inbox_limit(inbox_max),
              wake(strand),
              ws(std::move(w)) {}

        const std::weak_ptr<Core> core;
        const asio::any_io_executor strand;
        const std::uint64_t id;
        const std::size_t inbox_limit;

        // Live events from the hub (any thread) waiting for the strand; one post per
        // burst (inbox_posted).
        std::mutex inbox_mu;
        std::vector<Inbound> inbox;
        bool inbox_posted = false;
        bool inbox_overflow = false;

        // Strand-only from here.
        asio::steady_timer wake;  // the writer's sleep; cancelled by Kick
        bool writer_waiting = false;
        bool hold_kicks = false;                // a live drain is under way: Flush decides after it
        std::shared_ptr<net::WsConnection> ws;  // released on close
        bool closing = false;                   // nothing more is sent
        bool gone = false;                      // OnClose ran: the writer ends
        bool authenticated = true;
        bool auth_pending = false;  // client messages wait in `early`
        std::vector<std::string> early;
        std::map<std::string, std::shared_ptr<Sub>> subs;  // by debate id
        std::uint64_t next_serial = 1;
        Fifo<OutFrame> out;  // the connection's one frame queue
        std::vector<Inbound> draining;
        SteadyClock::time_point last_send{};
        bool sent_any = false;
        SteadyClock::time_point next_heartbeat = SteadyClock::time_point::max();
        // Client message rate (options.messages_per_second).
        double msg_tokens = 0;
        SteadyClock::time_point msg_tokens_at{};
        std::uint64_t msgs_dropped = 0;
        SteadyClock::time_point opened_at{};
        std::uint64_t subscribed = 0;  // subscriptions made over the connection's life
    };

    struct Counters {
        std::atomic<std::uint64_t> connections{0}, connections_total{0}, subscriptions{0},
            subscriptions_total{0}, messages_received{0}, frames_sent{0}, connection_info_frames{0},
            replay_start_frames{0}, replay_end_frames{0}, event_frames{0}, debate_end_frames{0},
            heartbeat_frames{0}, pong_frames{0}, warning_frames{0}, error_frames{0},
            replays_served{0}, replay_events_from_store{0}, replay_events_from_buffer{0},
            live_events_sent{0}, replay_failures{0}, frames_truncated{0}, debate_end_delays{0},
            send_failures{0}, slow_closes{0}, refused_origin{0}, refused_rate{0},
            messages_rate_limited{0}, direct_writes{0};
    };

    Core(events::EventHub& h, ReplaySource r, DebateStreamOptions o)
        : hub(h), replay(std::move(r)), options(std::move(o)) {
        if (options.max_queued_frames == 0) options.max_queued_frames = 1;
        refill_below =
            std::max<std::size_t>(1, std::min<std::size_t>(64, options.max_queued_frames / 2));
    }

    // ---- connection lifecycle (strand) ----------------------------------------------

    // Admits a new connection and starts its writer; null when it is refused (closed).
    std::shared_ptr<Conn> Open(const std::shared_ptr<net::WsConnection>& ws) {
        const net::HttpRequest& upgrade = ws->upgrade_request();
        // Origin is checked only when sent (API.md: the SDK clients send none).
        if (options.origin_allowed && upgrade.HasHeader("origin") &&
            !options.origin_allowed(upgrade.Header("origin"))) {
            counters.refused_origin.fetch_add(1);
            WsLog().warn(
                "ws refused conn={} remote={} code=1008 reason=origin_not_allowed origin={}",
                ws->id(), upgrade.remote_address, Echo(upgrade.Header("origin")));
            ws->Close(1008, "origin not allowed");
            return nullptr;
        }
        if (options.admit && !options.admit(upgrade)) {
            counters.refused_rate.fetch_add(1);
            WsLog().warn("ws refused conn={} remote={} code=1008 reason=connection_rate", ws->id(),
                         upgrade.remote_address);
            ws->Close(1008, "too many connections from this address; retry later");
            return nullptr;
        }
        auto c = std::make_shared<Conn>(
            ws, weak_from_this(), options.max_pending_live_events + options.max_queued_frames);
        c->opened_at = SteadyClock::now();
        c->msg_tokens = 2 * options.messages_per_second;
        c->msg_tokens_at = c->opened_at;
        const bool deferred = static_cast<bool>(options.authenticate_async);
        if (!deferred) {
            c->authenticated = options.authenticate ? options.authenticate(upgrade) : true;
        } else {
            c->authenticated = false;
            c->auth_pending = true;
        }
        {
            std::lock_guard lock(conns_mu);
            if (stopped) return nullptr;
            conns[c->id] = c;
        }
        counters.connections.fetch_add(1);
        counters.connections_total.fetch_add(1);
        asio::co_spawn(c->strand, Writer(shared_from_this(), c),
                       [id = c->id](std::exception_ptr e) {
                           if (!e) return;
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               WsLog().error("ws writer failed conn={} error={}", id, ex.what());
                           }
                       });
        if (!deferred) {
            Start(c);
            return c;
        }
        std::weak_ptr<Conn> weak = c;
        std::weak_ptr<Core> weak_core = weak_from_this();
        options.authenticate_async(upgrade, [weak, weak_core](bool ok) {
            auto conn = weak.lock();
            if (!conn) return;
            asio::post(conn->strand, [conn, weak_core, ok] {
                if (auto core = weak_core.lock()) core->Authenticated(conn, ok);
            });
        });
        return c;
    }

    void Authenticated(const std::shared_ptr<Conn>& c, bool ok) {
        if (c->closing || c->gone) return;
        c->authenticated = ok;
        c->auth_pending = false;
        std::vector<std::string> early;
        early.swap(c->early);
        Start(c);
        for (const std::string& text : early) {
            if (c->gone) return;
            Handle(c, text);
        }
    }

    // connection_info, the heartbeat, and the URL's subscription: once authenticated
    // (or refused: the connection stays open, its subscriptions get auth_required).
    void Start(const std::shared_ptr<Conn>& c) {
        if (c->closing || !c->ws) return;
        Push(*c, {ControlFrame("connection_info",
                               json::object{{"client_id", common::NewId("ws_")},
                                            {"authenticated", c->authenticated}},
                               {}),
                  FrameType::kConnectionInfo});
        if (options.heartbeat_interval > std::chrono::milliseconds::zero()) {
            c->next_heartbeat = SteadyClock::now() + options.heartbeat_interval;
        }
        const net::HttpRequest& req = c->ws->upgrade_request();
        WsLog().info("ws connected conn={} remote={} path={} authenticated={}", c->id,
                     req.remote_address, req.path, c->authenticated);
        std::optional<std::string> id = req.QueryParam("debate_id");
        if (!id) id = req.QueryParam("loop_id");
        if (!id) return;
        std::optional<std::int64_t> from = 0;
        if (auto text = req.QueryParam("replay_from_seq")) from = ParseSeqText(*text);
        Subscribe(c, *id, from);
    }

    void Message(const std::shared_ptr<Conn>& c, const std::string& text) {
        counters.messages_received.fetch_add(1);
        if (c->gone) return;
        if (c->auth_pending) {
            if (c->early.size() < kMaxEarlyMessages) c->early.push_back(text);
            return;
        }
        // Client message rate: a token bucket of messages_per_second, burst 2x.
        if (options.messages_per_second > 0) {
            const auto now = SteadyClock::now();
            const double rate = options.messages_per_second;
            c->msg_tokens = std::min(
                2 * rate, c->msg_tokens +
                              std::chrono::duration<double>(now - c->msg_tokens_at).count() * rate);
            c->msg_tokens_at = now;
            if (c->msg_tokens < 1) {
                ++c->msgs_dropped;
                counters.messages_rate_limited.fetch_add(1);
                // Warn on the first drop of a burst; close a client that keeps going.
                if (c->msgs_dropped > kMaxDroppedMessages) {
                    WsLog().warn(
                        "ws close conn={} code=1008 reason=message_rate messages_dropped={}", c->id,
                        kMaxDroppedMessages + 1);
                    if (c->ws) c->ws->Close(1008, "message rate limit exceeded");
                    return;
                }
                if (c->msgs_dropped == 1 || c->msgs_dropped % 50 == 0) {
                    Push(*c, WarningFrame(
                                 "rate_limited",
                                 "too many messages: at most " +
                                     std::to_string(static_cast<int>(options.messages_per_second)) +
                                     " per second; extra messages are dropped",
                                 {}));
                }
                return;
            }
            c->msg_tokens -= 1;
        }
        Handle(c, text);
    }

    void Handle(const std::shared_ptr<Conn>& c, const std::string& text) {
        // Live events delivered before this message go out before its answer.
        DrainInbox(c);
        const ClientMessage m = DecodeClientMessage(text);
        switch (m.kind) {
            case ClientMessage::Kind::kInvalidJson:
                Push(*c, WarningFrame("invalid_json", "message is not a JSON object", {}));
                break;
            case ClientMessage::Kind::kInvalidMessage:
                Push(*c, WarningFrame("invalid_message", "message has no string \"type\"", {}));
                break;
            case ClientMessage::Kind::kPing: {
                const double now = NowEpoch();
                json::object frame{{"type", "pong"},
                                   {"data", json::object{{"server_ts", now}}},
                                   {"timestamp", now}};
                Push(*c, {Text(common::SerializeJson(frame)), FrameType::kPong});
                break;
            }
            case ClientMessage::Kind::kPong:
                // A client answering our heartbeat: nothing to do.
                break;
            case ClientMessage::Kind::kSubscribe:
                Subscribe(c, m.debate_id, m.replay_from_seq);
                break;
            case ClientMessage::Kind::kUnsubscribe:
                Unsubscribe(*c, m.debate_id);
                break;
            case ClientMessage::Kind::kUnknownType:
                Push(*c, WarningFrame("unknown_type",
                                      "unknown message type \"" + Echo(m.type) +
                                          "\" (expected subscribe, unsubscribe or ping)",
                                      {}));
                break;
        }
    }

    void Closed(const std::shared_ptr<Conn>& c, const net::WsConnection& ws) {
        {
            std::lock_guard lock(conns_mu);
            conns.erase(c->id);
        }
        LogClosed(ws, c.get());
        Release(*c);
    }

    // One line per ended connection; a policy close (1008) or an internal error (1011)
    // is a warning.
    void LogClosed(const net::WsConnection& ws, const Conn* c) {
        const net::WsConnection::CloseCodes codes = ws.close_codes();
        std::int64_t duration_ms = 0;
        std::size_t subscriptions = 0;
        std::uint64_t subscribed = 0;
        if (c != nullptr) {
            duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() -
                                                                                c->opened_at)
                              .count();
            subscriptions = c->subs.size();
            subscribed = c->subscribed;
        }
        const auto level =
            codes.sent == 1008 || codes.sent == 1011 ? spdlog::level::warn : spdlog::level::info;
        WsLog().log(level,
                    "ws closed conn={} remote={} code={} peer_code={} duration_ms={} "
                    "subscriptions={} subscribed_total={}",
                    ws.id(), ws.upgrade_request().remote_address, codes.sent, codes.received,
                    duration_ms, subscriptions, subscribed);
    }

    // Drops a connection's state: subscriptions leave the hub, the writer ends, the
    // WsConnection reference is released.
    void Release(Conn& c) {
        if (c.gone) return;
        c.gone = true;
        c.closing = true;
        c.ws.reset();
        c.out.clear();
        for (auto& [id, sub] : c.subs) DropSub(*sub);
        c.subs.clear();
        {
            std::lock_guard lock(c.inbox_mu);
            c.inbox.clear();
        }
        c.draining.clear();
        c.wake.cancel();
        counters.connections.fetch_sub(1);
    }

    // The destructor's: no strand runs any more (net's contract for handlers).
    void Stop() {
        std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> all;
        {
            std::lock_guard lock(conns_mu);
            stopped = true;
            all.swap(conns);
        }
        for (auto& [id, c] : all) Release(*c);
    }

    // ---- subscriptions (strand) -----------------------------------------------------

    void Subscribe(const std::shared_ptr<Conn>& c, const std::string& debate_id,
                   std::optional<std::int64_t> from_seq) {
        if (c->closing) return;
        std::shared_ptr<Sub> sub;
        if (!common::IsValidId(debate_id)) {
            Push(*c, WarningFrame("invalid_debate_id",
                                  "subscribe needs a debate_id matching [A-Za-z0-9_-]{1,128}", {}));
        } else if (!from_seq) {
            Push(*c, WarningFrame("invalid_replay_from_seq",
                                  "replay_from_seq must be a non-negative integer", debate_id));
        } else if (!c->authenticated) {
            Push(*c,
                 ErrorFrame("auth_required", "authentication required to subscribe", debate_id));
        } else if (c->subs.count(debate_id) != 0) {
            Push(*c, WarningFrame("already_subscribed", "already subscribed to " + debate_id,
                                  debate_id));
        } else if (c->subs.size() >= options.max_subscriptions) {
            Push(*c, WarningFrame("too_many_subscriptions",
                                  "at most " + std::to_string(options.max_subscriptions) +
                                      " subscriptions per connection",
                                  debate_id));
        } else {
            sub = std::make_shared<Sub>(c, debate_id, *from_seq, c->next_serial++);
            c->subs.emplace(debate_id, sub);
            ++c->subscribed;
            counters.subscriptions.fetch_add(1);
            counters.subscriptions_total.fetch_add(1);
        }
        if (!sub) {
            WsLog().info("ws subscribe refused conn={} debate_id={}", c->id,
                         common::IsValidId(debate_id) ? debate_id : std::string("<invalid>"));
            return;
        }
        WsLog().info("ws subscribe conn={} debate_id={} replay_from_seq={}", c->id, debate_id,
                     sub->from_seq);

        // Live events may be delivered from here on, even before Subscribe returns: they
        // reach this strand through the inbox, after this function, and wait in
        // live_pending while the subscription replays.
        events::SubscribeResult r = hub.Subscribe(debate_id, sub->from_seq, sub);
        sub->hub_id = r.subscription_id;
        sub->registered = true;
        sub->latest_seq = r.latest_seq;
        if (r.known) {
            // The store holds what the ring buffer dropped: (from_seq, store_until).
            const std::int64_t store_until =
                r.first_buffered_seq > 0 ? r.first_buffered_seq : r.latest_seq + 1;
            sub->store_until = store_until;
            sub->store_done = !replay || sub->from_seq + 1 >= store_until;
            sub->hub_tail = std::move(r.buffered);
            sub->hub_next = sub->hub_tail.begin();
            StartReplay(*c, *sub, std::max<std::int64_t>(0, r.latest_seq - sub->from_seq));
        } else if (!replay) {
            NotFound(*c, *sub);
        } else {
            // Unknown to the hub: ask the store whether it exists (and for all of its
            // events, to announce their count in replay_start).
            sub->probing = true;
            sub->store_done = false;
            sub->store_until = kNoUpperBound;
            sub->fetch_in_flight = true;
            Fetch(c, sub, sub->from_seq, kNoUpperBound);
        }
        Kick(*c);
    }

    void Unsubscribe(Conn& c, const std::string& debate_id) {
        if (c.closing) return;
        auto it = c.subs.find(debate_id);
        if (!common::IsValidId(debate_id)) {
            Push(c,
                 WarningFrame("invalid_debate_id",
                              "unsubscribe needs a debate_id matching [A-Za-z0-9_-]{1,128}", {}));
        } else if (it == c.subs.end()) {
            Push(c, WarningFrame("not_subscribed", "not subscribed to " + debate_id, debate_id));
        } else {
            const std::uint64_t serial = it->second->serial;
            DropSub(*it->second);
            c.subs.erase(it);
            WsLog().info("ws unsubscribe conn={} debate_id={}", c.id, debate_id);
            // Frames of this subscription still waiting are not sent after the unsubscribe.
            c.out.erase_if([serial](const OutFrame& f) { return f.sub == serial; });
        }
    }

    // Marks `sub` gone and takes it out of the hub (the caller erases it from the
    // connection's map).
    void DropSub(Sub& sub) {
        if (sub.phase == Phase::kGone) return;
        sub.phase = Phase::kGone;
        sub.backlog.clear();
        sub.DropHubTail();
        sub.live_pending.clear();
        if (sub.registered) hub.Unsubscribe(sub.debate_id, sub.hub_id);
        counters.subscriptions.fetch_sub(1);
    }

    void NotFound(Conn& c, Sub& sub) {
        const std::string id = sub.debate_id;  // `sub` may go with the map entry
        DropSub(sub);
        c.subs.erase(id);
        Push(c, ErrorFrame("not_found", "debate not found: " + id, id));
    }

    void StartReplay(Conn& c, Sub& sub, std::int64_t event_count) {
        sub.replay_started = true;
        Push(c, {ControlFrame("replay_start",
                              json::object{{"debate_id", sub.debate_id},
                                           {"from_seq", sub.from_seq},
                                           {"event_count", event_count}},
                              sub.debate_id),
                 FrameType::kReplayStart, sub.serial});
    }

    void FinishReplay(Conn& c, Sub& sub) {
        sub.phase = Phase::kLive;
        Push(c, {ControlFrame("replay_end",
                              json::object{{"debate_id", sub.debate_id},
                                           {"replayed_count", sub.replayed_count},
                                           {"latest_seq", sub.latest_seq}},
                              sub.debate_id),
                 FrameType::kReplayEnd, sub.serial});
        counters.replays_served.fetch_add(1);
        // live_pending drains through Refill, behind replay_end.
    }

    // Takes the item's reference to the shared envelope (no count change per frame on the
    // one control block every subscriber shares).
    OutFrame EventFrame(const Sub& sub, Item&& item, bool live) {
        FrameText text = std::move(item.envelope);
        if (text->size() > options.max_frame_bytes) {
            counters.frames_truncated.fetch_add(1);
            text = Text(FitEnvelope(*text, item.seq, sub.debate_id, options.max_frame_bytes));
        }
        return {std::move(text), item.debate_end ? FrameType::kDebateEnd : FrameType::kEvent,
                sub.serial, live};
    }

    // A live event, on the strand (from the inbox).
    void OnLive(Conn& c, Sub& sub, Item item) {
        if (sub.phase == Phase::kGone || c.closing) return;
        if (sub.phase == Phase::kReplaying || !sub.live_pending.empty()) {
            if (sub.live_pending.size() >= options.max_pending_live_events) {
                SlowClose(c, "pending_live_events", sub.live_pending.size());
                return;
            }
            sub.live_pending.push_back(std::move(item));
        } else if (item.seq > sub.last_sent_seq) {
            sub.last_sent_seq = item.seq;
            Push(c, EventFrame(sub, std::move(item), /*live=*/true));
        }
    }

    void DrainInbox(const std::shared_ptr<Conn>& c) {
        bool overflow = false;
        c->draining.clear();
        {
            std::lock_guard lock(c->inbox_mu);
            c->draining.swap(c->inbox);
            c->inbox_posted = false;
            overflow = c->inbox_overflow;
        }
        if (c->gone || c->closing) return;
        if (overflow) {
            SlowClose(*c, "inbox", c->draining.size());
            return;
        }
        for (Inbound& in : c->draining) OnLive(*c, *in.sub, std::move(in.item));
        c->draining.clear();
    }

    // A ReplaySource answer, on the strand.
    void OnStoreAnswer(const std::shared_ptr<Conn>& c, const std::shared_ptr<Sub>& sub,
                       common::Result<std::vector<events::Event>> result) {
        if (sub->phase != Phase::kReplaying || c->closing || c->gone) return;
        sub->fetch_in_flight = false;
        const bool first_probe =
            sub->probing && sub->store_next_since == sub->from_seq && sub->backlog.empty();
        if (!result.ok()) {
            if (first_probe && result.error().code == common::ErrorCode::kNotFound) {
                NotFound(*c, *sub);
                return;
            }
            counters.replay_failures.fetch_add(1);
            Push(*c, WarningFrame("replay_incomplete",
                                  "stored events could not be loaded (" + result.error().message +
                                      "); the replay may miss events",
                                  sub->debate_id));
            sub->store_done = true;
        } else {
            std::size_t added = 0;
            for (const events::Event& e : *result) {
                if (e.seq <= sub->store_next_since || e.seq >= sub->store_until) continue;
                sub->store_next_since = e.seq;
                sub->backlog.push_back(ItemOf(e, true));
                ++added;
            }
            // An empty answer ends the store part (a gap, if it came too early, cannot be
            // filled from anywhere else).
            if (added == 0 || sub->store_next_since >= sub->store_until - 1) {
                sub->store_done = true;
            }
        }
        if (sub->probing) {
            if (sub->store_done) {
                sub->probing = false;
                StartReplay(*c, *sub, static_cast<std::int64_t>(sub->backlog.size()));
            } else {
                // Keep reading: replay_start announces the count of an unknown debate.
                sub->fetch_in_flight = true;
                Fetch(c, sub, sub->store_next_since, sub->store_until);
            }
        }
        Kick(*c);
    }

    void Fetch(const std::shared_ptr<Conn>& c, const std::shared_ptr<Sub>& sub, std::int64_t since,
               std::int64_t until) {
        std::weak_ptr<Core> weak_core = weak_from_this();
        std::weak_ptr<Conn> weak_conn = c;
        asio::any_io_executor strand = c->strand;
        replay(sub->debate_id, since, until,
               [weak_core, weak_conn, sub, strand](common::Result<std::vector<events::Event>> r) {
                   // Answers come from the blocking pool (or synchronously): hop to the
                   // connection's strand, never re-entering the caller.
                   asio::post(strand, [weak_core, weak_conn, sub, r = std::move(r)]() mutable {
                       auto core = weak_core.lock();
                       auto conn = weak_conn.lock();
                       if (core && conn) core->OnStoreAnswer(conn, sub, std::move(r));
                   });
               });
    }

    // ---- the one queue and its writer (strand) --------------------------------------

    void Kick(Conn& c) {
        if (!c.writer_waiting) return;
        c.writer_waiting = false;
        c.wake.cancel();
    }

    void Push(Conn& c, OutFrame frame) {
        if (c.closing) return;
        if (c.out.size() >= options.max_queued_frames) {
            SlowClose(c, "queued_frames", c.out.size());
            return;
        }
        c.out.push_back(std::move(frame));
        if (!c.hold_kicks) Kick(c);
    }

    // How many frames at the head of the queue go in the next write: every frame up to
    // kMaxBatchFrames / kMaxBatchBytes; a debate_end goes alone (its gap is measured from
    // the write before it). The queue is not empty.
    std::size_t NextBatch(Conn& c) const {
        const std::size_t most = std::min(c.out.size(), kMaxBatchFrames);
        std::size_t n = 0;
        std::size_t bytes = 0;
        do {
            bytes += c.out[n].text->size();
            ++n;
        } while (c.out[0].type != FrameType::kDebateEnd && n < most &&
                 c.out[n].type != FrameType::kDebateEnd && bytes < kMaxBatchBytes);
        return n;
    }

    std::vector<OutFrame> Take(Conn& c, std::size_t n) {
        std::vector<OutFrame> batch;
        batch.reserve(n);
        for (std::size_t i = 0; i < n; ++i) batch.push_back(c.out.pop_front());
        return batch;
    }

    // `batch` went out in one write.
    void Sent(Conn& c, const std::vector<OutFrame>& batch) {
        c.last_send = SteadyClock::now();
        c.sent_any = true;
        Count(batch);
    }

    // After a live drain (strand): when the writer is parked idle (no write in flight)
    // and the head of the queue may go now, it is written right here with one
    // non-blocking write (WsConnection::TryWriteNow) instead of waking the writer for it:
    // a fan-out to thousands of viewers costs each one handler run and one sendmsg, not a
    // timer cancel, two coroutine resumptions and an asynchronous write's completion.
    // Anything else (a debate_end, frames left, a socket that did not take them, closing)
    // wakes the writer as before.
    void Flush(Conn& c) {
        c.hold_kicks = false;
        if (c.out.empty() && !c.closing) return;
        if (c.writer_waiting && !c.closing && c.ws && c.out[0].type != FrameType::kDebateEnd) {
            const std::size_t n = NextBatch(c);
            if (n == c.out.size()) {
                // The whole queue, moved out (a frame's text is shared by every viewer:
                // its reference count is one cache line all threads touch, so it is not
                // counted up and down again here) and put back as it was when refused.
                std::vector<OutFrame> batch = Take(c, n);
                std::vector<FrameText> texts;
                texts.reserve(n);
                for (OutFrame& frame : batch) texts.push_back(std::move(frame.text));
                if (c.ws->TryWriteNow(texts)) {
                    counters.direct_writes.fetch_add(1, std::memory_order_relaxed);
                    Sent(c, batch);
                    return;
                }
                for (std::size_t i = 0; i < n; ++i) {
                    batch[i].text = std::move(texts[i]);
                    c.out.push_back(std::move(batch[i]));
                }
            }
        }
        Kick(c);
    }

    void SlowClose(Conn& c, const char* bound, std::size_t size) {
        if (c.closing) return;
        counters.slow_closes.fetch_add(1);
        WsLog().warn("ws close conn={} code=1008 reason=slow_consumer bound={} size={}", c.id,
                     bound, size);
        c.closing = true;
        c.out.clear();
        for (auto& [id, sub] : c.subs) {
            sub->backlog.clear();
            sub->DropHubTail();
            sub->live_pending.clear();
        }
        if (c.ws) c.ws->Close(1008, "slow consumer");
        Kick(c);
    }

    // Moves replay events into the queue while it is short, fetching store pages as the
    // backlogs drain, ends replays whose sources are exhausted, then moves the live events
    // that waited behind them.
    void Refill(const std::shared_ptr<Conn>& cp) {
        Conn& c = *cp;
        std::vector<std::shared_ptr<Sub>> fetches;
        for (auto& [id, sub_ptr] : c.subs) {
            Sub& sub = *sub_ptr;
            while (sub.phase == Phase::kReplaying && sub.replay_started && !c.closing &&
                   c.out.size() < refill_below) {
                if (!sub.backlog.empty()) {
                    Item item = sub.backlog.pop_front();
                    if (item.seq <= sub.last_sent_seq) continue;
                    sub.last_sent_seq = item.seq;
                    sub.latest_seq = std::max(sub.latest_seq, item.seq);
                    ++sub.replayed_count;
                    (item.from_store ? counters.replay_events_from_store
                                     : counters.replay_events_from_buffer)
                        .fetch_add(1);
                    Push(c, EventFrame(sub, std::move(item), /*live=*/false));
                } else if (!sub.store_done) {
                    if (!sub.fetch_in_flight) {
                        sub.fetch_in_flight = true;
                        fetches.push_back(sub_ptr);
                    }
                    break;
                } else if (sub.hub_next != sub.hub_tail.end()) {
                    sub.backlog.push_back(ItemOf(*sub.hub_next, false));
                    ++sub.hub_next;
                } else {
                    sub.DropHubTail();
                    FinishReplay(c, sub);
                }
            }
            while (sub.phase == Phase::kLive && !sub.live_pending.empty() && !c.closing &&
                   c.out.size() < refill_below) {
                Item item = sub.live_pending.pop_front();
                if (item.seq <= sub.last_sent_seq) continue;  // already replayed
                sub.last_sent_seq = item.seq;
                Push(c, EventFrame(sub, std::move(item), /*live=*/true));
            }
        }
        for (const auto& sub : fetches) Fetch(cp, sub, sub->store_next_since, sub->store_until);
    }

    // Counts one write's frames: one add per counter that changed, not per frame (the
    // counters are shared by every connection and both I/O threads).
    void Count(const std::vector<OutFrame>& frames) {
        std::uint64_t by_type[static_cast<std::size_t>(FrameType::kError) + 1] = {};
        std::uint64_t live = 0;
        for (const OutFrame& frame : frames) {
            ++by_type[static_cast<std::size_t>(frame.type)];
            if (frame.live &&
                (frame.type == FrameType::kEvent || frame.type == FrameType::kDebateEnd)) {
                ++live;
            }
        }
        auto add = [](std::atomic<std::uint64_t>& counter, std::uint64_t n) {
            if (n > 0) counter.fetch_add(n, std::memory_order_relaxed);
        };
        add(counters.frames_sent, frames.size());
        add(counters.connection_info_frames,
            by_type[static_cast<std::size_t>(FrameType::kConnectionInfo)]);
        add(counters.replay_start_frames,
            by_type[static_cast<std::size_t>(FrameType::kReplayStart)]);
        add(counters.replay_end_frames, by_type[static_cast<std::size_t>(FrameType::kReplayEnd)]);
        const std::uint64_t ends = by_type[static_cast<std::size_t>(FrameType::kDebateEnd)];
        add(counters.debate_end_frames, ends);
        add(counters.event_frames, by_type[static_cast<std::size_t>(FrameType::kEvent)] + ends);
        add(counters.live_events_sent, live);
        add(counters.heartbeat_frames, by_type[static_cast<std::size_t>(FrameType::kHeartbeat)]);
        add(counters.pong_frames, by_type[static_cast<std::size_t>(FrameType::kPong)]);
        add(counters.warning_frames, by_type[static_cast<std::size_t>(FrameType::kWarning)]);
        add(counters.error_frames, by_type[static_cast<std::size_t>(FrameType::kError)]);
    }

    void PushHeartbeat(Conn& c, SteadyClock::time_point now) {
        c.next_heartbeat = now + options.heartbeat_interval;
        const std::size_t active =
            options.active_debates ? options.active_debates() : hub.Stats().live_debates;
        const double epoch = NowEpoch();
        json::object frame{
            {"type", "heartbeat"},
            {"data", json::object{{"server_time", epoch}, {"active_debates", active}}},
            {"timestamp", epoch}};
        Push(c, {Text(common::SerializeJson(frame)), FrameType::kHeartbeat});
    }

    // The connection's writer: one Write in flight; sleeps until a push, the next
    // heartbeat or a debate_end's gap, never longer and never in a loop of short sleeps.
    static asio::awaitable<void> Writer(std::shared_ptr<Core> core, std::shared_ptr<Conn> c) {
        const DebateStreamOptions& options = core->options;
        while (!c->gone) {
            core->Refill(c);
            auto now = SteadyClock::now();
            if (!c->closing && now >= c->next_heartbeat) {
                core->PushHeartbeat(*c, now);
                continue;
            }
            SteadyClock::time_point until =
                c->closing ? SteadyClock::time_point::max() : c->next_heartbeat;
            if (!c->closing && !c->out.empty()) {
                OutFrame& front = c->out.front();
                SteadyClock::time_point due = now;
                if (front.type == FrameType::kDebateEnd && c->sent_any) {
                    due = c->last_send + options.debate_end_gap;
                }
                if (due <= now) {
                    // One Write for every frame at the head of the queue (one socket
                    // write in net), see NextBatch.
                    std::vector<OutFrame> batch = core->Take(*c, core->NextBatch(*c));
                    std::vector<FrameText> texts;
                    texts.reserve(batch.size());
                    for (OutFrame& frame : batch) texts.push_back(std::move(frame.text));
                    std::shared_ptr<net::WsConnection> ws = c->ws;
                    const bool ok = co_await ws->WriteMany(texts);
                    ws.reset();
                    if (c->gone) break;
                    if (!ok) {
                        core->counters.send_failures.fetch_add(1);
                        if (c->ws && !c->ws->is_open()) {
                            // Closing (by the client, by net, or drain): OnClose follows.
                            c->closing = true;
                            c->out.clear();
                        }
                        continue;
                    }
                    core->Sent(*c, batch);
                    continue;
                }
                if (!front.delay_counted) {
                    front.delay_counted = true;
                    core->counters.debate_end_delays.fetch_add(1);
                }
                until = std::min(until, due);
            }
            c->writer_waiting = true;
            c->wake.expires_at(until);
            co_await c->wake.async_wait(kTuple);
            c->writer_waiting = false;
        }
    }

    DebateStreamStats Snapshot() const {
        DebateStreamStats s;
        s.connections = counters.connections.load();
        s.connections_total = counters.connections_total.load();
        s.subscriptions = counters.subscriptions.load();
        s.subscriptions_total = counters.subscriptions_total.load();
        s.messages_received = counters.messages_received.load();
        s.frames_sent = counters.frames_sent.load();
        s.connection_info_frames = counters.connection_info_frames.load();
        s.replay_start_frames = counters.replay_start_frames.load();
        s.replay_end_frames = counters.replay_end_frames.load();
        s.event_frames = counters.event_frames.load();
        s.debate_end_frames = counters.debate_end_frames.load();
        s.heartbeat_frames = counters.heartbeat_frames.load();
        s.pong_frames = counters.pong_frames.load();
        s.warning_frames = counters.warning_frames.load();
        s.error_frames = counters.error_frames.load();
        s.replays_served = counters.replays_served.load();
        s.replay_events_from_store = counters.replay_events_from_store.load();
        s.replay_events_from_buffer = counters.replay_events_from_buffer.load();
        s.live_events_sent = counters.live_events_sent.load();
        s.replay_failures = counters.replay_failures.load();
        s.frames_truncated = counters.frames_truncated.load();
        s.debate_end_delays = counters.debate_end_delays.load();
        s.send_failures = counters.send_failures.load();
        s.slow_closes = counters.slow_closes.load();
        s.refused_origin = counters.refused_origin.load();
        s.refused_rate = counters.refused_rate.load();
        s.messages_rate_limited = counters.messages_rate_limited.load();
        s.direct_writes = counters.direct_writes.load();
        return s;
    }

    events::EventHub& hub;
    const ReplaySource replay;
    DebateStreamOptions options;
    std::size_t refill_below = 1;
    Counters counters;

    std::mutex conns_mu;                                             // leaf: the registry only
    std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;  // by WsConnection::id()
    bool stopped = false;
};

// Any publisher thread: one append under the inbox's leaf lock, one post per burst.
void DebateStreamHandler::Core::Sub::Deliver(const events::Event& event) {
    const events::Event* one = &event;
    DeliverBatch(std::span<const events::Event* const>(&one, 1));
}

void DebateStreamHandler::Core::Sub::DeliverBatch(std::span<const events::Event* const> events) {
    auto c = conn.lock();
    if (!c) return;
    std::shared_ptr<Sub> self = shared_from_this();
    bool post = false;
    {
        std::lock_guard lock(c->inbox_mu);
        for (const events::Event* event : events) {
            if (c->inbox.size() >= c->inbox_limit) {
                c->inbox_overflow = true;
                break;
            }
            c->inbox.push_back({self, ItemOf(*event, false)});
        }
        if (!c->inbox_posted) {
            c->inbox_posted = true;
            post = true;
        }
    }
    if (!post) return;
    asio::post(c->strand, [c] {
        auto core = c->core.lock();
        if (!core) return;
        c->hold_kicks = true;
        core->DrainInbox(c);
        core->Flush(*c);
    });
}

DebateStreamHandler::DebateStreamHandler(events::EventHub& hub, ReplaySource replay,
                                         DebateStreamOptions options)
    : core_(std::make_shared<Core>(hub, std::move(replay), std::move(options))) {}

DebateStreamHandler::~DebateStreamHandler() { core_->Stop(); }

// The connection's coroutine: admits it, starts its writer, then reads its messages until
// net reports the end, and releases its state.
asio::awaitable<void> DebateStreamHandler::Serve(std::shared_ptr<net::WsConnection> ws) {
    std::shared_ptr<Core> core = core_;
    std::shared_ptr<Core::Conn> c = core->Open(ws);
    if (!c) {
        // Refused (and closed): read to the end, for the close codes of the log line.
        for (;;) {
            std::optional<std::string> ignored = co_await ws->Read();
            if (!ignored) break;
        }
        core->LogClosed(*ws, nullptr);
        co_return;
    }
    for (;;) {
        std::optional<std::string> text = co_await ws->Read();
        if (!text) break;
        try {
            core->Message(c, *text);
        } catch (const std::exception& e) {
            // A bug, not the client's fault: close like net would, keep reading to the end.
            WsLog().error("ws message handling failed conn={} error={}", c->id, e.what());
            ws->Close(1011, "internal error");
        }
    }
    core->Closed(c, *ws);
}

DebateStreamStats DebateStreamHandler::Stats() const { return core_->Snapshot(); }

std::string DebateStreamHandler::StatsJson() const {
    const DebateStreamStats s = Stats();
    json::object o;
    o["connections"] = s.connections;
    o["connections_total"] = s.connections_total;
    o["subscriptions"] = s.subscriptions;
    o["subscriptions_total"] = s.subscriptions_total;
    o["messages_received"] = s.messages_received;
    o["messages_sent"] = s.frames_sent;
    o["frames_by_type"] = json::object{{"connection_info", s.connection_info_frames},
                                       {"replay_start", s.replay_start_frames},
                                       {"replay_end", s.replay_end_frames},
                                       {"event", s.event_frames},
                                       {"debate_end", s.debate_end_frames},
                                       {"heartbeat", s.heartbeat_frames},
                                       {"pong", s.pong_frames},
                                       {"warning", s.warning_frames},
                                       {"error", s.error_frames}};
    o["replays_served"] = s.replays_served;
    o["replay_events_from_store"] = s.replay_events_from_store;
    o["replay_events_from_buffer"] = s.replay_events_from_buffer;
    o["live_events_sent"] = s.live_events_sent;
    o["warnings"] = s.warning_frames;
    o["errors"] = s.error_frames;
    o["replay_failures"] = s.replay_failures;
    o["frames_truncated"] = s.frames_truncated;
    o["debate_end_delays"] = s.debate_end_delays;
    o["send_failures"] = s.send_failures;
    o["slow_closes"] = s.slow_closes;
    o["refused_origin"] = s.refused_origin;
    o["refused_rate"] = s.refused_rate;
    o["messages_rate_limited"] = s.messages_rate_limited;
    o["direct_writes"] = s.direct_writes;
    return common::SerializeJson(o);
}

}  // namespace aragora::api
