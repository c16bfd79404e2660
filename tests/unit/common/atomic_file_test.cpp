// WriteFileAtomically (the memory dump file): replaces whole, leaves no temporary file,
// writes through no planted symlink, names the path when it cannot write.

#include "common/atomic_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace aragora::common {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "aragora-app-file-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    static std::string Read(const fs::path& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    std::size_t Entries() const {
        return static_cast<std::size_t>(
            std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}));
    }
    fs::path dir_;
};

TEST_F(AtomicFileTest, CreatesAndReplacesWholeLeavingNoTemporaryFile) {
    const fs::path p = dir_ / "dump.json";
    ASSERT_TRUE(WriteFileAtomically(p.string(), "{\"a\":1}\n").ok());
    EXPECT_EQ(Read(p), "{\"a\":1}\n");
    ASSERT_TRUE(WriteFileAtomically(p.string(), "{}\n").ok());
    EXPECT_EQ(Read(p), "{}\n");
    EXPECT_EQ(Entries(), 1u);
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(AtomicFileTest, APlantedSymlinkIsReplacedNotWrittenThrough) {
    const fs::path victim = dir_ / "victim";
    std::ofstream(victim) << "keep";
    const fs::path p = dir_ / "dump.json";
    fs::create_symlink(victim, p);
    ASSERT_TRUE(WriteFileAtomically(p.string(), "new").ok());
    EXPECT_EQ(Read(victim), "keep");
    EXPECT_FALSE(fs::is_symlink(p));
    EXPECT_EQ(Read(p), "new");
}

TEST_F(AtomicFileTest, AMissingDirectoryIsAnErrorNamingThePath) {
    const std::string p = (dir_ / "missing" / "dump.json").string();
    auto s = WriteFileAtomically(p, "x");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, common::ErrorCode::kInternal);
    EXPECT_NE(s.error().message.find(p), std::string::npos) << s.error().message;
    EXPECT_EQ(Entries(), 0u);
}

}  // namespace
}  // namespace aragora::common
