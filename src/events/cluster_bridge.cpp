#include "events/cluster_bridge.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <exception>
#include <utility>

#include "common/json_access.hpp"
#include "common/json_text.hpp"
#include "common/logging.hpp"

namespace aragora::events {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::StringFieldOr;

common::Error Bad(std::string what) {
    return common::MakeError(ErrorCode::kValidation, "bus message: " + std::move(what));
}

common::Result<json::object> ParseObject(std::string_view payload) {
    boost::system::error_code ec;
    json::value v = json::parse(payload, ec);
    if (ec || !v.is_object()) return Bad("not a JSON object");
    return std::move(v.as_object());
}

}  // namespace

std::string EncodeBusEvent(std::string_view instance_id, const Event& event) {
    // The event travels as its envelope, the bytes every local subscriber gets.
    std::shared_ptr<const std::string> envelope = SharedEnvelope(event);
    std::string out = "{\"instance\":";
    out += common::SerializeJson(json::value(instance_id));
    out += ",\"event\":";
    out += *envelope;
    out += '}';
    return out;
}

common::Result<BusEvent> DecodeBusEvent(std::string_view payload) {
    auto o = ParseObject(payload);
    if (!o) return o.error();
    auto* ev = o->if_contains("event");
    if (ev == nullptr || !ev->is_object()) return Bad("no event object");
    const json::object& e = ev->as_object();
    BusEvent out;
    out.instance_id = StringFieldOr(*o, "instance");
    out.event.debate_id = StringFieldOr(e, "debate_id");
    out.event.type = StringFieldOr(e, "type");
    out.event.agent = StringFieldOr(e, "agent");
    if (out.event.debate_id.empty() || out.event.type.empty()) return Bad("no debate_id or type");
    auto* seq = e.if_contains("seq");
    if (seq == nullptr || !seq->is_int64() || seq->as_int64() < 1) return Bad("seq must be >= 1");
    out.event.seq = seq->as_int64();
    if (auto* ts = e.if_contains("timestamp"); ts != nullptr && ts->is_number()) {
        out.event.timestamp = ts->to_number<double>();
    }
    if (auto* round = e.if_contains("round"); round != nullptr && round->is_int64()) {
        out.event.round = static_cast<int>(round->as_int64());
    }
    auto* data = e.if_contains("data");
    out.event.data_json =
        data != nullptr && data->is_object() ? common::SerializeJson(data->as_object()) : "{}";
    return out;
}

std::string EncodeCancelRequest(std::string_view instance_id, std::string_view debate_id) {
    json::object o;
    o["instance"] = instance_id;
    o["cancel"] = debate_id;
    return common::SerializeJson(o);
}

common::Result<std::string> DecodeCancelRequest(std::string_view payload) {
    auto o = ParseObject(payload);
    if (!o) return o.error();
    std::string id = StringFieldOr(*o, "cancel");
    if (id.empty()) return Bad("no debate id to cancel");
    return id;
}

ClusterBridge::ClusterBridge(asio::any_io_executor executor, EventHub& hub, BusTransport& transport,
                             GapLoader loader, ClusterBridgeOptions options)
    : strand_(asio::make_strand(std::move(executor))),
      hub_(hub),
      transport_(transport),
      loader_(std::move(loader)),
      options_(std::move(options)) {}

ClusterBridge::~ClusterBridge() = default;

void ClusterBridge::Forward(const Event& event) {
    const bool sent =
        transport_.Send(options_.events_channel, EncodeBusEvent(options_.instance_id, event));
    std::lock_guard lock(mutex_);
    ++(sent ? stats_.forwarded : stats_.forward_dropped);
}

bool ClusterBridge::RequestCancel(const std::string& debate_id) {
    const bool sent = transport_.Send(options_.control_channel,
                                      EncodeCancelRequest(options_.instance_id, debate_id));
    std::lock_guard lock(mutex_);
    if (sent) ++stats_.cancels_sent;
    return sent;
}

void ClusterBridge::SetCancelHandler(std::function<void(const std::string&)> handler) {
    cancel_handler_ = std::move(handler);
}

void ClusterBridge::OnBusMessage(std::string_view channel, std::string_view payload) {
    if (channel == options_.control_channel) {
        auto id = DecodeCancelRequest(payload);
        std::lock_guard lock(mutex_);
        if (!id) {
            ++stats_.bad_messages;
            return;
        }
        ++stats_.cancels_received;
        if (cancel_handler_) {
            asio::post(strand_, [this, debate_id = std::move(*id)] { cancel_handler_(debate_id); });
        }
        return;
    }
    if (channel != options_.events_channel) return;
    auto decoded = DecodeBusEvent(payload);
    {
        std::lock_guard lock(mutex_);
        if (!decoded) {
            ++stats_.bad_messages;
            return;
        }
        if (decoded->instance_id == options_.instance_id) {
            ++stats_.own_ignored;
            return;
        }
        if (inbound_.size() >= options_.max_inbound) {
            // The next event of that debate finds the gap and reads it from the store.
            ++stats_.inbound_dropped;
            return;
        }
        ++stats_.received;
        inbound_.push_back(std::move(decoded->event));
        if (draining_) return;
        draining_ = true;
    }
    // Spawned without the lock: co_spawn may start Drain() on this thread at once.
    asio::co_spawn(strand_, Drain(), [](std::exception_ptr ep) {
        if (!ep) return;
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            common::GetLogger("aragora.events")
                ->error("cluster bridge: inbound events stopped: {}", e.what());
        }
    });
}

bool ClusterBridge::NextInbound(Event& next) {
    std::lock_guard lock(mutex_);
    if (inbound_.empty()) {
        draining_ = false;
        return false;
    }
    next = std::move(inbound_.front());
    inbound_.pop_front();
    return true;
}

void ClusterBridge::CountGap(const common::Result<std::vector<Event>>& missing) {
    std::lock_guard lock(mutex_);
    if (missing) {
        stats_.gap_events_loaded += missing->size();
    } else {
        ++stats_.gap_load_failures;
    }
}

// No lock is held across a suspension point: NextInbound() and CountGap() take it.
asio::awaitable<void> ClusterBridge::Drain() {
    Event next;
    while (NextInbound(next)) co_await PublishInbound(std::move(next));
}

asio::awaitable<void> ClusterBridge::PublishInbound(Event event) {
    const std::int64_t latest = hub_.LatestSeq(event.debate_id);
    if (event.seq <= latest) co_return;  // the hub would drop it anyway
    if (event.seq > latest + 1 && loader_) {
        auto missing = co_await loader_(event.debate_id, latest, event.seq);
        CountGap(missing);
        if (missing) {
            for (const auto& e : *missing) {
                if (e.seq > latest && e.seq < event.seq) hub_.Publish(e, Origin::kBus);
            }
        }
    }
    hub_.Publish(event, Origin::kBus);
}

ClusterBridgeStats ClusterBridge::Stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace aragora::events
