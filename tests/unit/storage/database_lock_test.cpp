// The SQLite database lock of serve/worker: a second holder is refused naming the first's
// pid, the lock goes with its holder, PostgreSQL and in-memory SQLite take none.

#include "storage/database_lock.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace aragora::storage {
namespace {

class DatabaseLockTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "aragora-app-lock-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string Read(const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    config::StorageSettings Sqlite(const std::string& file) {
        config::StorageSettings s;
        s.data_dir = dir_;
        s.sqlite_path = file;
        return s;
    }
    std::string dir_;
};

TEST_F(DatabaseLockTest, PathIsBesideTheSqliteFileAndNoneForPostgresOrMemory) {
    EXPECT_EQ(DatabaseLock::PathFor(Sqlite(dir_ + "/aragora.sqlite3")),
              dir_ + "/aragora.sqlite3.lock");
    EXPECT_FALSE(DatabaseLock::PathFor(Sqlite(":memory:")));
    EXPECT_FALSE(DatabaseLock::PathFor(Sqlite("file:x?mode=memory")));
    config::StorageSettings pg = Sqlite(dir_ + "/aragora.sqlite3");
    pg.backend = config::DbBackend::kPostgres;
    EXPECT_FALSE(DatabaseLock::PathFor(pg));
    auto none = LockConfiguredDatabase(pg);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->held());
}

TEST_F(DatabaseLockTest, ASecondHolderIsRefusedNamingThePidUntilTheFirstLetsGo) {
    const std::string db = dir_ + "/sub/aragora.sqlite3";  // the directory is created
    auto first = LockConfiguredDatabase(Sqlite(db));
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_TRUE(first->held());
    EXPECT_EQ(Read(db + ".lock"), std::to_string(::getpid()) + "\n");

    // flock belongs to the open file description: a second open in this very process
    // conflicts exactly as another process would.
    auto second = LockConfiguredDatabase(Sqlite(db));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, common::ErrorCode::kConflict);
    EXPECT_EQ(second.error().message, db + " is in use by another aragora process (pid " +
                                          std::to_string(::getpid()) + "; lock file " + db +
                                          ".lock)");
    EXPECT_EQ(second.error().message.find('\n'), std::string::npos);
    // The refused attempt left the holder's pid in place.
    EXPECT_EQ(Read(db + ".lock"), std::to_string(::getpid()) + "\n");

    {
        DatabaseLock moved = std::move(*first);  // ownership moves, the lock stays held
        EXPECT_TRUE(moved.held());
        EXPECT_FALSE(LockConfiguredDatabase(Sqlite(db)).ok());
    }
    EXPECT_EQ(Read(db + ".lock"), "");  // emptied on release; the file stays
    auto third = LockConfiguredDatabase(Sqlite(db));
    ASSERT_TRUE(third.ok()) << third.error().message;
    EXPECT_TRUE(third->held());
}

TEST_F(DatabaseLockTest, ALeftoverFileWithAStalePidDoesNotBlock) {
    const std::string db = dir_ + "/aragora.sqlite3";
    std::ofstream(db + ".lock") << "999999\n";
    auto lock = LockConfiguredDatabase(Sqlite(db));
    ASSERT_TRUE(lock.ok()) << lock.error().message;
    EXPECT_EQ(Read(db + ".lock"), std::to_string(::getpid()) + "\n");
}

TEST_F(DatabaseLockTest, ALockFileThatCannotBeCreatedIsUnavailableNamingThePath) {
    std::ofstream(dir_ + "/not_a_dir") << "x";  // the "directory" is a file (even root fails)
    auto lock = LockConfiguredDatabase(Sqlite(dir_ + "/not_a_dir/aragora.sqlite3"));
    ASSERT_FALSE(lock.ok());
    EXPECT_EQ(lock.error().code, common::ErrorCode::kUnavailable);
    EXPECT_NE(lock.error().message.find(dir_ + "/not_a_dir/aragora.sqlite3.lock"),
              std::string::npos)
        << lock.error().message;
}

}  // namespace
}  // namespace aragora::storage
