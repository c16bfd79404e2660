#include "app/distributed.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "app/redis_bus.hpp"
#include "auth/service.hpp"
#include "common/ids.hpp"
#include "common/logging.hpp"

namespace aragora::app {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using common::ErrorCode;
using common::Result;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.distributed"); }

// Events read back from the store to close one gap: more than a debate ever has.
constexpr std::int64_t kMaxGapEvents = 10000;

// A free function, not a lambda: the coroutine outlives the handler that spawns it, and a
// coroutine lambda reads its captures through the (then destroyed) closure.
asio::awaitable<void> CancelHere(service::LocalDebateService* service, std::string debate_id) {
    auto r = co_await service->Cancel(debate_id);
    if (r) {
        Log()->info("cancelled debate_id={} on request of another instance", debate_id);
    } else {
        Log()->warn("cancel from another instance failed debate_id={} error={}", debate_id,
                    r.error().message);
    }
}

}  // namespace

Result<std::unique_ptr<Distributed>> Distributed::Create(
    const config::DistributedSettings& settings, asio::any_io_executor executor,
    events::EventHub& hub, common::BlockingPool& pool, metrics::Registry& registry) {
    if (settings.redis_url.empty()) return std::unique_ptr<Distributed>();
    auto url = redis::RedisUrl::Parse(settings.redis_url, settings.redis_password);
    if (!url) return url.error();
    std::unique_ptr<Distributed> d(new Distributed());
    d->url_ = *url;
    d->instance_id_ = common::NewId("inst_");
    d->hub_ = &hub;
    d->pool_ = &pool;
    redis::ClientOptions options;
    options.connection.url = *url;
    options.name = "main";
    if (auto valid = redis::Validate(options.connection); !valid) return valid.error();
    d->client_ = std::make_unique<redis::RedisClient>(executor, options);
    // The bus and its subscriber serve the auth channel with any Redis configuration, and
    // the events and control channels with multi-instance.
    d->bus_ = std::make_unique<RedisBusTransport>(executor, *d->client_);
    Distributed* self = d.get();
    if (settings.multi_instance) {
        events::GapLoader loader =
            [self](const std::string& debate_id, std::int64_t after,
                   std::int64_t before) -> asio::awaitable<Result<std::vector<events::Event>>> {
            storage::Store* store = self->store_.load();
            if (store == nullptr) {
                co_return common::MakeError(ErrorCode::kUnavailable, "store not open yet");
            }
            const int limit = static_cast<int>(std::min(before - after - 1, kMaxGapEvents));
            auto read = [store, &debate_id, after, limit] {
                return store->ListEvents(debate_id, after, limit);
            };
            co_return co_await self->pool_->Run(read);
        };
        events::ClusterBridgeOptions bridge_options;
        bridge_options.instance_id = d->instance_id_;
        d->bridge_ = std::make_unique<events::ClusterBridge>(executor, hub, *d->bus_,
                                                             std::move(loader), bridge_options);
    }
    redis::SubscriberOptions sub;
    sub.connection = options.connection;
    sub.name = "events";
    d->subscriber_ =
        std::make_unique<redis::RedisSubscriber>(executor, sub, [self](const redis::Message& m) {
            if (m.channel == kAuthChannel) {
                self->OnUserChanged(m.payload);
            } else if (self->bridge_) {
                self->bridge_->OnBusMessage(m.channel, m.payload);
            }
        });
    d->RegisterMetrics(registry);
    return d;
}

Distributed::~Distributed() { Stop(); }

void Distributed::RegisterMetrics(metrics::Registry& r) {
    redis::RedisClient* client = client_.get();
    r.AddCallbackGauge("aragora_redis_connected", "1 while the Redis client is connected",
                       [client] { return client->connected() ? 1.0 : 0.0; });
    r.AddCallbackCounter("aragora_redis_command_failures_total",
                         "Redis commands that timed out or found Redis unavailable", [client] {
                             auto s = client->Stats();
                             return static_cast<double>(s.timeouts + s.unavailable);
                         });
    if (!bridge_) return;
    events::ClusterBridge* bridge = bridge_.get();
    RedisBusTransport* bus = bus_.get();
    r.AddCallbackCounter("aragora_cluster_events_forwarded_total",
                         "Debate events published to the other instances",
                         [bridge] { return static_cast<double>(bridge->Stats().forwarded); });
    r.AddCallbackCounter("aragora_cluster_events_received_total",
                         "Debate events received from the other instances",
                         [bridge] { return static_cast<double>(bridge->Stats().received); });
    r.AddCallbackCounter(
        "aragora_cluster_events_lost_total",
        "Debate events the bus lost (outbox full, PUBLISH failed, inbox full); subscribers "
        "read them back from the store",
        [bridge, bus] {
            auto s = bridge->Stats();
            auto b = bus->Stats();
            return static_cast<double>(s.forward_dropped + s.inbound_dropped + b.failed);
        });
    r.AddCallbackCounter("aragora_cluster_gap_events_loaded_total",
                         "Events read back from the store to close a gap in the bus", [bridge] {
                             return static_cast<double>(bridge->Stats().gap_events_loaded);
                         });
}

