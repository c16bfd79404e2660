#include "common/aws_sigv4.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/crypto.hpp"

// Expected signatures are AWS's published ones, never values computed by this code:
//  - the SigV4 test suite (service "service", AKIDEXAMPLE, 2015-08-30T12:36:00Z), as kept
//    in awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<name>/header-signed-request.txt;
//  - the S3 API reference, "Signature Calculations for the Authorization Header:
//    Transferring Payload in a Single Chunk" (examplebucket, AKIAIOSFODNN7EXAMPLE,
//    2013-05-24T00:00:00Z): GET Object, PUT Object, GET Bucket Lifecycle, GET Bucket.

namespace aragora::common {
namespace {

using std::chrono::system_clock;

system_clock::time_point At(std::time_t epoch_seconds) {
    return system_clock::from_time_t(epoch_seconds);
}

// 2015-08-30T12:36:00Z and 2013-05-24T00:00:00Z.
const system_clock::time_point kSuiteTime = At(1440938160);
const system_clock::time_point kS3DocTime = At(1369353600);

AwsCredentials SuiteCredentials() {
    return {.access_key_id = "AKIDEXAMPLE",
            .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            .session_token = ""};
}

AwsCredentials S3DocCredentials() {
    return {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
            .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            .session_token = ""};
}

const SigV4Scope kSuiteScope{.region = "us-east-1", .service = "service"};
const SigV4Scope kS3Scope{.region = "us-east-1", .service = "s3"};

SigV4Request SuiteGet(std::string path = "/") {
    SigV4Request r;
    r.method = "GET";
    r.host = "example.amazonaws.com";
    r.path = std::move(path);
    r.content_sha256_header = false;  // the suite signs host and x-amz-date only
    return r;
}

SignedRequest SignOk(const SigV4Request& r, const AwsCredentials& c, const SigV4Scope& s,
                     system_clock::time_point t) {
    auto signed_request = SignV4(r, c, s, t);
    EXPECT_TRUE(signed_request.ok()) << signed_request.error().message;
    return signed_request.ok() ? *signed_request : SignedRequest{};
}

std::string HeaderOf(const SignedRequest& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
        if (n == name) return v;
    }
    return "<absent>";
}

TEST(AwsSigV4Test, SuiteGetVanilla) {
    const SignedRequest r = SignOk(SuiteGet(), SuiteCredentials(), kSuiteScope, kSuiteTime);
    EXPECT_EQ(r.canonical_request,
              "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
              "host;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(r.string_to_sign,
              "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
              "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    EXPECT_EQ(HeaderOf(r, "Authorization"),
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
              "SignedHeaders=host;x-amz-date, "
              "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    EXPECT_EQ(HeaderOf(r, "X-Amz-Date"), "20150830T123600Z");
    EXPECT_EQ(HeaderOf(r, "Host"), "example.amazonaws.com");
    EXPECT_EQ(r.target, "/");
}

TEST(AwsSigV4Test, SuiteQueryVectors) {
    struct Case {
        const char* name;
        std::vector<std::pair<std::string, std::string>> query;
        const char* signature;
        const char* target;
    };
    const std::string unreserved =
        "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const std::vector<Case> cases = {
        {"get-vanilla-query-order-key-case",
         {{"Param2", "value2"}, {"Param1", "value1"}},
         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
         "/?Param1=value1&Param2=value2"},
        {"get-vanilla-empty-query-key",
         {{"Param1", "value1"}},
         "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
         "/?Param1=value1"},
        {"get-vanilla-query-unreserved",
         {{unreserved, unreserved}},
         "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
         nullptr},
        {"get-vanilla-query-order-encoded",
         {{"Param-3", "Value3"}, {"Param", "Value2"}, {"\xE1\x88\xB4", "Value1"}},
         "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
         "/?%E1%88%B4=Value1&Param=Value2&Param-3=Value3"},
    };
    for (const Case& c : cases) {
        SigV4Request req = SuiteGet();
        req.query = c.query;
        const SignedRequest r = SignOk(req, SuiteCredentials(), kSuiteScope, kSuiteTime);
        EXPECT_EQ(r.signature, c.signature) << c.name;
        if (c.target != nullptr) {
            EXPECT_EQ(r.target, c.target) << c.name;
        }
    }
}

TEST(AwsSigV4Test, SuitePathVectors) {
    // get-unreserved and get-utf8: the path is encoded once ("/ሴ" → "/%E1%88%B4").
    SignedRequest r =
        SignOk(SuiteGet("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
               SuiteCredentials(), kSuiteScope, kSuiteTime);
    EXPECT_EQ(r.signature, "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
    r = SignOk(SuiteGet("/\xE1\x88\xB4"), SuiteCredentials(), kSuiteScope, kSuiteTime);
    EXPECT_EQ(r.signature, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
    EXPECT_EQ(r.target, "/%E1%88%B4");
}

TEST(AwsSigV4Test, SuiteHeaderValueTrim) {
    SigV4Request req = SuiteGet();
    req.headers = {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}};
    const SignedRequest r = SignOk(req, SuiteCredentials(), kSuiteScope, kSuiteTime);
    EXPECT_EQ(r.signed_headers, "host;my-header1;my-header2;x-amz-date");
    EXPECT_EQ(r.signature, "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

TEST(AwsSigV4Test, SuiteSessionToken) {
    AwsCredentials c = SuiteCredentials();
    c.session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    const SignedRequest r = SignOk(SuiteGet(), c, kSuiteScope, kSuiteTime);
    EXPECT_EQ(r.signed_headers, "host;x-amz-date;x-amz-security-token");
    EXPECT_EQ(r.signature, "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
    EXPECT_EQ(HeaderOf(r, "X-Amz-Security-Token"), c.session_token);
}

TEST(AwsSigV4Test, S3GetObjectExample) {
    SigV4Request req;
    req.method = "GET";
    req.host = "examplebucket.s3.amazonaws.com";
    req.path = "/test.txt";
    req.headers = {{"Range", "bytes=0-9"}};
    const SignedRequest r = SignOk(req, S3DocCredentials(), kS3Scope, kS3DocTime);
    EXPECT_EQ(r.string_to_sign,
              "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    EXPECT_EQ(HeaderOf(r, "Authorization"),
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
              "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    EXPECT_EQ(HeaderOf(r, "X-Amz-Content-Sha256"), kEmptyPayloadSha256);
}

TEST(AwsSigV4Test, S3PutObjectExampleEncodesTheKeyOnce) {
    SigV4Request req;
    req.method = "PUT";
    req.host = "examplebucket.s3.amazonaws.com";
    req.path = "/test$file.text";
    req.headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                   {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    req.payload_sha256 = Sha256Hex("Welcome to Amazon S3.");
    ASSERT_EQ(req.payload_sha256,
              "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const SignedRequest r = SignOk(req, S3DocCredentials(), kS3Scope, kS3DocTime);
    EXPECT_EQ(r.target, "/test%24file.text");
    EXPECT_EQ(Sha256Hex(r.canonical_request),
              "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    EXPECT_EQ(r.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    EXPECT_EQ(r.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(AwsSigV4Test, S3BucketQueryExamples) {
    SigV4Request req;
    req.method = "GET";
    req.host = "examplebucket.s3.amazonaws.com";
    req.path = "/";
    req.query = {{"lifecycle", ""}};
    SignedRequest r = SignOk(req, S3DocCredentials(), kS3Scope, kS3DocTime);
    EXPECT_EQ(r.target, "/?lifecycle=");
    EXPECT_EQ(r.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

    req.query = {{"prefix", "J"}, {"max-keys", "2"}};
    r = SignOk(req, S3DocCredentials(), kS3Scope, kS3DocTime);
    EXPECT_EQ(r.target, "/?max-keys=2&prefix=J");
    EXPECT_EQ(r.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(AwsSigV4Test, UnsignedPayloadIsSentAndSigned) {
    SigV4Request req;
    req.method = "PUT";
    req.host = "127.0.0.1:9000";
    req.path = "/bucket/a b.db.gz";
    req.payload_sha256 = std::string(kUnsignedPayload);
    const SignedRequest r = SignOk(req, S3DocCredentials(), kS3Scope, kS3DocTime);
    EXPECT_EQ(HeaderOf(r, "X-Amz-Content-Sha256"), "UNSIGNED-PAYLOAD");
    EXPECT_EQ(r.target, "/bucket/a%20b.db.gz");
    EXPECT_TRUE(r.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
    // A different secret gives a different signature (the secret is what is proven).
    AwsCredentials other = S3DocCredentials();
    other.secret_access_key = "another";
    EXPECT_NE(SignOk(req, other, kS3Scope, kS3DocTime).signature, r.signature);
}

TEST(AwsSigV4Test, EncodingRules) {
    EXPECT_EQ(AwsUriEncode("a b+c/é~*", false), "a%20b%2Bc%2F%C3%A9~%2A");
    EXPECT_EQ(AwsUriEncode("backups/x 1.db.gz", true), "backups/x%201.db.gz");
    // A key that already looks encoded is encoded again: S3 keys are taken literally.
    EXPECT_EQ(AwsUriEncode("/a%20b", true), "/a%2520b");
    EXPECT_EQ(CanonicalQueryString({{"uploads", ""}, {"prefix", "a/b"}, {"list-type", "2"}}),
              "list-type=2&prefix=a%2Fb&uploads=");
    EXPECT_EQ(CanonicalQueryString({{"a", "2"}, {"a", "1"}}), "a=1&a=2");
    EXPECT_EQ(FormatAmzDate(kSuiteTime), "20150830T123600Z");
    EXPECT_EQ(HexEncode(DeriveSigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
                                         "us-east-1", "iam")),
              // AWS General Reference, "Deriving the signing key" example.
              "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(AwsSigV4Test, RefusesBadInput) {
    SigV4Request req = SuiteGet();
    req.payload_sha256 = "nothex";
    EXPECT_EQ(SignV4(req, SuiteCredentials(), kSuiteScope, kSuiteTime).error().code,
              ErrorCode::kValidation);
    req = SuiteGet("no-slash");
    EXPECT_FALSE(SignV4(req, SuiteCredentials(), kSuiteScope, kSuiteTime).ok());
    req = SuiteGet();
    req.headers = {{"Authorization", "x"}};
    EXPECT_FALSE(SignV4(req, SuiteCredentials(), kSuiteScope, kSuiteTime).ok());
    req = SuiteGet();
    req.headers = {{"X-Test", "a\r\nInjected: 1"}};
    EXPECT_FALSE(SignV4(req, SuiteCredentials(), kSuiteScope, kSuiteTime).ok());
    AwsCredentials no_secret = SuiteCredentials();
    no_secret.secret_access_key.clear();
    EXPECT_FALSE(SignV4(SuiteGet(), no_secret, kSuiteScope, kSuiteTime).ok());
}

TEST(AwsSigV4Test, CredentialsFromEnvironmentNeverEchoSecrets) {
    std::map<std::string, std::string> vars = {{"AWS_ACCESS_KEY_ID", "AKIDX"},
                                               {"AWS_SECRET_ACCESS_KEY", "s3cr3t-value"},
                                               {"AWS_SESSION_TOKEN", "tok-value"}};
    auto env = [&vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    auto c = AwsCredentialsFromEnv(env);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->access_key_id, "AKIDX");
    EXPECT_EQ(c->secret_access_key, "s3cr3t-value");
    EXPECT_EQ(c->session_token, "tok-value");

    vars.erase("AWS_SECRET_ACCESS_KEY");
    c = AwsCredentialsFromEnv(env);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ErrorCode::kValidation);
    EXPECT_NE(c.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
    EXPECT_EQ(c.error().message.find("AKIDX"), std::string::npos);
    EXPECT_EQ(c.error().message.find("tok-value"), std::string::npos);

    vars.clear();
    c = AwsCredentialsFromEnv(env);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
              std::string::npos);
}

}  // namespace
}  // namespace aragora::common
