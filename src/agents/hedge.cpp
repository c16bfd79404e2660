#include "agents/hedge.hpp"

#include <algorithm>

namespace aragora::agents {

LatencyWindows::LatencyWindows(std::size_t capacity)
    : capacity_(std::max<std::size_t>(1, capacity)) {}

void LatencyWindows::Record(std::string_view provider, std::chrono::milliseconds latency) {
    std::lock_guard lock(mu_);
    auto it = rings_.find(provider);
    if (it == rings_.end()) it = rings_.emplace(std::string(provider), Ring{}).first;
    Ring& r = it->second;
    if (r.samples.size() < capacity_) {
        r.samples.push_back(latency);
    } else {
        r.samples[r.next] = latency;
    }
    r.next = (r.next + 1) % capacity_;
}

std::optional<std::chrono::milliseconds> LatencyWindows::P95(std::string_view provider,
                                                             std::size_t min_samples) const {
    std::vector<std::chrono::milliseconds> copy;
    {
        std::lock_guard lock(mu_);
        auto it = rings_.find(provider);
        if (it == rings_.end()) return std::nullopt;
        copy = it->second.samples;
    }
    if (copy.empty() || copy.size() < std::max<std::size_t>(1, min_samples)) return std::nullopt;
    // Nearest rank: the smallest sample with at least 95 % of the samples at or below it.
    const std::size_t rank = (copy.size() * 95 + 99) / 100;
    auto nth = copy.begin() + static_cast<std::ptrdiff_t>(rank - 1);
    std::nth_element(copy.begin(), nth, copy.end());
    return *nth;
}

std::size_t LatencyWindows::Count(std::string_view provider) const {
    std::lock_guard lock(mu_);
    auto it = rings_.find(provider);
    return it == rings_.end() ? 0 : it->second.samples.size();
}

std::optional<std::chrono::milliseconds> HedgeDelay(const HedgeSettings& settings,
                                                    const LatencyWindows* windows,
                                                    std::string_view provider) {
    if (!settings.enabled) return std::nullopt;
    if (settings.after.count() > 0) return settings.after;
    if (windows == nullptr) return std::nullopt;
    auto p95 = windows->P95(provider, settings.min_samples);
    if (!p95) return std::nullopt;
    return std::max(*p95, settings.floor);
}

}  // namespace aragora::agents
