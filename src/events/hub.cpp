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

    // A debate's subscriber list: blocks of at most kBlock registrations, ascending id,
    // each immutable once published. A change copies the block pointers (subscribers / 64)
    // and the one block it touches, not the whole list: 10,000 viewers joining one debate
    // cost O(n * n / 64) pointer copies instead of O(n * n) registration copies.
    static constexpr std::size_t kBlock = 64;
    struct RegBlock {
        std::vector<Registration> regs;  // never empty once published
    };
    struct Registrations {
        std::vector<std::shared_ptr<const RegBlock>> blocks;
        std::size_t size = 0;

        template <typename F>
        void ForEach(F&& f) const {
            for (const auto& b : blocks) {
                for (const Registration& r : b->regs) f(r);
            }
        }

        std::shared_ptr<const Registrations> With(Registration r) const {
            auto list = std::make_shared<Registrations>();
            list->blocks.reserve(blocks.size() + 1);
            list->blocks = blocks;
            list->size = size + 1;
            if (!blocks.empty() && blocks.back()->regs.size() < kBlock) {
                const auto& last = blocks.back()->regs;
                auto b = std::make_shared<RegBlock>();
                b->regs.reserve(last.size() + 1);
                b->regs.insert(b->regs.end(), last.begin(), last.end());
                b->regs.push_back(std::move(r));
                list->blocks.back() = std::move(b);
            } else {
                auto b = std::make_shared<RegBlock>();
                b->regs.push_back(std::move(r));
                list->blocks.push_back(std::move(b));
            }
            return list;
        }

        // The list without registration `id` (null when it is not there); its subscriber
        // goes to `released`.
        std::shared_ptr<const Registrations> Without(std::uint64_t id,
                                                     std::shared_ptr<Subscriber>& released) const {
            auto bi = std::partition_point(
                blocks.begin(), blocks.end(),
                [id](const std::shared_ptr<const RegBlock>& b) { return b->regs.back().id < id; });
            if (bi == blocks.end()) return nullptr;
            const std::vector<Registration>& regs = (*bi)->regs;
            auto ri = std::find_if(regs.begin(), regs.end(),
                                   [id](const Registration& r) { return r.id == id; });
            if (ri == regs.end()) return nullptr;
            released = ri->subscriber;
            const auto k = static_cast<std::size_t>(bi - blocks.begin());
            const bool merge =
                k + 1 < blocks.size() && regs.size() - 1 + blocks[k + 1]->regs.size() <= kBlock;
            auto b = std::make_shared<RegBlock>();
            b->regs.reserve(regs.size() - 1 + (merge ? blocks[k + 1]->regs.size() : 0));
            b->regs.insert(b->regs.end(), regs.begin(), ri);
            b->regs.insert(b->regs.end(), ri + 1, regs.end());
            auto list = std::make_shared<Registrations>();
            list->blocks = blocks;
            list->size = size - 1;
            // Small neighbours merge, so the block count stays near size / 64.
            if (merge) {
                const auto& next = blocks[k + 1]->regs;
                b->regs.insert(b->regs.end(), next.begin(), next.end());
                list->blocks.erase(list->blocks.begin() + static_cast<std::ptrdiff_t>(k + 1));
            }
            if (b->regs.empty()) {
                list->blocks.erase(list->blocks.begin() + static_cast<std::ptrdiff_t>(k));
            } else {
                list->blocks[k] = std::move(b);
            }
            return list;
        }
    };

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
        // Subscribe/Unsubscribe replace it with a changed copy (O(subscribers / 64 + 64)
        // under the lock, once per viewer rather than once per event).
        std::shared_ptr<const Registrations> subscribers = std::make_shared<Registrations>();

        bool known() const { return latest_seq > 0 || ended; }
    };

    Impl(std::size_t buffer, std::size_t max_ended, std::size_t unwatched)
        : buffer_size(buffer),
          max_ended_debates(max_ended),
          unwatched_buffer_size(std::min(buffer, unwatched)) {}

    // Drops ended debates beyond max_ended_debates, least recently ended/subscribed first.
    // Their subscribers move to `released`, to be destroyed after unlocking.
    void EvictEndedLocked(std::vector<std::shared_ptr<Subscriber>>& released) {
        while (ended_lru.size() > max_ended_debates) {
            auto it = debates.find(ended_lru.back());
            ended_lru.pop_back();
            if (it == debates.end()) continue;
            subscriptions -= it->second.subscribers->size;
            buffered_events -= it->second.buffer.size();
            it->second.subscribers->ForEach(
                [&](const Registration& r) { released.push_back(r.subscriber); });
            debates.erase(it);
        }
    }

    void TouchEndedLocked(Debate& d) {
        if (d.ended) ended_lru.splice(ended_lru.begin(), ended_lru, d.ended_pos);
    }

    const std::size_t buffer_size;
    const std::size_t max_ended_debates;
    const std::size_t unwatched_buffer_size;  // <= buffer_size

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

