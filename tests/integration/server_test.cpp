// Drives `aragora serve` over HTTP as a client would: every route with good and bad input,
// and each response shape of reference/API.md checked field by field (create, get, list,
// cancel, messages, events, export, receipts and verification, health, status, metrics,
// OpenAPI, and the flat errors: 404, 405, malformed requests, 413, correlation ids).

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <memory>
#include <regex>

#include "common/crypto.hpp"
#include "common/jcs.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::regex kIdPattern("^[A-Za-z0-9_-]{1,128}$");

// 20 ms per demo call: a 2-round, 3-agent debate takes a fraction of a second, and a
// 12-round, 8-agent one (LongBody) runs for seconds, long enough to be seen running and
// cancelled. A convergence threshold of 1.0 turns the early stop off.
std::map<std::string, std::string> ApiEnv() {
    return {{"ARAGORA_DEMO_LATENCY_MS", "20"}, {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"}};
}

std::string LongBody(const std::string& task) { return DebateBody(task, 12, 8); }

json::array StringArray(std::initializer_list<const char*> items) {
    json::array a;
    for (const char* s : items) a.emplace_back(s);
    return a;
}

bool IsStringArray(const json::value& v) {
    if (!v.is_array()) return false;
    for (const auto& e : v.as_array()) {
        if (!e.is_string()) return false;
    }
    return true;
}

class ServerApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", ApiEnv());
        ASSERT_TRUE(server_->StartReady()) << server_->error();
    }
    void TearDown() override {
        if (!server_) return;
        const int code = server_->Terminate();
        EXPECT_EQ(code, 0) << "exit code after SIGTERM; server output:\n" << server_->Logs();
    }

    HttpClient Http() const { return server_->Http(); }

    // Creates a debate and waits for it to complete; its GET body.
    json::object RunDebate(const std::string& body) {
        const std::string id = CreateDebate(Http(), body);
        if (id.empty()) return {};
        auto done = WaitForStatus(Http(), id, {"completed"});
        return done ? *done : json::object{};
    }

    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
};

// --- create --------------------------------------------------------------------------

TEST_F(ServerApiTest, CreateOnEveryRouteAnswers201WithLocationAndBody) {
    const auto http = Http();
    for (const std::string& path :
         std::vector<std::string>{"/api/v1/debates", "/api/debates", "/api/debate"}) {
        SCOPED_TRACE(path);
        const std::string task = "Should we adopt trunk-based development? (" + path + ")";
        HttpResponse r =
            http.Post(path, json::serialize(json::object{{"task", task}, {"rounds", 2}}));
        ASSERT_EQ(r.status, 201) << r.Describe();
        json::object o = r.Object();
        EXPECT_EQ(o["success"], true);
        ASSERT_TRUE(o["debate_id"].is_string()) << r.body;
        const std::string id(o["debate_id"].as_string());
        EXPECT_TRUE(std::regex_match(id, kIdPattern)) << id;
        EXPECT_EQ(o["id"], o["debate_id"]);
        EXPECT_EQ(o["status"], "pending") << r.body;
        EXPECT_EQ(o["task"], task.c_str());
        // Omitted agents = the default team: three demo agents of the persona cycle.
        EXPECT_EQ(o["agents"], StringArray({"demo:analyst", "demo:critic", "demo:moderator"}))
            << r.body;
        EXPECT_EQ(o["websocket_url"], ("/ws?debate_id=" + id).c_str());
        EXPECT_EQ(r.Header("Location").value_or(""), "/api/v1/debates/" + id);
        EXPECT_NE(r.Header("Content-Type").value_or("").find("application/json"),
                  std::string::npos);
        EXPECT_TRUE(r.Header("X-Correlation-ID").has_value());

        HttpResponse got = http.Get(*r.Header("Location"));
        ASSERT_EQ(got.status, 200) << got.Describe();
        EXPECT_EQ(got.Object()["id"], id.c_str());
        EXPECT_EQ(got.Object()["rounds"], 2);
    }
}

TEST_F(ServerApiTest, CreateAcceptsEveryDocumentedBodyForm) {
    const auto http = Http();
    // `question` instead of `task`, agents as a comma string.
    HttpResponse q = http.Post("/api/v1/debates",
                               R"({"question": "Is a monorepo right for 12 engineers?",
                                   "agents": "demo,demo", "rounds": 1})");
    ASSERT_EQ(q.status, 201) << q.Describe();
    EXPECT_EQ(q.Object()["task"], "Is a monorepo right for 12 engineers?");
    EXPECT_EQ(q.Object()["agents"], StringArray({"demo:analyst", "demo:critic"}));

    // A repeated spec is allowed and numbered; explicit personas; object specs.
    HttpResponse rep = http.Post("/api/v1/debates",
                                 R"({"task": "Repeat?", "rounds": 1,
                                     "agents": ["demo:critic", "demo:critic", "demo:contrarian"]})");
    ASSERT_EQ(rep.status, 201) << rep.Describe();
    EXPECT_EQ(rep.Object()["agents"],
              StringArray({"demo:critic", "demo:critic#2", "demo:contrarian"}));
    HttpResponse objs = http.Post("/api/v1/debates",
                                  R"({"task": "Objects?", "rounds": 1, "agents": [
                                        {"provider": "demo", "persona": "contrarian"},
                                        {"provider": "demo", "model": "moderator"}]})");
    ASSERT_EQ(objs.status, 201) << objs.Describe();
    EXPECT_EQ(objs.Object()["agents"], StringArray({"demo:contrarian", "demo:moderator"}));

    // A JSON body is accepted whatever its Content-Type (the runbooks' curl -d sends form
    // encoding); unknown fields are ignored; metadata is an object.
    HttpResponse form = http.Post(
        "/api/v1/debates",
        R"({"task": "Form-encoded?", "rounds": 1, "frobnicate": 7, "metadata": {"team": "ops"}})",
        {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(form.status, 201) << form.Describe();

    // `protocol` may hold rounds and consensus; the top-level fields win.
    HttpResponse proto =
        http.Post("/api/v1/debates",
                  R"({"task": "Protocol?", "protocol": {"rounds": 1, "consensus": "unanimous"}})");
    ASSERT_EQ(proto.status, 201) << proto.Describe();
    auto p = WaitForStatus(http, std::string(proto.Object()["id"].as_string()), kTerminalStatuses);
    ASSERT_TRUE(p);
    EXPECT_EQ((*p)["rounds"], 1);
    EXPECT_EQ((*p)["consensus_method"], "unanimous");
    HttpResponse top = http.Post("/api/v1/debates",
                                 R"({"task": "Top wins?", "rounds": 2, "consensus": "judge",
            "protocol": {"rounds": 5, "consensus": "unanimous"}})");
    ASSERT_EQ(top.status, 201) << top.Describe();
    HttpResponse t = http.Get("/api/v1/debates/" + std::string(top.Object()["id"].as_string()));
    EXPECT_EQ(t.Object()["rounds"], 2) << t.body;
    EXPECT_EQ(t.Object()["consensus_method"], "judge") << t.body;
}

