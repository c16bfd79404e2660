// S3Client without S3: the pure helpers (addressing, XML, error lines), and the request
// sequences against a scripted HTTP server on 127.0.0.1 (multipart abort, retries,
// Complete's 200-with-an-error, a cut download, a silent server's deadline). The real
// protocol against a signature-checking stand-in is in offsite_s3rver_test.cpp.

#include "ops/s3_client.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.hpp"
#include "common/strings.hpp"

namespace aragora::ops {
namespace {

namespace fs = std::filesystem;
using common::ErrorCode;

bool Contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

// ---- Pure helpers

TEST(S3AddressTest, PathStyleForAnyEndpointVirtualHostedForAws) {
    S3Config c;
    c.bucket = "backups";
    c.endpoint = "http://127.0.0.1:9000/";
    auto a = ResolveS3Address(c);
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_FALSE(a->virtual_hosted);
    EXPECT_EQ(a->base_url, "http://127.0.0.1:9000");
    EXPECT_EQ(a->host, "127.0.0.1:9000");
    EXPECT_EQ(a->bucket_path, "/backups");

    c.endpoint = "https://s3.eu-west-1.amazonaws.com";
    a = ResolveS3Address(c);
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(a->virtual_hosted);
    EXPECT_EQ(a->base_url, "https://backups.s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(a->host, "backups.s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(a->bucket_path, "");

    // A bucket with dots would not match AWS's wildcard certificate: path-style.
    c.bucket = "my.backups";
    a = ResolveS3Address(c);
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(a->virtual_hosted);
    EXPECT_EQ(a->base_url, "https://s3.eu-west-1.amazonaws.com");
    EXPECT_EQ(a->bucket_path, "/my.backups");
}

TEST(S3AddressTest, RefusesBadEndpointsAndBuckets) {
    S3Config c;
    c.bucket = "b";
    for (const char* endpoint : {"", "s3.amazonaws.com", "ftp://x", "http://x/path", "http://"}) {
        c.endpoint = endpoint;
        auto a = ResolveS3Address(c);
        ASSERT_FALSE(a.ok()) << endpoint;
        EXPECT_EQ(a.error().code, ErrorCode::kValidation);
        EXPECT_EQ(a.error().field, "ARAGORA_BACKUP_S3_ENDPOINT");
    }
    c.endpoint = "http://127.0.0.1:1";
    for (const char* bucket : {"", "a/b", "a b"}) {
        c.bucket = bucket;
        auto a = ResolveS3Address(c);
        ASSERT_FALSE(a.ok()) << bucket;
        EXPECT_EQ(a.error().field, "ARAGORA_BACKUP_S3_BUCKET");
    }
}

TEST(S3XmlTest, ParsesAListObjectsV2Page) {
    // The shape of the S3 API reference's ListObjectsV2 example, with entities.
    const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>a/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>a/x&amp;y.db.gz</Key><LastModified>2026-01-01T02:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>434234</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>a/&#x41;&#66;</Key><Size>0</Size></Contents>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";
    auto page = ParseListObjectsV2(xml);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_EQ(page->objects.size(), 2u);
    EXPECT_EQ(page->objects[0].key, "a/x&y.db.gz");
    EXPECT_EQ(page->objects[0].size, 434234u);
    EXPECT_EQ(page->objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
    EXPECT_EQ(page->objects[0].last_modified, "2026-01-01T02:00:00.000Z");
    EXPECT_EQ(page->objects[1].key, "a/AB");
    EXPECT_TRUE(page->truncated);
    EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

    EXPECT_FALSE(ParseListObjectsV2("<Error><Code>x</Code></Error>").ok());
    EXPECT_FALSE(
        ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
            .ok());
    EXPECT_FALSE(
        ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>")
            .ok());
    auto empty = ParseListObjectsV2("<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>");
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->objects.empty());
    EXPECT_FALSE(empty->truncated);
}

TEST(S3XmlTest, ErrorsBecomeOneLineWithoutEchoingServerFields) {
    const std::string body =
        "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request "
        "signature we calculated does not match</Message><AWSAccessKeyId>AKID</AWSAccessKeyId>"
        "<StringToSign>AWS4-HMAC-SHA256\n...</StringToSign></Error>";
    auto parsed = ParseS3Error(body);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->code, "SignatureDoesNotMatch");
    const common::Error e = S3RefusalError(403, body, "PUT s3://b/k");
    EXPECT_EQ(e.code, ErrorCode::kProviderError);
    EXPECT_EQ(e.message,
              "S3 refused the request: SignatureDoesNotMatch (403): check AWS_SECRET_ACCESS_KEY "
              "[PUT s3://b/k]");
    EXPECT_FALSE(Contains(e.message, "AKID"));

    EXPECT_EQ(
        S3RefusalError(404, "<Error><Code>NoSuchKey</Code><Message>gone\nnow</Message></Error>",
                       "GET s3://b/k")
            .message,
        "S3 refused the request: NoSuchKey (404): gone now [GET s3://b/k]");
    EXPECT_EQ(S3RefusalError(404, "", "HEAD s3://b/k").code, ErrorCode::kNotFound);
    EXPECT_EQ(S3RefusalError(503, "", "GET s3://b/k").code, ErrorCode::kUnavailable);
    EXPECT_FALSE(ParseS3Error("<ListBucketResult/>").has_value());
    EXPECT_EQ(ParseUploadId("<InitiateMultipartUploadResult><UploadId>VXBsb2Fk&amp;</UploadId>"
                            "</InitiateMultipartUploadResult>")
                  .value(),
              "VXBsb2Fk&");
    EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").ok());
    EXPECT_EQ(XmlUnescape("&lt;a&gt; &amp;amp; &#233; &bogus; &"), "<a> &amp; \xC3\xA9 &bogus; &");
}

// ---- A scripted HTTP server

struct SeenRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
    std::string body;
    std::string Header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n == name) return v;
        }
        return "";
    }
};

