#include "api/http_util.hpp"

#include <gtest/gtest.h>

#include "api_test_support.hpp"

namespace aragora::api {
namespace {

using common::ErrorCode;
using testing::HeaderOf;
using testing::Parse;

TEST(HttpUtilTest, StatusMapping) {
    EXPECT_EQ(HttpStatusFor(ErrorCode::kBadRequest), 400);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kValidation), 400);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kAuthRequired), 401);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kForbidden), 403);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kConflict), 409);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kPayloadTooLarge), 413);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kRateLimited), 429);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kOverloaded), 503);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kNotImplemented), 501);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kTimeout), 504);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kProviderError), 502);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kStorage), 500);
    EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
}

TEST(HttpUtilTest, ValidationErrorIsFlatWithFieldList) {
    auto res = ErrorResponse(ErrorCode::kValidation, "rounds must be 1..12", "cid-1", "rounds");
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(HeaderOf(res, "X-Correlation-ID"), "cid-1");
    auto v = Parse(res);
    EXPECT_EQ(v.at("error"), "rounds must be 1..12");
    EXPECT_EQ(v.at("code"), "validation_error");
    EXPECT_EQ(v.at("correlation_id"), "cid-1");
    EXPECT_EQ(v.at("trace_id"), "cid-1");
    ASSERT_EQ(v.at("errors").as_array().size(), 1u);
    EXPECT_EQ(v.at("errors").at(0).at("field"), "rounds");
    EXPECT_EQ(v.at("errors").at(0).at("message"), "rounds must be 1..12");
}

TEST(HttpUtilTest, OverloadCarriesRetryAfter) {
    auto res = ErrorResponse(common::MakeError(ErrorCode::kOverloaded, "busy"), "c", 7);
    EXPECT_EQ(res.status, 503);
    EXPECT_EQ(HeaderOf(res, "Retry-After"), "7");
    EXPECT_EQ(HeaderOf(res, "X-RateLimit-Remaining"), "0");
    EXPECT_FALSE(HeaderOf(res, "X-RateLimit-Reset").empty());
    EXPECT_EQ(Parse(res).at("retry_after"), 7);
    EXPECT_EQ(Parse(res).at("code"), "overloaded");

    auto unavailable = ErrorResponse(ErrorCode::kUnavailable, "draining", "c");
    EXPECT_EQ(HeaderOf(unavailable, "Retry-After"), std::to_string(kDefaultRetryAfterSeconds));
    auto not_found = ErrorResponse(ErrorCode::kNotFound, "x", "c");
    EXPECT_EQ(HeaderOf(not_found, "Retry-After"), "");
    EXPECT_FALSE(Parse(not_found).as_object().contains("retry_after"));
    EXPECT_FALSE(Parse(not_found).as_object().contains("errors"));
}

TEST(HttpUtilTest, ServerErrorsHideTheirDetail) {
    auto res = ServiceErrorResponse(
        common::MakeError(ErrorCode::kStorage, "no such table: debates in /var/lib/x"), "cid-9");
    EXPECT_EQ(res.status, 500);
    auto v = Parse(res);
    EXPECT_EQ(v.at("code"), "internal_error");  // API.md's code; the log keeps storage_error
    EXPECT_EQ(std::string(v.at("error").as_string()).find("no such table"), std::string::npos);
    EXPECT_NE(std::string(v.at("error").as_string()).find("cid-9"), std::string::npos);
    auto not_found = ServiceErrorResponse(common::MakeError(ErrorCode::kNotFound, "debate x"), "c");
    EXPECT_EQ(Parse(not_found).at("error"), "debate x");
}

// A full disk (or an unreachable database) reaches the API as kUnavailable: a documented
// 503 with an integer Retry-After and retry_after, not a 500 with an unlisted code.
TEST(HttpUtilTest, StorageOutageIs503UnavailableWithRetryAfter) {
    auto res = ServiceErrorResponse(
        common::MakeError(ErrorCode::kUnavailable,
                          "storage unavailable: sqlite: commit: database or disk is full"),
        "cid-full");
    EXPECT_EQ(res.status, 503);
    auto v = Parse(res);
    EXPECT_EQ(v.at("code"), "unavailable");
    EXPECT_EQ(HeaderOf(res, "Retry-After"), std::to_string(kDefaultRetryAfterSeconds));
    ASSERT_TRUE(v.at("retry_after").is_int64());
    EXPECT_EQ(v.at("retry_after"), kDefaultRetryAfterSeconds);
    EXPECT_EQ(ApiCodeFor(ErrorCode::kStorage), "internal_error");
    EXPECT_EQ(ApiCodeFor(ErrorCode::kCrypto), "internal_error");
    EXPECT_EQ(ApiCodeFor(ErrorCode::kUnavailable), "unavailable");
}

TEST(HttpUtilTest, IdRule) {
    EXPECT_TRUE(ValidateId("d_abc-DEF_09", "id").ok());
    EXPECT_TRUE(ValidateId(std::string(128, 'a'), "id").ok());
    EXPECT_FALSE(ValidateId(std::string(129, 'a'), "id").ok());
    EXPECT_FALSE(ValidateId("", "id").ok());
    auto bad = ValidateId("a.b", "debate id");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, ErrorCode::kBadRequest);
    EXPECT_NE(bad.error().message.find("debate id 'a.b'"), std::string::npos);
}

TEST(HttpUtilTest, IntQueryParam) {
    net::HttpRequest req;
    req.query = "limit=5&offset=-1&x=abc&big=99999999999999999999&e=";
    EXPECT_EQ(*IntQueryParam(req, "limit", 20, 1, 100), 5);
    EXPECT_EQ(*IntQueryParam(req, "absent", 20, 1, 100), 20);
    EXPECT_EQ(*IntQueryParam(req, "e", 20, 1, 100), 20);
    auto neg = IntQueryParam(req, "offset", 0, 0, 1000);
    ASSERT_FALSE(neg.ok());
    EXPECT_EQ(neg.error().code, ErrorCode::kValidation);
    EXPECT_EQ(neg.error().field, "offset");
    EXPECT_FALSE(IntQueryParam(req, "x", 0, 0, 1000).ok());
    EXPECT_FALSE(IntQueryParam(req, "big", 0, 0, 1000).ok());
    req.query = "limit=101";
    auto over = IntQueryParam(req, "limit", 20, 1, 100);
    ASSERT_FALSE(over.ok());
    EXPECT_NE(over.error().message.find("between 1 and 100"), std::string::npos);
    req.query = "limit=2.5";
    EXPECT_FALSE(IntQueryParam(req, "limit", 20, 1, 100).ok());
}

TEST(HttpUtilTest, JsonWrapperOnlyForJsonOnlyAccept) {
    net::HttpRequest req;
    EXPECT_FALSE(WantsJsonWrapper(req));
    req.headers = {{"accept", "application/json"}};
    EXPECT_TRUE(WantsJsonWrapper(req));
    req.headers = {{"accept", "Application/JSON; q=1.0"}};
    EXPECT_TRUE(WantsJsonWrapper(req));
    req.headers = {{"accept", "application/json, */*"}};
    EXPECT_FALSE(WantsJsonWrapper(req));
    req.headers = {{"accept", "application/json, text/plain;q=0.5"}};
    EXPECT_FALSE(WantsJsonWrapper(req));
    req.headers = {{"accept", "text/html"}};
    EXPECT_FALSE(WantsJsonWrapper(req));
    req.headers = {{"accept", "*/*"}};
    EXPECT_FALSE(WantsJsonWrapper(req));
}

}  // namespace
}  // namespace aragora::api