TEST_F(ServerApiTest, CreateRejectsBadInputAndStoresNothing) {
    const auto http = Http();
    const std::int64_t before =
        http.Get("/api/v1/debates").Object()["total"].to_number<std::int64_t>();
    struct Case {
        std::string body;
        std::string code;
        std::string needle;  // in the error message or an errors[].field
    };
    const std::string long_task(10001, 'a');
    const std::vector<Case> cases = {
        {"", "bad_request|validation_error", ""},
        {"this is not json", "bad_request|validation_error", ""},
        {"[1, 2, 3]", "bad_request|validation_error", ""},
        {"{}", "validation_error", "task"},
        {R"({"task": ""})", "validation_error", "task"},
        {R"({"task": 42})", "validation_error", "task"},
        {json::serialize(json::object{{"task", long_task}}), "validation_error", "task"},
        {R"({"task": "Q?", "rounds": 0})", "validation_error", "rounds"},
        {R"({"task": "Q?", "rounds": 13})", "validation_error", "rounds"},
        {R"({"task": "Q?", "rounds": "three"})", "validation_error", "rounds"},
        {R"({"task": "Q?", "rounds": 2.5})", "validation_error", "rounds"},
        {R"({"task": "Q?", "consensus": "vibes"})", "validation_error", "supermajority"},
        {R"({"task": "Q?", "agents": ["demo"]})", "validation_error", "agents"},
        {R"({"task": "Q?", "agents": "demo"})", "validation_error", "agents"},
        {R"({"task": "Q?", "agents": []})", "validation_error", "agents"},
        {R"({"task": "Q?", "agents": ["wizard", "demo"]})", "validation_error", "wizard"},
        {R"({"task": "Q?", "agents": ["demo", "demo:pirate"]})", "validation_error", "pirate"},
        {R"({"task": "Q?", "agents": [{"model": "x"}, "demo"]})", "validation_error", "provider"},
        {R"({"task": "Q?", "metadata": "not an object"})", "validation_error", "metadata"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE("body: " + c.body.substr(0, 80));
        HttpResponse r = http.Post("/api/v1/debates", c.body);
        ExpectError(r, 400, c.code, "create");
        if (!c.needle.empty()) {
            EXPECT_NE(r.body.find(c.needle), std::string::npos)
                << "the error should name `" << c.needle << "`: " << r.body;
        }
        if (c.code == "validation_error" && c.needle == "supermajority") {
            for (const char* m : {"majority", "unanimous", "weighted", "judge"}) {
                EXPECT_NE(r.body.find(m), std::string::npos) << "must list " << m << ": " << r.body;
            }
        }
    }
    const std::int64_t after =
        http.Get("/api/v1/debates").Object()["total"].to_number<std::int64_t>();
    EXPECT_EQ(after, before) << "a rejected create stored a debate";
}

// --- get -----------------------------------------------------------------------------

TEST_F(ServerApiTest, GetShowsEveryFieldWithItsType) {
    const auto http = Http();
    json::object d = RunDebate(R"({"task": "Should the on-call rotation be weekly?",
                                   "agents": ["demo", "demo", "demo"], "rounds": 2})");
    ASSERT_FALSE(d.empty());
    const std::string id(d["id"].as_string());
    for (const char* key : {"debate_id", "id", "task", "status", "agents", "rounds", "rounds_used",
                            "consensus_method", "consensus_reached", "confidence", "verdict",
                            "final_answer", "dissenting_agents", "created_at", "started_at",
                            "completed_at", "duration_seconds", "receipt_id", "error"}) {
        EXPECT_TRUE(d.contains(key)) << "GET lacks `" << key << "`: " << json::serialize(d);
    }
    EXPECT_EQ(d["debate_id"], d["id"]);
    EXPECT_EQ(d["task"], "Should the on-call rotation be weekly?");
    EXPECT_EQ(d["status"], "completed");
    EXPECT_EQ(d["agents"], StringArray({"demo:analyst", "demo:critic", "demo:moderator"}));
    EXPECT_EQ(d["rounds"], 2);
    ASSERT_TRUE(IsInteger(d["rounds_used"]));
    EXPECT_GE(NumberOf(d["rounds_used"]), 1);
    EXPECT_LE(NumberOf(d["rounds_used"]), 2);
    EXPECT_EQ(d["consensus_method"], "majority");
    EXPECT_TRUE(d["consensus_reached"].is_bool());
    ASSERT_TRUE(IsNumber(d["confidence"]));
    EXPECT_GE(NumberOf(d["confidence"]), 0.0);
    EXPECT_LE(NumberOf(d["confidence"]), 1.0);
    const std::set<std::string> verdicts = {"approved", "approved_with_conditions", "needs_review",
                                            "rejected"};
    EXPECT_EQ(verdicts.count(StringOf(d, "verdict")), 1u) << d["verdict"];
    EXPECT_FALSE(StringOf(d, "final_answer").empty());
    EXPECT_TRUE(IsStringArray(d["dissenting_agents"]));
    for (const char* t : {"created_at", "started_at", "completed_at"}) {
        EXPECT_TRUE(IsIsoUtc(d[t])) << t << " = " << d[t];
    }
    EXPECT_LE(StringOf(d, "created_at"), StringOf(d, "started_at"));
    EXPECT_LE(StringOf(d, "started_at"), StringOf(d, "completed_at"));
    ASSERT_TRUE(IsNumber(d["duration_seconds"]));
    EXPECT_GT(NumberOf(d["duration_seconds"]), 0.0);
    EXPECT_FALSE(StringOf(d, "receipt_id").empty()) << "completed without receipt_id";
    EXPECT_TRUE(d["error"].is_null());

    // The /api alias serves the same debate.
    HttpResponse alias = http.Get("/api/debates/" + id);
    ASSERT_EQ(alias.status, 200) << alias.Describe();
    EXPECT_EQ(alias.Object()["receipt_id"], d["receipt_id"]);

    ExpectError(http.Get("/api/v1/debates/d_doesnotexist"), 404, "not_found", "unknown id");
    ExpectError(http.Get("/api/v1/debates/bad%20id!"), 400, "bad_request", "invalid id");
    ExpectError(http.Get("/api/v1/debates/" + std::string(129, 'x')), 400, "bad_request",
                "129-char id");
}

// --- list ----------------------------------------------------------------------------

