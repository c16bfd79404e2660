#include "ops/s3_client.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "common/strings.hpp"
#include "net/http_client.hpp"

namespace aragora::ops {

namespace asio = boost::asio;
using common::Error;
using common::ErrorCode;
using common::MakeError;
using common::Result;
using common::Status;

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

std::shared_ptr<spdlog::logger> Log() { return common::GetLogger("aragora.ops"); }

// ---- XML: S3's answers are small, flat and machine-written; a tag scanner suffices.

// Inner text of each <tag>...</tag> (or <tag attr="...">) in `xml` from `from`, in order.
std::vector<std::string_view> Elements(std::string_view xml, std::string_view tag) {
    std::vector<std::string_view> out;
    const std::string open = "<" + std::string(tag);
    const std::string close = "</" + std::string(tag) + ">";
    std::size_t pos = 0;
    while ((pos = xml.find(open, pos)) != std::string_view::npos) {
        const std::size_t after = pos + open.size();
        if (after >= xml.size()) break;
        const char c = xml[after];
        if (c == '/') {  // <tag/>: empty
            out.emplace_back();
            pos = after;
            continue;
        }
        if (c != '>' && c != ' ' && c != '\t' && c != '\r' && c != '\n') {  // <tagX...>
            pos = after;
            continue;
        }
        const std::size_t start = xml.find('>', after);
        if (start == std::string_view::npos) break;
        if (xml[start - 1] == '/') {
            out.emplace_back();
            pos = start + 1;
            continue;
        }
        const std::size_t end = xml.find(close, start + 1);
        if (end == std::string_view::npos) break;
        out.push_back(xml.substr(start + 1, end - start - 1));
        pos = end + close.size();
    }
    return out;
}

std::optional<std::string> FirstText(std::string_view xml, std::string_view tag) {
    auto all = Elements(xml, tag);
    if (all.empty()) return std::nullopt;
    return XmlUnescape(all.front());
}

std::string XmlEscapeText(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

void AppendUtf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp <= 0x10FFFF) {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// A server-supplied text made safe for a one-line error message.
std::string OneLine(std::string_view text, std::size_t max = 200) {
    std::string out;
    for (char c : text) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
    return std::string(common::Trim(out));
}

bool ParseUint(std::string_view s, std::uint64_t& out) {
    s = common::Trim(s);
    if (s.empty() || s.size() > 19) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = v;
    return true;
}

bool IsDnsBucket(std::string_view bucket) {
    if (bucket.size() < 3 || bucket.size() > 63) return false;
    return std::all_of(bucket.begin(), bucket.end(),
                       [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                       }) &&
           bucket.front() != '-' && bucket.back() != '-';
}

Status ValidateKey(std::string_view key) {
    if (key.empty() || key.size() > 1024) {
        return MakeError(ErrorCode::kValidation, "S3 object key must be 1..1024 bytes", "key");
    }
    for (char c : key) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            return MakeError(ErrorCode::kValidation, "S3 object key holds a control character",
                             "key");
        }
    }
    return {};
}

// ---- Files

std::string Errno(int err) { return std::strerror(err); }

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int Release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Reads up to `n` bytes at `offset` (fewer only at the end of the file).
Result<std::string> ReadAt(int fd, std::uint64_t offset, std::size_t n, const std::string& path) {
    std::string buf(n, '\0');
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::pread(fd, buf.data() + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return MakeError(ErrorCode::kInternal, "cannot read " + path + ": " + Errno(errno));
        }
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    buf.resize(got);
    return buf;
}

bool WriteAll(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t w = ::write(fd, data.data(), data.size());
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
}

// ---- Requests

struct Call {
    std::string method = "GET";
    std::string key;  // "" for a bucket-level request
    Params query;
    Params headers;
    std::string body;
    bool idempotent = true;
};

bool RetryableS3Code(std::string_view code) {
    return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
           code == "ServiceUnavailable";
}

