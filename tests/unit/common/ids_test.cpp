// Ids: random ids with a prefix, and the per-process lease owner ids of workers and API
// instances (unique per call, readable: prefix, host name, pid).

#include "common/ids.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace aragora::common {
namespace {

TEST(IdsTest, NewProcessIdNamesTheHostAndPidAndIsUniquePerCall) {
    const std::string a = NewProcessId("s_");
    const std::string b = NewProcessId("s_");
    EXPECT_NE(a, b);
    ASSERT_EQ(a.rfind("s_", 0), 0u) << a;
    const auto at = a.find('@');
    const auto colon = a.rfind(':');
    ASSERT_NE(at, std::string::npos) << a;
    ASSERT_NE(colon, std::string::npos) << a;
    EXPECT_TRUE(IsValidId(a.substr(0, at))) << a;
    EXPECT_GT(colon, at + 1) << a;
    EXPECT_EQ(a.substr(colon + 1), std::to_string(getpid()));
    EXPECT_EQ(a.find(' '), std::string::npos) << a;  // one token in log lines
}

}  // namespace
}  // namespace aragora::common
