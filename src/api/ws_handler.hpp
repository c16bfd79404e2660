#pragma once

// The WebSocket protocol of API.md ("WebSocket") on top of net::WsHandler:
// connection_info, subscriptions (URL `?debate_id=` or `subscribe` messages) that replay
// stored + buffered events then go live, ping/pong, heartbeats, warning and error
// frames. No Beast, no SQL: stored events come through an injected ReplaySource.
//
// Per connection, every outgoing frame goes through one ordered queue drained by one
// writer (the handler's pump, under the connection's mutex), which:
//  - writes each frame with its own WsConnection::Send (one JSON object per frame);
//  - lets `debate_end_gap` pass since the previous frame before a `debate_end` (the
//    TypeScript client drops frames that arrive in the same read); later frames wait
//    behind it;
//  - paces bursts (`send_burst` frames, then `send_rate_per_second`), because net's
//    send queue is bounded (ServerLimits::ws_send_queue_max) and gives no backpressure
//    signal: a 1000-event replay handed over at once would be closed as a slow consumer;
//  - pulls replay events page by page, so a long replay holds one store page per
//    subscription, not the whole debate.
//
// Subscription lifecycle: replay_start {debate_id, from_seq, event_count}; the events
// with seq > from_seq older than the hub's buffer (ReplaySource), then the hub's
// buffered ones; replay_end {debate_id, replayed_count, latest_seq}; then live events.
// Live events that arrive during the replay wait in the subscription and follow
// replay_end; seqs already sent are skipped, so nothing is lost or doubled. A debate
// unknown to the hub and to the store gets an `error` frame (not_found) and no
// subscription; the connection stays open. The handler never closes a connection
// because a subscription ended; it closes only a consumer too slow for its bounds
// (1008 "slow consumer", counted in slow_closes).
//
// Events whose envelope exceeds `max_frame_bytes` are sent with their longest string
// members of `data` cut (at a UTF-8 boundary) to fit, and `"truncated": true` added to
// `data` (counted in frames_truncated).
//
// Client complaints (malformed JSON, unknown type, bad id, bad replay_from_seq, more
// than max_subscriptions, duplicate subscribe, unsubscribe of an unknown debate) are
// `warning` frames {"message", "code"}; the connection stays open. Warning codes:
// invalid_json, invalid_message, unknown_type, invalid_debate_id,
// invalid_replay_from_seq, too_many_subscriptions, already_subscribed, not_subscribed,
// replay_incomplete (the store failed: the replay may have a gap).
//
// Thread-safety: callbacks may come on any I/O thread; Deliver from any publisher
// thread; ReplaySource answers from any thread (they are posted to the executor). All
// per-connection state is behind a per-connection mutex; nothing blocks.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"
#include "events/hub.hpp"
#include "net/http_types.hpp"
#include "net/server.hpp"