// One call's private io_context and HTTP client: connections are reused within a call
// (the parts of one upload), never across calls or threads.
class Session {
public:
    Session(const S3Config& config, S3Address address)
        : config_(config), address_(std::move(address)), http_(ioc_, ClientOptions(config)) {}

    std::string Describe(const Call& call) const {
        return call.method + " s3://" + config_.bucket + "/" + call.key;
    }

    // Sends `call` (signed afresh for every attempt) and answers the 2xx response, or the
    // error. `before_attempt` runs before each attempt (a download restarts its file).
    Result<net::ClientResponse> Send(const Call& call, const net::BodySink& sink = {},
                                     const std::function<Status()>& before_attempt = {}) {
        const int attempts = std::max(1, call.idempotent ? config_.max_attempts : 1);
        const std::string payload_hash = common::Sha256Hex(call.body);
        std::chrono::milliseconds delay = config_.retry_delay;
        Error last;
        for (int attempt = 1; attempt <= attempts; ++attempt) {
            if (attempt > 1) {
                Log()->warn("{}; retry {} of {} in {} ms", last.message, attempt - 1, attempts - 1,
                            delay.count());
                // A bounded back-off between retries on this blocking thread.
                if (delay.count() > 0) std::this_thread::sleep_for(delay);
                delay *= 2;
            }
            if (before_attempt) {
                if (Status s = before_attempt(); !s) return s.error();
            }
            common::SigV4Request sig;
            sig.method = call.method;
            sig.host = address_.host;
            // A bucket-level request goes to "/<bucket>" (path-style) or "/".
            sig.path = call.key.empty()
                           ? (address_.bucket_path.empty() ? "/" : address_.bucket_path)
                           : address_.bucket_path + "/" + call.key;
            sig.query = call.query;
            sig.headers = call.headers;
            sig.payload_sha256 = payload_hash;
            auto signed_request =
                common::SignV4(sig, config_.credentials,
                               common::SigV4Scope{.region = config_.region, .service = "s3"},
                               std::chrono::system_clock::now());
            if (!signed_request) return signed_request.error();

            net::ClientRequest request;
            request.method = call.method;
            request.url = address_.base_url + signed_request->target;
            request.headers = std::move(signed_request->headers);
            request.body = call.body;
            request.timeout = config_.request_timeout;
            auto response = SendOnce(std::move(request), sink);
            if (!response) {
                last = TransportError(response.error(), call);
                const ErrorCode code = response.error().code;
                if (code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout ||
                    code == ErrorCode::kProviderError) {
                    continue;
                }
                return last;
            }
            if (response->status >= 200 && response->status < 300) return response;
            last = S3RefusalError(response->status, response->body, Describe(call));
            const auto body = ParseS3Error(response->body);
            if (response->status >= 500 || (body && RetryableS3Code(body->code))) continue;
            return last;
        }
        return last;
    }

private:
    static net::HttpClientOptions ClientOptions(const S3Config& config) {
        net::HttpClientOptions options;
        options.ca_file = config.ca_file;
        options.https_proxy = config.https_proxy;
        options.no_proxy = config.no_proxy;
        options.max_idle_per_host = 2;
        return options;
    }

    Error TransportError(const Error& e, const Call& call) const {
        if (e.code == ErrorCode::kTimeout) {
            return MakeError(ErrorCode::kTimeout,
                             "S3 request timed out after " +
                                 std::to_string(config_.request_timeout.count()) + " ms (" +
                                 Describe(call) + " at " + address_.base_url + ")");
        }
        if (e.code == ErrorCode::kUnavailable) {
            return MakeError(ErrorCode::kUnavailable, "S3 endpoint " + address_.base_url +
                                                          " unreachable (" + Describe(call) +
                                                          "): " + OneLine(e.message));
        }
        return MakeError(e.code, "S3 " + Describe(call) + " failed: " + OneLine(e.message));
    }

