#pragma once

// The S3 stand-in for the offsite tests: @20minutes/s3rver (tests/tools/package.json,
// installed by scripts/install-deps.sh with `npm ci`) run by tests/tools/s3rver_launch.js
// on 127.0.0.1 with a port the OS picks and its objects in a fresh temp dir. It checks
// SigV4 signatures against one account: access key "S3RVER", secret "S3RVER".
//
// The server dies with the test process (PR_SET_PDEATHSIG, and the launcher exits when
// its stdin closes); Stop() (also run by the destructor) kills it and removes the dir.

#include <memory>
#include <string>

#include "../../support/node_tool.hpp"

namespace aragora::ops::test_support {

class S3rverProcess {
public:
    static constexpr const char* kAccessKey = "S3RVER";
    static constexpr const char* kSecret = "S3RVER";

    // Starts the server with `bucket` created; nullptr with `*error` (naming what is
    // missing: node, or tests/tools/node_modules) when it cannot.
    static std::unique_ptr<S3rverProcess> Start(const std::string& bucket, std::string* error);

    ~S3rverProcess();
    S3rverProcess(const S3rverProcess&) = delete;
    S3rverProcess& operator=(const S3rverProcess&) = delete;

    int port() const { return port_; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    // SIGKILL and reap (the port is closed when it returns), then the dir is removed.
    // Idempotent.
    void Stop();

private:
    S3rverProcess() = default;

    std::unique_ptr<aragora::test_support::NodeTool> node_;
    int port_ = 0;
    std::string dir_;
};

}  // namespace aragora::ops::test_support
