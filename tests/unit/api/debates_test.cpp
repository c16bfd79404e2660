// Debate routes, field by field against reference/API.md "Debates".

#include <gtest/gtest.h>

#include "api/handlers.hpp"
#include "api_test_support.hpp"

namespace aragora::api::testing {
namespace {

using Strings = std::vector<std::string>;

Strings StringsOf(const json::value& v) {
    Strings out;
    for (const auto& s : v.as_array()) out.emplace_back(s.as_string());
    return out;
}

class DebatesTest : public ApiFixture {
protected:
    // A 400 whose code and `errors[0].field` are as expected.
    void ExpectFieldError(const net::HttpResponse& res, std::string_view code,
                          std::string_view field) {
        EXPECT_EQ(res.status, 400) << res.body;
        auto v = Parse(res);
        EXPECT_EQ(S(v.at("code")), code) << res.body;
        if (!field.empty()) {
            ASSERT_TRUE(v.as_object().contains("errors")) << res.body;
            EXPECT_EQ(S(v.at("errors").at(0).at("field")), field) << res.body;
        }
    }

    net::HttpResponse Create(std::string body, std::string path = "/api/v1/debates") {
        return Call("POST", path, std::move(body), {{"Content-Type", "application/json"}});
    }

    storage::DebateRecord& Running(const std::string& id) {
        auto& r = service_.debates[id];
        r.id = id;
        r.task = "running task";
        r.status = events::DebateStatus::kRunning;
        r.agents = {"demo:analyst", "demo:critic"};
        r.rounds = 3;
        r.consensus_method = "judge";
        r.created_at = "2027-01-01T00:00:00.000Z";
        r.spec_json = R"({"judge":"demo:critic"})";
        return r;
    }
};

// --- create --------------------------------------------------------------------------

TEST_F(DebatesTest, CreateAnswers201WithTheContractBody) {
    auto res = Create(R"({"task": "Which database?"})");
    ASSERT_EQ(res.status, 201) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), (std::set<std::string>{"success", "debate_id", "id", "status", "task",
                                              "agents", "websocket_url"}));
    const std::string id(v.at("debate_id").as_string());
    EXPECT_EQ(v.at("success"), true);
    EXPECT_EQ(S(v.at("id")), id);
    EXPECT_EQ(v.at("status"), "pending");
    EXPECT_EQ(v.at("task"), "Which database?");
    EXPECT_EQ(StringsOf(v.at("agents")),
              (Strings{"demo:analyst", "demo:critic", "demo:moderator"}));
    EXPECT_EQ(S(v.at("websocket_url")), "/ws?debate_id=" + id);
    EXPECT_EQ(HeaderOf(res, "Location"), "/api/v1/debates/" + id);
    EXPECT_EQ(res.content_type, "application/json");
    ASSERT_TRUE(service_.last_create);
    EXPECT_EQ(service_.last_create->rounds, debate::kDefaultRounds);
    EXPECT_EQ(service_.last_create->consensus, debate::ConsensusMethod::kMajority);
    EXPECT_FALSE(service_.last_create->consensus_threshold);
    EXPECT_EQ(service_.last_create->metadata_json, "{}");
}

TEST_F(DebatesTest, CreateOnEveryPathAndWithQuestion) {
    for (std::string path : {"/api/v1/debates", "/api/debates", "/api/debate"}) {
        auto res = Create(R"({"question": "Q?"})", path);
        ASSERT_EQ(res.status, 201) << path << " " << res.body;
        EXPECT_EQ(Parse(res).at("task"), "Q?");
    }
}

TEST_F(DebatesTest, CreateReadsJsonWhateverTheContentType) {
    auto res = Call("POST", "/api/v1/debates", R"({"task":"form-encoded curl"})",
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(res.status, 201) << res.body;
}

TEST_F(DebatesTest, CreateAgentsAsCommaString) {
    auto res = Create(R"({"task": "t", "agents": "demo, demo:contrarian,demo"})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(StringsOf(Parse(res).at("agents")),
              (Strings{"demo:analyst", "demo:contrarian", "demo:critic"}));
}

TEST_F(DebatesTest, CreateAgentsAsObjectsHonoursName) {
    auto res = Create(R"({"task": "t", "agents": [
        {"provider": "demo", "persona": "critic", "name": "Skeptic"},
        {"provider": "demo"},
        {"provider": "demo", "model": "moderator"}]})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(StringsOf(Parse(res).at("agents")),
              (Strings{"Skeptic", "demo:analyst", "demo:moderator"}));
    ASSERT_TRUE(service_.last_create);
    EXPECT_EQ(service_.last_create->agents[0].persona, "critic");
    EXPECT_EQ(service_.last_create->agents[0].provider, "demo");
}

