// The routes the web console reads (issue 24), against `aragora serve`: the agent list
// of the start-debate form (GET /api/agents: availability read from the environment,
// never a key's value), the debate list's search by task (?q=, case-insensitive, '%' and
// '_' literal, bounded), and the debate document's created_by / can_cancel. The roles'
// can_cancel is in auth_test.cpp (MembersCancelOnlyTheirOwnDebatesAdminsAny).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

constexpr char kFakeAnthropicKey[] = "sk-ant-integration-do-not-print-7c1e";
constexpr char kFakeOpenRouterKey[] = "sk-or-integration-do-not-print-93ab";

class ConsoleApiTest : public ::testing::Test {
protected:
    void Start(std::map<std::string, std::string> env = {}) {
        server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(env));
        ASSERT_TRUE(server_->StartReady()) << server_->error();
    }

    void TearDown() override {
        if (!server_) return;
        const int code = server_->Terminate();
        EXPECT_EQ(code, 0) << "exit code after SIGTERM; server output:\n" << server_->Logs();
    }

    HttpClient Http() const { return server_->Http(); }

    // The ids of GET <path>?q=<encoded>, in order, and the total.
    std::vector<std::string> Search(const std::string& encoded_q, std::int64_t* total,
                                    const std::string& path = "/api/v1/debates") {
        std::vector<std::string> ids;
        HttpResponse r = Http().Get(path + "?limit=100&q=" + encoded_q);
        EXPECT_EQ(r.status, 200) << encoded_q << ": " << r.Describe();
        if (r.status != 200) return ids;
        json::object o = r.Object();
        *total = o["total"].as_int64();
        for (const auto& d : o["debates"].as_array())
            ids.emplace_back(StringOf(d.as_object(), "id"));
        return ids;
    }

    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
};

std::map<std::string, json::object> ByName(const json::array& agents) {
    std::map<std::string, json::object> out;
    for (const auto& a : agents) out[StringOf(a.as_object(), "name")] = a.as_object();
    return out;
}

TEST_F(ConsoleApiTest, AgentListShowsAvailabilityAndNeverAKey) {
    ASSERT_NO_FATAL_FAILURE(Start({{"ANTHROPIC_API_KEY", kFakeAnthropicKey},
                                   {"ARAGORA_OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:9"}}));
    for (const char* path : {"/api/agents", "/api/v1/agents"}) {
        HttpResponse r = Http().Get(path);
        ASSERT_EQ(r.status, 200) << path << ": " << r.Describe();
        EXPECT_EQ(r.body.find(kFakeAnthropicKey), std::string::npos) << r.body;
        EXPECT_EQ(r.body.find("do-not-print"), std::string::npos) << r.body;
        json::object o = r.Object();
        ASSERT_TRUE(o["agents"].is_array()) << r.body;
        auto by = ByName(o["agents"].as_array());
        for (const char* name :
             {"demo:analyst", "demo:critic", "demo:moderator", "demo:contrarian", "anthropic",
              "openai", "openrouter", "mistral", "xai", "gemini", "openai-compatible"}) {
            EXPECT_EQ(by.count(name), 1u) << name << " missing: " << r.body;
        }
        EXPECT_EQ(by["demo:analyst"]["available"], true);
        EXPECT_EQ(by["demo:analyst"]["provider"], "demo");
        EXPECT_EQ(by["anthropic"]["available"], true);
        EXPECT_EQ(by["anthropic"]["key_configured"], true);
        EXPECT_EQ(by["anthropic"]["key_env"], "ANTHROPIC_API_KEY");
        EXPECT_EQ(by["anthropic"]["circuit_state"], "closed");
        EXPECT_TRUE(by["anthropic"]["reason"].is_null());
        EXPECT_FALSE(StringOf(by["anthropic"], "model").empty());
        EXPECT_EQ(by["openai"]["available"], false);
        EXPECT_EQ(by["openai"]["reason"], "OPENAI_API_KEY is not set");
        EXPECT_EQ(by["gemini"]["reason"], "GEMINI_API_KEY is not set");
        EXPECT_EQ(by["openai-compatible"]["available"], true);
    }
    // The server logs do not carry the key either (the route logs nothing about it).
    EXPECT_EQ(server_->Logs().find(kFakeAnthropicKey), std::string::npos);
}

