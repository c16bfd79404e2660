#include "api/ws_handler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
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
constexpr std::uint64_t kMaxDroppedMessages = 500;

namespace asio = boost::asio;
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kNoUpperBound = std::numeric_limits<std::int64_t>::max();
// Client text quoted back in warnings is cut to this many bytes.
constexpr std::size_t kMaxEchoBytes = 64;
// Events with a larger `data` are formatted per subscriber rather than kept in the
// per-thread cache (it would pin that much memory per publishing thread).
constexpr std::size_t kMaxCachedDataBytes = 256 * 1024;

enum class FrameType {
    kConnectionInfo,
    kReplayStart,
    kReplayEnd,
    kEvent,
    kDebateEnd,
    kHeartbeat,
    kPong,
    kWarning,
    kError,
};

struct Frame {
    Frame(std::string t, FrameType ty, std::string id = {}, bool is_live = false)
        : text(std::move(t)), type(ty), debate_id(std::move(id)), live(is_live) {}

    std::string text;
    FrameType type;
    std::string debate_id;  // "" when the frame concerns no single debate
    bool live;              // an event sent live (not replayed)
    bool delay_counted = false;
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

std::string ControlFrame(std::string_view type, json::object data, std::string_view debate_id) {
    json::object o;
    o["type"] = type;
    o["data"] = std::move(data);
    o["timestamp"] = NowEpoch();
    if (!debate_id.empty()) o["debate_id"] = debate_id;
    return common::SerializeJson(o);
}

Frame WarningFrame(std::string_view code, std::string_view message, std::string_view debate_id) {
    return {ControlFrame("warning", json::object{{"message", message}, {"code", code}}, debate_id),
            FrameType::kWarning, std::string(debate_id)};
}

Frame ErrorFrame(std::string_view code, std::string_view message, std::string_view debate_id) {
    return {ControlFrame("error",
                         json::object{{"code", code}, {"error", message}, {"message", message}},
                         debate_id),
            FrameType::kError, std::string(debate_id)};
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
std::string MinimalEnvelope(const events::Event& e) {
    json::object o{{"type", e.type},
                   {"data", json::object{{"debate_id", e.debate_id}, {"truncated", true}}},
                   {"timestamp", e.timestamp},
                   {"round", e.round},
                   {"agent", ""},
                   {"seq", e.seq},
                   {"debate_id", e.debate_id},
                   {"loop_id", e.debate_id}};
    return common::SerializeJson(o);
}

// The event's envelope, at most max_bytes long: when the full envelope is longer, the
// string members of `data` are cut to the longest common length that fits (found by
// bisection; rare, so the repeated serialization is acceptable) and `data.truncated` is
// set; when even empty strings do not fit, `data` becomes {debate_id, truncated}.
std::string FitEventFrame(const events::Event& e, std::size_t max_bytes, bool& truncated) {
    std::string text = events::ToEnvelopeJson(e);
    truncated = false;
    if (text.size() <= max_bytes) return text;
    truncated = true;
    boost::system::error_code ec;
    json::value env = json::parse(text, ec);
    if (ec || !env.is_object()) return MinimalEnvelope(e);
    json::object& o = env.as_object();
    json::value& data = o["data"];
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
    return MinimalEnvelope(e);
}

bool SameEvent(const events::Event& a, const events::Event& b) {
    return a.seq == b.seq && a.round == b.round && a.timestamp == b.timestamp &&
           a.debate_id == b.debate_id && a.type == b.type && a.agent == b.agent &&
           a.data_json == b.data_json;
}

// One live event is formatted once per publishing thread, not once per subscriber:
// Publish() delivers the same event to every subscriber in a row on one thread.
std::string FormatLive(const events::Event& e, std::size_t max_bytes, bool& truncated) {
    if (e.data_json.size() > kMaxCachedDataBytes) return FitEventFrame(e, max_bytes, truncated);
    thread_local std::optional<events::Event> key;
    thread_local std::size_t key_max = 0;
    thread_local std::string text;
    thread_local bool text_truncated = false;
    if (!key || key_max != max_bytes || !SameEvent(*key, e)) {
        text = FitEventFrame(e, max_bytes, text_truncated);
        key = e;
        key_max = max_bytes;
    }
    truncated = text_truncated;
    return text;
}

}  // namespace

struct WsHandler::Core : std::enable_shared_from_this<WsHandler::Core> {
    enum class Phase { kReplaying, kLive, kGone };

    struct Conn;

    struct Replayed {
        events::Event event;
        bool from_store = false;
    };

    // One subscription of one connection. Registered in the hub; every member below
    // `debate_id` is guarded by the connection's mutex.
    struct Sub final : events::Subscriber {
        Sub(std::weak_ptr<Core> c, std::weak_ptr<Conn> cn, std::string id, std::int64_t from)
            : core(std::move(c)),
              conn(std::move(cn)),
              debate_id(std::move(id)),
              from_seq(from),
              last_sent_seq(from),
              store_next_since(from) {}