TEST_F(DebatesTest, CreateRepeatedSpecsAreNumbered) {
    auto res = Create(R"({"task": "t", "agents": ["demo:critic", "demo:critic", "demo:critic"]})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(StringsOf(Parse(res).at("agents")),
              (Strings{"demo:critic", "demo:critic#2", "demo:critic#3"}));
}

TEST_F(DebatesTest, CreateTopLevelFieldsWinOverProtocol) {
    auto res = Create(R"({"task": "t", "rounds": 2, "consensus": "unanimous",
        "protocol": {"rounds": 5, "consensus": "judge", "consensus_threshold": 0.7}})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(service_.last_create->rounds, 2);
    EXPECT_EQ(service_.last_create->consensus, debate::ConsensusMethod::kUnanimous);
    EXPECT_EQ(service_.last_create->consensus_threshold, 0.7);

    res = Create(R"({"task": "t", "protocol": {"rounds": 5, "consensus": "judge"}})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(service_.last_create->rounds, 5);
    EXPECT_EQ(service_.last_create->consensus, debate::ConsensusMethod::kJudge);
}

TEST_F(DebatesTest, CreatePassesContextMetadataAndIgnoresUnknownFields) {
    auto res = Create(R"({"task": "t", "context": "ctx", "metadata": {"team": "ops", "n": 1},
        "rounds": 12.0, "surprise": [1, 2], "consensus": "weighted"})");
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(service_.last_create->context, "ctx");
    EXPECT_EQ(json::parse(service_.last_create->metadata_json),
              json::parse(R"({"team":"ops","n":1})"));
    EXPECT_EQ(service_.last_create->rounds, 12);
    EXPECT_EQ(service_.last_create->consensus, debate::ConsensusMethod::kWeighted);
}

TEST_F(DebatesTest, CreateTaskLengthCountsCharacters) {
    std::string task;
    for (int i = 0; i < 10000; ++i) task += "\xC3\xA9";  // é: 10,000 characters, 20,000 bytes
    EXPECT_EQ(Create("{\"task\": \"" + task + "\"}").status, 201);
    ExpectFieldError(Create("{\"task\": \"" + std::string(10001, 'x') + "\"}"), "validation_error",
                     "task");
    ExpectFieldError(Create("{\"question\": \"" + std::string(10001, 'x') + "\"}"),
                     "validation_error", "question");
}

TEST_F(DebatesTest, CreateRejectsBadBodies) {
    ExpectFieldError(Create(""), "bad_request", "");
    ExpectFieldError(Create("   "), "bad_request", "");
    ExpectFieldError(Create("task=x"), "bad_request", "");
    ExpectFieldError(Create("[1, 2]"), "bad_request", "");
    ExpectFieldError(Create(R"({"task": "t",})"), "bad_request", "");
    EXPECT_FALSE(service_.last_create);
}

TEST_F(DebatesTest, CreateValidationErrorsNameTheField) {
    ExpectFieldError(Create(R"({})"), "validation_error", "task");
    ExpectFieldError(Create(R"({"task": null})"), "validation_error", "task");
    ExpectFieldError(Create(R"({"task": "  "})"), "validation_error", "task");
    ExpectFieldError(Create(R"({"task": 5})"), "validation_error", "task");
    ExpectFieldError(Create(R"({"task": "t", "rounds": 0})"), "validation_error", "rounds");
    ExpectFieldError(Create(R"({"task": "t", "rounds": 13})"), "validation_error", "rounds");
    ExpectFieldError(Create(R"({"task": "t", "rounds": "3"})"), "validation_error", "rounds");
    ExpectFieldError(Create(R"({"task": "t", "rounds": 2.5})"), "validation_error", "rounds");
    ExpectFieldError(Create(R"({"task": "t", "protocol": {"rounds": 20}})"), "validation_error",
                     "protocol.rounds");
    ExpectFieldError(Create(R"({"task": "t", "protocol": "fast"})"), "validation_error",
                     "protocol");
    ExpectFieldError(Create(R"({"task": "t", "consensus_threshold": 1.5})"), "validation_error",
                     "consensus_threshold");
    ExpectFieldError(Create(R"({"task": "t", "metadata": "x"})"), "validation_error", "metadata");
    ExpectFieldError(Create(R"({"task": "t", "context": 1})"), "validation_error", "context");
    EXPECT_FALSE(service_.last_create);
}

