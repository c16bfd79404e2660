#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "common/clock.hpp"
#include "events/event.hpp"

namespace aragora::debate {

// Stamps a debate's events (seq gap-free from 1, timestamp, debate_id) and hands them to
// the sink. One per debate; shared by the engine and whoever emits `debate_end`.
// Thread-safe (seq assignment and Publish happen under one lock, so the sink sees
// events in seq order).
class EventEmitter {
public:
    EventEmitter(std::string debate_id, const common::Clock& clock, events::EventSink& sink)
        : debate_id_(std::move(debate_id)), clock_(clock), sink_(sink) {}

    // `data_json` must be a JSON object; `debate_id` is added to it when missing.
    std::int64_t Emit(const std::string& type, int round, const std::string& agent,
                      std::string data_json);

    // Assigns the next seq and timestamp but does not publish: for an event that must be
    // stored before anyone sees it (the server's `debate_end`). Publish it with Publish().
    events::Event Stamp(const std::string& type, int round, const std::string& agent,
                        std::string data_json);
    void Publish(const events::Event& event);

    const std::string& debate_id() const { return debate_id_; }
    std::int64_t last_seq() const;

private:
    std::string debate_id_;
    const common::Clock& clock_;
    events::EventSink& sink_;
    mutable std::mutex mutex_;
    std::mutex publish_mutex_;  // keeps Publish calls in seq order
    std::int64_t seq_ = 0;
};

}  // namespace aragora::debate
