#include "s3rver_fixture.hpp"

#include <stdlib.h>

#include <filesystem>

#ifndef ARAGORA_TEST_TOOLS_DIR
#error "ARAGORA_TEST_TOOLS_DIR must name tests/tools"
#endif

namespace aragora::ops::test_support {

std::unique_ptr<S3rverProcess> S3rverProcess::Start(const std::string& bucket, std::string* error) {
    const std::string tools = ARAGORA_TEST_TOOLS_DIR;
    const std::string script = tools + "/s3rver_launch.js";
    if (!std::filesystem::exists(tools + "/node_modules/@20minutes/s3rver")) {
        *error = tools + "/node_modules is missing: run scripts/install-deps.sh (npm ci there)";
        return nullptr;
    }
    char dir_template[] = "/tmp/aragora_s3rver_XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
        *error = "mkdtemp failed";
        return nullptr;
    }
    std::unique_ptr<S3rverProcess> server(new S3rverProcess());
    server->dir_ = dir_template;

    // s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in
    // its legacy provider: without it every second page is an InternalError.
    server->node_ = aragora::test_support::NodeTool::Start(
        {"--openssl-legacy-provider", script, server->dir_ + "/data", bucket}, "s3rver", "port",
        error);
    if (!server->node_) {
        server->Stop();
        return nullptr;
    }
    server->port_ = server->node_->IntField("port");
    return server;
}

S3rverProcess::~S3rverProcess() { Stop(); }

void S3rverProcess::Stop() {
    if (node_) node_->Stop();
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        dir_.clear();
    }
}

}  // namespace aragora::ops::test_support
