#pragma once

// Debate events and cancel requests between instances (ARAGORA_MULTI_INSTANCE): every
// event a debate publishes in this process goes to the bus, and every event another
// instance sent is published into this process's hub, so a WebSocket client on any
// instance sees every debate with the same seq and replay semantics. The bus itself
// (Redis pub/sub) is behind BusTransport; this file knows nothing of Redis.
//
// Only the instance running a debate publishes its events (in seq order; the bus keeps
// the order of one publisher). Events reach the hub only after they are stored
// (LocalDebateService), so when the bus loses messages (Redis restarted, FLUSHALL, a
// slow subscriber) the gap is read back from the shared store before the next event is
// published: a subscriber sees no hole and no duplicate (the hub drops seqs it has).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "events/event.hpp"
#include "events/hub.hpp"

namespace aragora::events {

// An event as sent on the bus, with the instance that sent it.
struct BusEvent {
    std::string instance_id;
    Event event;
};

// JSON: {"instance": ..., "event": <the event's envelope (events/event.hpp), as sealed>}.
std::string EncodeBusEvent(std::string_view instance_id, const Event& event);
// kValidation for anything that is not such a message (missing debate_id, seq < 1, ...).
common::Result<BusEvent> DecodeBusEvent(std::string_view payload);

// A cancel request: {"instance": ..., "cancel": "<debate id>"}.
std::string EncodeCancelRequest(std::string_view instance_id, std::string_view debate_id);
common::Result<std::string> DecodeCancelRequest(std::string_view payload);

// The bus. Send() must not block: it queues (bounded) or drops, and says which.
class BusTransport {
public:
    virtual ~BusTransport() = default;
    virtual bool Send(std::string_view channel, std::string payload) = 0;
};

// Reads events (after_seq, before_seq) of a debate, ascending, from the shared store.
using GapLoader = std::function<boost::asio::awaitable<common::Result<std::vector<Event>>>(
    const std::string& debate_id, std::int64_t after_seq, std::int64_t before_seq)>;

struct ClusterBridgeOptions {
    std::string instance_id;  // unique per process (the app makes one at start)
    std::string events_channel = "aragora:events";
    std::string control_channel = "aragora:control";
    std::size_t max_inbound = 10000;  // bus messages waiting to be published here
};

struct ClusterBridgeStats {
    std::uint64_t forwarded = 0;          // local events handed to the bus
    std::uint64_t forward_dropped = 0;    // local events the bus refused (down, queue full)
    std::uint64_t received = 0;           // events from other instances
    std::uint64_t own_ignored = 0;        // our own events coming back from the bus
    std::uint64_t inbound_dropped = 0;    // over max_inbound (read back from the store later)
    std::uint64_t gap_events_loaded = 0;  // events read from the store to close a gap
    std::uint64_t gap_load_failures = 0;
    std::uint64_t bad_messages = 0;
    std::uint64_t cancels_sent = 0;
    std::uint64_t cancels_received = 0;
};

// Thread-safety: every member may be called from any thread. Inbound events are
// published into the hub from one coroutine on the bridge's strand, in arrival order.
// The bridge must outlive the hub's relay (unset it first) and any pending work on
// `executor` (stop the io_context first).
class ClusterBridge {
public:
    ClusterBridge(boost::asio::any_io_executor executor, EventHub& hub, BusTransport& transport,
                  GapLoader loader, ClusterBridgeOptions options);
    ~ClusterBridge();
    ClusterBridge(const ClusterBridge&) = delete;
    ClusterBridge& operator=(const ClusterBridge&) = delete;

    // Sends a local event to the other instances (the hub's relay calls it).
    void Forward(const Event& event);

    // A message that arrived on `channel` (the bus subscriber calls it). Never blocks.
    void OnBusMessage(std::string_view channel, std::string_view payload);

    // Asks the instance that runs `debate_id` to cancel it. False when the bus refused.
    bool RequestCancel(const std::string& debate_id);
    // Called (on the bridge's strand) for a cancel request another instance sent. Set
    // before messages arrive.
    void SetCancelHandler(std::function<void(const std::string& debate_id)> handler);

    const ClusterBridgeOptions& options() const { return options_; }
    ClusterBridgeStats Stats() const;

private:
    boost::asio::awaitable<void> Drain();
    boost::asio::awaitable<void> PublishInbound(Event event);
    bool NextInbound(Event& next);  // false: queue empty, the drain ends
    void CountGap(const common::Result<std::vector<Event>>& missing);

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    EventHub& hub_;
    BusTransport& transport_;
    GapLoader loader_;
    ClusterBridgeOptions options_;
    std::function<void(const std::string&)> cancel_handler_;

    mutable std::mutex mutex_;
    std::deque<Event> inbound_;  // guarded by mutex_
    bool draining_ = false;      // a Drain() coroutine runs (guarded by mutex_)
    ClusterBridgeStats stats_;   // guarded by mutex_
};

}  // namespace aragora::events