TEST_F(ServerApiTest, ListEnvelopePagingAndStatusFilters) {
    const auto http = Http();
    std::vector<std::string> completed;
    for (int i = 0; i < 3; ++i) {
        json::object d = RunDebate(DebateBody("List check number " + std::to_string(i), 1, 3));
        ASSERT_FALSE(d.empty());
        completed.emplace_back(d["id"].as_string());
    }
    // Unanimity among four demo agents is not reached on this task: `no_consensus`.
    json::object nc = RunDebate(R"({"task": "Should we rewrite everything in Rust?",
        "agents": ["demo", "demo", "demo", "demo"], "rounds": 1, "consensus": "unanimous"})");
    ASSERT_FALSE(nc.empty());
    ASSERT_EQ(nc["consensus_reached"], false) << "expected a debate without consensus";
    const std::string nc_id(nc["id"].as_string());
    const std::string running = CreateDebate(http, LongBody("A long running debate"));
    ASSERT_FALSE(running.empty());
    ASSERT_TRUE(WaitForStatus(http, running, {"running"}));

    HttpResponse r = http.Get("/api/v1/debates");
    ASSERT_EQ(r.status, 200) << r.Describe();
    json::object page = r.Object();
    for (const char* key : {"debates", "items", "total", "count", "limit", "offset", "has_more"}) {
        EXPECT_TRUE(page.contains(key)) << "list lacks `" << key << "`: " << r.body;
    }
    ASSERT_TRUE(page["items"].is_array());
    EXPECT_EQ(page["debates"], page["items"]) << "debates and items must hold the same summaries";
    EXPECT_EQ(page["total"], 5);
    EXPECT_EQ(page["count"], 5);
    EXPECT_EQ(page["limit"], 20);
    EXPECT_EQ(page["offset"], 0);
    EXPECT_EQ(page["has_more"], false);
    const json::array& items = page["items"].as_array();
    ASSERT_EQ(items.size(), 5u);
    // Newest first, the running debate included; summaries carry exactly these fields.
    EXPECT_EQ(items[0].as_object().at("id"), running.c_str());
    EXPECT_EQ(items[0].as_object().at("status"), "running");
    for (std::size_t i = 0; i < items.size(); ++i) {
        const json::object& s = items[i].as_object();
        for (const char* key : {"debate_id", "id", "task", "status", "agents", "consensus_reached",
                                "confidence", "verdict", "created_at", "completed_at"}) {
            EXPECT_TRUE(s.contains(key)) << "summary lacks `" << key << "`";
        }
        EXPECT_EQ(s.at("debate_id"), s.at("id"));
        EXPECT_TRUE(IsIsoUtc(s.at("created_at")));
        if (i > 0) {
            const json::object& prev = items[i - 1].as_object();
            EXPECT_GE(std::string(prev.at("created_at").as_string()),
                      std::string(s.at("created_at").as_string()))
                << "not newest first";
        }
    }
    EXPECT_EQ(items[4].as_object().at("id"), completed[0].c_str());

    // Pages: limit/offset with has_more, no overlap, the same total.
    std::vector<std::string> seen;
    for (int offset = 0; offset < 6; offset += 2) {
        HttpResponse p = http.Get("/api/v1/debates?limit=2&offset=" + std::to_string(offset));
        ASSERT_EQ(p.status, 200) << p.Describe();
        json::object o = p.Object();
        EXPECT_EQ(o["total"], 5);
        EXPECT_EQ(o["limit"], 2);
        EXPECT_EQ(o["offset"], offset);
        const std::int64_t expected_count = std::min(2, 5 - offset);
        EXPECT_EQ(o["count"], expected_count);
        EXPECT_EQ(o["has_more"], offset + 2 < 5);
        for (const auto& s : o["items"].as_array())
            seen.emplace_back(s.as_object().at("id").as_string());
    }
    ASSERT_EQ(seen.size(), 5u);
    std::set<std::string> unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), 5u) << "pages overlap";

    auto ids_for = [&](const std::string& query) {
        HttpResponse p = http.Get("/api/v1/debates?" + query);
        EXPECT_EQ(p.status, 200) << query << ": " << p.Describe();
        std::set<std::string> ids;
        json::object o = p.Object();
        for (const auto& s : o["items"].as_array()) ids.emplace(s.as_object().at("id").as_string());
        EXPECT_EQ(o["total"], static_cast<std::int64_t>(ids.size())) << query;
        return ids;
    };
    std::set<std::string> all_completed(completed.begin(), completed.end());
    all_completed.insert(nc_id);
    EXPECT_EQ(ids_for("status=completed"), all_completed);
    EXPECT_EQ(ids_for("status=running"), std::set<std::string>{running});
    EXPECT_EQ(ids_for("status=active"), std::set<std::string>{running});
    EXPECT_EQ(ids_for("status=pending"), std::set<std::string>{});
    std::set<std::string> without;
    for (const auto& id : all_completed) {
        if (http.Get("/api/v1/debates/" + id).Object()["consensus_reached"] == false)
            without.insert(id);
    }
    EXPECT_EQ(ids_for("status=no_consensus&limit=10"), without);
    EXPECT_EQ(without.count(nc_id), 1u);

    ASSERT_EQ(http.Post("/api/v1/debates/" + running + "/cancel").status, 200);
    EXPECT_EQ(ids_for("status=cancelled"), std::set<std::string>{running});
    EXPECT_EQ(ids_for("status=active"), std::set<std::string>{});
    EXPECT_EQ(ids_for("status=failed"), std::set<std::string>{});

    for (const char* bad : {"status=bogus", "status=error", "limit=0", "limit=101", "limit=abc",
                            "limit=-1", "limit=2.5", "offset=-1", "offset=x"}) {
        ExpectError(http.Get(std::string("/api/v1/debates?") + bad), 400, "validation_error", bad);
    }
    // The /api alias, and a Content-Type header on a GET, are fine.
    HttpResponse alias = http.Get("/api/debates?limit=1", {{"Content-Type", "application/json"}});
    EXPECT_EQ(alias.status, 200) << alias.Describe();
    EXPECT_EQ(alias.Object()["count"], 1);
}

// --- cancel --------------------------------------------------------------------------

TEST_F(ServerApiTest, CancelIsEffectiveBeforeTheAnswer) {
    const auto http = Http();
    const std::string id = CreateDebate(http, LongBody("Cancel me while I run"));
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitForStatus(http, id, {"running"}));

    HttpResponse c =
        http.Post("/api/v1/debates/" + id + "/cancel", "", {{"Content-Type", "application/json"}});
    ASSERT_EQ(c.status, 200) << c.Describe();
    json::object o = c.Object();
    EXPECT_EQ(o["success"], true);
    EXPECT_EQ(o["debate_id"], id.c_str());
    EXPECT_EQ(o["status"], "cancelled");
    EXPECT_TRUE(o["message"].is_string());

    // The very next GET shows it; no receipt; its receipt routes are 404.
    json::object d = http.Get("/api/v1/debates/" + id).Object();
    EXPECT_EQ(d["status"], "cancelled");
    EXPECT_TRUE(d["receipt_id"].is_null()) << json::serialize(d);
    EXPECT_TRUE(IsIsoUtc(d["completed_at"])) << json::serialize(d);
    ExpectError(http.Get("/api/v1/debates/" + id + "/receipt"), 404, "not_found", "receipt");
    ExpectError(http.Get("/api/v2/receipts/debate-" + id), 404, "not_found", "v2 receipt");

    // debate_end was stored with status cancelled.
    auto events = AllEvents(http, id);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["type"], "debate_end");
    EXPECT_EQ(events.back()["data"].as_object()["status"], "cancelled");

    ExpectError(http.Post("/api/v1/debates/" + id + "/cancel"), 409, "conflict", "cancel twice");
    json::object done = RunDebate(DebateBody("Finished already", 1, 2));
    ASSERT_FALSE(done.empty());
    ExpectError(http.Post("/api/v1/debates/" + std::string(done["id"].as_string()) + "/cancel"),
                409, "conflict", "cancel completed");
    ExpectError(http.Post("/api/v1/debates/d_nosuchdebate/cancel"), 404, "not_found", "unknown");
    ExpectError(http.Post("/api/debates/bad%24id/cancel"), 400, "bad_request", "bad id");
}

// --- messages and events -------------------------------------------------------------

