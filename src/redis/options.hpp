#pragma once

// Connection settings shared by RedisClient and RedisSubscriber.

#include <chrono>
#include <string>

#include "common/result.hpp"
#include "redis/url.hpp"

namespace aragora::redis {

// For rediss:// only. The server certificate is verified against the system CA store
// (/etc/ssl/certs) plus `ca_file` when given, and its name against the URL's host
// (DNS name, or IP address for an IP literal); SNI carries the host name.
struct TlsOptions {
    std::string ca_file;    // PEM bundle trusted in addition to the system store
    std::string cert_file;  // client certificate chain (PEM), for servers that require one
    std::string key_file;   // its private key (PEM)
    // Skips certificate and host verification. Only when explicitly asked for (a test
    // setup); the connection is then encrypted but not authenticated.
    bool insecure_skip_verify = false;
};

struct ConnectionOptions {
    RedisUrl url;
    TlsOptions tls;
    // DNS + TCP connect + TLS handshake + AUTH + SELECT, all together.
    std::chrono::milliseconds connect_timeout{2000};
    // Reconnect backoff: the first retry after a lost connection is immediate, then
    // reconnect_min, doubling up to reconnect_max, while the server stays unreachable.
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
};

// Checks what can be checked without connecting: timeouts > 0, reconnect_min <=
// reconnect_max, the TLS files readable and parseable. kValidation naming the problem.
common::Status Validate(const ConnectionOptions& options);

}  // namespace aragora::redis
