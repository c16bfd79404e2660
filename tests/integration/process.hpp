#pragma once

#include <map>
#include <string>
#include <vector>

namespace aragora::testing {

struct ProcessResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

// Runs `args` (argv[0] = program) with `env` added to a minimal environment, waits for it
// (killing it after `timeout_seconds`), and returns its exit code and captured output.
ProcessResult RunProcess(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, int timeout_seconds = 60);

// A fresh temporary directory, removed with its contents when destroyed.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& content);

}  // namespace aragora::testing
