#pragma once

// Per-debate fan-out of live events with a bounded replay buffer (API.md WebSocket,
// DEBATE.md "Events"). Knows nothing of sockets: WebSocket sessions subscribe through
// the Subscriber interface. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "events/event.hpp"

namespace aragora::events {

// A live reader of one debate. Deliver() is called in seq order for that debate, never
// concurrently for the same debate, possibly on any thread; it must not block (enqueue
// and return). It is called without the hub's lock held, possibly before the
// Subscribe() call that registered it has returned, and possibly once more right after
// Unsubscribe() returned (the publisher had already copied the subscriber list).
class Subscriber {
public:
    virtual ~Subscriber() = default;
    virtual void Deliver(const Event& event) = 0;
    // Consecutive events of one debate, ascending seq (what one PublishBatch accepted for
    // this subscriber), under the same rules as Deliver: a subscriber that wakes a writer
    // per delivery wakes it once for the batch, and the batch goes out in one write. The
    // pointers are valid during the call only. Default: Deliver, one event at a time.
    virtual void DeliverBatch(std::span<const Event* const> events) {
        for (const Event* e : events) Deliver(*e);
    }
};

// Immutable storage of a run of buffered events, shared by the hub's buffer and every
// EventRange that reads it: slots below a reader's count are never written again (the hub
// only fills the slots above every count it has handed out, under its lock).
struct EventChunk {
    explicit EventChunk(std::size_t n) : slots(std::make_unique<Event[]>(n)), capacity(n) {}
    std::unique_ptr<Event[]> slots;
    const std::size_t capacity;
};

// A read-only view of buffered events, ascending by seq, sharing the hub's storage: taking
// one copies no event (O(chunks), a chunk holds up to 64 events), and it stays valid
// after the hub drops those events from its buffer.
class EventRange {
public:
    struct Segment {
        std::shared_ptr<const EventChunk> chunk;
        std::size_t begin = 0;  // slots [begin, end)
        std::size_t end = 0;
    };

    class Iterator {
    public:
        using value_type = Event;
        using difference_type = std::ptrdiff_t;
        using reference = const Event&;
        using pointer = const Event*;
        using iterator_category = std::forward_iterator_tag;

        Iterator() = default;
        Iterator(const std::vector<Segment>* segments, std::size_t seg, std::size_t slot)
            : segments_(segments), seg_(seg), slot_(slot) {}
        reference operator*() const { return (*segments_)[seg_].chunk->slots[slot_]; }
        pointer operator->() const { return &**this; }
        Iterator& operator++() {
            if (++slot_ == (*segments_)[seg_].end) {
                ++seg_;
                slot_ = seg_ < segments_->size() ? (*segments_)[seg_].begin : 0;
            }
            return *this;
        }
        Iterator operator++(int) {
            Iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const Iterator& o) const { return seg_ == o.seg_ && slot_ == o.slot_; }
        bool operator!=(const Iterator& o) const { return !(*this == o); }

    private:
        const std::vector<Segment>* segments_ = nullptr;
        std::size_t seg_ = 0;
        std::size_t slot_ = 0;
    };