// What the server does with one request: the raw bytes to send back (maybe fewer than
// announced, then the connection is closed).
struct Reply {
    std::string raw;
    bool close_after = false;
};

Reply Http(int status, std::string body = "", std::string extra_headers = "") {
    return Reply{"HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body};
}

// The answer to a HEAD: the headers of the object, no body.
Reply Head(std::size_t size, const std::string& etag = "\"v1\"") {
    return Reply{"HTTP/1.1 200 X\r\nContent-Length: " + std::to_string(size) + "\r\nETag: " + etag +
                 "\r\n\r\n"};
}

class ScriptedServer {
public:
    explicit ScriptedServer(std::function<Reply(const SeenRequest&, int index)> script)
        : script_(std::move(script)) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(listener_, 8), 0);
        socklen_t len = sizeof addr;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { Serve(); });
    }
    ~ScriptedServer() {
        ::shutdown(listener_, SHUT_RDWR);
        ::close(listener_);
        thread_.join();
    }

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<SeenRequest> seen() {
        std::lock_guard lock(mu_);
        return seen_;
    }

private:
    void Serve() {
        for (;;) {
            const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            std::string buffer;
            while (HandleOne(fd, buffer)) {
            }
            ::close(fd);
        }
    }

    // Reads one request from `fd` and answers it; false when the connection is done.
    bool HandleOne(int fd, std::string& buffer) {
        std::size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
            if (!ReadMore(fd, buffer)) return false;
        }
        SeenRequest request;
        const auto lines = common::Split(std::string_view(buffer).substr(0, head_end), '\n');
        const auto first = common::Split(common::Trim(lines[0]), ' ');
        request.method = std::string(first[0]);
        request.target = std::string(first[1]);
        std::size_t length = 0;
        for (std::size_t i = 1; i < lines.size(); ++i) {
            const auto colon = lines[i].find(':');
            if (colon == std::string_view::npos) continue;
            std::string name = common::ToLower(lines[i].substr(0, colon));
            std::string value(common::Trim(lines[i].substr(colon + 1)));
            if (name == "content-length") length = std::stoul(value);
            request.headers.emplace_back(std::move(name), std::move(value));
        }
        while (buffer.size() < head_end + 4 + length) {
            if (!ReadMore(fd, buffer)) return false;
        }
        request.body = buffer.substr(head_end + 4, length);
        buffer.erase(0, head_end + 4 + length);
        int index;
        {
            std::lock_guard lock(mu_);
            seen_.push_back(request);
            index = static_cast<int>(seen_.size()) - 1;
        }
        const Reply reply = script_(request, index);
        std::string_view out = reply.raw;
        while (!out.empty()) {
            const ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            if (w <= 0) return false;
            out.remove_prefix(static_cast<std::size_t>(w));
        }
        return !reply.close_after;
    }

    static bool ReadMore(int fd, std::string& buffer) {
        char chunk[65536];
        const ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
        if (r <= 0) return false;
        buffer.append(chunk, static_cast<std::size_t>(r));
        return true;
    }

    std::function<Reply(const SeenRequest&, int)> script_;
    int listener_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::vector<SeenRequest> seen_;
};

