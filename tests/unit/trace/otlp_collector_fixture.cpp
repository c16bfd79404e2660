#include "otlp_collector_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>

#ifndef ARAGORA_TEST_TOOLS_DIR
#error "ARAGORA_TEST_TOOLS_DIR must name tests/tools"
#endif

namespace aragora::trace::test_support {
using aragora::test_support::ReadUntil;
using Clock = std::chrono::steady_clock;

std::unique_ptr<OtlpCollector> OtlpCollector::Start(std::string* error) {
    const std::string tools = ARAGORA_TEST_TOOLS_DIR;
    const std::string script = tools + "/otlp_collector.js";
    if (!std::filesystem::exists(tools + "/node_modules/@grpc/grpc-js") ||
        !std::filesystem::exists(tools + "/node_modules/@opentelemetry/otlp-transformer")) {
        *error = tools + "/node_modules is missing: run scripts/install-deps.sh (npm ci there)";
        return nullptr;
    }
    std::unique_ptr<OtlpCollector> c(new OtlpCollector());
    c->node_ =
        aragora::test_support::NodeTool::Start({script}, "otlp_collector.js", "grpc_port", error);
    if (!c->node_) return nullptr;
    c->grpc_port_ = c->node_->IntField("grpc_port");
    c->http_port_ = c->node_->IntField("http_port");
    return c;
}

boost::json::value OtlpCollector::Received() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return nullptr;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(http_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return nullptr;
    }
    const std::string request = "GET /spans HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return nullptr;
    }
    const std::string response = ReadUntil(fd, Clock::now() + std::chrono::seconds(5),
                                           [](const std::string&) { return false; });
    ::close(fd);
    const auto body = response.find("\r\n\r\n");
    if (body == std::string::npos) return nullptr;
    boost::system::error_code ec;
    auto v = boost::json::parse(response.substr(body + 4), ec);
    if (ec) return nullptr;
    return v;
}

OtlpCollector::~OtlpCollector() { Stop(); }

void OtlpCollector::Stop() {
    if (node_) node_->Stop();
}

}  // namespace aragora::trace::test_support