TEST_F(ServerApiTest, MessagesAndEventPolling) {
    const auto http = Http();
    json::object d = RunDebate(DebateBody("Should we keep a changelog by hand?", 2, 3));
    ASSERT_FALSE(d.empty());
    const std::string id(d["id"].as_string());

    HttpResponse m = http.Get("/api/v1/debates/" + id + "/messages");
    ASSERT_EQ(m.status, 200) << m.Describe();
    json::object mo = m.Object();
    EXPECT_EQ(mo["debate_id"], id.c_str());
    EXPECT_EQ(mo["offset"], 0);
    EXPECT_EQ(mo["limit"], 50);
    ASSERT_TRUE(mo["messages"].is_array());
    ASSERT_TRUE(IsInteger(mo["total"]));
    const auto total = static_cast<std::int64_t>(NumberOf(mo["total"]));
    // 2 rounds x 3 proposals + 2 x 6 critiques + 3 votes at least.
    EXPECT_GE(total, 21);
    EXPECT_EQ(mo["has_more"], total > 50);
    const std::set<std::string> roles = {"proposer", "critic", "reviser", "voter", "judge"};
    std::set<std::string> seen_roles;
    std::int64_t index = 0;
    for (const auto& v : mo["messages"].as_array()) {
        const json::object& msg = v.as_object();
        EXPECT_EQ(msg.at("index"), index++);
        EXPECT_TRUE(msg.at("agent").is_string());
        EXPECT_EQ(roles.count(std::string(msg.at("role").as_string())), 1u) << msg.at("role");
        seen_roles.emplace(msg.at("role").as_string());
        EXPECT_TRUE(IsInteger(msg.at("round")));
        EXPECT_TRUE(msg.at("content").is_string());
        EXPECT_TRUE(IsIsoUtc(msg.at("timestamp"))) << msg.at("timestamp");
    }
    for (const char* role : {"proposer", "critic", "reviser", "voter"}) {
        EXPECT_EQ(seen_roles.count(role), 1u) << "no " << role << " message";
    }
    HttpResponse page = http.Get("/api/debates/" + id + "/messages?limit=2&offset=1");
    ASSERT_EQ(page.status, 200) << page.Describe();
    json::object po = page.Object();
    ASSERT_EQ(po["messages"].as_array().size(), 2u);
    EXPECT_EQ(po["messages"].as_array()[0].as_object().at("index"), 1);
    EXPECT_EQ(po["has_more"], true);
    EXPECT_EQ(po["total"], total);
    ExpectError(http.Get("/api/v1/debates/" + id + "/messages?limit=0"), 400, "validation_error",
                "messages limit=0");
    ExpectError(http.Get("/api/v1/debates/d_unknown/messages"), 404, "not_found", "messages");

    // Events: ascending, gap-free from 1, envelopes as API.md says.
    HttpResponse e = http.Get("/api/v1/debates/" + id + "/events?since=0&limit=500");
    ASSERT_EQ(e.status, 200) << e.Describe();
    json::object eo = e.Object();
    EXPECT_EQ(eo["debate_id"], id.c_str());
    EXPECT_EQ(eo["has_more"], false);
    const json::array& events = eo["events"].as_array();
    ASSERT_GE(events.size(), 10u);
    for (std::size_t i = 0; i < events.size(); ++i) {
        const json::object& ev = events[i].as_object();
        EXPECT_EQ(ev.at("seq"), static_cast<std::int64_t>(i + 1));
        EXPECT_TRUE(ev.at("type").is_string());
        EXPECT_TRUE(ev.at("data").is_object());
        EXPECT_TRUE(IsNumber(ev.at("timestamp"))) << "envelope timestamps are epoch seconds";
        EXPECT_EQ(ev.at("debate_id"), id.c_str());
        EXPECT_EQ(ev.at("loop_id"), id.c_str());
        EXPECT_TRUE(IsInteger(ev.at("round")));
        EXPECT_TRUE(ev.at("agent").is_string());
    }
    EXPECT_EQ(eo["next_seq"], static_cast<std::int64_t>(events.size()));
    const json::object& first = events.front().as_object();
    EXPECT_EQ(first.at("type"), "debate_start");
    for (const char* key : {"task", "agents", "total_rounds", "consensus_method"}) {
        EXPECT_TRUE(first.at("data").as_object().contains(key)) << "debate_start.data." << key;
    }
    const json::object& last = events.back().as_object();
    EXPECT_EQ(last.at("type"), "debate_end");
    const json::object& end = last.at("data").as_object();
    for (const char* key : {"debate_id", "status", "consensus_reached", "receipt_id",
                            "duration_seconds", "total_rounds"}) {
        EXPECT_TRUE(end.contains(key)) << "debate_end.data." << key;
    }
    EXPECT_EQ(end.at("status"), "completed");
    EXPECT_EQ(end.at("receipt_id"), d["receipt_id"]);

    // Paging with since/next_seq/has_more.
    HttpResponse p1 = http.Get("/api/v1/debates/" + id + "/events?since=0&limit=5");
    json::object o1 = p1.Object();
    ASSERT_EQ(o1["events"].as_array().size(), 5u) << p1.Describe();
    EXPECT_EQ(o1["next_seq"], 5);
    EXPECT_EQ(o1["has_more"], true);
    HttpResponse p2 = http.Get("/api/v1/debates/" + id + "/events?since=5&limit=5");
    EXPECT_EQ(p2.Object()["events"].as_array()[0].as_object().at("seq"), 6);
    const auto n = static_cast<std::int64_t>(events.size());
    HttpResponse tail = http.Get("/api/v1/debates/" + id + "/events?since=" + std::to_string(n));
    json::object to = tail.Object();
    EXPECT_TRUE(to["events"].as_array().empty());
    EXPECT_EQ(to["next_seq"], n) << "next_seq must stay `since` when nothing is new";
    EXPECT_EQ(to["has_more"], false);
    // A non-numeric since reads as 0.
    HttpResponse junk = http.Get("/api/v1/debates/" + id + "/events?since=abc&limit=1");
    ASSERT_EQ(junk.status, 200) << junk.Describe();
    EXPECT_EQ(junk.Object()["events"].as_array()[0].as_object().at("seq"), 1);
    ExpectError(http.Get("/api/v1/debates/d_unknown/events"), 404, "not_found", "events");

    // Messages also answer while a debate runs.
    const std::string running = CreateDebate(http, LongBody("Messages while running"));
    ASSERT_TRUE(WaitForEvents(http, running, 10));
    HttpResponse live = http.Get("/api/v1/debates/" + running + "/messages");
    EXPECT_EQ(live.status, 200) << live.Describe();
    EXPECT_EQ(http.Post("/api/v1/debates/" + running + "/cancel").status, 200);
}

// --- export --------------------------------------------------------------------------