EventHub::EventHub(std::size_t replay_buffer_size, std::size_t max_ended_debates,
                   std::size_t unwatched_buffer_size)
    : impl_(std::make_unique<Impl>(replay_buffer_size, max_ended_debates, unwatched_buffer_size)) {}

EventHub::~EventHub() = default;

void EventHub::SetRelay(std::function<void(const Event&)> relay) { relay_ = std::move(relay); }

std::int64_t EventHub::LatestSeq(const std::string& debate_id) const {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->debates.find(debate_id);
    return it == impl_->debates.end() ? 0 : it->second.latest_seq;
}

void EventHub::Publish(const Event& event, Origin origin) { Publish(Event(event), origin); }

void EventHub::Publish(Event&& event, Origin origin) {
    std::vector<Event> one;
    one.push_back(std::move(event));
    PublishRun(std::move(one), origin);
}

void EventHub::PublishBatch(std::span<const Event> events, Origin origin) {
    PublishBatch(std::vector<Event>(events.begin(), events.end()), origin);
}

void EventHub::PublishBatch(std::vector<Event>&& events, Origin origin) {
    std::size_t i = 0;
    while (i < events.size()) {
        std::size_t j = i + 1;
        while (j < events.size() && events[j].debate_id == events[i].debate_id) ++j;
        if (i == 0 && j == events.size()) {
            PublishRun(std::move(events), origin);  // one debate's run: the usual case
            return;
        }
        PublishRun(std::vector<Event>(std::make_move_iterator(events.begin() + i),
                                      std::make_move_iterator(events.begin() + j)),
                   origin);
        i = j;
    }
}

void EventHub::PublishRun(std::vector<Event> sealed, Origin origin) {
    // Encoded once, outside the lock; every subscriber and the buffer share the bytes.
    for (Event& e : sealed) Seal(e);
    std::shared_ptr<const Impl::Registrations> targets;
    std::vector<std::shared_ptr<Subscriber>> released;
    // The accepted events, ascending: slots of the buffer's chunks (kept alive here even
    // if the debate is evicted below), or of `sealed` when nothing is buffered.
    std::vector<std::shared_ptr<EventChunk>> chunks;
    std::vector<const Event*> delivered;
    delivered.reserve(sealed.size());
    {
        std::lock_guard lock(impl_->mu);
        for (Event& event : sealed) {
            Impl::Debate& d = impl_->debates[event.debate_id];
            if (event.seq <= d.latest_seq) {
                // A second copy (e.g. from a bus) must not reach subscribers twice, and the
                // buffer must stay ascending for the snapshot's binary search.
                ++impl_->events_ignored;
                if (!d.known() && d.subscribers->size == 0) impl_->debates.erase(event.debate_id);
                continue;
            }
            if (!d.known()) ++impl_->live_debates;
            d.latest_seq = event.seq;
            const Event* slot = &event;
            if (impl_->buffer_size > 0) {
                auto [c, s] = d.buffer.Append(std::move(event));
                if (chunks.empty() || chunks.back() != c) chunks.push_back(std::move(c));
                slot = s;
                ++impl_->buffered_events;
                const std::size_t bound =
                    d.subscribers->size == 0 ? impl_->unwatched_buffer_size : impl_->buffer_size;
                while (d.buffer.size() > bound) {
                    d.buffer.PopFront();
                    --impl_->buffered_events;
                }
            }
            ++impl_->events_published;
            delivered.push_back(slot);
            // The list cannot change while the lock is held, but for an eviction, which
            // ends the debate (its subscribers get this run's events, nothing after).
            if (!targets) targets = d.subscribers;
            if (slot->type == "debate_end" && !d.ended) {
                d.ended = true;
                --impl_->live_debates;
                impl_->ended_lru.push_front(slot->debate_id);
                d.ended_pos = impl_->ended_lru.begin();
                // May drop `d` itself when max_ended_debates == 0.
                impl_->EvictEndedLocked(released);
            }
        }
    }
    if (delivered.empty()) return;
    targets->ForEach([&delivered](const Impl::Registration& r) {
        auto first = delivered.begin();
        if ((*first)->seq <= r.from_seq) {
            first = std::partition_point(delivered.begin(), delivered.end(),
                                         [&r](const Event* e) { return e->seq <= r.from_seq; });
        }
        const auto n = static_cast<std::size_t>(delivered.end() - first);
        if (n == 1) {
            r.subscriber->Deliver(**first);
        } else if (n > 1) {
            r.subscriber->DeliverBatch(std::span<const Event* const>(&*first, n));
        }
    });
    if (origin == Origin::kLocal && relay_) {
        for (const Event* e : delivered) relay_(*e);
    }
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
    d.subscribers = d.subscribers->With({r.subscription_id, from_seq, std::move(subscriber)});
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
    auto list = d.subscribers->Without(subscription_id, released);
    if (!list) return;
    d.subscribers = std::move(list);
    --impl_->subscriptions;
    // A placeholder made by Subscribe() for a debate that never published goes with its
    // last subscriber, so that probing unknown ids leaves nothing behind.
    if (!d.known() && d.subscribers->size == 0) impl_->debates.erase(it);
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
