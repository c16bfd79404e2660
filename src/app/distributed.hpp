#pragma once

// What `aragora serve` and `aragora worker` share with the other instances through Redis
// (config::DistributedSettings): the client (health, the shared rate limiter), the auth
// channel (API key caches dropped on every instance when a user changes: any Redis
// configuration), and with ARAGORA_MULTI_INSTANCE the event bus — a subscriber on the
// events and control channels, RedisBusTransport for publishing, and the
// events::ClusterBridge between them and the hub. Redis holds nothing durable: after a restart or
// FLUSHALL the client reconnects, the subscriber re-subscribes, and events lost meanwhile are read
// back from the store.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/blocking_pool.hpp"
#include "common/result.hpp"
#include "config/settings.hpp"
#include "events/cluster_bridge.hpp"
#include "events/hub.hpp"
#include "metrics/registry.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"
#include "service/local_debate_service.hpp"
#include "storage/store.hpp"

namespace aragora::auth {
class AuthService;
}

namespace aragora::app {

class RedisBusTransport;

// Cancel across instances (multi-instance): `service` cancels the debates it runs when
// another instance asks, and its Cancel() of a debate another process runs (a worker, or
// another API instance running it locally) asks through the bus, then waits up to `wait`
// for the store to show the debate ended: the record as it ended, or kUnavailable when
// the bus is down or nothing ended in time.
void ConnectCancel(class Distributed& distributed, service::LocalDebateService& service,
                   boost::asio::any_io_executor executor,
                   std::chrono::milliseconds wait = std::chrono::seconds(10));

// Auth changes across instances: `auth`'s UserChanged() is published on the auth channel,
// and a change another instance published drops the user's cached API keys here. A
// message lost while Redis is down leaves the other instances on the cache's TTL
// (AuthService::kKeyCacheTtl, 30 s); a refused publish is logged. Call before serving.
void ConnectAuthInvalidation(class Distributed& distributed, auth::AuthService& auth);

// The auth channel's message: {"instance": ..., "user_changed": "<user id>" ("" = all)}.
std::string EncodeUserChanged(std::string_view instance_id, std::string_view user_id);
struct UserChangedMessage {
    std::string instance_id;
    std::string user_id;
};
common::Result<UserChangedMessage> DecodeUserChanged(std::string_view payload);

// Thread-safety: Create/Start/Stop from the startup and shutdown code; the rest from any
// thread. Stop() before the io_context stops.
class Distributed {
public:
    // No I/O yet: parses ARAGORA_REDIS_URL (kValidation naming it, never echoing the
    // password). nullptr when no Redis is configured.
    static common::Result<std::unique_ptr<Distributed>> Create(
        const config::DistributedSettings& settings, boost::asio::any_io_executor executor,
        events::EventHub& hub, common::BlockingPool& pool, metrics::Registry& registry);
    ~Distributed();

    // Connects (and, multi-instance, subscribes and sets the hub's relay: call it before
    // the first event is published). Waits at most `timeout`: kUnavailable when Redis is
    // not reachable by then (the client keeps trying in the background either way).
    boost::asio::awaitable<common::Status> Start(std::chrono::milliseconds timeout);
    void Stop();

    // The store the bridge reads gaps from (set once the store is open).
    void AttachStore(storage::Store* store) { store_.store(store); }
    // Cancel requests from other instances (multi-instance only).
    void SetCancelHandler(std::function<void(const std::string& debate_id)> handler);
    // Asks the other instances to cancel a debate this one does not run. False when the
    // bus refused (Redis down) or multi-instance is off.
    bool RequestCancel(const std::string& debate_id);

    // Changes of users that other instances published (their user id; "" = every user).
    // Set before Start() (it subscribes the auth channel only when set).
    void SetUserChangedHandler(std::function<void(const std::string& user_id)> handler);
    // Tells the other instances that a user changed. False when the bus refused it.
    bool PublishUserChanged(const std::string& user_id);
    static constexpr const char* kAuthChannel = "aragora:auth";

    // {"status": "ok"|"error", "latency_ms", "url" (redacted), "connected", "error"?}
    boost::asio::awaitable<boost::json::object> HealthCheck();

    redis::RedisClient& client() { return *client_; }
    bool multi_instance() const { return bridge_ != nullptr; }
    const std::string& instance_id() const { return instance_id_; }
    std::string RedactedUrl() const { return url_.Redacted(); }

private:
    Distributed() = default;
    void RegisterMetrics(metrics::Registry& registry);
    void OnUserChanged(std::string_view payload);  // the subscriber's strand

    redis::RedisUrl url_;
    std::string instance_id_;
    events::EventHub* hub_ = nullptr;
    common::BlockingPool* pool_ = nullptr;
    std::atomic<storage::Store*> store_{nullptr};
    std::unique_ptr<redis::RedisClient> client_;
    std::unique_ptr<redis::RedisSubscriber> subscriber_;
    std::unique_ptr<RedisBusTransport> bus_;
    std::unique_ptr<events::ClusterBridge> bridge_;
    std::function<void(const std::string&)> user_changed_;
};

}  // namespace aragora::app