        void Deliver(const events::Event& event) override {
            if (auto c = core.lock()) c->OnLive(*this, event);
        }

        const std::weak_ptr<Core> core;
        const std::weak_ptr<Conn> conn;
        const std::string debate_id;
        const std::int64_t from_seq;

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
        std::deque<Replayed> backlog;         // replay events ready to go, ascending
        std::vector<events::Event> hub_tail;  // the hub's snapshot, after the store part
        std::deque<events::Event> live_pending;
    };

    struct Conn {
        explicit Conn(const asio::any_io_executor& ex) : send_timer(ex), heartbeat_timer(ex) {}

        std::mutex mu;
        std::shared_ptr<net::WsConnection> ws;  // released on close
        bool closing = false;                   // nothing more is sent
        bool authenticated = true;
        std::map<std::string, std::shared_ptr<Sub>> subs;  // by debate id
        std::deque<Frame> out;  // the one ordered queue of this connection
        asio::steady_timer send_timer;
        bool send_timer_armed = false;
        asio::steady_timer heartbeat_timer;
        SteadyClock::time_point last_send{};
        bool sent_any = false;
        double tokens = 0;
        SteadyClock::time_point tokens_at{};
        // Set until the authenticator answered: client messages wait in `early`.
        bool auth_pending = false;
        std::vector<std::string> early;
        // Client message rate (options.messages_per_second).
        double msg_tokens = 0;
        SteadyClock::time_point msg_tokens_at{};
        std::uint64_t msgs_dropped = 0;
        SteadyClock::time_point opened_at{};
        std::uint64_t subscribed = 0;  // subscriptions made over the connection's life
    };

    // Work found under a connection's lock and done after releasing it (the hub and the
    // ReplaySource must never be called with a connection lock held).
    struct Deferred {
        struct Fetch {
            std::shared_ptr<Sub> sub;
            std::int64_t since = 0;
            std::int64_t until = 0;
        };
        std::vector<Fetch> fetches;
        std::vector<std::pair<std::string, std::uint64_t>> unsubscribes;
    };

    struct Counters {
        std::atomic<std::uint64_t> connections{0}, connections_total{0}, subscriptions{0},
            subscriptions_total{0}, messages_received{0}, frames_sent{0}, connection_info_frames{0},
            replay_start_frames{0}, replay_end_frames{0}, event_frames{0}, debate_end_frames{0},
            heartbeat_frames{0}, pong_frames{0}, warning_frames{0}, error_frames{0},
            replays_served{0}, replay_events_from_store{0}, replay_events_from_buffer{0},
            live_events_sent{0}, replay_failures{0}, frames_truncated{0}, debate_end_delays{0},
            send_failures{0}, slow_closes{0}, refused_origin{0}, refused_rate{0},
            messages_rate_limited{0};
    };

    Core(asio::any_io_executor ex, events::EventHub& h, ReplaySource r, WsHandlerOptions o)
        : executor(std::move(ex)), hub(h), replay(std::move(r)), options(std::move(o)) {
        if (options.send_burst == 0) options.send_burst = 1;
        if (options.max_queued_frames < options.send_burst) {
            options.max_queued_frames = options.send_burst;
        }
    }

    // ---- connection lifecycle -------------------------------------------------------

    void Open(const std::shared_ptr<net::WsConnection>& ws) {
        const net::HttpRequest& upgrade = ws->upgrade_request();
        // Origin is checked only when sent (API.md: the SDK clients send none).
        if (options.origin_allowed && upgrade.HasHeader("origin") &&
            !options.origin_allowed(upgrade.Header("origin"))) {
            counters.refused_origin.fetch_add(1);
            WsLog().warn(
                "ws refused conn={} remote={} code=1008 reason=origin_not_allowed origin={}",
                ws->id(), upgrade.remote_address, Echo(upgrade.Header("origin")));
            ws->Close(1008, "origin not allowed");
            return;
        }
        if (options.admit && !options.admit(upgrade)) {
            counters.refused_rate.fetch_add(1);
            WsLog().warn("ws refused conn={} remote={} code=1008 reason=connection_rate", ws->id(),
                         upgrade.remote_address);
            ws->Close(1008, "too many connections from this address; retry later");
            return;
        }
        auto c = std::make_shared<Conn>(executor);
        c->ws = ws;
        c->tokens = static_cast<double>(options.send_burst);
        c->tokens_at = SteadyClock::now();
        c->opened_at = c->tokens_at;
        c->msg_tokens = 2 * options.messages_per_second;
        c->msg_tokens_at = c->tokens_at;
        const bool deferred = static_cast<bool>(options.authenticate_async);
        if (!deferred) {
            c->authenticated = options.authenticate ? options.authenticate(upgrade) : true;
        } else {
            c->authenticated = false;
            c->auth_pending = true;
        }
        {
            std::lock_guard lock(conns_mu);
            if (stopped) return;
            conns[ws->id()] = c;
        }
        counters.connections.fetch_add(1);
        counters.connections_total.fetch_add(1);
        if (!deferred) {
            Start(c);
            return;
        }
        std::weak_ptr<Conn> weak = c;
        options.authenticate_async(upgrade, [this, weak](bool ok) {
            auto conn = weak.lock();
            if (!conn) return;
            std::vector<std::string> early;
            {
                std::lock_guard lock(conn->mu);
                if (conn->closing) return;
                conn->authenticated = ok;
                conn->auth_pending = false;
                early.swap(conn->early);
            }
            Start(conn);
            std::shared_ptr<net::WsConnection> socket;
            {
                std::lock_guard lock(conn->mu);
                socket = conn->ws;
            }
            if (!socket) return;
            for (const std::string& text : early) Handle(conn, text);
        });
    }

