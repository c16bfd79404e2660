#include "metrics/slo.hpp"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "metrics/registry.hpp"

namespace aragora::metrics {
namespace {

std::int64_t SlotOf(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count() / 10;
}

// 1 - bad / total over the window; 1 when nothing happened in it.
double GoodFraction(double bad, double total) {
    if (total <= 0) return 1;
    double good = 1 - bad / total;
    return good < 0 ? 0 : (good > 1 ? 1 : good);
}

}  // namespace

SloTracker::SloTracker(Source source, Clock clock)
    : source_(std::move(source)), clock_(std::move(clock)) {
    start_ = clock_();
    first_ = Snapshot{SlotOf(start_), start_, source_()};
}

const SloCounts& SloTracker::BaselineLocked(std::chrono::steady_clock::time_point now,
                                            std::chrono::seconds window) const {
    const auto edge = now - window;
    const Snapshot* best = nullptr;
    for (const auto& s : ring_) {
        if (s.slot < 0 || s.at > edge) continue;
        if (best == nullptr || s.at > best->at) best = &s;
    }
    return best != nullptr && best->at > first_.at ? best->counts : first_.counts;
}

SloCompliance SloTracker::Sample() {
    const SloCounts now_counts = source_();
    std::lock_guard lock(mu_);
    const auto now = clock_();
    const std::int64_t slot = SlotOf(now);
    ring_[static_cast<std::size_t>(slot) % kSlots] = Snapshot{slot, now, now_counts};

    SloCompliance c;
    const SloCounts& a = BaselineLocked(now, kSloAvailabilityWindow);
    c.availability =
        GoodFraction(now_counts.server_errors - a.server_errors, now_counts.requests - a.requests);
    const SloCounts& l = BaselineLocked(now, kSloLatencyWindow);
    const double timed = now_counts.timed - l.timed;
    c.latency = GoodFraction(timed - (now_counts.within_target - l.within_target), timed);
    const SloCounts& d = BaselineLocked(now, kSloDebateWindow);
    c.debate_success = GoodFraction(now_counts.debates_failed - d.debates_failed,
                                    now_counts.debates_ended - d.debates_ended);
    return c;
}

double CountAtOrBelow(const HistogramSnapshot& snapshot, double bound) {
    double lower = 0;
    double below = 0;  // cumulative count up to `lower`
    for (const auto& b : snapshot.buckets) {
        const double count = static_cast<double>(b.cumulative_count);
        if (bound <= b.upper_bound) {
            if (b.upper_bound == lower || std::isinf(b.upper_bound)) return below;
            return below + (count - below) * (bound - lower) / (b.upper_bound - lower);
        }
        lower = b.upper_bound;
        below = count;
    }
    return below;
}

SloCounts ReadSloCounts(const Registry& registry, double latency_target_seconds) {
    SloCounts c;
    if (const auto* requests = registry.FindCounter("aragora_requests_total")) {
        for (const auto& s : requests->Series()) {
            // {status, handler}; /readyz answers 503 by design while starting or draining.
            if (s.label_values.size() != 2 || s.label_values[1] == "/readyz") continue;
            const double v = s.metric->Value();
            c.requests += v;
            if (!s.label_values[0].empty() && s.label_values[0][0] == '5') c.server_errors += v;
        }
    }
    if (const auto* latency = registry.FindHistogram("aragora_request_latency_seconds")) {
        for (const auto& s : latency->Series()) {
            const HistogramSnapshot h = s.metric->Snapshot();
            c.timed += static_cast<double>(h.count);
            c.within_target += CountAtOrBelow(h, latency_target_seconds);
        }
    }
    if (const auto* debates = registry.FindCounter("aragora_debates_total")) {
        for (const auto& s : debates->Series()) {
            if (s.label_values.size() != 1 || s.label_values[0] == "cancelled") continue;
            const double v = s.metric->Value();
            c.debates_ended += v;
            if (s.label_values[0] == "failed" || s.label_values[0] == "timeout") {
                c.debates_failed += v;
            }
        }
    }
    return c;
}

void RegisterSloMetrics(Registry& registry, const SloTargets& targets, SloTracker::Clock clock) {
    auto& target = registry.AddGauge(
        "aragora_slo_target",
        "SLO targets: availability and debate_success as fractions (SLO_AVAILABILITY_TARGET, "
        "SLO_DEBATE_SUCCESS_TARGET), latency_p99 in seconds (SLO_LATENCY_P99_TARGET_MS).",
        {"slo"}, FamilyOptions{.max_series = 3});
    target.WithLabels({"availability"}).Set(targets.availability);
    target.WithLabels({"latency_p99"}).Set(targets.latency_p99_seconds);
    target.WithLabels({"debate_success"}).Set(targets.debate_success);
    auto& compliance = registry.AddGauge(
        "aragora_slo_compliance",
        "Current SLO compliance of this instance: availability (non-5xx share, 5m), "
        "latency_p99 (share of requests within the target, 5m), debate_success (share of "
        "ended debates not failed, 1h); 1 when nothing happened in the window.",
        {"slo"}, FamilyOptions{.max_series = 3});
    Gauge& availability = compliance.WithLabels({"availability"});
    Gauge& latency = compliance.WithLabels({"latency_p99"});
    Gauge& debate = compliance.WithLabels({"debate_success"});
    availability.Set(1);
    latency.Set(1);
    debate.Set(1);
    const double bound = targets.latency_p99_seconds;
    auto tracker = std::make_shared<SloTracker>(
        [&registry, bound] { return ReadSloCounts(registry, bound); }, std::move(clock));
    registry.AddCollector([tracker, &availability, &latency, &debate] {
        const SloCompliance c = tracker->Sample();
        availability.Set(c.availability);
        latency.Set(c.latency);
        debate.Set(c.debate_success);
    });
}

}  // namespace aragora::metrics
