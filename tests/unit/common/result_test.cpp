#include "common/result.hpp"

#include <gtest/gtest.h>

namespace aragora::common {
namespace {

TEST(ResultGlueTest, StatusAndUnitConvert) {
    EXPECT_TRUE(ToUnit(Status()).ok());
    const Result<Unit> failed = ToUnit(Status(MakeError(ErrorCode::kStorage, "disk")));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, ErrorCode::kStorage);
    EXPECT_EQ(failed.error().message, "disk");

    EXPECT_TRUE(ToStatus(Result<int>(3)).ok());
    const Status s = ToStatus(Result<int>(MakeError(ErrorCode::kTimeout, "slow", "f")));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ErrorCode::kTimeout);
    EXPECT_EQ(s.error().field, "f");
}

}  // namespace
}  // namespace aragora::common
