#pragma once

// The WebSocket protocol of API.md ("WebSocket") on top of net::WsHandler:
// connection_info, subscriptions (URL `?debate_id=` or `subscribe` messages) that replay
// stored + buffered events then go live, ping/pong, heartbeats, warning and error
// frames. No Beast, no SQL: stored events come through an injected ReplaySource.
//
// Shape: each connection is a pair of coroutines on its strand
// (net::WsConnection::executor()) that own its state; no lock guards it. The reader is
// Serve (net runs it per connection): it admits the connection, spawns the writer, reads
// client messages with co_await WsConnection::Read() and handles each in place, and when
// Read ends releases the subscriptions, which ends the writer. The writer drains the
// connection's one bounded frame queue with one net::WsConnection::Write in flight.
// It:
//  - writes every frame queued behind the write in flight with one WriteMany (at most 32
//    frames / 256 KiB): each frame is its own WebSocket message (one JSON object per
//    frame), and the burst is one socket write instead of one per frame;
//  - writes a `debate_end` alone, after `debate_end_gap` has passed since the previous
//    write (the TypeScript client drops frames that arrive in the same read); later
//    frames wait behind it;
//  - pulls replay events into the queue as it drains (a store page at a time), so a
//    long replay holds one store page per subscription, not the whole debate;
//  - sends the heartbeat when it is due.
// It sleeps on a timer (the next heartbeat or debate_end deadline) that a push cancels:
// nothing polls. A live delivery that finds the writer asleep and the queue's head free
// to go writes it on the spot instead (WsConnection::TryWriteNow: one non-blocking
// write, no wake-up; counted in direct_writes); the writer is woken for anything else.
//
// Fan-out: an event frame is the event's sealed envelope (events::SharedEnvelope), one
// immutable string shared by every subscriber's queue; the hub's Deliver only appends
// {subscription, seq, frame pointer} to the connection's inbox (a leaf mutex) and posts
// one wake-up to the strand per burst. A group commit's batch arrives as one
// DeliverBatch (EventHub::PublishBatch): appended at once, one wake-up, one WriteMany.
//
// Subscription lifecycle: replay_start {debate_id, from_seq, event_count}; the events
// with seq > from_seq older than the hub's buffer (ReplaySource), then the hub's
// buffered ones (read from a view of the hub's buffer, one at a time: subscribing copies
// no event); replay_end {debate_id, replayed_count, latest_seq}; then live events.
// Live events that arrive during the replay wait in the subscription (at most
// max_pending_live_events) and follow replay_end; seqs already sent are skipped, so
// nothing is lost or doubled. A debate unknown to the hub and to the store gets an
// `error` frame (not_found) and no subscription; the connection stays open. The handler
// never closes a connection because a subscription ended; it closes only a consumer too
// slow for its bounds (1008 "slow consumer", counted in slow_closes).
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
// Threads: Serve and the writer run on the connection's strand; Deliver from any publisher
// thread; ReplaySource and authenticate_async answers from any thread (they are posted
// to the strand). Nothing blocks.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
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
// to learn whether it exists. `done` may be called after the DebateStreamHandler is
// destroyed only while the io_context of the connections still exists (stop the blocking
// pool first).
using ReplaySource = std::function<void(std::string debate_id, std::int64_t since,
                                        std::int64_t until_exclusive, ReplayDone done)>;

struct DebateStreamOptions {
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
    // Frames waiting in a connection's queue (the only one: net keeps none), and live
    // events waiting behind one subscription's replay; beyond either, the connection is
    // closed with 1008 "slow consumer". Replay events enter the queue only while it holds
    // fewer than min(64, max_queued_frames / 2) frames, so a replay never trips it.
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
struct DebateStreamStats {
    std::uint64_t connections = 0;  // gauge: open connections
    std::uint64_t connections_total = 0;
    std::uint64_t subscriptions = 0;  // gauge: active subscriptions
    std::uint64_t subscriptions_total = 0;
    std::uint64_t messages_received = 0;  // client text messages
    std::uint64_t frames_sent = 0;        // frames written (WsConnection::Write)
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
    std::uint64_t send_failures = 0;          // Write returned false (closing, or refused)
    std::uint64_t slow_closes = 0;            // closed 1008 by this handler's bounds
    std::uint64_t refused_origin = 0;         // closed 1008: Origin not allowed
    std::uint64_t refused_rate = 0;           // closed 1008: per-IP connection rate
    std::uint64_t messages_rate_limited = 0;  // client messages dropped by the message rate
    // Writes of live frames made right where they were delivered (WsConnection::
    // TryWriteNow), without waking the connection's writer.
    std::uint64_t direct_writes = 0;
};

// The API side of the WebSocket: serves net::WsHandler's connections with the debate
// event protocol above.
class DebateStreamHandler final : public net::WsHandler {
public:
    // `hub` must outlive the handler and all of its pending work. `replay` may be empty:
    // then only the hub's buffer is replayed and debates unknown to the hub are not_found.
    DebateStreamHandler(events::EventHub& hub, ReplaySource replay,
                        DebateStreamOptions options = {});
    // Leaves the hub and drops every connection's state (net closes the sockets). Call it
    // when the io_context no longer runs the connections (net's contract for handlers).
    ~DebateStreamHandler() override;
    DebateStreamHandler(const DebateStreamHandler&) = delete;
    DebateStreamHandler& operator=(const DebateStreamHandler&) = delete;

    // One connection, start to end (net::WsHandler): the reader coroutine described above.
    boost::asio::awaitable<void> Serve(std::shared_ptr<net::WsConnection> conn) override;

    DebateStreamStats Stats() const;
    // Stats() as a JSON object (the `protocol` member of GET /api/ws/stats):
    // {"connections", "connections_total", "subscriptions", "subscriptions_total",
    //  "messages_received", "messages_sent", "frames_by_type": {"connection_info",
    //  "replay_start", "replay_end", "event", "debate_end", "heartbeat", "pong",
    //  "warning", "error"}, "replays_served", "replay_events_from_store",
    //  "replay_events_from_buffer", "live_events_sent", "warnings", "errors",
    //  "replay_failures", "frames_truncated", "debate_end_delays", "send_failures",
    //  "slow_closes", "refused_origin", "refused_rate", "messages_rate_limited",
    //  "direct_writes"}
    std::string StatsJson() const;

private:
    struct Core;
    std::shared_ptr<Core> core_;
};

}  // namespace aragora::api
