#include "ops/confine_path.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;

class ConfinePathTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/aragora_confine_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        root_ = base_ / "root";
        outside_ = base_ / "outside";
        fs::create_directories(root_ / "sub");
        fs::create_directories(outside_);
        std::ofstream(outside_ / "secret.db") << "x";
    }
    void TearDown() override { fs::remove_all(base_); }
    fs::path base_, root_, outside_;
};

TEST_F(ConfinePathTest, RelativeAndAbsolutePathsInsideTheRootResolve) {
    auto rel = ConfinePath("sub/a.db", {root_});
    ASSERT_TRUE(rel) << rel.error().message;
    EXPECT_EQ(*rel, fs::canonical(root_) / "sub" / "a.db");
    auto abs = ConfinePath((root_ / "b.db").string(), {root_});
    ASSERT_TRUE(abs) << abs.error().message;
    EXPECT_EQ(*abs, fs::canonical(root_) / "b.db");
}

TEST_F(ConfinePathTest, DotDotOutOfTheRootIsForbidden) {
    auto r = ConfinePath("../outside/secret.db", {root_});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, common::ErrorCode::kForbidden);
    auto r2 = ConfinePath((root_ / "sub/../../outside/x.db").string(), {root_});
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, common::ErrorCode::kForbidden);
}

TEST_F(ConfinePathTest, SymlinkPointingOutsideIsForbidden) {
    fs::create_directory_symlink(outside_, root_ / "link");
    auto r = ConfinePath("link/secret.db", {root_});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, common::ErrorCode::kForbidden);
    fs::create_symlink(outside_ / "secret.db", root_ / "file_link.db");
    auto r2 = ConfinePath("file_link.db", {root_});
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, common::ErrorCode::kForbidden);
}

TEST_F(ConfinePathTest, SecondRootIsAllowedAndPrefixSiblingsAreNot) {
    fs::create_directories(base_ / "root2");
    EXPECT_TRUE(ConfinePath((outside_ / "secret.db").string(), {root_, outside_}));
    // "/…/root2" starts with the characters of "/…/root" but is not inside it.
    auto r = ConfinePath((base_ / "root2" / "x.db").string(), {root_});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, common::ErrorCode::kForbidden);
}

TEST_F(ConfinePathTest, BadInputIsValidationAndMissingParentIsNotFound) {
    EXPECT_EQ(ConfinePath("", {root_}).error().code, common::ErrorCode::kValidation);
    EXPECT_EQ(ConfinePath(std::string_view("a\0b", 3), {root_}).error().code,
              common::ErrorCode::kValidation);
    EXPECT_EQ(ConfinePath("nope/x.db", {root_}).error().code, common::ErrorCode::kNotFound);
    EXPECT_EQ(ConfinePath("x.db", {base_ / "missing"}).error().code, common::ErrorCode::kNotFound);
}

// Outside the roots is 403 whether or not its directory exists: the answer says nothing
// about what lies out there.
TEST_F(ConfinePathTest, OutsideWithAMissingParentIsForbiddenNotNotFound) {
    for (const std::string p : {std::string("../../nowhere/x.db"), std::string("/nowhere/x.db"),
                                (outside_ / "missing" / "x.db").string()}) {
        auto r = ConfinePath(p, {root_});
        ASSERT_FALSE(r) << p;
        EXPECT_EQ(r.error().code, common::ErrorCode::kForbidden) << p << ": " << r.error().message;
    }
}

}  // namespace
}  // namespace aragora::ops
