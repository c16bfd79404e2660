#pragma once

#include "metrics/registry.hpp"

namespace aragora::service {

// The service's metrics, declared up front (labels from closed sets).
struct ServiceMetrics {
    explicit ServiceMetrics(metrics::Registry& registry);
    metrics::Family<metrics::Gauge>& active;             // aragora_active_debates
    metrics::Family<metrics::Gauge>& queued;             // aragora_queued_debates
    metrics::Family<metrics::Counter>& debates_total;    // {status}
    metrics::Family<metrics::Histogram>& duration;       // aragora_debate_duration_seconds{outcome}
    metrics::Family<metrics::Counter>& consensus;        // aragora_consensus_reached_total
    metrics::Family<metrics::Counter>& agent_calls;      // {agent,status}
    metrics::Family<metrics::Histogram>& agent_latency;  // {agent}
    metrics::Family<metrics::Counter>& rejected;         // aragora_debates_rejected_total{reason}
    metrics::Family<metrics::Counter>& watchdog;         // aragora_debate_watchdog_kills_total
    // aragora_debate_running_too_long_seconds (settings.running_too_long); its companion
    // aragora_debate_oldest_running_seconds is a callback the service registers.
    metrics::Family<metrics::Gauge>& running_too_long;
};

}  // namespace aragora::service