class S3ClientScriptedTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("aragora_s3_client_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    S3Config Config(const std::string& endpoint) const {
        S3Config c;
        c.endpoint = endpoint;
        c.bucket = "bkt";
        c.credentials = {
            .access_key_id = "AKID", .secret_access_key = "sekrit", .session_token = ""};
        c.request_timeout = std::chrono::milliseconds(5'000);
        c.retry_delay = std::chrono::milliseconds(1);
        c.max_attempts = 2;
        return c;
    }

    std::string WriteFile(const std::string& name, const std::string& content) const {
        const std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }

    fs::path dir_;
};

TEST_F(S3ClientScriptedTest, SignsThePayloadHashAndPathStyleTarget) {
    ScriptedServer server([](const SeenRequest&, int) { return Http(200, "", "ETag: \"e\"\r\n"); });
    S3Client client(Config(server.endpoint()));
    ASSERT_TRUE(client.PutObject("dir/a b.json", "{\"x\":1}", "application/json").ok());
    const auto seen = server.seen();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "PUT");
    EXPECT_EQ(seen[0].target, "/bkt/dir/a%20b.json");
    EXPECT_EQ(seen[0].body, "{\"x\":1}");
    EXPECT_EQ(seen[0].Header("x-amz-content-sha256"), common::Sha256Hex("{\"x\":1}"));
    EXPECT_EQ(seen[0].Header("host"), server.endpoint().substr(7));
    const std::string auth = seen[0].Header("authorization");
    EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/")) << auth;
    EXPECT_TRUE(Contains(auth, "/us-east-1/s3/aws4_request")) << auth;
    EXPECT_TRUE(Contains(auth, "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date"))
        << auth;
    EXPECT_FALSE(Contains(auth, "sekrit"));
}

TEST_F(S3ClientScriptedTest, MultipartSendsPartsInOrderAndCompletes) {
    const std::string content = common::RandomBytes(2500);
    const std::string path = WriteFile("big.db.gz", content);
    ScriptedServer server([](const SeenRequest& r, int index) {
        if (r.method == "POST" && Contains(r.target, "uploads=")) {
            return Http(200,
                        "<InitiateMultipartUploadResult><UploadId>up/1</UploadId>"
                        "</InitiateMultipartUploadResult>");
        }
        if (r.method == "PUT") {
            return Http(200, "", "ETag: \"etag-" + std::to_string(index) + "\"\r\n");
        }
        return Http(200,
                    "<CompleteMultipartUploadResult><ETag>\"all-3\"</ETag>"
                    "</CompleteMultipartUploadResult>");
    });
    S3Config config = Config(server.endpoint());
    config.single_put_limit = 1000;
    config.part_size = 1000;
    S3Client client(config);
    auto put = client.PutObjectFromFile("k/big.db.gz", path);
    ASSERT_TRUE(put.ok()) << put.error().message;
    EXPECT_EQ(put->parts, 3);
    EXPECT_EQ(put->size, 2500u);
    EXPECT_EQ(put->etag, "\"all-3\"");

    const auto seen = server.seen();
    ASSERT_EQ(seen.size(), 5u);
    EXPECT_EQ(seen[0].target, "/bkt/k/big.db.gz?uploads=");
    std::string reassembled;
    for (int part = 1; part <= 3; ++part) {
        EXPECT_EQ(seen[part].target,
                  "/bkt/k/big.db.gz?partNumber=" + std::to_string(part) + "&uploadId=up%2F1");
        EXPECT_EQ(seen[part].Header("x-amz-content-sha256"), common::Sha256Hex(seen[part].body));
        reassembled += seen[part].body;
    }
    EXPECT_EQ(reassembled, content);
    EXPECT_EQ(seen[4].method, "POST");
    EXPECT_EQ(seen[4].target, "/bkt/k/big.db.gz?uploadId=up%2F1");
    EXPECT_EQ(seen[4].body,
              "<CompleteMultipartUpload>"
              "<Part><PartNumber>1</PartNumber><ETag>\"etag-1\"</ETag></Part>"
              "<Part><PartNumber>2</PartNumber><ETag>\"etag-2\"</ETag></Part>"
              "<Part><PartNumber>3</PartNumber><ETag>\"etag-3\"</ETag></Part>"
              "</CompleteMultipartUpload>");
}

