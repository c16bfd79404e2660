// A provider that keeps failing past the agent's own retries (issue 25): `aragora serve`
// against the fake LLM, where two of three agents' first calls fail for good (every HTTP
// attempt of them answers 500). The engine tries those calls again later in the phase,
// the debate completes, the events show each failure and retry, and the receipt records
// them inside its signed bytes and still verifies.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <set>

#include "fake_llm/fake_llm.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"

namespace aragora::testing {
namespace {

namespace json = boost::json;

class PhaseFailureTest : public ::testing::Test {
protected:
    void Start(std::map<std::string, std::string> extra) {
        std::map<std::string, std::string> env{
            {"ARAGORA_OPENAI_BASE_URL", fake_.base_url()},
            {"OPENAI_API_KEY", "sk-openai-test"},
            // The agent's own retries: 1 + 3 attempts per call, quickly.
            {"ARAGORA_AGENT_RETRY_BASE_MS", "10"},
            {"ARAGORA_AGENT_RETRY_CAP_MS", "50"},
            // The engine's later attempts in the phase, quickly.
            {"ARAGORA_PHASE_RETRY_BASE_MS", "50"},
            {"ARAGORA_PHASE_RETRY_CAP_MS", "200"},
            {"ARAGORA_CONVERGENCE_THRESHOLD", "1.0"},
        };
        for (auto& [k, v] : extra) env[k] = v;
        server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::move(env));
        ASSERT_TRUE(server_->StartReady()) << server_->error();
    }

    void TearDown() override {
        if (!server_) return;
        EXPECT_EQ(server_->Terminate(), 0) << server_->Logs();
    }

    // Two of three agents: their first call's 4 HTTP attempts (the agent's 1 + 3 retries)
    // answer 500, so that call fails past the agent's retries; later calls answer.
    std::string CreateWithTwoFlakyAgents() {
        for (const char* model : {"gpt-b", "gpt-c"}) {
            fake_.AddRule(
                {.model = model, .action = FakeAction::kStatus, .status = 500, .times = 4});
        }
        json::object body{{"task", "Should we cache provider replies for 24 hours?"},
                          {"rounds", 1},
                          {"agents", json::array{"openai:gpt-a", "openai:gpt-b", "openai:gpt-c"}}};
        return CreateDebate(server_->Http(), json::serialize(body));
    }

    std::vector<json::object> DataOfType(const std::string& id, const std::string& type) {
        std::vector<json::object> out;
        for (auto& e : AllEvents(server_->Http(), id)) {
            if (StringOf(e, "type") != type) continue;
            const json::value* d = e.if_contains("data");
            out.push_back(d && d->is_object() ? d->as_object() : json::object{});
        }
        return out;
    }

    FakeLlmServer fake_;
    TempDir dir_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(PhaseFailureTest, CallsFailingPastTheAgentsRetriesAreTriedAgainAndRecorded) {
    Start({});
    const std::string id = CreateWithTwoFlakyAgents();
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(server_->Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    ASSERT_EQ(StringOf(*done, "status"), "completed") << json::serialize(*done);

    std::set<std::string> retried;
    for (const auto& d : DataOfType(id, "agent_phase_retry")) {
        retried.insert(StringOf(d, "agent"));
        EXPECT_EQ(StringOf(d, "phase"), "propose");
        EXPECT_EQ(d.at("attempt"), 2);
    }
    EXPECT_EQ(retried, (std::set<std::string>{"openai:gpt-b", "openai:gpt-c"}));
    auto errors = DataOfType(id, "agent_error");
    ASSERT_EQ(errors.size(), 2u);
    for (const auto& d : errors) {
        EXPECT_EQ(d.at("final"), false);
        EXPECT_EQ(d.at("attempt"), 1);
    }
    EXPECT_EQ(DataOfType(id, "agent_message").size(), 3u) << "every agent proposed";

    HttpClient http = server_->Http();
    HttpResponse own = http.Get("/api/v1/debates/" + id + "/receipt?format=json");
    ASSERT_EQ(own.status, 200) << own.Describe();
    json::object receipt = own.Object();
    const json::array& failures = receipt.at("agent_failures").as_array();
    ASSERT_EQ(failures.size(), 2u) << own.body;
    for (const auto& f : failures) {
        EXPECT_EQ(f.at("phase"), "propose");
        EXPECT_EQ(f.at("attempts"), 2);
        EXPECT_EQ(f.at("outcome"), "recovered");
        EXPECT_EQ(f.at("code"), "provider_error");
    }
    EXPECT_TRUE(receipt.at("substitutions").as_array().empty());

    HttpResponse verify = http.Post("/api/v1/receipts/verify", own.body);
    ASSERT_EQ(verify.status, 200) << verify.Describe();
    EXPECT_EQ(verify.Object()["valid"], true) << verify.body;
    // Rewriting the record (hiding that a call had to be tried again) is detected.
    json::object forged = receipt;
    forged["agent_failures"].as_array()[0].as_object()["attempts"] = 1;
    HttpResponse bad = http.Post("/api/v1/receipts/verify", json::serialize(forged));
    ASSERT_EQ(bad.status, 200) << bad.Describe();
    EXPECT_EQ(bad.Object()["valid"], false) << bad.body;

    // The CLI verifies the same file.
    const std::string file = dir_.path() + "/receipt.json";
    WriteAll(file, own.body);
    auto cli = RunProcess({ARAGORA_BINARY, "receipt", "verify", file},
                          ServerEnv(dir_.path() + "/data", {}));
    EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
}

TEST_F(PhaseFailureTest, WithoutLaterAttemptsTheSameFaultsFailTheDebate) {
    Start({{"ARAGORA_PHASE_RETRIES", "0"}});
    const std::string id = CreateWithTwoFlakyAgents();
    ASSERT_FALSE(id.empty());
    auto done = WaitForStatus(server_->Http(), id, {"completed", "failed"});
    ASSERT_TRUE(done);
    EXPECT_EQ(StringOf(*done, "status"), "failed");
    EXPECT_TRUE(DataOfType(id, "agent_phase_retry").empty());
    for (const auto& d : DataOfType(id, "agent_error")) EXPECT_EQ(d.at("final"), true);
}

}  // namespace
}  // namespace aragora::testing