    // connection_info, the heartbeat, and the URL's subscription: once authenticated
    // (or refused: the connection stays open, its subscriptions get auth_required).
    void Start(const std::shared_ptr<Conn>& c) {
        Deferred d;
        std::shared_ptr<net::WsConnection> ws;
        bool authenticated = false;
        {
            std::lock_guard lock(c->mu);
            if (c->closing || !c->ws) return;
            ws = c->ws;
            authenticated = c->authenticated;
            PushLocked(*c, {ControlFrame("connection_info",
                                         json::object{{"client_id", common::NewId("ws_")},
                                                      {"authenticated", c->authenticated}},
                                         {}),
                            FrameType::kConnectionInfo});
            ArmHeartbeatLocked(c);
            PumpLocked(c, d);
        }
        RunDeferred(c, d);

        const net::HttpRequest& req = ws->upgrade_request();
        WsLog().info("ws connected conn={} remote={} path={} authenticated={}", ws->id(),
                     req.remote_address, req.path, authenticated);
        std::optional<std::string> id = req.QueryParam("debate_id");
        if (!id) id = req.QueryParam("loop_id");
        if (!id) return;
        std::optional<std::int64_t> from = 0;
        if (auto text = req.QueryParam("replay_from_seq")) from = ParseSeqText(*text);
        Subscribe(c, *id, from);
    }

    void Message(const std::shared_ptr<net::WsConnection>& ws, const std::string& text) {
        counters.messages_received.fetch_add(1);
        auto c = Find(*ws);
        if (!c) return;
        bool close = false;
        bool warn = false;
        {
            std::lock_guard lock(c->mu);
            if (c->auth_pending) {
                if (c->early.size() < kMaxEarlyMessages) c->early.push_back(text);
                return;
            }
            // Client message rate: a token bucket of messages_per_second, burst 2x.
            if (options.messages_per_second > 0) {
                const auto now = SteadyClock::now();
                const double rate = options.messages_per_second;
                c->msg_tokens = std::min(
                    2 * rate,
                    c->msg_tokens +
                        std::chrono::duration<double>(now - c->msg_tokens_at).count() * rate);
                c->msg_tokens_at = now;
                if (c->msg_tokens < 1) {
                    ++c->msgs_dropped;
                    counters.messages_rate_limited.fetch_add(1);
                    // Warn on the first drop of a burst; close a client that keeps going.
                    close = c->msgs_dropped > kMaxDroppedMessages;
                    warn = !close && (c->msgs_dropped == 1 || c->msgs_dropped % 50 == 0);
                    if (!close && !warn) return;
                } else {
                    c->msg_tokens -= 1;
                }
            }
        }
        if (close) {
            WsLog().warn("ws close conn={} code=1008 reason=message_rate messages_dropped={}",
                         ws->id(), kMaxDroppedMessages + 1);
            ws->Close(1008, "message rate limit exceeded");
            return;
        }
        if (warn) {
            Push(c, WarningFrame("rate_limited",
                                 "too many messages: at most " +
                                     std::to_string(static_cast<int>(options.messages_per_second)) +
                                     " per second; extra messages are dropped",
                                 {}));
            return;
        }
        Handle(c, text);
    }

