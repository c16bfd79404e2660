#include "metrics/process_metrics.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.hpp"

namespace aragora::metrics {
namespace {

// Value of the unlabelled sample `name` in an exposition text.
double SampleValue(const std::string& text, const std::string& name) {
    auto pos = text.find("\n" + name + " ");
    if (pos == std::string::npos) return -1;
    return std::stod(text.substr(pos + name.size() + 2));
}

TEST(ProcessMetricsTest, ReadersReturnPlausibleValues) {
    auto rss = ResidentMemoryBytes();
    ASSERT_TRUE(rss.ok()) << rss.error().message;
    EXPECT_GT(*rss, 0u);
    EXPECT_EQ(*rss % static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)), 0u);

    auto vms = VirtualMemoryBytes();
    ASSERT_TRUE(vms.ok());
    EXPECT_GE(*vms, *rss);

    auto fds = OpenFileDescriptors();
    ASSERT_TRUE(fds.ok());
    EXPECT_GE(*fds, 3u);  // stdin, stdout, stderr at least
    int extra = dup(1);
    ASSERT_GE(extra, 0);
    EXPECT_EQ(*OpenFileDescriptors(), *fds + 1);
    close(extra);

    auto max_fds = MaxFileDescriptors();
    ASSERT_TRUE(max_fds.ok());
    EXPECT_GE(*max_fds, *fds);

    EXPECT_GE(CpuSecondsTotal(), 0.0);
}

TEST(ProcessMetricsTest, StartTimeFromProcIsRecentPast) {
    auto start = ProcessStartTimeFromProc();
    ASSERT_TRUE(start.ok()) << start.error().message;
    double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_LE(*start, now + 1);
    EXPECT_GT(*start, now - 24 * 3600);  // a unit test does not run for a day
}

TEST(ProcessMetricsTest, RegistersPositiveScrapeTimeMetrics) {
    Registry registry;
    common::ManualClock clock;
    ProcessMetrics process(registry, clock);
    std::string text = registry.RenderPrometheus();

    for (const char* name : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                             "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
        EXPECT_NE(text.find(std::string("# TYPE ") + name + " gauge\n"), std::string::npos) << name;
        EXPECT_GT(SampleValue(text, name), 0) << name << " in\n" << text;
    }
    EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
    EXPECT_GE(SampleValue(text, "process_cpu_seconds_total"), 0);
    EXPECT_DOUBLE_EQ(SampleValue(text, "process_start_time_seconds"), process.StartTimeSeconds());
    // Start time comes from /proc here, not from the (manual) fallback clock.
    EXPECT_DOUBLE_EQ(process.StartTimeSeconds(), *ProcessStartTimeFromProc());

    // A second registration of the same names is a startup error.
    EXPECT_THROW(ProcessMetrics(registry, clock), std::invalid_argument);
}

}  // namespace
}  // namespace aragora::metrics