TEST_F(DebatesTest, CreateUnknownConsensusListsTheFive) {
    auto res = Create(R"({"task": "t", "consensus": "plurality"})");
    ExpectFieldError(res, "validation_error", "consensus");
    const std::string message(Parse(res).at("error").as_string());
    for (const char* m : {"majority", "supermajority", "unanimous", "weighted", "judge"}) {
        EXPECT_NE(message.find(m), std::string::npos) << message;
    }
}

TEST_F(DebatesTest, CreateNeedsTwoValidAgents) {
    ExpectFieldError(Create(R"({"task": "t", "agents": ["demo"]})"), "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": []})"), "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": "demo"})"), "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": ""})"), "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": 3})"), "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": ["demo", 7]})"), "validation_error",
                     "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": [{"model": "x"}, "demo"]})"),
                     "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": ["nope", "demo"]})"), "validation_error",
                     "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": ["demo:jester", "demo"]})"),
                     "validation_error", "agents");
    ExpectFieldError(Create(R"({"task": "t", "agents": [{"provider": "demo", "name": "A"},
        {"provider": "demo", "name": "A"}]})"),
                     "validation_error", "agents");
    EXPECT_FALSE(service_.last_create);
}

TEST_F(DebatesTest, CreateOverloadedIs503WithRetryAfter) {
    service_.create_error = MakeError(ErrorCode::kOverloaded, "too many debates; retry later");
    auto res = Create(R"({"task": "t"})");
    EXPECT_EQ(res.status, 503);
    EXPECT_EQ(HeaderOf(res, "Retry-After"), "5");
    EXPECT_EQ(HeaderOf(res, "X-RateLimit-Limit"), "110");
    EXPECT_EQ(HeaderOf(res, "X-RateLimit-Remaining"), "0");
    EXPECT_FALSE(HeaderOf(res, "X-RateLimit-Reset").empty());
    auto v = Parse(res);
    EXPECT_EQ(v.at("code"), "overloaded");
    EXPECT_EQ(v.at("retry_after"), 5);
    EXPECT_EQ(v.at("error"), "too many debates; retry later");

    service_.create_error = MakeError(ErrorCode::kUnavailable, "draining");
    res = Create(R"({"task": "t"})");
    EXPECT_EQ(res.status, 503);
    EXPECT_EQ(Parse(res).at("code"), "unavailable");
    EXPECT_EQ(HeaderOf(res, "Retry-After"), "5");
}

// --- get -----------------------------------------------------------------------------

TEST_F(DebatesTest, GetReturnsEveryField) {
    AddCompletedDebate(service_, keys_, "d_done", "2027-01-02T00:00:00.000Z");
    auto res = Call("GET", "/api/v1/debates/d_done");
    ASSERT_EQ(res.status, 200) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), (std::set<std::string>{"debate_id",
                                              "id",
                                              "task",
                                              "status",
                                              "agents",
                                              "rounds",
                                              "rounds_used",
                                              "consensus_method",
                                              "consensus_reached",
                                              "confidence",
                                              "verdict",
                                              "final_answer",
                                              "dissenting_agents",
                                              "created_at",
                                              "started_at",
                                              "usage",
                                              "completed_at",
                                              "duration_seconds",
                                              "receipt_id",
                                              "error",
                                              "created_by",
                                              "can_cancel"}));
    EXPECT_EQ(v.at("debate_id"), "d_done");
    EXPECT_EQ(v.at("id"), "d_done");
    EXPECT_EQ(v.at("status"), "completed");
    EXPECT_EQ(v.at("rounds"), 3);
    EXPECT_EQ(v.at("rounds_used"), 2);
    EXPECT_EQ(v.at("consensus_method"), "majority");
    EXPECT_EQ(v.at("consensus_reached"), true);
    EXPECT_EQ(v.at("confidence"), 0.8125);
    EXPECT_EQ(v.at("verdict"), "approved_with_conditions");
    EXPECT_EQ(v.at("final_answer"), "Ship behind a flag.");
    EXPECT_EQ(StringsOf(v.at("dissenting_agents")), (Strings{"demo:critic"}));
    EXPECT_EQ(v.at("created_at"), "2027-01-02T00:00:00.000Z");
    EXPECT_EQ(v.at("duration_seconds"), 1.5);
    EXPECT_EQ(v.at("receipt_id"), "rcpt_d_done");
    EXPECT_TRUE(v.at("error").is_null());
    EXPECT_EQ(v.at("created_by"), "");     // anonymous
    EXPECT_EQ(v.at("can_cancel"), false);  // finished: cancel would be 409
    EXPECT_EQ(Call("GET", "/api/debates/d_done").body, res.body);
}