TEST_F(ServerApiTest, ExportQueryAndPathFormsDocumentsAndJsonWrapper) {
    const auto http = Http();
    json::object d = RunDebate(DebateBody("Should we <b>export</b> transcripts?", 1, 3));
    ASSERT_FALSE(d.empty());
    const std::string id(d["id"].as_string());
    const std::string base = "/api/v1/debates/" + id + "/export";

    for (const std::string& target : {base + "?format=json", base + "/json"}) {
        SCOPED_TRACE(target);
        HttpResponse r = http.Get(target);
        ASSERT_EQ(r.status, 200) << r.Describe();
        json::object o = r.Object();
        EXPECT_EQ(o["id"], id.c_str());
        EXPECT_EQ(o["status"], "completed");
        EXPECT_EQ(o["receipt_id"], d["receipt_id"]);
        ASSERT_TRUE(o["messages"].is_array()) << r.body.substr(0, 300);
        EXPECT_FALSE(o["messages"].as_array().empty());
    }

    struct Doc {
        std::string format;
        std::string type;
        std::string ext;
    };
    for (const Doc& doc : {Doc{"md", "text/markdown", "md"}, Doc{"markdown", "text/markdown", "md"},
                           Doc{"html", "text/html", "html"}, Doc{"csv", "text/csv", "csv"}}) {
        for (const std::string& target :
             {base + "?format=" + doc.format, base + "/" + doc.format}) {
            SCOPED_TRACE(target);
            HttpResponse r = http.Get(target);
            ASSERT_EQ(r.status, 200) << r.Describe();
            const std::string type = r.Header("Content-Type").value_or("");
            EXPECT_EQ(type.rfind(doc.type, 0), 0u) << type;
            EXPECT_NE(type.find("charset=utf-8"), std::string::npos) << type;
            EXPECT_EQ(r.Header("Content-Disposition").value_or(""),
                      "attachment; filename=\"" + id + "." + doc.ext + "\"");
            if (doc.ext == "csv") {
                EXPECT_NE(r.body.find("agent"), std::string::npos) << r.body.substr(0, 300);
            } else {
                EXPECT_NE(r.body.find("export"), std::string::npos)
                    << "the task is in the document";
            }
            if (doc.ext == "html") {
                EXPECT_EQ(r.body.find("<b>export</b>"), std::string::npos) << "unescaped HTML";
            }

            // What both clients send: the same document wrapped in JSON.
            HttpResponse w = http.Get(target, {{"Accept", "application/json"}});
            ASSERT_EQ(w.status, 200) << w.Describe();
            EXPECT_NE(w.Header("Content-Type").value_or("").find("application/json"),
                      std::string::npos);
            json::object o = w.Object();
            EXPECT_EQ(o["debate_id"], id.c_str());
            EXPECT_TRUE(o["format"].is_string());
            ASSERT_TRUE(o["content"].is_string()) << w.body.substr(0, 200);
            EXPECT_EQ(o["filename"], (id + "." + doc.ext).c_str());
            EXPECT_EQ(o["size_bytes"], static_cast<std::int64_t>(o["content"].as_string().size()));
            EXPECT_TRUE(IsIsoUtc(o["generated_at"]));
            // text/* or */* next to application/json means the document itself.
            HttpResponse both = http.Get(target, {{"Accept", "application/json, text/plain"}});
            EXPECT_EQ(both.Header("Content-Disposition").has_value(), true) << both.Describe();
        }
    }
    ExpectError(http.Get(base + "?format=pdf"), 400, "bad_request|validation_error", "format=pdf");
    HttpResponse pdf = http.Get(base + "/pdf");
    EXPECT_EQ(pdf.status, 400) << pdf.Describe();
    ExpectError(http.Get("/api/v1/debates/d_unknown/export?format=md"), 404, "not_found",
                "export unknown");
}

// --- receipts ------------------------------------------------------------------------

