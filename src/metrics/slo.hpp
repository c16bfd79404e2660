#pragma once

// The three SLOs of the production runbook ("SLO Definitions"): their targets and their
// current compliance, computed in-process from the server's own counters.
//
//   aragora_slo_target{slo="availability|latency_p99|debate_success"}
//       SLO_AVAILABILITY_TARGET (fraction), SLO_LATENCY_P99_TARGET_MS (in seconds),
//       SLO_DEBATE_SUCCESS_TARGET (fraction).
//   aragora_slo_compliance{slo="availability|latency_p99|debate_success"}
//       availability: 1 - 5xx / requests over the last 5 minutes (/readyz left out, as in
//       the alerts); latency_p99: the fraction of requests answered within the latency
//       target over the last 5 minutes (the SLO holds while it is >= 0.99); debate_success:
//       1 - (failed + timeout) / ended debates over the last hour (cancelled ones count
//       neither way). 1 when nothing happened in the window.
//
// SloTracker keeps the cumulative counts it reads (SloCounts, from the registry) in a
// fixed ring of 10-second slots covering the longest window, so memory is bounded; each
// compliance is the difference between now and the newest snapshot at least one window
// old (the first snapshot while the tracker is younger than the window). Snapshots are
// taken when Sample() runs: at every scrape (Registry::AddCollector), so the windows are
// exact to a slot while Prometheus scrapes more often than the ring's span.
//
// Thread-safety: Sample() may run on any thread (it takes a mutex).

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "metrics/metric.hpp"

namespace aragora::metrics {

class Registry;

struct SloTargets {
    double availability = 0.999;       // fraction of non-5xx requests
    double latency_p99_seconds = 0.5;  // p99 request latency bound
    double debate_success = 0.95;      // fraction of ended debates that did not fail
};

// Cumulative counts since the process started (they only grow).
struct SloCounts {
    double requests = 0;        // HTTP requests (not /readyz)
    double server_errors = 0;   // of which answered 5xx
    double timed = 0;           // HTTP requests with a latency observation
    double within_target = 0;   // of which answered within the latency target
    double debates_ended = 0;   // debates that completed, found no consensus, failed or timed out
    double debates_failed = 0;  // of which failed or timed out
};

struct SloCompliance {
    double availability = 1;
    double latency = 1;
    double debate_success = 1;
};

inline constexpr std::chrono::seconds kSloAvailabilityWindow{300};
inline constexpr std::chrono::seconds kSloLatencyWindow{300};
inline constexpr std::chrono::seconds kSloDebateWindow{3600};

class SloTracker {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    using Source = std::function<SloCounts()>;

    // Takes the first snapshot now.
    SloTracker(Source source, Clock clock);

    // Reads the source, stores the snapshot in the current slot, and returns the
    // compliance over each SLO's window.
    SloCompliance Sample();

private:
    static constexpr std::chrono::seconds kSlot{10};
    static constexpr std::size_t kSlots = kSloDebateWindow / kSlot + 2;
    struct Snapshot {
        std::int64_t slot = -1;  // -1: empty
        std::chrono::steady_clock::time_point at;
        SloCounts counts;
    };
    const SloCounts& BaselineLocked(std::chrono::steady_clock::time_point now,
                                    std::chrono::seconds window) const;

    Source source_;
    Clock clock_;
    std::mutex mu_;
    std::chrono::steady_clock::time_point start_;
    Snapshot first_;
    std::array<Snapshot, kSlots> ring_{};
};

// The fraction of a (cumulative) histogram's observations at or below `bound`: the count
// of the bucket ending at `bound`, interpolated linearly inside the bucket that holds it
// otherwise (as histogram_quantile does); for a bound past the last finite bucket, the
// count up to that bucket.
double CountAtOrBelow(const HistogramSnapshot& snapshot, double bound);

// SloCounts from a registry's aragora_requests_total{status,handler},
// aragora_request_latency_seconds{handler} and aragora_debates_total{status} (families
// missing from the registry count 0).
SloCounts ReadSloCounts(const Registry& registry, double latency_target_seconds);

// Declares aragora_slo_target{slo} (set once) and aragora_slo_compliance{slo} (updated
// by a collector at every scrape, from ReadSloCounts through an SloTracker with `clock`).
// The tracker is owned by the registry's collector.
void RegisterSloMetrics(
    Registry& registry, const SloTargets& targets,
    SloTracker::Clock clock = [] { return std::chrono::steady_clock::now(); });

}  // namespace aragora::metrics
