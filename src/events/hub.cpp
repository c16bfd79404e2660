#include "events/hub.hpp"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace aragora::events {

struct EventHub::Impl {
    struct Registration {
        std::uint64_t id = 0;
        std::int64_t from_seq = 0;
        std::shared_ptr<Subscriber> subscriber;
    };

    using Registrations = std::vector<Registration>;

    // The replay buffer: events in chunks (slots [head, end) of the front chunk up to
    // [0, tail) of the back one), ascending seq. A chunk's filled slots are never written
    // again, so a snapshot (EventRange) shares them instead of copying.
    struct Buffer {
        std::deque<std::shared_ptr<EventChunk>> chunks;
        std::size_t head = 0;  // first live slot of chunks.front()
        std::size_t tail = 0;  // filled slots of chunks.back()
        std::size_t count = 0;

        std::size_t size() const { return count; }
        bool empty() const { return count == 0; }
        std::size_t Begin(std::size_t i) const { return i == 0 ? head : 0; }
        std::size_t End(std::size_t i) const {
            return i + 1 == chunks.size() ? tail : chunks[i]->capacity;
        }
        const Event& front() const { return chunks.front()->slots[head]; }

        // Appends `e`; returns the chunk holding it and its slot.
        std::pair<std::shared_ptr<EventChunk>, const Event*> Append(Event e) {
            if (chunks.empty() || tail == chunks.back()->capacity) {
                // Small debates keep small chunks: 4, then as many as are buffered, up to 64.
                const std::size_t n = std::min<std::size_t>(64, std::max<std::size_t>(4, count));
                chunks.push_back(std::make_shared<EventChunk>(n));
                tail = 0;
            }
            EventChunk& c = *chunks.back();
            c.slots[tail] = std::move(e);
            ++count;
            return {chunks.back(), &c.slots[tail++]};
        }

        void PopFront() {
            ++head;
            --count;
            if (head == chunks.front()->capacity) {
                chunks.pop_front();
                head = 0;
            }
            if (count == 0 && chunks.size() == 1 && head == tail) {
                chunks.clear();
                head = tail = 0;
            }
        }

        // The events with seq > since, at most `limit`, sharing the chunks.
        EventRange Since(std::int64_t since, std::size_t limit) const {
            std::vector<EventRange::Segment> segments;
            for (std::size_t i = 0; i < chunks.size() && limit > 0; ++i) {
                const Event* slots = chunks[i]->slots.get();
                std::size_t b = Begin(i);
                const std::size_t e = End(i);
                if (b == e || slots[e - 1].seq <= since) continue;
                b = static_cast<std::size_t>(
                    std::partition_point(slots + b, slots + e,
                                         [since](const Event& ev) { return ev.seq <= since; }) -
                    slots);
                const std::size_t n = std::min(limit, e - b);
                segments.push_back({chunks[i], b, b + n});
                limit -= n;
            }
            return EventRange(std::move(segments));
        }
    };

    struct Debate {
        Buffer buffer;  // ascending seq, at most buffer_size events
        std::int64_t latest_seq = 0;
        bool ended = false;
        std::list<std::string>::iterator ended_pos;  // valid while ended
        // Copy-on-write and immutable once published: Publish takes the list with one
        // reference count under the lock (not one per subscriber: 10,000 viewers of one
        // debate would hold the one hub lock for the whole copy) and delivers outside it;
        // Subscribe/Unsubscribe replace it with a changed copy (O(subscribers) under the
        // lock, once per viewer rather than once per event).
        std::shared_ptr<const Registrations> subscribers = std::make_shared<Registrations>();

        bool known() const { return latest_seq > 0 || ended; }
    };

    Impl(std::size_t buffer, std::size_t max_ended)
        : buffer_size(buffer), max_ended_debates(max_ended) {}

    // Drops ended debates beyond max_ended_debates, least recently ended/subscribed first.
    // Their subscribers move to `released`, to be destroyed after unlocking.
    void EvictEndedLocked(std::vector<std::shared_ptr<Subscriber>>& released) {
        while (ended_lru.size() > max_ended_debates) {
            auto it = debates.find(ended_lru.back());
            ended_lru.pop_back();
            if (it == debates.end()) continue;
            subscriptions -= it->second.subscribers->size();
            buffered_events -= it->second.buffer.size();
            for (const auto& r : *it->second.subscribers) released.push_back(r.subscriber);
            debates.erase(it);
        }
    }

    void TouchEndedLocked(Debate& d) {
        if (d.ended) ended_lru.splice(ended_lru.begin(), ended_lru, d.ended_pos);
    }

    const std::size_t buffer_size;
    const std::size_t max_ended_debates;

    mutable std::mutex mu;
    std::unordered_map<std::string, Debate> debates;
    std::list<std::string> ended_lru;  // front = most recent
    std::uint64_t next_subscription_id = 1;
    std::size_t live_debates = 0;
    std::size_t subscriptions = 0;
    std::size_t buffered_events = 0;
    std::uint64_t events_published = 0;
    std::uint64_t events_ignored = 0;
};

EventRange::EventRange(std::vector<Segment> segments) : segments_(std::move(segments)) {
    for (const Segment& s : segments_) size_ += s.end - s.begin;
}

EventRange::Iterator EventRange::begin() const {
    return segments_.empty() ? end() : Iterator(&segments_, 0, segments_.front().begin);
}

const Event& EventRange::operator[](std::size_t i) const {
    for (const Segment& s : segments_) {
        const std::size_t n = s.end - s.begin;
        if (i < n) return s.chunk->slots[s.begin + i];
        i -= n;
    }
    std::abort();  // i >= size()
}