    void Handle(const std::shared_ptr<Conn>& c, const std::string& text) {
        const ClientMessage m = DecodeClientMessage(text);
        switch (m.kind) {
            case ClientMessage::Kind::kInvalidJson:
                Push(c, WarningFrame("invalid_json", "message is not a JSON object", {}));
                break;
            case ClientMessage::Kind::kInvalidMessage:
                Push(c, WarningFrame("invalid_message", "message has no string \"type\"", {}));
                break;
            case ClientMessage::Kind::kPing: {
                const double now = NowEpoch();
                json::object frame{{"type", "pong"},
                                   {"data", json::object{{"server_ts", now}}},
                                   {"timestamp", now}};
                Push(c, {common::SerializeJson(frame), FrameType::kPong});
                break;
            }
            case ClientMessage::Kind::kPong:
                // A client answering our heartbeat: nothing to do.
                break;
            case ClientMessage::Kind::kSubscribe:
                Subscribe(c, m.debate_id, m.replay_from_seq);
                break;
            case ClientMessage::Kind::kUnsubscribe:
                Unsubscribe(c, m.debate_id);
                break;
            case ClientMessage::Kind::kUnknownType:
                Push(c, WarningFrame("unknown_type",
                                     "unknown message type \"" + Echo(m.type) +
                                         "\" (expected subscribe, unsubscribe or ping)",
                                     {}));
                break;
        }
    }

    void Close(const net::WsConnection& ws) {
        std::shared_ptr<Conn> c;
        {
            std::lock_guard lock(conns_mu);
            auto it = conns.find(ws.id());
            if (it != conns.end()) {
                c = std::move(it->second);
                conns.erase(it);
            }
        }
        LogClosed(ws, c.get());
        if (c) Release(*c);
    }