    EventRange() = default;
    explicit EventRange(std::vector<Segment> segments);

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    Iterator begin() const;
    Iterator end() const { return Iterator(&segments_, segments_.size(), 0); }
    // The i-th event, O(segments).
    const Event& operator[](std::size_t i) const;

private:
    std::vector<Segment> segments_;  // none empty
    std::size_t size_ = 0;
};

struct SubscribeResult {
    std::uint64_t subscription_id = 0;
    // Buffered events with seq > from_seq, ascending, shared with the hub (no copy).
    // Together with the live events delivered after the registration, nothing is lost or
    // doubled: every event is either in `buffered` or delivered, never both.
    EventRange buffered;
    // Oldest seq still buffered (0 when the buffer is empty): when from_seq + 1 is older,
    // the caller loads [from_seq + 1, first_buffered_seq) from the store.
    std::int64_t first_buffered_seq = 0;
    std::int64_t latest_seq = 0;  // newest published seq (0 when none)
    bool known = false;           // the hub has (or had) this debate
    bool ended = false;           // its debate_end was published: no live events follow
};

struct HubStats {
    std::size_t live_debates = 0;     // debates with events and no debate_end yet
    std::size_t ended_debates = 0;    // ended debates whose buffers are still kept
    std::size_t subscriptions = 0;    // registered subscribers, all debates
    std::size_t buffered_events = 0;  // events held in all replay buffers
    std::uint64_t events_published = 0;
    std::uint64_t events_ignored = 0;  // Publish() with a seq not above the latest one
};

// Where a published event comes from: this process (a debate it runs), or another
// instance through the multi-instance bus (events/cluster_bridge.hpp).
enum class Origin { kLocal, kBus };

class EventHub {
public:
    // `replay_buffer_size` events kept per debate (ARAGORA_EVENT_REPLAY_BUFFER_SIZE; 0
    // keeps none: every replay then comes from the store). After its `debate_end` a debate
    // is "ended"; the buffers of the `max_ended_debates` most recently ended (or
    // subscribed) ended debates are kept, older ones are dropped with their subscriber
    // lists (nothing live follows an end), which bounds memory. Debates that never end
    // are kept until they do (every debate ends with a debate_end, DEBATE.md).
    // A debate nobody subscribes to keeps only its newest `unwatched_buffer_size` events
    // (ARAGORA_EVENT_REPLAY_BUFFER_UNWATCHED; default: as many as a watched one): its
    // events are in the store already (durable before visible), so a late subscriber loads
    // the older ones from there, and thousands of unwatched debates in flight do not keep
    // their whole transcripts here. The buffer grows again once someone subscribes.
    explicit EventHub(std::size_t replay_buffer_size = 1000, std::size_t max_ended_debates = 256,
                      std::size_t unwatched_buffer_size = SIZE_MAX);
    ~EventHub();
    EventHub(const EventHub&) = delete;
    EventHub& operator=(const EventHub&) = delete;

    // Publishes one event: appends it to the debate's buffer and delivers it to every
    // subscriber of the debate whose from_seq is below event.seq (the subscriber list is
    // copy-on-write: taken under the lock with one reference count, whatever the number
    // of subscribers, and delivered outside it, on the caller's thread). The event is
    // sealed once (Seal) and every subscriber gets the same envelope object. Callers
    // publish one debate's events in seq order, one at a time (the debate's EventEmitter
    // does); an event whose seq is not above the debate's latest published seq (a
    // duplicate or a late copy) is ignored and counted in events_ignored.
    // Events accepted from the bus are not relayed again.
    void Publish(const Event& event, Origin origin = Origin::kLocal);
    // The same, taking an event its publisher no longer needs (no copy).
    void Publish(Event&& event, Origin origin = Origin::kLocal);

    // Publishes consecutive events at once, as Publish would one by one (the same
    // ignoring of old seqs, buffering, relay and eviction), but each run of events of one
    // debate is appended under one lock and reaches each subscriber in one DeliverBatch
    // call: a group commit's events cost every viewer one wake-up and one socket write,
    // not one per event. Callers keep one debate's events in seq order.
    void PublishBatch(std::span<const Event> events, Origin origin = Origin::kLocal);
    // The same, taking events their publisher no longer needs (no copy).
    void PublishBatch(std::vector<Event>&& events, Origin origin = Origin::kLocal);

    // Called with every event accepted by a local Publish(), after its subscribers, on the
    // publisher's thread: the multi-instance bridge forwards them to the other instances.
    // Set once, before the first Publish(); it must not block.
    void SetRelay(std::function<void(const Event&)> relay);

    // The newest published seq of a debate (0 when the hub does not know it).
    std::int64_t LatestSeq(const std::string& debate_id) const;

    // Registers `subscriber` for live events of `debate_id` with seq > from_seq and
    // returns the buffered ones atomically with the registration. A debate the hub does
    // not know yet is registered too (known == false): its events are delivered when they
    // are published (a debate created but not started yet).
    SubscribeResult Subscribe(const std::string& debate_id, std::int64_t from_seq,
                              std::shared_ptr<Subscriber> subscriber);
    // Removes a registration; unknown ids are ignored. Idempotent.
    void Unsubscribe(const std::string& debate_id, std::uint64_t subscription_id);

    // Buffered events of a debate with seq > since, at most `limit` (polling fallback).
    std::vector<Event> Buffered(const std::string& debate_id, std::int64_t since,
                                std::size_t limit) const;

    HubStats Stats() const;

private:
    struct Impl;
    // PublishBatch for events of one debate.
    void PublishRun(std::vector<Event> events, Origin origin);

    std::unique_ptr<Impl> impl_;
    std::function<void(const Event&)> relay_;
};

}  // namespace aragora::events
