#pragma once

// AWS credentials the way the AWS SDKs find them, first match wins:
//  1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//  2. the ECS/EKS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
//     http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
//     AWS_CONTAINER_AUTHORIZATION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
//  3. EC2 instance metadata, IMDSv2 only (a session token first), at
//     AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254); skipped when
//     AWS_EC2_METADATA_DISABLED=true.
// Every HTTP exchange has the given deadline. Secrets (the secret key, the session token,
// the container token) never go into an error message or a log line.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/aws_sigv4.hpp"
#include "common/result.hpp"
#include "net/http_client.hpp"

namespace aragora::aws {

using EnvFn = std::function<std::optional<std::string>(std::string_view)>;

struct ResolvedCredentials {
    common::AwsCredentials credentials;
    std::string source;  // "environment", "container endpoint", "instance metadata"
};

// kValidation when AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY (or the
// reverse); kUnavailable / kTimeout naming the endpoint when a credential endpoint does
// not answer; kNotFound when
// no source is configured and the instance metadata is unreachable or disabled.
boost::asio::awaitable<common::Result<ResolvedCredentials>> ResolveCredentials(
    net::HttpClient& http, EnvFn env, std::chrono::milliseconds timeout);

// The JSON of a container or instance credential endpoint: AccessKeyId, SecretAccessKey,
// Token (optional). kProviderError naming the missing field (never a value).
common::Result<common::AwsCredentials> ParseCredentialDocument(std::string_view body,
                                                               std::string_view source);

}  // namespace aragora::aws
