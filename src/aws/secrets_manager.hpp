#pragma once

// AWS Secrets Manager GetSecretValue over the project's HTTP client, signed with SigV4
// (common/aws_sigv4): the JSON 1.1 protocol, POST / with X-Amz-Target
// "secretsmanager.GetSecretValue" and {"SecretId": ...}. The secret's SecretString must be
// a JSON object of environment variable names to values (what `aws secretsmanager
// update-secret --secret-string '{...}'` writes).
//
// Values are secrets: no function here logs, and no error message holds a value (only
// names, HTTP statuses and the service's error type and message).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "common/aws_sigv4.hpp"
#include "common/result.hpp"
#include "net/http_client.hpp"

namespace aragora::aws {

inline constexpr std::string_view kGetSecretValueTarget = "secretsmanager.GetSecretValue";
inline constexpr std::string_view kAmzJson11 = "application/x-amz-json-1.1";

struct SecretsManagerTarget {
    std::string endpoint;  // "https://secretsmanager.eu-west-1.amazonaws.com", "http://127.0.0.1:9"
    std::string region;
    std::string secret_id;
};

using SecretValues = std::map<std::string, std::string, std::less<>>;

// The signed request (URL, headers incl. Host, X-Amz-Date, X-Amz-Target, Content-Type and
// Authorization; body). kValidation for a bad endpoint URL (not http(s)://host[:port][/]),
// an empty secret id or region, or what SignV4 refuses. `signed_out`, when given, receives
// the signer's intermediate forms (tests).
common::Result<net::ClientRequest> BuildGetSecretValueRequest(
    const SecretsManagerTarget& target, const common::AwsCredentials& credentials,
    std::chrono::system_clock::time_point now, std::chrono::milliseconds timeout,
    common::SignedRequest* signed_out = nullptr);

// The answer to GetSecretValue. 2xx: SecretString parsed as a JSON object whose keys are
// variable names and values strings (numbers and booleans are taken as their JSON text);
// kProviderError for a SecretBinary-only secret, a SecretString that is not a JSON object,
// a key that is not a variable name or a value that is null, an array or an object (each
// message names the secret and, where it applies, the key). Non-2xx: kForbidden for
// 400/403 credential and signature errors (AccessDenied, InvalidSignatureException,
// UnrecognizedClientException, ExpiredTokenException...), kNotFound for
// ResourceNotFoundException, kProviderError otherwise; the message gives the HTTP status,
// the service's error type and its message.
common::Result<SecretValues> ParseGetSecretValueResponse(const net::ClientResponse& response,
                                                         std::string_view secret_id);

// Build, send, parse.
boost::asio::awaitable<common::Result<SecretValues>> GetSecretValues(
    net::HttpClient& http, SecretsManagerTarget target, common::AwsCredentials credentials,
    std::chrono::milliseconds timeout);

// The parts of an endpoint URL. kValidation unless http(s)://host[:port] with an optional
// path ("/" when absent).
struct EndpointParts {
    std::string scheme;  // "http" | "https"
    std::string host;    // the Host header: "127.0.0.1:8080", "secretsmanager.x.amazonaws.com"
    std::string path;    // "/"
};
common::Result<EndpointParts> ParseEndpoint(std::string_view url);

}  // namespace aragora::aws
