#pragma once

// api::SystemInfo of `aragora serve`: gathers a SystemSnapshot from the App (probing the
// database and Redis for the health routes) and encodes it with system_docs; the other
// system bodies (threads, build, WebSocket stats, metrics summary, cache cleanup, memory
// dump) too. Internal to app/.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "api/api.hpp"
#include "app/app_state.hpp"
#include "app/system_docs.hpp"

namespace aragora::app {

class AppSystemInfo final : public api::SystemInfo {
public:
    explicit AppSystemInfo(App& app) : app_(app) {}

    std::optional<std::string> NotReadyReason() const override;
    boost::asio::awaitable<std::string> HealthJson(bool deep) override;
    boost::asio::awaitable<std::string> DeepHealthJson() override;
    std::string StatusJson() const override;
    std::string ThreadsJson() const override;
    std::string BuildJson() const override;
    std::string WsStatsJson() const override;
    std::string MetricsSummaryJson() const override;
    std::string PrometheusText() const override;
    std::string PrometheusWebSocketText() const override;
    bool MetricsEnabled() const override;
    boost::asio::awaitable<std::string> CleanupCachesJson() override;
    boost::asio::awaitable<common::Result<std::string>> MemoryDumpJson() override;
    std::string AuthWarning() const override;

    // What the server knows now, without probing: the database and Redis as last seen.
    SystemSnapshot Snapshot() const;

private:
    // Pings the database on the blocking pool and feeds the health checker.
    boost::asio::awaitable<DatabaseCheck> ProbeDatabase();
    // Redis round trip (not_configured without ARAGORA_REDIS_URL); feeds the checker.
    boost::asio::awaitable<RedisCheck> ProbeRedis();

    App& app_;
};

}  // namespace aragora::app