TEST_F(S3ClientScriptedTest, AFailedPartIsRetriedThenTheUploadIsAborted) {
    const std::string path = WriteFile("big.db.gz", std::string(2500, 'x'));
    ScriptedServer server([](const SeenRequest& r, int) {
        if (r.method == "POST") {
            return Http(200,
                        "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                        "</InitiateMultipartUploadResult>");
        }
        if (r.method == "PUT" && Contains(r.target, "partNumber=1&")) {
            return Http(200, "", "ETag: \"p1\"\r\n");
        }
        if (r.method == "PUT") {
            return Http(500, "<Error><Code>InternalError</Code><Message>boom</Message></Error>");
        }
        return Http(204);
    });
    S3Config config = Config(server.endpoint());
    config.single_put_limit = 1000;
    config.part_size = 1000;
    S3Client client(config);
    auto put = client.PutObjectFromFile("big.db.gz", path);
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(put.error().message,
              "S3 refused the request: InternalError (500): boom [PUT s3://bkt/big.db.gz]");
    const auto seen = server.seen();
    ASSERT_EQ(seen.size(), 5u);  // create, part 1, part 2 twice (max_attempts), abort
    EXPECT_TRUE(Contains(seen[2].target, "partNumber=2&"));
    EXPECT_TRUE(Contains(seen[3].target, "partNumber=2&"));
    EXPECT_EQ(seen[4].method, "DELETE");
    EXPECT_EQ(seen[4].target, "/bkt/big.db.gz?uploadId=u1");
}

TEST_F(S3ClientScriptedTest, ACompleteThatAnswers200WithAnErrorFailsAndAborts) {
    const std::string path = WriteFile("big.db.gz", std::string(1500, 'x'));
    ScriptedServer server([](const SeenRequest& r, int) {
        if (r.method == "POST" && Contains(r.target, "uploads=")) {
            return Http(200,
                        "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                        "</InitiateMultipartUploadResult>");
        }
        if (r.method == "PUT") return Http(200, "", "ETag: \"p\"\r\n");
        if (r.method == "POST") {
            return Http(200, "<Error><Code>InternalError</Code><Message>late</Message></Error>");
        }
        return Http(204);
    });
    S3Config config = Config(server.endpoint());
    config.single_put_limit = 1000;
    config.part_size = 1000;
    S3Client client(config);
    auto put = client.PutObjectFromFile("big.db.gz", path);
    ASSERT_FALSE(put.ok());
    EXPECT_TRUE(Contains(put.error().message, "InternalError")) << put.error().message;
    const auto seen = server.seen();
    ASSERT_EQ(seen.size(), 5u);  // create, 2 parts, complete (not retried: POST), abort
    EXPECT_EQ(seen[4].method, "DELETE");
}

TEST_F(S3ClientScriptedTest, SlowDownIsRetriedAndAMissingKeyIsNotFound) {
    ScriptedServer server([](const SeenRequest& r, int index) {
        if (Contains(r.target, "missing")) {
            return Http(404, "<Error><Code>NoSuchKey</Code><Message>no</Message></Error>");
        }
        if (index == 0) {
            return Http(503, "<Error><Code>SlowDown</Code><Message>slow</Message></Error>");
        }
        return Http(200, "hello");
    });
    S3Client client(Config(server.endpoint()));
    auto got = client.GetObject("k");
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, "hello");
    auto missing = client.GetObject("missing");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(server.seen().size(), 3u);  // 404 is an answer, not retried
}

TEST_F(S3ClientScriptedTest, ACutDownloadLeavesNoFile) {
    ScriptedServer server([](const SeenRequest& request, int) {
        if (request.method == "HEAD") return Head(100);
        Reply r = Http(200, std::string(100, 'x'));
        r.raw.resize(r.raw.size() - 50);  // announce 100 bytes, send 50, close
        r.close_after = true;
        return r;
    });
    S3Client client(Config(server.endpoint()));
    const std::string dest = (dir_ / "restored.db.gz").string();
    auto got = client.GetObjectToFile("k", dest);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, ErrorCode::kProviderError) << got.error().message;
    EXPECT_EQ(server.seen().size(), 3u);  // HEAD, then the GET retried once
    EXPECT_TRUE(fs::is_empty(dir_)) << "no partial or temporary file";
}