// can_cancel follows the cancel route's rule (open mode: the anonymous owner may cancel
// any debate that is not finished).
TEST_F(DebatesTest, GetSaysWhetherTheCallerMayCancel) {
    Running("d_run").created_by = "usr_someone";
    auto v = Parse(Call("GET", "/api/v1/debates/d_run"));
    EXPECT_EQ(v.at("created_by"), "usr_someone");
    EXPECT_EQ(v.at("can_cancel"), true);
}

TEST_F(DebatesTest, GetFailedDebateCarriesErrorObject) {
    auto& r = Running("d_failed");
    r.status = events::DebateStatus::kFailed;
    r.error_code = "timeout";
    r.error_message = "debate exceeded 900 s";
    auto v = Parse(Call("GET", "/api/v1/debates/d_failed"));
    EXPECT_EQ(v.at("status"), "failed");
    EXPECT_EQ(v.at("error").at("code"), "timeout");
    EXPECT_EQ(v.at("error").at("message"), "debate exceeded 900 s");
    EXPECT_TRUE(v.at("receipt_id").is_null());
    EXPECT_TRUE(v.at("consensus_reached").is_null());
}

TEST_F(DebatesTest, GetUnknownIs404AndBadIdIs400) {
    auto missing = Call("GET", "/api/v1/debates/d_missing");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(Parse(missing).at("code"), "not_found");
    for (std::string target :
         std::vector<std::string>{"/api/v1/debates/bad.id", "/api/v1/debates/a%20b",
                                  "/api/v1/debates/" + std::string(129, 'a')}) {
        auto bad = Call("GET", target);
        EXPECT_EQ(bad.status, 400) << target;
        EXPECT_EQ(Parse(bad).at("code"), "bad_request") << target;
    }
}

// --- list ----------------------------------------------------------------------------

class ListTest : public DebatesTest {
protected:
    ListTest() {
        AddCompletedDebate(service_, keys_, "d_a", "2027-01-01T00:00:00.000Z");
        AddCompletedDebate(service_, keys_, "d_b", "2027-01-03T00:00:00.000Z", false);
        Running("d_c").created_at = "2027-01-02T00:00:00.000Z";
    }
};

TEST_F(ListTest, EnvelopeAndSummaries) {
    auto res = Call("GET", "/api/v1/debates");
    ASSERT_EQ(res.status, 200) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), (std::set<std::string>{"debates", "items", "total", "count", "limit",
                                              "offset", "has_more"}));
    EXPECT_EQ(v.at("debates"), v.at("items"));
    EXPECT_EQ(v.at("total"), 3);
    EXPECT_EQ(v.at("count"), 3);
    EXPECT_EQ(v.at("limit"), 20);
    EXPECT_EQ(v.at("offset"), 0);
    EXPECT_EQ(v.at("has_more"), false);
    const auto& items = v.at("items").as_array();
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].at("id"), "d_b");  // newest first, running ones included
    EXPECT_EQ(items[1].at("id"), "d_c");
    EXPECT_EQ(items[2].at("id"), "d_a");
    EXPECT_EQ(Keys(items[0]), (std::set<std::string>{"debate_id", "id", "task", "status", "agents",
                                                     "consensus_reached", "confidence", "verdict",
                                                     "created_at", "completed_at"}));
    EXPECT_EQ(items[0].at("consensus_reached"), false);
    EXPECT_EQ(items[0].at("verdict"), "needs_review");
    EXPECT_TRUE(items[1].at("confidence").is_null());
    EXPECT_TRUE(items[1].at("completed_at").is_null());
    EXPECT_EQ(items[1].at("status"), "running");
}

TEST_F(ListTest, PaginationAndFilters) {
    auto v = Parse(Call("GET", "/api/v1/debates?limit=1&offset=1"));
    EXPECT_EQ(v.at("count"), 1);
    EXPECT_EQ(v.at("total"), 3);
    EXPECT_EQ(v.at("limit"), 1);
    EXPECT_EQ(v.at("offset"), 1);
    EXPECT_EQ(v.at("has_more"), true);
    EXPECT_EQ(v.at("items").at(0).at("id"), "d_c");
    EXPECT_EQ(Parse(Call("GET", "/api/v1/debates?limit=1&offset=2")).at("has_more"), false);

    v = Parse(Call("GET", "/api/v1/debates?status=active"));
    EXPECT_EQ(service_.last_filter->status, "active");
    EXPECT_EQ(v.at("total"), 1);
    EXPECT_EQ(v.at("items").at(0).at("id"), "d_c");
    v = Parse(Call("GET", "/api/debates?status=no_consensus&limit=10"));  // the runbook's form
    EXPECT_EQ(v.at("total"), 1);
    EXPECT_EQ(v.at("items").at(0).at("id"), "d_b");
    for (const char* s : {"pending", "running", "completed", "failed", "cancelled"}) {
        EXPECT_EQ(Call("GET", std::string("/api/v1/debates?status=") + s).status, 200) << s;
    }
}

