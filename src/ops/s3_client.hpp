#pragma once

// A small S3 client (the calls offsite backups need) over net::HttpClient, signed with
// AWS Signature V4 (common/aws_sigv4.hpp).
//
// Blocking: every call runs a private io_context on the calling thread until the call is
// done, with S3Config::request_timeout as the deadline of each HTTP exchange. Call it
// from the CLI's main thread or a BlockingPool thread, never from an I/O thread. One
// S3Client may be used by one thread at a time (it holds no connection between calls).
//
// Errors (never thrown), each one line naming the operation and object, never a secret:
//  - kValidation: bad endpoint, bucket or key, missing credentials;
//  - kNotFound: NoSuchKey / NoSuchBucket / a 404 HEAD;
//  - kProviderError: S3 refused the request ("S3 refused the request: SignatureDoesNotMatch
//    (403) ..."), a malformed answer, a download shorter than announced;
//  - kUnavailable: endpoint unreachable (refused, reset, DNS, TLS) or S3 5xx after retries;
//  - kTimeout: an exchange passed request_timeout (after retries);
//  - kInternal: a local file could not be read or written (path and reason).
// Idempotent requests (GET, HEAD, PUT, DELETE) are retried on kUnavailable, kTimeout, a cut
// connection, HTTP 5xx and S3's SlowDown/RequestTimeout, max_attempts in all, with a
// doubling delay from retry_delay. CreateMultipartUpload and CompleteMultipartUpload
// (POST) are not retried.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/aws_sigv4.hpp"
#include "common/result.hpp"

namespace aragora::ops {

struct S3Config {
    // "https://s3.eu-west-1.amazonaws.com" (AWS: virtual-hosted requests to
    // <bucket>.s3.eu-west-1.amazonaws.com) or any other S3-compatible endpoint such as
    // "http://127.0.0.1:9000" (path-style requests to /<bucket>/<key>). No path part.
    std::string endpoint;
    std::string region = "us-east-1";
    std::string bucket;
    common::AwsCredentials credentials;
    // Deadline of each HTTP exchange (connect, send, whole answer).
    std::chrono::milliseconds request_timeout{300'000};
    // Files up to this size go in one PUT; larger ones as a multipart upload of
    // part_size parts (S3: 5 MiB minimum except the last, 10,000 parts at most). Memory
    // use is one part (or one single PUT) at a time.
    std::uint64_t single_put_limit = 16 * 1024 * 1024;
    std::uint64_t part_size = 8 * 1024 * 1024;
    int max_attempts = 3;
    std::chrono::milliseconds retry_delay{500};
    // Keys per ListObjectsV2 page (S3 answers 1000 at most).
    int list_page_size = 1000;
    // Objects larger than this are downloaded as Range requests of this size, so each
    // exchange (and its deadline, and a retry) covers one range, not the whole file.
    std::uint64_t download_chunk_size = 64 * 1024 * 1024;
    // HTTP client settings (see net::HttpClientOptions).
    std::string ca_file;
    std::string https_proxy;
    std::string no_proxy;
};

struct S3Object {
    std::string key;
    std::uint64_t size = 0;
    std::string etag;           // as S3 sends it, quotes included
    std::string last_modified;  // ISO 8601 from the listing / HTTP date from HEAD
};

// What PutObjectFromFile did.
struct S3PutResult {
    std::uint64_t size = 0;
    int parts = 0;     // 0: one PUT; else the number of multipart parts
    std::string etag;  // of the object, as S3 answered it
};

// One page of a ListObjectsV2 answer.
struct S3ListPage {
    std::vector<S3Object> objects;
    bool truncated = false;
    std::string next_continuation_token;
};

// How requests reach the bucket: base URL, Host header and the path prefix of objects.
struct S3Address {
    std::string base_url;     // "http://127.0.0.1:9000" / "https://b.s3.eu-west-1.amazonaws.com"
    std::string host;         // Host header as sent and signed
    std::string bucket_path;  // "/bucket" (path-style) or "" (virtual-hosted)
    bool virtual_hosted = false;
};

// Pure helpers, exposed for tests.
common::Result<S3Address> ResolveS3Address(const S3Config& config);
common::Result<S3ListPage> ParseListObjectsV2(std::string_view xml);
common::Result<std::string> ParseUploadId(std::string_view xml);
struct S3ErrorBody {
    std::string code;
    std::string message;
};
// The <Error><Code>/<Message> of an S3 error answer; nullopt when `xml` holds none.
std::optional<S3ErrorBody> ParseS3Error(std::string_view xml);
// The one-line error for a refused request: "S3 refused the request: <Code> (<status>)"
// plus a hint (which variable to check) or S3's own message, then "[<what>]".
common::Error S3RefusalError(int status, std::string_view body, std::string_view what);
std::string XmlUnescape(std::string_view text);

class S3Client {
public:
    explicit S3Client(S3Config config);

    const S3Config& config() const { return config_; }

    // Uploads the file at `path` to `key` (single PUT or multipart, see S3Config). A
    // failed multipart upload is aborted (best effort) so no parts are left billed.
    common::Result<S3PutResult> PutObjectFromFile(
        const std::string& key, const std::string& path,
        const std::string& content_type = "application/octet-stream");
    // Uploads `body` (small objects: manifests, sidecars) in one PUT.
    common::Status PutObject(const std::string& key, std::string body,
                             const std::string& content_type = "application/octet-stream");

    // Every object whose key starts with `prefix` (ListObjectsV2, all pages), in key
    // order. kProviderError past `max_objects`.
    common::Result<std::vector<S3Object>> ListObjects(const std::string& prefix,
                                                      std::size_t max_objects = 100'000);

    // Streams `key` into `dest_path`: a temporary file beside it, fsync'ed, renamed over
    // `dest_path` (replacing a file of that name), the directory fsync'ed. HEAD gives the
    // size and ETag; above download_chunk_size the object comes in Range requests pinned
    // to that ETag (If-Match), a retry restarting only its range. The size is checked.
    // Returns the number of bytes written.
    common::Result<std::uint64_t> GetObjectToFile(const std::string& key,
                                                  const std::string& dest_path);
    // The object in memory; kProviderError when it is larger than `max_bytes`.
    common::Result<std::string> GetObject(const std::string& key,
                                          std::size_t max_bytes = 1024 * 1024);

    common::Status DeleteObject(const std::string& key);
    // Size, ETag and Last-Modified of `key`; kNotFound when it does not exist.
    common::Result<S3Object> HeadObject(const std::string& key);

private:
    S3Config config_;
};

}  // namespace aragora::ops
