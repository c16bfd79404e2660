// The middleware chain, route-table-wide properties and the OpenAPI document.

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <regex>
#include <sstream>
#include <stdexcept>

#include "api_test_support.hpp"
#include "common/logging.hpp"

namespace aragora::api::testing {
namespace {

// Captures what the "aragora.api" logger writes while alive.
class LogCapture {
public:
    LogCapture() : logger_(common::GetLogger("aragora.api")) {
        sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        sink_->set_pattern("%l %v");
        logger_->sinks().push_back(sink_);
        level_ = logger_->level();
        logger_->set_level(spdlog::level::info);
    }
    ~LogCapture() {
        auto& sinks = logger_->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
        logger_->set_level(level_);
    }
    std::string text() {
        logger_->flush();
        return out_.str();
    }

private:
    std::shared_ptr<spdlog::logger> logger_;
    std::ostringstream out_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
    spdlog::level::level_enum level_;
};

class MiddlewareTest : public ApiFixture {};

TEST_F(MiddlewareTest, UnknownPathsAreJson404ForEveryMethod) {
    for (std::string method : {"GET", "POST", "PUT", "DELETE"}) {
        // ("/" is the web console's page: GET answers 404 not_found without a console
        // installed, other methods 405; api/console_test.cpp.)
        for (std::string path : {"/nope", "/api/v1/nope", "/api/v1/debates/d_1/nope", "/nope/"}) {
            auto res = Call(method, path, "{}", {{"X-Correlation-ID", "corr-404"}});
            EXPECT_EQ(res.status, 404) << method << " " << path;
            EXPECT_EQ(res.content_type, "application/json");
            auto v = Parse(res);
            EXPECT_EQ(v.at("code"), "not_found");
            EXPECT_EQ(v.at("correlation_id"), "corr-404");
            EXPECT_EQ(v.at("trace_id"), "corr-404");
            EXPECT_EQ(HeaderOf(res, "X-Correlation-ID"), "corr-404");
        }
    }
}

TEST_F(MiddlewareTest, WrongMethodIs405WithAllow) {
    auto res = Call("DELETE", "/api/v1/debates");
    EXPECT_EQ(res.status, 405);
    EXPECT_EQ(HeaderOf(res, "Allow"), "GET, HEAD, POST");
    EXPECT_EQ(Parse(res).at("code"), "method_not_allowed");
    auto put = Call("PUT", "/healthz");
    EXPECT_EQ(put.status, 405);
    EXPECT_EQ(HeaderOf(put, "Allow"), "GET, HEAD");
    auto post_only = Call("GET", "/api/v1/receipts/verify");  // served by GET /receipts/{id}
    EXPECT_EQ(post_only.status, 404);
}

TEST_F(MiddlewareTest, HeadIsServedAsGet) {
    auto res = Call("HEAD", "/healthz");
    EXPECT_EQ(res.status, 200);
}

TEST_F(MiddlewareTest, CorrelationIdEchoedOrGenerated) {
    auto echoed = Call("GET", "/healthz", "", {{"X-Correlation-ID", "corr-xyz789"}});
    EXPECT_EQ(HeaderOf(echoed, "X-Correlation-ID"), "corr-xyz789");
    EXPECT_EQ(HeaderCount(echoed, "x-correlation-id"), 1u);
    auto request_id = Call("GET", "/healthz", "", {{"X-Request-ID", "rid-1"}});
    EXPECT_EQ(HeaderOf(request_id, "X-Correlation-ID"), "rid-1");
    auto generated = Call("GET", "/healthz");
    EXPECT_EQ(HeaderOf(generated, "X-Correlation-ID").rfind("req_", 0), 0u);
    // Every kind of answer carries exactly one.
    for (auto res : {Call("GET", "/metrics"), Call("GET", "/nope"), Call("PUT", "/healthz"),
                     Call("POST", "/api/v1/debates", "{"), Call("GET", "/api/v1/auth/me")}) {
        EXPECT_EQ(HeaderCount(res, "x-correlation-id"), 1u) << res.status << " " << res.body;
    }
}

TEST_F(MiddlewareTest, AccessLogLineAndMetrics) {
    LogCapture log;
    (void)Call("GET", "/api/v1/debates?limit=5", "", {{"X-Correlation-ID", "corr-log"}});
    (void)Call("POST", "/missing");
    (void)Call("GET", "/api/debates");
    const std::string text = log.text();
    const std::regex line(
        "info request method=GET path=/api/v1/debates route=/api/v1/debates status=200 "
        "duration_ms=[0-9]+ correlation_id=corr-log\n");
    EXPECT_TRUE(std::regex_search(text, line)) << text;
    EXPECT_TRUE(std::regex_search(
        text, std::regex("request method=POST path=/missing route=unmatched status=404 "
                         "duration_ms=[0-9]+ correlation_id=req_[0-9a-f]+")))
        << text;

    const std::string prom = registry_.RenderPrometheus();
    EXPECT_NE(prom.find("aragora_requests_total{status=\"200\",handler=\"/api/v1/debates\"} 1"),
              std::string::npos)
        << prom;
    EXPECT_NE(prom.find("aragora_requests_total{status=\"200\",handler=\"/api/debates\"} 1"),
              std::string::npos);
    EXPECT_NE(prom.find("aragora_requests_total{status=\"404\",handler=\"unmatched\"} 1"),
              std::string::npos);
    EXPECT_NE(prom.find("aragora_request_latency_seconds_count{handler=\"/api/v1/debates\"} 1"),
              std::string::npos);
}

TEST(MiddlewareBackstopTest, ExceptionsBecomeLogged500) {
    FakeDebateService service;
    FakeSystemInfo system;
    debate::ReceiptKeys keys = TestKeys();
    metrics::Registry registry;
    OpenAuth open_auth;
    ApiDeps deps{service, keys, system, registry};
    deps.auth = open_auth.get();
    Router router;
    Route boom;
    boom.method = "GET";
    boom.path = "/boom";
    boom.handler = [](RequestContext&) -> asio::awaitable<net::HttpResponse> {
        throw std::runtime_error("kaboom");
        co_return net::HttpResponse{};
    };
    router.Add(boom);
    auto handler = MakeHttpHandler(router, deps);
    EXPECT_THROW(MakeHttpHandler(router, deps), std::invalid_argument);  // once per registry

    LogCapture log;
    auto res = ApiFixture::Invoke(handler, "GET", "/boom", "", {{"X-Correlation-ID", "c-boom"}});
    EXPECT_EQ(res.status, 500);
    auto v = Parse(res);
    EXPECT_EQ(v.at("code"), "internal_error");
    EXPECT_EQ(v.at("correlation_id"), "c-boom");
    EXPECT_EQ(std::string(v.at("error").as_string()).find("kaboom"), std::string::npos);
    const std::string text = log.text();
    EXPECT_NE(text.find("error unhandled exception method=GET path=/boom route=/boom "
                        "correlation_id=c-boom error=kaboom"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("status=500"), std::string::npos);
    EXPECT_NE(registry.RenderPrometheus().find(
                  "aragora_requests_total{status=\"500\",handler=\"/boom\"} 1"),
              std::string::npos);
}

// Fills a template's parameters with values the fakes know.
std::string Concrete(const std::string& path) {
    std::string out = path;
    const std::vector<std::pair<std::string, std::string>> values = {
        {"{id}", "d_alias"}, {"{format}", "md"}, {"{name}", "claude"}};
    for (const auto& [param, value] : values) {
        for (size_t pos; (pos = out.find(param)) != std::string::npos;) {
            out.replace(pos, param.size(), value);
        }
    }
    return out;
}

TEST_F(MiddlewareTest, EveryV1RouteAnswersTheSameUnderApi) {
    AddCompletedDebate(service_, keys_, "d_alias", "2027-01-01T00:00:00.000Z");
    int checked = 0;
    for (const Router::Entry& entry : router_.entries()) {
        const Route& route = entry.route;
        if (entry.alias || route.path.rfind("/api/v1/", 0) != 0) continue;
        const std::string v1 = Concrete(route.path);
        const std::string alias = "/api/" + v1.substr(8);
        SCOPED_TRACE(route.method + " " + v1 + " vs " + alias);
        const std::string body = route.method == "POST" ? R"({"task":"t"})" : "";
        if (route.path == "/api/v1/debates/{id}/cancel") {
            service_.debates["d_alias"].status = events::DebateStatus::kRunning;
            auto a = Call(route.method, v1, body);
            service_.debates["d_alias"].status = events::DebateStatus::kRunning;
            auto b = Call(route.method, alias, body);
            EXPECT_EQ(a.status, 200);
            EXPECT_EQ(a.status, b.status);
            service_.debates["d_alias"].status = events::DebateStatus::kCompleted;
            ++checked;
            continue;
        }
        auto a = Call(route.method, v1, body, {{"X-Correlation-ID", "same"}});
        auto b = Call(route.method, alias, body, {{"X-Correlation-ID", "same"}});
        EXPECT_NE(a.status, 404) << a.body;
        EXPECT_NE(a.status, 405) << a.body;
        EXPECT_EQ(a.status, b.status) << a.body << " | " << b.body;
        EXPECT_EQ(a.content_type, b.content_type);
        if (a.content_type == "application/json") {
            EXPECT_EQ(Keys(Parse(a)), Keys(Parse(b)));
        }
        ++checked;
    }
    EXPECT_GT(checked, 30);
}

TEST_F(MiddlewareTest, InvalidIdsAre400OnEveryIdRoute) {
    int checked = 0;
    for (const Router::Entry& entry : router_.entries()) {
        const Route& route = entry.route;
        if (route.path.find("{id}") == std::string::npos) continue;
        if (route.tag != "debates" && route.tag != "receipts") continue;
        std::string path = route.path;
        path.replace(path.find("{id}"), 4, "bad.id!");
        path = Concrete(path);
        auto res = Call(route.method, path, R"({"task":"t"})");
        EXPECT_EQ(res.status, 400) << route.method << " " << path << " " << res.body;
        EXPECT_EQ(Parse(res).at("code"), "bad_request") << path;
        ++checked;
    }
    EXPECT_GT(checked, 20);
}

// --- OpenAPI -------------------------------------------------------------------------

std::string OpenApiPathOf(std::string path) {
    for (size_t pos; (pos = path.find("...}")) != std::string::npos;) path.erase(pos, 3);
    return path;
}

std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Every "$ref" under `v` names a schema of `schemas`.
void ExpectRefsResolve(const json::value& v, const json::object& schemas) {
    if (v.is_object()) {
        for (const auto& kv : v.get_object()) {
            if (kv.key() == "$ref") {
                const std::string ref(kv.value().as_string());
                const std::string prefix = "#/components/schemas/";
                ASSERT_EQ(ref.rfind(prefix, 0), 0u) << ref;
                EXPECT_TRUE(schemas.contains(ref.substr(prefix.size()))) << ref;
            } else {
                ExpectRefsResolve(kv.value(), schemas);
            }
        }
    } else if (v.is_array()) {
        for (const auto& item : v.get_array()) ExpectRefsResolve(item, schemas);
    }
}

TEST_F(MiddlewareTest, OpenApiListsExactlyTheRouterEntries) {
    auto res = Call("GET", "/api/openapi.json");
    ASSERT_EQ(res.status, 200);
    auto doc = Parse(res);
    EXPECT_EQ(doc.at("openapi"), "3.1.0");
    EXPECT_EQ(res.body, OpenApiJson(router_));
    const auto& paths = doc.at("paths").as_object();
    std::set<std::pair<std::string, std::string>> from_router;
    for (const Router::Entry& entry : router_.entries()) {
        if (entry.route.tag == "console") continue;  // the web console's pages: not API
        const std::string path = OpenApiPathOf(entry.route.path);
        const std::string method = Lower(entry.route.method);
        from_router.emplace(path, method);
        ASSERT_TRUE(paths.contains(path)) << path;
        ASSERT_TRUE(paths.at(path).as_object().contains(method)) << method << " " << path;
        const auto& op = paths.at(path).at(method);
        EXPECT_EQ(S(op.at("summary")), entry.route.summary);
        EXPECT_EQ(S(op.at("tags").at(0)), entry.route.tag);
        EXPECT_TRUE(op.as_object().contains("responses"));
        EXPECT_EQ(op.as_object().contains("x-alias-of"), entry.alias) << path;
        size_t path_params = 0;
        if (op.as_object().contains("parameters")) {
            for (const auto& p : op.at("parameters").as_array())
                path_params += p.at("in") == "path";
        }
        EXPECT_EQ(path_params, static_cast<size_t>(std::count(path.begin(), path.end(), '{')))
            << path;
    }
    std::set<std::pair<std::string, std::string>> from_doc;
    for (const auto& [path, item] : paths) {
        for (const auto& [method, op] : item.as_object()) {
            from_doc.emplace(std::string(path), std::string(method));
        }
    }
    EXPECT_EQ(from_doc, from_router);
    const auto& schemas = doc.at("components").at("schemas").as_object();
    for (const char* name : {"Debate", "DebateList", "CreateDebateRequest", "CreateDebateResponse",
                             "Error", "Receipt", "VerifyResult", "Event", "Health"}) {
        EXPECT_TRUE(schemas.contains(name)) << name;
    }
    ExpectRefsResolve(doc, schemas);
    const auto& create = paths.at("/api/v1/debates").at("post");
    EXPECT_TRUE(create.at("responses").as_object().contains("201"));
    EXPECT_TRUE(create.as_object().contains("requestBody"));
    EXPECT_TRUE(paths.at("/healthz").at("get").at("security").as_array().empty());
    EXPECT_FALSE(paths.at("/api/v1/debates").at("get").at("security").as_array().empty());
}

// The creations answer 201 (the handlers' Json(201, ...)); updates 200. The query
// parameters of the audit log, usage and recent errors are those their handlers read.
// (tests/integration/openapi_conformance_test.cpp calls every documented GET.)
TEST_F(MiddlewareTest, OpenApiNamesTheHandlersStatusesAndQueryParameters) {
    auto doc = json::parse(Call("GET", "/api/openapi.json").body);
    const auto& paths = doc.at("paths");
    auto codes = [&](const char* path, const char* method) {
        std::set<std::string> out;
        for (const auto& [code, _] : paths.at(path).at(method).at("responses").as_object())
            out.emplace(code);
        return out;
    };
    using Codes = std::set<std::string>;
    for (const char* path :
         {"/api/v1/auth/api-keys", "/api/auth/api-keys", "/api/auth/api-key", "/api/v1/admin/users",
          "/api/v1/debates", "/api/debate", "/api/v2/backups"}) {
        EXPECT_EQ(codes(path, "post"), (Codes{"201", "default"})) << path;
    }
    EXPECT_EQ(codes("/api/v1/admin/users/{id}", "patch"), (Codes{"200", "default"}));
    EXPECT_EQ(codes("/api/v1/auth/me", "patch"), (Codes{"200", "default"}));
    EXPECT_EQ(codes("/api/v1/auth/login", "post"), (Codes{"200", "default"}));
    EXPECT_EQ(codes("/api/v1/debates/{id}/cancel", "post"), (Codes{"200", "default"}));
    auto params = [&](const char* path, const char* method) {
        std::map<std::string, json::object> out;
        const auto& op = paths.at(path).at(method).as_object();
        if (op.contains("parameters")) {
            for (const auto& p : op.at("parameters").as_array()) {
                if (p.at("in") == "query") out[S(p.at("name"))] = p.at("schema").as_object();
            }
        }
        return out;
    };
    for (const char* path : {"/api/v1/audit", "/api/audit"}) {
        auto p = params(path, "get");
        ASSERT_EQ(p.size(), 2u) << path;
        EXPECT_EQ(p["limit"].at("minimum"), 1);
        EXPECT_EQ(p["limit"].at("maximum"), 1000);
        EXPECT_EQ(p["limit"].at("default"), 100);
        EXPECT_EQ(p["since"].at("format"), "date-time");
    }
    for (const char* path : {"/api/v1/system/errors", "/api/system/errors"}) {
        auto p = params(path, "get");
        ASSERT_EQ(p.size(), 1u) << path;
        EXPECT_EQ(p["limit"].at("maximum"), 1000);
        EXPECT_EQ(p["limit"].at("default"), 50);
    }
    auto usage = params("/api/v1/billing/usage", "get");
    ASSERT_EQ(usage.size(), 1u);
    EXPECT_EQ(usage["period"].at("default"), "month");
    EXPECT_EQ(usage["period"].at("enum").as_array().size(), 5u);
    EXPECT_EQ(params("/api/auth/api-key", "delete").count("id"), 1u);
    EXPECT_EQ(params("/api/v2/backups", "get")["offset"].at("maximum"), 10000);
}

}  // namespace
}  // namespace aragora::api::testing
