#pragma once

#include <span>
#include <vector>

#include "events/event.hpp"

namespace aragora::events {

// An EventSink that also takes consecutive events of one debate at once, ascending seq (a
// group commit's batch): a sink that fans out (the hub's) delivers them as one unit, so
// every viewer is woken once and written once for the batch. Publishers that batch
// (service/run) check for it; PublishBatch must act as Publish on each event in order.
class BatchSink : public EventSink {
public:
    virtual void PublishBatch(std::span<const Event> events) = 0;
    // The same, taking events the publisher no longer needs (no copy where the sink keeps
    // them).
    virtual void PublishBatch(std::vector<Event>&& events) {
        PublishBatch(std::span<const Event>(events));
    }
};

}  // namespace aragora::events