TEST_F(ServerApiTest, ReceiptRoutesAliasesAndVerification) {
    const auto http = Http();
    json::object d = RunDebate(DebateBody("Should receipts be kept for seven years?", 2, 3));
    ASSERT_FALSE(d.empty());
    const std::string id(d["id"].as_string());
    const std::string rid(d["receipt_id"].as_string());

    // The receipt's own JSON (no served-only members).
    HttpResponse own = http.Get("/api/v1/debates/" + id + "/receipt?format=json");
    ASSERT_EQ(own.status, 200) << own.Describe();
    json::object r = own.Object();
    EXPECT_EQ(r["receipt_id"], rid.c_str());
    EXPECT_EQ(r["debate_id"], id.c_str());
    ASSERT_TRUE(r["content_hash"].is_string());
    EXPECT_TRUE(
        std::regex_match(std::string(r["content_hash"].as_string()), std::regex("^[0-9a-f]{64}$")));
    ASSERT_TRUE(r["signatures"].is_array());
    ASSERT_FALSE(r["signatures"].as_array().empty());
    for (const char* served : {"gauntlet_id", "checksum", "is_signed", "risk_score"}) {
        EXPECT_FALSE(r.contains(served))
            << "?format=json must be the receipt's own JSON: " << served;
    }
    HttpResponse md = http.Get("/api/v1/debates/" + id + "/receipt?format=md");
    ASSERT_EQ(md.status, 200) << md.Describe();
    EXPECT_EQ(md.Header("Content-Type").value_or("").rfind("text/markdown", 0), 0u);
    EXPECT_NE(md.body.find(rid), std::string::npos);
    HttpResponse html = http.Get("/api/v1/debates/" + id + "/receipt?format=html");
    ASSERT_EQ(html.status, 200) << html.Describe();
    EXPECT_EQ(html.Header("Content-Type").value_or("").rfind("text/html", 0), 0u);
    ExpectError(http.Get("/api/v1/debates/" + id + "/receipt?format=pdf"), 400,
                "bad_request|validation_error", "receipt format=pdf");

    // Lists.
    for (const std::string& list :
         std::vector<std::string>{"/api/v2/receipts", "/api/v1/receipts", "/api/receipts",
                                  "/api/gauntlet/receipts", "/api/v1/gauntlet/receipts"}) {
        SCOPED_TRACE(list);
        HttpResponse l = http.Get(list);
        ASSERT_EQ(l.status, 200) << l.Describe();
        json::object lo = l.Object();
        ASSERT_TRUE(lo["receipts"].is_array()) << l.body.substr(0, 300);
        ASSERT_EQ(lo["receipts"].as_array().size(), 1u);
        EXPECT_EQ(lo["receipts"].as_array()[0].as_object().at("receipt_id"), rid.c_str());
        ASSERT_TRUE(lo["pagination"].is_object());
        json::object pg = lo["pagination"].as_object();
        EXPECT_EQ(pg["total"], 1);
        EXPECT_EQ(pg["offset"], 0);
        EXPECT_TRUE(IsInteger(pg["limit"]));
        EXPECT_EQ(pg["has_more"], false);
    }
    EXPECT_EQ(
        http.Get("/api/v2/receipts?debate_id=" + id).Object()["pagination"].as_object()["total"],
        1);
    EXPECT_EQ(
        http.Get("/api/v2/receipts?debate_id=d_other").Object()["pagination"].as_object()["total"],
        0);

    // One receipt, by receipt id, debate-<id> and bare debate id, on every alias.
    json::object served;
    for (const std::string& key : {rid, "debate-" + id, id}) {
        for (const std::string& prefix :
             std::vector<std::string>{"/api/v2/receipts/", "/api/v1/receipts/",
                                      "/api/gauntlet/receipts/", "/api/v1/gauntlet/receipts/"}) {
            SCOPED_TRACE(prefix + key);
            HttpResponse g = http.Get(prefix + key);
            ASSERT_EQ(g.status, 200) << g.Describe();
            json::object o = g.Object();
            EXPECT_EQ(o["receipt_id"], rid.c_str());
            if (served.empty()) served = o;
        }
    }
    EXPECT_EQ(served["gauntlet_id"], ("debate-" + id).c_str());
    EXPECT_EQ(served["checksum"], served["content_hash"]);
    EXPECT_EQ(served["is_signed"], true);
    ASSERT_TRUE(served["signature_metadata"].is_object());
    for (const char* key : {"algorithm", "key_id", "signed_at"}) {
        EXPECT_TRUE(served["signature_metadata"].as_object().contains(key)) << key;
    }
    EXPECT_EQ(served["agents_involved"], served["agents"]);
    EXPECT_EQ(served["participating_agents"], served["agents"]);
    EXPECT_TRUE(IsStringArray(served["dissenting_agents"]));
    EXPECT_TRUE(IsInteger(served["rounds_completed"]));
    EXPECT_TRUE(served["consensus_reached"].is_bool());
    EXPECT_TRUE(served["risk_level"].is_string());
    ASSERT_TRUE(IsNumber(served["risk_score"]));
    EXPECT_NEAR(NumberOf(served["risk_score"]), 1.0 - NumberOf(served["confidence"]), 1e-3);
    EXPECT_TRUE(served["input_summary"].is_string());
    EXPECT_TRUE(IsIsoUtc(served["created_at"]));

    // Exports.
    for (const std::string& prefix :
         std::vector<std::string>{"/api/v2/receipts/", "/api/gauntlet/receipts/"}) {
        HttpResponse e = http.Get(prefix + rid + "/export?format=md");
        ASSERT_EQ(e.status, 200) << prefix << ": " << e.Describe();
        EXPECT_EQ(e.Header("Content-Type").value_or("").rfind("text/markdown", 0), 0u);
        EXPECT_NE(e.Header("Content-Disposition").value_or("").find("attachment"),
                  std::string::npos);
        HttpResponse w =
            http.Get(prefix + rid + "/export?format=html", {{"Accept", "application/json"}});
        ASSERT_EQ(w.status, 200) << w.Describe();
        EXPECT_TRUE(w.Object()["content"].is_string()) << w.body.substr(0, 200);
        HttpResponse j = http.Get(prefix + rid + "/export?format=json");
        ASSERT_EQ(j.status, 200) << j.Describe();
        EXPECT_EQ(j.Object()["receipt_id"], rid.c_str());
    }

    // Verification on every route: valid, with the full shape.
    struct Verify {
        std::string method;
        std::string path;
    };
    for (const Verify& v : {Verify{"POST", "/api/v2/receipts/" + rid + "/verify"},
                            Verify{"GET", "/api/v2/receipts/" + rid + "/verify"},
                            Verify{"POST", "/api/v2/receipts/" + rid + "/verify-signature"},
                            Verify{"POST", "/api/v1/receipts/" + rid + "/verify"},
                            Verify{"POST", "/api/receipts/debate-" + id + "/verify"},
                            Verify{"GET", "/api/gauntlet/receipts/" + rid + "/verify"},
                            Verify{"POST", "/api/v1/gauntlet/receipts/" + id + "/verify"}}) {
        SCOPED_TRACE(v.method + " " + v.path);
        HttpResponse res = http.Request(v.method, v.path);
        ASSERT_EQ(res.status, 200) << res.Describe();
        json::object o = res.Object();
        for (const char* key : {"receipt_id", "valid", "integrity_valid", "signature_valid", "hash",
                                "stored_checksum", "computed_checksum", "algorithm", "key_id",
                                "verified_at", "reason", "signature", "integrity"}) {
            EXPECT_TRUE(o.contains(key)) << "verify lacks `" << key << "`";
        }
        EXPECT_EQ(o["receipt_id"], rid.c_str());
        EXPECT_EQ(o["valid"], true) << res.body;
        EXPECT_EQ(o["integrity_valid"], true);
        EXPECT_EQ(o["signature_valid"], true);
        EXPECT_EQ(o["hash"], r["content_hash"]);
        EXPECT_EQ(o["stored_checksum"], o["computed_checksum"]);
        EXPECT_TRUE(o["reason"].is_null());
        ASSERT_TRUE(o["signature"].is_object());
        json::object sig = o["signature"].as_object();
        for (const char* key : {"signature_valid", "algorithm", "key_id", "signed_at",
                                "verification_timestamp", "error"}) {
            EXPECT_TRUE(sig.contains(key)) << "signature." << key;
        }
        EXPECT_TRUE(sig["error"].is_null());
        ASSERT_TRUE(o["integrity"].is_object());
        json::object integ = o["integrity"].as_object();
        for (const char* key :
             {"integrity_valid", "stored_checksum", "computed_checksum", "verified_at", "error"}) {
            EXPECT_TRUE(integ.contains(key)) << "integrity." << key;
        }
        EXPECT_EQ(integ["integrity_valid"], true);
    }

    // A receipt in the body: as served (served-only members are ignored), wrapped, and
    // tampered.
    HttpResponse body_ok = http.Post("/api/v1/receipts/verify", json::serialize(served));
    ASSERT_EQ(body_ok.status, 200) << body_ok.Describe();
    EXPECT_EQ(body_ok.Object()["valid"], true) << body_ok.body;
    HttpResponse wrapped =
        http.Post("/api/v1/receipts/verify", json::serialize(json::object{{"receipt", r}}));
    ASSERT_EQ(wrapped.status, 200) << wrapped.Describe();
    EXPECT_EQ(wrapped.Object()["valid"], true) << wrapped.body;
    json::object tampered = r;
    tampered["final_answer"] = "Whatever the vendor says.";
    HttpResponse bad = http.Post("/api/v1/receipts/verify", json::serialize(tampered));
    ASSERT_EQ(bad.status, 200) << bad.Describe();
    json::object bo = bad.Object();
    EXPECT_EQ(bo["valid"], false) << bad.body;
    EXPECT_EQ(bo["integrity_valid"], false);
    EXPECT_TRUE(bo["reason"].is_string()) << bad.body;
    EXPECT_NE(bo["stored_checksum"], bo["computed_checksum"]);
    json::object forged = served;
    forged["verdict"] = "approved_by_nobody";
    EXPECT_EQ(
        http.Post("/api/v1/receipts/verify", json::serialize(json::object{{"receipt", forged}}))
            .Object()["valid"],
        false);
    ExpectError(http.Post("/api/v1/receipts/verify", "[1]"), 400, "bad_request|validation_error",
                "verify array");
    ExpectError(http.Post("/api/v1/receipts/verify", "nope"), 400, "bad_request|validation_error",
                "verify junk");

    // Unknown ids.
    ExpectError(http.Get("/api/v2/receipts/r_unknown"), 404, "not_found", "get unknown");
    ExpectError(http.Post("/api/v2/receipts/r_unknown/verify"), 404, "not_found", "verify unknown");
    ExpectError(http.Get("/api/v2/receipts/r_unknown/export?format=md"), 404, "not_found",
                "export unknown");
    ExpectError(http.Get("/api/v1/debates/d_unknown/receipt"), 404, "not_found", "debate receipt");
}

// The forgery anyone can make of a receipt: edit the verdict, recompute content_hash over
// the new signed bytes, drop the signatures.
std::string ForgeUnsigned(json::object receipt, const std::string& verdict) {
    receipt["verdict"] = verdict;
    receipt.erase("signatures");
    receipt.erase("content_hash");
    auto signed_bytes = common::CanonicalizeJson(json::serialize(receipt));
    EXPECT_TRUE(signed_bytes.ok());
    if (!signed_bytes.ok()) return {};
    receipt["content_hash"] = common::Sha256Hex(*signed_bytes);
    return json::serialize(receipt);
}