namespace aragora::api {

// Answer of a ReplaySource: the stored events, or an error (kNotFound: no such debate).
using ReplayDone = std::function<void(common::Result<std::vector<events::Event>>)>;

// Loads stored events of `debate_id` with since < seq < until_exclusive, ascending, and
// calls `done` exactly once, from any thread, never blocking the caller's thread (run the
// store on the blocking pool). It may answer a prefix only (a page): the handler asks
// again from the last seq it got, until an empty answer or until_exclusive - 1 is
// reached. kNotFound when the debate does not exist; any other error is reported to the
// client as a warning (replay_incomplete) and the replay goes on without those events.
// When the hub does not know a debate, the handler asks with until_exclusive = INT64_MAX
// to learn whether it exists. `done` may be called after the WsHandler is destroyed only
// while the io_context behind its executor still exists (stop the blocking pool first).
using ReplaySource = std::function<void(std::string debate_id, std::int64_t since,
                                        std::int64_t until_exclusive, ReplayDone done)>;

struct WsHandlerOptions {
    // A `heartbeat` frame {server_time, active_debates} this often per connection;
    // zero disables.
    std::chrono::milliseconds heartbeat_interval{15'000};
    // Minimum time between the previous frame and a `debate_end` on one connection.
    std::chrono::milliseconds debate_end_gap{20};
    // Subscriptions per connection; one more gets a warning (too_many_subscriptions).
    std::size_t max_subscriptions = 32;
    // Largest frame written; set to ServerLimits::ws_max_message_bytes (the Python
    // client's limit is 1 MiB).
    std::size_t max_frame_bytes = 1024 * 1024;
    // Frames handed to net at once, then at most send_rate_per_second (token bucket).
    // Keep send_burst well below ServerLimits::ws_send_queue_max.
    // Frames this handler lets wait in a connection's send queue (WsConnection::queued());
    // more wait here, up to max_queued_frames. Keep it under ws_send_queue_max. 0 = off.
    std::size_t max_in_flight = 32;
    std::size_t send_burst = 64;
    double send_rate_per_second = 5'000;
    // Frames waiting in the handler's queue per connection, and live events waiting
    // behind one subscription's replay; beyond either, the connection is closed with
    // 1008 "slow consumer".
    std::size_t max_queued_frames = 4096;
    std::size_t max_pending_live_events = 8192;
    // Decides `authenticated` of connection_info from the upgrade request (URL
    // ?token=, Authorization, Sec-WebSocket-Protocol access_token.<t>). Empty: accept.
    // An unauthenticated connection stays open and each of its subscriptions gets an
    // `error` frame auth_required.
    std::function<bool(const net::HttpRequest&)> authenticate;
    // Asynchronous variant (wins when set): calls `done(authenticated)` once, on any
    // thread. connection_info waits for it; client messages meanwhile are held (16 at most).
    std::function<void(const net::HttpRequest&, std::function<void(bool)> done)> authenticate_async;
    // When set and the upgrade carries Origin: a refused origin is closed with 1008.
    std::function<bool(std::string_view origin)> origin_allowed;
    // When set: false closes the new connection with 1008 (per-IP connection rate).
    std::function<bool(const net::HttpRequest&)> admit;
    // Client messages per second per connection (burst 2x); beyond, a `warning` frame
    // rate_limited and the message is dropped; a client that keeps sending is closed 1008.
    // 0 = unlimited.
    double messages_per_second = 0;
    // `active_debates` of heartbeats. Empty: the hub's live debates.
    std::function<std::size_t()> active_debates;
};

// Monotonic counters unless marked "gauge".
struct WsHandlerStats {
    std::uint64_t connections = 0;  // gauge: open connections
    std::uint64_t connections_total = 0;
    std::uint64_t subscriptions = 0;  // gauge: active subscriptions
    std::uint64_t subscriptions_total = 0;
    std::uint64_t messages_received = 0;  // client text messages
    std::uint64_t frames_sent = 0;        // frames accepted by WsConnection::Send
    // frames_sent by type (event_frames includes debate_end_frames)
    std::uint64_t connection_info_frames = 0;
    std::uint64_t replay_start_frames = 0;
    std::uint64_t replay_end_frames = 0;
    std::uint64_t event_frames = 0;
    std::uint64_t debate_end_frames = 0;
    std::uint64_t heartbeat_frames = 0;
    std::uint64_t pong_frames = 0;
    std::uint64_t warning_frames = 0;
    std::uint64_t error_frames = 0;
    std::uint64_t replays_served = 0;             // replay_end sent
    std::uint64_t replay_events_from_store = 0;   // replayed events from the ReplaySource
    std::uint64_t replay_events_from_buffer = 0;  // replayed events from the hub's buffer
    std::uint64_t live_events_sent = 0;
    std::uint64_t replay_failures = 0;        // ReplaySource errors other than kNotFound
    std::uint64_t frames_truncated = 0;       // events cut to max_frame_bytes
    std::uint64_t debate_end_delays = 0;      // debate_end frames held for debate_end_gap
    std::uint64_t send_failures = 0;          // Send returned false (closing, or refused)
    std::uint64_t slow_closes = 0;            // closed 1008 by this handler's bounds
    std::uint64_t refused_origin = 0;         // closed 1008: Origin not allowed
    std::uint64_t refused_rate = 0;           // closed 1008: per-IP connection rate
    std::uint64_t messages_rate_limited = 0;  // client messages dropped by the message rate
};

class WsHandler final : public net::WsHandler {
public:
    // `executor` runs the timers and the ReplaySource answers (the server's io_context).
    // `hub` must outlive the handler and all of its pending work. `replay` may be empty:
    // then only the hub's buffer is replayed and debates unknown to the hub are not_found.
    WsHandler(boost::asio::any_io_executor executor, events::EventHub& hub, ReplaySource replay,
              WsHandlerOptions options = {});
    // Cancels timers and drops every connection's state (net closes the sockets).
    ~WsHandler() override;
    WsHandler(const WsHandler&) = delete;
    WsHandler& operator=(const WsHandler&) = delete;

    void OnOpen(std::shared_ptr<net::WsConnection> conn) override;
    void OnMessage(std::shared_ptr<net::WsConnection> conn, std::string text) override;
    void OnClose(std::shared_ptr<net::WsConnection> conn) override;

    WsHandlerStats Stats() const;
    // Stats() as a JSON object (the `protocol` member of GET /api/ws/stats):
    // {"connections", "connections_total", "subscriptions", "subscriptions_total",
    //  "messages_received", "messages_sent", "frames_by_type": {"connection_info",
    //  "replay_start", "replay_end", "event", "debate_end", "heartbeat", "pong",
    //  "warning", "error"}, "replays_served", "replay_events_from_store",
    //  "replay_events_from_buffer", "live_events_sent", "warnings", "errors",
    //  "replay_failures", "frames_truncated", "debate_end_delays", "send_failures",
    //  "slow_closes"}
    std::string StatsJson() const;

private:
    struct Core;
    std::shared_ptr<Core> core_;
};

}  // namespace aragora::api
