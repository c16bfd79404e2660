#pragma once

// AWS Signature Version 4 (header-based signing) for S3 and other AWS-style services.
// Pure: no I/O, no clock (the caller passes the signing time), no logging.
//
// The secret access key and the session token are secrets: nothing here writes them into
// a log, an error message or a returned string other than the headers to send (the token
// goes into X-Amz-Security-Token, as the protocol requires; the secret never leaves).

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace aragora::common {

struct AwsCredentials {
    std::string access_key_id;
    std::string secret_access_key;  // secret
    std::string session_token;      // secret; "" for long-term keys
};

// Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN through `env` (the
// signature of config::EnvLookup, so config::ProcessEnv() can be passed). kValidation
// naming the missing variables (names only, never a value) when the key id or the secret
// is missing or empty.
Result<AwsCredentials> AwsCredentialsFromEnv(
    const std::function<std::optional<std::string>(std::string_view)>& env);

// x-amz-content-sha256 of a request whose body is not hashed.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// Hex SHA-256 of the empty string (a GET/HEAD/DELETE body).
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SigV4Request {
    std::string method = "GET";
    // The Host header exactly as it is sent: "bucket.s3.eu-west-1.amazonaws.com",
    // "127.0.0.1:9000" (port when not the scheme's default).
    std::string host;
    // The decoded path ("/bucket/backups/a b.db.gz"). It is URI-encoded once, segment by
    // segment with '/' kept: S3's rule, and the same bytes for any path of unreserved
    // characters (such as "/" of JSON-protocol services). No dot-segment normalisation.
    std::string path = "/";
    // Decoded query parameters in any order ({"uploads", ""} for "?uploads").
    std::vector<std::pair<std::string, std::string>> query;
    // Further headers to sign and send (any case; e.g. content-type, range). Host,
    // X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token and Authorization are set
    // by the signer and must not be given here (kValidation).
    std::vector<std::pair<std::string, std::string>> headers;
    // Lowercase hex SHA-256 of the body, or kUnsignedPayload.
    std::string payload_sha256 = std::string(kEmptyPayloadSha256);
    // Send and sign X-Amz-Content-Sha256 (S3 requires it; other services do not use it).
    bool content_sha256_header = true;
};

struct SigV4Scope {
    std::string region = "us-east-1";
    std::string service = "s3";
};

struct SignedRequest {
    // Every header to send with the request, Host first and Authorization last.
    std::vector<std::pair<std::string, std::string>> headers;
    // The request target to send: encoded path, then "?" and the canonical query if any.
    std::string target;
    // The intermediate forms, for tests and diagnostics (they hold no secret).
    std::string canonical_request;
    std::string string_to_sign;
    std::string signed_headers;  // "host;x-amz-content-sha256;x-amz-date"
    std::string signature;       // lowercase hex
};

// Signs `request` at `now`. kValidation for an empty host, method, region or service, an
// empty key id or secret, a payload hash that is neither 64 hex digits nor
// UNSIGNED-PAYLOAD, a path not starting with '/', or a header the signer owns.
Result<SignedRequest> SignV4(const SigV4Request& request, const AwsCredentials& credentials,
                             const SigV4Scope& scope, std::chrono::system_clock::time_point now);

// The building blocks, exposed for tests.

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - . _ ~ kept, every other byte
// as %XY (upper-case hex); '/' kept when `keep_slash`.
std::string AwsUriEncode(std::string_view s, bool keep_slash);
// name=value pairs, both encoded, sorted by encoded name then value, joined with '&'.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);
// "20150830T123600Z" (UTC, whole seconds).
std::string FormatAmzDate(std::chrono::system_clock::time_point tp);
// kSigning = HMAC chain over "AWS4" + secret, yyyymmdd, region, service, "aws4_request"
// (32 raw bytes).
std::string DeriveSigningKey(std::string_view secret, std::string_view yyyymmdd,
                             std::string_view region, std::string_view service);

}  // namespace aragora::common