    Result<net::ClientResponse> SendOnce(net::ClientRequest request, const net::BodySink& sink) {
        std::optional<Result<net::ClientResponse>> out;
        asio::co_spawn(ioc_, http_.Send(std::move(request), sink),
                       [&out](std::exception_ptr e, Result<net::ClientResponse> r) {
                           if (e) {
                               out = MakeError(ErrorCode::kInternal, "S3 request failed");
                           } else {
                               out = std::move(r);
                           }
                       });
        ioc_.restart();
        ioc_.run();
        if (!out) return MakeError(ErrorCode::kInternal, "S3 request did not complete");
        return std::move(*out);
    }

    const S3Config& config_;
    const S3Address address_;
    asio::io_context ioc_;
    net::HttpClient http_;
};

Result<std::unique_ptr<Session>> OpenSession(const S3Config& config) {
    auto address = ResolveS3Address(config);
    if (!address) return address.error();
    if (config.credentials.access_key_id.empty() || config.credentials.secret_access_key.empty()) {
        return MakeError(ErrorCode::kValidation,
                         "AWS credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                         "AWS_ACCESS_KEY_ID");
    }
    if (config.request_timeout.count() <= 0) {
        return MakeError(ErrorCode::kValidation, "S3 request timeout must be positive");
    }
    return std::make_unique<Session>(config, std::move(*address));
}

}  // namespace

// ---- Pure helpers

std::string XmlUnescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '&') {
            out.push_back(text[i]);
            continue;
        }
        const std::size_t semi = text.find(';', i);
        if (semi == std::string_view::npos || semi - i > 10) {
            out.push_back('&');
            continue;
        }
        const std::string_view entity = text.substr(i + 1, semi - i - 1);
        if (entity == "amp") {
            out.push_back('&');
        } else if (entity == "lt") {
            out.push_back('<');
        } else if (entity == "gt") {
            out.push_back('>');
        } else if (entity == "quot") {
            out.push_back('"');
        } else if (entity == "apos") {
            out.push_back('\'');
        } else if (entity.size() > 1 && entity[0] == '#') {
            const bool hex = entity[1] == 'x' || entity[1] == 'X';
            const std::string digits(entity.substr(hex ? 2 : 1));
            char* end = nullptr;
            const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
            if (digits.empty() || end != digits.c_str() + digits.size()) {
                out.push_back('&');
                continue;
            }
            AppendUtf8(out, cp);
        } else {
            out.push_back('&');
            continue;
        }
        i = semi;
    }
    return out;
}

Result<S3Address> ResolveS3Address(const S3Config& config) {
    if (config.bucket.empty() || config.bucket.size() > 255 ||
        config.bucket.find_first_of("/ \t\r\n?#") != std::string::npos) {
        return MakeError(ErrorCode::kValidation,
                         "S3 bucket name '" + OneLine(config.bucket, 80) + "' is not valid",
                         "ARAGORA_BACKUP_S3_BUCKET");
    }
    std::string_view endpoint = config.endpoint;
    const auto sep = endpoint.find("://");
    const std::string scheme =
        sep == std::string_view::npos ? "" : common::ToLower(endpoint.substr(0, sep));
    if (scheme != "http" && scheme != "https") {
        return MakeError(
            ErrorCode::kValidation,
            "S3 endpoint must be an http:// or https:// URL, got '" + OneLine(endpoint, 120) + "'",
            "ARAGORA_BACKUP_S3_ENDPOINT");
    }
    std::string_view authority = endpoint.substr(sep + 3);
    while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
    if (authority.empty() || authority.find_first_of("/?#@ \t\r\n") != std::string_view::npos) {
        return MakeError(ErrorCode::kValidation,
                         "S3 endpoint must be scheme://host[:port] without a path, got '" +
                             OneLine(endpoint, 120) + "'",
                         "ARAGORA_BACKUP_S3_ENDPOINT");
    }
    const std::string lower_authority = common::ToLower(authority);
    // The host without a port ("[::1]:9000" keeps its brackets).
    std::string_view host_only = lower_authority;
    if (const auto colon = host_only.rfind(':');
        colon != std::string_view::npos && host_only.find(']', colon) == std::string_view::npos) {
        host_only = host_only.substr(0, colon);
    }
    const bool aws = host_only.starts_with("s3") && host_only.ends_with(".amazonaws.com");
    S3Address address;
    address.virtual_hosted = aws && IsDnsBucket(config.bucket);
    if (address.virtual_hosted) {
        address.host = config.bucket + "." + lower_authority;
        address.bucket_path = "";
    } else {
        address.host = lower_authority;
        address.bucket_path = "/" + config.bucket;
    }
    address.base_url = scheme + "://" + address.host;
    return address;
}

