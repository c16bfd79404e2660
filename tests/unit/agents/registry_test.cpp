#include "agents/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agents/demo_agent.hpp"

namespace aragora::agents {
namespace {

using common::ErrorCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<AgentSpec>& specs) {
    std::vector<std::string> out;
    for (const auto& s : specs) out.push_back(s.name);
    return out;
}

std::vector<std::string> Personas(const std::vector<AgentSpec>& specs) {
    std::vector<std::string> out;
    for (const auto& s : specs) out.push_back(s.persona);
    return out;
}

TEST(ParseAgentList, BareDemosCycleThroughPersonas) {
    const auto r = ParseAgentList("demo,demo,demo");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(Personas(*r), ElementsAre("analyst", "critic", "moderator"));
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:critic", "demo:moderator"));
    for (const auto& s : *r) {
        EXPECT_EQ(s.provider, "demo");
        EXPECT_EQ(s.model, "");
    }
}

TEST(ParseAgentList, CycleWrapsAndRepeatsAreNumbered) {
    const auto r = ParseAgentList("demo,demo,demo,demo,demo,demo");
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:critic", "demo:moderator",
                                       "demo:contrarian", "demo:analyst#2", "demo:critic#2"));
}

TEST(ParseAgentList, ExplicitPersonasDoNotAdvanceTheCycle) {
    const auto r = ParseAgentList("demo:critic,demo,demo,demo:critic");
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(Names(*r),
                ElementsAre("demo:critic", "demo:analyst", "demo:critic#2", "demo:critic#3"));
    EXPECT_EQ((*r)[0].model, "critic");
    EXPECT_EQ((*r)[0].persona, "critic");
}

TEST(ParseAgentList, TrimsSpaces) {
    const auto r = ParseAgentList("  demo , demo : contrarian ,demo");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:contrarian", "demo:critic"));
}

TEST(ParseAgentList, UnknownProviderIsAValidationError) {
    const auto r = ParseAgentList("demo,llama");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kValidation);
    EXPECT_EQ(r.error().message, "unknown agent provider 'llama' (available: demo)");
}

TEST(ParseAgentList, UnknownPersonaListsThePersonas) {
    const auto r = ParseAgentList("demo:pirate,demo");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kValidation);
    EXPECT_THAT(r.error().message, HasSubstr("'pirate'"));
    EXPECT_THAT(r.error().message, HasSubstr("analyst, critic, moderator, contrarian"));
}

TEST(ParseAgentList, PlannedProvidersAreNotImplementedYet) {
    for (const std::string provider :
         {"anthropic", "openai", "openrouter", "mistral", "xai", "gemini", "openai-compatible"}) {
        const auto r = ParseAgentList("demo," + provider + ":some-model");
        ASSERT_FALSE(r.ok()) << provider;
        EXPECT_EQ(r.error().code, ErrorCode::kNotImplemented) << provider;
        EXPECT_EQ(r.error().message, "provider '" + provider + "' is not implemented yet");
    }
}

TEST(ParseAgentList, EmptyEntriesAreErrors) {
    for (const char* list : {"", "demo,,demo", "demo,", ",demo", " , "}) {
        const auto r = ParseAgentList(list);
        ASSERT_FALSE(r.ok()) << "'" << list << "'";
        EXPECT_EQ(r.error().code, ErrorCode::kValidation);
        EXPECT_EQ(r.error().field, "agents");
    }
}

TEST(ParseAgentSpecs, AcceptsAList) {
    const auto r = ParseAgentSpecs({"demo", " demo:moderator ", "demo"});
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(Names(*r), ElementsAre("demo:analyst", "demo:moderator", "demo:critic"));
    EXPECT_TRUE(ParseAgentSpecs({}).ok());
    EXPECT_FALSE(ParseAgentSpecs({"demo", ""}).ok());
}

TEST(BuildAgents, CreatesDemoAgentsWithTheirPersonas) {
    const auto specs = ParseAgentList("demo,demo:contrarian,demo:contrarian");
    ASSERT_TRUE(specs.ok());
    RegistrySettings settings;
    settings.demo_latency = std::chrono::milliseconds(200);
    const auto agents = BuildAgents(*specs, settings);
    ASSERT_TRUE(agents.ok()) << agents.error().message;
    ASSERT_EQ(agents->size(), 3u);
    EXPECT_EQ((*agents)[0]->Name(), "demo:analyst");
    EXPECT_EQ((*agents)[1]->Name(), "demo:contrarian");
    EXPECT_EQ((*agents)[2]->Name(), "demo:contrarian#2");
    for (const auto& a : *agents) EXPECT_EQ(a->Provider(), "demo");
    const auto* demo = dynamic_cast<const DemoAgent*>((*agents)[2].get());
    ASSERT_NE(demo, nullptr);
    EXPECT_EQ(demo->persona(), Persona::kContrarian);
}

TEST(BuildAgents, RejectsSpecsItCannotBuild) {
    AgentSpec remote;
    remote.provider = "openai";
    remote.model = "gpt-x";
    remote.name = "openai:gpt-x";
    const auto r = BuildAgents({remote}, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kNotImplemented);

    AgentSpec odd;
    odd.provider = "demo";
    odd.persona = "pirate";
    EXPECT_EQ(BuildAgents({odd}, {}).error().code, ErrorCode::kValidation);
}

}  // namespace
}  // namespace aragora::agents
