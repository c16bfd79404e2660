#include "debate/emitter.hpp"

#include <boost/json.hpp>

#include "common/json_text.hpp"
#include "common/time.hpp"

namespace aragora::debate {

events::Event EventEmitter::Stamp(const std::string& type, int round, const std::string& agent,
                                  std::string data_json) {
    boost::system::error_code ec;
    boost::json::value data = boost::json::parse(data_json, ec);
    if (ec || !data.is_object()) data = boost::json::object{};
    auto& obj = data.as_object();
    if (!obj.contains("debate_id")) obj["debate_id"] = debate_id_;

    std::lock_guard lock(mutex_);
    events::Event e;
    e.debate_id = debate_id_;
    e.seq = ++seq_;
    e.type = type;
    e.timestamp = common::EpochSeconds(clock_.SystemNow());
    e.round = round;
    e.agent = agent;
    e.data_json = common::SerializeJson(data);
    return e;
}

void EventEmitter::Publish(const events::Event& event) {
    std::lock_guard lock(publish_mutex_);
    sink_.Publish(event);
}

std::int64_t EventEmitter::Emit(const std::string& type, int round, const std::string& agent,
                                std::string data_json) {
    // Stamping and publishing under one lock keeps the sink's view in seq order.
    std::lock_guard lock(publish_mutex_);
    events::Event e = Stamp(type, round, agent, std::move(data_json));
    sink_.Publish(e);
    return e.seq;
}

std::int64_t EventEmitter::last_seq() const {
    std::lock_guard lock(mutex_);
    return seq_;
}

}  // namespace aragora::debate
