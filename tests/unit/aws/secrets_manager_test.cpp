// GetSecretValue request building (checked against signatures computed by Debian's
// python3-botocore, an independent SigV4 implementation) and response parsing.

#include "aws/secrets_manager.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "aws/credentials.hpp"

namespace aragora::aws {
namespace {

using common::ErrorCode;

// 2026-12-07T03:00:00Z
std::chrono::system_clock::time_point FixedTime() {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1796612400));
}

common::AwsCredentials ExampleCredentials(std::string token = "") {
    return {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", std::move(token)};
}

SecretsManagerTarget ExampleTarget() {
    return {"https://secretsmanager.us-east-1.amazonaws.com", "us-east-1", "aragora/production"};
}

std::map<std::string, std::string> HeaderMap(const net::ClientRequest& r) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : r.headers) {
        std::string lower = k;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out[lower] = v;
    }
    return out;
}

TEST(GetSecretValueRequestTest, TargetHeaderBodyAndSignatureMatchBotocore) {
    common::SignedRequest signed_request;
    auto r = BuildGetSecretValueRequest(ExampleTarget(), ExampleCredentials(), FixedTime(),
                                        std::chrono::seconds(7), &signed_request);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->method, "POST");
    EXPECT_EQ(r->url, "https://secretsmanager.us-east-1.amazonaws.com/");
    EXPECT_EQ(r->body, R"({"SecretId":"aragora/production"})");
    EXPECT_EQ(r->timeout, std::chrono::seconds(7));
    auto h = HeaderMap(*r);
    EXPECT_EQ(h["x-amz-target"], "secretsmanager.GetSecretValue");
    EXPECT_EQ(h["content-type"], "application/x-amz-json-1.1");
    EXPECT_EQ(h["host"], "secretsmanager.us-east-1.amazonaws.com");
    EXPECT_EQ(h["x-amz-date"], "20261207T030000Z");
    EXPECT_EQ(h.count("x-amz-content-sha256"), 0u) << "not part of the JSON protocol";
    EXPECT_EQ(h.count("x-amz-security-token"), 0u);
    // Computed with botocore.auth.SigV4Auth (python3-botocore 1.29.27) over the same request.
    EXPECT_EQ(signed_request.canonical_request,
              "POST\n/\n\ncontent-type:application/x-amz-json-1.1\n"
              "host:secretsmanager.us-east-1.amazonaws.com\nx-amz-date:20261207T030000Z\n"
              "x-amz-target:secretsmanager.GetSecretValue\n\n"
              "content-type;host;x-amz-date;x-amz-target\n"
              "3b7540809ef611c32d9fd0846e1a4ad556b553f513ceccc0b6bb2bc2b3140e2d");
    EXPECT_EQ(signed_request.signature,
              "00700795eef1a2d3230df1884722f6f2801a2d52a03c3c9e54d7126dcb2a70a7");
    EXPECT_EQ(h["authorization"],
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/secretsmanager/"
              "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
              "Signature=00700795eef1a2d3230df1884722f6f2801a2d52a03c3c9e54d7126dcb2a70a7");
}

TEST(GetSecretValueRequestTest, SessionTokenIsSentAndSigned) {
    common::SignedRequest signed_request;
    auto r =
        BuildGetSecretValueRequest(ExampleTarget(), ExampleCredentials("FQoGZXIvYXdzEXAMPLETOKEN"),
                                   FixedTime(), std::chrono::seconds(5), &signed_request);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(HeaderMap(*r)["x-amz-security-token"], "FQoGZXIvYXdzEXAMPLETOKEN");
    EXPECT_EQ(signed_request.signed_headers,
              "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
    EXPECT_EQ(signed_request.signature,
              "6e90be016175ac0993c0de01382a8db606a7b4b64ab4a62485354fc10b016d56");
}

TEST(GetSecretValueRequestTest, LocalEndpointKeepsItsPortInTheSignedHost) {
    SecretsManagerTarget t{"http://127.0.0.1:4566", "eu-west-1", "a/b"};
    auto r =
        BuildGetSecretValueRequest(t, ExampleCredentials(), FixedTime(), std::chrono::seconds(5));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->url, "http://127.0.0.1:4566/");
    EXPECT_EQ(HeaderMap(*r)["host"], "127.0.0.1:4566");
    EXPECT_NE(HeaderMap(*r)["authorization"].find("/eu-west-1/secretsmanager/aws4_request"),
              std::string::npos);
}