asio::awaitable<common::Status> Distributed::Start(std::chrono::milliseconds timeout) {
    client_->Start();
    if (bridge_) {
        events::ClusterBridge* bridge = bridge_.get();
        hub_->SetRelay([bridge](const events::Event& e) { bridge->Forward(e); });
    }
    if (bridge_ || user_changed_) subscriber_->Start();
    auto connected = co_await client_->WaitConnected(timeout);
    if (!connected) {
        Log()->warn("redis unreachable at {}: {} (retrying in the background)", url_.Redacted(),
                    connected.error().message);
        co_return connected;
    }
    if (bridge_) {
        const auto& o = bridge_->options();
        auto events = co_await subscriber_->Subscribe(o.events_channel, timeout);
        if (!events) co_return events;
        auto control = co_await subscriber_->Subscribe(o.control_channel, timeout);
        if (!control) co_return control;
    }
    if (user_changed_) {
        auto auth = co_await subscriber_->Subscribe(kAuthChannel, timeout);
        if (!auth) co_return auth;
    }
    Log()->info("redis connected url={} multi_instance={} instance_id={}", url_.Redacted(),
                bridge_ != nullptr, instance_id_);
    co_return common::Status{};
}

void Distributed::Stop() {
    if (subscriber_) subscriber_->Stop();
    if (client_) client_->Stop();
}

void Distributed::SetCancelHandler(std::function<void(const std::string&)> handler) {
    if (bridge_) bridge_->SetCancelHandler(std::move(handler));
}

bool Distributed::RequestCancel(const std::string& debate_id) {
    return bridge_ && bridge_->RequestCancel(debate_id);
}

void Distributed::SetUserChangedHandler(std::function<void(const std::string&)> handler) {
    user_changed_ = std::move(handler);
}

bool Distributed::PublishUserChanged(const std::string& user_id) {
    return bus_->Send(kAuthChannel, EncodeUserChanged(instance_id_, user_id));
}

void Distributed::OnUserChanged(std::string_view payload) {
    auto message = DecodeUserChanged(payload);
    if (!message) {
        Log()->warn("ignoring a malformed message on {}: {}", kAuthChannel,
                    message.error().message);
        return;
    }
    if (message->instance_id == instance_id_ || !user_changed_) return;  // our own
    user_changed_(message->user_id);
}

std::string EncodeUserChanged(std::string_view instance_id, std::string_view user_id) {
    return json::serialize(json::object{{"instance", instance_id}, {"user_changed", user_id}});
}

Result<UserChangedMessage> DecodeUserChanged(std::string_view payload) {
    boost::system::error_code ec;
    json::value v = json::parse(payload, ec);
    const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    const json::value* instance = o != nullptr ? o->if_contains("instance") : nullptr;
    const json::value* user = o != nullptr ? o->if_contains("user_changed") : nullptr;
    if (instance == nullptr || !instance->is_string() || user == nullptr || !user->is_string()) {
        return common::MakeError(ErrorCode::kValidation,
                                 "not a user_changed message: {\"instance\", \"user_changed\"}");
    }
    return UserChangedMessage{std::string(instance->as_string()), std::string(user->as_string())};
}

void ConnectAuthInvalidation(Distributed& distributed, auth::AuthService& auth) {
    distributed.SetUserChangedHandler([&auth](const std::string& user_id) {
        const std::size_t dropped = auth.DropCachedUser(user_id);
        Log()->info("auth: user {} changed on another instance: {} cached API key(s) dropped",
                    user_id.empty() ? std::string("(all)") : user_id, dropped);
    });
    auth.SetPeerNotifier([&distributed](const std::string& user_id) {
        if (!distributed.PublishUserChanged(user_id)) {
            Log()->warn(
                "auth: could not tell the other instances that user {} changed (bus full); "
                "their cached API keys of it expire within {} s",
                user_id.empty() ? std::string("(all)") : user_id,
                auth::AuthService::kKeyCacheTtl.count());
        }
    });
}

void ConnectCancel(Distributed& distributed, service::LocalDebateService& service,
                   asio::any_io_executor executor, std::chrono::milliseconds wait) {
    if (!distributed.multi_instance()) return;
    distributed.SetCancelHandler([&service, executor](const std::string& id) {
        if (!service.RunsHere(id)) return;  // every instance hears every request
        asio::co_spawn(executor, CancelHere(&service, id), asio::detached);
    });
    service.SetRemoteCancel(
        [&distributed, &service, wait](
            const std::string& id,
            const std::string& lease_owner) -> asio::awaitable<Result<storage::DebateRecord>> {
            const std::string where =
                lease_owner.empty() ? std::string("another instance") : lease_owner;
            if (!distributed.RequestCancel(id)) {
                co_return common::MakeError(ErrorCode::kUnavailable,
                                            "debate " + id + " runs on " + where +
                                                " and the instances' bus (Redis) is unavailable; "
                                                "retry");
            }
            // Its debate_end reaches this hub through the bus once the owner stored it.
            auto record = co_await service.AwaitEnd(id, wait);
            if (!record) co_return record.error();
            if (events::IsTerminal(record->status)) co_return record;
            co_return common::MakeError(ErrorCode::kUnavailable,
                                        "cancel of debate " + id + " was sent to " + where +
                                            " but it has not stopped yet; check again");
        });
}

asio::awaitable<json::object> Distributed::HealthCheck() {
    json::object o;
    o["url"] = url_.Redacted();
    o["multi_instance"] = bridge_ != nullptr;
    auto latency = co_await client_->Ping(std::chrono::milliseconds(1000));
    o["connected"] = client_->connected();
    if (latency) {
        o["status"] = "ok";
        o["latency_ms"] = std::round(static_cast<double>(latency->count()) / 10.0) / 100.0;
    } else {
        o["status"] = "error";
        o["latency_ms"] = nullptr;
        o["error"] = latency.error().message;
    }
    if (bridge_) o["subscriptions_ready"] = subscriber_->ready();
    co_return o;
}

}  // namespace aragora::app