TEST_F(ServerApiTest, ForgedUnsignedReceiptIsNotValid) {
    const auto http = Http();
    json::object d = RunDebate(DebateBody("Should the audit trail be signed?", 1, 3));
    ASSERT_FALSE(d.empty());
    const std::string id(d["id"].as_string());
    HttpResponse own = http.Get("/api/v1/debates/" + id + "/receipt?format=json");
    ASSERT_EQ(own.status, 200) << own.Describe();
    json::object receipt = own.Object();
    const std::string forged =
        ForgeUnsigned(receipt, receipt["verdict"] == "approved" ? "rejected" : "approved");

    for (const std::string& body : {forged, std::string("{\"receipt\": ") + forged + "}"}) {
        HttpResponse r = http.Post("/api/v1/receipts/verify", body);
        ASSERT_EQ(r.status, 200) << r.Describe();
        json::object o = r.Object();
        EXPECT_EQ(o["valid"], false) << r.body;
        EXPECT_EQ(o["integrity_valid"], true) << "the forger recomputed the hash: " << r.body;
        EXPECT_TRUE(o["signature_valid"].is_null()) << r.body;
        EXPECT_EQ(o["reason"], "unsigned") << r.body;
        EXPECT_FALSE(o.contains("integrity_only")) << r.body;
    }
    // Asked for explicitly, the hash alone is checked, and the answer says so.
    for (const auto& [target, body] : std::vector<std::pair<std::string, std::string>>{
             {"/api/v1/receipts/verify?integrity_only=true", forged},
             {"/api/v1/receipts/verify",
              std::string("{\"receipt\": ") + forged + ", \"integrity_only\": true}"}}) {
        HttpResponse r = http.Post(target, body);
        ASSERT_EQ(r.status, 200) << r.Describe();
        json::object o = r.Object();
        EXPECT_EQ(o["valid"], true) << r.body;
        EXPECT_EQ(o["integrity_valid"], true);
        EXPECT_EQ(o["integrity_only"], true) << r.body;
        EXPECT_NE(StringOf(o, "warning").find("UNSIGNED"), std::string::npos) << r.body;
    }
    // The genuine receipt still verifies in full.
    HttpResponse genuine = http.Post("/api/v1/receipts/verify", json::serialize(receipt));
    EXPECT_EQ(genuine.Object()["valid"], true) << genuine.body;
    EXPECT_EQ(genuine.Object()["signature_valid"], true) << genuine.body;
}

// --- health, status, metrics ---------------------------------------------------------

