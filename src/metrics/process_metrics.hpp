#pragma once

// Standard process_* metrics (the names node/Go/Python clients use), read from /proc
// at scrape time. Linux only; on a read failure the sample is NaN for that scrape.

#include <cstdint>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "metrics/registry.hpp"

namespace aragora::metrics {

// Resident set size in bytes (/proc/self/statm field 2 x page size), e.g. for the
// "memory_mb" of /api/health. Error kInternal when /proc is unreadable. Thread-safe.
common::Result<std::uint64_t> ResidentMemoryBytes();
// Virtual memory size in bytes (/proc/self/statm field 1 x page size).
common::Result<std::uint64_t> VirtualMemoryBytes();
// Number of open file descriptors (entries of /proc/self/fd, not counting the one
// used to list them).
common::Result<std::uint64_t> OpenFileDescriptors();
// Soft limit on open file descriptors (RLIMIT_NOFILE).
common::Result<std::uint64_t> MaxFileDescriptors();
// User + system CPU time of the process, in seconds (getrusage).
double CpuSecondsTotal();
// Process start as Unix time in seconds: /proc/self/stat field 22 (starttime, clock
// ticks after boot) + btime of /proc/stat.
common::Result<double> ProcessStartTimeFromProc();

// Registers, as scrape-time callbacks:
//   process_resident_memory_bytes   gauge
//   process_virtual_memory_bytes    gauge
//   process_open_fds                gauge
//   process_max_fds                 gauge
//   process_start_time_seconds      gauge
//   process_cpu_seconds_total       counter
// The start time is taken once at construction from /proc (ProcessStartTimeFromProc);
// when /proc cannot be read it falls back to `clock.SystemNow()` at construction,
// which is later than the real start by the time spent before this call.
// The callbacks capture no reference to this object, so it may be destroyed before
// `registry`. Throws std::invalid_argument if the names are already registered.
class ProcessMetrics {
public:
    ProcessMetrics(Registry& registry, const common::Clock& clock);

    // Unix seconds, as exported in process_start_time_seconds.
    double StartTimeSeconds() const { return start_time_seconds_; }

private:
    double start_time_seconds_ = 0;
};

}  // namespace aragora::metrics
