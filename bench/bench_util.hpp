#pragma once

// Measurement helpers shared by the benchmark clients (ws_fanout, ws_viewers).

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <vector>

namespace aragora::bench {

inline double NowEpochSeconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// User + system CPU of this process so far.
inline double CpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
}

// Nearest-rank percentile (p in 0..100); reorders `v`. 0 when empty.
template <class T>
double Percentile(std::vector<T>& v, double p) {
    if (v.empty()) return 0;
    const std::size_t rank = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))), 1,
        v.size());
    std::nth_element(v.begin(), v.begin() + static_cast<long>(rank - 1), v.end());
    return static_cast<double>(v[rank - 1]);
}

}  // namespace aragora::bench
