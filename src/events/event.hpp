#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace aragora::events {

// One debate event (API.md envelope). `data_json` is the serialized `data` object, as
// written by its payload's encoder (events/payloads.hpp; read it with that type's
// decoder, `As<T>`); it always carries `debate_id`. `seq` is per debate, gap-free from 1.
struct Event {
    std::string debate_id;
    std::int64_t seq = 0;
    std::string type;
    double timestamp = 0;  // epoch seconds
    int round = 0;         // 0 when none
    std::string agent;     // "" when none
    std::string data_json = "{}";
    // The envelope text, encoded once and shared by every reader (store, WebSocket
    // frames, polling); null until Seal(). Immutable once set.
    std::shared_ptr<const std::string> envelope;
};

// Renders the envelope {"type","data","timestamp","round","agent","seq","debate_id","loop_id"}
// around `data_json` as it is (no parse); the sealed text when there is one.
std::string ToEnvelopeJson(const Event& e);

// Encodes the envelope once into `e.envelope` (no-op when already sealed).
void Seal(Event& e);

// The sealed envelope, or a fresh encoding for an unsealed event.
std::shared_ptr<const std::string> SharedEnvelope(const Event& e);

// Receives every event of a debate in seq order. Implementations must not block
// (the engine calls it from its coroutine); thread-safety is the sink's business.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void Publish(const Event& event) = 0;
    // The same for an event the caller no longer needs: a sink that keeps events may take
    // it without a copy (the default publishes it as above).
    virtual void Publish(Event&& event) { Publish(static_cast<const Event&>(event)); }
};

}  // namespace aragora::events
