// The recent-errors log hands each 5xx to the error reporter (Sentry) with what the
// reporter needs, and keeps /readyz's by-design 503s to itself.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <vector>

#include "api/security.hpp"

namespace aragora::api {
namespace {

class Recording final : public common::ErrorReporter {
public:
    void Report(common::ErrorReport report) noexcept override {
        reports.push_back(std::move(report));
    }
    std::vector<common::ErrorReport> reports;
};

ErrorLog::Entry Entry(int status, std::string route) {
    ErrorLog::Entry e;
    e.timestamp = "2026-12-07T00:00:00Z";
    e.status = status;
    e.code = status == 500 ? "internal_error" : "http_" + std::to_string(status);
    e.message = "boom";
    e.method = "GET";
    e.route = std::move(route);
    e.correlation_id = "corr-1";
    e.query = "limit=5";
    e.headers = {{"authorization", "Bearer x"}};
    return e;
}

TEST(ErrorLogReporter, EachRecordedErrorIsReportedWithItsRequest) {
    ErrorLog log;
    Recording reporter;
    log.Record(Entry(500, "/api/v1/debates"));  // before: nothing to report to
    EXPECT_TRUE(reporter.reports.empty());
    log.SetReporter(&reporter);
    log.Record(Entry(500, "/api/v1/debates"));
    log.Record(Entry(503, "/api/v1/debates"));
    ASSERT_EQ(reporter.reports.size(), 2u);
    const auto& r = reporter.reports[0];
    EXPECT_EQ(r.level, "error");
    EXPECT_EQ(r.type, "internal_error");
    EXPECT_EQ(r.correlation_id, "corr-1");
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, "/api/v1/debates");
    EXPECT_EQ(r.query, "limit=5");
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_NE(r.message.find("answered 500: boom"), std::string::npos) << r.message;
    EXPECT_EQ(reporter.reports[1].level, "warning");
    EXPECT_EQ(log.total(), 3u);
}

TEST(ErrorLogReporter, ReadinessRefusalsAreNotReported) {
    ErrorLog log;
    Recording reporter;
    log.SetReporter(&reporter);
    log.Record(Entry(503, "/readyz"));
    EXPECT_TRUE(reporter.reports.empty());
    EXPECT_EQ(log.total(), 1u);  // still listed by /api/v1/system/errors
    // The raw request parts are never in the listing.
    const std::string listed = boost::json::serialize(log.RecentJson(10));
    EXPECT_EQ(listed.find("Bearer"), std::string::npos) << listed;
}

}  // namespace
}  // namespace aragora::api