Result<S3ListPage> ParseListObjectsV2(std::string_view xml) {
    if (Elements(xml, "ListBucketResult").empty()) {
        return MakeError(ErrorCode::kProviderError,
                         "S3 listing answer is not a ListBucketResult document");
    }
    S3ListPage page;
    for (std::string_view contents : Elements(xml, "Contents")) {
        S3Object object;
        auto key = FirstText(contents, "Key");
        auto size = FirstText(contents, "Size");
        if (!key || !size || !ParseUint(*size, object.size)) {
            return MakeError(ErrorCode::kProviderError,
                             "S3 listing has an entry without a key or a size");
        }
        object.key = std::move(*key);
        object.etag = FirstText(contents, "ETag").value_or("");
        object.last_modified = FirstText(contents, "LastModified").value_or("");
        page.objects.push_back(std::move(object));
    }
    page.truncated = FirstText(xml, "IsTruncated").value_or("false") == "true";
    page.next_continuation_token = FirstText(xml, "NextContinuationToken").value_or("");
    if (page.truncated && page.next_continuation_token.empty()) {
        return MakeError(ErrorCode::kProviderError,
                         "S3 listing is truncated but has no continuation token");
    }
    return page;
}

Result<std::string> ParseUploadId(std::string_view xml) {
    auto id = FirstText(xml, "UploadId");
    if (!id || id->empty()) {
        return MakeError(ErrorCode::kProviderError,
                         "S3 CreateMultipartUpload answer holds no UploadId");
    }
    return std::move(*id);
}

std::optional<S3ErrorBody> ParseS3Error(std::string_view xml) {
    auto errors = Elements(xml, "Error");
    if (errors.empty()) return std::nullopt;
    S3ErrorBody body;
    body.code = FirstText(errors.front(), "Code").value_or("");
    body.message = FirstText(errors.front(), "Message").value_or("");
    if (body.code.empty()) return std::nullopt;
    return body;
}

Error S3RefusalError(int status, std::string_view body, std::string_view what) {
    auto parsed = ParseS3Error(body);
    std::string code = parsed ? OneLine(parsed->code, 64) : "";
    if (code.empty()) {
        code = status == 404 ? "NotFound" : status == 403 ? "Forbidden" : "HTTP error";
    }
    std::string hint;
    if (code == "SignatureDoesNotMatch") {
        hint = "check AWS_SECRET_ACCESS_KEY";
    } else if (code == "InvalidAccessKeyId") {
        hint = "check AWS_ACCESS_KEY_ID";
    } else if (code == "InvalidToken" || code == "ExpiredToken") {
        hint = "check AWS_SESSION_TOKEN";
    } else if (code == "RequestTimeTooSkewed") {
        hint = "check this machine's clock";
    } else if (code == "NoSuchBucket") {
        hint = "check ARAGORA_BACKUP_S3_BUCKET";
    } else if (code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect") {
        hint = "check ARAGORA_BACKUP_S3_REGION and ARAGORA_BACKUP_S3_ENDPOINT";
    } else if (parsed && !parsed->message.empty()) {
        hint = OneLine(parsed->message, 160);
    }
    std::string message = "S3 refused the request: " + code + " (" + std::to_string(status) + ")";
    if (!hint.empty()) message += ": " + hint;
    message += " [" + std::string(what) + "]";
    ErrorCode error_code = ErrorCode::kProviderError;
    if (status == 404) {
        error_code = ErrorCode::kNotFound;
    } else if (status >= 500) {
        error_code = ErrorCode::kUnavailable;
    }
    return MakeError(error_code, std::move(message));
}

// ---- S3Client