// ?q= goes to the store as the task search (the store matches in SQL); too long is 400.
TEST_F(ListTest, TaskSearchIsPassedToTheStoreAndBounded) {
    EXPECT_EQ(Call("GET", "/api/v1/debates?q=cache%25_x&status=completed").status, 200);
    ASSERT_TRUE(service_.last_filter.has_value());
    EXPECT_EQ(service_.last_filter->task_query, "cache%_x");
    EXPECT_EQ(service_.last_filter->status, "completed");
    EXPECT_EQ(Call("GET", "/api/debates?q=" + std::string(200, 'a')).status, 200);
    EXPECT_EQ(service_.last_filter->task_query, std::string(200, 'a'));
    EXPECT_EQ(Call("GET", "/api/v1/debates").status, 200);
    EXPECT_EQ(service_.last_filter->task_query, "");
    ExpectFieldError(Call("GET", "/api/v1/debates?q=" + std::string(201, 'a')), "validation_error",
                     "q");
}

// With ARAGORA_ENCRYPT_DEBATE_CONTENT the task column is sealed: ?q= is refused (400 naming
// q and the setting) and never reaches the store; the list without q still answers.
TEST_F(ListTest, TaskSearchIsRefusedWhileDebateContentIsSealed) {
    deps_.debate_content_sealed = true;
    service_.last_filter.reset();
    const auto refused = Call("GET", "/api/v1/debates?q=cache");
    ExpectFieldError(refused, "validation_error", "q");
    EXPECT_NE(refused.body.find("ARAGORA_ENCRYPT_DEBATE_CONTENT"), std::string::npos)
        << refused.body;
    EXPECT_FALSE(service_.last_filter.has_value());
    EXPECT_EQ(Call("GET", "/api/v1/debates?status=completed").status, 200);
    ASSERT_TRUE(service_.last_filter.has_value());
    EXPECT_EQ(service_.last_filter->task_query, "");
}

TEST_F(ListTest, InvalidParametersAre400NamingTheField) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"status=done", "status"}, {"status=ACTIVE", "status"}, {"limit=0", "limit"},
        {"limit=101", "limit"},    {"limit=abc", "limit"},      {"limit=5.5", "limit"},
        {"offset=-1", "offset"},   {"offset=1.5", "offset"},    {"offset=x", "offset"}};
    for (const auto& [query, field] : cases) {
        ExpectFieldError(Call("GET", "/api/v1/debates?" + query), "validation_error", field);
    }
}

TEST_F(ListTest, ServiceFailureIs500WithoutDetail) {
    service_.list_error = MakeError(ErrorCode::kStorage, "disk I/O error at /var/lib/aragora");
    auto res = Call("GET", "/api/v1/debates", "", {{"X-Correlation-ID", "corr-list"}});
    EXPECT_EQ(res.status, 500);
    auto v = Parse(res);
    EXPECT_EQ(v.at("code"), "internal_error");
    EXPECT_EQ(std::string(v.at("error").as_string()).find("/var/lib"), std::string::npos);
    EXPECT_EQ(v.at("correlation_id"), "corr-list");
}

// --- cancel --------------------------------------------------------------------------

TEST_F(DebatesTest, CancelRunningThenConflict) {
    Running("d_run");
    auto res =
        Call("POST", "/api/v1/debates/d_run/cancel", "", {{"Content-Type", "application/json"}});
    ASSERT_EQ(res.status, 200) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), (std::set<std::string>{"success", "debate_id", "status", "message"}));
    EXPECT_EQ(v.at("success"), true);
    EXPECT_EQ(v.at("debate_id"), "d_run");
    EXPECT_EQ(v.at("status"), "cancelled");
    EXPECT_EQ(Parse(Call("GET", "/api/v1/debates/d_run")).at("status"), "cancelled");

    auto again = Call("POST", "/api/debates/d_run/cancel");
    EXPECT_EQ(again.status, 409);
    EXPECT_EQ(Parse(again).at("code"), "conflict");
    EXPECT_EQ(Call("POST", "/api/v1/debates/d_nope/cancel").status, 404);
    EXPECT_EQ(Call("POST", "/api/v1/debates/d*x/cancel").status, 400);
    EXPECT_EQ(Call("GET", "/api/v1/debates/d_run/cancel").status, 405);
}

// --- messages ------------------------------------------------------------------------