EventHub::EventHub(std::size_t replay_buffer_size, std::size_t max_ended_debates)
    : impl_(std::make_unique<Impl>(replay_buffer_size, max_ended_debates)) {}

EventHub::~EventHub() = default;

void EventHub::SetRelay(std::function<void(const Event&)> relay) { relay_ = std::move(relay); }

std::int64_t EventHub::LatestSeq(const std::string& debate_id) const {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->debates.find(debate_id);
    return it == impl_->debates.end() ? 0 : it->second.latest_seq;
}

void EventHub::Publish(const Event& unsealed, Origin origin) {
    // Encoded once, outside the lock; every subscriber and the buffer share the bytes.
    Event event = unsealed;
    Seal(event);
    std::shared_ptr<const Impl::Registrations> targets;
    std::vector<std::shared_ptr<Subscriber>> released;
    std::shared_ptr<EventChunk> chunk;
    const Event* delivered = &event;
    {
        std::lock_guard lock(impl_->mu);
        Impl::Debate& d = impl_->debates[event.debate_id];
        if (event.seq <= d.latest_seq) {
            // A second copy (e.g. from a bus) must not reach subscribers twice, and the
            // buffer must stay ascending for the snapshot's binary search.
            ++impl_->events_ignored;
            if (!d.known() && d.subscribers->empty()) impl_->debates.erase(event.debate_id);
            return;
        }
        if (!d.known()) ++impl_->live_debates;
        d.latest_seq = event.seq;
        if (impl_->buffer_size > 0) {
            // Subscribers get the buffered copy (kept alive by `chunk` even if the debate
            // is evicted below).
            auto [c, slot] = d.buffer.Append(std::move(event));
            chunk = std::move(c);
            delivered = slot;
            ++impl_->buffered_events;
            if (d.buffer.size() > impl_->buffer_size) {
                d.buffer.PopFront();
                --impl_->buffered_events;
            }
        }
        ++impl_->events_published;
        targets = d.subscribers;
        if (delivered->type == "debate_end" && !d.ended) {
            d.ended = true;
            --impl_->live_debates;
            impl_->ended_lru.push_front(delivered->debate_id);
            d.ended_pos = impl_->ended_lru.begin();
            impl_->EvictEndedLocked(released);  // may drop `d` itself when max_ended_debates == 0
        }
    }
    for (const auto& r : *targets) {
        if (delivered->seq > r.from_seq) r.subscriber->Deliver(*delivered);
    }
    if (origin == Origin::kLocal && relay_) relay_(*delivered);
}

SubscribeResult EventHub::Subscribe(const std::string& debate_id, std::int64_t from_seq,
                                    std::shared_ptr<Subscriber> subscriber) {
    if (from_seq < 0) from_seq = 0;
    SubscribeResult r;
    std::lock_guard lock(impl_->mu);
    Impl::Debate& d = impl_->debates[debate_id];
    r.known = d.known();
    r.ended = d.ended;
    r.latest_seq = d.latest_seq;
    r.first_buffered_seq = d.buffer.empty() ? 0 : d.buffer.front().seq;
    r.buffered = d.buffer.Since(from_seq, d.buffer.size());
    r.subscription_id = impl_->next_subscription_id++;
    auto list = std::make_shared<Impl::Registrations>();
    list->reserve(d.subscribers->size() + 1);
    *list = *d.subscribers;
    list->push_back({r.subscription_id, from_seq, std::move(subscriber)});
    d.subscribers = std::move(list);
    ++impl_->subscriptions;
    impl_->TouchEndedLocked(d);
    return r;
}

void EventHub::Unsubscribe(const std::string& debate_id, std::uint64_t subscription_id) {
    std::shared_ptr<Subscriber> released;  // destroyed after unlocking
    std::lock_guard lock(impl_->mu);
    auto it = impl_->debates.find(debate_id);
    if (it == impl_->debates.end()) return;
    Impl::Debate& d = it->second;
    const auto& current = *d.subscribers;
    auto found = std::find_if(current.begin(), current.end(),
                              [&](const Impl::Registration& r) { return r.id == subscription_id; });
    if (found == current.end()) return;
    released = found->subscriber;
    auto list = std::make_shared<Impl::Registrations>();
    list->reserve(current.size() - 1);
    list->insert(list->end(), current.begin(), found);
    list->insert(list->end(), found + 1, current.end());
    d.subscribers = std::move(list);
    --impl_->subscriptions;
    // A placeholder made by Subscribe() for a debate that never published goes with its
    // last subscriber, so that probing unknown ids leaves nothing behind.
    if (!d.known() && d.subscribers->empty()) impl_->debates.erase(it);
}

std::vector<Event> EventHub::Buffered(const std::string& debate_id, std::int64_t since,
                                      std::size_t limit) const {
    std::vector<Event> out;
    std::lock_guard lock(impl_->mu);
    auto it = impl_->debates.find(debate_id);
    if (it == impl_->debates.end()) return out;
    const EventRange range = it->second.buffer.Since(since, limit);
    out.reserve(range.size());
    out.assign(range.begin(), range.end());
    return out;
}

HubStats EventHub::Stats() const {
    std::lock_guard lock(impl_->mu);
    HubStats s;
    s.live_debates = impl_->live_debates;
    s.ended_debates = impl_->ended_lru.size();
    s.subscriptions = impl_->subscriptions;
    s.buffered_events = impl_->buffered_events;
    s.events_published = impl_->events_published;
    s.events_ignored = impl_->events_ignored;
    return s;
}

}  // namespace aragora::events