TEST(GetSecretValueRequestTest, BadInputsAreRefused) {
    for (const char* endpoint :
         {"ftp://x", "secretsmanager.amazonaws.com", "http://", "http://u@h/", "http://h/?q=1"}) {
        SecretsManagerTarget t{endpoint, "us-east-1", "x"};
        auto r = BuildGetSecretValueRequest(t, ExampleCredentials(), FixedTime(),
                                            std::chrono::seconds(5));
        EXPECT_FALSE(r.ok()) << endpoint;
    }
    SecretsManagerTarget empty_id{"http://127.0.0.1:1", "us-east-1", ""};
    EXPECT_FALSE(BuildGetSecretValueRequest(empty_id, ExampleCredentials(), FixedTime(),
                                            std::chrono::seconds(5))
                     .ok());
    auto no_secret = BuildGetSecretValueRequest(ExampleTarget(), {"AKID", "", ""}, FixedTime(),
                                                std::chrono::seconds(5));
    EXPECT_FALSE(no_secret.ok());
}

TEST(EndpointTest, DefaultPortsAreDroppedFromTheHost) {
    auto a = ParseEndpoint("https://Secretsmanager.eu-west-1.amazonaws.com:443");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "secretsmanager.eu-west-1.amazonaws.com");
    EXPECT_EQ(a->path, "/");
    auto b = ParseEndpoint("http://localhost:80/");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->host, "localhost");
    auto c = ParseEndpoint("https://[::1]:8443");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->host, "[::1]:8443");
}

net::ClientResponse Answer(int status, std::string body,
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::ClientResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
}

TEST(GetSecretValueResponseTest, SecretStringObjectGivesTheVariables) {
    auto v = ParseGetSecretValueResponse(
        Answer(200, R"({"ARN":"arn:x","Name":"aragora/production","SecretString":)"
                    R"("{\"ANTHROPIC_API_KEY\":\"sk-ant-1\",\"ARAGORA_MAX_QUEUED_DEBATES\":50,)"
                    R"(\"ARAGORA_METRICS_ENABLED\":false}","VersionStages":["AWSCURRENT"]})"),
        "aragora/production");
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->size(), 3u);
    EXPECT_EQ(v->at("ANTHROPIC_API_KEY"), "sk-ant-1");
    EXPECT_EQ(v->at("ARAGORA_MAX_QUEUED_DEBATES"), "50");
    EXPECT_EQ(v->at("ARAGORA_METRICS_ENABLED"), "false");
}

TEST(GetSecretValueResponseTest, AnEmptyObjectIsNoVariables) {
    auto v = ParseGetSecretValueResponse(Answer(200, R"({"SecretString":"{}"})"), "s");
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->empty());
}

TEST(GetSecretValueResponseTest, NonObjectSecretStringIsAClearErrorWithoutTheValue) {
    for (const char* secret_string :
         {R"("plain-password-123")", R"("[\"a\"]")", R"("not json at all plain-password-123")"}) {
        auto v = ParseGetSecretValueResponse(
            Answer(200, std::string(R"({"SecretString":)") + secret_string + "}"), "app/db");
        ASSERT_FALSE(v.ok()) << secret_string;
        EXPECT_EQ(v.error().code, ErrorCode::kProviderError);
        EXPECT_NE(v.error().message.find("not a JSON object"), std::string::npos)
            << v.error().message;
        EXPECT_NE(v.error().message.find("'app/db'"), std::string::npos);
        EXPECT_EQ(v.error().message.find("plain-password-123"), std::string::npos)
            << "the secret leaked into the error: " << v.error().message;
    }
}

TEST(GetSecretValueResponseTest, SecretBinaryIsRefusedClearly) {
    auto v = ParseGetSecretValueResponse(
        Answer(200, R"({"Name":"s","SecretBinary":"c2VjcmV0LWJ5dGVz"})"), "s");
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message.find("SecretBinary"), std::string::npos) << v.error().message;
    EXPECT_EQ(v.error().message.find("c2VjcmV0LWJ5dGVz"), std::string::npos);
    auto none = ParseGetSecretValueResponse(Answer(200, R"({"Name":"s"})"), "s");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("no SecretString"), std::string::npos);
}