TEST_F(DebatesTest, MessagesFromEvents) {
    AddCompletedDebate(service_, keys_, "d_m", "2027-01-02T00:00:00.000Z");
    auto res = Call("GET", "/api/v1/debates/d_m/messages");
    ASSERT_EQ(res.status, 200) << res.body;
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), (std::set<std::string>{"debate_id", "messages", "total", "offset", "limit",
                                              "has_more"}));
    EXPECT_EQ(v.at("debate_id"), "d_m");
    EXPECT_EQ(v.at("total"), 4);
    EXPECT_EQ(v.at("limit"), 50);
    EXPECT_EQ(v.at("offset"), 0);
    EXPECT_EQ(v.at("has_more"), false);
    const auto& m = v.at("messages").as_array();
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(Keys(m[0]),
              (std::set<std::string>{"index", "agent", "role", "round", "content", "timestamp"}));
    EXPECT_EQ(m[0].at("index"), 0);
    EXPECT_EQ(m[0].at("agent"), "demo:analyst");
    EXPECT_EQ(m[0].at("role"), "proposer");
    EXPECT_EQ(m[0].at("round"), 1);
    EXPECT_EQ(m[0].at("content"), "Proposal <A>, \"quoted\"");
    EXPECT_EQ(m[0].at("timestamp"), "2027-01-15T08:00:02.000Z");  // kT0 + seq 2
    EXPECT_EQ(m[1].at("role"), "critic");
    EXPECT_EQ(m[1].at("agent"), "demo:critic");
    EXPECT_EQ(m[1].at("content"), "Too risky");
    EXPECT_EQ(m[2].at("role"), "reviser");
    EXPECT_EQ(m[2].at("round"), 2);
    EXPECT_EQ(m[3].at("role"), "voter");
    EXPECT_EQ(m[3].at("index"), 3);
    EXPECT_EQ(m[3].at("content"), "Vote for demo:analyst: good enough");

    v = Parse(Call("GET", "/api/debates/d_m/messages?limit=2&offset=1"));
    EXPECT_EQ(v.at("messages").as_array().size(), 2u);
    EXPECT_EQ(v.at("messages").at(0).at("index"), 1);
    EXPECT_EQ(v.at("has_more"), true);
    EXPECT_EQ(v.at("total"), 4);
    ExpectFieldError(Call("GET", "/api/v1/debates/d_m/messages?limit=0"), "validation_error",
                     "limit");
    ExpectFieldError(Call("GET", "/api/v1/debates/d_m/messages?offset=-2"), "validation_error",
                     "offset");
    EXPECT_EQ(Call("GET", "/api/v1/debates/d_zzz/messages").status, 404);
}

TEST_F(DebatesTest, MessagesWhileRunningIncludeTheJudgeAndSpanEventPages) {
    Running("d_live");
    for (int i = 0; i < 600; ++i) {
        service_.AddEvent("d_live", "agent_message", 1, "demo:analyst",
                          {{"round_number", 1}, {"role", "proposer"}, {"content", "p"}});
    }
    service_.AddEvent("d_live", "consensus", 1, "",
                      {{"method", "judge"}, {"result", "The judge's synthesis"}});
    service_.AddEvent("d_live", "consensus", 1, "", {{"method", "majority"}, {"result", "x"}});
    auto v = Parse(Call("GET", "/api/v1/debates/d_live/messages?limit=5&offset=598"));
    EXPECT_EQ(v.at("total"), 601);
    const auto& m = v.at("messages").as_array();
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[2].at("role"), "judge");
    EXPECT_EQ(m[2].at("agent"), "demo:critic");  // the spec's judge
    EXPECT_EQ(m[2].at("content"), "The judge's synthesis");
    EXPECT_EQ(v.at("has_more"), false);
}

// --- events --------------------------------------------------------------------------

