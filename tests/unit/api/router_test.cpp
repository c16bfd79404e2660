#include "api/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace aragora::api {
namespace {

Route R(std::string method, std::string path, std::string summary = "") {
    Route r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.summary = std::move(summary);
    return r;
}

TEST(RouterTest, MatchesLiteralAndParameterSegments) {
    Router router;
    router.Add(R("GET", "/api/v1/debates/{id}"));
    router.Add(R("GET", "/api/v1/debates/{id}/export/{format}"));
    auto m = router.Find("GET", "/api/v1/debates/d_1/export/md");
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.route->path, "/api/v1/debates/{id}/export/{format}");
    EXPECT_EQ(m.params.at("id"), "d_1");
    EXPECT_EQ(m.params.at("format"), "md");
    EXPECT_EQ(router.Find("GET", "/api/v1/debates").route, nullptr);
    EXPECT_EQ(router.Find("GET", "/api/v1/debates/d_1/export").route, nullptr);
    EXPECT_EQ(router.Find("GET", "/api/v1/debates//export/md").route, nullptr);  // empty param
}

TEST(RouterTest, V1RoutesAreAlsoServedUnderApi) {
    Router router;
    router.Add(R("GET", "/api/v1/debates/{id}", "get"));
    ASSERT_EQ(router.entries().size(), 2u);
    EXPECT_FALSE(router.entries()[0].alias);
    EXPECT_TRUE(router.entries()[1].alias);
    EXPECT_EQ(router.entries()[1].route.path, "/api/debates/{id}");
    auto m = router.Find("GET", "/api/debates/d_9");
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.route->path, "/api/debates/{id}");
    EXPECT_EQ(m.route->summary, "get");
    EXPECT_EQ(m.params.at("id"), "d_9");
}

TEST(RouterTest, ExplicitAliasWinsWhetherAddedBeforeOrAfter) {
    Router after;
    after.Add(R("GET", "/api/v1/x", "v1"));
    after.Add(R("GET", "/api/x", "explicit"));
    ASSERT_EQ(after.entries().size(), 2u);
    EXPECT_EQ(after.Find("GET", "/api/x").route->summary, "explicit");
    EXPECT_FALSE(after.entries()[1].alias);

    Router before;
    before.Add(R("GET", "/api/x", "explicit"));
    before.Add(R("GET", "/api/v1/x", "v1"));
    ASSERT_EQ(before.entries().size(), 2u);
    EXPECT_EQ(before.Find("GET", "/api/x").route->summary, "explicit");
}

TEST(RouterTest, DuplicateRouteThrows) {
    Router router;
    router.Add(R("GET", "/healthz"));
    EXPECT_THROW(router.Add(R("GET", "/healthz")), std::invalid_argument);
    router.Add(R("POST", "/healthz"));  // another method is fine
}

TEST(RouterTest, WrongMethodReportsAllowedMethods) {
    Router router;
    router.Add(R("GET", "/api/v2/receipts/{id}/verify"));
    router.Add(R("POST", "/api/v2/receipts/{id}/verify"));
    router.Add(R("GET", "/api/v2/receipts/{id}"));
    auto m = router.Find("DELETE", "/api/v2/receipts/r1/verify");
    EXPECT_EQ(m.route, nullptr);
    EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
    auto none = router.Find("GET", "/nope");
    EXPECT_EQ(none.route, nullptr);
    EXPECT_TRUE(none.allowed_methods.empty());
    auto ok = router.Find("POST", "/api/v2/receipts/r1/verify");
    ASSERT_NE(ok.route, nullptr);
    EXPECT_TRUE(ok.allowed_methods.empty());
}

TEST(RouterTest, ExactSegmentsWinOverParameters) {
    Router router;
    router.Add(R("POST", "/api/v1/receipts/{id}", "param"));
    router.Add(R("POST", "/api/v1/receipts/verify", "exact"));
    router.Add(R("GET", "/api/v1/receipts/{id}", "get"));
    EXPECT_EQ(router.Find("POST", "/api/v1/receipts/verify").route->summary, "exact");
    EXPECT_EQ(router.Find("POST", "/api/v1/receipts/r_1").route->summary, "param");
    // The GET template serves GET even though a POST-only literal exists.
    EXPECT_EQ(router.Find("GET", "/api/v1/receipts/verify").route->summary, "get");
}

TEST(RouterTest, TrailingSlashIsIgnored) {
    Router router;
    router.Add(R("GET", "/api/v1/debates"));
    ASSERT_NE(router.Find("GET", "/api/v1/debates/").route, nullptr);
    ASSERT_NE(router.Find("GET", "/api/debates/").route, nullptr);
}

TEST(RouterTest, RestParameterMatchesTheTail) {
    Router router;
    router.Add(R("GET", "/static/{rest...}"));
    auto m = router.Find("GET", "/static/css/app.css");
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.params.at("rest"), "css/app.css");
    EXPECT_EQ(router.Find("GET", "/static").route, nullptr);
}

TEST(RouterTest, RootPath) {
    Router router;
    router.Add(R("GET", "/"));
    EXPECT_NE(router.Find("GET", "/").route, nullptr);
    EXPECT_EQ(router.Find("GET", "/x").route, nullptr);
}

}  // namespace
}  // namespace aragora::api