TEST_F(ServerApiTest, HealthEndpointsAnswerTheirDocumentedShapes) {
    const auto http = Http();
    ASSERT_FALSE(RunDebate(DebateBody("Warm up the metrics", 1, 2)).empty());
    // The stored `completed` row is visible a moment before the service releases the
    // debate's slot (publish, metrics, release come after the final write).
    ASSERT_TRUE(PollUntil(
        [&http] {
            HttpResponse h = http.Get("/api/v1/health");
            return h.status == 200 && h.IsJsonObject() &&
                   h.Object()["checks"].as_object()["active_debates"] == 0;
        },
        std::chrono::seconds(10)));

    HttpResponse hz = http.Get("/healthz");
    ASSERT_EQ(hz.status, 200) << hz.Describe();
    EXPECT_EQ(hz.Object()["status"], "ok");

    HttpResponse rz = http.Get("/readyz");
    ASSERT_EQ(rz.status, 200) << rz.Describe();
    EXPECT_EQ(rz.Object()["status"], "ready");
    EXPECT_TRUE(rz.Object()["checks"].is_object());

    for (const std::string& path : std::vector<std::string>{"/api/v1/health", "/api/health"}) {
        SCOPED_TRACE(path);
        HttpResponse h = http.Get(path);
        ASSERT_EQ(h.status, 200) << h.Describe();
        json::object o = h.Object();
        EXPECT_EQ(o["status"], "healthy") << h.body;
        EXPECT_TRUE(o["version"].is_string());
        EXPECT_TRUE(IsNumber(o["uptime_seconds"]));
        EXPECT_TRUE(IsIsoUtc(o["timestamp"]));
        ASSERT_TRUE(o["checks"].is_object());
        json::object c = o["checks"].as_object();
        ASSERT_TRUE(c["database"].is_object());
        EXPECT_EQ(c["database"].as_object()["status"], "ok");
        EXPECT_TRUE(IsNumber(c["database"].as_object()["latency_ms"]));
        ASSERT_TRUE(c["redis"].is_object());
        EXPECT_EQ(c["redis"].as_object()["status"], "not_configured");
        EXPECT_TRUE(c["redis"].as_object().contains("latency_ms"));
        ASSERT_TRUE(c["websocket"].is_object());
        EXPECT_TRUE(c["websocket"].as_object()["status"].is_string());
        EXPECT_TRUE(IsInteger(c["websocket"].as_object()["connections"]));
        EXPECT_TRUE(IsInteger(c["websocket"].as_object()["max_connections"]));
        ASSERT_TRUE(c["circuit_breakers"].is_object());
        EXPECT_TRUE(IsInteger(c["circuit_breakers"].as_object()["open"]));
        EXPECT_TRUE(IsInteger(c["circuit_breakers"].as_object()["half_open"]));
        ASSERT_TRUE(IsNumber(c["memory_mb"]));
        EXPECT_GT(NumberOf(c["memory_mb"]), 0.0);
        EXPECT_EQ(c["active_debates"], 0);
    }

    // /health: deep checks; 200 only when everything is ok (no provider key here).
    HttpResponse deep = http.Get("/health");
    ASSERT_TRUE(deep.status == 200 || deep.status == 503) << deep.Describe();
    ASSERT_TRUE(deep.IsJsonObject()) << deep.Describe();
    EXPECT_TRUE(deep.Object()["checks"].is_object());

    HttpResponse threads = http.Get("/health/threads");
    ASSERT_EQ(threads.status, 200) << threads.Describe();
    EXPECT_TRUE(threads.IsJsonObject());

    for (const std::string& path :
         std::vector<std::string>{"/health/build", "/api/v1/health/build"}) {
        HttpResponse b = http.Get(path);
        ASSERT_EQ(b.status, 200) << path << ": " << b.Describe();
        json::object o = b.Object();
        for (const char* key : {"sha", "sha_short", "build_time", "version"}) {
            EXPECT_TRUE(o[key].is_string()) << path << " " << key;
        }
        EXPECT_EQ(StringOf(o, "sha").rfind(StringOf(o, "sha_short"), 0), 0u);
    }

    for (const std::string& path : std::vector<std::string>{"/api/v1/status", "/api/status"}) {
        HttpResponse s = http.Get(path);
        ASSERT_EQ(s.status, 200) << s.Describe();
        ASSERT_TRUE(s.Object()["data"].is_object()) << s.body;
        json::object data = s.Object()["data"].as_object();
        EXPECT_EQ(data["status"], "operational");
        EXPECT_TRUE(data["message"].is_string());
        EXPECT_TRUE(IsNumber(data["uptime_seconds"]));
        EXPECT_TRUE(IsIsoUtc(data["timestamp"]));
        EXPECT_TRUE(data["components_summary"].is_object());
    }

    HttpResponse ws = http.Get("/api/ws/stats");
    ASSERT_EQ(ws.status, 200) << ws.Describe();
    EXPECT_TRUE(IsInteger(ws.Object()["connections"])) << ws.body;
    EXPECT_TRUE(IsInteger(ws.Object()["slow_closes"])) << ws.body;

    // The runbook greps these out of /api/metrics.
    HttpResponse m = http.Get("/api/metrics");
    ASSERT_EQ(m.status, 200) << m.Describe();
    ASSERT_TRUE(m.IsJsonObject());
    EXPECT_NE(m.body.find("agent_response"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("process_resident"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("consensus"), std::string::npos) << m.body;
    json::object summary = m.Object();
    ASSERT_TRUE(summary["agent_response_times"].is_object());
    const json::object& times = summary["agent_response_times"].as_object();
    ASSERT_FALSE(times.empty()) << "a debate ran: its agents' response times belong here";
    for (const auto& [agent, t] : times) {
        for (const char* q : {"p50_ms", "p95_ms", "p99_ms"}) {
            EXPECT_TRUE(IsNumber(t.as_object().at(q))) << agent << " " << q;
        }
    }
}

TEST_F(ServerApiTest, PrometheusMetricsOnTheApiAndMetricsPorts) {
    const auto http = Http();
    ASSERT_FALSE(RunDebate(DebateBody("Fill the metrics", 1, 2)).empty());
    const std::vector<std::string> names = {
        "aragora_requests_total",          "aragora_request_latency_seconds",
        "aragora_active_debates",          "aragora_debates_total",
        "aragora_debate_duration_seconds", "aragora_consensus_reached_total",
        "aragora_agent_calls_total",       "aragora_agent_latency_seconds",
        "aragora_websocket_connections",   "aragora_circuit_breaker_state",
        "process_resident_memory_bytes",   "process_open_fds",
        "process_start_time_seconds"};
    auto check = [&](const HttpResponse& r, const std::string& where) {
        ASSERT_EQ(r.status, 200) << where << ": " << r.Describe();
        const std::string type = r.Header("Content-Type").value_or("");
        EXPECT_EQ(type.rfind("text/plain", 0), 0u) << where << ": " << type;
        EXPECT_NE(type.find("version=0.0.4"), std::string::npos) << where << ": " << type;
        for (const auto& name : names) {
            EXPECT_NE(r.body.find("# TYPE " + name + " "), std::string::npos)
                << where << " lacks the family " << name;
        }
        EXPECT_NE(r.body.find("\naragora_debates_total{"), std::string::npos) << where;
        EXPECT_NE(r.body.find("\naragora_request_latency_seconds_bucket{"), std::string::npos)
            << where;
    };
    check(http.Get("/metrics"), "api port /metrics");
    // promtool (Debian's prometheus package; scripts/install-deps.sh installs it) lints
    // the exposition exactly as Prometheus will read it.
    if (::access("/usr/bin/promtool", X_OK) == 0) {
        TempDir tmp;
        WriteAll(tmp.path() + "/metrics.txt", http.Get("/metrics").body);
        auto lint = RunProcess(
            {"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + tmp.path() + "/metrics.txt"},
            {});
        EXPECT_EQ(lint.exit_code, 0) << "promtool check metrics:\n" << lint.out << lint.err;
    } else {
        std::cerr << "promtool not installed: exposition not linted\n";
    }
    ASSERT_NE(server_->metrics_port(), 0) << "no metrics port in the listening line";
    HttpClient metrics(server_->metrics_port());
    check(metrics.Get("/metrics"), "metrics port /metrics");
    HttpResponse ws = http.Get("/metrics/websocket");
    ASSERT_EQ(ws.status, 200) << ws.Describe();
    EXPECT_NE(ws.body.find("aragora_websocket_connections"), std::string::npos);
    // Only the WebSocket families: the request counter of /metrics/websocket itself (a label
    // value naming websocket) stays out, so the second scrape job stores no HTTP series.
    ws = http.Get("/metrics/websocket");
    EXPECT_NE(ws.body.find("# TYPE aragora_ws_rejected_connections_total counter"),
              std::string::npos);
    EXPECT_EQ(ws.body.find("aragora_request"), std::string::npos) << ws.body;
}

TEST_F(ServerApiTest, OpenApiDocumentParses) {
    HttpResponse r = Http().Get("/api/openapi.json");
    ASSERT_EQ(r.status, 200) << r.Describe();
    ASSERT_TRUE(r.IsJsonObject()) << r.body.substr(0, 300);
    json::object o = r.Object();
    ASSERT_TRUE(o["openapi"].is_string());
    EXPECT_EQ(StringOf(o, "openapi").rfind("3.", 0), 0u);
    ASSERT_TRUE(o["paths"].is_object());
    for (const char* path : {"/api/v1/debates", "/api/v1/debates/{id}", "/healthz", "/readyz"}) {
        EXPECT_TRUE(o["paths"].as_object().contains(path)) << path;
    }
}

// --- errors --------------------------------------------------------------------------

TEST_F(ServerApiTest, UnknownRoutesWrongMethodsAndCorrelationIds) {
    const auto http = Http();
    ExpectError(http.Get("/api/v1/nope"), 404, "not_found", "GET unknown api");
    ExpectError(http.Get("/totally/unknown/path"), 404, "not_found", "GET unknown root");
    ExpectError(http.Post("/api/v1/nope", R"({"a": 1})"), 404, "not_found", "POST unknown");
    ExpectError(http.Post("/nope"), 404, "not_found", "POST unknown root");

    HttpResponse m = http.Request("DELETE", "/api/v1/debates");
    ExpectError(m, 405, "method_not_allowed", "DELETE /api/v1/debates");
    const std::string allow = m.Header("Allow").value_or("");
    EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
    EXPECT_NE(allow.find("POST"), std::string::npos) << allow;
    HttpResponse put = http.Request("PUT", "/healthz", "{}");
    ExpectError(put, 405, "method_not_allowed", "PUT /healthz");
    EXPECT_NE(put.Header("Allow").value_or("").find("GET"), std::string::npos);
    ExpectError(http.Get("/api/v1/debates/d_x/cancel"), 405, "method_not_allowed", "GET cancel");

    // X-Correlation-ID is echoed, in the header and in error bodies.
    HttpResponse ok = http.Get("/healthz", {{"X-Correlation-ID", "it-corr-123"}});
    EXPECT_EQ(ok.Header("X-Correlation-ID").value_or(""), "it-corr-123");
    HttpResponse err = http.Get("/api/v1/nope", {{"X-Correlation-ID", "it-corr-456"}});
    EXPECT_EQ(err.Header("X-Correlation-ID").value_or(""), "it-corr-456");
    EXPECT_EQ(err.Object()["correlation_id"], "it-corr-456");
    EXPECT_EQ(err.Object()["trace_id"], "it-corr-456");
    // Without one, the server makes one up, distinct per request.
    HttpResponse a = http.Get("/healthz");
    HttpResponse b = http.Get("/healthz");
    ASSERT_TRUE(a.Header("X-Correlation-ID").has_value());
    EXPECT_NE(a.Header("X-Correlation-ID"), b.Header("X-Correlation-ID"));
}

TEST_F(ServerApiTest, MalformedAndOversizedRequests) {
    const auto http = Http();
    const milliseconds close_wait = seconds(5);

    HttpResponse garbage = http.Raw("GARBAGE\r\n\r\n", close_wait);
    EXPECT_EQ(garbage.status, 400) << garbage.Describe();
    EXPECT_TRUE(garbage.closed) << "the connection must be closed after a malformed request";

    HttpResponse header = http.Raw(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nThis header has no colon\r\n\r\n", close_wait);
    EXPECT_EQ(header.status, 400) << header.Describe();
    EXPECT_TRUE(header.closed);

    HttpResponse length = http.Raw(
        "POST /api/v1/debates HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n{}", close_wait);
    EXPECT_EQ(length.status, 400) << length.Describe();
    EXPECT_TRUE(length.closed);

    // Over the 1 MiB default body limit: 413 payload_too_large.
    const std::string big(2 * 1024 * 1024, 'x');
    HttpResponse too_big = http.Raw(
        "POST /api/v1/debates HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: " +
            std::to_string(big.size()) + "\r\n\r\n" + big,
        close_wait);
    EXPECT_EQ(too_big.status, 413) << too_big.Describe();
    if (too_big.IsJsonObject()) {
        EXPECT_EQ(too_big.Object()["code"], "payload_too_large") << too_big.body;
    }
    HttpResponse via_client = http.Post("/api/v1/debates", "{\"task\": \"" + big + "\"}");
    ExpectError(via_client, 413, "payload_too_large", "2 MiB create");

    // The server is still fine.
    EXPECT_EQ(http.Get("/healthz").status, 200);
}

}  // namespace
}  // namespace aragora::testing
