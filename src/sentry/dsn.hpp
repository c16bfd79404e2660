#pragma once

// SENTRY_DSN: <scheme>://<public_key>[:<secret>]@<host>[:<port>][/<path>]/<project_id>.
// Events go to <scheme>://<host>[:<port>][/<path>]/api/<project_id>/envelope/ with the
// public key in X-Sentry-Auth. HTTPS only, except http to a loopback host (a local
// relay, tests).

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::sentry {

struct Dsn {
    std::string scheme;      // "https" (or "http" for a loopback host)
    std::string public_key;  // sentry_key
    std::string host;        // without brackets for IPv6
    int port = 0;            // explicit, or 443 / 80 by scheme
    std::string path;        // "" or "/prefix" (a Sentry served under a path)
    std::string project_id;  // digits

    // <scheme>://<host>[:port]<path>/api/<project_id>/envelope/
    std::string EnvelopeUrl() const;
    // The X-Sentry-Auth value: "Sentry sentry_version=7, sentry_key=<key>, sentry_client=<c>".
    std::string AuthHeader(std::string_view client) const;
};

// kValidation naming SENTRY_DSN and what is wrong (never echoing the DSN's secret part).
common::Result<Dsn> ParseDsn(std::string_view text);

// 127.0.0.0/8, ::1, localhost.
bool IsLoopbackHost(std::string_view host);

}  // namespace aragora::sentry