TEST_F(ConsoleApiTest, AgentListWithOnlyOpenRouterMarksTheFallback) {
    ASSERT_NO_FATAL_FAILURE(Start({{"OPENROUTER_API_KEY", kFakeOpenRouterKey}}));
    HttpResponse r = Http().Get("/api/agents");
    ASSERT_EQ(r.status, 200) << r.Describe();
    EXPECT_EQ(r.body.find(kFakeOpenRouterKey), std::string::npos) << r.body;
    auto by = ByName(r.Object()["agents"].as_array());
    EXPECT_EQ(by["openrouter"]["available"], true);
    EXPECT_EQ(by["openrouter"]["via_openrouter"], false);
    EXPECT_EQ(by["anthropic"]["available"], true);
    EXPECT_EQ(by["anthropic"]["via_openrouter"], true);
    EXPECT_EQ(by["openai-compatible"]["available"], false);
    EXPECT_EQ(by["openai-compatible"]["reason"], "ARAGORA_OPENAI_COMPATIBLE_BASE_URL is not set");
}

TEST_F(ConsoleApiTest, DebateListSearchesTheTaskWithWildcardsEscaped) {
    ASSERT_NO_FATAL_FAILURE(Start());
    const auto http = Http();
    const std::string cache =
        CreateDebate(http, DebateBody("Should we CACHE provider replies?", 1));
    const std::string pct = CreateDebate(http, DebateBody("Is 100% uptime worth the cost?", 1));
    const std::string under = CreateDebate(http, DebateBody("Rename user_id to account_id?", 1));
    const std::string plain = CreateDebate(http, DebateBody("Rename userXid in the schema?", 1));
    ASSERT_FALSE(cache.empty() || pct.empty() || under.empty() || plain.empty());

    std::int64_t total = -1;
    EXPECT_EQ(Search("cache%20provider", &total), std::vector<std::string>{cache});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(Search("Cache", &total, "/api/debates"), std::vector<std::string>{cache});
    auto renamed = Search("rename", &total);  // same millisecond: any order
    EXPECT_EQ(std::set<std::string>(renamed.begin(), renamed.end()),
              (std::set<std::string>{plain, under}));
    EXPECT_EQ(total, 2);
    // '%' (sent as %25) and '_' match themselves only.
    EXPECT_EQ(Search("%25", &total), std::vector<std::string>{pct});
    EXPECT_EQ(total, 1);
    EXPECT_EQ(Search("0%25%20up", &total), std::vector<std::string>{pct});
    EXPECT_EQ(Search("r_i", &total), std::vector<std::string>{under});
    EXPECT_EQ(Search("_", &total), std::vector<std::string>{under});
    EXPECT_EQ(Search("nothing%20of%20the%20kind", &total), std::vector<std::string>{});
    EXPECT_EQ(total, 0);
    EXPECT_EQ(Search("", &total).size(), 4u);  // empty q: no filter

    // At most 200 characters.
    EXPECT_EQ(http.Get("/api/v1/debates?q=" + std::string(200, 'a')).status, 200);
    HttpResponse too_long = http.Get("/api/v1/debates?q=" + std::string(201, 'a'));
    ExpectError(too_long, 400, "validation_error", "q of 201 characters");
    EXPECT_NE(too_long.body.find("200"), std::string::npos) << too_long.body;
    ExpectError(http.Get("/api/debates?q=" + std::string(201, 'a')), 400, "validation_error",
                "q of 201 characters on the legacy path");
}

TEST_F(ConsoleApiTest, DebateCarriesCreatorAndWhetherTheCallerMayCancel) {
    // Slow demo agents and many rounds: still running when read.
    ASSERT_NO_FATAL_FAILURE(
        Start({{"ARAGORA_DEMO_LATENCY_MS", "200"}, {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"}}));
    const auto http = Http();
    const std::string id =
        CreateDebate(http, DebateBody("Should we adopt a four-day week?", 12, 8));
    ASSERT_FALSE(id.empty());
    HttpResponse r = http.Get("/api/v1/debates/" + id);
    ASSERT_EQ(r.status, 200) << r.Describe();
    json::object o = r.Object();
    ASSERT_TRUE(o["created_by"].is_string()) << r.body;
    EXPECT_EQ(o["created_by"], "");  // open development mode: anonymous
    ASSERT_TRUE(o["can_cancel"].is_bool()) << r.body;
    EXPECT_EQ(o["can_cancel"], true) << r.body;
    // The existing fields are still there.
    EXPECT_EQ(StringOf(o, "id"), id);
    EXPECT_TRUE(o.contains("status") && o.contains("receipt_id") && o.contains("usage"));

    ASSERT_EQ(http.Post("/api/v1/debates/" + id + "/cancel", "").status, 200);
    auto done = WaitForStatus(http, id, {"cancelled"});
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ((*done)["can_cancel"], false) << "a cancelled debate cannot be cancelled again";
}

}  // namespace
}  // namespace aragora::testing
