#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "events/event.hpp"
#include "events/payloads.hpp"

namespace aragora::debate {

// Stamps a debate's events (seq gap-free from 1, timestamp, debate_id), encodes each
// typed payload once (events/payloads.hpp) and seals the envelope once
// (events::Seal), then hands the event to the sink: the store, the hub's frames and the
// polling API all carry those bytes. One per debate; shared by the engine and whoever
// emits `debate_end`. Thread-safe (seq assignment and Publish happen under one lock, so
// the sink sees events in seq order).
class EventEmitter {
public:
    EventEmitter(std::string debate_id, const common::Clock& clock, events::EventSink& sink)
        : debate_id_(std::move(debate_id)), clock_(clock), sink_(sink) {}

    template <class P>
    std::int64_t Emit(int round, const std::string& agent, const P& payload) {
        return EmitData(P::kType, round, agent, events::EncodeData(payload, debate_id_));
    }

    // Assigns the next seq and timestamp but does not publish: for an event that must be
    // stored before anyone sees it (the server's `debate_end`). Publish it with Publish().
    template <class P>
    events::Event Stamp(int round, const std::string& agent, const P& payload) {
        return StampData(P::kType, round, agent, events::EncodeData(payload, debate_id_));
    }
    void Publish(const events::Event& event);

    const std::string& debate_id() const { return debate_id_; }
    std::int64_t last_seq() const;

private:
    std::int64_t EmitData(std::string_view type, int round, const std::string& agent,
                          std::string data_json);
    events::Event StampData(std::string_view type, int round, const std::string& agent,
                            std::string data_json);

    std::string debate_id_;
    const common::Clock& clock_;
    events::EventSink& sink_;
    mutable std::mutex mutex_;
    std::mutex publish_mutex_;  // keeps Publish calls in seq order
    std::int64_t seq_ = 0;
};

}  // namespace aragora::debate