TEST_F(S3ClientScriptedTest, DownloadReplacesTheFileAtomically) {
    const std::string content = common::RandomBytes(70'000);
    ScriptedServer server([&content](const SeenRequest& request, int) {
        return request.method == "HEAD" ? Head(content.size()) : Http(200, content);
    });
    S3Client client(Config(server.endpoint()));
    const std::string dest = WriteFile("restored.db.gz", "old");
    auto got = client.GetObjectToFile("k", dest);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, content.size());
    std::ifstream in(dest, std::ios::binary);
    const std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(read, content);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(S3ClientScriptedTest, LargeDownloadsComeInRangesPinnedToTheEtag) {
    const std::string content = common::RandomBytes(2500);
    ScriptedServer server([&content](const SeenRequest& request, int index) {
        if (request.method == "HEAD") return Head(content.size());
        if (request.Header("if-match") != "\"v1\"") return Http(412);
        // "bytes=a-b"
        const std::string range = request.Header("range");
        const auto dash = range.find('-');
        const std::size_t a = std::stoul(range.substr(6, dash - 6));
        const std::size_t b = std::stoul(range.substr(dash + 1));
        Reply r = Http(206, content.substr(a, b - a + 1),
                       "Content-Range: bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                           std::to_string(content.size()) + "\r\n");
        if (index == 2) {  // the first try of the second range is cut
            r.raw.resize(r.raw.size() - 300);
            r.close_after = true;
        }
        return r;
    });
    S3Config config = Config(server.endpoint());
    config.download_chunk_size = 1000;
    S3Client client(config);
    const std::string dest = (dir_ / "restored.db.gz").string();
    auto got = client.GetObjectToFile("k", dest);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, content.size());
    std::ifstream in(dest, std::ios::binary);
    const std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(read == content);
    std::vector<std::string> ranges;
    for (const auto& r : server.seen()) ranges.push_back(r.method + " " + r.Header("range"));
    EXPECT_EQ(ranges, (std::vector<std::string>{"HEAD ", "GET bytes=0-999", "GET bytes=1000-1999",
                                                "GET bytes=1000-1999", "GET bytes=2000-2499"}));
}

TEST_F(S3ClientScriptedTest, ASilentServerTimesOutWithinTheDeadline) {
    // Accepts connections (the kernel's backlog) and never answers.
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    S3Config config = Config("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
    config.request_timeout = std::chrono::milliseconds(300);
    S3Client client(config);
    const auto start = std::chrono::steady_clock::now();
    auto listed = client.ListObjects("p/");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ::close(listener);
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().code, ErrorCode::kTimeout);
    EXPECT_TRUE(Contains(listed.error().message, "timed out after 300 ms"))
        << listed.error().message;
    EXPECT_GE(elapsed, std::chrono::milliseconds(600));  // two attempts of 300 ms
    EXPECT_LT(elapsed, std::chrono::seconds(10));
}

TEST_F(S3ClientScriptedTest, MissingCredentialsAreAValidationError) {
    S3Config config = Config("http://127.0.0.1:1");
    config.credentials = {};
    auto got = S3Client(config).GetObject("k");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, ErrorCode::kValidation);
    EXPECT_TRUE(Contains(got.error().message, "AWS_SECRET_ACCESS_KEY"));
}

}  // namespace
}  // namespace aragora::ops
