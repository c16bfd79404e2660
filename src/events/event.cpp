#include "events/event.hpp"

#include <boost/json.hpp>

#include "common/json_text.hpp"

namespace aragora::events {

std::string ToEnvelopeJson(const Event& e) {
    if (e.envelope) return *e.envelope;
    boost::json::object o;
    o["type"] = e.type;
    boost::json::value data;
    boost::system::error_code ec;
    data = boost::json::parse(e.data_json, ec);
    if (ec || !data.is_object()) data = boost::json::object{{"debate_id", e.debate_id}};
    o["data"] = std::move(data);
    o["timestamp"] = e.timestamp;
    o["round"] = e.round;
    o["agent"] = e.agent;
    o["seq"] = e.seq;
    o["debate_id"] = e.debate_id;
    o["loop_id"] = e.debate_id;
    return common::SerializeJson(o);
}

void Seal(Event& e) {
    if (!e.envelope) e.envelope = std::make_shared<const std::string>(ToEnvelopeJson(e));
}

std::shared_ptr<const std::string> SharedEnvelope(const Event& e) {
    if (e.envelope) return e.envelope;
    return std::make_shared<const std::string>(ToEnvelopeJson(e));
}

}  // namespace aragora::events
