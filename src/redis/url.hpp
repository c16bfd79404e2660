#pragma once

// Redis connection URLs: redis://[[user]:password@]host[:port][/db] and rediss:// (TLS).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aragora::redis {

struct RedisUrl {
    bool tls = false;  // rediss://
    std::string host;  // IPv6 without brackets
    std::uint16_t port = 6379;
    int db = 0;            // SELECT index, 0..(databases-1); the server checks the upper bound
    std::string username;  // empty: AUTH <password> (the "default" user)
    std::string password;  // empty: no AUTH

    // Parses `url`. User and password are percent-decoded. When the URL carries no password,
    // `fallback_password` (REDIS_PASSWORD, read by the caller) is used. Errors are
    // kValidation, name `field` and never echo the password.
    static common::Result<RedisUrl> Parse(std::string_view url,
                                          std::string_view fallback_password = {},
                                          std::string_view field = "ARAGORA_REDIS_URL");

    // "redis[s]://[user:***@]host:port/db" for logs: the password never appears ("***"
    // stands for any password, from the URL or the fallback).
    std::string Redacted() const;
    // "host:port" ("[v6]:port" for IPv6).
    std::string Authority() const;
};

}  // namespace aragora::redis