TEST_F(DebatesTest, EventsPolling) {
    AddCompletedDebate(service_, keys_, "d_e", "2027-01-02T00:00:00.000Z");
    auto v = Parse(Call("GET", "/api/v1/debates/d_e/events"));
    EXPECT_EQ(Keys(v), (std::set<std::string>{"debate_id", "events", "next_seq", "has_more"}));
    EXPECT_EQ(v.at("events").as_array().size(), 8u);
    EXPECT_EQ(v.at("next_seq"), 8);
    EXPECT_EQ(v.at("has_more"), false);
    const auto& first = v.at("events").at(0);
    EXPECT_EQ(Keys(first), (std::set<std::string>{"type", "data", "timestamp", "round", "agent",
                                                  "seq", "debate_id", "loop_id"}));
    EXPECT_EQ(first.at("type"), "debate_start");
    EXPECT_EQ(first.at("seq"), 1);
    EXPECT_EQ(first.at("loop_id"), "d_e");
    EXPECT_EQ(first.at("data").at("debate_id"), "d_e");

    v = Parse(Call("GET", "/api/v1/debates/d_e/events?since=3&limit=2"));
    ASSERT_EQ(v.at("events").as_array().size(), 2u);
    EXPECT_EQ(v.at("events").at(0).at("seq"), 4);
    EXPECT_EQ(v.at("events").at(1).at("seq"), 5);
    EXPECT_EQ(v.at("next_seq"), 5);
    EXPECT_EQ(v.at("has_more"), true);

    v = Parse(Call("GET", "/api/debates/d_e/events?since=abc"));
    EXPECT_EQ(v.at("events").at(0).at("seq"), 1);
    v = Parse(Call("GET", "/api/v1/debates/d_e/events?since=50"));
    EXPECT_TRUE(v.at("events").as_array().empty());
    EXPECT_EQ(v.at("next_seq"), 50);
    EXPECT_EQ(v.at("has_more"), false);

    service_.event_limits.clear();
    EXPECT_EQ(Call("GET", "/api/v1/debates/d_e/events?limit=5000").status, 200);
    EXPECT_EQ(service_.event_limits, (std::vector<int>{500}));
    ExpectFieldError(Call("GET", "/api/v1/debates/d_e/events?limit=0"), "validation_error",
                     "limit");
    EXPECT_EQ(Call("GET", "/api/v1/debates/d_none/events").status, 404);
}

// --- export --------------------------------------------------------------------------

class ExportTest : public DebatesTest {
protected:
    ExportTest() { AddCompletedDebate(service_, keys_, "d_x", "2027-01-02T00:00:00.000Z"); }
};

TEST_F(ExportTest, JsonIsTheDebatePlusMessages) {
    for (std::string target :
         {"/api/v1/debates/d_x/export", "/api/v1/debates/d_x/export?format=json",
          "/api/debates/d_x/export/json"}) {
        auto res = Call("GET", target);
        ASSERT_EQ(res.status, 200) << target;
        EXPECT_EQ(res.content_type, "application/json");
        auto v = Parse(res);
        auto expected = Keys(Parse(Call("GET", "/api/v1/debates/d_x")));
        expected.insert("messages");
        // The GET's fields for the console's caller are not part of the exported document.
        expected.erase("created_by");
        expected.erase("can_cancel");
        EXPECT_EQ(Keys(v), expected);
        EXPECT_EQ(v.at("messages").as_array().size(), 4u);
        EXPECT_EQ(v.at("verdict"), "approved_with_conditions");
    }
}

TEST_F(ExportTest, DocumentsBothForms) {
    struct Case {
        std::string target, type, filename;
    };
    const std::vector<Case> cases = {
        {"/api/v1/debates/d_x/export?format=md", "text/markdown; charset=utf-8", "d_x.md"},
        {"/api/v1/debates/d_x/export/md", "text/markdown; charset=utf-8", "d_x.md"},
        {"/api/v1/debates/d_x/export?format=markdown", "text/markdown; charset=utf-8", "d_x.md"},
        {"/api/v1/debates/d_x/export/markdown", "text/markdown; charset=utf-8", "d_x.md"},
        {"/api/v1/debates/d_x/export?format=html", "text/html; charset=utf-8", "d_x.html"},
        {"/api/debates/d_x/export/html", "text/html; charset=utf-8", "d_x.html"},
        {"/api/v1/debates/d_x/export?format=csv", "text/csv; charset=utf-8", "d_x.csv"},
        {"/api/v1/debates/d_x/export/CSV", "text/csv; charset=utf-8", "d_x.csv"},
    };
    for (const auto& c : cases) {
        auto res = Call("GET", c.target, "", {{"Accept", "*/*"}});
        ASSERT_EQ(res.status, 200) << c.target << " " << res.body;
        EXPECT_EQ(res.content_type, c.type) << c.target;
        EXPECT_EQ(HeaderOf(res, "Content-Disposition"),
                  "attachment; filename=\"" + c.filename + "\"")
            << c.target;
    }
}

TEST_F(ExportTest, DocumentsEscapeAgentText) {
    const std::string md = Call("GET", "/api/v1/debates/d_x/export?format=md").body;
    EXPECT_NE(md.find("&lt;ship&gt;"), std::string::npos) << md;
    EXPECT_EQ(md.find("<ship>"), std::string::npos);
    EXPECT_NE(md.find("Proposal &lt;A&gt;"), std::string::npos);
    EXPECT_NE(md.find("### Round 2"), std::string::npos);

    const std::string html = Call("GET", "/api/v1/debates/d_x/export?format=html").body;
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(html.find("&lt;ship&gt; &quot;v2&quot; &amp; roll back?"), std::string::npos);
    EXPECT_EQ(html.find("<ship>"), std::string::npos);
    EXPECT_EQ(html.find("<A>"), std::string::npos);

    const std::string csv = Call("GET", "/api/v1/debates/d_x/export?format=csv").body;
    EXPECT_EQ(csv.rfind("debate_id,index,round,agent,role,content,timestamp\r\n", 0), 0u) << csv;
    EXPECT_NE(csv.find("\"Proposal <A>, \"\"quoted\"\"\""), std::string::npos) << csv;
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // header + 4 messages
}