TEST(GetSecretValueResponseTest, BadKeysAndValuesNameTheKeyNotTheValue) {
    auto bad_name = ParseGetSecretValueResponse(
        Answer(200, R"({"SecretString":"{\"not a name\":\"v-secret\"}"})"), "s");
    ASSERT_FALSE(bad_name.ok());
    EXPECT_NE(bad_name.error().message.find("not a name"), std::string::npos);
    EXPECT_EQ(bad_name.error().message.find("v-secret"), std::string::npos);
    for (const char* value : {"null", "[1]", "{}"}) {
        auto v = ParseGetSecretValueResponse(
            Answer(200, std::string(R"({"SecretString":"{\"KEY_A\":)") + value + R"(}"})"), "s");
        ASSERT_FALSE(v.ok()) << value;
        EXPECT_NE(v.error().message.find("KEY_A"), std::string::npos) << v.error().message;
    }
}

TEST(GetSecretValueResponseTest, ServiceErrorsAreClassified) {
    auto denied = ParseGetSecretValueResponse(
        Answer(403, R"({"__type":"InvalidSignatureException","message":"The request signature we )"
                    R"(calculated does not match"})"),
        "s");
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
    EXPECT_NE(denied.error().message.find("HTTP 403 InvalidSignatureException: The request"),
              std::string::npos)
        << denied.error().message;

    auto unknown_key = ParseGetSecretValueResponse(
        Answer(400, R"({"message":"The security token included in the request is invalid."})",
               {{"x-amzn-errortype", "UnrecognizedClientException:http://internal.amazon.com/"}}),
        "s");
    ASSERT_FALSE(unknown_key.ok());
    EXPECT_EQ(unknown_key.error().code, ErrorCode::kForbidden);
    EXPECT_NE(unknown_key.error().message.find("UnrecognizedClientException"), std::string::npos);

    auto missing = ParseGetSecretValueResponse(
        Answer(400, R"({"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException",)"
                    R"("Message":"Secrets Manager can't find the specified secret."})"),
        "aragora/production");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_NE(missing.error().message.find("ResourceNotFoundException: Secrets Manager can't"),
              std::string::npos)
        << missing.error().message;

    auto outage = ParseGetSecretValueResponse(Answer(503, "<html>\nbusy\n</html>"), "s");
    ASSERT_FALSE(outage.ok());
    EXPECT_EQ(outage.error().code, ErrorCode::kProviderError);
    EXPECT_NE(outage.error().message.find("HTTP 503"), std::string::npos);
}

TEST(CredentialDocumentTest, ContainerAndInstanceDocumentsAreRead) {
    auto c = ParseCredentialDocument(
        R"({"Code":"Success","AccessKeyId":"ASIAX","SecretAccessKey":"sk","Token":"tok",)"
        R"("Expiration":"2026-12-07T09:00:00Z"})",
        "instance metadata");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->access_key_id, "ASIAX");
    EXPECT_EQ(c->secret_access_key, "sk");
    EXPECT_EQ(c->session_token, "tok");
    auto missing = ParseCredentialDocument(R"({"AccessKeyId":"ASIAX","Token":"tok-value"})", "x");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("SecretAccessKey"), std::string::npos);
    EXPECT_EQ(missing.error().message.find("tok-value"), std::string::npos);
    EXPECT_FALSE(ParseCredentialDocument("not json", "x").ok());
}

}  // namespace
}  // namespace aragora::aws
