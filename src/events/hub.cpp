#include "events/hub.hpp"

#include <algorithm>
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

    struct Debate {
        std::deque<Event> buffer;  // ascending seq, at most buffer_size events
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

void EventHub::Publish(const Event& unsealed, Origin origin) {
    // Encoded once, outside the lock; every subscriber and the buffer share the bytes.
    Event event = unsealed;
    Seal(event);
    std::shared_ptr<const Impl::Registrations> targets;
    std::vector<std::shared_ptr<Subscriber>> released;
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
            d.buffer.push_back(event);
            ++impl_->buffered_events;
            const std::size_t bound =
                d.subscribers->empty() ? impl_->unwatched_buffer_size : impl_->buffer_size;
            while (d.buffer.size() > bound) {
                d.buffer.pop_front();
                --impl_->buffered_events;
            }
        }
        ++impl_->events_published;
        targets = d.subscribers;
        if (event.type == "debate_end" && !d.ended) {
            d.ended = true;
            --impl_->live_debates;
            impl_->ended_lru.push_front(event.debate_id);
            d.ended_pos = impl_->ended_lru.begin();
            impl_->EvictEndedLocked(released);  // may drop `d` itself when max_ended_debates == 0
        }
    }
    for (const auto& r : *targets) {
        if (event.seq > r.from_seq) r.subscriber->Deliver(event);
    }
    if (origin == Origin::kLocal && relay_) relay_(event);
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
    auto first = std::partition_point(d.buffer.begin(), d.buffer.end(),
                                      [from_seq](const Event& e) { return e.seq <= from_seq; });
    r.buffered.assign(first, d.buffer.end());
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
    const auto& buffer = it->second.buffer;
    auto first = std::partition_point(buffer.begin(), buffer.end(),
                                      [since](const Event& e) { return e.seq <= since; });
    const auto n = std::min<std::size_t>(limit, static_cast<std::size_t>(buffer.end() - first));
    out.assign(first, first + static_cast<std::ptrdiff_t>(n));
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
