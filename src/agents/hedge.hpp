#pragma once

// Hedged provider calls (docs/agents.md, Hedging): the settings, and a bounded window of
// recent time-to-first-answer samples per provider whose p95 is the hedge delay.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aragora::agents {

struct HedgeSettings {
    // ARAGORA_AGENT_HEDGE_ENABLED (default off: a hedge may cost a second reply's tokens).
    bool enabled = false;
    // ARAGORA_AGENT_HEDGE_AFTER_MS: a fixed delay; 0 = the provider's observed p95.
    std::chrono::milliseconds after{0};
    // ARAGORA_AGENT_HEDGE_MIN_MS: the p95 delay is never shorter than this.
    std::chrono::milliseconds floor{1000};
    // Samples kept per provider, and how many are needed before a p95 is trusted (fewer:
    // no hedge unless `after` is set).
    std::size_t window = 128;
    std::size_t min_samples = 20;
};

// Time to first answer per provider (a streamed reply's first valid event, or a whole
// plain reply), the newest `capacity` samples each. Thread-safe (one mutex; a
// Record/P95 copies at most `capacity` values).
class LatencyWindows {
public:
    explicit LatencyWindows(std::size_t capacity = 128);
    void Record(std::string_view provider, std::chrono::milliseconds latency);
    // The 95th percentile (nearest rank) of `provider`'s samples; nullopt when it has
    // fewer than `min_samples`.
    std::optional<std::chrono::milliseconds> P95(std::string_view provider,
                                                 std::size_t min_samples) const;
    std::size_t Count(std::string_view provider) const;

private:
    struct Ring {
        std::vector<std::chrono::milliseconds> samples;
        std::size_t next = 0;
    };
    const std::size_t capacity_;
    mutable std::mutex mu_;
    std::map<std::string, Ring, std::less<>> rings_;
};

// The hedge delay of a call to `provider` now, or nullopt: no hedge (disabled, or no
// fixed delay and too few samples). With samples: max(p95, floor).
std::optional<std::chrono::milliseconds> HedgeDelay(const HedgeSettings& settings,
                                                    const LatencyWindows* windows,
                                                    std::string_view provider);

}  // namespace aragora::agents
