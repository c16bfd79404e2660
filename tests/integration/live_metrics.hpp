#pragma once

// For the deploy/monitoring checks: a live `aragora serve` with Redis configured (its
// families are registered only then), its /metrics and /metrics/websocket written to files
// the Python checkers read.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "process.hpp"
#include "server_fixture.hpp"
#include "unit/redis/redis_test_server.hpp"

namespace aragora::testing {

class LiveMetrics {
public:
    // Starts Redis and the server and scrapes both endpoints into `out_dir`; check
    // ::testing::Test::HasFatalFailure() after it.
    void Scrape(const std::string& out_dir) {
        ASSERT_EQ(redis_.Start(), "");
        server_ = std::make_unique<ServerProcess>(
            dir_.path(),
            std::map<std::string, std::string>{{"ARAGORA_REDIS_URL", redis_.Url() + "/0"},
                                               {"ARAGORA_ENABLE_REDIS_RATE_LIMIT", "true"}});
        ASSERT_TRUE(server_->StartReady()) << server_->error() << "\n" << server_->Logs();
        HttpClient http(server_->api_port(), std::chrono::seconds(10));
        metrics_file_ = out_dir + "/metrics.txt";
        websocket_file_ = out_dir + "/websocket.txt";
        HttpResponse m = http.Get("/metrics");
        ASSERT_EQ(m.status, 200) << m.Describe();
        WriteAll(metrics_file_, m.body);
        HttpResponse w = http.Get("/metrics/websocket");
        ASSERT_EQ(w.status, 200) << w.Describe();
        WriteAll(websocket_file_, w.body);
    }

    // Stops the server with SIGTERM: its exit code (0 = a clean drain).
    int Terminate() { return server_ ? server_->Terminate() : -1; }
    std::string Logs() const { return server_ ? server_->Logs() : std::string(); }

    const std::string& metrics_file() const { return metrics_file_; }
    const std::string& websocket_file() const { return websocket_file_; }

private:
    redis::testing::RedisTestServer redis_;
    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
    std::string metrics_file_;
    std::string websocket_file_;
};

}  // namespace aragora::testing