    // One line per ended connection; a policy close (1008) or an internal error (1011)
    // is a warning.
    void LogClosed(const net::WsConnection& ws, Conn* c) {
        const net::WsConnection::CloseCodes codes = ws.close_codes();
        std::int64_t duration_ms = 0;
        std::size_t subscriptions = 0;
        std::uint64_t subscribed = 0;
        if (c != nullptr) {
            std::lock_guard lock(c->mu);
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

    // Drops a connection's state: subscriptions leave the hub, timers are cancelled, the
    // WsConnection reference is released.
    void Release(Conn& c) {
        Deferred d;
        {
            std::lock_guard lock(c.mu);
            c.closing = true;
            c.ws.reset();
            c.out.clear();
            for (auto& [id, sub] : c.subs) DropLocked(*sub, d);
            c.subs.clear();
            c.send_timer.cancel();
            c.heartbeat_timer.cancel();
        }
        for (const auto& [id, hub_id] : d.unsubscribes) hub.Unsubscribe(id, hub_id);
        counters.connections.fetch_sub(1);
    }

    void Stop() {
        std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> all;
        {
            std::lock_guard lock(conns_mu);
            stopped = true;
            all.swap(conns);
        }
        for (auto& [id, c] : all) Release(*c);
    }

    static std::uint64_t ConnId(Conn& c) {
        std::lock_guard lock(c.mu);
        return c.ws ? c.ws->id() : 0;
    }

    std::shared_ptr<Conn> Find(const net::WsConnection& ws) {
        std::lock_guard lock(conns_mu);
        auto it = conns.find(ws.id());
        return it == conns.end() ? nullptr : it->second;
    }

    // ---- subscriptions --------------------------------------------------------------

    void Subscribe(const std::shared_ptr<Conn>& c, const std::string& debate_id,
                   std::optional<std::int64_t> from_seq) {
        Deferred d;
        std::shared_ptr<Sub> sub;
        {
            std::lock_guard lock(c->mu);
            if (c->closing) return;
            if (!common::IsValidId(debate_id)) {
                PushLocked(*c, WarningFrame("invalid_debate_id",
                                            "subscribe needs a debate_id matching "
                                            "[A-Za-z0-9_-]{1,128}",
                                            {}));
            } else if (!from_seq) {
                PushLocked(
                    *c, WarningFrame("invalid_replay_from_seq",
                                     "replay_from_seq must be a non-negative integer", debate_id));
            } else if (!c->authenticated) {
                PushLocked(*c, ErrorFrame("auth_required", "authentication required to subscribe",
                                          debate_id));
            } else if (c->subs.count(debate_id) != 0) {
                PushLocked(*c, WarningFrame("already_subscribed",
                                            "already subscribed to " + debate_id, debate_id));
            } else if (c->subs.size() >= options.max_subscriptions) {
                PushLocked(*c, WarningFrame("too_many_subscriptions",
                                            "at most " + std::to_string(options.max_subscriptions) +
                                                " subscriptions per connection",
                                            debate_id));
            } else {
                sub = std::make_shared<Sub>(weak_from_this(), c, debate_id, *from_seq);
                c->subs.emplace(debate_id, sub);
                ++c->subscribed;
                counters.subscriptions.fetch_add(1);
                counters.subscriptions_total.fetch_add(1);
            }
            PumpLocked(c, d);
        }
        RunDeferred(c, d);
        if (!sub) {
            WsLog().info("ws subscribe refused conn={} debate_id={}", ConnId(*c),
                         common::IsValidId(debate_id) ? debate_id : std::string("<invalid>"));
            return;
        }
        WsLog().info("ws subscribe conn={} debate_id={} replay_from_seq={}", ConnId(*c), debate_id,
                     sub->from_seq);

        // Live events may be delivered from here on, even before Subscribe returns: the
        // subscription is replaying, so they wait in live_pending.
        events::SubscribeResult r = hub.Subscribe(debate_id, sub->from_seq, sub);
        {
            std::lock_guard lock(c->mu);
            sub->hub_id = r.subscription_id;
            sub->registered = true;
            if (sub->phase == Phase::kGone) {
                d.unsubscribes.emplace_back(debate_id, r.subscription_id);
            } else {
                sub->latest_seq = r.latest_seq;
                if (r.known) {
                    // The store holds what the ring buffer dropped: (from_seq, store_until).
                    const std::int64_t store_until =
                        r.first_buffered_seq > 0 ? r.first_buffered_seq : r.latest_seq + 1;
                    sub->store_until = store_until;
                    sub->store_done = !replay || sub->from_seq + 1 >= store_until;
                    sub->hub_tail = std::move(r.buffered);
                    StartReplayLocked(*c, *sub,
                                      std::max<std::int64_t>(0, r.latest_seq - sub->from_seq));
                } else if (!replay) {
                    NotFoundLocked(*c, *sub, d);
                } else {
                    // Unknown to the hub: ask the store whether it exists (and for all
                    // of its events, to announce their count in replay_start).
                    sub->probing = true;
                    sub->store_done = false;
                    sub->store_until = kNoUpperBound;
                    sub->fetch_in_flight = true;
                    d.fetches.push_back({sub, sub->from_seq, kNoUpperBound});
                }
                PumpLocked(c, d);
            }
        }
        RunDeferred(c, d);
    }

    void Unsubscribe(const std::shared_ptr<Conn>& c, const std::string& debate_id) {
        Deferred d;
        {
            std::lock_guard lock(c->mu);
            if (c->closing) return;
            auto it = c->subs.find(debate_id);
            if (!common::IsValidId(debate_id)) {
                PushLocked(*c, WarningFrame("invalid_debate_id",
                                            "unsubscribe needs a debate_id matching "
                                            "[A-Za-z0-9_-]{1,128}",
                                            {}));
            } else if (it == c->subs.end()) {
                PushLocked(*c, WarningFrame("not_subscribed", "not subscribed to " + debate_id,
                                            debate_id));
            } else {
                DropLocked(*it->second, d);
                c->subs.erase(it);
                WsLog().info("ws unsubscribe conn={} debate_id={}", c->ws ? c->ws->id() : 0,
                             debate_id);
                // Frames of this debate still waiting are not sent after the unsubscribe.
                std::erase_if(c->out, [&](const Frame& f) { return f.debate_id == debate_id; });
            }
            PumpLocked(c, d);
        }
        RunDeferred(c, d);
    }

    // Marks `sub` gone and schedules its removal from the hub (the caller erases it from
    // the connection's map).
    void DropLocked(Sub& sub, Deferred& d) {
        if (sub.phase == Phase::kGone) return;
        sub.phase = Phase::kGone;
        sub.backlog.clear();
        sub.hub_tail.clear();
        sub.live_pending.clear();
        if (sub.registered) d.unsubscribes.emplace_back(sub.debate_id, sub.hub_id);
        counters.subscriptions.fetch_sub(1);
    }

    void NotFoundLocked(Conn& c, Sub& sub, Deferred& d) {
        const std::string id = sub.debate_id;  // `sub` may go with the map entry
        DropLocked(sub, d);
        c.subs.erase(id);
        PushLocked(c, ErrorFrame("not_found", "debate not found: " + id, id));
    }

    void StartReplayLocked(Conn& c, Sub& sub, std::int64_t event_count) {
        sub.replay_started = true;
        PushLocked(c, {ControlFrame("replay_start",
                                    json::object{{"debate_id", sub.debate_id},
                                                 {"from_seq", sub.from_seq},
                                                 {"event_count", event_count}},
                                    sub.debate_id),
                       FrameType::kReplayStart, sub.debate_id});
    }

    void FinishReplayLocked(Conn& c, Sub& sub) {
        sub.phase = Phase::kLive;
        PushLocked(c, {ControlFrame("replay_end",
                                    json::object{{"debate_id", sub.debate_id},
                                                 {"replayed_count", sub.replayed_count},
                                                 {"latest_seq", sub.latest_seq}},
                                    sub.debate_id),
                       FrameType::kReplayEnd, sub.debate_id});
        counters.replays_served.fetch_add(1);
        // live_pending drains through RefillLocked, behind replay_end.
    }

    Frame EventFrame(const events::Event& e, bool live) {
        bool truncated = false;
        std::string text = live ? FormatLive(e, options.max_frame_bytes, truncated)
                                : FitEventFrame(e, options.max_frame_bytes, truncated);
        if (truncated) counters.frames_truncated.fetch_add(1);
        return {std::move(text), e.type == "debate_end" ? FrameType::kDebateEnd : FrameType::kEvent,
                e.debate_id, live};
    }

    // A live event from the hub (any thread).
    void OnLive(Sub& sub, const events::Event& e) {
        auto c = sub.conn.lock();
        if (!c) return;
        // Formatted before locking (once per publishing thread, see FormatLive); unused
        // when the event has to wait behind a replay.
        bool truncated = false;
        std::string text = FormatLive(e, options.max_frame_bytes, truncated);
        Deferred d;
        {
            std::lock_guard lock(c->mu);
            if (sub.phase == Phase::kGone || c->closing) return;
            if (sub.phase == Phase::kReplaying || !sub.live_pending.empty()) {
                if (sub.live_pending.size() >= options.max_pending_live_events) {
                    SlowCloseLocked(*c);
                    return;
                }
                sub.live_pending.push_back(e);
            } else if (e.seq > sub.last_sent_seq) {
                if (truncated) counters.frames_truncated.fetch_add(1);
                sub.last_sent_seq = e.seq;
                PushLocked(*c, {std::move(text),
                                e.type == "debate_end" ? FrameType::kDebateEnd : FrameType::kEvent,
                                e.debate_id, true});
            }
            if (sub.phase == Phase::kLive) PumpLocked(c, d);
        }
        RunDeferred(c, d);
    }

    // A ReplaySource answer, on the executor.
    void OnStoreAnswer(const std::shared_ptr<Conn>& c, const std::shared_ptr<Sub>& sub,
                       common::Result<std::vector<events::Event>> result) {
        Deferred d;
        {
            std::lock_guard lock(c->mu);
            if (sub->phase != Phase::kReplaying || c->closing) return;
            OnStoreAnswerLocked(c, sub, std::move(result), d);
            PumpLocked(c, d);
        }
        RunDeferred(c, d);
    }

    void OnStoreAnswerLocked(const std::shared_ptr<Conn>& c, const std::shared_ptr<Sub>& sub,
                             common::Result<std::vector<events::Event>> result, Deferred& d) {
        sub->fetch_in_flight = false;
        const bool first_probe =
            sub->probing && sub->store_next_since == sub->from_seq && sub->backlog.empty();
        if (!result.ok()) {
            if (first_probe && result.error().code == common::ErrorCode::kNotFound) {
                NotFoundLocked(*c, *sub, d);
                return;
            }
            counters.replay_failures.fetch_add(1);
            PushLocked(*c,
                       WarningFrame("replay_incomplete",
                                    "stored events could not be loaded (" + result.error().message +
                                        "); the replay may miss events",
                                    sub->debate_id));
            sub->store_done = true;
        } else {
            std::size_t added = 0;
            for (events::Event& e : *result) {
                if (e.seq <= sub->store_next_since || e.seq >= sub->store_until) continue;
                sub->store_next_since = e.seq;
                sub->backlog.push_back({std::move(e), true});
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
                StartReplayLocked(*c, *sub, static_cast<std::int64_t>(sub->backlog.size()));
            } else {
                // Keep reading: replay_start announces the count of an unknown debate.
                sub->fetch_in_flight = true;
                d.fetches.push_back({sub, sub->store_next_since, sub->store_until});
            }
        }
    }

    void RunDeferred(const std::shared_ptr<Conn>& c, Deferred& d) {
        for (const auto& [id, hub_id] : d.unsubscribes) hub.Unsubscribe(id, hub_id);
        d.unsubscribes.clear();
        for (auto& f : d.fetches) StartFetch(c, std::move(f));
        d.fetches.clear();
    }

    void StartFetch(const std::shared_ptr<Conn>& c, Deferred::Fetch f) {
        std::weak_ptr<Core> weak_core = weak_from_this();
        std::weak_ptr<Conn> weak_conn = c;
        std::shared_ptr<Sub> sub = f.sub;
        asio::any_io_executor ex = executor;
        replay(sub->debate_id, f.since, f.until,
               [weak_core, weak_conn, sub, ex](common::Result<std::vector<events::Event>> r) {
                   // Answers come from the blocking pool (or synchronously): hop to the
                   // I/O threads, never re-entering the caller.
                   asio::post(ex, [weak_core, weak_conn, sub, r = std::move(r)]() mutable {
                       auto core = weak_core.lock();
                       auto conn = weak_conn.lock();
                       if (core && conn) core->OnStoreAnswer(conn, sub, std::move(r));
                   });
               });
    }

    // ---- the one writer -------------------------------------------------------------

    void Push(const std::shared_ptr<Conn>& c, Frame frame) {
        Deferred d;
        {
            std::lock_guard lock(c->mu);
            PushLocked(*c, std::move(frame));
            PumpLocked(c, d);
        }
        RunDeferred(c, d);
    }

    void PushLocked(Conn& c, Frame frame) {
        if (c.closing) return;
        if (c.out.size() >= options.max_queued_frames) {
            SlowCloseLocked(c);
            return;
        }
        c.out.push_back(std::move(frame));
    }

    void SlowCloseLocked(Conn& c) {
        counters.slow_closes.fetch_add(1);
        WsLog().warn("ws close conn={} code=1008 reason=slow_consumer queued_frames={}",
                     c.ws ? c.ws->id() : 0, c.out.size());
        c.closing = true;
        c.out.clear();
        if (c.ws) c.ws->Close(1008, "slow consumer");
    }

    // Moves replay events into the queue while it is short, fetching store pages as the
    // backlogs drain, ends replays whose sources are exhausted, then moves the live events
    // that waited behind them.
    void RefillLocked(Conn& c, Deferred& d) {
        for (auto& [id, sub_ptr] : c.subs) {
            Sub& sub = *sub_ptr;
            while (sub.phase == Phase::kReplaying && sub.replay_started && !c.closing &&
                   c.out.size() < options.send_burst) {
                if (!sub.backlog.empty()) {
                    Replayed r = std::move(sub.backlog.front());
                    sub.backlog.pop_front();
                    if (r.event.seq <= sub.last_sent_seq) continue;
                    sub.last_sent_seq = r.event.seq;
                    sub.latest_seq = std::max(sub.latest_seq, r.event.seq);
                    ++sub.replayed_count;
                    (r.from_store ? counters.replay_events_from_store
                                  : counters.replay_events_from_buffer)
                        .fetch_add(1);
                    PushLocked(c, EventFrame(r.event, /*live=*/false));
                } else if (!sub.store_done) {
                    if (!sub.fetch_in_flight) {
                        sub.fetch_in_flight = true;
                        d.fetches.push_back({sub_ptr, sub.store_next_since, sub.store_until});
                    }
                    break;
                } else if (!sub.hub_tail.empty()) {
                    for (events::Event& e : sub.hub_tail)
                        sub.backlog.push_back({std::move(e), false});
                    sub.hub_tail.clear();
                } else {
                    FinishReplayLocked(c, sub);
                }
            }
            while (sub.phase == Phase::kLive && !sub.live_pending.empty() && !c.closing &&
                   c.out.size() < options.send_burst) {
                events::Event e = std::move(sub.live_pending.front());
                sub.live_pending.pop_front();
                if (e.seq <= sub.last_sent_seq) continue;  // already replayed
                sub.last_sent_seq = e.seq;
                PushLocked(c, EventFrame(e, /*live=*/true));
            }
        }
    }

    void PumpLocked(const std::shared_ptr<Conn>& c, Deferred& d) {
        while (!c->closing && c->ws) {
            RefillLocked(*c, d);
            if (c->out.empty() || c->send_timer_armed) return;
            const auto now = SteadyClock::now();
            Frame& front = c->out.front();
            if (front.type == FrameType::kDebateEnd && c->sent_any) {
                const auto due = c->last_send + options.debate_end_gap;
                if (now < due) {
                    if (!front.delay_counted) {
                        front.delay_counted = true;
                        counters.debate_end_delays.fetch_add(1);
                    }
                    ArmSendTimerLocked(c, due);
                    return;
                }
            }
            // Backpressure: leave frames here while the connection's own queue is full
            // enough; net closes a connection whose queue overflows (slow consumer).
            if (options.max_in_flight > 0 && c->ws->queued() >= options.max_in_flight) {
                ArmSendTimerLocked(c, now + std::chrono::milliseconds(2));
                return;
            }
            if (options.send_rate_per_second > 0) {
                const double burst = static_cast<double>(options.send_burst);
                const double elapsed = std::chrono::duration<double>(now - c->tokens_at).count();
                c->tokens = std::min(burst, c->tokens + elapsed * options.send_rate_per_second);
                c->tokens_at = now;
                if (c->tokens < 1) {
                    // Wait for a few tokens at once rather than waking up for each frame.
                    const double want =
                        std::min(std::max(1.0, burst / 4), static_cast<double>(c->out.size()));
                    const auto wait = std::chrono::duration<double>((want - c->tokens) /
                                                                    options.send_rate_per_second);
                    ArmSendTimerLocked(c, now + std::chrono::ceil<SteadyClock::duration>(wait));
                    return;
                }
                c->tokens -= 1;
            }
            Frame frame = std::move(front);
            c->out.pop_front();
            SendLocked(*c, std::move(frame));
        }
    }

    void SendLocked(Conn& c, Frame frame) {
        const FrameType type = frame.type;
        if (!c.ws->Send(std::move(frame.text))) {
            counters.send_failures.fetch_add(1);
            if (!c.ws->is_open()) {
                // Closing (by the client, or net's slow-consumer close): OnClose follows.
                c.closing = true;
                c.out.clear();
            }
            return;
        }
        c.last_send = SteadyClock::now();
        c.sent_any = true;
        counters.frames_sent.fetch_add(1);
        switch (type) {
            case FrameType::kConnectionInfo:
                counters.connection_info_frames.fetch_add(1);
                break;
            case FrameType::kReplayStart:
                counters.replay_start_frames.fetch_add(1);
                break;
            case FrameType::kReplayEnd:
                counters.replay_end_frames.fetch_add(1);
                break;
            case FrameType::kDebateEnd:
                counters.debate_end_frames.fetch_add(1);
                [[fallthrough]];
            case FrameType::kEvent:
                counters.event_frames.fetch_add(1);
                if (frame.live) counters.live_events_sent.fetch_add(1);
                break;
            case FrameType::kHeartbeat:
                counters.heartbeat_frames.fetch_add(1);
                break;
            case FrameType::kPong:
                counters.pong_frames.fetch_add(1);
                break;
            case FrameType::kWarning:
                counters.warning_frames.fetch_add(1);
                break;
            case FrameType::kError:
                counters.error_frames.fetch_add(1);
                break;
        }
    }

    void ArmSendTimerLocked(const std::shared_ptr<Conn>& c, SteadyClock::time_point when) {
        c->send_timer_armed = true;
        c->send_timer.expires_at(when);
        std::weak_ptr<Core> weak_core = weak_from_this();
        std::weak_ptr<Conn> weak_conn = c;
        c->send_timer.async_wait([weak_core, weak_conn](const boost::system::error_code&) {
            auto core = weak_core.lock();
            auto conn = weak_conn.lock();
            if (!core || !conn) return;
            Deferred d;
            {
                std::lock_guard lock(conn->mu);
                conn->send_timer_armed = false;
                core->PumpLocked(conn, d);
            }
            core->RunDeferred(conn, d);
        });
    }

    void ArmHeartbeatLocked(const std::shared_ptr<Conn>& c) {
        if (options.heartbeat_interval <= std::chrono::milliseconds::zero() || c->closing) return;
        c->heartbeat_timer.expires_after(options.heartbeat_interval);
        std::weak_ptr<Core> weak_core = weak_from_this();
        std::weak_ptr<Conn> weak_conn = c;
        c->heartbeat_timer.async_wait([weak_core, weak_conn](const boost::system::error_code& ec) {
            if (ec) return;
            auto core = weak_core.lock();
            auto conn = weak_conn.lock();
            if (core && conn) core->Heartbeat(conn);
        });
    }

    void Heartbeat(const std::shared_ptr<Conn>& c) {
        const std::size_t active =
            options.active_debates ? options.active_debates() : hub.Stats().live_debates;
        const double now = NowEpoch();
        json::object frame{{"type", "heartbeat"},
                           {"data", json::object{{"server_time", now}, {"active_debates", active}}},
                           {"timestamp", now}};
        Deferred d;
        {
            std::lock_guard lock(c->mu);
            if (c->closing) return;
            PushLocked(*c, {common::SerializeJson(frame), FrameType::kHeartbeat});
            ArmHeartbeatLocked(c);
            PumpLocked(c, d);
        }
        RunDeferred(c, d);
    }

    WsHandlerStats Snapshot() const {
        WsHandlerStats s;
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
        return s;
    }

    const asio::any_io_executor executor;
    events::EventHub& hub;
    const ReplaySource replay;
    WsHandlerOptions options;
    Counters counters;

    std::mutex conns_mu;
    std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns;  // by WsConnection::id()
    bool stopped = false;
};

WsHandler::WsHandler(boost::asio::any_io_executor executor, events::EventHub& hub,
                     ReplaySource replay, WsHandlerOptions options)
    : core_(std::make_shared<Core>(std::move(executor), hub, std::move(replay),
                                   std::move(options))) {}

WsHandler::~WsHandler() { core_->Stop(); }

void WsHandler::OnOpen(std::shared_ptr<net::WsConnection> conn) { core_->Open(conn); }

void WsHandler::OnMessage(std::shared_ptr<net::WsConnection> conn, std::string text) {
    core_->Message(conn, text);
}

void WsHandler::OnClose(std::shared_ptr<net::WsConnection> conn) { core_->Close(*conn); }

WsHandlerStats WsHandler::Stats() const { return core_->Snapshot(); }

std::string WsHandler::StatsJson() const {
    const WsHandlerStats s = Stats();
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
    return common::SerializeJson(o);
}

}  // namespace aragora::api
