#include "metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace aragora::metrics {
namespace {

using common::ErrorCode;
using common::MakeError;
using common::Result;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Fields 1 (size) and 2 (resident) of /proc/self/statm, in pages.
Result<std::pair<std::uint64_t, std::uint64_t>> ReadStatm() {
    std::ifstream in("/proc/self/statm");
    std::uint64_t size = 0;
    std::uint64_t resident = 0;
    if (!(in >> size >> resident)) {
        return MakeError(ErrorCode::kInternal, "cannot read /proc/self/statm");
    }
    return std::pair{size, resident};
}

std::uint64_t PageSize() {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? static_cast<std::uint64_t>(page) : 4096;
}

template <typename T>
double OrNaN(const Result<T>& r) {
    return r.ok() ? static_cast<double>(r.value()) : kNaN;
}

}  // namespace

Result<std::uint64_t> ResidentMemoryBytes() {
    auto statm = ReadStatm();
    if (!statm.ok()) return statm.error();
    return statm->second * PageSize();
}

Result<std::uint64_t> VirtualMemoryBytes() {
    auto statm = ReadStatm();
    if (!statm.ok()) return statm.error();
    return statm->first * PageSize();
}

Result<std::uint64_t> OpenFileDescriptors() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return MakeError(ErrorCode::kInternal, "cannot list /proc/self/fd");
    const int own_fd = dirfd(dir);
    std::uint64_t count = 0;
    while (const dirent* entry = readdir(dir)) {
        std::string_view name = entry->d_name;
        if (name == "." || name == "..") continue;
        if (name == std::to_string(own_fd)) continue;
        ++count;
    }
    closedir(dir);
    return count;
}

Result<std::uint64_t> MaxFileDescriptors() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return MakeError(ErrorCode::kInternal, "getrlimit(RLIMIT_NOFILE) failed");
    }
    return static_cast<std::uint64_t>(limit.rlim_cur);
}

double CpuSecondsTotal() {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0) return kNaN;
    auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

Result<double> ProcessStartTimeFromProc() {
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Field 2 (comm) is parenthesised and may hold spaces or ')': fields resume after
    // the last ')'. The first field after it is field 3, so field 22 is the 20th.
    auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return MakeError(ErrorCode::kInternal, "cannot parse /proc/self/stat");
    }
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    std::uint64_t start_ticks = 0;
    for (int i = 3; i <= 22; ++i) {
        if (!(fields >> field)) {
            return MakeError(ErrorCode::kInternal, "short /proc/self/stat");
        }
    }
    try {
        start_ticks = std::stoull(field);
    } catch (const std::exception&) {
        return MakeError(ErrorCode::kInternal, "bad starttime in /proc/self/stat");
    }

    std::ifstream proc_stat("/proc/stat");
    std::string key;
    std::uint64_t btime = 0;
    bool found = false;
    while (proc_stat >> key) {
        if (key == "btime") {
            found = static_cast<bool>(proc_stat >> btime);
            break;
        }
        proc_stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    if (!found) return MakeError(ErrorCode::kInternal, "no btime in /proc/stat");

    long ticks_per_second = sysconf(_SC_CLK_TCK);
    if (ticks_per_second <= 0) return MakeError(ErrorCode::kInternal, "no _SC_CLK_TCK");
    return static_cast<double>(btime) +
           static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
}

ProcessMetrics::ProcessMetrics(Registry& registry, const common::Clock& clock) {
    if (auto from_proc = ProcessStartTimeFromProc(); from_proc.ok()) {
        start_time_seconds_ = from_proc.value();
    } else {
        start_time_seconds_ =
            std::chrono::duration<double>(clock.SystemNow().time_since_epoch()).count();
    }

    registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                              [] { return OrNaN(ResidentMemoryBytes()); });
    registry.AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              [] { return OrNaN(VirtualMemoryBytes()); });
    registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.",
                              [] { return OrNaN(OpenFileDescriptors()); });
    registry.AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.",
                              [] { return OrNaN(MaxFileDescriptors()); });
    const double start = start_time_seconds_;
    registry.AddCallbackGauge("process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.",
                              [start] { return start; });
    registry.AddCallbackCounter("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                [] { return CpuSecondsTotal(); });
}

}  // namespace aragora::metrics
