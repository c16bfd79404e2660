#include "debate/emitter.hpp"

#include "common/time.hpp"

namespace aragora::debate {

events::Event EventEmitter::StampData(std::string_view type, int round, const std::string& agent,
                                      std::string data_json) {
    events::Event e;
    e.debate_id = debate_id_;
    e.type = std::string(type);
    e.round = round;
    e.agent = agent;
    e.data_json = std::move(data_json);
    {
        std::lock_guard lock(mutex_);
        e.seq = ++seq_;
        e.timestamp = common::EpochSeconds(clock_.SystemNow());
    }
    events::Seal(e);
    return e;
}

void EventEmitter::Publish(const events::Event& event) {
    std::lock_guard lock(publish_mutex_);
    sink_.Publish(event);
}

std::int64_t EventEmitter::EmitData(std::string_view type, int round, const std::string& agent,
                                    std::string data_json) {
    // Stamping and publishing under one lock keeps the sink's view in seq order.
    std::lock_guard lock(publish_mutex_);
    events::Event e = StampData(type, round, agent, std::move(data_json));
    const std::int64_t seq = e.seq;
    sink_.Publish(std::move(e));
    return seq;
}

std::int64_t EventEmitter::last_seq() const {
    std::lock_guard lock(mutex_);
    return seq_;
}

}  // namespace aragora::debate