TEST_F(ExportTest, JsonOnlyAcceptGetsTheWrapper) {
    auto res = Call("GET", "/api/v1/debates/d_x/export/md", "", {{"Accept", "application/json"}});
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(res.content_type, "application/json");
    EXPECT_EQ(HeaderOf(res, "Content-Disposition"), "");
    auto v = Parse(res);
    EXPECT_EQ(Keys(v), (std::set<std::string>{"debate_id", "format", "content", "filename",
                                              "size_bytes", "generated_at"}));
    EXPECT_EQ(v.at("debate_id"), "d_x");
    EXPECT_EQ(v.at("format"), "md");
    EXPECT_EQ(v.at("filename"), "d_x.md");
    const std::string content(v.at("content").as_string());
    EXPECT_EQ(content, Call("GET", "/api/v1/debates/d_x/export/md").body);
    EXPECT_EQ(v.at("size_bytes"), static_cast<std::int64_t>(content.size()));
    EXPECT_TRUE(common::ParseIso8601(std::string(v.at("generated_at").as_string())));

    // With */* or a text type the document itself is sent.
    res = Call("GET", "/api/v1/debates/d_x/export?format=html", "",
               {{"Accept", "application/json, */*;q=0.8"}});
    EXPECT_EQ(res.content_type, "text/html; charset=utf-8");
}

TEST_F(ExportTest, BadFormatAndUnknownDebate) {
    ExpectFieldError(Call("GET", "/api/v1/debates/d_x/export?format=pdf"), "validation_error",
                     "format");
    ExpectFieldError(Call("GET", "/api/v1/debates/d_x/export/xml"), "validation_error", "format");
    EXPECT_EQ(Call("GET", "/api/v1/debates/d_nope/export?format=md").status, 404);
    EXPECT_EQ(Call("GET", "/api/v1/debates/d.x/export?format=md").status, 400);
}

// --- the debate's receipt ------------------------------------------------------------

TEST_F(ExportTest, DebateReceiptIsTheStoredText) {
    auto res = Call("GET", "/api/v1/debates/d_x/receipt?format=json");
    ASSERT_EQ(res.status, 200) << res.body;
    EXPECT_EQ(res.body, service_.receipts.back().json);  // exact text, nothing served-only
    EXPECT_FALSE(Parse(res).as_object().contains("gauntlet_id"));
    EXPECT_EQ(Call("GET", "/api/debates/d_x/receipt").body, res.body);

    auto md = Call("GET", "/api/v1/debates/d_x/receipt?format=md");
    EXPECT_EQ(md.content_type, "text/markdown; charset=utf-8");
    EXPECT_EQ(HeaderOf(md, "Content-Disposition"), "attachment; filename=\"rcpt_d_x.md\"");
    auto html = Call("GET", "/api/v1/debates/d_x/receipt?format=html", "",
                     {{"Accept", "application/json"}});
    auto v = Parse(html);
    EXPECT_EQ(v.at("format"), "html");
    EXPECT_EQ(v.at("receipt_id"), "rcpt_d_x");
    EXPECT_EQ(v.at("debate_id"), "d_x");
    EXPECT_EQ(v.at("filename"), "rcpt_d_x.html");

    ExpectFieldError(Call("GET", "/api/v1/debates/d_x/receipt?format=xml"), "validation_error",
                     "format");
    Running("d_r");
    auto none = Call("GET", "/api/v1/debates/d_r/receipt");
    EXPECT_EQ(none.status, 404);
    EXPECT_EQ(Parse(none).at("code"), "not_found");
    EXPECT_EQ(Call("GET", "/api/v1/debates/d_unknown/receipt").status, 404);
}

// --- pure helpers --------------------------------------------------------------------

TEST(CreateDebateParseTest, DefaultTeamIsThreeDemoAgents) {
    auto req = ParseCreateDebateRequest(R"({"task": "t", "agents": null})");
    ASSERT_TRUE(req.ok());
    ASSERT_EQ(req->agents.size(), 3u);
    EXPECT_EQ(req->agents[2].name, "demo:moderator");
}

}  // namespace
}  // namespace aragora::api::testing