S3Client::S3Client(S3Config config) : config_(std::move(config)) {}

Status S3Client::PutObject(const std::string& key, std::string body,
                           const std::string& content_type) {
    if (Status s = ValidateKey(key); !s) return s;
    auto session = OpenSession(config_);
    if (!session) return session.error();
    Call call;
    call.method = "PUT";
    call.key = key;
    call.headers = {{"Content-Type", content_type}};
    call.body = std::move(body);
    return common::ToStatus((*session)->Send(call));
}

Result<S3PutResult> S3Client::PutObjectFromFile(const std::string& key, const std::string& path,
                                                const std::string& content_type) {
    if (Status s = ValidateKey(key); !s) return s.error();
    if (config_.part_size == 0) {
        return MakeError(ErrorCode::kValidation, "S3 part size must be positive");
    }
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        return MakeError(ErrorCode::kInternal, "cannot open " + path + ": " + Errno(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return MakeError(ErrorCode::kInternal, path + " is not a regular file");
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    auto session = OpenSession(config_);
    if (!session) return session.error();
    Session& s3 = **session;

    if (size <= config_.single_put_limit) {
        auto body = ReadAt(fd.get(), 0, static_cast<std::size_t>(size), path);
        if (!body) return body.error();
        if (body->size() != size) {
            return MakeError(ErrorCode::kInternal, path + " changed size while being read");
        }
        Call call;
        call.method = "PUT";
        call.key = key;
        call.headers = {{"Content-Type", content_type}};
        call.body = std::move(*body);
        auto answered = s3.Send(call);
        if (!answered) return answered.error();
        return S3PutResult{.size = size, .parts = 0, .etag = answered->Header("etag")};
    }

    const std::uint64_t parts = (size + config_.part_size - 1) / config_.part_size;
    if (parts > 10'000) {
        return MakeError(ErrorCode::kValidation, path + " needs more than 10000 parts of " +
                                                     std::to_string(config_.part_size) + " bytes");
    }
    Call create;
    create.method = "POST";
    create.key = key;
    create.query = {{"uploads", ""}};
    create.headers = {{"Content-Type", content_type}};
    create.idempotent = false;
    auto created = s3.Send(create);
    if (!created) return created.error();
    auto upload_id = ParseUploadId(created->body);
    if (!upload_id) return upload_id.error();

    auto abort_upload = [&](Error error) -> Error {
        Call abort;
        abort.method = "DELETE";
        abort.key = key;
        abort.query = {{"uploadId", *upload_id}};
        (void)s3.Send(abort);  // best effort; the first error is the one to report
        return error;
    };

    std::string complete = "<CompleteMultipartUpload>";
    for (std::uint64_t part = 1; part <= parts; ++part) {
        const std::uint64_t offset = (part - 1) * config_.part_size;
        const auto length = static_cast<std::size_t>(std::min(config_.part_size, size - offset));
        auto chunk = ReadAt(fd.get(), offset, length, path);
        if (!chunk) return abort_upload(chunk.error());
        if (chunk->size() != length) {
            return abort_upload(
                MakeError(ErrorCode::kInternal, path + " changed size while being read"));
        }
        Call upload;
        upload.method = "PUT";
        upload.key = key;
        upload.query = {{"partNumber", std::to_string(part)}, {"uploadId", *upload_id}};
        upload.body = std::move(*chunk);
        auto answered = s3.Send(upload);
        if (!answered) return abort_upload(answered.error());
        const std::string etag = answered->Header("etag");
        if (etag.empty()) {
            return abort_upload(MakeError(ErrorCode::kProviderError,
                                          "S3 answered part " + std::to_string(part) +
                                              " without an ETag [" + s3.Describe(upload) + "]"));
        }
        complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" +
                    XmlEscapeText(etag) + "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";

    Call finish;
    finish.method = "POST";
    finish.key = key;
    finish.query = {{"uploadId", *upload_id}};
    finish.headers = {{"Content-Type", "application/xml"}};
    finish.body = std::move(complete);
    finish.idempotent = false;
    auto finished = s3.Send(finish);
    if (!finished) return abort_upload(finished.error());
    // CompleteMultipartUpload may answer 200 and still fail (an <Error> in the body).
    if (ParseS3Error(finished->body)) {
        return abort_upload(S3RefusalError(finished->status, finished->body, s3.Describe(finish)));
    }
    return S3PutResult{.size = size,
                       .parts = static_cast<int>(parts),
                       .etag = FirstText(finished->body, "ETag").value_or("")};
}

Result<std::vector<S3Object>> S3Client::ListObjects(const std::string& prefix,
                                                    std::size_t max_objects) {
    auto session = OpenSession(config_);
    if (!session) return session.error();
    std::vector<S3Object> all;
    std::string token;
    for (;;) {
        Call list;
        list.method = "GET";
        list.query = {{"list-type", "2"},
                      {"prefix", prefix},
                      {"max-keys", std::to_string(std::clamp(config_.list_page_size, 1, 1000))}};
        if (!token.empty()) list.query.emplace_back("continuation-token", token);
        auto answered = (*session)->Send(list);
        if (!answered) return answered.error();
        auto page = ParseListObjectsV2(answered->body);
        if (!page) return page.error();
        for (auto& object : page->objects) all.push_back(std::move(object));
        if (all.size() > max_objects) {
            return MakeError(ErrorCode::kProviderError, "more than " + std::to_string(max_objects) +
                                                            " objects under s3://" +
                                                            config_.bucket + "/" + prefix);
        }
        if (!page->truncated) break;
        if (page->next_continuation_token == token) {
            return MakeError(ErrorCode::kProviderError,
                             "S3 listing repeats its continuation token");
        }
        token = std::move(page->next_continuation_token);
    }
    std::sort(all.begin(), all.end(),
              [](const S3Object& a, const S3Object& b) { return a.key < b.key; });
    return all;
}

Result<std::uint64_t> S3Client::GetObjectToFile(const std::string& key,
                                                const std::string& dest_path) {
    if (Status s = ValidateKey(key); !s) return s.error();
    auto session = OpenSession(config_);
    if (!session) return session.error();

    std::string temp = dest_path + ".download-XXXXXX";
    Fd fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (fd.get() < 0) {
        return MakeError(ErrorCode::kInternal,
                         "cannot create a file beside " + dest_path + ": " + Errno(errno));
    }
    bool keep_temp = false;
    struct Cleanup {
        const std::string& path;
        const bool& keep;
        ~Cleanup() {
            if (!keep) ::unlink(path.c_str());
        }
    } cleanup{temp, keep_temp};

    // HEAD first: the size to expect, and the ETag that pins every range to one version
    // of the object (replaced meanwhile: 412, not a file mixing two versions).
    Call head;
    head.method = "HEAD";
    head.key = key;
    auto headed = (*session)->Send(head);
    if (!headed) return headed.error();
    std::uint64_t size = 0;
    if (!ParseUint(headed->Header("content-length"), size)) {
        return MakeError(ErrorCode::kProviderError, "S3 HEAD answer without a Content-Length [" +
                                                        (*session)->Describe(head) + "]");
    }
    const std::string etag = headed->Header("etag");
    const std::uint64_t chunk = std::max<std::uint64_t>(config_.download_chunk_size, 1);

    std::uint64_t offset = 0;   // bytes of earlier ranges, on disk
    std::uint64_t written = 0;  // bytes of the current exchange
    int write_errno = 0;
    auto restart = [&]() -> Status {
        written = 0;
        write_errno = 0;
        const auto at = static_cast<off_t>(offset);
        if (::ftruncate(fd.get(), at) != 0 || ::lseek(fd.get(), at, SEEK_SET) != at) {
            return MakeError(ErrorCode::kInternal, "cannot reset " + temp + ": " + Errno(errno));
        }
        return {};
    };
    net::BodySink sink = [&](std::string_view piece) {
        if (!WriteAll(fd.get(), piece)) {
            write_errno = errno;
            return false;
        }
        written += piece.size();
        return true;
    };
    const bool ranged = size > chunk;
    do {
        Call get;
        get.method = "GET";
        get.key = key;
        std::uint64_t want = size;
        if (ranged) {
            want = std::min(chunk, size - offset);
            get.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-" +
                                                  std::to_string(offset + want - 1));
            if (!etag.empty()) get.headers.emplace_back("If-Match", etag);
        }
        auto answered = (*session)->Send(get, sink, restart);
        if (write_errno != 0) {
            return MakeError(ErrorCode::kInternal,
                             "cannot write " + temp + ": " + Errno(write_errno));
        }
        if (!answered) return answered.error();
        if (ranged && answered->status != 206) {
            return MakeError(ErrorCode::kProviderError, "S3 answered a range request with HTTP " +
                                                            std::to_string(answered->status) +
                                                            " [" + (*session)->Describe(get) + "]");
        }
        if (written != want) {
            return MakeError(ErrorCode::kProviderError,
                             "S3 download of s3://" + config_.bucket + "/" + key + " stopped at " +
                                 std::to_string(offset + written) + " of " + std::to_string(size) +
                                 " bytes");
        }
        offset += written;
    } while (offset < size);
    if (::fsync(fd.get()) != 0) {
        return MakeError(ErrorCode::kInternal, "cannot fsync " + temp + ": " + Errno(errno));
    }
    if (::fchmod(fd.get(), 0640) != 0 || ::close(fd.Release()) != 0) {
        return MakeError(ErrorCode::kInternal, "cannot close " + temp + ": " + Errno(errno));
    }
    if (::rename(temp.c_str(), dest_path.c_str()) != 0) {
        return MakeError(ErrorCode::kInternal,
                         "cannot rename " + temp + " to " + dest_path + ": " + Errno(errno));
    }
    keep_temp = true;
    const std::string dir = std::filesystem::path(dest_path).parent_path().string();
    Fd dir_fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() >= 0) (void)::fsync(dir_fd.get());
    return offset;
}

Result<std::string> S3Client::GetObject(const std::string& key, std::size_t max_bytes) {
    if (Status s = ValidateKey(key); !s) return s.error();
    auto session = OpenSession(config_);
    if (!session) return session.error();
    std::string body;
    bool too_large = false;
    net::BodySink sink = [&](std::string_view piece) {
        if (body.size() + piece.size() > max_bytes) {
            too_large = true;
            return false;
        }
        body.append(piece);
        return true;
    };
    auto restart = [&]() -> Status {
        body.clear();
        too_large = false;
        return {};
    };
    Call get;
    get.method = "GET";
    get.key = key;
    auto answered = (*session)->Send(get, sink, restart);
    if (too_large) {
        return MakeError(ErrorCode::kProviderError, "s3://" + config_.bucket + "/" + key +
                                                        " is larger than " +
                                                        std::to_string(max_bytes) + " bytes");
    }
    if (!answered) return answered.error();
    return body;
}

Status S3Client::DeleteObject(const std::string& key) {
    if (Status s = ValidateKey(key); !s) return s;
    auto session = OpenSession(config_);
    if (!session) return session.error();
    Call del;
    del.method = "DELETE";
    del.key = key;
    return common::ToStatus((*session)->Send(del));
}

Result<S3Object> S3Client::HeadObject(const std::string& key) {
    if (Status s = ValidateKey(key); !s) return s.error();
    auto session = OpenSession(config_);
    if (!session) return session.error();
    Call head;
    head.method = "HEAD";
    head.key = key;
    auto answered = (*session)->Send(head);
    if (!answered) return answered.error();
    S3Object object;
    object.key = key;
    if (!ParseUint(answered->Header("content-length"), object.size)) {
        return MakeError(ErrorCode::kProviderError,
                         "S3 HEAD answer without a Content-Length [HEAD s3://" + config_.bucket +
                             "/" + key + "]");
    }
    object.etag = answered->Header("etag");
    object.last_modified = answered->Header("last-modified");
    return object;
}

}  // namespace aragora::ops
